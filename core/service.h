/* service.h - one configured service in one worker: its plugin, the
 * plugin's state and options.  Implements the superd_service_* and
 * superd_option / superd_config_error / superd_log parts of the API. */
#ifndef SUPERD_SERVICE_H
#define SUPERD_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "loader.h"
#include "log.h"
#include "stats.h"

struct tls_ctx;
struct serve;
struct superd_timer;
struct superd_watch;
struct superd_dgram;

struct superd_service {
    const struct conf *conf;
    struct conf_service *cs;
    struct plugin *plugin;
    void *data;             /* the plugin's own (superd_service_set_data) */
    bool inited;            /* init() succeeded: fini() is owed */
    int stats_slot;         /* its counters in the shared stats, or -1 */
    struct stats_row *row;  /* this worker's row of them, or NULL */
    char *err;              /* first superd_config_error message */
    struct serve *srv;      /* where it serves (its loop), or NULL */
    struct superd_timer *timers;    /* its armed timers (timer.c) */
    struct superd_watch *watches;   /* its descriptor watches (watch.c) */
    struct superd_dgram *held;      /* its held datagrams (dgram_hold.c) */
    char **asked;           /* keys init() asked superd_option for, to
                             * suggest one for a typo; freed by service_start */
    size_t nasked;
    struct tls_ctx *tls;    /* its TLS contexts (a tls:// listener), or NULL */
    /* Its own log throttles: each service logs its refusals and drops at
     * most once a second, counting only its own in "(N more)". */
    struct log_limit log_refused[2];    /* admit.c: streams, datagrams */
    struct log_limit log_truncated;     /* dgram.c: datagrams too large */
    struct log_limit log_guard;         /* dgram.c: loop protection */
    struct log_limit log_reply;         /* dgram.c: replies over a budget */
};

/*
 * Find and load the plugin of `cs`, run its init() with the service's
 * options, and check that every option was read.  `srv` is the serving
 * context whose loop runs the service's timers from init() on (NULL: the
 * service can have none).  On failure returns a
 * negative errno and err holds one line "FILE:LINE: [service] key: why";
 * the service is left stopped (service_stop is still safe).
 */
int service_start(struct superd_service *s, const struct conf *c,
                  struct conf_service *cs, struct serve *srv, char *err, size_t errlen);

/* From now on, write "[service] load|init|fini" to fd before running that
 * plugin code (-1: stop).  The plugin check uses it to name a crash. */
void service_trace(int fd);

/* Stop the service's timers, release its watches and held datagrams,
 * run fini() if init() succeeded, and unload
 * the plugin. */
void service_stop(struct superd_service *s);

/* The plugin's callbacks (the zero-filled copy of its descriptor). */
static inline const struct superd_plugin *service_plugin(const struct superd_service *s)
{
    return &s->plugin->desc;
}

#endif
