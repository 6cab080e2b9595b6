/* listener.h - binding and closing listening sockets (TCP, UDP, unix
 * stream and datagram), including the unix socket files they create. */
#ifndef SUPERD_LISTENER_H
#define SUPERD_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "addr.h"
#include "loop.h"

struct worker;
struct superd_service;

struct listener {
    struct loop_watch w;
    struct laddr addr;
    struct superd_service *svc;
    struct worker *wk;          /* the worker serving it */
    int fd;                     /* -1 when closed */
    bool made_file;             /* we created the socket file */
    dev_t dev;                  /* ... this one: never unlink another */
    ino_t ino;
};

/*
 * Bind and (for streams) listen on l->addr: non-blocking, close-on-exec,
 * SO_REUSEADDR, IPV6_V6ONLY on IPv6.  A unix path that is a dead socket is
 * replaced; a live socket or a file that is not a socket is refused and left
 * alone.  backlog 0 means the kernel's maximum (somaxconn); socket_mode < 0
 * leaves the umask's mode.  On failure returns a negative errno, err holds
 * the reason naming the address, and nothing is left bound or created.
 */
int lsn_bind(struct listener *l, int backlog, int socket_mode, char *err, size_t errlen);

/* Close the socket and remove the socket file if we made it and it is
 * still ours.  Safe on a closed listener. */
void lsn_close(struct listener *l);

#endif
