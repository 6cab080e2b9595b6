/*
 * workers.c - integration tests of the master/worker architecture: the
 * real superd binary on loopback, with several worker processes.
 *
 *     build/tests/workers BUILD        (BUILD: build, build-asan, ...)
 *
 * What a user relies on: a worker that crashes (from outside, in a plugin's
 * on_data, or in its init) is replaced while the other workers' clients go
 * on and the listeners stay bound; SIGHUP reloads without refusing or
 * breaking a connection, keeps the sockets of kept listeners, picks up a
 * rebuilt plugin, and changes nothing when the new file is invalid;
 * SIGTERM lets open connections finish up to shutdown_timeout; workers run
 * as `user`; max_connections holds across workers; SIGUSR1 reports exact
 * counters.  The test plugin crashy tells which worker serves a connection
 * (its greeting is "pid PID version V\n").
 *
 * Same rules as tests/integration.c: loopback and private unix paths only,
 * every wait bounded, no timing asserted, the per-test teardown stops
 * whatever is still running.  Exit status: 0 when every test passed.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define KiB (1024u)

/* Bounds for waits on the daemon's log.  Generous: ASan is slow. */
#define LOG_MS 5000

/* ---- helpers: the daemon ---- */

static void skipped(const char *why)
{
    printf("\n    skipped: %s\n    ", why);
}

/* Writes the configuration ([superd] lines, then services) and starts
 * superd; the test ends here (teardown cleans up) when it is not ready. */
static struct it_daemon *serve(const char *global, const char *body)
{
    struct it_daemon *d = it_alloc(sizeof(*d));
    int ok = it_start(d, it_conf_global(global, body)) == 0;

    CU_ASSERT_FATAL(ok);
    return d;
}

/* The signal (SIGTERM, SIGINT) must make superd exit with status 0. */
static void stop_ok(struct it_daemon *d, int sig)
{
    int st = it_stop(d, sig);

    if (!it_exited(st, 0))
        printf("\n    superd: wait status 0x%x after signal %d; stderr:\n%s",
               (unsigned)st, sig, it_stderr(d));
    CU_ASSERT(it_exited(st, 0));
}

static char *crashy_so(void)
{
    return it_printf("%s/../tests/plugins/crashy.so", it_plugin_dir);
}

static char *crashy_v2_so(void)
{
    return it_printf("%s/../tests/plugins/crashy_v2.so", it_plugin_dir);
}

/* ---- helpers: the log ---- */

/* The nth (0-based) line of text starting with prefix, as a tracked copy
 * without its '\n'; NULL when there are not that many. */
static char *nth_line(const char *text, const char *prefix, int nth)
{
    size_t plen = strlen(prefix);

    while (*text) {
        const char *nl = strchr(text, '\n');
        size_t len = nl ? (size_t)(nl - text) : strlen(text);
        if (len >= plen && !memcmp(text, prefix, plen) && nth-- == 0) {
            char *s = it_alloc(len + 1);
            memcpy(s, text, len);
            return s;
        }
        text += len + (nl != NULL);
    }
    return NULL;
}

/* Lines containing needle. */
static int count_containing(const char *text, const char *needle)
{
    int n = 0;

    while (*text) {
        const char *nl = strchr(text, '\n');
        size_t len = nl ? (size_t)(nl - text) : strlen(text);
        if (memmem(text, len, needle, strlen(needle)))
            n++;
        text += len + (nl != NULL);
    }
    return n;
}

/* The whole of a file, malloc'd (the caller frees it), "" when missing.
 * Not tracked: the polling loops below read files thousands of times,
 * more than a test may allocate with it_alloc. */
static char *slurp(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);

    if (!buf)
        abort();
    while (fd >= 0) {
        ssize_t n;
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                abort();
            buf = nb;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    if (fd >= 0)
        close(fd);
    buf[len] = '\0';
    return buf;
}

/* Lines of superd's stderr that start with prefix, now. */
static int log_count_prefix(const struct it_daemon *d, const char *prefix)
{
    char *err = slurp(d->errpath);
    int n = it_count_prefix(err, prefix);

    free(err);
    return n;
}

/* Waits until at least n lines of superd's stderr start with prefix.
 * Returns the stderr then, or NULL (and prints it) at the deadline. */
static char *wait_prefix(struct it_daemon *d, const char *prefix, int n, int ms)
{
    int64_t deadline = it_now_ms() + ms;

    for (;;) {
        if (log_count_prefix(d, prefix) >= n)
            return it_stderr(d);
        if (!it_left_ms(deadline)) {
            printf("\n    waited %d ms for %d line(s) starting \"%s\"; stderr:\n%s",
                   ms, n, prefix, it_stderr(d));
            return NULL;
        }
        it_sleep_ms(5);
    }
}

/* Waits for one exact line on superd's stderr.  1 when it came. */
static int wait_line(struct it_daemon *d, const char *line, int ms)
{
    int64_t deadline = it_now_ms() + ms;

    for (;;) {
        char *err = slurp(d->errpath);
        int n = it_count_line(err, line);
        free(err);
        if (n)
            return 1;
        if (!it_left_ms(deadline)) {
            printf("\n    waited %d ms for the line \"%s\"; stderr:\n%s", ms, line,
                   it_stderr(d));
            return 0;
        }
        it_sleep_ms(5);
    }
}

/* Waits for a line of superd's stderr that contains needle.  1 when it came. */
static int wait_containing(struct it_daemon *d, const char *needle, int ms)
{
    int64_t deadline = it_now_ms() + ms;

    for (;;) {
        char *err = slurp(d->errpath);
        int n = count_containing(err, needle);
        free(err);
        if (n)
            return 1;
        if (!it_left_ms(deadline)) {
            printf("\n    waited %d ms for a line with \"%s\"; stderr:\n%s", ms, needle,
                   it_stderr(d));
            return 0;
        }
        it_sleep_ms(5);
    }
}

/* ---- helpers: processes ---- */

#define MAXPIDS 64

/* The live children of pid (its workers, and a plugin check child while
 * one runs).  Returns how many. */
static int children(pid_t pid, int *out, int max)
{
    char path[64];
    char *text;
    int n = 0;

    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
    text = slurp(path);
    for (char *p = text; *p && n < max;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        out[n++] = (int)v;
        p = end;
        while (*p == ' ' || *p == '\n')
            p++;
    }
    free(text);
    return n;
}

static int has_pid(const int *v, int n, int pid)
{
    for (int i = 0; i < n; i++)
        if (v[i] == pid)
            return 1;
    return 0;
}

/* Waits until superd has exactly `want` children, sorted into out.  The
 * plugin check child of a reload is short-lived: a count that includes it
 * just makes the wait go on.  Returns 1 when it got there. */
static int wait_children(struct it_daemon *d, int want, int *out, int ms)
{
    int64_t deadline = it_now_ms() + ms;
    int n;

    for (;;) {
        n = children(d->pid, out, MAXPIDS);
        if (n == want)
            break;
        if (!it_left_ms(deadline)) {
            printf("\n    superd has %d children, expected %d; stderr:\n%s", n, want,
                   it_stderr(d));
            return 0;
        }
        it_sleep_ms(5);
    }
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
            int t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return 1;
}

/* The pids of every "worker PID started" line of text, in order. */
static int started_pids(const char *text, int *out, int max)
{
    int n = 0;

    while (*text && n < max) {
        const char *nl = strchr(text, '\n');
        size_t len = nl ? (size_t)(nl - text) : strlen(text);
        int pid, end = 0;
        if (sscanf(text, "superd: worker %d started%n", &pid, &end) == 1 &&
            (size_t)end == len)
            out[n++] = pid;
        text += len + (nl != NULL);
    }
    return n;
}

/* One field of /proc/PID/status ("Uid:", "Groups:"): the rest of its line,
 * tracked, or NULL. */
static char *status_field(int pid, const char *field)
{
    char *text = it_read_file(it_printf("/proc/%d/status", pid));
    char *line = nth_line(text, field, 0);

    return line ? line + strlen(field) : NULL;
}

/* ---- helpers: sockets ---- */

/*
 * Listening sockets, from the kernel's sock_diag netlink interface: a dump
 * of only the sockets in state LISTEN is filtered in the kernel, so it stays
 * cheap when the machine holds many thousands of other sockets (reading
 * /proc/net/tcp then takes long enough to disturb the tests).  Calls
 * fn(msg, len, arg) for each answer; returns -1 when the dump failed.
 */
static int diag_dump(const void *req, size_t reqlen,
                     void (*fn)(const struct nlmsghdr *, void *), void *arg)
{
    static char buf[32 * 1024] __attribute__((aligned(NLMSG_ALIGNTO)));
    struct timeval tv = { 2, 0 };
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    int ret = -1;

    if (fd < 0)
        return -1;
    /* The kernel answers at once; bounded all the same. */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (send(fd, req, reqlen, 0) != (ssize_t)reqlen)
        goto out;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0)
            goto out;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
             h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE) {
                ret = 0;
                goto out;
            }
            if (h->nlmsg_type == NLMSG_ERROR)
                goto out;
            fn(h, arg);
        }
    }
out:
    close(fd);
    return ret;
}

struct inet_want {
    int port;
    unsigned long ino;
};

static void inet_answer(const struct nlmsghdr *h, void *arg)
{
    const struct inet_diag_msg *m = NLMSG_DATA(h);
    struct inet_want *w = arg;

    if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(*m)) && ntohs(m->id.idiag_sport) == w->port &&
        m->id.idiag_src[0] == htonl(INADDR_LOOPBACK))
        w->ino = m->idiag_inode;
}

/* The inode of the socket listening on 127.0.0.1:port; 0 when none. */
static unsigned long tcp_listen_inode(int port)
{
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 r;
    } req;
    struct inet_want w = { port, 0 };

    memset(&req, 0, sizeof(req));
    req.nlh.nlmsg_len = sizeof(req);
    req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.r.sdiag_family = AF_INET;
    req.r.sdiag_protocol = IPPROTO_TCP;
    req.r.idiag_states = 1u << 10; /* TCP_LISTEN */
    if (diag_dump(&req, sizeof(req), inet_answer, &w) < 0)
        printf("\n    sock_diag (tcp): %s\n", strerror(errno));
    return w.ino;
}

struct unix_want {
    const char *path;
    unsigned long ino;
};

static void unix_answer(const struct nlmsghdr *h, void *arg)
{
    const struct unix_diag_msg *m = NLMSG_DATA(h);
    struct unix_want *w = arg;
    const struct rtattr *a = (const struct rtattr *)(m + 1);
    int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*m));

    if (len < 0 || m->udiag_type != SOCK_STREAM)
        return;
    for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        size_t plen = strlen(w->path);
        if (a->rta_type == UNIX_DIAG_NAME && RTA_PAYLOAD(a) >= plen &&
            !memcmp(RTA_DATA(a), w->path, plen) &&
            (RTA_PAYLOAD(a) == plen || ((const char *)RTA_DATA(a))[plen] == '\0'))
            w->ino = m->udiag_ino;
    }
}

/* The inode of the stream socket listening at a unix path; 0 when none. */
static unsigned long unix_listen_inode(const char *path)
{
    struct {
        struct nlmsghdr nlh;
        struct unix_diag_req r;
    } req;
    struct unix_want w = { path, 0 };

    memset(&req, 0, sizeof(req));
    req.nlh.nlmsg_len = sizeof(req);
    req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.r.sdiag_family = AF_UNIX;
    req.r.udiag_states = 1u << 10; /* TCP_LISTEN */
    req.r.udiag_show = UDIAG_SHOW_NAME;
    if (diag_dump(&req, sizeof(req), unix_answer, &w) < 0)
        printf("\n    sock_diag (unix): %s\n", strerror(errno));
    return w.ino;
}

/* 1 when process pid holds a descriptor of socket inode ino. */
static int holds_socket(int pid, unsigned long ino)
{
    char dir[64], want[64], link[128];
    DIR *dp;
    struct dirent *de;
    int found = 0;

    snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
    dp = opendir(dir);

    if (!dp || !ino)
        goto out;
    snprintf(want, sizeof(want), "socket:[%lu]", ino);
    while (!found && (de = readdir(dp)) != NULL) {
        ssize_t n = readlinkat(dirfd(dp), de->d_name, link, sizeof(link) - 1);
        if (n > 0) {
            link[n] = '\0';
            found = !strcmp(link, want);
        }
    }
out:
    if (dp)
        closedir(dp);
    return found;
}

/* Reads crashy's greeting "pid PID version V\n" on a new connection.
 * Returns the pid (and the version in ver), or 0. */
static int greeting(int fd, char *ver, size_t vercap)
{
    char line[128];
    size_t len = 0;
    int64_t deadline = it_now_ms() + IT_OP_MS;
    int pid;
    char v[32];

    if (fd < 0)
        return 0;
    /* Nothing is sent before the greeting is read, so whatever arrives
     * is the greeting. */
    while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        ssize_t r;
        if (poll(&pfd, 1, it_left_ms(deadline)) <= 0) {
            if (!it_left_ms(deadline))
                return 0;
            continue;
        }
        r = recv(fd, line + len, sizeof(line) - 1 - len, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            return 0;
        if (r > 0)
            len += (size_t)r;
    }
    line[len] = '\0';
    if (sscanf(line, "pid %d version %31s", &pid, v) != 2 ||
        line[len - 1] != '\n' || memchr(line, '\n', len) != line + len - 1) {
        printf("\n    not a crashy greeting: \"%s\"\n", line);
        return 0;
    }
    if (ver)
        snprintf(ver, vercap, "%s", v);
    return pid;
}

/* Nothing but EOF or a reset: a connection the server closed. */
static int closed_without_data(int fd, const char *what)
{
    struct it_xfer x;

    it_xfer(fd, NULL, 0, 0, NULL, 0, NULL, 0, 0, 1, IT_OP_MS, &x);
    if ((x.eof || x.err == ECONNRESET) && x.rcvd == 0)
        return 1;
    printf("\n    %s: expected EOF or a reset and no data: received %zu bytes%s%s%s\n",
           what, x.rcvd, x.eof ? ", EOF" : "", x.timeout ? ", timed out" : "",
           x.err ? ", error" : "");
    return 0;
}

/* A stream connect that must fail (nothing listens there). */
static int connect_refused_tcp(int port)
{
    int fd = it_tcp_connect(AF_INET, port);

    if (fd >= 0) {
        it_close(fd);
        return 0;
    }
    return 1;
}

/* ---- helpers: connections spread over workers ---- */

#define MAXCONNS 64

struct wconn {
    int fd;
    int pid; /* the worker serving it, from crashy's greeting */
};

/*
 * Opens crashy connections to port in bursts until two workers serve at
 * least `each` of them.  EPOLLEXCLUSIVE hands a connection to the first
 * idle worker, so only connections that arrive while that one is busy
 * with the previous ones reach a second: hence bursts, and new rounds
 * (the first worker's surplus closed) when a burst went to one worker.
 * Returns how many are open, or -1 when one failed; *a and *b are the two
 * pids (*b 0 when every connection went to one worker).
 */
static int spread(int port, struct wconn *c, int each, int *a, int *b)
{
    int n = 0;

    *a = *b = 0;
    for (int round = 0; round < 40 && n + 8 <= MAXCONNS; round++) {
        int first = n, na = 0, nb = 0, kept;
        for (int i = 0; i < 8; i++, n++) {
            c[n].fd = it_tcp_connect(AF_INET, port);
            if (c[n].fd < 0) {
                printf("\n    connect: %s\n", strerror(errno));
                return -1;
            }
        }
        for (int i = first; i < n; i++) {
            c[i].pid = greeting(c[i].fd, NULL, 0);
            if (!c[i].pid) {
                printf("\n    connection %d: no greeting\n", i);
                return -1;
            }
        }
        for (int i = 0; i < n; i++) {
            if (!*a)
                *a = c[i].pid;
            else if (!*b && c[i].pid != *a)
                *b = c[i].pid;
            na += c[i].pid == *a;
            nb += *b && c[i].pid == *b;
        }
        if (na >= each && nb >= each)
            break;
        /* Keep `each` of the first worker's, and every other one. */
        na = 0;
        kept = 0;
        for (int i = 0; i < n; i++) {
            if (c[i].pid == *a && na++ >= each)
                it_close(c[i].fd);
            else
                c[kept++] = c[i];
        }
        n = kept;
    }
    return n;
}

/* ---- helpers: several echo streams at once ---- */

struct stream {
    int fd;
    size_t sent, rcvd;
    long bad_at;
    int err, eof;
};

static int stream_done(const struct stream *s, size_t total)
{
    return s->rcvd >= total || s->err || s->eof || s->bad_at >= 0;
}

/*
 * Echoes `total` pattern bytes on every stream at once, at most 64 KiB in
 * flight each, so the transfer goes on for a while.  Calls hook(arg) once,
 * when every stream has received hook_at bytes (or ended).  Stops when all
 * are done or at the deadline.
 */
static void pump(struct stream *s, int n, size_t total, size_t hook_at,
                 void (*hook)(void *), void *arg, int ms)
{
    int64_t deadline = it_now_ms() + ms;
    int hooked = hook == NULL;
    struct pollfd pfd[MAXCONNS];
    static uint8_t buf[64 * KiB];

    for (int i = 0; i < n; i++) {
        s[i].sent = s[i].rcvd = 0;
        s[i].bad_at = -1;
        s[i].err = s[i].eof = 0;
    }
    for (;;) {
        int all = 1, reached = 1, np = 0;
        for (int i = 0; i < n; i++) {
            all &= stream_done(&s[i], total);
            reached &= s[i].rcvd >= hook_at || stream_done(&s[i], total);
        }
        if (!hooked && reached) {
            hook(arg);
            hooked = 1;
        }
        if (all || !it_left_ms(deadline))
            return;
        for (int i = 0; i < n; i++) {
            if (stream_done(&s[i], total))
                continue;
            pfd[np].fd = s[i].fd;
            pfd[np].events = POLLIN;
            if (s[i].sent < total && s[i].sent - s[i].rcvd < 64 * KiB)
                pfd[np].events |= POLLOUT;
            pfd[np].revents = 0;
            np++;
        }
        if (poll(pfd, (nfds_t)np, it_left_ms(deadline) < 100 ? it_left_ms(deadline) : 100) <= 0)
            continue;
        for (int i = 0, k = 0; i < n; i++) {
            struct stream *t = &s[i];
            if (stream_done(t, total))
                continue;
            short rev = pfd[k++].revents;
            if (rev & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t r = recv(t->fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (r == 0)
                    t->eof = 1;
                else if (r > 0) {
                    for (ssize_t j = 0; j < r && t->bad_at < 0; j++)
                        if (buf[j] != it_pattern[t->rcvd + (size_t)j])
                            t->bad_at = (long)(t->rcvd + (size_t)j);
                    t->rcvd += (size_t)r;
                } else if (errno != EAGAIN && errno != EINTR)
                    t->err = errno;
            }
            if ((rev & POLLOUT) && !stream_done(t, total)) {
                size_t room = 64 * KiB - (t->sent - t->rcvd);
                size_t len = total - t->sent < room ? total - t->sent : room;
                ssize_t w = send(t->fd, it_pattern + t->sent, len, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (w > 0)
                    t->sent += (size_t)w;
                else if (w < 0 && errno != EAGAIN && errno != EINTR)
                    t->err = errno;
            }
        }
    }
}

/* Every stream got all its bytes back, unchanged; prints what did not. */
static int streams_ok(const struct stream *s, int n, size_t total, const char *what)
{
    int ok = 1;

    for (int i = 0; i < n; i++) {
        if (s[i].rcvd == total && s[i].bad_at < 0 && !s[i].err && !s[i].eof)
            continue;
        printf("\n    %s %d: sent %zu, received %zu of %zu%s%s%s",
               what, i, s[i].sent, s[i].rcvd, total, s[i].eof ? ", early EOF" : "",
               s[i].err ? ", error: " : "", s[i].err ? strerror(s[i].err) : "");
        if (s[i].bad_at >= 0)
            printf(", first wrong byte at %ld", s[i].bad_at);
        ok = 0;
    }
    if (!ok)
        printf("\n");
    return ok;
}

/* ---- helpers: SIGUSR1 ---- */

struct counters {
    long long active, accepted, refused, bytes_in, bytes_out, dgrams_in, dgrams_out,
        loop_drops;
};

/* Sends SIGUSR1 and parses the new line of service svc.  Returns the line
 * (tracked), or NULL. */
static char *report(struct it_daemon *d, const char *svc, struct counters *c)
{
    char *prefix = it_printf("superd: [%s] active ", svc);
    int before = log_count_prefix(d, prefix);
    char *err, *line;

    kill(d->pid, SIGUSR1);
    err = wait_prefix(d, prefix, before + 1, LOG_MS);
    if (!err)
        return NULL;
    line = nth_line(err, prefix, before);
    memset(c, 0, sizeof(*c));
    if (sscanf(line + strlen("superd: ") + strlen(svc) + 3,
               "active %lld accepted %lld refused %lld bytes_in %lld bytes_out %lld "
               "dgrams_in %lld dgrams_out %lld loop_drops %lld",
               &c->active, &c->accepted, &c->refused, &c->bytes_in, &c->bytes_out,
               &c->dgrams_in, &c->dgrams_out, &c->loop_drops) != 8) {
        printf("\n    cannot parse the SIGUSR1 line \"%s\"\n", line);
        return NULL;
    }
    return line;
}

/* SIGUSR1 until the service reports `active` open connections (closes
 * reach the worker a little after the client's close()).  The last line,
 * or NULL. */
static char *report_active(struct it_daemon *d, const char *svc, long long active,
                           struct counters *c)
{
    int64_t deadline = it_now_ms() + LOG_MS;
    char *line;

    for (;;) {
        line = report(d, svc, c);
        if (!line || c->active == active)
            return line;
        if (!it_left_ms(deadline)) {
            printf("\n    [%s] still reports active %lld, expected %lld: \"%s\"\n", svc,
                   c->active, active, line);
            return line;
        }
        it_sleep_ms(50);
    }
}

/* ==== 1. a worker killed from outside: the other workers go on ==== */

struct victim {
    int pid;
    int sig;
};

static void kill_victim(void *arg)
{
    struct victim *v = arg;

    kill(v->pid, v->sig);
}

static void test_kill_worker_others_stream(void)
{
    int port = it_free_port(IT_TCP4);
    struct wconn *c = it_alloc(MAXCONNS * sizeof(*c));
    struct stream s[MAXCONNS];
    int before[MAXPIDS], after[MAXPIDS], started[MAXPIDS];
    struct victim v;
    struct it_daemon *d;
    unsigned long ino;
    int n, a, b, ns = 0, nstarted;
    size_t total = 1024 * KiB;
    char *err, *line;

    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 2\nshutdown_timeout = 2s\n",
              it_printf("[crashy]\nplugin = %s\nlisten = tcp://127.0.0.1:%d\n",
                        crashy_so(), port));
    CU_ASSERT_FATAL(wait_children(d, 2, before, LOG_MS));
    ino = tcp_listen_inode(port);
    CU_ASSERT_FATAL(ino != 0);
    n = spread(port, c, 2, &a, &b);
    CU_ASSERT_FATAL(n > 0);
    if (!b) {
        skipped(it_printf("all %d connections went to worker %d: cannot test two workers",
                          n, a));
        return;
    }
    CU_ASSERT_FATAL(has_pid(before, 2, a) && has_pid(before, 2, b));
    /* The victim is a; every connection served by b streams through the
     * crash. */
    for (int i = 0; i < n; i++)
        if (c[i].pid == b)
            s[ns++].fd = c[i].fd;
    v.pid = a;
    v.sig = SIGSEGV;
    pump(s, ns, total, total / 4, kill_victim, &v, IT_TEST_MS / 2);
    CU_ASSERT(streams_ok(s, ns, total, "connection on the other worker"));

    /* The victim's own connections are gone. */
    for (int i = 0; i < n; i++)
        if (c[i].pid == a)
            CU_ASSERT(closed_without_data(c[i].fd, "connection on the killed worker"));

    line = it_printf("superd: worker %d killed by signal 11 (Segmentation fault) while "
                     "serving [crashy]; starting another", a);
    CU_ASSERT_FATAL(wait_line(d, line, LOG_MS));
    err = wait_prefix(d, "superd: worker ", 4, LOG_MS);
    CU_ASSERT_FATAL(err != NULL);
    /* The replacement: a third "started" line, after the crash line. */
    nstarted = started_pids(err, started, MAXPIDS);
    CU_ASSERT_EQUAL_FATAL(nstarted, 3);
    CU_ASSERT(it_line_of(err, it_printf("superd: worker %d started", started[2])) >
              it_line_of(err, line));
    CU_ASSERT_FATAL(wait_children(d, 2, after, LOG_MS));
    CU_ASSERT(has_pid(after, 2, b));
    CU_ASSERT(has_pid(after, 2, started[2]));
    CU_ASSERT(!has_pid(after, 2, a));

    /* New connections are served (by either worker). */
    for (int i = 0; i < 4; i++) {
        int fd = it_tcp_connect(AF_INET, port);
        int pid = greeting(fd, NULL, 0);
        CU_ASSERT(pid == b || pid == started[2]);
        CU_ASSERT(it_echo_stream(fd, 64 * KiB, "new connection after the crash"));
        it_close(fd);
    }
    /* The listener never closed: the same socket, still in the master. */
    CU_ASSERT_EQUAL(tcp_listen_inode(port), ino);
    CU_ASSERT(holds_socket(d->pid, ino));
    for (int i = 0; i < n; i++)
        it_close(c[i].fd);
    stop_ok(d, SIGTERM);
}

/* ==== 2. a plugin that crashes on data: only its worker goes ==== */

static void test_crash_on_data(void)
{
    int cport = it_free_port(IT_TCP4), eport = it_free_port(IT_TCP4);
    struct wconn *c = it_alloc(MAXCONNS * sizeof(*c));
    int before[MAXPIDS], after[MAXPIDS], started[MAXPIDS];
    unsigned long ino;
    struct it_daemon *d;
    struct it_xfer x;
    int n, a, b, crasher = -1, fd;
    char *err, *line;

    CU_ASSERT_FATAL(cport > 0 && eport > 0 && cport != eport);
    d = serve("workers = 2\nshutdown_timeout = 2s\n",
              it_printf("[crashy]\nplugin = %s\nlisten = tcp://127.0.0.1:%d\n"
                        "[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n",
                        crashy_so(), cport, eport));
    CU_ASSERT_FATAL(wait_children(d, 2, before, LOG_MS));
    ino = tcp_listen_inode(cport);
    CU_ASSERT_FATAL(ino != 0);
    n = spread(cport, c, 2, &a, &b);
    CU_ASSERT_FATAL(n > 0);
    if (!b) {
        skipped(it_printf("all %d connections went to worker %d: cannot test two workers",
                          n, a));
        return;
    }
    for (int i = 0; i < n && crasher < 0; i++)
        if (c[i].pid == a)
            crasher = i;
    it_xfer(c[crasher].fd, (const uint8_t *)"please crash\n", 13, 0, NULL, 0, NULL, 0, 0,
            1, IT_OP_MS, &x);
    CU_ASSERT((x.eof || x.err == ECONNRESET) && x.rcvd == 0);

    line = it_printf("superd: worker %d killed by signal 11 (Segmentation fault) while "
                     "serving [crashy] [echo]; starting another", a);
    CU_ASSERT_FATAL(wait_line(d, line, LOG_MS));
    /* Every other connection of the crashed worker is gone too... */
    for (int i = 0; i < n; i++)
        if (c[i].pid == a && i != crasher)
            CU_ASSERT(closed_without_data(c[i].fd, "connection on the crashed worker"));
    /* ... and every connection of the other worker still echoes. */
    for (int i = 0; i < n; i++)
        if (c[i].pid == b)
            CU_ASSERT(it_echo_stream(c[i].fd, 256 * KiB, "connection on the other worker"));

    err = wait_prefix(d, "superd: worker ", 4, LOG_MS);
    CU_ASSERT_FATAL(err != NULL);
    CU_ASSERT_EQUAL_FATAL(started_pids(err, started, MAXPIDS), 3);
    CU_ASSERT_FATAL(wait_children(d, 2, after, LOG_MS));
    CU_ASSERT(has_pid(after, 2, b) && has_pid(after, 2, started[2]) && !has_pid(after, 2, a));
    CU_ASSERT_EQUAL(tcp_listen_inode(cport), ino);
    CU_ASSERT(holds_socket(d->pid, ino));

    for (int i = 0; i < 4; i++) {
        int pid;
        fd = it_tcp_connect(AF_INET, cport);
        pid = greeting(fd, NULL, 0);
        CU_ASSERT(pid == b || pid == started[2]);
        CU_ASSERT(it_echo_stream(fd, 1000, "crashy after the crash"));
        it_close(fd);
        fd = it_tcp_connect(AF_INET, eport);
        CU_ASSERT(it_echo_stream(fd, 1000, "echo after the crash"));
        it_close(fd);
    }
    for (int i = 0; i < n; i++)
        it_close(c[i].fd);
    stop_ok(d, SIGTERM);
}

/* ==== 3. a worker that dies in init: growing back-off ==== */

/* One echo round trip on a new connection to port. */
static int echo_once(int port, const char *what)
{
    int fd = it_tcp_connect(AF_INET, port);
    int ok = it_echo_stream(fd, 1000, what);

    it_close(fd);
    return ok;
}

/* The delays of the "during start-up" lines in text (at most max). */
static int startup_deaths(const char *text, long *delays, int max)
{
    const char *needle = " during start-up; starting another in ";
    int n = 0;

    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++) {
        long ms = -1;
        sscanf(p + strlen(needle), "%ld ms", &ms);
        if (n < max)
            delays[n] = ms;
        n++;
    }
    return n;
}

static void test_crash_in_init_backoff(void)
{
    int cport = it_free_port(IT_TCP4), eport = it_free_port(IT_TCP4);
    char *flag = it_path("crash-now");
    int before[MAXPIDS], after[MAXPIDS];
    long delays[64];
    struct it_daemon *d;
    int64_t deadline;
    int ndeaths = 0, victim, survivor, echoes = 0, echo_fail = 0, last = 0;
    size_t off;
    char *err, *line, *tail;

    CU_ASSERT_FATAL(cport > 0 && eport > 0 && cport != eport);
    d = serve("workers = 2\nshutdown_timeout = 2s\n",
              it_printf("[crashy]\nplugin = %s\ncrash_init_if = %s\n"
                        "listen = tcp://127.0.0.1:%d\n"
                        "[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n",
                        crashy_so(), flag, cport, eport));
    CU_ASSERT_FATAL(wait_children(d, 2, before, LOG_MS));
    /* "ready" comes once the workers are forked, not once their plugins
     * started: only a greeting from each shows that both are past init,
     * and so that the flag file cannot kill them. */
    {
        struct wconn *c = it_alloc(MAXCONNS * sizeof(*c));
        int n = spread(cport, c, 1, &victim, &survivor);
        CU_ASSERT_FATAL(n > 0);
        for (int i = 0; i < n; i++)
            it_close(c[i].fd);
        if (!survivor) {
            skipped(it_printf("all %d connections went to worker %d: cannot tell that "
                              "both workers started", n, victim));
            return;
        }
    }
    CU_ASSERT_FATAL(has_pid(before, 2, victim) && has_pid(before, 2, survivor));
    CU_ASSERT_FATAL(echo_once(eport, "echo before"));
    CU_ASSERT_FATAL(it_write_file(flag, "") == 0);
    kill(victim, SIGKILL);
    line = it_printf("superd: worker %d killed by signal 9 (Killed) while serving "
                     "[crashy] [echo]; starting another", victim);
    CU_ASSERT_FATAL(wait_line(d, line, LOG_MS));

    /* Three start-up deaths in a row, echo served all along. */
    deadline = it_now_ms() + 3 * LOG_MS;
    while (it_left_ms(deadline)) {
        char *now = slurp(d->errpath);
        ndeaths = startup_deaths(now, delays, 64);
        free(now);
        if (ndeaths >= 3)
            break;
        echoes++;
        echo_fail += !echo_once(eport, "echo during the start-up deaths");
        it_sleep_ms(10);
    }
    /* Remove the file at once: the next start is a back-off delay away. */
    err = it_stderr(d);
    off = strlen(err);
    CU_ASSERT(unlink(flag) == 0);
    if (ndeaths < 3)
        printf("\n    %d start-up deaths; stderr:\n%s", ndeaths, err);
    CU_ASSERT_FATAL(ndeaths >= 3);
    for (int i = 0; i < 3; i++) {
        if (delays[i] != 100L << i)
            printf("\n    start-up death %d: delay %ld ms, expected %ld; stderr:\n%s", i + 1,
                   delays[i], 100L << i, err);
        CU_ASSERT_EQUAL(delays[i], 100L << i);
    }
    CU_ASSERT(count_containing(err, " killed by signal 6 (Aborted) during start-up; "
                                    "starting another in ") == ndeaths);

    /* The next worker to start stays.  Normally it starts after the
     * removal; should this test have been too slow to remove the file
     * before the next start, that one dies and the one after it stays. */
    deadline = it_now_ms() + 3 * LOG_MS;
    for (;;) {
        int pids[MAXPIDS], n;
        char *now = slurp(d->errpath);
        n = strlen(now) >= off ? started_pids(now + off, pids, MAXPIDS) : 0;
        free(now);
        if (n > 0) {
            last = pids[0];
            break;
        }
        if (!it_left_ms(deadline))
            break;
        echoes++;
        echo_fail += !echo_once(eport, "echo after the removal");
        it_sleep_ms(10);
    }
    if (!last)
        printf("\n    no worker started after the flag file was removed; stderr:\n%s",
               it_stderr(d));
    CU_ASSERT_FATAL(last != 0);
    /* About a second of service: no further start-up death. */
    deadline = it_now_ms() + 1000;
    while (it_left_ms(deadline)) {
        echoes++;
        echo_fail += !echo_once(eport, "echo after the removal");
        it_sleep_ms(20);
    }
    err = it_stderr(d);
    tail = strstr(err, it_printf("superd: worker %d started\n", last));
    CU_ASSERT_FATAL(tail != NULL);
    if (startup_deaths(tail, delays, 64))
        printf("\n    a start-up death after worker %d started; stderr:\n%s", last, err);
    CU_ASSERT_EQUAL(startup_deaths(tail, delays, 64), 0);
    CU_ASSERT_FATAL(wait_children(d, 2, after, LOG_MS));
    if (!has_pid(after, 2, survivor) || !has_pid(after, 2, last))
        printf("\n    workers %d %d, expected %d and %d\n", after[0], after[1], survivor, last);
    CU_ASSERT(has_pid(after, 2, survivor) && has_pid(after, 2, last));
    /* The echo service never missed. */
    if (echo_fail)
        printf("\n    %d of %d echo round trips failed; stderr:\n%s", echo_fail, echoes,
               it_stderr(d));
    CU_ASSERT_EQUAL(echo_fail, 0);
    CU_ASSERT(echoes > 0);
    /* And crashy is served again, on both workers' side. */
    {
        int fd = it_tcp_connect(AF_INET, cport);
        int pid = greeting(fd, NULL, 0);
        CU_ASSERT(pid == survivor || pid == last);
        it_close(fd);
    }
    stop_ok(d, SIGTERM);
}

/* ==== 4. reload under load ==== */

#define NCLI 4

enum { CL_IDLE, CL_CONNECTING, CL_XFER };

struct client {
    int fd, state;
    size_t off, len, sent, rcvd;
    int64_t deadline;
};

struct load {
    int port;
    unsigned seq;
    struct client c[NCLI];
    unsigned long cycles, refused, resets, early_eof, wrong, timeouts, other;
    int last_err;
};

static void client_end(struct client *c)
{
    it_close(c->fd);
    c->fd = -1;
    c->state = CL_IDLE;
}

static void client_fail(struct load *l, struct client *c, int e)
{
    if (e == ECONNREFUSED)
        l->refused++;
    else if (e == ECONNRESET || e == EPIPE)
        l->resets++;
    else {
        l->other++;
        l->last_err = e;
    }
    client_end(c);
}

static void client_start(struct load *l, struct client *c)
{
    struct sockaddr_storage ss;
    socklen_t len = it_sa_inet(AF_INET, l->port, &ss);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        l->other++;
        l->last_err = errno;
        return;
    }
    c->fd = it_track_fd(fd);
    l->seq++;
    c->len = 1 + (l->seq * 997u) % 3000u;
    c->off = (l->seq * 131u) % 100000u;
    c->sent = c->rcvd = 0;
    c->deadline = it_now_ms() + IT_OP_MS;
    if (connect(fd, (struct sockaddr *)&ss, len) == 0)
        c->state = CL_XFER;
    else if (errno == EINPROGRESS)
        c->state = CL_CONNECTING;
    else
        client_fail(l, c, errno);
}

/* Keeps NCLI clients connecting, echoing a few bytes and closing, for ms
 * milliseconds. */
static void load_run(struct load *l, int ms)
{
    int64_t until = it_now_ms() + ms;
    static uint8_t buf[4096];

    do {
        struct pollfd pfd[NCLI];
        for (int i = 0; i < NCLI; i++) {
            struct client *c = &l->c[i];
            if (c->state == CL_IDLE)
                client_start(l, c);
            pfd[i].fd = c->state == CL_IDLE ? -1 : c->fd;
            pfd[i].events = c->state == CL_CONNECTING ? POLLOUT
                            : POLLIN | (c->sent < c->len ? POLLOUT : 0);
            pfd[i].revents = 0;
        }
        poll(pfd, NCLI, it_left_ms(until) < 20 ? it_left_ms(until) : 20);
        for (int i = 0; i < NCLI; i++) {
            struct client *c = &l->c[i];
            short rev = pfd[i].revents;
            if (c->state == CL_IDLE)
                continue;
            if (c->state == CL_CONNECTING && rev) {
                int e = 0;
                socklen_t elen = sizeof(e);
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &elen);
                if (e) {
                    client_fail(l, c, e);
                    continue;
                }
                c->state = CL_XFER;
                rev = 0;
            }
            if (c->state == CL_XFER && (rev & POLLOUT) && c->sent < c->len) {
                ssize_t w = send(c->fd, it_pattern + c->off + c->sent, c->len - c->sent,
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
                if (w > 0)
                    c->sent += (size_t)w;
                else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                    client_fail(l, c, errno);
                    continue;
                }
            }
            if (c->state == CL_XFER && (rev & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t r = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (r == 0) {
                    l->early_eof++;
                    client_end(c);
                    continue;
                }
                if (r < 0 && errno != EAGAIN && errno != EINTR) {
                    client_fail(l, c, errno);
                    continue;
                }
                if (r > 0) {
                    if ((size_t)r > c->len - c->rcvd ||
                        memcmp(buf, it_pattern + c->off + c->rcvd, (size_t)r)) {
                        l->wrong++;
                        client_end(c);
                        continue;
                    }
                    c->rcvd += (size_t)r;
                    if (c->rcvd == c->len) {
                        l->cycles++;
                        client_end(c);
                        continue;
                    }
                }
            }
            if (c->state != CL_IDLE && it_now_ms() > c->deadline) {
                l->timeouts++;
                client_end(c);
            }
        }
    } while (it_left_ms(until));
}

static void test_reload_under_load(void)
{
    int port = it_free_port(IT_TCP4);
    struct load *l = it_alloc(sizeof(*l));
    unsigned long ino;
    struct it_daemon *d;
    int fd, reloads = 20, done = 0;
    char *want = it_printf("superd: reload done: 0 added, 1 kept, 0 removed; 2 new workers");

    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 2\nshutdown_timeout = 30s\n",
              it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n", port));
    ino = tcp_listen_inode(port);
    CU_ASSERT_FATAL(ino != 0 && holds_socket(d->pid, ino));
    /* Opened before the first reload; its worker must keep it. */
    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(it_echo_stream(fd, 1000, "long-lived connection, before"));

    l->port = port;
    for (int i = 0; i < NCLI; i++)
        l->c[i].fd = -1;
    load_run(l, 100);
    for (int r = 1; r <= reloads; r++) {
        int64_t deadline = it_now_ms() + LOG_MS;
        unsigned long cycles;
        kill(d->pid, SIGHUP);
        while (log_count_prefix(d, "superd: reload done:") < r && it_left_ms(deadline))
            load_run(l, 10);
        if (log_count_prefix(d, "superd: reload done:") < r) {
            printf("\n    reload %d not done within %d ms; stderr:\n%s", r, LOG_MS,
                   it_stderr(d));
            break;
        }
        done = r;
        /* Some traffic for each generation of workers. */
        cycles = l->cycles;
        deadline = it_now_ms() + LOG_MS;
        while (l->cycles < cycles + 10 && it_left_ms(deadline))
            load_run(l, 10);
    }
    load_run(l, 100);
    for (int i = 0; i < NCLI; i++)
        if (l->c[i].state != CL_IDLE)
            client_end(&l->c[i]);
    CU_ASSERT_EQUAL(done, reloads);
    CU_ASSERT_EQUAL(it_count_line(it_stderr(d), want), done);
    CU_ASSERT_EQUAL(it_count_prefix(it_stderr(d), "superd: reload failed"), 0);
    if (l->refused || l->resets || l->early_eof || l->wrong || l->timeouts || l->other)
        printf("\n    %lu round trips; refused %lu, resets %lu, early EOF %lu, wrong echoes "
               "%lu, timeouts %lu, other errors %lu (last: %s)\n", l->cycles, l->refused,
               l->resets, l->early_eof, l->wrong, l->timeouts, l->other,
               strerror(l->last_err));
    CU_ASSERT(l->cycles >= 10u * (unsigned long)reloads);
    CU_ASSERT_EQUAL(l->refused, 0);
    CU_ASSERT_EQUAL(l->resets, 0);
    CU_ASSERT_EQUAL(l->early_eof, 0);
    CU_ASSERT_EQUAL(l->wrong, 0);
    CU_ASSERT_EQUAL(l->timeouts, 0);
    CU_ASSERT_EQUAL(l->other, 0);
    /* The listener was never closed or re-bound. */
    CU_ASSERT_EQUAL(tcp_listen_inode(port), ino);
    CU_ASSERT(holds_socket(d->pid, ino));
    CU_ASSERT(it_echo_stream(fd, 64 * KiB, "long-lived connection, after 20 reloads"));
    it_close(fd);
    stop_ok(d, SIGTERM);
}

/* ==== 5. reload: invalid files, adding and removing, rebuilt plugins ==== */

/* Sends SIGHUP with `body` as the new file (after [superd] `global`) and
 * waits until the reload failed.  The failure line must be exactly
 * "reload failed, keeping the old configuration: FILE:LINE: rest", LINE
 * being the line of `needle`; rest is only a prefix when `exact` is 0. */
static void reload_fails(struct it_daemon *d, const char *global, const char *body,
                         const char *needle, const char *rest, int exact)
{
    char *conf = it_conf_global(global, body);
    int line = it_line_of(it_read_file(conf), needle);
    char *want = it_printf("superd: reload failed, keeping the old configuration: %s:%d: %s",
                           conf, line, rest);
    int before = log_count_prefix(d, "superd: reload failed");
    char *err, *got;

    CU_ASSERT_FATAL(line > 0);
    kill(d->pid, SIGHUP);
    err = wait_prefix(d, "superd: reload failed", before + 1, LOG_MS);
    CU_ASSERT_FATAL(err != NULL);
    got = nth_line(err, "superd: reload failed", before);
    if (exact ? strcmp(got, want) != 0 : strncmp(got, want, strlen(want)) != 0)
        printf("\n    expected %s \"%s\", got \"%s\"\n", exact ? "the line" : "a line starting",
               want, got);
    CU_ASSERT(exact ? !strcmp(got, want) : !strncmp(got, want, strlen(want)));
}

static void test_reload_invalid_changes_nothing(void)
{
    int port = it_free_port(IT_TCP4), busy = it_free_port(IT_TCP4);
    char *sock = it_path("echo.sock");
    char *body = it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n"
                           "listen = unix:%s\n", port, sock);
    const char *global = "workers = 2\nshutdown_timeout = 2s\n";
    int before[MAXPIDS], after[MAXPIDS];
    unsigned long tino, uino;
    struct it_daemon *d;
    char *err;
    int fd, nlines;

    CU_ASSERT_FATAL(port > 0 && busy > 0 && port != busy);
    d = serve(global, body);
    CU_ASSERT_FATAL(wait_children(d, 2, before, LOG_MS));
    tino = tcp_listen_inode(port);
    uino = unix_listen_inode(sock);
    CU_ASSERT_FATAL(tino && uino);
    CU_ASSERT(holds_socket(d->pid, tino) && holds_socket(d->pid, uino));

    /* A bad value. */
    reload_fails(d, global, it_printf("%s[bad]\nplugin = echo\n"
                                      "listen = tcp://127.0.0.1:99999\n", body),
                 "99999", "[bad] listen: port 99999 out of range", 1);
    /* A syntax error. */
    reload_fails(d, global, it_printf("%s[broken\nplugin = echo\n", body), "[broken", "", 0);
    /* A plugin whose init refuses its options. */
    reload_fails(d, global, it_printf("%s[picky]\nplugin = %s/../tests/plugins/initfail.so\n"
                                      "answer = 41\nlisten = tcp://127.0.0.1:%d\n", body,
                                      it_plugin_dir, busy),
                 "answer = 41", "[picky] answer: must be 42, not '41'", 1);
    /* A port that cannot be bound. */
    CU_ASSERT_FATAL(it_tcp_listen(AF_INET, busy) >= 0);
    reload_fails(d, global, it_printf("%s[taken]\nplugin = echo\n"
                                      "listen = tcp://127.0.0.1:%d\n", body, busy),
                 it_printf("127.0.0.1:%d", busy),
                 it_printf("[taken] listen: cannot bind tcp 127.0.0.1:%d: ", busy), 0);

    /* Nothing changed: no reload line, no new worker, same sockets. */
    err = it_stderr(d);
    CU_ASSERT_EQUAL(it_count_prefix(err, "superd: reload:"), 0);
    CU_ASSERT_EQUAL(it_count_prefix(err, "superd: reload done"), 0);
    CU_ASSERT_EQUAL(count_containing(err, " started"), 2);
    CU_ASSERT_FATAL(wait_children(d, 2, after, LOG_MS));
    CU_ASSERT(after[0] == before[0] && after[1] == before[1]);
    CU_ASSERT_EQUAL(tcp_listen_inode(port), tino);
    CU_ASSERT_EQUAL(unix_listen_inode(sock), uino);
    CU_ASSERT(holds_socket(d->pid, tino) && holds_socket(d->pid, uino));
    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT(it_echo_stream(fd, 64 * KiB, "tcp after the failed reloads"));
    it_close(fd);
    fd = it_unix_connect(sock);
    CU_ASSERT(it_echo_stream(fd, 64 * KiB, "unix after the failed reloads"));
    it_close(fd);

    /* The original file again: a reload that keeps both listeners. */
    nlines = it_lines(it_stderr(d));
    it_conf_global(global, body);
    kill(d->pid, SIGHUP);
    err = wait_prefix(d, "superd: reload done:", 1, LOG_MS);
    CU_ASSERT_FATAL(err != NULL);
    CU_ASSERT(it_count_line(err, "superd: reload done: 0 added, 2 kept, 0 removed; "
                                 "2 new workers") == 1);
    CU_ASSERT(it_lines(err) > nlines);
    CU_ASSERT_EQUAL(tcp_listen_inode(port), tino);
    CU_ASSERT_EQUAL(unix_listen_inode(sock), uino);
    stop_ok(d, SIGTERM);
    CU_ASSERT(!it_exists(sock));
}

/* Waits until every one of the n pids has logged its exit. */
static int wait_exited(struct it_daemon *d, const int *pids, int n)
{
    for (int i = 0; i < n; i++)
        if (!wait_line(d, it_printf("superd: worker %d exited with status 0", pids[i]),
                       LOG_MS))
            return 0;
    return 1;
}

static void test_reload_add_remove(void)
{
    int p1 = it_free_port(IT_TCP4), p2 = it_free_port(IT_TCP4);
    int p3 = it_free_port(IT_TCP4), p4 = it_free_port(IT_TCP4);
    char *esock = it_path("echo.sock"), *dsock = it_path("discard.sock");
    const char *global = "workers = 2\nshutdown_timeout = 2s\n";
    int old[MAXPIDS], now[MAXPIDS];
    unsigned long ino1, inoe;
    uint8_t buf[64];
    struct it_daemon *d;
    struct it_xfer x;
    char *err;
    int fd;

    CU_ASSERT_FATAL(p1 > 0 && p2 > 0 && p3 > 0 && p4 > 0);
    CU_ASSERT_FATAL(p1 != p2 && p1 != p3 && p1 != p4 && p2 != p3 && p2 != p4 && p3 != p4);
    d = serve(global, it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n"
                                "listen = unix:%s\n"
                                "[discard]\nplugin = discard\nlisten = tcp://127.0.0.1:%d\n"
                                "listen = unix:%s\n", p1, esock, p2, dsock));
    CU_ASSERT_FATAL(wait_children(d, 2, old, LOG_MS));
    ino1 = tcp_listen_inode(p1);
    inoe = unix_listen_inode(esock);
    CU_ASSERT_FATAL(ino1 && inoe && it_is_socket(dsock));
    fd = it_tcp_connect(AF_INET, p2);
    CU_ASSERT(fd >= 0);
    it_close(fd);

    /* echo gains a listener, daytime is new, discard is gone. */
    it_conf_global(global, it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n"
                                     "listen = tcp://127.0.0.1:%d\nlisten = unix:%s\n"
                                     "[daytime]\nplugin = daytime\n"
                                     "listen = tcp://127.0.0.1:%d\n", p1, p3, esock, p4));
    kill(d->pid, SIGHUP);
    err = wait_prefix(d, "superd: reload done:", 1, LOG_MS);
    CU_ASSERT_FATAL(err != NULL);
    CU_ASSERT_EQUAL(it_count_prefix(err, "superd: reload:"), 6);
    {
        char *lines[] = {
            it_printf("superd: reload: [echo] kept tcp 127.0.0.1:%d", p1),
            it_printf("superd: reload: [echo] added tcp 127.0.0.1:%d", p3),
            it_printf("superd: reload: [echo] kept unix %s", esock),
            it_printf("superd: reload: [daytime] added tcp 127.0.0.1:%d", p4),
            it_printf("superd: reload: [discard] removed tcp 127.0.0.1:%d", p2),
            it_printf("superd: reload: [discard] removed unix %s", dsock),
        };
        for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
            if (it_count_line(err, lines[i]) != 1)
                printf("\n    expected the line \"%s\" once; stderr:\n%s", lines[i], err);
            CU_ASSERT_EQUAL(it_count_line(err, lines[i]), 1);
        }
    }
    CU_ASSERT_EQUAL(it_count_line(err, "superd: reload done: 2 added, 2 kept, 2 removed; "
                                       "2 new workers"), 1);
    /* Once the old workers are gone, nothing holds the removed sockets. */
    CU_ASSERT_FATAL(wait_exited(d, old, 2));
    CU_ASSERT_FATAL(wait_children(d, 2, now, LOG_MS));
    CU_ASSERT(!has_pid(now, 2, old[0]) && !has_pid(now, 2, old[1]));

    CU_ASSERT(connect_refused_tcp(p2));
    CU_ASSERT(!it_exists(dsock));
    CU_ASSERT(it_unix_connect(dsock) < 0);
    CU_ASSERT_EQUAL(tcp_listen_inode(p2), 0);
    CU_ASSERT_EQUAL(tcp_listen_inode(p1), ino1);
    CU_ASSERT_EQUAL(unix_listen_inode(esock), inoe);
    CU_ASSERT(holds_socket(d->pid, ino1) && holds_socket(d->pid, inoe));
    CU_ASSERT(holds_socket(d->pid, tcp_listen_inode(p3)));
    fd = it_tcp_connect(AF_INET, p1);
    CU_ASSERT(it_echo_stream(fd, 64 * KiB, "kept tcp listener"));
    it_close(fd);
    fd = it_tcp_connect(AF_INET, p3);
    CU_ASSERT(it_echo_stream(fd, 64 * KiB, "added tcp listener"));
    it_close(fd);
    fd = it_unix_connect(esock);
    CU_ASSERT(it_echo_stream(fd, 64 * KiB, "kept unix listener"));
    it_close(fd);
    /* The new service answers: one CRLF-terminated line, then EOF. */
    fd = it_tcp_connect(AF_INET, p4);
    CU_ASSERT_FATAL(fd >= 0);
    it_xfer(fd, NULL, 0, 0, NULL, 0, buf, sizeof(buf), 0, 1, IT_OP_MS, &x);
    CU_ASSERT(x.eof && x.rcvd > 2 && x.rcvd < sizeof(buf) && buf[x.rcvd - 2] == '\r' &&
              buf[x.rcvd - 1] == '\n');
    it_close(fd);
    stop_ok(d, SIGTERM);
    CU_ASSERT(!it_exists(esock));
}

/* Copies a file: to a temporary name in the same directory, then renamed
 * over `to`, as an install of a rebuilt .so does.  0 or -1. */
static int install(const char *from, const char *to)
{
    char *tmp = it_printf("%s.tmp", to);
    char *data;
    int in = open(from, O_RDONLY | O_CLOEXEC), out;
    struct stat st;
    ssize_t n;
    size_t off = 0;

    if (in < 0 || fstat(in, &st) < 0)
        goto fail_in;
    data = it_alloc((size_t)st.st_size);
    while (off < (size_t)st.st_size && (n = read(in, data + off, (size_t)st.st_size - off)) > 0)
        off += (size_t)n;
    close(in);
    if (off != (size_t)st.st_size)
        return -1;
    out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    if (out < 0)
        return -1;
    if (write(out, data, off) != (ssize_t)off) {
        close(out);
        return -1;
    }
    if (close(out) < 0)
        return -1;
    return rename(tmp, to);
fail_in:
    if (in >= 0)
        close(in);
    return -1;
}

static void test_reload_rebuilt_plugin(void)
{
    int port = it_free_port(IT_TCP4);
    char *so = it_path("p.so");
    char ver[32];
    struct it_daemon *d;
    int64_t deadline;
    int fd, pid, tries = 0, seen2 = 0;

    CU_ASSERT_FATAL(port > 0);
    CU_ASSERT_FATAL(install(crashy_so(), so) == 0);
    d = serve("workers = 2\nshutdown_timeout = 2s\n",
              it_printf("[p]\nplugin = %s\nlisten = tcp://127.0.0.1:%d\n", so, port));
    for (int i = 0; i < 3; i++) {
        fd = it_tcp_connect(AF_INET, port);
        pid = greeting(fd, ver, sizeof(ver));
        CU_ASSERT_FATAL(pid > 0);
        CU_ASSERT_STRING_EQUAL(ver, "1");
        it_close(fd);
    }
    CU_ASSERT_FATAL(install(crashy_v2_so(), so) == 0);
    kill(d->pid, SIGHUP);
    CU_ASSERT_FATAL(wait_line(d, "superd: reload done: 0 added, 1 kept, 0 removed; "
                                 "2 new workers", LOG_MS));
    /* Old workers may still take a connection or two while they stop. */
    deadline = it_now_ms() + LOG_MS;
    while (!seen2 && it_left_ms(deadline)) {
        fd = it_tcp_connect(AF_INET, port);
        pid = greeting(fd, ver, sizeof(ver));
        tries++;
        seen2 = pid > 0 && !strcmp(ver, "2");
        it_close(fd);
        if (!seen2)
            it_sleep_ms(10);
    }
    if (!seen2)
        printf("\n    no \"version 2\" greeting in %d connections; stderr:\n%s", tries,
               it_stderr(d));
    CU_ASSERT_FATAL(seen2);
    for (int i = 0; i < 6; i++) {
        fd = it_tcp_connect(AF_INET, port);
        pid = greeting(fd, ver, sizeof(ver));
        CU_ASSERT(pid > 0);
        if (strcmp(ver, "2"))
            printf("\n    connection %d after the switch: version \"%s\"\n", i, ver);
        CU_ASSERT_STRING_EQUAL(ver, "2");
        CU_ASSERT(it_echo_stream(fd, 1000, "version 2"));
        it_close(fd);
    }
    stop_ok(d, SIGTERM);
}

/* ==== 6. SIGTERM with a connection open ==== */

static void test_sigterm_open_connection(void)
{
    int port = it_free_port(IT_TCP4);
    char *sock = it_path("echo.sock");
    struct it_daemon *d;
    int64_t deadline;
    struct it_xfer x;
    int fd, st, nworkers;
    char *err;

    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 2\nshutdown_timeout = 2s\n",
              it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n"
                        "listen = unix:%s\n", port, sock));
    CU_ASSERT_FATAL(it_is_socket(sock));
    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(it_echo_stream(fd, 1000, "before SIGTERM"));
    kill(d->pid, SIGTERM);
    CU_ASSERT_FATAL(wait_line(d, "superd: Terminated: stopping", LOG_MS));
    CU_ASSERT(it_echo_stream(fd, 64 * KiB, "open connection after SIGTERM"));
    /* Every worker stops accepting: no listening socket remains. */
    deadline = it_now_ms() + LOG_MS;
    while (tcp_listen_inode(port) && it_left_ms(deadline))
        it_sleep_ms(5);
    CU_ASSERT_EQUAL(tcp_listen_inode(port), 0);
    CU_ASSERT(connect_refused_tcp(port));
    CU_ASSERT(it_unix_connect(sock) < 0);
    CU_ASSERT(it_echo_stream(fd, 1000, "open connection, listeners closed"));
    /* shutdown_timeout: the server closes it. */
    it_xfer(fd, NULL, 0, 0, NULL, 0, NULL, 0, 0, 1, IT_OP_MS, &x);
    CU_ASSERT(x.eof && x.rcvd == 0 && !x.timeout);
    st = it_stop(d, 0);
    err = it_stderr(d);
    if (!it_exited(st, 0))
        printf("\n    wait status 0x%x; stderr:\n%s", (unsigned)st, err);
    CU_ASSERT(it_exited(st, 0));
    nworkers = count_containing(err, ": Terminated: stopping (");
    CU_ASSERT_EQUAL(nworkers, 2);
    CU_ASSERT_EQUAL(count_containing(err, ": shutdown_timeout reached: closing 1 "
                                          "connections"), 1);
    CU_ASSERT_EQUAL(it_count_line(err, "superd: stopped"), 1);
    CU_ASSERT(!strcmp(it_last_line(err), "superd: stopped"));
    CU_ASSERT(!it_exists(sock));
}

/* ==== 7. as root: a low port, workers as `user` ==== */

/* Uid: or Gid: of /proc/PID/status: all four ids equal id. */
static int ids_are(int pid, const char *field, unsigned id)
{
    char *v = status_field(pid, field);
    unsigned a, b, c, e;

    if (!v || sscanf(v, "%u %u %u %u", &a, &b, &c, &e) != 4) {
        printf("\n    /proc/%d/status: no %s line\n", pid, field);
        return 0;
    }
    if (a == id && b == id && c == id && e == id)
        return 1;
    printf("\n    /proc/%d/status: %s%s, expected %u\n", pid, field, v, id);
    return 0;
}

static void test_root_low_port_user(void)
{
    struct passwd *pw;
    int port = 0, pids[MAXPIDS];
    struct it_daemon *d;
    uid_t uid;
    gid_t gid;
    char *err;
    int fd;

    if (geteuid() != 0) {
        skipped("not running as root");
        return;
    }
    pw = getpwnam("nobody");
    if (!pw) {
        skipped("no user nobody");
        return;
    }
    uid = pw->pw_uid;
    gid = pw->pw_gid;
    for (int p = 600; p < 1024 && !port; p++)
        if (it_port_free(IT_TCP4, p))
            port = p;
    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 2\nuser = nobody\nshutdown_timeout = 2s\n",
              it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n", port));
    err = it_stderr(d);
    CU_ASSERT_EQUAL(it_count_line(err, it_printf("superd: [echo] listening on tcp "
                                                 "127.0.0.1:%d", port)), 1);
    CU_ASSERT_EQUAL(count_containing(err, "running as root with no user set"), 0);
    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT(it_echo_stream(fd, 64 * KiB, "low port"));
    it_close(fd);
    CU_ASSERT_FATAL(wait_children(d, 2, pids, LOG_MS));
    /* A worker drops root right after the fork: give it that moment. */
    for (int i = 0; i < 2; i++) {
        int64_t deadline = it_now_ms() + LOG_MS;
        char *v;
        while ((v = status_field(pids[i], "Uid:")) != NULL &&
               strtoul(v, NULL, 10) != (unsigned long)uid && it_left_ms(deadline))
            it_sleep_ms(10);
    }
    for (int i = 0; i < 2; i++) {
        char *groups = status_field(pids[i], "Groups:");
        char *end;
        int n = 0, ok = 1;
        CU_ASSERT(ids_are(pids[i], "Uid:", uid));
        CU_ASSERT(ids_are(pids[i], "Gid:", gid));
        CU_ASSERT_FATAL(groups != NULL);
        /* No supplementary group but the user's own. */
        for (char *p = groups;; p = end) {
            unsigned long g = strtoul(p, &end, 10);
            if (end == p)
                break;
            n++;
            ok &= g == gid;
        }
        if (n > 1 || !ok)
            printf("\n    worker %d: Groups:%s, expected none or %u\n", pids[i], groups,
                   (unsigned)gid);
        CU_ASSERT(n <= 1 && ok);
    }
    CU_ASSERT(ids_are(d->pid, "Uid:", 0));
    stop_ok(d, SIGTERM);
}

/* A root master without `user` warns. */
static void test_root_without_user_warns(void)
{
    int port = it_free_port(IT_TCP4);
    struct it_daemon *d;
    char *err, *warn;

    if (geteuid() != 0) {
        skipped("not running as root");
        return;
    }
    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 1\n",
              it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n", port));
    err = it_stderr(d);
    warn = nth_line(err, "superd: running as root with no user set: ", 0);
    CU_ASSERT(warn != NULL);
    CU_ASSERT(it_line_of(err, "running as root with no user set") >
              it_line_of(err, "listening on"));
    CU_ASSERT(it_line_of(err, "running as root with no user set") <
              it_line_of(err, "superd: ready"));
    stop_ok(d, SIGTERM);
}

/* ==== 8. max_connections across workers ==== */

/* A refusal line for a client at 127.0.0.1:cport on the listener: it starts
 * "[svc] tcp 127.0.0.1:PORT: ", says "max_connections reached" and names the
 * client as "refused 127.0.0.1:CPORT". */
static int refusal_logged(struct it_daemon *d, const char *svc, int port, int cport)
{
    char *prefix = it_printf("superd: [%s] tcp 127.0.0.1:%d: ", svc, port);
    char *peer = it_printf("refused 127.0.0.1:%d", cport);
    size_t plen = strlen(prefix);
    int64_t deadline = it_now_ms() + LOG_MS;

    for (;;) {
        char *err = slurp(d->errpath);
        int found = 0;
        for (char *p = err; *p && !found;) {
            char *nl = strchr(p, '\n');
            if (nl)
                *nl = '\0';
            found = !strncmp(p, prefix, plen) && strstr(p, "max_connections reached") &&
                    strstr(p, peer);
            p = nl ? nl + 1 : p + strlen(p);
        }
        free(err);
        if (found)
            return 1;
        if (!it_left_ms(deadline)) {
            printf("\n    no line \"%s...max_connections reached...%s\"; stderr:\n%s",
                   prefix, peer, it_stderr(d));
            return 0;
        }
        it_sleep_ms(5);
    }
}

static int local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return 0;
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void test_max_connections(void)
{
    int port = it_free_port(IT_TCP4);
    struct counters c;
    struct it_daemon *d;
    int fd[2], extra, fresh;
    char *line;

    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 2\nshutdown_timeout = 2s\n",
              it_printf("[crashy]\nplugin = %s\nmax_connections = 2\n"
                        "listen = tcp://127.0.0.1:%d\n", crashy_so(), port));
    for (int i = 0; i < 2; i++) {
        fd[i] = it_tcp_connect(AF_INET, port);
        CU_ASSERT_FATAL(greeting(fd[i], NULL, 0) > 0);
        CU_ASSERT(it_echo_stream(fd[i], 1000, "one of the two allowed"));
    }
    extra = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(extra >= 0);
    CU_ASSERT(closed_without_data(extra, "third connection"));
    CU_ASSERT(refusal_logged(d, "crashy", port, local_port(extra)));
    it_close(extra);
    line = report(d, "crashy", &c);
    CU_ASSERT_FATAL(line != NULL);
    if (c.active != 2 || c.accepted != 2 || c.refused != 1)
        printf("\n    SIGUSR1: \"%s\"\n", line);
    CU_ASSERT_EQUAL(c.active, 2);
    CU_ASSERT_EQUAL(c.accepted, 2);
    CU_ASSERT_EQUAL(c.refused, 1);
    /* The two still work; closing one makes room. */
    CU_ASSERT(it_echo_stream(fd[0], 1000, "allowed connection, after the refusal"));
    CU_ASSERT(it_echo_stream(fd[1], 1000, "allowed connection, after the refusal"));
    it_close(fd[0]);
    CU_ASSERT_FATAL(report_active(d, "crashy", 1, &c) != NULL);
    CU_ASSERT_EQUAL(c.active, 1);
    fresh = it_tcp_connect(AF_INET, port);
    CU_ASSERT(greeting(fresh, NULL, 0) > 0);
    CU_ASSERT(it_echo_stream(fresh, 1000, "connection after one closed"));
    line = report(d, "crashy", &c);
    CU_ASSERT_FATAL(line != NULL);
    CU_ASSERT(c.active == 2 && c.accepted == 3 && c.refused == 1);
    it_close(fd[1]);
    it_close(fresh);
    stop_ok(d, SIGTERM);
}

/* The [superd] max_connections counts every service together. */
static void test_max_connections_global(void)
{
    int pa = it_free_port(IT_TCP4), pb = it_free_port(IT_TCP4);
    struct counters ca, cb;
    struct it_daemon *d;
    int a, b, extra;

    CU_ASSERT_FATAL(pa > 0 && pb > 0 && pa != pb);
    d = serve("workers = 2\nmax_connections = 2\nshutdown_timeout = 2s\n",
              it_printf("[a]\nplugin = %s\nlisten = tcp://127.0.0.1:%d\n"
                        "[b]\nplugin = %s\nlisten = tcp://127.0.0.1:%d\n",
                        crashy_so(), pa, crashy_so(), pb));
    a = it_tcp_connect(AF_INET, pa);
    CU_ASSERT_FATAL(greeting(a, NULL, 0) > 0);
    b = it_tcp_connect(AF_INET, pb);
    CU_ASSERT_FATAL(greeting(b, NULL, 0) > 0);
    extra = it_tcp_connect(AF_INET, pb);
    CU_ASSERT_FATAL(extra >= 0);
    CU_ASSERT(closed_without_data(extra, "third connection, over the global limit"));
    CU_ASSERT(refusal_logged(d, "b", pb, local_port(extra)));
    CU_ASSERT_FATAL(report(d, "a", &ca) && report(d, "b", &cb));
    CU_ASSERT(ca.active == 1 && ca.accepted == 1 && ca.refused == 0);
    CU_ASSERT(cb.active == 1 && cb.accepted == 1 && cb.refused == 1);
    CU_ASSERT(it_echo_stream(a, 1000, "[a] under the global limit"));
    it_close(a);
    CU_ASSERT_FATAL(report_active(d, "a", 0, &ca) != NULL);
    extra = it_tcp_connect(AF_INET, pb);
    CU_ASSERT(greeting(extra, NULL, 0) > 0);
    it_close(extra);
    it_close(b);
    stop_ok(d, SIGTERM);
}

/* ==== 9. SIGUSR1 counters ==== */

static void test_sigusr1_counters(void)
{
    int port = it_free_port(IT_TCP4 | IT_UDP4);
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_inet(AF_INET, port, &to);
    uint8_t reply[64];
    struct counters c;
    struct it_daemon *d;
    char *line, *want;
    int fd;

    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 2\nshutdown_timeout = 2s\n",
              it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d "
                        "udp://127.0.0.1:%d\n", port, port));
    line = report(d, "echo", &c);
    CU_ASSERT_FATAL(line != NULL);
    CU_ASSERT_STRING_EQUAL(line, "superd: [echo] active 0 accepted 0 refused 0 bytes_in 0 "
                                 "bytes_out 0 dgrams_in 0 dgrams_out 0 loop_drops 0");
    for (int i = 0; i < 3; i++) {
        fd = it_tcp_connect(AF_INET, port);
        CU_ASSERT(it_echo_stream(fd, 100, "100 bytes"));
        it_close(fd);
    }
    fd = it_udp_socket(AF_INET, 0);
    CU_ASSERT_FATAL(fd >= 0);
    for (int i = 0; i < 2; i++) {
        /* One try: a resent datagram would count twice. */
        ssize_t r = it_dgram_ask(fd, &to, tolen, it_pattern + 10 * i, 10, reply,
                                 sizeof(reply), 1);
        CU_ASSERT(r == 10 && !memcmp(reply, it_pattern + 10 * i, 10));
    }
    /* A worker counts a reply just after sending it, and a close just
     * after the client's: SIGUSR1 until both have landed (bounded). */
    {
        int64_t deadline = it_now_ms() + LOG_MS;
        while ((line = report(d, "echo", &c)) != NULL && (c.active != 0 || c.dgrams_out < 2) &&
               it_left_ms(deadline))
            it_sleep_ms(50);
    }
    CU_ASSERT_FATAL(line != NULL);
    want = "superd: [echo] active 0 accepted 3 refused 0 bytes_in 320 bytes_out 320 "
           "dgrams_in 2 dgrams_out 2 loop_drops 0";
    if (strcmp(line, want))
        printf("\n    expected \"%s\"\n    got      \"%s\"\n", want, line);
    CU_ASSERT_STRING_EQUAL(line, want);
    stop_ok(d, SIGTERM);
}

/* ==== 10. hardening: the master under signal storms and hostile plugins ==== */

/* 1 while pid exists and is not a zombie. */
static int alive(int pid)
{
    char *stat = it_read_file(it_printf("/proc/%d/stat", pid));
    char *paren = strrchr(stat, ')');

    return paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

static char *fdspy_so(void)
{
    return it_printf("%s/../tests/plugins/fdspy.so", it_plugin_dir);
}

/* Workers run as `user` must still die with a master killed by SIGKILL:
 * the parent-death signal is armed after the privilege drop. */
static void test_kill9_master_with_user(void)
{
    int port = it_free_port(IT_TCP4);
    int pids[MAXPIDS];
    struct it_daemon *d;
    int64_t deadline;
    int left;

    if (geteuid() != 0) {
        skipped("not root: workers cannot switch user");
        return;
    }
    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 2\nuser = nobody\n",
              it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n", port));
    CU_ASSERT_FATAL(wait_children(d, 2, pids, LOG_MS));
    kill(d->pid, SIGKILL);  /* the teardown reaps it (and kills strays) */
    deadline = it_now_ms() + 3000;
    do {
        left = alive(pids[0]) + alive(pids[1]);
        if (left)
            it_sleep_ms(10);
    } while (left && it_left_ms(deadline));
    if (left)
        printf("\n    %d worker(s) outlived the master\n    ", left);
    CU_ASSERT_EQUAL(left, 0);
    /* ... and with them the listener: a restart can bind the port. */
    CU_ASSERT_EQUAL(tcp_listen_inode(port), 0);
}

/* Sends n SIGHUPs `gap_ms` apart from a child process; returns its pid. */
static pid_t hup_storm(pid_t target, int n, int gap_ms)
{
    pid_t pid = fork();

    if (pid == 0) {
        for (int i = 0; i < n; i++) {
            kill(target, SIGHUP);
            usleep((useconds_t)gap_ms * 1000);
        }
        _exit(0);
    }
    return pid;
}

/* echo, and a plugin slow to start: a reload takes longer than the gap
 * between two SIGHUPs of a storm. */
static char *storm_services(int port, int port2)
{
    return it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n"
                     "[slow]\nplugin = %s\ninit_sleep_ms = 20\nlisten = tcp://127.0.0.1:%d\n",
                     port, crashy_so(), port2);
}

/* 300 SIGHUPs 4 ms apart: echo is served throughout and after it, and the
 * master ends with exactly its workers (none lost, none left over). */
static void test_hup_storm_keeps_workers(void)
{
    int port = it_free_port(IT_TCP4), port2 = it_free_port(IT_TCP4);
    int pids[MAXPIDS], failed = 0, rounds = 0;
    struct it_daemon *d;
    pid_t storm;
    int64_t deadline;

    CU_ASSERT_FATAL(port > 0 && port2 > 0 && port != port2);
    d = serve("workers = 4\nshutdown_timeout = 1s\n", storm_services(port, port2));
    storm = hup_storm(d->pid, 300, 4);
    CU_ASSERT_FATAL(storm > 0);
    deadline = it_now_ms() + IT_TEST_MS;
    while (waitpid(storm, NULL, WNOHANG) == 0 && it_left_ms(deadline)) {
        int fd = it_tcp_connect(AF_INET, port);
        failed += !it_echo_stream(fd, 64, "echo during a SIGHUP storm");
        it_close(fd);
        rounds++;
    }
    CU_ASSERT(rounds > 0);
    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT(wait_children(d, 4, pids, IT_START_MS));
    for (int i = 0; i < 3; i++) {
        int fd = it_tcp_connect(AF_INET, port);
        CU_ASSERT(it_echo_stream(fd, 64, "echo after a SIGHUP storm"));
        it_close(fd);
    }
    stop_ok(d, SIGTERM);
}

/* SIGTERM in the middle of a long SIGHUP storm stops superd at once, not
 * when the storm is over. */
static void test_sigterm_during_hup_storm(void)
{
    int port = it_free_port(IT_TCP4), port2 = it_free_port(IT_TCP4);
    struct it_daemon *d;
    pid_t storm;

    CU_ASSERT_FATAL(port > 0 && port2 > 0 && port != port2);
    d = serve("workers = 2\nshutdown_timeout = 1s\n", storm_services(port, port2));
    storm = hup_storm(d->pid, 5000, 4);     /* 20 s: longer than IT_STOP_MS */
    CU_ASSERT_FATAL(storm > 0);
    it_sleep_ms(300);
    stop_ok(d, SIGTERM);
    kill(storm, SIGKILL);
    waitpid(storm, NULL, 0);
}

/* The reload's plugin check runs with no descriptor of the master's: a
 * plugin there cannot reach the master's signalfd or epoll. */
static void test_check_child_holds_no_master_fd(void)
{
    int port = it_free_port(IT_TCP4);
    struct it_daemon *d;
    char *err;

    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 1\n",
              it_printf("[spy]\nplugin = %s\nlisten = tcp://127.0.0.1:%d\n", fdspy_so(), port));
    kill(d->pid, SIGHUP);
    err = wait_prefix(d, "superd: reload", 2, LOG_MS);
    CU_ASSERT_FATAL(err != NULL);
    err = wait_prefix(d, "superd: reload done:", 1, LOG_MS);
    CU_ASSERT_FATAL(err != NULL);
    CU_ASSERT_EQUAL(count_containing(err, "reload failed"), 0);
    stop_ok(d, SIGTERM);
}

/* A worker retired by a reload whose callback never returns is killed
 * shutdown_timeout + 2 s later, and lets go of the port that was removed. */
static void test_reload_kills_stuck_worker(void)
{
    int p1 = it_free_port(IT_TCP4), p2 = it_free_port(IT_TCP4);
    const char *global = "workers = 1\nshutdown_timeout = 500ms\n";
    uint8_t buf[64];
    struct it_daemon *d;
    struct it_xfer x;
    int fd;
    int64_t deadline;

    CU_ASSERT_FATAL(p1 > 0 && p2 > 0 && p1 != p2);
    d = serve(global, it_printf("[crashy]\nplugin = %s\nlisten = tcp://127.0.0.1:%d\n",
                                crashy_so(), p1));
    fd = it_tcp_connect(AF_INET, p1);
    it_xfer(fd, (const uint8_t *)"hang\n", 5, 0, NULL, 0, buf, sizeof(buf), 10, 0, IT_OP_MS,
            &x);
    CU_ASSERT(x.sent == 5);
    it_conf_global(global, it_printf("[crashy]\nplugin = %s\nlisten = tcp://127.0.0.1:%d\n",
                                     crashy_so(), p2));
    kill(d->pid, SIGHUP);
    CU_ASSERT_FATAL(wait_prefix(d, "superd: reload done:", 1, LOG_MS) != NULL);
    CU_ASSERT(wait_containing(d, "after shutdown_timeout: killing it", IT_START_MS));
    /* Nobody listens on the removed port any more. */
    deadline = it_now_ms() + LOG_MS;
    while (tcp_listen_inode(p1) && it_left_ms(deadline))
        it_sleep_ms(20);
    CU_ASSERT_EQUAL(tcp_listen_inode(p1), 0);
    stop_ok(d, SIGTERM);
}

/* log_level takes effect on reload: "worker N started" is an INFO line. */
static void test_reload_applies_log_level(void)
{
    int port = it_free_port(IT_TCP4);
    char *body = it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n", port);
    struct it_daemon *d;
    char *err;

    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 1\nlog_level = notice\n", body);
    CU_ASSERT_EQUAL(log_count_prefix(d, "superd: worker "), 0);
    it_conf_global("workers = 1\nlog_level = info\n", body);
    kill(d->pid, SIGHUP);
    err = wait_prefix(d, "superd: reload done:", 1, LOG_MS);
    CU_ASSERT_FATAL(err != NULL);
    CU_ASSERT(it_count_prefix(err, "superd: worker ") >= 1);
    stop_ok(d, SIGTERM);
}

/* A key the running daemon cannot change refuses the reload, saying so. */
static void test_reload_pid_file_needs_restart(void)
{
    int port = it_free_port(IT_TCP4);
    char *body = it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n", port);
    char *pid1 = it_path("one.pid"), *pid2 = it_path("two.pid");
    struct it_daemon *d;
    char *conf, *want;

    CU_ASSERT_FATAL(port > 0);
    d = serve(it_printf("workers = 1\npid_file = %s\n", pid1), body);
    conf = it_conf_global(it_printf("workers = 1\npid_file = %s\n", pid2), body);
    kill(d->pid, SIGHUP);
    want = it_printf("superd: reload failed, keeping the old configuration: %s: pid_file: "
                     "changing it needs a restart (still %s)", conf, pid1);
    CU_ASSERT(wait_line(d, want, LOG_MS));
    CU_ASSERT(it_exists(pid1));
    CU_ASSERT(!it_exists(pid2));
    stop_ok(d, SIGTERM);
}

/* A plugin that crashes in the reload's check is named, with the step. */
static void test_reload_check_crash_named(void)
{
    int port = it_free_port(IT_TCP4);
    char *flag = it_path("crash-now");
    struct it_daemon *d;
    char *want;

    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 1\n",
              it_printf("[crashy]\nplugin = %s\ncrash_init_if = %s\n"
                        "listen = tcp://127.0.0.1:%d\n", crashy_so(), flag, port));
    CU_ASSERT_FATAL(it_write_file(flag, "") == 0);
    kill(d->pid, SIGHUP);
    want = it_printf("superd: reload failed, keeping the old configuration: %s: plugin check "
                     "crashed in [crashy] init: killed by signal %d (%s)", d->conf, SIGABRT,
                     strsignal(SIGABRT));
    CU_ASSERT(wait_line(d, want, LOG_MS));
    unlink(flag);
    stop_ok(d, SIGTERM);
}

/* A worker that crashes while it finishes connections after a reload lost
 * clients: an error line, not an INFO one. */
static void test_draining_worker_crash_is_an_error(void)
{
    int port = it_free_port(IT_TCP4);
    char *body, *want;
    uint8_t buf[64];
    struct it_daemon *d;
    struct it_xfer x;
    int fd, pid = 0;

    CU_ASSERT_FATAL(port > 0);
    body = it_printf("[crashy]\nplugin = %s\nlisten = tcp://127.0.0.1:%d\n", crashy_so(), port);
    d = serve("workers = 1\nshutdown_timeout = 10s\n", body);
    fd = it_tcp_connect(AF_INET, port);
    memset(buf, 0, sizeof(buf));
    it_xfer(fd, NULL, 0, 0, NULL, 0, buf, sizeof(buf) - 1, 10, 0, IT_OP_MS, &x);
    CU_ASSERT_FATAL(sscanf((char *)buf, "pid %d", &pid) == 1);
    kill(d->pid, SIGHUP);
    CU_ASSERT_FATAL(wait_prefix(d, "superd: reload done:", 1, LOG_MS) != NULL);
    it_xfer(fd, (const uint8_t *)"crash\n", 6, 0, NULL, 0, NULL, 0, 0, 1, IT_OP_MS, &x);
    want = it_printf("superd: worker %d killed by signal %d (%s) while finishing the "
                     "connections of [crashy]", pid, SIGSEGV, strsignal(SIGSEGV));
    CU_ASSERT(wait_line(d, want, LOG_MS));
    stop_ok(d, SIGTERM);
}

/* Workers cannot gain privileges through exec (PR_SET_NO_NEW_PRIVS). */
static void test_workers_no_new_privs(void)
{
    int port = it_free_port(IT_TCP4), pids[MAXPIDS];
    struct it_daemon *d;
    char *field;

    CU_ASSERT_FATAL(port > 0);
    d = serve("workers = 1\n",
              it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n", port));
    CU_ASSERT_FATAL(wait_children(d, 1, pids, LOG_MS));
    field = status_field(pids[0], "NoNewPrivs:");
    CU_ASSERT_FATAL(field != NULL);
    CU_ASSERT_STRING_EQUAL(field, "\t1");
    stop_ok(d, SIGTERM);
}

/* ---- registration ---- */

static const struct it_test tests[] = {
    { "SIGSEGV to a worker: the other worker's clients stream on",
      test_kill_worker_others_stream },
    { "plugin crash on data: only its worker goes, replaced", test_crash_on_data },
    { "crash in init: back-off 100, 200, 400 ms; echo served throughout",
      test_crash_in_init_backoff },
    { "20 reloads under load: nothing refused, reset or wrong", test_reload_under_load },
    { "reload of an invalid file changes nothing", test_reload_invalid_changes_nothing },
    { "reload adds and removes services and listeners", test_reload_add_remove },
    { "reload picks up a rebuilt plugin", test_reload_rebuilt_plugin },
    { "SIGTERM: open connection served until shutdown_timeout",
      test_sigterm_open_connection },
    { "root: port below 1024, workers run as user nobody", test_root_low_port_user },
    { "root without user: a warning", test_root_without_user_warns },
    { "max_connections = 2 across two workers", test_max_connections },
    { "global max_connections across services", test_max_connections_global },
    { "SIGUSR1: exact counters", test_sigusr1_counters },
    { "kill -9 of the master: workers running as user go too", test_kill9_master_with_user },
    { "300 SIGHUPs 4 ms apart: served throughout, workers kept", test_hup_storm_keeps_workers },
    { "SIGTERM during a SIGHUP storm: clean stop", test_sigterm_during_hup_storm },
    { "reload check child holds no master descriptor", test_check_child_holds_no_master_fd },
    { "reload: a stuck old worker is killed after shutdown_timeout",
      test_reload_kills_stuck_worker },
    { "reload applies log_level", test_reload_applies_log_level },
    { "reload: pid_file change needs a restart", test_reload_pid_file_needs_restart },
    { "reload: a crash in the plugin check names service and step",
      test_reload_check_crash_named },
    { "a draining worker's crash is an error", test_draining_worker_crash_is_an_error },
    { "workers run with no_new_privs", test_workers_no_new_privs },
};

int main(int argc, char **argv)
{
    /* Under AddressSanitizer a SIGSEGV is caught by the sanitizer, which
     * reports it and exits with status 1: the master would rightly log
     * "exited with status 1".  The crash tests are about a worker killed
     * by signal 11, so superd's processes (not this one: its options are
     * read already) leave SIGSEGV alone.  No effect on a plain build. */
    {
        const char *asan = getenv("ASAN_OPTIONS");
        char opts[1024];
        snprintf(opts, sizeof(opts), "%s%shandle_segv=0", asan ? asan : "",
                 asan && *asan ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
    }
    return it_main(argc, argv, "workers", "superd master and workers", tests,
                   sizeof(tests) / sizeof(tests[0]));
}
