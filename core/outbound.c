/* outbound.c - superd_connect (ABI 1.1): a stream connection the plugin
 * opens, to an address literal, served by conn.c like an accepted one.
 * Nothing here blocks: no name is looked up, and connect() is
 * non-blocking (its end arrives through the loop, see conn_outbound). */
#define SUPERD_HOST_BUILD 1   /* the definitions, not the plugins' weak references */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <superd/plugin.h>

#include "abi.h"
#include "addr.h"
#include "conn.h"
#include "service.h"

#if SUPERD_HOST_ABI_MINOR >= 1

/* The connect timeout when the ops give none. */
#define CONNECT_TIMEOUT_MS 10000

/* One outbound connection: the connection first (conn_reap frees it),
 * then the host's copy of the plugin's ops, zero past their `size`. */
struct outbound {
    struct superd_conn c;
    struct superd_conn_ops ops;
};

/* "tcp://A.B.C.D:PORT", "tcp://[V6]:PORT" or "unix:PATH" ("unix:@NAME":
 * abstract) as a socket address.  Literals only.  Returns 0 or -EINVAL. */
static int parse(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    if (strncmp(text, "unix:", 5) == 0) {
        struct sockaddr_un *sun = (struct sockaddr_un *)ss;
        const char *path = text + 5;
        size_t n = strlen(path);
        if (n == 0 || n >= sizeof sun->sun_path)
            return -EINVAL;
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, path, n);
        if (path[0] == '@')
            sun->sun_path[0] = '\0';
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] != '@'));
        return 0;
    }
    if (strncmp(text, "tcp://", 6) != 0)
        return -EINVAL;
    text += 6;
    const char *colon = strrchr(text, ':');
    char host[INET6_ADDRSTRLEN + 2];
    if (!colon || (size_t)(colon - text) >= sizeof host)
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || port == 0 || port > 65535 || errno ||
        colon[1] < '0' || colon[1] > '9')
        return -EINVAL;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    size_t hl = strlen(host);
    if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        host[hl - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1)
            return -EINVAL;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof *in6;
        return 0;
    }
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
        return -EINVAL;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    *len = sizeof *in;
    return 0;
}

/* The ops as the host reads them: only the `size` bytes the plugin was
 * built with, the rest zero.  Returns false when too small to be ops. */
static bool copy_ops(struct superd_conn_ops *to, const struct superd_conn_ops *from)
{
    memset(to, 0, sizeof *to);
    if (from->size < offsetof(struct superd_conn_ops, on_connect))
        return false;
    memcpy(to, from, from->size < sizeof *to ? from->size : sizeof *to);
    return true;
}

/*
 * Open a connection to `address` for `svc`.  See <superd/plugin.h>: NULL
 * with errno set (EINVAL: a bad address or ops, or a service with no
 * loop), with no callback to follow; otherwise on_connect and on_close
 * follow, after the calling callback returns.  A connect refused at once
 * (a unix socket with no listener) is reported the same way as a later
 * refusal, through on_connect.
 */
struct superd_conn *superd_connect(struct superd_service *svc, const char *address,
                                   const struct superd_conn_ops *ops, void *data)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (!svc || !svc->srv || !address || !ops || parse(address, &ss, &sslen) < 0) {
        errno = EINVAL;
        return NULL;
    }
    struct outbound *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    if (!copy_ops(&o->ops, ops)) {
        free(o);
        errno = EINVAL;
        return NULL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        free(o);
        errno = e;
        return NULL;
    }
    struct superd_conn *c = &o->c;
    c->srv = svc->srv;
    c->svc = svc;
    c->ops = &o->ops;
    c->data = data;
    if (ss.ss_family == AF_UNIX) {
        snprintf(c->peer, sizeof c->peer, "%s", address);
    } else {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        memcpy(&c->src, &ss, sslen);    /* superd_peer formats it */
    }
    int err = 0;
    if (connect(fd, (struct sockaddr *)&ss, sslen) < 0 && errno != EINPROGRESS)
        err = -errno;
    uint32_t ms = o->ops.connect_timeout_ms ? o->ops.connect_timeout_ms : CONNECT_TIMEOUT_MS;
    int r = conn_outbound(c, fd, err, ms);
    if (r < 0) {
        close(fd);
        free(o);
        errno = -r;
        return NULL;
    }
    return c;
}

#endif
