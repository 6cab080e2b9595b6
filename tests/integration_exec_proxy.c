/*
 * integration_exec_proxy.c - a program behind proxy_protocol = yes, on the
 * real binary with tests/programs/xprog.c: the addresses a PROXY header
 * carries are the ones its environment names (UCSPI, systemd, xinetd),
 * for v1 and v2, IPv4 and IPv6, on TCP and unix listeners; v2 LOCAL keeps
 * the real endpoints; behind TLS too; wait = yes with proxy_protocol is
 * refused at load;
 * a datagram is served as without it (headers come on streams only).
 *
 * Linked into build/tests/integration (IT_REGISTER); IT_ONLY=exec-proxy
 * runs these.  The test is the balancer: it writes the header itself.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/ssl.h>

/* superd with [x] running `xprog env` behind PROXY on `listen`. */
static void start_env(struct it_daemon *d, const char *listen)
{
    const char *conf = it_conf_global("workers = 1\nshutdown_timeout = 1s\n",
        it_printf("[x]\nprogram = %s\nargs = env\nlisten = %s\nproxy_protocol = yes\n"
                  "trusted_proxies = 127.0.0.1 ::1\n", it_xprog(), listen));
    CU_ASSERT_FATAL(it_start(d, conf) == 0);
}

/* Send `hdr` on `fd` and return what the program printed (to EOF). */
static char *env_after(int fd, const void *hdr, size_t hlen)
{
    static uint8_t buf[16384];
    struct it_xfer x;
    CU_ASSERT_FATAL(fd >= 0);
    it_xfer(fd, hdr, hlen, 1, NULL, 0, buf, sizeof buf - 1, 0, 1, IT_OP_MS, &x);
    CU_ASSERT(x.eof);
    buf[x.rcvd < sizeof buf - 1 ? x.rcvd : sizeof buf - 1] = '\0';
    it_close(fd);
    return it_printf("%s", (char *)buf);
}

/* The client's and the destination's variables, in every dialect. */
static void assert_env(const char *env, const char *rip, const char *rport, const char *lip,
                       const char *lport)
{
    CU_ASSERT(it_count_line(env, "PROTO=TCP") == 1);
    CU_ASSERT(it_count_line(env, it_printf("TCPREMOTEIP=%s", rip)) == 1);
    CU_ASSERT(it_count_line(env, it_printf("TCPREMOTEPORT=%s", rport)) == 1);
    CU_ASSERT(it_count_line(env, it_printf("TCPLOCALIP=%s", lip)) == 1);
    CU_ASSERT(it_count_line(env, it_printf("TCPLOCALPORT=%s", lport)) == 1);
    CU_ASSERT(it_count_line(env, it_printf("REMOTE_ADDR=%s", rip)) == 1);
    CU_ASSERT(it_count_line(env, it_printf("REMOTE_PORT=%s", rport)) == 1);
    CU_ASSERT(it_count_line(env, it_printf("REMOTE_HOST=%s", rip)) == 1);
    CU_ASSERT(it_count_prefix(env, "IPC") == 0);
}

static const uint8_t v2sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                   0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

static void test_exec_proxy_v1(void)
{
    struct it_daemon d;
    int port = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(port > 0);
    start_env(&d, it_printf("tcp://127.0.0.1:%d", port));
    static const char v1[] = "PROXY TCP4 192.0.2.10 198.51.100.20 40000 8080\r\n";
    char *env = env_after(it_tcp_connect(AF_INET, port), v1, sizeof v1 - 1);
    assert_env(env, "192.0.2.10", "40000", "198.51.100.20", "8080");
    static const char v1six[] = "PROXY TCP6 2001:db8::7 2001:db8::1 1234 443\r\n";
    env = env_after(it_tcp_connect(AF_INET, port), v1six, sizeof v1six - 1);
    assert_env(env, "2001:db8::7", "1234", "2001:db8::1", "443");
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

static void test_exec_proxy_v2(void)
{
    struct it_daemon d;
    int port = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(port > 0);
    start_env(&d, it_printf("tcp://127.0.0.1:%d", port));
    /* PROXY, TCP over IPv4, 12 bytes of addresses and a NOOP TLV. */
    uint8_t v2[16 + 12 + 6];
    memcpy(v2, v2sig, 12);
    v2[12] = 0x21;
    v2[13] = 0x11;
    v2[14] = 0;
    v2[15] = 12 + 6;
    static const uint8_t addrs[12] = { 203, 0, 113, 5, 198, 51, 100, 1,
                                       0xc3, 0x50, 0x00, 0x19 };  /* 50000, 25 */
    memcpy(v2 + 16, addrs, 12);
    static const uint8_t tlv[6] = { 0x04, 0x00, 0x03, 'a', 'b', 'c' };
    memcpy(v2 + 28, tlv, 6);
    char *env = env_after(it_tcp_connect(AF_INET, port), v2, sizeof v2);
    assert_env(env, "203.0.113.5", "50000", "198.51.100.1", "25");
    /* LOCAL (a balancer's health check): the real endpoints. */
    uint8_t local[16];
    memcpy(local, v2sig, 12);
    local[12] = 0x20;
    local[13] = 0x00;
    local[14] = local[15] = 0;
    env = env_after(it_tcp_connect(AF_INET, port), local, sizeof local);
    CU_ASSERT(it_count_line(env, "TCPREMOTEIP=127.0.0.1") == 1);
    CU_ASSERT(it_count_line(env, "TCPLOCALIP=127.0.0.1") == 1);
    CU_ASSERT(it_count_line(env, it_printf("TCPLOCALPORT=%d", port)) == 1);
    CU_ASSERT(it_count_line(env, "REMOTE_HOST=127.0.0.1") == 1);
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

/* A balancer on the same host, through a unix socket: the carried TCP
 * client, not PROTO=IPC. */
static void test_exec_proxy_unix(void)
{
    struct it_daemon d;
    char *sock = it_path("px.sock");
    start_env(&d, it_printf("unix:%s", sock));
    static const char v1[] = "PROXY TCP4 192.0.2.33 192.0.2.1 5555 80\r\n";
    char *env = env_after(it_unix_connect(sock), v1, sizeof v1 - 1);
    assert_env(env, "192.0.2.33", "5555", "192.0.2.1", "80");
    CU_ASSERT(it_count_prefix(env, "IPCREMOTEEUID=") == 0);
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

static void test_exec_proxy_wait_refused(void)
{
    char *out, *err;
    const char *conf = it_conf(it_printf("[x]\nprogram = %s\nargs = env\nwait = yes\n"
                                         "listen = tcp://127.0.0.1:1\nproxy_protocol = yes\n",
                                         it_xprog()));
    const char *args[] = { "-t", "-c", conf, NULL };
    CU_ASSERT(it_exited(it_run(args, &out, &err), 1));
    CU_ASSERT(it_count_line(err, it_printf("superd: %s:7: [x] wait: a wait = yes program "
                                           "accepts on tcp 127.0.0.1:1 itself, so superd cannot "
                                           "read a PROXY header first (proxy_protocol = yes): "
                                           "use wait = no", conf)) == 1);
}

/* Datagrams carry no header: a program gets the real sender. */
static void test_exec_proxy_dgram(void)
{
    struct it_daemon d;
    int port = it_free_port(IT_UDP4);
    CU_ASSERT_FATAL(port > 0);
    start_env(&d, it_printf("udp://127.0.0.1:%d", port));
    int fd = it_udp_socket(AF_INET, 0);
    CU_ASSERT_FATAL(fd >= 0);
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_inet(AF_INET, port, &to);
    char reply[8192];
    ssize_t n = it_dgram_ask(fd, &to, tolen, "x", 1, reply, sizeof reply - 1, 3);
    CU_ASSERT_FATAL(n > 0);
    reply[n] = '\0';
    CU_ASSERT(it_count_line(reply, "PROTO=UDP") == 1);
    CU_ASSERT(it_count_line(reply, "UDPREMOTEIP=127.0.0.1") == 1);
    CU_ASSERT(it_count_line(reply, it_printf("UDPLOCALPORT=%d", port)) == 1);
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

/* PROXY, then TLS, then the program: the header's addresses still. */
static void test_exec_proxy_tls(void)
{
    char *certs = it_printf("%s/certs", it_dir);
    if (system(it_printf("sh tests/tls_certs.sh %s", certs)) != 0) {
        printf("\n    skipped: tests/tls_certs.sh failed (openssl installed?)\n");
        return;
    }
    struct it_daemon d;
    int port = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(port > 0);
    const char *conf = it_conf_global("workers = 1\nshutdown_timeout = 250ms\n",
        it_printf("[x]\nprogram = %s\nargs = env\nlisten = tls://127.0.0.1:%d\n"
                  "tls_cert = %s/a.pem\ntls_key = %s/a.key\nproxy_protocol = yes\n"
                  "trusted_proxies = 127.0.0.1\n", it_xprog(), port, certs, certs));
    CU_ASSERT_FATAL(it_start(&d, conf) == 0);
    int fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    /* A blocking client, each call bounded. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    struct timeval tv = { IT_OP_MS / 1000, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    static const char v1[] = "PROXY TCP4 192.0.2.44 198.51.100.9 6000 993\r\n";
    CU_ASSERT_FATAL(write(fd, v1, sizeof v1 - 1) == (ssize_t)(sizeof v1 - 1));
    SSL_CTX *x = SSL_CTX_new(TLS_client_method());
    SSL *ssl = SSL_new(x);
    SSL_set_fd(ssl, fd);
    int rc = SSL_connect(ssl);
    if (rc != 1)
        printf("\n    SSL_connect: %d, SSL error %d, errno %d; superd said:\n%s\n", rc,
               SSL_get_error(ssl, rc), errno, it_stderr(&d));
    CU_ASSERT_FATAL(rc == 1);
    static char env[16384];
    size_t have = 0;
    int n;
    while (have < sizeof env - 1 && (n = SSL_read(ssl, env + have, (int)(sizeof env - 1 - have))) > 0)
        have += (size_t)n;
    env[have] = '\0';
    assert_env(env, "192.0.2.44", "6000", "198.51.100.9", "993");
    CU_ASSERT(strstr(env, "SSL_PROTOCOL=") != NULL);
    SSL_free(ssl);
    SSL_CTX_free(x);
    it_close(fd);
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

static const struct it_test exec_proxy_tests[] = {
    { "exec-proxy: behind TLS, the header's addresses", test_exec_proxy_tls },
    { "exec-proxy: v1 TCP4 and TCP6 addresses in the environment", test_exec_proxy_v1 },
    { "exec-proxy: v2 PROXY with a TLV, and LOCAL's real endpoints", test_exec_proxy_v2 },
    { "exec-proxy: a unix listener behind a local balancer", test_exec_proxy_unix },
    { "exec-proxy: wait = yes with proxy_protocol refused at load", test_exec_proxy_wait_refused },
    { "exec-proxy: a datagram program gets the real sender", test_exec_proxy_dgram },
};
IT_REGISTER(exec_proxy_tests)
