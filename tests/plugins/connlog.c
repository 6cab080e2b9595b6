/*
 * connlog - a test plugin: each client connection makes one outbound
 * connection to the service's `to` (with `connect_timeout` ms, 0: the
 * default) and tells the client, as lines, what the outbound connection's
 * callbacks saw: "connect: 0" or "connect: -ERRNO NAME", then what the
 * backend sent ("data: ..."), "eof" (then it writes "after eof" to the
 * backend and closes), and "closed" at its on_close, after
 * which the client is closed too.  The client's lines go to the backend.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <superd/plugin.h>

static void say(struct superd_conn *client, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#include <stdarg.h>
static void say(struct superd_conn *client, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (client && n > 0)
        superd_write(client, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

struct link {
    struct superd_conn *client, *out;
};

static void out_connect(struct superd_conn *out, int status)
{
    struct link *l = superd_conn_data(out);
    say(l->client, "connect: %d%s%s\n", status, status ? " " : "",
        status == -ECONNREFUSED ? "ECONNREFUSED" : status == -ETIMEDOUT ? "ETIMEDOUT"
        : status == -ENOENT ? "ENOENT" : status ? "other" : "");
}

static ssize_t out_data(struct superd_conn *out, const void *data, size_t len)
{
    struct link *l = superd_conn_data(out);
    say(l->client, "data: %.*s\n", (int)len, (const char *)data);
    return (ssize_t)len;
}

static void out_eof(struct superd_conn *out)
{
    struct link *l = superd_conn_data(out);
    say(l->client, "eof\n");
    /* on_eof set: the connection stays open for writing (closed after). */
    superd_write(out, "after eof\n", 10);
    superd_close(out);
}

static void out_close(struct superd_conn *out)
{
    struct link *l = superd_conn_data(out);
    l->out = NULL;
    if (l->client) {
        say(l->client, "closed\n");
        superd_close(l->client);
    } else {
        free(l);
    }
}

static const struct superd_conn_ops ops = {
    .size = sizeof ops, .on_connect = out_connect, .on_data = out_data,
    .on_eof = out_eof, .on_close = out_close,
};

static struct superd_conn_ops ops_timed;

static int cl_init(struct superd_service *svc)
{
    const char *t = superd_option(svc, "connect_timeout");
    ops_timed = ops;
    ops_timed.connect_timeout_ms = t ? (uint32_t)strtoul(t, NULL, 10) : 0;
    return superd_option(svc, "to") ? 0 : superd_config_error(svc, "to", "is required");
}

static int cl_open(struct superd_conn *c)
{
    struct superd_service *svc = superd_conn_service(c);
    struct link *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->client = c;
    superd_conn_set_data(c, l);
    l->out = superd_connect(svc, superd_option(svc, "to"), &ops_timed, l);
    if (!l->out)
        say(c, "superd_connect: %s\n", strerror(errno));
    /* Written before on_connect: queued. */
    else
        superd_write(l->out, "hello\n", 6);
    return 0;
}

static ssize_t cl_data(struct superd_conn *c, const void *data, size_t len)
{
    struct link *l = superd_conn_data(c);
    if (l->out)
        superd_write(l->out, data, len);
    return (ssize_t)len;
}

static void cl_close(struct superd_conn *c)
{
    struct link *l = superd_conn_data(c);
    if (!l)
        return;
    l->client = NULL;
    if (l->out)
        superd_close(l->out);
    else
        free(l);
}

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER, .name = "connlog", .version = "1", .init = cl_init,
    .on_open = cl_open, .on_data = cl_data, .on_close = cl_close,
};
