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

#include "dgram.h"
#include "exec.h"
#include "log.h"

int worker_load(struct worker *wk, const struct conf *c, struct stats *stats, int row,
                char *err, size_t errlen)
{
    memset(wk, 0, sizeof *wk);
    wk->conf = c;
    wk->loop.epfd = -1;
    wk->spare_fd = -1;
    wk->sig_fd = -1;
    wk->stats = stats;
    wk->stats_row = row;
    wk->svcs = calloc(c->nsvcs ? c->nsvcs : 1, sizeof *wk->svcs);
    if (!wk->svcs)
        return -ENOMEM;
    for (size_t i = 0; i < c->nsvcs; i++) {
        if (!c->svcs[i].enabled)
            continue;
        struct superd_service *s = &wk->svcs[wk->nsvcs];
        int r = service_start(s, c, &c->svcs[i], err, errlen);
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
        l->wk = wk;
        l->svc = NULL;
        if (wk->conf->svcs[l->svc_index].exec.wait) {
            /* The spawner's alone: a worker never accepts on it. */
            close(set->v[i].fd);
            continue;
        }
        for (size_t s = 0; s < wk->nsvcs; s++)
            if (wk->svcs[s].cs == &wk->conf->svcs[l->svc_index])
                l->svc = &wk->svcs[s];
        if (l->svc)
            wk->nlsns++;
    }
    return 0;
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
                    strsignal((int)si.ssi_signo), wk->conns.nlive);
            wk->stopping = true;
            close_listeners(wk);
        }
    }
}

int worker_start(struct worker *wk)
{
    /* Output queues grow to hundreds of KiB under a client that does not
     * read: give such buffers their own mappings, returned to the system
     * when freed, so memory goes back down after a flood. */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024);
    int r = loop_init(&wk->loop);
    if (r < 0)
        return r;
    wk->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (size_t i = 0; i < wk->nlsns; i++) {
        struct listener *l = &wk->lsns[i];
        loop_fn fn = addr_socktype(l->addr.kind) == SOCK_STREAM ? conn_accept_ready : dgram_ready;
        if ((r = loop_add(&wk->loop, &l->w, l->fd, EPOLLIN | EPOLLEXCLUSIVE, fn)) < 0)
            return r;
    }
    return 0;
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
    int r = loop_add(&wk->loop, &wk->sig_w, wk->sig_fd, EPOLLIN, on_signal);
    if (r < 0)
        return r;
    long long deadline = 0, swept = loop_now_ms();
    size_t peak = 0;    /* most connections since the heap was last trimmed */
    for (;;) {
        /* idle_timeout and max_lifetime are checked four times a second. */
        int timeout = wk->conns.nlive ? 250 : -1;
        if (wk->stopping) {
            if (wk->conns.nlive == 0 || wk->stop_signals > 1)
                break;
            if (!deadline)
                deadline = clock_now_ms() + wk->conf->shutdown_timeout_ms;
            long long left = deadline - clock_now_ms();
            if (left <= 0) {
                log_msg(LOG_NOTICE, "worker %ld: shutdown_timeout reached: closing %zu connections",
                        (long)getpid(), wk->conns.nlive);
                break;
            }
            if (timeout < 0 || left < timeout)
                timeout = (int)left;
        }
        r = loop_run_once(&wk->loop, timeout);
        if (loop_now_ms() - swept >= 250) {
            swept = loop_now_ms();
            conn_sweep(&wk->conns, swept);
        }
        conn_reap(&wk->conns);
        if (wk->conns.nlive > peak)
            peak = wk->conns.nlive;
        /* After a crowd of connections has gone, hand the freed heap back
         * (glibc keeps it otherwise); rare, and cheap next to the crowd. */
        if (peak >= 64 && wk->conns.nlive <= peak / 4) {
            malloc_trim(0);
            peak = wk->conns.nlive;
        }
        if (r < 0)
            return r;
    }
    return 0;
}

void worker_fini(struct worker *wk)
{
    conn_close_all(&wk->conns);
    exec_detach();
    if (wk->lsns) {
        close_listeners(wk);
        free(wk->lsns);
    }
    for (size_t i = 0; i < wk->nsvcs; i++)
        service_stop(&wk->svcs[i]);
    free(wk->svcs);
    if (wk->sig_fd >= 0)
        close(wk->sig_fd);
    if (wk->spare_fd >= 0)
        close(wk->spare_fd);
    loop_fini(&wk->loop);
    memset(wk, 0, sizeof *wk);
    wk->loop.epfd = wk->spare_fd = wk->sig_fd = -1;
}
