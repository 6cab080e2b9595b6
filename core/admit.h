/* admit.h - the one admission path of every connection and datagram,
 * before any plugin or program sees a byte: access lists (only_from,
 * no_access; only_uid, only_gid on unix streams), then max_per_source and
 * rate_limit per source, then max_connections per service and in total,
 * across every worker.  A refusal is counted by its reason (the metrics'
 * `reason` label) and logged at most once a second. */
#ifndef SUPERD_ADMIT_H
#define SUPERD_ADMIT_H

#include <stdbool.h>
#include <sys/socket.h>

#include "listener.h"
#include "stats.h"

/* What an admission counted, to be given back by admit_release(). */
enum {
    ADMIT_COUNTED = 1 << 0,     /* against max_connections */
    ADMIT_SOURCED = 1 << 1,     /* against max_per_source */
};

/*
 * The source that max_per_source and rate_limit count for a connection
 * from `sa` on `l` (`fd`: its socket): sa itself, or for a peer of a unix
 * stream listener its uid (SO_PEERCRED), written into `buf`.  Release
 * what was counted with this source, never with sa.
 */
const struct sockaddr_storage *admit_source(const struct listener *l, int fd,
                                            const struct sockaddr_storage *sa,
                                            struct sockaddr_storage *buf);

/*
 * Admit a stream connection from `sa` on listener `l` (`fd`: its socket,
 * for the peer's credentials on a unix socket; `src`: its source, from
 * admit_source).  Returns the ADMIT_* flags (>= 0) it counted, and counts
 * it as accepted; or -1 when refused (counted and logged as
 * "[svc] ADDR: refused PEER: RULE").
 */
int admit_stream(struct listener *l, int fd, const struct sockaddr *sa, socklen_t salen,
                 const struct sockaddr *src);

/*
 * Admit a datagram from `sa` on `l`: access lists and rate_limit (it holds
 * no slot).  Returns true, or false when refused (counted and logged as
 * "[svc] ADDR: dropped a datagram from PEER: RULE").
 */
bool admit_dgram(struct listener *l, const struct sockaddr *sa, socklen_t salen);

/* Count and log a refusal found elsewhere on the way in (the PROXY
 * stage, the TLS handshake), the same way: "[svc] ADDR: refused PEER: RULE". */
void admit_refused(struct listener *l, const struct sockaddr *sa, socklen_t salen,
                   enum stats_refusal why, const char *rule);

/* Give back what admit_stream() counted for a connection that is gone
 * (`src`: the source it was admitted with). */
void admit_release(struct listener *l, int flags, const struct sockaddr *src);

#endif
