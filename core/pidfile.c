/* pidfile.c - the pid file.  superd writes it as root, possibly in a
 * directory others can write, so it never opens the path in a way that
 * follows a symbolic link or truncates a file it did not make. */
#include "pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Tries of "remove the stale file, create anew" before giving up: another
 * process racing us for the path must not make us spin. */
#define CREATE_TRIES 3

/* Read a small regular file at path without following a link; *pid gets
 * the pid it holds, 0 when empty.  0; -EILSEQ when it holds anything but a
 * pid and a newline; -EAGAIN when the file changed under us (not a regular
 * file any more, or another inode than `st`); another negative errno. */
static int read_pid(const char *path, const struct stat *st, long *pid)
{
    char buf[32];
    struct stat now;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ELOOP ? -EAGAIN : -errno;
    ssize_t n = -1;
    if (fstat(fd, &now) == 0 && S_ISREG(now.st_mode) && now.st_dev == st->st_dev &&
        now.st_ino == st->st_ino)
        n = read(fd, buf, sizeof buf - 1);
    else
        errno = EAGAIN;
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    buf[n] = '\0';
    if (n == 0) {
        *pid = 0;   /* made and not yet written: a crash at start */
        return 0;
    }
    char *end;
    errno = 0;
    *pid = strtol(buf, &end, 10);
    if (errno || end == buf || buf[0] < '0' || buf[0] > '9' || *pid <= 0 ||
        (*end != '\0' && strcmp(end, "\n") != 0))
        return -EILSEQ;
    return 0;
}

/* True when `pid` is a running superd other than this process. */
static bool superd_running(long pid)
{
    if (pid <= 0 || pid == (long)getpid())
        return false;   /* in a container, superd may get the same pid each time */
    if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
        return false;
    char path[64], comm[32] = "";
    snprintf(path, sizeof path, "/proc/%ld/comm", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return true;    /* alive, and we cannot tell what it is: keep its file */
    bool ours = fgets(comm, sizeof comm, f) && strcmp(comm, "superd\n") == 0;
    fclose(f);
    return ours;
}

/* The path exists: remove it if it is a stale pid file.  0 when it is gone
 * (try to create again); a negative errno with a message otherwise. */
static int remove_stale(const char *path, char *err, size_t errlen)
{
    struct stat st;
    long pid = 0;
    if (lstat(path, &st) < 0) {
        int e = errno;
        if (e == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: cannot write pid_file: %s", path, strerror(e));
        return -e;
    }
    if (S_ISLNK(st.st_mode)) {
        snprintf(err, errlen, "%s: cannot write pid_file: it is a symbolic link "
                 "(never followed; remove it)", path);
        return -ELOOP;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: cannot write pid_file: it exists and is not a regular file",
                 path);
        return -EEXIST;
    }
    int r = read_pid(path, &st, &pid);
    if (r == -EAGAIN)
        return 0;       /* changed under us: look again */
    if (r == -EILSEQ) {
        snprintf(err, errlen, "%s: cannot write pid_file: it exists and holds something "
                 "other than a pid (not replaced)", path);
        return r;
    }
    if (r < 0) {
        snprintf(err, errlen, "%s: cannot write pid_file: %s", path, strerror(-r));
        return r;
    }
    if (superd_running(pid)) {
        snprintf(err, errlen, "%s: cannot write pid_file: superd %ld is running with it", path,
                 pid);
        return -EBUSY;
    }
    /* unlink() removes the name, never what a link points to. */
    if (unlink(path) < 0 && errno != ENOENT) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot remove the stale pid_file: %s", path, strerror(e));
        return -e;
    }
    return 0;
}

/* Write all of buf to fd.  0 or a negative errno. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int pidfile_create(struct pidfile *pf, const char *path, char *err, size_t errlen)
{
    int fd = -1, r;
    struct stat st;
    memset(pf, 0, sizeof *pf);
    pf->pf_fd = -1;
    for (int i = 0; i < CREATE_TRIES; i++) {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0)
            break;
        if (errno != EEXIST) {
            r = -errno;
            snprintf(err, errlen, "%s: cannot write pid_file: %s", path, strerror(-r));
            return r;
        }
        if ((r = remove_stale(path, err, errlen)) < 0)
            return r;
    }
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot write pid_file: another process keeps creating it",
                 path);
        return -EEXIST;
    }
    pf->pf_path = strdup(path);
    if (fstat(fd, &st) < 0 || !pf->pf_path) {
        r = pf->pf_path ? -errno : -ENOMEM;
        /* Ours (O_EXCL made it): take it away again. */
        unlink(path);
        close(fd);
        free(pf->pf_path);
        pf->pf_path = NULL;
        snprintf(err, errlen, "%s: cannot write pid_file: %s", path, strerror(-r));
        return r;
    }
    pf->pf_fd = fd;
    pf->pf_dev = st.st_dev;
    pf->pf_ino = st.st_ino;
    return 0;
}

int pidfile_write(struct pidfile *pf, char *err, size_t errlen)
{
    char text[32];
    if (pf->pf_fd < 0)
        return 0;
    int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    int r = write_all(pf->pf_fd, text, (size_t)n);
    if (close(pf->pf_fd) < 0 && r == 0)
        r = -errno;
    pf->pf_fd = -1;
    pf->pf_owner = getpid();
    if (r < 0) {
        snprintf(err, errlen, "%s: cannot write pid_file: %s", pf->pf_path, strerror(-r));
        pf->pf_owner = 0;   /* not a pid file: pidfile_remove goes by the inode alone */
        pidfile_remove(pf);
    }
    return r;
}

void pidfile_remove(struct pidfile *pf)
{
    if (!pf->pf_path)
        return;
    struct stat st;
    long pid = 0;
    bool same = lstat(pf->pf_path, &st) == 0 && S_ISREG(st.st_mode) &&
                st.st_dev == pf->pf_dev && st.st_ino == pf->pf_ino;
    if (same && pf->pf_owner)
        same = getpid() == pf->pf_owner && read_pid(pf->pf_path, &st, &pid) == 0 &&
               pid == (long)pf->pf_owner;
    if (same)
        unlink(pf->pf_path);
    if (pf->pf_fd >= 0)
        close(pf->pf_fd);
    free(pf->pf_path);
    memset(pf, 0, sizeof *pf);
    pf->pf_fd = -1;
}
