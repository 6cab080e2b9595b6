/* metrics.c - GET /metrics: the shared statistics in the Prometheus text
 * format or OpenMetrics, served by the built-in service "metrics". */
#include "metrics.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef SUPERD_VERSION
#define SUPERD_VERSION "unknown"
#endif

/* A request longer than this is refused: a scrape is a few hundred bytes. */
#define REQUEST_MAX 8192
/* ... and one that takes longer than this to arrive is dropped. */
#define REQUEST_MS 10000

struct out {
    FILE *f;
    bool om;        /* OpenMetrics */
};

static const char *const refusal_names[STATS_REFUSALS] = {
    [STATS_REFUSED_ACL] = "acl",
    [STATS_REFUSED_PER_SOURCE] = "max_per_source",
    [STATS_REFUSED_RATE] = "rate_limit",
    [STATS_REFUSED_MAX_CONN] = "max_connections",
    [STATS_REFUSED_TABLE_FULL] = "table_full",
    [STATS_REFUSED_TLS] = "tls",
    [STATS_REFUSED_PROXY] = "proxy",
    [STATS_REFUSED_OTHER] = "other",
};

static const char *const restart_names[STATS_RESTARTS] = {
    [STATS_RESTART_CRASH] = "crash",
    [STATS_RESTART_EXIT] = "exit",
    [STATS_RESTART_STARTUP] = "startup",
};

/* "# HELP" and "# TYPE" of a family.  OpenMetrics names a counter's family
 * without the "_total" its samples carry. */
static void family(struct out *o, const char *name, const char *type, const char *help)
{
    size_t n = strlen(name);
    if (o->om && strcmp(type, "counter") == 0 && n > 6 && strcmp(name + n - 6, "_total") == 0)
        n -= 6;
    fprintf(o->f, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)n, name, help, (int)n, name, type);
}

/* A label value, escaped as both formats want: \\, \" and \n.  At most
 * `max` bytes: the names come from the shared map, which a worker can
 * write without a terminating NUL. */
static void label_value(FILE *f, const char *v, size_t max)
{
    for (const char *end = v + max; v < end && *v; v++) {
        if (*v == '\\' || *v == '"')
            fprintf(f, "\\%c", *v);
        else if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
}

/* name{service="S"[,extra]} value */
static void svc_sample(struct out *o, const char *name, const char *svc, const char *extra,
                       uint64_t v)
{
    fprintf(o->f, "%s{service=\"", name);
    label_value(o->f, svc, STATS_NAME_MAX);
    fprintf(o->f, "\"%s%s} %llu\n", extra ? "," : "", extra ? extra : "", (unsigned long long)v);
}

static void process_figures(struct out *o, const struct stats *st)
{
    const struct stats_proc *p = &st->proc;
    family(o, "superd_build_info", "gauge", "superd's version, as a label; always 1.");
    fprintf(o->f, "superd_build_info{version=\"%s\"} 1\n", SUPERD_VERSION);
    family(o, "superd_start_time_seconds", "gauge", "When the master started (unix time).");
    fprintf(o->f, "superd_start_time_seconds %lld\n", (long long)p->start_time);

    int up = 0;
    for (int w = 0; w < STATS_MAX_WORKERS; w++)
        up += __atomic_load_n(&st->worker_used[w], __ATOMIC_ACQUIRE) &&
              __atomic_load_n(&st->worker_ready[w], __ATOMIC_ACQUIRE);
    family(o, "superd_workers", "gauge", "Worker processes serving (their plugins started).");
    fprintf(o->f, "superd_workers %d\n", up);
    family(o, "superd_worker_start_time_seconds", "gauge",
           "When each live worker started (unix time), by pid.");
    for (int w = 0; w < STATS_MAX_WORKERS; w++)
        if (__atomic_load_n(&st->worker_used[w], __ATOMIC_ACQUIRE))
            fprintf(o->f, "superd_worker_start_time_seconds{pid=\"%d\"} %lld\n",
                    (int)st->worker_pid[w], (long long)st->worker_started[w]);
    family(o, "superd_worker_restarts_total", "counter",
           "Workers replaced after dying unasked, by cause.");
    for (int c = 0; c < STATS_RESTARTS; c++)
        fprintf(o->f, "superd_worker_restarts_total{cause=\"%s\"} %llu\n", restart_names[c],
                (unsigned long long)p->restarts[c]);
    family(o, "superd_reloads_total", "counter", "Successful reloads (SIGHUP).");
    fprintf(o->f, "superd_reloads_total %llu\n", (unsigned long long)p->reloads);
    family(o, "superd_reload_failures_total", "counter",
           "Reloads refused (the old configuration kept serving).");
    fprintf(o->f, "superd_reload_failures_total %llu\n", (unsigned long long)p->reload_failures);
    family(o, "superd_last_reload_success_timestamp_seconds", "gauge",
           "When the last successful reload finished (unix time; 0: none yet).");
    fprintf(o->f, "superd_last_reload_success_timestamp_seconds %lld\n",
            (long long)p->last_reload);
    family(o, "superd_exec_started_total", "counter", "Programs started by exec services.");
    fprintf(o->f, "superd_exec_started_total %llu\n", (unsigned long long)p->exec_started);
    family(o, "superd_exec_running", "gauge", "Programs of exec services running now.");
    fprintf(o->f, "superd_exec_running %llu\n", (unsigned long long)p->exec_running);
    family(o, "superd_exec_exits_total", "counter", "Programs of exec services that ended, "
           "by how: status 0, another status, or a signal.");
    fprintf(o->f, "superd_exec_exits_total{how=\"ok\"} %llu\n",
            (unsigned long long)p->exec_exited_ok);
    fprintf(o->f, "superd_exec_exits_total{how=\"error\"} %llu\n",
            (unsigned long long)p->exec_exited_error);
    fprintf(o->f, "superd_exec_exits_total{how=\"signal\"} %llu\n",
            (unsigned long long)p->exec_killed);
}

/* The services of the running configuration, summed over every worker. */
static void service_figures(struct out *o, const struct stats *st)
{
    static const long long bounds[] = STATS_LIFETIME_BOUNDS;
    struct stats_row sums[STATS_MAX_SERVICES];
    bool live[STATS_MAX_SERVICES];
    for (int i = 0; i < STATS_MAX_SERVICES; i++) {
        live[i] = st->svc[i].assigned && st->svc[i].name[0];
        if (live[i])
            stats_sum(st, i, &sums[i]);
    }
#define EACH(i) for (int i = 0; i < STATS_MAX_SERVICES; i++) if (live[i])
    family(o, "superd_connections_accepted_total", "counter",
           "Stream connections accepted, refused ones included.");
    EACH(i) svc_sample(o, "superd_connections_accepted_total", st->svc[i].name, NULL,
                       sums[i].accepted);
    family(o, "superd_connections_active", "gauge", "Stream connections open now.");
    EACH(i) svc_sample(o, "superd_connections_active", st->svc[i].name, NULL,
                       (uint64_t)(sums[i].active < 0 ? 0 : sums[i].active));
    family(o, "superd_connections_refused_total", "counter",
           "Connections and datagrams refused by admission, by reason.");
    EACH(i) for (int r = 0; r < STATS_REFUSALS; r++) {
        char extra[64];
        snprintf(extra, sizeof extra, "reason=\"%s\"", refusal_names[r]);
        svc_sample(o, "superd_connections_refused_total", st->svc[i].name, extra,
                   sums[i].refused_by[r]);
    }
    family(o, "superd_received_bytes_total", "counter", "Bytes received from clients.");
    EACH(i) svc_sample(o, "superd_received_bytes_total", st->svc[i].name, NULL, sums[i].bytes_in);
    family(o, "superd_sent_bytes_total", "counter", "Bytes sent to clients.");
    EACH(i) svc_sample(o, "superd_sent_bytes_total", st->svc[i].name, NULL, sums[i].bytes_out);
    family(o, "superd_datagrams_received_total", "counter", "Datagrams received.");
    EACH(i) svc_sample(o, "superd_datagrams_received_total", st->svc[i].name, NULL,
                       sums[i].dgrams_in);
    family(o, "superd_datagrams_sent_total", "counter", "Datagrams sent (replies).");
    EACH(i) svc_sample(o, "superd_datagrams_sent_total", st->svc[i].name, NULL,
                       sums[i].dgrams_out);
    family(o, "superd_datagrams_dropped_total", "counter",
           "Replies dropped: loop protection, or a reply budget (udp_reply_rate, amplification).");
    EACH(i) {
        svc_sample(o, "superd_datagrams_dropped_total", st->svc[i].name, "reason=\"loop\"",
                   sums[i].loop_drops);
        svc_sample(o, "superd_datagrams_dropped_total", st->svc[i].name, "reason=\"budget\"",
                   sums[i].budget_drops);
    }
    family(o, "superd_tls_handshakes_total", "counter", "TLS handshakes completed.");
    EACH(i) svc_sample(o, "superd_tls_handshakes_total", st->svc[i].name, NULL,
                       sums[i].tls_handshakes);
    family(o, "superd_tls_handshake_failures_total", "counter",
           "TLS handshakes that failed or timed out.");
    EACH(i) svc_sample(o, "superd_tls_handshake_failures_total", st->svc[i].name, NULL,
                       sums[i].tls_failures);
    family(o, "superd_connection_duration_seconds", "histogram",
           "How long stream connections lived, from accept to close.");
    EACH(i) {
        uint64_t cum = 0;
        for (int b = 0; b < STATS_LIFETIME_BUCKETS; b++) {
            char extra[32];
            cum += sums[i].lifetime[b];
            if (b < STATS_LIFETIME_BUCKETS - 1)
                snprintf(extra, sizeof extra, "le=\"%g\"", (double)bounds[b] / 1000.0);
            else
                snprintf(extra, sizeof extra, "le=\"+Inf\"");
            svc_sample(o, "superd_connection_duration_seconds_bucket", st->svc[i].name, extra,
                       cum);
        }
        fprintf(o->f, "superd_connection_duration_seconds_sum{service=\"");
        label_value(o->f, st->svc[i].name, sizeof st->svc[i].name);
        fprintf(o->f, "\"} %.3f\n", (double)sums[i].lifetime_ms / 1000.0);
        svc_sample(o, "superd_connection_duration_seconds_count", st->svc[i].name, NULL, cum);
    }
#undef EACH
}

/* name{service="S",listener="L"[,extra]} value */
static void lsn_sample(struct out *o, const char *name, const struct stats_listener *l,
                       const char *extra, uint64_t v)
{
    fprintf(o->f, "%s{service=\"", name);
    label_value(o->f, l->svc, sizeof l->svc);
    fputs("\",listener=\"", o->f);
    label_value(o->f, l->label, sizeof l->label);
    fprintf(o->f, "\"%s%s} %llu\n", extra ? "," : "", extra ? extra : "", (unsigned long long)v);
}

static bool label_is_dgram(const char *label)
{
    return strncmp(label, "udp://", 6) == 0 || strncmp(label, "unix-dgram:", 11) == 0;
}

/* The listeners of the running configuration, each summed over every
 * worker: families of their own (superd_listener_*), labelled with the
 * service and the listener, so the service families stay whole when a
 * reload removes a listener.  Stream listeners have no datagram samples,
 * datagram listeners no connection samples. */
static int listener_figures(struct out *o, const struct stats *st)
{
    struct stats_lrow *sums = malloc(STATS_MAX_LISTENERS * sizeof *sums);
    bool *live = calloc(STATS_MAX_LISTENERS, sizeof *live), *dg = calloc(STATS_MAX_LISTENERS, 1);
    if (!sums || !live || !dg) {
        free(sums);
        free(live);
        free(dg);
        return -ENOMEM;
    }
    const struct stats_listener *ls = st->lsn;
    for (int i = 0; i < STATS_MAX_LISTENERS; i++) {
        live[i] = ls[i].assigned && ls[i].svc[0];
        if (live[i]) {
            stats_listener_sum(st, i, &sums[i]);
            dg[i] = label_is_dgram(ls[i].label);
        }
    }
#define EACH(i) for (int i = 0; i < STATS_MAX_LISTENERS; i++) if (live[i])
    /* Every listener in the first family: in their order (the configuration's). */
    family(o, "superd_listener_received_bytes_total", "counter",
           "Bytes received from clients, per listener.");
    EACH(i) lsn_sample(o, "superd_listener_received_bytes_total", &ls[i], NULL, sums[i].bytes_in);
    family(o, "superd_listener_sent_bytes_total", "counter", "Bytes sent to clients, per listener.");
    EACH(i) lsn_sample(o, "superd_listener_sent_bytes_total", &ls[i], NULL, sums[i].bytes_out);
    family(o, "superd_listener_connections_accepted_total", "counter",
           "Stream connections accepted, per listener.");
    EACH(i) if (!dg[i])
        lsn_sample(o, "superd_listener_connections_accepted_total", &ls[i], NULL,
                   sums[i].accepted);
    family(o, "superd_listener_connections_active", "gauge",
           "Stream connections open now, per listener.");
    EACH(i) if (!dg[i])
        lsn_sample(o, "superd_listener_connections_active", &ls[i], NULL,
                   (uint64_t)(sums[i].active < 0 ? 0 : sums[i].active));
    family(o, "superd_listener_connections_refused_total", "counter",
           "Connections and datagrams refused by admission, per listener, by reason.");
    /* A datagram is never refused by these: no samples for them. */
    static const bool stream_only[STATS_REFUSALS] = {
        [STATS_REFUSED_PER_SOURCE] = true, [STATS_REFUSED_MAX_CONN] = true,
        [STATS_REFUSED_TLS] = true, [STATS_REFUSED_PROXY] = true,
    };
    EACH(i) for (int r = 0; r < STATS_REFUSALS; r++) {
        char extra[64];
        if (dg[i] && stream_only[r])
            continue;
        snprintf(extra, sizeof extra, "reason=\"%s\"", refusal_names[r]);
        lsn_sample(o, "superd_listener_connections_refused_total", &ls[i], extra,
                   sums[i].refused_by[r]);
    }
    family(o, "superd_listener_datagrams_received_total", "counter",
           "Datagrams received, per listener.");
    EACH(i) if (dg[i])
        lsn_sample(o, "superd_listener_datagrams_received_total", &ls[i], NULL, sums[i].dgrams_in);
    family(o, "superd_listener_datagrams_sent_total", "counter",
           "Datagrams sent (replies), per listener.");
    EACH(i) if (dg[i])
        lsn_sample(o, "superd_listener_datagrams_sent_total", &ls[i], NULL, sums[i].dgrams_out);
    family(o, "superd_listener_datagrams_dropped_total", "counter",
           "Replies dropped, per listener: loop protection, or a reply budget.");
    EACH(i) if (dg[i]) {
        lsn_sample(o, "superd_listener_datagrams_dropped_total", &ls[i], "reason=\"loop\"",
                   sums[i].loop_drops);
        lsn_sample(o, "superd_listener_datagrams_dropped_total", &ls[i], "reason=\"budget\"",
                   sums[i].budget_drops);
    }
#undef EACH
    free(sums);
    free(live);
    free(dg);
    return 0;
}

int metrics_render(const struct stats *st, bool openmetrics, char **out, size_t *len)
{
    struct out o = { .om = openmetrics };
    *out = NULL;
    *len = 0;
    o.f = open_memstream(out, len);
    if (!o.f)
        return -ENOMEM;
    process_figures(&o, st);
    service_figures(&o, st);
    int r = listener_figures(&o, st);
    if (openmetrics)
        fputs("# EOF\n", o.f);
    if (fclose(o.f) != 0 || !*out || r < 0) {
        free(*out);
        *out = NULL;
        return -ENOMEM;
    }
    return 0;
}

/* ---- the built-in service ---- */

/* Send one whole HTTP/1.1 response and close after it. */
static void respond(struct superd_conn *c, const char *status, const char *type,
                    const char *body, size_t len, bool head)
{
    char hdr[256];
    int n = snprintf(hdr, sizeof hdr, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n", status, type, len);
    superd_write(c, hdr, (size_t)n);
    if (!head)
        superd_write(c, body, len);
    superd_close(c);
}

static void respond_text(struct superd_conn *c, const char *status, const char *msg)
{
    respond(c, status, "text/plain; charset=utf-8", msg, strlen(msg), false);
}

/* True when the headers (after the request line) ask for OpenMetrics. */
static bool wants_openmetrics(const char *headers, size_t len)
{
    static const char accept[] = "\naccept:";
    for (size_t i = 0; i + sizeof accept - 1 < len; i++) {
        if (strncasecmp(headers + i, accept, sizeof accept - 1) != 0)
            continue;
        const char *v = headers + i + sizeof accept - 1;
        const char *end = memchr(v, '\n', len - (size_t)(v - headers));
        size_t vlen = end ? (size_t)(end - v) : len - (size_t)(v - headers);
        return memmem(v, vlen, "application/openmetrics-text", 28) != NULL;
    }
    return false;
}

static ssize_t metrics_data(struct superd_conn *c, const void *data, size_t len)
{
    const char *req = data;
    const char *end = memmem(req, len, "\r\n\r\n", 4);
    if (!end)
        end = memmem(req, len, "\n\n", 2);
    /* Over 8 KiB is 431 whether the request is still coming or arrived
     * whole in one read (the core offers up to 64 KiB at once). */
    if (!end && len < REQUEST_MAX)
        return 0;   /* not the whole request yet */
    if (!end || (size_t)(end - req) + 4 > REQUEST_MAX) {
        respond_text(c, "431 Request Header Fields Too Large", "request too large\n");
        return (ssize_t)len;
    }
    size_t hlen = (size_t)(end - req);
    const char *eol = memchr(req, '\n', hlen + 1);
    size_t llen = eol ? (size_t)(eol - req) : hlen;
    if (llen && req[llen - 1] == '\r')
        llen--;
    bool head = llen >= 5 && memcmp(req, "HEAD ", 5) == 0;
    bool get = llen >= 4 && memcmp(req, "GET ", 4) == 0;
    if (!get && !head) {
        /* Before anything else: a shorter line has no path to look at. */
        respond_text(c, "405 Method Not Allowed", "only GET /metrics\n");
        return (ssize_t)len;
    }
    const char *path = req + (head ? 5 : 4);
    size_t plen = llen - (size_t)(path - req);
    const char *sp = memchr(path, ' ', plen);
    if (sp)
        plen = (size_t)(sp - path);
    /* A query string is ignored, as Prometheus may add one. */
    const char *q = memchr(path, '?', plen);
    if (q)
        plen = (size_t)(q - path);
    if (!(plen == 8 && memcmp(path, "/metrics", 8) == 0)) {
        respond_text(c, "404 Not Found", "superd serves /metrics only\n");
    } else {
        bool om = wants_openmetrics(req + llen, hlen - llen);
        char *body = NULL;
        size_t blen = 0;
        const struct stats *st = stats_mapped();
        if (!st || metrics_render(st, om, &body, &blen) < 0)
            respond_text(c, "500 Internal Server Error", "no statistics\n");
        else
            respond(c, "200 OK", om ? METRICS_TYPE_OPENMETRICS : METRICS_TYPE_TEXT, body, blen,
                    head);
        free(body);
    }
    return (ssize_t)len;
}

/* A scrape is one small request: a client gets REQUEST_MS for all of it,
 * however slowly it trickles bytes (idle_timeout restarts on each one). */
static void request_late(struct superd_timer *t, void *arg)
{
    (void)t;
    struct superd_conn *c = arg;
    superd_conn_set_data(c, NULL);  /* a one-shot timer's handle dies now */
    superd_close(c);
}

static int metrics_open(struct superd_conn *c)
{
    struct superd_timer *t = superd_timer_start(superd_conn_service(c), REQUEST_MS, 0,
                                                request_late, c);
    if (!t)
        return -ENOMEM;
    superd_conn_set_data(c, t);
    return 0;
}

static void metrics_close(struct superd_conn *c)
{
    superd_timer_stop(superd_conn_data(c));
}

const struct superd_plugin metrics_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "metrics",
    .version = SUPERD_VERSION,
    .on_open = metrics_open,
    .on_data = metrics_data,
    .on_close = metrics_close,
};
