/* sources.h - per-source-address state shared by every worker: open
 * connections (max_per_source), token buckets (rate_limit, the datagram
 * reply budget).  A fixed table in shared memory, so a flood from many
 * addresses cannot grow it: SOURCES_CAPACITY entries (about 3 MiB). */
#ifndef SUPERD_SOURCES_H
#define SUPERD_SOURCES_H

#include <stdbool.h>
#include <sys/socket.h>

#include "config.h"

#define SOURCES_CAPACITY 65536

struct sources;

/* Map the table (before the first fork).  NULL on failure. */
struct sources *sources_create(void);
void sources_destroy(struct sources *s);

/* Why a connection or datagram was not admitted. */
enum src_verdict { SRC_OK, SRC_TOO_MANY, SRC_RATE, SRC_FULL };

/*
 * Admit a new connection (`counted`: it will be released with
 * sources_conn_release) or a datagram (not counted) from `sa` to service
 * slot `svc` in worker row `worker`: checks max_per_source (0: none) and
 * the rate_limit bucket (count 0: none), and counts it.  Exact across
 * workers (one lock).  Non-IP addresses are always admitted.
 */
enum src_verdict sources_admit(struct sources *s, int svc, int worker, const struct sockaddr *sa,
                               long max_per_source, const struct conf_rate *rate, bool counted);

/* A counted connection is gone. */
void sources_release(struct sources *s, int svc, int worker, const struct sockaddr *sa);

/* Take one token from the reply bucket of (svc, sa) at `rate`.  True if
 * the reply may be sent. */
bool sources_reply(struct sources *s, int svc, const struct sockaddr *sa,
                   const struct conf_rate *rate);

/* A worker is gone (it may have crashed): give back every connection it
 * held, so no per-source slot leaks. */
void sources_worker_gone(struct sources *s, int worker);

/* Entries in use (for tests and the soak report). */
unsigned sources_used(struct sources *s);

#endif
