/* extraexp - a working plugin that exports more than its descriptor: a
 * function and a table with default visibility, as a plugin built without
 * -fvisibility=hidden would.  superd loads it and warns, naming both. */
#include <superd/plugin.h>

__attribute__((visibility("default"))) int extraexp_helper(int x);
__attribute__((visibility("default"))) const int extraexp_table[4] = { 1, 2, 3, 4 };

int extraexp_helper(int x)
{
    return x + extraexp_table[0];
}

static ssize_t extraexp_data(struct superd_conn *conn, const void *data, size_t len)
{
    int r = superd_write(conn, data, len);
    return r < 0 ? r : (ssize_t)len;
}

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "extraexp",
    .on_data = extraexp_data,
};
