/* conn.h - stream connections: accepting, reading into the plugin,
 * the output queue with its high-water mark, half-close, deferred free.
 * Implements the connection part of the plugin API. */
#ifndef SUPERD_CONN_H
#define SUPERD_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "addr.h"
#include "buf.h"
#include "loop.h"

/* The most a plugin may leave unconsumed: one request. */
#define CONN_IN_MAX (64 * 1024)
/* Above this much queued output, reading pauses until it drains. */
#define CONN_OUT_HIGH (256 * 1024)
/* Connections accepted per listener wake-up, so one busy listener cannot
 * starve the others. */
#define CONN_ACCEPT_BATCH 64

struct listener;

/* The connections of one worker. */
struct conn_set {
    struct superd_conn *live;   /* doubly linked */
    struct superd_conn *dead;   /* closed, freed after the current batch */
    size_t nlive;
};

struct superd_conn {
    struct loop_watch w;
    struct listener *lsn;
    struct superd_service *svc;
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
    union {                     /* the peer, when max_per_source counts it */
        struct sockaddr sa;
        struct sockaddr_in6 in6;
    } src;
    struct superd_conn *prev, *next;
    char peer[ADDR_TEXT_MAX];
};

/* Listener callback: accept up to CONN_ACCEPT_BATCH connections. */
void conn_accept_ready(struct loop_watch *w, uint32_t events);

/* Free connections closed during the last batch of events: the only place
 * connection memory is freed, outside every callback chain. */
void conn_reap(struct conn_set *set);

/* Close connections past their idle_timeout or max_lifetime.  Called by
 * the worker a few times a second, outside every callback. */
void conn_sweep(struct conn_set *set, long long now);

/* Close every live connection now (on_close runs), then reap. */
void conn_close_all(struct conn_set *set);

#endif
