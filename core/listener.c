/* listener.c - binding and closing listening sockets. */
#include "listener.h"

#include "config.h"

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

/* Move a matching listener's socket from `old` into `l`. */
static bool take_over(struct lsn_set *old, struct listener *l)
{
    for (size_t i = 0; old && i < old->n; i++) {
        struct listener *o = &old->v[i];
        if (o->fd < 0 || o->addr.kind != l->addr.kind ||
            !addr_equal((struct sockaddr *)&o->addr.sa, o->addr.salen,
                        (struct sockaddr *)&l->addr.sa, l->addr.salen))
            continue;
        l->fd = o->fd;
        l->made_file = o->made_file;
        l->dev = o->dev;
        l->ino = o->ino;
        /* The old set remembers it was kept, but no longer owns it. */
        o->fd = -1;
        o->made_file = false;
        o->kept = true;
        return true;
    }
    return false;
}

bool lsn_set_kept(const struct lsn_set *old, const struct listener *l)
{
    for (size_t i = 0; old && i < old->n; i++)
        if (old->v[i].kept && old->v[i].addr.kind == l->addr.kind &&
            addr_equal((const struct sockaddr *)&old->v[i].addr.sa, old->v[i].addr.salen,
                       (const struct sockaddr *)&l->addr.sa, l->addr.salen))
            return true;
    return false;
}

/* Give back to `old` what was taken from it (a failed reload). */
static void give_back(struct lsn_set *set, struct lsn_set *old)
{
    for (size_t i = 0; old && i < old->n; i++) {
        struct listener *o = &old->v[i];
        if (!o->kept)
            continue;
        for (size_t j = 0; j < set->n; j++) {
            struct listener *l = &set->v[j];
            if (l->fd >= 0 && l->addr.kind == o->addr.kind &&
                addr_equal((struct sockaddr *)&o->addr.sa, o->addr.salen,
                           (struct sockaddr *)&l->addr.sa, l->addr.salen)) {
                o->fd = l->fd;
                o->made_file = l->made_file;
                l->fd = -1;
                l->made_file = false;
                break;
            }
        }
        o->kept = false;
    }
}

int lsn_set_bind(struct lsn_set *set, const struct conf *c, struct lsn_set *old,
                 char *err, size_t errlen)
{
    size_t total = 0;
    for (size_t i = 0; i < c->nsvcs; i++)
        if (c->svcs[i].enabled)
            total += c->svcs[i].naddrs;
    set->n = 0;
    set->v = calloc(total ? total : 1, sizeof *set->v);
    if (!set->v)
        return -ENOMEM;
    for (size_t i = 0; i < c->nsvcs; i++) {
        const struct conf_service *cs = &c->svcs[i];
        if (!cs->enabled)
            continue;
        for (size_t a = 0; a < cs->naddrs; a++) {
            struct listener *l = &set->v[set->n];
            l->addr = cs->addrs[a];
            l->svc_index = i;
            l->svc_name = cs->name;
            l->fd = -1;
            l->w.fd = -1;
            if (take_over(old, l)) {
                set->n++;
                continue;
            }
            char msg[512];
            int r = lsn_bind(l, cs->backlog, cs->socket_mode, msg, sizeof msg);
            if (r < 0) {
                snprintf(err, errlen, "%s:%d: [%s] listen: %s", cs->file->path, l->addr.line,
                         cs->name, msg);
                give_back(set, old);
                lsn_set_close(set);
                return r;
            }
            set->n++;
        }
    }
    return 0;
}

void lsn_set_close(struct lsn_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        lsn_close(&set->v[i]);
    free(set->v);
    set->v = NULL;
    set->n = 0;
}
