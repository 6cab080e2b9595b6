/*
 * integration_proxyaddrs.c - superd_conn_addr behind proxy_protocol = yes,
 * on the real binary with the test plugin addrs (tests/plugins/addrs.c):
 * SUPERD_ADDR_PEER is the client the header carries and SUPERD_ADDR_LOCAL
 * the destination it carries (what a program gets as TCPLOCALIP/PORT), for
 * v1 TCP4 and TCP6 and v2 IPv4 (with a TLV) and IPv6, on a TCP and a unix
 * listener; v2 LOCAL and v1 UNKNOWN keep the socket's real endpoints.
 *
 * Linked into build/tests/integration (IT_REGISTER); IT_ONLY=proxyaddrs
 * runs these.  The test is the balancer: it writes the header itself.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static const uint8_t v2sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                   0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

/* superd with [a] running the addrs plugin behind PROXY on `listen`. */
static struct it_daemon *serve_addrs(const char *listen)
{
    struct it_daemon *d = it_alloc(sizeof *d);
    const char *conf = it_conf_global("workers = 1\n",
        it_printf("[a]\nplugin = %s/../tests/plugins/addrs.so\nlisten = %s\n"
                  "proxy_protocol = yes\ntrusted_proxies = 127.0.0.1 ::1\n",
                  it_plugin_dir, listen));
    CU_ASSERT_FATAL(it_start(d, conf) == 0);
    return d;
}

/* Send `hdr` on fd and return what the plugin wrote, to its close. */
static char *report_after(int fd, const void *hdr, size_t hlen)
{
    static uint8_t buf[4096];
    struct it_xfer x;
    CU_ASSERT_FATAL(fd >= 0);
    memset(buf, 0, sizeof buf);
    it_xfer(fd, hdr, hlen, 0, NULL, 0, buf, sizeof buf - 1, 0, 1, IT_OP_MS, &x);
    CU_ASSERT(x.eof);
    it_close(fd);
    return it_printf("%s", (char *)buf);
}

static int has_line(const char *text, const char *line)
{
    int n = it_count_line(text, line);
    if (n != 1)
        printf("\n    expected the line \"%s\" once; got:\n%s\n", line, text);
    return n == 1;
}

/* A v2 PROXY header for TCP: IPv4 (fam 1, 12 address bytes) or IPv6
 * (fam 2, 36), then a NOOP TLV.  Returns its length. */
static size_t v2_header(uint8_t *out, int fam, const uint8_t *addrs, size_t alen)
{
    static const uint8_t tlv[6] = { 0x04, 0x00, 0x03, 'a', 'b', 'c' };
    memcpy(out, v2sig, 12);
    out[12] = 0x21;                         /* v2, PROXY */
    out[13] = (uint8_t)(fam << 4 | 1);      /* AF, STREAM */
    out[14] = 0;
    out[15] = (uint8_t)(alen + sizeof tlv);
    memcpy(out + 16, addrs, alen);
    memcpy(out + 16 + alen, tlv, sizeof tlv);
    return 16 + alen + sizeof tlv;
}

static void test_proxyaddrs_tcp(void)
{
    int port = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(port > 0);
    struct it_daemon *d = serve_addrs(it_printf("tcp://127.0.0.1:%d", port));
    char *r;

    static const char v1[] = "PROXY TCP4 192.0.2.10 198.51.100.20 40000 8080\r\n";
    r = report_after(it_tcp_connect(AF_INET, port), v1, sizeof v1 - 1);
    CU_ASSERT(has_line(r, "peer inet 192.0.2.10 40000"));
    CU_ASSERT(has_line(r, "local inet 198.51.100.20 8080"));
    CU_ASSERT(has_line(r, "text 192.0.2.10:40000"));

    static const char v1six[] = "PROXY TCP6 2001:db8::7 2001:db8::1 1234 443\r\n";
    r = report_after(it_tcp_connect(AF_INET, port), v1six, sizeof v1six - 1);
    CU_ASSERT(has_line(r, "peer inet6 2001:db8::7 1234"));
    CU_ASSERT(has_line(r, "local inet6 2001:db8::1 443"));

    uint8_t hdr[128];
    static const uint8_t a4[12] = { 203, 0, 113, 5, 198, 51, 100, 1,
                                    0xc3, 0x50, 0x00, 0x19 };  /* 50000, 25 */
    r = report_after(it_tcp_connect(AF_INET, port), hdr, v2_header(hdr, 1, a4, sizeof a4));
    CU_ASSERT(has_line(r, "peer inet 203.0.113.5 50000"));
    CU_ASSERT(has_line(r, "local inet 198.51.100.1 25"));

    uint8_t a6[36];
    inet_pton(AF_INET6, "2001:db8::55", a6);
    inet_pton(AF_INET6, "2001:db8::99", a6 + 16);
    a6[32] = 0x1f, a6[33] = 0x90;   /* 8080 */
    a6[34] = 0x00, a6[35] = 0x50;   /* 80 */
    r = report_after(it_tcp_connect(AF_INET, port), hdr, v2_header(hdr, 2, a6, sizeof a6));
    CU_ASSERT(has_line(r, "peer inet6 2001:db8::55 8080"));
    CU_ASSERT(has_line(r, "local inet6 2001:db8::99 80"));

    /* LOCAL (a balancer's health check) and v1 UNKNOWN: the socket's own
     * endpoints, this end being superd's listener. */
    uint8_t local[16];
    memcpy(local, v2sig, 12);
    local[12] = 0x20;
    local[13] = 0x00;
    local[14] = local[15] = 0;
    r = report_after(it_tcp_connect(AF_INET, port), local, sizeof local);
    CU_ASSERT(it_count_prefix(r, "peer inet 127.0.0.1 ") == 1);
    CU_ASSERT(has_line(r, it_printf("local inet 127.0.0.1 %d", port)));
    static const char unknown[] = "PROXY UNKNOWN\r\n";
    r = report_after(it_tcp_connect(AF_INET, port), unknown, sizeof unknown - 1);
    CU_ASSERT(it_count_prefix(r, "peer inet 127.0.0.1 ") == 1);
    CU_ASSERT(has_line(r, it_printf("local inet 127.0.0.1 %d", port)));
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

/* A balancer on the same host through a unix socket: the carried TCP
 * endpoints on both sides; LOCAL keeps the unix socket's path. */
static void test_proxyaddrs_unix(void)
{
    char *sock = it_path("px.sock");
    struct it_daemon *d = serve_addrs(it_printf("unix:%s", sock));
    static const char v1[] = "PROXY TCP4 192.0.2.33 192.0.2.1 5555 80\r\n";
    char *r = report_after(it_unix_connect(sock), v1, sizeof v1 - 1);
    CU_ASSERT(has_line(r, "peer inet 192.0.2.33 5555"));
    CU_ASSERT(has_line(r, "local inet 192.0.2.1 80"));
    uint8_t local[16];
    memcpy(local, v2sig, 12);
    local[12] = 0x20;
    local[13] = 0x00;
    local[14] = local[15] = 0;
    r = report_after(it_unix_connect(sock), local, sizeof local);
    CU_ASSERT(has_line(r, it_printf("local unix %s", sock)));
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

static const struct it_test proxyaddrs_tests[] = {
    { "proxyaddrs: superd_conn_addr behind PROXY v1, v2, LOCAL, UNKNOWN (tcp)",
      test_proxyaddrs_tcp },
    { "proxyaddrs: superd_conn_addr behind PROXY on a unix listener", test_proxyaddrs_unix },
};

IT_REGISTER(proxyaddrs_tests)
