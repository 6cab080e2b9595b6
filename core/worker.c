/* worker.c - one worker process: services, listener copies, the loop. */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "dgram.h"
#include "proxy_wait.h"
#include "exec.h"
#include "log.h"

int worker_load(struct worker *wk, const struct conf *c, struct stats *stats, int row,
                char *err, size_t errlen)
{
    memset(wk, 0, sizeof *wk);
    wk->conf = c;
    wk->sig_fd = -1;
    wk->srv = (struct serve){ .loop = &wk->loop, .conf = c, .stats = stats,
                              .stats_row = row, .spare_fd = -1 };
    /* First: a plugin may start timers in its init(). */
    int r = loop_init(&wk->loop);
    if (r < 0) {
        snprintf(err, errlen, "event loop: %s", strerror(-r));
        return r;
    }
    wk->svcs = calloc(c->nsvcs ? c->nsvcs : 1, sizeof *wk->svcs);
    if (!wk->svcs)
        return -ENOMEM;
    for (size_t i = 0; i < c->nsvcs; i++) {
        if (!c->svcs[i].enabled)
            continue;
        struct superd_service *s = &wk->svcs[wk->nsvcs];
        r = service_start(s, c, &c->svcs[i], &wk->srv, err, errlen);
        wk->nsvcs++;    /* counted even on failure: service_stop is owed */
        if (r < 0)
            return r;
        if (stats) {
            /* The master gave every service its slot before forking. */
            int slot = stats_service_slot(stats, c->svcs[i].name);
            if (slot >= 0) {
                s->stats_slot = slot;
                s->row = &stats->rows[row][slot];
            }
        }
    }
    return 0;
}

int worker_attach(struct worker *wk, const struct lsn_set *set)
{
    wk->lsns = calloc(set->n ? set->n : 1, sizeof *wk->lsns);
    if (!wk->lsns)
        return -ENOMEM;
    for (size_t i = 0; i < set->n; i++) {
        struct listener *l = &wk->lsns[wk->nlsns];
        *l = set->v[i];
        l->made_file = false;   /* the master's file, not ours to remove */
        l->w.fd = -1;
        l->srv = &wk->srv;
        l->svc = NULL;
        if (wk->conf->svcs[l->svc_index].exec.wait) {
            /* The spawner's alone: a worker never accepts on it. */
            close(set->v[i].fd);
            continue;
        }
        for (size_t s = 0; s < wk->nsvcs; s++)
            if (wk->svcs[s].cs == &wk->conf->svcs[l->svc_index])
                l->svc = &wk->svcs[s];
        l->row = l->svc ? stats_listener_row(wk->srv.stats, wk->srv.stats_row, l->svc_name,
                                             &l->addr) : NULL;
        if (l->svc)
            wk->nlsns++;
    }
    /* Built once: a reload starts new workers, which build their own. */
    return dgram_own_build(&wk->srv.own, wk->lsns, wk->nlsns);
}

/* Stop accepting: close this worker's copies of the listeners. */
static void close_listeners(struct worker *wk)
{
    for (size_t i = 0; i < wk->nlsns; i++) {
        /* DEL first: the registration outlives close() while another
         * process still holds the socket. */
        loop_del(&wk->loop, &wk->lsns[i].w);
        lsn_close(&wk->lsns[i]);
    }
}

static void on_signal(struct loop_watch *w, uint32_t events)
{
    (void)events;
    struct worker *wk = (struct worker *)((char *)w - offsetof(struct worker, sig_w));
    struct signalfd_siginfo si;
    while (read(wk->sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        wk->stop_signals++;
        if (!wk->stopping) {
            log_msg(LOG_INFO, "worker %ld: %s: stopping (%zu connections open)", (long)getpid(),
                    strsignal((int)si.ssi_signo), wk->srv.conns.nlive);
            wk->stopping = true;
            close_listeners(wk);
            if (loop_timer_start(&wk->loop, &wk->stop_timer, wk->conf->shutdown_timeout_ms) < 0)
                wk->out_of_time = true;
        }
    }
}

/* shutdown_timeout is over: the connections left are closed. */
static void on_stop_timer(struct loop_timer *t)
{
    struct worker *wk = (struct worker *)((char *)t - offsetof(struct worker, stop_timer));
    log_msg(LOG_NOTICE, "worker %ld: shutdown_timeout reached: closing %zu connections",
            (long)getpid(), wk->srv.conns.nlive);
    wk->out_of_time = true;
}

int worker_start(struct worker *wk)
{
    /* Output queues grow to hundreds of KiB under a client that does not
     * read: give such buffers their own mappings, returned to the system
     * when freed, so memory goes back down after a flood. */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024);
    wk->srv.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (size_t i = 0; i < wk->nlsns; i++) {
        struct listener *l = &wk->lsns[i];
        loop_fn fn = addr_socktype(l->addr.kind) == SOCK_STREAM ? conn_accept_ready : dgram_ready;
        int r = loop_add(&wk->loop, &l->w, l->fd, LOOP_READABLE | LOOP_EXCLUSIVE, fn);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Stopping, and nothing more to wait for. */
static bool done(const struct worker *wk)
{
    return wk->stopping &&
           (wk->srv.conns.nlive == 0 || wk->stop_signals > 1 || wk->out_of_time);
}

int worker_run(struct worker *wk)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    wk->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (wk->sig_fd < 0)
        return -errno;
    int r = loop_add(&wk->loop, &wk->sig_w, wk->sig_fd, LOOP_READABLE, on_signal);
    if (r < 0)
        return r;
    loop_timer_init(&wk->stop_timer, on_stop_timer);
    size_t peak = 0;    /* most connections since the heap was last trimmed */
    struct conn_set *conns = &wk->srv.conns;
    /* Every deadline (idle_timeout, max_lifetime, shutdown_timeout, the
     * plugins' timers) is a loop timer: the loop sleeps until the next. */
    while (!done(wk)) {
        r = loop_run_once(&wk->loop, -1);
        conn_reap(conns);
        if (conns->nlive > peak)
            peak = conns->nlive;
        /* After a crowd of connections has gone, hand the freed heap back
         * (glibc keeps it otherwise); rare, and cheap next to the crowd. */
        if (peak >= 64 && conns->nlive <= peak / 4) {
            malloc_trim(0);
            peak = conns->nlive;
        }
        if (r < 0)
            return r;
    }
    return 0;
}

void worker_fini(struct worker *wk)
{
    proxy_wait_close_all();
    conn_close_all(&wk->srv.conns);
    exec_detach();
    if (wk->lsns) {
        close_listeners(wk);
        free(wk->lsns);
    }
    dgram_own_free(wk->srv.own);
    for (size_t i = 0; i < wk->nsvcs; i++)
        service_stop(&wk->svcs[i]);
    free(wk->svcs);
    if (wk->sig_fd >= 0)
        close(wk->sig_fd);
    if (wk->srv.spare_fd >= 0)
        close(wk->srv.spare_fd);
    loop_timer_stop(&wk->loop, &wk->stop_timer);
    loop_fini(&wk->loop);
    memset(wk, 0, sizeof *wk);
    wk->loop.epfd = wk->srv.spare_fd = wk->sig_fd = -1;
}
