/* badmagic - a descriptor whose magic is not SUPERD_PLUGIN_MAGIC. */
#include <superd/plugin.h>

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    /* SUPERD_PLUGIN_HEADER with another magic. */
    .magic = 0xdeadbeefu, .abi_major = SUPERD_ABI_MAJOR,
    .abi_minor = SUPERD_ABI_MINOR, .size = sizeof(struct superd_plugin),
    .name = "badmagic",
};
