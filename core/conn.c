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
 * batch of events.  Bytes move through c->io, so a TLS layer can slide
 * under this file without changing it.
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

#include "access.h"
#include "listener.h"
#include "log.h"
#include "service.h"
#include "sources.h"
#include "stats.h"

enum {
    CONN_OPENED = 1 << 0,   /* on_open ran: on_close is owed */
    CONN_EOF = 1 << 1,      /* the client sent FIN */
    CONN_CLOSING = 1 << 2,  /* close once the output queue is empty */
    CONN_ABORT = 1 << 3,    /* close now, dropping queued output */
    CONN_DEAD = 1 << 4,     /* closed; on the dead list */
    CONN_COUNTED = 1 << 5,  /* admitted against max_connections */
    CONN_SOURCED = 1 << 6,  /* counted against max_per_source */
    CONN_PAUSED = 1 << 7,   /* superd_pause: not reading */
    CONN_REOFFER = 1 << 8,  /* superd_resume: offer kept bytes at settle */
    CONN_SHUT = 1 << 9,     /* superd_shutdown: FIN once the queue is out */
    CONN_SHUT_DONE = 1 << 10, /* ... sent */
    CONN_CONNECTING = 1 << 11, /* outbound: connect() not finished */
    CONN_OUTBOUND = 1 << 12, /* made by superd_connect */
    CONN_PARKED = 1 << 13,  /* paused and hung up: off the loop until resumed */
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

/* The callbacks: an outbound connection's own ops, or the plugin's. */
static ssize_t (*data_cb(const struct superd_conn *c))(struct superd_conn *, const void *, size_t)
{
    return c->ops ? c->ops->on_data : service_plugin(c->svc)->on_data;
}

static void (*eof_cb(const struct superd_conn *c))(struct superd_conn *)
{
    return c->ops ? c->ops->on_eof : service_plugin(c->svc)->on_eof;
}

static void (*drain_cb(const struct superd_conn *c))(struct superd_conn *)
{
    return c->ops ? c->ops->on_drain : service_plugin(c->svc)->on_drain;
}

static void (*close_cb(const struct superd_conn *c))(struct superd_conn *)
{
    return c->ops ? c->ops->on_close : service_plugin(c->svc)->on_close;
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
    if (c->flags & CONN_COUNTED)
        stats_conn_release(c->srv->stats, c->srv->stats_row, c->svc->stats_slot);
    if (c->flags & CONN_SOURCED)
        sources_release(c->srv->sources, c->svc->stats_slot, c->srv->stats_row,
                        &c->src.sa, c->svc->cs);
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
        shutdown(c->fd, SHUT_WR);
        c->flags |= CONN_SHUT_DONE;
    }
    if ((c->flags & (CONN_SHUT_DONE | CONN_EOF)) == (CONN_SHUT_DONE | CONN_EOF)) {
        /* Both ways shut: nothing can move any more. */
        end(c, CONN_ABORT, "closed both ways");
        kill_conn(c);
        return;
    }
    uint32_t want = 0;
    if (c->flags & CONN_CONNECTING)
        want = LOOP_WRITABLE;   /* writable: the connect is over */
    else if (!(c->flags & (CONN_EOF | CONN_CLOSING | CONN_PAUSED)) &&
             buf_len(&c->out) < CONN_OUT_HIGH)
        want |= LOOP_READABLE;
    if (buf_len(&c->out) > 0)
        want |= LOOP_WRITABLE;
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
    if (cs->idle_timeout_ms && now - c->last_ms >= cs->idle_timeout_ms)
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
        if (n != -EAGAIN && n != -EWOULDBLOCK && n != -EINTR)
            end(c, CONN_ABORT, n == -ECONNRESET ? "reset by the client" : "read error");
        return;
    }
    STATS_ADD(row_of(c), bytes_in, (uint64_t)n);
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

static void conn_event(struct loop_watch *w, uint32_t events)
{
    struct superd_conn *c = conn_of(w);
    struct superd_conn *outer = c->srv->current;
    c->srv->current = c;
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

/* Log a refusal (at most one line a second) and count it. */
static void refuse(struct listener *l, const struct sockaddr_storage *ss, socklen_t sslen,
                   const char *rule)
{
    static struct log_limit limit;
    unsigned long missed;
    STATS_ADD(l->svc->row, refused, 1);
    if (log_limit_pass(&limit, &missed)) {
        char peer[ADDR_FMT_MAX];
        addr_format((const struct sockaddr *)ss, sslen, peer, sizeof peer);
        log_msg(LOG_WARNING, "[%s] %s: refused %s: %s (%lu more refusals)",
                l->svc->cs->name, l->addr.text, peer, rule, missed);
    }
}

/*
 * The checks a connection passes before any plugin code runs: only_from
 * and no_access, then max_per_source and rate_limit per source address,
 * then max_connections per service and in total, across every worker.
 * A refused connection was accepted (so the backlog never fills with
 * refused clients) and is closed at once.  Returns the CONN_* counting
 * flags to set, or -1 when refused.
 */
static int admit(struct listener *l, const struct sockaddr_storage *ss, socklen_t sslen)
{
    struct serve *srv = l->srv;
    struct superd_service *svc = l->svc;
    const struct conf_service *cs = svc->cs;
    const struct sockaddr *sa = (const struct sockaddr *)ss;
    char rule[160];
    int flags = 0;
    if (!acl_allowed(cs->only_from.set ? &cs->only_from : &srv->conf->only_from,
                     cs->no_access.set ? &cs->no_access : &srv->conf->no_access,
                     sa, rule, sizeof rule)) {
        refuse(l, ss, sslen, rule);
        return -1;
    }
    if (!srv->stats)
        return 0;
    if (svc->stats_slot < 0) {
        /* Never admit past a limit that cannot be counted. */
        if (!cs->max_per_source && !cs->rate_limit.count && !cs->max_connections &&
            !srv->conf->max_connections)
            return 0;
        refuse(l, ss, sslen, "limits cannot be counted (no statistics slot)");
        return -1;
    }
    if (cs->max_per_source || cs->rate_limit.count) {
        enum src_verdict v = sources_admit(srv->sources, svc->stats_slot, srv->stats_row, sa,
                                           cs, true);
        if (v != SRC_OK) {
            if (v == SRC_TOO_MANY)
                snprintf(rule, sizeof rule, "max_per_source %ld reached", cs->max_per_source);
            else if (v == SRC_RATE)
                snprintf(rule, sizeof rule, "rate_limit %u/%s exceeded", cs->rate_limit.count,
                         cs->rate_limit.per_ms == 1000 ? "s" : "m");
            else
                snprintf(rule, sizeof rule, "per-source table full (%d sources)", SOURCES_CAPACITY);
            refuse(l, ss, sslen, rule);
            return -1;
        }
        if (cs->max_per_source && srv->sources)
            flags |= CONN_SOURCED;
    }
    if (!stats_conn_admit(srv->stats, srv->stats_row, svc->stats_slot, cs->max_connections,
                          srv->conf->max_connections)) {
        if (flags & CONN_SOURCED)
            sources_release(srv->sources, svc->stats_slot, srv->stats_row, sa, cs);
        refuse(l, ss, sslen, "max_connections reached");
        return -1;
    }
    STATS_ADD(svc->row, accepted, 1);
    return flags | CONN_COUNTED;
}

/* Undo admit() for a connection that could not be set up. */
static void unadmit(struct listener *l, int flags, const struct sockaddr_storage *ss)
{
    if (flags & CONN_COUNTED)
        stats_conn_release(l->srv->stats, l->srv->stats_row, l->svc->stats_slot);
    if (flags & CONN_SOURCED)
        sources_release(l->srv->sources, l->svc->stats_slot, l->srv->stats_row,
                        (const struct sockaddr *)ss, l->svc->cs);
}

static void conn_open(struct listener *l, int fd, const struct sockaddr_storage *ss, socklen_t sslen)
{
    static struct log_limit oom_limit;
    unsigned long missed;
    int admitted = admit(l, ss, sslen);
    if (admitted < 0) {
        close(fd);
        return;
    }
    if (exec_service(l)) {
        exec_stream(l, fd, ss, sslen, admitted & CONN_COUNTED, admitted & CONN_SOURCED);
        return;
    }
    struct superd_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        unadmit(l, admitted, ss);
        if (log_limit_pass(&oom_limit, &missed))
            log_msg(LOG_ERR, "[%s] %s: out of memory, dropped a connection (%lu more)",
                    superd_service_name(l->svc), l->addr.text, missed);
        return;
    }
    c->io = &conn_io_plain;
    c->srv = l->srv;
    c->lsn = l;
    c->svc = l->svc;
    c->fd = fd;
    loop_timer_init(&c->timer, expire);
    c->settle.fn = settle_pending;
    c->start_ms = c->last_ms = loop_now_ms();
    c->flags |= (unsigned)admitted;
    if (l->addr.kind == ADDR_TCP) {
        /* Replies are whole writes: never wait for Nagle and delayed ACKs. */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        /* The address only: its text is made if someone asks (peer_of). */
        memcpy(&c->src, ss, sslen < sizeof c->src ? sslen : sizeof c->src);
    } else {
        char path[ADDR_FMT_MAX];
        addr_format((const struct sockaddr *)ss, sslen, path, sizeof path);
        snprintf(c->peer, sizeof c->peer, "unix:%s", path);
    }
    struct conn_set *set = set_of(c);
    if (loop_add(loop_of(c), &c->w, fd, LOOP_READABLE, conn_event) < 0) {
        close(fd);
        unadmit(l, admitted, ss);
        free(c);
        return;
    }
    c->next = set->live;
    if (set->live)
        set->live->prev = c;
    set->live = c;
    set->nlive++;
    c->flags |= CONN_OPENED;
    struct superd_conn *outer = c->srv->current;
    c->srv->current = c;
    const struct superd_plugin *p = service_plugin(c->svc);
    if (p->on_open && p->on_open(c) < 0)
        end(c, CONN_ABORT, "refused by the plugin");
    if (arm_timer(c) < 0)
        end(c, CONN_ABORT, "out of memory");
    settle(c);
    c->srv->current = outer;
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
        conn_open(l, fd, &ss, len);
    }
}

void conn_reap(struct conn_set *set)
{
    while (set->dead) {
        struct superd_conn *c = set->dead;
        set->dead = c->next;
        buf_free(&c->in);
        buf_free(&c->out);
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
