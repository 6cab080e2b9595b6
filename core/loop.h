/* loop.h - the event loop: a thin layer over epoll.
 *
 * An object that waits for events embeds a struct loop_watch and registers
 * it; the callback gets the watch back and finds its object with
 * container_of-style arithmetic.  Objects are never freed while the events
 * of one loop_run_once batch are being handled (their owners defer frees),
 * so a stale event in the same batch still points at valid memory.
 */
#ifndef SUPERD_LOOP_H
#define SUPERD_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct loop_watch;
typedef void (*loop_fn)(struct loop_watch *w, uint32_t events);

struct loop_watch {
    loop_fn fn;
    int fd;             /* -1 once deleted */
    uint32_t events;    /* the interest currently registered */
};

struct loop {
    int epfd;
};

/* Create the epoll instance.  Returns 0 or a negative errno. */
int loop_init(struct loop *l);
void loop_fini(struct loop *l);

/* Watch fd for `events` (EPOLLIN, EPOLLOUT, ...); fn is called with w. */
int loop_add(struct loop *l, struct loop_watch *w, int fd, uint32_t events, loop_fn fn);

/* Change the interest; a no-op when it is unchanged. */
int loop_mod(struct loop *l, struct loop_watch *w, uint32_t events);

/* Stop watching (before the fd is closed); events of this watch still
 * pending in the current batch are skipped.  Safe to call twice. */
void loop_del(struct loop *l, struct loop_watch *w);

/* The monotonic time in ms, now. */
long long clock_now_ms(void);

/* The monotonic time in ms, read once per loop_run_once: cheap enough to
 * stamp every event with. */
long long loop_now_ms(void);

/*
 * Wait at most timeout_ms (-1: forever, 0: not at all) and handle one batch
 * of events.  Returns the number handled, or a negative errno (EINTR is
 * not an error: 0 is returned).
 */
int loop_run_once(struct loop *l, int timeout_ms);

#endif
