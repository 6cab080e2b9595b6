/* conn.h - stream connections: accepting, reading into the plugin,
 * the output queue with its high-water mark, half-close, deferred free.
 * Implements the connection part of the plugin API. */
#ifndef SUPERD_CONN_H
#define SUPERD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <netinet/in.h>

#include "addr.h"
#include "buf.h"
#include "loop.h"
#include "serve.h"

/* The most a plugin may leave unconsumed: one request. */
#define CONN_IN_MAX (64 * 1024)
/* Above this much queued output, reading pauses until it drains. */
#define CONN_OUT_HIGH (256 * 1024)
/* Connections accepted per listener wake-up, so one busy listener cannot
 * starve the others. */
#define CONN_ACCEPT_BATCH 64

struct listener;
struct superd_conn;
struct tls_conn;
struct superd_conn_ops;

/*
 * How a connection's bytes move: plain socket calls, or (later) a TLS
 * layer, under the same connection logic (as nginx's c->recv / c->send).
 * Each returns the bytes moved, 0 at end of input (recv), or a negative
 * errno: -EAGAIN when the transport cannot go on now.  Never blocks.
 */
struct conn_io {
    ssize_t (*recv)(struct superd_conn *c, void *buf, size_t len);
    ssize_t (*send)(struct superd_conn *c, const void *buf, size_t len);
};

/* recv(2) and send(2) on c->fd. */
extern const struct conn_io conn_io_plain;

/* SSL_read and SSL_write on c->tls (tls.c), for tls:// listeners. */
extern const struct conn_io conn_io_tls;

struct superd_conn {
    struct loop_watch w;
    const struct conn_io *io;
    struct serve *srv;          /* its serving context */
    struct listener *lsn;       /* the listener that accepted it; NULL: outbound */
    const struct superd_conn_ops *ops;  /* outbound: its callbacks (all
                                         * fields); NULL: the plugin's */
    struct superd_service *svc;
    const struct superd_plugin *plug;   /* its callbacks: the service's
                                 * plugin, or the relay to a program behind
                                 * TLS (tls_relay.c) */
    int fd;
    unsigned flags;             /* CONN_* in conn.c */
    struct buf in;              /* bytes the plugin has not consumed */
    struct buf out;             /* bytes the socket has not taken */
    void *data;                 /* the plugin's own */
    long long start_ms;         /* accepted at (monotonic) */
    uint64_t bytes_in, bytes_out;
    const char *why;            /* first reason it is closing, for the log */
    long long last_ms;          /* last byte in or out, for idle_timeout */
    size_t direct;              /* bytes written straight through since settle() */
    int connect_err;            /* outbound: connect() failed at once */
    struct loop_timer timer;    /* idle_timeout and max_lifetime */
    struct loop_pending settle; /* touched outside its own callbacks */
    struct tls_conn *tls;       /* tls:// listeners: the TLS state, or NULL */
    unsigned tls_want;          /* TLS_WANT_*: what an SSL call waits for
                                 * besides the connection's own interest */
    struct loop_pending more;   /* TLS: decrypted bytes are waiting */
    union {                     /* the peer, when max_per_source counts it */
        struct sockaddr sa;
        struct sockaddr_in6 in6;
    } src;
    union {                     /* a PROXY header's destination (AF_UNSPEC:
                                 * none): SUPERD_ADDR_LOCAL, and a program's
                                 * TCPLOCALIP behind TLS */
        struct sockaddr sa;
        struct sockaddr_in6 in6;
    } pdst;
    struct superd_conn *prev, *next;
    char peer[ADDR_TEXT_MAX];
};

/* Listener callback: accept up to CONN_ACCEPT_BATCH connections. */
void conn_accept_ready(struct loop_watch *w, uint32_t events);

/* Free connections closed during the last batch of events: the only place
 * connection memory is freed, outside every callback chain. */
void conn_reap(struct conn_set *set);

/* Close every live connection now (on_close runs), then reap. */
void conn_close_all(struct conn_set *set);

/*
 * Serve an outbound connection (superd_connect): `c` was allocated with
 * calloc (it may be the first member of a larger allocation: conn_reap
 * frees c) and has srv, svc, ops, data, src and peer set; `fd` is a
 * non-blocking socket whose connect() is in progress or done (err 0) or
 * failed at once (err, a negative errno, then reported through
 * on_connect when the running callback returns).  The connect is given
 * timeout_ms.  Takes c and fd on success (on_close will follow); returns
 * a negative errno otherwise, leaving both to the caller.
 */
int conn_outbound(struct superd_conn *c, int fd, int err, long long timeout_ms);

/* Flow control (superd_pause, superd_resume, superd_shutdown): 0, or
 * -EPIPE when the connection is closing. */
int conn_pause(struct superd_conn *c);
int conn_resume(struct superd_conn *c);
int conn_shutdown(struct superd_conn *c);

#endif
