/* loader.c - finding, loading and checking plugin shared objects.
 *
 * The descriptor is read in two steps: first the fixed header (magic, ABI,
 * size), and only when that is right the rest, limited to the size the
 * plugin says it has, so an older plugin never makes us read past its
 * descriptor.
 */
#include "loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SUPERD_BUILD_PLUGIN_DIR
#define SUPERD_BUILD_PLUGIN_DIR "plugins"
#endif
#ifndef SUPERD_PLUGIN_DIR
#define SUPERD_PLUGIN_DIR "/usr/local/lib/superd"
#endif

/* A plugin must at least cover the 1.0 descriptor. */
#define DESC_MIN_SIZE (offsetof(struct superd_plugin, on_datagram) + \
                       sizeof(((struct superd_plugin *)0)->on_datagram))

/* True when this process is the superd of the build tree (build/superd
 * beside build/plugins): only that one searches the build's plugins, so
 * an installed superd never loads .so files from a developer's checkout. */
static bool running_from_build(void)
{
    char exe[PATH_MAX], want[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return false;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return false;
    *slash = '\0';
    snprintf(want, sizeof want, "%s/plugins", exe);
    return strcmp(want, SUPERD_BUILD_PLUGIN_DIR) == 0;
}

int plugin_find(const char *name, const char *basedir, const char *plugin_dir,
                char **out, char *err, size_t errlen)
{
    char *path;
    if (strchr(name, '/')) {
        if (name[0] == '/' || strcmp(basedir, ".") == 0)
            path = strdup(name);
        else if (asprintf(&path, "%s/%s", basedir, name) < 0)
            path = NULL;
        if (!path)
            return -ENOMEM;
        if (access(path, F_OK) != 0) {
            int e = errno;
            snprintf(err, errlen, "%s: %s", path, strerror(e));
            free(path);
            return -e;
        }
        *out = path;
        return 0;
    }
    const char *dirs[] = { plugin_dir, running_from_build() ? SUPERD_BUILD_PLUGIN_DIR : NULL,
                           SUPERD_PLUGIN_DIR };
    char searched[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (!dirs[i] || (i == 1 && dirs[0] && strcmp(dirs[1], dirs[0]) == 0))
            continue;   /* plugin_dir may be the build's own directory */
        if (asprintf(&path, "%s/%s.so", dirs[i], name) < 0)
            return -ENOMEM;
        if (access(path, F_OK) == 0) {
            *out = path;
            return 0;
        }
        free(path);
        int n = snprintf(searched + used, sizeof searched - used, "%s%s",
                         used ? ", " : "", dirs[i]);
        if (n > 0 && (size_t)n < sizeof searched - used)
            used += (size_t)n;
    }
    snprintf(err, errlen, "%s.so not found (searched %s)", name, searched);
    return -ENOENT;
}

int plugin_load(const char *path, struct plugin **out, char *err, size_t errlen)
{
    dlerror();
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(err, errlen, "cannot load: %s", why ? why : path);
        return -ENOEXEC;
    }
    const struct superd_plugin *d = dlsym(h, "superd_plugin");
    int rc = -ENOEXEC;
    if (!d) {
        snprintf(err, errlen, "%s: not a superd plugin (no superd_plugin symbol)", path);
    } else if (d->magic != SUPERD_PLUGIN_MAGIC) {
        snprintf(err, errlen, "%s: not a superd plugin (bad magic 0x%08x)", path, d->magic);
    } else if (d->abi_major != SUPERD_ABI_MAJOR) {
        snprintf(err, errlen, "%s: built for plugin ABI %u.%u, this superd has %d.%d",
                 path, d->abi_major, d->abi_minor, SUPERD_ABI_MAJOR, SUPERD_ABI_MINOR);
    } else if (d->abi_minor > SUPERD_ABI_MINOR) {
        snprintf(err, errlen, "%s: built for plugin ABI %u.%u, newer than this superd's %d.%d",
                 path, d->abi_major, d->abi_minor, SUPERD_ABI_MAJOR, SUPERD_ABI_MINOR);
    } else if (d->size < DESC_MIN_SIZE) {
        snprintf(err, errlen, "%s: descriptor size %u too small for plugin ABI %u.%u",
                 path, d->size, d->abi_major, d->abi_minor);
    } else {
        rc = 0;
    }
    struct plugin *p = rc == 0 ? calloc(1, sizeof *p) : NULL;
    if (p)
        p->path = strdup(path);
    if (!p || !p->path) {
        if (rc == 0)
            rc = -ENOMEM;
        if (p)
            free(p);
        dlclose(h);
        return rc;
    }
    p->handle = h;
    size_t n = d->size < sizeof p->desc ? d->size : sizeof p->desc;
    memcpy(&p->desc, d, n);
    if (!p->desc.name)
        p->desc.name = "?";
    if (!p->desc.version)
        p->desc.version = "?";
    *out = p;
    return 0;
}

void plugin_unload(struct plugin *p)
{
    if (!p)
        return;
    /* Under ASan, dlclose makes leak reports unreadable; unload only where
     * the code cannot run any more, which is true here. */
    dlclose(p->handle);
    free(p->path);
    free(p);
}
