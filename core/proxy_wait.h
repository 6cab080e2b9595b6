/* proxy_wait.h - the PROXY protocol stage of a connection: after accept,
 * before admission and before any plugin or program sees a byte.
 *
 * The connection's source must be a trusted proxy (trusted_proxies); the
 * header must arrive whole within proxy_timeout.  Only the header's bytes
 * are read (peeked first, then consumed exactly), so the stream's own
 * bytes stay in the kernel for the connection that follows.  Then `done`
 * is called with the carried client address (or the real one for a v2
 * LOCAL or v1 UNKNOWN header), which is the peer from then on: for access
 * lists, limits, logs, superd_peer() and a program's environment. */
#ifndef SUPERD_PROXY_WAIT_H
#define SUPERD_PROXY_WAIT_H

#include <sys/socket.h>

#include "listener.h"

/* Default proxy_timeout. */
#define PROXY_TIMEOUT_MS 3000

/* `ss`: the peer (the carried client, or the real one for LOCAL/UNKNOWN);
 * `dst`: the address the client connected to as the header carries it,
 * NULL for LOCAL/UNKNOWN (the socket's own address stands). */
typedef void (*proxy_done_fn)(struct listener *l, int fd, const struct sockaddr_storage *ss,
                              socklen_t sslen, const struct sockaddr_storage *dst,
                              socklen_t dstlen);

/*
 * Take over the accepted `fd` from `ss` on `l` (a service with
 * proxy_protocol = yes) and wait for its header on l's loop.  On success
 * `done` gets fd and the carried addresses; on any failure (untrusted
 * source, malformed or partial header, proxy_timeout) the connection is
 * closed, counted as refused (reason proxy) and logged at most once a
 * second.  Never blocks.
 */
void proxy_wait(struct listener *l, int fd, const struct sockaddr_storage *ss, socklen_t sslen,
                proxy_done_fn done);

/* Close every connection still waiting for its header (worker stop). */
void proxy_wait_close_all(void);

#endif
