/* cgroup.c - a cgroup v2 per exec service (memory_max, pids_max).
 *
 * Only cgroup v2, only files: no library.  The spawner calls this as root
 * at its start, before any child; nothing here runs in a vforked child
 * (the child only writes "0" to the descriptor prepared here).
 */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "exec_conf.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* The cgroup2 mount: its mount point and the cgroup path it shows. */
static int cgroup2_mount(char *mnt, size_t mntlen, char *root, size_t rootlen)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -errno;
    char line[4096];
    int r = -ENOENT;
    while (r < 0 && fgets(line, sizeof line, f)) {
        char *dash = strstr(line, " - ");
        if (!dash || strncmp(dash + 3, "cgroup2 ", 8) != 0)
            continue;
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT ... */
        char *save = NULL, *tok = strtok_r(line, " ", &save);
        for (int i = 0; tok && i < 3; i++)
            tok = strtok_r(NULL, " ", &save);
        char *mp = tok ? strtok_r(NULL, " ", &save) : NULL;
        if (!tok || !mp)
            continue;
        if ((size_t)snprintf(root, rootlen, "%s", tok) < rootlen &&
            (size_t)snprintf(mnt, mntlen, "%s", mp) < mntlen)
            r = 0;
    }
    fclose(f);
    return r;
}

int cgroup_self(char *path, size_t len, char *err, size_t errlen)
{
    char mnt[PATH_MAX], mroot[PATH_MAX], line[PATH_MAX + 8], *cg = NULL;
    if (cgroup2_mount(mnt, sizeof mnt, mroot, sizeof mroot) < 0) {
        snprintf(err, errlen, "no cgroup2 file system is mounted (cgroup v2 needed)");
        return -ENOENT;
    }
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "/proc/self/cgroup: %s", strerror(e));
        return -e;
    }
    while (!cg && fgets(line, sizeof line, f))
        if (strncmp(line, "0::", 3) == 0)
            cg = line + 3;
    fclose(f);
    if (!cg) {
        snprintf(err, errlen, "/proc/self/cgroup has no cgroup v2 line (0::)");
        return -ENOENT;
    }
    cg[strcspn(cg, "\n")] = '\0';
    /* A mount of a sub-tree shows paths below its root. */
    size_t rl = strlen(mroot);
    if (strcmp(mroot, "/") != 0 && strncmp(cg, mroot, rl) == 0 && (!cg[rl] || cg[rl] == '/'))
        cg += rl;
    if ((size_t)snprintf(path, len, "%s%s", mnt, strcmp(cg, "/") == 0 ? "" : cg) >= len) {
        snprintf(err, errlen, "cgroup path too long");
        return -ENAMETOOLONG;
    }
    return 0;
}

/* Read a small cgroup file into buf (NUL-terminated, newline removed). */
static int read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, len - 1);
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

static int write_small(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    return n < 0 ? -e : 0;
}

/* Is `word` one of the blank-separated words of `list`? */
static bool has_word(const char *list, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += wl)
        if ((p == list || p[-1] == ' ') && (p[wl] == '\0' || p[wl] == ' '))
            return true;
    return false;
}

/* The controller is available in root and enabled for its children. */
static int enable(const char *root, const char *ctl, char *err, size_t errlen)
{
    char path[PATH_MAX], buf[512], cmd[32];
    snprintf(path, sizeof path, "%s/cgroup.controllers", root);
    int r = read_small(path, buf, sizeof buf);
    if (r < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(-r));
        return r;
    }
    if (!has_word(buf, ctl)) {
        snprintf(err, errlen, "%s: no %s controller (not delegated to this cgroup, or a "
                 "cgroup v1 hierarchy has it)", path, ctl);
        return -EOPNOTSUPP;
    }
    snprintf(path, sizeof path, "%s/cgroup.subtree_control", root);
    if (read_small(path, buf, sizeof buf) == 0 && has_word(buf, ctl))
        return 0;
    snprintf(cmd, sizeof cmd, "+%s", ctl);
    r = write_small(path, cmd);
    if (r == -EBUSY)
        snprintf(err, errlen, "%s: cannot enable %s: the cgroup has processes of its own "
                 "(cgroup v2 allows controllers only below a cgroup without any): set "
                 "[superd] cgroup_root to such a cgroup", path, ctl);
    else if (r < 0)
        snprintf(err, errlen, "%s: cannot enable %s: %s", path, ctl, strerror(-r));
    return r;
}

/* Write a limit, or "max" when not given; a file that is not there (its
 * controller is not enabled) is fine when the limit is not given. */
static int set_limit(const char *dir, const char *file, bool given, unsigned long long v,
                     char *err, size_t errlen)
{
    char path[PATH_MAX + 64], text[32] = "max";
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (given && v != EXEC_RLIM_UNLIMITED)
        snprintf(text, sizeof text, "%llu", v);
    int r = write_small(path, text);
    if (r == -ENOENT && !given)
        return 0;
    if (r < 0)
        snprintf(err, errlen, "%s: cannot write %s: %s", path, text, strerror(-r));
    return r;
}

int cgroup_prepare(const char *root, const char *name, const struct exec_conf *e,
                   int *procs_fd, char *err, size_t errlen)
{
    char dir[PATH_MAX], path[PATH_MAX + 64];
    struct statfs fs;
    int r;
    if (strchr(name, '/') || (size_t)snprintf(dir, sizeof dir, "%s/superd-%s", root, name) >=
        sizeof dir - 32) {
        snprintf(err, errlen, "the service's name cannot be a cgroup's");
        return -EINVAL;
    }
    errno = 0;
    if (statfs(root, &fs) < 0 || fs.f_type != CGROUP2_SUPER_MAGIC) {
        snprintf(err, errlen, "%s is not a cgroup v2 directory%s%s", root,
                 errno ? ": " : "", errno ? strerror(errno) : "");
        return -ENOTDIR;
    }
    if ((e->has_memory_max && (r = enable(root, "memory", err, errlen)) < 0) ||
        (e->has_pids_max && (r = enable(root, "pids", err, errlen)) < 0))
        return r;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        r = -errno;
        snprintf(err, errlen, "cannot make %s: %s", dir, strerror(-r));
        return r;
    }
    /* No swap under memory_max: the limit is the memory the program has,
     * not the point where it starts to swap. */
    if ((r = set_limit(dir, "memory.max", e->has_memory_max, e->memory_max, err, errlen)) < 0 ||
        (r = set_limit(dir, "pids.max", e->has_pids_max, e->pids_max, err, errlen)) < 0)
        return r;
    snprintf(path, sizeof path, "%s/memory.swap.max", dir);
    write_small(path, e->has_memory_max && e->memory_max != EXEC_RLIM_UNLIMITED ? "0" : "max");
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        r = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(-r));
        return r;
    }
    *procs_fd = fd;
    return 0;
}

void cgroup_remove(const char *root, const char *name)
{
    char dir[PATH_MAX];
    if ((size_t)snprintf(dir, sizeof dir, "%s/superd-%s", root, name) < sizeof dir)
        rmdir(dir);
}
