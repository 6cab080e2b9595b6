/* tls_relay.c - a program behind TLS.
 *
 * The connection is served like a plugin's (admission, the handshake, the
 * timeouts), with these callbacks: on_open makes a unix stream socketpair,
 * has the spawner start the program on one end (with the session's facts
 * in SSL_* variables), and watches the other.  Bytes from the client are
 * written to the program; while the program does not take them the client
 * is not read (conn_pause).  Bytes from the program are written to the
 * client; above the high-water mark the program is not read until
 * on_drain.  The client's close_notify becomes the program's EOF on stdin;
 * the program closing its stdout ends the connection (close_notify). */
#define SUPERD_HOST_BUILD 1

#include "tls_relay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "conn.h"
#include "exec.h"
#include "listener.h"
#include "log.h"
#include "spawner.h"
#include "tls.h"

struct relay {
    struct loop_watch w;        /* watching our end of the socketpair */
    int fd;                     /* that end, -1 when closed */
    struct superd_conn *c;
    struct buf pend;            /* client bytes the program has not taken */
    bool client_eof;            /* shut the program's stdin once pend is out */
};

#define relay_of(w) ((struct relay *)((char *)(w) - offsetof(struct relay, w)))

static struct loop *loop_of(const struct relay *r)
{
    return r->c->srv->loop;
}

/* The watch's interest from the state: read the program unless the
 * client's queue is full; write while client bytes wait. */
static void interest(struct relay *r)
{
    uint32_t ev = 0;
    if (superd_queued(r->c) < CONN_OUT_HIGH)
        ev |= LOOP_READABLE;
    if (buf_len(&r->pend) > 0)
        ev |= LOOP_WRITABLE;
    if (r->w.fd >= 0 && loop_mod(loop_of(r), &r->w, ev) < 0)
        superd_close(r->c);
}

/* Copy a fact into a fixed field, as printable text. */
static void fact(char *dst, size_t size, const char *src)
{
    size_t i = 0;
    for (; src && src[i] && i + 1 < size; i++)
        dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? '?' : src[i];
    dst[i] = '\0';
}

static void relay_event(struct loop_watch *w, uint32_t events);

static int relay_open(struct superd_conn *c)
{
    struct relay *r = calloc(1, sizeof *r);
    int sv[2];
    if (!r)
        return -ENOMEM;
    r->c = c;
    r->fd = r->w.fd = -1;
    superd_conn_set_data(c, r);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    struct superd_tls_info info = { .size = sizeof info };
    struct spawn_tls t;
    memset(&t, 0, sizeof t);
    if (c->tls && tls_conn_info(c->tls, &info) == 0) {
        fact(t.protocol, sizeof t.protocol, info.version);
        fact(t.cipher, sizeof t.cipher, info.cipher);
        fact(t.sni, sizeof t.sni, info.sni);
        fact(t.subject, sizeof t.subject, info.peer_subject);
        fact(t.issuer, sizeof t.issuer, info.peer_issuer);
    }
    struct sockaddr_storage peer;
    socklen_t peerlen = c->src.sa.sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                                       : sizeof(struct sockaddr_in6);
    memset(&peer, 0, sizeof peer);
    memcpy(&peer, &c->src, peerlen);
    /* Behind PROXY, the destination the header carried. */
    struct sockaddr_storage local;
    int lf = c->pdst.sa.sa_family;
    socklen_t locallen = lf == AF_INET ? sizeof(struct sockaddr_in)
                         : lf == AF_INET6 ? sizeof(struct sockaddr_in6) : 0;
    memset(&local, 0, sizeof local);
    memcpy(&local, &c->pdst, locallen);
    int rc = exec_stream_tls(c->lsn, sv[1], &peer, peerlen, locallen ? &local : NULL, locallen,
                             &t);
    close(sv[1]);       /* the program has its own copy */
    int fl = fcntl(sv[0], F_GETFL);
    if (rc == 0 && (fl < 0 || fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) < 0))
        rc = -errno;
    if (rc == 0)
        rc = loop_add(loop_of(r), &r->w, sv[0], LOOP_READABLE, relay_event);
    if (rc < 0)
        close(sv[0]);
    else
        r->fd = sv[0];
    return rc;
}

/* Write what the client sent and the program has not taken yet; when it
 * is all out, read the client again (and pass on its EOF). */
static void push(struct relay *r)
{
    while (buf_len(&r->pend) > 0) {
        ssize_t n = send(r->fd, buf_head(&r->pend), buf_len(&r->pend),
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            buf_consume(&r->pend, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        buf_free(&r->pend);     /* the program is gone: drop it */
        break;
    }
    buf_free(&r->pend);
    conn_resume(r->c);
    if (r->client_eof)
        shutdown(r->fd, SHUT_WR);
}

/* The program's end: its output to the client, our input to it. */
static void relay_event(struct loop_watch *w, uint32_t events)
{
    struct relay *r = relay_of(w);
    static char buf[64 * 1024];
    if (events & LOOP_WRITABLE)
        push(r);
    if (events & (LOOP_READABLE | LOOP_HANGUP | LOOP_ERROR)) {
        ssize_t n = recv(w->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            superd_write(r->c, buf, (size_t)n);
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            /* The program closed its output: the connection ends once
             * what it wrote is sent. */
            loop_del(loop_of(r), w);
            superd_close(r->c);
            return;
        }
    }
    interest(r);
}

static ssize_t relay_data(struct superd_conn *c, const void *data, size_t len)
{
    struct relay *r = superd_conn_data(c);
    if (r->w.fd < 0)
        return (ssize_t)len;    /* the program has gone: its output ends it */
    if (buf_len(&r->pend) == 0) {
        ssize_t n = send(r->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n == (ssize_t)len)
            return n;
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return (ssize_t)len;        /* the program is gone: its close ends it */
        if (n < 0)
            n = 0;
        data = (const char *)data + n;
        len -= (size_t)n;
        if (buf_append(&r->pend, data, len) < 0)
            return -ENOMEM;
        conn_pause(c);
        interest(r);
        return (ssize_t)(len + (size_t)n);
    }
    if (buf_append(&r->pend, data, len) < 0)
        return -ENOMEM;
    return (ssize_t)len;
}

/* The client's close_notify: the program's EOF on stdin. */
static void relay_eof(struct superd_conn *c)
{
    struct relay *r = superd_conn_data(c);
    r->client_eof = true;
    if (r->fd >= 0 && buf_len(&r->pend) == 0)
        shutdown(r->fd, SHUT_WR);
}

static void relay_drain(struct superd_conn *c)
{
    struct relay *r = superd_conn_data(c);
    if (r->w.fd >= 0)
        interest(r);
}

static void relay_close(struct superd_conn *c)
{
    struct relay *r = superd_conn_data(c);
    if (!r)
        return;
    loop_del(loop_of(r), &r->w);
    if (r->fd >= 0)
        close(r->fd);
    buf_free(&r->pend);
    free(r);
}

const struct superd_plugin tls_relay_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "tls-relay",
    .version = "1",
    .on_open = relay_open,
    .on_data = relay_data,
    .on_eof = relay_eof,
    .on_drain = relay_drain,
    .on_close = relay_close,
};
