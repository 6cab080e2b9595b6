/* abi.c - the descriptor check shared by the loader and the fake host. */
#include "abi.h"

#include <errno.h>
#include <stdio.h>

int plugin_abi_check(const char *path, const struct superd_plugin *d, char *err, size_t errlen)
{
    if (d->magic != SUPERD_PLUGIN_MAGIC) {
        snprintf(err, errlen, "%s: not a superd plugin (bad magic 0x%08x)", path,
                 (unsigned)d->magic);
        return -ENOEXEC;
    }
    if (d->abi_major != SUPERD_ABI_MAJOR) {
        snprintf(err, errlen, "%s: built for plugin ABI %u.%u, this superd has %d.%d", path,
                 (unsigned)d->abi_major, (unsigned)d->abi_minor, SUPERD_ABI_MAJOR,
                 SUPERD_HOST_ABI_MINOR);
        return -EPROTO;
    }
    if (d->abi_minor > SUPERD_HOST_ABI_MINOR) {
        snprintf(err, errlen, "%s: built for plugin ABI %u.%u, newer than this superd's %d.%d",
                 path, (unsigned)d->abi_major, (unsigned)d->abi_minor, SUPERD_ABI_MAJOR,
                 SUPERD_HOST_ABI_MINOR);
        return -EPROTO;
    }
    if (d->size < PLUGIN_DESC_MIN_SIZE) {
        snprintf(err, errlen, "%s: descriptor size %u too small for plugin ABI %u.%u", path,
                 (unsigned)d->size, (unsigned)d->abi_major, (unsigned)d->abi_minor);
        return -EINVAL;
    }
    return 0;
}
