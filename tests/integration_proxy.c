/*
 * integration_proxy.c - proxy_protocol = yes on the real binary: PROXY v1
 * and v2 headers (docs/scaling.md), the carried address as the peer for
 * logs, access lists and limits, and every way a header can be wrong.
 *
 * Linked into build/tests/integration (IT_REGISTER); IT_ONLY=proxy runs
 * these.  The test is the balancer: it connects on loopback and writes the
 * header itself.  Every wait is bounded.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct it_daemon *serve_proxy(int port, const char *extra)
{
    struct it_daemon *d = it_alloc(sizeof(*d));
    char *conf = it_conf_global("workers = 1\n",
                                it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n"
                                          "proxy_protocol = yes\nlog_connections = yes\n%s",
                                          port, extra));

    CU_ASSERT_FATAL(it_start(d, conf) == 0);
    return d;
}

/* Send `hdr` (hlen bytes) then "hello\n"; 1 when "hello\n" comes back. */
static int echo_after(int port, const void *hdr, size_t hlen)
{
    uint8_t buf[64];
    struct it_xfer x;
    int fd = it_tcp_connect(AF_INET, port);
    size_t n = hlen + 6;
    uint8_t *out = it_alloc(n);

    if (fd < 0)
        return 0;
    memcpy(out, hdr, hlen);
    memcpy(out + hlen, "hello\n", 6);
    memset(buf, 0, sizeof(buf));
    it_xfer(fd, out, n, 1, NULL, 0, buf, sizeof(buf) - 1, 6, 0, IT_OP_MS, &x);
    it_close(fd);
    return x.rcvd == 6 && memcmp(buf, "hello\n", 6) == 0;
}

/* Send `hdr` and expect the connection closed with nothing echoed. */
static int refused_after(int port, const void *hdr, size_t hlen)
{
    uint8_t buf[64];
    struct it_xfer x;
    int fd = it_tcp_connect(AF_INET, port);

    if (fd < 0)
        return 0;
    it_xfer(fd, hdr, hlen, 0, NULL, 0, buf, sizeof(buf), 0, 1, IT_OP_MS, &x);
    it_close(fd);
    return x.rcvd == 0 && (x.eof || x.err) && !x.timeout;
}

/* Waits for a line of superd's stderr that contains needle.  1 if it came. */
static int log_has(struct it_daemon *d, const char *needle)
{
    int64_t deadline = it_now_ms() + IT_OP_MS;

    do {
        if (strstr(it_stderr(d), needle))
            return 1;
        it_sleep_ms(20);
    } while (it_left_ms(deadline));
    printf("\n    no log line with \"%s\"; stderr:\n%s", needle, it_stderr(d));
    return 0;
}

static const uint8_t sig2[12] = { 13, 10, 13, 10, 0, 13, 10, 'Q', 'U', 'I', 'T', 10 };

static size_t v2_header(uint8_t *buf, uint8_t cmd, uint8_t fam, const uint8_t *body, size_t len)
{
    memcpy(buf, sig2, 12);
    buf[12] = cmd;
    buf[13] = fam;
    buf[14] = (uint8_t)(len >> 8);
    buf[15] = (uint8_t)len;
    if (len)
        memcpy(buf + 16, body, len);
    return 16 + len;
}

/* v1 TCP4, TCP6 and UNKNOWN: served; the carried client is the peer. */
static void test_proxy_v1(void)
{
    int port = it_free_port(IT_TCP4);
    struct it_daemon *d;
    char *h;

    CU_ASSERT_FATAL(port > 0);
    d = serve_proxy(port, "");
    h = it_printf("PROXY TCP4 192.0.2.7 127.0.0.1 5555 %d\r\n", port);
    CU_ASSERT(echo_after(port, h, strlen(h)));
    CU_ASSERT(log_has(d, "[echo] 192.0.2.7:5555: closed after"));
    h = it_printf("PROXY TCP6 2001:db8::7 ::1 6666 %d\r\n", port);
    CU_ASSERT(echo_after(port, h, strlen(h)));
    CU_ASSERT(log_has(d, "[echo] [2001:db8::7]:6666: closed after"));
    CU_ASSERT(echo_after(port, "PROXY UNKNOWN\r\n", 15));
    CU_ASSERT(log_has(d, "[echo] 127.0.0.1:"));
    CU_ASSERT(it_stop(d, SIGTERM) == 0);
}

/* v2 PROXY over IPv4 with a TLV, and LOCAL (a health check). */
static void test_proxy_v2(void)
{
    int port = it_free_port(IT_TCP4);
    uint8_t body[] = { 198, 51, 100, 9, 127, 0, 0, 1, 0x1f, 0x90, 0, 7,
                       0x02, 0x00, 0x03, 'a', 'b', 'c' };  /* PP2_TYPE_AUTHORITY "abc" */
    uint8_t hdr[64];
    struct it_daemon *d;

    CU_ASSERT_FATAL(port > 0);
    d = serve_proxy(port, "");
    CU_ASSERT(echo_after(port, hdr, v2_header(hdr, 0x21, 0x11, body, sizeof(body))));
    CU_ASSERT(log_has(d, "[echo] 198.51.100.9:8080: closed after"));
    CU_ASSERT(echo_after(port, hdr, v2_header(hdr, 0x20, 0x00, NULL, 0)));
    CU_ASSERT(it_stop(d, SIGTERM) == 0);
}

/* v2 over IPv6 and in front of a unix listener; max_per_source counts the
 * carried client, not the balancer. */
static void test_proxy_v2_ipv6_unix_per_source(void)
{
    int port = it_free_port(IT_TCP4);
    char *sock = it_path("pp.sock");
    uint8_t body6[36] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 7, [16] = 0, [31] = 1,
                          [32] = 0x1f, [33] = 0x90, [34] = 0, [35] = 7 };
    uint8_t body4[12] = { 192, 0, 2, 50, 127, 0, 0, 1, 0x13, 0x88, 0, 7 };
    uint8_t hdr[64], buf[16];
    size_t n6, n4;
    struct it_daemon *d;
    struct it_xfer x;
    int fd, held;

    CU_ASSERT_FATAL(port > 0);
    d = it_alloc(sizeof(*d));
    CU_ASSERT_FATAL(it_start(d, it_conf_global("workers = 1\n", it_printf(
        "[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d unix:%s\nproxy_protocol = yes\n"
        "trusted_proxies = 127.0.0.1\nlog_connections = yes\nmax_per_source = 1\n",
        port, sock))) == 0);
    /* IPv6 client 2001:db8::7 port 8080 over a TCP listener. */
    n6 = v2_header(hdr, 0x21, 0x21, body6, sizeof(body6));
    CU_ASSERT(echo_after(port, hdr, n6));
    CU_ASSERT(log_has(d, "[echo] [2001:db8::7]:8080: closed after"));
    /* The same v2 header in front of the unix listener. */
    n4 = v2_header(hdr, 0x21, 0x11, body4, sizeof(body4));
    fd = it_unix_connect(sock);
    CU_ASSERT_FATAL(fd >= 0);
    memcpy(hdr + n4, "hi\n", 3);
    memset(buf, 0, sizeof(buf));
    it_xfer(fd, hdr, n4 + 3, 0, NULL, 0, buf, sizeof(buf), 3, 0, IT_OP_MS, &x);
    CU_ASSERT(x.rcvd == 3 && memcmp(buf, "hi\n", 3) == 0);
    /* max_per_source = 1 of 192.0.2.50: held open, a second one from the
     * same carried client is refused, while another client is served. */
    held = fd;
    fd = it_tcp_connect(AF_INET, port);
    it_xfer(fd, hdr, n4 + 3, 0, NULL, 0, buf, sizeof(buf), 0, 1, IT_OP_MS, &x);
    CU_ASSERT(x.rcvd == 0 && !x.timeout);
    it_close(fd);
    CU_ASSERT(log_has(d, "refused 192.0.2.50:5000: max_per_source 1 reached"));
    n6 = v2_header(hdr, 0x21, 0x21, body6, sizeof(body6));
    CU_ASSERT(echo_after(port, hdr, n6));
    it_close(held);
    CU_ASSERT(it_stop(d, SIGTERM) == 0);
}

/* A header that arrives one byte at a time is read whole, and not one
 * byte of the stream after it is lost. */
static void test_proxy_split(void)
{
    int port = it_free_port(IT_TCP4);
    char *h = it_printf("PROXY TCP4 192.0.2.8 127.0.0.1 4444 %d\r\n", port);
    uint8_t buf[16];
    struct it_daemon *d;
    struct it_xfer x;
    int fd;

    CU_ASSERT_FATAL(port > 0);
    d = serve_proxy(port, "");
    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    for (size_t i = 0; h[i]; i++) {
        it_xfer(fd, (const uint8_t *)h + i, 1, 0, NULL, 0, NULL, 0, 0, 0, 50, &x);
        it_sleep_ms(2);
    }
    memset(buf, 0, sizeof(buf));
    it_xfer(fd, (const uint8_t *)"xy", 2, 0, NULL, 0, buf, sizeof(buf), 2, 0, IT_OP_MS, &x);
    CU_ASSERT(x.rcvd == 2 && memcmp(buf, "xy", 2) == 0);
    it_close(fd);
    CU_ASSERT(log_has(d, "[echo] 192.0.2.8:4444: closed after"));
    CU_ASSERT(it_stop(d, SIGTERM) == 0);
}

/* Garbage, a 108-byte line, a v2 length past the buffer, silence past
 * proxy_timeout and an untrusted source: each closed, nothing echoed. */
static void test_proxy_refusals(void)
{
    int port = it_free_port(IT_TCP4), port2 = it_free_port(IT_TCP4);
    char line[200];
    uint8_t hdr[32];
    struct it_daemon *d, *u;
    int fd;
    uint8_t buf[8];
    struct it_xfer x;

    CU_ASSERT_FATAL(port > 0 && port2 > 0 && port != port2);
    d = serve_proxy(port, "proxy_timeout = 300ms\n");
    CU_ASSERT(refused_after(port, "GET / HTTP/1.0\r\n\r\n", 18));
    CU_ASSERT(log_has(d, ": malformed PROXY header"));
    memset(line, 'x', sizeof(line));
    memcpy(line, "PROXY TCP4 ", 11);
    CU_ASSERT(refused_after(port, line, 108));
    memcpy(hdr, sig2, 12);
    hdr[12] = 0x21;
    hdr[13] = 0x11;
    hdr[14] = 0xff;
    hdr[15] = 0xff;
    CU_ASSERT(refused_after(port, hdr, 16));
    /* Silent: closed at proxy_timeout (the wait is bounded by IT_OP_MS);
     * a second later, so its refusal gets a log line of its own. */
    it_sleep_ms(1100);
    fd = it_tcp_connect(AF_INET, port);
    it_xfer(fd, NULL, 0, 0, NULL, 0, buf, sizeof(buf), 0, 1, IT_OP_MS, &x);
    CU_ASSERT(x.eof && !x.timeout && x.rcvd == 0);
    it_close(fd);
    CU_ASSERT(log_has(d, ": no PROXY header within proxy_timeout"));
    CU_ASSERT(it_stop(d, SIGTERM) == 0);

    u = it_alloc(sizeof(*u));
    CU_ASSERT_FATAL(it_start(u, it_conf_global("workers = 1\n", it_printf(
        "[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\nproxy_protocol = yes\n"
        "trusted_proxies = 192.0.2.1/32\n", port2))) == 0);
    CU_ASSERT(refused_after(port2, "PROXY UNKNOWN\r\n", 15));
    CU_ASSERT(log_has(u, ": not in trusted_proxies"));
    CU_ASSERT(it_stop(u, SIGTERM) == 0);
}

/* Access lists and max_per_source act on the carried address. */
static void test_proxy_admission(void)
{
    int port = it_free_port(IT_TCP4);
    struct it_daemon *d;
    char *ok = it_printf("PROXY TCP4 192.0.2.7 127.0.0.1 5555 %d\r\n", port);
    char *bad = it_printf("PROXY TCP4 198.51.100.1 127.0.0.1 5555 %d\r\n", port);

    CU_ASSERT_FATAL(port > 0);
    d = serve_proxy(port, "only_from = 192.0.2.0/24\n");
    CU_ASSERT(echo_after(port, ok, strlen(ok)));
    CU_ASSERT(refused_after(port, bad, strlen(bad)));
    CU_ASSERT(log_has(d, "refused 198.51.100.1:5555: only_from"));
    CU_ASSERT(it_stop(d, SIGTERM) == 0);
}

/* A TCP connection to 127.0.0.1:port from the loopback address `from`. */
static int connect_from(const char *from, int port)
{
    struct sockaddr_in src = { .sin_family = AF_INET }, dst = { .sin_family = AF_INET };
    int fd = it_track_fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));

    inet_pton(AF_INET, from, &src.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    dst.sin_port = htons((uint16_t)port);
    if (fd < 0 || bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
        connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0)
        return -1;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* Two superd instances behind Debian's haproxy with send-proxy-v2: the
 * client's own address (127.0.0.2, not haproxy's 127.0.0.1) reaches both
 * instances' access lists and logs; another client (127.0.0.3) is refused
 * by them. */
static void test_haproxy_send_proxy_v2(void)
{
    const char *root = getenv("SUPERD_TEST_DEPS");
    char *haproxy = root ? it_printf("%s/usr/sbin/haproxy", root) : NULL;
    int pa = it_free_port(IT_TCP4), pb = it_free_port(IT_TCP4), ph = it_free_port(IT_TCP4);
    struct it_daemon *a = it_alloc(sizeof(*a)), *b = it_alloc(sizeof(*b));
    char *cfg = it_path("haproxy.cfg"), *body;
    int64_t deadline;
    pid_t pid;
    int up = 0;

    if (!haproxy || access(haproxy, X_OK) != 0) {
        printf("\n    skipped: no haproxy (make test-deps could not fetch it)\n    ");
        return;
    }
    CU_ASSERT_FATAL(pa > 0 && pb > 0 && ph > 0 && pa != pb && pb != ph && pa != ph);
    body = "proxy_protocol = yes\nonly_from = 127.0.0.2/32\nlog_connections = yes\n";
    CU_ASSERT_FATAL(it_write_file(it_path("a.ini"), it_printf("[superd]\nplugin_dir = %s\n"
        "workers = 1\n[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n%s",
        it_plugin_dir, pa, body)) == 0);
    CU_ASSERT_FATAL(it_write_file(it_path("b.ini"), it_printf("[superd]\nplugin_dir = %s\n"
        "workers = 1\n[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n%s",
        it_plugin_dir, pb, body)) == 0);
    CU_ASSERT_FATAL(it_start(a, it_path("a.ini")) == 0);
    CU_ASSERT_FATAL(it_start(b, it_path("b.ini")) == 0);
    CU_ASSERT_FATAL(it_write_file(cfg, it_printf(
        "global\n  maxconn 100\ndefaults\n  mode tcp\n  timeout connect 2s\n"
        "  timeout client 10s\n  timeout server 10s\nfrontend fe\n  bind 127.0.0.1:%d\n"
        "  default_backend be\nbackend be\n  balance roundrobin\n"
        "  server a 127.0.0.1:%d send-proxy-v2\n  server b 127.0.0.1:%d send-proxy-v2\n",
        ph, pa, pb)) == 0);
    pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        setenv("LD_LIBRARY_PATH", it_printf("%s/usr/lib/x86_64-linux-gnu:%s/usr/lib", root, root),
               1);
        execl(haproxy, haproxy, "-db", "-f", cfg, (char *)NULL);
        _exit(127);
    }
    /* haproxy is up once its port takes connections. */
    deadline = it_now_ms() + IT_START_MS;
    while (!up && it_left_ms(deadline)) {
        int fd = connect_from("127.0.0.2", ph);
        up = fd >= 0;
        if (fd >= 0)
            it_close(fd);
        else
            it_sleep_ms(50);
    }
    CU_ASSERT_FATAL(up || (kill(pid, SIGKILL), waitpid(pid, NULL, 0), 0));
    for (int i = 0; i < 4; i++) {
        int fd = connect_from("127.0.0.2", ph);
        CU_ASSERT(fd >= 0 && it_echo_stream(fd, 100, "from 127.0.0.2 through haproxy"));
        if (fd >= 0)
            it_close(fd);
    }
    {
        int fd = connect_from("127.0.0.3", ph);
        uint8_t buf[8];
        struct it_xfer x;
        it_xfer(fd, (const uint8_t *)"hello\n", 6, 0, NULL, 0, buf, sizeof(buf), 0, 1,
                IT_OP_MS, &x);
        CU_ASSERT(x.rcvd == 0);
        it_close(fd);
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    CU_ASSERT(log_has(a, "[echo] 127.0.0.2:"));
    CU_ASSERT(log_has(b, "[echo] 127.0.0.2:"));
    CU_ASSERT(strstr(it_stderr(a), "refused 127.0.0.3:") || strstr(it_stderr(b), "refused 127.0.0.3:"));
    CU_ASSERT(it_stop(a, SIGTERM) == 0);
    CU_ASSERT(it_stop(b, SIGTERM) == 0);
}

/* only_uid holds behind a PROXY header on a unix listener: the carried
 * address is IP, but the credentials are the socket's own; and without
 * trusted_proxies the start says loopback is trusted. */
static void test_proxy_unix_only_uid(void)
{
    char *sock = it_path("p.sock");
    struct it_daemon *d = it_alloc(sizeof(*d));
    const char *h = "PROXY TCP4 192.0.2.9 127.0.0.1 1111 2222\r\n";
    uint8_t buf[8];
    struct it_xfer x;
    int fd;

    CU_ASSERT_FATAL(it_start(d, it_conf_global("workers = 1\n", it_printf(
        "[echo]\nplugin = echo\nlisten = unix:%s\nproxy_protocol = yes\nonly_uid = 4242\n",
        sock))) == 0);
    fd = it_unix_connect(sock);     /* we are uid 0, not 4242 */
    CU_ASSERT_FATAL(fd >= 0);
    it_xfer(fd, (const uint8_t *)h, strlen(h), 0, NULL, 0, buf, sizeof(buf), 0, 1, IT_OP_MS, &x);
    CU_ASSERT(x.rcvd == 0 && !x.timeout);
    it_close(fd);
    CU_ASSERT(log_has(d, ": only_uid: uid 0 not allowed"));
    CU_ASSERT(strstr(it_stderr(d), "[echo] proxy_protocol: no trusted_proxies: loopback is "
                                   "trusted") != NULL);
    CU_ASSERT(it_stop(d, SIGTERM) == 0);
}

static const struct it_test proxy_tests[] = {
    { "proxy: v1 TCP4, TCP6, UNKNOWN: the carried peer", test_proxy_v1 },
    { "proxy: v2 PROXY with a TLV, and LOCAL", test_proxy_v2 },
    { "proxy: a header one byte at a time, the stream intact", test_proxy_split },
    { "proxy: v2 over IPv6 and on a unix listener; max_per_source on the carried client",
      test_proxy_v2_ipv6_unix_per_source },
    { "proxy: garbage, long line, bad length, silence, untrusted: closed",
      test_proxy_refusals },
    { "proxy: only_from acts on the carried address", test_proxy_admission },
    { "proxy: two instances behind haproxy send-proxy-v2", test_haproxy_send_proxy_v2 },
    { "proxy: only_uid holds behind a header on a unix listener", test_proxy_unix_only_uid },
};

IT_REGISTER(proxy_tests)
