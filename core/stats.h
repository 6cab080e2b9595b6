/* stats.h - counters shared by the master and its workers, in one
 * anonymous shared mapping made before the first fork.
 *
 * Each worker writes only its own row per service (one writer, no
 * contention); the master sums the rows for SIGUSR1 and, when a worker
 * dies, folds its row into the service's `retired` totals and gives its
 * active connections back.  `active` per service and in total is shared by
 * every worker: it is what max_connections is checked against.
 */
#ifndef SUPERD_STATS_H
#define SUPERD_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATS_MAX_SERVICES 128
#define STATS_MAX_WORKERS 128
#define STATS_NAME_MAX 64

/* The counters of one service, in one worker or summed. */
struct stats_row {
    int64_t active;         /* open connections */
    uint64_t accepted;
    uint64_t refused;       /* over a limit: accepted and closed at once */
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t dgrams_in;
    uint64_t dgrams_out;
    uint64_t loop_drops;    /* datagrams dropped by loop protection */
};

struct stats_service {
    char name[STATS_NAME_MAX];  /* "" when the slot is free */
    int64_t active;             /* across all workers (atomic) */
    struct stats_row retired;   /* rows of workers that are gone */
};

struct stats {
    int64_t active;             /* every connection of every service (atomic) */
    struct stats_service svc[STATS_MAX_SERVICES];
    struct stats_row rows[STATS_MAX_WORKERS][STATS_MAX_SERVICES];
    bool worker_used[STATS_MAX_WORKERS];
    uint8_t worker_ready[STATS_MAX_WORKERS];  /* set by a worker once its plugins run */
};

/* Add to a counter of the caller's own row (single writer, but read by the
 * master at any time: atomic, relaxed). */
#define STATS_ADD(row, field, n) \
    ((void)((row) ? __atomic_fetch_add(&(row)->field, (n), __ATOMIC_RELAXED) : 0))

/* Map the shared region (zeroed).  Returns NULL on failure. */
struct stats *stats_create(void);
void stats_destroy(struct stats *st);

/* The slot of the service `name`, taking a free one if it has none.
 * Returns the index or -ENOSPC. */
int stats_service_slot(struct stats *st, const char *name);

/* Free the slots of services whose `keep[i]` is false (after a reload,
 * once no worker serves them). */
void stats_service_release(struct stats *st, const bool keep[STATS_MAX_SERVICES]);

/* Take a free worker row (zeroed): the index, or -ENOSPC. */
int stats_worker_take(struct stats *st);

/* A worker is gone: fold its row into `retired`, give back its active
 * connections (so no slot leaks when it crashed), and free the row. */
void stats_worker_release(struct stats *st, int worker);

/* Sum of the retired row and every worker's row of one service. */
void stats_sum(const struct stats *st, int service, struct stats_row *out);

/*
 * Count a new connection of `service` against the limits (0: none).
 * Returns true and counts it as active, or false (and counts nothing) when
 * a limit is reached.
 */
bool stats_conn_admit(struct stats *st, int service, int64_t max_service, int64_t max_total);

/* A connection admitted by stats_conn_admit is gone. */
void stats_conn_release(struct stats *st, int service);

#endif
