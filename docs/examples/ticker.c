/*
 * ticker - sends every client a line a second, "tick 1", "tick 2", ...,
 * with no thread: each connection has a repeating timer on the worker's
 * loop, started in on_open and stopped in on_close.  Whatever the client
 * sends is read and dropped; the client ends it by closing.
 *
 * Shows superd_timer_start (ABI 1.1) and a write from a timer's callback:
 * the host sends it when the callback returns.  A client that does not
 * read costs bounded memory: past 64 KiB queued, ticks are skipped.
 *
 * Option:
 *   every = MS   milliseconds between lines, 1-3600000 (default 1000)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <superd/plugin.h>

struct ticker {
    unsigned long every;            /* ms between lines */
};

struct session {
    struct superd_conn *conn;
    struct superd_timer *timer;
    unsigned long n;                /* lines sent */
};

static int ticker_init(struct superd_service *svc)
{
    const char *value = superd_option(svc, "every");
    struct ticker *t = malloc(sizeof *t);
    char *end;

    if (t == NULL)
        return -ENOMEM;
    t->every = 1000;
    if (value != NULL) {
        errno = 0;
        t->every = strtoul(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || t->every < 1 || t->every > 3600000) {
            free(t);
            return superd_config_error(svc, "every", "\"%s\" is not a number of ms "
                                       "from 1 to 3600000", value);
        }
    }
    superd_service_set_data(svc, t);
    return 0;
}

static void ticker_fini(struct superd_service *svc)
{
    free(superd_service_data(svc));
}

/* The timer: one line to its connection. */
static void tick(struct superd_timer *timer, void *arg)
{
    struct session *s = arg;
    char line[32];
    int n;

    (void)timer;
    if (superd_queued(s->conn) > 64 * 1024)
        return;                     /* the client does not read: skip */
    n = snprintf(line, sizeof line, "tick %lu\n", ++s->n);
    superd_write(s->conn, line, (size_t)n);
}

static int ticker_open(struct superd_conn *conn)
{
    const struct ticker *t = superd_service_data(superd_conn_service(conn));
    struct session *s = calloc(1, sizeof *s);

    if (s == NULL)
        return -ENOMEM;
    s->conn = conn;
    superd_conn_set_data(conn, s);  /* on_close frees it, even on failure */
    s->timer = superd_timer_start(superd_conn_service(conn), t->every, t->every, tick, s);
    return s->timer != NULL ? 0 : -errno;
}

static void ticker_close(struct superd_conn *conn)
{
    struct session *s = superd_conn_data(conn);

    if (s != NULL) {
        superd_timer_stop(s->timer);    /* NULL is ignored */
        free(s);
    }
}

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "ticker",
    .version = "1.0",
    .init = ticker_init,
    .fini = ticker_fini,
    .on_open = ticker_open,
    .on_close = ticker_close,
};
