/* dgram.h - datagram listeners (UDP and unix datagram): one receive path,
 * loop protection, replies.  Implements the datagram part of the API. */
#ifndef SUPERD_DGRAM_H
#define SUPERD_DGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "loop.h"

struct listener;

struct superd_service;

/* One received datagram, valid during on_datagram (api_addr.c reads it),
 * or a held one (superd_dgram_hold), valid until released. */
struct superd_dgram {
    struct listener *lsn;
    const struct sockaddr_storage *from;
    socklen_t fromlen;
    size_t len;             /* of the request: replies larger need budget */
    char peer[ADDR_TEXT_MAX];
    struct superd_service *held;    /* a held copy: its service, else NULL */
    struct superd_dgram *hprev, *hnext; /* the service's held datagrams */
};

/* Release every datagram the service holds (before its fini()). */
void dgram_release_all(struct superd_service *svc);

/* Listener callback: receive a bounded batch of datagrams. */
void dgram_ready(struct loop_watch *w, uint32_t events);

/* The worker's own datagram listeners, indexed for dgram_bad_source. */
struct dgram_own;

/*
 * Index the datagram listeners (UDP, unix-dgram) among lsns[0 .. nlsns):
 * the caller keeps the listeners (their addresses are read at each check)
 * alive and unmoved while the index lives, and frees the index with
 * dgram_own_free.  Returns 0 or -ENOMEM.
 */
int dgram_own_build(struct dgram_own **own, const struct listener *lsns, size_t nlsns);

/* Free an index of dgram_own_build (NULL is fine). */
void dgram_own_free(struct dgram_own *own);

/*
 * Loop protection: true when a datagram from `from` must not be answered,
 * because an answer could start two servers talking forever: source port
 * 0, a classic chatty service port (7, 9, 13, 17, 19, 37), a broadcast or
 * multicast source, or one of this worker's own datagram listeners (`own`,
 * NULL: none), a wildcard one's port on any address of its family.  Costs
 * the same with a thousand listeners as with one.  `why` gets a short
 * reason.
 */
bool dgram_bad_source(const struct dgram_own *own, const struct sockaddr *from,
                      socklen_t fromlen, const char **why);

/* Answer `to` on listener l as superd_reply would (loop protection and
 * reply budgets included), for a reply made outside a receive batch (a
 * program's).  `reqlen` is the request's size.  Returns 0 or a negative
 * errno. */
int dgram_reply_to(struct listener *l, const struct sockaddr_storage *to, socklen_t tolen,
                   size_t reqlen, const void *buf, size_t len);

#endif
