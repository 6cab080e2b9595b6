/*
 * test_forward.c - CUnit tests of the forward plugin (plugins/forward.c)
 * against the fake host (sdk/fakehost.c): the order of events the real
 * loop makes hard to force (a failover with bytes waiting, a connect
 * timeout on the test's clock, the exact pause and resume points).
 * tests/integration_forward.c covers the same plugin on the real binary.
 *
 * Usage: unit_forward PLUGIN_DIR     (e.g. build/plugins)
 */
#include <CUnit/Basic.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakehost.h"

static struct fake_plugin *fwd;
static unsigned violations_before;

static int suite_init_dir(const char *dir)
{
    char path[4096];

    snprintf(path, sizeof path, "%s/forward.so", dir);
    return fake_plugin_load(path, &fwd) < 0 ? -1 : 0;
}

static const char *plugin_dir;
static int suite_init(void) { return suite_init_dir(plugin_dir); }
static int suite_clean(void) { return fake_plugin_unload(fwd) < 0 ? -1 : 0; }
static void setup(void) { violations_before = fake_violations(); }
static void teardown(void) { CU_ASSERT_EQUAL(fake_violations(), violations_before); }

static struct superd_service *service(const char *const *opts)
{
    struct superd_service *svc = fake_service_new(fwd, "fwd", opts);

    CU_ASSERT_FATAL(svc != NULL);
    if (fake_service_init(svc) != 0)
        printf("\n    init: %s\n", fake_service_error(svc));
    return svc;
}

static int output_is(const struct superd_conn *c, const char *want)
{
    size_t len;
    const char *out = fake_conn_output(c, &len);

    if (len != strlen(want) || memcmp(out, want, len) != 0) {
        printf("\n    output %zu bytes \"%.*s\", want \"%s\"\n", len, (int)len, out, want);
        return 0;
    }
    return 1;
}

/* The client is not read until a backend took it, and nothing it sent
 * meanwhile is lost when the first backend fails. */
static void test_failover_keeps_bytes(void)
{
    const char *const opts[] = { "to", "tcp://127.0.0.1:1 tcp://127.0.0.1:2", NULL };
    struct superd_service *svc = service(opts);
    struct superd_conn *c = fake_conn_open(svc, NULL), *b0, *b1;

    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(fake_conn_paused(c));
    b0 = fake_outbound(svc, 0);
    CU_ASSERT_FATAL(b0 != NULL);
    CU_ASSERT_STRING_EQUAL(superd_peer(b0), "127.0.0.1:1");
    CU_ASSERT(fake_conn_feed(c, "hello", 5) == 0);
    CU_ASSERT_EQUAL(fake_conn_pending(c), 5);
    CU_ASSERT(fake_connect_result(b0, -ECONNREFUSED) == 0);
    CU_ASSERT(!fake_conn_closed(c));
    b1 = fake_outbound(svc, 1);
    CU_ASSERT_FATAL(b1 != NULL);
    CU_ASSERT_STRING_EQUAL(superd_peer(b1), "127.0.0.1:2");
    CU_ASSERT(fake_connect_result(b1, 0) == 0);
    CU_ASSERT(!fake_conn_paused(c));
    CU_ASSERT(output_is(b1, "hello"));
    CU_ASSERT(fake_conn_feed(b1, "world", 5) == 0);
    CU_ASSERT(output_is(c, "world"));
    fake_conn_free(c);
    CU_ASSERT(fake_service_free(svc) == 0);
}

/* Every backend failed: the client is closed at once; a connect that
 * takes longer than connect_timeout counts as failed. */
static void test_all_down_closes_client(void)
{
    const char *const opts[] = { "to", "tcp://127.0.0.1:1 unix:/nowhere", "connect_timeout",
                                 "250ms", NULL };
    struct superd_service *svc = service(opts);
    struct superd_conn *c = fake_conn_open(svc, NULL), *b1;

    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(fake_connect_result(fake_outbound(svc, 0), -ECONNREFUSED) == 0);
    b1 = fake_outbound(svc, 1);
    CU_ASSERT_FATAL(b1 != NULL);
    CU_ASSERT(fake_timer_advance(svc, 249) >= 0);
    CU_ASSERT(fake_conn_connecting(b1));
    CU_ASSERT(!fake_conn_closed(c));
    fake_timer_advance(svc, 1);
    CU_ASSERT(!fake_conn_connecting(b1));
    CU_ASSERT(fake_conn_closed(c));
    fake_conn_free(c);
    CU_ASSERT(fake_service_free(svc) == 0);
}

/* More than 64 KiB waiting for the backend pauses the client; the
 * backend's drain resumes it.  And the other way round. */
static void test_backpressure_both_ways(void)
{
    const char *const opts[] = { "to", "tcp://127.0.0.1:1", NULL };
    struct superd_service *svc = service(opts);
    struct superd_conn *c = fake_conn_open(svc, NULL), *b;
    static char chunk[16 * 1024];

    CU_ASSERT_FATAL(c != NULL);
    b = fake_outbound(svc, 0);
    CU_ASSERT(fake_connect_result(b, 0) == 0);
    for (int i = 0; i < 4; i++)
        CU_ASSERT(fake_conn_feed(c, chunk, sizeof(chunk)) == 0);
    CU_ASSERT(!fake_conn_paused(c)); /* 64 KiB: at the mark, not past it */
    CU_ASSERT(fake_conn_feed(c, chunk, 1) == 0);
    CU_ASSERT(fake_conn_paused(c));
    CU_ASSERT(fake_conn_feed(c, chunk, sizeof(chunk)) == 0);
    CU_ASSERT_EQUAL(fake_conn_pending(c), sizeof(chunk)); /* not read */
    CU_ASSERT(fake_conn_drain(b) == 0);
    CU_ASSERT(!fake_conn_paused(c));
    CU_ASSERT_EQUAL(fake_conn_pending(c), 0);
    CU_ASSERT_EQUAL(superd_queued(b), sizeof(chunk));

    for (int i = 0; i < 5; i++)
        CU_ASSERT(fake_conn_feed(b, chunk, sizeof(chunk)) == 0);
    CU_ASSERT(fake_conn_paused(b));
    CU_ASSERT(fake_conn_drain(c) == 0);
    CU_ASSERT(!fake_conn_paused(b));
    fake_conn_free(c);
    CU_ASSERT(fake_service_free(svc) == 0);
}

/* A FIN goes on as a FIN; the pair closes when both ended. */
static void test_half_close(void)
{
    const char *const opts[] = { "to", "tcp://127.0.0.1:1", NULL };
    struct superd_service *svc = service(opts);
    struct superd_conn *c = fake_conn_open(svc, NULL), *b;

    CU_ASSERT_FATAL(c != NULL);
    b = fake_outbound(svc, 0);
    CU_ASSERT(fake_connect_result(b, 0) == 0);
    CU_ASSERT(fake_conn_feed(c, "req", 3) == 0);
    CU_ASSERT(fake_conn_eof(c) == 0);
    CU_ASSERT(fake_conn_drain(b) == 0);
    CU_ASSERT(fake_conn_shut(b));
    CU_ASSERT(!fake_conn_closed(c));
    CU_ASSERT(fake_conn_feed(b, "answer", 6) == 0);
    CU_ASSERT(output_is(c, "answer"));
    CU_ASSERT(fake_conn_eof(b) == 0);
    CU_ASSERT(fake_conn_closed(c));
    CU_ASSERT(fake_conn_closed(b));
    fake_conn_free(c);
    CU_ASSERT(fake_service_free(svc) == 0);
}

/* A reset of either side closes the other. */
static void test_reset_closes_other(void)
{
    const char *const opts[] = { "to", "tcp://127.0.0.1:1", NULL };
    struct superd_service *svc = service(opts);
    struct superd_conn *c = fake_conn_open(svc, NULL), *b;

    b = fake_outbound(svc, 0);
    CU_ASSERT(fake_connect_result(b, 0) == 0);
    CU_ASSERT(fake_conn_reset(b) == 0);
    CU_ASSERT(fake_conn_closed(c));
    fake_conn_free(c);

    c = fake_conn_open(svc, NULL);
    b = fake_outbound(svc, 1); /* 0, closed, is not freed yet */
    CU_ASSERT_FATAL(b != NULL);
    CU_ASSERT(fake_connect_result(b, 0) == 0);
    CU_ASSERT(fake_conn_reset(c) == 0);
    CU_ASSERT(fake_conn_closed(b));
    fake_conn_free(c);
    CU_ASSERT(fake_service_free(svc) == 0);
}

static void test_proxy_headers(void)
{
    const char *const v1[] = { "to", "tcp://127.0.0.1:1", "proxy_protocol", "v1", NULL };
    const char *const v2[] = { "to", "tcp://127.0.0.1:1", "proxy_protocol", "v2", NULL };
    struct superd_service *svc = service(v1);
    struct superd_conn *c = fake_conn_open(svc, "192.0.2.1:5555");

    CU_ASSERT(output_is(fake_outbound(svc, 0), "PROXY TCP4 192.0.2.1 127.0.0.1 5555 7000\r\n"));
    fake_conn_free(c);
    c = fake_conn_open(svc, "[2001:db8::1]:5555");
    /* The closed pair's outbound connection is not freed yet: the next is 1. */
    CU_ASSERT(output_is(fake_outbound(svc, 1), "PROXY TCP6 2001:db8::1 ::1 5555 7000\r\n"));
    fake_conn_free(c);
    c = fake_conn_open(svc, "unix:");
    CU_ASSERT(output_is(fake_outbound(svc, 2), "PROXY UNKNOWN\r\n"));
    fake_conn_free(c);
    CU_ASSERT(fake_service_free(svc) == 0);

    svc = service(v2);
    c = fake_conn_open(svc, "192.0.2.1:5555");
    {
        static const unsigned char want[28] = {
            0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
            0x21, 0x11, 0x00, 0x0C, 192, 0, 2, 1, 127, 0, 0, 1, 0x15, 0xB3, 0x1B, 0x58,
        };
        size_t len;
        const char *out = fake_conn_output(fake_outbound(svc, 0), &len);
        CU_ASSERT_EQUAL(len, sizeof(want));
        CU_ASSERT(len == sizeof(want) && memcmp(out, want, len) == 0);
    }
    fake_conn_free(c);
    CU_ASSERT(fake_service_free(svc) == 0);
}

static void test_config_errors(void)
{
    static const struct {
        const char *key, *value, *msg;
    } cases[] = {
        { "to", "", "[fwd] to: names no backend" },
        { "to", "tcp://127.0.0.1", "[fwd] to: \"tcp://127.0.0.1\" is not a backend address" },
        { "to", "tcp://[::1:80", "[fwd] to: \"tcp://[::1:80\" is not a backend address" },
        { "to", "tcp://127.0.0.1:0", "[fwd] to: \"tcp://127.0.0.1:0\" is not a backend address" },
        { "to", "http://127.0.0.1:80", "[fwd] to: \"http://127.0.0.1:80\" is not" },
        { "connect_timeout", "0", "[fwd] connect_timeout: \"0\" is not a duration above 0" },
        { "proxy_protocol", "yes", "[fwd] proxy_protocol: \"yes\": expected off, v1 or v2" },
        { "udp_max_clients", "0", "[fwd] udp_max_clients: \"0\": expected a number from 1" },
        { "udp_idle_timeout", "2d", "[fwd] udp_idle_timeout: \"2d\" is not a duration" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *const with_to[] = { "to", "tcp://127.0.0.1:1", cases[i].key, cases[i].value,
                                        NULL };
        const char *const only_to[] = { "to", cases[i].value, NULL };
        struct superd_service *svc =
            fake_service_new(fwd, "fwd", strcmp(cases[i].key, "to") ? with_to : only_to);
        const char *err;

        CU_ASSERT_FATAL(svc != NULL);
        CU_ASSERT(fake_service_init(svc) == -EINVAL);
        err = fake_service_error(svc);
        if (!err || strncmp(err, cases[i].msg, strlen(cases[i].msg)) != 0)
            printf("\n    got \"%s\", want \"%s...\"\n", err ? err : "(none)", cases[i].msg);
        CU_ASSERT(err && strncmp(err, cases[i].msg, strlen(cases[i].msg)) == 0);
        fake_service_free(svc);
    }
}

/* The watched descriptor of the service, or -1. */
static int watched_fd(struct superd_service *svc)
{
    for (int fd = 3; fd < 1024; fd++)
        if (fake_watch_events(svc, fd) >= 0)
            return fd;
    return -1;
}

/* A datagram goes out through a socket of the client's own; the
 * backend's answer comes back as a reply; idle, the mapping expires. */
static void test_udp_mapping(void)
{
    int back = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), fd;
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t len = sizeof(sa);
    char to[64], buf[16];
    struct superd_service *svc;
    struct pollfd p;
    size_t rlen;

    CU_ASSERT_FATAL(back >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CU_ASSERT_FATAL(bind(back, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    CU_ASSERT_FATAL(getsockname(back, (struct sockaddr *)&sa, &len) == 0);
    snprintf(to, sizeof(to), "udp://127.0.0.1:%u", ntohs(sa.sin_port));
    {
        const char *const opts[] = { "to", to, "udp_idle_timeout", "1s", NULL };
        svc = service(opts);
    }
    CU_ASSERT(fake_dgram_feed(svc, "ask", 3, "192.0.2.1:5000") == 0);
    CU_ASSERT_EQUAL(fake_dgram_held(svc), 1);
    fd = watched_fd(svc);
    CU_ASSERT_FATAL(fd >= 0);
    p = (struct pollfd){ back, POLLIN, 0 };
    CU_ASSERT_FATAL(poll(&p, 1, 2000) == 1);
    len = sizeof(sa);
    CU_ASSERT(recvfrom(back, buf, sizeof(buf), 0, (struct sockaddr *)&sa, &len) == 3);
    CU_ASSERT(sendto(back, "answer", 6, 0, (struct sockaddr *)&sa, len) == 6);
    p = (struct pollfd){ fd, POLLIN, 0 };
    CU_ASSERT_FATAL(poll(&p, 1, 2000) == 1);
    CU_ASSERT(fake_watch_fire(svc, fd, SUPERD_READABLE) == 1);
    CU_ASSERT(fake_dgram_reply(svc, 0, &rlen) && rlen == 6 &&
              memcmp(fake_dgram_reply(svc, 0, NULL), "answer", 6) == 0);
    /* The same client again: the same mapping. */
    CU_ASSERT(fake_dgram_feed(svc, "ask", 3, "192.0.2.1:5000") == 0);
    CU_ASSERT_EQUAL(fake_dgram_held(svc), 1);
    CU_ASSERT(fake_dgram_feed(svc, "ask", 3, "192.0.2.2:5000") == 0);
    CU_ASSERT_EQUAL(fake_dgram_held(svc), 2);
    /* Idle: gone between 1 and 1.5 s later. */
    fake_timer_advance(svc, 999);
    CU_ASSERT_EQUAL(fake_dgram_held(svc), 2);
    fake_timer_advance(svc, 501);
    CU_ASSERT_EQUAL(fake_dgram_held(svc), 0);
    CU_ASSERT_EQUAL(fake_watch_events(svc, fd), -1);
    CU_ASSERT(fake_service_free(svc) == 0);
    close(back);
}

static CU_TestInfo tests[] = {
    { "failover: the client's early bytes reach the next backend", test_failover_keeps_bytes },
    { "every backend down or timed out: the client closed", test_all_down_closes_client },
    { "back-pressure both ways at 64 KiB", test_backpressure_both_ways },
    { "half-close passed on; closed when both ended", test_half_close },
    { "a reset of either side closes the other", test_reset_closes_other },
    { "PROXY v1 (TCP4, TCP6, UNKNOWN) and v2 headers", test_proxy_headers },
    { "configuration errors", test_config_errors },
    { "udp: a mapping per client, replies, expiry", test_udp_mapping },
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    { "forward", suite_init, suite_clean, setup, teardown, tests },
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
    unsigned failures, suites_failed;

    if (argc != 2) {
        fprintf(stderr, "usage: %s PLUGIN_DIR\n", argv[0]);
        return 2;
    }
    plugin_dir = argv[1];
    fake_log_stream(NULL);
    if (CU_initialize_registry() != CUE_SUCCESS || CU_register_suites(suites) != CUE_SUCCESS) {
        fprintf(stderr, "%s: %s\n", argv[0], CU_get_error_msg());
        CU_cleanup_registry();
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures();
    suites_failed = CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failures > 0 || suites_failed > 0 ? 1 : 0;
}
