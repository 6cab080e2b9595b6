/*
 * integration_refusal_log.c - refusals and dropped replies are logged at
 * most once a second per service, each line counting that service's own
 * (docs/configuration.md, "Every refusal is counted ... and logged at most
 * once a second"); and the loop guard of the real binary knows its own
 * datagram listeners.
 *
 * Linked into build/tests/integration (IT_REGISTER); IT_ONLY=throttle runs
 * the first two, IT_ONLY="loop guard" the last.
 *
 * The throttle works in seconds of CLOCK_MONOTONIC, which the test shares
 * with the daemon: each test starts at the beginning of a second, makes the
 * refusals of "the same second" within a few milliseconds, and checks that
 * they did share it.  Every wait is bounded; workers = 1, so one throttle
 * of each service sees every refusal.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LINE_MS 5000

static long mono_sec(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec;
}

/* Sleep into the next second of CLOCK_MONOTONIC; returns it. */
static long next_second(void)
{
    long s = mono_sec();

    while (mono_sec() == s)
        it_sleep_ms(5);
    return mono_sec();
}

/* Wait until the daemon's stderr holds `line` (an exact line) at least `n`
 * times; prints its stderr when it never does. */
static int wait_lines(struct it_daemon *d, const char *line, int n)
{
    int64_t deadline = it_now_ms() + LINE_MS;

    while (it_count_line(it_stderr(d), line) < n) {
        if (!it_left_ms(deadline)) {
            printf("\n    expected %d time(s) the line\n      %s\n    stderr:\n%s", n, line,
                   it_stderr(d));
            return 0;
        }
        it_sleep_ms(10);
    }
    return 1;
}

static int local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Connect to 127.0.0.1:port and wait until superd closes the connection
 * (a refusal is logged before the close).  The client's port, or -1. */
static int refused_conn(int port)
{
    int fd = it_tcp_connect(AF_INET, port), lport;
    int64_t deadline = it_now_ms() + LINE_MS;
    char c;

    if (fd < 0)
        return -1;
    lport = local_port(fd);
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, it_left_ms(deadline)) <= 0)
            break;
        ssize_t r = read(fd, &c, 1);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            break;
    }
    it_close(fd);
    return lport;
}

static struct it_daemon *start(const char *body)
{
    struct it_daemon *d = it_alloc(sizeof(*d));
    int ok = it_start(d, it_conf_global("workers = 1\nshutdown_timeout = 250ms\n", body)) == 0;

    CU_ASSERT_FATAL(ok);
    return d;
}

static void stop_ok(struct it_daemon *d)
{
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

/* Two services refuse in the same second: each logs its first refusal,
 * and each later line counts its own swallowed ones only. */
static void test_refusals_per_service(void)
{
    int pa = it_free_port(IT_TCP4), pb, a[5], b[2];
    struct it_daemon *d;
    long sec;

    CU_ASSERT_FATAL(pa > 0);
    pb = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(pb > 0 && pb != pa);
    d = start(it_printf("[a]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\nonly_from = 10.0.0.1\n"
                        "[b]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\nonly_from = 10.0.0.1\n",
                        pa, pb));
#define REFUSAL(svc, port, peer, n)                                                          \
    it_printf("superd: [%s] tcp 127.0.0.1:%d: refused 127.0.0.1:%d: only_from 10.0.0.1 "   \
              "(%d more refusals)", svc, port, peer, n)
    sec = next_second();
    a[0] = refused_conn(pa);
    it_sleep_ms(100);
    b[0] = refused_conn(pb);
    for (int i = 1; i < 4; i++)
        a[i] = refused_conn(pa);
    if (mono_sec() != sec)
        printf("\n    the refusals took more than their second: the counts below differ\n");
    CU_ASSERT_FATAL(mono_sec() == sec);
    CU_ASSERT(wait_lines(d, REFUSAL("a", pa, a[0], 0), 1));
    /* [b]'s first refusal is its own first line, 0.1 s after [a]'s. */
    CU_ASSERT(wait_lines(d, REFUSAL("b", pb, b[0], 0), 1));

    next_second();
    b[1] = refused_conn(pb);
    CU_ASSERT(wait_lines(d, REFUSAL("b", pb, b[1], 0), 1));
    a[4] = refused_conn(pa);
    CU_ASSERT(wait_lines(d, REFUSAL("a", pa, a[4], 3), 1));
    /* Nothing else was let through. */
    CU_ASSERT_EQUAL(it_count_prefix(it_stderr(d), "superd: [a] tcp "), 2);
    CU_ASSERT_EQUAL(it_count_prefix(it_stderr(d), "superd: [b] tcp "), 2);
#undef REFUSAL
    stop_ok(d);
}

/* Send one datagram, without waiting for an answer. */
static void send_to(int fd, int port)
{
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_inet(AF_INET, port, &to);

    CU_ASSERT(sendto(fd, "over", 4, 0, (struct sockaddr *)&to, tolen) == 4);
}

/* The same for replies over udp_reply_rate: one reply a minute each, the
 * next ones dropped, and each service's drops logged and counted apart. */
static void test_reply_drops_per_service(void)
{
    int pa = it_free_port(IT_UDP4), pb, fd, cport;
    struct it_daemon *d;
    struct sockaddr_storage to;
    socklen_t tolen;
    char reply[16], *la, *la3, *lb;
    long sec;

    CU_ASSERT_FATAL(pa > 0);
    pb = it_free_port(IT_UDP4);
    CU_ASSERT_FATAL(pb > 0 && pb != pa);
    d = start(it_printf("[a]\nplugin = echo\nlisten = udp://127.0.0.1:%d\nudp_reply_rate = 1/m\n"
                        "[b]\nplugin = echo\nlisten = udp://127.0.0.1:%d\nudp_reply_rate = 1/m\n",
                        pa, pb));
    fd = it_udp_socket(AF_INET, 0);
    CU_ASSERT_FATAL(fd >= 0);
    cport = local_port(fd);
#define DROP(svc, port, n)                                                                   \
    it_printf("superd: [%s] udp 127.0.0.1:%d: reply to 127.0.0.1:%d dropped: "             \
              "udp_reply_rate exceeded (%d more)", svc, port, cport, n)
    la = DROP("a", pa, 0);
    la3 = DROP("a", pa, 3);
    lb = DROP("b", pb, 0);
    sec = next_second();
    tolen = it_sa_inet(AF_INET, pa, &to);
    CU_ASSERT(it_dgram_ask(fd, &to, tolen, "ping", 4, reply, sizeof(reply), 1) == 4);
    send_to(fd, pa);
    tolen = it_sa_inet(AF_INET, pb, &to);
    CU_ASSERT(it_dgram_ask(fd, &to, tolen, "ping", 4, reply, sizeof(reply), 1) == 4);
    send_to(fd, pb);
    for (int i = 0; i < 3; i++)
        send_to(fd, pa);
    CU_ASSERT(wait_lines(d, la, 1));
    CU_ASSERT(wait_lines(d, lb, 1));
    if (mono_sec() != sec)
        printf("\n    the drops took more than their second: the counts below differ\n");
    CU_ASSERT_FATAL(mono_sec() == sec);

    next_second();
    send_to(fd, pb);
    CU_ASSERT(wait_lines(d, lb, 2));
    send_to(fd, pa);
    CU_ASSERT(wait_lines(d, la3, 1));
    CU_ASSERT(it_dgram_silent(fd, 100));
    CU_ASSERT_EQUAL(it_count_prefix(it_stderr(d), "superd: [a] udp "), 2);
    CU_ASSERT_EQUAL(it_count_prefix(it_stderr(d), "superd: [b] udp "), 2);
#undef DROP
    stop_ok(d);
}

/*
 * One UDP datagram to `to_port` on 127.0.0.1 whose source is
 * 127.0.0.1:from_port, through a raw socket.  0, or a negative errno
 * (-EPERM without CAP_NET_RAW).
 */
static int forge(int from_port, int to_port)
{
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_inet(AF_INET, to_port, &to);
    struct {
        struct udphdr h;
        char data[4];
    } pkt;
    int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_UDP), r = 0;

    if (fd < 0)
        return -errno;
    memset(&pkt, 0, sizeof(pkt));
    pkt.h.source = htons((uint16_t)from_port);
    pkt.h.dest = htons((uint16_t)to_port);
    pkt.h.len = htons((uint16_t)sizeof(pkt));
    memcpy(pkt.data, "loop", 4);
    if (sendto(fd, &pkt, sizeof(pkt), 0, (struct sockaddr *)&to, tolen) < 0)
        r = -errno;
    close(fd);
    return r;
}

/* Among many listeners, a datagram that claims to come from one of
 * superd's own is dropped and said; one from a port of another address
 * family's listener only is answered. */
static void test_guard_own_listener(void)
{
    int pa = it_free_port(IT_UDP4), pb, p6, fd, r;
    struct it_daemon *d;
    char *body, *line;
    struct sockaddr_storage to;
    socklen_t tolen;
    char reply[16];

    CU_ASSERT_FATAL(pa > 0);
    pb = it_free_port(IT_UDP4);
    p6 = it_free_port(IT_UDP4 | IT_UDP6);
    CU_ASSERT_FATAL(pb > 0 && pb != pa && p6 > 0 && p6 != pa && p6 != pb);
    body = it_printf("[a]\nplugin = echo\nlisten = udp://127.0.0.1:%d\n"
                     "[b]\nplugin = echo\nlisten = udp://127.0.0.1:%d\n"
                     "[c]\nplugin = echo\nlisten = udp://[::1]:%d\n",
                     pa, pb, p6);
    /* More listeners, on ports of their own. */
    for (int i = 0; i < 40; i++) {
        int p = it_free_port(IT_UDP4);
        if (p > 0 && p != pa && p != pb && p != p6)
            body = it_printf("%s[x%d]\nplugin = echo\nlisten = udp://127.0.0.1:%d\n", body, i, p);
    }
    d = start(body);
    r = forge(pa, pb);
    if (r == -EPERM || r == -EACCES) {
        printf("\n    skipped: no raw socket (CAP_NET_RAW) to forge a source\n    ");
        stop_ok(d);
        return;
    }
    CU_ASSERT(r == 0);
    line = it_printf("superd: [b] udp 127.0.0.1:%d: dropped a datagram from 127.0.0.1:%d: one "
                     "of superd's own datagram listeners could start a loop (0 more)", pb, pa);
    CU_ASSERT(wait_lines(d, line, 1));
    /* [c]'s port is ours on IPv6 only: an IPv4 client there is answered. */
    fd = it_udp_socket(AF_INET, p6);
    if (fd >= 0) {
        tolen = it_sa_inet(AF_INET, pb, &to);
        CU_ASSERT(it_dgram_ask(fd, &to, tolen, "ping", 4, reply, sizeof(reply), 3) == 4);
    }
    stop_ok(d);
}

static const struct it_test refusal_log_tests[] = {
    { "throttle: refusals are logged once a second per service", test_refusals_per_service },
    { "throttle: reply drops are logged once a second per service",
      test_reply_drops_per_service },
    { "loop guard: a datagram from superd's own listener, among many", test_guard_own_listener },
};

IT_REGISTER(refusal_log_tests)
