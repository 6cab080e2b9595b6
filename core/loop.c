/* loop.c - the event loop over epoll, a timer min-heap (as libuv's), and
 * the settle list. */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

/* The LOOP_* flags are epoll's: events pass through untranslated. */
_Static_assert(LOOP_READABLE == (unsigned)EPOLLIN && LOOP_WRITABLE == (unsigned)EPOLLOUT &&
               LOOP_ERROR == (unsigned)EPOLLERR && LOOP_HANGUP == (unsigned)EPOLLHUP &&
               LOOP_EXCLUSIVE == (unsigned)EPOLLEXCLUSIVE, "LOOP_* flags differ from epoll's");

/* Events taken per epoll_wait: enough to amortise the call, small enough
 * that one busy batch does not starve timers and signals. */
#define LOOP_BATCH 64

static long long cached_now;

long long clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void update_now(void)
{
    cached_now = clock_now_ms();
}

long long loop_now_ms(void)
{
    if (!cached_now)
        update_now();
    return cached_now;
}

int loop_init(struct loop *l)
{
    *l = (struct loop){ .epfd = epoll_create1(EPOLL_CLOEXEC) };
    return l->epfd < 0 ? -errno : 0;
}

static void run_later(struct loop *l)
{
    while (l->later) {
        struct loop_pending *p = l->later;
        l->later = p->next;
        p->next = NULL;
        p->queued = false;
        p->fn(p);
    }
}

void loop_later(struct loop *l, struct loop_pending *p)
{
    if (p->queued)
        return;
    p->queued = true;
    p->prev = NULL;
    p->next = l->later;
    l->later = p;
}

void loop_fini(struct loop *l)
{
    run_later(l);
    if (l->epfd >= 0)
        close(l->epfd);
    /* Timers still armed are their owners' to stop first: their memory
     * may be gone, so it is not touched here. */
    free(l->heap);
    *l = (struct loop){ .epfd = -1 };
}

int loop_add(struct loop *l, struct loop_watch *w, int fd, uint32_t events, loop_fn fn)
{
    struct epoll_event ev = { .events = events, .data.ptr = w };
    w->fn = fn;
    w->fd = fd;
    w->events = events;
    return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int loop_mod(struct loop *l, struct loop_watch *w, uint32_t events)
{
    if (w->events == events)
        return 0;
    struct epoll_event ev = { .events = events, .data.ptr = w };
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
        return -errno;
    w->events = events;
    return 0;
}

void loop_del(struct loop *l, struct loop_watch *w)
{
    if (w->fd < 0)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->events = 0;
    /* Marks the watch dead for events still pending in this batch. */
    w->fd = -1;
}

/* ---- timers: a binary min-heap of pointers, each timer knowing its slot ---- */

static bool before(const struct loop_timer *a, const struct loop_timer *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void place(struct loop *l, struct loop_timer *t, size_t i)
{
    l->heap[i] = t;
    t->idx = i;
}

static void sift_up(struct loop *l, size_t i)
{
    struct loop_timer *t = l->heap[i];
    while (i > 1 && before(t, l->heap[i / 2])) {
        place(l, l->heap[i / 2], i);
        i /= 2;
    }
    place(l, t, i);
}

static void sift_down(struct loop *l, size_t i)
{
    struct loop_timer *t = l->heap[i];
    for (;;) {
        size_t c = 2 * i;
        if (c > l->ntimers)
            break;
        if (c + 1 <= l->ntimers && before(l->heap[c + 1], l->heap[c]))
            c++;
        if (!before(l->heap[c], t))
            break;
        place(l, l->heap[c], i);
        i = c;
    }
    place(l, t, i);
}

void loop_timer_init(struct loop_timer *t, loop_timer_fn fn)
{
    *t = (struct loop_timer){ .fn = fn };
}

int loop_timer_start(struct loop *l, struct loop_timer *t, long long after_ms)
{
    loop_timer_stop(l, t);
    if (l->ntimers + 1 >= l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct loop_timer **h = realloc(l->heap, cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        l->heap = h;
        l->cap = cap;
    }
    t->due = loop_now_ms() + (after_ms > 0 ? after_ms : 0);
    t->seq = l->seq++;
    place(l, t, ++l->ntimers);
    sift_up(l, t->idx);
    return 0;
}

void loop_timer_stop(struct loop *l, struct loop_timer *t)
{
    size_t i = t->idx;
    if (i == 0)
        return;
    t->idx = 0;
    struct loop_timer *last = l->heap[l->ntimers--];
    if (last == t)
        return;
    place(l, last, i);
    if (i > 1 && before(last, l->heap[i / 2]))
        sift_up(l, i);
    else
        sift_down(l, i);
}

/* ms until the first timer is due, bounded by timeout_ms (-1: none). */
static int wait_ms(const struct loop *l, int timeout_ms)
{
    if (l->ntimers == 0 || l->pending)
        return l->pending ? 0 : timeout_ms;
    long long left = l->heap[1]->due - loop_now_ms();
    if (left < 0)
        left = 0;
    if (timeout_ms >= 0 && left > timeout_ms)
        return timeout_ms;
    return left > 1000000000 ? 1000000000 : (int)left;
}

/* Run the timers due now.  A timer started by a callback of this run is
 * left for the next turn, even when due at once: a timer re-arming itself
 * with 0 ms cannot hold the loop. */
static int run_timers(struct loop *l)
{
    uint64_t limit = l->seq;
    long long now = loop_now_ms();
    int n = 0;
    while (l->ntimers && l->heap[1]->due <= now && l->heap[1]->seq < limit) {
        struct loop_timer *t = l->heap[1];
        loop_timer_stop(l, t);
        t->fn(t);
        if (l->pending)
            loop_pending_run(l);
        n++;
    }
    return n;
}

/* ---- the settle list ---- */

void loop_pending_add(struct loop *l, struct loop_pending *p)
{
    if (p->queued)
        return;
    p->queued = true;
    p->next = NULL;
    p->prev = l->pending_tail;
    if (l->pending_tail)
        l->pending_tail->next = p;
    else
        l->pending = p;
    l->pending_tail = p;
}

void loop_pending_del(struct loop *l, struct loop_pending *p)
{
    if (!p->queued)
        return;
    if (p->prev)
        p->prev->next = p->next;
    else
        l->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        l->pending_tail = p->prev;
    p->prev = p->next = NULL;
    p->queued = false;
}

void loop_pending_run(struct loop *l)
{
    while (l->pending) {
        struct loop_pending *p = l->pending;
        loop_pending_del(l, p);
        p->fn(p);
    }
}

int loop_run_once(struct loop *l, int timeout_ms)
{
    struct epoll_event evs[LOOP_BATCH];
    int n = epoll_wait(l->epfd, evs, LOOP_BATCH, wait_ms(l, timeout_ms));
    update_now();
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    /* Queued outside every callback (say, by the worker): settle first. */
    if (l->pending)
        loop_pending_run(l);
    for (int i = 0; i < n; i++) {
        struct loop_watch *w = evs[i].data.ptr;
        if (w->fd < 0)
            continue;
        w->fn(w, evs[i].events);
        if (l->pending)
            loop_pending_run(l);
    }
    int ran = n + (l->ntimers ? run_timers(l) : 0);
    if (l->later)
        run_later(l);
    return ran;
}
