/* test_core_tls.c - the tls_* keys as a user sees them (each error's line
 * and words, the expired-certificate warning) and TLS contexts in one
 * process: handshakes over a socketpair with OpenSSL as the client (SNI,
 * ALPN, the facts a plugin gets, tickets resumed by a context another
 * "worker" built, refused after the keys rotated out, renegotiation). */
#include "test_core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <superd/plugin.h>

#include "config.h"
#include "loop.h"
#include "tls.h"

static char dir[64];            /* the certificates, made by tests/tls_certs.sh */
static char err[CONF_ERR_MAX];

static int suite_init(void)
{
    snprintf(dir, sizeof dir, "/tmp/superd-tls-unit.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "sh tests/tls_certs.sh %s", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "test_core_tls: %s failed (is openssl installed?)\n", cmd);
        return -1;
    }
    return 0;
}

static int suite_fini(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* "[echo]\nplugin = echo\nlisten = tls://127.0.0.1:4433\n" + body, with
 * every %s in body replaced by the certificate directory. */
static char *conf_text(const char *body)
{
    static char text[4096], expanded[3072];
    size_t o = 0;
    for (const char *p = body; *p && o + 80 < sizeof expanded; p++) {
        if (p[0] == '%' && p[1] == 's') {
            o += (size_t)snprintf(expanded + o, sizeof expanded - o, "%s", dir);
            p++;
        } else {
            expanded[o++] = *p;
        }
    }
    expanded[o] = '\0';
    snprintf(text, sizeof text, "[echo]\nplugin = echo\nlisten = tls://127.0.0.1:4433\n%s",
             expanded);
    return text;
}

static struct conf *load(const char *body)
{
    struct conf *c = NULL;
    err[0] = '\0';
    if (conf_load_string(conf_text(body), "t.ini", &c, err, sizeof err) < 0)
        return NULL;
    return c;
}

/* Refused with exactly "t.ini:" + msg (%s: the directory). */
#define BAD(body, msg) bad_at(__LINE__, (body), (msg))
static void bad_at(unsigned line, const char *body, const char *msg)
{
    struct conf *c = load(body);
    char want[480], fmt[480];
    snprintf(fmt, sizeof fmt, "t.ini:%s", msg);
    /* msg may name the directory several times */
    size_t o = 0;
    for (const char *p = fmt; *p && o + 80 < sizeof want; p++) {
        if (p[0] == '%' && p[1] == 's') {
            o += (size_t)snprintf(want + o, sizeof want - o, "%s", dir);
            p++;
        } else {
            want[o++] = *p;
        }
    }
    want[o] = '\0';
    tc_assert_str(err, want, line, __FILE__, CU_FALSE);
    CU_ASSERT_PTR_NULL(c);
    conf_free(c);
}

static void test_keys_good(void)
{
    struct conf *c = load("tls_cert = %s/a.pem\ntls_key = %s/a.key\n"
                          "tls_cert = %s/b.pem\ntls_key = %s/b.key\n"
                          "tls_ca = %s/ca.pem\ntls_verify_client = optional\n"
                          "tls_min_version = 1.3\ntls_alpn = h2 http/1.1\n"
                          "tls_ciphersuites = TLS_AES_128_GCM_SHA256\n"
                          "tls_handshake_timeout = 3s\n");
    ASSERT_STR(err, "");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    const struct conf_tls *t = &c->svcs[0].tls;
    CU_ASSERT_EQUAL(t->ncerts, 2);
    CU_ASSERT_EQUAL(t->nkeys, 2);
    CU_ASSERT_EQUAL(t->min_version, 0x0304);
    CU_ASSERT_EQUAL(t->verify_client, TLS_VERIFY_OPTIONAL);
    CU_ASSERT_EQUAL(t->handshake_timeout_ms, 3000);
    CU_ASSERT_EQUAL(t->alpn_len, 12);
    CU_ASSERT(c->svcs[0].addrs[0].tls);
    ASSERT_STR(c->svcs[0].addrs[0].text, "tls 127.0.0.1:4433");
    CU_ASSERT_EQUAL(c->nwarnings, 0);
    conf_free(c);
    /* Defaults. */
    c = load("tls_cert = %s/a.pem\ntls_key = %s/a.key\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(c->svcs[0].tls.min_version, 0x0303);
    CU_ASSERT_EQUAL(c->svcs[0].tls.handshake_timeout_ms, TLS_HANDSHAKE_TIMEOUT_MS);
    conf_free(c);
}

static void test_keys_errors(void)
{
    BAD("", "3: [echo] listen: tls 127.0.0.1:4433 needs tls_cert and tls_key in [echo]");
    BAD("tls_cert = %s/nope.pem\n",
        "4: [echo] tls_cert: cannot read %s/nope.pem: No such file or directory");
    BAD("tls_cert = %s/garbage.pem\n",
        "4: [echo] tls_cert: %s/garbage.pem: no PEM certificate (no start line)");
    BAD("tls_cert = %s/a.pem\ntls_key = %s/b.key\n",
        "5: [echo] tls_key: %s/b.key does not match the certificate %s/a.pem (line 4)");
    BAD("tls_cert = %s/a.pem\ntls_key = %s/enc.key\n",
        "5: [echo] tls_key: %s/enc.key: the key is encrypted (superd asks for no passphrase: "
        "store it decrypted, readable by root only)");
    BAD("tls_cert = %s/a.pem\ntls_key = %s/a.pem\n",
        "5: [echo] tls_key: %s/a.pem: no PEM private key (no PRIVATE KEY block)");
    BAD("tls_key = %s/a.key\n",
        "4: [echo] tls_key: no tls_cert before it (give tls_cert, then its tls_key)");
    BAD("tls_cert = %s/a.pem\ntls_key = %s/a.key\ntls_cert = %s/b.pem\n",
        "6: [echo] tls_cert: %s/b.pem has no tls_key after it");
    BAD("tls_cert = %s/a.pem\ntls_key = %s/a.key\ntls_min_version = 1.1\n",
        "6: [echo] tls_min_version: '1.1' is refused: TLS 1.0, 1.1 and SSLv3 are broken "
        "(1.2 or 1.3)");
    BAD("tls_cert = %s/a.pem\ntls_key = %s/a.key\ntls_min_version = 2\n",
        "6: [echo] tls_min_version: '2' is not 1.2 or 1.3");
    BAD("tls_cert = %s/a.pem\ntls_key = %s/a.key\ntls_verify_client = maybe\n",
        "6: [echo] tls_verify_client: 'maybe' is not no, optional or require");
    BAD("tls_cert = %s/a.pem\ntls_key = %s/a.key\ntls_verify_client = require\n",
        "6: [echo] tls_verify_client: needs tls_ca (the CAs a client certificate must "
        "chain to)");
    BAD("tls_cert = %s/a.pem\ntls_key = %s/a.key\ntls_ciphers = NOSUCHCIPHER\n",
        "6: [echo] tls_ciphers: no usable cipher in the list: no cipher match");
    BAD("tls_cert = %s/a.pem\ntls_key = %s/a.key\ntls_ciphersuites = TLS_NOPE\n",
        "6: [echo] tls_ciphersuites: no usable TLS 1.3 suite in the list: no cipher match");
    BAD("tls_cert = %s/a.pem\ntls_key = %s/a.key\ntls_ca = %s/garbage.pem\n",
        "6: [echo] tls_ca: %s/garbage.pem: no PEM certificate (no start line)");
    BAD("tls_cert = %s/a.pem\ntls_key = %s/a.key\ntls_handshake_timeout = 0\n",
        "6: [echo] tls_handshake_timeout: bad duration '0' (examples: 250ms, 10s, 1m; not 0)");
    BAD("tls_cert = %s/a.pem\ntls_key = %s/a.key\ntls_ca = %s/ca.pem\ntls_ca = %s/ca.pem\n",
        "7: [echo] tls_ca: given twice (first at line 6)");
    /* A wait = yes program cannot be behind TLS. */
    struct conf *p = NULL;
    char ptext[1024];
    snprintf(ptext, sizeof ptext, "[echo]\nprogram = /bin/cat\nwait = yes\n"
             "listen = tls://127.0.0.1:4433\ntls_cert = %s/a.pem\ntls_key = %s/a.key\n",
             dir, dir);
    conf_load_string(ptext, "t.ini", &p, err, sizeof err);
    ASSERT_STR(err, "t.ini:4: [echo] listen: tls 127.0.0.1:4433: a wait = yes program cannot "
               "be behind TLS (superd relays each connection: use wait = no)");
    conf_free(p);
    /* tls_* keys with no tls:// listener apply to nothing. */
    struct conf *c = NULL;
    char text[1024];
    snprintf(text, sizeof text, "[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:4433\n"
             "tls_cert = %s/a.pem\ntls_key = %s/a.key\n", dir, dir);
    conf_load_string(text, "t.ini", &c, err, sizeof err);
    ASSERT_STR(err, "t.ini:4: [echo] tls_cert: no tls:// listener in this service: the "
               "tls_* keys apply to nothing");
    conf_free(c);
    snprintf(text, sizeof text, "[superd]\ntls_ticket_rotate = 10ms\n[echo]\nplugin = echo\n"
             "listen = tcp://127.0.0.1:4433\n");
    c = NULL;
    conf_load_string(text, "t.ini", &c, err, sizeof err);
    ASSERT_STR(err, "t.ini:2: [superd] tls_ticket_rotate: bad duration '10ms' (examples: "
               "30m, 1h, 12h; at least 1s)");
    conf_free(c);
}

static void test_expired_warns(void)
{
    struct conf *c = load("tls_cert = %s/old.pem\ntls_key = %s/a.key\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL_FATAL(c->nwarnings, 1);
    char want[512];
    snprintf(want, sizeof want, "t.ini:4: [echo] tls_cert: certificate %s/old.pem expired on ",
             dir);
    CU_ASSERT_NSTRING_EQUAL(c->warnings[0], want, strlen(want));
    CU_ASSERT_PTR_NOT_NULL(strstr(c->warnings[0], ": clients will refuse it"));
    conf_free(c);
}

/* ---- handshakes in one process ---- */

struct pair {
    int fd[2];                  /* [0] server, [1] client */
    struct tls_conn *srv;
    SSL *cli;
};

static SSL_CTX *client_ctx(void)
{
    SSL_CTX *x = SSL_CTX_new(TLS_client_method());
    char ca[128];
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    SSL_CTX_load_verify_locations(x, ca, NULL);
    SSL_CTX_set_verify(x, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_CLIENT);
    return x;
}

/* Handshake both ends, stepping each in turn (non-blocking socketpair).
 * Returns 1 when both finished, else what the server said. */
static int handshake(struct pair *p, struct tls_ctx *x, SSL_CTX *cx, const char *sni,
                     const unsigned char *alpn, unsigned alpn_len, SSL_SESSION *sess)
{
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->fd) == 0);
    p->srv = tls_conn_new(x, p->fd[0]);
    p->cli = SSL_new(cx);
    CU_ASSERT_FATAL(p->srv && p->cli);
    SSL_set_fd(p->cli, p->fd[1]);
    SSL_set_connect_state(p->cli);
    if (sni)
        SSL_set_tlsext_host_name(p->cli, sni);
    if (alpn)
        SSL_set_alpn_protos(p->cli, alpn, alpn_len);
    if (sess)
        SSL_set_session(p->cli, sess);
    int s = 0, c = 0;
    for (int i = 0; i < 100 && (s != 1 || c != 1); i++) {
        unsigned want;
        if (s != 1 && (s = tls_handshake(p->srv, &want)) < 0)
            return s;
        if (c != 1)
            c = SSL_do_handshake(p->cli);
    }
    ERR_clear_error();
    return s == 1 && c == 1 ? 1 : 0;
}

/* The client ends with close_notify: OpenSSL forgets (makes unresumable)
 * a cached session whose connection was dropped without one. */
static void pair_free(struct pair *p)
{
    SSL_shutdown(p->cli);
    ERR_clear_error();
    tls_conn_free(p->srv);
    SSL_free(p->cli);
    close(p->fd[0]);
    close(p->fd[1]);
}

static struct tls_ctx *ctx_of(struct conf *c)
{
    struct tls_ctx *x = NULL;
    struct tls_err e = { 0 };
    int r = tls_ctx_new(&c->svcs[0].tls, c->svcs[0].name, &x, &e);
    ASSERT_STR(e.msg, "");
    CU_ASSERT_EQUAL(r, 0);
    return x;
}

static void test_sni_alpn_facts(void)
{
    struct conf *c = load("tls_cert = %s/a.pem\ntls_key = %s/a.key\n"
                          "tls_cert = %s/b.pem\ntls_key = %s/b.key\ntls_alpn = h2 http/1.1\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    struct tls_ctx *x = ctx_of(c);
    SSL_CTX *cx = client_ctx();
    static const struct { const char *sni, *cn; } cases[] = {
        { "b.test", "b.test" }, { "x.wild.test", "b.test" }, { "a.test", "a.test" },
        { "other.test", "a.test" }, { NULL, "a.test" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pair p;
        CU_ASSERT_EQUAL_FATAL(handshake(&p, x, cx, cases[i].sni, (const unsigned char *)
                                        "\x08http/1.1\x02h2", 12, NULL), 1);
        X509 *peer = SSL_get0_peer_certificate(p.cli);
        char cn[64] = "";
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
        ASSERT_STR(cn, cases[i].cn);
        struct superd_tls_info info = { .size = sizeof info };
        CU_ASSERT_EQUAL(tls_conn_info(p.srv, &info), 0);
        ASSERT_STR(info.alpn, "h2");        /* our order wins */
        ASSERT_STR(info.version, "TLSv1.3");
        CU_ASSERT_PTR_NOT_NULL(info.cipher);
        if (cases[i].sni)
            ASSERT_STR(info.sni, cases[i].sni);
        else
            CU_ASSERT_PTR_NULL(info.sni);
        CU_ASSERT_PTR_NULL(info.peer_subject);
        /* Plaintext both ways. */
        unsigned want;
        CU_ASSERT_EQUAL(SSL_write(p.cli, "ping", 4), 4);
        char buf[16];
        CU_ASSERT_EQUAL(tls_recv(p.srv, buf, sizeof buf, &want), 4);
        CU_ASSERT_EQUAL(tls_send(p.srv, "pong", 4, &want), 4);
        CU_ASSERT_EQUAL(SSL_read(p.cli, buf, sizeof buf), 4);
        CU_ASSERT_NSTRING_EQUAL(buf, "pong", 4);
        pair_free(&p);
    }
    /* A client offering only protocols we do not speak is refused. */
    struct pair p;
    CU_ASSERT(handshake(&p, x, cx, "a.test", (const unsigned char *)"\x03" "ftp", 4, NULL) < 0);
    pair_free(&p);
    SSL_CTX_free(cx);
    tls_ctx_free(x);
    conf_free(c);
}

static void test_tickets_shared(void)
{
    CU_ASSERT_EQUAL_FATAL(tls_tickets_init(), 0);
    struct conf *c = load("tls_cert = %s/a.pem\ntls_key = %s/a.key\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    /* Two workers: each builds its own context from the same bytes. */
    struct tls_ctx *w1 = ctx_of(c), *w2 = ctx_of(c);
    SSL_CTX *cx = client_ctx();
    for (int version = TLS1_2_VERSION; version <= TLS1_3_VERSION; version++) {
        SSL_CTX_set_max_proto_version(cx, version);
        struct pair p;
        CU_ASSERT_EQUAL_FATAL(handshake(&p, w1, cx, "a.test", NULL, 0, NULL), 1);
        /* TLS 1.3 sends the ticket after the handshake: read it. */
        char buf[8];
        SSL_read(p.cli, buf, sizeof buf);
        ERR_clear_error();
        SSL_SESSION *s = SSL_get1_session(p.cli);
        CU_ASSERT_FATAL(s != NULL);
        CU_ASSERT_FALSE(SSL_session_reused(p.cli));
        pair_free(&p);
        CU_ASSERT_EQUAL_FATAL(handshake(&p, w2, cx, "a.test", NULL, 0, s), 1);
        CU_ASSERT_TRUE(SSL_session_reused(p.cli));
        struct superd_tls_info info = { .size = sizeof info };
        tls_conn_info(p.srv, &info);
        CU_ASSERT_EQUAL(info.resumed, 1);
        pair_free(&p);
        /* Rotated out (three rotations later): a full handshake. */
        long long now = clock_now_ms();
        for (int i = 1; i <= 3; i++)
            tls_tickets_tick(now + (long long)i * 2 * TLS_TICKET_ROTATE_MS, 0);
        CU_ASSERT_EQUAL_FATAL(handshake(&p, w1, cx, "a.test", NULL, 0, s), 1);
        CU_ASSERT_FALSE(SSL_session_reused(p.cli));
        pair_free(&p);
        SSL_SESSION_free(s);
    }
    SSL_CTX_free(cx);
    tls_ctx_free(w1);
    tls_ctx_free(w2);
    conf_free(c);
}

/* A compromised worker cannot write the shared ticket keys: after
 * tls_tickets_readonly, mprotect and a writable mmap of the page fail. And
 * the master never trusts the page: garbage in it (an odd seq, a huge
 * generation) does not stop its rotation. */
static void test_tickets_sealed(void)
{
    CU_ASSERT_EQUAL_FATAL(tls_tickets_init(), 0);
    size_t len;
    const void *page = tls_tickets_page(&len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(page);
    long gen = tls_tickets_generation();
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        tls_tickets_readonly();
        void *p = (void *)tls_tickets_page(&len);
        int bad = 0;
        if (!p || tls_tickets_generation() != gen)
            bad |= 1;
        else if (mprotect(p, len, PROT_READ | PROT_WRITE) == 0)
            bad |= 2;
        /* Every fd of the process: none maps the ring writable now. */
        for (int fd = 3; fd < 256; fd++) {
            void *w = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (w != MAP_FAILED && memcmp(w, p, len) == 0)
                bad |= 4;
        }
        _exit(bad);
    }
    int st = 0;
    CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
    CU_ASSERT_TRUE(WIFEXITED(st));
    CU_ASSERT_EQUAL(WEXITSTATUS(st), 0);
    /* What a worker could once write: the master's mapping stands in. */
    struct { uint32_t seq, n; long generation; } *w = (void *)page;
    w->seq = 1;
    w->n = 0;
    w->generation = 0x7fffffffffffffffL;
    long long t = clock_now_ms() + 1000LL * TLS_TICKET_ROTATE_MS;
    CU_ASSERT_EQUAL(tls_tickets_tick(t, 0), t + TLS_TICKET_ROTATE_MS);
    CU_ASSERT_EQUAL(tls_tickets_generation(), gen + 1);
    CU_ASSERT_EQUAL(w->seq % 2, 0);
    CU_ASSERT(w->n >= 1);
    CU_ASSERT_EQUAL(w->generation, gen + 1);
}

/* A reload that turns tls_verify_client on: a session made before it
 * (no client certificate) must not resume into the new context. */
static void test_tickets_context(void)
{
    CU_ASSERT_EQUAL_FATAL(tls_tickets_init(), 0);
    struct conf *c1 = load("tls_cert = %s/a.pem\ntls_key = %s/a.key\ntls_ca = %s/ca.pem\n");
    struct conf *c2 = load("tls_cert = %s/a.pem\ntls_key = %s/a.key\ntls_ca = %s/ca.pem\n"
                           "tls_verify_client = require\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c2);
    struct tls_ctx *before = ctx_of(c1), *again = ctx_of(c1), *after = ctx_of(c2);
    SSL_CTX *cx = client_ctx();
    for (int version = TLS1_2_VERSION; version <= TLS1_3_VERSION; version++) {
        SSL_CTX_set_max_proto_version(cx, version);
        struct pair p;
        CU_ASSERT_EQUAL_FATAL(handshake(&p, before, cx, NULL, NULL, 0, NULL), 1);
        char buf[8];
        SSL_read(p.cli, buf, sizeof buf);
        ERR_clear_error();
        SSL_SESSION *s = SSL_get1_session(p.cli);
        CU_ASSERT_FATAL(s != NULL);
        pair_free(&p);
        /* The same settings (a reload that changed nothing): resumed. */
        CU_ASSERT_EQUAL_FATAL(handshake(&p, again, cx, NULL, NULL, 0, s), 1);
        CU_ASSERT_TRUE(SSL_session_reused(p.cli));
        pair_free(&p);
        /* require now: a full handshake, refused for want of a certificate. */
        int r = handshake(&p, after, cx, NULL, NULL, 0, s);
        CU_ASSERT_FALSE(SSL_session_reused(p.cli));
        if (r == 1) {
            unsigned want;
            r = (int)tls_recv(p.srv, buf, sizeof buf, &want);
        }
        CU_ASSERT(r < 0);
        ASSERT_STR(tls_why(p.srv), "peer did not return a certificate");
        pair_free(&p);
        SSL_SESSION_free(s);
    }
    SSL_CTX_free(cx);
    tls_ctx_free(before);
    tls_ctx_free(again);
    tls_ctx_free(after);
    conf_free(c1);
    conf_free(c2);
}

static void test_client_certs(void)
{
    struct conf *c = load("tls_cert = %s/a.pem\ntls_key = %s/a.key\ntls_ca = %s/ca.pem\n"
                          "tls_verify_client = require\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    struct tls_ctx *x = ctx_of(c);
    char path[128];
    /* Missing, then from the other CA: refused. */
    SSL_CTX *cx = client_ctx();
    struct pair p;
    int r = handshake(&p, x, cx, NULL, NULL, 0, NULL);
    if (r == 1) {       /* TLS 1.3: the client learns of it when it reads */
        unsigned want;
        char buf[8];
        r = (int)tls_recv(p.srv, buf, sizeof buf, &want);
    }
    CU_ASSERT(r < 0);
    ASSERT_STR(tls_why(p.srv), "peer did not return a certificate");
    pair_free(&p);
    snprintf(path, sizeof path, "%s/rogue.pem", dir);
    SSL_CTX_use_certificate_file(cx, path, SSL_FILETYPE_PEM);
    snprintf(path, sizeof path, "%s/rogue.key", dir);
    SSL_CTX_use_PrivateKey_file(cx, path, SSL_FILETYPE_PEM);
    r = handshake(&p, x, cx, NULL, NULL, 0, NULL);
    CU_ASSERT(r < 0);
    ASSERT_STR(tls_why(p.srv), "certificate verify failed");
    pair_free(&p);
    SSL_CTX_free(cx);
    /* From our CA: its subject and issuer are told. */
    cx = client_ctx();
    snprintf(path, sizeof path, "%s/client.pem", dir);
    SSL_CTX_use_certificate_file(cx, path, SSL_FILETYPE_PEM);
    snprintf(path, sizeof path, "%s/client.key", dir);
    SSL_CTX_use_PrivateKey_file(cx, path, SSL_FILETYPE_PEM);
    CU_ASSERT_EQUAL_FATAL(handshake(&p, x, cx, NULL, NULL, 0, NULL), 1);
    struct superd_tls_info info = { .size = sizeof info };
    tls_conn_info(p.srv, &info);
    ASSERT_STR(info.peer_subject, "O=superd-tests,CN=client");
    ASSERT_STR(info.peer_issuer, "CN=superd-test-ca");
    pair_free(&p);
    SSL_CTX_free(cx);
    tls_ctx_free(x);
    conf_free(c);
}

static void test_renegotiation_refused(void)
{
    struct conf *c = load("tls_cert = %s/a.pem\ntls_key = %s/a.key\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    struct tls_ctx *x = ctx_of(c);
    SSL_CTX *cx = client_ctx();
    SSL_CTX_set_max_proto_version(cx, TLS1_2_VERSION);
    struct pair p;
    CU_ASSERT_EQUAL_FATAL(handshake(&p, x, cx, NULL, NULL, 0, NULL), 1);
    CU_ASSERT_EQUAL(SSL_renegotiate(p.cli), 1);
    SSL_do_handshake(p.cli);        /* sends a new ClientHello */
    ERR_clear_error();
    unsigned want;
    char buf[16];
    CU_ASSERT(tls_recv(p.srv, buf, sizeof buf, &want) < 0);
    CU_ASSERT(tls_renegotiating(p.srv));
    ASSERT_STR(tls_why(p.srv), "renegotiation refused");
    pair_free(&p);
    SSL_CTX_free(cx);
    tls_ctx_free(x);
    conf_free(c);
}

int test_core_tls_register(void)
{
    static const struct tc_test tests[] = {
        { "tls keys: a good section, defaults", test_keys_good },
        { "tls keys: each error at its line", test_keys_errors },
        { "tls_cert: an expired certificate warns", test_expired_warns },
        { "tls: SNI picks by names, ALPN in our order, the facts", test_sni_alpn_facts },
        { "tls: a ticket resumes on another worker's context, not after rotation",
          test_tickets_shared },
        { "tls: a worker cannot write the ticket keys; the master ignores the page",
          test_tickets_sealed },
        { "tls: a session made before tls_verify_client = require does not resume",
          test_tickets_context },
        { "tls: client certificate required, missing, other CA, good", test_client_certs },
        { "tls: renegotiation refused", test_renegotiation_refused },
    };
    CU_pSuite s = CU_add_suite("tls", suite_init, suite_fini);
    if (!s)
        return -1;
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        if (!CU_add_test(s, tests[i].name, tests[i].fn))
            return -1;
    return 0;
}
