/* soak.c - the soak test: hostile loads against the real superd, and a report.
 *
 *   soak [BUILD]        (make soak)  BUILD defaults to "build"
 *
 * Starts BUILD/superd with a private configuration in a temporary directory
 * (two workers; echo on TCP and UDP 127.0.0.1:P, discard on TCP 127.0.0.1:Q),
 * then runs one phase after another while a well-behaved client, a forked
 * helper process, sends an echo request every 10 ms on its own connection:
 *
 *   1 baseline          superd's RSS and descriptors after start
 *   2 idle              5,000 concurrent idle connections, held 10 s
 *   3 never-read        200 clients that send and never read
 *   4 slowloris         200 clients that trickle a byte every 500 ms, 10 s
 *   5 UDP flood         64 sockets sending to echo as fast as they can, 5 s
 *   6 churn             10,000 connect-and-close
 *   7 after             superd settles; RSS and descriptors again
 *
 * A control client does the same against a trivial echo server of our own
 * at the same time, so the report can tell superd's delays from those of a
 * loaded machine.  A few connections of phases 2 and 4 are left open to
 * check that idle_timeout and max_lifetime close them on time.  Every client
 * connection comes from a spread source address (127.0.0.2-127.0.0.250);
 * only 127.0.0.1 is ever a target.  Every loop is bounded by time and by
 * count, a watchdog ends the run after four minutes, and superd is killed
 * on every failure path.  The report is printed and written to
 * BUILD/soak-report.txt; superd's log is kept in BUILD/soak-superd.log.
 * Exit status 0 only if every verdict holds.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* The scenario. */
#define IDLE_N          5000
#define IDLE_HOLD_MS    10000
#define NOREAD_N        200
#define NOREAD_CAP      (5u << 20)      /* bytes each never-read client writes at most */
#define NOREAD_STALL_MS 1000            /* no write progress this long: stalled */
#define NOREAD_HOLD_MS  3000
#define NOREAD_QUEUE_KIB 320            /* documented: about 320 KiB per client */
#define NOREAD_RSS_KIB  512             /* the output buffer's largest capacity */
#define LORIS_N         200
#define LORIS_EVERY_MS  500
#define LORIS_MS        10000
#define UDP_SOCKS       64
#define UDP_MS          5000
#define UDP_MAX         4000000         /* datagrams sent at most */
#define UDP_PAYLOAD     64
#define CHURN_N         10000
#define CHURN_PARALLEL  256
#define LINGER_IDLE     20              /* idle connections left for idle_timeout */
#define LINGER_LORIS    20              /* slowloris left for max_lifetime */
#define IDLE_TIMEOUT_S  20
#define MAX_LIFETIME_S  30
#define MAX_PER_SOURCE  100
#define SPREAD          249             /* source addresses 127.0.0.2 .. 127.0.0.250 */

#define GOOD_EVERY_MS   10
#define GOOD_TIMEOUT_MS 2000            /* no answer this long: a failure */
#define GOOD_ROTATE_MS  20000           /* reconnect before max_lifetime closes it */
#define GOOD_MSG        32
#define GOOD_SAMPLES    8192

#define SAMPLE_MS       250
#define SETTLE_MS       5000
#define WATCHDOG_S      240
#define RSS_MARGIN_KIB  2048            /* RSS may end up to max(2 MiB, 20%) higher */
#define FD_MARGIN       2

enum { PH_BASE, PH_IDLE, PH_NOREAD, PH_LORIS, PH_UDP, PH_CHURN, PH_AFTER, PH_N };
static const char *const phase_names[PH_N] = {
    "1 baseline", "2 5000 idle", "3 200 never-read", "4 200 slowloris",
    "5 UDP flood", "6 10000 conn+close", "7 after, settled",
};

/* ---- the good client's shared results ---- */

struct good_phase {
    uint64_t requests, failures, reconnects;
    uint32_t worst_us;
    uint32_t nsamples;
    uint32_t lat_us[GOOD_SAMPLES];
    char first_failure[160];
};

/* The good client measures superd; the control client does the same
 * against a trivial echo server of our own (one connection, blocking), so
 * the report can tell superd's delays from the machine's. */
enum { WHO_SUPERD, WHO_CONTROL, WHO_N };

struct good_shm {
    int phase;
    int stop;
    int connected_once[WHO_N];
    struct good_phase g[WHO_N][PH_N];
};

/* ---- superd, as sampled and as it reports itself ---- */

struct ctr {                        /* one SIGUSR1 line */
    long long active, accepted, refused, bytes_in, bytes_out, dgrams_in, dgrams_out, loop_drops;
};
enum { SVC_ECHO, SVC_DISCARD, SVC_N };
static const char *const svc_names[SVC_N] = { "echo", "discard" };

struct sample {
    long rss_kib;
    long fds;
    int nworkers;
    pid_t workers[8];
};

struct phase {
    long long t0, t1;
    long rss_peak, fds_peak;
    long rss_end, fds_end;          /* once its clients were gone */
    int workers_min, workers_max;
    bool have_peak, have_end;
    struct ctr peak[SVC_N], end[SVC_N];
    long long release_ms;           /* how long until active was back; -1: never */
    char note[1536];
};

/* ---- client sockets of the TCP phases ---- */

enum kind { K_IDLE, K_NOREAD, K_LORIS, K_CHURN, K_N };
enum state { S_FREE, S_CONNECTING, S_OPEN, S_GONE, S_CLOSED, S_FAILED };

struct cl {
    int fd;
    unsigned char kind, state, linger;
    long long t_conn, t_next, t_gone;   /* t_next: slowloris' next byte, never-read's last progress */
    uint64_t sent;
};

struct tally {
    int started, connected, failed, gone_early, stalled, capped;
    uint64_t bytes;
    int first_err;
};

/* ---- globals: one run, one process ---- */

static const char *build_dir = "build";
static char tmpdir[64] = "";
static char ini_path[128], log_path[128];
static volatile pid_t superd_pid = -1;
static volatile pid_t helpers[3];   /* good client, control client, control server */
static volatile int nhelpers;
static struct good_shm *shm;
static int log_rfd = -1;
static int epfd = -1;
static uint16_t echo_port, discard_port;
static int cur;                     /* the current phase */
static struct phase ph[PH_N];
static struct tally tally[K_N];
static long long t_start, next_sample;
static struct sample base, final_sample;   /* superd at the start and at the end */
static long nofile_limit;
static char nofile_note[96] = "";

static struct cl idle_cl[IDLE_N], noread_cl[NOREAD_N], loris_cl[LORIS_N], churn_cl[CHURN_PARALLEL];
static bool loris_live;             /* trickle the slowloris (their timers run in pump) */
static char junk[64 * 1024];

static char *report;
static size_t report_len, report_cap;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Async-signal-safe: kill what we started and say so.  Used by the
 * watchdog and on SIGINT/SIGTERM; the temporary directory is left. */
static void emergency(int sig)
{
    for (int i = 0; i < nhelpers; i++)
        kill(helpers[i], SIGKILL);
    if (superd_pid > 0)
        kill(-superd_pid, SIGKILL);
    const char *m = sig == SIGALRM ? "soak: watchdog: the run took too long; superd killed; "
                                     "its log is kept in "
                                   : "soak: interrupted; superd killed\n";
    ssize_t r = write(STDERR_FILENO, m, strlen(m));
    if (sig == SIGALRM) {
        r = write(STDERR_FILENO, log_path, strlen(log_path));
        r = write(STDERR_FILENO, "\n", 1);
    } else if (tmpdir[0]) {
        unlink(ini_path);
        unlink(log_path);
        rmdir(tmpdir);
    }
    (void)r;
    _exit(1);
}

static void kill_all(void)
{
    for (int i = 0; i < nhelpers; i++) {
        kill(helpers[i], SIGKILL);
        waitpid(helpers[i], NULL, 0);
    }
    nhelpers = 0;
    if (superd_pid > 0) {
        kill(-superd_pid, SIGKILL);
        waitpid(superd_pid, NULL, 0);
        superd_pid = -1;
    }
}

static void remove_tmpdir(void)
{
    if (!tmpdir[0])
        return;
    unlink(ini_path);
    unlink(log_path);
    rmdir(tmpdir);
    tmpdir[0] = '\0';
}

/* Print the end of superd's log (to explain a failure). */
static void log_tail(void)
{
    if (log_rfd < 0)
        return;
    struct stat st;
    if (fstat(log_rfd, &st) < 0)
        return;
    char buf[2048];
    off_t off = st.st_size > (off_t)sizeof buf - 1 ? st.st_size - (off_t)sizeof buf + 1 : 0;
    ssize_t n = pread(log_rfd, buf, sizeof buf - 1, off);
    if (n > 0) {
        buf[n] = '\0';
        fprintf(stderr, "soak: end of superd's log (%s):\n%s", log_path, buf);
    }
}

__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "soak: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    bool started = log_rfd >= 0;
    kill_all();
    if (started) {
        log_tail();
        fprintf(stderr, "soak: FAILED (superd stopped; its log is kept in %s)\n", log_path);
    } else {
        remove_tmpdir();
        fprintf(stderr, "soak: FAILED\n");
    }
    exit(1);
}

__attribute__((format(printf, 1, 2)))
static void rpt(const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(report + report_len, report_cap - report_len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (report_len + (size_t)n < report_cap) {
            report_len += (size_t)n;
            return;
        }
        size_t cap = report_cap ? report_cap * 2 : 8192;
        while (cap <= report_len + (size_t)n)
            cap *= 2;
        char *r = realloc(report, cap);
        if (!r)
            die("out of memory");
        report = r;
        report_cap = cap;
    }
}

__attribute__((format(printf, 2, 3)))
static void note(int p, const char *fmt, ...)
{
    size_t len = strlen(ph[p].note);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ph[p].note + len, sizeof ph[p].note - len, fmt, ap);
    va_end(ap);
}

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("soak: [%6.1f s] ", (double)(now_ms() - t_start) / 1000);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
}

/* ---- /proc: superd's processes, RSS and descriptors ---- */

static long read_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static long count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static int children_of(pid_t pid, pid_t *out, int max)
{
    char path[96], buf[512];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t len = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (len <= 0)
        return 0;
    buf[len] = '\0';
    int n = 0;
    for (char *p = buf, *end; n < max; p = end) {
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        out[n++] = (pid_t)v;
    }
    return n;
}

/* Sum VmRSS and open descriptors over the master and its workers. */
static void sample_superd(struct sample *s)
{
    memset(s, 0, sizeof *s);
    s->nworkers = children_of(superd_pid, s->workers, 8);
    s->rss_kib = read_rss_kib(superd_pid);
    s->fds = count_fds(superd_pid);
    for (int i = 0; i < s->nworkers; i++) {
        long r = read_rss_kib(s->workers[i]), f = count_fds(s->workers[i]);
        s->rss_kib += r > 0 ? r : 0;
        s->fds += f > 0 ? f : 0;
    }
}

/* The shared maps' size: stats (~1.1 MiB) + per-source table (~3.3 MiB). */
#define SHARED_BOUND_KIB (5 * 1024)

/* Where a process's resident memory is, from /proc/PID/smaps (KiB): the
 * malloc heap, shared anonymous maps (superd's counters and per-source
 * table, counted again in every process's VmRSS), other private memory,
 * and the proportional set size. */
struct mem_split {
    long heap, shared_anon, other, pss;
};

static void smaps_split(pid_t pid, struct mem_split *m)
{
    char path[64], line[512], name[256] = "";
    snprintf(path, sizeof path, "/proc/%d/smaps", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    bool shared = false;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perms[8];
        long kib;
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && strchr(line, ' ')) {
            name[0] = '\0';
            sscanf(line, "%*s %*s %*s %*s %*s %255s", name);
            shared = perms[3] == 's';
        } else if (sscanf(line, "Rss: %ld", &kib) == 1) {
            if (strcmp(name, "[heap]") == 0)
                m->heap += kib;
            else if (shared && (name[0] == '\0' || strncmp(name, "/dev/zero", 9) == 0 ||
                                strncmp(name, "/SYSV", 5) == 0))
                m->shared_anon += kib;
            else
                m->other += kib;
        } else if (sscanf(line, "Pss: %ld", &kib) == 1) {
            m->pss += kib;
        }
    }
    fclose(f);
}

/* superd's memory split at the start and at the end (totals over its
 * processes, and the largest shared part one process maps). */
static struct mem_split base_mem, final_mem;
static long base_shared_max, final_shared_max;

/* One line for the report: superd's memory, process by process. */
static void mem_note(int p, const struct sample *s)
{
    long shared_max = 0;
    pid_t pids[9];
    int n = 0;
    pids[n++] = superd_pid;
    for (int i = 0; i < s->nworkers && n < 9; i++)
        pids[n++] = s->workers[i];
    note(p, "    VmRSS split (KiB) as heap / shared anon (counters, per-source table) / other; "
         "PSS:\n     ");
    struct mem_split tot = { 0, 0, 0, 0 };
    for (int i = 0; i < n; i++) {
        struct mem_split m = { 0, 0, 0, 0 };
        smaps_split(pids[i], &m);
        note(p, " %s %d: %ld / %ld / %ld, PSS %ld;", i ? "worker" : "master", (int)pids[i],
             m.heap, m.shared_anon, m.other, m.pss);
        tot.heap += m.heap;
        tot.shared_anon += m.shared_anon;
        tot.other += m.other;
        tot.pss += m.pss;
        if (m.shared_anon > shared_max)
            shared_max = m.shared_anon;
    }
    if (p == PH_BASE) {
        base_mem = tot;
        base_shared_max = shared_max;
    } else {
        final_mem = tot;
        final_shared_max = shared_max;
    }
    note(p, "\n      total %ld / %ld / %ld, PSS %ld\n", tot.heap, tot.shared_anon, tot.other,
         tot.pss);
}

static void check_alive(void)
{
    int st;
    if (superd_pid > 0 && waitpid(superd_pid, &st, WNOHANG) == superd_pid) {
        superd_pid = -1;
        die("superd exited during phase %s (status %d, signal %d)", phase_names[cur],
            WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    }
}

static struct sample last_sample;

static void take_sample(void)
{
    struct sample s;
    check_alive();
    sample_superd(&s);
    last_sample = s;
    struct phase *p = &ph[cur];
    if (s.rss_kib > p->rss_peak)
        p->rss_peak = s.rss_kib;
    if (s.fds > p->fds_peak)
        p->fds_peak = s.fds;
    if (p->workers_min == 0 || s.nworkers < p->workers_min)
        p->workers_min = s.nworkers;
    if (s.nworkers > p->workers_max)
        p->workers_max = s.nworkers;
}

static void set_phase(int p)
{
    long long t = now_ms();
    if (cur != p)
        ph[cur].t1 = t;
    cur = p;
    ph[p].t0 = t;
    ph[p].release_ms = -1;
    __atomic_store_n(&shm->phase, p, __ATOMIC_RELAXED);
    take_sample();
    progress("phase %s", phase_names[p]);
}

/* ---- the event loop of the TCP phases ---- */

static void ep_set(struct cl *c, uint32_t events, int op)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    if (epoll_ctl(epfd, op, c->fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
}

static void fail(struct cl *c, int err)
{
    struct tally *t = &tally[c->kind];
    t->failed++;
    if (!t->first_err)
        t->first_err = err;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->state = S_FAILED;
}

/* superd closed (or reset) a connection we held open. */
static void gone(struct cl *c)
{
    c->state = S_GONE;
    c->t_gone = now_ms();
    close(c->fd);
    c->fd = -1;
    if (!c->linger)
        tally[c->kind].gone_early++;
}

/* We close: with a reset when rst, else with a FIN. */
static void shut(struct cl *c, bool rst)
{
    if (c->fd < 0)
        return;
    if (rst) {
        struct linger lg = { 1, 0 };
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(c->fd);
    c->fd = -1;
    c->state = S_CLOSED;
}

/* Start a non-blocking connect to 127.0.0.1:port from 127.0.0.(2 + idx % 249). */
static void cl_start(struct cl *c, enum kind k, uint16_t port, unsigned idx)
{
    memset(c, 0, sizeof *c);
    c->kind = (unsigned char)k;
    c->fd = -1;
    tally[k].started++;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail(c, errno);
        return;
    }
    c->fd = fd;
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = { .sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(0x7f000002u + idx % SPREAD) };
    struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0 ||
        (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS)) {
        fail(c, errno);
        return;
    }
    c->state = S_CONNECTING;
    ep_set(c, EPOLLOUT, EPOLL_CTL_ADD);
}

static void noread_write(struct cl *c)
{
    long long t = now_ms();
    while (c->sent < NOREAD_CAP) {
        size_t want = NOREAD_CAP - c->sent < sizeof junk ? NOREAD_CAP - c->sent : sizeof junk;
        ssize_t n = send(c->fd, junk, want, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c->sent += (uint64_t)n;
            tally[K_NOREAD].bytes += (uint64_t)n;
            c->t_next = t;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        gone(c);
        return;
    }
    /* Capped: nothing more to write; only a reset matters now. */
    ep_set(c, EPOLLRDHUP, EPOLL_CTL_MOD);
}

static void on_connected(struct cl *c)
{
    long long t = now_ms();
    c->state = S_OPEN;
    c->t_conn = t;
    tally[c->kind].connected++;
    switch (c->kind) {
    case K_IDLE:
        ep_set(c, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
        break;
    case K_NOREAD:
        c->t_next = t;
        ep_set(c, EPOLLOUT | EPOLLRDHUP, EPOLL_CTL_MOD);
        noread_write(c);
        break;
    case K_LORIS:
        c->t_next = t + rand() % LORIS_EVERY_MS;
        ep_set(c, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
        break;
    case K_CHURN:
        /* Every fourth one leaves with a reset, the others with a FIN. */
        shut(c, tally[K_CHURN].connected % 4 == 0);
        c->state = S_FREE;
        break;
    }
}

static void on_event(struct cl *c, uint32_t ev)
{
    if (c->state == S_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err) {
            fail(c, err);
            if (c->kind == K_CHURN)
                c->state = S_FREE;
        } else if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
            on_connected(c);
        }
        return;
    }
    if (c->state != S_OPEN)
        return;
    if (c->kind == K_NOREAD) {
        if (ev & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
            gone(c);
        else if (ev & EPOLLOUT)
            noread_write(c);
        return;
    }
    /* Idle and slowloris: read what comes (slowloris' echoes); EOF or
     * an error means superd closed the connection. */
    char buf[4096];
    for (int i = 0; i < 16; i++) {
        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0 && errno == EINTR)
            continue;
        gone(c);
        return;
    }
    if ((ev & (EPOLLERR | EPOLLHUP)) && c->state == S_OPEN)
        gone(c);
}

static void loris_tick(struct cl *set, int n, long long t)
{
    for (int i = 0; i < n; i++) {
        struct cl *c = &set[i];
        if (c->state != S_OPEN || t < c->t_next)
            continue;
        c->t_next += LORIS_EVERY_MS;
        if (c->t_next <= t)
            c->t_next = t + LORIS_EVERY_MS;
        if (send(c->fd, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
            tally[K_LORIS].bytes++;
        else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            gone(c);
    }
}

/* One turn of the loop: socket events, slowloris timers, the sampler. */
static void pump(int timeout_ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(epfd, evs, 512, timeout_ms);
    if (n < 0 && errno != EINTR)
        die("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++)
        on_event(evs[i].data.ptr, evs[i].events);
    long long t = now_ms();
    if (loris_live)
        loris_tick(loris_cl, LORIS_N, t);
    if (t >= next_sample) {
        next_sample = t + SAMPLE_MS;
        take_sample();
    }
}

static void pump_until(long long deadline)
{
    for (long long t = now_ms(); t < deadline; t = now_ms())
        pump(deadline - t < 50 ? (int)(deadline - t) : 50);
}

/* ---- SIGUSR1: superd's own counters ---- */

static bool parse_counters(const char *buf, size_t len, struct ctr out[SVC_N], bool seen[SVC_N])
{
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        char line[512];
        size_t l = (size_t)(nl - p) < sizeof line - 1 ? (size_t)(nl - p) : sizeof line - 1;
        memcpy(line, p, l);
        line[l] = '\0';
        p = nl + 1;
        for (int s = 0; s < SVC_N; s++) {
            char key[64];
            snprintf(key, sizeof key, "[%s] active ", svc_names[s]);
            const char *k = strstr(line, key);
            if (!k)
                continue;
            struct ctr c;
            if (sscanf(k + strlen(key) - strlen("active "),
                       "active %lld accepted %lld refused %lld bytes_in %lld bytes_out %lld "
                       "dgrams_in %lld dgrams_out %lld loop_drops %lld",
                       &c.active, &c.accepted, &c.refused, &c.bytes_in, &c.bytes_out,
                       &c.dgrams_in, &c.dgrams_out, &c.loop_drops) == 8) {
                out[s] = c;
                seen[s] = true;
            }
        }
    }
    return seen[SVC_ECHO] && seen[SVC_DISCARD];
}

/* Send SIGUSR1 to the master and read the counter lines it logs. */
static bool counters(struct ctr out[SVC_N])
{
    struct stat st;
    if (fstat(log_rfd, &st) < 0)
        die("fstat %s: %s", log_path, strerror(errno));
    off_t off = st.st_size;
    bool seen[SVC_N] = { false, false };
    kill(superd_pid, SIGUSR1);
    static char buf[1 << 16];
    long long deadline = now_ms() + 2000;
    size_t have = 0;
    while (now_ms() < deadline) {
        pump(5);
        ssize_t n = pread(log_rfd, buf + have, sizeof buf - 1 - have, off + (off_t)have);
        if (n > 0)
            have += (size_t)n;
        if (parse_counters(buf, have, out, seen))
            return true;
        if (have >= sizeof buf - 1)
            break;
    }
    return false;
}

static long long active_total(const struct ctr c[SVC_N])
{
    return c[SVC_ECHO].active + c[SVC_DISCARD].active;
}

static int open_count(const struct cl *set, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += set[i].state == S_OPEN;
    return k;
}

/* How many connections superd should hold now: the good client's and the
 * lingering ones still open. */
static long long expected_active(void)
{
    return 1 + open_count(idle_cl, IDLE_N) + open_count(loris_cl, LORIS_N);
}

/* After a phase closed its clients: wait (at most 5 s) until superd's
 * active count is back to what is still open, then keep its counters. */
static void end_phase(int p)
{
    long long t0 = now_ms(), deadline = t0 + 5000;
    struct ctr c[SVC_N];
    long long seen = -1;
    while (now_ms() < deadline) {
        if (counters(c)) {
            seen = active_total(c);
            if (seen == expected_active()) {
                ph[p].release_ms = now_ms() - t0;
                break;
            }
        }
        pump(100);
    }
    if (ph[p].release_ms < 0) {
        note(p, "    superd still had %lld connections active after 5 s (expected %lld)\n",
             seen, expected_active());
        counters(c);
    }
    memcpy(ph[p].end, c, sizeof c);
    ph[p].have_end = true;
    take_sample();
    ph[p].rss_end = last_sample.rss_kib;
    ph[p].fds_end = last_sample.fds;
}

static void peak_counters(int p)
{
    ph[p].have_peak = counters(ph[p].peak);
}

/* ---- the good client (a forked helper) ---- */

static int good_connect(uint16_t port, char *why, size_t whylen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, whylen, "socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
        snprintf(why, whylen, "connect: %s", strerror(errno));
        close(fd);
        return -1;
    }
    struct pollfd pfd = { .fd = fd, .events = POLLOUT };
    int err = 0;
    socklen_t len = sizeof err;
    if (poll(&pfd, 1, GOOD_TIMEOUT_MS) != 1) {
        snprintf(why, whylen, "connect: no answer in %d ms", GOOD_TIMEOUT_MS);
        close(fd);
        return -1;
    }
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        snprintf(why, whylen, "connect: %s", strerror(err));
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* One request and its echo, within GOOD_TIMEOUT_MS. */
static int good_exchange(int fd, const char *req, char *why, size_t whylen)
{
    long long deadline = now_ms() + GOOD_TIMEOUT_MS;
    size_t sent = 0, got = 0;
    char resp[GOOD_MSG];
    while (got < GOOD_MSG) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            snprintf(why, whylen, "no echo within %d ms (%zu of %d bytes back)",
                     GOOD_TIMEOUT_MS, got, GOOD_MSG);
            return -1;
        }
        struct pollfd pfd = { .fd = fd, .events = POLLIN | (sent < GOOD_MSG ? POLLOUT : 0) };
        if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) {
            snprintf(why, whylen, "poll: %s", strerror(errno));
            return -1;
        }
        if (sent < GOOD_MSG && (pfd.revents & POLLOUT)) {
            ssize_t n = send(fd, req + sent, GOOD_MSG - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0 && errno != EAGAIN && errno != EINTR) {
                snprintf(why, whylen, "send: %s", strerror(errno));
                return -1;
            }
            sent += n > 0 ? (size_t)n : 0;
        }
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(fd, resp + got, GOOD_MSG - got, MSG_DONTWAIT);
            if (n == 0) {
                snprintf(why, whylen, "connection closed by superd");
                return -1;
            }
            if (n < 0 && errno != EAGAIN && errno != EINTR) {
                snprintf(why, whylen, "recv: %s", strerror(errno));
                return -1;
            }
            got += n > 0 ? (size_t)n : 0;
        }
    }
    if (memcmp(req, resp, GOOD_MSG) != 0) {
        snprintf(why, whylen, "wrong echo");
        return -1;
    }
    return 0;
}

static void good_failed(int who, int p, const char *why)
{
    struct good_phase *g = &shm->g[who][p];
    g->failures++;
    if (!g->first_failure[0])
        snprintf(g->first_failure, sizeof g->first_failure, "at %.1f s: %s",
                 (double)(now_ms() - t_start) / 1000, why);
}

static void good_client(uint16_t port, int who)
{
    int fd = -1;
    long long conn_at = 0, next = now_us();
    unsigned long long seq = 0;
    char why[128];
    while (!__atomic_load_n(&shm->stop, __ATOMIC_RELAXED)) {
        int p = __atomic_load_n(&shm->phase, __ATOMIC_RELAXED);
        if (fd < 0) {
            fd = good_connect(port, why, sizeof why);
            if (fd < 0) {
                good_failed(who, p, why);
                usleep(100 * 1000);
                continue;
            }
            conn_at = now_ms();
            __atomic_store_n(&shm->connected_once[who], 1, __ATOMIC_RELAXED);
        } else if (now_ms() - conn_at >= GOOD_ROTATE_MS) {
            /* Before max_lifetime ends it: any close by superd is a failure. */
            close(fd);
            fd = -1;
            shm->g[who][p].reconnects++;
            continue;
        }
        next += GOOD_EVERY_MS * 1000;
        long long t = now_us();
        if (next < t)
            next = t;
        struct timespec ts = { .tv_sec = next / 1000000, .tv_nsec = (next % 1000000) * 1000 };
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        p = __atomic_load_n(&shm->phase, __ATOMIC_RELAXED);
        char req[GOOD_MSG + 1];
        snprintf(req, sizeof req, "good %020llu .....\n", seq++);
        long long t0 = now_us();
        struct good_phase *g = &shm->g[who][p];
        g->requests++;
        if (good_exchange(fd, req, why, sizeof why) < 0) {
            good_failed(who, p, why);
            close(fd);
            fd = -1;
            continue;
        }
        long long lat = now_us() - t0;
        uint32_t us = lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
        if (us > g->worst_us)
            g->worst_us = us;
        if (g->nsamples < GOOD_SAMPLES)
            g->lat_us[g->nsamples++] = us;
    }
    if (fd >= 0)
        close(fd);
}

/* Fork a helper that dies with us.  Returns 0 in the child. */
static pid_t spawn_helper(void)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(0);
        signal(SIGALRM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        alarm(0);
        close(epfd);
        return 0;
    }
    helpers[nhelpers] = pid;
    nhelpers++;
    return pid;
}

/* The control: the least an echo server can do, one connection at a time. */
static uint16_t start_control_server(void)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 8) < 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) < 0)
        die("control server: %s", strerror(errno));
    if (spawn_helper() == 0) {
        for (;;) {
            int c = accept(l, NULL, NULL);
            if (c < 0)
                continue;
            int one = 1;
            setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            char buf[4096];
            ssize_t n;
            while ((n = read(c, buf, sizeof buf)) > 0)
                if (write(c, buf, (size_t)n) != n)
                    break;
            close(c);
        }
    }
    close(l);
    return ntohs(a.sin_port);
}

static void start_good_clients(void)
{
    uint16_t ports[WHO_N] = { echo_port, start_control_server() };
    for (int who = 0; who < WHO_N; who++) {
        if (spawn_helper() == 0) {
            good_client(ports[who], who);
            _exit(0);
        }
    }
    long long deadline = now_ms() + 5000;
    while (!(__atomic_load_n(&shm->connected_once[WHO_SUPERD], __ATOMIC_RELAXED) &&
             __atomic_load_n(&shm->connected_once[WHO_CONTROL], __ATOMIC_RELAXED)) &&
           now_ms() < deadline)
        usleep(10 * 1000);
    if (!shm->connected_once[WHO_SUPERD])
        die("the good client could not connect to echo within 5 s");
    if (!shm->connected_once[WHO_CONTROL])
        die("the control client could not connect to the control server within 5 s");
}

/* Stop the clients (they finish their request), then the control server. */
static void stop_good_clients(void)
{
    __atomic_store_n(&shm->stop, 1, __ATOMIC_RELAXED);
    long long deadline = now_ms() + 3000;
    bool reaped[3] = { false, false, false };
    /* helpers[0] is the control server, which never stops by itself. */
    for (int i = 1; i < nhelpers; i++)
        while (!(reaped[i] = waitpid(helpers[i], NULL, WNOHANG) == helpers[i]) &&
               now_ms() < deadline)
            usleep(10 * 1000);
    for (int i = 0; i < nhelpers; i++) {
        if (reaped[i])
            continue;
        kill(helpers[i], SIGKILL);
        waitpid(helpers[i], NULL, 0);
    }
    nhelpers = 0;
}

/* ---- setting up ---- */

static void raise_nofile(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    long want = 65536;
    FILE *f = fopen("/proc/sys/fs/nr_open", "re");
    long nr_open = 0;
    if (f) {
        if (fscanf(f, "%ld", &nr_open) != 1)
            nr_open = 0;
        fclose(f);
    }
    if (nr_open > 0 && nr_open < want)
        want = nr_open;
    if (rl.rlim_max != RLIM_INFINITY && (long)rl.rlim_max < want) {
        /* Root (CAP_SYS_RESOURCE) may raise the hard limit; else keep it. */
        struct rlimit up = { (rlim_t)want, (rlim_t)want };
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl = up;
        else
            snprintf(nofile_note, sizeof nofile_note, "; raising the hard limit to %ld: %s",
                     want, strerror(errno));
    }
    if (rl.rlim_cur != rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    nofile_limit = rl.rlim_cur == RLIM_INFINITY ? LONG_MAX : (long)rl.rlim_cur;
    /* We hold the idle clients plus a few hundred; superd holds the same. */
    if (nofile_limit < IDLE_N + 2000)
        die("RLIMIT_NOFILE is %ld and cannot be raised; the idle phase needs %d", nofile_limit,
            IDLE_N + 2000);
}

/* A port free on 127.0.0.1 for TCP and, when udp, for UDP too. */
static uint16_t free_port(bool udp)
{
    for (int tries = 0; tries < 100; tries++) {
        int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof a;
        if (t < 0 || bind(t, (struct sockaddr *)&a, sizeof a) < 0 ||
            getsockname(t, (struct sockaddr *)&a, &len) < 0)
            die("cannot find a free port: %s", strerror(errno));
        bool ok = true;
        if (udp) {
            int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            ok = u >= 0 && bind(u, (struct sockaddr *)&a, sizeof a) == 0;
            if (u >= 0)
                close(u);
        }
        close(t);
        if (ok)
            return ntohs(a.sin_port);
    }
    die("cannot find a free port for TCP and UDP");
}

static void write_config(void)
{
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        die("getcwd: %s", strerror(errno));
    echo_port = free_port(true);
    do
        discard_port = free_port(false);
    while (discard_port == echo_port);
    snprintf(ini_path, sizeof ini_path, "%s/soak.ini", tmpdir);
    snprintf(log_path, sizeof log_path, "%s/superd.log", tmpdir);
    FILE *f = fopen(ini_path, "we");
    if (!f)
        die("%s: %s", ini_path, strerror(errno));
    fprintf(f,
            "; written by tests/soak.c\n"
            "[superd]\n"
            "workers = 2\n"
            "plugin_dir = %s%s%s/plugins\n"
            "shutdown_timeout = 2s\n"
            "\n"
            "[echo]\n"
            "plugin = echo\n"
            "listen = tcp://127.0.0.1:%u udp://127.0.0.1:%u\n"
            "idle_timeout = %ds\n"
            "max_lifetime = %ds\n"
            "max_per_source = %d\n"
            "\n"
            "[discard]\n"
            "plugin = discard\n"
            "listen = tcp://127.0.0.1:%u\n"
            "idle_timeout = %ds\n"
            "max_lifetime = %ds\n"
            "max_per_source = %d\n",
            build_dir[0] == '/' ? "" : cwd, build_dir[0] == '/' ? "" : "/", build_dir,
            echo_port, echo_port, IDLE_TIMEOUT_S, MAX_LIFETIME_S, MAX_PER_SOURCE,
            discard_port, IDLE_TIMEOUT_S, MAX_LIFETIME_S, MAX_PER_SOURCE);
    if (fclose(f) != 0)
        die("%s: %s", ini_path, strerror(errno));
}

static bool log_has(const char *what)
{
    static char buf[1 << 20];
    ssize_t n = pread(log_rfd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    return strstr(buf, what) != NULL;
}

static void start_superd(void)
{
    char bin[PATH_MAX];
    snprintf(bin, sizeof bin, "%s/superd", build_dir);
    if (access(bin, X_OK) != 0)
        die("%s: %s (run make build first)", bin, strerror(errno));
    int lfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    log_rfd = open(log_path, O_RDONLY | O_CLOEXEC);
    if (lfd < 0 || log_rfd < 0)
        die("%s: %s", log_path, strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        /* Its own process group: one kill reaches the master and workers. */
        setpgid(0, 0);
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, STDIN_FILENO);
        dup2(lfd, STDOUT_FILENO);
        dup2(lfd, STDERR_FILENO);
        signal(SIGALRM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        alarm(0);
        execl(bin, "superd", "-c", ini_path, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    superd_pid = pid;
    close(lfd);
    long long deadline = now_ms() + 10000;
    while (!log_has("superd: ready")) {
        check_alive();
        if (now_ms() > deadline)
            die("superd did not log \"ready\" within 10 s");
        usleep(20 * 1000);
    }
    /* Both workers up before the baseline. */
    pid_t kids[8];
    while (children_of(superd_pid, kids, 8) < 2) {
        check_alive();
        if (now_ms() > deadline)
            die("superd did not start its two workers within 10 s");
        usleep(20 * 1000);
    }
}

/* ---- the phases ---- */

static void phase_baseline(void)
{
    set_phase(PH_BASE);
    pump_until(now_ms() + 1000);
    sample_superd(&base);
    ph[PH_BASE].rss_peak = ph[PH_BASE].rss_end = base.rss_kib;
    ph[PH_BASE].fds_peak = ph[PH_BASE].fds_end = base.fds;
    if (!counters(ph[PH_BASE].end))
        die("superd did not answer SIGUSR1 with its counters");
    ph[PH_BASE].have_end = true;
    ph[PH_BASE].release_ms = 0;
    note(PH_BASE, "    master %d, workers", (int)superd_pid);
    for (int i = 0; i < base.nworkers; i++)
        note(PH_BASE, " %d", (int)base.workers[i]);
    note(PH_BASE, "; RSS %.1f MiB, %ld fds (master + workers, the good client connected)\n",
         base.rss_kib / 1024.0, base.fds);
    mem_note(PH_BASE, &base);
}

static void phase_idle(void)
{
    set_phase(PH_IDLE);
    struct tally *t = &tally[K_IDLE];
    long long t0 = now_ms(), deadline = t0 + 15000;
    int next = 0;
    while (t->connected + t->failed < IDLE_N && now_ms() < deadline) {
        /* At most 256 handshakes in flight: the backlog is not the test. */
        while (next < IDLE_N && next - t->connected - t->failed < 256) {
            cl_start(&idle_cl[next], K_IDLE, echo_port, (unsigned)next);
            next++;
        }
        pump(20);
    }
    long long connect_ms = now_ms() - t0;
    for (int i = 0; i < IDLE_N; i++)
        if (idle_cl[i].state == S_CONNECTING)
            fail(&idle_cl[i], ETIMEDOUT);
    progress("  %d idle connections open in %.1f s (%d failed); holding %d s", t->connected,
             connect_ms / 1000.0, t->failed, IDLE_HOLD_MS / 1000);
    long long hold = now_ms();
    pump_until(hold + IDLE_HOLD_MS / 2);
    peak_counters(PH_IDLE);
    pump_until(hold + IDLE_HOLD_MS);
    /* Keep a few open: superd must close them at idle_timeout. */
    int kept = 0;
    for (int i = 0; i < IDLE_N; i++) {
        if (idle_cl[i].state != S_OPEN)
            continue;
        if (kept < LINGER_IDLE) {
            idle_cl[i].linger = 1;
            kept++;
        } else {
            shut(&idle_cl[i], false);
        }
    }
    end_phase(PH_IDLE);
    note(PH_IDLE, "    %d/%d connected in %.1f s (%d failed, first error: %s); %d closed by "
         "superd during the hold; %d kept open for the idle_timeout check\n",
         t->connected, IDLE_N, connect_ms / 1000.0, t->failed,
         t->first_err ? strerror(t->first_err) : "none", t->gone_early, kept);
}

static void phase_noread(void)
{
    set_phase(PH_NOREAD);
    struct tally *t = &tally[K_NOREAD];
    long long t0 = now_ms();
    for (int i = 0; i < NOREAD_N; i++)
        cl_start(&noread_cl[i], K_NOREAD, echo_port, (unsigned)(i * 7));
    /* Write until every client is capped or stalled (bounded: 20 s). */
    long long done_at = 0;
    while (now_ms() < t0 + 20000) {
        pump(20);
        long long t1 = now_ms();
        int busy = 0;
        for (int i = 0; i < NOREAD_N; i++) {
            const struct cl *c = &noread_cl[i];
            if (c->state == S_CONNECTING ||
                (c->state == S_OPEN && c->sent < NOREAD_CAP && t1 - c->t_next < NOREAD_STALL_MS))
                busy++;
        }
        if (!busy) {
            done_at = t1;
            break;
        }
    }
    for (int i = 0; i < NOREAD_N; i++) {
        const struct cl *c = &noread_cl[i];
        if (c->state == S_OPEN && c->sent >= NOREAD_CAP)
            t->capped++;
        else if (c->state == S_OPEN)
            t->stalled++;
    }
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < NOREAD_N; i++) {
        if (noread_cl[i].state != S_OPEN)
            continue;
        lo = noread_cl[i].sent < lo ? noread_cl[i].sent : lo;
        hi = noread_cl[i].sent > hi ? noread_cl[i].sent : hi;
    }
    progress("  %d stalled, %d reached 5 MiB, %.1f MiB written; holding %d s", t->stalled,
             t->capped, t->bytes / 1048576.0, NOREAD_HOLD_MS / 1000);
    pump_until(now_ms() + NOREAD_HOLD_MS);
    peak_counters(PH_NOREAD);
    for (int i = 0; i < NOREAD_N; i++)
        if (noread_cl[i].state == S_OPEN)
            shut(&noread_cl[i], false);   /* unread data: the kernel sends a reset */
    end_phase(PH_NOREAD);
    note(PH_NOREAD, "    %d/%d connected (%d failed); %s after %.1f s: %d stalled, %d reached "
         "5 MiB; %.1f MiB written in all, %.2f-%.2f MiB each; %d reset by superd while held\n",
         t->connected, NOREAD_N, t->failed, done_at ? "all settled" : "NOT all settled",
         ((done_at ? done_at : now_ms()) - t0) / 1000.0, t->stalled, t->capped,
         t->bytes / 1048576.0, lo == UINT64_MAX ? 0 : lo / 1048576.0, hi / 1048576.0,
         t->gone_early);
}

static void phase_loris(void)
{
    set_phase(PH_LORIS);
    struct tally *t = &tally[K_LORIS];
    long long t0 = now_ms();
    for (int i = 0; i < LORIS_N; i++)
        cl_start(&loris_cl[i], K_LORIS, i % 2 ? discard_port : echo_port, (unsigned)(i * 3));
    loris_live = true;
    pump_until(t0 + LORIS_MS / 2);
    peak_counters(PH_LORIS);
    pump_until(t0 + LORIS_MS);
    /* Keep some trickling, half on each service: superd must close them at
     * max_lifetime. */
    int kept[2] = { 0, 0 };
    for (int i = 0; i < LORIS_N; i++) {
        struct cl *c = &loris_cl[i];
        if (c->state != S_OPEN)
            continue;
        if (kept[i % 2] < LINGER_LORIS / 2) {
            c->linger = 1;
            kept[i % 2]++;
        } else {
            shut(c, false);
        }
    }
    end_phase(PH_LORIS);
    note(PH_LORIS, "    %d/%d connected (%d failed), half to echo, half to discard; %llu bytes "
         "trickled; %d closed by superd within %d s; %d kept trickling for the "
         "max_lifetime check\n", t->connected, LORIS_N, t->failed,
         (unsigned long long)t->bytes, t->gone_early, LORIS_MS / 1000, kept[0] + kept[1]);
}

static void phase_udp(void)
{
    set_phase(PH_UDP);
    int fds[UDP_SOCKS];
    struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(echo_port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    for (int i = 0; i < UDP_SOCKS; i++) {
        fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct sockaddr_in src = { .sin_family = AF_INET,
                                   .sin_addr.s_addr = htonl(0x7f000002u + (unsigned)i * 3 % SPREAD) };
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&src, sizeof src) < 0 ||
            connect(fds[i], (struct sockaddr *)&dst, sizeof dst) < 0)
            die("UDP socket: %s", strerror(errno));
    }
    enum { BATCH = 32 };
    char payload[BATCH][UDP_PAYLOAD];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
        memset(payload[i], 'u', UDP_PAYLOAD);
        iov[i] = (struct iovec){ payload[i], UDP_PAYLOAD };
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    char rbuf[BATCH][UDP_PAYLOAD + 64];
    struct iovec riov[BATCH];
    struct mmsghdr rmsgs[BATCH];
    uint64_t sent = 0, got = 0, send_err = 0;
    long long t0 = now_ms(), end = t0 + UDP_MS, last_pump = t0;
    bool peaked = false;
    while (sent < UDP_MAX) {
        long long t = now_ms();
        if (t >= end)
            break;
        for (int i = 0; i < UDP_SOCKS && sent < UDP_MAX; i++) {
            int n = sendmmsg(fds[i], msgs, BATCH, MSG_DONTWAIT);
            if (n > 0)
                sent += (uint64_t)n;
            else
                send_err++;
            memset(rmsgs, 0, sizeof rmsgs);
            for (int k = 0; k < BATCH; k++) {
                riov[k] = (struct iovec){ rbuf[k], sizeof rbuf[k] };
                rmsgs[k].msg_hdr.msg_iov = &riov[k];
                rmsgs[k].msg_hdr.msg_iovlen = 1;
            }
            int r = recvmmsg(fds[i], rmsgs, BATCH, MSG_DONTWAIT, NULL);
            if (r > 0)
                got += (uint64_t)r;
        }
        if (t - last_pump >= 2) {
            last_pump = t;
            pump(0);
        }
        if (!peaked && t >= t0 + UDP_MS / 2) {
            peaked = true;
            peak_counters(PH_UDP);
        }
    }
    long long flood_ms = now_ms() - t0;
    /* Collect the late echoes. */
    long long drain_end = now_ms() + 500;
    while (now_ms() < drain_end) {
        for (int i = 0; i < UDP_SOCKS; i++) {
            memset(rmsgs, 0, sizeof rmsgs);
            for (int k = 0; k < BATCH; k++) {
                riov[k] = (struct iovec){ rbuf[k], sizeof rbuf[k] };
                rmsgs[k].msg_hdr.msg_iov = &riov[k];
                rmsgs[k].msg_hdr.msg_iovlen = 1;
            }
            int r = recvmmsg(fds[i], rmsgs, BATCH, MSG_DONTWAIT, NULL);
            if (r > 0)
                got += (uint64_t)r;
        }
        pump(10);
    }
    for (int i = 0; i < UDP_SOCKS; i++)
        close(fds[i]);
    end_phase(PH_UDP);
    struct ctr *a = ph[PH_UDP].end, *b = ph[PH_LORIS].end;
    note(PH_UDP, "    %llu datagrams of %d bytes sent in %.1f s from %d sockets (%.0f/s), %llu "
         "echoes received; superd: %lld in, %lld out, %lld loop drops\n",
         (unsigned long long)sent, UDP_PAYLOAD, flood_ms / 1000.0, UDP_SOCKS,
         sent * 1000.0 / (double)(flood_ms ? flood_ms : 1), (unsigned long long)got,
         a[SVC_ECHO].dgrams_in - b[SVC_ECHO].dgrams_in,
         a[SVC_ECHO].dgrams_out - b[SVC_ECHO].dgrams_out,
         a[SVC_ECHO].loop_drops - b[SVC_ECHO].loop_drops);
    (void)send_err;
}

static void phase_churn(void)
{
    set_phase(PH_CHURN);
    struct tally *t = &tally[K_CHURN];
    long long t0 = now_ms(), deadline = t0 + 30000;
    int next = 0;
    bool peaked = false;
    while (t->connected + t->failed < CHURN_N && now_ms() < deadline) {
        for (int i = 0; i < CHURN_PARALLEL && next < CHURN_N; i++) {
            if (churn_cl[i].state != S_FREE && churn_cl[i].state != S_FAILED &&
                churn_cl[i].state != S_CLOSED)
                continue;
            cl_start(&churn_cl[i], K_CHURN, next % 2 ? discard_port : echo_port,
                     (unsigned)next);
            if (churn_cl[i].state == S_FAILED)
                churn_cl[i].state = S_FREE;
            next++;
        }
        pump(10);
        if (!peaked && t->connected >= CHURN_N / 2) {
            peaked = true;
            peak_counters(PH_CHURN);
        }
    }
    long long ms = now_ms() - t0;
    for (int i = 0; i < CHURN_PARALLEL; i++)
        if (churn_cl[i].state == S_CONNECTING)
            fail(&churn_cl[i], ETIMEDOUT);
    end_phase(PH_CHURN);
    note(PH_CHURN, "    %d/%d connected and closed in %.1f s (%.0f/s; a quarter with a reset), "
         "%d failed (first error: %s)\n", t->connected, CHURN_N, ms / 1000.0,
         t->connected * 1000.0 / (double)(ms ? ms : 1), t->failed,
         t->first_err ? strerror(t->first_err) : "none");
}

/* Lingering connections: superd must have closed each at its limit. */
static int check_lingerers(const struct cl *set, int n, int limit_s, int *ok, double *lo, double *hi)
{
    int total = 0;
    *ok = 0;
    *lo = 1e9;
    *hi = 0;
    for (int i = 0; i < n; i++) {
        if (!set[i].linger)
            continue;
        total++;
        if (set[i].state != S_GONE)
            continue;
        double s = (set[i].t_gone - set[i].t_conn) / 1000.0;
        *lo = s < *lo ? s : *lo;
        *hi = s > *hi ? s : *hi;
        /* Checked four times a second, accepted a little after we connected. */
        if (s >= limit_s - 0.3 && s <= limit_s + 1.5)
            (*ok)++;
    }
    return total;
}

static void phase_after(void)
{
    set_phase(PH_AFTER);
    /* The lingering connections end at their limits: wait for them first. */
    long long linger_end = now_ms();
    for (int i = 0; i < IDLE_N; i++)
        if (idle_cl[i].linger && idle_cl[i].t_conn + IDLE_TIMEOUT_S * 1000 > linger_end)
            linger_end = idle_cl[i].t_conn + IDLE_TIMEOUT_S * 1000;
    for (int i = 0; i < LORIS_N; i++)
        if (loris_cl[i].linger && loris_cl[i].t_conn + MAX_LIFETIME_S * 1000 > linger_end)
            linger_end = loris_cl[i].t_conn + MAX_LIFETIME_S * 1000;
    linger_end += 2000;
    while (now_ms() < linger_end &&
           open_count(idle_cl, IDLE_N) + open_count(loris_cl, LORIS_N) > 0)
        pump(50);
    loris_live = false;
    for (int i = 0; i < IDLE_N; i++)
        shut(&idle_cl[i], false);
    for (int i = 0; i < LORIS_N; i++)
        shut(&loris_cl[i], false);
    /* Settle: at most SETTLE_MS for RSS, descriptors and active to return. */
    long long t0 = now_ms();
    long rss_limit = base.rss_kib + (base.rss_kib / 5 > RSS_MARGIN_KIB ? base.rss_kib / 5
                                                                      : RSS_MARGIN_KIB);
    struct sample s;
    struct ctr c[SVC_N];
    bool active_ok = false;
    for (;;) {
        pump(100);
        sample_superd(&s);
        active_ok = counters(c) && active_total(c) == 1;
        if ((s.rss_kib <= rss_limit && s.fds <= base.fds + FD_MARGIN && active_ok) ||
            now_ms() - t0 >= SETTLE_MS)
            break;
        pump_until(now_ms() + 250);
    }
    ph[PH_AFTER].release_ms = active_ok ? now_ms() - t0 : -1;
    memcpy(ph[PH_AFTER].end, c, sizeof c);
    ph[PH_AFTER].have_end = true;
    ph[PH_AFTER].t1 = now_ms();
    note(PH_AFTER, "    settled after %.1f s: RSS %.1f MiB, %ld fds, %lld active, workers",
         (now_ms() - t0) / 1000.0, s.rss_kib / 1024.0, s.fds, active_total(c));
    for (int i = 0; i < s.nworkers; i++)
        note(PH_AFTER, " %d", (int)s.workers[i]);
    note(PH_AFTER, "\n");
    mem_note(PH_AFTER, &s);
    final_sample = s;
    ph[PH_AFTER].rss_end = s.rss_kib;
    ph[PH_AFTER].fds_end = s.fds;
    if (s.rss_kib > ph[PH_AFTER].rss_peak)
        ph[PH_AFTER].rss_peak = s.rss_kib;
    if (s.fds > ph[PH_AFTER].fds_peak)
        ph[PH_AFTER].fds_peak = s.fds;
}

/* ---- the report ---- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(const struct good_phase *g, double q)
{
    if (!g->nsamples)
        return 0;
    static uint32_t tmp[GOOD_SAMPLES];
    memcpy(tmp, g->lat_us, g->nsamples * sizeof tmp[0]);
    qsort(tmp, g->nsamples, sizeof tmp[0], cmp_u32);
    size_t i = (size_t)(q * (g->nsamples - 1) + 0.5);
    return tmp[i] / 1000.0;
}

static long long refused_in(int p)
{
    if (!ph[p].have_end || (p > 0 && !ph[p - 1].have_end))
        return -1;
    long long r = 0;
    for (int s = 0; s < SVC_N; s++)
        r += ph[p].end[s].refused - (p > 0 ? ph[p - 1].end[s].refused : 0);
    return r;
}

static long long accepted_in(int p)
{
    if (!ph[p].have_end || (p > 0 && !ph[p - 1].have_end))
        return -1;
    long long r = 0;
    for (int s = 0; s < SVC_N; s++)
        r += ph[p].end[s].accepted - (p > 0 ? ph[p - 1].end[s].accepted : 0);
    return r;
}

static int nverdicts;

static int verdict(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int verdict(bool ok, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    nverdicts++;
    rpt("  [%s] %s\n", ok ? "PASS" : "FAIL", line);
    return ok ? 0 : 1;
}

static int count_log(const char *what)
{
    static char buf[4 << 20];
    ssize_t n = pread(log_rfd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    int k = 0;
    for (const char *p = buf; (p = strstr(p, what)); p += strlen(what))
        k++;
    return k;
}

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: soak [BUILD]   (the directory holding superd and plugins/)\n");
        return 2;
    }
    if (argc == 2)
        build_dir = argv[1];
    t_start = now_ms();
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, emergency);
    signal(SIGTERM, emergency);
    signal(SIGALRM, emergency);
    alarm(WATCHDOG_S);
    srand((unsigned)getpid());
    memset(junk, 'n', sizeof junk);

    raise_nofile();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/superd-soak.XXXXXX");
    if (!mkdtemp(tmpdir))
        die("mkdtemp: %s", strerror(errno));
    write_config();
    shm = mmap(NULL, sizeof *shm, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shm == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1: %s", strerror(errno));

    progress("superd: %s/superd, config %s (echo tcp+udp 127.0.0.1:%u, discard tcp "
             "127.0.0.1:%u), RLIMIT_NOFILE %ld", build_dir, ini_path, echo_port, discard_port,
             nofile_limit);
    start_superd();
    start_good_clients();

    phase_baseline();
    phase_idle();
    phase_noread();
    phase_loris();
    phase_udp();
    phase_churn();
    phase_after();

    /* The end: the good client stops, then superd is asked to stop. */
    stop_good_clients();
    char limits[64] = "?";
    {
        char path[64], line[256];
        snprintf(path, sizeof path, "/proc/%d/limits", (int)superd_pid);
        FILE *f = fopen(path, "re");
        if (f) {
            while (fgets(line, sizeof line, f))
                if (strncmp(line, "Max open files", 14) == 0) {
                    long s1, h1;
                    if (sscanf(line + 14, " %ld %ld", &s1, &h1) == 2)
                        snprintf(limits, sizeof limits, "%ld/%ld", s1, h1);
                }
            fclose(f);
        }
    }
    long long term_t0 = now_ms();
    kill(superd_pid, SIGTERM);
    int st = 0;
    bool exited = false;
    while (now_ms() - term_t0 < 10000) {
        if (waitpid(superd_pid, &st, WNOHANG) == superd_pid) {
            exited = true;
            break;
        }
        usleep(10 * 1000);
    }
    long long term_ms = now_ms() - term_t0;
    if (!exited) {
        kill(-superd_pid, SIGKILL);
        waitpid(superd_pid, &st, 0);
    }
    superd_pid = -1;
    double total_s = (now_ms() - t_start) / 1000.0;

    /* ---- the report ---- */
    rpt("superd soak report\n");
    rpt("  %s/superd: workers 2, echo tcp+udp 127.0.0.1:%u, discard tcp 127.0.0.1:%u;\n"
        "  idle_timeout %ds, max_lifetime %ds, max_per_source %d, shutdown_timeout 2s;\n"
        "  RLIMIT_NOFILE %ld%s (superd inherited %s soft/hard);\n"
        "  %ld CPUs; run took %.1f s\n\n",
        build_dir, echo_port, discard_port, IDLE_TIMEOUT_S, MAX_LIFETIME_S, MAX_PER_SOURCE,
        nofile_limit, nofile_note, limits, sysconf(_SC_NPROCESSORS_ONLN), total_s);
    rpt("  RSS and fds: superd's master + workers, sampled every %d ms, and once the phase's "
        "clients were gone (end);\n"
        "  active: superd's open connections at the phase's height; accepted/refused: SIGUSR1 "
        "counters, echo + discard, during the phase;\n"
        "  good: one client, an echo every %d ms on its own connection to superd (latency in ms);\n"
        "  control: the same client against a trivial one-connection echo server of the soak's own,\n"
        "  at the same time: what the loaded machine alone costs\n\n",
        SAMPLE_MS, GOOD_EVERY_MS);
    rpt("  %-19s %4s %8s %8s %7s %4s %6s %8s %7s | %5s %4s %5s %6s %6s | %6s %6s\n", "phase",
        "secs", "peak RSS", "end RSS", "peak fd", "end", "active", "accepted", "refused", "good",
        "fail", "p50", "p99", "worst", "ctl p99", "worst");
    uint64_t good_req = 0, good_fail = 0;
    double worst_ms = 0;
    int worst_phase = 0;
    for (int p = 0; p < PH_N; p++) {
        const struct good_phase *g = &shm->g[WHO_SUPERD][p], *k = &shm->g[WHO_CONTROL][p];
        char active[24] = "-";
        if (ph[p].have_peak)
            snprintf(active, sizeof active, "%lld", active_total(ph[p].peak));
        else if (p == PH_BASE)
            snprintf(active, sizeof active, "%lld", active_total(ph[p].end));
        long long acc = accepted_in(p), ref = refused_in(p);
        rpt("  %-19s %4.1f %4.1f MiB %4.1f MiB %7ld %4ld %6s %8lld %7lld | %5llu %4llu %5.2f "
            "%6.2f %6.2f | %7.2f %6.2f\n",
            phase_names[p], (ph[p].t1 - ph[p].t0) / 1000.0, ph[p].rss_peak / 1024.0,
            ph[p].rss_end / 1024.0, ph[p].fds_peak, ph[p].fds_end, active, acc, ref, (unsigned long long)g->requests,
            (unsigned long long)g->failures, pct_ms(g, 0.5), pct_ms(g, 0.99),
            g->worst_us / 1000.0, pct_ms(k, 0.99), k->worst_us / 1000.0);
        good_req += g->requests;
        good_fail += g->failures;
        if (g->worst_us / 1000.0 > worst_ms) {
            worst_ms = g->worst_us / 1000.0;
            worst_phase = p;
        }
    }
    rpt("\n");
    for (int p = 0; p < PH_N; p++) {
        rpt("  %s:%s", phase_names[p], ph[p].release_ms >= 0 && p != PH_BASE && p != PH_AFTER
            ? "" : "\n");
        if (ph[p].release_ms >= 0 && p != PH_BASE && p != PH_AFTER)
            rpt(" superd back to the expected connection count %lld ms after the clients "
                "closed\n", ph[p].release_ms);
        rpt("%s", ph[p].note);
        if (shm->g[WHO_SUPERD][p].first_failure[0])
            rpt("    good client: %llu failures, the first %s\n",
                (unsigned long long)shm->g[WHO_SUPERD][p].failures,
                shm->g[WHO_SUPERD][p].first_failure);
        if (shm->g[WHO_CONTROL][p].first_failure[0])
            rpt("    control client: %llu failures, the first %s\n",
                (unsigned long long)shm->g[WHO_CONTROL][p].failures,
                shm->g[WHO_CONTROL][p].first_failure);
    }

    /* ---- verdicts ---- */
    int failed = 0;
    rpt("\nverdicts\n");
    bool all_phases = true;
    for (int p = PH_BASE; p < PH_N; p++)
        all_phases &= shm->g[WHO_SUPERD][p].requests > 0;
    failed += verdict(good_fail == 0 && all_phases,
                      "good client served throughout: %llu requests, %llu failures, worst "
                      "%.2f ms (phase %s)", (unsigned long long)good_req,
                      (unsigned long long)good_fail, worst_ms, phase_names[worst_phase]);
    long rss_limit = base.rss_kib + (base.rss_kib / 5 > RSS_MARGIN_KIB ? base.rss_kib / 5
                                                                      : RSS_MARGIN_KIB);
    /* VmRSS counts the shared counters and per-source table once per
     * process, and their pages stay resident once sources have been seen
     * (a fixed bound, by design): judge private memory against the start,
     * and the shared part against its bound. */
    long priv_base = base_mem.heap + base_mem.other, priv_final = final_mem.heap + final_mem.other;
    long priv_limit = priv_base + (priv_base / 5 > RSS_MARGIN_KIB ? priv_base / 5 : RSS_MARGIN_KIB);
    (void)rss_limit;
    failed += verdict(priv_final <= priv_limit,
                      "private memory back to its start: %.1f MiB at start, %.1f MiB after "
                      "(limit %.1f MiB: +2 MiB or +20%%; VmRSS %.1f -> %.1f MiB)",
                      priv_base / 1024.0, priv_final / 1024.0, priv_limit / 1024.0,
                      base.rss_kib / 1024.0, final_sample.rss_kib / 1024.0);
    failed += verdict(final_shared_max <= SHARED_BOUND_KIB,
                      "shared counters and per-source table within their fixed bound: %ld KiB "
                      "at start, %ld KiB after (bound %d KiB)", base_shared_max, final_shared_max,
                      SHARED_BOUND_KIB);
    failed += verdict(final_sample.fds <= base.fds + FD_MARGIN,
                      "descriptors back to their start: %ld at start, %ld after (limit +%d)",
                      base.fds, final_sample.fds, FD_MARGIN);
    int crashes = count_log("killed by signal"), restarts = count_log("starting another");
    bool same_workers = final_sample.nworkers == base.nworkers;
    for (int i = 0; same_workers && i < base.nworkers; i++) {
        bool found = false;
        for (int j = 0; j < final_sample.nworkers; j++)
            found |= final_sample.workers[j] == base.workers[i];
        same_workers = found;
    }
    failed += verdict(crashes == 0 && restarts == 0 && same_workers,
                      "no worker crashed: %d \"killed by signal\" lines, %d restarts, the same "
                      "%d worker pids at the end", crashes, restarts, final_sample.nworkers);
    bool released = true;
    for (int p = PH_IDLE; p < PH_N; p++)
        released &= ph[p].release_ms >= 0;
    failed += verdict(released, "connections released: after every phase superd's active count "
                      "came back to what was still open (1 at the end)");
    long long refused_all = 0;
    for (int p = PH_IDLE; p < PH_N; p++)
        refused_all += refused_in(p) > 0 ? refused_in(p) : 0;
    struct tally *ti = &tally[K_IDLE], *tn = &tally[K_NOREAD], *tl = &tally[K_LORIS],
                 *tc = &tally[K_CHURN];
    failed += verdict(ti->connected == IDLE_N && tn->connected == NOREAD_N &&
                      tl->connected == LORIS_N && tc->connected == CHURN_N &&
                      ti->failed + tn->failed + tl->failed + tc->failed == 0 &&
                      refused_all == 0,
                      "every hostile client was accepted (no limit applies): %d/%d idle, %d/%d "
                      "never-read, %d/%d slowloris, %d/%d connect+close; %lld refused",
                      ti->connected, IDLE_N, tn->connected, NOREAD_N, tl->connected, LORIS_N,
                      tc->connected, CHURN_N, refused_all);
    failed += verdict(ti->gone_early + tn->gone_early + tl->gone_early == 0,
                      "no connection was closed before its limit: %d idle, %d never-read, %d "
                      "slowloris closed early", ti->gone_early, tn->gone_early, tl->gone_early);
    /* What superd read but could not write back: its output queues. */
    const struct ctr *nr = ph[PH_NOREAD].peak;
    double queued_kib = ph[PH_NOREAD].have_peak && tn->connected
        ? (double)(nr[SVC_ECHO].bytes_in - nr[SVC_ECHO].bytes_out) / 1024.0 / tn->connected : -1;
    double grew_kib = tn->connected ? (double)(ph[PH_NOREAD].rss_peak - base.rss_kib) /
                                      tn->connected : -1;
    failed += verdict(queued_kib >= 0 && queued_kib <= NOREAD_QUEUE_KIB &&
                      grew_kib <= NOREAD_RSS_KIB,
                      "never-read clients cost bounded memory: superd held %.0f KiB of output "
                      "for each (bound %d KiB: 256 KiB high-water + one 64 KiB read); its RSS "
                      "grew %.0f KiB per client (limit %d KiB)", queued_kib, NOREAD_QUEUE_KIB,
                      grew_kib, NOREAD_RSS_KIB);
    int ok_i, ok_l;
    double lo_i, hi_i, lo_l, hi_l;
    int n_i = check_lingerers(idle_cl, IDLE_N, IDLE_TIMEOUT_S, &ok_i, &lo_i, &hi_i);
    int n_l = check_lingerers(loris_cl, LORIS_N, MAX_LIFETIME_S, &ok_l, &lo_l, &hi_l);
    failed += verdict(n_i > 0 && ok_i == n_i,
                      "idle_timeout %ds closed %d of %d silent connections on time (after "
                      "%.2f-%.2f s)", IDLE_TIMEOUT_S, ok_i, n_i, ok_i ? lo_i : 0, hi_i);
    failed += verdict(n_l > 0 && ok_l == n_l,
                      "max_lifetime %ds closed %d of %d trickling slowloris on time (after "
                      "%.2f-%.2f s)", MAX_LIFETIME_S, ok_l, n_l, ok_l ? lo_l : 0, hi_l);
    bool exit0 = exited && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    failed += verdict(exit0, "superd exited %s on SIGTERM after %lld ms",
                      !exited ? "(not: killed after 10 s)"
                      : WIFEXITED(st) ? (WEXITSTATUS(st) == 0 ? "0" : "non-zero")
                      : "by a signal", term_ms);
    rpt("\n  superd's log: %d refusal lines, %d \"out of file descriptors\", %d "
        "\"out of memory\"\n", count_log(": refused "),
        count_log("out of file descriptors"), count_log("out of memory"));
    rpt("\nresult: %s (%d of %d verdicts failed; %.1f s)\n", failed ? "FAIL" : "PASS", failed,
        nverdicts, total_s);

    fputs("\n", stdout);
    fwrite(report, 1, report_len, stdout);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/soak-report.txt", build_dir);
    FILE *f = fopen(path, "we");
    if (f) {
        fwrite(report, 1, report_len, f);
        fclose(f);
    }
    /* Keep superd's log next to the report. */
    snprintf(path, sizeof path, "%s/soak-superd.log", build_dir);
    int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out >= 0) {
        char buf[65536];
        off_t off = 0;
        ssize_t n;
        while ((n = pread(log_rfd, buf, sizeof buf, off)) > 0) {
            if (write(out, buf, (size_t)n) != n)
                break;
            off += n;
        }
        close(out);
    }
    printf("soak: report written to %s/soak-report.txt, superd's log to %s\n", build_dir, path);
    remove_tmpdir();
    return failed ? 1 : 0;
}
