/* proxy_wait.c - read a PROXY header in front of a connection, exactly. */
#include "proxy_wait.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "admit.h"
#include "log.h"
#include "proxy.h"
#include "serve.h"
#include "service.h"

struct waiting {
    struct loop_watch w;        /* first: found from the watch */
    struct loop_timer timer;
    struct loop_pending reap;   /* frees it after the callback that finished it */
    struct listener *l;
    int fd;
    struct sockaddr_storage real;
    socklen_t reallen;
    proxy_done_fn done;
    uint8_t buf[PROXY_MAX];
    size_t have;
    struct waiting *prev, *next;
};

/* Every connection of this worker waiting for its header. */
static struct waiting *all;

static void unlink_waiting(struct waiting *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        all = p->next;
    if (p->next)
        p->next->prev = p->prev;
}

static void reap(struct loop_pending *r)
{
    free((char *)r - offsetof(struct waiting, reap));
}

/* Done with it: stop watching, and close the socket unless it was handed
 * on.  The memory goes once the current callback has returned. */
static void finish(struct waiting *p, bool close_fd)
{
    loop_del(p->l->srv->loop, &p->w);
    loop_timer_stop(p->l->srv->loop, &p->timer);
    unlink_waiting(p);
    if (close_fd)
        close(p->fd);
    p->fd = -1;
    p->reap.fn = reap;
    loop_pending_add(p->l->srv->loop, &p->reap);
}

/* A connection the PROXY stage refuses was accepted first, as one a TLS
 * handshake refuses: it counts in _accepted_total and as refused{proxy}
 * (docs/metrics.md); admission, which runs after the header, never saw it. */
static void refuse_proxy(struct listener *l, const struct sockaddr *sa, socklen_t salen,
                         const char *rule)
{
    STATS_ADD(l->svc->row, accepted, 1);
    STATS_ADD(l->row, accepted, 1);
    admit_refused(l, sa, salen, STATS_REFUSED_PROXY, rule);
}

static void fail(struct waiting *p, const char *rule)
{
    refuse_proxy(p->l, (const struct sockaddr *)&p->real, p->reallen, rule);
    finish(p, true);
}

/* How many more bytes certainly belong to the header, given what is held
 * and what the socket has (peeked): a v1 line through its CRLF, a v2
 * header through its announced length; never a byte of the stream. */
static size_t header_bytes(const uint8_t *held, size_t have, const uint8_t *peek, size_t n)
{
    uint8_t first = have ? held[0] : peek[0];
    if (first == 'P') {
        for (size_t i = 0; i < n; i++) {
            uint8_t prev = i ? peek[i - 1] : (have ? held[have - 1] : 0);
            if (prev == '\r' && peek[i] == '\n')
                return i + 1;
        }
        return n;
    }
    if (have + n < 16)
        return n;
    size_t total = 16;
    if (have >= 16) {
        total += ((size_t)held[14] << 8) | held[15];
    } else {
        uint8_t hi = have > 14 ? held[14] : peek[14 - have];
        uint8_t lo = peek[15 - have];
        total += ((size_t)hi << 8) | lo;
    }
    if (total > PROXY_MAX)
        total = PROXY_MAX;
    return total - have < n ? total - have : n;
}

static void on_readable(struct loop_watch *w, uint32_t events)
{
    (void)events;
    struct waiting *p = (struct waiting *)w;
    uint8_t peek[PROXY_MAX];
    ssize_t n = recv(p->fd, peek, sizeof peek - p->have, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        fail(p, n == 0 ? "closed before its PROXY header" : "error before its PROXY header");
        return;
    }
    size_t take = header_bytes(p->buf, p->have, peek, (size_t)n);
    ssize_t got = recv(p->fd, p->buf + p->have, take, 0);
    if (got != (ssize_t)take) {
        fail(p, "error reading its PROXY header");
        return;
    }
    p->have += take;
    struct proxy_hdr h;
    int r = proxy_parse(p->buf, p->have, &h);
    if (r == 0 && p->have < PROXY_MAX)
        return;     /* more to come, within proxy_timeout */
    if (r <= 0) {
        fail(p, "malformed PROXY header");
        return;
    }
    /* The carried client is the peer from now on; LOCAL keeps the real. */
    struct sockaddr_storage peer = h.local ? p->real : h.src;
    socklen_t peerlen = h.local ? p->reallen : h.srclen;
    struct listener *l = p->l;
    int fd = p->fd;
    proxy_done_fn done = p->done;
    finish(p, false);
    done(l, fd, &peer, peerlen, h.local ? NULL : &h.dst, h.local ? 0 : h.dstlen);
}

static void on_timeout(struct loop_timer *t)
{
    struct waiting *p = (struct waiting *)((char *)t - offsetof(struct waiting, timer));
    fail(p, p->have ? "partial PROXY header at proxy_timeout" : "no PROXY header within proxy_timeout");
}

void proxy_wait(struct listener *l, int fd, const struct sockaddr_storage *ss, socklen_t sslen,
                proxy_done_fn done)
{
    static struct log_limit oom_limit;
    unsigned long missed;
    const struct conf_service *cs = l->svc->cs;
    char rule[160];
    if (!acl_allowed(&cs->trusted_proxies, NULL, (const struct sockaddr *)ss, rule,
                     sizeof rule)) {
        refuse_proxy(l, (const struct sockaddr *)ss, sslen,
                     "not in trusted_proxies: a PROXY header from it is not believed");
        close(fd);
        return;
    }
    struct waiting *p = calloc(1, sizeof *p);
    if (!p) {
        close(fd);
        if (log_limit_pass(&oom_limit, &missed))
            log_msg(LOG_ERR, "[%s] %s: out of memory, dropped a connection (%lu more)",
                    cs->name, l->addr.text, missed);
        return;
    }
    p->l = l;
    p->fd = fd;
    p->done = done;
    memcpy(&p->real, ss, sslen < sizeof p->real ? sslen : sizeof p->real);
    p->reallen = sslen;
    loop_timer_init(&p->timer, on_timeout);
    if (loop_add(l->srv->loop, &p->w, fd, LOOP_READABLE, on_readable) < 0 ||
        loop_timer_start(l->srv->loop, &p->timer,
                         cs->proxy_timeout_ms ? cs->proxy_timeout_ms : PROXY_TIMEOUT_MS) < 0) {
        loop_del(l->srv->loop, &p->w);
        close(fd);
        free(p);
        return;
    }
    p->next = all;
    if (all)
        all->prev = p;
    all = p;
}

void proxy_wait_close_all(void)
{
    /* Outside any callback (the worker is stopping): free at once. */
    while (all) {
        struct waiting *p = all;
        loop_del(p->l->srv->loop, &p->w);
        loop_timer_stop(p->l->srv->loop, &p->timer);
        unlink_waiting(p);
        close(p->fd);
        free(p);
    }
}
