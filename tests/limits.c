/*
 * limits.c - integration tests of limits and access control
 * (docs/configuration.md, "Limits and access control"): the real superd
 * binary on loopback, clients from several source addresses.
 *
 *     build/tests/limits BUILD        (BUILD: build, build-asan, ...)
 *
 * On Linux all of 127.0.0.0/8 is loopback, so a client that binds its
 * socket to 127.0.0.2 or 127.0.0.3 before connecting is another source to
 * superd.  Each test checks what a client sees (served; closed at once with
 * no data; a datagram answered or not), the refusal's log line, and the
 * `refused` counter of the SIGUSR1 report.  Covered: only_from and
 * no_access (per service, [superd] defaults, IPv6, unix, datagrams),
 * max_per_source (across workers, released on close and when a worker is
 * killed), rate_limit (connections and datagrams), idle_timeout,
 * max_lifetime, the datagram reply budgets, udp_guard, the rate-limited
 * refusal log, and running out of descriptors.  The refusal log is limited to
 * one line a second per worker, so a test that checks several lines waits
 * for the next second (of CLOCK_MONOTONIC, the clock superd limits by)
 * between refusals.
 *
 * Same rules as tests/integration.c: loopback only, every wait bounded,
 * no timing asserted beyond generous upper bounds, the per-test teardown
 * stops whatever is still running.  IT_ONLY=substring runs the tests whose
 * names contain it.  Exit status: 0 when every test passed.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Bound for waits on the daemon's log.  Generous: ASan is slow. */
#define LOG_MS 5000

/* ---- the daemon ---- */

static void skipped(const char *why)
{
    printf("\n    skipped: %s\n    ", why);
}

/* Writes the configuration ([superd] lines, then services) and starts
 * superd; the test ends here (teardown cleans up) when it is not ready.
 * Clients may still be connected when a test stops superd: they get a
 * short shutdown_timeout. */
static struct it_daemon *serve(const char *global, const char *body)
{
    struct it_daemon *d = it_alloc(sizeof(*d));
    int ok = it_start(d, it_conf_global(it_printf("shutdown_timeout = 250ms\n%s", global),
                                        body)) == 0;

    CU_ASSERT_FATAL(ok);
    return d;
}

/* BUILD/tests/plugins/NAME.so, from BUILD/superd. */
static char *test_plugin(const char *name)
{
    char *build = it_printf("%s", it_superd);

    *strrchr(build, '/') = '\0';
    return it_printf("%s/tests/plugins/%s.so", build, name);
}

/* The first line of the daemon's stderr that starts with prefix, waiting
 * for it up to LOG_MS; NULL (and stderr printed) when it never came. */
static const char *wait_prefix(struct it_daemon *d, const char *prefix)
{
    int64_t deadline = it_now_ms() + LOG_MS;

    for (;;) {
        char *err = it_stderr(d);
        for (char *p = err; *p;) {
            char *nl = strchr(p, '\n');
            if (!nl)
                break;  /* a line still being written */
            if (!strncmp(p, prefix, strlen(prefix))) {
                *nl = '\0';
                return p;
            }
            p = nl + 1;
        }
        if (!it_left_ms(deadline)) {
            printf("\n    no line starting \"%s\" within %d ms; stderr:\n%s", prefix, LOG_MS,
                   err);
            return NULL;
        }
        it_sleep_ms(10);
    }
}

/* Wait for exactly this line. */
static int wait_line(struct it_daemon *d, const char *line)
{
    const char *got = wait_prefix(d, line);

    if (got && strcmp(got, line)) {
        printf("\n    expected the line\n      %s\n    got\n      %s\n", line, got);
        return 0;
    }
    return got != NULL;
}

/* Wait for a line that starts with prefix and ends with suffix. */
static int wait_line_ends(struct it_daemon *d, const char *prefix, const char *suffix)
{
    const char *got = wait_prefix(d, prefix);
    size_t n, m = strlen(suffix);

    if (!got)
        return 0;
    n = strlen(got);
    if (n < m || strcmp(got + n - m, suffix)) {
        printf("\n    expected a line ending \"%s\", got\n      %s\n", suffix, got);
        return 0;
    }
    return 1;
}

/* Sleep into the next second of CLOCK_MONOTONIC: a refusal seen before
 * this call and one made after it are in different seconds, so each gets
 * its own log line. */
static void next_second(void)
{
    struct timespec a, b;

    clock_gettime(CLOCK_MONOTONIC, &a);
    do {
        it_sleep_ms(10);
        clock_gettime(CLOCK_MONOTONIC, &b);
    } while (b.tv_sec == a.tv_sec);
}

/*
 * A counter of one service from the SIGUSR1 report
 * ("[svc] active A accepted B refused C ..."): sends the signal, waits for
 * a new report line and reads `field` from it.  -1 when none came.
 */
static long long counter(struct it_daemon *d, const char *svc, const char *field)
{
    char *prefix = it_printf("superd: [%s] active ", svc);
    char *key = it_printf(" %s ", field);
    int before = it_count_prefix(it_stderr(d), prefix);
    int64_t deadline = it_now_ms() + LOG_MS;

    kill(d->pid, SIGUSR1);
    for (;;) {
        char *err = it_stderr(d);
        if (it_count_prefix(err, prefix) > before) {
            /* The newest report line. */
            char *line = NULL, *p = err, *k;
            while ((p = strstr(p, prefix)) != NULL) {
                if (p == err || p[-1] == '\n')
                    line = p;
                p++;
            }
            if (line && (k = strstr(line, key)) != NULL && k < strchr(line, '\n'))
                return atoll(k + strlen(key));
        }
        if (!it_left_ms(deadline)) {
            printf("\n    no SIGUSR1 report for [%s]; stderr:\n%s", svc, err);
            return -1;
        }
        it_sleep_ms(10);
    }
}

/* The counter reaches `want` (counted by a worker, reported by the
 * master: asynchronous) and stays there. */
#define expect_counter(d, svc, field, want) \
    expect_counter_at(__LINE__, (d), (svc), (field), (want))
static void expect_counter_at(unsigned line, struct it_daemon *d, const char *svc,
                              const char *field, long long want)
{
    int64_t deadline = it_now_ms() + 3000;
    long long got;

    while ((got = counter(d, svc, field)) != want && got >= 0 && got < want &&
           it_left_ms(deadline))
        it_sleep_ms(50);
    if (got != want)
        printf("\n    [%s] %s: expected %lld, got %lld\n", svc, field, want, got);
    CU_assertImplementation(got == want, line, "SIGUSR1 counter", __FILE__, "", CU_FALSE);
}

/* ---- clients from a chosen source address ---- */

static int bind_source(int fd, const char *src)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };

    if (inet_pton(AF_INET, src, &sin.sin_addr) != 1)
        return -1;
    return bind(fd, (struct sockaddr *)&sin, sizeof(sin));
}

/* A TCP connection from src (port chosen by the kernel) to
 * 127.0.0.1:port, non-blocking and tracked; -1 on failure. */
static int connect_from(const char *src, int port)
{
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_inet(AF_INET, port, &to);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    it_track_fd(fd);
    if (bind_source(fd, src) < 0) {
        printf("\n    bind %s: %s\n", src, strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&to, tolen) < 0) {
        struct pollfd pfd = { fd, POLLOUT, 0 };
        int err = 0;
        socklen_t len = sizeof(err);
        if (errno != EINPROGRESS || poll(&pfd, 1, IT_OP_MS) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
            printf("\n    connect from %s to port %d: %s\n", src, port,
                   strerror(err ? err : errno));
            return -1;
        }
    }
    return fd;
}

/* The local (client) port of an IPv4 or IPv6 socket. */
static int local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

enum { REFUSED = 0, SERVED = 1, UNKNOWN = -1 };

/* Send "ping" on an echo connection: SERVED when it comes back, REFUSED
 * when the connection is closed (EOF or reset) with no byte received. */
static int outcome(int fd)
{
    struct it_xfer x;

    if (fd < 0)
        return UNKNOWN;
    it_xfer(fd, (const uint8_t *)"ping", 4, 0, (const uint8_t *)"ping", 4, NULL, 0, 4, 0,
            IT_OP_MS, &x);
    if (x.rcvd == 4 && x.bad_at < 0 && !x.eof && !x.err)
        return SERVED;
    if (x.rcvd == 0 && (x.eof || x.err == ECONNRESET || x.err == EPIPE))
        return REFUSED;
    printf("\n    neither served nor refused: sent %zu, received %zu%s%s%s%s\n", x.sent, x.rcvd,
           x.eof ? ", EOF" : "", x.timeout ? ", timed out" : "", x.err ? ", " : "",
           x.err ? strerror(x.err) : "");
    return UNKNOWN;
}

static int served(int fd, const char *what)
{
    int r = outcome(fd);

    if (r != SERVED)
        printf("\n    %s: not served\n", what);
    return r == SERVED;
}

/* Closed by the server at once, without a byte, and without our sending
 * anything: EOF or a reset within IT_OP_MS. */
static int closed_at_once(int fd, const char *what)
{
    struct it_xfer x;

    if (fd < 0)
        return 0;
    it_xfer(fd, NULL, 0, 0, NULL, 0, NULL, 0, 0, 1, IT_OP_MS, &x);
    if (x.rcvd == 0 && (x.eof || x.err == ECONNRESET))
        return 1;
    printf("\n    %s: expected EOF or a reset and no data: received %zu%s%s%s\n", what, x.rcvd,
           x.eof ? ", EOF" : "", x.timeout ? ", timed out" : "",
           x.err ? strerror(x.err) : "");
    return 0;
}

/* 1 when fd shows nothing (no byte, no EOF) for ms. */
static int still_open(int fd, int ms)
{
    struct pollfd pfd = { fd, POLLIN, 0 };

    return poll(&pfd, 1, ms) == 0;
}

/* A UDP socket bound to src:0 (tracked), or -1. */
static int udp_from(const char *src)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    it_track_fd(fd);
    if (bind_source(fd, src) < 0) {
        printf("\n    bind udp %s: %s\n", src, strerror(errno));
        return -1;
    }
    return fd;
}

/* Send n datagrams of len bytes as fast as possible; then count the
 * replies until none came for 500 ms (at most 5 s).  *span_ms gets how
 * long the sending took. */
static int burst(int fd, int port, int n, size_t len, int64_t *span_ms)
{
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_inet(AF_INET, port, &to);
    char buf[2048];
    int64_t start = it_now_ms(), deadline;
    int got = 0;

    memset(buf, 'x', sizeof(buf));
    for (int i = 0; i < n; i++) {
        if (sendto(fd, buf, len, 0, (struct sockaddr *)&to, tolen) != (ssize_t)len) {
            printf("\n    sendto: %s\n", strerror(errno));
            break;
        }
    }
    *span_ms = it_now_ms() - start;
    deadline = it_now_ms() + 5000;
    while (it_left_ms(deadline)) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        int w = it_left_ms(deadline) < 500 ? it_left_ms(deadline) : 500;
        if (poll(&pfd, 1, w) <= 0)
            break;
        while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
            got++;
    }
    return got;
}

/* ---- access lists ---- */

static void test_only_from(void)
{
    int port = it_free_port(IT_TCP4), good, bad;
    struct it_daemon *d;

    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 2\n",
              it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n"
                        "only_from = 127.0.0.2\n", port));
    good = connect_from("127.0.0.2", port);
    CU_ASSERT(served(good, "from 127.0.0.2"));
    bad = connect_from("127.0.0.1", port);
    CU_ASSERT_FATAL(bad >= 0);
    CU_ASSERT(closed_at_once(bad, "from 127.0.0.1"));
    CU_ASSERT(wait_line(d, it_printf("superd: [echo] tcp 127.0.0.1:%d: refused 127.0.0.1:%d: "
                                     "only_from 127.0.0.2 (0 more refusals)",
                                     port, local_port(bad))));
    /* The allowed client is still served. */
    CU_ASSERT(served(good, "from 127.0.0.2, again"));
    expect_counter(d, "echo", "refused", 1);
    expect_counter(d, "echo", "accepted", 1);
    it_stop_ok(d);
}

/* IPv6 blocks match IPv6 peers; a unix peer has no address and is never
 * refused by a list; per-source limits count it by its uid. */
static void test_ipv6_and_unix(void)
{
    int v6 = it_free_port(IT_TCP6), other, fd;
    char *sock = it_path("echo.sock");
    struct it_daemon *d;

    if (!it_have_ipv6()) {
        skipped("no ::1 on this machine");
        return;
    }
    CU_ASSERT_FATAL(v6 > 0);
    other = it_free_port(IT_TCP6);
    CU_ASSERT_FATAL(other > 0 && other != v6);
    d = serve("workers = 1\n",
              it_printf("[a]\nplugin = echo\nlisten = tcp://[::1]:%d unix:%s\n"
                        "no_access = ::1 127.0.0.0/8\nonly_from = 2001:db8::/32\n"
                        "max_per_source = 1\nrate_limit = 1/m\n"
                        "[b]\nplugin = echo\nlisten = tcp://[::1]:%d\nonly_from = ::1\n",
                        v6, sock, other));
    fd = it_tcp_connect(AF_INET6, v6);
    CU_ASSERT(closed_at_once(fd, "[a] from ::1"));
    CU_ASSERT(wait_line(d, it_printf("superd: [a] tcp [::1]:%d: refused [::1]:%d: "
                                     "no_access ::1/128 (0 more refusals)", v6, local_port(fd))));
    /* Lists do not apply to unix clients; max_per_source counts their
     * uid: a second connection of the same uid is one too many. */
    fd = it_unix_connect(sock);
    CU_ASSERT(served(fd, "[a] from a unix client"));
    CU_ASSERT(closed_at_once(it_unix_connect(sock), "[a] a second connection of that uid"));
    CU_ASSERT(served(fd, "[a] from the first unix client, again"));
    CU_ASSERT(served(it_tcp_connect(AF_INET6, other), "[b] from ::1"));
    expect_counter(d, "a", "refused", 2);
    expect_counter(d, "a", "accepted", 1);
    expect_counter(d, "b", "refused", 0);
    it_stop_ok(d);
}

#define REFUSAL_FMT "superd: [%s] tcp 127.0.0.1:%d: refused %s:%d: %s (0 more refusals)"

/* Each list of [superd] applies to the services that set no list of that
 * name; a service's own list replaces it. */
static void test_global_lists(void)
{
    int plain = it_free_port(IT_TCP4), own, fd;
    struct it_daemon *d;

    CU_ASSERT_FATAL(plain > 0);
    own = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(own > 0 && own != plain);
    d = serve("workers = 1\nonly_from = 127.0.0.2 127.0.0.3\nno_access = 127.0.0.3/32\n",
              it_printf("[plain]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n"
                        "[own]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n"
                        "only_from = 127.0.0.1 127.0.0.3\n", plain, own));
    /* [plain]: both global lists; no_access wins over only_from. */
    CU_ASSERT(served(connect_from("127.0.0.2", plain), "[plain] from 127.0.0.2"));
    fd = connect_from("127.0.0.3", plain);
    CU_ASSERT(closed_at_once(fd, "[plain] from 127.0.0.3"));
    CU_ASSERT(wait_line(d, it_printf(REFUSAL_FMT, "plain", plain, "127.0.0.3", local_port(fd),
                                     "no_access 127.0.0.3/32")));
    next_second();
    fd = connect_from("127.0.0.1", plain);
    CU_ASSERT(closed_at_once(fd, "[plain] from 127.0.0.1"));
    CU_ASSERT(wait_line(d, it_printf(REFUSAL_FMT, "plain", plain, "127.0.0.1", local_port(fd),
                                     "only_from 127.0.0.2 127.0.0.3")));
    next_second();
    /* [own]: its only_from replaces the global one ... */
    CU_ASSERT(served(connect_from("127.0.0.1", own), "[own] from 127.0.0.1"));
    fd = connect_from("127.0.0.2", own);
    CU_ASSERT(closed_at_once(fd, "[own] from 127.0.0.2"));
    CU_ASSERT(wait_line(d, it_printf(REFUSAL_FMT, "own", own, "127.0.0.2", local_port(fd),
                                     "only_from 127.0.0.1 127.0.0.3")));
    next_second();
    /* ... while the global no_access, which it does not set, still holds. */
    fd = connect_from("127.0.0.3", own);
    CU_ASSERT(closed_at_once(fd, "[own] from 127.0.0.3"));
    CU_ASSERT(wait_line(d, it_printf(REFUSAL_FMT, "own", own, "127.0.0.3", local_port(fd),
                                     "no_access 127.0.0.3/32")));
    expect_counter(d, "plain", "refused", 2);
    expect_counter(d, "own", "refused", 2);
    expect_counter(d, "plain", "accepted", 1);
    expect_counter(d, "own", "accepted", 1);
    it_stop_ok(d);
}

static void test_udp_refused_source(void)
{
    int port = it_free_port(IT_UDP4), bad, good;
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_inet(AF_INET, port, &to);
    struct it_daemon *d;
    char reply[64];

    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 2\n",
              it_printf("[echo]\nplugin = echo\nlisten = udp://127.0.0.1:%d\n"
                        "only_from = 127.0.0.2\n", port));
    bad = udp_from("127.0.0.1");
    good = udp_from("127.0.0.2");
    CU_ASSERT_FATAL(bad >= 0 && good >= 0);
    CU_ASSERT(sendto(bad, "refused?", 8, 0, (struct sockaddr *)&to, tolen) == 8);
    CU_ASSERT(it_dgram_ask(good, &to, tolen, "allowed", 7, reply, sizeof(reply), 3) == 7);
    CU_ASSERT(it_dgram_silent(bad, 500));
    CU_ASSERT(wait_line(d, it_printf("superd: [echo] udp 127.0.0.1:%d: dropped a datagram from "
                                     "127.0.0.1:%d: only_from 127.0.0.2 (0 more refusals)",
                                     port, local_port(bad))));
    expect_counter(d, "echo", "refused", 1);
    expect_counter(d, "echo", "dgrams_out", 1);
    it_stop_ok(d);
}

/* rate_limit counts datagrams per source too: over it they are dropped
 * before the plugin sees them. */
static void test_udp_rate_limit(void)
{
    int port = it_free_port(IT_UDP4), fd, got;
    struct it_daemon *d;
    int64_t span;

    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 2\n",
              it_printf("[echo]\nplugin = echo\nlisten = udp://127.0.0.1:%d\n"
                        "rate_limit = 3/s\n", port));
    fd = udp_from("127.0.0.2");
    CU_ASSERT_FATAL(fd >= 0);
    got = burst(fd, port, 10, 16, &span);
    if (got < 3 || got > 4 + (int)(span / 333))
        printf("\n    10 datagrams in %lld ms: %d answered\n", (long long)span, got);
    CU_ASSERT(got >= 3 && got <= 4 + (int)(span / 333));
    CU_ASSERT(wait_line(d, it_printf("superd: [echo] udp 127.0.0.1:%d: dropped a datagram from "
                                     "127.0.0.2:%d: rate_limit 3/s exceeded (0 more refusals)",
                                     port, local_port(fd))));
    expect_counter(d, "echo", "refused", 10 - got);
    /* Another source is untouched. */
    fd = udp_from("127.0.0.3");
    CU_ASSERT(burst(fd, port, 3, 16, &span) == 3);
    it_stop_ok(d);
}

/* ---- max_per_source ---- */

static void test_max_per_source(void)
{
    int port = it_free_port(IT_TCP4), a1, a2, a3, other, again = -1, retries = 0;
    struct it_daemon *d;
    int64_t deadline;

    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 2\n",
              it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n"
                        "max_per_source = 2\n", port));
    a1 = connect_from("127.0.0.2", port);
    a2 = connect_from("127.0.0.2", port);
    CU_ASSERT_FATAL(served(a1, "first from 127.0.0.2") && served(a2, "second from 127.0.0.2"));
    a3 = connect_from("127.0.0.2", port);
    CU_ASSERT(closed_at_once(a3, "third from 127.0.0.2"));
    CU_ASSERT(wait_line(d, it_printf("superd: [echo] tcp 127.0.0.1:%d: refused 127.0.0.2:%d: "
                                     "max_per_source 2 reached (0 more refusals)",
                                     port, local_port(a3))));
    other = connect_from("127.0.0.3", port);
    CU_ASSERT(served(other, "from 127.0.0.3"));
    CU_ASSERT(served(a1, "first, again") && served(a2, "second, again"));
    /* Closing one frees its slot once superd has seen the close. */
    it_close(a1);
    deadline = it_now_ms() + 5000;
    for (;;) {
        int r;
        again = connect_from("127.0.0.2", port);
        r = outcome(again);
        if (r == SERVED)
            break;
        CU_ASSERT_FATAL(r == REFUSED);
        retries++;
        if (!it_left_ms(deadline)) {
            printf("\n    no slot for 127.0.0.2 within 5 s of closing one\n");
            CU_FAIL("the slot of a closed connection was not released");
            return;
        }
        it_close(again);
        it_sleep_ms(20);
    }
    /* Two open again (a2, again): the next one is refused. */
    CU_ASSERT(closed_at_once(connect_from("127.0.0.2", port), "over the limit again"));
    CU_ASSERT(served(a2, "second, at the end") && served(again, "the new one"));
    expect_counter(d, "echo", "refused", 2 + retries);
    expect_counter(d, "echo", "active", 3);
    it_stop_ok(d);
}

/* Read crashy's greeting "pid PID version V\n"; the pid, or -1. */
static int greeting_pid(int fd)
{
    char buf[128];
    size_t len = 0;
    int64_t deadline = it_now_ms() + IT_OP_MS;
    int pid;

    while (len < sizeof(buf) - 1 && !memchr(buf, '\n', len)) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        ssize_t n;
        if (poll(&pfd, 1, it_left_ms(deadline)) <= 0)
            break;
        n = recv(fd, buf + len, sizeof(buf) - 1 - len, MSG_DONTWAIT);
        if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR)))
            break;
        if (n > 0)
            len += (size_t)n;
    }
    buf[len] = '\0';
    if (sscanf(buf, "pid %d version ", &pid) != 1 || !strchr(buf, '\n')) {
        printf("\n    expected crashy's greeting, got \"%s\"\n", buf);
        return -1;
    }
    return pid;
}

/* How many "superd: worker N started" lines. */
static int workers_started(struct it_daemon *d)
{
    char *err = it_stderr(d);
    int n = 0;

    for (char *p = err; (p = strstr(p, "superd: worker ")) != NULL; p++) {
        char *nl = strchr(p, '\n');
        if ((p == err || p[-1] == '\n') && nl && nl - p > 8 && !strncmp(nl - 8, " started", 8))
            n++;
    }
    return n;
}

/* A worker killed while it holds a source's only slot gives it back. */
static void test_max_per_source_worker_killed(void)
{
    int port = it_free_port(IT_TCP4), held, fd, pid, pid2;
    struct it_daemon *d;
    int64_t deadline;

    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 2\n",
              it_printf("[crashy]\nplugin = %s\nlisten = tcp://127.0.0.1:%d\n"
                        "max_per_source = 1\n", test_plugin("crashy"), port));
    held = connect_from("127.0.0.4", port);
    CU_ASSERT_FATAL(held >= 0);
    pid = greeting_pid(held);
    CU_ASSERT_FATAL(pid > 0);
    /* It must be one of this daemon's workers. */
    CU_ASSERT_FATAL(pid != d->pid && getpgid(pid) == d->pid);
    fd = connect_from("127.0.0.4", port);
    CU_ASSERT(closed_at_once(fd, "second from 127.0.0.4"));
    CU_ASSERT(wait_line(d, it_printf("superd: [crashy] tcp 127.0.0.1:%d: refused 127.0.0.4:%d: "
                                     "max_per_source 1 reached (0 more refusals)",
                                     port, local_port(fd))));
    CU_ASSERT_FATAL(kill(pid, SIGKILL) == 0);
    CU_ASSERT(closed_at_once(held, "the killed worker's client"));
    CU_ASSERT(wait_prefix(d, it_printf("superd: worker %d killed by signal 9", pid)) != NULL);
    deadline = it_now_ms() + LOG_MS;
    while (workers_started(d) < 3 && it_left_ms(deadline))
        it_sleep_ms(10);
    CU_ASSERT_FATAL(workers_started(d) == 3);
    /* The slot came back: a new connection from 127.0.0.4 is served ... */
    fd = connect_from("127.0.0.4", port);
    CU_ASSERT_FATAL(fd >= 0);
    pid2 = greeting_pid(fd);
    CU_ASSERT(pid2 > 0 && pid2 != pid);
    CU_ASSERT(served(fd, "from 127.0.0.4 after the kill"));
    /* ... and it holds the one slot again. */
    CU_ASSERT(closed_at_once(connect_from("127.0.0.4", port), "another from 127.0.0.4"));
    expect_counter(d, "crashy", "refused", 2);
    it_stop_ok(d);
}

/* ---- rate_limit ---- */

static void test_rate_limit(void)
{
    int port = it_free_port(IT_TCP4), fds[4], ok = 0, no = 0, refused_port = -1;
    struct it_daemon *d;
    int64_t refused_at;

    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 2\n",
              it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n"
                        "rate_limit = 3/s\n", port));
    /* Four at once: the bucket holds three. */
    for (int i = 0; i < 4; i++)
        fds[i] = connect_from("127.0.0.2", port);
    for (int i = 0; i < 4; i++) {
        int r = outcome(fds[i]);
        ok += r == SERVED;
        if (r == REFUSED) {
            no++;
            refused_port = local_port(fds[i]);
        }
    }
    refused_at = it_now_ms();
    if (ok != 3 || no != 1)
        printf("\n    4 quick connections: %d served, %d refused\n", ok, no);
    CU_ASSERT(ok == 3 && no == 1);
    CU_ASSERT(wait_line(d, it_printf("superd: [echo] tcp 127.0.0.1:%d: refused 127.0.0.2:%d: "
                                     "rate_limit 3/s exceeded (0 more refusals)",
                                     port, refused_port)));
    /* Another source is untouched, and so are the open connections. */
    CU_ASSERT(served(connect_from("127.0.0.3", port), "from 127.0.0.3"));
    for (int i = 0; i < 4; i++)
        if (local_port(fds[i]) != refused_port)
            CU_ASSERT(served(fds[i], "an admitted one, again"));
    /* The bucket refills: served again, the service was never off. */
    if (it_now_ms() - refused_at < 1100)
        it_sleep_ms((int)(1100 - (it_now_ms() - refused_at)));
    CU_ASSERT(served(connect_from("127.0.0.2", port), "from 127.0.0.2 after 1.1 s"));
    expect_counter(d, "echo", "refused", 1);
    expect_counter(d, "echo", "accepted", 5);
    it_stop_ok(d);
}

/* ---- timeouts ---- */

static void test_idle_timeout(void)
{
    int port = it_free_port(IT_TCP4), silent, busy;
    struct it_daemon *d;
    struct it_xfer x;
    int64_t start;

    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 1\n",
              it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n"
                        "idle_timeout = 300ms\nlog_connections = yes\n", port));
    silent = it_tcp_connect(AF_INET, port);
    start = it_now_ms();
    busy = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(silent >= 0 && busy >= 0);
    /* Open right after connecting (the timeout counts from the accept). */
    CU_ASSERT(still_open(silent, 100));
    /* A byte echoed every 100 ms for a second keeps a connection open. */
    for (int i = 0; i < 10; i++) {
        it_xfer(busy, (const uint8_t *)"k", 1, 0, (const uint8_t *)"k", 1, NULL, 0, 1, 0,
                IT_OP_MS, &x);
        if (x.rcvd != 1 || x.eof || x.err) {
            printf("\n    the busy connection was closed after %d bytes\n", i);
            CU_FAIL("a connection in use was closed by idle_timeout");
            break;
        }
        it_sleep_ms(100);
    }
    /* The silent one is closed by the server, well before 5 s. */
    it_xfer(silent, NULL, 0, 0, NULL, 0, NULL, 0, 0, 1, (int)(5000 - (it_now_ms() - start)), &x);
    if (!x.eof)
        printf("\n    the silent connection: %s\n", x.timeout ? "still open after 5 s"
                                                              : strerror(x.err));
    CU_ASSERT(x.eof && x.rcvd == 0);
    /* The time it took varies: the line is checked by its end. */
    CU_ASSERT(wait_line_ends(d, it_printf("superd: [echo] 127.0.0.1:%d: closed after ",
                                          local_port(silent)),
                             " s, 0 bytes in, 0 bytes out: idle_timeout"));
    CU_ASSERT(served(busy, "the busy connection, at the end"));
    it_close(busy);
    it_stop_ok(d);
}

/* A client that trickles a byte every 100 ms is closed by max_lifetime. */
static void test_max_lifetime(void)
{
    int port = it_free_port(IT_TCP4), fd, bytes = 0;
    struct it_daemon *d;
    struct it_xfer x;
    int64_t deadline;

    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 1\n",
              it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n"
                        "idle_timeout = 0\nmax_lifetime = 700ms\nlog_connections = yes\n", port));
    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    deadline = it_now_ms() + 5000;
    for (;;) {
        it_xfer(fd, (const uint8_t *)"t", 1, 0, (const uint8_t *)"t", 1, NULL, 0, 1, 0,
                it_left_ms(deadline), &x);
        if (x.rcvd != 1 || x.eof || x.err || !it_left_ms(deadline))
            break;
        bytes++;
        it_sleep_ms(100);
    }
    if (!x.eof && !x.err)
        printf("\n    still open after 5 s (%d bytes echoed)\n", bytes);
    CU_ASSERT(x.eof || x.err == ECONNRESET || x.err == EPIPE);
    CU_ASSERT(bytes >= 1);
    CU_ASSERT(wait_line_ends(d, it_printf("superd: [echo] 127.0.0.1:%d: closed after ",
                                          local_port(fd)),
                             ": max_lifetime"));
    it_stop_ok(d);
}

/* ---- datagram abuse ---- */

/* daytime answers an empty-ish datagram with a longer line: at most 10
 * such replies a second per source. */
static void test_udp_amplification_budget(void)
{
    int port = it_free_port(IT_UDP4), fd, got;
    struct it_daemon *d;
    int64_t span;

    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 2\n",
              it_printf("[daytime]\nplugin = daytime\nlisten = udp://127.0.0.1:%d\n", port));
    fd = udp_from("127.0.0.1");
    CU_ASSERT_FATAL(fd >= 0);
    got = burst(fd, port, 30, 1, &span);
    /* The bucket holds 10 (all answered: loopback loses nothing) and
     * refills at 10/s while we send. */
    if (got < 10 || got > 11 + (int)(span / 100))
        printf("\n    30 datagrams in %lld ms: %d answered\n", (long long)span, got);
    CU_ASSERT(got >= 10 && got <= 11 + (int)(span / 100));
    CU_ASSERT(wait_line_ends(d, it_printf("superd: [daytime] udp 127.0.0.1:%d: reply to "
                                          "127.0.0.1:%d dropped: reply larger than the request, "
                                          "over 10/s (", port, local_port(fd)),
                             " more)"));
    expect_counter(d, "daytime", "refused", 30 - got);
    expect_counter(d, "daytime", "dgrams_out", got);
    /* Another source has its own budget. */
    fd = udp_from("127.0.0.2");
    CU_ASSERT(burst(fd, port, 1, 1, &span) == 1);
    it_stop_ok(d);
}

static void test_udp_reply_rate(void)
{
    int port = it_free_port(IT_UDP4), fd, got;
    struct it_daemon *d;
    int64_t span;

    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 2\n",
              it_printf("[echo]\nplugin = echo\nlisten = udp://127.0.0.1:%d\n"
                        "udp_reply_rate = 5/s\n", port));
    fd = udp_from("127.0.0.1");
    CU_ASSERT_FATAL(fd >= 0);
    got = burst(fd, port, 20, 16, &span);
    if (got < 5 || got > 6 + (int)(span / 200))
        printf("\n    20 datagrams in %lld ms: %d answered\n", (long long)span, got);
    CU_ASSERT(got >= 5 && got <= 6 + (int)(span / 200));
    CU_ASSERT(wait_line_ends(d, it_printf("superd: [echo] udp 127.0.0.1:%d: reply to "
                                          "127.0.0.1:%d dropped: udp_reply_rate exceeded (",
                                          port, local_port(fd)),
                             " more)"));
    expect_counter(d, "echo", "refused", 20 - got);
    it_stop_ok(d);
}

/* Replies no larger than the request meet only the loop budget (100/s per
 * source by default): a burst of 20 is answered whole. */
static void test_udp_same_size_unlimited(void)
{
    int port = it_free_port(IT_UDP4), fd, got;
    struct it_daemon *d;
    int64_t span;

    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 2\n",
              it_printf("[echo]\nplugin = echo\nlisten = udp://127.0.0.1:%d\n", port));
    fd = udp_from("127.0.0.1");
    CU_ASSERT_FATAL(fd >= 0);
    got = burst(fd, port, 20, 16, &span);
    if (got != 20)
        printf("\n    20 datagrams: %d answered\n", got);
    CU_ASSERT_EQUAL(got, 20);
    expect_counter(d, "echo", "dgrams_out", 20);
    expect_counter(d, "echo", "refused", 0);
    it_stop_ok(d);
}

/* udp_guard = no answers a datagram from source port 7; the default does
 * not. */
static void test_udp_guard_off(void)
{
    int guarded = it_free_port(IT_UDP4), open, fd = -1;
    struct sockaddr_storage to;
    socklen_t tolen;
    struct it_daemon *d;
    char reply[64];

    if (geteuid() != 0) {
        skipped("not root: cannot bind UDP port 7");
        return;
    }
    CU_ASSERT_FATAL(guarded > 0);
    open = it_free_port(IT_UDP4);
    CU_ASSERT_FATAL(open > 0 && open != guarded);
    /* Another test program may hold the port for a moment. */
    for (int64_t until = it_now_ms() + 3000; fd < 0; it_sleep_ms(50)) {
        fd = it_udp_socket(AF_INET, 7);
        if (fd < 0 && !it_left_ms(until))
            break;
    }
    if (fd < 0) {
        skipped("UDP port 7 on 127.0.0.1 is in use here");
        return;
    }
    d = serve("workers = 1\n",
              it_printf("[guarded]\nplugin = echo\nlisten = udp://127.0.0.1:%d\n"
                        "[open]\nplugin = echo\nlisten = udp://127.0.0.1:%d\nudp_guard = no\n",
                        guarded, open));
    tolen = it_sa_inet(AF_INET, open, &to);
    CU_ASSERT(it_dgram_ask(fd, &to, tolen, "from port 7", 11, reply, sizeof(reply), 3) == 11);
    tolen = it_sa_inet(AF_INET, guarded, &to);
    CU_ASSERT(sendto(fd, "from port 7", 11, 0, (struct sockaddr *)&to, tolen) == 11);
    CU_ASSERT(it_dgram_silent(fd, 500));
    CU_ASSERT(wait_line(d, it_printf("superd: [guarded] udp 127.0.0.1:%d: dropped a datagram "
                                     "from 127.0.0.1:7: source port of a chatty service could "
                                     "start a loop (0 more)", guarded)));
    expect_counter(d, "guarded", "loop_drops", 1);
    expect_counter(d, "open", "loop_drops", 0);
    expect_counter(d, "open", "dgrams_out", 1);
    it_stop_ok(d);
}

/* ---- logging of refusals, running out of descriptors ---- */

/* A flood of refusals makes at most a line a second (per worker), and
 * the next line counts the ones it did not log. */
static void test_refusal_log_limited(void)
{
    int port = it_free_port(IT_TCP4), fd, lines = 0, most;
    long long more = 0;
    int64_t flood_ms;
    struct it_daemon *d;
    char *prefix, *err;

    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 1\n",
              it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n"
                        "no_access = 127.0.0.1\n", port));
    flood_ms = it_now_ms();
    for (int i = 0; i < 50; i++)
        CU_ASSERT(closed_at_once(connect_from("127.0.0.1", port), "flood"));
    flood_ms = it_now_ms() - flood_ms;
    next_second();
    fd = connect_from("127.0.0.1", port);
    CU_ASSERT(closed_at_once(fd, "after the flood"));
    prefix = it_printf("superd: [echo] tcp 127.0.0.1:%d: refused 127.0.0.1:%d: "
                       "no_access 127.0.0.1/32 (", port, local_port(fd));
    CU_ASSERT_FATAL(wait_prefix(d, prefix) != NULL);
    expect_counter(d, "echo", "refused", 51);
    err = it_stderr(d);
    prefix = it_printf("superd: [echo] tcp 127.0.0.1:%d: refused ", port);
    for (char *p = err; (p = strstr(p, prefix)) != NULL; p++) {
        char *m = strstr(p, " (");
        lines++;
        if (m)
            more += atoll(m + 2);
    }
    /* A line for the first, one per second the flood reached, one after
     * it; and not one refusal lost from the count. */
    most = 3 + (int)(flood_ms / 1000);
    if (lines > most || lines + more != 51)
        printf("\n    51 refusals: %d lines, %lld more counted; stderr:\n%s", lines, more, err);
    CU_ASSERT(lines >= 2 && lines <= most);
    CU_ASSERT_EQUAL(lines + more, 51);
    it_stop_ok(d);
}

/* Out of descriptors: the pending connection is accepted and closed at
 * once (no busy loop), logged, and superd serves again once clients go. */
static void test_out_of_descriptors(void)
{
    int port = it_free_port(IT_TCP4), fds[80], ok = 0, shed = 0, r;
    struct rlimit saved, low;
    struct it_daemon *d = it_alloc(sizeof(*d));
    int64_t deadline;
    char *conf;

    CU_ASSERT_FATAL(port > 0);
    conf = it_conf_global("workers = 1\nshutdown_timeout = 250ms\n",
                          it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n",
                                    port));
    /* superd inherits the limit: 40 descriptors. */
    CU_ASSERT_FATAL(getrlimit(RLIMIT_NOFILE, &saved) == 0);
    low = saved;
    low.rlim_cur = 40;
    CU_ASSERT_FATAL(setrlimit(RLIMIT_NOFILE, &low) == 0);
    r = it_start(d, conf);
    setrlimit(RLIMIT_NOFILE, &saved);
    CU_ASSERT_FATAL(r == 0);
    for (int i = 0; i < 80; i++)
        fds[i] = connect_from("127.0.0.2", port);
    for (int i = 0; i < 80; i++) {
        r = outcome(fds[i]);
        ok += r == SERVED;
        shed += r == REFUSED;
    }
    if (!ok || !shed || ok + shed != 80)
        printf("\n    80 clients at a 40-descriptor limit: %d served, %d closed\n", ok, shed);
    CU_ASSERT(ok > 0 && shed > 0 && ok + shed == 80);
    CU_ASSERT(wait_prefix(d, it_printf("superd: [echo] tcp 127.0.0.1:%d: out of file "
                                       "descriptors, dropped a connection (", port)) != NULL);
    for (int i = 0; i < 80; i++)
        it_close(fds[i]);
    /* Served again once superd has seen the clients go. */
    deadline = it_now_ms() + 5000;
    while ((r = outcome(connect_from("127.0.0.2", port))) != SERVED && it_left_ms(deadline))
        it_sleep_ms(50);
    CU_ASSERT(r == SERVED);
    it_stop_ok(d);
}

/* ---- registration ---- */

static const struct it_test tests[] = {
    { "only_from: others closed at once, logged, counted", test_only_from },
    { "[superd] only_from / no_access as defaults, per list", test_global_lists },
    { "only_from: a datagram from a refused source is dropped", test_udp_refused_source },
    { "no_access ::1 on IPv6; unix clients never refused", test_ipv6_and_unix },
    { "rate_limit = 3/s on datagrams", test_udp_rate_limit },
    { "max_per_source = 2 across two workers; a close frees a slot", test_max_per_source },
    { "max_per_source: a killed worker gives its slots back",
      test_max_per_source_worker_killed },
    { "rate_limit = 3/s: the fourth refused, then served again", test_rate_limit },
    { "idle_timeout = 300ms: silent closed, busy kept", test_idle_timeout },
    { "max_lifetime = 700ms closes a trickling client", test_max_lifetime },
    { "udp: replies larger than the request, 10/s per source",
      test_udp_amplification_budget },
    { "udp_reply_rate = 5/s", test_udp_reply_rate },
    { "udp: same-size replies: a burst of 20 within the loop budget",
      test_udp_same_size_unlimited },
    { "udp_guard = no answers source port 7", test_udp_guard_off },
    { "a flood of refusals: a line a second, none lost", test_refusal_log_limited },
    { "out of descriptors: shed, logged, served again", test_out_of_descriptors },
};

int main(int argc, char **argv)
{
    return it_main(argc, argv, "limits", "limits and access control", tests,
                   sizeof(tests) / sizeof(tests[0]));
}
