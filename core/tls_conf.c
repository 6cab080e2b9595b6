/* tls_conf.c - the tls_* configuration keys: their rows in the key table,
 * their setters (which read PEM files at load time, in the master) and the
 * checks of a service's TLS section as a whole. */
#include "tls_conf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "conf_keys.h"
#include "config.h"
#include "tls.h"

/* The largest PEM file read: a long chain or CA bundle fits many times. */
#define PEM_MAX (1024 * 1024)

#define S(f) offsetof(struct conf_service, f)
#define SIZE_S(f) sizeof(((struct conf_service *)0)->f)
#define OFF_S(f) .off = { 0, S(f) }, .size = SIZE_S(f)
#define G(f) offsetof(struct conf, f)
#define OFF_G(f) .off = { G(f), 0 }, .size = sizeof(((struct conf *)0)->f)

static conf_setter set_cert, set_key, set_ca, set_min_version, set_alpn, set_timeout,
    set_rotate, set_cipher_string;

static const struct conf_choice verify_choices[] = {
    { "no", TLS_VERIFY_NO }, { "optional", TLS_VERIFY_OPTIONAL },
    { "require", TLS_VERIFY_REQUIRE }, { NULL, 0 },
};

/* Records the first tls_* line of the service, then runs the type. */
static int set_verify(struct conf_arg *a)
{
    if (!a->svc->tls.line)
        a->svc->tls.line = a->line;
    return conf_set_enum(a);
}

const struct conf_key tls_conf_keys[] = {
    { "tls_cert", CONF_SERVICE, set_cert, OFF_S(tls) },
    { "tls_key", CONF_SERVICE, set_key, OFF_S(tls) },
    { "tls_ca", CONF_SERVICE, set_ca, OFF_S(tls) },
    { "tls_verify_client", CONF_SERVICE, set_verify, OFF_S(tls.verify_client),
      .choices = verify_choices, .hint = "no, optional or require",
      .line_at = { 0, S(tls.verify_line) + 1 } },
    { "tls_min_version", CONF_SERVICE, set_min_version, OFF_S(tls.min_version) },
    { "tls_ciphers", CONF_SERVICE, set_cipher_string, OFF_S(tls.ciphers),
      .line_at = { 0, S(tls.ciphers_line) + 1 } },
    { "tls_ciphersuites", CONF_SERVICE, set_cipher_string, OFF_S(tls.ciphersuites),
      .line_at = { 0, S(tls.ciphersuites_line) + 1 } },
    { "tls_alpn", CONF_SERVICE, set_alpn, OFF_S(tls) },
    { "tls_handshake_timeout", CONF_SERVICE, set_timeout, OFF_S(tls.handshake_timeout_ms) },
    { "tls_ticket_rotate", CONF_GLOBAL, set_rotate, OFF_G(tls_ticket_rotate_ms) },
    { .name = NULL },
};

/* The first of OpenSSL's queued errors, as text, and clear the queue. */
static const char *ssl_reason(char *buf, size_t size)
{
    unsigned long e = ERR_peek_last_error();
    if (e == 0)
        snprintf(buf, size, "not PEM");
    else
        snprintf(buf, size, "%s", ERR_reason_error_string(e) ? ERR_reason_error_string(e)
                                                             : "unknown error");
    ERR_clear_error();
    return buf;
}

static void mark(struct conf_arg *a)
{
    if (!a->svc->tls.line)
        a->svc->tls.line = a->line;
}

/* Read the whole file named by a->value into *pem (path resolved against
 * the file's directory).  The master does this, as root when started as
 * root: the file may be readable by root only. */
static int read_pem(struct conf_arg *a, struct tls_pem *pem)
{
    memset(pem, 0, sizeof *pem);
    pem->line = a->line;
    pem->path = conf_resolve(a->dir, a->value);
    if (!pem->path)
        return conf_fail(a, -ENOMEM, "out of memory");
    /* O_NONBLOCK: a FIFO put there must not hang the master (it is refused
     * below as not a regular file).  Symlinks are followed: certificates
     * often live behind one (Let's Encrypt's live/ -> archive/). */
    int fd = open(pem->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return conf_fail(a, -e, "cannot read %s: %s", pem->path, strerror(e));
    }
    if (!S_ISREG(st.st_mode) || st.st_size > PEM_MAX) {
        close(fd);
        return conf_fail(a, -EINVAL, "%s: %s", pem->path,
                         S_ISREG(st.st_mode) ? "larger than 1 MiB" : "not a regular file");
    }
    pem->data = malloc((size_t)st.st_size + 1);
    if (!pem->data) {
        close(fd);
        return conf_fail(a, -ENOMEM, "out of memory");
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, pem->data + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            close(fd);
            return conf_fail(a, -e, "cannot read %s: %s", pem->path, strerror(e));
        }
        got += (size_t)n;
    }
    close(fd);
    pem->data[got] = '\0';
    pem->len = got;
    return 0;
}

static void pem_free(struct tls_pem *pem, bool secret)
{
    if (pem->data && secret)
        OPENSSL_cleanse(pem->data, pem->len);
    free(pem->data);
    free(pem->path);
    memset(pem, 0, sizeof *pem);
}

/* Append to a tls_pem vector. */
static int push_pem(struct conf_arg *a, struct tls_pem **v, size_t *n, struct tls_pem *pem)
{
    struct tls_pem *nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv)
        return conf_fail(a, -ENOMEM, "out of memory");
    *v = nv;
    nv[(*n)++] = *pem;
    return 0;
}

/* The first certificate of a PEM file, or NULL with a reason. */
static X509 *first_cert(const struct tls_pem *pem, char *why, size_t size)
{
    BIO *b = BIO_new_mem_buf(pem->data, (int)pem->len);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    if (!x)
        ssl_reason(why, size);
    BIO_free(b);
    return x;
}

/* A passphrase callback that never asks: an encrypted key is refused
 * rather than prompting on a daemon's terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

/* Warn when a certificate is expired or not valid yet: the file is good
 * (an operator may be about to renew), clients will refuse it. */
static void warn_validity(struct conf_arg *a, const char *path, X509 *x)
{
    char when[64] = "";
    const ASN1_TIME *t = NULL;
    const char *what = NULL;
    if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
        t = X509_get0_notAfter(x);
        what = "expired on";
    } else if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0) {
        t = X509_get0_notBefore(x);
        what = "not valid before";
    }
    if (!t)
        return;
    BIO *b = BIO_new(BIO_s_mem());
    if (b && ASN1_TIME_print(b, t) > 0) {
        int n = BIO_read(b, when, sizeof when - 1);
        when[n > 0 ? n : 0] = '\0';
    }
    BIO_free(b);
    conf_warn(a, "certificate %s %s %s: clients will refuse it", path, what, when);
}

/* tls_cert = FILE: a PEM chain, the server's certificate first. */
static int set_cert(struct conf_arg *a)
{
    struct conf_tls *t = &a->svc->tls;
    struct tls_pem pem;
    char why[256];
    mark(a);
    int r = read_pem(a, &pem);
    X509 *x = r == 0 ? first_cert(&pem, why, sizeof why) : NULL;
    if (r == 0 && !x)
        r = conf_fail(a, -EINVAL, "%s: no PEM certificate (%s)", pem.path, why);
    if (x) {
        warn_validity(a, pem.path, x);
        X509_free(x);
        r = push_pem(a, &t->certs, &t->ncerts, &pem);
    }
    if (r < 0)
        pem_free(&pem, false);
    return r;
}

/* tls_key = FILE: the private key of the tls_cert given before it. */
static int set_key(struct conf_arg *a)
{
    struct conf_tls *t = &a->svc->tls;
    mark(a);
    if (t->nkeys >= t->ncerts)
        return conf_fail(a, -EINVAL, "no tls_cert before it (give tls_cert, then its tls_key)");
    struct tls_pem pem;
    char why[256];
    int r = read_pem(a, &pem);
    if (r < 0) {
        pem_free(&pem, true);
        return r;
    }
    const struct tls_pem *cert = &t->certs[t->nkeys];
    BIO *b = BIO_new_mem_buf(pem.data, (int)pem.len);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;
    BIO_free(b);
    X509 *x = k ? first_cert(cert, why, sizeof why) : NULL;
    if (!k) {
        bool encrypted = strstr(pem.data, "ENCRYPTED") != NULL;
        ssl_reason(why, sizeof why);
        if (!strstr(pem.data, "PRIVATE KEY-----"))
            snprintf(why, sizeof why, "no PRIVATE KEY block");
        if (encrypted)
            r = conf_fail(a, -EINVAL, "%s: the key is encrypted (superd asks for no "
                          "passphrase: store it decrypted, readable by root only)", pem.path);
        else
            r = conf_fail(a, -EINVAL, "%s: no PEM private key (%s)", pem.path, why);
    } else if (x && X509_check_private_key(x, k) != 1) {
        ERR_clear_error();
        r = conf_fail(a, -EINVAL, "%s does not match the certificate %s (line %d)", pem.path,
                      cert->path, cert->line);
    } else {
        r = push_pem(a, &t->keys, &t->nkeys, &pem);
    }
    X509_free(x);
    EVP_PKEY_free(k);
    if (r < 0)
        pem_free(&pem, true);
    return r;
}

/* tls_ca = FILE: the CAs client certificates must chain to. */
static int set_ca(struct conf_arg *a)
{
    struct conf_tls *t = &a->svc->tls;
    char why[256];
    mark(a);
    int r = read_pem(a, &t->ca);
    X509 *x = r == 0 ? first_cert(&t->ca, why, sizeof why) : NULL;
    if (r == 0 && !x)
        r = conf_fail(a, -EINVAL, "%s: no PEM certificate (%s)", t->ca.path, why);
    X509_free(x);
    if (r < 0)
        pem_free(&t->ca, false);
    return r;
}

/* tls_min_version = 1.2 | 1.3: never below 1.2. */
static int set_min_version(struct conf_arg *a)
{
    static const struct { const char *name; int v; } versions[] = {
        { "1.2", 0x0303 }, { "TLSv1.2", 0x0303 }, { "1.3", 0x0304 }, { "TLSv1.3", 0x0304 },
    };
    mark(a);
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++)
        if (strcmp(a->value, versions[i].name) == 0) {
            *(int *)a->field = versions[i].v;
            return 0;
        }
    static const char *const old[] = { "1.0", "1.1", "TLSv1", "TLSv1.0", "TLSv1.1", "SSLv3" };
    for (size_t i = 0; i < sizeof old / sizeof old[0]; i++)
        if (strcmp(a->value, old[i]) == 0)
            return conf_fail(a, -EINVAL, "'%s' is refused: TLS 1.0, 1.1 and SSLv3 are broken "
                             "(1.2 or 1.3)", a->value);
    return conf_fail(a, -EINVAL, "'%s' is not 1.2 or 1.3", a->value);
}

/* tls_ciphers, tls_ciphersuites: OpenSSL checks them in tls_conf_check. */
static int set_cipher_string(struct conf_arg *a)
{
    mark(a);
    return conf_set_string(a);
}

/* tls_alpn = PROTO ...: the server's preference order, to the wire form
 * (each name preceded by its length). */
static int set_alpn(struct conf_arg *a)
{
    struct conf_tls *t = &a->svc->tls;
    mark(a);
    size_t len = strlen(a->value);
    unsigned char *wire = malloc(len + 1);
    char *copy = strdup(a->value), *save = NULL;
    size_t n = 0;
    int r = 0;
    if (!wire || !copy)
        r = conf_fail(a, -ENOMEM, "out of memory");
    for (char *w = r ? NULL : strtok_r(copy, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
        size_t wl = strlen(w);
        if (wl > 255) {
            r = conf_fail(a, -EINVAL, "protocol name '%.20s...' longer than 255 bytes", w);
            break;
        }
        wire[n++] = (unsigned char)wl;
        memcpy(wire + n, w, wl);
        n += wl;
    }
    free(copy);
    if (r == 0 && n == 0)
        r = conf_fail(a, -EINVAL, "no protocol name");
    if (r < 0) {
        free(wire);
        return r;
    }
    t->alpn = wire;
    t->alpn_len = n;
    return 0;
}

/* tls_handshake_timeout = DURATION: never none, a stalled client would
 * hold its slot for ever. */
static int set_timeout(struct conf_arg *a)
{
    unsigned ms;
    mark(a);
    if (conf_parse_duration(a->value, &ms) < 0 || ms == 0)
        return conf_fail(a, -EINVAL, "bad duration '%s' (examples: 250ms, 10s, 1m; not 0)",
                         a->value);
    *(unsigned *)a->field = ms;
    return 0;
}

/* tls_ticket_rotate = DURATION in [superd]: at least a second. */
static int set_rotate(struct conf_arg *a)
{
    unsigned ms;
    if (conf_parse_duration(a->value, &ms) < 0 || ms < 1000)
        return conf_fail(a, -EINVAL, "bad duration '%s' (examples: 30m, 1h, 12h; at least 1s)",
                         a->value);
    *(unsigned *)a->field = ms;
    return 0;
}

/* Report msg at the line of `key` (line 0: the service's line). */
static int fail_at(struct conf_arg *a, const char *key, int line, int rc, const char *msg)
{
    a->key = conf_key_find(CONF_SERVICE, key);
    a->line = line ? line : a->svc->line;
    return conf_fail(a, rc, "%s", msg);
}

int tls_conf_check(struct conf_arg *a)
{
    struct conf_service *s = a->svc;
    struct conf_tls *t = &s->tls;
    const struct laddr *tls = NULL;
    char msg[600];
    for (size_t i = 0; i < s->naddrs && !tls; i++)
        if (s->addrs[i].tls)
            tls = &s->addrs[i];
    if (!tls && !t->line)
        return 0;
    if (!tls)
        return fail_at(a, t->ncerts ? "tls_cert" : "tls_key", t->line, -EINVAL,
                       "no tls:// listener in this service: the tls_* keys apply to nothing");
    if (s->exec.program && s->exec.wait) {
        /* wait = yes hands the listener itself to the program. */
        snprintf(msg, sizeof msg, "%s: a wait = yes program cannot be behind TLS (superd "
                 "relays each connection: use wait = no)", tls->text);
        return fail_at(a, "listen", tls->line, -ENOTSUP, msg);
    }
    if (t->ncerts == 0) {
        snprintf(msg, sizeof msg, "%s needs tls_cert and tls_key in [%s]", tls->text, s->name);
        return fail_at(a, "listen", tls->line, -EINVAL, msg);
    }
    if (t->nkeys < t->ncerts) {
        snprintf(msg, sizeof msg, "%s has no tls_key after it", t->certs[t->nkeys].path);
        return fail_at(a, "tls_cert", t->certs[t->nkeys].line, -EINVAL, msg);
    }
    if (t->verify_client != TLS_VERIFY_NO && !t->ca.data)
        return fail_at(a, "tls_verify_client", t->verify_line, -EINVAL,
                       "needs tls_ca (the CAs a client certificate must chain to)");
    if (!t->min_version)
        t->min_version = 0x0303;
    if (!t->handshake_timeout_ms)
        t->handshake_timeout_ms = TLS_HANDSHAKE_TIMEOUT_MS;
    /* What only OpenSSL can judge (cipher strings, the CA file as a
     * store): a trial context, thrown away. */
    struct tls_ctx *x = NULL;
    struct tls_err e = { 0 };
    int r = tls_ctx_new(t, s->name, &x, &e);
    tls_ctx_free(x);
    if (r < 0)
        return fail_at(a, e.key ? e.key : "tls_cert", e.line, r, e.msg);
    return 0;
}

void tls_conf_free(struct conf_tls *t)
{
    for (size_t i = 0; i < t->ncerts; i++)
        pem_free(&t->certs[i], false);
    for (size_t i = 0; i < t->nkeys; i++)
        pem_free(&t->keys[i], true);
    free(t->certs);
    free(t->keys);
    pem_free(&t->ca, false);
    free(t->ciphers);
    free(t->ciphersuites);
    free(t->alpn);
    memset(t, 0, sizeof *t);
}
