/* watch.c - the plugin API's descriptor watches: a struct superd_watch
 * wraps a loop watch with the plugin's callback, in the plugin's own
 * event flags, and sits on its service's list so that all of a service's
 * watches are released before its fini().  An unwatched watch is freed
 * after the loop's current batch (loop_later), so that neither its own
 * callback nor a stale event of the batch can touch freed memory. */
#define SUPERD_HOST_BUILD 1   /* the definitions, not the plugins' weak references */

#include "watch.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include <superd/plugin.h>

#include "abi.h"
#include "loop.h"
#include "serve.h"
#include "service.h"

struct superd_watch {
    struct loop_watch lw;
    struct loop_pending later;      /* its free, after the batch */
    struct superd_service *svc;
    void (*fn)(struct superd_watch *w, int fd, unsigned events, void *arg);
    void *arg;
    int fd;
    struct superd_watch *prev, *next;   /* the service's watches */
};

static void free_watch(struct loop_pending *p)
{
    free((char *)p - offsetof(struct superd_watch, later));
}

/* Off the loop and the service's list; freed after the batch. */
static void release(struct superd_watch *w)
{
    struct loop *l = w->svc->srv->loop;
    loop_del(l, &w->lw);
    if (w->prev)
        w->prev->next = w->next;
    else
        w->svc->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->later.fn = free_watch;
    loop_later(l, &w->later);
}

void watch_release_all(struct superd_service *svc)
{
    while (svc->watches)
        release(svc->watches);
}

#if SUPERD_HOST_ABI_MINOR >= 1

static uint32_t to_loop(unsigned events)
{
    return ((events & SUPERD_READABLE) ? LOOP_READABLE : 0) |
           ((events & SUPERD_WRITABLE) ? LOOP_WRITABLE : 0);
}

static void fire(struct loop_watch *lw, uint32_t events)
{
    struct superd_watch *w = (struct superd_watch *)((char *)lw - offsetof(struct superd_watch, lw));
    unsigned ev = ((events & LOOP_READABLE) ? SUPERD_READABLE : 0) |
                  ((events & LOOP_WRITABLE) ? SUPERD_WRITABLE : 0) |
                  ((events & (LOOP_ERROR | LOOP_HANGUP)) ? SUPERD_ERROR : 0);
    w->fn(w, w->fd, ev, w->arg);
}

/* Watch a descriptor of the plugin's.  See <superd/plugin.h>. */
struct superd_watch *superd_watch(struct superd_service *svc, int fd, unsigned events,
                                  void (*fn)(struct superd_watch *w, int fd, unsigned events,
                                             void *arg),
                                  void *arg)
{
    if (!svc || !svc->srv || !fn || fd < 0 ||
        (events & ~(SUPERD_READABLE | SUPERD_WRITABLE | SUPERD_ERROR))) {
        errno = EINVAL;
        return NULL;
    }
    struct superd_watch *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    *w = (struct superd_watch){ .svc = svc, .fn = fn, .arg = arg, .fd = fd };
    int r = loop_add(svc->srv->loop, &w->lw, fd, to_loop(events), fire);
    if (r < 0) {
        free(w);
        errno = -r;
        return NULL;
    }
    w->next = svc->watches;
    if (svc->watches)
        svc->watches->prev = w;
    svc->watches = w;
    return w;
}

/* Change what a watch waits for. */
int superd_watch_set(struct superd_watch *w, unsigned events)
{
    if (!w || w->lw.fd < 0 || (events & ~(SUPERD_READABLE | SUPERD_WRITABLE | SUPERD_ERROR)))
        return -EINVAL;
    return loop_mod(w->svc->srv->loop, &w->lw, to_loop(events));
}

/* Stop watching; the memory goes after the loop's batch. */
void superd_unwatch(struct superd_watch *w)
{
    if (w && w->lw.fd >= 0)
        release(w);
}

#endif
