/* pauser - a test plugin that pauses every connection in on_open and never
 * resumes it: what a forwarder does while its backend connects.  The core
 * must still see the client's reset (the connection is on the loop with
 * no events wanted), not wait for idle_timeout. */
#include <superd/plugin.h>

static int pauser_open(struct superd_conn *conn)
{
    return superd_pause(conn);
}

static ssize_t pauser_data(struct superd_conn *conn, const void *data, size_t len)
{
    (void)conn;
    (void)data;
    return (ssize_t)len;
}

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "pauser",
    .version = "1.0",
    .on_open = pauser_open,
    .on_data = pauser_data,
};
