/* tls.c - TLS with OpenSSL 3: contexts, shared ticket keys, connections.
 * See tls.h for where keys live and why contexts are built per worker. */
#define SUPERD_HOST_BUILD 1

#include "tls.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <superd/plugin.h>

#include "log.h"
#include "loop.h"

/* TLS 1.2 suites when tls_ciphers is not given: forward secret AEADs only
 * (Mozilla's "intermediate" list without DHE, which needs parameters). */
#define DEFAULT_CIPHERS "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                      \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* ---- session-ticket keys ---- */

/* Keys kept: the current one encrypts, the others still decrypt, so a
 * ticket stays good for at least two rotation periods. */
#define TICKET_KEYS 3

struct ticket_key {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
};

/* One page shared by the master (the only writer) and the workers.  A
 * sequence lock: the writer makes seq odd, writes, makes it even; readers
 * copy and retry when seq moved.  The master never waits for a worker.
 * The page is a sealed memfd (F_SEAL_FUTURE_WRITE): the master's mapping,
 * made before the seal, stays writable; a worker maps it anew read-only
 * and the kernel then refuses it write access for good (mprotect, mmap,
 * write(2)), so a compromised worker cannot plant a key the others use. */
struct ticket_ring {
    uint32_t seq;
    uint32_t n;                 /* keys in use, up to TICKET_KEYS */
    long generation;            /* rotations so far */
    struct ticket_key keys[TICKET_KEYS];   /* [0] is the current key */
};

static struct ticket_ring *ring;
static int ring_fd = -1;        /* the memfd; the master keeps it for new workers */

/* The master's own copy of what it acts on: it never reads back the
 * shared page, which it alone writes but trusts no one to have kept. */
static struct {
    uint32_t seq, n;
    long generation;
    long long rotated_ms;
} mine;

int tls_tickets_init(void)
{
    if (ring)
        return 0;
    int fd = memfd_create("superd-tickets", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -errno;
    int e;
    void *m = MAP_FAILED;
    if (ftruncate(fd, sizeof *ring) < 0 ||
        (m = mmap(NULL, sizeof *ring, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) ==
            MAP_FAILED ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE | F_SEAL_SHRINK | F_SEAL_GROW |
                                   F_SEAL_SEAL) < 0) {
        e = errno;
        goto fail;
    }
    ring = m;
    ring_fd = fd;
    memset(&mine, 0, sizeof mine);
    if (tls_tickets_tick(clock_now_ms(), 0) < 0 || mine.n == 0) {
        e = EIO;
        ring = NULL;
        ring_fd = -1;
        goto fail;
    }
    return 0;
fail:
    if (m != MAP_FAILED)
        munmap(m, sizeof *ring);
    close(fd);
    return -e;
}

long long tls_tickets_tick(long long now_ms, unsigned period_ms)
{
    if (!ring)
        return -1;
    if (!period_ms)
        period_ms = TLS_TICKET_ROTATE_MS;
    if (mine.n && now_ms - mine.rotated_ms < (long long)period_ms)
        return mine.rotated_ms + period_ms;
    struct ticket_key k;
    if (RAND_bytes((unsigned char *)&k, sizeof k) != 1) {
        log_msg(LOG_ERR, "tls: cannot make a session-ticket key: no randomness; "
                "keeping the old key");
        return now_ms + 1000;
    }
    /* Keys shift in the master's view too: the page is only ever a copy. */
    static struct ticket_key keys[TICKET_KEYS];
    memmove(&keys[1], &keys[0], (TICKET_KEYS - 1) * sizeof k);
    keys[0] = k;
    if (mine.n < TICKET_KEYS)
        mine.n++;
    mine.generation++;
    mine.rotated_ms = now_ms;
    mine.seq |= 1;
    __atomic_store_n(&ring->seq, mine.seq, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    memcpy(ring->keys, keys, sizeof keys);
    ring->n = mine.n;
    ring->generation = mine.generation;
    mine.seq++;
    __atomic_store_n(&ring->seq, mine.seq, __ATOMIC_RELEASE);
    OPENSSL_cleanse(&k, sizeof k);
    return now_ms + period_ms;
}

void tls_tickets_readonly(void)
{
    if (!ring)
        return;
    munmap(ring, sizeof *ring);
    void *m = mmap(NULL, sizeof *ring, PROT_READ, MAP_SHARED, ring_fd, 0);
    ring = m == MAP_FAILED ? NULL : m;  /* none: full handshakes, never a writable page */
    close(ring_fd);
    ring_fd = -1;
}

void tls_tickets_drop(void)
{
    if (!ring)
        return;
    munmap(ring, sizeof *ring);
    ring = NULL;
    close(ring_fd);
    ring_fd = -1;
}

const void *tls_tickets_page(size_t *len)
{
    *len = sizeof *ring;
    return ring;
}

long tls_tickets_generation(void)
{
    if (!ring)
        return -1;
    if (ring_fd >= 0)
        return mine.generation;
    return __atomic_load_n(&ring->generation, __ATOMIC_ACQUIRE);
}

/* Copy the keys out; returns how many (0: none, or the master was
 * writing for too long: a full handshake then). */
static uint32_t ring_read(struct ticket_key *out)
{
    for (int tries = 0; tries < 1000; tries++) {
        uint32_t s1 = __atomic_load_n(&ring->seq, __ATOMIC_ACQUIRE);
        if (s1 & 1)
            continue;
        uint32_t n = ring->n;
        memcpy(out, ring->keys, sizeof ring->keys);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&ring->seq, __ATOMIC_RELAXED) == s1)
            return n > TICKET_KEYS ? TICKET_KEYS : n;
    }
    return 0;
}

static int set_mac_key(EVP_MAC_CTX *h, unsigned char *key)
{
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, 32),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_CTX_set_params(h, p);
}

/* OpenSSL's ticket callback: encrypt with the current key, decrypt with
 * any kept one (2: good, but issue a fresh ticket with the current key). */
static int ticket_cb(SSL *s, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *c,
                     EVP_MAC_CTX *h, int enc)
{
    (void)s;
    struct ticket_key keys[TICKET_KEYS];
    uint32_t n = ring_read(keys);
    int r = 0;
    if (n == 0)
        r = enc ? -1 : 0;
    else if (enc) {
        memcpy(name, keys[0].name, 16);
        if (RAND_bytes(iv, 16) == 1 &&
            EVP_EncryptInit_ex(c, EVP_aes_256_cbc(), NULL, keys[0].aes, iv) == 1 &&
            set_mac_key(h, keys[0].hmac) == 1)
            r = 1;
        else
            r = -1;
    } else {
        for (uint32_t i = 0; i < n; i++) {
            if (memcmp(name, keys[i].name, 16) != 0)
                continue;
            if (set_mac_key(h, keys[i].hmac) == 1 &&
                EVP_DecryptInit_ex(c, EVP_aes_256_cbc(), NULL, keys[i].aes, iv) == 1)
                r = i == 0 ? 1 : 2;
            else
                r = -1;
            break;
        }
    }
    OPENSSL_cleanse(keys, sizeof keys);
    return r;
}

/* ---- contexts ---- */

struct tls_ctx {
    SSL_CTX **v;                /* one per certificate; [0] the default */
    size_t n;
    const struct conf_tls *conf;
};

static int ctx_index = -1;      /* SSL_CTX ex_data: its struct tls_ctx */
static int conn_index = -1;     /* SSL ex_data: its struct tls_conn */

/* Fill e from OpenSSL's error queue. */
static int ssl_fail(struct tls_err *e, const char *key, int line, const char *what)
{
    unsigned long code = ERR_peek_last_error();
    const char *reason = code ? ERR_reason_error_string(code) : NULL;
    e->key = key;
    e->line = line;
    snprintf(e->msg, sizeof e->msg, "%s%s%s", what, reason ? ": " : "", reason ? reason : "");
    ERR_clear_error();
    return -EINVAL;
}

/* Does certificate x serve the name a client asked for?  Its DNS names,
 * with wildcards, as a client would check them. */
static bool cert_serves(SSL_CTX *ctx, const char *name)
{
    X509 *x = SSL_CTX_get0_certificate(ctx);
    return x && X509_check_host(x, name, 0, 0, NULL) == 1;
}

/* SNI: switch to the first certificate whose names match; none matching
 * keeps the default (the first), as web servers do. */
static int sni_cb(SSL *s, int *alert, void *arg)
{
    (void)alert;
    struct tls_ctx *x = arg;
    const char *name = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
    if (!name || x->n < 2)
        return SSL_TLSEXT_ERR_OK;
    for (size_t i = 0; i < x->n; i++)
        if (cert_serves(x->v[i], name)) {
            if (i > 0)
                SSL_set_SSL_CTX(s, x->v[i]);
            break;
        }
    return SSL_TLSEXT_ERR_OK;
}

/* ALPN: the first of tls_alpn (our order) the client offers; a client
 * that offers only others is refused (RFC 7301's no_application_protocol). */
static int alpn_cb(SSL *s, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned inlen, void *arg)
{
    (void)s;
    const struct conf_tls *t = arg;
    unsigned char *o = NULL;
    if (SSL_select_next_proto(&o, outlen, t->alpn, (unsigned)t->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = o;
    return SSL_TLSEXT_ERR_OK;
}

static void info_cb(const SSL *s, int where, int ret);

/* Load one certificate chain and its key from memory into ctx. */
static int load_pair(SSL_CTX *ctx, const struct tls_pem *cert, const struct tls_pem *key,
                     struct tls_err *e)
{
    BIO *b = BIO_new_mem_buf(cert->data, (int)cert->len);
    X509 *x = b ? PEM_read_bio_X509_AUX(b, NULL, NULL, NULL) : NULL;
    int ok = x && SSL_CTX_use_certificate(ctx, x) == 1;
    X509_free(x);
    /* The rest of the file: the chain, sent after the certificate. */
    while (ok) {
        X509 *ca = PEM_read_bio_X509(b, NULL, NULL, NULL);
        if (!ca)
            break;
        if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
            X509_free(ca);
            ok = 0;
        }
    }
    BIO_free(b);
    if (!ok)
        return ssl_fail(e, "tls_cert", cert->line, cert->path);
    ERR_clear_error();      /* the end of the chain */
    b = BIO_new_mem_buf(key->data, (int)key->len);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"") : NULL;
    BIO_free(b);
    ok = k && SSL_CTX_use_PrivateKey(ctx, k) == 1 && SSL_CTX_check_private_key(ctx) == 1;
    EVP_PKEY_free(k);
    if (!ok)
        return ssl_fail(e, "tls_key", key->line, key->path);
    return 0;
}

/* tls_ca: the store client certificates are verified against, and the
 * names sent in the CertificateRequest. */
static int load_ca(SSL_CTX *ctx, const struct tls_pem *ca, struct tls_err *e)
{
    BIO *b = BIO_new_mem_buf(ca->data, (int)ca->len);
    X509_STORE *st = SSL_CTX_get_cert_store(ctx);
    STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
    int n = 0;
    X509 *x;
    while (b && names && (x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
        X509_NAME *nm = X509_NAME_dup(X509_get_subject_name(x));
        if (X509_STORE_add_cert(st, x) != 1 || !nm || !sk_X509_NAME_push(names, nm)) {
            X509_NAME_free(nm);
            X509_free(x);
            n = -1;
            break;
        }
        X509_free(x);
        n++;
    }
    BIO_free(b);
    if (n <= 0) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        return ssl_fail(e, "tls_ca", ca->line, ca->path);
    }
    ERR_clear_error();
    SSL_CTX_set_client_CA_list(ctx, names);
    return 0;
}

/* One context with every setting of t and the certificate pair i. */
/* Add one field to the digest, its length first (no two settings hash alike). */
static int sid_add(EVP_MD_CTX *md, const void *p, size_t len)
{
    uint64_t n = len;
    return EVP_DigestUpdate(md, &n, sizeof n) == 1 && EVP_DigestUpdate(md, p, len) == 1
           ? 0 : -EIO;
}

/* The session id context: sha256 of what makes a session's checks hold -
 * the service, tls_verify_client, the CA bytes and every certificate.  A
 * reload that changes any of them makes old sessions (tickets) useless: a
 * session of a removed CA, or one without a client certificate made before
 * `require`, gets a full handshake. */
static int sid_context(const struct conf_tls *t, const char *service, unsigned char *out,
                       unsigned *len)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int32_t verify = t->verify_client;
    int r = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
    if (!r)
        r = sid_add(md, service, strlen(service));
    if (!r)
        r = sid_add(md, &verify, sizeof verify);
    if (!r)
        r = sid_add(md, t->ca.data ? t->ca.data : "", t->ca.data ? t->ca.len : 0);
    for (size_t i = 0; !r && i < t->ncerts; i++)
        r = sid_add(md, t->certs[i].data, t->certs[i].len);
    if (!r && EVP_DigestFinal_ex(md, out, len) != 1)
        r = -EIO;
    EVP_MD_CTX_free(md);
    return r;
}

static int ctx_one(struct tls_ctx *x, size_t i, const char *service, struct tls_err *e)
{
    const struct conf_tls *t = x->conf;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return ssl_fail(e, "tls_cert", t->certs[i].line, "cannot make a TLS context");
    x->v[i] = ctx;
    SSL_CTX_set_ex_data(ctx, ctx_index, x);
    SSL_CTX_set_min_proto_version(ctx, t->min_version ? t->min_version : TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                             SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Partial writes: the connection's queue is written in pieces and may
     * move between calls; buffers are released while a connection idles. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                          SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_info_callback(ctx, info_cb);
    if (SSL_CTX_set_cipher_list(ctx, t->ciphers ? t->ciphers : DEFAULT_CIPHERS) != 1)
        return ssl_fail(e, "tls_ciphers", t->ciphers_line, "no usable cipher in the list");
    if (t->ciphersuites && SSL_CTX_set_ciphersuites(ctx, t->ciphersuites) != 1)
        return ssl_fail(e, "tls_ciphersuites", t->ciphersuites_line,
                        "no usable TLS 1.3 suite in the list");
    int r = load_pair(ctx, &t->certs[i], &t->keys[i], e);
    if (r < 0)
        return r;
    if (t->ca.data && (r = load_ca(ctx, &t->ca, e)) < 0)
        return r;
    if (t->verify_client != TLS_VERIFY_NO)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (t->verify_client == TLS_VERIFY_REQUIRE
                                                   ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                           NULL);
    /* A session (ticket) belongs to its service as configured: OpenSSL
     * refuses to resume one made under another context. */
    unsigned char sid[SSL_MAX_SID_CTX_LENGTH];
    unsigned len = 0;
    if (sid_context(t, service, sid, &len) < 0 ||
        SSL_CTX_set_session_id_context(ctx, sid, len) != 1)
        return ssl_fail(e, "tls_cert", t->certs[0].line, "cannot set the session id context");
    /* Tickets only: no per-worker cache (a resumption may land on any
     * worker), one ticket per handshake. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 1);
    if (ring)
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
    SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
    SSL_CTX_set_tlsext_servername_arg(ctx, x);
    if (t->alpn)
        SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, (void *)t);
    return 0;
}

int tls_ctx_new(const struct conf_tls *t, const char *service, struct tls_ctx **out,
                struct tls_err *e)
{
    *out = NULL;
    if (ctx_index < 0)
        ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    if (conn_index < 0)
        conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    if (t->ncerts == 0 || t->nkeys < t->ncerts) {
        e->key = "tls_cert";
        e->line = 0;
        snprintf(e->msg, sizeof e->msg, "missing (a tls:// listener needs tls_cert and tls_key)");
        return -EINVAL;
    }
    struct tls_ctx *x = calloc(1, sizeof *x);
    if (x)
        x->v = calloc(t->ncerts, sizeof *x->v);
    if (!x || !x->v) {
        free(x);
        e->key = "tls_cert";
        snprintf(e->msg, sizeof e->msg, "out of memory");
        return -ENOMEM;
    }
    x->n = t->ncerts;
    x->conf = t;
    for (size_t i = 0; i < t->ncerts; i++) {
        int r = ctx_one(x, i, service, e);
        if (r < 0) {
            tls_ctx_free(x);
            return r;
        }
    }
    *out = x;
    return 0;
}

void tls_ctx_free(struct tls_ctx *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->n; i++)
        SSL_CTX_free(x->v[i]);
    free(x->v);
    free(x);
}

/* ---- connections ---- */

struct tls_conn {
    SSL *ssl;
    bool done;                  /* handshake finished */
    bool reneg;                 /* a handshake started after that */
    bool failed;                /* a fatal error: no SSL_shutdown now */
    bool notify_blocked;        /* close_notify waits for the socket */
    const char *why;
    char alpn[256];
    char *subject, *issuer;
};

/* A new handshake on a finished connection is a renegotiation attempt
 * (OpenSSL refuses it; we close the connection). */
static void info_cb(const SSL *s, int where, int ret)
{
    (void)ret;
    if (!(where & SSL_CB_HANDSHAKE_START))
        return;
    struct tls_conn *t = SSL_get_ex_data(s, conn_index);
    if (t && t->done)
        t->reneg = true;
}

struct tls_conn *tls_conn_new(struct tls_ctx *x, int fd)
{
    struct tls_conn *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ssl = SSL_new(x->v[0]);
    if (!t->ssl || SSL_set_fd(t->ssl, fd) != 1) {
        ERR_clear_error();
        SSL_free(t->ssl);
        free(t);
        return NULL;
    }
    SSL_set_ex_data(t->ssl, conn_index, t);
    SSL_set_accept_state(t->ssl);
    t->why = "";
    return t;
}

void tls_conn_free(struct tls_conn *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    free(t->subject);
    free(t->issuer);
    free(t);
}

/* Map an SSL_* result: -EAGAIN with *want, 0 at close_notify, or an
 * error with t->why. */
static ssize_t result(struct tls_conn *t, int n, unsigned *want)
{
    int err = SSL_get_error(t->ssl, n);
    switch (err) {
    case SSL_ERROR_WANT_READ:
        *want = TLS_WANT_READ;
        ERR_clear_error();
        return -EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        *want = TLS_WANT_WRITE;
        ERR_clear_error();
        return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        return 0;
    case SSL_ERROR_SYSCALL: {
        int e = errno;
        ERR_clear_error();
        t->failed = true;
        t->why = e ? strerror(e) : "connection closed";
        return e == ECONNRESET ? -ECONNRESET : e ? -EPROTO : -EPIPE;
    }
    default: {
        t->failed = true;
        unsigned long code = ERR_peek_last_error();
        const char *r = code ? ERR_reason_error_string(code) : NULL;
        t->why = r ? r : "TLS error";
        ERR_clear_error();
        /* A FIN without close_notify (OpenSSL 3 reports it as an error):
         * a truncation, told apart from a protocol error. */
        if (code && ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            t->why = "closed without close_notify";
            return -EPIPE;
        }
        return -EPROTO;
    }
    }
}

int tls_handshake(struct tls_conn *t, unsigned *want)
{
    int n = SSL_do_handshake(t->ssl);
    if (n == 1) {
        t->done = true;
        return 1;
    }
    ssize_t r = result(t, n, want);
    if (r == 0 || r == -EPIPE) {
        t->why = "closed during the handshake";
        return -EPROTO;
    }
    return r == -EAGAIN ? 0 : (int)r;
}

ssize_t tls_recv(struct tls_conn *t, void *buf, size_t len, unsigned *want)
{
    size_t got = 0;
    int n = SSL_read_ex(t->ssl, buf, len, &got);
    if (t->reneg) {
        t->why = "renegotiation refused";
        return -EPROTO;
    }
    if (n == 1)
        return (ssize_t)got;
    return result(t, n, want);
}

ssize_t tls_send(struct tls_conn *t, const void *buf, size_t len, unsigned *want)
{
    size_t put = 0;
    int n = SSL_write_ex(t->ssl, buf, len, &put);
    if (n == 1)
        return (ssize_t)put;
    return result(t, n, want);
}

size_t tls_pending(const struct tls_conn *t)
{
    return (size_t)SSL_pending(t->ssl);
}

int tls_close_notify(struct tls_conn *t)
{
    if (!t || !t->done || t->failed || t->reneg ||
        ((SSL_get_shutdown(t->ssl) & SSL_SENT_SHUTDOWN) && !t->notify_blocked))
        return 0;
    int n = SSL_shutdown(t->ssl);   /* again: sends what a full socket held back */
    t->notify_blocked = false;
    if (n >= 0) {
        ERR_clear_error();
        return 0;
    }
    int err = SSL_get_error(t->ssl, n);
    ERR_clear_error();
    if (err != SSL_ERROR_WANT_WRITE)
        t->failed = true;
    t->notify_blocked = err == SSL_ERROR_WANT_WRITE;
    return t->notify_blocked ? -EAGAIN : 0;
}

const char *tls_why(const struct tls_conn *t)
{
    return t->why && *t->why ? t->why : "TLS error";
}

bool tls_renegotiating(const struct tls_conn *t)
{
    return t->reneg;
}

/* A certificate name as RFC 2253 text ("CN=client,O=Example"), malloc'ed,
 * or NULL. */
static char *name_text(const X509_NAME *nm)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (b && X509_NAME_print_ex(b, nm, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        char *p;
        long n = BIO_get_mem_data(b, &p);
        out = n >= 0 ? strndup(p, (size_t)n) : NULL;
    }
    BIO_free(b);
    return out;
}

/* The end of the first fields (version to peer_issuer) a caller must have. */
#define INFO_MIN offsetof(struct superd_tls_info, resumed)

int tls_conn_info(struct tls_conn *t, struct superd_tls_info *info)
{
    if (info->size < INFO_MIN)
        return -EINVAL;
    struct superd_tls_info f = { .size = info->size };
    f.version = SSL_get_version(t->ssl);
    f.cipher = SSL_get_cipher_name(t->ssl);
    f.sni = SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name);
    const unsigned char *a = NULL;
    unsigned alen = 0;
    SSL_get0_alpn_selected(t->ssl, &a, &alen);
    if (a && alen) {
        memcpy(t->alpn, a, alen);
        t->alpn[alen] = '\0';
        f.alpn = t->alpn;
    }
    X509 *peer = SSL_get0_peer_certificate(t->ssl);
    if (peer && SSL_get_verify_result(t->ssl) == X509_V_OK) {
        if (!t->subject)
            t->subject = name_text(X509_get_subject_name(peer));
        if (!t->issuer)
            t->issuer = name_text(X509_get_issuer_name(peer));
        f.peer_subject = t->subject;
        f.peer_issuer = t->issuer;
    }
    f.resumed = SSL_session_reused(t->ssl);
    size_t n = info->size < sizeof f ? info->size : sizeof f;
    memcpy(info, &f, n);
    info->size = n;
    return 0;
}
