/*
 * test_plugins_api11.c - the guide's API 1.1 examples (ticker, forwarder,
 * udpfwd: built as TEST_PLUGIN_DIR/ex_*.so) against the fake host: timers
 * on the test's clock, outbound connections whose connect the test ends,
 * pause/resume and shutdown seen from the fake, watches the test fires,
 * held datagrams.  Registered by test_plugins.c's main (api11_register).
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakehost.h"

#ifndef TEST_PLUGIN_DIR
#error "TEST_PLUGIN_DIR must name the directory of the built test plugins"
#endif

int api11_register(void);

static struct superd_service *start(const char *name, struct fake_plugin **p,
                                    const char *const *opts)
{
    char path[512];
    snprintf(path, sizeof path, "%s/ex_%s.so", TEST_PLUGIN_DIR, name);
    CU_ASSERT_FATAL(fake_plugin_load(path, p) == 0);
    struct superd_service *svc = fake_service_new(*p, name, opts);
    CU_ASSERT_FATAL(svc != NULL);
    CU_ASSERT_FATAL(fake_service_init(svc) == 0);
    return svc;
}

static void stop(struct superd_service *svc, struct fake_plugin *p)
{
    CU_ASSERT_EQUAL(fake_violations(), 0);
    CU_ASSERT_EQUAL(fake_service_free(svc), 0);
    CU_ASSERT_EQUAL(fake_plugin_unload(p), 0);
}

/* Two lines after 2 s; none after the client is gone; the timer stopped. */
static void test_ticker(void)
{
    struct fake_plugin *p;
    struct superd_service *svc = start("ticker", &p, NULL);
    struct superd_conn *c = fake_conn_open(svc, NULL);
    CU_ASSERT_EQUAL(fake_timer_advance(svc, 999), 0);
    CU_ASSERT_EQUAL(fake_timer_advance(svc, 1001), 2);
    CU_ASSERT_STRING_EQUAL(fake_conn_output(c, NULL), "tick 1\ntick 2\n");
    fake_conn_free(c);
    CU_ASSERT_EQUAL(fake_timer_advance(svc, 5000), 0);
    stop(svc, p);
}

/* The forwarder: queued before the connect, bytes both ways, the
 * client paused by a slow backend and resumed by its drain, FIN passed
 * on, and a refused backend closes the client. */
static void test_forwarder(void)
{
    const char *const opts[] = { "to", "tcp://127.0.0.1:8080", NULL };
    struct fake_plugin *p;
    struct superd_service *svc = start("forwarder", &p, opts);
    struct superd_conn *c = fake_conn_open(svc, NULL);
    struct superd_conn *b = fake_outbound(svc, 0);
    CU_ASSERT_FATAL(b != NULL);
    CU_ASSERT_STRING_EQUAL(superd_peer(b), "127.0.0.1:8080");
    CU_ASSERT(fake_conn_connecting(b));
    fake_conn_feed(c, "early", 5);
    CU_ASSERT_STRING_EQUAL(fake_conn_output(b, NULL), "early");
    CU_ASSERT_EQUAL(fake_connect_result(b, 0), 0);
    fake_conn_feed(b, "back", 4);
    CU_ASSERT_STRING_EQUAL(fake_conn_output(c, NULL), "back");
    /* 100 KiB toward a backend that does not read: the client pauses. */
    static char big[100 * 1024];
    fake_conn_feed(c, big, sizeof big);
    CU_ASSERT(fake_conn_paused(c));
    fake_conn_feed(c, "more", 4);
    CU_ASSERT(fake_conn_pending(c) >= 4);   /* waits unread */
    fake_conn_drain(b);
    CU_ASSERT(!fake_conn_paused(c));
    CU_ASSERT_EQUAL(fake_conn_pending(c), 0);
    /* The client's FIN reaches the backend; the way back stays open. */
    fake_conn_drain(c);
    fake_conn_drain(b);
    fake_conn_eof(c);
    CU_ASSERT(fake_conn_shut(b));
    CU_ASSERT(!fake_conn_closed(c));
    fake_conn_clear_output(c);
    fake_conn_feed(b, "late", 4);
    CU_ASSERT_STRING_EQUAL(fake_conn_output(c, NULL), "late");
    fake_conn_eof(b);
    fake_conn_drain(c);
    CU_ASSERT(fake_conn_shut(c));
    /* Both ways shut, everything written: closed, as the host does. */
    CU_ASSERT(fake_conn_closed(c));
    fake_conn_free(c);
    CU_ASSERT(fake_conn_closed(b));
    fake_conn_free(b);

    /* A refused backend: the client is closed at once. */
    c = fake_conn_open(svc, NULL);
    b = fake_outbound(svc, 0);
    CU_ASSERT_FATAL(b != NULL);
    fake_connect_result(b, -ECONNREFUSED);
    CU_ASSERT(fake_conn_closed(b));
    CU_ASSERT(fake_conn_closed(c));
    fake_conn_free(c);
    /* A backend that never answers: the 10 s connect timeout. */
    c = fake_conn_open(svc, NULL);
    fake_timer_advance(svc, 10000);
    CU_ASSERT(fake_conn_closed(c));
    fake_conn_free(c);
    stop(svc, p);
}

/* udpfwd: the request goes to a real UDP socket of the test; its answer
 * comes back through the held datagram when the watch fires; a request
 * never answered is dropped at its timeout. */
static void test_udpfwd(void)
{
    int be = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sin;
    CU_ASSERT_FATAL(be >= 0 && bind(be, (struct sockaddr *)&sin, sizeof sin) == 0 &&
                    getsockname(be, (struct sockaddr *)&sin, &sl) == 0);
    char to[64];
    snprintf(to, sizeof to, "127.0.0.1:%u", ntohs(sin.sin_port));
    const char *const opts[] = { "to", to, "timeout", "500", NULL };
    struct fake_plugin *p;
    struct superd_service *svc = start("udpfwd", &p, opts);
    CU_ASSERT_EQUAL(fake_dgram_feed(svc, "q1", 2, "192.0.2.1:5353"), 0);
    CU_ASSERT_EQUAL(fake_dgram_held(svc), 1);
    char buf[16];
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    struct pollfd pf = { .fd = be, .events = POLLIN };
    CU_ASSERT_FATAL(poll(&pf, 1, 5000) == 1);
    CU_ASSERT_EQUAL(recvfrom(be, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl), 2);
    CU_ASSERT_EQUAL(sendto(be, "a1", 2, 0, (struct sockaddr *)&from, fl), 2);
    /* The forwarder's socket is the one the fake watches. */
    int fired = 0;
    for (int fd = 3; fd < 1024 && !fired; fd++)
        if (fake_watch_events(svc, fd) == (int)SUPERD_READABLE) {
            pf.fd = fd;
            CU_ASSERT_FATAL(poll(&pf, 1, 5000) == 1);
            fired = fake_watch_fire(svc, fd, SUPERD_READABLE);
        }
    CU_ASSERT(fired);
    size_t len;
    const char *reply = fake_dgram_reply(svc, 0, &len);
    CU_ASSERT(reply != NULL && len == 2 && memcmp(reply, "a1", 2) == 0);
    CU_ASSERT_EQUAL(fake_dgram_held(svc), 0);
    /* Unanswered: released at the timeout. */
    fake_dgram_feed(svc, "q2", 2, NULL);
    CU_ASSERT_EQUAL(fake_dgram_held(svc), 1);
    CU_ASSERT_EQUAL(fake_timer_advance(svc, 500), 1);
    CU_ASSERT_EQUAL(fake_dgram_held(svc), 0);
    /* In flight at the end: released by the host before fini. */
    fake_dgram_feed(svc, "q3", 2, NULL);
    stop(svc, p);
    close(be);
}

int api11_register(void)
{
    static CU_TestInfo tests[] = {
        { "ticker: a line a second from a timer, stopped with the client", test_ticker },
        { "forwarder: connect, both ways, pause/resume, FIN, refused, timeout", test_forwarder },
        { "udpfwd: held datagram answered when the watch fires; timeout", test_udpfwd },
        CU_TEST_INFO_NULL,
    };
    static CU_SuiteInfo suites[] = {
        { "API 1.1 examples (fake host)", NULL, NULL, NULL, NULL, tests },
        CU_SUITE_INFO_NULL,
    };
    return CU_register_suites(suites) == CUE_SUCCESS ? 0 : -1;
}
