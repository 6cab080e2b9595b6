/* listener.c - binding and closing listening sockets. */
#include "listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* The kernel caps listen(2) backlogs at somaxconn: ask for exactly that. */
static int default_backlog(void)
{
    int v = SOMAXCONN;
    FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
    if (f) {
        if (fscanf(f, "%d", &v) != 1 || v <= 0)
            v = SOMAXCONN;
        fclose(f);
    }
    return v;
}

/*
 * A path is free to bind when nothing is there, or when it is a socket no
 * process listens on any more (a crashed daemon's leftover): that one is
 * removed.  Anything else is refused and never touched.
 */
static int clear_path(const struct laddr *a, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        int e = errno;
        snprintf(err, errlen, "cannot check %s: %s", path, strerror(e));
        return -e;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "%s exists and is not a socket", path);
        return -EEXIST;
    }
    int fd = socket(AF_UNIX, addr_socktype(a->kind) | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot check %s: %s", path, strerror(e));
        return -e;
    }
    int r = connect(fd, (const struct sockaddr *)&a->sa, a->salen);
    int e = errno;
    close(fd);
    if (r == 0 || e == EPROTOTYPE) {
        snprintf(err, errlen, "%s is in use by a live socket", path);
        return -EADDRINUSE;
    }
    if (e != ECONNREFUSED) {
        snprintf(err, errlen, "cannot check %s: %s", path, strerror(e));
        return -e;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        e = errno;
        snprintf(err, errlen, "cannot remove dead socket %s: %s", path, strerror(e));
        return -e;
    }
    return 0;
}

int lsn_bind(struct listener *l, int backlog, int socket_mode, char *err, size_t errlen)
{
    const struct laddr *a = &l->addr;
    const struct sockaddr *sa = (const struct sockaddr *)&a->sa;
    const char *path = addr_unix_path(sa, a->salen);
    int r;
    l->fd = -1;
    l->made_file = false;
    l->w.fd = -1;
    if (path && (r = clear_path(a, path, err, errlen)) < 0)
        return r;

    l->fd = socket(sa->sa_family, addr_socktype(a->kind) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0) {
        r = -errno;
        snprintf(err, errlen, "cannot create socket for %s: %s", a->text, strerror(-r));
        return r;
    }
    int one = 1;
    if (sa->sa_family != AF_UNIX)
        setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* `*` binds :: and 0.0.0.0 separately: the IPv6 one must not grab v4. */
    if (sa->sa_family == AF_INET6 &&
        setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) {
        r = -errno;
        snprintf(err, errlen, "cannot set IPV6_V6ONLY on %s: %s", a->text, strerror(-r));
        lsn_close(l);
        return r;
    }
    if (bind(l->fd, sa, a->salen) < 0) {
        r = -errno;
        snprintf(err, errlen, "cannot bind %s: %s", a->text, strerror(-r));
        lsn_close(l);
        return r;
    }
    if (path) {
        struct stat st;
        l->made_file = true;
        if (stat(path, &st) == 0) {
            l->dev = st.st_dev;
            l->ino = st.st_ino;
        }
        if (socket_mode >= 0 && chmod(path, (mode_t)socket_mode) < 0) {
            r = -errno;
            snprintf(err, errlen, "cannot chmod %s: %s", path, strerror(-r));
            lsn_close(l);
            return r;
        }
    }
    if (addr_socktype(a->kind) == SOCK_STREAM &&
        listen(l->fd, backlog > 0 ? backlog : default_backlog()) < 0) {
        r = -errno;
        snprintf(err, errlen, "cannot listen on %s: %s", a->text, strerror(-r));
        lsn_close(l);
        return r;
    }
    return 0;
}

void lsn_close(struct listener *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    const char *path = addr_unix_path((const struct sockaddr *)&l->addr.sa, l->addr.salen);
    if (l->made_file && path) {
        struct stat st;
        /* Only the file we made: another process may have replaced it. */
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
            st.st_dev == l->dev && st.st_ino == l->ino)
            unlink(path);
    }
    l->made_file = false;
}
