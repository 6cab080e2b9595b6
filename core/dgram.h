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

/*
 * Loop protection: true when a datagram from `from` must not be answered,
 * because an answer could start two servers talking forever: source port
 * 0, a classic chatty service port (7, 9, 13, 17, 19, 37), a broadcast or
 * multicast source, or one of this worker's own datagram listeners.
 * `why` gets a short reason.
 */
bool dgram_bad_source(const struct listener *lsns, size_t nlsns,
                      const struct sockaddr *from, socklen_t fromlen, const char **why);

/* Answer `to` on listener l as superd_reply would (loop protection and
 * reply budgets included), for a reply made outside a receive batch (a
 * program's).  `reqlen` is the request's size.  Returns 0 or a negative
 * errno. */
int dgram_reply_to(struct listener *l, const struct sockaddr_storage *to, socklen_t tolen,
                   size_t reqlen, const void *buf, size_t len);

#endif
