/* loop.c - the event loop over epoll. */
#include "loop.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

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
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    return l->epfd < 0 ? -errno : 0;
}

void loop_fini(struct loop *l)
{
    if (l->epfd >= 0)
        close(l->epfd);
    l->epfd = -1;
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

int loop_run_once(struct loop *l, int timeout_ms)
{
    struct epoll_event evs[LOOP_BATCH];
    int n = epoll_wait(l->epfd, evs, LOOP_BATCH, timeout_ms);
    update_now();
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        struct loop_watch *w = evs[i].data.ptr;
        if (w->fd >= 0)
            w->fn(w, evs[i].events);
    }
    return n;
}
