/*
 * integration_tls.c - TLS listeners on the real binary (docs/tls.md): an
 * OpenSSL client in this process, plus `openssl s_client` and Python's ssl
 * module where installed.  Certificates are made for each test by
 * tests/tls_certs.sh in the test's private directory (never committed).
 *
 * Covered: TLS 1.2 and 1.3 echo; SNI picking the certificate; ALPN; what
 * superd_conn_tls tells a plugin (test plugin tlsinfo); client
 * certificates required / missing / from another CA; resumption across two
 * workers; close_notify both ways and half-close; a 4 MiB echo with every
 * byte checked; a reload with a renewed certificate while a client stays
 * connected, and a bad one refused with its line; hostile clients (garbage,
 * a stalled handshake, a 16 KiB ClientHello, renegotiation, handshakes
 * counted by max_per_source) with the log limited to a line a second.
 *
 * Linked into build/tests/integration (IT_ONLY=tls runs these alone).
 */
#include "integration_util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define LOG_MS 5000

/* The certificates of this test: it_dir/certs/NAME. */
static char *cert(const char *name)
{
    return it_printf("%s/certs/%s", it_dir, name);
}

static int make_certs(void)
{
    char *cmd = it_printf("sh tests/tls_certs.sh %s/certs", it_dir);
    if (system(cmd) != 0) {
        printf("\n    %s failed (openssl installed?)\n", cmd);
        return -1;
    }
    return 0;
}

static char *test_plugin(const char *name)
{
    return it_printf("%s/../tests/plugins/%s.so", it_plugin_dir, name);
}

/* Start superd with [superd] `global` and one service [s] on a tls://
 * listener (port *port) with `keys` after the listen line. */
static struct it_daemon *serve_tls(const char *global, const char *plugin, const char *keys,
                                   int *port)
{
    struct it_daemon *d = it_alloc(sizeof *d);
    CU_ASSERT_FATAL(make_certs() == 0);
    *port = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(*port > 0);
    char *body = it_printf("[s]\nplugin = %s\nlisten = tls://127.0.0.1:%d\n"
                           "tls_cert = %s\ntls_key = %s\n%s", plugin, *port, cert("a.pem"),
                           cert("a.key"), keys);
    int ok = it_start(d, it_conf_global(it_printf("shutdown_timeout = 250ms\n%s", global),
                                        body)) == 0;
    CU_ASSERT_FATAL(ok);
    return d;
}

/* ---- an OpenSSL client on a non-blocking socket, every wait bounded ---- */

struct cli {
    int fd;
    SSL *ssl;
};

static SSL_CTX *client_ctx(int max_version, const char *crt, const char *key)
{
    SSL_CTX *x = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(x, cert("ca.pem"), NULL);
    SSL_CTX_set_verify(x, SSL_VERIFY_PEER, NULL);
    if (max_version)
        SSL_CTX_set_max_proto_version(x, max_version);
    if (crt) {
        SSL_CTX_use_certificate_file(x, crt, SSL_FILETYPE_PEM);
        SSL_CTX_use_PrivateKey_file(x, key, SSL_FILETYPE_PEM);
    }
    return x;
}

/* Wait until fd is ready for what the last SSL call wanted; 0 on time-out. */
static int wait_for(struct cli *c, int r, int64_t deadline)
{
    int e = SSL_get_error(c->ssl, r);
    short ev = e == SSL_ERROR_WANT_WRITE ? POLLOUT : e == SSL_ERROR_WANT_READ ? POLLIN : 0;
    if (!ev)
        return -1;
    struct pollfd p = { c->fd, ev, 0 };
    return poll(&p, 1, it_left_ms(deadline)) > 0 ? 1 : 0;
}

/* Connect and handshake: 1 done, else 0 (and c->ssl is still set for
 * inspection; freed at teardown through cli_free by the caller). */
static int cli_open(struct cli *c, SSL_CTX *x, int port, const char *sni, const char *alpn,
                    SSL_SESSION *sess)
{
    c->fd = it_tcp_connect(AF_INET, port);
    c->ssl = SSL_new(x);
    if (c->fd < 0 || !c->ssl)
        return 0;
    SSL_set_fd(c->ssl, c->fd);
    if (sni)
        SSL_set_tlsext_host_name(c->ssl, sni);
    if (alpn) {
        unsigned char wire[64];
        size_t n = strlen(alpn);
        wire[0] = (unsigned char)n;
        memcpy(wire + 1, alpn, n);
        SSL_set_alpn_protos(c->ssl, wire, (unsigned)n + 1);
    }
    if (sess)
        SSL_set_session(c->ssl, sess);
    int64_t deadline = it_now_ms() + IT_OP_MS;
    for (;;) {
        int r = SSL_connect(c->ssl);
        if (r == 1)
            return 1;
        if (wait_for(c, r, deadline) <= 0)
            return 0;
    }
}

static void cli_free(struct cli *c)
{
    SSL_free(c->ssl);
    c->ssl = NULL;
    if (c->fd >= 0)
        it_close(c->fd);
    c->fd = -1;
}

/* Read up to cap bytes, at least `want` (or until close/error/time-out);
 * returns the count, the last SSL_get_error in *err. */
static size_t cli_read(struct cli *c, char *buf, size_t cap, size_t want, int *err)
{
    size_t got = 0;
    int64_t deadline = it_now_ms() + IT_OP_MS;
    *err = SSL_ERROR_NONE;
    while (got < want) {
        size_t n = 0;
        int r = SSL_read_ex(c->ssl, buf + got, cap - got, &n);
        if (r == 1) {
            got += n;
            continue;
        }
        *err = SSL_get_error(c->ssl, r);
        if (*err != SSL_ERROR_WANT_READ || wait_for(c, r, deadline) <= 0)
            break;
        *err = SSL_ERROR_NONE;
    }
    ERR_clear_error();
    return got;
}

static int cli_write(struct cli *c, const void *buf, size_t len)
{
    int64_t deadline = it_now_ms() + IT_OP_MS;
    size_t done = 0;
    while (done < len) {
        size_t n = 0;
        int r = SSL_write_ex(c->ssl, (const char *)buf + done, len - done, &n);
        if (r == 1)
            done += n;
        else if (wait_for(c, r, deadline) <= 0)
            return -1;
    }
    return 0;
}

/* The first line the server sends (tlsinfo's), into a tracked string. */
static char *cli_line(struct cli *c)
{
    char buf[1024];
    size_t got = 0;
    int err;
    while (got < sizeof buf - 1 && !memchr(buf, '\n', got)) {
        size_t n = cli_read(c, buf + got, sizeof buf - 1 - got, 1, &err);
        if (n == 0)
            break;
        got += n;
    }
    buf[got] = '\0';
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = '\0';
    return it_printf("%s", buf);
}

/* An echo of len pattern bytes, reading while writing; 1 when every byte
 * came back in order. */
static int cli_echo(struct cli *c, size_t len)
{
    size_t sent = 0, rcvd = 0;
    static char in[64 * 1024];
    int64_t deadline = it_now_ms() + IT_TEST_MS;
    while (rcvd < len && it_left_ms(deadline)) {
        int progress = 0;
        if (sent < len) {
            size_t n = 0, chunk = len - sent > 16384 ? 16384 : len - sent;
            if (SSL_write_ex(c->ssl, it_pattern + sent, chunk, &n) == 1) {
                sent += n;
                progress = 1;
            }
            ERR_clear_error();
        }
        size_t n = 0;
        if (SSL_read_ex(c->ssl, in, sizeof in, &n) == 1) {
            if (memcmp(in, it_pattern + rcvd, n) != 0) {
                printf("\n    echo: a wrong byte near offset %zu\n", rcvd);
                return 0;
            }
            rcvd += n;
            progress = 1;
        } else if (SSL_get_error(c->ssl, 0) == SSL_ERROR_ZERO_RETURN) {
            break;
        }
        ERR_clear_error();
        if (!progress) {
            struct pollfd p = { c->fd, (short)(POLLIN | (sent < len ? POLLOUT : 0)), 0 };
            poll(&p, 1, 50);
        }
    }
    if (rcvd != len)
        printf("\n    echo: %zu of %zu bytes back\n", rcvd, len);
    return rcvd == len;
}

/* The subject CN of the server's certificate. */
static char *peer_cn(struct cli *c)
{
    char cn[128] = "";
    X509 *x = SSL_get0_peer_certificate(c->ssl);
    if (x)
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
    return it_printf("%s", cn);
}

/* True when the connection is closed by the server within IT_OP_MS (a
 * TLS alert or a bare close), reading raw bytes. */
static int raw_closed(int fd)
{
    char buf[4096];
    int64_t deadline = it_now_ms() + IT_OP_MS;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return 1;
        if (n < 0 && errno != EAGAIN)
            return 1;
        if (n < 0) {
            struct pollfd p = { fd, POLLIN, 0 };
            if (poll(&p, 1, it_left_ms(deadline)) <= 0)
                return 0;
        }
    }
}

static int log_count(struct it_daemon *d, const char *needle)
{
    const char *e = it_stderr(d);
    int n = 0;
    for (const char *p = e; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static int wait_log(struct it_daemon *d, const char *needle, int count)
{
    int64_t deadline = it_now_ms() + LOG_MS;
    while (log_count(d, needle) < count && it_left_ms(deadline))
        it_sleep_ms(20);
    return log_count(d, needle) >= count;
}

/* ---- the tests ---- */

static void test_tls_versions_echo(void)
{
    int port;
    struct it_daemon *d = serve_tls("", "echo", "", &port);
    static const int versions[] = { TLS1_2_VERSION, TLS1_3_VERSION };
    static const char *const names[] = { "TLSv1.2", "TLSv1.3" };
    for (int i = 0; i < 2; i++) {
        SSL_CTX *x = client_ctx(versions[i], NULL, NULL);
        struct cli c;
        CU_ASSERT_FATAL(cli_open(&c, x, port, "a.test", NULL, NULL) == 1);
        CU_ASSERT_STRING_EQUAL(SSL_get_version(c.ssl), names[i]);
        CU_ASSERT(cli_echo(&c, 1000));
        cli_free(&c);
        SSL_CTX_free(x);
    }
    /* TLS 1.1 is refused. */
    SSL_CTX *x = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_security_level(x, 0);
    SSL_CTX_set_min_proto_version(x, TLS1_VERSION);
    SSL_CTX_set_max_proto_version(x, TLS1_1_VERSION);
    struct cli c;
    CU_ASSERT(cli_open(&c, x, port, NULL, NULL, NULL) == 0);
    cli_free(&c);
    SSL_CTX_free(x);
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

static void test_tls_sni_alpn_facts(void)
{
    int port;
    struct it_daemon *d = serve_tls("", test_plugin("tlsinfo"),
                                    it_printf("tls_cert = %s\ntls_key = %s\n"
                                              "tls_alpn = h2 http/1.1\n",
                                              cert("b.pem"), cert("b.key")), &port);
    SSL_CTX *x = client_ctx(0, NULL, NULL);
    struct cli c;
    CU_ASSERT_FATAL(cli_open(&c, x, port, "b.test", "http/1.1", NULL) == 1);
    CU_ASSERT_STRING_EQUAL(peer_cn(&c), "b.test");
    char *line = cli_line(&c);
    CU_ASSERT_PTR_NOT_NULL(strstr(line, " version=TLSv1.3 cipher=TLS_"));
    CU_ASSERT_PTR_NOT_NULL(strstr(line, " sni=b.test alpn=http/1.1 resumed=0 subject=- issuer=-"));
    cli_free(&c);
    CU_ASSERT_FATAL(cli_open(&c, x, port, "x.wild.test", NULL, NULL) == 1);
    CU_ASSERT_STRING_EQUAL(peer_cn(&c), "b.test");
    cli_free(&c);
    CU_ASSERT_FATAL(cli_open(&c, x, port, "a.test", NULL, NULL) == 1);
    CU_ASSERT_STRING_EQUAL(peer_cn(&c), "a.test");
    CU_ASSERT_PTR_NOT_NULL(strstr(cli_line(&c), " sni=a.test alpn=- "));
    cli_free(&c);
    /* No SNI: the first certificate. */
    CU_ASSERT_FATAL(cli_open(&c, x, port, NULL, NULL, NULL) == 1);
    CU_ASSERT_STRING_EQUAL(peer_cn(&c), "a.test");
    cli_free(&c);
    /* ALPN with nothing in common: refused. */
    CU_ASSERT(cli_open(&c, x, port, "a.test", "ftp", NULL) == 0);
    cli_free(&c);
    SSL_CTX_free(x);
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

static void test_tls_client_certs(void)
{
    int port;
    struct it_daemon *d = serve_tls("", test_plugin("tlsinfo"),
                                    it_printf("tls_ca = %s\ntls_verify_client = require\n",
                                              cert("ca.pem")), &port);
    int err;
    char buf[64];
    /* Missing: TLS 1.3 tells the client after the handshake: no byte. */
    SSL_CTX *x = client_ctx(0, NULL, NULL);
    struct cli c;
    if (cli_open(&c, x, port, NULL, NULL, NULL) == 1)
        CU_ASSERT_EQUAL(cli_read(&c, buf, sizeof buf, 1, &err), 0);
    cli_free(&c);
    SSL_CTX_free(x);
    /* From another CA. */
    x = client_ctx(0, cert("rogue.pem"), cert("rogue.key"));
    if (cli_open(&c, x, port, NULL, NULL, NULL) == 1)
        CU_ASSERT_EQUAL(cli_read(&c, buf, sizeof buf, 1, &err), 0);
    cli_free(&c);
    SSL_CTX_free(x);
    CU_ASSERT(wait_log(d, "TLS handshake failed", 1));
    /* Ours: served, and the plugin is told who. */
    x = client_ctx(TLS1_2_VERSION, cert("client.pem"), cert("client.key"));
    CU_ASSERT_FATAL(cli_open(&c, x, port, NULL, NULL, NULL) == 1);
    char *line = cli_line(&c);
    CU_ASSERT_PTR_NOT_NULL(strstr(line, "version=TLSv1.2 "));
    CU_ASSERT_PTR_NOT_NULL(strstr(line, " subject=O=superd-tests,CN=client issuer=CN=superd-test-ca"));
    CU_ASSERT(cli_echo(&c, 100));
    cli_free(&c);
    SSL_CTX_free(x);
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

static void test_tls_resume_across_workers(void)
{
    int port;
    struct it_daemon *d = serve_tls("workers = 2\n", test_plugin("tlsinfo"), "", &port);
    for (int version = TLS1_2_VERSION; version <= TLS1_3_VERSION; version++) {
        SSL_CTX *x = client_ctx(version, NULL, NULL);
        struct cli c;
        CU_ASSERT_FATAL(cli_open(&c, x, port, "a.test", NULL, NULL) == 1);
        char *first = cli_line(&c);     /* TLS 1.3: the ticket came before it */
        CU_ASSERT_PTR_NOT_NULL(strstr(first, " resumed=0 "));
        SSL_SESSION *s = SSL_get1_session(c.ssl);
        SSL_shutdown(c.ssl);
        cli_free(&c);
        char pids[2][32] = { "", "" };
        int resumed = 0, tries = 0;
        /* Until both workers have resumed it (or 40 tries). */
        while (tries++ < 40 && !(pids[0][0] && pids[1][0])) {
            CU_ASSERT_FATAL(cli_open(&c, x, port, "a.test", NULL, s) == 1);
            char *line = cli_line(&c);
            resumed += SSL_session_reused(c.ssl) && strstr(line, " resumed=1 ") != NULL;
            char pid[32] = "";
            sscanf(line, "pid=%31s", pid);
            if (!pids[0][0])
                snprintf(pids[0], sizeof pids[0], "%s", pid);
            else if (strcmp(pid, pids[0]) != 0)
                snprintf(pids[1], sizeof pids[1], "%s", pid);
            SSL_shutdown(c.ssl);
            cli_free(&c);
        }
        CU_ASSERT_EQUAL(resumed, tries - 1);
        if (!pids[1][0])
            printf("\n    note: every connection went to worker %s\n", pids[0]);
        SSL_SESSION_free(s);
        SSL_CTX_free(x);
    }
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

/* A reload that turns tls_verify_client = require on: a session made
 * before it (no client certificate) does not resume; the client gets a
 * full handshake, refused, and the plugin never sees it. */
static void test_tls_reload_require_no_resume(void)
{
    int port;
    char *ca = it_printf("tls_ca = %s\n", cert("ca.pem"));
    struct it_daemon *d = serve_tls("", test_plugin("tlsinfo"), ca, &port);
    SSL_SESSION *s[2];
    SSL_CTX *x[2];
    for (int i = 0; i < 2; i++) {
        x[i] = client_ctx(TLS1_2_VERSION + i, NULL, NULL);
        struct cli c;
        CU_ASSERT_FATAL(cli_open(&c, x[i], port, NULL, NULL, NULL) == 1);
        CU_ASSERT_PTR_NOT_NULL(strstr(cli_line(&c), " resumed=0 "));
        s[i] = SSL_get1_session(c.ssl);
        SSL_shutdown(c.ssl);
        cli_free(&c);
        /* Before the reload it resumes. */
        CU_ASSERT_FATAL(cli_open(&c, x[i], port, NULL, NULL, s[i]) == 1);
        CU_ASSERT_PTR_NOT_NULL(strstr(cli_line(&c), " resumed=1 "));
        SSL_shutdown(c.ssl);
        cli_free(&c);
    }
    char *text = it_read_file(d->conf), *at = strstr(text, ca);
    CU_ASSERT_FATAL(at != NULL);
    char *next = it_printf("%.*s%stls_verify_client = require\n%s", (int)(at - text), text, ca,
                           at + strlen(ca));
    CU_ASSERT_FATAL(it_write_file(d->conf, next) == 0);
    kill(d->pid, SIGHUP);
    CU_ASSERT_FATAL(wait_log(d, "superd: reload done:", 1));
    for (int i = 0; i < 2; i++) {
        struct cli c;
        int err;
        char buf[256];
        if (cli_open(&c, x[i], port, NULL, NULL, s[i]) == 1) {
            CU_ASSERT_FALSE(SSL_session_reused(c.ssl));
            CU_ASSERT_EQUAL(cli_read(&c, buf, sizeof buf, 1, &err), 0);
        }
        cli_free(&c);
        SSL_SESSION_free(s[i]);
        SSL_CTX_free(x[i]);
    }
    CU_ASSERT(wait_log(d, "peer did not return a certificate", 1));
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

static void test_tls_close_notify_half_close(void)
{
    int port;
    struct it_daemon *d = serve_tls("", "echo", "log_connections = yes\n", &port);
    SSL_CTX *x = client_ctx(0, NULL, NULL);
    struct cli c;
    int err;
    char buf[64];
    /* A FIN without close_notify: a truncation, said so. */
    CU_ASSERT_FATAL(cli_open(&c, x, port, NULL, NULL, NULL) == 1);
    CU_ASSERT(cli_echo(&c, 10));
    cli_free(&c);
    CU_ASSERT(wait_log(d, "bytes out: closed without close_notify", 1));
    CU_ASSERT_FATAL(cli_open(&c, x, port, NULL, NULL, NULL) == 1);
    /* Half-close: our close_notify after the request; the echo still
     * comes, then the server's close_notify (a clean TLS end, not a bare
     * FIN). */
    CU_ASSERT_FATAL(cli_write(&c, "hello", 5) == 0);
    CU_ASSERT(SSL_shutdown(c.ssl) == 0);
    CU_ASSERT_EQUAL(cli_read(&c, buf, sizeof buf, sizeof buf, &err), 5);
    CU_ASSERT_NSTRING_EQUAL(buf, "hello", 5);
    CU_ASSERT_EQUAL(err, SSL_ERROR_ZERO_RETURN);
    CU_ASSERT(SSL_get_shutdown(c.ssl) & SSL_RECEIVED_SHUTDOWN);
    cli_free(&c);
    CU_ASSERT(wait_log(d, "5 bytes in, 5 bytes out: client closed", 1));
    SSL_CTX_free(x);
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

/* A plugin's superd_shutdown on a TLS connection: close_notify, then the
 * FIN.  The forward plugin in front of a plain daytime, which writes its
 * line and closes: forward passes that on as a half-close of the client
 * side, while the client still has its side open. */
static void test_tls_plugin_shutdown_close_notify(void)
{
    int port, pb = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(pb > 0);
    struct it_daemon *d = serve_tls("", "forward",
                                    it_printf("to = tcp://127.0.0.1:%d\n[day]\nplugin = daytime\n"
                                              "listen = tcp://127.0.0.1:%d\n", pb, pb),
                                    &port);
    SSL_CTX *x = client_ctx(0, NULL, NULL);
    struct cli c;
    int err;
    char buf[256];
    CU_ASSERT_FATAL(cli_open(&c, x, port, NULL, NULL, NULL) == 1);
    size_t n = cli_read(&c, buf, sizeof buf, sizeof buf, &err);
    CU_ASSERT(n > 0 && buf[n - 1] == '\n');
    /* Not SSL_ERROR_SSL ("unexpected eof while reading"): a clean end. */
    CU_ASSERT_EQUAL(err, SSL_ERROR_ZERO_RETURN);
    CU_ASSERT(SSL_get_shutdown(c.ssl) & SSL_RECEIVED_SHUTDOWN);
    cli_free(&c);
    SSL_CTX_free(x);
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

static void test_tls_echo_4mib(void)
{
    int port;
    struct it_daemon *d = serve_tls("", "echo", "", &port);
    SSL_CTX *x = client_ctx(0, NULL, NULL);
    struct cli c;
    CU_ASSERT_FATAL(cli_open(&c, x, port, NULL, NULL, NULL) == 1);
    CU_ASSERT(cli_echo(&c, IT_PATTERN_LEN));
    cli_free(&c);
    SSL_CTX_free(x);
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

static void test_tls_reload_renewed(void)
{
    int port;
    struct it_daemon *d = serve_tls("", "echo", "", &port);
    SSL_CTX *x = client_ctx(0, NULL, NULL);
    struct cli old, c;
    CU_ASSERT_FATAL(cli_open(&old, x, port, NULL, NULL, NULL) == 1);
    CU_ASSERT(cli_echo(&old, 100));
    X509 *before = SSL_get0_peer_certificate(old.ssl);
    X509_up_ref(before);
    /* Renewed in place, as certbot does, then SIGHUP. */
    char *cmd = it_printf("cp %s %s && cp %s %s", cert("a2.pem"), cert("a.pem"),
                          cert("a2.key"), cert("a.key"));
    CU_ASSERT_FATAL(system(cmd) == 0);
    kill(d->pid, SIGHUP);
    CU_ASSERT_FATAL(wait_log(d, "superd: reload done:", 1));
    CU_ASSERT_FATAL(cli_open(&c, x, port, NULL, NULL, NULL) == 1);
    /* The renewed certificate (another serial, another key). */
    CU_ASSERT_NOT_EQUAL(X509_cmp(SSL_get0_peer_certificate(c.ssl), before), 0);
    X509_free(before);
    CU_ASSERT(cli_echo(&c, 100));
    cli_free(&c);
    /* The client of before is still served by its old worker. */
    CU_ASSERT(cli_echo(&old, 100));
    /* A bad certificate: the reload is refused with its line. */
    CU_ASSERT_FATAL(it_write_file(cert("a.pem"), "garbage\n") == 0);
    kill(d->pid, SIGHUP);
    CU_ASSERT_FATAL(wait_log(d, "superd: reload failed", 1));
    char *want = it_printf("reload failed, keeping the old configuration: %s:%d: [s] tls_cert: "
                           "%s: no PEM certificate (no start line)", d->conf,
                           it_line_of(it_read_file(d->conf), "tls_cert"), cert("a.pem"));
    if (!strstr(it_stderr(d), want))
        printf("\n    wanted \"%s\" in:\n%s", want, it_stderr(d));
    CU_ASSERT_PTR_NOT_NULL(strstr(it_stderr(d), want));
    CU_ASSERT(cli_echo(&old, 100));
    cli_free(&old);
    SSL_CTX_free(x);
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

/* A TLS 1.2 ClientHello of about `size` bytes (a padding extension). */
static size_t client_hello(uint8_t *out, size_t size)
{
    uint8_t body[20000];
    size_t n = 0;
    body[n++] = 0x03, body[n++] = 0x03;                  /* client_version */
    for (int i = 0; i < 32; i++)
        body[n++] = (uint8_t)i;                          /* random */
    body[n++] = 0;                                       /* session id */
    body[n++] = 0, body[n++] = 4;                        /* cipher suites */
    body[n++] = 0xc0, body[n++] = 0x2b, body[n++] = 0xc0, body[n++] = 0x2f;
    body[n++] = 1, body[n++] = 0;                        /* compression: null */
    size_t pad = size > n + 40 ? size - n - 40 : 0;
    static const uint8_t groups[] = { 0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x17 };
    static const uint8_t sigalgs[] = { 0x00, 0x0d, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03 };
    size_t ext = sizeof groups + sizeof sigalgs + 4 + pad;
    body[n++] = (uint8_t)(ext >> 8), body[n++] = (uint8_t)ext;
    memcpy(body + n, groups, sizeof groups), n += sizeof groups;
    memcpy(body + n, sigalgs, sizeof sigalgs), n += sizeof sigalgs;
    body[n++] = 0x00, body[n++] = 0x15;                  /* padding */
    body[n++] = (uint8_t)(pad >> 8), body[n++] = (uint8_t)pad;
    memset(body + n, 0, pad), n += pad;
    /* The handshake message, cut into records of at most 16384 bytes. */
    uint8_t hs[20010];
    size_t h = 0;
    hs[h++] = 1;
    hs[h++] = (uint8_t)(n >> 16), hs[h++] = (uint8_t)(n >> 8), hs[h++] = (uint8_t)n;
    memcpy(hs + h, body, n), h += n;
    size_t o = 0;
    for (size_t at = 0; at < h; at += 16384) {
        size_t len = h - at > 16384 ? 16384 : h - at;
        out[o++] = 0x16, out[o++] = 0x03, out[o++] = 0x01;
        out[o++] = (uint8_t)(len >> 8), out[o++] = (uint8_t)len;
        memcpy(out + o, hs + at, len), o += len;
    }
    return o;
}

static void test_tls_hostile(void)
{
    int port;
    struct it_daemon *d = serve_tls("", "echo", "tls_handshake_timeout = 300ms\n", &port);
    struct it_xfer xf;
    /* Garbage before any ClientHello: closed. */
    int fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    it_xfer(fd, (const uint8_t *)"GET / HTTP/1.0\r\n\r\n", 18, 0, NULL, 0, NULL, 0, 0, 1,
            IT_OP_MS, &xf);
    CU_ASSERT(xf.eof || xf.err);
    it_close(fd);
    CU_ASSERT(wait_log(d, "TLS handshake failed", 1));
    /* A handshake that stalls: closed at tls_handshake_timeout. */
    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT(raw_closed(fd));
    it_close(fd);
    /* A 16 KiB ClientHello: answered with a ServerHello. */
    static uint8_t hello[20100];
    size_t len = client_hello(hello, 16384);
    fd = it_tcp_connect(AF_INET, port);
    uint8_t reply[5];
    it_xfer(fd, hello, len, 0, NULL, 0, reply, sizeof reply, sizeof reply, 0, IT_OP_MS, &xf);
    CU_ASSERT_EQUAL(xf.rcvd >= 5 ? reply[0] : 0, 0x16);     /* a handshake record */
    it_close(fd);
    /* Still serving others. */
    SSL_CTX *x = client_ctx(0, NULL, NULL);
    struct cli c;
    CU_ASSERT_FATAL(cli_open(&c, x, port, NULL, NULL, NULL) == 1);
    CU_ASSERT(cli_echo(&c, 10));
    cli_free(&c);
    SSL_CTX_free(x);
    /* At most one failure line a second (several failures above). */
    CU_ASSERT(log_count(d, "TLS handshake failed") <= 3);
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

static void test_tls_renegotiation_closed(void)
{
    /* Renegotiation (TLS 1.2): superd answers the new ClientHello with
     * OpenSSL's no_renegotiation warning alert, then closes the
     * connection itself.  The client's OpenSSL never reads (its input is
     * an empty memory BIO), so it cannot be the one that gives up: what
     * comes on the socket is one alert record, then the FIN. */
    int port;
    struct it_daemon *d = serve_tls("", "echo", "", &port);
    SSL_CTX *x = client_ctx(TLS1_2_VERSION, NULL, NULL);
    struct cli c;
    CU_ASSERT_FATAL(cli_open(&c, x, port, NULL, NULL, NULL) == 1);
    CU_ASSERT(cli_echo(&c, 10));
    BIO *none = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(none, -1);
    SSL_set0_rbio(c.ssl, none);
    CU_ASSERT(SSL_renegotiate(c.ssl) == 1);
    CU_ASSERT(SSL_do_handshake(c.ssl) <= 0);       /* the ClientHello went out */
    ERR_clear_error();
    uint8_t raw[256];
    size_t got = 0;
    int eof = 0;
    int64_t deadline = it_now_ms() + IT_OP_MS;
    while (!eof && got < sizeof raw && it_left_ms(deadline)) {
        struct pollfd pf = { c.fd, POLLIN, 0 };
        if (poll(&pf, 1, it_left_ms(deadline)) <= 0)
            break;
        ssize_t n = recv(c.fd, raw + got, sizeof raw - got, 0);
        if (n > 0)
            got += (size_t)n;
        else
            eof = n == 0 || errno == ECONNRESET;
    }
    CU_ASSERT(eof);
    CU_ASSERT(got >= 5 && raw[0] == 0x15 && raw[1] == 3 && raw[2] == 3);  /* an alert */
    CU_ASSERT(got >= 5 && got == 5 + (size_t)(raw[3] << 8 | raw[4]));    /* only that */
    CU_ASSERT(wait_log(d, "TLS error with 127.0.0.1:", 1));
    CU_ASSERT(wait_log(d, ": renegotiation refused (0 more)", 1));
    cli_free(&c);
    SSL_CTX_free(x);
    /* Still serving. */
    x = client_ctx(0, NULL, NULL);
    CU_ASSERT_FATAL(cli_open(&c, x, port, NULL, NULL, NULL) == 1);
    CU_ASSERT(cli_echo(&c, 10));
    cli_free(&c);
    SSL_CTX_free(x);
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

static void test_tls_handshakes_counted(void)
{
    int port;
    struct it_daemon *d = serve_tls("", "echo", "max_per_source = 2\n", &port);
    /* Two stalled handshakes hold the source's two slots. */
    int a = it_tcp_connect(AF_INET, port), b = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(a >= 0 && b >= 0);
    it_sleep_ms(200);
    SSL_CTX *x = client_ctx(0, NULL, NULL);
    struct cli c;
    CU_ASSERT(cli_open(&c, x, port, NULL, NULL, NULL) == 0);
    cli_free(&c);
    CU_ASSERT(wait_log(d, "max_per_source 2 reached", 1));
    it_close(a);
    it_close(b);
    it_sleep_ms(200);
    CU_ASSERT_FATAL(cli_open(&c, x, port, NULL, NULL, NULL) == 1);
    CU_ASSERT(cli_echo(&c, 10));
    cli_free(&c);
    SSL_CTX_free(x);
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

static void test_tls_openssl_python(void)
{
    int port;
    struct it_daemon *d = serve_tls("", test_plugin("tlsinfo"), "close = yes\n", &port);
    /* openssl s_client: TLS 1.2, SNI; the server closes after its line. */
    char *out = it_path("s_client.out");
    char *cmd = it_printf("timeout 10 openssl s_client -connect 127.0.0.1:%d -tls1_2 "
                          "-servername a.test -CAfile %s -verify_return_error -ign_eof "
                          "</dev/null >%s 2>&1", port, cert("ca.pem"), out);
    int st = system(cmd);
    char *text = it_read_file(out);
    if (st != 0 || !strstr(text, "version=TLSv1.2 "))
        printf("\n    %s: status %d:\n%s", cmd, st, text);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "version=TLSv1.2 "));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, " sni=a.test "));
    if (system("command -v python3 >/dev/null 2>&1") != 0) {
        printf("\n    skipped: python3 is not installed (the ssl module test)\n    ");
    } else {
        char *py = it_printf(
            "import socket, ssl\n"
            "ctx = ssl.create_default_context(cafile='%s')\n"
            "ctx.minimum_version = ssl.TLSVersion.TLSv1_3\n"
            "ctx.set_alpn_protocols(['x'])\n"
            "with socket.create_connection(('127.0.0.1', %d), timeout=5) as s:\n"
            "    with ctx.wrap_socket(s, server_hostname='localhost') as t:\n"
            "        print(t.version(), t.recv(1024).decode().strip())\n",
            cert("ca.pem"), port);
        it_write_file(it_path("client.py"), py);
        cmd = it_printf("timeout 10 python3 %s >%s 2>&1", it_path("client.py"), out);
        st = system(cmd);
        text = it_read_file(out);
        if (st != 0 || strncmp(text, "TLSv1.3 pid=", 12) != 0)
            printf("\n    python3: status %d:\n%s", st, text);
        CU_ASSERT_NSTRING_EQUAL(text, "TLSv1.3 pid=", 12);
        CU_ASSERT_PTR_NOT_NULL(strstr(text, " sni=localhost "));
    }
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

static void test_tls_key_root_only(void)
{
    if (getuid() != 0) {
        printf("\n    skipped: not root (workers must drop to another user)\n    ");
        return;
    }
    /* The key readable by root only, workers running as nobody: they are
     * served from the bytes the master read. */
    CU_ASSERT_FATAL(make_certs() == 0);
    CU_ASSERT_FATAL(system(it_printf("chown root:root %s && chmod 0600 %s", cert("a.key"),
                                     cert("a.key"))) == 0);
    int port = it_free_port(IT_TCP4);
    struct it_daemon *d = it_alloc(sizeof *d);
    char *body = it_printf("[s]\nplugin = echo\nlisten = tls://127.0.0.1:%d\n"
                           "tls_cert = %s\ntls_key = %s\n", port, cert("a.pem"), cert("a.key"));
    CU_ASSERT_FATAL(it_start(d, it_conf_global("user = nobody\nshutdown_timeout = 250ms\n",
                                               body)) == 0);
    SSL_CTX *x = client_ctx(0, NULL, NULL);
    struct cli c;
    CU_ASSERT_FATAL(cli_open(&c, x, port, NULL, NULL, NULL) == 1);
    CU_ASSERT(cli_echo(&c, 100));
    cli_free(&c);
    SSL_CTX_free(x);
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

static void test_tls_check_lines(void)
{
    CU_ASSERT_FATAL(make_certs() == 0);
    int port = it_free_port(IT_TCP4);
    /* superd -t lists the TLS listener. */
    char *conf = it_conf(it_printf("[s]\nplugin = echo\nlisten = tls://127.0.0.1:%d\n"
                                   "tls_cert = %s\ntls_key = %s\n", port, cert("a.pem"),
                                   cert("a.key")));
    const char *args[] = { "-t", "-c", conf, NULL };
    char *out, *err;
    int st = it_run(args, &out, &err);
    CU_ASSERT(it_exited(st, 0));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, it_printf("[s] listen tls 127.0.0.1:%d\n", port)));
    /* A key that is not the certificate's: exit 1, one line naming it. */
    conf = it_conf(it_printf("[s]\nplugin = echo\nlisten = tls://127.0.0.1:%d\n"
                             "tls_cert = %s\ntls_key = %s\n", port, cert("a.pem"),
                             cert("b.key")));
    st = it_run(args, &out, &err);
    CU_ASSERT(it_exited(st, 1));
    char *text = it_read_file(conf);
    char *want = it_printf("superd: %s:%d: [s] tls_key: %s does not match the certificate %s "
                           "(line %d)\n", conf, it_line_of(text, "tls_key"), cert("b.key"),
                           cert("a.pem"), it_line_of(text, "tls_cert"));
    if (strcmp(err, want) != 0)
        printf("\n    wanted: %s    got: %s", want, err);
    CU_ASSERT_STRING_EQUAL(err, want);
    /* An expired certificate: a warning, and it starts. */
    conf = it_conf(it_printf("[s]\nplugin = echo\nlisten = tls://127.0.0.1:%d\n"
                             "tls_cert = %s\ntls_key = %s\n", port, cert("old.pem"),
                             cert("a.key")));
    st = it_run(args, &out, &err);
    CU_ASSERT(it_exited(st, 0));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, it_printf("%s:%d: [s] tls_cert: certificate %s expired on ",
                                                 conf, it_line_of(it_read_file(conf), "tls_cert"),
                                                 cert("old.pem"))));
}

/* A FIFO at a tls_* path: superd -t refuses it at once with its line (it
 * once blocked in open); a symlinked certificate and key still work. */
static void test_tls_fifo_refused_symlink_ok(void)
{
    CU_ASSERT_FATAL(make_certs() == 0);
    int port = it_free_port(IT_TCP4);
    char *fifo = it_path("fifo.key");
    CU_ASSERT_FATAL(mkfifo(fifo, 0600) == 0);
    char *conf = it_conf(it_printf("[s]\nplugin = echo\nlisten = tls://127.0.0.1:%d\n"
                                   "tls_cert = %s\ntls_key = %s\n", port, cert("a.pem"), fifo));
    const char *args[] = { "-t", "-c", conf, NULL };
    char *out, *err;
    int st = it_run(args, &out, &err);
    CU_ASSERT(it_exited(st, 1));
    char *want = it_printf("superd: %s:%d: [s] tls_key: %s: not a regular file\n", conf,
                           it_line_of(it_read_file(conf), "tls_key"), fifo);
    if (strcmp(err, want) != 0)
        printf("\n    wanted: %s    got: %s", want, err);
    CU_ASSERT_STRING_EQUAL(err, want);
    /* Let's Encrypt's layout: live/ links to archive/. */
    char *lc = it_path("live.pem"), *lk = it_path("live.key");
    CU_ASSERT_FATAL(symlink(cert("a.pem"), lc) == 0 && symlink(cert("a.key"), lk) == 0);
    conf = it_conf(it_printf("[s]\nplugin = echo\nlisten = tls://127.0.0.1:%d\n"
                             "tls_cert = %s\ntls_key = %s\n", port, lc, lk));
    st = it_run(args, &out, &err);
    CU_ASSERT(it_exited(st, 0));
    CU_ASSERT_STRING_EQUAL(err, "");
}

static void test_tls_decrypted_bytes_waiting(void)
{
    /* linelen (the README's plugin) leaves a partial line unconsumed: with
     * 50000 bytes waiting, the next 16000-byte record does not fit the
     * read and part of it stays decrypted inside OpenSSL, with nothing on
     * the socket to wake the loop.  Both lines must still be answered. */
    int port;
    struct it_daemon *d = serve_tls("", test_plugin("readme_example"), "", &port);
    SSL_CTX *x = client_ctx(0, NULL, NULL);
    struct cli c;
    CU_ASSERT_FATAL(cli_open(&c, x, port, NULL, NULL, NULL) == 1);
    static char req[66000];
    memset(req, 'a', 50000);
    memset(req + 50000, 'b', 16000);
    req[51000] = '\n';
    req[65999] = '\n';
    for (size_t at = 0; at < 50000; at += 16384)
        CU_ASSERT_FATAL(cli_write(&c, req + at, 50000 - at < 16384 ? 50000 - at : 16384) == 0);
    CU_ASSERT_FATAL(cli_write(&c, req + 50000, 16000) == 0);  /* one record */
    char buf[64];
    int err;
    size_t n = cli_read(&c, buf, sizeof buf - 1, 12, &err);
    buf[n] = '\0';
    CU_ASSERT_STRING_EQUAL(buf, "51000\n14998\n");
    cli_free(&c);
    SSL_CTX_free(x);
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

static void test_tls_backpressure(void)
{
    /* A client that sends and never reads: the server stops reading at
     * its high-water mark, so the client's writes stall and superd's
     * memory stays bounded; reading then brings every byte back. */
    int port;
    struct it_daemon *d = serve_tls("", "echo", "", &port);
    SSL_CTX *x = client_ctx(0, NULL, NULL);
    struct cli c;
    CU_ASSERT_FATAL(cli_open(&c, x, port, NULL, NULL, NULL) == 1);
    long rss0 = it_rss_kb(d->pid);
    size_t sent = 0;
    int64_t last = it_now_ms(), deadline = it_now_ms() + IT_TEST_MS;
    const size_t limit = 16 * (size_t)IT_PATTERN_LEN;   /* 64 MiB: far past every buffer */
    while (sent < limit && it_now_ms() - last < 500 && it_left_ms(deadline)) {
        size_t n = 0, at = sent % IT_PATTERN_LEN;
        size_t chunk = IT_PATTERN_LEN - at > 16384 ? 16384 : IT_PATTERN_LEN - at;
        if (SSL_write_ex(c.ssl, it_pattern + at, chunk, &n) == 1) {
            sent += n;
            last = it_now_ms();
        } else {
            ERR_clear_error();
            it_sleep_ms(10);
        }
    }
    long rss1 = it_rss_kb(d->pid);
    printf("\n    sent %zu KiB before the writes stalled; superd RSS %ld -> %ld KiB\n    ",
           sent / 1024, rss0, rss1);
    CU_ASSERT(sent < limit);                /* it did stall */
    CU_ASSERT(rss1 > 0 && rss1 - rss0 < 32 * 1024);   /* ASan keeps freed memory a while */
    /* Read back what was sent: every byte, in order. */
    static char in[65536];
    size_t rcvd = 0;
    int err;
    while (rcvd < sent) {
        size_t at = rcvd % IT_PATTERN_LEN, want = sent - rcvd > sizeof in ? sizeof in : sent - rcvd;
        if (want > IT_PATTERN_LEN - at)
            want = IT_PATTERN_LEN - at;
        size_t n = cli_read(&c, in, want, want, &err);
        if (n == 0 || memcmp(in, it_pattern + at, n) != 0)
            break;
        rcvd += n;
    }
    CU_ASSERT_EQUAL(rcvd, sent);
    cli_free(&c);
    SSL_CTX_free(x);
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

/* BUILD/tests/programs/xprog (tests/programs/xprog.c). */
static char *xprog(void)
{
    return it_printf("%s/../tests/programs/xprog", it_plugin_dir);
}

static void test_tls_program(void)
{
    CU_ASSERT_FATAL(make_certs() == 0);
    int pe = it_free_port(IT_TCP4), px = it_free_port(IT_TCP4);
    while (px == pe)
        px = it_free_port(IT_TCP4);
    struct it_daemon *d = it_alloc(sizeof *d);
    char *body = it_printf(
        "[env]\nprogram = %s\nargs = env\nlisten = tls://127.0.0.1:%d\n"
        "tls_cert = %s\ntls_key = %s\ntls_ca = %s\ntls_verify_client = optional\n"
        "[cat]\nprogram = %s\nargs = echo\nlisten = tls://127.0.0.1:%d\n"
        "tls_cert = %s\ntls_key = %s\n", xprog(), pe, cert("a.pem"), cert("a.key"),
        cert("ca.pem"), xprog(), px, cert("a.pem"), cert("a.key"));
    CU_ASSERT_FATAL(it_start(d, it_conf_global("shutdown_timeout = 250ms\n", body)) == 0);
    /* The environment, then close_notify when the program exits. */
    SSL_CTX *x = client_ctx(TLS1_2_VERSION, cert("client.pem"), cert("client.key"));
    struct cli c;
    CU_ASSERT_FATAL(cli_open(&c, x, pe, "a.test", NULL, NULL) == 1);
    static char env[16384];
    int err;
    size_t n = cli_read(&c, env, sizeof env - 1, sizeof env - 1, &err);
    env[n] = '\0';
    CU_ASSERT_EQUAL(err, SSL_ERROR_ZERO_RETURN);
    static const char *const want[] = {
        "\nSSL_PROTOCOL=TLSv1.2\n", "\nSSL_CIPHER=ECDHE-", "\nSSL_TLS_SNI_SERVERNAME=a.test\n",
        "\nSSL_PEER_CERT_SUBJECT=O=superd-tests,CN=client\n",
        "\nSSL_CLIENT_DN=O=superd-tests,CN=client\n", "\nSSL_CLIENT_I_DN=CN=superd-test-ca\n",
        "\nTCPREMOTEIP=127.0.0.1\n", "\nPROTO=TCP\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *w = want[i];
        int found = strstr(env, w) != NULL || strncmp(env, w + 1, strlen(w + 1)) == 0;
        if (!found)
            printf("\n    no %s in:\n%s", w + 1, env);
        CU_ASSERT(found);
    }
    cli_free(&c);
    SSL_CTX_free(x);
    /* cat: a 4 MiB echo through the program, then half-close: our
     * close_notify is its EOF, it exits, we get close_notify. */
    x = client_ctx(0, NULL, NULL);
    CU_ASSERT_FATAL(cli_open(&c, x, px, NULL, NULL, NULL) == 1);
    CU_ASSERT(cli_echo(&c, IT_PATTERN_LEN));
    CU_ASSERT_FATAL(cli_write(&c, "tail", 4) == 0);
    SSL_shutdown(c.ssl);
    char buf[16];
    CU_ASSERT_EQUAL(cli_read(&c, buf, sizeof buf, sizeof buf, &err), 4);
    CU_ASSERT_EQUAL(err, SSL_ERROR_ZERO_RETURN);
    cli_free(&c);
    SSL_CTX_free(x);
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

static const struct it_test tls_tests[] = {
    { "tls: a FIFO as tls_key refused by -t with its line; symlinks followed",
      test_tls_fifo_refused_symlink_ok },
    { "tls: superd -t: the listener, a wrong key's line, an expired warning", test_tls_check_lines },
    { "tls: TLS 1.2 and 1.3 echo, 1.1 refused", test_tls_versions_echo },
    { "tls: SNI, ALPN and superd_conn_tls", test_tls_sni_alpn_facts },
    { "tls: client certificate required, missing, other CA", test_tls_client_certs },
    { "tls: resumption across workers", test_tls_resume_across_workers },
    { "tls: a reload to tls_verify_client = require: old sessions do not resume",
      test_tls_reload_require_no_resume },
    { "tls: close_notify and half-close", test_tls_close_notify_half_close },
    { "tls: a plugin's superd_shutdown sends close_notify before the FIN",
      test_tls_plugin_shutdown_close_notify },
    { "tls: 4 MiB echo, every byte", test_tls_echo_4mib },
    { "tls: decrypted bytes waiting in OpenSSL are read", test_tls_decrypted_bytes_waiting },
    { "tls: a client that never reads: bounded, then every byte", test_tls_backpressure },
    { "tls: reload with a renewed certificate, a bad one refused", test_tls_reload_renewed },
    { "tls: hostile clients", test_tls_hostile },
    { "tls: renegotiation: a no_renegotiation alert, then superd closes",
      test_tls_renegotiation_closed },
    { "tls: handshakes count against max_per_source", test_tls_handshakes_counted },
    { "tls: openssl s_client and python3 ssl", test_tls_openssl_python },
    { "tls: a root-only key, workers as nobody", test_tls_key_root_only },
    { "tls: a program behind TLS: SSL_* environment, 4 MiB through it, half-close",
      test_tls_program },
};

IT_REGISTER(tls_tests)
