/* loopguard.h - the datagram loop budget of one worker: how many replies
 * no larger than their request a source may get per second.
 *
 * A loop between two servers that answer everything runs as fast as the
 * round trip; one dropped reply ends a loop with one datagram in flight.
 * The budget only has to be finite, not exact across workers, so it lives
 * in the worker's own memory: no lock and no shared write on the reply
 * path.  A fixed table, keyed with a per-process random seed, so a flood
 * of sources costs no memory and cannot aim at one entry. */
#ifndef SUPERD_LOOPGUARD_H
#define SUPERD_LOOPGUARD_H

#include <stdbool.h>
#include <sys/socket.h>

#include "config.h"

/* Entries of the table: a source's state is forgotten when another source
 * takes its entry, which only ever gives a budget back, never takes one. */
#define LOOPGUARD_SLOTS 4096

/* May `svc` (any small number naming the service) send one more reply to
 * `sa` at `rate` now (`now_ms`, monotonic)?  Non-IP sources are keyed by
 * their address bytes as well.  Counts the reply when it returns true. */
bool loopguard_pass(int svc, const struct sockaddr *sa, socklen_t salen,
                    const struct conf_rate *rate, long long now_ms);

#endif
