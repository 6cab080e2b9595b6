/* tls.h - TLS with OpenSSL 3: a service's contexts built from the PEM
 * bytes the master read (tls_conf.h), the session-ticket keys shared by
 * every worker, and one connection's TLS state (handshake, record I/O,
 * close_notify, the facts a plugin may ask for).
 *
 * Where keys live: the master reads every PEM file when it loads the
 * configuration (as root, before any privilege drop); workers inherit the
 * bytes across fork and build their own contexts from memory in
 * service_start, after dropping privileges.  Building in each worker (not
 * once in the master) keeps OpenSSL's mutable state (reference counts,
 * statistics, caches) out of pages shared copy-on-write with the master,
 * keeps the master free of live TLS state, and makes a reload (new
 * workers, new bytes) pick up renewed certificates with no extra step.
 */
#ifndef SUPERD_TLS_H
#define SUPERD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "tls_conf.h"

struct superd_tls_info;

/* Which readiness a TLS operation waits for (tls_*'s *want). */
#define TLS_WANT_READ 1u
#define TLS_WANT_WRITE 2u

/* Where a context could not be built: the key and line to name. */
struct tls_err {
    const char *key;        /* "tls_ciphers", "tls_cert", ... */
    int line;
    char msg[512];
};

/* A service's contexts: one per certificate, the first the default. */
struct tls_ctx;

/*
 * Build the contexts of one service from `t` (checked by tls_conf_check):
 * TLS 1.2 at least (t->min_version), no renegotiation, no compression,
 * server cipher order, SNI choosing among the certificates by their names,
 * ALPN, client certificates per tls_verify_client, session tickets with
 * the shared keys (when tls_tickets_init ran in this process or its
 * parent) and a session id context hashing `service`, tls_verify_client,
 * the CA and the certificates (a ticket never resumes on another service,
 * nor after a reload changed how clients are checked).  On failure returns a negative errno with
 * *e naming the key.  `t` must outlive the context.
 */
int tls_ctx_new(const struct conf_tls *t, const char *service, struct tls_ctx **out,
                struct tls_err *e);
void tls_ctx_free(struct tls_ctx *x);

/* ---- session-ticket keys, shared by the master and its workers ---- */

/* In the master, once, before any fork: map the shared key ring and put a
 * first key in it.  Returns 0 or a negative errno. */
int tls_tickets_init(void);

/* In the master: rotate when `period_ms` (0: the default) has passed since
 * the last rotation.  Returns the monotonic ms of the next rotation, or -1
 * when there is no ring. */
long long tls_tickets_tick(long long now_ms, unsigned period_ms);

/* In a worker, before any plugin runs: drop the inherited writable
 * mapping, map the sealed ring read-only (the kernel refuses write access
 * from then on) and close its memfd.  Without a ring: nothing. */
void tls_tickets_readonly(void);

/* In a child that needs no keys (the spawner): unmap the ring, close it. */
void tls_tickets_drop(void);

/* The ring's mapping in this process and its size (tests); NULL: none. */
const void *tls_tickets_page(size_t *len);

/* How many rotations the ring has seen (tests, logs); -1 without ring. */
long tls_tickets_generation(void);

/* ---- one connection ---- */

struct tls_conn;

/* A server-side TLS state on the connected socket fd, or NULL (out of
 * memory; logged by the caller). */
struct tls_conn *tls_conn_new(struct tls_ctx *x, int fd);
void tls_conn_free(struct tls_conn *t);

/*
 * Go on with the handshake.  Returns 1 when it is done, 0 when it waits
 * (*want says for what), or a negative errno when it failed (why(t) tells,
 * for the log: "wrong version number", "no certificate returned", ...).
 */
int tls_handshake(struct tls_conn *t, unsigned *want);

/* Read plaintext: bytes read, 0 at the peer's close_notify, or a negative
 * errno: -EAGAIN with *want set when it must wait, -EPIPE at a FIN without
 * close_notify (a truncation), -ECONNRESET, -EPROTO (a TLS error). */
ssize_t tls_recv(struct tls_conn *t, void *buf, size_t len, unsigned *want);

/* Write plaintext: bytes written, or a negative errno (-EAGAIN with *want). */
ssize_t tls_send(struct tls_conn *t, const void *buf, size_t len, unsigned *want);

/* Plaintext already decrypted and buffered (no readiness will announce
 * it). */
size_t tls_pending(const struct tls_conn *t);

/* Send close_notify, without waiting for the peer's.  Returns 0, or
 * -EAGAIN when the socket could not take it now (call again). */
int tls_close_notify(struct tls_conn *t);

/* Why the last operation failed, for the log (never NULL). */
const char *tls_why(const struct tls_conn *t);

/* True once a client asked to renegotiate (refused; the caller closes). */
bool tls_renegotiating(const struct tls_conn *t);

/* Fill what fits of `info` (info->size says how much the caller has).
 * Strings belong to t. Returns 0. */
int tls_conn_info(struct tls_conn *t, struct superd_tls_info *info);

#endif
