/* listener.h - binding and closing listening sockets (TCP, UDP, unix
 * stream and datagram), including the unix socket files they create. */
#ifndef SUPERD_LISTENER_H
#define SUPERD_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "addr.h"
#include "loop.h"

struct conf;
struct serve;
struct stats_lrow;
struct superd_service;

struct listener {
    struct loop_watch w;
    struct laddr addr;
    size_t svc_index;           /* the service: its index in conf->svcs */
    const char *svc_name;       /* ... and its name, owned by the conf */
    struct superd_service *svc; /* in a worker: the service serving it */
    struct serve *srv;          /* in a worker: its serving context */
    struct stats_lrow *row;     /* in a worker: its counters (stats.h), or NULL */
    int fd;                     /* -1 when closed */
    bool made_file;             /* we created the socket file (the master) */
    dev_t dev;                  /* ... this one: never unlink or chmod another */
    ino_t ino;
    int mode;                   /* the socket_mode it was made with; -1: umask */
    bool kept;                  /* taken over by a newer set (a reload) */
    bool reuseport;             /* bind with SO_REUSEPORT (TCP, UDP) */
    /* UDP with a socket per worker (udp_per_worker), in the master: the
     * sockets of worker slots 1 .. nmore, bound beside fd (slot 0) in one
     * SO_REUSEPORT group; NULL when every worker shares fd.  Each socket
     * lives as long as the listener and its slot: a datagram queued in one
     * is read by that slot's next worker, never lost to a close. */
    int *more_fd;
    int nmore;
};

/* Every listener of a configuration, as the master holds them. */
struct lsn_set {
    struct listener *v;
    size_t n;
};

/*
 * Bind and (for streams) listen on l->addr: non-blocking, close-on-exec,
 * SO_REUSEADDR, IPV6_V6ONLY on IPv6.  A unix path that is a dead socket is
 * replaced; a live socket (probed without blocking) or a file that is not a
 * socket is refused and left alone.  backlog 0 means the kernel's maximum
 * (somaxconn).  socket_mode >= 0 is the unix socket file's mode, given at
 * its creation (a umask around bind): no path is followed to set it, so a
 * symlink swapped in at the path never makes us chmod another file;
 * socket_mode < 0 leaves the umask's mode.  Changes the process umask for
 * the duration of bind(): call it from a single-threaded process.  On
 * failure returns a negative errno, err holds the reason naming the
 * address, and nothing is left bound or created.
 */
int lsn_bind(struct listener *l, int backlog, int socket_mode, char *err, size_t errlen);

/* Close the socket (and the per-worker ones) and remove the socket file
 * if we made it and it is still ours.  Safe on a closed listener. */
void lsn_close(struct listener *l);

/*
 * Bind every address of every enabled service of `c`, all or nothing.  A
 * listener of `old` (may be NULL) with the same kind and address is taken
 * over instead, never re-bound: its fd moves to the new set and `old` no
 * longer owns it.  When the socket_mode of such a kept unix socket file
 * changed, the new mode is applied to the file we made, checked to be the
 * very inode we bound (opened O_PATH|O_NOFOLLOW, never through a path a
 * user can swap).  On failure what this call bound is closed (its socket
 * files removed), `old` is left as it was (modes changed are put back),
 * err names the file, line, service and address, and a negative errno is
 * returned.  A UDP listener of a service with udp_per_worker (not
 * wait = yes) gets c->workers sockets when c->workers > 1 (a kept one
 * gains or, once all else succeeded, loses sockets to match), and one
 * otherwise.
 */
int lsn_set_bind(struct lsn_set *set, const struct conf *c, struct lsn_set *old,
                 char *err, size_t errlen);

/* True if `l` was taken over from an old set by lsn_set_bind. */
bool lsn_set_kept(const struct lsn_set *old, const struct listener *l);

/*
 * In a child: keep, of each listener with per-worker sockets, only the
 * socket of worker slot `slot` (slot 0, or one past the sockets bound:
 * the shared fd) as its fd, and close the others, so a worker reads its
 * own socket only.  The child's copy of the set then owns no extra
 * sockets.  Never call it in the master.
 */
void lsn_set_use_slot(struct lsn_set *set, int slot);

/* Close every listener of the set (lsn_close) and free it. */
void lsn_set_close(struct lsn_set *set);

/* Lock the socket's filters (SO_LOCK_FILTER): a worker, which may run
 * hostile plugin code and holds every listener, cannot attach a socket
 * filter or a SO_REUSEPORT steering program that would outlive it on the
 * master's socket (drop all, or send every datagram to one worker). */
void lsn_lock_filter(int fd);

#endif
