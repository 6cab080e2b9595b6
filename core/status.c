/* status.c - `superd status`: the running daemon's figures as a table for
 * a person, read from its metrics endpoint (metrics_listen). */
#include "status.h"
#include "log.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"

#define STATUS_TIMEOUT_MS 5000
#define STATUS_MAX_BYTES (4u << 20)
#define MAX_WORKERS 256
/* Services and their listeners. */
#define MAX_ROWS (STATS_MAX_SERVICES + STATS_MAX_LISTENERS)

/* A service (lsn "") or one of its listeners. */
struct svc_row {
    char name[STATS_NAME_MAX];
    char lsn[STATS_LABEL_MAX];
    unsigned long long active, accepted, refused, bytes_in, bytes_out, dgrams_in, dgrams_out;
};

struct figures {
    long long start, now;
    unsigned long long workers, restarts, reloads, reload_failures;
    char version[64];
    struct svc_row svcs[MAX_ROWS];
    size_t nsvcs;
    size_t hint;            /* where the next row is likely: families list rows in order */
    int pids[MAX_WORKERS];
    long long started[MAX_WORKERS];
    size_t nworkers;
};

/* Connect to the first address of metrics_listen, bounded in time. */
static int dial(const struct laddr *a, char *err, size_t errlen)
{
    const struct sockaddr *sa = (const struct sockaddr *)&a->sa;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, sa, a->salen) < 0 && errno != EINPROGRESS) {
        snprintf(err, errlen, "cannot connect to %s: %s", a->text, strerror(errno));
        close(fd);
        return -1;
    }
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    int e = 0;
    socklen_t elen = sizeof e;
    if (poll(&p, 1, STATUS_TIMEOUT_MS) != 1 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0 || e) {
        snprintf(err, errlen, "cannot connect to %s: %s", a->text,
                 e ? strerror(e) : "timed out");
        close(fd);
        return -1;
    }
    return fd;
}

/* GET /metrics; the whole response into a malloc'ed string. */
static char *fetch(int fd, const struct laddr *a, char *err, size_t errlen)
{
    static const char req[] = "GET /metrics HTTP/1.0\r\nHost: superd\r\n\r\n";
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) {
        snprintf(err, errlen, "cannot send to %s: %s", a->text, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    /* One deadline for the whole answer: a server that trickles a byte at
     * a time cannot hold `superd status` longer. */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (buf) {
        if (len + 1 >= cap) {
            char *nb = cap >= STATUS_MAX_BYTES ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                snprintf(err, errlen, "answer from %s too large", a->text);
                break;
            }
            buf = nb;
            cap *= 2;
        }
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long long spent = (t.tv_sec - t0.tv_sec) * 1000LL + (t.tv_nsec - t0.tv_nsec) / 1000000;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (spent >= STATUS_TIMEOUT_MS ||
            poll(&p, 1, (int)(STATUS_TIMEOUT_MS - spent)) != 1) {
            free(buf);
            buf = NULL;
            snprintf(err, errlen, "no answer from %s", a->text);
            break;
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    if (buf)
        buf[len] = '\0';
    return buf;
}

/* The value of label `key` in "{a="x",b="y"}", or "" (escapes are kept:
 * service names in a table need no unescaping to be recognised). */
static void label(const char *labels, const char *key, char *out, size_t size)
{
    char pat[64];
    snprintf(pat, sizeof pat, "%s=\"", key);
    const char *p = strstr(labels, pat);
    out[0] = '\0';
    if (!p)
        return;
    p += strlen(pat);
    size_t n = 0;
    while (p[n] && p[n] != '"' && n + 1 < size)
        n++;
    memcpy(out, p, n);
    out[n] = '\0';
}

/* What the server sent is printed on the operator's terminal: no control
 * byte of it reaches the terminal (escape sequences). */
static void printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

static bool row_is(const struct svc_row *r, const char *name, const char *lsn)
{
    return strcmp(r->name, name) == 0 && strcmp(r->lsn, lsn) == 0;
}

/* The row of service `name` (lsn "") or of its listener `lsn`, made if new
 * (names are compared as the server sent them, before printable()). */
static struct svc_row *row_of(struct figures *f, const char *name, const char *lsn)
{
    char n[STATS_NAME_MAX], l[STATS_LABEL_MAX];
    snprintf(n, sizeof n, "%s", name);
    snprintf(l, sizeof l, "%s", lsn);
    printable(n);
    printable(l);
    if (f->hint < f->nsvcs && row_is(&f->svcs[f->hint], n, l))
        return &f->svcs[f->hint++];
    for (size_t i = 0; i < f->nsvcs; i++)
        if (row_is(&f->svcs[i], n, l)) {
            f->hint = i + 1;
            return &f->svcs[i];
        }
    if (f->nsvcs == MAX_ROWS)
        return NULL;
    struct svc_row *r = &f->svcs[f->nsvcs++];
    memset(r, 0, sizeof *r);
    memcpy(r->name, n, sizeof n);
    memcpy(r->lsn, l, sizeof l);
    f->hint = f->nsvcs;
    return r;
}

/* One sample line "name{labels} value" into the figures. */
static void take(struct figures *f, char *line)
{
    char *brace = strchr(line, '{'), *sp = strrchr(line, ' ');
    if (!sp)
        return;
    *sp = '\0';
    unsigned long long v = strtoull(sp + 1, NULL, 10);
    const char *labels = "";
    if (brace) {
        *brace = '\0';
        labels = brace + 1;
    }
    char svc[STATS_NAME_MAX], lsn[STATS_LABEL_MAX], pid[16];
    label(labels, "service", svc, sizeof svc);
    label(labels, "listener", lsn, sizeof lsn);
    /* A listener's families are the service's with "listener_" after
     * "superd_": one set of names below reads both. */
    static const char lprefix[] = "superd_listener_";
    if (strncmp(line, lprefix, sizeof lprefix - 1) == 0) {
        if (!lsn[0])
            return;
        memmove(line + 7, line + sizeof lprefix - 1, strlen(line + sizeof lprefix - 1) + 1);
    } else {
        lsn[0] = '\0';
    }
    struct svc_row *r = svc[0] ? row_of(f, svc, lsn) : NULL;
    if (strcmp(line, "superd_start_time_seconds") == 0)
        f->start = (long long)v;
    else if (strcmp(line, "superd_workers") == 0)
        f->workers = v;
    else if (strcmp(line, "superd_worker_restarts_total") == 0)
        f->restarts += v;
    else if (strcmp(line, "superd_reloads_total") == 0)
        f->reloads = v;
    else if (strcmp(line, "superd_reload_failures_total") == 0)
        f->reload_failures = v;
    else if (strcmp(line, "superd_build_info") == 0) {
        label(labels, "version", f->version, sizeof f->version);
        printable(f->version);
    }
    else if (strcmp(line, "superd_worker_start_time_seconds") == 0 && f->nworkers < MAX_WORKERS) {
        label(labels, "pid", pid, sizeof pid);
        f->pids[f->nworkers] = atoi(pid);
        f->started[f->nworkers++] = (long long)v;
    } else if (r && strcmp(line, "superd_connections_active") == 0)
        r->active = v;
    else if (r && strcmp(line, "superd_connections_accepted_total") == 0)
        r->accepted = v;
    else if (r && strcmp(line, "superd_connections_refused_total") == 0)
        r->refused += v;
    else if (r && strcmp(line, "superd_received_bytes_total") == 0)
        r->bytes_in = v;
    else if (r && strcmp(line, "superd_sent_bytes_total") == 0)
        r->bytes_out = v;
    else if (r && strcmp(line, "superd_datagrams_received_total") == 0)
        r->dgrams_in = v;
    else if (r && strcmp(line, "superd_datagrams_sent_total") == 0)
        r->dgrams_out = v;
}

static void age(long long secs, char *buf, size_t size)
{
    if (secs < 0)
        secs = 0;
    if (secs < 3600)
        snprintf(buf, size, "%lldm%02llds", secs / 60, secs % 60);
    else if (secs < 86400)
        snprintf(buf, size, "%lldh%02lldm", secs / 3600, secs / 60 % 60);
    else
        snprintf(buf, size, "%lldd%02lldh", secs / 86400, secs / 3600 % 24);
}

static void print(const struct figures *f)
{
    char up[32];
    age(f->now - f->start, up, sizeof up);
    printf("superd %s: up %s, %llu workers serving, %llu restarts, %llu reloads "
           "(%llu failed)\n", f->version[0] ? f->version : "?", up, f->workers, f->restarts,
           f->reloads, f->reload_failures);
    for (size_t i = 0; i < f->nworkers; i++) {
        age(f->now - f->started[i], up, sizeof up);
        printf("  worker %d: up %s\n", f->pids[i], up);
    }
    printf("%-24s %8s %10s %9s %12s %12s %10s %10s\n", "SERVICE / LISTENER", "ACTIVE",
           "ACCEPTED", "REFUSED", "BYTES IN", "BYTES OUT", "DGRAMS IN", "DGRAMS OUT");
    /* Each service, then its listeners indented (in the server's order). */
    for (size_t i = 0; i < f->nsvcs; i++) {
        if (f->svcs[i].lsn[0])
            continue;
        for (size_t j = i; j < f->nsvcs; j++) {
            const struct svc_row *r = &f->svcs[j];
            if (j > i && !(r->lsn[0] && strcmp(r->name, f->svcs[i].name) == 0))
                continue;
            char name[STATS_LABEL_MAX + 2];
            snprintf(name, sizeof name, "%s%s", j > i ? "  " : "", j > i ? r->lsn : r->name);
            printf("%-24s %8llu %10llu %9llu %12llu %12llu %10llu %10llu\n", name, r->active,
                   r->accepted, r->refused, r->bytes_in, r->bytes_out, r->dgrams_in,
                   r->dgrams_out);
        }
    }
}

int status_main(const char *path)
{
    char err[CONF_ERR_MAX];
    struct conf *c = NULL;
    /* The file is read for metrics_listen only: its warnings are the
     * daemon's to print, and status says one line when it fails. */
    log_setup(LOG_TO_STDERR, LOG_ERR, 0);
    if (conf_load(path, &c, err, sizeof err) < 0) {
        fprintf(stderr, "superd: %s\n", err);
        return 1;
    }
    const struct conf_service *m = NULL;
    for (size_t i = 0; i < c->nsvcs && !m; i++)
        if (c->svcs[i].builtin && c->svcs[i].naddrs)
            m = &c->svcs[i];
    if (!m) {
        fprintf(stderr, "superd: %s: no metrics_listen in [superd]: superd status reads the "
                "running daemon's figures from it\n", c->path);
        conf_free(c);
        return 1;
    }
    const struct laddr *a = &m->addrs[0];
    int fd = dial(a, err, sizeof err);
    char *text = fd >= 0 ? fetch(fd, a, err, sizeof err) : NULL;
    if (fd >= 0)
        close(fd);
    if (!text || strncmp(text, "HTTP/1.1 200 ", 13) != 0) {
        if (text && text[0] == '\0') {
            snprintf(err, sizeof err, "%s closed the connection without an answer (refused: "
                     "only_from or no_access of [superd]?)", a->text);
        } else if (text) {
            snprintf(err, sizeof err, "%s answered: %.60s", a->text, text);
            printable(err);
        }
        fprintf(stderr, "superd: status: %s\n", err);
        free(text);
        conf_free(c);
        return 1;
    }
    struct figures *f = calloc(1, sizeof *f);
    char *body = strstr(text, "\r\n\r\n");
    if (f && body) {
        f->now = (long long)time(NULL);
        char *save = NULL;
        for (char *line = strtok_r(body + 4, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save))
            if (line[0] != '#')
                take(f, line);
        print(f);
    }
    free(f);
    free(text);
    conf_free(c);
    return body ? 0 : 1;
}
