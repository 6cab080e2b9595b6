/* newminor - a descriptor built for a newer minor ABI than the host's. */
#include <superd/plugin.h>

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    .magic = SUPERD_PLUGIN_MAGIC, .abi_major = SUPERD_ABI_MAJOR,
    .abi_minor = SUPERD_ABI_MINOR + 1, .size = sizeof(struct superd_plugin),
    .name = "newminor",
};
