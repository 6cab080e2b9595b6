/* loader.h - finding, loading and checking plugin shared objects. */
#ifndef SUPERD_LOADER_H
#define SUPERD_LOADER_H

#include <stddef.h>

#include <superd/plugin.h>

/* One loaded plugin.  `desc` is a copy of the plugin's descriptor, zero-
 * filled past the size the plugin was built with, so fields added in later
 * ABI minors read as NULL. */
struct plugin {
    char *path;
    void *handle;
    struct superd_plugin desc;
};

/*
 * Find the file for `name`.  A name with a '/' is a path (relative to
 * `basedir`); otherwise NAME.so is searched in plugin_dir (if not NULL),
 * the build's own plugin directory, then the installed one.  On success
 * *out is a malloc'ed path.  On failure err says what was searched.
 */
int plugin_find(const char *name, const char *basedir, const char *plugin_dir,
                char **out, char *err, size_t errlen);

/*
 * dlopen (RTLD_NOW | RTLD_LOCAL) the file and check its descriptor
 * (plugin_abi_check: the magic, the ABI major (equal) and minor (not
 * newer), and its size) before anything else of it is trusted.  A plugin
 * that uses a function newer than this host still loads this far (those
 * are weak references) and is refused here by its minor.  On success *out
 * is the plugin (free with plugin_unload), and a plugin that exports more
 * than its descriptor is warned about in the log, once per load.  On
 * failure err holds the reason, naming the file.
 */
int plugin_load(const char *path, struct plugin **out, char *err, size_t errlen);

/*
 * The symbols the plugin's .so defines and exports besides superd_plugin
 * (names with a leading '_' aside), read from its dynamic symbol table:
 * their count, and their names, comma-separated, in out (truncated with
 * "..." when out is too small).
 */
size_t plugin_extra_exports(const struct plugin *p, char *out, size_t outlen);

/* A service the core serves itself (`name`, e.g. "metrics"), in the same
 * shape as a loaded plugin (no file, no handle).  0, or -ENOENT with err. */
int plugin_builtin(const char *name, struct plugin **out, char *err, size_t errlen);

/* dlclose the plugin.  Call only once no code of it can run any more. */
void plugin_unload(struct plugin *p);

#endif
