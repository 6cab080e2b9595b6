/* small - a descriptor whose size does not cover the 1.0 fields. */
#include <stddef.h>

#include <superd/plugin.h>

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    .magic = SUPERD_PLUGIN_MAGIC, .abi_major = SUPERD_ABI_MAJOR,
    .abi_minor = SUPERD_ABI_MINOR, .size = offsetof(struct superd_plugin, on_datagram),
    .name = "small",
};
