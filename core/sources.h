/* sources.h - per-source state shared by every worker: open connections
 * (max_per_source), rate buckets (rate_limit, the datagram reply budget).
 * A fixed table in shared memory, so a flood from many addresses cannot
 * grow it: SOURCES_CAPACITY entries (about 4 MiB with the evicted
 * buckets' debts).
 *
 * A source is an address prefix: source_prefix_v4 (default /32) and
 * source_prefix_v6 (default /64) of the service, so one host with a /64 is
 * one source.  Where a source lands in the table depends on a key drawn at
 * start (getrandom), so no one can choose addresses that crowd out
 * another's.
 */
#ifndef SUPERD_SOURCES_H
#define SUPERD_SOURCES_H

#include <stdbool.h>
#include <sys/socket.h>

#include "config.h"

#define SOURCES_CAPACITY 65536
/* Defaults of source_prefix_v4 and source_prefix_v6 (0 in the config). */
#define SOURCES_PREFIX_V4 32
#define SOURCES_PREFIX_V6 64
/* Worker rows (the stats rows); one bit each in the "gone" mask. */
#define SOURCES_ROWS 128

struct sources;

/* A unix stream peer has no address to count: per-source limits count it
 * by its uid (SO_PEERCRED), written as a sockaddr of this family, which no
 * socket has (it fits a struct sockaddr). */
#define SOURCES_AF_UID 0xfe01

/* Write the source of the peer on unix stream socket `fd`: its uid.
 * 0, or a negative errno (its credentials unknown). */
int sources_peer_uid(int fd, struct sockaddr *out);

/* True (and *uid) if sa is such a source. */
bool sources_is_uid(const struct sockaddr *sa, unsigned *uid);

/* Map the table (before the first fork) with a fresh random key.  NULL on
 * failure. */
struct sources *sources_create(void);
void sources_destroy(struct sources *s);

/* Why a connection or datagram was not admitted. */
enum src_verdict { SRC_OK, SRC_TOO_MANY, SRC_RATE, SRC_FULL };

/*
 * Admit a new connection (`counted`: it will be released with
 * sources_release) or a datagram (not counted) from `sa` to service slot
 * `svc` in worker row `worker`, under the service's `cs` settings:
 * max_per_source (connections only), rate_limit, the source prefixes.
 * Counts it when admitted.  Exact across workers (one lock).  A uid
 * (SOURCES_AF_UID) is one source; other non-IP addresses are always
 * admitted.  SRC_FULL: no room for this source's
 * state (nothing is admitted that cannot be counted).
 */
enum src_verdict sources_admit(struct sources *s, int svc, int worker, const struct sockaddr *sa,
                               const struct conf_service *cs, bool counted);

/* A counted connection is gone (the same arguments as its admission). */
void sources_release(struct sources *s, int svc, int worker, const struct sockaddr *sa,
                     const struct conf_service *cs);

/* Take one token from the reply bucket of (svc, source of sa) at `rate`.
 * True if the reply may be sent. */
bool sources_reply(struct sources *s, int svc, const struct sockaddr *sa,
                   const struct conf_service *cs, const struct conf_rate *rate);

/*
 * A worker row is gone (its worker may have crashed): its connections no
 * longer count.  Never blocks and takes no lock (the master calls it): it
 * marks the row, and whichever process next takes the table's lock drops
 * the row's counts before doing anything else.  Call it before the row is
 * given to a new worker.
 */
void sources_worker_gone(struct sources *s, int worker);

/* Entries in use (for tests and the soak report). */
unsigned sources_used(struct sources *s);

#endif
