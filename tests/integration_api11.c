/*
 * integration_api11.c - the plugin API 1.1 on the real binary: timers,
 * outbound connections (superd_connect), flow control and half-close,
 * descriptor watches and held datagrams, through the guide's examples
 * (docs/examples/ticker.c, forwarder.c, udpfwd.c, built as test plugins
 * ex_*.so) and tests/plugins/connlog.c, which tells the client what an
 * outbound connection's callbacks saw.
 *
 * Linked into build/tests/integration (IT_REGISTER); IT_ONLY=api11 runs
 * these.  The backends are sockets of the test process itself; one
 * worker; every wait bounded.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The forwarder's flood: far past every buffer on the way, so a relay
 * that never pauses its client lets all of it through. */
#define FLOOD (64u << 20)
/* Bytes checked end to end through the forwarder, each way. */
#define BIG (4u << 20)

static uint8_t pattern[251];

static char *test_so(const char *name)
{
    return it_printf("%s/../tests/plugins/%s.so", it_plugin_dir, name);
}

/* superd with one worker and one service [svc] of plugin `so`. */
static struct it_daemon *daemon_with(const char *so, const char *body)
{
    struct it_daemon *d = it_alloc(sizeof(*d));
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (uint8_t)i;
    int ok = it_start(d, it_conf_global("workers = 1\nshutdown_timeout = 250ms\n",
                                        it_printf("[svc]\nplugin = %s\n%s", test_so(so),
                                                  body))) == 0;
    CU_ASSERT_FATAL(ok);
    return d;
}

/* Read until `want` bytes, EOF or IT_OP_MS; returns what came (tracked,
 * NUL-terminated) and whether EOF followed in *eof. */
static char *read_text(int fd, size_t want, int *eof)
{
    char *buf = it_alloc(want + 1);
    struct it_xfer x;
    it_xfer(fd, NULL, 0, 0, NULL, 0, (uint8_t *)buf, want, want, 0, IT_OP_MS, &x);
    buf[x.rcvd < want ? x.rcvd : want] = '\0';
    if (eof)
        *eof = x.eof;
    return buf;
}

/* Everything until EOF (at most cap bytes), NUL-terminated. */
static char *read_all(int fd, size_t cap, int *eof)
{
    char *buf = it_alloc(cap + 1);
    struct it_xfer x;
    it_xfer(fd, NULL, 0, 0, NULL, 0, (uint8_t *)buf, cap, 0, 1, IT_OP_MS, &x);
    buf[x.rcvd < cap ? x.rcvd : cap] = '\0';
    *eof = x.eof;
    return buf;
}

/* Accept one connection on lfd within IT_OP_MS (-1: none came). */
static int accept_one(int lfd)
{
    struct pollfd p = { .fd = lfd, .events = POLLIN };
    if (poll(&p, 1, IT_OP_MS) != 1)
        return -1;
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    return fd < 0 ? -1 : it_track_fd(fd);
}

/* ---- timers: the ticker ---- */

static void test_ticker(void)
{
    int port = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(port > 0);
    struct it_daemon *d = daemon_with("ex_ticker", it_printf("listen = tcp://127.0.0.1:%d\n"
                                                             "every = 20\n", port));
    int a = it_tcp_connect(AF_INET, port), b = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(a >= 0 && b >= 0);
    /* Each client has its own timer and count. */
    CU_ASSERT_STRING_EQUAL(read_text(a, 21, NULL), "tick 1\ntick 2\ntick 3\n");
    it_close(a);
    CU_ASSERT_STRING_EQUAL(read_text(b, 28, NULL), "tick 1\ntick 2\ntick 3\ntick 4\n");
    it_stop_ok(d);
}

/* ---- outbound connections: connlog ---- */

/* The client of connlog reads `want` exactly, then EOF. */
static void connlog_says(int fd, const char *want)
{
    int eof = 0;
    char *got = read_all(fd, 1024, &eof);
    if (strcmp(got, want) != 0 || !eof)
        printf("\n    connlog: got \"%s\"%s, wanted \"%s\" and EOF\n", got, eof ? " EOF" : "",
               want);
    CU_ASSERT_STRING_EQUAL(got, want);
    CU_ASSERT(eof);
}

static void test_connect_refused(void)
{
    int port = it_free_port(IT_TCP4), dead = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(port > 0 && dead > 0 && dead != port);
    struct it_daemon *d = daemon_with("connlog", it_printf("listen = tcp://127.0.0.1:%d\n"
                                                           "to = tcp://127.0.0.1:%d\n",
                                                           port, dead));
    int c = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(c >= 0);
    connlog_says(c, "connect: -111 ECONNREFUSED\nclosed\n");
    /* unix: a missing socket file is refused the same way, through
     * on_connect, never inside superd_connect. */
    it_stop_ok(d);
    d = daemon_with("connlog", it_printf("listen = tcp://127.0.0.1:%d\n"
                                         "to = unix:%s\n", port, it_path("nobody.sock")));
    c = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(c >= 0);
    connlog_says(c, "connect: -2 ENOENT\nclosed\n");
    it_stop_ok(d);
}

/* A listener whose accept queue is full drops new SYNs: the connect
 * neither succeeds nor fails until connect_timeout. */
static void test_connect_timeout(void)
{
    int port = it_free_port(IT_TCP4), hole = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(port > 0 && hole > 0 && hole != port);
    int lfd = it_tcp_listen(AF_INET, hole);
    CU_ASSERT_FATAL(lfd >= 0);
    CU_ASSERT_FATAL(listen(lfd, 0) == 0);
    /* Fill the queue (backlog 0 holds one or two) and let the handshakes end. */
    for (int i = 0; i < 4; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = it_sa_inet(AF_INET, hole, &ss);
        int fd = it_track_fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (fd >= 0 && connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS)
            printf("\n    connect to the full listener: %s\n", strerror(errno));
    }
    it_sleep_ms(100);
    struct it_daemon *d = daemon_with("connlog", it_printf("listen = tcp://127.0.0.1:%d\n"
                                                           "to = tcp://127.0.0.1:%d\n"
                                                           "connect_timeout = 300\n",
                                                           port, hole));
    int c = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(c >= 0);
    connlog_says(c, "connect: -110 ETIMEDOUT\nclosed\n");
    it_stop_ok(d);
}

/* Connected: what was written before on_connect arrives first; the
 * backend's bytes and FIN reach on_data and on_eof; after on_eof the
 * outbound connection is still writable; the backend's close ends it. */
static void test_connect_eof_write(void)
{
    int port = it_free_port(IT_TCP4), bport = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(port > 0 && bport > 0 && bport != port);
    int lfd = it_tcp_listen(AF_INET, bport);
    CU_ASSERT_FATAL(lfd >= 0);
    struct it_daemon *d = daemon_with("connlog", it_printf("listen = tcp://127.0.0.1:%d\n"
                                                           "to = tcp://127.0.0.1:%d\n",
                                                           port, bport));
    int c = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(c >= 0);
    int b = accept_one(lfd);
    CU_ASSERT_FATAL(b >= 0);
    CU_ASSERT_STRING_EQUAL(read_text(c, 11, NULL), "connect: 0\n");
    CU_ASSERT_STRING_EQUAL(read_text(b, 6, NULL), "hello\n");
    CU_ASSERT(write(c, "ping\n", 5) == 5);
    CU_ASSERT_STRING_EQUAL(read_text(b, 5, NULL), "ping\n");
    CU_ASSERT(write(b, "pong", 4) == 4);
    CU_ASSERT_STRING_EQUAL(read_text(c, 11, NULL), "data: pong\n");
    CU_ASSERT(shutdown(b, SHUT_WR) == 0);
    /* connlog writes a line after on_eof, then closes. */
    int eof = 0;
    CU_ASSERT_STRING_EQUAL(read_all(b, 64, &eof), "after eof\n");
    CU_ASSERT(eof);
    connlog_says(c, "eof\nclosed\n");
    it_stop_ok(d);
}

/* ---- the forwarder: bytes both ways, half-close, back-pressure ---- */

static struct it_daemon *forwarder(int port, const char *to)
{
    return daemon_with("ex_forwarder", it_printf("listen = tcp://127.0.0.1:%d\nto = %s\n",
                                                 port, to));
}

static void test_forwarder_tcp(int family)
{
    int port = it_free_port(IT_TCP4), bport = it_free_port(family == AF_INET ? IT_TCP4 : IT_TCP6);
    CU_ASSERT_FATAL(port > 0 && bport > 0 && bport != port);
    int lfd = it_tcp_listen(family, bport);
    CU_ASSERT_FATAL(lfd >= 0);
    struct it_daemon *d = forwarder(port, it_printf(family == AF_INET ? "tcp://127.0.0.1:%d"
                                                    : "tcp://[::1]:%d", bport));
    int c = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(c >= 0);
    int b = accept_one(lfd);
    CU_ASSERT_FATAL(b >= 0);
    uint8_t *out = it_alloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        out[i] = pattern[i % sizeof pattern];
    /* Client -> backend, then the client's FIN: the backend gets every
     * byte and EOF, and the way back stays open. */
    size_t sent = 0, got = 0;
    long bad = -1;
    int64_t deadline = it_now_ms() + 4 * IT_OP_MS;
    int eof = 0;
    while ((sent < BIG || !eof) && it_left_ms(deadline) > 0) {
        if (sent < BIG) {
            ssize_t n = send(c, out + sent, BIG - sent, MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
            if (sent == BIG)
                shutdown(c, SHUT_WR);
        }
        uint8_t in[65536];
        ssize_t n = recv(b, in, sizeof in, 0);
        if (n == 0)
            eof = 1;
        for (ssize_t i = 0; i < n; i++, got++)
            if (bad < 0 && in[i] != pattern[got % sizeof pattern])
                bad = (long)got;
        if (n < 0 && sent == BIG)
            it_sleep_ms(1);
    }
    CU_ASSERT_EQUAL(got, BIG);
    CU_ASSERT_EQUAL(bad, -1);
    CU_ASSERT(eof);
    /* Backend -> client, then the backend's FIN: the client gets every
     * byte, then EOF. */
    sent = 0;
    got = 0;
    bad = -1;
    eof = 0;
    while ((sent < BIG || !eof) && it_left_ms(deadline) > 0) {
        if (sent < BIG) {
            ssize_t n = send(b, out + sent, BIG - sent, MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
            if (sent == BIG)
                shutdown(b, SHUT_WR);
        }
        uint8_t in[65536];
        ssize_t n = recv(c, in, sizeof in, 0);
        if (n == 0)
            eof = 1;
        for (ssize_t i = 0; i < n; i++, got++)
            if (bad < 0 && in[i] != pattern[got % sizeof pattern])
                bad = (long)got;
        if (n < 0 && sent == BIG)
            it_sleep_ms(1);
    }
    if (got != BIG || bad != -1 || !eof)
        printf("\n    backend -> client: %zu of %u bytes sent, %zu received, bad at %ld, %s\n",
               sent, BIG, got, bad, eof ? "EOF" : "no EOF");
    CU_ASSERT_EQUAL(got, BIG);
    CU_ASSERT_EQUAL(bad, -1);
    CU_ASSERT(eof);
    it_stop_ok(d);
}

static void test_forwarder_tcp4(void)
{
    test_forwarder_tcp(AF_INET);
}

static void test_forwarder_tcp6(void)
{
    if (!it_have_ipv6()) {
        printf("skipped: no IPv6 loopback ");
        return;
    }
    test_forwarder_tcp(AF_INET6);
}

/* A backend that never reads: the forwarder pauses its client, so the
 * client cannot push the flood through; once the backend reads, every
 * byte the client got rid of arrives, in order. */
static void test_forwarder_backpressure(void)
{
    int port = it_free_port(IT_TCP4), bport = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(port > 0 && bport > 0 && bport != port);
    int lfd = it_tcp_listen(AF_INET, bport);
    CU_ASSERT_FATAL(lfd >= 0);
    struct it_daemon *d = forwarder(port, it_printf("tcp://127.0.0.1:%d", bport));
    int c = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(c >= 0);
    int b = accept_one(lfd);
    CU_ASSERT_FATAL(b >= 0);
    static uint8_t chunk[65536];
    size_t sent = 0;
    int64_t deadline = it_now_ms() + IT_OP_MS, last_progress = it_now_ms();
    /* Send until nothing moves for 500 ms. */
    while (sent < FLOOD && it_left_ms(deadline) > 0 && it_now_ms() - last_progress < 500) {
        for (size_t i = 0; i < sizeof chunk; i++)
            chunk[i] = pattern[(sent + i) % sizeof pattern];
        ssize_t n = send(c, chunk, sizeof chunk, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            last_progress = it_now_ms();
        } else {
            it_sleep_ms(5);
        }
    }
    if (sent >= FLOOD)
        printf("\n    the client sent all %u bytes to a backend that does not read\n", FLOOD);
    CU_ASSERT(sent < FLOOD);
    long rss = it_rss_kb(d->pid);
    CU_ASSERT(rss > 0 && rss < 64 * 1024);
    /* The backend reads: all that was sent arrives, intact. */
    shutdown(c, SHUT_WR);
    struct it_xfer x;
    it_xfer(b, NULL, 0, 0, pattern, sizeof pattern, NULL, 0, 0, 1, 2 * IT_OP_MS, &x);
    CU_ASSERT_EQUAL(x.rcvd, sent);
    CU_ASSERT_EQUAL(x.bad_at, -1);
    CU_ASSERT(x.eof);
    it_stop_ok(d);
}

/* unix backend; the backend closes at once: the client sees EOF. */
static void test_forwarder_unix(void)
{
    int port = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(port > 0);
    const char *path = it_path("backend.sock");
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_storage ss;
    socklen_t len = it_sa_unix(path, &ss);
    CU_ASSERT_FATAL(lfd >= 0 && bind(lfd, (struct sockaddr *)&ss, len) == 0 &&
                    listen(lfd, 4) == 0);
    it_track_fd(lfd);
    struct it_daemon *d = forwarder(port, it_printf("unix:%s", path));
    int c = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(c >= 0);
    CU_ASSERT(write(c, "over unix\n", 10) == 10);
    int b = accept_one(lfd);
    CU_ASSERT_FATAL(b >= 0);
    CU_ASSERT_STRING_EQUAL(read_text(b, 10, NULL), "over unix\n");
    CU_ASSERT(write(b, "back\n", 5) == 5);
    it_close(b);
    int eof = 0;
    CU_ASSERT_STRING_EQUAL(read_all(c, 64, &eof), "back\n");
    CU_ASSERT(eof);
    it_stop_ok(d);
}

/* ---- held datagrams, watches and timers: the UDP forwarder ---- */

static void test_udpfwd(void)
{
    int port = it_free_port(IT_UDP4), bport = it_free_port(IT_UDP4);
    CU_ASSERT_FATAL(port > 0 && bport > 0 && bport != port);
    int backend = it_udp_socket(AF_INET, bport);
    CU_ASSERT_FATAL(backend >= 0);
    struct it_daemon *d = daemon_with("ex_udpfwd", it_printf("listen = udp://127.0.0.1:%d\n"
                                                             "to = 127.0.0.1:%d\n"
                                                             "timeout = 2000\n", port, bport));
    int client = it_udp_socket(AF_INET, 0);
    CU_ASSERT_FATAL(client >= 0);
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_inet(AF_INET, port, &to);
    CU_ASSERT(sendto(client, "question", 8, 0, (struct sockaddr *)&to, tolen) == 8);
    /* The backend gets it from the forwarder's own socket and answers. */
    struct pollfd p = { .fd = backend, .events = POLLIN };
    CU_ASSERT_FATAL(poll(&p, 1, IT_OP_MS) == 1);
    char buf[64];
    struct sockaddr_storage from;
    socklen_t fromlen = sizeof from;
    ssize_t n = recvfrom(backend, buf, sizeof buf, 0, (struct sockaddr *)&from, &fromlen);
    CU_ASSERT_EQUAL_FATAL(n, 8);
    CU_ASSERT(memcmp(buf, "question", 8) == 0);
    CU_ASSERT(sendto(backend, "answer", 6, 0, (struct sockaddr *)&from, fromlen) == 6);
    /* The client gets the answer from superd's listener. */
    p.fd = client;
    CU_ASSERT_FATAL(poll(&p, 1, IT_OP_MS) == 1);
    fromlen = sizeof from;
    n = recvfrom(client, buf, sizeof buf, 0, (struct sockaddr *)&from, &fromlen);
    CU_ASSERT_EQUAL(n, 6);
    CU_ASSERT(memcmp(buf, "answer", 6) == 0);
    CU_ASSERT(((struct sockaddr_in *)&from)->sin_port == htons((uint16_t)port));
    it_stop_ok(d);
}

static const struct it_test api11_tests[] = {
    { "api11: ticker: a line per interval per client, from timers", test_ticker },
    { "api11: superd_connect refused: on_connect -ECONNREFUSED, then on_close", test_connect_refused },
    { "api11: superd_connect timeout: on_connect -ETIMEDOUT, then on_close", test_connect_timeout },
    { "api11: outbound: queued before connect, on_eof keeps it writable", test_connect_eof_write },
    { "api11: forwarder: 4 MiB each way, FIN passed each way (tcp4)", test_forwarder_tcp4 },
    { "api11: forwarder: 4 MiB each way, FIN passed each way (tcp6)", test_forwarder_tcp6 },
    { "api11: forwarder: a backend that never reads pauses the client", test_forwarder_backpressure },
    { "api11: forwarder: unix backend, its close ends the client", test_forwarder_unix },
    { "api11: udpfwd: held datagram answered from a watch", test_udpfwd },
};

IT_REGISTER(api11_tests)
