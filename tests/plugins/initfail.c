/* initfail - an init() that refuses its options: answer must be 42;
 * errno_only = yes fails with -EPERM and no superd_config_error(). */
#include <errno.h>
#include <string.h>

#include <superd/plugin.h>

static int initfail_init(struct superd_service *svc)
{
    const char *e = superd_option(svc, "errno_only");
    if (e && strcmp(e, "yes") == 0)
        return -EPERM;
    const char *v = superd_option(svc, "answer");
    if (!v || strcmp(v, "42") != 0)
        return superd_config_error(svc, "answer", "must be 42, not '%s'", v ? v : "(none)");
    return 0;
}

/* Serves streams (by discarding), so a stream listener may name it. */
static ssize_t initfail_data(struct superd_conn *conn, const void *data, size_t len)
{
    (void)conn;
    (void)data;
    return (ssize_t)len;
}

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "initfail",
    .version = "0.1",
    .init = initfail_init,
    .on_data = initfail_data,
};
