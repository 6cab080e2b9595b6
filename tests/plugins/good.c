/* good - a minimal valid plugin: reads an optional `greeting`, echoes, and
 * counts what it saw in its service data (good.h). */
#include <errno.h>
#include <stdlib.h>

#include <superd/plugin.h>

#include "good.h"

static int good_init(struct superd_service *svc)
{
    struct good_state *st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    st->greeting = superd_option(svc, "greeting");
    superd_service_set_data(svc, st);
    return 0;
}

static void good_fini(struct superd_service *svc)
{
    free(superd_service_data(svc));
}

static int good_open(struct superd_conn *conn)
{
    struct good_state *st = superd_service_data(superd_conn_service(conn));
    st->opens++;
    return 0;
}

static ssize_t good_data(struct superd_conn *conn, const void *data, size_t len)
{
    struct good_state *st = superd_service_data(superd_conn_service(conn));
    st->bytes_in += len;
    int r = superd_write(conn, data, len);
    return r < 0 ? r : (ssize_t)len;
}

static void good_close(struct superd_conn *conn)
{
    struct good_state *st = superd_service_data(superd_conn_service(conn));
    st->closes++;
}

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "good",
    .version = "9.9",
    .init = good_init,
    .fini = good_fini,
    .on_open = good_open,
    .on_data = good_data,
    .on_close = good_close,
};
