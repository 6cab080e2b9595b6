/*
 * integration_cross.c - output and closes aimed at another connection
 * (issue 10, item 1), and the plugin timers that can aim them.
 *
 * Linked into build/tests/integration (IT_REGISTER); IT_ONLY=cross runs these.
 *
 * The relay test plugin (tests/plugins/relay.c) makes one connection the
 * sink, then writes to it and closes it from another connection's
 * callback, from a datagram's, and from a timer's.  The header promises
 * that superd_write and superd_close work from any callback: the sink
 * must receive every byte, then EOF, without having an event of its own.
 * One worker, so that every connection meets the same plugin state.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define CROSS_BIG (8u << 20)

/* The relay's pattern: byte i is i % 251. */
static uint8_t pattern[251];

static char *relay_so(void)
{
    return it_printf("%s/../tests/plugins/relay.so", it_plugin_dir);
}

/* superd with one worker serving relay on tcp and udp at `port`. */
static struct it_daemon *relay_daemon(int port)
{
    struct it_daemon *d = it_alloc(sizeof(*d));
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (uint8_t)i;
    int ok = it_start(d, it_conf_global("workers = 1\nshutdown_timeout = 250ms\n",
                                        it_printf("[relay]\nplugin = %s\n"
                                                  "listen = tcp://127.0.0.1:%d udp://127.0.0.1:%d\n",
                                                  relay_so(), port, port))) == 0;
    CU_ASSERT_FATAL(ok);
    return d;
}

/* Send a command line on fd and expect exactly `answer` back. */
static void ask(int fd, const char *cmd, const char *answer)
{
    struct it_xfer x;
    char got[64] = "";
    size_t want = strlen(answer);
    it_xfer(fd, (const uint8_t *)cmd, strlen(cmd), 0, NULL, 0, (uint8_t *)got, sizeof got - 1,
            want, 0, IT_OP_MS, &x);
    got[x.rcvd < sizeof got ? x.rcvd : sizeof got - 1] = '\0';
    if (strcmp(got, answer) != 0)
        printf("\n    %s: expected \"%s\", got \"%s\"%s\n", cmd, answer, got,
               x.timeout ? " (timed out)" : "");
    CU_ASSERT_STRING_EQUAL(got, answer);
}

/* A new connection that the relay made its sink. */
static int sink(int port)
{
    int fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    ask(fd, "sink\n", "ready\n");
    return fd;
}

/* The sink receives exactly `len` pattern bytes, then EOF. */
static void sink_gets(int fd, size_t len, const char *how)
{
    struct it_xfer x;
    it_xfer(fd, NULL, 0, 0, pattern, sizeof pattern, NULL, 0, 0, 1, IT_OP_MS, &x);
    if (x.rcvd != len || !x.eof || x.bad_at != -1)
        printf("\n    %s: the sink got %zu of %zu bytes, %s, first bad byte at %ld\n", how,
               x.rcvd, len, x.eof ? "then EOF" : x.timeout ? "no EOF in 5 s" : "then an error",
               x.bad_at);
    CU_ASSERT_EQUAL(x.rcvd, len);
    CU_ASSERT(x.eof);
    CU_ASSERT_EQUAL(x.bad_at, -1);
}

/* From A's on_data: 8 MiB to B, then close B. */
static void test_stream_to_stream(void)
{
    int port = it_free_port(IT_TCP4 | IT_UDP4);
    CU_ASSERT_FATAL(port > 0);
    struct it_daemon *d = relay_daemon(port);
    int b = sink(port), a = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(a >= 0);
    ask(a, it_printf("blast %u\n", CROSS_BIG), "sent\n");
    sink_gets(b, CROSS_BIG, "stream to stream");
    /* A is served on. */
    ask(a, "blast 1\n", "nosink\n");
    it_stop_ok(d);
}

/* From on_datagram: 1 MiB to a stream connection, then close it. */
static void test_datagram_to_stream(void)
{
    int port = it_free_port(IT_TCP4 | IT_UDP4);
    CU_ASSERT_FATAL(port > 0);
    struct it_daemon *d = relay_daemon(port);
    int b = sink(port), u = it_udp_socket(AF_INET, 0);
    CU_ASSERT_FATAL(u >= 0);
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_inet(AF_INET, port, &to);
    char reply[16] = "";
    const char *cmd = it_printf("blast %u", 1u << 20);
    ssize_t n = it_dgram_ask(u, &to, tolen, cmd, strlen(cmd), reply, sizeof reply - 1, 3);
    CU_ASSERT_EQUAL(n, 4);
    sink_gets(b, 1u << 20, "datagram to stream");
    it_stop_ok(d);
}

/* From a one-shot timer started in A's callback: 2 MiB to B, close B. */
static void test_timer_to_stream(void)
{
    int port = it_free_port(IT_TCP4 | IT_UDP4);
    CU_ASSERT_FATAL(port > 0);
    struct it_daemon *d = relay_daemon(port);
    int b = sink(port), a = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(a >= 0);
    ask(a, it_printf("later 50 %u\n", 2u << 20), "armed\n");
    sink_gets(b, 2u << 20, "timer to stream");
    it_stop_ok(d);
}

/* A repeating timer writes five ticks, stops itself from its callback
 * and closes the connection; another one is stopped by on_close. */
static void test_repeating_timer(void)
{
    int port = it_free_port(IT_TCP4 | IT_UDP4);
    CU_ASSERT_FATAL(port > 0);
    struct it_daemon *d = relay_daemon(port);
    int c = it_tcp_connect(AF_INET, port), e = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(c >= 0 && e >= 0);
    /* e's timer is still armed when e goes. */
    ask(e, "tick 30 1000\n", "tick\n");
    it_close(e);
    struct it_xfer x;
    char got[64] = "";
    it_xfer(c, (const uint8_t *)"tick 20 5\n", 10, 0, NULL, 0, (uint8_t *)got, sizeof got - 1, 0,
            1, IT_OP_MS, &x);
    CU_ASSERT_STRING_EQUAL(got, "tick\ntick\ntick\ntick\ntick\n");
    CU_ASSERT(x.eof);
    /* Still serving. */
    int f = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(f >= 0);
    ask(f, "blast 1\n", "nosink\n");
    it_stop_ok(d);
}

static const struct it_test cross_tests[] = {
    { "cross: A's callback writes 8 MiB to B and closes it", test_stream_to_stream },
    { "cross: a datagram writes to a stream and closes it", test_datagram_to_stream },
    { "cross: a timer writes to a stream and closes it", test_timer_to_stream },
    { "cross: a repeating timer, stopped in its callback and in on_close",
      test_repeating_timer },
};

IT_REGISTER(cross_tests)
