/*
 * integration_util.c - process, file and socket helpers for the integration
 * tests.  See integration_util.h.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

uint8_t *it_pattern;
char it_superd[PATH_MAX];
char it_plugin_dir[PATH_MAX];
char it_dir[PATH_MAX];

/* What the running test holds; released by it_test_teardown(). */
#define MAX_TRACK 1024
static void *allocs[4096];
static size_t nallocs;
static int fds[MAX_TRACK];
static size_t nfds;
static struct it_daemon *daemons[MAX_TRACK];
static size_t ndaemons;
static unsigned runs;
static int64_t test_start, test_deadline;

static void fatal(const char *what)
{
    fprintf(stderr, "integration: %s: %s\n", what, strerror(errno));
    abort();
}

uint8_t it_pat(size_t i)
{
    /* Not periodic at any small distance, so a lost, doubled or reordered
     * chunk shows up at once. */
    uint32_t v = (uint32_t)i;
    v ^= v >> 9;
    v *= 0x9e3779b1u;
    v ^= v >> 15;
    return (uint8_t)(v ^ (i >> 3));
}

int it_global_init(const char *build)
{
    char abs[PATH_MAX];

    if (!realpath(build, abs)) {
        fprintf(stderr, "integration: %s: %s\n", build, strerror(errno));
        return -1;
    }
    if (strlen(abs) + sizeof("/plugins") > sizeof(it_superd)) {
        fprintf(stderr, "integration: %s: path too long\n", abs);
        return -1;
    }
    strcpy(it_superd, abs);
    strcat(it_superd, "/superd");
    strcpy(it_plugin_dir, abs);
    strcat(it_plugin_dir, "/plugins");
    it_pattern = malloc(IT_PATTERN_LEN);
    if (!it_pattern)
        return -1;
    for (size_t i = 0; i < IT_PATTERN_LEN; i++)
        it_pattern[i] = it_pat(i);
    return 0;
}

void it_global_fini(void)
{
    free(it_pattern);
    it_pattern = NULL;
}

/* ---- time ---- */

int64_t it_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int it_left_ms(int64_t deadline)
{
    int64_t left = deadline - it_now_ms();

    return left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

void it_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- tracked resources ---- */

void *it_alloc(size_t n)
{
    void *p;

    if (nallocs == sizeof(allocs) / sizeof(allocs[0]))
        fatal("too many allocations in one test");
    p = calloc(1, n ? n : 1);
    if (!p)
        fatal("calloc");
    allocs[nallocs++] = p;
    return p;
}

char *it_printf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *s;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    s = it_alloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

char *it_path(const char *name)
{
    return it_printf("%s/%s", it_dir, name);
}

int it_track_fd(int fd)
{
    if (fd < 0)
        return fd;
    if (nfds == MAX_TRACK)
        fatal("too many descriptors in one test");
    fds[nfds++] = fd;
    return fd;
}

void it_close(int fd)
{
    for (size_t i = 0; i < nfds; i++) {
        if (fds[i] == fd) {
            fds[i] = fds[--nfds];
            close(fd);
            return;
        }
    }
    if (fd >= 0)
        close(fd);
}

static void track_daemon(struct it_daemon *d)
{
    if (ndaemons == MAX_TRACK)
        fatal("too many daemons in one test");
    daemons[ndaemons++] = d;
}

void it_test_setup(void)
{
    snprintf(it_dir, sizeof(it_dir), "/tmp/superd-it.XXXXXX");
    if (!mkdtemp(it_dir))
        fatal("mkdtemp");
    test_start = it_now_ms();
    test_deadline = test_start + IT_TEST_MS;
}

/* A deadline `ms` from now, but never past the test's own. */
static int64_t op_deadline(int ms)
{
    int64_t d = it_now_ms() + ms;

    return d < test_deadline ? d : test_deadline;
}

static void kill_daemon(struct it_daemon *d);

void it_test_teardown(void)
{
    DIR *dir;
    struct dirent *de;

    /* Clients first, so a daemon has no connection left to wait for. */
    while (nfds)
        close(fds[--nfds]);
    while (ndaemons)
        kill_daemon(daemons[--ndaemons]);
    dir = opendir(it_dir);
    if (dir) {
        while ((de = readdir(dir)) != NULL) {
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                unlinkat(dirfd(dir), de->d_name, 0);
        }
        closedir(dir);
        rmdir(it_dir);
    }
    while (nallocs)
        free(allocs[--nallocs]);
    /* CUnit reports CPU time; the wall time is what a slow test costs. */
    if (it_now_ms() - test_start >= 1000)
        printf("(%.1f s) ", (double)(it_now_ms() - test_start) / 1000.0);
}

/* ---- files and text ---- */

int it_write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t len = strlen(text), off = 0;

    if (fd < 0)
        return -1;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)n;
    }
    return close(fd);
}

char *it_read_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t cap = 4096, len = 0;
    char *buf, *out;

    if (fd < 0)
        return it_printf("%s", "");
    buf = malloc(cap);
    if (!buf)
        fatal("malloc");
    for (;;) {
        ssize_t n;
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                fatal("realloc");
            buf = nb;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    out = it_alloc(len + 1);
    memcpy(out, buf, len + 1);
    free(buf);
    return out;
}

int it_exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

int it_is_socket(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

int it_line_of(const char *text, const char *needle)
{
    const char *p = strstr(text, needle);
    int line = 1;

    if (!p)
        return 0;
    for (const char *q = text; q < p; q++)
        line += *q == '\n';
    return line;
}

/* How many lines of text (without their '\n') equal s, or start with it
 * when prefix is set. */
static int count_lines(const char *text, const char *s, int prefix)
{
    size_t slen = strlen(s);
    int count = 0;

    while (*text) {
        const char *nl = strchr(text, '\n');
        size_t len = nl ? (size_t)(nl - text) : strlen(text);
        if (prefix ? len >= slen && !memcmp(text, s, slen)
                   : len == slen && !memcmp(text, s, slen))
            count++;
        text += len + (nl != NULL);
    }
    return count;
}

int it_count_line(const char *text, const char *line)
{
    return count_lines(text, line, 0);
}

int it_count_prefix(const char *text, const char *prefix)
{
    return count_lines(text, prefix, 1);
}

int it_lines(const char *text)
{
    return count_lines(text, "", 1);
}

const char *it_last_line(const char *text)
{
    size_t len = strlen(text);
    const char *start;
    char *out;

    if (len && text[len - 1] == '\n')
        len--;
    start = text + len;
    while (start > text && start[-1] != '\n')
        start--;
    out = it_alloc((size_t)(text + len - start) + 1);
    memcpy(out, start, (size_t)(text + len - start));
    return out;
}

char *it_conf_global(const char *global, const char *body)
{
    char *path = it_path("superd.ini");

    if (it_write_file(path, it_printf("[superd]\nplugin_dir = %s\n%s\n%s",
                                      it_plugin_dir, global, body)) < 0)
        fatal("writing the configuration");
    return path;
}

char *it_conf(const char *body)
{
    return it_conf_global("", body);
}

/* ---- ports ---- */

socklen_t it_sa_inet(int family, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        sin6->sin6_addr = in6addr_loopback;
        return sizeof(*sin6);
    }
}

socklen_t it_sa_unix(const char *path, struct sockaddr_storage *ss)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)ss;
    size_t len = strlen(path);

    memset(ss, 0, sizeof(*ss));
    sun->sun_family = AF_UNIX;
    if (len >= sizeof(sun->sun_path))
        len = sizeof(sun->sun_path) - 1;
    memcpy(sun->sun_path, path, len);
    if (path[0] == '@') {
        /* Linux abstract namespace: a leading NUL, the length counts. */
        sun->sun_path[0] = '\0';
        return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    }
    return (socklen_t)sizeof(*sun);
}

/* A bound socket of the given kind on loopback:port, or -1. */
static int bind_inet(int family, int type, int port)
{
    struct sockaddr_storage ss;
    socklen_t len = it_sa_inet(family, port, &ss);
    int fd = socket(family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    if (fd < 0)
        return -1;
    if (family == AF_INET6) {
        int one = 1;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int it_have_ipv6(void)
{
    static int have = -1;

    if (have < 0) {
        int fd = bind_inet(AF_INET6, SOCK_STREAM, 0);
        have = fd >= 0;
        if (fd >= 0)
            close(fd);
    }
    return have;
}

int it_port_free(int mask, int port)
{
    static const struct { int bit, family, type; } kinds[] = {
        { IT_TCP4, AF_INET, SOCK_STREAM }, { IT_TCP6, AF_INET6, SOCK_STREAM },
        { IT_UDP4, AF_INET, SOCK_DGRAM },  { IT_UDP6, AF_INET6, SOCK_DGRAM },
    };

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        int fd;
        if (!(mask & kinds[i].bit))
            continue;
        fd = bind_inet(kinds[i].family, kinds[i].type, port);
        if (fd < 0)
            return 0;
        /* A TCP port is only really ours once listen() succeeds too. */
        if (kinds[i].type == SOCK_STREAM && listen(fd, 1) < 0) {
            close(fd);
            return 0;
        }
        close(fd);
    }
    return 1;
}

int it_free_port(int mask)
{
    int v4 = (mask & (IT_TCP4 | IT_UDP4)) || !(mask & (IT_TCP6 | IT_UDP6));
    int family = v4 ? AF_INET : AF_INET6;
    int type = (mask & (IT_TCP4 | IT_TCP6)) || !mask ? SOCK_STREAM : SOCK_DGRAM;

    for (int tries = 0; tries < 100; tries++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = bind_inet(family, type, 0), port;

        if (fd < 0)
            return 0;
        if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
            close(fd);
            return 0;
        }
        port = ntohs(v4 ? ((struct sockaddr_in *)&ss)->sin_port
                        : ((struct sockaddr_in6 *)&ss)->sin6_port);
        close(fd);
        if (it_port_free(mask ? mask : IT_TCP4, port))
            return port;
    }
    return 0;
}

/* ---- the daemon ---- */

/* fork and exec superd with argv, stdout and stderr into files, in a
 * process group of its own, killed if this program dies. */
static pid_t spawn(char *const argv[], const char *out, const char *err)
{
    pid_t parent = getpid();
    pid_t pid = fork();

    if (pid < 0)
        fatal("fork");
    if (pid == 0) {
        struct sigaction sa;
        sigset_t none;
        int fd;

        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_DFL;
        for (int sig = 1; sig < NSIG; sig++)
            sigaction(sig, &sa, NULL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        fd = open("/dev/null", O_RDONLY);
        if (fd < 0 || dup2(fd, 0) < 0)
            _exit(127);
        fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 1) < 0)
            _exit(127);
        fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 2) < 0)
            _exit(127);
        /* Socket activation as systemd does it: the socket at fd 3. */
        if (it_listen_fd >= 0) {
            char me[24];
            /* dup2 clears close-on-exec; fd 3 itself needs it cleared. */
            if (it_listen_fd == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(it_listen_fd, 3) < 0)
                _exit(127);
            snprintf(me, sizeof(me), "%ld", (long)getpid());
            setenv("LISTEN_PID", me, 1);
            setenv("LISTEN_FDS", "1", 1);
        }
        for (fd = it_listen_fd >= 0 ? 4 : 3; fd < 1024; fd++)
            close(fd);
        execv(argv[0], argv);
        dprintf(2, "integration: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

/* 1 when the process has exited (left as a zombie, not reaped). */
static int has_exited(pid_t pid)
{
    siginfo_t si;

    memset(&si, 0, sizeof(si));
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
        return 1;
    return si.si_pid == pid;
}

/* Processes other than `pid` itself in process group `pid`, not zombies. */
static int group_others(pid_t pgid)
{
    DIR *dir = opendir("/proc");
    struct dirent *de;
    int n = 0;

    if (!dir)
        return 0;
    while ((de = readdir(dir)) != NULL) {
        char path[64], buf[512], state;
        int p = atoi(de->d_name), ppid, pgrp;
        FILE *f;
        char *rp;

        if (p <= 0 || p == pgid)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/stat", p);
        f = fopen(path, "re");
        if (!f)
            continue;
        if (fgets(buf, sizeof(buf), f) && (rp = strrchr(buf, ')')) &&
            sscanf(rp + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 &&
            pgrp == pgid && state != 'Z')
            n++;
        fclose(f);
    }
    closedir(dir);
    return n;
}

/* The process has exited (zombie): give what is left of its group a
 * moment, count and kill the rest, then reap it. */
static void reap(struct it_daemon *d)
{
    int64_t deadline = it_now_ms() + 2000;

    while (group_others(d->pid) && it_left_ms(deadline))
        it_sleep_ms(20);
    d->strays = group_others(d->pid);
    /* The zombie leader keeps the group id from being reused. */
    kill(-d->pid, SIGKILL);
    while (waitpid(d->pid, &d->status, 0) < 0 && errno == EINTR)
        ;
    d->reaped = 1;
}

static void kill_daemon(struct it_daemon *d)
{
    int64_t deadline = it_now_ms() + IT_STOP_MS;

    if (d->pid <= 0 || d->reaped)
        return;
    kill(-d->pid, SIGKILL);
    kill(d->pid, SIGKILL);
    while (!has_exited(d->pid) && it_left_ms(deadline))
        it_sleep_ms(5);
    reap(d);
}

char *it_stderr(const struct it_daemon *d)
{
    return it_read_file(d->errpath);
}

int it_listen_fd = -1;

void it_spawn(struct it_daemon *d, const char *conf)
{
    char *argv[] = { it_superd, (char *)"-c", (char *)conf, NULL };
    unsigned n = ++runs;

    memset(d, 0, sizeof(*d));
    d->conf = it_printf("%s", conf);
    d->errpath = it_path(it_printf("superd-%u.err", n));
    d->outpath = it_path(it_printf("superd-%u.out", n));
    d->pid = spawn(argv, d->outpath, d->errpath);
    track_daemon(d);
}

int it_start(struct it_daemon *d, const char *conf)
{
    char *argv[] = { it_superd, (char *)"-c", (char *)conf, NULL };
    int64_t deadline = it_now_ms() + IT_START_MS;
    unsigned n = ++runs;

    memset(d, 0, sizeof(*d));
    d->conf = it_printf("%s", conf);
    d->errpath = it_path(it_printf("superd-%u.err", n));
    d->outpath = it_path(it_printf("superd-%u.out", n));
    d->pid = spawn(argv, d->outpath, d->errpath);
    track_daemon(d);
    for (;;) {
        char *err = it_stderr(d);
        if (it_count_line(err, "superd: ready"))
            return 0;
        if (has_exited(d->pid)) {
            reap(d);
            printf("\n    superd exited before it was ready (status 0x%x); "
                   "stderr:\n%s", d->status, it_stderr(d));
            return -1;
        }
        if (!it_left_ms(deadline)) {
            printf("\n    superd not ready after %d ms; stderr:\n%s",
                   IT_START_MS, err);
            kill_daemon(d);
            return -1;
        }
        it_sleep_ms(5);
    }
}

int it_stop(struct it_daemon *d, int sig)
{
    int64_t deadline = it_now_ms() + IT_STOP_MS;

    if (d->pid <= 0)
        return -1;
    if (d->reaped)
        return d->status;
    kill(d->pid, sig);
    while (!has_exited(d->pid)) {
        if (!it_left_ms(deadline)) {
            printf("\n    superd did not exit within %d ms of signal %d\n",
                   IT_STOP_MS, sig);
            kill_daemon(d);
            return -1;
        }
        it_sleep_ms(5);
    }
    reap(d);
    return d->status;
}

int it_exited(int status, int code)
{
    return status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == code;
}

int it_run(const char *const *args, char **out, char **err)
{
    char *argv[16];
    size_t n = 0;
    struct it_daemon *d = it_alloc(sizeof(*d));
    int64_t deadline = it_now_ms() + IT_RUN_MS;
    unsigned r = ++runs;
    int ret;

    argv[n++] = it_superd;
    while (*args && n < 15)
        argv[n++] = (char *)*args++;
    argv[n] = NULL;
    d->errpath = it_path(it_printf("run-%u.err", r));
    d->outpath = it_path(it_printf("run-%u.out", r));
    d->pid = spawn(argv, d->outpath, d->errpath);
    track_daemon(d);
    for (;;) {
        if (has_exited(d->pid)) {
            reap(d);
            ret = d->status;
            break;
        }
        if (it_count_line(it_stderr(d), "superd: ready")) {
            kill_daemon(d);
            ret = -2;
            break;
        }
        if (!it_left_ms(deadline)) {
            kill_daemon(d);
            ret = -1;
            break;
        }
        it_sleep_ms(5);
    }
    *out = it_read_file(d->outpath);
    *err = it_read_file(d->errpath);
    return ret;
}

static long rss_of(int pid)
{
    char path[64], line[256];
    long kb = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    f = fopen(path, "re");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    }
    fclose(f);
    return kb;
}

long it_rss_kb(pid_t pid)
{
    DIR *dir = opendir("/proc");
    struct dirent *de;
    long sum = rss_of(pid);

    if (!dir)
        return sum;
    /* Workers are separate processes: count the whole group. */
    while ((de = readdir(dir)) != NULL) {
        char path[64], buf[512], state;
        int p = atoi(de->d_name), ppid, pgrp;
        FILE *f;
        char *rp;

        if (p <= 0 || p == pid)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/stat", p);
        f = fopen(path, "re");
        if (!f)
            continue;
        if (fgets(buf, sizeof(buf), f) && (rp = strrchr(buf, ')')) &&
            sscanf(rp + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 &&
            (pgrp == pid || ppid == pid))
            sum += rss_of(p);
        fclose(f);
    }
    closedir(dir);
    return sum;
}

/* ---- sockets ---- */

/* Wait for a non-blocking connect() to finish.  0 or -1. */
static int finish_connect(int fd)
{
    struct pollfd pfd = { fd, POLLOUT, 0 };
    int64_t deadline = op_deadline(IT_OP_MS);
    int err = 0;
    socklen_t len = sizeof(err);

    for (;;) {
        int n = poll(&pfd, 1, it_left_ms(deadline));
        if (n > 0)
            break;
        if (n == 0 || errno != EINTR)
            return -1;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
        errno = err;
        return -1;
    }
    return 0;
}

static int connect_to(int family, int type, const struct sockaddr_storage *ss,
                      socklen_t len)
{
    int fd = socket(family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)ss, len) < 0 &&
        (errno != EINPROGRESS || finish_connect(fd) < 0)) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return it_track_fd(fd);
}

int it_tcp_connect(int family, int port)
{
    struct sockaddr_storage ss;
    socklen_t len = it_sa_inet(family, port, &ss);

    return connect_to(family, SOCK_STREAM, &ss, len);
}

int it_unix_connect(const char *path)
{
    struct sockaddr_storage ss;
    socklen_t len = it_sa_unix(path, &ss);

    return connect_to(AF_UNIX, SOCK_STREAM, &ss, len);
}

int it_tcp_listen(int family, int port)
{
    int fd = bind_inet(family, SOCK_STREAM, port);

    if (fd < 0)
        return -1;
    if (listen(fd, 16) < 0) {
        close(fd);
        return -1;
    }
    return it_track_fd(fd);
}

int it_udp_socket(int family, int port)
{
    return it_track_fd(bind_inet(family, SOCK_DGRAM, port));
}

int it_unix_dgram(const char *bindpath)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    if (fd < 0)
        return -1;
    if (bindpath) {
        struct sockaddr_storage ss;
        socklen_t len = it_sa_unix(bindpath, &ss);
        if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
            close(fd);
            return -1;
        }
    }
    return it_track_fd(fd);
}

void it_xfer(int fd, const uint8_t *out, size_t outlen, int shut,
             const uint8_t *expect, size_t expect_len, uint8_t *store,
             size_t store_cap, size_t want, int until_eof, int ms,
             struct it_xfer *x)
{
    int64_t deadline = op_deadline(ms);
    int shut_done = 0;
    static uint8_t buf[256 * 1024];

    memset(x, 0, sizeof(*x));
    x->bad_at = -1;
    for (;;) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        int n;

        if (x->sent == outlen && shut && !shut_done) {
            if (shutdown(fd, SHUT_WR) < 0) {
                x->err = errno;
                return;
            }
            shut_done = 1;
        }
        if (x->eof || (!until_eof && x->rcvd >= want && x->sent == outlen))
            return;
        if (x->sent < outlen)
            pfd.events |= POLLOUT;
        n = poll(&pfd, 1, it_left_ms(deadline));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            x->err = errno;
            return;
        }
        if (n == 0) {
            x->timeout = 1;
            return;
        }
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (r == 0) {
                x->eof = 1;
            } else if (r > 0) {
                for (size_t i = 0; expect && x->bad_at < 0 && i < (size_t)r; i++) {
                    if (buf[i] != expect[(x->rcvd + i) % expect_len])
                        x->bad_at = (long)(x->rcvd + i);
                }
                if (store && x->rcvd < store_cap)
                    memcpy(store + x->rcvd, buf,
                           (size_t)r < store_cap - x->rcvd ? (size_t)r
                                                           : store_cap - x->rcvd);
                x->rcvd += (size_t)r;
            } else if (errno != EAGAIN && errno != EINTR) {
                x->err = errno;
                return;
            }
        }
        if (x->sent < outlen && (pfd.revents & POLLOUT)) {
            ssize_t w = send(fd, out + x->sent, outlen - x->sent,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0)
                x->sent += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                x->err = errno;
                return;
            }
        }
    }
}

int it_echo_stream(int fd, size_t len, const char *what)
{
    struct it_xfer x;

    if (fd < 0) {
        printf("\n    %s: connect: %s\n", what, strerror(errno));
        return 0;
    }
    it_xfer(fd, it_pattern, len, 0, it_pattern, IT_PATTERN_LEN, NULL, 0, len,
            0, IT_OP_MS, &x);
    if (x.sent == len && x.rcvd == len && x.bad_at < 0 && !x.err && !x.eof)
        return 1;
    printf("\n    %s: echo of %zu bytes: sent %zu, received %zu%s%s%s",
           what, len, x.sent, x.rcvd, x.eof ? ", early EOF" : "",
           x.timeout ? ", timed out" : "", x.err ? ", error: " : "");
    if (x.err)
        printf("%s", strerror(x.err));
    if (x.bad_at >= 0)
        printf(", first wrong byte at offset %ld", x.bad_at);
    printf("\n");
    return 0;
}

ssize_t it_dgram_ask(int fd, const struct sockaddr_storage *to, socklen_t tolen,
                     const void *buf, size_t len, void *reply, size_t cap,
                     int tries)
{
    /* A late answer to an earlier, resent question is not this answer. */
    while (recv(fd, reply, cap, MSG_DONTWAIT) >= 0)
        ;
    for (int t = 0; t < tries; t++) {
        int64_t deadline = op_deadline(IT_OP_MS / tries);

        if (sendto(fd, buf, len, MSG_NOSIGNAL, (const struct sockaddr *)to,
                   tolen) != (ssize_t)len) {
            printf("\n    sendto: %s\n", strerror(errno));
            return -1;
        }
        for (;;) {
            struct pollfd pfd = { fd, POLLIN, 0 };
            int n = poll(&pfd, 1, it_left_ms(deadline));
            ssize_t r;
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            r = recv(fd, reply, cap, MSG_DONTWAIT | MSG_TRUNC);
            if (r >= 0)
                return r;
            if (errno != EAGAIN && errno != EINTR) {
                printf("\n    recv: %s\n", strerror(errno));
                return -1;
            }
        }
    }
    return -1;
}

int it_dgram_silent(int fd, int ms)
{
    int64_t deadline = it_now_ms() + ms;

    for (;;) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        int n = poll(&pfd, 1, it_left_ms(deadline));
        if (n < 0 && errno == EINTR)
            continue;
        return n == 0;
    }
}

/* Tables registered by IT_REGISTER, before main(). */
static struct {
    const struct it_test *tests;
    size_t n;
} registered[64];
static size_t nregistered;

void it_register(const struct it_test *tests, size_t ntests)
{
    if (nregistered == sizeof(registered) / sizeof(registered[0])) {
        fprintf(stderr, "it_register: more than %zu tables\n", nregistered);
        abort();
    }
    registered[nregistered].tests = tests;
    registered[nregistered++].n = ntests;
}

/* Add the tests whose names contain `only` (all when NULL).  0 or -1. */
static int add_tests(CU_pSuite suite, const struct it_test *tests, size_t ntests,
                     const char *only)
{
    for (size_t i = 0; i < ntests; i++) {
        if (only && !strstr(tests[i].name, only))
            continue;
        if (!CU_add_test(suite, tests[i].name, tests[i].fn))
            return -1;
    }
    return 0;
}

int it_main(int argc, char **argv, const char *prog, const char *suite_name,
            const struct it_test *tests, size_t ntests)
{
    CU_pSuite suite;
    const char *only;
    unsigned failed;

    if (argc != 2) {
        fprintf(stderr, "usage: %s BUILD_DIR\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (it_global_init(argv[1]) < 0)
        return 1;
    if (access(it_superd, X_OK) < 0)
        fprintf(stderr, "%s: warning: %s: %s\n", prog, it_superd, strerror(errno));
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    suite = CU_add_suite_with_setup_and_teardown(suite_name, NULL, NULL, it_test_setup,
                                                 it_test_teardown);
    if (!suite)
        return 1;
    /* IT_ONLY=substring runs the tests whose names contain it. */
    only = getenv("IT_ONLY");
    if (add_tests(suite, tests, ntests, only) < 0)
        return 1;
    for (size_t i = 0; i < nregistered; i++)
        if (add_tests(suite, registered[i].tests, registered[i].n, only) < 0)
            return 1;
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_tests_failed() + CU_get_number_of_failures();
    if (CU_get_error() != CUE_SUCCESS)
        failed++;
    CU_cleanup_registry();
    it_global_fini();
    return failed ? 1 : 0;
}

struct it_daemon *it_serve(const char *conf)
{
    struct it_daemon *d = it_alloc(sizeof(*d));
    int ok = it_start(d, conf) == 0;

    CU_ASSERT_FATAL(ok);
    return d;
}

void it_stop_ok(struct it_daemon *d)
{
    int st = it_stop(d, SIGTERM);

    if (!it_exited(st, 0))
        printf("\n    superd: wait status 0x%x after SIGTERM; stderr:\n%s", (unsigned)st,
               it_stderr(d));
    CU_ASSERT(it_exited(st, 0));
}

char *it_scrape(const char *sock)
{
    static uint8_t buf[1 << 20];
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: superd\r\n\r\n";
    struct it_xfer x;
    int fd = it_unix_connect(sock);
    CU_ASSERT_FATAL(fd >= 0);
    memset(buf, 0, sizeof buf);
    it_xfer(fd, (const uint8_t *)req, sizeof req - 1, 0, NULL, 0, buf, sizeof buf - 1, 0, 1,
            IT_OP_MS, &x);
    it_close(fd);
    return it_printf("%s", (char *)buf);
}

const char *it_xprog(void)
{
    static char path[PATH_MAX];
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", it_superd);
    snprintf(path, sizeof path, "%s/tests/programs/xprog", dirname(copy));
    return path;
}
