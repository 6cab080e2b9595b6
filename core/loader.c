/* loader.c - finding, loading and checking plugin shared objects.
 *
 * The descriptor is read in two steps: first the fixed header (magic, ABI,
 * size), and only when that is right the rest, limited to the size the
 * plugin says it has, so an older plugin never makes us read past its
 * descriptor.
 */
#include "loader.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"

#include "abi.h"
#include "log.h"

#ifndef SUPERD_BUILD_PLUGIN_DIR
#define SUPERD_BUILD_PLUGIN_DIR "plugins"
#endif
#ifndef SUPERD_PLUGIN_DIR
#define SUPERD_PLUGIN_DIR "/usr/local/lib/superd"
#endif

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
    if (!d)
        snprintf(err, errlen, "%s: not a superd plugin (no superd_plugin symbol)", path);
    else if (plugin_abi_check(path, d, err, errlen) == 0)
        rc = 0;
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
    char extra[256];
    if (plugin_extra_exports(p, extra, sizeof extra) > 0)
        log_msg(LOG_WARNING, "%s: exports %s besides superd_plugin: build it with "
                "-fvisibility=hidden, or mark them static", path, extra);
    *out = p;
    return 0;
}

/* A dynamic-section address: glibc relocates most of them in place, but
 * not where the section is read-only (MIPS, RISC-V). */
static const void *dyn_ptr(const struct link_map *lm, ElfW(Addr) a)
{
    return (const void *)(a < lm->l_addr ? lm->l_addr + a : a);
}

/* How many entries .dynsym has: DT_HASH says so; with only DT_GNU_HASH,
 * the end of the longest hash chain is the last symbol. */
static size_t dynsym_count(const uint32_t *hash, const uint32_t *gnu)
{
    if (hash)
        return hash[1];
    if (!gnu)
        return 0;
    uint32_t nbuckets = gnu[0], symoffset = gnu[1], bloom = gnu[2];
    const uint32_t *buckets = gnu + 4 + bloom * (sizeof(ElfW(Addr)) / 4);
    const uint32_t *chain = buckets + nbuckets;
    uint32_t last = 0;
    for (uint32_t i = 0; i < nbuckets; i++)
        if (buckets[i] > last)
            last = buckets[i];
    if (last < symoffset)
        return symoffset;
    while (!(chain[last - symoffset] & 1))
        last++;
    return (size_t)last + 1;
}

/* True for a symbol the plugin defines and lets others bind to. */
static bool exported(const ElfW(Sym) *s)
{
    unsigned bind = ELF64_ST_BIND(s->st_info), type = ELF64_ST_TYPE(s->st_info);
    return s->st_shndx != SHN_UNDEF && s->st_name != 0 &&
           (bind == STB_GLOBAL || bind == STB_WEAK || bind == STB_GNU_UNIQUE) &&
           type != STT_SECTION && type != STT_FILE &&
           (ELF64_ST_VISIBILITY(s->st_other) == STV_DEFAULT ||
            ELF64_ST_VISIBILITY(s->st_other) == STV_PROTECTED);
}

size_t plugin_extra_exports(const struct plugin *p, char *out, size_t outlen)
{
    struct link_map *lm = NULL;
    if (outlen)
        out[0] = '\0';
    if (dlinfo(p->handle, RTLD_DI_LINKMAP, &lm) != 0 || !lm || !lm->l_ld)
        return 0;
    const ElfW(Sym) *syms = NULL;
    const char *strs = NULL;
    const uint32_t *hash = NULL, *gnu = NULL;
    for (const ElfW(Dyn) *d = lm->l_ld; d->d_tag != DT_NULL; d++) {
        if (d->d_tag == DT_SYMTAB)
            syms = dyn_ptr(lm, d->d_un.d_ptr);
        else if (d->d_tag == DT_STRTAB)
            strs = dyn_ptr(lm, d->d_un.d_ptr);
        else if (d->d_tag == DT_HASH)
            hash = dyn_ptr(lm, d->d_un.d_ptr);
        else if (d->d_tag == DT_GNU_HASH)
            gnu = dyn_ptr(lm, d->d_un.d_ptr);
    }
    if (!syms || !strs)
        return 0;
    size_t n = dynsym_count(hash, gnu), extra = 0, used = 0;
    for (size_t i = 1; i < n; i++) {
        const char *name = strs + syms[i].st_name;
        /* Names with a leading '_' belong to the toolchain (sanitizers,
         * _init): not the plugin author's to hide. */
        if (!exported(&syms[i]) || name[0] == '_' || strcmp(name, "superd_plugin") == 0)
            continue;
        extra++;
        int w = snprintf(out + used, outlen - used, "%s%s", used ? ", " : "", name);
        if (w < 0 || (size_t)w >= outlen - used) {
            if (outlen >= 4)
                memcpy(out + outlen - 4, "...", 4);
            used = outlen - 1;
        } else {
            used += (size_t)w;
        }
    }
    return extra;
}

/* The services the core serves itself, as plugins compiled in. */
static const struct superd_plugin *const builtins[] = {
    &metrics_plugin,
};

int plugin_builtin(const char *name, struct plugin **out, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        if (strcmp(builtins[i]->name, name) != 0)
            continue;
        struct plugin *p = calloc(1, sizeof *p);
        if (!p || asprintf(&p->path, "(built-in %s)", name) < 0) {
            free(p);
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        p->desc = *builtins[i];
        *out = p;
        return 0;
    }
    snprintf(err, errlen, "no built-in service '%s'", name);
    return -ENOENT;
}

void plugin_unload(struct plugin *p)
{
    if (!p)
        return;
    /* Under ASan, dlclose makes leak reports unreadable; unload only where
     * the code cannot run any more, which is true here. */
    if (p->handle)
        dlclose(p->handle);
    free(p->path);
    free(p);
}
