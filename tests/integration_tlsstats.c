/*
 * integration_tlsstats.c - TLS handshakes in the metrics (docs/metrics.md),
 * on the real binary: a plugin service and a program behind TLS each take
 * N good handshakes and M failed ones (garbage before any ClientHello, a
 * client that offers TLS 1.1 only, a handshake that stalls past
 * tls_handshake_timeout), and the endpoint says exactly N handshakes, M
 * failures and M refusals of reason tls, per service and per listener;
 * `superd status` counts the M in its REFUSED column.
 *
 * Certificates are made by tests/tls_certs.sh in the test's private
 * directory.  Linked into build/tests/integration (IT_REGISTER);
 * IT_ONLY=tlsstats runs these.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define GOOD 2      /* N: handshakes that succeed, per service */
#define BAD 3       /* M: handshakes that fail, per service */

static char *cert(const char *name)
{
    return it_printf("%s/certs/%s", it_dir, name);
}

static char *xprog(void)
{
    return it_printf("%s/../tests/programs/xprog", it_plugin_dir);
}

/* A TLS connection to port: handshake, "ping" echoed back, close_notify.
 * `max` limits the client's versions (0: any).  1 when the echo came back;
 * 0 when the handshake or the echo failed (the socket is closed either
 * way, and the server is done with it once this returns 0 or 1). */
static int tls_ping(SSL_CTX *x, int port)
{
    int fd = it_tcp_connect(AF_INET, port);
    SSL *s = fd >= 0 ? SSL_new(x) : NULL;
    int ok = 0;
    int64_t deadline = it_now_ms() + IT_OP_MS;
    if (!s)
        goto out;
    SSL_set_fd(s, fd);
    enum { HANDSHAKE, WRITE, READ, DONE } step = HANDSHAKE;
    char buf[16];
    size_t got = 0;
    while (step != DONE && it_left_ms(deadline)) {
        int r;
        size_t n = 0;
        if (step == HANDSHAKE)
            r = SSL_connect(s);
        else if (step == WRITE)
            r = SSL_write_ex(s, "ping", 4, &n);
        else
            r = SSL_read_ex(s, buf + got, sizeof buf - got, &n);
        if (r == 1) {
            got += step == READ ? n : 0;
            if (step == HANDSHAKE)
                step = WRITE;
            else if (step == WRITE)
                step = READ;
            else if (got >= 4)
                step = DONE;
            continue;
        }
        int e = SSL_get_error(s, r);
        short ev = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
        struct pollfd p = { fd, ev, 0 };
        if (!ev || poll(&p, 1, it_left_ms(deadline)) <= 0)
            break;
    }
    ok = step == DONE && memcmp(buf, "ping", 4) == 0;
    if (ok)
        SSL_shutdown(s);
    ERR_clear_error();
out:
    SSL_free(s);
    if (fd >= 0) {
        if (!ok) {
            /* The server's close: it has counted the failure by then. */
            char junk[256];
            struct pollfd p = { fd, POLLIN, 0 };
            while (poll(&p, 1, it_left_ms(deadline)) > 0 && recv(fd, junk, sizeof junk, 0) > 0)
                ;
        }
        it_close(fd);
    }
    return ok;
}

/* Raw bytes (or none: a stalled handshake), then wait for the server to
 * close.  1 when it did within IT_OP_MS. */
static int raw_refused(int port, const char *bytes)
{
    int fd = it_tcp_connect(AF_INET, port);
    struct it_xfer x;
    if (fd < 0)
        return 0;
    it_xfer(fd, (const uint8_t *)bytes, strlen(bytes), 0, NULL, 0, NULL, 0, 0, 1, IT_OP_MS, &x);
    it_close(fd);
    return (x.eof || x.err) && !x.timeout;
}

/* GOOD echoes and BAD failures (garbage, TLS 1.1 only, a stall) on port. */
static void workload(int port)
{
    SSL_CTX *good = SSL_CTX_new(TLS_client_method());
    SSL_CTX *old = SSL_CTX_new(TLS_client_method());
    CU_ASSERT_FATAL(good && old);
    SSL_CTX_load_verify_locations(good, cert("ca.pem"), NULL);
    SSL_CTX_set_verify(good, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_security_level(old, 0);
    SSL_CTX_set_min_proto_version(old, TLS1_VERSION);
    SSL_CTX_set_max_proto_version(old, TLS1_1_VERSION);
    for (int i = 0; i < GOOD; i++)
        CU_ASSERT(tls_ping(good, port) == 1);
    CU_ASSERT(raw_refused(port, "GET / HTTP/1.0\r\n\r\n"));
    CU_ASSERT(tls_ping(old, port) == 0);
    CU_ASSERT(raw_refused(port, ""));   /* closed at tls_handshake_timeout */
    SSL_CTX_free(good);
    SSL_CTX_free(old);
}

static int has_line(const char *text, const char *line)
{
    int n = it_count_line(text, line);
    if (n != 1)
        printf("\n    expected the line \"%s\" once; got:\n%.4000s\n", line, text);
    return n == 1;
}

/* The figures of service `svc` on listener `lsn` after workload(). */
static void assert_counted(const char *text, const char *svc, const char *lsn)
{
    char *s = it_printf("service=\"%s\"", svc);
    char *l = it_printf("service=\"%s\",listener=\"%s\"", svc, lsn);
    CU_ASSERT(has_line(text, it_printf("superd_tls_handshakes_total{%s} %d", s, GOOD)));
    CU_ASSERT(has_line(text, it_printf("superd_tls_handshake_failures_total{%s} %d", s, BAD)));
    CU_ASSERT(has_line(text, it_printf("superd_connections_refused_total{%s,reason=\"tls\"} %d",
                                       s, BAD)));
    CU_ASSERT(has_line(text, it_printf("superd_connections_accepted_total{%s} %d", s,
                                       GOOD + BAD)));
    CU_ASSERT(has_line(text, it_printf("superd_listener_connections_refused_total{%s,"
                                       "reason=\"tls\"} %d", l, BAD)));
    CU_ASSERT(has_line(text, it_printf("superd_listener_connections_accepted_total{%s} %d", l,
                                       GOOD + BAD)));
    CU_ASSERT(has_line(text, it_printf("superd_connections_refused_total{%s,reason=\"other\"} 0",
                                       s)));
}

/* `superd status`'s REFUSED column of service svc. */
static long long status_refused(struct it_daemon *d, const char *svc)
{
    const char *args[] = { "status", "-c", d->conf, NULL };
    char *out, *err;
    unsigned long long v[3];
    CU_ASSERT(it_exited(it_run(args, &out, &err), 0));
    const char *row = strstr(out, it_printf("\n%s ", svc));
    if (!row || sscanf(row + 1 + strlen(svc), "%llu %llu %llu", &v[0], &v[1], &v[2]) != 3) {
        printf("\n    no row for %s in:\n%s", svc, out);
        return -1;
    }
    return (long long)v[2];
}

static void test_tlsstats_plugin_and_program(void)
{
    char *sock = it_path("metrics.sock");
    int pp = it_free_port(IT_TCP4), px = it_free_port(IT_TCP4);
    while (px == pp)
        px = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(pp > 0 && px > 0);
    CU_ASSERT_FATAL(system(it_printf("sh tests/tls_certs.sh %s/certs", it_dir)) == 0);
    char *lp = it_printf("tls://127.0.0.1:%d", pp), *lx = it_printf("tls://127.0.0.1:%d", px);
    char *keys = it_printf("tls_cert = %s\ntls_key = %s\ntls_handshake_timeout = 300ms\n",
                           cert("a.pem"), cert("a.key"));
    struct it_daemon *d = it_alloc(sizeof *d);
    CU_ASSERT_FATAL(it_start(d, it_conf_global(
        it_printf("workers = 2\nshutdown_timeout = 250ms\nmetrics_listen = unix:%s\n", sock),
        it_printf("[plug]\nplugin = echo\nlisten = %s\n%s"
                  "[prog]\nprogram = %s\nargs = echo\nlisten = %s\n%s",
                  lp, keys, xprog(), lx, keys))) == 0);
    workload(pp);
    workload(px);
    /* Every connection is over (closed by the server, or a program that
     * saw its EOF): its counters are final. */
    char *text = NULL;
    int64_t deadline = it_now_ms() + IT_OP_MS;
    do {
        text = it_scrape(sock);
        if (it_count_line(text, "superd_connections_active{service=\"plug\"} 0") == 1 &&
            it_count_line(text, "superd_connections_active{service=\"prog\"} 0") == 1)
            break;
        it_sleep_ms(20);
    } while (it_left_ms(deadline));
    assert_counted(text, "plug", lp);
    assert_counted(text, "prog", lx);
    CU_ASSERT_EQUAL(status_refused(d, "plug"), BAD);
    CU_ASSERT_EQUAL(status_refused(d, "prog"), BAD);
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

static const struct it_test tlsstats_tests[] = {
    { "tlsstats: handshakes, failures and tls refusals counted, plugin and program",
      test_tlsstats_plugin_and_program },
};

IT_REGISTER(tlsstats_tests)
