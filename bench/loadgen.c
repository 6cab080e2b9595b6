/*
 * loadgen.c - superd's load generator: one process, one epoll loop, every
 * socket non-blocking.
 *
 *   loadgen -m MODE -a ADDRESS [options]
 *
 * Modes (ADDRESS is tcp://HOST:PORT, udp://HOST:PORT, unix:PATH or
 * unix-dgram:PATH; HOST an IPv4 literal or a bracketed IPv6 literal):
 *   echo     -c conns persistent connections, each sending a -s byte
 *            request and waiting for it to come back whole (verified),
 *            again and again: requests/s, MB/s, latency p50/p99
 *   connect  -c slots, each: connect, send -s bytes, read them back,
 *            close, again; tcp4 clients bind to 127.0.0.2 ... (-S of them)
 *   daytime  -c slots, each: connect, read until the server closes, check
 *            the line, close, again (source addresses as for connect)
 *   udp      -c sockets, each keeping -w datagrams of -s bytes outstanding;
 *            a datagram not answered within 50 ms counts as lost
 *   discard  -c connections writing -s byte chunks as fast as the server
 *            reads them; at the end the client half-closes and waits for
 *            the server's close, so every byte counted was read
 *   stream   -c connections writing and reading at once through an echo
 *            server, verifying every byte: MB/s
 *            (discard and stream count an operation per -s bytes)
 *   idle     -n connections opened (-c at a time), each echoing -s bytes
 *            once (0: none) to prove the server serves it, then held until
 *            SIGTERM/SIGINT/SIGUSR1 or -d; -R FILE is written when all
 *            are open
 *   probe    connect until it works or -d passes (waiting for a server)
 *   spawn    run the command after `--`, print the time until its stderr
 *            shows -r PATTERN (then SIGTERM it), or until it exits
 *   tree     print the number, total RSS and CPU ticks of the -p
 *            processes and their descendants
 *
 * TLS (OpenSSL): a tls://HOST:PORT address is a TCP one on which every
 * connection first does a TLS handshake (no certificate check: loopback
 * only), then the mode's traffic through it, and ends with close_notify.
 * In connect mode each cycle is a full handshake; with -T the slot keeps
 * the session the server gave it (a TLS 1.3 ticket, or a TLS 1.2 one) and
 * offers it on its next connection, so cycles are resumed handshakes
 * (resumed=N counts those the server accepted).  echo, stream and idle
 * run on persistent TLS connections.
 *
 * Every run is bounded by -d (default 3s; 500ms, 2s, 1m) and prints one
 * line of key=value pairs.  -p PID (repeatable) names a server process:
 * the CPU time (utime+stime) of it and every descendant, alive or reaped,
 * is read from /proc before and after the measured window and reported
 * per operation.  -N stops after that many operations.  -l LABEL is
 * echoed first on the line.  Only loopback and unix sockets are meant as
 * targets.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum mode {
    M_ECHO, M_CONNECT, M_DAYTIME, M_UDP, M_DISCARD, M_STREAM, M_IDLE, M_PROBE, M_SPAWN, M_TREE
};
static const char *const mode_names[] = {
    "echo", "connect", "daytime", "udp", "discard", "stream", "idle", "probe", "spawn", "tree",
};

enum kind { K_TCP, K_UDP, K_UNIX, K_UNIX_DGRAM };

/* The pattern every payload is cut from: byte i is i % PAT_PERIOD, so a
 * payload starting at offset o is checked with one memcmp against pat+o. */
#define PAT_PERIOD 251
#define CHUNK_MAX (256 * 1024)
#define DGRAM_MAX 65536
/* A datagram with no answer for this long is counted as lost. */
#define UDP_TIMEOUT_NS (50LL * 1000000)
/* How long stream connections may take to come up before the run starts
 * anyway, and how long a half-closed discard run waits for the server. */
#define SETUP_NS (5LL * 1000000000)
#define DRAIN_NS (2LL * 1000000000)
/* How long requests and cycles under way at the end may finish. */
#define FINISH_NS (500LL * 1000000)
/* Let the server finish what the last operations left (and a forking
 * server reap its children) before its CPU time is read again. */
#define SETTLE_US 150000
/* In stream mode, how far the writer may run ahead of what came back. */
#define STREAM_AHEAD (1024 * 1024)
#define MAX_PIDS 16
#define MAX_SRCS 250

static struct {
    enum mode mode;
    enum kind kind;
    struct sockaddr_storage sa;
    socklen_t salen;
    const char *addr;
    int conns;
    size_t size;
    long long dur_ns;
    int window;
    int nsrc;
    int nidle;
    pid_t pids[MAX_PIDS];
    int npids;
    uint64_t max_ops;
    const char *ready_file;
    const char *pattern;
    const char *label;
    char **cmd;
    bool tls;               /* tls:// address */
    bool resume;            /* -T: offer each slot's last session again */
} o;

/* One client socket and its progress. */
struct sk {
    int fd;
    int id;
    int state;
    uint32_t events;        /* current epoll interest */
    size_t sent, got;       /* of the current request, or of the stream */
    size_t off;             /* where the current request starts in pat */
    uint64_t req;
    long long t0;
    uint64_t next_seq, base_seq;   /* udp */
    int inflight;
    long long last_rx;
    char line[64];          /* daytime: the end of what came */
    size_t linelen;
    SSL *ssl;               /* tls:// only */
    SSL_SESSION *sess;      /* -T: the last session the server gave */
};

enum { S_DOWN, S_CONNECTING, S_READY, S_BUSY, S_HELD, S_DRAINING };

static int epfd = -1, sigfd = -1;
static unsigned char *pat;
static unsigned char rbuf[CHUNK_MAX];
static struct sk *sks;
static int nsks;
static bool running, stopping, interrupted;
static int interrupt_sig;   /* the signal that ended the run, if one did */
static long long t_start, t_stop, t_end;
static uint64_t ops, errors, lost, late, bytes_in, bytes_out, nconnects;
static int nconnected, nheld, nsrc_next;
static SSL_CTX *tls_ctx;
static uint64_t nresumed;

/* ---- time, histogram ---- */

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Log-linear histogram of nanoseconds: 32 buckets per power of two, so a
 * percentile is within about 3 %. */
#define H_SUB 32
static uint64_t hist[64 * H_SUB];
static uint64_t hist_n;

static void hist_add(long long ns)
{
    uint64_t v = ns > 0 ? (uint64_t)ns : 1;
    int msb = 63 - __builtin_clzll(v);
    int idx;
    if (msb < 5)
        idx = (int)v;
    else
        idx = (msb - 4) * H_SUB + (int)((v >> (msb - 5)) & (H_SUB - 1));
    hist[idx]++;
    hist_n++;
}

static double hist_pct(double p)
{
    if (!hist_n)
        return 0;
    uint64_t want = (uint64_t)(p * (double)hist_n + 0.5), seen = 0;
    if (want < 1)
        want = 1;
    for (int idx = 0; idx < 64 * H_SUB; idx++) {
        seen += hist[idx];
        if (seen < want)
            continue;
        if (idx < H_SUB)
            return idx;
        int msb = idx / H_SUB + 4;
        uint64_t lo = ((uint64_t)H_SUB + (uint64_t)(idx % H_SUB)) << (msb - 5);
        return (double)lo + (double)(1ULL << (msb - 5)) / 2;
    }
    return 0;
}

/* ---- server CPU from /proc ---- */

struct pinfo {
    pid_t pid, ppid;
    long long ticks;        /* utime+stime+cutime+cstime */
};

static int read_stat(pid_t pid, struct pinfo *pi)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* The command may hold spaces and parentheses: start after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p += 2;
    long long f[20];
    int nf = 0;
    char state;
    if (sscanf(p, "%c", &state) != 1)
        return -1;
    p += 2;
    while (nf < 20 && *p) {
        char *end;
        f[nf++] = strtoll(p, &end, 10);
        if (end == p)
            break;
        p = end;
        while (*p == ' ')
            p++;
    }
    /* After the state: ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime cutime cstime. */
    if (nf < 14)
        return -1;
    pi->pid = pid;
    pi->ppid = (pid_t)f[0];
    pi->ticks = f[10] + f[11] + f[12] + f[13];
    return 0;
}

static long long read_rss_kb(pid_t pid)
{
    char path[64], line[256];
    long long kb = 0;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %lld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* CPU ticks of the -p processes and all their descendants: the live ones'
 * own time plus what they collected from children they reaped.  With
 * rss_kb, also the sum of their resident sizes, and with npids their
 * number.  Returns -1 when no -p was given. */
static long long tree_scan(long long *rss_kb, int *npids)
{
    if (!o.npids)
        return -1;
    size_t cap = 1024, n = 0;
    struct pinfo *v = malloc(cap * sizeof *v);
    DIR *d = opendir("/proc");
    if (!v || !d) {
        free(v);
        if (d)
            closedir(d);
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        if (n == cap) {
            struct pinfo *nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv)
                break;
            v = nv;
            cap *= 2;
        }
        if (read_stat((pid_t)atoi(de->d_name), &v[n]) == 0)
            n++;
    }
    closedir(d);
    /* Mark the tree: a few passes over the list reach every depth. */
    char *in = calloc(n ? n : 1, 1);
    long long sum = 0;
    if (in) {
        for (size_t i = 0; i < n; i++)
            for (int k = 0; k < o.npids; k++)
                if (v[i].pid == o.pids[k])
                    in[i] = 1;
        bool grew = true;
        while (grew) {
            grew = false;
            for (size_t i = 0; i < n; i++) {
                if (in[i])
                    continue;
                for (size_t j = 0; j < n; j++)
                    if (in[j] && v[j].pid == v[i].ppid) {
                        in[i] = 1;
                        grew = true;
                        break;
                    }
            }
        }
        for (size_t i = 0; i < n; i++) {
            if (!in[i])
                continue;
            sum += v[i].ticks;
            if (rss_kb)
                *rss_kb += read_rss_kb(v[i].pid);
            if (npids)
                (*npids)++;
        }
    }
    free(in);
    free(v);
    return sum;
}

static long long tree_ticks(void)
{
    return tree_scan(NULL, NULL);
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- options ---- */

static void usage(int status)
{
    fprintf(status ? stderr : stdout,
            "usage: loadgen -m MODE -a ADDRESS [-c N] [-s BYTES] [-d DURATION] [-w N]\n"
            "               [-S N] [-n N] [-N OPS] [-p PID]... [-R FILE] [-l LABEL]\n"
            "       loadgen -m spawn [-r PATTERN] [-d DURATION] -- COMMAND [ARG]...\n"
            "       loadgen -m tree -p PID...\n"
            "modes: echo connect daytime udp discard stream idle probe spawn tree\n"
            "addresses: tcp://127.0.0.1:7 tcp://[::1]:7 tls://127.0.0.1:7443 udp://...\n"
            "           unix:PATH unix-dgram:PATH  (-T: resume TLS sessions)\n");
    exit(status);
}

static long long parse_duration(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    if (!strcmp(end, "ms"))
        return (long long)(v * 1e6);
    if (!strcmp(end, "s") || !*end)
        return (long long)(v * 1e9);
    if (!strcmp(end, "m"))
        return (long long)(v * 60e9);
    return -1;
}

static int parse_addr(const char *s)
{
    const char *rest;
    memset(&o.sa, 0, sizeof o.sa);
    if (!strncmp(s, "unix:", 5) || !strncmp(s, "unix-dgram:", 11)) {
        o.kind = s[4] == ':' ? K_UNIX : K_UNIX_DGRAM;
        rest = strchr(s, ':') + 1;
        struct sockaddr_un *un = (struct sockaddr_un *)&o.sa;
        size_t len = strlen(rest);
        if (len == 0 || len >= sizeof un->sun_path)
            return -1;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, rest, len);
        if (rest[0] == '@')
            un->sun_path[0] = '\0';
        o.salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (rest[0] != '@'));
        return 0;
    }
    if (!strncmp(s, "tls://", 6))
        o.tls = true;
    if (!strncmp(s, "tcp://", 6) || o.tls)
        o.kind = K_TCP;
    else if (!strncmp(s, "udp://", 6))
        o.kind = K_UDP;
    else
        return -1;
    rest = s + 6;
    char host[64];
    const char *colon;
    if (rest[0] == '[') {
        const char *rb = strchr(rest, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - rest - 1) >= sizeof host)
            return -1;
        memcpy(host, rest + 1, (size_t)(rb - rest - 1));
        host[rb - rest - 1] = '\0';
        colon = rb + 1;
    } else {
        colon = strrchr(rest, ':');
        if (!colon || (size_t)(colon - rest) >= sizeof host)
            return -1;
        memcpy(host, rest, (size_t)(colon - rest));
        host[colon - rest] = '\0';
    }
    long port = strtol(colon + 1, NULL, 10);
    if (port <= 0 || port > 65535)
        return -1;
    struct sockaddr_in *in4 = (struct sockaddr_in *)&o.sa;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&o.sa;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        o.salen = sizeof *in4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        o.salen = sizeof *in6;
        return 0;
    }
    return -1;
}

static bool is_stream(void)
{
    return o.kind == K_TCP || o.kind == K_UNIX;
}

/* ---- sockets ---- */

static void set_events(struct sk *s, uint32_t ev)
{
    if (s->events == ev)
        return;
    struct epoll_event e = { .events = ev, .data.ptr = s };
    epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &e);
    s->events = ev;
}

static void sk_close(struct sk *s)
{
    if (s->ssl) {
        /* close_notify, once and without waiting for the peer's. */
        if (s->fd >= 0 && !(SSL_get_shutdown(s->ssl) & SSL_SENT_SHUTDOWN))
            SSL_shutdown(s->ssl);
        SSL_free(s->ssl);
        s->ssl = NULL;
    }
    if (s->fd >= 0)
        close(s->fd);   /* also leaves the epoll set: the fd is ours alone */
    if (s->state == S_READY || s->state == S_BUSY || s->state == S_HELD)
        nconnected--;
    if (s->state == S_HELD)
        nheld--;
    s->fd = -1;
    s->state = S_DOWN;
    s->events = 0;
}

/* Source address for tcp4 clients: 127.0.0.2, .3, ... in turn, so the
 * 4-tuples (and TIME_WAIT) spread over -S addresses. */
static void bind_source(int fd)
{
    if (o.nsrc <= 0 || o.sa.ss_family != AF_INET || o.kind != K_TCP)
        return;
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = { .sin_family = AF_INET };
    src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(nsrc_next++ % o.nsrc));
    bind(fd, (struct sockaddr *)&src, sizeof src);
}

/* Start a non-blocking connect; the socket reports writable once it is
 * up (or an error).  Returns -1 when it failed at once. */
static int sk_connect(struct sk *s, uint32_t ev)
{
    int type = (is_stream() ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC;
    s->fd = socket(o.sa.ss_family, type, 0);
    if (s->fd < 0)
        return -1;
    if (o.kind == K_TCP) {
        int one = 1;
        setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        bind_source(s->fd);
    } else if (o.kind == K_UNIX_DGRAM) {
        /* Autobind to an abstract name, so the server can answer. */
        sa_family_t fam = AF_UNIX;
        bind(s->fd, (struct sockaddr *)&fam, sizeof fam);
    }
    nconnects++;
    if (connect(s->fd, (struct sockaddr *)&o.sa, o.salen) < 0 && errno != EINPROGRESS) {
        /* A unix listener's full backlog: not an error, try again. */
        int again = errno == EAGAIN;
        close(s->fd);
        s->fd = -1;
        return again ? -2 : -1;
    }
    struct epoll_event e = { .events = ev, .data.ptr = s };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &e) < 0) {
        close(s->fd);
        s->fd = -1;
        return -1;
    }
    s->events = ev;
    s->state = S_CONNECTING;
    s->sent = s->got = 0;
    s->linelen = 0;
    s->t0 = now_ns();
    return 0;
}

/* The TLS handshake, step by step: true once it is done; false while it
 * waits (the socket then waits for what OpenSSL wants) or when it failed
 * (the socket is closed). */
static bool tls_step(struct sk *s)
{
    if (!s->ssl) {
        s->ssl = SSL_new(tls_ctx);
        if (!s->ssl || !SSL_set_fd(s->ssl, s->fd))
            goto fail;
        SSL_set_app_data(s->ssl, s);
        /* A copy: offering the same SSL_SESSION object again after it
         * resumed a TLS 1.3 handshake gives a full one (seen with
         * OpenSSL 3.0), and a server that issues no new ticket on
         * resumption (superd) would get every other cycle full. */
        if (o.resume && s->sess) {
            SSL_SESSION *copy = SSL_SESSION_dup(s->sess);
            if (copy) {
                SSL_set_session(s->ssl, copy);
                SSL_SESSION_free(copy);
            }
        }
    }
    ERR_clear_error();
    int r = SSL_connect(s->ssl);
    if (r == 1) {
        if (running && SSL_session_reused(s->ssl))
            nresumed++;
        return true;
    }
    switch (SSL_get_error(s->ssl, r)) {
    case SSL_ERROR_WANT_READ: set_events(s, EPOLLIN); return false;
    case SSL_ERROR_WANT_WRITE: set_events(s, EPOLLOUT); return false;
    default: break;
    }
fail:
    ERR_clear_error();
    errors++;
    sk_close(s);
    return false;
}

/* -T: keep the newest session the server gives a slot (TLS 1.3 sends
 * its tickets after the handshake: they come with the first reads). */
static int tls_new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct sk *s = SSL_get_app_data(ssl);
    if (!s || !o.resume)
        return 0;
    if (s->sess)
        SSL_SESSION_free(s->sess);
    s->sess = sess;
    return 1;   /* ours now */
}

static int tls_init(void)
{
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (!tls_ctx)
        return -1;
    SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
    /* A peer that closes without close_notify reads as an end of file. */
    SSL_CTX_set_options(tls_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                     SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_CLIENT |
                                   SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(tls_ctx, tls_new_session);
    return 0;
}

/* send() and recv() for plain and TLS sockets alike: n > 0, 0 at the end
 * of the stream, or -1 with errno (EAGAIN: try again on the next event;
 * the socket's epoll interest already says which). */
static ssize_t io_send(struct sk *s, const void *buf, size_t len)
{
    if (!s->ssl)
        return send(s->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    size_t n = 0;
    ERR_clear_error();
    if (SSL_write_ex(s->ssl, buf, len, &n))
        return (ssize_t)n;
    int e = SSL_get_error(s->ssl, 0);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
        errno = EAGAIN;     /* WANT_READ: rare (a key update); EPOLLIN is asked too */
        return -1;
    }
    errno = EPIPE;
    return -1;
}

static ssize_t io_recv(struct sk *s, void *buf, size_t len)
{
    if (!s->ssl)
        return recv(s->fd, buf, len, MSG_DONTWAIT);
    size_t n = 0;
    ERR_clear_error();
    if (SSL_read_ex(s->ssl, buf, len, &n))
        return (ssize_t)n;
    int e = SSL_get_error(s->ssl, 0);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        errno = EAGAIN;
        return -1;
    }
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    errno = ECONNRESET;
    return -1;
}

static bool connect_done(struct sk *s, uint32_t events)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err ||
        (events & EPOLLERR) || (!s->ssl && (events & EPOLLHUP))) {
        errors++;
        sk_close(s);
        return false;
    }
    if (o.tls && !tls_step(s))
        return false;
    s->state = S_READY;
    nconnected++;
    return true;
}

static bool ops_full(void)
{
    return o.max_ops && ops >= o.max_ops;
}

/* ---- echo: request/response on persistent connections ---- */

/* Send what is left of the current request; returns -1 on error. */
static int send_more(struct sk *s, size_t total)
{
    while (s->sent < total) {
        ssize_t n = io_send(s, pat + s->off + s->sent, total - s->sent);
        if (n > 0) {
            s->sent += (size_t)n;
            bytes_out += (uint64_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_events(s, EPOLLIN | EPOLLOUT);
            return 0;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return -1;
    }
    set_events(s, EPOLLIN);
    return 0;
}

static void echo_request(struct sk *s)
{
    s->state = S_BUSY;
    s->sent = s->got = 0;
    s->off = ((size_t)s->id * 7 + (size_t)s->req * 13) % PAT_PERIOD;
    s->t0 = now_ns();
    if (send_more(s, o.size) < 0) {
        errors++;
        sk_close(s);
    }
}

static void echo_event(struct sk *s, uint32_t events)
{
    if (s->state == S_CONNECTING) {
        if (connect_done(s, events)) {
            set_events(s, EPOLLIN);
            if (running)
                echo_request(s);
            else if (stopping)
                sk_close(s);
        }
        return;
    }
    if ((events & EPOLLOUT) && s->state == S_BUSY && send_more(s, o.size) < 0) {
        errors++;
        sk_close(s);
        return;
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    size_t want = s->state == S_BUSY ? o.size - s->got : sizeof rbuf;
    if (want > sizeof rbuf)
        want = sizeof rbuf;
    ssize_t n = io_recv(s, rbuf, want);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0 || s->state != S_BUSY ||
        memcmp(rbuf, pat + s->off + s->got, (size_t)n) != 0) {
        /* Closed, failed, unasked bytes, or the wrong bytes. */
        errors++;
        sk_close(s);
        return;
    }
    s->got += (size_t)n;
    bytes_in += (uint64_t)n;
    if (s->got < o.size)
        return;
    s->req++;
    s->state = S_READY;
    if (!running) {
        sk_close(s);            /* the run is over: this one was draining */
        return;
    }
    ops++;
    hist_add(now_ns() - s->t0);
    if (!ops_full())
        echo_request(s);
}

/* ---- connect-echo-close and daytime ---- */

static void cycle_start(struct sk *s)
{
    uint32_t ev = o.mode == M_DAYTIME ? EPOLLIN : EPOLLOUT;
    if (sk_connect(s, ev) == -1)
        errors++;
}

static void cycle_end(struct sk *s, bool ok)
{
    if (!running)
        ;               /* finished after the end: not counted either way */
    else if (ok) {
        ops++;
        hist_add(now_ns() - s->t0);
    } else {
        errors++;
    }
    sk_close(s);
    /* Restarted by the main loop, with the other idle slots. */
}

static void connect_event(struct sk *s, uint32_t events)
{
    if (s->state == S_CONNECTING) {
        if (!connect_done(s, events))
            return;
        s->state = S_BUSY;
        s->off = ((size_t)s->id * 7 + (size_t)nconnects * 13) % PAT_PERIOD;
        if (send_more(s, o.size) < 0)
            cycle_end(s, false);
        return;
    }
    if ((events & EPOLLOUT) && send_more(s, o.size) < 0) {
        cycle_end(s, false);
        return;
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    ssize_t n = io_recv(s, rbuf, o.size - s->got);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0 || memcmp(rbuf, pat + s->off + s->got, (size_t)n) != 0) {
        cycle_end(s, false);
        return;
    }
    s->got += (size_t)n;
    bytes_in += (uint64_t)n;
    if (s->got == o.size)
        cycle_end(s, true);
}

static void daytime_event(struct sk *s, uint32_t events)
{
    if (s->state == S_CONNECTING) {
        /* Readable at once is normal: the server writes and closes. */
        if (events & EPOLLERR) {
            connect_done(s, events);
            return;
        }
        s->state = S_BUSY;
        nconnected++;
    }
    for (;;) {
        ssize_t n = recv(s->fd, rbuf, sizeof rbuf, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cycle_end(s, false);
            return;
        }
        if (n == 0) {
            /* Something, ending in a newline: one line of text. */
            bool ok = s->got > 0 && s->linelen > 0 && s->line[s->linelen - 1] == '\n';
            cycle_end(s, ok);
            return;
        }
        s->got += (size_t)n;
        bytes_in += (uint64_t)n;
        size_t keep = (size_t)n < sizeof s->line ? (size_t)n : sizeof s->line;
        memcpy(s->line, rbuf + n - keep, keep);
        s->linelen = keep;
        if (s->got > 4096) {
            cycle_end(s, false);
            return;
        }
    }
}

/* ---- bulk: to discard, and through echo ---- */

static void bulk_write(struct sk *s)
{
    for (;;) {
        size_t len = o.size;
        if (o.mode == M_STREAM) {
            if (s->sent - s->got >= STREAM_AHEAD) {
                set_events(s, EPOLLIN);
                return;
            }
            if (len > STREAM_AHEAD - (s->sent - s->got))
                len = STREAM_AHEAD - (s->sent - s->got);
        }
        ssize_t n = io_send(s, pat + s->sent % PAT_PERIOD, len);
        if (n > 0) {
            s->sent += (size_t)n;
            bytes_out += (uint64_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_events(s, EPOLLIN | EPOLLOUT);
            return;
        }
        errors++;
        sk_close(s);
        return;
    }
}

static void bulk_event(struct sk *s, uint32_t events)
{
    if (s->state == S_CONNECTING) {
        if (connect_done(s, events)) {
            set_events(s, EPOLLIN);
            if (running) {
                s->state = S_BUSY;
                bulk_write(s);
            } else if (stopping) {
                sk_close(s);
            }
        }
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        ssize_t n = io_recv(s, rbuf, sizeof rbuf);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            goto out;
        if (n == 0 && s->state == S_DRAINING) {
            if (o.mode == M_DISCARD)
                t_stop = now_ns();     /* the last server close ends the run */
            sk_close(s);
            return;
        }
        if (n <= 0 || o.mode != M_STREAM ||
            memcmp(rbuf, pat + s->got % PAT_PERIOD, (size_t)n) != 0) {
            errors++;
            sk_close(s);
            return;
        }
        s->got += (size_t)n;
        if (running)
            bytes_in += (uint64_t)n;
        if (s->state == S_BUSY && !(s->events & EPOLLOUT))
            bulk_write(s);      /* it had run too far ahead */
        return;
    }
out:
    if ((events & EPOLLOUT) && s->state == S_BUSY)
        bulk_write(s);
}

/* ---- udp ---- */

static void udp_fill(struct sk *s)
{
    struct mmsghdr msgs[64];
    struct iovec iov[64][2];
    uint64_t seqs[64];
    while (running && !ops_full() && s->inflight < o.window) {
        int n = o.window - s->inflight;
        if (n > 64)
            n = 64;
        memset(msgs, 0, sizeof msgs[0] * (size_t)n);
        for (int i = 0; i < n; i++) {
            seqs[i] = s->next_seq + (uint64_t)i;
            iov[i][0] = (struct iovec){ &seqs[i], sizeof seqs[i] };
            iov[i][1] = (struct iovec){ pat + seqs[i] % PAT_PERIOD, o.size - sizeof seqs[i] };
            msgs[i].msg_hdr.msg_iov = iov[i];
            msgs[i].msg_hdr.msg_iovlen = 2;
        }
        int sent = sendmmsg(s->fd, msgs, (unsigned)n, MSG_DONTWAIT);
        if (sent <= 0) {
            if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNREFUSED)
                errors++;
            return;
        }
        s->next_seq += (uint64_t)sent;
        s->inflight += sent;
        bytes_out += (uint64_t)sent * o.size;
    }
}

static void udp_event(struct sk *s, uint32_t events)
{
    (void)events;
    static unsigned char bufs[32][DGRAM_MAX];
    struct mmsghdr msgs[32];
    struct iovec iov[32];
    for (;;) {
        memset(msgs, 0, sizeof msgs);
        for (int i = 0; i < 32; i++) {
            iov[i] = (struct iovec){ bufs[i], sizeof bufs[i] };
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(s->fd, msgs, 32, MSG_DONTWAIT, NULL);
        if (n <= 0) {
            /* ECONNREFUSED: nobody listens; counted as lost by the timeout. */
            break;
        }
        for (int i = 0; i < n; i++) {
            uint64_t seq;
            if (msgs[i].msg_len != o.size) {
                errors++;
                continue;
            }
            memcpy(&seq, bufs[i], sizeof seq);
            if (seq < s->base_seq || seq >= s->next_seq) {
                late++;
                continue;
            }
            if (memcmp(bufs[i] + sizeof seq, pat + seq % PAT_PERIOD, o.size - sizeof seq)) {
                errors++;
                continue;
            }
            if (s->inflight > 0)
                s->inflight--;
            if (running) {
                ops++;
                bytes_in += o.size;
            }
            s->last_rx = now_ns();
        }
        if (n < 32)
            break;
    }
    udp_fill(s);
}

/* Datagrams unanswered for too long are lost: start a fresh window. */
static void udp_tick(long long now)
{
    for (int i = 0; i < nsks; i++) {
        struct sk *s = &sks[i];
        if (s->fd < 0 || s->inflight == 0 || now - s->last_rx < UDP_TIMEOUT_NS)
            continue;
        lost += (uint64_t)s->inflight;
        s->inflight = 0;
        s->base_seq = s->next_seq;
        s->last_rx = now;
        udp_fill(s);
    }
}

/* ---- idle ---- */

static void idle_event(struct sk *s, uint32_t events)
{
    if (s->state == S_CONNECTING) {
        if (!connect_done(s, events))
            return;
        s->off = (size_t)s->id % PAT_PERIOD;
        if (o.size == 0) {
            s->state = S_HELD;
            nheld++;
            set_events(s, EPOLLIN);
            return;
        }
        s->state = S_BUSY;
        if (send_more(s, o.size) < 0) {
            errors++;
            sk_close(s);
        }
        return;
    }
    if ((events & EPOLLOUT) && s->state == S_BUSY && send_more(s, o.size) < 0) {
        errors++;
        sk_close(s);
        return;
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    ssize_t n = io_recv(s, rbuf, s->state == S_BUSY ? o.size - s->got : sizeof rbuf);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0 || s->state != S_BUSY || memcmp(rbuf, pat + s->off + s->got, (size_t)n)) {
        /* A held connection the server closed, or a bad echo. */
        errors++;
        sk_close(s);
        return;
    }
    s->got += (size_t)n;
    if (s->got == o.size) {
        s->state = S_HELD;
        nheld++;
        set_events(s, EPOLLIN);
    }
}

static void write_ready_file(void)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", o.ready_file);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "%d %d\n", nheld, (int)getpid());
    fclose(f);
    rename(tmp, o.ready_file);
}

/* Ctrl-C: having printed what it measured, die of SIGINT as a program
 * should, so the shell that ran us stops too (bash carries on after a
 * child that caught SIGINT and exited normally).  SIGTERM and SIGUSR1
 * (how an idle hold is ended) end the run normally. */
static void reraise_sigint(void)
{
    if (interrupt_sig != SIGINT)
        return;
    fflush(stdout);
    signal(SIGINT, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(SIGINT);
}

/* ---- spawn: time a command ---- */

static int run_spawn(void)
{
    int pfd[2];
    if (!o.cmd || !o.cmd[0] || pipe2(pfd, O_CLOEXEC) < 0)
        usage(2);
    long long t0 = now_ns();
    pid_t pid = fork();
    if (pid < 0) {
        perror("loadgen: fork");
        return 1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(pfd[1], 2);
        sigset_t set;
        sigemptyset(&set);
        sigprocmask(SIG_SETMASK, &set, NULL);
        execvp(o.cmd[0], o.cmd);
        _exit(127);
    }
    close(pfd[1]);
    long long deadline = t0 + o.dur_ns, t_found = 0;
    char acc[8192];
    size_t acclen = 0;
    bool found = false, eof = false;
    while (!found && !eof && now_ns() < deadline && !interrupted) {
        struct pollfd pf[2] = { { pfd[0], POLLIN, 0 }, { sigfd, POLLIN, 0 } };
        long long left = (deadline - now_ns()) / 1000000 + 1;
        if (poll(pf, 2, (int)(left > 1000 ? 1000 : left)) < 0 && errno != EINTR)
            break;
        if (pf[1].revents) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof si) > 0)
                if (!interrupt_sig)
                    interrupt_sig = (int)si.ssi_signo;
            interrupted = true;
        }
        if (!pf[0].revents)
            continue;
        ssize_t n = read(pfd[0], acc + acclen, sizeof acc - 1 - acclen);
        if (n <= 0) {
            eof = true;
            break;
        }
        acclen += (size_t)n;
        acc[acclen] = '\0';
        if (o.pattern && strstr(acc, o.pattern)) {
            found = true;
            t_found = now_ns();
        }
        /* Keep only the unfinished last line. */
        char *nl = strrchr(acc, '\n');
        if (nl) {
            acclen = strlen(nl + 1);
            memmove(acc, nl + 1, acclen + 1);
        } else if (acclen > sizeof acc / 2) {
            acclen = 0;
        }
    }
    if (o.pattern)
        kill(pid, SIGTERM);     /* found, or gave up: either way, stop it */
    int status = 0;
    bool killed = false;
    long long t_exit = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (now_ns() >= deadline + (o.pattern ? 5000000000LL : 0) || interrupted) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            killed = true;
            break;
        }
        /* Drain the pipe so the child never blocks on its log. */
        if (!eof) {
            struct pollfd pf = { pfd[0], POLLIN, 0 };
            if (poll(&pf, 1, 5) > 0 && read(pfd[0], acc, sizeof acc) <= 0)
                eof = true;
        } else {
            usleep(200);
        }
    }
    t_exit = now_ns();
    close(pfd[0]);
    double ms = (double)((o.pattern ? t_found : t_exit) - t0) / 1e6;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    bool ok = o.pattern ? found : !killed;
    printf("%s%smode=spawn found=%d ms=%.2f exit=%d\n", o.label ? o.label : "",
           o.label ? " " : "", found, ok ? ms : -1.0, code);
    reraise_sigint();
    return ok ? 0 : 1;
}

/* ---- the loop ---- */

static void dispatch(struct sk *s, uint32_t events)
{
    switch (o.mode) {
    case M_ECHO: echo_event(s, events); break;
    case M_CONNECT: connect_event(s, events); break;
    case M_DAYTIME: daytime_event(s, events); break;
    case M_UDP: udp_event(s, events); break;
    case M_DISCARD:
    case M_STREAM: bulk_event(s, events); break;
    case M_IDLE: idle_event(s, events); break;
    default: break;
    }
}

static void begin(long long *cpu0, double *cli0)
{
    *cpu0 = tree_ticks();
    *cli0 = self_cpu_s();
    t_start = now_ns();
    t_end = t_start + o.dur_ns;
    running = true;
    for (int i = 0; i < nsks; i++) {
        struct sk *s = &sks[i];
        if (o.mode == M_ECHO && s->state == S_READY)
            echo_request(s);
        else if ((o.mode == M_DISCARD || o.mode == M_STREAM) && s->state == S_READY) {
            s->state = S_BUSY;
            bulk_write(s);
        } else if (o.mode == M_UDP && s->fd >= 0) {
            s->last_rx = t_start;
            udp_fill(s);
        }
    }
}

static int run_probe(void)
{
    long long deadline = now_ns() + o.dur_ns;
    int tries = 0;
    while (now_ns() < deadline) {
        struct signalfd_siginfo si;
        if (read(sigfd, &si, sizeof si) > 0) {
            interrupt_sig = (int)si.ssi_signo;
            break;
        }
        int type = (is_stream() ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC;
        int fd = socket(o.sa.ss_family, type, 0);
        tries++;
        if (fd >= 0 && connect(fd, (struct sockaddr *)&o.sa, o.salen) == 0) {
            close(fd);
            printf("mode=probe target=%s ok=1 tries=%d\n", o.addr, tries);
            return 0;
        }
        if (fd >= 0)
            close(fd);
        usleep(20000);
    }
    printf("mode=probe target=%s ok=0 tries=%d\n", o.addr, tries);
    reraise_sigint();
    return 1;
}

int main(int argc, char **argv)
{
    o.mode = M_ECHO;
    o.conns = -1;
    o.size = (size_t)-1;
    o.dur_ns = 3000000000LL;
    o.window = 32;
    o.nsrc = -1;
    o.nidle = 1000;
    int c;
    while ((c = getopt(argc, argv, "+m:a:c:s:d:w:S:n:N:p:R:r:l:Th")) != -1) {
        switch (c) {
        case 'm': {
            int m;
            for (m = 0; m <= M_TREE && strcmp(optarg, mode_names[m]); m++)
                ;
            if (m > M_TREE)
                usage(2);
            o.mode = (enum mode)m;
            break;
        }
        case 'a':
            o.addr = optarg;
            if (parse_addr(optarg) < 0) {
                fprintf(stderr, "loadgen: bad address: %s\n", optarg);
                return 2;
            }
            break;
        case 'c': o.conns = atoi(optarg); break;
        case 's': o.size = (size_t)strtoul(optarg, NULL, 10); break;
        case 'd':
            if ((o.dur_ns = parse_duration(optarg)) <= 0)
                usage(2);
            break;
        case 'w': o.window = atoi(optarg); break;
        case 'S': o.nsrc = atoi(optarg); break;
        case 'n': o.nidle = atoi(optarg); break;
        case 'N': o.max_ops = strtoull(optarg, NULL, 10); break;
        case 'p':
            if (o.npids < MAX_PIDS)
                o.pids[o.npids++] = (pid_t)atoi(optarg);
            break;
        case 'R': o.ready_file = optarg; break;
        case 'r': o.pattern = optarg; break;
        case 'l': o.label = optarg; break;
        case 'T': o.resume = true; break;
        case 'h': usage(0); break;
        default: usage(2);
        }
    }
    o.cmd = argv + optind;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);

    if (o.mode == M_SPAWN)
        return run_spawn();
    if (o.mode == M_TREE) {
        long long rss = 0;
        int n = 0;
        long long ticks = tree_scan(&rss, &n);
        printf("mode=tree pids=%d rss_kb=%lld cpu_ticks=%lld\n", n, rss, ticks);
        return ticks < 0 ? 1 : 0;
    }
    if (!o.addr)
        usage(2);
    if (o.mode == M_PROBE)
        return run_probe();
    if (o.tls && (o.mode == M_DAYTIME || o.mode == M_DISCARD)) {
        fprintf(stderr, "loadgen: mode %s does not speak TLS\n", mode_names[o.mode]);
        return 2;
    }
    if (o.tls && tls_init() < 0) {
        fprintf(stderr, "loadgen: cannot set up OpenSSL\n");
        return 1;
    }

    bool dgram = !is_stream();
    if ((o.mode == M_UDP) != dgram) {
        fprintf(stderr, "loadgen: mode %s needs a %s address\n", mode_names[o.mode],
                dgram ? "stream" : "datagram");
        return 2;
    }
    /* Defaults per mode. */
    if (o.conns <= 0)
        o.conns = o.mode == M_ECHO ? 64 : o.mode == M_UDP ? 4 : o.mode == M_IDLE ? 256
                : (o.mode == M_DISCARD || o.mode == M_STREAM) ? 4 : 32;
    if (o.size == (size_t)-1)
        o.size = (o.mode == M_DISCARD || o.mode == M_STREAM) ? 65536 : o.mode == M_IDLE ? 1
               : o.mode == M_DAYTIME ? 0 : 64;
    if (o.nsrc < 0)
        o.nsrc = (o.mode == M_CONNECT || o.mode == M_DAYTIME || o.mode == M_IDLE) ? 64 : 0;
    if (o.nsrc > MAX_SRCS)
        o.nsrc = MAX_SRCS;
    if (o.size > CHUNK_MAX || (o.mode == M_UDP && (o.size < 8 || o.size > 65507)) ||
        ((o.mode == M_ECHO || o.mode == M_CONNECT || o.mode == M_DISCARD ||
          o.mode == M_STREAM) && o.size == 0) || o.window < 1) {
        fprintf(stderr, "loadgen: bad size or window\n");
        return 2;
    }
    pat = malloc(CHUNK_MAX + PAT_PERIOD);
    if (!pat)
        return 1;
    for (size_t i = 0; i < CHUNK_MAX + PAT_PERIOD; i++)
        pat[i] = (unsigned char)(i % PAT_PERIOD);

    nsks = o.mode == M_IDLE ? o.nidle : o.conns;
    int slots = o.mode == M_IDLE ? o.conns : nsks;  /* connecting at once */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nsks + 64) {
        rl.rlim_cur = (rlim_t)nsks + 64 > rl.rlim_max ? rl.rlim_max : (rlim_t)nsks + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    sks = calloc((size_t)nsks, sizeof *sks);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!sks || epfd < 0)
        return 1;
    struct epoll_event sev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &sev);
    for (int i = 0; i < nsks; i++) {
        sks[i].fd = -1;
        sks[i].id = i;
    }

    long long cpu0 = -1, cpu1 = -1;
    double cli0 = 0, cli1 = 0;
    long long t_setup = now_ns();
    bool cycles = o.mode == M_CONNECT || o.mode == M_DAYTIME;
    bool persistent = o.mode == M_ECHO || o.mode == M_DISCARD || o.mode == M_STREAM;
    int next_idle = 0;      /* idle mode: next connection to open */
    bool ready_sent = false;

    if (cycles)
        begin(&cpu0, &cli0);
    else if (o.mode == M_UDP) {
        for (int i = 0; i < nsks; i++)
            if (sk_connect(&sks[i], EPOLLIN) < 0)
                errors++;
        begin(&cpu0, &cli0);
    } else if (persistent) {
        t_end = t_setup + SETUP_NS + o.dur_ns;  /* a guard until begin() */
        for (int i = 0; i < nsks; i++)
            if (sk_connect(&sks[i], EPOLLOUT) < 0)
                errors++;
    } else {
        t_end = t_setup + o.dur_ns;     /* idle: the whole hold */
    }

    struct epoll_event evs[256];
    for (;;) {
        long long now = now_ns();
        /* Phase changes. */
        if (persistent && !running && !stopping &&
            (nconnected == nsks || now - t_setup >= SETUP_NS))
            begin(&cpu0, &cli0);
        if (o.mode == M_IDLE) {
            int busy = 0;
            for (; next_idle < nsks; next_idle++) {
                busy = next_idle - nheld - (int)errors;
                if (busy >= slots)
                    break;
                if (sk_connect(&sks[next_idle], EPOLLOUT) < 0)
                    errors++;
            }
            if (!ready_sent && next_idle == nsks && nheld + (int)errors >= nsks) {
                ready_sent = true;
                t_start = t_stop = now;
                if (o.ready_file)
                    write_ready_file();
            }
        }
        if (cycles && running) {
            for (int i = 0; i < slots && !ops_full(); i++)
                if (sks[i].fd < 0)
                    cycle_start(&sks[i]);
        }
        bool over = interrupted || now >= t_end || (running && ops_full());
        if (over && !stopping && (running || o.mode == M_IDLE || now >= t_end)) {
            /*
             * The end: nothing new starts.  What is under way finishes,
             * uncounted, for a bounded time, so the server sees clean
             * closes rather than resets: requests and cycles complete,
             * bulk connections half-close and read to the server's close,
             * datagrams sent come back before the rest count as lost.
             */
            stopping = true;
            running = false;
            t_stop = now;
            for (int i = 0; i < nsks; i++) {
                struct sk *s = &sks[i];
                if (s->fd < 0)
                    continue;
                if (o.mode == M_DISCARD || o.mode == M_STREAM) {
                    if (s->ssl)
                        SSL_shutdown(s->ssl);   /* close_notify: TLS's half-close */
                    else
                        shutdown(s->fd, SHUT_WR);
                    s->state = S_DRAINING;
                    set_events(s, EPOLLIN);
                } else if ((o.mode == M_ECHO && s->state != S_BUSY) ||
                           ((o.mode == M_CONNECT || o.mode == M_DAYTIME) &&
                            s->state == S_CONNECTING)) {
                    sk_close(s);
                }
            }
            t_end = now + (o.mode == M_DISCARD ? DRAIN_NS : o.mode == M_UDP ? UDP_TIMEOUT_NS
                           : FINISH_NS);
        }
        if (stopping) {
            bool more = false;
            for (int i = 0; i < nsks && !more && o.mode != M_IDLE; i++)
                more = sks[i].fd >= 0 && (o.mode != M_UDP || sks[i].inflight > 0);
            if (!more || interrupted || now >= t_end)
                break;
        }
        long long left = (t_end - now) / 1000000;
        int timeout = left <= 0 ? 0 : left > 10 ? 10 : (int)left;
        int n = epoll_wait(epfd, evs, 256, timeout);
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            struct sk *s = evs[i].data.ptr;
            if (!s) {
                struct signalfd_siginfo si;
                while (read(sigfd, &si, sizeof si) > 0) {
                    interrupted = true;
                    if (!interrupt_sig)
                        interrupt_sig = (int)si.ssi_signo;
                }
                continue;
            }
            if (s->fd >= 0)
                dispatch(s, evs[i].events);
            /* Bytes OpenSSL has decrypted but not handed out yet: epoll
             * will not report them. */
            for (int k = 0; k < 64 && s->fd >= 0 && s->ssl && s->state != S_CONNECTING &&
                            SSL_pending(s->ssl) > 0; k++)
                dispatch(s, EPOLLIN);
        }
        if (o.mode == M_UDP)
            udp_tick(now_ns());
    }

    if (o.mode == M_UDP)
        for (int i = 0; i < nsks; i++)
            lost += (uint64_t)sks[i].inflight;
    if (o.mode == M_DISCARD || o.mode == M_STREAM)
        ops = (o.mode == M_DISCARD ? bytes_out : bytes_in) / o.size;   /* whole chunks */
    if (o.mode == M_IDLE) {
        ops = (uint64_t)nheld;
        t_stop = t_start;
        t_start = t_setup;
    }
    for (int i = 0; i < nsks; i++)
        if (sks[i].fd >= 0)
            sk_close(&sks[i]);
    if (cpu0 >= 0) {
        cli1 = self_cpu_s();
        usleep(SETTLE_US);
        cpu1 = tree_ticks();
    }
    if (!t_start)
        t_start = t_stop = now_ns();

    double secs = (double)(t_stop - t_start) / 1e9;
    double bytes = o.mode == M_DISCARD ? (double)bytes_out : (double)bytes_in;
    double hz = (double)sysconf(_SC_CLK_TCK);
    printf("%s%smode=%s target=%s conns=%d size=%zu secs=%.3f ops=%" PRIu64
           " ops_s=%.0f mb_s=%.2f errors=%" PRIu64 " lost=%" PRIu64 " late=%" PRIu64
           " p50_us=%.1f p99_us=%.1f",
           o.label ? o.label : "", o.label ? " " : "", mode_names[o.mode], o.addr, o.mode == M_IDLE ? o.nidle : o.conns, o.size, secs,
           ops, secs > 0 ? (double)ops / secs : 0, secs > 0 ? bytes / secs / 1e6 : 0,
           errors, lost, late, hist_pct(0.50) / 1e3, hist_pct(0.99) / 1e3);
    if (cpu0 >= 0 && cpu1 >= 0) {
        double cpu_s = (double)(cpu1 - cpu0) / hz;
        printf(" srv_cpu_ms=%.0f srv_cpu_us_op=%.2f srv_cpu_us_mb=%.1f cli_cpu_pct=%.0f",
               cpu_s * 1e3, ops ? cpu_s * 1e6 / (double)ops : 0,
               bytes > 0 ? cpu_s * 1e6 / (bytes / 1e6) : 0,
               secs > 0 ? (cli1 - cli0) / secs * 100 : 0);
    }
    if (o.tls)
        printf(" tls=1 resumed=%" PRIu64, nresumed);
    printf("\n");
    reraise_sigint();
    return (ops > 0 || o.mode == M_IDLE) ? 0 : 1;
}
