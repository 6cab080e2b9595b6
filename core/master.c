/* master.c - the master process.
 *
 * The master binds every listener and keeps them open for its whole life;
 * workers inherit them across fork.  It runs no plugin code: plugins are
 * checked in a short-lived child, and loaded afresh by every worker, so a
 * rebuilt .so takes effect on reload and a crashing plugin takes down one
 * worker, never the listeners.
 *
 * The master never blocks on anything a child controls: a reload's plugin
 * check is a child whose exit arrives as SIGCHLD, new workers are watched
 * until they serve, and only then are the old ones told to stop.  Signals
 * are read in batches (every pending one, then handled by priority), so a
 * storm of one kind never starves another.
 */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
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
#include "exec.h"
#include "service.h"
#include "spawner.h"
#include "sources.h"
#include "stats.h"
#include "systemd.h"
#include "tls.h"
#include "worker.h"

/* A worker that dies before its plugins run is restarted after a delay
 * that doubles from BACKOFF_MIN_MS up to BACKOFF_MAX_MS: never a busy loop. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 30000
/* How long a plugin check may take before it is killed. */
#define CHECK_TIMEOUT_MS 30000
/* How long start-up waits for the workers before saying "ready" anyway;
 * a reload waits as long before it says its new workers are late. */
#define READY_WAIT_MS 10000
/* After shutdown_timeout, how long workers get before SIGKILL. */
#define KILL_GRACE_MS 2000
/* While new workers start, how often the master looks at their flags. */
#define STARTING_POLL_MS 10

#define RELOAD_FAILED "reload failed, keeping the old configuration: "

struct wproc {
    pid_t pid;              /* 0: free */
    int row;                /* its row in the shared stats */
    int slot;               /* 0 .. workers-1 in its generation: which
                             * per-worker UDP socket it reads */
    unsigned gen;           /* the configuration generation it serves */
    bool stopping;          /* told to stop: not replaced when it exits */
    bool killed;            /* we sent it SIGKILL */
    long long kill_at;      /* a stopping worker: when SIGKILL is due (0: none) */
    char services[256];     /* "[echo] [daytime]", for the log */
};

/* A spawner: one per configuration generation with exec services; an
 * old generation's lives until its children have exited. */
struct sproc {
    pid_t pid;              /* 0: free */
    int ctl;                /* the master's end of its control socket */
    unsigned gen;
    long long kill_at;      /* stopping: when SIGKILL is due (0: none) */
};
#define MAX_SPAWNERS 8

/* A reload goes IDLE -> CHECKING (the plugin check child runs) ->
 * STARTING (new workers start; old ones serve on) -> IDLE. */
enum reload_phase { RELOAD_IDLE, RELOAD_CHECKING, RELOAD_STARTING };

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
    unsigned gen;           /* generation of m->conf */
    unsigned failures;      /* workers in a row that died during start-up */
    int pending;            /* workers to start at respawn_at */
    long long respawn_at;
    bool stopping;
    long long tickets_due;  /* next session-ticket key rotation; -1: none */

    enum reload_phase phase;
    bool reload_again;      /* a HUP came during a reload: one more after it */
    struct conf *next;      /* CHECKING: the configuration being checked */
    pid_t check_pid;        /* CHECKING: the check child */
    int check_trace;        /* CHECKING: read end of its progress pipe */
    bool check_timed_out;
    long long phase_deadline;
    bool late_logged;       /* STARTING: "not serving yet" said once */
    size_t added, kept, removed;
    struct sproc sps[MAX_SPAWNERS];
    int worker_link;        /* while forking a worker: its end to the spawner */
};

/* Arm the parent-death signal once the credentials are final (the kernel
 * clears it when they change), and catch a parent already gone. */
static void die_with_parent(pid_t parent, int sig)
{
    prctl(PR_SET_PDEATHSIG, sig);
    if (getppid() != parent)
        _exit(0);
}

/* In a child: let go of every spawner's control socket (a worker must not
 * be able to introduce sockets to a spawner as the master does). */
static void close_spawner_ctls(struct master *m)
{
    for (int i = 0; i < MAX_SPAWNERS; i++)
        if (m->sps[i].pid && m->sps[i].ctl >= 0)
            close(m->sps[i].ctl);
}

/* The spawner of the current generation, or NULL. */
static struct sproc *current_spawner(struct master *m)
{
    for (int i = 0; i < MAX_SPAWNERS; i++)
        if (m->sps[i].pid && m->sps[i].gen == m->gen)
            return &m->sps[i];
    return NULL;
}

/* Fork the spawner of the current generation, if it runs programs.
 * Returns 0 or a negative errno (logged). */
static int spawner_start(struct master *m)
{
    if (!spawner_needed(m->conf))
        return 0;
    struct sproc *sp = NULL;
    for (int i = 0; i < MAX_SPAWNERS && !sp; i++)
        if (!m->sps[i].pid)
            sp = &m->sps[i];
    int sv[2];
    if (!sp) {
        log_msg(LOG_ERR, "cannot start a spawner: %d spawners of older generations still "
                "have children running", MAX_SPAWNERS);
        return -ENOSPC;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        log_msg(LOG_ERR, "cannot start a spawner: %s", strerror(errno));
        return -errno;
    }
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        log_msg(LOG_ERR, "cannot fork the spawner: %s", strerror(e));
        return -e;
    }
    if (pid == 0) {
        close(m->sig_fd);
        loop_fini(&m->loop);
        if (m->check_trace >= 0)
            close(m->check_trace);
        close_spawner_ctls(m);
        lsn_set_use_slot(&m->lsns, 0);  /* no per-worker sockets */
        close(sv[0]);
        tls_tickets_drop();     /* programs never need ticket keys */
        unsetenv("NOTIFY_SOCKET");
        spawner_main(m->conf, m->gen, sv[1], &m->lsns);
    }
    close(sv[1]);
    *sp = (struct sproc){ pid, sv[0], m->gen, 0 };
    log_msg(LOG_INFO, "spawner %ld started", (long)pid);
    return 0;
}

static int live_spawners(const struct master *m)
{
    int n = 0;
    for (int i = 0; i < MAX_SPAWNERS; i++)
        n += m->sps[i].pid != 0;
    return n;
}

/* ---- checking plugins in a child ---- */

static void print_check(const struct worker *wk, const struct conf *c)
{
    for (size_t i = 0; i < wk->nsvcs; i++) {
        const struct superd_service *s = &wk->svcs[i];
        if (s->cs->exec.program) {
            printf("[%s] program %s%s\n", s->cs->name, s->cs->exec.program,
                   s->cs->exec.wait ? " (wait)" : "");
            for (size_t a = 0; a < s->cs->naddrs; a++)
                printf("[%s] listen %s\n", s->cs->name, s->cs->addrs[a].text);
            continue;
        }
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

static void check_child(const struct conf *c, bool print, bool to_log, pid_t parent, int trace)
{
    char err[CONF_ERR_MAX];
    struct worker wk;
    if (privs_drop(c, err, sizeof err) < 0) {
        check_failed(to_log, err);
        _exit(1);
    }
    die_with_parent(parent, SIGKILL);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    service_trace(trace);
    int r = worker_load(&wk, c, NULL, -1, err, sizeof err);
    if (r < 0)
        check_failed(to_log, err);
    else if (print)
        print_check(&wk, c);
    worker_fini(&wk);
    fflush(stdout);
    _exit(r < 0 ? 1 : 0);
}

/*
 * Fork the check child.  `m` (may be NULL: no master yet) names the
 * descriptors and shared maps the child must let go of before any plugin
 * code runs, so that code can neither touch the master's signalfd or loop
 * nor accept on its listeners.  Returns the pid (> 0) with *trace the read
 * end of the child's progress pipe, or a negative errno.
 */
static pid_t check_spawn(struct master *m, const struct conf *c, bool print, bool to_log,
                         int *trace)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
        return -errno;
    pid_t parent = getpid();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return -e;
    }
    if (pid == 0) {
        close(p[0]);
        if (m) {
            close(m->sig_fd);
            loop_fini(&m->loop);
            lsn_set_use_slot(&m->lsns, 0);
            for (size_t i = 0; i < m->lsns.n; i++)
                if (m->lsns.v[i].fd >= 0)
                    close(m->lsns.v[i].fd);
            stats_destroy(m->stats);
            sources_destroy(m->sources);
            close_spawner_ctls(m);
        }
        unsetenv("NOTIFY_SOCKET");
        check_child(c, print, to_log, parent, p[1]);
    }
    close(p[1]);
    *trace = p[0];
    return pid;
}

/* The last thing the check child said it was doing ("[echo] init"), or "". */
static void last_step(int trace, char *buf, size_t size)
{
    char chunk[512], line[128] = "";
    size_t len = 0;
    ssize_t n;
    while ((n = read(trace, chunk, sizeof chunk)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (chunk[i] == '\n') {
                line[len] = '\0';
                if (len)
                    snprintf(buf, size, "%s", line);
                len = 0;
            } else if (len + 1 < sizeof line) {
                line[len++] = chunk[i];
            }
        }
    }
}

/* Judge a finished check child: 0 when it passed.  A failure the child
 * could not report itself (a crash, a time-out) is reported here. */
static int check_verdict(const struct conf *c, int status, int trace, bool timed_out,
                         bool to_log)
{
    char msg[512], how[96], step[128] = "";
    if (timed_out) {
        check_failed(to_log, "plugin check timed out (a plugin's init did not return)");
        return -1;
    }
    if (WIFSIGNALED(status)) {
        last_step(trace, step, sizeof step);
        log_wait_status(status, how, sizeof how);
        if (step[0])
            snprintf(msg, sizeof msg, "%s: plugin check crashed in %s: %s", c->path, step, how);
        else
            snprintf(msg, sizeof msg, "%s: plugin check crashed: %s", c->path, how);
        check_failed(to_log, msg);
        return -1;
    }
    return WEXITSTATUS(status) == 0 ? 0 : -1;
}

int master_check(const struct conf *c, bool print, bool to_log)
{
    int trace = -1;
    pid_t pid = check_spawn(NULL, c, print, to_log, &trace);
    if (pid < 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "cannot fork to check plugins: %s", strerror((int)-pid));
        check_failed(to_log, msg);
        return -1;
    }
    /* Before serving there is no loop to wait in: poll, bounded, so a
     * plugin whose init hangs cannot hang superd. */
    int status = 0;
    long long deadline = clock_now_ms() + CHECK_TIMEOUT_MS;
    pid_t r;
    while ((r = waitpid(pid, &status, WNOHANG)) == 0 && clock_now_ms() < deadline)
        nanosleep(&(struct timespec){ 0, 5 * 1000 * 1000 }, NULL);
    bool timed_out = r == 0;
    if (timed_out) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    int v = r < 0 ? -1 : check_verdict(c, status, trace, timed_out, to_log);
    close(trace);
    return v;
}

/* ---- workers ---- */

static void worker_main(struct master *m, int row, int slot) __attribute__((noreturn));

/*
 * In a new worker, before any plugin code runs: close the listeners of
 * wait = yes services (the spawner's alone; a plugin's init must never
 * hold one), and make every other listener non-blocking again.  The flag
 * belongs to the open file description shared with the master, the
 * spawner and earlier workers: a spawner clears it on a wait = yes
 * listener for its program, and when a reload keeps that address for a
 * wait = no service the description would stay blocking, leaving workers
 * blocked in accept4.  Setting it here, in each worker, restores it.
 */
static void prepare_listeners(struct master *m)
{
    for (size_t i = 0; i < m->lsns.n; i++) {
        struct listener *l = &m->lsns.v[i];
        if (l->fd < 0)
            continue;
        if (l->svc_index < m->conf->nsvcs && m->conf->svcs[l->svc_index].exec.wait) {
            close(l->fd);
            l->fd = -1;
            continue;
        }
        int fl = fcntl(l->fd, F_GETFL);
        if (fl >= 0 && !(fl & O_NONBLOCK))
            fcntl(l->fd, F_SETFL, fl | O_NONBLOCK);
    }
}

/* The child side of a fork: become a worker, never return. */
static void worker_main(struct master *m, int row, int slot)
{
    char err[CONF_ERR_MAX];
    struct worker wk;
    /* A master killed with -9 must not leave workers behind: armed now
     * and again after the privilege drop, which clears it. */
    die_with_parent(m->pid, SIGTERM);
    close(m->sig_fd);
    loop_fini(&m->loop);
    if (m->check_trace >= 0)
        close(m->check_trace);
    close_spawner_ctls(m);
    lsn_set_use_slot(&m->lsns, slot);   /* its own UDP sockets only */
    prepare_listeners(m);
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
    die_with_parent(m->pid, SIGTERM);
    /* No set-uid program a plugin runs can regain what was dropped. */
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    tls_tickets_readonly();     /* only the master writes ticket keys */
    int r = worker_load(&wk, m->conf, m->stats, row, err, sizeof err);
    if (r < 0) {
        log_msg(LOG_ERR, "worker %ld: %s", (long)getpid(), err);
        worker_fini(&wk);
        _exit(1);
    }
    wk.srv.sources = m->sources;
    __atomic_store_n(&m->stats->worker_ready[row], 1, __ATOMIC_RELEASE);
    if ((r = worker_attach(&wk, &m->lsns)) == 0 && (r = worker_start(&wk)) == 0 &&
        (r = exec_attach(&wk.srv, m->worker_link, m->gen)) == 0)
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

static bool is_ready(const struct master *m, const struct wproc *wp)
{
    return __atomic_load_n(&m->stats->worker_ready[wp->row], __ATOMIC_ACQUIRE);
}

/* True when every live worker has started its plugins. */
static bool all_ready(const struct master *m)
{
    for (int i = 0; i < STATS_MAX_WORKERS; i++)
        if (m->procs[i].pid && !is_ready(m, &m->procs[i]))
            return false;
    return true;
}

/* The lowest worker slot no serving worker of this generation holds: a
 * restarted worker reads the per-worker sockets of the one it replaces. */
static int free_slot(const struct master *m)
{
    for (int s = 0;; s++) {
        bool used = false;
        for (int i = 0; i < STATS_MAX_WORKERS && !used; i++) {
            const struct wproc *wp = &m->procs[i];
            used = wp->pid && wp->gen == m->gen && !wp->stopping && wp->slot == s;
        }
        if (!used)
            return s;
    }
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
    int slot = free_slot(m);
    struct sproc *sp = current_spawner(m);
    m->worker_link = -1;
    if (sp && spawner_link(sp->ctl, &m->worker_link) < 0)
        log_msg(LOG_ERR, "cannot link a worker to the spawner: programs will not start");
    fflush(stderr);
    pid_t pid = fork();
    if (pid != 0 && m->worker_link >= 0) {
        close(m->worker_link);
        m->worker_link = -1;
    }
    if (pid < 0) {
        int e = errno;
        stats_worker_release(m->stats, row);
        log_msg(LOG_ERR, "cannot fork a worker: %s", strerror(e));
        return -e;
    }
    if (pid == 0)
        worker_main(m, row, slot);
    memset(wp, 0, sizeof *wp);
    wp->pid = pid;
    wp->row = row;
    wp->slot = slot;
    m->stats->worker_pid[row] = (int32_t)pid;
    m->stats->worker_started[row] = (int64_t)time(NULL);
    wp->gen = m->gen;
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

/* Tell a worker to finish its connections and exit, with the same
 * deadline as at shutdown: a stuck callback cannot keep it (and the ports
 * it holds) alive. */
static void retire(struct master *m, struct wproc *wp)
{
    if (!wp->stopping) {
        wp->stopping = true;
        wp->kill_at = clock_now_ms() + m->conf->shutdown_timeout_ms + KILL_GRACE_MS;
    }
    kill(wp->pid, SIGTERM);
}

static void check_finished(struct master *m, int status);

/* A worker is gone: log it the way it deserves, and replace it if it was
 * meant to be serving. */
static void worker_gone(struct master *m, struct wproc *wp, pid_t pid, int status)
{
    bool ready = is_ready(m, wp);
    /* Its connections are gone: give their slots back. */
    stats_worker_release(m->stats, wp->row);
    sources_worker_gone(m->sources, wp->row);
    char how[96];
    log_wait_status(status, how, sizeof how);
    bool stopping = wp->stopping || m->stopping;
    bool crashed = WIFSIGNALED(status) && !wp->killed && WTERMSIG(status) != SIGTERM;
    bool old = wp->gen != m->gen;
    wp->pid = 0;
    if (stopping || old) {
        /* A crash while finishing connections still lost clients. */
        if (crashed)
            log_msg(LOG_ERR, "worker %ld %s while finishing the connections of %s",
                    (long)pid, how, wp->services);
        else
            log_msg(LOG_INFO, "worker %ld %s", (long)pid, how);
        return;     /* its generation is being replaced: nothing to restart */
    }
    if (!ready) {
        m->stats->proc.restarts[STATS_RESTART_STARTUP]++;
        long long delay = backoff(++m->failures);
        log_msg(LOG_ERR, "worker %ld %s during start-up; starting another in %lld ms",
                (long)pid, how, delay);
        spawn_later(m, 1, delay);
        return;
    }
    m->failures = 0;
    m->stats->proc.restarts[WIFSIGNALED(status) ? STATS_RESTART_CRASH : STATS_RESTART_EXIT]++;
    log_msg(LOG_ERR, "worker %ld %s while serving %s; starting another",
            (long)pid, how, wp->services);
    if (spawn(m) < 0)
        spawn_later(m, 1, BACKOFF_MIN_MS);
}

/* A spawner exited.  An old generation's is done; the current one's is
 * replaced, with new workers (the old ones hold links to the dead one).
 * Returns false if pid is not a spawner. */
static bool spawner_gone(struct master *m, pid_t pid, int status)
{
    struct sproc *sp = NULL;
    for (int i = 0; i < MAX_SPAWNERS && !sp; i++)
        if (m->sps[i].pid == pid)
            sp = &m->sps[i];
    if (!sp)
        return false;
    char how[96];
    log_wait_status(status, how, sizeof how);
    bool current = sp->gen == m->gen;
    close(sp->ctl);
    sp->pid = 0;
    if (!current || m->stopping) {
        log_msg(LOG_INFO, "spawner %ld %s", (long)pid, how);
        return true;
    }
    log_msg(LOG_ERR, "spawner %ld %s; starting another, and new workers", (long)pid, how);
    if (spawner_start(m) < 0)
        return true;
    int n = 0;
    for (int i = 0; i < STATS_MAX_WORKERS; i++)
        if (m->procs[i].pid && m->procs[i].gen == m->gen && !m->procs[i].stopping) {
            retire(m, &m->procs[i]);
            m->procs[i].gen--;      /* an old generation now: not restarted */
            n++;
        }
    for (int i = 0; i < n; i++)
        if (spawn(m) < 0)
            spawn_later(m, 1, BACKOFF_MIN_MS);
    return true;
}

static void reap(struct master *m)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (m->check_pid && pid == m->check_pid) {
            check_finished(m, status);
            continue;
        }
        if (spawner_gone(m, pid, status))
            continue;
        for (int i = 0; i < STATS_MAX_WORKERS; i++)
            if (m->procs[i].pid == pid) {
                worker_gone(m, &m->procs[i], pid, status);
                break;
            }
    }
}

/* ---- reload: parse, check (in a child), bind, start, retire, close ---- */

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

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void start_reload(struct master *m);

/* A reload ended (done or refused): tell systemd, run the one queued. */
static void reload_end(struct master *m)
{
    m->phase = RELOAD_IDLE;
    systemd_notify("READY=1");
    if (m->reload_again && !m->stopping) {
        m->reload_again = false;
        log_msg(LOG_NOTICE, "SIGHUP arrived during the reload: reloading once more");
        start_reload(m);
    }
}

static void reload_refused(struct master *m, const char *msg)
{
    m->stats->proc.reload_failures++;
    log_msg(LOG_ERR, RELOAD_FAILED "%s", msg);
    conf_free(m->next);
    m->next = NULL;
    reload_end(m);
}

/* Step 1 and 2: parse the file, then check its plugins in a child whose
 * exit the loop reports (check_finished). */
static void start_reload(struct master *m)
{
    char err[CONF_ERR_MAX];
    log_msg(LOG_NOTICE, "SIGHUP: reloading %s", m->path);
    systemd_notify_reloading();
    m->phase = RELOAD_CHECKING;
    if (conf_load(m->path, &m->next, err, sizeof err) < 0) {
        m->next = NULL;
        reload_refused(m, err);
        return;
    }
    if (!same_str(m->conf->pid_file, m->next->pid_file)) {
        snprintf(err, sizeof err, "%s: pid_file: changing it needs a restart (still %s)",
                 m->next->path, m->conf->pid_file ? m->conf->pid_file : "none");
        reload_refused(m, err);
        return;
    }
    pid_t pid = check_spawn(m, m->next, false, true, &m->check_trace);
    if (pid < 0) {
        snprintf(err, sizeof err, "cannot fork to check plugins: %s", strerror((int)-pid));
        reload_refused(m, err);
        return;
    }
    m->check_pid = pid;
    m->check_timed_out = false;
    m->phase_deadline = clock_now_ms() + CHECK_TIMEOUT_MS;
}

static int free_procs(const struct master *m)
{
    return STATS_MAX_WORKERS - live_workers(m);
}

/* Step 3 and 4: bind what is new, switch to the new configuration and
 * start its workers; the old ones serve until these do. */
static void commit_reload(struct master *m)
{
    char err[CONF_ERR_MAX];
    struct conf *nc = m->next;
    /* Bounded: workers still finishing from earlier reloads take rows; a
     * reload with no room for its workers keeps the current ones. */
    if (free_procs(m) < nc->workers) {
        snprintf(err, sizeof err, "no room for %d new workers: %d workers are running or "
                 "still finishing connections (at most %d)", nc->workers, live_workers(m),
                 STATS_MAX_WORKERS);
        reload_refused(m, err);
        return;
    }
    if (stats_fit(m->stats, nc, err, sizeof err) < 0) {
        reload_refused(m, err);
        return;
    }
    struct lsn_set ns;
    if (lsn_set_bind(&ns, nc, &m->lsns, err, sizeof err) < 0) {
        reload_refused(m, err);
        return;
    }
    m->added = m->kept = m->removed = 0;
    for (size_t i = 0; i < ns.n; i++) {
        bool k = lsn_set_kept(&m->lsns, &ns.v[i]);
        log_msg(LOG_NOTICE, "reload: [%s] %s %s", ns.v[i].svc_name, k ? "kept" : "added",
                ns.v[i].addr.text);
        k ? m->kept++ : m->added++;
    }
    for (size_t i = 0; i < m->lsns.n; i++) {
        if (m->lsns.v[i].kept)
            continue;
        log_msg(LOG_NOTICE, "reload: [%s] removed %s", m->lsns.v[i].svc_name,
                m->lsns.v[i].addr.text);
        m->removed++;
    }
    /* Close what is gone before forking, so new workers never hold it;
     * old workers let go of their copies when they are retired. */
    lsn_set_close(&m->lsns);
    m->lsns = ns;
    conf_free(m->conf);
    m->conf = nc;
    m->next = NULL;
    log_setup(nc->log_target, nc->log_level, nc->syslog_facility);
    assign_slots(m, nc, RELOAD_FAILED);   /* fits: checked above */

    struct sproc *old_sp = current_spawner(m);
    if (old_sp)
        kill(old_sp->pid, SIGHUP);  /* retire: its children finish on their own */
    m->gen++;
    spawner_start(m);
    m->failures = 0;
    m->pending = 0;
    int started = 0;
    for (int i = 0; i < nc->workers; i++)
        started += spawn(m) == 0;
    if (started < nc->workers)
        spawn_later(m, nc->workers - started, BACKOFF_MIN_MS);
    m->phase = RELOAD_STARTING;
    m->phase_deadline = clock_now_ms() + READY_WAIT_MS;
    m->late_logged = false;
}

/* Step 5 and 6, once a new worker serves: retire every older one (the
 * listeners that are gone were closed in the master already). */
static void starting_tick(struct master *m)
{
    int fresh = 0, serving = 0;
    for (int i = 0; i < STATS_MAX_WORKERS; i++) {
        struct wproc *wp = &m->procs[i];
        if (!wp->pid || wp->gen != m->gen)
            continue;
        fresh++;
        serving += is_ready(m, wp);
    }
    long long now = clock_now_ms();
    bool all = fresh > 0 && serving == fresh && m->pending == 0;
    if (!all && !(serving > 0 && now >= m->phase_deadline)) {
        if (now >= m->phase_deadline && !m->late_logged) {
            log_msg(LOG_ERR, "reload: no new worker serving after %d ms; the old workers "
                    "serve on until one does", READY_WAIT_MS);
            m->late_logged = true;
        }
        return;
    }
    for (int i = 0; i < STATS_MAX_WORKERS; i++) {
        struct wproc *wp = &m->procs[i];
        if (wp->pid && wp->gen != m->gen && !wp->stopping)
            retire(m, wp);
    }
    log_msg(LOG_NOTICE, "reload done: %zu added, %zu kept, %zu removed; %d new workers",
            m->added, m->kept, m->removed, serving);
    m->stats->proc.reloads++;
    m->stats->proc.last_reload = (int64_t)time(NULL);
    reload_end(m);
}

static void check_finished(struct master *m, int status)
{
    int v = check_verdict(m->next, status, m->check_trace, m->check_timed_out, true);
    close(m->check_trace);
    m->check_trace = -1;
    m->check_pid = 0;
    if (m->stopping) {
        conf_free(m->next);
        m->next = NULL;
        m->phase = RELOAD_IDLE;
        return;
    }
    if (v < 0) {
        /* The child (or check_verdict) said why. */
        m->stats->proc.reload_failures++;
        conf_free(m->next);
        m->next = NULL;
        reload_end(m);
        return;
    }
    commit_reload(m);
}

static void request_reload(struct master *m)
{
    if (m->stopping)
        return;
    if (m->phase != RELOAD_IDLE) {
        m->reload_again = true;     /* coalesced: one more, however many came */
        return;
    }
    start_reload(m);
}

/* ---- stop, statistics ---- */

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
    m->reload_again = false;
    if (m->check_pid)
        kill(m->check_pid, SIGKILL);
    for (int i = 0; i < STATS_MAX_WORKERS; i++)
        if (m->procs[i].pid)
            retire(m, &m->procs[i]);
    /* A spawner stops its children shutdown_timeout + its own grace after
     * SIGTERM; one still there later is stuck (a child it waits on, a
     * descriptor that will not close): killed, so the master can exit. */
    long long sp_kill_at = clock_now_ms() + m->conf->shutdown_timeout_ms + SPAWN_KILL_GRACE_MS +
                           KILL_GRACE_MS;
    for (int i = 0; i < MAX_SPAWNERS; i++)
        if (m->sps[i].pid) {
            kill(m->sps[i].pid, SIGTERM);
            m->sps[i].kill_at = sp_kill_at;
        }
    /* Stop accepting: workers close their copies as they get SIGTERM. */
    lsn_set_close(&m->lsns);
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

/* Read every pending signal first, then act by priority: children, stop,
 * report, reload.  Standard signals do not queue, so one batch holds each
 * at most once or twice, and a HUP storm cannot starve SIGCHLD or SIGTERM
 * (signalfd hands out the lowest-numbered pending signal first). */
static void on_signal(struct loop_watch *w, uint32_t events)
{
    (void)events;
    struct master *m = (struct master *)((char *)w - offsetof(struct master, sig_w));
    struct signalfd_siginfo si;
    bool chld = false, hup = false, usr1 = false;
    int terms[2], nterms = 0;
    while (read(m->sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        switch (si.ssi_signo) {
        case SIGCHLD: chld = true; break;
        case SIGHUP: hup = true; break;
        case SIGUSR1: usr1 = true; break;
        case SIGTERM:
        case SIGINT:
            if (nterms < 2)
                terms[nterms++] = (int)si.ssi_signo;
            break;
        }
    }
    if (chld)
        reap(m);
    for (int i = 0; i < nterms; i++)
        stop(m, terms[i]);
    if (usr1)
        report(m);
    if (hup)
        request_reload(m);
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
    return loop_add(&m->loop, &m->sig_w, m->sig_fd, LOOP_READABLE, on_signal);
}

static long long earlier(long long a, long long b)
{
    return a < 0 || b < a ? b : a;
}

/* How long the loop may sleep: until the next thing due. */
static int next_timeout(const struct master *m)
{
    long long now = clock_now_ms(), at = -1;
    if (m->pending && !m->stopping)
        at = earlier(at, m->respawn_at);
    if (m->phase == RELOAD_CHECKING && !m->check_timed_out)
        at = earlier(at, m->phase_deadline);
    if (m->phase == RELOAD_STARTING)
        at = earlier(at, now + STARTING_POLL_MS);
    for (int i = 0; i < STATS_MAX_WORKERS; i++)
        if (m->procs[i].pid && m->procs[i].kill_at)
            at = earlier(at, m->procs[i].kill_at);
    for (int i = 0; i < MAX_SPAWNERS; i++)
        if (m->sps[i].pid && m->sps[i].kill_at)
            at = earlier(at, m->sps[i].kill_at);
    if (m->tickets_due >= 0)
        at = earlier(at, m->tickets_due);
    if (at < 0)
        return 60000;
    long long left = at > now ? at - now : 0;
    return left > 60000 ? 60000 : (int)left;
}

/* Whatever came due while the loop waited. */
static void timers(struct master *m)
{
    long long now = clock_now_ms();
    if (m->tickets_due >= 0 && now >= m->tickets_due)
        m->tickets_due = tls_tickets_tick(now, m->conf->tls_ticket_rotate_ms);
    if (m->pending && !m->stopping && now >= m->respawn_at) {
        int n = m->pending;
        m->pending = 0;
        m->respawn_at = 0;
        for (int i = 0; i < n; i++)
            if (spawn(m) < 0)
                spawn_later(m, 1, backoff(++m->failures));
    }
    if (m->phase == RELOAD_CHECKING && m->check_pid && !m->check_timed_out &&
        now >= m->phase_deadline) {
        m->check_timed_out = true;      /* its exit finishes the reload */
        kill(m->check_pid, SIGKILL);
    }
    if (m->phase == RELOAD_STARTING && !m->stopping)
        starting_tick(m);
    for (int i = 0; i < STATS_MAX_WORKERS; i++) {
        struct wproc *wp = &m->procs[i];
        if (!wp->pid || !wp->kill_at || now < wp->kill_at)
            continue;
        log_msg(LOG_WARNING, "worker %ld still running %d ms after shutdown_timeout: "
                "killing it", (long)wp->pid, KILL_GRACE_MS);
        kill(wp->pid, SIGKILL);
        wp->killed = true;
        wp->kill_at = 0;
    }
    for (int i = 0; i < MAX_SPAWNERS; i++) {
        struct sproc *sp = &m->sps[i];
        if (!sp->pid || !sp->kill_at || now < sp->kill_at)
            continue;
        log_msg(LOG_WARNING, "spawner %ld still running %d ms after shutdown_timeout: "
                "killing it", (long)sp->pid, SPAWN_KILL_GRACE_MS + KILL_GRACE_MS);
        kill(sp->pid, SIGKILL);
        sp->kill_at = 0;
    }
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
    m->check_trace = -1;
    int r = setup(m);
    if (r < 0) {
        log_msg(LOG_ERR, "cannot start the master: %s", strerror(-r));
        goto out;
    }
    /* Session-ticket keys in memory every worker maps: a session resumes
     * on whichever worker the client reaches. */
    if ((r = tls_tickets_init()) < 0)
        log_msg(LOG_WARNING, "tls: no shared session-ticket keys (%s): a session resumes "
                "only on the worker that made it", strerror(-r));
    m->tickets_due = tls_tickets_tick(clock_now_ms(), c->tls_ticket_rotate_ms);
    m->stats->proc.start_time = (int64_t)time(NULL);
    if (assign_slots(m, c, "") < 0)
        goto out;
    if (spawner_start(m) < 0)
        goto out;
    for (int i = 0; i < c->workers; i++)
        if (spawn(m) < 0)
            goto out;
    /* "ready" means serving: wait (bounded) until every worker's plugins
     * have started; a worker dying meanwhile is handled as always. */
    long long until = clock_now_ms() + READY_WAIT_MS;
    while (!all_ready(m) && !m->stopping && clock_now_ms() < until)
        if (loop_run_once(&m->loop, STARTING_POLL_MS) < 0)
            break;
    if (all_ready(m))
        log_msg(LOG_NOTICE, "ready");
    else
        log_msg(LOG_NOTICE, "ready (not every worker serving yet after %d ms)", READY_WAIT_MS);
    systemd_notify("READY=1");

    while (!m->stopping || live_workers(m) > 0 || m->check_pid || live_spawners(m) > 0) {
        r = loop_run_once(&m->loop, next_timeout(m));
        if (r < 0) {
            log_msg(LOG_ERR, "master loop failed: %s", strerror(-r));
            break;
        }
        timers(m);
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
    if (m->check_pid) {
        kill(m->check_pid, SIGKILL);
        waitpid(m->check_pid, NULL, 0);
    }
    for (int i = 0; i < MAX_SPAWNERS; i++)
        if (m->sps[i].pid) {
            kill(m->sps[i].pid, SIGKILL);
            waitpid(m->sps[i].pid, NULL, 0);
            close(m->sps[i].ctl);
        }
    if (m->check_trace >= 0)
        close(m->check_trace);
    conf_free(m->next);
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
