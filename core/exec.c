/* exec.c - a worker's side of exec services.
 *
 * A connection is admitted as any other (access lists, per-source and rate
 * limits, max_connections), then sent to the spawner with its service
 * index and generation, and closed here.  The admission slots it took stay
 * taken until the spawner reports the child's exit: max_connections and
 * max_per_source count running programs.  A datagram goes to the program
 * through a unix datagram socketpair: the program reads it on stdin, and
 * each datagram it writes to stdout is sent back to the sender through the
 * listener, under the same loop protection and reply budgets as a
 * plugin's replies.
 */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admit.h"
#include "dgram.h"
#include "listener.h"
#include "log.h"
#include "service.h"
#include "sources.h"
#include "spawner.h"
#include "stats.h"
#include "serve.h"

#define HANDOFF_MAGIC 0x68616e64u

/* One connection or datagram given to the spawner, until its child ends. */
struct handoff {
    uint32_t magic;
    struct handoff *prev, *next;
    struct listener *l;
    bool counted, sourced;
    struct sockaddr_storage src;
    socklen_t srclen;
    size_t reqlen;              /* a datagram's size, for reply budgets */
    struct loop_watch dw;       /* a datagram: our end of the socketpair */
};

/* One worker per process: its link to the spawner. */
static struct {
    struct serve *srv;
    int fd;
    unsigned gen;
    struct loop_watch w;
    struct handoff *pending;
} xl = { .fd = -1 };

bool exec_service(const struct listener *l)
{
    return l->svc && l->svc->cs->exec.program;
}

static void handoff_free(struct handoff *h)
{
    struct serve *srv = xl.srv;
    admit_release(h->l, (h->counted ? ADMIT_COUNTED : 0) | (h->sourced ? ADMIT_SOURCED : 0),
                  (const struct sockaddr *)&h->src);
    if (h->dw.fd >= 0) {
        int fd = h->dw.fd;
        loop_del(srv->loop, &h->dw);
        close(fd);
    }
    if (h->prev)
        h->prev->next = h->next;
    else
        xl.pending = h->next;
    if (h->next)
        h->next->prev = h->prev;
    h->magic = 0;
    free(h);
}

static struct handoff *handoff_new(struct listener *l, const struct sockaddr_storage *ss,
                                   socklen_t sslen)
{
    struct handoff *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->magic = HANDOFF_MAGIC;
    h->l = l;
    h->dw.fd = -1;
    memcpy(&h->src, ss, sslen < sizeof h->src ? sslen : sizeof h->src);
    h->srclen = sslen;
    h->next = xl.pending;
    if (xl.pending)
        xl.pending->prev = h;
    xl.pending = h;
    return h;
}

/* Send the request; on failure the hand-off is undone (and logged).
 * `peer` (NULL: the spawner asks the descriptor) and `local` (NULL: the
 * listener's address) are for the program's environment. */
static int send_req(struct handoff *h, uint32_t type, int fd, const struct sockaddr_storage *peer,
                    socklen_t peerlen, const struct sockaddr_storage *local, socklen_t locallen,
                    const struct spawn_tls *tls)
{
    static struct log_limit limit;
    unsigned long missed;
    struct listener *l = h->l;
    struct spawn_req rq = { .magic = SPAWN_MAGIC, .type = type,
                            .svc = (uint32_t)l->svc_index, .gen = xl.gen,
                            .cookie = (uint64_t)(uintptr_t)h };
    if (tls)
        rq.tls = *tls;
    if (peer) {
        memcpy(&rq.peer, peer, peerlen);
        rq.peerlen = peerlen;
        socklen_t len = sizeof rq.local;
        if (local) {
            memcpy(&rq.local, local, locallen);
            rq.locallen = locallen;
        } else if (getsockname(l->fd, (struct sockaddr *)&rq.local, &len) == 0 &&
                   len <= sizeof rq.local) {
            rq.locallen = len;
        }
    }
    int r = xl.fd < 0 ? -ENOTCONN : spawn_send_fd(xl.fd, &rq, sizeof rq, fd);
    if (r < 0) {
        if (log_limit_pass(&limit, &missed))
            log_msg(LOG_ERR, "[%s] %s: cannot reach the spawner: %s; dropped (%lu more)",
                    l->svc->cs->name, l->addr.text, strerror(-r), missed);
        handoff_free(h);
    }
    return r;
}

void exec_stream(struct listener *l, int fd, const struct sockaddr_storage *ss,
                 socklen_t sslen, const struct sockaddr_storage *dst, socklen_t dstlen,
                 bool counted, bool sourced)
{
    struct handoff *h = handoff_new(l, ss, sslen);
    if (!h) {
        close(fd);
        admit_release(l, (counted ? ADMIT_COUNTED : 0) | (sourced ? ADMIT_SOURCED : 0),
                      (const struct sockaddr *)ss);
        return;
    }
    h->counted = counted;
    h->sourced = sourced;
    /* Behind PROXY the socket's endpoints are the balancer's: the
     * header's are the program's. */
    if (dst)
        send_req(h, SPAWN_STREAM, fd, ss, sslen, dst, dstlen, NULL);
    else
        send_req(h, SPAWN_STREAM, fd, NULL, 0, NULL, 0, NULL);
    close(fd);      /* the child has its own copy now */
}

int exec_stream_tls(struct listener *l, int fd, const struct sockaddr_storage *peer,
                    socklen_t peerlen, const struct sockaddr_storage *local,
                    socklen_t locallen, const struct spawn_tls *tls)
{
    /* The relaying connection holds the admission slots, not this. */
    struct handoff *h = handoff_new(l, peer, peerlen);
    if (!h)
        return -ENOMEM;
    return send_req(h, SPAWN_TLS, fd, peer, peerlen, local, locallen, tls);
}

/* What the program wrote: each datagram back to the sender. */
static void on_reply(struct loop_watch *w, uint32_t events)
{
    struct handoff *h = (struct handoff *)((char *)w - offsetof(struct handoff, dw));
    static char buf[65536];
    (void)events;
    for (int i = 0; i < 16; i++) {
        ssize_t n = recv(w->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return;
        dgram_reply_to(h->l, &h->src, h->srclen, h->reqlen, buf, (size_t)n);
    }
}

void exec_dgram(struct listener *l, const struct sockaddr_storage *from, socklen_t fromlen,
                const char *data, size_t len)
{
    static struct log_limit limit;
    unsigned long missed;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0) {
        if (log_limit_pass(&limit, &missed))
            log_msg(LOG_ERR, "[%s] %s: socketpair: %s; datagram dropped (%lu more)",
                    l->svc->cs->name, l->addr.text, strerror(errno), missed);
        return;
    }
    /* A datagram of up to 64 KiB must fit in the program's receive queue. */
    int size = 256 * 1024;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    struct handoff *h = handoff_new(l, from, fromlen);
    if (!h || send(sv[0], data, len, MSG_DONTWAIT) < 0 ||
        loop_add(xl.srv->loop, &h->dw, sv[0], LOOP_READABLE, on_reply) < 0) {
        if (h)
            handoff_free(h);
        close(sv[0]);
        close(sv[1]);
        return;
    }
    h->reqlen = len;
    send_req(h, SPAWN_DGRAM, sv[1], from, fromlen, NULL, 0, NULL);
    close(sv[1]);
}

/* The spawner's news: a child ended, or never started. */
static void on_spawner(struct loop_watch *w, uint32_t events)
{
    (void)events;
    for (;;) {
        struct spawn_rep rep;
        ssize_t n = recv(w->fd, &rep, sizeof rep, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return;
        if (n == 0) {
            log_msg(LOG_ERR, "worker %ld: the spawner is gone: programs cannot be started",
                    (long)getpid());
            loop_del(xl.srv->loop, &xl.w);
            close(xl.fd);
            xl.fd = -1;
            return;
        }
        struct handoff *h = (struct handoff *)(uintptr_t)rep.cookie;
        if (n != (ssize_t)sizeof rep || !h || h->magic != HANDOFF_MAGIC)
            continue;
        /* A datagram program's last replies may still be queued. */
        if (h->dw.fd >= 0)
            on_reply(&h->dw, LOOP_READABLE);
        handoff_free(h);
    }
}

int exec_attach(struct serve *srv, int fd, unsigned gen)
{
    xl.srv = srv;
    xl.gen = gen;
    xl.fd = fd;
    if (fd < 0)
        return 0;
    return loop_add(srv->loop, &xl.w, fd, LOOP_READABLE, on_spawner);
}

void exec_detach(void)
{
    while (xl.pending)
        handoff_free(xl.pending);
    if (xl.fd >= 0) {
        loop_del(xl.srv->loop, &xl.w);
        close(xl.fd);
    }
    xl.fd = -1;
}
