/* master.c - the master process.
 *
 * The master binds every listener and keeps them open for its whole life;
 * workers inherit them across fork.  It runs no plugin code: plugins are
 * checked in a short-lived child, and loaded afresh by every worker, so a
 * rebuilt .so takes effect on reload and a crashing plugin takes down one
 * worker, never the listeners.
 */
#include "master.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "privs.h"
#include "sources.h"
#include "stats.h"
#include "systemd.h"
#include "worker.h"

/* A worker that dies before its plugins run is restarted after a delay
 * that doubles from BACKOFF_MIN_MS up to BACKOFF_MAX_MS: never a busy loop. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 30000
/* How long a plugin check may take before it is killed. */
#define CHECK_TIMEOUT_MS 30000
/* How long start-up waits for the workers before saying "ready" anyway. */
#define READY_WAIT_MS 10000
/* After shutdown_timeout, how long workers get before SIGKILL. */
#define KILL_GRACE_MS 2000

#define RELOAD_FAILED "reload failed, keeping the old configuration: "

struct wproc {
    pid_t pid;              /* 0: free */
    int row;                /* its row in the shared stats */
    bool stopping;          /* told to stop: not replaced when it exits */
    char services[256];     /* "[echo] [daytime]", for the log */
};

struct master {
    const char *path;
    struct conf *conf;
    struct lsn_set lsns;
    struct stats *stats;
    struct sources *sources;
    struct wproc procs[STATS_MAX_WORKERS];
    struct loop loop;
    int sig_fd;
    struct loop_watch sig_w;
    pid_t pid;
    unsigned failures;      /* workers in a row that died during start-up */
    int pending;            /* workers to start at respawn_at */
    long long respawn_at;
    bool stopping;
    long long kill_at;
};

static void describe(int status, char *buf, size_t size)
{
    if (WIFSIGNALED(status))
        snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
}

/* ---- checking plugins in a child ---- */

static void print_check(const struct worker *wk, const struct conf *c)
{
    for (size_t i = 0; i < wk->nsvcs; i++) {
        const struct superd_service *s = &wk->svcs[i];
        const struct superd_plugin *d = service_plugin(s);
        printf("[%s] plugin %s %s %s\n", s->cs->name, d->name, d->version, s->plugin->path);
        for (size_t a = 0; a < s->cs->naddrs; a++)
            printf("[%s] listen %s\n", s->cs->name, s->cs->addrs[a].text);
    }
    printf("%s: configuration OK\n", c->path);
}

static void check_failed(bool to_log, const char *msg)
{
    if (to_log)
        log_msg(LOG_ERR, RELOAD_FAILED "%s", msg);
    else
        fprintf(stderr, "superd: %s\n", msg);
}

static void check_child(const struct conf *c, bool print, bool to_log)
{
    char err[CONF_ERR_MAX];
    struct worker wk;
    if (privs_drop(c, err, sizeof err) < 0) {
        check_failed(to_log, err);
        _exit(1);
    }
    int r = worker_load(&wk, c, NULL, -1, err, sizeof err);
    if (r < 0)
        check_failed(to_log, err);
    else if (print)
        print_check(&wk, c);
    worker_fini(&wk);
    fflush(stdout);
    _exit(r < 0 ? 1 : 0);
}

int master_check(const struct conf *c, bool print, bool to_log)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "cannot fork to check plugins: %s", strerror(errno));
        check_failed(to_log, msg);
        return -1;
    }
    if (pid == 0)
        check_child(c, print, to_log);

    /* Bounded: a plugin whose init hangs must not hang the master. */
    int status = 0;
    long long deadline = clock_now_ms() + CHECK_TIMEOUT_MS;
    pid_t r;
    while ((r = waitpid(pid, &status, WNOHANG)) == 0 && clock_now_ms() < deadline)
        nanosleep(&(struct timespec){ 0, 5 * 1000 * 1000 }, NULL);
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        check_failed(to_log, "plugin check timed out (a plugin's init did not return)");
        return -1;
    }
    if (r < 0)
        return -1;
    if (WIFSIGNALED(status)) {
        char msg[160], how[96];
        describe(status, how, sizeof how);
        snprintf(msg, sizeof msg, "%s: plugin check crashed: %s", c->path, how);
        check_failed(to_log, msg);
        return -1;
    }
    return WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* ---- workers ---- */

static void worker_main(struct master *m, int row) __attribute__((noreturn));

/* The child side of a fork: become a worker, never return. */
static void worker_main(struct master *m, int row)
{
    char err[CONF_ERR_MAX];
    struct worker wk;
    /* A master killed with -9 must not leave workers behind. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != m->pid)
        _exit(0);
    close(m->sig_fd);
    loop_fini(&m->loop);
    unsetenv("NOTIFY_SOCKET");  /* only the master speaks for the service */
    signal(SIGHUP, SIG_IGN);
    signal(SIGUSR1, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_UNBLOCK, &set, NULL);   /* TERM/INT stay blocked: signalfd */

    if (privs_drop(m->conf, err, sizeof err) < 0) {
        log_msg(LOG_ERR, "worker %ld: %s", (long)getpid(), err);
        _exit(1);
    }
    int r = worker_load(&wk, m->conf, m->stats, row, err, sizeof err);
    if (r < 0) {
        log_msg(LOG_ERR, "worker %ld: %s", (long)getpid(), err);
        worker_fini(&wk);
        _exit(1);
    }
    wk.sources = m->sources;
    __atomic_store_n(&m->stats->worker_ready[row], 1, __ATOMIC_RELEASE);
    if ((r = worker_attach(&wk, &m->lsns)) == 0 && (r = worker_start(&wk)) == 0)
        r = worker_run(&wk);
    if (r < 0)
        log_msg(LOG_ERR, "worker %ld: %s", (long)getpid(), strerror(-r));
    worker_fini(&wk);
    _exit(r < 0 ? 1 : 0);
}

static int live_workers(const struct master *m)
{
    int n = 0;
    for (int i = 0; i < STATS_MAX_WORKERS; i++)
        n += m->procs[i].pid != 0;
    return n;
}

/* True when every live worker has started its plugins. */
static bool all_ready(const struct master *m)
{
    for (int i = 0; i < STATS_MAX_WORKERS; i++)
        if (m->procs[i].pid &&
            !__atomic_load_n(&m->stats->worker_ready[m->procs[i].row], __ATOMIC_ACQUIRE))
            return false;
    return true;
}

static int spawn(struct master *m)
{
    struct wproc *wp = NULL;
    for (int i = 0; i < STATS_MAX_WORKERS && !wp; i++)
        if (m->procs[i].pid == 0)
            wp = &m->procs[i];
    int row = wp ? stats_worker_take(m->stats) : -ENOSPC;
    if (row < 0)
        return row;
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        stats_worker_release(m->stats, row);
        log_msg(LOG_ERR, "cannot fork a worker: %s", strerror(e));
        return -e;
    }
    if (pid == 0)
        worker_main(m, row);
    memset(wp, 0, sizeof *wp);
    wp->pid = pid;
    wp->row = row;
    size_t used = 0;
    for (size_t i = 0; i < m->conf->nsvcs; i++) {
        if (!m->conf->svcs[i].enabled)
            continue;
        int n = snprintf(wp->services + used, sizeof wp->services - used, "%s[%s]",
                         used ? " " : "", m->conf->svcs[i].name);
        if (n < 0 || (size_t)n >= sizeof wp->services - used)
            break;
        used += (size_t)n;
    }
    log_msg(LOG_INFO, "worker %ld started", (long)pid);
    return 0;
}

static void spawn_later(struct master *m, int n, long long delay)
{
    m->pending += n;
    long long at = clock_now_ms() + delay;
    if (!m->respawn_at || at > m->respawn_at)
        m->respawn_at = at;
}

static long long backoff(unsigned failures)
{
    long long d = BACKOFF_MIN_MS;
    for (unsigned i = 1; i < failures && d < BACKOFF_MAX_MS; i++)
        d *= 2;
    return d > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : d;
}

static void reap(struct master *m)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct wproc *wp = NULL;
        for (int i = 0; i < STATS_MAX_WORKERS && !wp; i++)
            if (m->procs[i].pid == pid)
                wp = &m->procs[i];
        if (!wp)
            continue;
        bool ready = __atomic_load_n(&m->stats->worker_ready[wp->row], __ATOMIC_ACQUIRE);
        /* Its connections are gone: give their slots back. */
        stats_worker_release(m->stats, wp->row);
        sources_worker_gone(m->sources, wp->row);
        char how[96];
        describe(status, how, sizeof how);
        bool expected = wp->stopping || m->stopping;
        wp->pid = 0;
        if (expected) {
            log_msg(LOG_INFO, "worker %ld %s", (long)pid, how);
            continue;
        }
        if (!ready) {
            long long delay = backoff(++m->failures);
            log_msg(LOG_ERR, "worker %ld %s during start-up; starting another in %lld ms",
                    (long)pid, how, delay);
            spawn_later(m, 1, delay);
            continue;
        }
        m->failures = 0;
        log_msg(LOG_ERR, "worker %ld %s while serving %s; starting another",
                (long)pid, how, wp->services);
        if (spawn(m) < 0)
            spawn_later(m, 1, BACKOFF_MIN_MS);
    }
}

/* ---- reload, stop, statistics ---- */

/* Every service of c gets its counters, or c is refused: a limit that
 * cannot be counted would switch off silently. */
static int assign_slots(struct master *m, const struct conf *c, const char *prefix)
{
    char err[CONF_ERR_MAX];
    int r = stats_assign(m->stats, c, err, sizeof err);
    if (r < 0)
        log_msg(LOG_ERR, "%s%s", prefix, err);
    return r;
}

static void reload(struct master *m)
{
    char err[CONF_ERR_MAX];
    struct conf *nc = NULL;
    log_msg(LOG_NOTICE, "SIGHUP: reloading %s", m->path);
    systemd_notify_reloading();
    if (conf_load(m->path, &nc, err, sizeof err) < 0) {
        log_msg(LOG_ERR, RELOAD_FAILED "%s", err);
        systemd_notify("READY=1");
        return;
    }
    if (master_check(nc, false, true) < 0) {
        conf_free(nc);
        systemd_notify("READY=1");
        return;
    }
    if (stats_fit(m->stats, nc, err, sizeof err) < 0) {
        log_msg(LOG_ERR, RELOAD_FAILED "%s", err);
        conf_free(nc);
        systemd_notify("READY=1");
        return;
    }
    struct lsn_set ns;
    if (lsn_set_bind(&ns, nc, &m->lsns, err, sizeof err) < 0) {
        log_msg(LOG_ERR, RELOAD_FAILED "%s", err);
        conf_free(nc);
        systemd_notify("READY=1");
        return;
    }
    size_t added = 0, kept = 0, removed = 0;
    for (size_t i = 0; i < ns.n; i++) {
        bool k = lsn_set_kept(&m->lsns, &ns.v[i]);
        log_msg(LOG_NOTICE, "reload: [%s] %s %s", ns.v[i].svc_name, k ? "kept" : "added",
                ns.v[i].addr.text);
        k ? kept++ : added++;
    }
    for (size_t i = 0; i < m->lsns.n; i++) {
        if (m->lsns.v[i].kept)
            continue;
        log_msg(LOG_NOTICE, "reload: [%s] removed %s", m->lsns.v[i].svc_name,
                m->lsns.v[i].addr.text);
        removed++;
    }
    /* Close what is gone before forking, so new workers never hold it;
     * old workers let go of their copies when told to stop, just below. */
    lsn_set_close(&m->lsns);
    m->lsns = ns;
    conf_free(m->conf);
    m->conf = nc;
    assign_slots(m, nc, RELOAD_FAILED);   /* fits: checked above */

    bool old[STATS_MAX_WORKERS];
    for (int i = 0; i < STATS_MAX_WORKERS; i++) {
        old[i] = m->procs[i].pid && !m->procs[i].stopping;
        if (old[i])
            m->procs[i].stopping = true;
    }
    m->failures = 0;
    m->pending = 0;
    int started = 0;
    for (int i = 0; i < nc->workers; i++)
        started += spawn(m) == 0;
    /* New workers first, then the old ones stop accepting and finish. */
    for (int i = 0; i < STATS_MAX_WORKERS; i++)
        if (old[i] && m->procs[i].pid)
            kill(m->procs[i].pid, SIGTERM);
    log_msg(LOG_NOTICE, "reload done: %zu added, %zu kept, %zu removed; %d new workers",
            added, kept, removed, started);
    systemd_notify("READY=1");
}

static void stop(struct master *m, int signo)
{
    if (m->stopping) {
        /* A second TERM/INT: workers end at once on their second too. */
        log_msg(LOG_NOTICE, "%s again: closing every connection now", strsignal(signo));
        for (int i = 0; i < STATS_MAX_WORKERS; i++)
            if (m->procs[i].pid)
                kill(m->procs[i].pid, SIGTERM);
        return;
    }
    log_msg(LOG_NOTICE, "%s: stopping", strsignal(signo));
    systemd_notify("STOPPING=1");
    m->stopping = true;
    m->pending = 0;
    for (int i = 0; i < STATS_MAX_WORKERS; i++)
        if (m->procs[i].pid)
            kill(m->procs[i].pid, SIGTERM);
    /* Stop accepting: workers close their copies as they get SIGTERM. */
    lsn_set_close(&m->lsns);
    m->kill_at = clock_now_ms() + m->conf->shutdown_timeout_ms + KILL_GRACE_MS;
}

static void report(struct master *m)
{
    for (size_t i = 0; i < m->conf->nsvcs; i++) {
        const struct conf_service *cs = &m->conf->svcs[i];
        if (!cs->enabled)
            continue;
        int slot = stats_service_slot(m->stats, cs->name);
        if (slot < 0)
            continue;
        struct stats_row r;
        stats_sum(m->stats, slot, &r);
        log_msg(LOG_NOTICE, "[%s] active %lld accepted %llu refused %llu bytes_in %llu "
                "bytes_out %llu dgrams_in %llu dgrams_out %llu loop_drops %llu",
                cs->name, (long long)r.active, (unsigned long long)r.accepted,
                (unsigned long long)r.refused, (unsigned long long)r.bytes_in,
                (unsigned long long)r.bytes_out, (unsigned long long)r.dgrams_in,
                (unsigned long long)r.dgrams_out, (unsigned long long)r.loop_drops);
    }
}

static void on_signal(struct loop_watch *w, uint32_t events)
{
    (void)events;
    struct master *m = (struct master *)((char *)w - offsetof(struct master, sig_w));
    struct signalfd_siginfo si;
    while (read(m->sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        switch (si.ssi_signo) {
        case SIGCHLD:
            reap(m);
            break;
        case SIGTERM:
        case SIGINT:
            stop(m, (int)si.ssi_signo);
            break;
        case SIGHUP:
            if (!m->stopping)
                reload(m);
            break;
        case SIGUSR1:
            report(m);
            break;
        }
    }
}

static int setup(struct master *m)
{
    m->pid = getpid();
    m->stats = stats_create();
    m->sources = sources_create();
    if (!m->stats || !m->sources)
        return -ENOMEM;
    int r = loop_init(&m->loop);
    if (r < 0)
        return r;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    m->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (m->sig_fd < 0)
        return -errno;
    return loop_add(&m->loop, &m->sig_w, m->sig_fd, EPOLLIN, on_signal);
}

int master_run(const char *path, struct conf *c, struct lsn_set *lsns)
{
    struct master *m = calloc(1, sizeof *m);
    int status = 1;
    if (!m) {
        lsn_set_close(lsns);
        conf_free(c);
        return 1;
    }
    m->path = path;
    m->conf = c;
    m->lsns = *lsns;
    m->loop.epfd = -1;
    m->sig_fd = -1;
    int r = setup(m);
    if (r < 0) {
        log_msg(LOG_ERR, "cannot start the master: %s", strerror(-r));
        goto out;
    }
    if (assign_slots(m, c, "") < 0)
        goto out;
    for (int i = 0; i < c->workers; i++)
        if (spawn(m) < 0)
            goto out;
    /* "ready" means serving: wait (bounded) until every worker's plugins
     * have started; a worker dying meanwhile is handled as always. */
    long long until = clock_now_ms() + READY_WAIT_MS;
    while (!all_ready(m) && !m->stopping && clock_now_ms() < until)
        if (loop_run_once(&m->loop, 10) < 0)
            break;
    if (all_ready(m))
        log_msg(LOG_NOTICE, "ready");
    else
        log_msg(LOG_NOTICE, "ready (not every worker serving yet after %d ms)", READY_WAIT_MS);
    systemd_notify("READY=1");

    while (!m->stopping || live_workers(m) > 0) {
        long long now = clock_now_ms(), timeout = -1;
        if (m->pending)
            timeout = m->respawn_at > now ? m->respawn_at - now : 0;
        if (m->stopping) {
            long long left = m->kill_at > now ? m->kill_at - now : 0;
            timeout = timeout < 0 || left < timeout ? left : timeout;
        }
        r = loop_run_once(&m->loop, timeout > 60000 ? 60000 : (int)timeout);
        if (r < 0) {
            log_msg(LOG_ERR, "master loop failed: %s", strerror(-r));
            break;
        }
        now = clock_now_ms();
        if (m->pending && !m->stopping && now >= m->respawn_at) {
            int n = m->pending;
            m->pending = 0;
            m->respawn_at = 0;
            for (int i = 0; i < n; i++)
                if (spawn(m) < 0)
                    spawn_later(m, 1, backoff(++m->failures));
        }
        if (m->stopping && m->kill_at && now >= m->kill_at) {
            log_msg(LOG_WARNING, "workers still running %d ms after shutdown_timeout: killing them",
                    KILL_GRACE_MS);
            for (int i = 0; i < STATS_MAX_WORKERS; i++)
                if (m->procs[i].pid)
                    kill(m->procs[i].pid, SIGKILL);
            m->kill_at = 0;
        }
    }
    status = m->stopping ? 0 : 1;
    if (status == 0)
        log_msg(LOG_NOTICE, "stopped");
out:
    for (int i = 0; i < STATS_MAX_WORKERS; i++)
        if (m->procs[i].pid) {
            kill(m->procs[i].pid, SIGKILL);
            waitpid(m->procs[i].pid, NULL, 0);
        }
    lsn_set_close(&m->lsns);
    if (m->sig_fd >= 0)
        close(m->sig_fd);
    loop_fini(&m->loop);
    stats_destroy(m->stats);
    sources_destroy(m->sources);
    conf_free(m->conf);
    free(m);
    return status;
}
