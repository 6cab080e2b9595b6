/* listener.c - binding and closing listening sockets. */
#include "listener.h"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
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

/* The listener of `old` that made the socket file `st` and still holds
 * it, or NULL. */
static const struct listener *own_file(const struct lsn_set *old, const struct stat *st)
{
    for (size_t i = 0; old && i < old->n; i++) {
        const struct listener *o = &old->v[i];
        if (o->fd >= 0 && o->made_file && o->dev == st->st_dev && o->ino == st->st_ino)
            return o;
    }
    return NULL;
}

/*
 * A path is free to bind when nothing is there, or when it is a socket no
 * process listens on any more (a crashed daemon's leftover): that one is
 * removed.  Anything else is refused and never touched.  The probe never
 * blocks: a listener whose backlog is full (EAGAIN) is as live as one that
 * accepts, and a squatter must not freeze the master.
 */
static int clear_path(const struct laddr *a, const char *path, const struct lsn_set *old,
                      char *err, size_t errlen)
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
    /* Ours, of the other kind (unix: became unix-dgram: in a reload). */
    const struct listener *o = own_file(old, &st);
    if (o) {
        snprintf(err, errlen, "%s is superd's own %s socket of [%s]: a reload cannot make it "
                 "a %s socket; restart superd, or reload once without it first", path,
                 addr_kind_name(o->addr.kind), o->svc_name ? o->svc_name : "?",
                 addr_kind_name(a->kind));
        return -EADDRINUSE;
    }
    int fd = socket(AF_UNIX, addr_socktype(a->kind) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot check %s: %s", path, strerror(e));
        return -e;
    }
    int r = connect(fd, (const struct sockaddr *)&a->sa, a->salen);
    int e = errno;
    close(fd);
    if (r == 0 || e == EAGAIN || e == EINPROGRESS || e == EALREADY || e == EPROTOTYPE) {
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

/*
 * Open the socket file at `path` without following it (O_PATH|O_NOFOLLOW)
 * and check that it is one this process made: a socket, owned by our euid,
 * with a single link (a hard link of another socket has more), and, when
 * `l` is given, the very inode `l` bound.  Nothing a user swaps in at the
 * path passes.  Returns the descriptor (st filled), or a negative errno
 * with err set.
 */
static int open_own_socket(const char *path, const struct listener *l, struct stat *st,
                           char *err, size_t errlen)
{
    /* With O_PATH, O_NOFOLLOW opens a symbolic link itself. */
    int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(e));
        return -e;
    }
    if (fstat(fd, st) < 0) {
        int e = errno;
        close(fd);
        snprintf(err, errlen, "cannot check %s: %s", path, strerror(e));
        return -e;
    }
    if (S_ISLNK(st->st_mode)) {
        close(fd);
        snprintf(err, errlen, "%s was replaced by a symbolic link", path);
        return -ELOOP;
    }
    if (!S_ISSOCK(st->st_mode) || st->st_uid != geteuid() || st->st_nlink != 1 ||
        (l && (st->st_dev != l->dev || st->st_ino != l->ino))) {
        close(fd);
        snprintf(err, errlen, "%s is no longer the socket file superd made (it was replaced)",
                 path);
        return -ESTALE;
    }
    return fd;
}

/* chmod the file open as O_PATH descriptor `fd`: through its /proc link,
 * which names that inode whatever happens to `path` meanwhile. */
static int chmod_fd(int fd, mode_t mode, const char *path, char *err, size_t errlen)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    if (chmod(link, mode) < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot chmod %s: %s", path,
                 e == ENOENT ? "/proc is not mounted" : strerror(e));
        return -e;
    }
    return 0;
}

/* The mode a socket file gets with no socket_mode: 0777 less the umask. */
static mode_t umask_mode(void)
{
    mode_t u = umask(0);
    umask(u);
    return 0777 & ~u;
}

/*
 * Give the socket file of a kept listener the mode `mode` (-1: the umask's)
 * when it differs from the one it was made with.  A socket superd did not
 * make (passed by systemd) or that has no file keeps its mode.
 */
static int set_mode(struct listener *l, int mode, char *err, size_t errlen)
{
    const char *path = addr_unix_path((const struct sockaddr *)&l->addr.sa, l->addr.salen);
    if (!path || !l->made_file || l->fd < 0 || mode == l->mode) {
        l->mode = mode;
        return 0;
    }
    struct stat st;
    int fd = open_own_socket(path, l, &st, err, errlen);
    if (fd < 0)
        return fd;
    int r = chmod_fd(fd, mode >= 0 ? (mode_t)mode : umask_mode(), path, err, errlen);
    close(fd);
    if (r == 0)
        l->mode = mode;
    return r;
}

/* bind(2), creating a unix socket file with `mode` (< 0: the umask's)
 * from the start: nothing to chmod afterwards through a path. */
static int bind_mode(int fd, const struct sockaddr *sa, socklen_t salen, int mode)
{
    mode_t saved = 0;
    if (mode >= 0)
        saved = umask(~(mode_t)mode & 0777);
    int r = bind(fd, sa, salen);
    int e = errno;
    if (mode >= 0)
        umask(saved);
    errno = e;
    return r;
}

void lsn_lock_filter(int fd)
{
    int one = 1;
    /* Fails only on kernels before 3.9; nothing to do about it then. */
    (void)setsockopt(fd, SOL_SOCKET, SO_LOCK_FILTER, &one, sizeof one);
}

/* lsn_bind, told about the listeners of the configuration being replaced
 * (`old`, may be NULL): a path one of them made is named as superd's own. */
static int bind_one(struct listener *l, int backlog, int socket_mode, const struct lsn_set *old,
                    char *err, size_t errlen)
{
    const struct laddr *a = &l->addr;
    const struct sockaddr *sa = (const struct sockaddr *)&a->sa;
    const char *path = addr_unix_path(sa, a->salen);
    int r;
    l->fd = -1;
    l->made_file = false;
    l->mode = -1;
    l->w.fd = -1;
    l->more_fd = NULL;  /* one socket: the per-worker ones come from set_slots */
    l->nmore = 0;
    if (path && (r = clear_path(a, path, old, err, errlen)) < 0)
        return r;

    l->fd = socket(sa->sa_family, addr_socktype(a->kind) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0) {
        r = -errno;
        snprintf(err, errlen, "cannot create socket for %s: %s", a->text, strerror(-r));
        return r;
    }
    int one = 1;
    lsn_lock_filter(l->fd);
    /* TCP only: SO_REUSEADDR lets a restart bind over TIME_WAIT.  On UDP it
     * would let any local user bind the same port beside ours (the kernel
     * checks no owner) and take a share of the datagrams. */
    if (sa->sa_family != AF_UNIX && addr_socktype(a->kind) == SOCK_STREAM)
        setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* reuseport: other superd instances (of the same user: the kernel
     * checks) may bind the same port, for rolling upgrades. */
    if (l->reuseport && sa->sa_family != AF_UNIX &&
        setsockopt(l->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
        r = -errno;
        snprintf(err, errlen, "cannot set SO_REUSEPORT on %s: %s", a->text, strerror(-r));
        lsn_close(l);
        return r;
    }
    /* `*` binds :: and 0.0.0.0 separately: the IPv6 one must not grab v4. */
    if (sa->sa_family == AF_INET6 &&
        setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) {
        r = -errno;
        snprintf(err, errlen, "cannot set IPV6_V6ONLY on %s: %s", a->text, strerror(-r));
        lsn_close(l);
        return r;
    }
    if (bind_mode(l->fd, sa, a->salen, path ? socket_mode : -1) < 0) {
        r = -errno;
        snprintf(err, errlen, "cannot bind %s: %s", a->text, strerror(-r));
        lsn_close(l);
        return r;
    }
    if (path) {
        /* Record the inode we made, checked without following the path;
         * a file swapped in since bind() is refused, never touched. */
        struct stat st;
        int pfd = open_own_socket(path, NULL, &st, err, errlen);
        if (pfd < 0) {
            lsn_close(l);
            return pfd;
        }
        l->made_file = true;
        l->dev = st.st_dev;
        l->ino = st.st_ino;
        l->mode = socket_mode;
        /* A default ACL on the directory overrides the umask. */
        r = 0;
        if (socket_mode >= 0 && (st.st_mode & 07777) != (mode_t)socket_mode)
            r = chmod_fd(pfd, (mode_t)socket_mode, path, err, errlen);
        close(pfd);
        if (r < 0) {
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

int lsn_bind(struct listener *l, int backlog, int socket_mode, char *err, size_t errlen)
{
    return bind_one(l, backlog, socket_mode, NULL, err, errlen);
}

void lsn_close(struct listener *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    for (int i = 0; l->more_fd && i < l->nmore; i++)
        close(l->more_fd[i]);
    free(l->more_fd);
    l->more_fd = NULL;
    l->nmore = 0;
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
        l->mode = o->mode;
        l->more_fd = o->more_fd;
        l->nmore = o->nmore;
        /* The old set remembers it was kept, but no longer owns it; its
         * nmore stays, to put back what a failed reload bound. */
        o->fd = -1;
        o->made_file = false;
        o->more_fd = NULL;
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

/* Give back to `old` what was taken from it (a failed reload), with the
 * mode its socket file had. */
static void give_back(struct lsn_set *set, struct lsn_set *old)
{
    char ignored[256];
    for (size_t i = 0; old && i < old->n; i++) {
        struct listener *o = &old->v[i];
        if (!o->kept)
            continue;
        for (size_t j = 0; j < set->n; j++) {
            struct listener *l = &set->v[j];
            if (l->fd >= 0 && l->addr.kind == o->addr.kind &&
                addr_equal((struct sockaddr *)&o->addr.sa, o->addr.salen,
                           (struct sockaddr *)&l->addr.sa, l->addr.salen)) {
                /* Best effort: this reload fails with its own message. */
                set_mode(l, o->mode, ignored, sizeof ignored);
                o->fd = l->fd;
                o->made_file = l->made_file;
                /* Sockets bound for new worker slots would take a share
                 * of the datagrams with no worker to read them. */
                while (l->nmore > o->nmore)
                    close(l->more_fd[--l->nmore]);
                o->more_fd = l->more_fd;
                l->fd = -1;
                l->made_file = false;
                l->more_fd = NULL;
                l->nmore = 0;
                break;
            }
        }
        o->kept = false;
    }
}

/* How many sockets listener `l` of service `cs` gets: one per worker for
 * UDP with udp_per_worker (the spawner's wait = yes ones stay single). */
static int slots_wanted(const struct conf *c, const struct conf_service *cs,
                        const struct listener *l)
{
    if (l->addr.kind != ADDR_UDP || !cs->udp_per_worker || cs->exec.wait || c->workers < 2)
        return 1;
    return c->workers;
}

/* Bind the sockets of worker slots nmore+1 .. want-1 beside l->fd, in its
 * SO_REUSEPORT group (a reload raised workers).  On failure the sockets
 * bound so far stay in l (the caller closes or gives them back). */
static int slots_grow(struct listener *l, int want, char *err, size_t errlen)
{
    if (want - 1 <= l->nmore)
        return 0;
    int one = 1;
    /* A kept socket bound as a shared one joins the group now: Linux lets
     * SO_REUSEPORT be set after bind(). */
    if (setsockopt(l->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot set SO_REUSEPORT on %s: %s", l->addr.text, strerror(e));
        return -e;
    }
    int *v = realloc(l->more_fd, (size_t)(want - 1) * sizeof *v);
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    l->more_fd = v;
    while (l->nmore < want - 1) {
        struct listener t = { .addr = l->addr, .fd = -1, .reuseport = true };
        char msg[400];
        int r = bind_one(&t, 0, -1, NULL, msg, sizeof msg);
        if (r < 0) {
            snprintf(err, errlen, "a socket for worker %d: %s", l->nmore + 2, msg);
            return r;
        }
        l->more_fd[l->nmore++] = t.fd;
    }
    return 0;
}

/* Close the sockets of worker slots `want` and beyond (workers lowered):
 * their old workers read what is queued until they exit. */
static void slots_shrink(struct listener *l, int want)
{
    while (l->nmore > want - 1)
        close(l->more_fd[--l->nmore]);
    if (l->nmore == 0) {
        free(l->more_fd);
        l->more_fd = NULL;
    }
}

void lsn_set_use_slot(struct lsn_set *set, int slot)
{
    for (size_t i = 0; i < set->n; i++) {
        struct listener *l = &set->v[i];
        if (!l->more_fd)
            continue;
        int keep = slot >= 1 && slot <= l->nmore ? l->more_fd[slot - 1] : l->fd;
        if (l->fd >= 0 && l->fd != keep)
            close(l->fd);
        for (int k = 0; k < l->nmore; k++)
            if (l->more_fd[k] != keep)
                close(l->more_fd[k]);
        l->fd = keep;
        free(l->more_fd);
        l->more_fd = NULL;
        l->nmore = 0;
    }
}

/* The per-worker sockets of every listener of `set`, bound by lsn_set_bind
 * once all else is in place: grow all first (a failure gives everything
 * back), then close what a lower worker count no longer needs. */
static int set_slots(struct lsn_set *set, const struct conf *c, struct lsn_set *old,
                     char *err, size_t errlen)
{
    for (size_t i = 0; i < set->n; i++) {
        struct listener *l = &set->v[i];
        const struct conf_service *cs = &c->svcs[l->svc_index];
        char msg[512];
        int r = slots_grow(l, slots_wanted(c, cs, l), msg, sizeof msg);
        if (r < 0) {
            snprintf(err, errlen, "%s:%d: [%s] listen: %s", cs->file->path, l->addr.line,
                     cs->name, msg);
            give_back(set, old);
            lsn_set_close(set);
            return r;
        }
    }
    for (size_t i = 0; i < set->n; i++)
        slots_shrink(&set->v[i], slots_wanted(c, &c->svcs[set->v[i].svc_index], &set->v[i]));
    return 0;
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
            l->reuseport = cs->reuseport;
            char msg[512];
            int r;
            if (take_over(old, l)) {
                set->n++;
                r = set_mode(l, cs->socket_mode, msg, sizeof msg);
                if (r < 0) {
                    snprintf(err, errlen, "%s:%d: [%s] socket_mode: cannot apply it to the kept "
                             "%s: %s; restart superd to apply it", cs->file->path,
                             l->addr.line, cs->name, l->addr.text, msg);
                    give_back(set, old);
                    lsn_set_close(set);
                    return r;
                }
                continue;
            }
            /* Slot 0 is bound as the user asked (reuseport = no: alone), so
             * that a port another socket holds with SO_REUSEPORT is "in use",
             * never silently shared; set_slots makes it a group after. */
            r = bind_one(l, cs->backlog, cs->socket_mode, old, msg, sizeof msg);
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
    return set_slots(set, c, old, err, errlen);
}

void lsn_set_close(struct lsn_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        lsn_close(&set->v[i]);
    free(set->v);
    set->v = NULL;
    set->n = 0;
}
