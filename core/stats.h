/* stats.h - counters shared by the master and its workers, in one
 * anonymous shared mapping made before the first fork.
 *
 * Each worker writes only its own row (one writer, no lock): per service
 * its counters and its open connections, and its open connections in
 * total.  max_connections is checked against the sum of the rows, so a
 * worker that dies (even in the middle of an update) takes exactly its own
 * connections with it: the master folds its row into the service's
 * `retired` totals and drops it, and no shared counter can drift.
 *
 * Service slots belong to the master: it gives each service of the running
 * configuration a slot (stats_assign), every worker row it takes serves
 * the slots assigned at that time, and a slot is freed when it is no
 * longer assigned and the last row that served it is released.
 *
 * A worker may be compromised, and it can write the whole map.  So the
 * master keeps the slot bookkeeping (names, assigned, users, which rows
 * are taken and which slots each serves) in its own memory and decides
 * from that alone; the same fields in the map are a copy it publishes for
 * the workers' look-ups and sums, and never reads back.
 */
#ifndef SUPERD_STATS_H
#define SUPERD_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define STATS_MAX_SERVICES 128
#define STATS_MAX_WORKERS 128
#define STATS_NAME_MAX 64
/* Listener slots: every listen address of every service, counting those
 * that workers of an earlier configuration still serve during a reload.
 * A configuration with more is refused like one with too many services.
 * Their rows take 128 bytes per worker and listener: the mapping is
 * 64 MiB of address space, of which only the rows in use are touched. */
#define STATS_MAX_LISTENERS 4096
/* A listener's label: "unix-dgram:" and a path of ADDR_TEXT_MAX. */
#define STATS_LABEL_MAX 144

/* Why a connection or datagram was refused (the metrics' `reason`). */
enum stats_refusal {
    STATS_REFUSED_ACL,              /* only_from / no_access */
    STATS_REFUSED_PER_SOURCE,       /* max_per_source */
    STATS_REFUSED_RATE,             /* rate_limit */
    STATS_REFUSED_MAX_CONN,         /* max_connections, of the service or of all */
    STATS_REFUSED_TABLE_FULL,       /* the per-source table had no room */
    STATS_REFUSED_TLS,              /* the TLS handshake failed or timed out */
    STATS_REFUSED_PROXY,            /* no valid PROXY header in time, or untrusted */
    STATS_REFUSED_OTHER,            /* out of memory, a limit that cannot be counted */
    STATS_REFUSALS
};

/* Upper bounds (ms) of the connection lifetime histogram's buckets; the
 * last bucket is +Inf. */
#define STATS_LIFETIME_BOUNDS { 10, 100, 1000, 10000, 60000, 600000 }
#define STATS_LIFETIME_BUCKETS 7

/* The counters of one service, in one worker or summed.  Every field after
 * `active` is a uint64_t counter (stats_sum folds them as an array). */
struct stats_row {
    int64_t active;         /* open connections */
    uint64_t accepted;
    uint64_t refused;       /* over a limit: accepted and closed at once */
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t dgrams_in;
    uint64_t dgrams_out;
    uint64_t loop_drops;    /* datagrams dropped by loop protection */
    uint64_t budget_drops;  /* replies dropped by udp_reply_rate or the amplification budget */
    uint64_t refused_by[STATS_REFUSALS];
    uint64_t closed;                            /* connections closed (the histogram's count) */
    uint64_t lifetime_ms;                       /* their lifetimes added up */
    uint64_t lifetime[STATS_LIFETIME_BUCKETS];  /* per bucket, not cumulative */
    uint64_t tls_handshakes;
    uint64_t tls_failures;
};

/* The counters of one listener in one worker, or summed: two cache lines,
 * the first holding every field a connection or a datagram touches.  A
 * listener's figures are also counted in its service's stats_row: the
 * service's keep what listeners removed by a reload had counted. */
struct stats_lrow {
    int64_t active;         /* open connections (admitted against max_connections) */
    uint64_t accepted;      /* the same events as stats_row.accepted */
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t dgrams_in;
    uint64_t dgrams_out;
    uint64_t loop_drops;
    uint64_t budget_drops;
    uint64_t refused_by[STATS_REFUSALS];
} __attribute__((aligned(64)));

/* Restarts of workers, by cause (the metrics' `cause`). */
enum stats_restart {
    STATS_RESTART_CRASH,            /* killed by a signal while serving */
    STATS_RESTART_EXIT,             /* exited unasked while serving */
    STATS_RESTART_STARTUP,          /* died before its plugins started */
    STATS_RESTARTS
};

/* Figures of the process tree, written by the master only (workers and the
 * metrics endpoint only read them). */
struct stats_proc {
    int64_t start_time;             /* unix seconds */
    uint64_t restarts[STATS_RESTARTS];
    uint64_t reloads;               /* successful */
    uint64_t reload_failures;
    int64_t last_reload;            /* unix seconds of the last successful one; 0: none */
    /* Programs of exec services, written by whoever starts and reaps them. */
    uint64_t exec_started;
    uint64_t exec_running;
    uint64_t exec_exited_ok;        /* status 0 */
    uint64_t exec_exited_error;     /* another status */
    uint64_t exec_killed;           /* by a signal */
};

struct stats_service {
    char name[STATS_NAME_MAX];  /* "" when the slot is free */
    bool assigned;              /* published by the master (metrics read it) */
    int32_t users;              /* published; the master decides from its own */
    struct stats_row retired;   /* rows of workers that are gone (no `active`) */
};

/* A listener slot, keyed by its service's name and its label (the
 * address as written in the configuration: "tcp://127.0.0.1:7",
 * "udp://[::1]:7", "unix:/run/x.sock"), so a listener kept across a
 * reload keeps its counters. */
struct stats_listener {
    char svc[STATS_NAME_MAX];   /* "" when the slot is free (first byte last) */
    char label[STATS_LABEL_MAX];
    bool assigned;              /* published by the master (metrics read it) */
    int32_t users;              /* published; the master decides from its own */
    struct stats_lrow retired;  /* rows of workers that are gone (no `active`) */
};

struct stats {
    struct stats_proc proc;
    struct stats_service svc[STATS_MAX_SERVICES];
    struct stats_row rows[STATS_MAX_WORKERS][STATS_MAX_SERVICES];
    int64_t row_active[STATS_MAX_WORKERS];  /* each row's open connections, in total */
    uint64_t serves[STATS_MAX_WORKERS][STATS_MAX_SERVICES / 64];    /* slot bits */
    int32_t worker_pid[STATS_MAX_WORKERS];      /* written by the master at fork */
    int64_t worker_started[STATS_MAX_WORKERS];  /* unix seconds, the same */
    bool worker_used[STATS_MAX_WORKERS];
    uint8_t worker_ready[STATS_MAX_WORKERS];  /* set by a worker once its plugins run */
    struct stats_listener lsn[STATS_MAX_LISTENERS];
    /* Each slot's hash of service and label, packed: a look-up scans 16 KiB. */
    uint32_t lhash[STATS_MAX_LISTENERS];
    uint64_t lserves[STATS_MAX_WORKERS][STATS_MAX_LISTENERS / 64];  /* slot bits */
    /* Last: rows of slots no worker serves stay zero, and untouched. */
    struct stats_lrow lrows[STATS_MAX_WORKERS][STATS_MAX_LISTENERS];
};

/* Add to a counter of the caller's own row.  A row has one writer (its
 * worker), and is read by others at any time: a relaxed load and store,
 * never torn, and no locked instruction on the hot path. */
#define STATS_ADD(row, field, n) do { \
        __typeof__(row) stats_add_row_ = (row); \
        if (stats_add_row_) \
            __atomic_store_n(&stats_add_row_->field, \
                             __atomic_load_n(&stats_add_row_->field, __ATOMIC_RELAXED) + (n), \
                             __ATOMIC_RELAXED); \
    } while (0)

/* Map the shared region (zeroed).  Returns NULL on failure.  The process
 * (and the workers it forks) finds it again with stats_mapped(). */
struct stats *stats_create(void);
struct stats *stats_mapped(void);
void stats_destroy(struct stats *st);

/* The slot of the service `name`.  In the master (the process that made
 * the map): from its own bookkeeping, taking a free slot if the name has
 * none; the index or -ENOSPC.  Elsewhere (workers): looked up in the map,
 * where the master published it before forking them; the index or
 * -ENOENT. */
int stats_service_slot(struct stats *st, const char *name);

/*
 * Master only.  Can every enabled service of `c`, and every listen address
 * of them, have a slot, counting the slots that assigning `c` would free?
 * Returns 0, or -ENOSPC with one line in err saying how many are needed
 * and free (-EINVAL in a process that did not make st).  Changes nothing.
 * Reads the master's own bookkeeping only, never the map.
 */
int stats_fit(const struct stats *st, const struct conf *c, char *err, size_t errlen);

/*
 * Master only.  Make the enabled services of `c` the assigned ones: each
 * gets a slot (kept if its name had one), the others are no longer
 * assigned and are freed once no worker row serves them.  The same for
 * their listeners (kept if the service and the label had one).  All or
 * nothing: returns 0, or -ENOSPC (with err as stats_fit) and changes
 * nothing.
 */
int stats_assign(struct stats *st, const struct conf *c, char *err, size_t errlen);

/* Master only.  Take a free worker row (zeroed) that serves the slots
 * assigned now: the index, or -ENOSPC (-EINVAL in a process that did not
 * make st). */
int stats_worker_take(struct stats *st);

/* Master only; never blocks.  A worker is gone: fold its counters into
 * `retired`, drop its connections (they died with it), free the row, and
 * free the slots that only it served and are no longer assigned.  Which
 * slots it served comes from the master's bookkeeping, not the row's bits
 * in the map (the worker could have rewritten them). */
void stats_worker_release(struct stats *st, int worker);

/* The label of a listen address: "tcp://127.0.0.1:7", "udp://[::1]:7",
 * "tls://...", "unix:/run/x.sock", "unix-dgram:@name". */
void stats_listener_label(const struct laddr *a, char *out, size_t size);

/* The slot of listener `label` of service `svc`, or -ENOENT. */
int stats_listener_slot(const struct stats *st, const char *svc, const char *label);

/* Worker row `worker`'s counters of the listener `a` of service `svc`, or
 * NULL when it has no slot (not counted).  Looked up once, when a worker
 * attaches its listeners. */
struct stats_lrow *stats_listener_row(struct stats *st, int worker, const char *svc,
                                      const struct laddr *a);

/* Sum of the retired row and every worker's row of listener slot `slot`. */
void stats_listener_sum(const struct stats *st, int slot, struct stats_lrow *out);

/* Count a refusal of `why` (and the total `refused`) in a worker's row
 * (may be NULL: not counted). */
void stats_refused(struct stats_row *row, enum stats_refusal why);

/* Count a closed connection that lived `ms` milliseconds. */
void stats_closed(struct stats_row *row, long long ms);

/* Sum of the retired row and every worker's row of one service. */
void stats_sum(const struct stats *st, int service, struct stats_row *out);

/*
 * Count a new connection of `service` in worker row `worker` against the
 * limits (0: none): max_service for the service and max_total for every
 * service together, across every worker.  Returns true and counts it as
 * active in the row, or false (and counts nothing) when a limit is
 * reached.  Never admits past a limit; two workers racing for the last
 * place may both be refused.
 */
bool stats_conn_admit(struct stats *st, int worker, int service, int64_t max_service,
                      int64_t max_total);

/* A connection admitted by stats_conn_admit in the same row is gone. */
void stats_conn_release(struct stats *st, int worker, int service);

#endif
