/*
 * forward - pass each connection or datagram on to a backend (xinetd's
 * redirect, rinetd, systemd-socket-proxyd).
 *
 * Stream: every accepted connection gets an outbound connection to one of
 * the stream backends (round-robin; when a connect fails, the next backend
 * is tried, and when all failed the client is closed at once).  The client
 * is not read until the backend has connected, so nothing it sends is lost
 * when the first backend fails.  Bytes then go both ways with back-pressure
 * both ways: while more than FWD_PAUSE_AT bytes wait for one side, the
 * other side is not read (the kernel's window slows its sender), so a peer
 * that never reads costs bounded memory.  A FIN is passed on (half-close),
 * and the pair closes when both directions have ended, or when either side
 * resets.
 *
 * Datagram: each client (sender address and the listener it reached) gets
 * a socket of its own, connected to one of the udp:// backends
 * (round-robin); its datagrams go out through it, and what the backend
 * sends back is answered to that client.  A mapping idle for
 * udp_idle_timeout is dropped; at most udp_max_clients exist per worker.
 *
 * Options (docs/forward.md):
 *   to = ADDRESS...            tcp://IPv4:PORT, tcp://[IPv6]:PORT, unix:PATH,
 *                              udp://IPv4:PORT, udp://[IPv6]:PORT (required)
 *   connect_timeout = DURATION 5s
 *   proxy_protocol = off|v1|v2 off: send the client's addresses first
 *   udp_idle_timeout = DURATION 60s
 *   udp_max_clients = N        1024 (per worker)
 */
#include <superd/plugin.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

/* Above this many bytes queued towards one side, the other is paused. */
#define FWD_PAUSE_AT (64 * 1024)
#define FWD_CONNECT_TIMEOUT_MS 5000u
#define FWD_UDP_IDLE_MS 60000u
#define FWD_UDP_MAX 1024u
#define FWD_UDP_MAX_LIMIT 1000000u
/* Datagrams read from one backend socket per readiness call. */
#define FWD_UDP_BATCH 64
#define FWD_DGRAM_MAX 65536
/* The largest PROXY header: v2 with two unix addresses. */
#define FWD_PROXY_MAX (16 + 216)

enum { PROXY_OFF = 0, PROXY_V1 = 1, PROXY_V2 = 2 };

/* One stream backend, as superd_connect() takes it. */
struct fwd_stream_target {
    char *address;
    int down; /* its last connect failed (logged once, until it works) */
};

/* One datagram backend. */
struct fwd_udp_target {
    struct sockaddr_storage sa;
    socklen_t len;
};

struct fwd_udp;

/* Per service and worker. */
struct fwd_service {
    struct superd_service *svc;
    struct fwd_stream_target *streams;
    size_t nstreams;
    struct fwd_udp_target *udps;
    size_t nudps;
    unsigned next_stream, next_udp;
    struct superd_conn_ops ops; /* with this service's connect timeout */
    int proxy;
    uint64_t udp_idle_ms;
    size_t udp_max;
    struct fwd_udp **buckets; /* mappings by client, chained */
    size_t nbuckets, nmaps;
    unsigned char *rbuf;      /* FWD_DGRAM_MAX, for backend replies */
    int warned_no_stream, warned_no_udp, warned_full;
};

/* A client connection and its backend connection.  Every connection that
 * points at it holds a reference (a failed connect attempt's until its
 * on_close), so it outlives both. */
struct fwd_pair {
    struct fwd_service *fs;
    struct superd_conn *client, *backend;
    size_t first, tried;       /* round-robin start, attempts so far */
    unsigned refs;
    unsigned char connected;   /* the backend's on_connect said 0 */
    unsigned char client_eof, backend_eof;
    unsigned char client_paused, backend_paused; /* for back-pressure */
};

/* One datagram client: its own socket to the backend. */
struct fwd_udp {
    struct fwd_udp *next;
    struct fwd_service *fs;
    uint32_t hash;
    struct sockaddr_storage peer, local;
    socklen_t peerlen, locallen;
    int fd;
    struct superd_watch *watch;
    struct superd_timer *timer;
    struct superd_dgram *held;
    unsigned char active, idle_ticks;
};

/* ---- configuration ---- */

/* Parse "HOST:PORT" with a literal IPv4 address or "[IPv6]:PORT" into sa.
 * 0, or -EINVAL. */
static int parse_hostport(const char *s, struct sockaddr_storage *sa, socklen_t *len)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *colon, *hs = s, *he;
    char *end;
    unsigned long port;

    if (*s == '[') {
        hs = s + 1;
        he = strchr(hs, ']');
        if (!he || he[1] != ':')
            return -EINVAL;
        colon = he + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -EINVAL;
        he = colon;
    }
    if ((size_t)(he - hs) >= sizeof(host) || he == hs)
        return -EINVAL;
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = '\0';
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end || errno || port == 0 || port > 65535)
        return -EINVAL;
    memset(sa, 0, sizeof(*sa));
    if (*s == '[') {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
        if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
            return -EINVAL;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*in6);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)sa;
        if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
            return -EINVAL;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        *len = sizeof(*in);
    }
    return 0;
}

/* A duration as the host writes them: 250ms, 30s, 5m, 1h; a bare number is
 * seconds.  0 and *ms, or -EINVAL (also when over `max_ms` or zero). */
static int parse_duration(const char *s, uint64_t max_ms, uint64_t *ms)
{
    char *end;
    unsigned long long n;
    uint64_t unit;

    if (*s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    n = strtoull(s, &end, 10);
    if (errno)
        return -EINVAL;
    if (strcmp(end, "ms") == 0)
        unit = 1;
    else if (*end == '\0' || strcmp(end, "s") == 0)
        unit = 1000;
    else if (strcmp(end, "m") == 0)
        unit = 60000;
    else if (strcmp(end, "h") == 0)
        unit = 3600000;
    else
        return -EINVAL;
    if (n == 0 || n > max_ms / unit)
        return -EINVAL;
    *ms = n * unit;
    return 0;
}

/* Add one word of `to`.  0, or a configuration error. */
static int add_target(struct fwd_service *fs, const char *word)
{
    struct sockaddr_storage sa;
    socklen_t len;

    if (strncmp(word, "udp://", 6) == 0) {
        struct fwd_udp_target *t;
        if (parse_hostport(word + 6, &sa, &len) < 0)
            goto bad;
        t = realloc(fs->udps, (fs->nudps + 1) * sizeof(*t));
        if (!t)
            return -ENOMEM;
        fs->udps = t;
        t[fs->nudps].sa = sa;
        t[fs->nudps].len = len;
        fs->nudps++;
        return 0;
    }
    if (strncmp(word, "tcp://", 6) == 0) {
        if (parse_hostport(word + 6, &sa, &len) < 0)
            goto bad;
    } else if (strncmp(word, "unix:", 5) == 0) {
        if (word[5] == '\0' || strlen(word + 5) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            goto bad;
    } else {
        goto bad;
    }
    {
        struct fwd_stream_target *t = realloc(fs->streams, (fs->nstreams + 1) * sizeof(*t));
        if (!t)
            return -ENOMEM;
        fs->streams = t;
        t[fs->nstreams].down = 0;
        t[fs->nstreams].address = strdup(word);
        if (!t[fs->nstreams].address)
            return -ENOMEM;
        fs->nstreams++;
    }
    return 0;
bad:
    return superd_config_error(fs->svc, "to",
                               "\"%s\" is not a backend address: tcp://IPv4:PORT, "
                               "tcp://[IPv6]:PORT, unix:PATH, udp://IPv4:PORT or "
                               "udp://[IPv6]:PORT (literal addresses: no name is looked up)",
                               word);
}

static int parse_to(struct fwd_service *fs, const char *value)
{
    char *copy = strdup(value), *save = NULL;
    int r = 0;

    if (!copy)
        return -ENOMEM;
    for (char *w = strtok_r(copy, " \t", &save); w && r == 0; w = strtok_r(NULL, " \t", &save))
        r = add_target(fs, w);
    free(copy);
    if (r == 0 && fs->nstreams + fs->nudps == 0)
        r = superd_config_error(fs->svc, "to", "names no backend");
    return r;
}

static void service_free(struct fwd_service *fs)
{
    if (!fs)
        return;
    for (size_t i = 0; i < fs->nstreams; i++)
        free(fs->streams[i].address);
    free(fs->streams);
    free(fs->udps);
    free(fs->buckets);
    free(fs->rbuf);
    free(fs);
}

static int read_options(struct fwd_service *fs)
{
    struct superd_service *svc = fs->svc;
    const char *v;
    uint64_t ms;
    char *end;
    unsigned long n;
    int r;

    v = superd_option(svc, "to");
    if (!v)
        return superd_config_error(svc, "to", "is required: the backend address(es)");
    r = parse_to(fs, v);
    if (r < 0)
        return r;
    fs->ops.connect_timeout_ms = FWD_CONNECT_TIMEOUT_MS;
    if ((v = superd_option(svc, "connect_timeout")) != NULL) {
        if (parse_duration(v, UINT32_MAX, &ms) < 0)
            return superd_config_error(svc, "connect_timeout",
                                       "\"%s\" is not a duration above 0 (250ms, 5s, 1m)", v);
        fs->ops.connect_timeout_ms = (uint32_t)ms;
    }
    v = superd_option(svc, "proxy_protocol");
    if (!v || strcmp(v, "off") == 0 || strcmp(v, "no") == 0)
        fs->proxy = PROXY_OFF;
    else if (strcmp(v, "v1") == 0)
        fs->proxy = PROXY_V1;
    else if (strcmp(v, "v2") == 0)
        fs->proxy = PROXY_V2;
    else
        return superd_config_error(svc, "proxy_protocol", "\"%s\": expected off, v1 or v2", v);
    fs->udp_idle_ms = FWD_UDP_IDLE_MS;
    if ((v = superd_option(svc, "udp_idle_timeout")) != NULL &&
        parse_duration(v, 24 * 3600000ull, &fs->udp_idle_ms) < 0)
        return superd_config_error(svc, "udp_idle_timeout",
                                   "\"%s\" is not a duration above 0 (and at most 24h)", v);
    fs->udp_max = FWD_UDP_MAX;
    if ((v = superd_option(svc, "udp_max_clients")) != NULL) {
        errno = 0;
        n = strtoul(v, &end, 10);
        if (*v < '0' || *v > '9' || *end || errno || n == 0 || n > FWD_UDP_MAX_LIMIT)
            return superd_config_error(svc, "udp_max_clients",
                                       "\"%s\": expected a number from 1 to %u", v,
                                       FWD_UDP_MAX_LIMIT);
        fs->udp_max = n;
    }
    return 0;
}

static const struct superd_conn_ops backend_ops_template;

static int fwd_init(struct superd_service *svc)
{
    struct fwd_service *fs = calloc(1, sizeof(*fs));
    int r;

    if (!fs)
        return -ENOMEM;
    fs->svc = svc;
    fs->ops = backend_ops_template;
    r = read_options(fs);
    if (r == 0 && fs->nudps) {
        fs->nbuckets = 16;
        while (fs->nbuckets < fs->udp_max && fs->nbuckets < (1u << 20))
            fs->nbuckets <<= 1;
        fs->buckets = calloc(fs->nbuckets, sizeof(*fs->buckets));
        fs->rbuf = malloc(FWD_DGRAM_MAX);
        if (!fs->buckets || !fs->rbuf)
            r = -ENOMEM;
    }
    if (r < 0) {
        service_free(fs);
        return r;
    }
    superd_service_set_data(svc, fs);
    return 0;
}

/* The host has stopped every timer, watch and held datagram of the service
 * by now: only our descriptors and memory are left. */
static void fwd_fini(struct superd_service *svc)
{
    struct fwd_service *fs = superd_service_data(svc);

    if (!fs)
        return;
    for (size_t i = 0; i < fs->nbuckets; i++) {
        struct fwd_udp *m = fs->buckets[i], *next;
        for (; m; m = next) {
            next = m->next;
            close(m->fd);
            free(m);
        }
    }
    service_free(fs);
}

/* ---- the PROXY protocol header (haproxy's proxy-protocol.txt) ---- */

static const unsigned char proxy_v2_sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };

/* An IPv4-mapped IPv6 address (a dual-stack listener) as plain IPv4. */
static void unmap_v4(struct sockaddr_storage *ss)
{
    struct sockaddr_in6 in6;
    struct sockaddr_in in;

    if (ss->ss_family != AF_INET6)
        return;
    memcpy(&in6, ss, sizeof(in6));
    if (!IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr))
        return;
    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    in.sin_port = in6.sin6_port;
    memcpy(&in.sin_addr, &in6.sin6_addr.s6_addr[12], 4);
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, &in, sizeof(in));
}

static size_t proxy_v1(const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                       int known, unsigned char *buf)
{
    char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
    int n;

    if (known && src->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const void *)src, *d = (const void *)dst;
        inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
        inet_ntop(AF_INET, &d->sin_addr, b, sizeof(b));
        n = snprintf((char *)buf, FWD_PROXY_MAX, "PROXY TCP4 %s %s %u %u\r\n", a, b,
                     ntohs(s->sin_port), ntohs(d->sin_port));
    } else if (known && src->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const void *)src, *d = (const void *)dst;
        inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
        inet_ntop(AF_INET6, &d->sin6_addr, b, sizeof(b));
        n = snprintf((char *)buf, FWD_PROXY_MAX, "PROXY TCP6 %s %s %u %u\r\n", a, b,
                     ntohs(s->sin6_port), ntohs(d->sin6_port));
    } else {
        n = snprintf((char *)buf, FWD_PROXY_MAX, "PROXY UNKNOWN\r\n");
    }
    return (size_t)n;
}

static size_t proxy_v2(const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                       int known, unsigned char *buf)
{
    unsigned char *p = buf + 16;
    size_t alen = 0;

    memcpy(buf, proxy_v2_sig, sizeof(proxy_v2_sig));
    buf[12] = 0x21; /* version 2, PROXY */
    buf[13] = 0x00; /* AF_UNSPEC: the receiver ignores the addresses */
    if (known && src->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const void *)src, *d = (const void *)dst;
        buf[13] = 0x11;
        memcpy(p, &s->sin_addr, 4);
        memcpy(p + 4, &d->sin_addr, 4);
        memcpy(p + 8, &s->sin_port, 2);
        memcpy(p + 10, &d->sin_port, 2);
        alen = 12;
    } else if (known && src->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const void *)src, *d = (const void *)dst;
        buf[13] = 0x21;
        memcpy(p, &s->sin6_addr, 16);
        memcpy(p + 16, &d->sin6_addr, 16);
        memcpy(p + 32, &s->sin6_port, 2);
        memcpy(p + 34, &d->sin6_port, 2);
        alen = 36;
    } else if (known && src->ss_family == AF_UNIX) {
        const struct sockaddr_un *s = (const void *)src, *d = (const void *)dst;
        buf[13] = 0x31;
        memcpy(p, s->sun_path, 108);
        memcpy(p + 108, d->sun_path, 108);
        alen = 216;
    }
    buf[14] = (unsigned char)(alen >> 8);
    buf[15] = (unsigned char)alen;
    return 16 + alen;
}

/* The header telling the backend who `client` is and which address it
 * reached: the host's addresses of the client (the PROXY-carried client
 * when the listener takes one). */
static size_t proxy_header(struct superd_conn *client, int version, unsigned char *buf)
{
    struct sockaddr_storage src, dst;
    socklen_t sl = sizeof(src), dl = sizeof(dst);
    int known;

    memset(&src, 0, sizeof(src));
    memset(&dst, 0, sizeof(dst));
    known = superd_conn_addr(client, SUPERD_ADDR_PEER, (struct sockaddr *)&src, &sl) == 0 &&
            superd_conn_addr(client, SUPERD_ADDR_LOCAL, (struct sockaddr *)&dst, &dl) == 0;
    if (known) {
        unmap_v4(&src);
        unmap_v4(&dst);
        known = src.ss_family == dst.ss_family;
    }
    return version == PROXY_V1 ? proxy_v1(&src, &dst, known, buf)
                               : proxy_v2(&src, &dst, known, buf);
}

/* ---- stream forwarding ---- */

static void pair_unref(struct fwd_pair *p)
{
    if (--p->refs == 0)
        free(p);
}

/* Both directions have ended: close both once their queues are out. */
static void pair_check_done(struct fwd_pair *p)
{
    if (!p->client_eof || !p->backend_eof)
        return;
    if (p->client)
        superd_close(p->client);
    if (p->backend)
        superd_close(p->backend);
}

/*
 * Open a connection to the next backend not tried yet for this client,
 * with the PROXY header queued first.  0, or the negative errno of the
 * last backend when none could even be started (a refused connect comes
 * later, to on_connect).
 */
static int pair_connect(struct fwd_pair *p)
{
    struct fwd_service *fs = p->fs;
    int err = -ECONNREFUSED;

    while (p->tried < fs->nstreams) {
        struct fwd_stream_target *t = &fs->streams[(p->first + p->tried) % fs->nstreams];
        struct superd_conn *c;

        p->tried++;
        c = superd_connect(fs->svc, t->address, &fs->ops, p);
        if (!c) {
            err = -errno;
            if (!t->down)
                superd_log(fs->svc, SUPERD_LOG_WARNING, "backend %s: %s", t->address,
                           strerror(errno));
            t->down = 1;
            continue;
        }
        p->refs++;
        p->backend = c;
        p->connected = 0;
        if (fs->proxy != PROXY_OFF && p->client) {
            unsigned char hdr[FWD_PROXY_MAX];
            size_t n = proxy_header(p->client, fs->proxy, hdr);
            if (superd_write(c, hdr, n) < 0) {
                superd_close(c);
                p->backend = NULL;
                continue;
            }
        }
        return 0;
    }
    return err;
}

static int fwd_open(struct superd_conn *client)
{
    struct fwd_service *fs = superd_service_data(superd_conn_service(client));
    struct fwd_pair *p;
    int r;

    if (fs->nstreams == 0) {
        if (!fs->warned_no_stream)
            superd_log(fs->svc, SUPERD_LOG_WARNING,
                       "a stream connection, but `to` names no tcp:// or unix: backend");
        fs->warned_no_stream = 1;
        return -EPROTONOSUPPORT;
    }
    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->fs = fs;
    p->client = client;
    p->refs = 1;
    p->first = fs->next_stream++ % fs->nstreams;
    superd_conn_set_data(client, p);
    /* Not read until a backend took the connection: what the client sends
     * meanwhile waits in the kernel, intact for the next backend. */
    superd_pause(client);
    r = pair_connect(p);
    if (r < 0)
        superd_log(fs->svc, SUPERD_LOG_DEBUG, "%s: no backend reachable: closed",
                   superd_peer(client));
    return r;
}

/* Bytes from one side to the other; pause the source while the other side
 * has more than FWD_PAUSE_AT queued. */
static ssize_t pass(struct superd_conn *from, struct superd_conn *to, unsigned char *paused,
                    const void *data, size_t len)
{
    int r;

    if (!to)
        return -EPIPE;
    r = superd_write(to, data, len);
    if (r < 0)
        return r;
    if (superd_queued(to) > FWD_PAUSE_AT && superd_pause(from) == 0)
        *paused = 1;
    return (ssize_t)len;
}

static ssize_t fwd_client_data(struct superd_conn *client, const void *data, size_t len)
{
    struct fwd_pair *p = superd_conn_data(client);

    if (!p->connected) {
        superd_pause(client);
        return 0;
    }
    return pass(client, p->backend, &p->client_paused, data, len);
}

static void fwd_client_eof(struct superd_conn *client)
{
    struct fwd_pair *p = superd_conn_data(client);

    p->client_eof = 1;
    if (p->backend && p->connected)
        superd_shutdown(p->backend);
    else if (!p->backend)
        superd_close(client);
    pair_check_done(p);
}

static void fwd_client_drain(struct superd_conn *client)
{
    struct fwd_pair *p = superd_conn_data(client);

    if (p->backend_paused && p->backend) {
        p->backend_paused = 0;
        superd_resume(p->backend);
    }
}

static void fwd_client_close(struct superd_conn *client)
{
    struct fwd_pair *p = superd_conn_data(client);

    if (!p)
        return;
    p->client = NULL;
    if (p->backend)
        superd_close(p->backend);
    pair_unref(p);
}

static void backend_connect(struct superd_conn *backend, int status)
{
    struct fwd_pair *p = superd_conn_data(backend);
    struct fwd_service *fs = p->fs;
    struct fwd_stream_target *t = &fs->streams[(p->first + p->tried - 1) % fs->nstreams];

    if (p->backend != backend)
        return;
    if (status == 0) {
        if (t->down)
            superd_log(fs->svc, SUPERD_LOG_NOTICE, "backend %s: reachable again", t->address);
        t->down = 0;
        p->connected = 1;
        if (!p->client) {
            superd_close(backend);
            return;
        }
        if (p->client_eof)
            superd_shutdown(backend);
        else
            superd_resume(p->client);
        return;
    }
    if (!t->down)
        superd_log(fs->svc, SUPERD_LOG_WARNING, "backend %s: %s", t->address,
                   strerror(-status));
    t->down = 1;
    p->backend = NULL; /* its on_close follows and drops its reference */
    if (p->client && pair_connect(p) < 0) {
        superd_log(fs->svc, SUPERD_LOG_DEBUG, "%s: no backend reachable: closed",
                   superd_peer(p->client));
        superd_close(p->client);
    }
}

static ssize_t backend_data(struct superd_conn *backend, const void *data, size_t len)
{
    struct fwd_pair *p = superd_conn_data(backend);

    return pass(backend, p->client, &p->backend_paused, data, len);
}

static void backend_eof(struct superd_conn *backend)
{
    struct fwd_pair *p = superd_conn_data(backend);

    p->backend_eof = 1;
    if (p->client)
        superd_shutdown(p->client);
    else
        superd_close(backend);
    pair_check_done(p);
}

static void backend_drain(struct superd_conn *backend)
{
    struct fwd_pair *p = superd_conn_data(backend);

    if (p->client_paused && p->client && p->connected) {
        p->client_paused = 0;
        superd_resume(p->client);
    }
}

static void backend_close(struct superd_conn *backend)
{
    struct fwd_pair *p = superd_conn_data(backend);

    if (p->backend == backend) {
        p->backend = NULL;
        if (p->client)
            superd_close(p->client);
    }
    pair_unref(p);
}

static const struct superd_conn_ops backend_ops_template = {
    .size = sizeof(struct superd_conn_ops),
    .connect_timeout_ms = FWD_CONNECT_TIMEOUT_MS,
    .on_connect = backend_connect,
    .on_data = backend_data,
    .on_eof = backend_eof,
    .on_drain = backend_drain,
    .on_close = backend_close,
};

/* ---- datagram forwarding ---- */

static uint32_t hash_bytes(uint32_t h, const void *buf, size_t len)
{
    const unsigned char *b = buf;

    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

static void udp_destroy(struct fwd_udp *m)
{
    struct fwd_service *fs = m->fs;
    struct fwd_udp **pp = &fs->buckets[m->hash & (fs->nbuckets - 1)];

    while (*pp != m)
        pp = &(*pp)->next;
    *pp = m->next;
    fs->nmaps--;
    fs->warned_full = 0;
    superd_timer_stop(m->timer);
    superd_unwatch(m->watch);
    superd_dgram_release(m->held);
    close(m->fd);
    free(m);
}

/* Every udp_idle_timeout/2: a mapping quiet for two ticks in a row (idle
 * between 1 and 1.5 udp_idle_timeout) is dropped.  No clock is read, so
 * the fake host's clock drives it too. */
static void udp_tick(struct superd_timer *timer, void *arg)
{
    struct fwd_udp *m = arg;

    (void)timer;
    if (m->active) {
        m->active = 0;
        m->idle_ticks = 0;
    } else if (++m->idle_ticks >= 2) {
        udp_destroy(m);
    }
}

/* Replies from the backend, back to the client that mapping belongs to. */
static void udp_readable(struct superd_watch *w, int fd, unsigned events, void *arg)
{
    struct fwd_udp *m = arg;
    struct fwd_service *fs = m->fs;

    (void)w;
    (void)events;
    for (int i = 0; i < FWD_UDP_BATCH; i++) {
        ssize_t n = recv(fd, fs->rbuf, FWD_DGRAM_MAX, 0);
        if (n < 0) {
            if (errno == EINTR || errno == ECONNREFUSED)
                continue; /* an ICMP error of an earlier datagram */
            break;
        }
        m->active = 1;
        (void)superd_reply(m->held, fs->rbuf, (size_t)n);
    }
}

static struct fwd_udp *udp_new(struct fwd_service *fs, struct superd_dgram *dgram,
                               const struct sockaddr_storage *peer, socklen_t peerlen,
                               const struct sockaddr_storage *local, socklen_t locallen,
                               uint32_t hash)
{
    const struct fwd_udp_target *t = &fs->udps[fs->next_udp++ % fs->nudps];
    uint64_t tick = fs->udp_idle_ms / 2 ? fs->udp_idle_ms / 2 : 1;
    struct fwd_udp *m = calloc(1, sizeof(*m));

    if (!m)
        return NULL;
    m->fs = fs;
    m->hash = hash;
    m->peer = *peer;
    m->peerlen = peerlen;
    m->local = *local;
    m->locallen = locallen;
    m->fd = socket(t->sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (m->fd < 0)
        goto fail;
    if (connect(m->fd, (const struct sockaddr *)&t->sa, t->len) < 0)
        goto fail;
    m->held = superd_dgram_hold(dgram);
    if (!m->held)
        goto fail;
    m->watch = superd_watch(fs->svc, m->fd, SUPERD_READABLE, udp_readable, m);
    if (!m->watch)
        goto fail;
    m->timer = superd_timer_start(fs->svc, tick, tick, udp_tick, m);
    if (!m->timer)
        goto fail;
    m->next = fs->buckets[hash & (fs->nbuckets - 1)];
    fs->buckets[hash & (fs->nbuckets - 1)] = m;
    fs->nmaps++;
    return m;
fail:
    superd_log(fs->svc, SUPERD_LOG_WARNING, "%s: no socket to the backend: %s",
               superd_dgram_peer(dgram), strerror(errno));
    superd_unwatch(m->watch);
    superd_dgram_release(m->held);
    if (m->fd >= 0)
        close(m->fd);
    free(m);
    return NULL;
}

static void fwd_datagram(struct superd_service *svc, struct superd_dgram *dgram,
                         const void *data, size_t len)
{
    struct fwd_service *fs = superd_service_data(svc);
    struct sockaddr_storage peer, local;
    socklen_t peerlen = sizeof(peer), locallen = sizeof(local);
    struct fwd_udp *m;
    uint32_t hash;

    if (fs->nudps == 0) {
        if (!fs->warned_no_udp)
            superd_log(svc, SUPERD_LOG_WARNING,
                       "a datagram, but `to` names no udp:// backend: dropped");
        fs->warned_no_udp = 1;
        return;
    }
    /* Zeroed first, so that the bytes compared below are only the
     * address's own. */
    memset(&peer, 0, sizeof(peer));
    memset(&local, 0, sizeof(local));
    if (superd_dgram_addr(dgram, SUPERD_ADDR_PEER, (struct sockaddr *)&peer, &peerlen) < 0 ||
        superd_dgram_addr(dgram, SUPERD_ADDR_LOCAL, (struct sockaddr *)&local, &locallen) < 0)
        return;
    hash = hash_bytes(hash_bytes(2166136261u, &peer, peerlen), &local, locallen);
    for (m = fs->buckets[hash & (fs->nbuckets - 1)]; m; m = m->next)
        if (m->hash == hash && m->peerlen == peerlen && m->locallen == locallen &&
            memcmp(&m->peer, &peer, peerlen) == 0 && memcmp(&m->local, &local, locallen) == 0)
            break;
    if (!m) {
        if (fs->nmaps >= fs->udp_max) {
            if (!fs->warned_full)
                superd_log(svc, SUPERD_LOG_WARNING,
                           "udp_max_clients (%zu) reached: datagrams of new clients dropped",
                           fs->udp_max);
            fs->warned_full = 1;
            return;
        }
        m = udp_new(fs, dgram, &peer, peerlen, &local, locallen, hash);
        if (!m)
            return;
    }
    m->active = 1;
    (void)send(m->fd, data, len, MSG_DONTWAIT); /* dropped when full, as UDP may */
}

/*
 * The client's on_eof/on_drain and the backend's are different functions,
 * so that each knows which side it serves without a look-up.
 */
SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "forward",
    .version = "1.0",
    .init = fwd_init,
    .fini = fwd_fini,
    .on_open = fwd_open,
    .on_data = fwd_client_data,
    .on_eof = fwd_client_eof,
    .on_drain = fwd_client_drain,
    .on_close = fwd_client_close,
    .on_datagram = fwd_datagram,
};
