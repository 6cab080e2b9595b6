/* dgram.c - datagram listeners: UDP and unix datagram share one receive
 * path (recvmmsg in bounded batches), loop protection, and replies. */
#include "dgram.h"

#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <superd/plugin.h>

#include "admit.h"
#include "addr.h"
#include "listener.h"
#include "log.h"
#include "serve.h"
#include "loopguard.h"
#include "exec.h"
#include "service.h"
#include "sources.h"
#include "stats.h"

/* Datagrams per recvmmsg, and batches per wake-up: bounded, so one flooded
 * listener cannot starve the others. */
#define DGRAM_BATCH 8
#define DGRAM_ROUNDS 4
/* Every UDP datagram (at most 65507 bytes) fits whole. */
#define DGRAM_MAX 65536

/* Per process, so per worker. */
static char bufs[DGRAM_BATCH][DGRAM_MAX];

/* Small replies made during one receive batch, sent together with one
 * sendmmsg: one system call for the batch instead of one per reply.
 * Larger replies (the copy would cost more than the call) go at once. */
#define REPLY_BATCH DGRAM_BATCH
#define REPLY_SMALL 2048
static struct {
    struct listener *lsn;
    int n;
    struct mmsghdr msgs[REPLY_BATCH];
    struct iovec iov[REPLY_BATCH];
    struct sockaddr_storage to[REPLY_BATCH];
    char data[REPLY_BATCH][REPLY_SMALL];
} replies;

/* Send the queued replies; a reply the socket refuses is dropped, as UDP
 * may, and taken back from the counters. */
static void flush_replies(void)
{
    struct listener *l = replies.lsn;
    int i = 0;
    while (i < replies.n) {
        int r = sendmmsg(l->fd, replies.msgs + i, (unsigned)(replies.n - i),
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r > 0) {
            i += r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        STATS_ADD(l->svc->row, dgrams_out, (uint64_t)-1);
        STATS_ADD(l->svc->row, bytes_out, (uint64_t)0 - replies.iov[i].iov_len);
        STATS_ADD(l->row, dgrams_out, (uint64_t)-1);
        STATS_ADD(l->row, bytes_out, (uint64_t)0 - replies.iov[i].iov_len);
        i++;
    }
    replies.n = 0;
}

#define listener_of(w) ((struct listener *)((char *)(w) - offsetof(struct listener, w)))

/* The classic services that answer anything: never answer them back. */
static bool chatty_port(unsigned port)
{
    static const unsigned ports[] = { 7, 9, 13, 17, 19, 37 };
    for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++)
        if (port == ports[i])
            return true;
    return false;
}

static bool bad_inet_addr(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
        return a == INADDR_BROADCAST || IN_MULTICAST(a) || a == INADDR_ANY;
    }
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6)) {
        uint32_t a;
        memcpy(&a, &a6->s6_addr[12], 4);
        a = ntohl(a);
        return a == INADDR_BROADCAST || IN_MULTICAST(a) || a == INADDR_ANY;
    }
    return IN6_IS_ADDR_MULTICAST(a6) || IN6_IS_ADDR_UNSPECIFIED(a6);
}

static bool is_wildcard(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return false;
}

/*
 * The worker's own datagram listeners, for loop protection.  A datagram
 * from one of them is refused; nearly no datagram is, and the check runs
 * for each, so it must not cost a walk of every listener.  A listener's
 * key: its port (IPv4, IPv6), or a hash of its address bytes (unix).  A
 * 65,536-bit map per class says whether any listener has a key: a source
 * whose key is in no map (nearly every datagram) costs one bit test.  Only
 * a hit searches the listeners sorted by key, and compares the few that
 * share the source's key exactly.  The key is a function of what the exact
 * comparison compares, so a source equal to a listener always has its key.
 */
enum { OWN_V4, OWN_V6, OWN_UNIX, OWN_CLASSES };

struct own_entry {
    uint32_t key;                   /* class << 16 | port or hash */
    const struct listener *lsn;
};

struct dgram_own {
    uint64_t map[OWN_CLASSES][65536 / 64];
    struct own_entry *v;            /* sorted by key */
    size_t n;
};

/* 16 bits of FNV-1a over a unix address's bytes, family and length
 * included: addr_equal compares exactly those. */
static uint32_t unix_hash(const struct sockaddr *sa, socklen_t salen)
{
    const unsigned char *p = (const unsigned char *)sa;
    uint32_t h = 2166136261u ^ (uint32_t)salen;
    for (socklen_t i = 0; i < salen; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return (h ^ (h >> 16)) & 0xffff;
}

/* The key of an address, or false for a family no datagram listener has. */
static bool own_key(const struct sockaddr *sa, socklen_t salen, uint32_t *key)
{
    switch (sa->sa_family) {
    case AF_INET:
        *key = (uint32_t)OWN_V4 << 16 | ntohs(((const struct sockaddr_in *)sa)->sin_port);
        return true;
    case AF_INET6:
        *key = (uint32_t)OWN_V6 << 16 | ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
        return true;
    case AF_UNIX:
        *key = (uint32_t)OWN_UNIX << 16 | unix_hash(sa, salen);
        return true;
    default:
        return false;
    }
}

static int own_cmp(const void *a, const void *b)
{
    uint32_t x = ((const struct own_entry *)a)->key, y = ((const struct own_entry *)b)->key;
    return x < y ? -1 : x > y;
}

int dgram_own_build(struct dgram_own **out, const struct listener *lsns, size_t nlsns)
{
    struct dgram_own *o = calloc(1, sizeof *o);
    if (!o)
        return -ENOMEM;
    o->v = calloc(nlsns ? nlsns : 1, sizeof *o->v);
    if (!o->v) {
        free(o);
        return -ENOMEM;
    }
    for (size_t i = 0; i < nlsns; i++) {
        const struct listener *l = &lsns[i];
        uint32_t key;
        if ((l->addr.kind != ADDR_UDP && l->addr.kind != ADDR_UNIX_DGRAM) ||
            !own_key((const struct sockaddr *)&l->addr.sa, l->addr.salen, &key))
            continue;
        o->map[key >> 16][(key & 0xffff) / 64] |= 1ull << (key % 64);
        o->v[o->n++] = (struct own_entry){ key, l };
    }
    qsort(o->v, o->n, sizeof *o->v, own_cmp);
    *out = o;
    return 0;
}

void dgram_own_free(struct dgram_own *own)
{
    if (!own)
        return;
    free(own->v);
    free(own);
}

/* Is `from` one of the listeners of `own` (NULL: none)? */
static bool own_source(const struct dgram_own *own, const struct sockaddr *from,
                       socklen_t fromlen)
{
    uint32_t key;
    if (!own || !own_key(from, fromlen, &key) ||
        !(own->map[key >> 16][(key & 0xffff) / 64] & 1ull << (key % 64)))
        return false;
    /* The first entry with the key, then every one that shares it. */
    size_t lo = 0, hi = own->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (own->v[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < own->n && own->v[i].key == key; i++) {
        const struct laddr *a = &own->v[i].lsn->addr;
        const struct sockaddr *sa = (const struct sockaddr *)&a->sa;
        /* A wildcard listener's port is ours on every address of its family. */
        if (addr_equal(sa, a->salen, from, fromlen) ||
            (is_wildcard(sa) && addr_port(sa) == addr_port(from)))
            return true;
    }
    return false;
}

bool dgram_bad_source(const struct dgram_own *own, const struct sockaddr *from,
                      socklen_t fromlen, const char **why)
{
    if (from->sa_family == AF_INET || from->sa_family == AF_INET6) {
        unsigned port = addr_port(from);
        if (port == 0) {
            *why = "source port 0";
            return true;
        }
        if (chatty_port(port)) {
            *why = "source port of a chatty service";
            return true;
        }
        if (bad_inet_addr(from)) {
            *why = "broadcast, multicast or unspecified source";
            return true;
        }
    }
    if (own_source(own, from, fromlen)) {
        *why = "one of superd's own datagram listeners";
        return true;
    }
    return false;
}

/* Replies larger than their request (daytime's to an empty datagram) are
 * what an amplification attack wants: without udp_reply_rate, at most this
 * many per second per source. */
static const struct conf_rate amplify_rate = { 10, 1000 };

/* Every other reply, without udp_reply_rate: the loop budget.  One spoofed
 * datagram between two servers that answer everything (two superds, or
 * superd and any echo server) makes a loop that runs as fast as the round
 * trip, thousands a second; no client of a datagram service waits for this
 * many replies a second from one address.  The first reply over it is
 * dropped, and a loop with nothing in flight is over. */
static const struct conf_rate loop_rate = { 100, 1000 };

static void handle(struct listener *l, struct superd_dgram *d, const char *data,
                   size_t len, int flags)
{
    unsigned long missed;
    const char *why;
    const struct conf_service *cs = l->svc->cs;
    struct serve *srv = l->srv;
    const struct sockaddr *from = (const struct sockaddr *)d->from;
    if (flags & MSG_TRUNC) {
        if (log_limit_pass(&l->svc->log_truncated, &missed)) {
            addr_format(from, d->fromlen, d->peer, sizeof d->peer);
            log_msg(LOG_NOTICE, "[%s] %s: dropped a datagram from %s larger than %d bytes (%lu more)",
                    superd_service_name(l->svc), l->addr.text, d->peer, DGRAM_MAX, missed);
        }
        return;
    }
    STATS_ADD(l->svc->row, dgrams_in, 1);
    STATS_ADD(l->svc->row, bytes_in, len);
    STATS_ADD(l->row, dgrams_in, 1);
    STATS_ADD(l->row, bytes_in, len);
    if (!admit_dgram(l, from, d->fromlen))
        return;
    if (cs->udp_guard && dgram_bad_source(srv->own, from, d->fromlen, &why)) {
        STATS_ADD(l->svc->row, loop_drops, 1);
        STATS_ADD(l->row, loop_drops, 1);
        if (log_limit_pass(&l->svc->log_guard, &missed)) {
            addr_format(from, d->fromlen, d->peer, sizeof d->peer);
            log_msg(LOG_NOTICE, "[%s] %s: dropped a datagram from %s: %s could start a loop (%lu more)",
                    superd_service_name(l->svc), l->addr.text, d->peer, why, missed);
        }
        return;
    }
    if (exec_service(l)) {
        exec_dgram(l, d->from, d->fromlen, data, len);
        return;
    }
    const struct superd_plugin *p = service_plugin(l->svc);
    if (!p->on_datagram)
        return;
    d->len = len;
    /* The peer's text is made only if a plugin asks for it. */
    d->peer[0] = '\0';
    p->on_datagram(l->svc, d, data, len);
}

void dgram_ready(struct loop_watch *w, uint32_t events)
{
    static struct log_limit err_limit;
    unsigned long missed;
    (void)events;
    struct listener *l = listener_of(w);
    struct mmsghdr msgs[DGRAM_BATCH];
    struct iovec iov[DGRAM_BATCH];
    struct sockaddr_storage from[DGRAM_BATCH];

    for (int round = 0; round < DGRAM_ROUNDS && l->fd >= 0; round++) {
        memset(msgs, 0, sizeof msgs);
        for (int i = 0; i < DGRAM_BATCH; i++) {
            iov[i] = (struct iovec){ bufs[i], DGRAM_MAX };
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &from[i];
            msgs[i].msg_hdr.msg_namelen = sizeof from[i];
        }
        int n = recvmmsg(l->fd, msgs, DGRAM_BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                log_limit_pass(&err_limit, &missed))
                log_msg(LOG_ERR, "[%s] %s: receive: %s (%lu more)", superd_service_name(l->svc),
                        l->addr.text, strerror(errno), missed);
            return;
        }
        replies.lsn = l;
        for (int i = 0; i < n && l->fd >= 0; i++) {
            struct superd_dgram d = { .lsn = l, .from = &from[i],
                                      .fromlen = msgs[i].msg_hdr.msg_namelen };
            handle(l, &d, bufs[i], msgs[i].msg_len, msgs[i].msg_hdr.msg_flags);
        }
        if (replies.n)
            flush_replies();
        /* Replies made outside a batch (a held datagram's) go at once. */
        replies.lsn = NULL;
        if (n < DGRAM_BATCH)
            return;
    }
}

/* ---- the public API ---- */

/* The budget a reply of `len` bytes to a request of `reqlen` takes from. */
static const struct conf_rate *reply_budget(const struct conf_service *cs, size_t len,
                                            size_t reqlen)
{
    if (cs->udp_reply_rate.count)
        return &cs->udp_reply_rate;
    return len > reqlen ? &amplify_rate : &loop_rate;
}

/* A reply over its budget: counted (a spent loop budget is loop
 * protection, the others are limits) and logged once a second per service. */
static void reply_dropped(struct superd_dgram *d, const struct conf_rate *budget)
{
    unsigned long missed;
    char why[128];
    struct listener *l = d->lsn;
    if (budget == &loop_rate) {
        STATS_ADD(l->svc->row, loop_drops, 1);
        STATS_ADD(l->row, loop_drops, 1);
    } else {
        STATS_ADD(l->svc->row, refused, 1);
        STATS_ADD(l->svc->row, budget_drops, 1);
        STATS_ADD(l->row, budget_drops, 1);
    }
    if (!log_limit_pass(&l->svc->log_reply, &missed))
        return;
    if (budget == &loop_rate)
        snprintf(why, sizeof why, "over %u replies/s to one source, a loop? "
                 "(udp_reply_rate raises the budget)", loop_rate.count);
    else
        snprintf(why, sizeof why, "%s", budget == &amplify_rate
                 ? "reply larger than the request, over 10/s" : "udp_reply_rate exceeded");
    log_msg(LOG_WARNING, "[%s] %s: reply to %s dropped: %s (%lu more)", l->svc->cs->name,
            l->addr.text, superd_dgram_peer(d), why, missed);
}

int superd_reply(struct superd_dgram *d, const void *buf, size_t len)
{
    const struct sockaddr *to = (const struct sockaddr *)d->from;
    if (to->sa_family == AF_UNIX && d->fromlen <= offsetof(struct sockaddr_un, sun_path))
        return -ENOTCONN;   /* an unbound unix socket has no address */
    if (d->lsn->fd < 0)
        return -EPIPE;      /* a held datagram's listener is closed */
    const struct conf_service *cs = d->lsn->svc->cs;
    const struct conf_rate *budget = reply_budget(cs, len, d->len);
    /* The default loop budget is the worker's own (no lock on the reply
     * path); an explicit udp_reply_rate and the amplification budget are
     * exact across workers, in the shared table. */
    bool ok = cs->udp_reply_off ||
              (budget == &loop_rate
                   ? loopguard_pass(d->lsn->svc->stats_slot, to, d->fromlen, budget,
                                    loop_now_ms())
                   : sources_reply(d->lsn->srv->sources, d->lsn->svc->stats_slot, to, cs,
                                   budget));
    if (!ok) {
        reply_dropped(d, budget);
        return -EAGAIN;
    }
    /* Counted before sending: once the client has its reply, SIGUSR1
     * shows it; a failed send is taken back. */
    STATS_ADD(d->lsn->svc->row, dgrams_out, 1);
    STATS_ADD(d->lsn->svc->row, bytes_out, len);
    STATS_ADD(d->lsn->row, dgrams_out, 1);
    STATS_ADD(d->lsn->row, bytes_out, len);
    if (len <= REPLY_SMALL && replies.lsn == d->lsn) {
        if (replies.n == REPLY_BATCH)
            flush_replies();
        int i = replies.n++;
        memcpy(replies.data[i], buf, len);
        memcpy(&replies.to[i], d->from, d->fromlen);
        replies.iov[i] = (struct iovec){ replies.data[i], len };
        replies.msgs[i] = (struct mmsghdr){ .msg_hdr = {
            .msg_name = &replies.to[i], .msg_namelen = d->fromlen,
            .msg_iov = &replies.iov[i], .msg_iovlen = 1 } };
        return 0;
    }
    /* In order: what is queued goes first. */
    if (replies.n && replies.lsn == d->lsn)
        flush_replies();
    if (sendto(d->lsn->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL, to, d->fromlen) < 0) {
        int e = errno;
        STATS_ADD(d->lsn->svc->row, dgrams_out, (uint64_t)-1);
        STATS_ADD(d->lsn->svc->row, bytes_out, (uint64_t)0 - len);
        STATS_ADD(d->lsn->row, dgrams_out, (uint64_t)-1);
        STATS_ADD(d->lsn->row, bytes_out, (uint64_t)0 - len);
        return -e;
    }
    return 0;
}

int dgram_reply_to(struct listener *l, const struct sockaddr_storage *to, socklen_t tolen,
                   size_t reqlen, const void *buf, size_t len)
{
    struct superd_dgram d = { .lsn = l, .from = to, .fromlen = tolen, .len = reqlen };
    int r = superd_reply(&d, buf, len);
    if (replies.n)
        flush_replies();    /* outside a receive batch: nothing else flushes */
    return r;
}

const char *superd_dgram_peer(const struct superd_dgram *d)
{
    struct superd_dgram *m = (struct superd_dgram *)d;
    if (m->peer[0] == '\0') {
        char text[ADDR_FMT_MAX];
        const struct sockaddr *from = (const struct sockaddr *)m->from;
        addr_format(from, m->fromlen, text, sizeof text);
        snprintf(m->peer, sizeof m->peer, "%s%s", from->sa_family == AF_UNIX ? "unix:" : "", text);
    }
    return m->peer;
}
