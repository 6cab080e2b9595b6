/* worker.h - one worker process: an event loop that serves the listeners
 * the master bound, with its own freshly loaded plugins, until told to
 * stop.  Knows nothing of other workers or of the master. */
#ifndef SUPERD_WORKER_H
#define SUPERD_WORKER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "listener.h"
#include "loop.h"
#include "serve.h"
#include "service.h"

struct worker {
    struct loop loop;
    struct serve srv;               /* what its connections and datagrams use */
    const struct conf *conf;
    struct superd_service *svcs;    /* one per enabled service */
    size_t nsvcs;
    struct listener *lsns;          /* its own copies of the master's */
    size_t nlsns;
    int sig_fd;                     /* signalfd: TERM, INT */
    struct loop_watch sig_w;
    struct loop_timer stop_timer;   /* shutdown_timeout, once stopping */
    bool stopping;
    bool out_of_time;               /* shutdown_timeout reached */
    int stop_signals;               /* a second TERM/INT ends the wait */
};

/*
 * Create the loop (so plugins may start timers in init()), then load and
 * initialise every enabled service's plugin.  `stats` may be NULL
 * (no shared counters, no connection limits); else `row` is this worker's
 * row in it.  On failure returns a negative errno with one line in err;
 * worker_fini is still owed.
 */
int worker_load(struct worker *wk, const struct conf *c, struct stats *stats, int row,
                char *err, size_t errlen);

/* Take copies of the master's bound listeners (it keeps the socket files:
 * a worker never removes one).  Returns 0 or -ENOMEM. */
int worker_attach(struct worker *wk, const struct lsn_set *set);

/* Register every listener on the loop (LOOP_EXCLUSIVE: one worker is
 * woken per connection).  Returns 0 or a negative errno. */
int worker_start(struct worker *wk);

/*
 * Serve until SIGTERM or SIGINT (blocked by the caller; read through a
 * signalfd), then stop accepting, let connections finish for up to
 * shutdown_timeout (a loop timer), and close the rest.  Returns 0 or a
 * negative errno.
 */
int worker_run(struct worker *wk);

/* Close every connection and listener copy and stop every service. */
void worker_fini(struct worker *wk);

#endif
