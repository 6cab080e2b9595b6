/* abi.h - the check of a plugin descriptor's first fields (magic, ABI
 * version, size), shared by the daemon's loader and the SDK's fake host so
 * that both refuse the same plugins with the same words. */
#ifndef SUPERD_ABI_H
#define SUPERD_ABI_H

#include <stddef.h>

#include <superd/plugin.h>

/* The minor ABI this host implements: the header's, unless a test builds a
 * host that presents an older one (-DSUPERD_HOST_ABI_MINOR=0), which then
 * also leaves out the functions newer than that. */
#ifndef SUPERD_HOST_ABI_MINOR
#define SUPERD_HOST_ABI_MINOR SUPERD_ABI_MINOR
#endif

/* The size of an ABI 1.0 descriptor: later minors only append, so every
 * valid descriptor is at least this long. */
#define PLUGIN_DESC_MIN_SIZE                                      \
    (offsetof(struct superd_plugin, on_datagram) +                \
     sizeof(((const struct superd_plugin *)NULL)->on_datagram))

/*
 * Check the descriptor `d` of the plugin file `path` before anything else
 * of it is read: the magic, the ABI major (equal to the host's), the minor
 * (not newer than SUPERD_HOST_ABI_MINOR) and the size (at least 1.0's).
 * A missing name or version is allowed (shown as "?").  Returns 0, or
 * -ENOEXEC (not a descriptor), -EPROTO (another version) or -EINVAL (too
 * small), with the reason, naming the file, in err.
 */
int plugin_abi_check(const char *path, const struct superd_plugin *d, char *err, size_t errlen);

#endif
