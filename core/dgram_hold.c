/* dgram_hold.c - datagrams answered later (ABI 1.1): superd_dgram_hold
 * copies a datagram's sender and keeps its listener, so that
 * superd_reply (with the same loop protection and budgets) works from a
 * timer or another connection's callback; the service keeps a list of
 * them so that all are released before its fini(). */
#define SUPERD_HOST_BUILD 1   /* the definitions, not the plugins' weak references */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <superd/plugin.h>

#include "abi.h"
#include "dgram.h"
#include "listener.h"
#include "service.h"

/* A held datagram: the handle first, then the sender's address. */
struct held {
    struct superd_dgram d;
    struct sockaddr_storage from;
};

static void release(struct superd_dgram *d)
{
    struct superd_service *svc = d->held;
    if (d->hprev)
        d->hprev->hnext = d->hnext;
    else
        svc->held = d->hnext;
    if (d->hnext)
        d->hnext->hprev = d->hprev;
    free(d);    /* the struct held it starts */
}

void dgram_release_all(struct superd_service *svc)
{
    while (svc->held)
        release(svc->held);
}

#if SUPERD_HOST_ABI_MINOR >= 1

/* Keep the sender of `dgram`.  See <superd/plugin.h>. */
struct superd_dgram *superd_dgram_hold(struct superd_dgram *dgram)
{
    if (!dgram) {
        errno = EINVAL;
        return NULL;
    }
    struct held *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    struct superd_service *svc = dgram->lsn->svc;
    h->d = *dgram;
    memcpy(&h->from, dgram->from, dgram->fromlen);
    h->d.from = &h->from;
    h->d.held = svc;
    h->d.hprev = NULL;
    h->d.hnext = svc->held;
    if (svc->held)
        svc->held->hprev = &h->d;
    svc->held = &h->d;
    return &h->d;
}

/* Let a held datagram go; one that is not held is ignored. */
void superd_dgram_release(struct superd_dgram *held)
{
    if (held && held->held)
        release(held);
}

#endif
