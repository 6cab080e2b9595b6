/* serve.h - the serving context: what stream connections and datagram
 * listeners need of the process that serves them (its loop, its
 * connections, its shared counters and per-source table, a spare
 * descriptor).  A worker owns one; a unit test can make one without a
 * worker.  Connections and listeners point at it, never at the worker. */
#ifndef SUPERD_SERVE_H
#define SUPERD_SERVE_H

#include <stddef.h>

#include "loop.h"

struct conf;
struct dgram_own;
struct listener;
struct sources;
struct stats;
struct superd_conn;

/* The connections of one serving context. */
struct conn_set {
    struct superd_conn *live;   /* doubly linked */
    struct superd_conn *dead;   /* closed, freed after the current batch */
    size_t nlive;
};

struct serve {
    struct loop *loop;
    const struct conf *conf;
    struct stats *stats;            /* shared counters, or NULL (no limits) */
    struct sources *sources;        /* shared per-source table, or NULL */
    int stats_row;                  /* this process's row in stats */
    int spare_fd;                   /* given up to shed a connection on EMFILE */
    struct dgram_own *own;          /* the datagram listeners served here, for
                                     * loop protection (dgram.h), or NULL */
    struct conn_set conns;
    /* The connection whose callback is running: it is settled when the
     * callback returns, so writes to it need no settle-list entry. */
    struct superd_conn *current;
};

#endif
