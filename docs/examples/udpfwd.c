/*
 * udpfwd - a UDP request forwarder: each datagram a client sends goes to
 * the backend from a socket of its own, and the backend's first answer
 * goes back to that client, later, from another callback.  A request the
 * backend does not answer within `timeout` is forgotten.  What a DNS or
 * syslog relay does.
 *
 * Shows superd_dgram_hold/superd_reply/superd_dgram_release (answering
 * after on_datagram has returned), superd_watch on a descriptor the plugin
 * owns, and a one-shot timer (ABI 1.1).
 *
 * Options:
 *   to = A.B.C.D:PORT   the backend (an IPv4 literal), required
 *   timeout = MS        how long to wait for its answer (default 2000)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <superd/plugin.h>

struct udpfwd {
    struct sockaddr_in to;
    unsigned long timeout;
    struct request *requests;       /* in flight: fini() frees them */
};

/* One request in flight. */
struct request {
    struct udpfwd *f;
    struct superd_dgram *client;    /* held: answered later */
    int fd;                         /* our socket to the backend */
    struct superd_watch *watch;
    struct superd_timer *timer;
    struct request *prev, *next;
};

static int udpfwd_init(struct superd_service *svc)
{
    const char *to = superd_option(svc, "to");
    const char *timeout = superd_option(svc, "timeout");
    struct udpfwd *f = calloc(1, sizeof *f);
    char host[INET_ADDRSTRLEN];
    unsigned port;
    char extra;

    if (f == NULL)
        return -ENOMEM;
    superd_service_set_data(svc, f);    /* fini() frees it, also on failure */
    f->to.sin_family = AF_INET;
    if (to == NULL || sscanf(to, "%15[0-9.]:%u%c", host, &port, &extra) != 2 ||
        port == 0 || port > 65535 || inet_pton(AF_INET, host, &f->to.sin_addr) != 1)
        return superd_config_error(svc, "to", "wants A.B.C.D:PORT");
    f->to.sin_port = htons((uint16_t)port);
    f->timeout = timeout != NULL ? strtoul(timeout, NULL, 10) : 2000;
    if (f->timeout == 0)
        return superd_config_error(svc, "timeout", "wants a number of ms above 0");
    return 0;
}

/* The request is over, answered or not: let everything of it go. */
static void request_end(struct request *r)
{
    superd_unwatch(r->watch);
    superd_timer_stop(r->timer);    /* safe from its own callback */
    superd_dgram_release(r->client);
    if (r->fd >= 0)
        close(r->fd);
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        r->f->requests = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    free(r);
}

/* The backend answered: pass the answer on to the client. */
static void answered(struct superd_watch *w, int fd, unsigned events, void *arg)
{
    struct request *r = arg;
    char buf[65536];
    ssize_t n = recv(fd, buf, sizeof buf, 0);

    (void)w;
    (void)events;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;                     /* level-triggered: called again */
    if (n >= 0)
        superd_reply(r->client, buf, (size_t)n);
    request_end(r);
}

static void timed_out(struct superd_timer *t, void *arg)
{
    (void)t;
    request_end(arg);
}

static void udpfwd_datagram(struct superd_service *svc, struct superd_dgram *dgram,
                            const void *data, size_t len)
{
    struct udpfwd *f = superd_service_data(svc);
    struct request *r = calloc(1, sizeof *r);

    if (r == NULL)
        return;                     /* dropped, as UDP may */
    r->f = f;
    r->next = f->requests;
    if (f->requests != NULL)
        f->requests->prev = r;
    f->requests = r;
    r->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (r->fd < 0 || connect(r->fd, (struct sockaddr *)&f->to, sizeof f->to) < 0 ||
        send(r->fd, data, len, 0) < 0 ||
        (r->client = superd_dgram_hold(dgram)) == NULL ||
        (r->watch = superd_watch(svc, r->fd, SUPERD_READABLE, answered, r)) == NULL ||
        (r->timer = superd_timer_start(svc, f->timeout, 0, timed_out, r)) == NULL) {
        superd_log(svc, SUPERD_LOG_WARNING, "request from %s dropped: %s",
                   superd_dgram_peer(dgram), strerror(errno));
        request_end(r);
    }
}

/* The host has released every watch, timer and held datagram by now; the
 * sockets and memory are ours to free. */
static void udpfwd_fini(struct superd_service *svc)
{
    struct udpfwd *f = superd_service_data(svc);

    while (f != NULL && f->requests != NULL) {
        struct request *r = f->requests;
        f->requests = r->next;
        if (r->fd >= 0)
            close(r->fd);
        free(r);
    }
    free(f);
}

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "udpfwd",
    .version = "1.0",
    .init = udpfwd_init,
    .fini = udpfwd_fini,
    .on_datagram = udpfwd_datagram,
};
