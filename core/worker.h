/* worker.h - one worker: an event loop serving every listener of the
 * configuration with the loaded plugins, until told to stop.  Today the
 * daemon runs one worker in its main process; the master/worker split
 * gives each worker process one of these. */
#ifndef SUPERD_WORKER_H
#define SUPERD_WORKER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "conn.h"
#include "listener.h"
#include "loop.h"
#include "service.h"

struct worker {
    struct loop loop;
    const struct conf *conf;
    struct superd_service *svcs;    /* one per enabled service */
    size_t nsvcs;
    struct listener *lsns;          /* every address of every service */
    size_t nlsns;
    struct conn_set conns;
    int spare_fd;                   /* given up to shed a connection on EMFILE */
    int sig_fd;                     /* signalfd: TERM, INT, HUP */
    struct loop_watch sig_w;
    unsigned long guard_drops;      /* datagrams dropped by loop protection */
    bool stopping;
    int stop_signals;               /* a second TERM/INT ends the wait */
};

/*
 * Load and initialise every enabled service's plugin.  On failure returns
 * a negative errno with one line in err; what was started is stopped.
 */
int worker_load(struct worker *wk, const struct conf *c, char *err, size_t errlen);

/*
 * Bind every listener, all or nothing: on failure everything bound so far
 * is closed (and its socket file removed), err names the file, line,
 * service and address, and a negative errno is returned.
 */
int worker_bind(struct worker *wk, char *err, size_t errlen);

/*
 * Serve until SIGTERM or SIGINT, then stop accepting, let connections
 * finish for up to shutdown_timeout, and close the rest.  The signals must
 * be blocked by the caller (they are read through a signalfd).  Returns 0
 * or a negative errno.
 */
int worker_run(struct worker *wk);

/* Close every connection and listener (removing socket files we made) and
 * stop every service.  Safe after a failed load or bind. */
void worker_fini(struct worker *wk);

#endif
