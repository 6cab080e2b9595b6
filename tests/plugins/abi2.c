/* abi2 - a descriptor built for the next major ABI: must be refused. */
#include <superd/plugin.h>

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    .magic = SUPERD_PLUGIN_MAGIC, .abi_major = SUPERD_ABI_MAJOR + 1,
    .abi_minor = 0, .size = sizeof(struct superd_plugin),
    .name = "abi2",
};
