/* loop.h - the event loop: descriptor watches, timers, and the settle
 * list, over epoll (only loop.c knows that).
 *
 * An object that waits for events embeds a struct loop_watch (or a
 * struct loop_timer, or a struct loop_pending) and registers it; the
 * callback gets it back and finds its object with container_of-style
 * arithmetic.  Objects are never freed while the events of one
 * loop_run_once batch are being handled (their owners defer frees), so a
 * stale event in the same batch still points at valid memory.
 *
 * One turn (loop_run_once): wait for descriptors (no longer than the
 * first timer is due), call each ready watch, run the timers that are
 * due.  After every one of those callbacks the settle list is drained: an
 * object a callback touched but does not own (another connection written
 * to or closed) is queued there and has its state applied at once, not
 * at its own next event.
 */
#ifndef SUPERD_LOOP_H
#define SUPERD_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Interest and readiness, in the loop's own flags.  (They have epoll's
 * and poll's values, so loop.c passes them through untranslated.) */
#define LOOP_READABLE 0x001u
#define LOOP_WRITABLE 0x004u
#define LOOP_ERROR 0x008u       /* reported only */
#define LOOP_HANGUP 0x010u      /* reported only */
/* At loop_add only: of several processes watching one descriptor, wake
 * one per event (a shared listening socket). */
#define LOOP_EXCLUSIVE (1u << 28)

struct loop_watch;
typedef void (*loop_fn)(struct loop_watch *w, uint32_t events);

struct loop_watch {
    loop_fn fn;
    int fd;             /* -1 once deleted */
    uint32_t events;    /* the interest currently registered */
};

struct loop_timer;
typedef void (*loop_timer_fn)(struct loop_timer *t);

/* A one-shot timer; its owner re-arms it from the callback to repeat. */
struct loop_timer {
    loop_timer_fn fn;
    long long due;      /* monotonic ms */
    uint64_t seq;       /* start order: equal dues run in it */
    size_t idx;         /* 1-based slot in the heap; 0: not armed */
};

struct loop_pending;
typedef void (*loop_pending_fn)(struct loop_pending *p);

/* An entry of the settle list. */
struct loop_pending {
    loop_pending_fn fn;
    struct loop_pending *prev, *next;
    bool queued;
};

struct loop {
    int epfd;
    struct loop_timer **heap;   /* min-heap on (due, seq), 1-based */
    size_t ntimers, cap;
    uint64_t seq;
    struct loop_pending *pending, *pending_tail;
    struct loop_pending *later;     /* run after the batch (loop_later) */
};

/* Create the loop.  Returns 0 or a negative errno.  A loop that was
 * zeroed and given epfd = -1 may be passed to loop_fini. */
int loop_init(struct loop *l);
void loop_fini(struct loop *l);

/* Watch fd for `events` (LOOP_READABLE, LOOP_WRITABLE, LOOP_EXCLUSIVE);
 * fn is called with w and the LOOP_* flags that are ready. */
int loop_add(struct loop *l, struct loop_watch *w, int fd, uint32_t events, loop_fn fn);

/* Change the interest; a no-op when it is unchanged. */
int loop_mod(struct loop *l, struct loop_watch *w, uint32_t events);

/* Stop watching (before the fd is closed); events of this watch still
 * pending in the current batch are skipped.  Safe to call twice. */
void loop_del(struct loop *l, struct loop_watch *w);

/* Prepare a timer (not armed).  fn runs when it is due. */
void loop_timer_init(struct loop_timer *t, loop_timer_fn fn);

/* Arm (or re-arm) t to run after_ms from loop_now_ms(): O(log n).
 * Returns 0, or -ENOMEM when the heap cannot grow (t is then not armed). */
int loop_timer_start(struct loop *l, struct loop_timer *t, long long after_ms);

/* Disarm t: O(log n); a no-op when it is not armed (also from its own
 * callback, where it is already disarmed). */
void loop_timer_stop(struct loop *l, struct loop_timer *t);

static inline bool loop_timer_armed(const struct loop_timer *t)
{
    return t->idx != 0;
}

/* Queue p on the settle list: O(1), a no-op when it is already queued.
 * p->fn runs after the current callback returns (or at the next turn when
 * called outside every callback). */
void loop_pending_add(struct loop *l, struct loop_pending *p);

/* Take p off the settle list (its object is going away): O(1). */
void loop_pending_del(struct loop *l, struct loop_pending *p);

/* Run every queued settle callback, including those they queue. */
void loop_pending_run(struct loop *l);

/* Run p->fn once the current batch of events is over (at the end of
 * loop_run_once, or in loop_fini): where an object a callback let go of
 * is freed, since no stale event of the batch can point at it then.
 * p must not be on the settle list, and is not queued twice. */
void loop_later(struct loop *l, struct loop_pending *p);

/* The monotonic time in ms, now. */
long long clock_now_ms(void);

/* The monotonic time in ms, read once per loop_run_once: cheap enough to
 * stamp every event with. */
long long loop_now_ms(void);

/*
 * Wait at most timeout_ms (-1: forever, 0: not at all; shortened to when
 * the first timer is due), call the watches that are ready, then the
 * timers that are due.  Returns the number of callbacks run, or a negative
 * errno (EINTR is not an error: 0 is returned).
 */
int loop_run_once(struct loop *l, int timeout_ms);

#endif
