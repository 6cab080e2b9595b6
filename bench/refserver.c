/*
 * refserver.c - the ceiling: the least a server can do for echo, discard
 * and daytime.  One process, one thread, one epoll loop.
 *
 *   refserver -l SERVICE=ADDRESS [-l SERVICE=ADDRESS]...
 *
 * SERVICE is echo, discard, daytime or cat; ADDRESS is tcp://HOST:PORT,
 * udp://HOST:PORT, unix:PATH or unix-dgram:PATH (HOST an IPv4 literal or
 * a bracketed IPv6 literal).  Prints "refserver: ready" on stderr once
 * every listener is bound; SIGTERM or SIGINT stops it and removes the
 * unix socket files it made.
 *
 * What it does per connection, and nothing more: accept4 in batches of
 * 64, TCP_NODELAY, one read per readiness event, the reply written
 * straight from the read buffer.  A connection has no state in user space
 * but the slot in the per-descriptor table that holds output the socket
 * could not take (rare: reading stops until it is written).  Datagrams are
 * received and answered in batches with recvmmsg/sendmmsg.  No limits, no
 * access lists, no loop protection, no statistics: that is the ceiling
 * superd is measured against, not a server to deploy.
 *
 * cat (stream only) is the floor of a program per connection: accept4,
 * posix_spawn /bin/cat (glibc: clone with CLONE_VM | CLONE_VFORK, so the
 * child does not copy this process) with the socket as its stdin and
 * stdout, close the socket, and reap exited children on SIGCHLD through
 * the signalfd.  What that costs is the cost of running cat at all.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
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
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum svc { ECHO, DISCARD, DAYTIME, CAT };

extern char **environ;
enum kind { K_TCP, K_UDP, K_UNIX, K_UNIX_DGRAM };

struct lsn {
    enum svc svc;
    enum kind kind;
    int fd;
    char path[sizeof ((struct sockaddr_un *)0)->sun_path];
};

/* What goes in epoll_event.data: the top byte says which, the rest is a
 * listener index or a connection's descriptor. */
enum { T_LSN = 1, T_ECHO, T_DISCARD, T_SIG };
#define TAG(t, v) (((uint64_t)(t) << 56) | (uint64_t)(uint32_t)(v))

#define MAX_LSN 64
#define BATCH 32
#define DGRAM_MAX 65536
#define BUF_SIZE (64 * 1024)

/* Output a socket could not take at once, per descriptor. */
struct pend {
    size_t len, off;
    char data[];
};

static struct lsn lsns[MAX_LSN];
static int nlsn;
static int epfd;
static struct pend **pend;
static size_t npend;
static char buf[BUF_SIZE];
static char dbufs[BATCH][DGRAM_MAX];

static void die(const char *what)
{
    fprintf(stderr, "refserver: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int parse(const char *spec, struct lsn *l, struct sockaddr_storage *ss, socklen_t *len)
{
    const char *eq = strchr(spec, '=');
    if (!eq)
        return -1;
    size_t n = (size_t)(eq - spec);
    if (n == 4 && !strncmp(spec, "echo", 4))
        l->svc = ECHO;
    else if (n == 7 && !strncmp(spec, "discard", 7))
        l->svc = DISCARD;
    else if (n == 7 && !strncmp(spec, "daytime", 7))
        l->svc = DAYTIME;
    else if (n == 3 && !strncmp(spec, "cat", 3))
        l->svc = CAT;
    else
        return -1;
    const char *a = eq + 1;
    memset(ss, 0, sizeof *ss);
    if (!strncmp(a, "unix:", 5) || !strncmp(a, "unix-dgram:", 11)) {
        l->kind = a[4] == ':' ? K_UNIX : K_UNIX_DGRAM;
        const char *p = strchr(a, ':') + 1;
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        size_t plen = strlen(p);
        if (plen == 0 || plen >= sizeof un->sun_path)
            return -1;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, p, plen);
        if (p[0] == '@')
            un->sun_path[0] = '\0';
        else
            memcpy(l->path, p, plen + 1);
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + (p[0] != '@'));
        return 0;
    }
    if (!strncmp(a, "tcp://", 6))
        l->kind = K_TCP;
    else if (!strncmp(a, "udp://", 6))
        l->kind = K_UDP;
    else
        return -1;
    a += 6;
    char host[64];
    const char *colon;
    if (a[0] == '[') {
        const char *rb = strchr(a, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - a - 1) >= sizeof host)
            return -1;
        memcpy(host, a + 1, (size_t)(rb - a - 1));
        host[rb - a - 1] = '\0';
        colon = rb + 1;
    } else {
        colon = strrchr(a, ':');
        if (!colon || (size_t)(colon - a) >= sizeof host)
            return -1;
        memcpy(host, a, (size_t)(colon - a));
        host[colon - a] = '\0';
    }
    long port = strtol(colon + 1, NULL, 10);
    if (port <= 0 || port > 65535)
        return -1;
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *len = sizeof *in4;
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof *in6;
    } else {
        return -1;
    }
    return 0;
}

static void open_listener(struct lsn *l, const struct sockaddr_storage *ss, socklen_t len)
{
    bool stream = l->kind == K_TCP || l->kind == K_UNIX;
    if (l->svc == CAT && !stream) {
        fprintf(stderr, "refserver: cat is for stream listeners only\n");
        exit(2);
    }
    l->fd = socket(ss->ss_family, (stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK |
                   SOCK_CLOEXEC, 0);
    if (l->fd < 0)
        die("socket");
    int one = 1;
    if (ss->ss_family != AF_UNIX)
        setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss->ss_family == AF_INET6)
        setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (l->path[0])
        unlink(l->path);
    if (bind(l->fd, (const struct sockaddr *)ss, len) < 0)
        die("bind");
    if (stream && listen(l->fd, 4096) < 0)
        die("listen");
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG(T_LSN, l - lsns) };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, l->fd, &ev) < 0)
        die("epoll_ctl");
}

/* The daytime line, made once a second at most. */
static size_t daytime_line(char *out, size_t size)
{
    static time_t last;
    static char line[128];
    static size_t len;
    time_t now = time(NULL);
    if (now != last || !len) {
        struct tm tm;
        localtime_r(&now, &tm);
        len = strftime(line, sizeof line - 1, "%A, %B %d, %Y %H:%M:%S-%Z", &tm);
        line[len++] = '\n';
        last = now;
    }
    if (len > size)
        return 0;
    memcpy(out, line, len);
    return len;
}

static void conn_close(int fd)
{
    if ((size_t)fd < npend && pend[fd]) {
        free(pend[fd]);
        pend[fd] = NULL;
    }
    close(fd);
}

/* Keep what the socket did not take; stop reading until it is written. */
static void keep(int fd, const char *data, size_t len)
{
    if ((size_t)fd >= npend) {
        size_t n = npend ? npend : 1024;
        while (n <= (size_t)fd)
            n *= 2;
        struct pend **np = realloc(pend, n * sizeof *np);
        if (!np) {
            conn_close(fd);
            return;
        }
        memset(np + npend, 0, (n - npend) * sizeof *np);
        pend = np;
        npend = n;
    }
    struct pend *p = malloc(sizeof *p + len);
    if (!p) {
        conn_close(fd);
        return;
    }
    p->len = len;
    p->off = 0;
    memcpy(p->data, data, len);
    pend[fd] = p;
    struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = TAG(T_ECHO, fd) };
    epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
}

/* The child's attributes: no signal blocked (this process blocks the ones
 * its signalfd reads) and SIGPIPE back to its default. */
static posix_spawnattr_t cat_attr;

static void cat_setup(void)
{
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_init(&cat_attr);
    posix_spawnattr_setsigmask(&cat_attr, &none);
    posix_spawnattr_setsigdefault(&cat_attr, &def);
    posix_spawnattr_setflags(&cat_attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}

/* /bin/cat on the connection, its stdin and stdout. */
static void spawn_cat(int fd)
{
    static char *const argv[] = { "cat", NULL };
    posix_spawn_file_actions_t fa;
    pid_t pid;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 0);
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    int r = posix_spawn(&pid, "/bin/cat", &fa, &cat_attr, argv, environ);
    if (r != 0)
        fprintf(stderr, "refserver: posix_spawn /bin/cat: %s\n", strerror(r));
    posix_spawn_file_actions_destroy(&fa);
    close(fd);
}

static void reap(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

static void on_accept(struct lsn *l)
{
    for (int i = 0; i < 64; i++) {
        if (l->svc == CAT) {
            /* Blocking: the socket is cat's stdin and stdout. */
            int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd < 0)
                return;
            spawn_cat(fd);
            continue;
        }
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (l->kind == K_TCP) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        if (l->svc == DAYTIME) {
            char line[128];
            size_t n = daytime_line(line, sizeof line);
            ssize_t w = send(fd, line, n, MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)w;
            close(fd);
            continue;
        }
        struct epoll_event ev = { .events = EPOLLIN,
                                  .data.u64 = TAG(l->svc == ECHO ? T_ECHO : T_DISCARD, fd) };
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
            close(fd);
    }
}

static void on_conn(int fd, bool echo, uint32_t events)
{
    if (echo && (size_t)fd < npend && pend[fd]) {
        struct pend *p = pend[fd];
        ssize_t w = send(fd, p->data + p->off, p->len - p->off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            conn_close(fd);
            return;
        }
        if (w > 0)
            p->off += (size_t)w;
        if (p->off == p->len) {
            free(p);
            pend[fd] = NULL;
            struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG(T_ECHO, fd) };
            epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
        }
        return;
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(fd);
        return;
    }
    if (!echo)
        return;
    ssize_t w = send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && errno != EAGAIN && errno != EINTR) {
        conn_close(fd);
        return;
    }
    if (w < n)
        keep(fd, buf + (w > 0 ? w : 0), (size_t)(n - (w > 0 ? w : 0)));
}

static void on_dgram(struct lsn *l)
{
    struct mmsghdr msgs[BATCH], out[BATCH];
    struct iovec iov[BATCH], oiov[BATCH];
    struct sockaddr_storage from[BATCH];
    char line[128];
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < BATCH; i++) {
            iov[i] = (struct iovec){ dbufs[i], DGRAM_MAX };
            memset(&msgs[i], 0, sizeof msgs[i]);
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &from[i];
            msgs[i].msg_hdr.msg_namelen = sizeof from[i];
        }
        int n = recvmmsg(l->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0 || l->svc == DISCARD)
            return;
        unsigned k = 0;
        size_t dlen = l->svc == DAYTIME ? daytime_line(line, sizeof line) : 0;
        for (int i = 0; i < n; i++) {
            /* An unbound unix sender cannot be answered. */
            if (msgs[i].msg_hdr.msg_namelen <= sizeof(sa_family_t))
                continue;
            oiov[k] = l->svc == ECHO ? (struct iovec){ dbufs[i], msgs[i].msg_len }
                                     : (struct iovec){ line, dlen };
            memset(&out[k], 0, sizeof out[k]);
            out[k].msg_hdr.msg_iov = &oiov[k];
            out[k].msg_hdr.msg_iovlen = 1;
            out[k].msg_hdr.msg_name = &from[i];
            out[k].msg_hdr.msg_namelen = msgs[i].msg_hdr.msg_namelen;
            k++;
        }
        for (unsigned done = 0; done < k;) {
            int s = sendmmsg(l->fd, out + done, k - done, MSG_DONTWAIT);
            if (s <= 0)
                break;   /* a full socket buffer drops the rest, as UDP may */
            done += (unsigned)s;
        }
        if (n < BATCH)
            return;
    }
}

int main(int argc, char **argv)
{
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1");
    int c;
    while ((c = getopt(argc, argv, "l:h")) != -1) {
        if (c != 'l' || nlsn == MAX_LSN) {
            fprintf(stderr, "usage: refserver -l SERVICE=ADDRESS [-l SERVICE=ADDRESS]...\n");
            return c == 'h' ? 0 : 2;
        }
        struct sockaddr_storage ss;
        socklen_t len;
        if (parse(optarg, &lsns[nlsn], &ss, &len) < 0) {
            fprintf(stderr, "refserver: bad listener: %s\n", optarg);
            return 2;
        }
        open_listener(&lsns[nlsn], &ss, len);
        nlsn++;
    }
    if (!nlsn) {
        fprintf(stderr, "usage: refserver -l SERVICE=ADDRESS [-l SERVICE=ADDRESS]...\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    cat_setup();
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    struct epoll_event sev = { .events = EPOLLIN, .data.u64 = TAG(T_SIG, 0) };
    if (sfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &sev) < 0)
        die("signalfd");
    fprintf(stderr, "refserver: ready\n");

    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(epfd, evs, 64, -1);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            uint64_t d = evs[i].data.u64;
            int tag = (int)(d >> 56), v = (int)(uint32_t)d;
            switch (tag) {
            case T_LSN:
                if (lsns[v].kind == K_TCP || lsns[v].kind == K_UNIX)
                    on_accept(&lsns[v]);
                else
                    on_dgram(&lsns[v]);
                break;
            case T_ECHO:
            case T_DISCARD:
                on_conn(v, tag == T_ECHO, evs[i].events);
                break;
            case T_SIG: {
                struct signalfd_siginfo si;
                bool stop = false;
                while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
                    if (si.ssi_signo != SIGCHLD)
                        stop = true;
                reap();
                if (!stop)
                    break;
                for (int k = 0; k < nlsn; k++)
                    if (lsns[k].path[0])
                        unlink(lsns[k].path);
                return 0;
            }
            }
        }
    }
}
