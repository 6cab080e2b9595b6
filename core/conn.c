/* conn.c - stream connections.
 *
 * Life of a connection: accepted and registered for reading; bytes read go
 * to the plugin's on_data (straight from a per-worker scratch buffer when
 * nothing is pending, so an echo costs no copy and idle connections hold no
 * buffer); what the socket cannot take at once waits in the output queue.
 * Plugin calls (superd_write, superd_close) only set state: after each
 * callback the core "settles" the connection, which is the one place that
 * changes the loop interest or kills it.  The connection whose callback
 * runs is settled when it returns; any other one a plugin touches (from
 * another connection's callback, a datagram's or a timer's) is queued on
 * the loop's settle list, drained as soon as that callback returns.  A
 * killed connection goes to the dead list and is freed after the current
 * batch of events.  Bytes move through c->io: plain socket calls, or TLS
 * (tls.c) on a tls:// listener, whose handshake runs between admission and
 * on_open (CONN_HANDSHAKE) under tls_handshake_timeout.
 */
#include "conn.h"
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <superd/plugin.h>

#include "admit.h"
#include "proxy_wait.h"
#include "listener.h"
#include "log.h"
#include "service.h"
#include "sources.h"
#include "stats.h"
#include "tls.h"
#include "tls_relay.h"

enum {
    CONN_OPENED = 1 << 0,   /* on_open ran: on_close is owed */
    CONN_EOF = 1 << 1,      /* the client sent FIN */
    CONN_CLOSING = 1 << 2,  /* close once the output queue is empty */
    CONN_ABORT = 1 << 3,    /* close now, dropping queued output */
    CONN_DEAD = 1 << 4,     /* closed; on the dead list */
    CONN_COUNTED = 1 << 5,  /* admitted against max_connections */
    CONN_SOURCED = 1 << 6,  /* counted against max_per_source */
    CONN_PAUSED = 1 << 7,   /* superd_pause, conn_pause: not reading */
    CONN_REOFFER = 1 << 8,  /* superd_resume: offer kept bytes at settle */
    CONN_SHUT = 1 << 9,     /* superd_shutdown: FIN once the queue is out */
    CONN_SHUT_DONE = 1 << 10, /* ... sent */
    CONN_CONNECTING = 1 << 11, /* outbound: connect() not finished */
    CONN_OUTBOUND = 1 << 12, /* made by superd_connect */
    CONN_PARKED = 1 << 13,  /* paused and hung up: off the loop until resumed */
    CONN_HANDSHAKE = 1 << 14,   /* TLS: the handshake runs; no plugin yet */
    CONN_UNWATCHED = 1 << 15,   /* just accepted: joins the loop once on_open settled */
};

/* One read's worth.  Per process, so per worker: no sharing. */
static char scratch[CONN_IN_MAX];

#define member_of(p, type, field) ((type *)((char *)(p) - offsetof(type, field)))
#define conn_of(w) member_of(w, struct superd_conn, w)
#define listener_of(w) member_of(w, struct listener, w)

static struct conn_set *set_of(const struct superd_conn *c)
{
    return &c->srv->conns;
}

static struct loop *loop_of(const struct superd_conn *c)
{
    return c->srv->loop;
}

/* The service's counters: an outbound connection counts in none of them
 * (its bytes are the service's own business, not client traffic). */
static struct stats_row *row_of(const struct superd_conn *c)
{
    return (c->flags & CONN_OUTBOUND) ? NULL : c->svc->row;
}

/* ... and its listener's. */
static struct stats_lrow *lrow_of(const struct superd_conn *c)
{
    return (c->flags & CONN_OUTBOUND) ? NULL : c->lsn->row;
}

/* The callbacks: an outbound connection's own ops, or the plugin's. */
static ssize_t (*data_cb(const struct superd_conn *c))(struct superd_conn *, const void *, size_t)
{
    return c->ops ? c->ops->on_data : c->plug->on_data;
}

static void (*eof_cb(const struct superd_conn *c))(struct superd_conn *)
{
    return c->ops ? c->ops->on_eof : c->plug->on_eof;
}

static void (*drain_cb(const struct superd_conn *c))(struct superd_conn *)
{
    return c->ops ? c->ops->on_drain : c->plug->on_drain;
}

static void (*close_cb(const struct superd_conn *c))(struct superd_conn *)
{
    return c->ops ? c->ops->on_close : c->plug->on_close;
}

/* ---- the plain transport ---- */

static ssize_t plain_recv(struct superd_conn *c, void *buf, size_t len)
{
    ssize_t n = recv(c->fd, buf, len, 0);
    return n < 0 ? -errno : n;
}

static ssize_t plain_send(struct superd_conn *c, const void *buf, size_t len)
{
    ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    return n < 0 ? -errno : n;
}

const struct conn_io conn_io_plain = { .recv = plain_recv, .send = plain_send };

/* ---- the TLS transport (tls.c) ---- */

/* What an SSL call waits for is remembered in c->tls_want, which settle()
 * adds to the loop interest: SSL_write may need the socket readable, and
 * SSL_read writable. */
static ssize_t tls_io_recv(struct superd_conn *c, void *buf, size_t len)
{
    unsigned want = 0;
    ssize_t n = tls_recv(c->tls, buf, len, &want);
    c->tls_want |= want;
    return n;
}

static ssize_t tls_io_send(struct superd_conn *c, const void *buf, size_t len)
{
    unsigned want = 0;
    ssize_t n = tls_send(c->tls, buf, len, &want);
    c->tls_want |= want;
    return n;
}

const struct conn_io conn_io_tls = { .recv = tls_io_recv, .send = tls_io_send };

/* A TLS failure for the log: at most one line a second per worker. */
static void tls_failed(const struct superd_conn *c, const char *what);

/* Count a finished handshake, or a failed one (a refusal of reason tls,
 * on the service's row and the listener's). */
static void tls_count(const struct superd_conn *c, bool done)
{
    if (done) {
        STATS_ADD(row_of(c), tls_handshakes, 1);
        return;
    }
    STATS_ADD(row_of(c), tls_failures, 1);
    stats_refused(row_of(c), STATS_REFUSED_TLS);
    STATS_ADD(lrow_of(c), refused_by[STATS_REFUSED_TLS], 1);
}

/* A plugin changed c's state from outside c's own callbacks: have it
 * settled when the running callback returns. */
static void touch(struct superd_conn *c)
{
    if (c != c->srv->current && !(c->flags & CONN_DEAD))
        loop_pending_add(loop_of(c), &c->settle);
}

/* The peer as text, formatted on first use: most connections never need
 * it, and formatting cost more than the rest of an accept. */
static const char *peer_of(const struct superd_conn *c)
{
    struct superd_conn *m = (struct superd_conn *)c;
    if (m->peer[0] == '\0')
        addr_format(&m->src.sa, sizeof m->src, m->peer, sizeof m->peer);
    return m->peer;
}

/* Ask for a close (CONN_CLOSING or CONN_ABORT), remembering the first
 * reason for log_connections. */
static void end(struct superd_conn *c, unsigned flag, const char *why)
{
    c->flags |= flag;
    if (!c->why)
        c->why = why;
}

/* log_connections: one line per connection, at its close. */
static void log_conn(const struct superd_conn *c)
{
    long long ms = loop_now_ms() - c->start_ms;
    superd_log(c->svc, SUPERD_LOG_INFO, "%s: closed after %lld.%03lld s, %llu bytes in, "
               "%llu bytes out: %s", peer_of(c), ms / 1000, ms % 1000,
               (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out,
               c->why ? c->why : "closed");
}

/* Close the socket, tell the plugin, and move the connection to the dead
 * list.  Only called from the core, never from inside a plugin callback. */
static void kill_conn(struct superd_conn *c)
{
    if (c->flags & CONN_DEAD)
        return;
    c->flags |= CONN_DEAD;
    loop_del(loop_of(c), &c->w);
    loop_timer_stop(loop_of(c), &c->timer);
    loop_pending_del(loop_of(c), &c->settle);
    if (c->tls) {
        /* A clean end says so (close_notify; not after a TLS error, and
         * never waited for).  The state is freed with the connection:
         * superd_conn_tls works until on_close returns. */
        loop_pending_del(loop_of(c), &c->more);
        tls_close_notify(c->tls);
    }
    close(c->fd);
    c->fd = -1;
    void (*on_close)(struct superd_conn *) = close_cb(c);
    if ((c->flags & CONN_OPENED) && on_close) {
        struct superd_conn *outer = c->srv->current;
        c->srv->current = c;
        on_close(c);
        c->srv->current = outer;
    }
    if (c->svc->cs->log_connections && !(c->flags & CONN_OUTBOUND))
        log_conn(c);
    stats_closed(c->svc->row, loop_now_ms() - c->start_ms);
    if (c->flags & (CONN_COUNTED | CONN_SOURCED))
        admit_release(c->lsn, (c->flags & CONN_COUNTED ? ADMIT_COUNTED : 0) |
                              (c->flags & CONN_SOURCED ? ADMIT_SOURCED : 0), &c->src.sa);
    struct conn_set *set = set_of(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        set->live = c->next;
    if (c->next)
        c->next->prev = c->prev;
    set->nlive--;
    c->prev = NULL;
    c->next = set->dead;
    set->dead = c;
}

static void connect_done(struct superd_conn *c, int status);
static void reoffer(struct superd_conn *c);
static void conn_event(struct loop_watch *w, uint32_t events);

/* After any callback: apply what the plugin asked for, and set the loop
 * interest from the connection's state. */
static void settle(struct superd_conn *c)
{
    if (c->flags & CONN_DEAD)
        return;
    if ((c->flags & CONN_CONNECTING) && c->connect_err)
        connect_done(c, c->connect_err);
    if (c->flags & CONN_REOFFER)
        reoffer(c);
    c->direct = 0;
    if ((c->flags & CONN_ABORT) ||
        ((c->flags & CONN_CLOSING) && buf_len(&c->out) == 0)) {
        kill_conn(c);
        return;
    }
    if ((c->flags & (CONN_SHUT | CONN_SHUT_DONE | CONN_CONNECTING)) == CONN_SHUT &&
        buf_len(&c->out) == 0) {
        /* TLS: close_notify before the FIN, or the peer sees a truncation.
         * A full socket: again when it is writable. */
        if (c->tls && tls_close_notify(c->tls) == -EAGAIN) {
            c->tls_want |= TLS_WANT_WRITE;
        } else {
            shutdown(c->fd, SHUT_WR);
            c->flags |= CONN_SHUT_DONE;
        }
    }
    if ((c->flags & (CONN_SHUT_DONE | CONN_EOF)) == (CONN_SHUT_DONE | CONN_EOF)) {
        /* Both ways shut: nothing can move any more. */
        end(c, CONN_ABORT, "closed both ways");
        kill_conn(c);
        return;
    }
    uint32_t want = 0;
    bool reading = !(c->flags & (CONN_EOF | CONN_CLOSING | CONN_PAUSED)) &&
                   buf_len(&c->out) < CONN_OUT_HIGH;
    if (c->flags & CONN_CONNECTING)
        want = LOOP_WRITABLE;   /* writable: the connect is over */
    else if (reading)
        want |= LOOP_READABLE;
    if (buf_len(&c->out) > 0)
        want |= LOOP_WRITABLE;
    if (c->tls) {
        want |= (c->tls_want & TLS_WANT_READ ? LOOP_READABLE : 0) |
                (c->tls_want & TLS_WANT_WRITE ? LOOP_WRITABLE : 0);
        /* Decrypted bytes no readiness will announce: read them next. */
        if (reading && tls_pending(c->tls) > 0)
            loop_pending_add(loop_of(c), &c->more);
    }
    if (c->flags & CONN_UNWATCHED) {
        /* Even with nothing wanted (paused in on_open): a reset or a
         * hang-up is reported all the same, as for any paused connection. */
        c->flags &= ~(unsigned)CONN_UNWATCHED;
        if (loop_add(loop_of(c), &c->w, c->fd, want, conn_event) < 0)
            kill_conn(c);
        return;
    }
    if (c->flags & CONN_PARKED) {
        if (want == 0)
            return;
        /* Resumed: back on the loop, where the hang-up shows again. */
        c->flags &= ~(unsigned)CONN_PARKED;
        if (loop_add(loop_of(c), &c->w, c->fd, want, conn_event) < 0)
            kill_conn(c);
        return;
    }
    if (loop_mod(loop_of(c), &c->w, want) < 0)
        kill_conn(c);
}

/* The settle list's callback. */
static void settle_pending(struct loop_pending *p)
{
    settle(member_of(p, struct superd_conn, settle));
}

/* Arm the timer for the nearer of idle_timeout and max_lifetime.  Bytes
 * moving do not touch it: when it fires early it is re-armed for the
 * rest, so the hot path pays nothing for timeouts. */
static int arm_timer(struct superd_conn *c)
{
    if (c->flags & CONN_OUTBOUND)
        return 0;   /* the plugin's to end: no idle_timeout, no max_lifetime */
    const struct conf_service *cs = c->svc->cs;
    long long due = LLONG_MAX;
    if (c->flags & CONN_HANDSHAKE)
        return loop_timer_start(loop_of(c), &c->timer,
                                c->start_ms + cs->tls.handshake_timeout_ms - loop_now_ms());
    if (cs->idle_timeout_ms)
        due = c->last_ms + cs->idle_timeout_ms;
    if (cs->max_lifetime_ms && c->start_ms + cs->max_lifetime_ms < due)
        due = c->start_ms + cs->max_lifetime_ms;
    if (due == LLONG_MAX)
        return 0;
    return loop_timer_start(loop_of(c), &c->timer, due - loop_now_ms());
}

/* The timer: close a connection past its idle_timeout or max_lifetime. */
static void expire(struct loop_timer *t)
{
    struct superd_conn *c = member_of(t, struct superd_conn, timer);
    const struct conf_service *cs = c->svc->cs;
    long long now = loop_now_ms();
    if (c->flags & CONN_HANDSHAKE) {
        tls_count(c, false);
        tls_failed(c, "handshake not done within tls_handshake_timeout");
        end(c, CONN_ABORT, "TLS handshake timeout");
    } else if (cs->idle_timeout_ms && now - c->last_ms >= cs->idle_timeout_ms)
        end(c, CONN_ABORT, "idle_timeout");
    else if (cs->max_lifetime_ms && now - c->start_ms >= cs->max_lifetime_ms)
        end(c, CONN_ABORT, "max_lifetime");
    else if (arm_timer(c) < 0)
        end(c, CONN_ABORT, "out of memory");
    else
        return;
    settle(c);
}

/* Write queued output.  When the queue empties, free it (idle connections
 * keep no buffer) and let a generator produce more. */
static void flush(struct superd_conn *c)
{
    while (buf_len(&c->out) > 0) {
        ssize_t n = c->io->send(c, buf_head(&c->out), buf_len(&c->out));
        if (n > 0) {
            buf_consume(&c->out, (size_t)n);
            STATS_ADD(row_of(c), bytes_out, (uint64_t)n);
            STATS_ADD(lrow_of(c), bytes_out, (uint64_t)n);
            c->bytes_out += (uint64_t)n;
            c->last_ms = loop_now_ms();
            continue;
        }
        if (n == -EINTR)
            continue;
        if (n == -EAGAIN || n == -EWOULDBLOCK)
            return;
        end(c, CONN_ABORT, "write error");
        return;
    }
    buf_free(&c->out);
    void (*on_drain)(struct superd_conn *) = drain_cb(c);
    if (!(c->flags & (CONN_CLOSING | CONN_SHUT)) && on_drain)
        on_drain(c);
}

/* Hand bytes to the plugin; returns how many it consumed.  While it
 * consumes something and bytes remain, the rest is offered at once: a
 * line-based plugin may take one line a call. */
static size_t deliver(struct superd_conn *c, const char *data, size_t len)
{
    ssize_t (*on_data)(struct superd_conn *, const void *, size_t) = data_cb(c);
    if (!on_data)
        return len;
    size_t used = 0;
    /* Paused: the rest is kept, offered again on superd_resume. */
    while (used < len && !(c->flags & (CONN_CLOSING | CONN_ABORT | CONN_PAUSED))) {
        ssize_t r = on_data(c, data + used, len - used);
        if (r < 0) {
            end(c, CONN_CLOSING, "closed by the plugin (error)");
            return len;
        }
        if (r == 0)
            break;
        used += (size_t)r > len - used ? len - used : (size_t)r;
    }
    return used;
}

static void on_eof(struct superd_conn *c)
{
    void (*eof)(struct superd_conn *) = eof_cb(c);
    c->flags |= CONN_EOF;
    if (!c->why)
        c->why = (c->flags & CONN_OUTBOUND) ? "peer closed" : "client closed";
    if (eof)
        eof(c);
    else
        superd_close(c);
}

/* A full input buffer that the plugin will not consume: one request is
 * at most CONN_IN_MAX.  Not while paused: the plugin holds the bytes
 * back on purpose, and nothing is read meanwhile. */
static void check_in(struct superd_conn *c)
{
    if (buf_len(&c->in) == 0)
        buf_free(&c->in);
    else if (buf_len(&c->in) >= CONN_IN_MAX && !(c->flags & CONN_PAUSED)) {
        superd_log(c->svc, SUPERD_LOG_NOTICE, "%s: request larger than %d KiB, closing",
                   peer_of(c), CONN_IN_MAX / 1024);
        end(c, CONN_ABORT, "request too large");
    }
}

/* superd_resume: offer the kept bytes again, as the plugin's callback
 * (c is the current connection meanwhile). */
static void reoffer(struct superd_conn *c)
{
    c->flags &= ~(unsigned)CONN_REOFFER;
    if ((c->flags & (CONN_PAUSED | CONN_CLOSING | CONN_ABORT)) || buf_len(&c->in) == 0)
        return;
    struct superd_conn *outer = c->srv->current;
    c->srv->current = c;
    buf_consume(&c->in, deliver(c, buf_head(&c->in), buf_len(&c->in)));
    check_in(c);
    c->srv->current = outer;
}

/* One read per event: the loop is level-triggered and brings us back,
 * and other connections get their turn in between. */
static void read_some(struct superd_conn *c)
{
    size_t pending = buf_len(&c->in);
    ssize_t n = c->io->recv(c, scratch, sizeof scratch - pending);
    if (n == 0) {
        on_eof(c);
        return;
    }
    if (n < 0) {
        if (n == -EPROTO && c->tls) {
            tls_failed(c, tls_why(c->tls));
            end(c, CONN_ABORT, tls_renegotiating(c->tls) ? "renegotiation refused"
                                                         : "TLS error");
        } else if (n == -EPIPE && c->tls) {
            end(c, CONN_ABORT, "closed without close_notify");
        } else if (n != -EAGAIN && n != -EWOULDBLOCK && n != -EINTR) {
            end(c, CONN_ABORT, n == -ECONNRESET ? "reset by the client" : "read error");
        }
        return;
    }
    STATS_ADD(row_of(c), bytes_in, (uint64_t)n);
    STATS_ADD(lrow_of(c), bytes_in, (uint64_t)n);
    c->bytes_in += (uint64_t)n;
    c->last_ms = loop_now_ms();
    size_t used;
    if (pending == 0) {
        used = deliver(c, scratch, (size_t)n);
        if (used < (size_t)n && !(c->flags & (CONN_CLOSING | CONN_ABORT)) &&
            buf_append(&c->in, scratch + used, (size_t)n - used) < 0)
            end(c, CONN_ABORT, "out of memory");
    } else {
        if (buf_append(&c->in, scratch, (size_t)n) < 0) {
            end(c, CONN_ABORT, "out of memory");
            return;
        }
        used = deliver(c, buf_head(&c->in), buf_len(&c->in));
        buf_consume(&c->in, used);
    }
    check_in(c);
}

/* ---- outbound connections ---- */

/* The connect is over: tell the plugin (c is the current connection).  A
 * failure closes the connection, so on_close follows on_connect. */
static void connect_done(struct superd_conn *c, int status)
{
    c->flags &= ~(unsigned)CONN_CONNECTING;
    c->connect_err = 0;
    loop_timer_stop(loop_of(c), &c->timer);
    if (status < 0)
        end(c, CONN_ABORT, status == -ETIMEDOUT ? "connect timed out" : "connect failed");
    struct superd_conn *outer = c->srv->current;
    c->srv->current = c;
    if (c->ops->on_connect)
        c->ops->on_connect(c, status);
    c->srv->current = outer;
    c->last_ms = loop_now_ms();
}

/* An event while connecting: writable (or an error) means it is over. */
static void connect_event(struct superd_conn *c, uint32_t events)
{
    if (!(events & (LOOP_WRITABLE | LOOP_ERROR | LOOP_HANGUP)))
        return;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    else if (err == 0 && !(events & LOOP_WRITABLE))
        err = ECONNREFUSED;
    connect_done(c, -err);
    if (!(c->flags & CONN_ABORT) && buf_len(&c->out) > 0)
        flush(c);
}

/* The connect timeout. */
static void connect_expire(struct loop_timer *t)
{
    struct superd_conn *c = member_of(t, struct superd_conn, timer);
    if (c->flags & CONN_CONNECTING)
        connect_done(c, -ETIMEDOUT);
    settle(c);
}

int conn_outbound(struct superd_conn *c, int fd, int err, long long timeout_ms)
{
    c->io = &conn_io_plain;
    c->lsn = NULL;
    c->fd = fd;
    c->flags = CONN_OUTBOUND | CONN_CONNECTING | CONN_OPENED;
    c->connect_err = err;
    c->settle.fn = settle_pending;
    c->start_ms = c->last_ms = loop_now_ms();
    loop_timer_init(&c->timer, connect_expire);
    int r = loop_add(loop_of(c), &c->w, fd, LOOP_WRITABLE, conn_event);
    if (r == 0 && err == 0)
        r = loop_timer_start(loop_of(c), &c->timer, timeout_ms);
    if (r < 0) {
        loop_del(loop_of(c), &c->w);
        return r;
    }
    struct conn_set *set = set_of(c);
    c->next = set->live;
    if (set->live)
        set->live->prev = c;
    set->live = c;
    set->nlive++;
    if (err)
        loop_pending_add(loop_of(c), &c->settle);   /* reported after the callback */
    return 0;
}

static void handshake_step(struct superd_conn *c);

static void conn_event(struct loop_watch *w, uint32_t events)
{
    struct superd_conn *c = conn_of(w);
    if (c->flags & CONN_HANDSHAKE) {
        handshake_step(c);
        return;
    }
    struct superd_conn *outer = c->srv->current;
    c->srv->current = c;
    if (c->tls && c->tls_want) {
        /* An SSL call waited for this readiness: run the side that made
         * it wait, whichever readiness it was. */
        unsigned tw = c->tls_want;
        c->tls_want = 0;
        if (tw & TLS_WANT_READ && (events & LOOP_READABLE) && buf_len(&c->out) > 0)
            events |= LOOP_WRITABLE;
        if (tw & TLS_WANT_WRITE && (events & LOOP_WRITABLE))
            events |= LOOP_READABLE;
    }
    if (c->flags & CONN_CONNECTING) {
        connect_event(c, events);
    } else if ((events & LOOP_HANGUP) && !(events & LOOP_ERROR) && (c->flags & CONN_PAUSED)) {
        /* Both ways shut while paused: bytes may still wait to be read,
         * and the level-triggered hang-up would wake the loop at once,
         * again and again.  Off the loop until superd_resume. */
        loop_del(loop_of(c), &c->w);
        c->flags |= CONN_PARKED;
    } else if ((events & LOOP_ERROR) ||
               ((events & LOOP_HANGUP) && !(events & LOOP_READABLE))) {
        /* Reset, or both directions shut with nothing left to read. */
        end(c, CONN_ABORT, "reset by the client");
    } else {
        /* HUP with IN: a unix peer that wrote and closed at once; its
         * bytes are still to be read. */
        if (events & LOOP_WRITABLE)
            flush(c);
        if ((events & LOOP_READABLE) &&
            !(c->flags & (CONN_ABORT | CONN_CLOSING | CONN_EOF | CONN_PAUSED)))
            read_some(c);
        else if ((events & LOOP_HANGUP) && !(c->flags & CONN_PAUSED))
            end(c, CONN_ABORT, "client gone");
    }
    settle(c);
    c->srv->current = outer;
}

/* Hand a ready connection to its plugin: on_open, then the timeouts. */
static void plugin_open(struct superd_conn *c)
{
    c->flags |= CONN_OPENED;
    struct superd_conn *outer = c->srv->current;
    c->srv->current = c;
    const struct superd_plugin *p = c->plug;
    if (p->on_open && p->on_open(c) < 0)
        end(c, CONN_ABORT, "refused by the plugin");
    if (arm_timer(c) < 0)
        end(c, CONN_ABORT, "out of memory");
    settle(c);
    c->srv->current = outer;
}

static void tls_failed(const struct superd_conn *c, const char *what)
{
    static struct log_limit limit;
    unsigned long missed;
    if (log_limit_pass(&limit, &missed))
        log_msg(LOG_NOTICE, "[%s] %s: %s with %s: %s (%lu more)", c->svc->cs->name,
                c->lsn->addr.text, c->flags & CONN_HANDSHAKE ? "TLS handshake failed"
                                                             : "TLS error", peer_of(c),
                what, missed);
}

/* One step of the TLS handshake; when it is done, the plugin's turn. */
static void handshake_step(struct superd_conn *c)
{
    unsigned want = 0;
    int r = tls_handshake(c->tls, &want);
    if (r < 0) {
        tls_count(c, false);
        tls_failed(c, tls_why(c->tls));
        end(c, CONN_ABORT, "TLS handshake failed");
        kill_conn(c);
        return;
    }
    if (r == 0) {
        uint32_t ev = (want & TLS_WANT_WRITE ? LOOP_WRITABLE : 0) |
                      (want & TLS_WANT_READ ? LOOP_READABLE : 0);
        if (loop_mod(loop_of(c), &c->w, ev ? ev : LOOP_READABLE) < 0)
            kill_conn(c);
        return;
    }
    tls_count(c, true);
    c->flags &= ~(unsigned)CONN_HANDSHAKE;
    c->last_ms = loop_now_ms();
    loop_timer_stop(loop_of(c), &c->timer);
    plugin_open(c);
}

/* The `more` entry: decrypted bytes are waiting in the TLS layer. */
static void read_more(struct loop_pending *p)
{
    struct superd_conn *c = member_of(p, struct superd_conn, more);
    conn_event(&c->w, LOOP_READABLE);
}

/* `dst`: a PROXY header's destination (NULL: none), for a program's
 * environment. */
static void conn_open(struct listener *l, int fd, const struct sockaddr_storage *ss, socklen_t sslen,
                      const struct sockaddr_storage *dst, socklen_t dstlen)
{
    static struct log_limit oom_limit;
    unsigned long missed;
    /* What per-source limits count: the address, or a unix peer's uid. */
    struct sockaddr_storage uid;
    const struct sockaddr_storage *src = admit_source(l, fd, ss, &uid);
    const struct sockaddr *src_sa = (const struct sockaddr *)src;
    int admitted = admit_stream(l, fd, (const struct sockaddr *)ss, sslen, src_sa);
    if (admitted < 0) {
        close(fd);
        return;
    }
    /* A program behind TLS is served as a connection (the handshake, then
     * a plaintext relay to the program); others get the socket itself. */
    if (exec_service(l) && !l->addr.tls) {
        /* src is what per-source limits counted (a unix peer's uid key
         * included), released when the program ends; the environment
         * takes the carried endpoints only where src is an address. */
        exec_stream(l, fd, src, src == ss ? sslen : (socklen_t)sizeof(struct sockaddr),
                    src == ss ? dst : NULL, src == ss ? dstlen : 0,
                    admitted & ADMIT_COUNTED, admitted & ADMIT_SOURCED);
        return;
    }
    struct superd_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        admit_release(l, admitted, src_sa);
        if (log_limit_pass(&oom_limit, &missed))
            log_msg(LOG_ERR, "[%s] %s: out of memory, dropped a connection (%lu more)",
                    superd_service_name(l->svc), l->addr.text, missed);
        return;
    }
    c->io = &conn_io_plain;
    c->plug = exec_service(l) ? &tls_relay_plugin : service_plugin(l->svc);
    c->srv = l->srv;
    c->lsn = l;
    c->svc = l->svc;
    c->fd = fd;
    loop_timer_init(&c->timer, expire);
    c->settle.fn = settle_pending;
    c->start_ms = c->last_ms = loop_now_ms();
    if (admitted & ADMIT_COUNTED)
        c->flags |= CONN_COUNTED;
    if (admitted & ADMIT_SOURCED)
        c->flags |= CONN_SOURCED;
    if (l->addr.kind == ADDR_TCP) {
        /* Replies are whole writes: never wait for Nagle and delayed ACKs. */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    /* superd_conn_addr's SUPERD_ADDR_LOCAL, and a program's TCPLOCALIP
     * behind TLS. */
    if (dst && (dst->ss_family == AF_INET || dst->ss_family == AF_INET6))
        memcpy(&c->pdst, dst, dstlen < sizeof c->pdst ? dstlen : sizeof c->pdst);
    if (ss->ss_family == AF_INET || ss->ss_family == AF_INET6) {
        /* The address only (a PROXY header's client on any listener): its
         * text is made if someone asks (peer_of). */
        memcpy(&c->src, ss, sslen < sizeof c->src ? sslen : sizeof c->src);
    } else {
        char path[ADDR_FMT_MAX];
        addr_format((const struct sockaddr *)ss, sslen, path, sizeof path);
        snprintf(c->peer, sizeof c->peer, "unix:%s", path);
        if (src != ss)  /* the uid max_per_source counted, to give back */
            memcpy(&c->src, src, sizeof(struct sockaddr));
    }
    struct conn_set *set = set_of(c);
    c->w.fd = -1;
    if (!l->addr.tls) {
        /* Off the loop until the plugin's on_open has settled: a service
         * that answers and closes there (daytime) never costs an
         * epoll_ctl; the others are added by update() with what they want. */
        c->flags |= CONN_UNWATCHED;
    } else if (loop_add(loop_of(c), &c->w, fd, LOOP_READABLE, conn_event) < 0) {
        close(fd);
        admit_release(l, admitted, src_sa);
        free(c);
        return;
    }
    c->next = set->live;
    if (set->live)
        set->live->prev = c;
    set->live = c;
    set->nlive++;
    if (l->addr.tls) {
        /* accept -> admission -> TLS handshake -> the plugin */
        c->more.fn = read_more;
        c->tls = l->svc->tls ? tls_conn_new(l->svc->tls, fd) : NULL;
        c->flags |= CONN_HANDSHAKE;
        if (!c->tls) {
            stats_refused(c->svc->row, STATS_REFUSED_OTHER);
            STATS_ADD(l->row, refused_by[STATS_REFUSED_OTHER], 1);
            end(c, CONN_ABORT, "out of memory");
            kill_conn(c);
            return;
        }
        c->io = &conn_io_tls;
        if (arm_timer(c) < 0) {
            end(c, CONN_ABORT, "out of memory");
            kill_conn(c);
            return;
        }
        handshake_step(c);
        return;
    }
    plugin_open(c);
}

/*
 * Out of descriptors: give up the spare one, accept the pending connection
 * and close it, so the client is told at once and the listener does not
 * stay readable (a busy loop).  Returns true if one was shed.
 */
static bool shed(struct listener *l)
{
    struct serve *srv = l->srv;
    if (srv->spare_fd < 0)
        return false;
    close(srv->spare_fd);
    int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0)
        close(fd);
    srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fd >= 0;
}

/* Returns true when accepting should go on. */
static bool accept_failed(struct listener *l, int err)
{
    static struct log_limit limit;
    unsigned long missed;
    switch (err) {
    case EINTR:
    case ECONNABORTED:  /* the client gave up while queued */
    case EPROTO:
        return true;
    case EAGAIN:
#if EAGAIN != EWOULDBLOCK
    case EWOULDBLOCK:
#endif
        return false;
    case EMFILE:
    case ENFILE: {
        bool again = shed(l);
        if (log_limit_pass(&limit, &missed))
            log_msg(LOG_WARNING, "[%s] %s: out of file descriptors, dropped a connection (%lu more)",
                    superd_service_name(l->svc), l->addr.text, missed);
        return again;
    }
    default:
        if (log_limit_pass(&limit, &missed))
            log_msg(LOG_ERR, "[%s] %s: accept: %s (%lu more)", superd_service_name(l->svc),
                    l->addr.text, strerror(err), missed);
        return false;
    }
}

void conn_accept_ready(struct loop_watch *w, uint32_t events)
{
    (void)events;
    struct listener *l = listener_of(w);
    for (int i = 0; i < CONN_ACCEPT_BATCH && l->fd >= 0; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (accept_failed(l, errno))
                continue;
            break;
        }
        if (l->svc->cs->proxy_protocol)
            proxy_wait(l, fd, &ss, len, conn_open);
        else
            conn_open(l, fd, &ss, len, NULL, 0);
    }
}

void conn_reap(struct conn_set *set)
{
    while (set->dead) {
        struct superd_conn *c = set->dead;
        set->dead = c->next;
        buf_free(&c->in);
        buf_free(&c->out);
        tls_conn_free(c->tls);
        free(c);
    }
}

void conn_close_all(struct conn_set *set)
{
    while (set->live) {
        if (!set->live->why)
            set->live->why = "superd stopping";
        kill_conn(set->live);
    }
    conn_reap(set);
}

/* ---- the public API ---- */

struct superd_service *superd_conn_service(const struct superd_conn *conn)
{
    return conn->svc;
}

void superd_conn_set_data(struct superd_conn *conn, void *data)
{
    conn->data = data;
}

void *superd_conn_data(const struct superd_conn *conn)
{
    return conn->data;
}

int superd_write(struct superd_conn *c, const void *buf, size_t len)
{
    if (c->flags & (CONN_DEAD | CONN_ABORT | CONN_CLOSING | CONN_SHUT))
        return -EPIPE;
    if (len == 0)
        return 0;
    size_t done = 0;
    /* Nothing queued: try the socket first, copying only the rest.  Past
     * CONN_OUT_HIGH in one callback, queue instead: a generator writing
     * "until superd_queued()" then returns and goes on in on_drain, and
     * other connections get their turn. */
    if (buf_len(&c->out) == 0 && c->direct < CONN_OUT_HIGH && !(c->flags & CONN_CONNECTING)) {
        ssize_t n = c->io->send(c, buf, len);
        if (n < 0 && n != -EAGAIN && n != -EWOULDBLOCK && n != -EINTR) {
            end(c, CONN_ABORT, "write error");
            touch(c);
            return -EPIPE;
        }
        done = n > 0 ? (size_t)n : 0;
        c->direct += done;
        STATS_ADD(row_of(c), bytes_out, (uint64_t)done);
        STATS_ADD(lrow_of(c), bytes_out, (uint64_t)done);
        c->bytes_out += done;
        if (done)
            c->last_ms = loop_now_ms();
    }
    touch(c);
    if (done < len && buf_append(&c->out, (const char *)buf + done, len - done) < 0)
        return -ENOMEM;
    return 0;
}

size_t superd_queued(const struct superd_conn *conn)
{
    return buf_len(&conn->out);
}

void superd_close(struct superd_conn *conn)
{
    end(conn, CONN_CLOSING, conn->flags & CONN_EOF ? "client closed" : "closed by the server");
    touch(conn);
}

const char *superd_peer(const struct superd_conn *conn)
{
    return peer_of(conn);
}

/* ---- flow control (the superd_* forms are in api_flow.c) ---- */

static bool closing(const struct superd_conn *c)
{
    return c->flags & (CONN_DEAD | CONN_ABORT | CONN_CLOSING);
}

int conn_pause(struct superd_conn *c)
{
    if (closing(c))
        return -EPIPE;
    c->flags |= CONN_PAUSED;
    touch(c);
    return 0;
}

int conn_resume(struct superd_conn *c)
{
    if (closing(c))
        return -EPIPE;
    if (c->flags & CONN_PAUSED) {
        c->flags &= ~(unsigned)CONN_PAUSED;
        if (buf_len(&c->in) > 0)
            c->flags |= CONN_REOFFER;
    }
    /* Settled even when c's own callback runs: the kept bytes are offered
     * once it returns. */
    if (c->flags & CONN_REOFFER)
        loop_pending_add(loop_of(c), &c->settle);
    else
        touch(c);
    return 0;
}

int conn_shutdown(struct superd_conn *c)
{
    if (closing(c))
        return -EPIPE;
    c->flags |= CONN_SHUT;
    touch(c);
    return 0;
}
