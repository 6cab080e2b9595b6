/* tls_conf.h - a service's TLS settings as the configuration gives them:
 * the tls_* keys (their table rows are in tls_conf.c) and the PEM bytes of
 * every certificate, key and CA file, read by the master when it loads the
 * file (as root, before any privilege drop), so that a worker never opens
 * a key file: it builds its TLS contexts from these bytes (tls.c).
 * No OpenSSL type appears here. */
#ifndef SUPERD_TLS_CONF_H
#define SUPERD_TLS_CONF_H

#include <stdbool.h>
#include <stddef.h>

/* One PEM file, whole, as read at load time. */
struct tls_pem {
    char *path;             /* resolved against the configuration's directory */
    char *data;             /* its bytes (keys are wiped before free) */
    size_t len;
    int line;               /* the key's line */
};

/* tls_verify_client */
enum { TLS_VERIFY_NO, TLS_VERIFY_OPTIONAL, TLS_VERIFY_REQUIRE };

/* Defaults, documented in docs/tls.md. */
#define TLS_HANDSHAKE_TIMEOUT_MS (10 * 1000)
#define TLS_TICKET_ROTATE_MS (60 * 60 * 1000)

struct conf_tls {
    struct tls_pem *certs;  /* tls_cert, in file order: [0] is the default */
    size_t ncerts;
    struct tls_pem *keys;   /* tls_key: keys[i] belongs to certs[i] */
    size_t nkeys;
    struct tls_pem ca;      /* tls_ca; .data NULL when not given */
    int verify_client;      /* TLS_VERIFY_* */
    int verify_line;
    int min_version;        /* 0x0303 (TLS 1.2, the default) or 0x0304 */
    char *ciphers;          /* tls_ciphers (TLS 1.2), or NULL: ours */
    char *ciphersuites;     /* tls_ciphersuites (TLS 1.3), or NULL: OpenSSL's */
    int ciphers_line, ciphersuites_line;
    unsigned char *alpn;    /* tls_alpn in the wire format, or NULL */
    size_t alpn_len;
    unsigned handshake_timeout_ms;  /* 0 until checked: then the default */
    int line;               /* the first tls_* key's line; 0: none given */
};

/* The tls_* rows of the key table, tls_conf_keys[] in tls_conf.c, are
 * declared where they are listed: conf_keys.c's tables[]. */

/*
 * Checks of a service's TLS settings that need its whole section: a
 * tls:// listener has a certificate and a key, tls_* keys have a tls://
 * listener, certificates and keys pair up, tls_verify_client has a tls_ca,
 * and OpenSSL accepts all of it (a trial context: cipher strings, the CA
 * file).  Sets the defaults.  `a` is filled by config.c for the service
 * (key and line are set here); errors go through conf_fail.  Returns 0 or
 * the negative errno reported.
 */
struct conf_arg;
int tls_conf_check(struct conf_arg *a);

/* Free what the tls_* keys allocated, wiping key bytes first. */
void tls_conf_free(struct conf_tls *t);

#endif
