/*
 * integration_forward.c - the forward plugin on the real binary
 * (docs/forward.md): bytes both ways on tcp4, tcp6 and unix, half-close,
 * back-pressure with bounded memory, a backend that is down or does not
 * answer, round-robin and failover, the PROXY protocol, UDP forwarding.
 *
 * Linked into build/tests/integration (IT_REGISTER); IT_ONLY=forward runs
 * these.  Backends are superd's own echo (in the same daemon) or sockets
 * the test holds itself, so that it sees exactly what the backend gets.
 * Every wait is bounded; teardown stops the daemon either way.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define KiB 1024u
#define MiB (1024u * 1024u)

/* A daemon with one worker (round-robin is per worker) serving `body`. */
static struct it_daemon *serve(const char *body)
{
    struct it_daemon *d = it_alloc(sizeof(*d));
    int ok = it_start(d, it_conf_global("workers = 1\nshutdown_timeout = 250ms\n", body)) == 0;

    CU_ASSERT_FATAL(ok);
    return d;
}

/* Accept one connection on listener lfd within ms: the descriptor
 * (non-blocking, tracked), or -1. */
static int accept_within(int lfd, int ms)
{
    struct pollfd p = { lfd, POLLIN, 0 };
    int fd;

    if (poll(&p, 1, ms) <= 0)
        return -1;
    fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    return fd < 0 ? -1 : it_track_fd(fd);
}

/* Read exactly n bytes within ms.  1 when all came. */
static int read_n(int fd, void *buf, size_t n, int ms)
{
    int64_t deadline = it_now_ms() + ms;
    size_t got = 0;

    while (got < n) {
        struct pollfd p = { fd, POLLIN, 0 };
        ssize_t r;
        if (poll(&p, 1, it_left_ms(deadline)) <= 0)
            return 0;
        r = recv(fd, (char *)buf + got, n - got, 0);
        if (r == 0)
            return 0;
        if (r < 0 && errno != EAGAIN && errno != EINTR)
            return 0;
        if (r > 0)
            got += (size_t)r;
    }
    return 1;
}

/* What the peer did next, within ms: 1 EOF, 2 a reset, 0 nothing (or
 * bytes: *extra counts them). */
static int end_within(int fd, int ms, size_t *extra)
{
    int64_t deadline = it_now_ms() + ms;
    char buf[4096];

    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        ssize_t r;
        if (poll(&p, 1, it_left_ms(deadline)) <= 0)
            return 0;
        r = recv(fd, buf, sizeof(buf), 0);
        if (r == 0)
            return 1;
        if (r < 0 && errno == ECONNRESET)
            return 2;
        if (r > 0 && extra)
            *extra += (size_t)r;
    }
}

/* Nothing arrives (neither bytes nor EOF) within ms. */
static int quiet_for(int fd, int ms)
{
    struct pollfd p = { fd, POLLIN, 0 };

    return poll(&p, 1, ms) == 0;
}

static int send_all(int fd, const void *buf, size_t n)
{
    int64_t deadline = it_now_ms() + IT_OP_MS;
    size_t done = 0;

    while (done < n) {
        struct pollfd p = { fd, POLLOUT, 0 };
        ssize_t w;
        if (poll(&p, 1, it_left_ms(deadline)) <= 0)
            return 0;
        w = send(fd, (const char *)buf + done, n - done, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return 0;
        if (w > 0)
            done += (size_t)w;
    }
    return 1;
}

/* ---- 4 MiB each way, every byte checked ---- */

static void through_echo(const char *listen, const char *to, int family, int port,
                         const char *path)
{
    struct it_daemon *d = serve(it_printf("[echo]\nplugin = echo\nlisten = %s\n"
                                          "[fwd]\nplugin = forward\nlisten = %s\nto = %s\n",
                                          to, listen, to));
    int fd = path ? it_unix_connect(path) : it_tcp_connect(family, port);
    struct it_xfer x;

    CU_ASSERT_FATAL(fd >= 0);
    it_xfer(fd, it_pattern, IT_PATTERN_LEN, 1, it_pattern, IT_PATTERN_LEN, NULL, 0,
            IT_PATTERN_LEN, 1, 4 * IT_OP_MS, &x);
    if (x.sent != IT_PATTERN_LEN || x.rcvd != IT_PATTERN_LEN || x.bad_at >= 0 || !x.eof)
        printf("\n    %s: sent %zu, got back %zu, first bad byte %ld, %s, err %s\n    ", listen,
               x.sent, x.rcvd, x.bad_at, x.eof ? "EOF" : "no EOF", strerror(x.err));
    CU_ASSERT_EQUAL(x.sent, IT_PATTERN_LEN);
    CU_ASSERT_EQUAL(x.rcvd, IT_PATTERN_LEN);
    CU_ASSERT(x.bad_at < 0);
    CU_ASSERT(x.eof); /* the echo's close came through as a FIN */
    it_close(fd);
    it_stop_ok(d);
}

static void test_forward_4mib_tcp4(void)
{
    int pf = it_free_port(IT_TCP4), pb;

    CU_ASSERT_FATAL(pf > 0);
    pb = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(pb > 0 && pb != pf);
    through_echo(it_printf("tcp://127.0.0.1:%d", pf), it_printf("tcp://127.0.0.1:%d", pb),
                 AF_INET, pf, NULL);
}

static void test_forward_4mib_tcp6(void)
{
    int pf, pb;

    if (!it_have_ipv6()) {
        printf("\n    skipped: no ::1\n    ");
        return;
    }
    pf = it_free_port(IT_TCP6);
    pb = it_free_port(IT_TCP6);
    CU_ASSERT_FATAL(pf > 0 && pb > 0 && pb != pf);
    through_echo(it_printf("tcp://[::1]:%d", pf), it_printf("tcp://[::1]:%d", pb), AF_INET6, pf,
                 NULL);
}

static void test_forward_4mib_unix(void)
{
    char *front = it_path("front.sock"), *back = it_path("back.sock");

    through_echo(it_printf("unix:%s", front), it_printf("unix:%s", back), 0, 0, front);
}

/* ---- a test-held backend ---- */

struct rig {
    struct it_daemon *d;
    int port;  /* the forwarder's */
    int lfd;   /* the backend's listener */
    int bport;
};

/* The forwarder on a free port, to the test's own listener, with `extra`
 * lines in its section. */
static void rig_up(struct rig *r, const char *extra)
{
    r->port = it_free_port(IT_TCP4);
    r->bport = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(r->port > 0 && r->bport > 0 && r->port != r->bport);
    r->lfd = it_tcp_listen(AF_INET, r->bport);
    CU_ASSERT_FATAL(r->lfd >= 0);
    r->d = serve(it_printf("[fwd]\nplugin = forward\nlisten = tcp://127.0.0.1:%d\n"
                           "to = tcp://127.0.0.1:%d\n%s",
                           r->port, r->bport, extra));
}

/* A client through the forwarder and the backend's end of it. */
static void rig_pair(struct rig *r, int *client, int *backend)
{
    *client = it_tcp_connect(AF_INET, r->port);
    CU_ASSERT_FATAL(*client >= 0);
    *backend = accept_within(r->lfd, IT_OP_MS);
    CU_ASSERT_FATAL(*backend >= 0);
}

/* ---- half-close both ways ---- */

static void test_forward_half_close(void)
{
    struct rig r;
    int c, b;
    char buf[8];

    rig_up(&r, "");
    /* The client ends first: the backend sees EOF and may still answer. */
    rig_pair(&r, &c, &b);
    CU_ASSERT(send_all(c, "abc", 3));
    CU_ASSERT(shutdown(c, SHUT_WR) == 0);
    CU_ASSERT(read_n(b, buf, 3, IT_OP_MS) && memcmp(buf, "abc", 3) == 0);
    CU_ASSERT_EQUAL(end_within(b, IT_OP_MS, NULL), 1);
    CU_ASSERT(send_all(b, "xyz", 3));
    CU_ASSERT(read_n(c, buf, 3, IT_OP_MS) && memcmp(buf, "xyz", 3) == 0);
    CU_ASSERT(quiet_for(c, 100)); /* still open towards the client */
    CU_ASSERT(shutdown(b, SHUT_WR) == 0);
    CU_ASSERT_EQUAL(end_within(c, IT_OP_MS, NULL), 1);
    it_close(c);
    it_close(b);

    /* The backend ends first: the client sees EOF and may still send. */
    rig_pair(&r, &c, &b);
    CU_ASSERT(send_all(b, "123", 3));
    CU_ASSERT(shutdown(b, SHUT_WR) == 0);
    CU_ASSERT(read_n(c, buf, 3, IT_OP_MS) && memcmp(buf, "123", 3) == 0);
    CU_ASSERT_EQUAL(end_within(c, IT_OP_MS, NULL), 1);
    CU_ASSERT(send_all(c, "456", 3));
    CU_ASSERT(read_n(b, buf, 3, IT_OP_MS) && memcmp(buf, "456", 3) == 0);
    CU_ASSERT(quiet_for(b, 100));
    CU_ASSERT(shutdown(c, SHUT_WR) == 0);
    CU_ASSERT_EQUAL(end_within(b, IT_OP_MS, NULL), 1);
    it_close(c);
    it_close(b);
    it_stop_ok(r.d);
}

/* ---- a peer that never reads: bounded memory, nothing lost ---- */

/* Write the pattern to fd until nothing moves for a second (at most 10 s
 * and `limit` bytes).  Returns the errno of a failure, or 0. */
static int flood(int fd, size_t limit, size_t *sent)
{
    int64_t start = it_now_ms(), last = start;

    *sent = 0;
    while (*sent < limit) {
        int64_t now = it_now_ms();
        int wait = (int)(1000 - (now - last));
        struct pollfd p = { fd, POLLOUT, 0 };
        size_t off = *sent % IT_PATTERN_LEN, chunk = IT_PATTERN_LEN - off;
        ssize_t w;
        int n;

        if (wait <= 0 || now - start >= 10000)
            break;
        n = poll(&p, 1, wait);
        if (n < 0 && errno != EINTR)
            return errno;
        if (n <= 0)
            continue;
        if (p.revents & (POLLERR | POLLHUP))
            return EPIPE;
        if (chunk > 256 * KiB)
            chunk = 256 * KiB;
        if (chunk > limit - *sent)
            chunk = limit - *sent;
        w = send(fd, it_pattern + off, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) {
            *sent += (size_t)w;
            last = it_now_ms();
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            return errno;
        }
    }
    return 0;
}

/* `writer` floods, `reader` does not read; then the reader reads all. */
static void never_reading(int client_writes)
{
    const size_t limit = 128 * MiB;
    struct rig r;
    int c, b, w, rd, err;
    long base, rss;
    size_t sent;
    struct it_xfer x;

    rig_up(&r, "");
    base = it_rss_kb(r.d->pid);
    CU_ASSERT_FATAL(base > 0);
    rig_pair(&r, &c, &b);
    w = client_writes ? c : b;
    rd = client_writes ? b : c;
    err = flood(w, limit, &sent);
    rss = it_rss_kb(r.d->pid);
    printf("\n    %s floods: %zu KiB sent before the writes stalled; superd RSS %ld KiB at "
           "start, %ld KiB now\n    ", client_writes ? "client" : "backend", sent / KiB, base,
           rss);
    CU_ASSERT_EQUAL(err, 0);
    CU_ASSERT(sent < limit); /* the pause reached the writer */
    CU_ASSERT(rss > 0 && rss < base + 16 * 1024);
    CU_ASSERT(shutdown(w, SHUT_WR) == 0);
    it_xfer(rd, NULL, 0, 0, it_pattern, IT_PATTERN_LEN, NULL, 0, sent, 1, 4 * IT_OP_MS, &x);
    if (x.rcvd != sent || !x.eof || x.bad_at >= 0)
        printf("read back %zu of %zu bytes, %s, first bad byte %ld\n    ", x.rcvd, sent,
               x.eof ? "EOF" : "no EOF", x.bad_at);
    CU_ASSERT_EQUAL(x.rcvd, sent);
    CU_ASSERT(x.eof);
    CU_ASSERT(x.bad_at < 0);
    it_close(c);
    it_close(b);
    it_stop_ok(r.d);
}

static void test_forward_client_never_reads(void) { never_reading(0); }
static void test_forward_backend_never_reads(void) { never_reading(1); }

/* ---- a backend that is down, or does not answer ---- */

static void test_forward_backend_down(void)
{
    int port = it_free_port(IT_TCP4), dead = it_free_port(IT_TCP4), fd, end;
    struct it_daemon *d;
    int64_t t0;

    CU_ASSERT_FATAL(port > 0 && dead > 0 && port != dead);
    d = serve(it_printf("[fwd]\nplugin = forward\nlisten = tcp://127.0.0.1:%d\n"
                        "to = tcp://127.0.0.1:%d\n", port, dead));
    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    t0 = it_now_ms();
    /* The client sends nothing: it is closed at once, not at its next byte. */
    end = end_within(fd, 1000, NULL);
    printf("\n    backend down: the client saw %s after %lld ms\n    ",
           end == 1 ? "EOF" : end == 2 ? "a reset" : "nothing", (long long)(it_now_ms() - t0));
    CU_ASSERT(end == 1 || end == 2);
    CU_ASSERT(it_count_line(it_stderr(d),
                            it_printf("superd: [fwd] backend tcp://127.0.0.1:%d: Connection "
                                      "refused", dead)) == 1);
    it_close(fd);
    it_stop_ok(d);
}

static void test_forward_connect_timeout(void)
{
    int port = it_free_port(IT_TCP4), bport = it_free_port(IT_TCP4), lfd, fd, end;
    struct sockaddr_storage ss;
    socklen_t len;
    struct it_daemon *d;
    int64_t t0;

    CU_ASSERT_FATAL(port > 0 && bport > 0 && port != bport);
    /* A listener whose backlog is full: the kernel drops further SYNs, so
     * a connect to it neither succeeds nor fails. */
    lfd = it_tcp_listen(AF_INET, bport);
    CU_ASSERT_FATAL(lfd >= 0 && listen(lfd, 0) == 0);
    len = it_sa_inet(AF_INET, bport, &ss);
    for (int i = 0; i < 4; i++) {
        int f = it_track_fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        CU_ASSERT_FATAL(f >= 0);
        (void)connect(f, (struct sockaddr *)&ss, len);
    }
    it_sleep_ms(100);
    d = serve(it_printf("[fwd]\nplugin = forward\nlisten = tcp://127.0.0.1:%d\n"
                        "to = tcp://127.0.0.1:%d\nconnect_timeout = 300ms\n", port, bport));
    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    t0 = it_now_ms();
    end = end_within(fd, IT_OP_MS, NULL);
    printf("\n    connect timeout 300ms: the client saw %s after %lld ms\n    ",
           end == 1 ? "EOF" : end == 2 ? "a reset" : "nothing", (long long)(it_now_ms() - t0));
    CU_ASSERT(end == 1 || end == 2);
    CU_ASSERT(it_count_line(it_stderr(d),
                            it_printf("superd: [fwd] backend tcp://127.0.0.1:%d: Connection "
                                      "timed out", bport)) == 1);
    it_close(fd);
    it_stop_ok(d);
}

/* ---- round-robin and failover ---- */

static void test_forward_round_robin_failover(void)
{
    int port = it_free_port(IT_TCP4), pa = it_free_port(IT_TCP4), pb = it_free_port(IT_TCP4);
    int dead = it_free_port(IT_TCP4), la, lb, got_a = 0, got_b = 0;
    struct it_daemon *d;
    char buf[4];

    CU_ASSERT_FATAL(port > 0 && pa > 0 && pb > 0 && dead > 0);
    CU_ASSERT_FATAL(port != pa && port != pb && pa != pb && dead != port && dead != pa &&
                    dead != pb);
    la = it_tcp_listen(AF_INET, pa);
    lb = it_tcp_listen(AF_INET, pb);
    CU_ASSERT_FATAL(la >= 0 && lb >= 0);
    /* dead first: every client that starts there fails over to the next. */
    d = serve(it_printf("[fwd]\nplugin = forward\nlisten = tcp://127.0.0.1:%d\n"
                        "to = tcp://127.0.0.1:%d tcp://127.0.0.1:%d tcp://127.0.0.1:%d\n",
                        port, dead, pa, pb));
    for (int i = 0; i < 6; i++) {
        int c = it_tcp_connect(AF_INET, port), b;
        struct pollfd p[2] = { { la, POLLIN, 0 }, { lb, POLLIN, 0 } };

        CU_ASSERT_FATAL(c >= 0);
        CU_ASSERT_FATAL(poll(p, 2, IT_OP_MS) == 1);
        b = accept_within(p[0].revents ? la : lb, IT_OP_MS);
        CU_ASSERT_FATAL(b >= 0);
        got_a += p[0].revents != 0;
        got_b += p[1].revents != 0;
        /* The client's first bytes reach the backend that took it. */
        CU_ASSERT(send_all(c, "hi!", 3));
        CU_ASSERT(read_n(b, buf, 3, IT_OP_MS) && memcmp(buf, "hi!", 3) == 0);
        it_close(c);
        it_close(b);
    }
    /* Starts rotate dead, a, b: dead's clients go to a (the next). */
    printf("\n    6 clients: %d to a, %d to b\n    ", got_a, got_b);
    CU_ASSERT_EQUAL(got_a, 4);
    CU_ASSERT_EQUAL(got_b, 2);
    /* The dead backend is logged once, not once per client. */
    CU_ASSERT_EQUAL(it_count_prefix(it_stderr(d),
                                    it_printf("superd: [fwd] backend tcp://127.0.0.1:%d:", dead)),
                    1);
    it_stop_ok(d);
}

/* ---- the PROXY protocol ---- */

static void test_forward_proxy_v1(void)
{
    struct rig r;
    int c, b;
    struct sockaddr_in me;
    socklen_t len = sizeof(me);
    char *want, buf[128];

    rig_up(&r, "proxy_protocol = v1\n");
    rig_pair(&r, &c, &b);
    CU_ASSERT_FATAL(getsockname(c, (struct sockaddr *)&me, &len) == 0);
    want = it_printf("PROXY TCP4 127.0.0.1 127.0.0.1 %u %d\r\n", ntohs(me.sin_port), r.port);
    CU_ASSERT(send_all(c, "data", 4));
    CU_ASSERT_FATAL(read_n(b, buf, strlen(want) + 4, IT_OP_MS));
    buf[strlen(want) + 4] = '\0';
    if (strncmp(buf, want, strlen(want)) != 0)
        printf("\n    got %s\n    want %s\n", buf, want);
    CU_ASSERT(strncmp(buf, want, strlen(want)) == 0);
    CU_ASSERT(memcmp(buf + strlen(want), "data", 4) == 0);
    it_stop_ok(r.d);
}

static void test_forward_proxy_v2(void)
{
    static const unsigned char sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                           0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };
    struct rig r;
    int c, b;
    struct sockaddr_in me;
    socklen_t len = sizeof(me);
    unsigned char buf[16 + 12 + 4];
    uint16_t sport, dport;

    rig_up(&r, "proxy_protocol = v2\n");
    rig_pair(&r, &c, &b);
    CU_ASSERT_FATAL(getsockname(c, (struct sockaddr *)&me, &len) == 0);
    CU_ASSERT(send_all(c, "data", 4));
    CU_ASSERT_FATAL(read_n(b, buf, sizeof(buf), IT_OP_MS));
    CU_ASSERT(memcmp(buf, sig, 12) == 0);
    CU_ASSERT_EQUAL(buf[12], 0x21); /* version 2, PROXY */
    CU_ASSERT_EQUAL(buf[13], 0x11); /* TCP over IPv4 */
    CU_ASSERT_EQUAL((buf[14] << 8) | buf[15], 12);
    CU_ASSERT(memcmp(buf + 16, &me.sin_addr, 4) == 0);
    CU_ASSERT(buf[20] == 127 && buf[21] == 0 && buf[22] == 0 && buf[23] == 1);
    memcpy(&sport, buf + 24, 2);
    memcpy(&dport, buf + 26, 2);
    CU_ASSERT_EQUAL(ntohs(sport), ntohs(me.sin_port));
    CU_ASSERT_EQUAL(ntohs(dport), r.port);
    CU_ASSERT(memcmp(buf + 28, "data", 4) == 0);
    it_stop_ok(r.d);
}

/* ---- UDP ---- */

/* Receive one datagram on fd within ms: its length (and sender), or -1. */
static ssize_t recv_from(int fd, void *buf, size_t cap, struct sockaddr_storage *from, int ms)
{
    struct pollfd p = { fd, POLLIN, 0 };
    socklen_t len = sizeof(*from);

    if (poll(&p, 1, ms) <= 0)
        return -1;
    return recvfrom(fd, buf, cap, 0, (struct sockaddr *)from, &len);
}

static int port_of(const struct sockaddr_storage *ss)
{
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

static void test_forward_udp(void)
{
    int port = it_free_port(IT_UDP4), bport = it_free_port(IT_UDP4), back, ca, cb, cc;
    struct sockaddr_storage to, fa, fb, f2;
    socklen_t tolen;
    struct it_daemon *d;
    char buf[64];

    CU_ASSERT_FATAL(port > 0 && bport > 0 && port != bport);
    back = it_udp_socket(AF_INET, bport);
    CU_ASSERT_FATAL(back >= 0);
    d = serve(it_printf("[fwd]\nplugin = forward\nlisten = udp://127.0.0.1:%d\n"
                        "to = udp://127.0.0.1:%d\nudp_idle_timeout = 300ms\n"
                        "udp_max_clients = 2\n", port, bport));
    tolen = it_sa_inet(AF_INET, port, &to);
    ca = it_udp_socket(AF_INET, 0);
    cb = it_udp_socket(AF_INET, 0);
    cc = it_udp_socket(AF_INET, 0);
    CU_ASSERT_FATAL(ca >= 0 && cb >= 0 && cc >= 0);

    /* Two clients, each through a socket of its own; each reply goes to
     * the client whose socket the backend answered. */
    CU_ASSERT(sendto(ca, "from-a", 6, 0, (struct sockaddr *)&to, tolen) == 6);
    CU_ASSERT_FATAL(recv_from(back, buf, sizeof(buf), &fa, IT_OP_MS) == 6);
    CU_ASSERT(memcmp(buf, "from-a", 6) == 0);
    CU_ASSERT(sendto(cb, "from-b", 6, 0, (struct sockaddr *)&to, tolen) == 6);
    CU_ASSERT_FATAL(recv_from(back, buf, sizeof(buf), &fb, IT_OP_MS) == 6);
    CU_ASSERT(memcmp(buf, "from-b", 6) == 0);
    CU_ASSERT(port_of(&fa) != port_of(&fb));
    CU_ASSERT(sendto(back, "to-b", 4, 0, (struct sockaddr *)&fb, sizeof(struct sockaddr_in)) == 4);
    CU_ASSERT(sendto(back, "to-a", 4, 0, (struct sockaddr *)&fa, sizeof(struct sockaddr_in)) == 4);
    CU_ASSERT(recv_from(ca, buf, sizeof(buf), &f2, IT_OP_MS) == 4 && memcmp(buf, "to-a", 4) == 0);
    CU_ASSERT(port_of(&f2) == port); /* answered from the listener */
    CU_ASSERT(recv_from(cb, buf, sizeof(buf), &f2, IT_OP_MS) == 4 && memcmp(buf, "to-b", 4) == 0);
    CU_ASSERT(it_dgram_silent(ca, 100));

    /* A second datagram of a goes through the same mapping. */
    CU_ASSERT(sendto(ca, "again", 5, 0, (struct sockaddr *)&to, tolen) == 5);
    CU_ASSERT_FATAL(recv_from(back, buf, sizeof(buf), &f2, IT_OP_MS) == 5);
    CU_ASSERT_EQUAL(port_of(&f2), port_of(&fa));

    /* A third client is over udp_max_clients: dropped, and said once. */
    CU_ASSERT(sendto(cc, "from-c", 6, 0, (struct sockaddr *)&to, tolen) == 6);
    CU_ASSERT(it_dgram_silent(back, 200));
    CU_ASSERT_EQUAL(it_count_line(it_stderr(d), "superd: [fwd] udp_max_clients (2) reached: "
                                                "datagrams of new clients dropped"), 1);

    /* Idle for over 1.5 udp_idle_timeout: the mappings expire, so c now
     * gets one, and a gets a new socket. */
    it_sleep_ms(700);
    CU_ASSERT(sendto(cc, "from-c", 6, 0, (struct sockaddr *)&to, tolen) == 6);
    CU_ASSERT(recv_from(back, buf, sizeof(buf), &f2, IT_OP_MS) == 6);
    CU_ASSERT(sendto(ca, "late-a", 6, 0, (struct sockaddr *)&to, tolen) == 6);
    CU_ASSERT_FATAL(recv_from(back, buf, sizeof(buf), &f2, IT_OP_MS) == 6);
    CU_ASSERT(port_of(&f2) != port_of(&fa));
    it_stop_ok(d);
}

/* ---- configuration errors ---- */

static void test_forward_config_errors(void)
{
    static const struct {
        const char *line, *msg;
    } cases[] = {
        { "to = tcp://localhost:80", "[fwd] to: \"tcp://localhost:80\" is not a backend address" },
        { "to = tcp://127.0.0.1:80\nproxy_protocol = v3",
          "[fwd] proxy_protocol: \"v3\": expected off, v1 or v2" },
        { "to = tcp://127.0.0.1:80\nconnect_timeout = soon",
          "[fwd] connect_timeout: \"soon\" is not a duration" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *conf = it_conf(it_printf("[fwd]\nplugin = forward\nlisten = tcp://127.0.0.1:1\n%s\n",
                                       cases[i].line));
        const char *args[] = { "-t", "-c", conf, NULL };
        char *out, *err;
        int st = it_run(args, &out, &err);

        if (!strstr(err, cases[i].msg))
            printf("\n    want \"%s\" in:\n%s", cases[i].msg, err);
        CU_ASSERT(strstr(err, cases[i].msg) != NULL);
        CU_ASSERT(!it_exited(st, 0));
    }
}

static const struct it_test forward_tests[] = {
    { "forward: 4 MiB each way over tcp4", test_forward_4mib_tcp4 },
    { "forward: 4 MiB each way over tcp6", test_forward_4mib_tcp6 },
    { "forward: 4 MiB each way over unix", test_forward_4mib_unix },
    { "forward: half-close passed on both ways", test_forward_half_close },
    { "forward: a client that never reads costs bounded memory", test_forward_client_never_reads },
    { "forward: a backend that never reads costs bounded memory",
      test_forward_backend_never_reads },
    { "forward: a backend that is down closes the client at once", test_forward_backend_down },
    { "forward: connect_timeout against a full backlog", test_forward_connect_timeout },
    { "forward: round-robin, and failover past a dead backend",
      test_forward_round_robin_failover },
    { "forward: proxy_protocol = v1", test_forward_proxy_v1 },
    { "forward: proxy_protocol = v2", test_forward_proxy_v2 },
    { "forward: udp, replies to the right client, expiry, udp_max_clients", test_forward_udp },
    { "forward: configuration errors", test_forward_config_errors },
};

IT_REGISTER(forward_tests)
