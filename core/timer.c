/* timer.c - the plugin API's timers: a struct superd_timer wraps a loop
 * timer (the loop's min-heap: O(log n) to start or stop) with the
 * plugin's callback, and sits on its service's list so that all of a
 * service's timers can be stopped before its fini().  A timer's memory is
 * freed only outside its own callback. */
#include "timer.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <superd/plugin.h>

#include "abi.h"
#include "loop.h"
#include "serve.h"
#include "service.h"

/* Longer delays are clamped: a year is "never" for a worker. */
#define TIMER_MAX_MS (366ULL * 24 * 3600 * 1000)

struct superd_timer {
    struct loop_timer lt;
    struct superd_service *svc;
    void (*fn)(struct superd_timer *t, void *arg);
    void *arg;
    uint64_t every_ms;
    struct superd_timer *prev, *next;   /* the service's timers */
    bool running;                       /* in its callback: freed after it */
    bool stopped;
};

static void unlink_timer(struct superd_timer *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        t->svc->timers = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

/* Stop t and free it, unless its callback is running (fire frees it). */
static void stop_timer(struct superd_timer *t)
{
    if (!t || t->stopped)
        return;
    t->stopped = true;
    loop_timer_stop(t->svc->srv->loop, &t->lt);
    unlink_timer(t);
    if (!t->running)
        free(t);
}

void timer_stop_all(struct superd_service *svc)
{
    while (svc->timers)
        stop_timer(svc->timers);
}

/* A host presenting ABI 1.0 (tests/abi.sh) leaves the 1.1 functions out. */
#if SUPERD_HOST_ABI_MINOR >= 1

static long long clamp(uint64_t ms)
{
    return (long long)(ms > TIMER_MAX_MS ? TIMER_MAX_MS : ms);
}

/* The loop's callback: run the plugin's, then repeat or let it go. */
static void fire(struct loop_timer *lt)
{
    struct superd_timer *t = (struct superd_timer *)((char *)lt - offsetof(struct superd_timer, lt));
    t->running = true;
    t->fn(t, t->arg);
    t->running = false;
    if (t->stopped) {
        free(t);
        return;
    }
    if (t->every_ms) {
        if (loop_timer_start(t->svc->srv->loop, &t->lt, clamp(t->every_ms)) == 0)
            return;
        superd_log(t->svc, SUPERD_LOG_ERR, "a repeating timer stopped: out of memory");
    }
    unlink_timer(t);
    free(t);
}

struct superd_timer *superd_timer_start(struct superd_service *svc, uint64_t after_ms,
                                        uint64_t every_ms,
                                        void (*fn)(struct superd_timer *t, void *arg), void *arg)
{
    if (!svc || !svc->srv || !fn) {
        errno = EINVAL;
        return NULL;
    }
    struct superd_timer *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    *t = (struct superd_timer){ .svc = svc, .fn = fn, .arg = arg, .every_ms = every_ms };
    loop_timer_init(&t->lt, fire);
    if (loop_timer_start(svc->srv->loop, &t->lt, clamp(after_ms)) < 0) {
        free(t);
        errno = ENOMEM;
        return NULL;
    }
    t->next = svc->timers;
    if (svc->timers)
        svc->timers->prev = t;
    svc->timers = t;
    return t;
}

void superd_timer_stop(struct superd_timer *t)
{
    stop_timer(t);
}

#endif
