/* only10 - a plugin built with today's header for hosts from ABI 1.0 on
 * (SUPERD_TARGET_MINOR 0): its descriptor says 1.0, and it uses only 1.0
 * functions (it echoes). */
#define SUPERD_TARGET_MINOR 0
#include <superd/plugin.h>

static ssize_t only10_data(struct superd_conn *conn, const void *data, size_t len)
{
    int r = superd_write(conn, data, len);
    return r < 0 ? r : (ssize_t)len;
}

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "only10",
    .version = "1.0",
    .on_data = only10_data,
};
