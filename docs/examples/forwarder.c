/*
 * forwarder - passes each client's connection on to a backend (option
 * `to`: tcp://HOST:PORT, tcp://[V6]:PORT or unix:PATH), bytes both ways,
 * with back-pressure (a side that does not read pauses the other) and
 * half-close (a FIN is passed on).  Shows superd_connect, superd_pause,
 * superd_resume and superd_shutdown (ABI 1.1).  The client and the
 * backend connection share the callbacks.
 */
#include <errno.h>
#include <stdlib.h>
#include <superd/plugin.h>
#define HIGH (64 * 1024)    /* queued toward one side: pause the other */

struct pair {
    struct superd_conn *client, *backend;   /* NULL once closed */
};

/* The other end of c's pair, or NULL once it is closed. */
static struct superd_conn *other(struct superd_conn *c)
{
    struct pair *p = superd_conn_data(c);
    return p->client == c ? p->backend : p->client;
}

static ssize_t fwd_data(struct superd_conn *c, const void *data, size_t len)
{
    struct superd_conn *to = other(c);
    if (to == NULL || superd_write(to, data, len) < 0)
        return -EPIPE;
    if (superd_queued(to) > HIGH)
        superd_pause(c);            /* until `to` drains */
    return (ssize_t)len;
}

/* c's queue is written out: read the other again.  A FIN from c: passed
 * on once what is queued toward the other is sent. */
static void fwd_drain(struct superd_conn *c) { if (other(c)) superd_resume(other(c)); }
static void fwd_eof(struct superd_conn *c) { if (other(c)) superd_shutdown(other(c)); }

/* Either side gone: close the other; the last one frees the pair. */
static void fwd_close(struct superd_conn *c)
{
    struct pair *p = superd_conn_data(c);
    if (p == NULL)
        return;                     /* on_open ran out of memory */
    struct superd_conn *o = other(c);
    *(p->client == c ? &p->client : &p->backend) = NULL;
    if (o)
        superd_close(o);
    else
        free(p);
}

static const struct superd_conn_ops backend_ops = {
    .size = sizeof(struct superd_conn_ops), .on_data = fwd_data,
    .on_eof = fwd_eof, .on_drain = fwd_drain, .on_close = fwd_close,
};
static int fwd_init(struct superd_service *svc)
{
    return superd_option(svc, "to") ? 0 : superd_config_error(svc, "to", "is required");
}

static int fwd_open(struct superd_conn *c)
{
    struct superd_service *svc = superd_conn_service(c);
    struct pair *p = calloc(1, sizeof *p);
    if (p == NULL)
        return -ENOMEM;
    superd_conn_set_data(c, p);
    p->client = c;          /* its bytes are queued until the backend connects */
    p->backend = superd_connect(svc, superd_option(svc, "to"), &backend_ops, p);
    return p->backend ? 0 : -errno;
}

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER, .name = "forwarder", .version = "1.0", .init = fwd_init,
    .on_open = fwd_open, .on_data = fwd_data, .on_eof = fwd_eof,
    .on_drain = fwd_drain, .on_close = fwd_close,
};
