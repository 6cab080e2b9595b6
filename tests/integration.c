/*
 * integration.c - integration tests: the real superd binary on loopback.
 *
 *     build/tests/integration BUILD        (BUILD: build, build-asan, ...)
 *
 * Each test writes its own configuration into a private directory under
 * /tmp, starts BUILD/superd with it (plugins from BUILD/plugins), waits for
 * "superd: ready" on its stderr, talks to it over 127.0.0.1, ::1 and unix
 * sockets, and checks what a user sees: bytes on the wire, exit statuses,
 * the exact error line.  The per-test teardown kills and reaps whatever is
 * still running, so a failed assertion never leaves a daemon behind.
 * Exit status: 0 when every test passed, 1 otherwise.
 */
#include "integration_config.h"
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef SUPERD_VERSION
#define SUPERD_VERSION "0.1.0"
#endif

#define KiB (1024u)
#define MiB (1024u * 1024u)

/* ---- helpers shared by the tests ---- */

static void skipped(const char *why)
{
    printf("\n    skipped: %s\n    ", why);
}

#define NEED_IPV6()                                  \
    do {                                             \
        if (!it_have_ipv6()) {                       \
            skipped("no ::1 on this machine");       \
            return;                                  \
        }                                            \
    } while (0)

/* Writes the configuration (after the [superd] section) and starts superd;
 * the test ends here (teardown cleans up) when it does not get ready. */
static struct it_daemon *serve(const char *body)
{
    struct it_daemon *d = it_alloc(sizeof(*d));
    int ok = it_start(d, it_conf(body)) == 0;

    CU_ASSERT_FATAL(ok);
    return d;
}

/* The signal (SIGTERM, SIGINT) must make superd exit with status 0. */
static void stop_ok(struct it_daemon *d, int sig)
{
    int st = it_stop(d, sig);

    if (!it_exited(st, 0))
        printf("\n    superd: wait status 0x%x after signal %d; stderr:\n%s",
               (unsigned)st, sig, it_stderr(d));
    CU_ASSERT(it_exited(st, 0));
}

/* The daemon announced exactly this listener. */
static void listening(struct it_daemon *d, const char *svc, const char *kind,
                      const char *addr)
{
    char *line = it_printf("superd: [%s] listening on %s %s", svc, kind, addr);
    char *err = it_stderr(d);
    int n = it_count_line(err, line);

    if (n != 1)
        printf("\n    expected the line \"%s\" once on stderr, got:\n%s", line, err);
    CU_ASSERT_EQUAL(n, 1);
}

static int has_usage(const char *text)
{
    return strcasestr(text, "usage") != NULL;
}

/* One line of printable text ending in "\r\n", nothing else. */
static int daytime_line(const uint8_t *buf, size_t len)
{
    if (len < 3 || buf[len - 2] != '\r' || buf[len - 1] != '\n')
        goto bad;
    for (size_t i = 0; i + 2 < len; i++) {
        if (buf[i] < 0x20 || buf[i] > 0x7e)
            goto bad;
    }
    return 1;
bad:
    printf("\n    not one CRLF-terminated line (%zu bytes): \"%.*s\"\n", len,
           (int)len, (const char *)buf);
    return 0;
}

/* The year line of `format = %Y`: this year (local or UTC; either side of
 * the time the request was made, should a new year begin meanwhile). */
static int year_line(const uint8_t *buf, size_t len, time_t before)
{
    time_t after = time(NULL);
    time_t when[2] = { before, after };
    struct tm tm;

    for (int i = 0; i < 2; i++) {
        for (int utc = 0; utc < 2; utc++) {
            char want[32];
            if (utc)
                gmtime_r(&when[i], &tm);
            else
                localtime_r(&when[i], &tm);
            snprintf(want, sizeof(want), "%d\r\n", tm.tm_year + 1900);
            if (len == strlen(want) && !memcmp(buf, want, len))
                return 1;
        }
    }
    printf("\n    expected \"<year>\\r\\n\", got (%zu bytes): \"%.*s\"\n", len,
           (int)len, (const char *)buf);
    return 0;
}

/* A datagram echo of `len` pattern bytes; prints what went wrong. */
static int echo_dgram(int fd, const struct sockaddr_storage *to, socklen_t tolen,
                      size_t len, const char *what)
{
    uint8_t *reply = it_alloc(70 * KiB);
    ssize_t r;

    if (fd < 0) {
        printf("\n    %s: socket: %s\n", what, strerror(errno));
        return 0;
    }
    r = it_dgram_ask(fd, to, tolen, it_pattern, len, reply, 70 * KiB, 3);
    if (r == (ssize_t)len && !memcmp(reply, it_pattern, len))
        return 1;
    if (r < 0)
        printf("\n    %s: no answer to a datagram of %zu bytes\n", what, len);
    else
        printf("\n    %s: sent %zu bytes, answer of %zd bytes %s\n", what, len,
               r, r == (ssize_t)len ? "with wrong content" : "");
    return 0;
}

/* A stream connection that has to fail: nothing listens there. */
static int refused_tcp(int port)
{
    int fd = it_tcp_connect(AF_INET, port);

    if (fd >= 0) {
        it_close(fd);
        return 0;
    }
    return 1;
}

/*
 * Runs superd (with "-t" when check) on a configuration that must be
 * refused.  `needle` finds the faulty line; the error must be exactly
 * "superd: FILE:LINE: [section] key: message", or only start with
 * "superd: FILE:LINE: [section] key: " when message is NULL.
 */
static void refused(const char *body, int check, const char *needle,
                    const char *section, const char *key, const char *message)
{
    char *conf = it_conf(body);
    int line = it_line_of(it_read_file(conf), needle);
    char *prefix = it_printf("superd: %s:%d: [%s] %s: ", conf, line, section, key);
    const char *args[] = { check ? "-t" : "-c", check ? "-c" : conf,
                           check ? conf : NULL, NULL };
    char *out, *err;
    int st = it_run(args, &out, &err);
    int ok;

    CU_ASSERT_FATAL(line > 0);
    if (message) {
        char *want = it_printf("%s%s\n", prefix, message);
        ok = !strcmp(err, want);
        if (!ok)
            printf("\n    expected stderr \"%s\", got \"%s\"\n", want, err);
    } else {
        ok = !strncmp(err, prefix, strlen(prefix)) && it_lines(err) == 1;
        if (!ok)
            printf("\n    expected one line starting \"%s\", got \"%s\"\n",
                   prefix, err);
    }
    CU_ASSERT(ok);
    if (!it_exited(st, 1))
        printf("\n    expected exit status 1, wait status 0x%x (%s)\n",
               (unsigned)st, st == -2 ? "it started serving" : "");
    CU_ASSERT(it_exited(st, 1));
    CU_ASSERT(strstr(out, "configuration OK") == NULL);
}

/* Leaves a dead socket at path: bound, then closed without unlink. */
static int dead_socket(const char *path, int type)
{
    struct sockaddr_storage ss;
    socklen_t len = it_sa_unix(path, &ss);
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&ss, len) == 0;

    if (fd >= 0)
        close(fd);
    return ok && it_is_socket(path);
}

/* ---- 1. echo round trips on stream sockets ---- */

static const size_t echo_sizes[] = { 1, 64 * KiB, 4 * MiB };

static void test_echo_tcp4(void)
{
    int port = it_free_port(IT_TCP4);
    struct it_daemon *d;

    CU_ASSERT_FATAL(port > 0);
    d = serve(it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n", port));
    listening(d, "echo", "tcp", it_printf("127.0.0.1:%d", port));
    for (size_t i = 0; i < 3; i++) {
        int fd = it_tcp_connect(AF_INET, port);
        CU_ASSERT_FATAL(it_echo_stream(fd, echo_sizes[i], "tcp4"));
        it_close(fd);
    }
    stop_ok(d, SIGTERM);
}

static void test_echo_tcp6(void)
{
    int port;
    struct it_daemon *d;

    NEED_IPV6();
    port = it_free_port(IT_TCP6);
    CU_ASSERT_FATAL(port > 0);
    d = serve(it_printf("[echo]\nplugin = echo\nlisten = tcp://[::1]:%d\n", port));
    listening(d, "echo", "tcp", it_printf("[::1]:%d", port));
    for (size_t i = 0; i < 3; i++) {
        int fd = it_tcp_connect(AF_INET6, port);
        CU_ASSERT_FATAL(it_echo_stream(fd, echo_sizes[i], "tcp6"));
        it_close(fd);
    }
    stop_ok(d, SIGTERM);
}

static void test_echo_unix(void)
{
    char *path = it_path("echo.sock");
    struct it_daemon *d;

    d = serve(it_printf("[echo]\nplugin = echo\nlisten = unix:%s\n", path));
    listening(d, "echo", "unix", path);
    for (size_t i = 0; i < 3; i++) {
        int fd = it_unix_connect(path);
        CU_ASSERT_FATAL(it_echo_stream(fd, echo_sizes[i], "unix"));
        it_close(fd);
    }
    stop_ok(d, SIGTERM);
}

/* Many clients at once, each with its own slice of the pattern, so bytes
 * that reach the wrong connection are noticed. */
#define NCLIENTS 200

static void test_echo_many_clients(void)
{
    const size_t len = 16 * KiB;
    int port = it_free_port(IT_TCP4);
    struct pollfd *pfd = it_alloc(NCLIENTS * sizeof(*pfd));
    int *fds = it_alloc(NCLIENTS * sizeof(*fds));
    size_t *sent = it_alloc(NCLIENTS * sizeof(*sent));
    size_t *rcvd = it_alloc(NCLIENTS * sizeof(*rcvd));
    uint8_t *buf = it_alloc(64 * KiB);
    int64_t deadline;
    int done = 0, bad = 0;
    struct it_daemon *d;

    CU_ASSERT_FATAL(port > 0);
    d = serve(it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n", port));
    for (int i = 0; i < NCLIENTS; i++) {
        fds[i] = it_tcp_connect(AF_INET, port);
        if (fds[i] < 0)
            printf("\n    client %d: connect: %s\n", i, strerror(errno));
        CU_ASSERT_FATAL(fds[i] >= 0);
    }
    deadline = it_now_ms() + 2 * IT_OP_MS;
    while (done + bad < NCLIENTS && it_left_ms(deadline)) {
        int n;

        for (int i = 0; i < NCLIENTS; i++) {
            pfd[i].fd = fds[i];
            pfd[i].events = POLLIN | (sent[i] < len ? POLLOUT : 0);
            pfd[i].revents = 0;
        }
        n = poll(pfd, NCLIENTS, it_left_ms(deadline));
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; n > 0 && i < NCLIENTS; i++) {
            const uint8_t *mine = it_pattern + (size_t)i * 4099;
            if (pfd[i].fd < 0 || !pfd[i].revents)
                continue;
            if (pfd[i].revents & POLLOUT) {
                ssize_t w = send(fds[i], mine + sent[i], len - sent[i],
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
                if (w > 0)
                    sent[i] += (size_t)w;
            }
            if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t r = recv(fds[i], buf, 64 * KiB, MSG_DONTWAIT);
                int wrong = r == 0 || (r < 0 && errno != EAGAIN) ||
                            (r > 0 && (rcvd[i] + (size_t)r > len ||
                                       memcmp(buf, mine + rcvd[i], (size_t)r)));
                if (r > 0)
                    rcvd[i] += (size_t)r;
                if (wrong || rcvd[i] == len) {
                    if (wrong)
                        printf("\n    client %d: wrong or missing bytes after %zu\n",
                               i, rcvd[i]);
                    bad += wrong;
                    done += !wrong;
                    it_close(fds[i]);
                    fds[i] = -1;
                }
            }
        }
    }
    if (done != NCLIENTS)
        printf("\n    %d of %d clients got their echo, %d wrong\n", done, NCLIENTS, bad);
    CU_ASSERT_EQUAL(done, NCLIENTS);
    CU_ASSERT_EQUAL(bad, 0);
    for (int i = 0; i < NCLIENTS; i++) {
        if (fds[i] >= 0)
            it_close(fds[i]);
    }
    stop_ok(d, SIGTERM);
}

/* ---- 2. half-close ---- */

static void half_close(int fd, size_t len, const char *what)
{
    struct it_xfer x;
    int ok;

    if (fd < 0) {
        printf("\n    %s: connect: %s\n", what, strerror(errno));
        CU_FAIL("connect");
        return;
    }
    it_xfer(fd, it_pattern, len, 1, it_pattern, IT_PATTERN_LEN, NULL, 0, len,
            1, IT_OP_MS, &x);
    ok = x.sent == len && x.rcvd == len && x.eof && x.bad_at < 0 && !x.err;
    if (!ok)
        printf("\n    %s: sent %zu of %zu, received %zu, %s%s, first bad byte %ld\n",
               what, x.sent, len, x.rcvd, x.eof ? "EOF" : "no EOF",
               x.timeout ? " (timed out)" : "", x.bad_at);
    CU_ASSERT(ok);
    it_close(fd);
}

static void test_half_close(void)
{
    int port = it_free_port(IT_TCP4);
    char *path = it_path("echo.sock");
    struct it_daemon *d;

    CU_ASSERT_FATAL(port > 0);
    d = serve(it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n"
                        "listen = unix:%s\n", port, path));
    half_close(it_tcp_connect(AF_INET, port), 100, "tcp4, 100 B then FIN");
    half_close(it_tcp_connect(AF_INET, port), 1 * MiB, "tcp4, 1 MiB then FIN");
    half_close(it_unix_connect(path), 100, "unix, 100 B then FIN");
    half_close(it_unix_connect(path), 1 * MiB, "unix, 1 MiB then FIN");
    stop_ok(d, SIGTERM);
}

/* ---- 3. datagram echo ---- */

static void test_echo_udp4(void)
{
    int port = it_free_port(IT_UDP4);
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_inet(AF_INET, port, &to);
    struct it_daemon *d;
    int fd;

    CU_ASSERT_FATAL(port > 0);
    d = serve(it_printf("[echo]\nplugin = echo\nlisten = udp://127.0.0.1:%d\n", port));
    listening(d, "echo", "udp", it_printf("127.0.0.1:%d", port));
    fd = it_udp_socket(AF_INET, 0);
    CU_ASSERT_FATAL(echo_dgram(fd, &to, tolen, 1, "udp4"));
    CU_ASSERT_FATAL(echo_dgram(fd, &to, tolen, 1000, "udp4"));
    CU_ASSERT_FATAL(echo_dgram(fd, &to, tolen, 65507, "udp4"));
    stop_ok(d, SIGTERM);
}

static void test_echo_udp6(void)
{
    int port, fd;
    struct sockaddr_storage to;
    socklen_t tolen;
    struct it_daemon *d;

    NEED_IPV6();
    port = it_free_port(IT_UDP6);
    CU_ASSERT_FATAL(port > 0);
    tolen = it_sa_inet(AF_INET6, port, &to);
    d = serve(it_printf("[echo]\nplugin = echo\nlisten = udp://[::1]:%d\n", port));
    listening(d, "echo", "udp", it_printf("[::1]:%d", port));
    fd = it_udp_socket(AF_INET6, 0);
    CU_ASSERT_FATAL(echo_dgram(fd, &to, tolen, 1, "udp6"));
    CU_ASSERT_FATAL(echo_dgram(fd, &to, tolen, 1000, "udp6"));
    CU_ASSERT_FATAL(echo_dgram(fd, &to, tolen, 65507, "udp6"));
    stop_ok(d, SIGTERM);
}

static void test_echo_unix_dgram(void)
{
    char *path = it_path("echo.dgram");
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_unix(path, &to);
    struct it_daemon *d;
    int anon, fd;

    d = serve(it_printf("[echo]\nplugin = echo\nlisten = unix-dgram:%s\n", path));
    listening(d, "echo", "unix-dgram", path);
    /* A sender without an address cannot be answered; superd goes on. */
    anon = it_unix_dgram(NULL);
    CU_ASSERT_FATAL(anon >= 0);
    CU_ASSERT(sendto(anon, "x", 1, 0, (struct sockaddr *)&to, tolen) == 1);
    fd = it_unix_dgram(it_path("client.dgram"));
    CU_ASSERT_FATAL(echo_dgram(fd, &to, tolen, 1, "unix-dgram"));
    CU_ASSERT_FATAL(echo_dgram(fd, &to, tolen, 1000, "unix-dgram"));
    CU_ASSERT_FATAL(echo_dgram(fd, &to, tolen, 65507, "unix-dgram"));
    stop_ok(d, SIGTERM);
}

/* ---- 4. discard ---- */

static void test_discard_tcp(void)
{
    int port = it_free_port(IT_TCP4);
    struct it_daemon *d;
    struct it_xfer x;
    int fd;

    CU_ASSERT_FATAL(port > 0);
    d = serve(it_printf("[discard]\nplugin = discard\nlisten = tcp://127.0.0.1:%d\n",
                        port));
    listening(d, "discard", "tcp", it_printf("127.0.0.1:%d", port));
    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    /* Every byte is taken, none comes back, and FIN gets FIN. */
    it_xfer(fd, it_pattern, 4 * MiB, 1, NULL, 0, NULL, 0, 0, 1, 2 * IT_OP_MS, &x);
    if (x.sent != 4 * MiB || x.rcvd || !x.eof || x.err)
        printf("\n    discard: sent %zu of %u, received %zu, %s%s%s\n", x.sent,
               4 * MiB, x.rcvd, x.eof ? "EOF" : "no EOF",
               x.timeout ? ", timed out" : "", x.err ? strerror(x.err) : "");
    CU_ASSERT_EQUAL(x.sent, 4 * MiB);
    CU_ASSERT_EQUAL(x.rcvd, 0);
    CU_ASSERT(x.eof);
    CU_ASSERT_EQUAL(x.err, 0);
    it_close(fd);
    stop_ok(d, SIGTERM);
}

static void test_discard_udp(void)
{
    int port = it_free_port(IT_UDP4);
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_inet(AF_INET, port, &to);
    struct it_daemon *d;
    int fd;

    CU_ASSERT_FATAL(port > 0);
    d = serve(it_printf("[discard]\nplugin = discard\nlisten = udp://127.0.0.1:%d\n",
                        port));
    listening(d, "discard", "udp", it_printf("127.0.0.1:%d", port));
    fd = it_udp_socket(AF_INET, 0);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(sendto(fd, it_pattern, 512, 0, (struct sockaddr *)&to, tolen) == 512);
    CU_ASSERT(sendto(fd, "\n", 1, 0, (struct sockaddr *)&to, tolen) == 1);
    CU_ASSERT(it_dgram_silent(fd, 300));
    stop_ok(d, SIGTERM);
}

/* ---- 5. daytime ---- */

/* Reads what the daytime server sends on a new connection until EOF. */
static size_t daytime_tcp(int port, uint8_t *buf, size_t cap)
{
    int fd = it_tcp_connect(AF_INET, port);
    struct it_xfer x;

    CU_ASSERT_FATAL(fd >= 0);
    it_xfer(fd, NULL, 0, 0, NULL, 0, buf, cap, 0, 1, IT_OP_MS, &x);
    if (!x.eof || x.err)
        printf("\n    daytime: no EOF after %zu bytes%s%s\n", x.rcvd,
               x.timeout ? " (timed out)" : "", x.err ? strerror(x.err) : "");
    CU_ASSERT(x.eof);
    CU_ASSERT_EQUAL(x.err, 0);
    it_close(fd);
    return x.rcvd < cap ? x.rcvd : cap;
}

static void test_daytime_tcp(void)
{
    int port = it_free_port(IT_TCP4);
    uint8_t *buf = it_alloc(4096);
    struct it_daemon *d;
    size_t n;

    CU_ASSERT_FATAL(port > 0);
    d = serve(it_printf("[daytime]\nplugin = daytime\nlisten = tcp://127.0.0.1:%d\n",
                        port));
    listening(d, "daytime", "tcp", it_printf("127.0.0.1:%d", port));
    n = daytime_tcp(port, buf, 4096);
    CU_ASSERT(daytime_line(buf, n));
    stop_ok(d, SIGTERM);
}

static void test_daytime_udp(void)
{
    int port = it_free_port(IT_UDP4);
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_inet(AF_INET, port, &to);
    uint8_t *buf = it_alloc(4096);
    struct it_daemon *d;
    ssize_t r;
    int fd;

    CU_ASSERT_FATAL(port > 0);
    d = serve(it_printf("[daytime]\nplugin = daytime\nlisten = udp://127.0.0.1:%d\n",
                        port));
    listening(d, "daytime", "udp", it_printf("127.0.0.1:%d", port));
    fd = it_udp_socket(AF_INET, 0);
    CU_ASSERT_FATAL(fd >= 0);
    r = it_dgram_ask(fd, &to, tolen, "?", 1, buf, 4096, 3);
    if (r < 0)
        printf("\n    daytime: no answer to a datagram\n");
    CU_ASSERT(r > 0 && daytime_line(buf, (size_t)r));
    stop_ok(d, SIGTERM);
}

static void test_daytime_format(void)
{
    int port = it_free_port(IT_TCP4 | IT_UDP4);
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_inet(AF_INET, port, &to);
    uint8_t *buf = it_alloc(4096);
    struct it_daemon *d;
    time_t before;
    ssize_t r;
    size_t n;
    int fd;

    CU_ASSERT_FATAL(port > 0);
    d = serve(it_printf("[daytime]\nplugin = daytime\nformat = %%Y\n"
                        "listen = tcp://127.0.0.1:%d udp://127.0.0.1:%d\n",
                        port, port));
    before = time(NULL);
    n = daytime_tcp(port, buf, 4096);
    CU_ASSERT(year_line(buf, n, before));
    fd = it_udp_socket(AF_INET, 0);
    CU_ASSERT_FATAL(fd >= 0);
    before = time(NULL);
    r = it_dgram_ask(fd, &to, tolen, "?", 1, buf, 4096, 3);
    if (r < 0)
        printf("\n    daytime: no answer to a datagram\n");
    CU_ASSERT(r > 0 && year_line(buf, (size_t)r, before));
    stop_ok(d, SIGTERM);
}

/* ---- 6. superd -t, and configurations that are refused ---- */

/* The line "[svc] plugin NAME VERSION PATH" names the plugin's .so. */
static void plugin_line(const char *out, const char *svc, const char *name)
{
    char *prefix = it_printf("[%s] plugin %s ", svc, name);
    char *want = it_printf("%s/%s.so", it_plugin_dir, name);
    const char *p = strstr(out, prefix);
    char version[128] = "", path[4096] = "", real_got[4096], real_want[4096];
    int ok;

    CU_ASSERT_EQUAL(it_count_prefix(out, prefix), 1);
    if (!p) {
        printf("\n    no line starting \"%s\" in:\n%s", prefix, out);
        return;
    }
    ok = sscanf(p + strlen(prefix), "%127s %4095[^\n]", version, path) == 2 &&
         realpath(path, real_got) && realpath(want, real_want) &&
         !strcmp(real_got, real_want);
    if (!ok)
        printf("\n    \"%s\": expected VERSION and the path of %s\n", prefix, want);
    CU_ASSERT(ok);
}

static void test_check_good(void)
{
    int port = it_free_port(IT_TCP4 | IT_UDP4), port2;
    char *sock = it_path("echo.sock");
    char *conf, *out, *err;
    const char *args[] = { "-t", "-c", NULL, NULL };
    const char *want[] = {
        it_printf("[echo] listen tcp 127.0.0.1:%d", port),
        it_printf("[echo] listen unix %s", sock),
        it_printf("[echo] listen udp 127.0.0.1:%d", port),
        NULL,
    };
    int st;

    CU_ASSERT_FATAL(port > 0);
    do
        port2 = it_free_port(IT_TCP4);
    while (port2 == port);
    CU_ASSERT_FATAL(port2 > 0);
    want[3] = it_printf("[daytime] listen tcp 127.0.0.1:%d", port2);
    conf = it_conf(it_printf("[echo]\nplugin = echo\n"
                             "listen = tcp://127.0.0.1:%d unix:%s\n"
                             "listen = udp://127.0.0.1:%d\n\n"
                             "[daytime]\nplugin = daytime\n"
                             "listen = tcp://127.0.0.1:%d\nformat = %%Y\n",
                             port, sock, port, port2));
    args[2] = conf;
    st = it_run(args, &out, &err);
    if (!it_exited(st, 0))
        printf("\n    superd -t: wait status 0x%x; stderr:\n%s", (unsigned)st, err);
    CU_ASSERT(it_exited(st, 0));
    for (size_t i = 0; i < 4; i++) {
        int n = it_count_line(out, want[i]);
        if (n != 1)
            printf("\n    expected the line \"%s\" once on stdout:\n%s", want[i], out);
        CU_ASSERT_EQUAL(n, 1);
    }
    plugin_line(out, "echo", "echo");
    plugin_line(out, "daytime", "daytime");
    CU_ASSERT_EQUAL(it_lines(out), 7);
    CU_ASSERT_STRING_EQUAL(it_last_line(out), it_printf("%s: configuration OK", conf));
    CU_ASSERT(it_count_prefix(err, "superd: ready") == 0);
    CU_ASSERT(strstr(err, "listening on") == NULL);
    /* -t binds nothing: the ports are free, no socket file appeared. */
    CU_ASSERT(it_port_free(IT_TCP4 | IT_UDP4, port));
    CU_ASSERT(it_port_free(IT_TCP4, port2));
    CU_ASSERT(!it_exists(sock));
}

static void test_check_port_range(void)
{
    refused("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:99999\n", 1,
            "listen = tcp://127.0.0.1:99999", "echo", "listen",
            "port 99999 out of range");
}

static void test_check_unknown_key(void)
{
    int port = it_free_port(IT_TCP4);

    CU_ASSERT_FATAL(port > 0);
    refused(it_printf("[echo]\nplugin = echo\nbogus = 1\nlisten = tcp://127.0.0.1:%d\n",
                      port),
            1, "bogus = 1", "echo", "bogus", "unknown key");
}

/* A key in a plugin's section that the plugin does not read either: one
 * edit away from one the plugin asked for, it is named. */
static void test_check_plugin_typo(void)
{
    int port = it_free_port(IT_TCP4);

    CU_ASSERT_FATAL(port > 0);
    refused(it_printf("[daytime]\nplugin = daytime\nlisten = tcp://127.0.0.1:%d\n"
                      "fromat = %%Y\n", port),
            1, "fromat = %Y", "daytime", "fromat", "unknown key (did you mean format?)");
}

static void test_check_no_such_plugin(void)
{
    int port = it_free_port(IT_TCP4);

    CU_ASSERT_FATAL(port > 0);
    refused(it_printf("[echo]\nplugin = nosuch\nlisten = tcp://127.0.0.1:%d\n", port),
            1, "plugin = nosuch", "echo", "plugin", NULL);
}

static void test_check_bad_scheme(void)
{
    int port = it_free_port(IT_TCP4);

    CU_ASSERT_FATAL(port > 0);
    refused(it_printf("[echo]\nplugin = echo\nlisten = sctp://127.0.0.1:%d\n", port),
            1, "listen = sctp", "echo", "listen", NULL);
}

/* Without -t, a bad file is refused before anything is bound. */
static void test_bad_config_binds_nothing(void)
{
    int port = it_free_port(IT_TCP4);
    char *sock = it_path("echo.sock");

    CU_ASSERT_FATAL(port > 0);
    refused(it_printf("[echo]\nplugin = echo\nlisten = unix:%s\n"
                      "listen = tcp://127.0.0.1:%d\n"
                      "listen = tcp://127.0.0.1:99999\n", sock, port),
            0, "listen = tcp://127.0.0.1:99999", "echo", "listen",
            "port 99999 out of range");
    CU_ASSERT(!it_exists(sock));
    CU_ASSERT(it_port_free(IT_TCP4, port));
}

static void test_no_such_plugin_binds_nothing(void)
{
    char *sock = it_path("echo.sock");

    refused(it_printf("[echo]\nlisten = unix:%s\nplugin = nosuch\n", sock), 0,
            "plugin = nosuch", "echo", "plugin", NULL);
    CU_ASSERT(!it_exists(sock));
}

static void test_missing_config_file(void)
{
    char *conf = it_path("nosuch.ini");
    const char *args[] = { "-c", conf, NULL };
    char *out, *err;
    int st = it_run(args, &out, &err);

    CU_ASSERT(it_exited(st, 1));
    CU_ASSERT(!strncmp(err, "superd: ", 8) && strstr(err, conf) && it_lines(err) == 1);
    if (!it_exited(st, 1) || it_lines(err) != 1)
        printf("\n    wait status 0x%x, stderr \"%s\"\n", (unsigned)st, err);
}

/* ---- 7. a port in use ---- */

static void test_port_in_use(void)
{
    int port = it_free_port(IT_TCP4 | IT_UDP4);
    char *sock = it_path("echo.sock");
    char *body, *conf, *out, *err, *want;
    const char *args[] = { "-c", NULL, NULL };
    int hold, st;

    CU_ASSERT_FATAL(port > 0);
    hold = it_tcp_listen(AF_INET, port);
    CU_ASSERT_FATAL(hold >= 0);
    body = it_printf("[echo]\nplugin = echo\nlisten = unix:%s\n"
                     "listen = tcp://127.0.0.1:%d\n", sock, port);
    conf = it_conf(body);
    args[1] = conf;
    want = it_printf("superd: %s:%d: [echo] listen: cannot bind tcp 127.0.0.1:%d: "
                     "Address already in use", conf,
                     it_line_of(it_read_file(conf), "listen = tcp"), port);
    st = it_run(args, &out, &err);
    if (strcmp(err, it_printf("%s\n", want)) || !it_exited(st, 1))
        printf("\n    expected exit 1 and \"%s\"; wait status 0x%x, stderr:\n%s",
               want, (unsigned)st, err);
    CU_ASSERT(it_exited(st, 1));
    CU_ASSERT_STRING_EQUAL(err, it_printf("%s\n", want));
    CU_ASSERT(!it_exists(sock));
    it_close(hold);

    /* The same for UDP. */
    hold = it_udp_socket(AF_INET, port);
    CU_ASSERT_FATAL(hold >= 0);
    body = it_printf("[echo]\nplugin = echo\nlisten = unix:%s\n"
                     "listen = udp://127.0.0.1:%d\n", sock, port);
    conf = it_conf(body);
    want = it_printf("superd: %s:%d: [echo] listen: cannot bind udp 127.0.0.1:%d: "
                     "Address already in use", conf,
                     it_line_of(it_read_file(conf), "listen = udp"), port);
    st = it_run(args, &out, &err);
    if (strcmp(err, it_printf("%s\n", want)) || !it_exited(st, 1))
        printf("\n    expected exit 1 and \"%s\"; wait status 0x%x, stderr:\n%s",
               want, (unsigned)st, err);
    CU_ASSERT(it_exited(st, 1));
    CU_ASSERT_STRING_EQUAL(err, it_printf("%s\n", want));
    CU_ASSERT(!it_exists(sock));
}

/* ---- 8. SIGTERM and SIGINT remove the socket files ---- */

static void test_sigterm_cleanup(void)
{
    char *sock = it_path("s.sock"), *dg = it_path("s.dgram");
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_unix(dg, &to);
    struct it_daemon *d;
    int fd, st;

    d = serve(it_printf("[echo]\nplugin = echo\nlisten = unix:%s unix-dgram:%s\n",
                        sock, dg));
    CU_ASSERT(it_is_socket(sock));
    CU_ASSERT(it_is_socket(dg));
    fd = it_unix_connect(sock);
    CU_ASSERT(it_echo_stream(fd, 1000, "unix"));
    it_close(fd);
    fd = it_unix_dgram(it_path("client.dgram"));
    CU_ASSERT(echo_dgram(fd, &to, tolen, 1000, "unix-dgram"));
    st = it_stop(d, SIGTERM);
    if (!it_exited(st, 0))
        printf("\n    wait status 0x%x after SIGTERM; stderr:\n%s", (unsigned)st,
               it_stderr(d));
    CU_ASSERT(it_exited(st, 0));
    CU_ASSERT(!it_exists(sock));
    CU_ASSERT(!it_exists(dg));
    if (d->strays)
        printf("\n    %d process(es) of superd's group outlived it\n", d->strays);
    CU_ASSERT_EQUAL(d->strays, 0);
}

static void test_sigint_cleanup(void)
{
    char *sock = it_path("s.sock");
    struct it_daemon *d;
    int fd;

    d = serve(it_printf("[echo]\nplugin = echo\nlisten = unix:%s\n", sock));
    fd = it_unix_connect(sock);
    CU_ASSERT(it_echo_stream(fd, 1000, "unix"));
    it_close(fd);
    stop_ok(d, SIGINT);
    CU_ASSERT(!it_exists(sock));
}

/* Connections still open at SIGTERM are served until they end; then
 * superd exits at once, without waiting for shutdown_timeout. */
static void test_sigterm_lets_connections_finish(void)
{
    int port = it_free_port(IT_TCP4);
    struct it_daemon *d = it_alloc(sizeof(*d));
    int fd, st;

    CU_ASSERT_FATAL(port > 0);
    CU_ASSERT_FATAL(it_start(d, it_conf_global("shutdown_timeout = 1h\n",
        it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n", port))) == 0);
    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(it_echo_stream(fd, 1000, "before SIGTERM"));
    kill(d->pid, SIGTERM);
    it_sleep_ms(200); /* not asserted: only gives the signal a chance to land */
    CU_ASSERT(it_echo_stream(fd, 64 * KiB, "after SIGTERM, same connection"));
    it_close(fd);
    /* With an hour of shutdown_timeout, only the end of the last
     * connection can make it exit within IT_STOP_MS. */
    st = it_stop(d, SIGTERM);
    if (!it_exited(st, 0))
        printf("\n    wait status 0x%x once the last connection closed; stderr:\n%s",
               (unsigned)st, it_stderr(d));
    CU_ASSERT(it_exited(st, 0));
}

/* An idle connection does not hold superd past shutdown_timeout; the
 * client sees its connection closed. */
static void test_sigterm_shutdown_timeout(void)
{
    int port = it_free_port(IT_TCP4);
    struct it_daemon *d = it_alloc(sizeof(*d));
    struct it_xfer x;
    int fd, st;

    CU_ASSERT_FATAL(port > 0);
    CU_ASSERT_FATAL(it_start(d, it_conf_global("shutdown_timeout = 300ms\n",
        it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n", port))) == 0);
    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(it_echo_stream(fd, 1000, "before SIGTERM"));
    st = it_stop(d, SIGTERM);
    if (!it_exited(st, 0))
        printf("\n    wait status 0x%x with an idle connection open; stderr:\n%s",
               (unsigned)st, it_stderr(d));
    CU_ASSERT(it_exited(st, 0));
    it_xfer(fd, NULL, 0, 0, NULL, 0, NULL, 0, 0, 1, IT_OP_MS, &x);
    CU_ASSERT(x.eof || x.err == ECONNRESET);
    CU_ASSERT_EQUAL(x.rcvd, 0);
}

/* ---- 9. what is at a unix path already ---- */

static void test_dead_socket_replaced(void)
{
    char *sock = it_path("dead.sock"), *dg = it_path("dead.dgram");
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_unix(dg, &to);
    struct it_daemon *d;
    int fd;

    CU_ASSERT_FATAL(dead_socket(sock, SOCK_STREAM));
    CU_ASSERT_FATAL(dead_socket(dg, SOCK_DGRAM));
    CU_ASSERT_FATAL(it_unix_connect(sock) < 0); /* really dead */
    d = serve(it_printf("[echo]\nplugin = echo\nlisten = unix:%s\n"
                        "listen = unix-dgram:%s\n", sock, dg));
    fd = it_unix_connect(sock);
    CU_ASSERT(it_echo_stream(fd, 64 * KiB, "unix (was a dead socket)"));
    it_close(fd);
    fd = it_unix_dgram(it_path("client.dgram"));
    CU_ASSERT(echo_dgram(fd, &to, tolen, 1000, "unix-dgram (was a dead socket)"));
    stop_ok(d, SIGTERM);
    CU_ASSERT(!it_exists(sock));
    CU_ASSERT(!it_exists(dg));
}

static void test_regular_file_refused(void)
{
    char *path = it_path("file.sock");
    const char *content = "precious data, not a socket\n";
    char *body;

    CU_ASSERT_FATAL(it_write_file(path, content) == 0);
    body = it_printf("[echo]\nplugin = echo\nlisten = unix:%s\n", path);
    refused(body, 0, "listen = unix", "echo", "listen",
            it_printf("%s exists and is not a socket", path));
    CU_ASSERT(it_exists(path) && !it_is_socket(path));
    CU_ASSERT_STRING_EQUAL(it_read_file(path), content);
}

static void test_live_socket_refused(void)
{
    char *path = it_path("live.sock");
    struct sockaddr_storage ss;
    socklen_t len = it_sa_unix(path, &ss);
    int hold = it_track_fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    struct pollfd pfd;
    int fd;

    CU_ASSERT_FATAL(hold >= 0);
    CU_ASSERT_FATAL(bind(hold, (struct sockaddr *)&ss, len) == 0 && listen(hold, 4) == 0);
    refused(it_printf("[echo]\nplugin = echo\nlisten = unix:%s\n", path), 0,
            "listen = unix", "echo", "listen", NULL);
    /* Still our socket: a connection reaches our listener. */
    CU_ASSERT(it_is_socket(path));
    fd = it_unix_connect(path);
    CU_ASSERT(fd >= 0);
    pfd.fd = hold;
    pfd.events = POLLIN;
    CU_ASSERT(poll(&pfd, 1, IT_OP_MS) == 1);
}

/* ---- 10. a client that sends and never reads ---- */

static void test_flood_bounded_memory(void)
{
    const size_t limit = 64 * MiB;
    int port = it_free_port(IT_TCP4);
    struct it_daemon *d;
    long base, rss;
    int64_t start, last;
    size_t sent = 0;
    int fd, fd2, err = 0;
    struct it_xfer x;

    CU_ASSERT_FATAL(port > 0);
    d = serve(it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n", port));
    base = it_rss_kb(d->pid);
    CU_ASSERT_FATAL(base > 0);
    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    start = last = it_now_ms();
    /* Write until nothing moves for a second (bounded to 10 s). */
    while (sent < limit) {
        int64_t now = it_now_ms();
        int wait = (int)(1000 - (now - last));
        struct pollfd pfd = { fd, POLLOUT, 0 };
        int n;

        if (wait <= 0 || now - start >= 10000)
            break;
        n = poll(&pfd, 1, wait);
        if (n < 0 && errno != EINTR) {
            err = errno;
            break;
        }
        if (n <= 0)
            continue;
        if (pfd.revents & (POLLERR | POLLHUP)) {
            err = EPIPE;
            break;
        }
        {
            size_t off = sent % IT_PATTERN_LEN;
            size_t chunk = IT_PATTERN_LEN - off;
            ssize_t w;
            if (chunk > 256 * KiB)
                chunk = 256 * KiB;
            if (chunk > limit - sent)
                chunk = limit - sent;
            w = send(fd, it_pattern + off, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0) {
                sent += (size_t)w;
                last = it_now_ms();
            } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                err = errno;
                break;
            }
        }
    }
    rss = it_rss_kb(d->pid);
    printf("\n    flood: %zu KiB sent, %s; superd RSS %ld KiB at start, %ld KiB "
           "now\n    ", sent / KiB,
           sent < limit && it_now_ms() - last >= 1000 ? "then the writes stalled"
                                                       : "the writes never stalled",
           base, rss);
    if (err)
        printf("flood: the connection failed: %s\n    ", strerror(err));
    CU_ASSERT_EQUAL(err, 0);
    CU_ASSERT(rss > 0 && rss < base + 32 * 1024);
    /* Another client is served meanwhile. */
    fd2 = it_tcp_connect(AF_INET, port);
    CU_ASSERT(it_echo_stream(fd2, 64 * KiB, "second client during the flood"));
    it_close(fd2);
    /* Nothing the flood sent was lost: it all comes back, in order. */
    it_xfer(fd, NULL, 0, 1, it_pattern, IT_PATTERN_LEN, NULL, 0, sent, 1,
            2 * IT_OP_MS, &x);
    if (x.rcvd != sent || !x.eof || x.bad_at >= 0)
        printf("\n    flood: read back %zu of %zu bytes, %s, first bad byte %ld\n",
               x.rcvd, sent, x.eof ? "EOF" : "no EOF", x.bad_at);
    CU_ASSERT_EQUAL(x.rcvd, sent);
    CU_ASSERT(x.eof);
    CU_ASSERT(x.bad_at < 0);
    it_close(fd);
    stop_ok(d, SIGTERM);
}

/* ---- 11. one service on five listeners ---- */

static void test_one_service_five_listeners(void)
{
    int port, fd;
    char *sock = it_path("echo.sock");
    struct sockaddr_storage to;
    socklen_t tolen;
    struct it_daemon *d;

    NEED_IPV6();
    port = it_free_port(IT_TCP4 | IT_TCP6 | IT_UDP4 | IT_UDP6);
    CU_ASSERT_FATAL(port > 0);
    d = serve(it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d "
                        "tcp://[::1]:%d udp://127.0.0.1:%d udp://[::1]:%d unix:%s\n",
                        port, port, port, port, sock));
    listening(d, "echo", "tcp", it_printf("127.0.0.1:%d", port));
    listening(d, "echo", "tcp", it_printf("[::1]:%d", port));
    listening(d, "echo", "udp", it_printf("127.0.0.1:%d", port));
    listening(d, "echo", "udp", it_printf("[::1]:%d", port));
    listening(d, "echo", "unix", sock);
    CU_ASSERT_EQUAL(it_count_prefix(it_stderr(d), "superd: [echo] listening on "), 5);

    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT(it_echo_stream(fd, 64 * KiB, "tcp4"));
    it_close(fd);
    fd = it_tcp_connect(AF_INET6, port);
    CU_ASSERT(it_echo_stream(fd, 64 * KiB, "tcp6"));
    it_close(fd);
    fd = it_unix_connect(sock);
    CU_ASSERT(it_echo_stream(fd, 64 * KiB, "unix"));
    it_close(fd);
    tolen = it_sa_inet(AF_INET, port, &to);
    CU_ASSERT(echo_dgram(it_udp_socket(AF_INET, 0), &to, tolen, 1000, "udp4"));
    tolen = it_sa_inet(AF_INET6, port, &to);
    CU_ASSERT(echo_dgram(it_udp_socket(AF_INET6, 0), &to, tolen, 1000, "udp6"));
    stop_ok(d, SIGTERM);
    CU_ASSERT(!it_exists(sock));
}

/* ---- 12. the command line ---- */

static void test_version(void)
{
    const char *args[] = { "-V", NULL };
    char *out, *err;
    int st = it_run(args, &out, &err);

    CU_ASSERT(it_exited(st, 0));
    CU_ASSERT_STRING_EQUAL(out, "superd " SUPERD_VERSION "\n");
    CU_ASSERT_STRING_EQUAL(err, "");
}

static void test_help(void)
{
    const char *args[] = { "-h", NULL };
    char *out, *err;
    int st = it_run(args, &out, &err);

    CU_ASSERT(it_exited(st, 0));
    CU_ASSERT(has_usage(out) && strstr(out, "-c"));
    CU_ASSERT_STRING_EQUAL(err, "");
}

static void usage_error(const char *const *args, const char *what)
{
    char *out, *err;
    int st = it_run(args, &out, &err);

    if (!it_exited(st, 2) || !has_usage(err))
        printf("\n    %s: expected usage on stderr and exit 2; wait status 0x%x, "
               "stderr \"%s\"\n", what, (unsigned)st, err);
    CU_ASSERT(it_exited(st, 2));
    CU_ASSERT(has_usage(err));
    CU_ASSERT_STRING_EQUAL(out, "");
}

static void test_usage_errors(void)
{
    int port = it_free_port(IT_TCP4);
    char *conf;
    const char *unknown[] = { "-Z", NULL };
    const char *stray[] = { "-c", NULL, "stray", NULL };
    const char *noarg[] = { "-c", NULL };

    CU_ASSERT_FATAL(port > 0);
    conf = it_conf(it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n",
                             port));
    stray[1] = conf;
    usage_error(unknown, "superd -Z");
    usage_error(stray, "superd -c FILE stray");
    usage_error(noarg, "superd -c");
    CU_ASSERT(refused_tcp(port));
}

/* ---- datagram loop protection ---- */

static void test_loop_protection(void)
{
    static const int chatty[] = { 7, 9, 13, 17, 19, 37 };
    int port, fds[6], n = 0;
    struct sockaddr_storage to;
    socklen_t tolen;
    struct it_daemon *d;
    int ctl;

    if (geteuid() != 0) {
        skipped("not root: cannot bind UDP ports 7, 9, 13, 17, 19, 37");
        return;
    }
    port = it_free_port(IT_UDP4);
    CU_ASSERT_FATAL(port > 0);
    tolen = it_sa_inet(AF_INET, port, &to);
    d = serve(it_printf("[echo]\nplugin = echo\nlisten = udp://127.0.0.1:%d\n", port));
    /* Another run of this suite may hold the ports for a moment. */
    for (int64_t until = it_now_ms() + 3000;; it_sleep_ms(50)) {
        n = 0;
        for (size_t i = 0; i < 6; i++) {
            int fd = it_udp_socket(AF_INET, chatty[i]);
            if (fd >= 0)
                fds[n++] = fd;
        }
        if (n == 6 || !it_left_ms(until))
            break; /* then use those that are free */
        for (int i = 0; i < n; i++)
            it_close(fds[i]);
    }
    if (n == 0) {
        skipped("UDP ports 7, 9, 13, 17, 19, 37 on 127.0.0.1 are in use here");
        stop_ok(d, SIGTERM);
        return;
    }
    for (int i = 0; i < n; i++)
        CU_ASSERT(sendto(fds[i], "loop?", 5, 0, (struct sockaddr *)&to, tolen) == 5);
    /* An ordinary port is answered (so the datagrams above did arrive). */
    ctl = it_udp_socket(AF_INET, 0);
    CU_ASSERT(echo_dgram(ctl, &to, tolen, 100, "udp4 from an ordinary port"));
    for (int i = 0; i < n; i++) {
        int quiet = it_dgram_silent(fds[i], i ? 0 : 300);
        if (!quiet)
            printf("\n    a datagram from a chatty source port was answered\n");
        CU_ASSERT(quiet);
    }
    stop_ok(d, SIGTERM);
}

/* ---- the abstract namespace ---- */

static void test_echo_abstract(void)
{
    char *name = it_printf("@superd-it-%d-%lld", (int)getpid(), (long long)it_now_ms());
    struct it_daemon *d;
    int fd;

    d = serve(it_printf("[echo]\nplugin = echo\nlisten = unix:%s\n", name));
    listening(d, "echo", "unix", name);
    fd = it_unix_connect(name);
    CU_ASSERT(it_echo_stream(fd, 64 * KiB, "abstract unix"));
    it_close(fd);
    stop_ok(d, SIGTERM);
}

/* The plugin example in README.md, extracted and built by the Makefile, so
 * the newcomer's first plugin cannot rot: each line gets its length back. */
static void test_readme_example(void)
{
    int port = it_free_port(IT_TCP4);
    uint8_t *buf = it_alloc(64);
    struct it_daemon *d;
    struct it_xfer x;
    const char *req = "hello\nab\npartial";
    int fd;

    CU_ASSERT_FATAL(port > 0);
    d = serve(it_printf("[linelen]\nplugin = %s/../tests/plugins/readme_example.so\n"
                        "listen = tcp://127.0.0.1:%d\n", it_plugin_dir, port));
    listening(d, "linelen", "tcp", it_printf("127.0.0.1:%d", port));
    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    it_xfer(fd, (const uint8_t *)req, strlen(req), 1, NULL, 0, buf, 63, 0, 1, IT_OP_MS, &x);
    CU_ASSERT(x.eof);
    CU_ASSERT_EQUAL(x.rcvd, 4);
    CU_ASSERT(x.rcvd == 4 && memcmp(buf, "5\n2\n", 4) == 0);
    it_close(fd);
    stop_ok(d, SIGTERM);
}

/* ---- systemd, include, logging ---- */

/* Wait (bounded) for one datagram on fd and return it as a string. */
static char *recv_text(int fd, int ms)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    char *buf = it_alloc(256);
    ssize_t n;

    if (poll(&pfd, 1, ms) != 1)
        return it_printf("(nothing within %d ms)", ms);
    n = recv(fd, buf, 255, 0);
    return n < 0 ? it_printf("(recv: %s)", strerror(errno)) : buf;
}

/* NOTIFY_SOCKET: READY=1 once serving, RELOADING=1 (with MONOTONIC_USEC)
 * and READY=1 around a reload, STOPPING=1 on SIGTERM. */
static void test_systemd_notify(void)
{
    char *path = it_path("notify.sock");
    int port = it_free_port(IT_TCP4);
    struct it_daemon *d;
    char *msg;
    int fd = it_unix_dgram(path);

    CU_ASSERT_FATAL(fd >= 0 && port > 0);
    setenv("NOTIFY_SOCKET", path, 1);
    d = serve(it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n", port));
    unsetenv("NOTIFY_SOCKET");
    msg = recv_text(fd, IT_OP_MS);
    CU_ASSERT_STRING_EQUAL(msg, "READY=1");
    kill(d->pid, SIGHUP);
    msg = recv_text(fd, IT_OP_MS);
    if (strncmp(msg, "RELOADING=1\nMONOTONIC_USEC=", 27) != 0)
        printf("\n    got \"%s\"\n", msg);
    CU_ASSERT(strncmp(msg, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0 && msg[27] >= '0' &&
              msg[27] <= '9');
    CU_ASSERT_STRING_EQUAL(recv_text(fd, IT_OP_MS), "READY=1");
    kill(d->pid, SIGTERM);
    CU_ASSERT_STRING_EQUAL(recv_text(fd, IT_OP_MS), "STOPPING=1");
    stop_ok(d, SIGTERM);
}

/* A socket passed as systemd does (fd 3, LISTEN_PID, LISTEN_FDS) is used
 * for the listen entry with the same address instead of binding. */
static void test_systemd_socket_activation(void)
{
    int port = it_free_port(IT_TCP4), other = it_free_port(IT_TCP4);
    int ls = it_tcp_listen(AF_INET, port);
    struct it_daemon *d;
    int fd;

    CU_ASSERT_FATAL(ls >= 0 && other > 0 && other != port);
    it_listen_fd = ls;
    d = serve(it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d tcp://127.0.0.1:%d\n",
                        port, other));
    it_listen_fd = -1;
    CU_ASSERT_EQUAL(it_count_line(it_stderr(d), it_printf(
        "superd: [echo] listening on tcp 127.0.0.1:%d (socket from systemd)", port)), 1);
    listening(d, "echo", "tcp", it_printf("127.0.0.1:%d", other));
    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT(it_echo_stream(fd, 4096, "passed socket"));
    it_close(fd);
    stop_ok(d, SIGTERM);
}

/* A passed socket that no listen entry names is an error naming it. */
static void test_systemd_unmatched_socket(void)
{
    int port = it_free_port(IT_TCP4), other = it_free_port(IT_TCP4);
    int ls = it_tcp_listen(AF_INET, port);
    char *conf, *out, *err;
    const char *args[] = { "-c", NULL, NULL };
    int st;

    CU_ASSERT_FATAL(ls >= 0 && other > 0 && other != port);
    conf = it_conf(it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n", other));
    args[1] = conf;
    it_listen_fd = ls;
    st = it_run(args, &out, &err);
    it_listen_fd = -1;
    CU_ASSERT(it_exited(st, 1));
    CU_ASSERT_STRING_EQUAL(err, it_printf("superd: socket passed by systemd (fd 3, tcp "
                                          "127.0.0.1:%d) matches no listen entry of %s\n",
                                          port, conf));
    CU_ASSERT(it_port_free(IT_TCP4, other));
}

/* include = a glob of conf.d: services from included files are served, and
 * an error in one names that file and line. */
static void test_include(void)
{
    int port = it_free_port(IT_TCP4);
    char *dir = it_path("conf.d");
    struct it_daemon *d;
    char *out, *err, *conf;
    const char *args[] = { "-t", "-c", NULL, NULL };
    int fd;

    CU_ASSERT_FATAL(port > 0 && mkdir(dir, 0700) == 0);
    it_write_file(it_printf("%s/10-echo.ini", dir),
                  it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n", port));
    it_write_file(it_printf("%s/notes.txt", dir), "not matched by the glob\n");
    conf = it_conf_global("include = conf.d/*.ini", "");
    d = it_alloc(sizeof(*d));
    CU_ASSERT_FATAL(it_start(d, conf) == 0);
    listening(d, "echo", "tcp", it_printf("127.0.0.1:%d", port));
    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT(it_echo_stream(fd, 100, "included service"));
    it_close(fd);
    stop_ok(d, SIGTERM);

    it_write_file(it_printf("%s/20-typo.ini", dir),
                  "[other]\nplugin = echo\nlisten = tcp://127.0.0.1:1\ncolour = red\n");
    args[2] = conf;
    CU_ASSERT(it_exited(it_run(args, &out, &err), 1));
    CU_ASSERT_STRING_EQUAL(err, it_printf("superd: %s/conf.d/20-typo.ini:4: [other] colour: "
                                          "unknown key\n", it_dir));
    unlink(it_printf("%s/20-typo.ini", dir));
    unlink(it_printf("%s/10-echo.ini", dir));
    unlink(it_printf("%s/notes.txt", dir));
    rmdir(dir);
}

/* log = syslog: accepted, and nothing goes to stderr while serving. */
static void test_log_syslog(void)
{
    int port = it_free_port(IT_TCP4);
    struct it_daemon *d = it_alloc(sizeof(*d));
    int64_t deadline = it_now_ms() + IT_START_MS;
    int fd = -1;

    CU_ASSERT_FATAL(port > 0);
    it_spawn(d, it_conf_global("log = syslog\nsyslog_facility = local3",
                               it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n",
                                         port)));
    /* No "ready" line to wait for: wait until it answers. */
    while (it_left_ms(deadline)) {
        fd = it_tcp_connect(AF_INET, port);
        if (fd >= 0 && it_echo_stream(fd, 10, "syslog"))
            break;
        if (fd >= 0)
            it_close(fd);
        fd = -1;
        it_sleep_ms(20);
    }
    CU_ASSERT(fd >= 0);
    if (fd >= 0)
        it_close(fd);
    stop_ok(d, SIGTERM);
    CU_ASSERT_STRING_EQUAL(it_stderr(d), "");
}

/* log_connections = yes: one line per connection at its close. */
static void test_log_connections(void)
{
    int port = it_free_port(IT_TCP4);
    struct it_daemon *d;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char *line, *err;
    int fd;

    CU_ASSERT_FATAL(port > 0);
    d = serve(it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n"
                        "log_connections = yes\n", port));
    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    getsockname(fd, (struct sockaddr *)&ss, &len);
    CU_ASSERT(it_echo_stream(fd, 1000, "log_connections"));
    it_close(fd);
    stop_ok(d, SIGTERM);
    err = it_stderr(d);
    line = it_printf("superd: [echo] 127.0.0.1:%d: closed after ",
                     ntohs(((struct sockaddr_in *)&ss)->sin_port));
    line = strstr(err, line);
    if (!line)
        printf("\n    no log_connections line in:\n%s", err);
    CU_ASSERT_FATAL(line != NULL);
    *strchr(line, '\n') = '\0';
    CU_ASSERT(strstr(line, " s, 1000 bytes in, 1000 bytes out: client closed") != NULL);
}

/* -d detaches after binding (the command returns 0 at once and the
 * daemon serves on), pid_file holds the daemon's pid and is removed at
 * exit, as are its socket files. */
static void test_detach_pid_file(void)
{
    int port = it_free_port(IT_TCP4);
    char *pidfile = it_path("superd.pid"), *sock = it_path("d.sock");
    char *conf = it_conf_global(it_printf("pid_file = %s", pidfile),
                                it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d "
                                          "unix:%s\n", port, sock));
    int64_t deadline = it_now_ms() + IT_START_MS;
    pid_t fg, daemon_pid = 0;
    int st = -1, fd;

    CU_ASSERT_FATAL(port > 0);
    fg = fork();
    CU_ASSERT_FATAL(fg >= 0);
    if (fg == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execl(it_superd, it_superd, "-d", "-c", conf, (char *)NULL);
        _exit(127);
    }
    while (it_left_ms(deadline) && waitpid(fg, &st, WNOHANG) == 0)
        it_sleep_ms(5);
    CU_ASSERT(it_exited(st, 0));
    /* The daemon writes the pid file once it runs on its own. */
    while (it_left_ms(deadline) && !(daemon_pid = (pid_t)atol(it_read_file(pidfile))))
        it_sleep_ms(5);
    CU_ASSERT(daemon_pid > 0 && daemon_pid != fg);
    if (daemon_pid <= 0)
        return;
    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT(fd >= 0 && it_echo_stream(fd, 1000, "detached"));
    if (fd >= 0)
        it_close(fd);
    CU_ASSERT(it_is_socket(sock));
    kill(daemon_pid, SIGTERM);
    deadline = it_now_ms() + IT_STOP_MS;
    while (it_left_ms(deadline) && kill(daemon_pid, 0) == 0)
        it_sleep_ms(5);
    if (kill(daemon_pid, 0) == 0) {
        kill(daemon_pid, SIGKILL);
        CU_FAIL("the detached superd did not stop on SIGTERM");
    }
    CU_ASSERT(!it_exists(pidfile));
    CU_ASSERT(!it_exists(sock));
}

/* build/superd finds the build's own plugins with no plugin_dir set. */
static void test_build_plugin_dir(void)
{
    char *conf = it_path("noplugindir.ini"), *out, *err;
    const char *args[] = { "-t", "-c", NULL, NULL };

    it_write_file(conf, "[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:1\n");
    args[2] = conf;
    CU_ASSERT(it_exited(it_run(args, &out, &err), 0));
    CU_ASSERT(it_count_line(out, it_printf("[echo] plugin echo 1.0 %s/echo.so", it_plugin_dir)) == 1);
}

/* ---- registration ---- */

/* tests/integration_counted.c */
void test_counted_reload_names(void);
void test_counted_too_many_services(void);
void test_counted_kills_under_load(void);

static const struct it_test tests[] = {
    { "echo tcp4: 1 B, 64 KiB, 4 MiB", test_echo_tcp4 },
    { "echo tcp6: 1 B, 64 KiB, 4 MiB", test_echo_tcp6 },
    { "echo unix: 1 B, 64 KiB, 4 MiB", test_echo_unix },
    { "echo tcp4: 200 clients at once", test_echo_many_clients },
    { "echo: FIN flushes everything, then EOF", test_half_close },
    { "echo udp4: 1 B, 1000 B, 65507 B", test_echo_udp4 },
    { "echo udp6: 1 B, 1000 B, 65507 B", test_echo_udp6 },
    { "echo unix-dgram: 1 B, 1000 B, 65507 B", test_echo_unix_dgram },
    { "discard tcp: takes 4 MiB, answers nothing", test_discard_tcp },
    { "discard udp: answers nothing", test_discard_udp },
    { "daytime tcp: one CRLF line, then EOF", test_daytime_tcp },
    { "daytime udp: one CRLF line", test_daytime_udp },
    { "daytime format = %Y", test_daytime_format },
    { "-t: good file lists plugins and listeners", test_check_good },
    { "-t: port out of range", test_check_port_range },
    { "-t: unknown key", test_check_unknown_key },
    { "-t: key neither core nor plugin reads", test_check_plugin_typo },
    { "-t: no such plugin", test_check_no_such_plugin },
    { "-t: bad listen scheme", test_check_bad_scheme },
    { "bad file binds nothing", test_bad_config_binds_nothing },
    { "missing plugin binds nothing", test_no_such_plugin_binds_nothing },
    { "missing configuration file", test_missing_config_file },
    { "port in use: exact error, nothing bound", test_port_in_use },
    { "SIGTERM: exit 0, socket files removed", test_sigterm_cleanup },
    { "SIGINT: exit 0, socket file removed", test_sigint_cleanup },
    { "SIGTERM: open connections are served to their end",
      test_sigterm_lets_connections_finish },
    { "SIGTERM: shutdown_timeout closes idle connections",
      test_sigterm_shutdown_timeout },
    { "dead socket file is replaced", test_dead_socket_replaced },
    { "regular file at a unix path is refused", test_regular_file_refused },
    { "live socket at a unix path is refused", test_live_socket_refused },
    { "flooding client: bounded memory", test_flood_bounded_memory },
    { "one service on tcp4, tcp6, udp4, udp6, unix", test_one_service_five_listeners },
    { "-V", test_version },
    { "-h", test_help },
    { "usage errors exit 2", test_usage_errors },
    { "udp: chatty source ports are not answered", test_loop_protection },
    { "echo on an abstract unix socket", test_echo_abstract },
    { "the README's plugin example builds and serves", test_readme_example },
    { "systemd notify: READY, RELOADING, STOPPING", test_systemd_notify },
    { "systemd socket activation: passed socket used", test_systemd_socket_activation },
    { "systemd socket activation: unmatched socket is an error", test_systemd_unmatched_socket },
    { "include = conf.d/*.ini", test_include },
    { "log = syslog: stderr stays quiet", test_log_syslog },
    { "log_connections: one line per connection", test_log_connections },
    { "-d detaches; pid_file written and removed", test_detach_pid_file },
    { "build/superd finds the build's plugins", test_build_plugin_dir },
    { "limits: 140 service names over reloads keep max_connections", test_counted_reload_names },
    { "limits: 129 services refused at start and on reload", test_counted_too_many_services },
    { "limits: 100 worker kills under load leak no count", test_counted_kills_under_load },
    IT_CONFIG_TESTS
};

int main(int argc, char **argv)
{
    return it_main(argc, argv, "integration", "superd on loopback", tests,
                   sizeof(tests) / sizeof(tests[0]));
}
