/*
 * myplugin - a superd service plugin, started from superd's plugin
 * template (docs/plugins.md).  Rename it: set NAME in the Makefile and
 * .name below, then replace the behaviour with your own.
 *
 * What the template does, to show every part of a plugin:
 *   stream (TCP, unix): greets the client with one line, counts the bytes
 *     it sends, and when the client has sent everything (it half-closes),
 *     answers "N bytes" and closes;
 *   datagram (UDP, unix-dgram): answers each datagram with "N bytes".
 *
 * Option:
 *   greeting = TEXT   the first line sent (default "hello")
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <superd/plugin.h>

#define DEFAULT_GREETING "hello"

/* Per service, made in init() and freed in fini(). */
struct config {
    char *greeting;                 /* with a trailing "\n" */
};

/* Per connection, made in on_open() and freed in on_close(). */
struct session {
    unsigned long long bytes;
};

/* Read and check the options; 0, or an error the user sees as
 * FILE:LINE: [service] key: message. */
static int myplugin_init(struct superd_service *svc)
{
    const char *greeting = superd_option(svc, "greeting");
    struct config *cfg;

    if (greeting == NULL)
        greeting = DEFAULT_GREETING;
    if (strlen(greeting) > 200)
        return superd_config_error(svc, "greeting", "longer than 200 characters");
    cfg = malloc(sizeof *cfg);
    if (cfg != NULL)
        cfg->greeting = malloc(strlen(greeting) + 2);
    if (cfg == NULL || cfg->greeting == NULL) {
        free(cfg);
        return -ENOMEM;
    }
    strcpy(cfg->greeting, greeting);
    strcat(cfg->greeting, "\n");
    superd_service_set_data(svc, cfg);
    return 0;
}

static void myplugin_fini(struct superd_service *svc)
{
    struct config *cfg = superd_service_data(svc);

    free(cfg->greeting);
    free(cfg);
}

static int myplugin_open(struct superd_conn *conn)
{
    const struct config *cfg = superd_service_data(superd_conn_service(conn));
    struct session *s = calloc(1, sizeof *s);

    if (s == NULL)
        return -ENOMEM;             /* refuse; on_close() still follows */
    superd_conn_set_data(conn, s);
    return superd_write(conn, cfg->greeting, strlen(cfg->greeting));
}

/* Count the bytes and consume them all. */
static ssize_t myplugin_data(struct superd_conn *conn, const void *data, size_t len)
{
    struct session *s = superd_conn_data(conn);

    (void)data;
    s->bytes += len;
    return (ssize_t)len;
}

/* The client has sent everything: answer, then close. */
static void myplugin_eof(struct superd_conn *conn)
{
    const struct session *s = superd_conn_data(conn);
    char line[64];
    int n = snprintf(line, sizeof line, "%llu bytes\n", s->bytes);

    superd_write(conn, line, (size_t)n);
    superd_close(conn);             /* after the answer is sent */
}

static void myplugin_close(struct superd_conn *conn)
{
    free(superd_conn_data(conn));   /* NULL when on_open() failed early */
}

static void myplugin_datagram(struct superd_service *svc, struct superd_dgram *dgram,
                              const void *data, size_t len)
{
    char line[64];
    int n = snprintf(line, sizeof line, "%zu bytes\n", len);

    (void)data;
    if (superd_reply(dgram, line, (size_t)n) < 0)
        superd_log(svc, SUPERD_LOG_DEBUG, "%s: reply dropped", superd_dgram_peer(dgram));
}

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "myplugin",
    .version = "0.1",
    .init = myplugin_init,
    .fini = myplugin_fini,
    .on_open = myplugin_open,
    .on_data = myplugin_data,
    .on_eof = myplugin_eof,
    .on_close = myplugin_close,
    .on_datagram = myplugin_datagram,
};
