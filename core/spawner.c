/* spawner.c - the process that starts programs for exec services.
 *
 * It runs as root (it is forked by the master before any privilege drop)
 * and trusts no worker: a request is a fixed-size struct with one
 * descriptor, every field is checked against the configuration this
 * process was forked with, and all a request can do is start one of the
 * configured programs, with its configured arguments, user, limits and
 * environment, on that descriptor.  The only facts taken from a worker are
 * a datagram sender's address (which a worker could lie about only to the
 * program's environment) and the cookie echoed back to it.
 *
 * A child that switches to the program's user (often the workers' own) is
 * started with fork: between the switch and execve a worker, or another
 * program of that user, may SIGSTOP it, and a vforked child stopped there
 * would suspend the spawner with it.  A child that stays root until execve
 * (the program runs as root) cannot be signalled by anything unprivileged,
 * so it is started with vfork, which skips copying the spawner's page
 * tables (a quarter of a short connection's cost; bench/RESULTS.md).
 * Either way everything the child needs (argv, envp, groups) is prepared
 * before.  The child reports a
 * failure before execve through a CLOEXEC socket the spawner's loop reads
 * (EOF: the program runs), so the spawner never waits on a child.
 *
 * A descriptor received from a worker is closed so that close() cannot
 * block (SO_LINGER is switched off first, and a connection handed to a
 * child is closed here before the child may run, so the child holds the
 * last reference).
 */
#include "spawner.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "exec_args.h"
#include "exec_env.h"
#include "log.h"
#include "loop.h"
#include "stats.h"

extern char **environ;

/* One line of a child's stderr, at most; longer lines are cut in pieces. */
#define LINE_MAX_LEN 512
/* A wait = yes child that fails within this long is not restarted sooner. */
#define WAIT_RESPAWN_MS 1000
/* With no max_connections, at most this many programs run at once. */
#define SPAWN_MAX_CHILDREN 1024

/* One exec service, ready to start. */
struct xsvc {
    const struct conf_service *cs;
    char **argv;                /* program, args..., NULL */
    bool set_ids;               /* we are root: switch to uid/gid/groups */
    bool vfork_ok;              /* the child stays root: nothing unprivileged
                                 * can stop it before execve (top of file) */
    uid_t uid;
    gid_t gid;
    gid_t *groups;              /* groups = yes: the user's; else none */
    int ngroups;
    bool stream, dgram;         /* the kinds of its listeners */
    long live;                  /* children now */
    int cg_fd;                  /* its cgroup's cgroup.procs, or -1 */
    char *cg_err;               /* its cgroup could not be made: never start */
    char *chroot_err;           /* its chroot is unsafe: never start */
    /* Its listeners' own addresses: a stream connection handed over by a
     * worker must have been accepted on one of them. */
    struct sockaddr_storage *la;    /* cs->naddrs of them */
    socklen_t *lalen;
    size_t nla;
};

/* A worker's end of a socketpair. */
struct peer {
    struct loop_watch w;
    struct spawner *sp;
    struct peer *next;
    int refs;                   /* children that report to it */
    bool dead;                  /* closed: freed when refs is 0 */
};

/* A wait = yes listener: watched until its child runs. */
struct wlsn {
    struct loop_watch w;
    struct spawner *sp;
    struct xsvc *xs;
    const struct listener *l;
    bool busy;                  /* its child runs */
    bool full;                  /* readable while max_instances children of its
                                 * service ran: watched again when one exits */
    long long rewatch_at;       /* 0, or when to watch again after a failure */
};

struct child {
    struct child *next;
    struct spawner *sp;
    pid_t pid;
    struct xsvc *xs;
    struct peer *peer;          /* NULL: nobody to tell (wait = yes) */
    uint64_t cookie;
    struct wlsn *wl;
    long long start_ms, term_at, kill_at;
    struct loop_watch errw;     /* stderr = log: the pipe's read end */
    struct loop_watch repw;     /* until execve: the child's failure report */
    size_t linelen;
    bool dead;
    char line[LINE_MAX_LEN];
};

struct spawner {
    struct loop loop;
    const struct conf *c;
    unsigned gen;
    int ctl;
    struct loop_watch ctl_w;
    int sig_fd;
    struct loop_watch sig_w;
    struct xsvc *xs;            /* indexed like c->svcs (cs NULL: not exec) */
    struct wlsn *wl;
    size_t nwl;
    struct peer *peers;
    struct child *children;
    size_t nchildren;
    bool stopping, retiring;
    long long stop_at, kill_at;
    size_t max_children;        /* every program at once (max_connections or 1024) */
    uint64_t not_default;       /* bit sig-1: a signal whose disposition here is
                                 * not SIG_DFL (a mask of our own: glibc's
                                 * sigaddset refuses 32 and 33) */
    char cg_root[PATH_MAX];     /* where the services' cgroups are; "" not yet */
};

bool spawner_needed(const struct conf *c)
{
    for (size_t i = 0; i < c->nsvcs; i++)
        if (c->svcs[i].enabled && c->svcs[i].exec.program)
            return true;
    return false;
}

/* ---- sending and receiving descriptors ---- */

int spawn_send_fd(int sock, const void *data, size_t len, int fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct iovec iov = { (void *)data, len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (fd >= 0) {
        memset(&u, 0, sizeof u);
        msg.msg_control = u.buf;
        msg.msg_controllen = sizeof u.buf;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    }
    return sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* Make close(fd) unable to wait: a lingering socket (SO_LINGER with a
 * timeout and unsent data) would block the spawner in close(). */
static void unlinger(int fd)
{
    struct linger lg = { 0, 0 };
    socklen_t len = sizeof lg;
    if (getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, &len) == 0 && lg.l_onoff) {
        lg = (struct linger){ 0, 0 };
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
}

/* Close a descriptor a worker sent, never waiting. */
static void close_received(int fd)
{
    unlinger(fd);
    close(fd);
}

/*
 * Receive one message of exactly `len` bytes carrying exactly one
 * descriptor.  Every descriptor that arrived is closed unless the message
 * is good.  Returns the descriptor, 0 at EOF (never a valid result: 0 is
 * stdin, open), -EAGAIN when nothing is left, or another negative errno
 * for a bad message (which was consumed).
 */
static int recv_fd(int sock, void *data, size_t len)
{
    /* Room for the most a message can carry (the kernel's SCM_MAX_FD):
     * descriptors cut off here would be released by the kernel in this
     * process, where a lingering socket's release could block. */
    union {
        char buf[CMSG_SPACE(sizeof(int) * 253)];
        struct cmsghdr align;
    } u;
    struct iovec iov = { data, len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                          .msg_controllen = sizeof u.buf };
    ssize_t n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0)
        return -errno;
    if (n == 0 && !(msg.msg_flags & MSG_TRUNC))
        return 0;
    int fd = -1, extra = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int f;
            memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof f);
            if (fd < 0)
                fd = f;
            else {
                close_received(f);
                extra++;
            }
        }
    }
    bool bad = (size_t)n != len || extra || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || fd < 0;
    if (bad) {
        if (fd >= 0)
            close_received(fd);
        return -EBADMSG;
    }
    return fd;
}

int spawner_link(int ctl, int *worker_fd)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    /* Replies must not be lost to a full buffer: room for many. */
    int size = 1 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    uint32_t hello = SPAWN_MAGIC;
    int r = spawn_send_fd(ctl, &hello, sizeof hello, sv[1]);
    close(sv[1]);
    if (r < 0) {
        close(sv[0]);
        return r;
    }
    *worker_fd = sv[0];
    return 0;
}

/* ---- the table ---- */

/*
 * The service's cgroup (memory_max, pids_max, or cgroup_root given).  A
 * failure is logged now and kept: the service's programs are never
 * started without the limits asked for.  Returns -ENOMEM only.
 */
static int cgroup_setup(struct spawner *sp, struct xsvc *x)
{
    char err[PATH_MAX + 256] = "";
    int r = 0;
    if (!sp->cg_root[0]) {
        if (sp->c->cgroup_root)
            snprintf(sp->cg_root, sizeof sp->cg_root, "%s", sp->c->cgroup_root);
        else
            r = cgroup_self(sp->cg_root, sizeof sp->cg_root, err, sizeof err);
    }
    if (r == 0)
        r = cgroup_prepare(sp->cg_root, x->cs->name, &x->cs->exec, &x->cg_fd, err, sizeof err);
    if (r == 0) {
        log_msg(LOG_DEBUG, "[%s] cgroup %s/superd-%s", x->cs->name, sp->cg_root, x->cs->name);
        return 0;
    }
    /* Name the line that asked for the limits (cgroup_root alone: none). */
    const struct exec_conf *e = &x->cs->exec;
    if (e->cgroup_key && x->cs->file)
        log_msg(LOG_ERR, "%s:%d: [%s] %s: cgroup: %s: the program will not be started",
                x->cs->file->path, e->cgroup_line, x->cs->name, e->cgroup_key, err);
    else
        log_msg(LOG_ERR, "[%s] cgroup: %s: the program will not be started", x->cs->name, err);
    x->cg_err = strdup(err);
    return x->cg_err ? 0 : -ENOMEM;
}

/* At shutdown: remove the services' cgroups (empty by now). */
static void cgroup_teardown(struct spawner *sp)
{
    for (size_t i = 0; i < sp->c->nsvcs; i++) {
        struct xsvc *x = &sp->xs[i];
        if (x->cs && x->cg_fd >= 0) {
            close(x->cg_fd);
            x->cg_fd = -1;
            cgroup_remove(sp->cg_root, x->cs->name);
        }
    }
}

static int chroot_safe(const char *path, char *bad, size_t badlen);

/* A chroot the program's user (or anyone but root) could write to is
 * refused, as sshd refuses such a ChrootDirectory: logged now, and the
 * program is never started.  Returns -ENOMEM only. */
static int chroot_check(struct xsvc *x)
{
    char bad[PATH_MAX];
    if (chroot_safe(x->cs->exec.chroot, bad, sizeof bad) == 0)
        return 0;
    log_msg(LOG_ERR, "[%s] chroot %s: %s is not owned by root or is writable by group or "
            "others: the program will not be started", x->cs->name, x->cs->exec.chroot, bad);
    if (asprintf(&x->chroot_err, "chroot: %s is not owned by root or is writable by group or "
                 "others", bad) < 0) {
        x->chroot_err = NULL;
        return -ENOMEM;
    }
    return 0;
}

static int table_build(struct spawner *sp, char *err, size_t errlen)
{
    const struct conf *c = sp->c;
    sp->xs = calloc(c->nsvcs ? c->nsvcs : 1, sizeof *sp->xs);
    if (!sp->xs)
        return -ENOMEM;
    bool root = geteuid() == 0;
    for (size_t i = 0; i < c->nsvcs; i++) {
        const struct conf_service *cs = &c->svcs[i];
        const struct exec_conf *e = &cs->exec;
        struct xsvc *x = &sp->xs[i];
        x->cg_fd = -1;
        if (!cs->enabled || !e->program)
            continue;
        x->cs = cs;
        x->argv = calloc(e->nargs + 2, sizeof *x->argv);
        if (!x->argv)
            return -ENOMEM;
        x->argv[0] = e->program;
        for (size_t a = 0; a < e->nargs; a++)
            x->argv[a + 1] = e->args[a];
        const char *user = e->user ? e->user : c->user;
        x->uid = e->user ? e->uid : c->user ? c->uid : getuid();
        x->gid = e->has_group || e->user ? e->gid : c->user ? c->gid : getgid();
        x->set_ids = root;
        x->vfork_ok = root && x->uid == 0;
        if (root && e->groups && user) {
            int n = 64;
            for (int tries = 0; tries < 4; tries++) {
                gid_t *g = realloc(x->groups, (size_t)n * sizeof *g);
                if (!g)
                    return -ENOMEM;
                x->groups = g;
                if (getgrouplist(user, x->gid, x->groups, &n) >= 0) {
                    x->ngroups = n;
                    break;
                }
            }
            if (!x->ngroups) {
                snprintf(err, errlen, "[%s] groups: cannot list the groups of %s", cs->name, user);
                return -ENOENT;
            }
        }
        for (size_t a = 0; a < cs->naddrs; a++) {
            if (addr_socktype(cs->addrs[a].kind) == SOCK_STREAM)
                x->stream = true;
            else
                x->dgram = true;
        }
        x->la = calloc(cs->naddrs ? cs->naddrs : 1, sizeof *x->la);
        x->lalen = calloc(cs->naddrs ? cs->naddrs : 1, sizeof *x->lalen);
        if (!x->la || !x->lalen)
            return -ENOMEM;
        if (e->chroot && root && chroot_check(x) < 0)
            return -ENOMEM;
        if ((e->has_memory_max || e->has_pids_max || c->cgroup_root) && cgroup_setup(sp, x) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* ---- starting a child ---- */

/* The kernel's struct sigaction (asm-generic layout, as on x86-64 and
 * arm64).  glibc's sigaction() refuses the two real-time signals it keeps
 * for itself (32 and 33), which superd may inherit ignored from whatever
 * started it; a program must still start with every disposition default. */
struct ksigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

static int raw_sigaction(int sig, const struct ksigaction *act, struct ksigaction *old)
{
    return (int)syscall(SYS_rt_sigaction, sig, act, old, sizeof(uint64_t));
}

/* What the forked child needs, prepared by the parent. */
struct start {
    const struct xsvc *xs;
    char **envp;
    int in, out, errfd;         /* become 0, 1, 2 */
    int rep;                    /* the child's end of the report socket */
    int rep_parent;             /* the spawner's end: closed in the child */
    pid_t spawner;
    uint64_t not_default;       /* the spawner's non-default dispositions */
    bool shared_vm;             /* vforked: the spawner waits until execve, so
                                 * it closes its copy of the connection after */
    const char *step;
};

/* What a child that could not execve says before it exits. */
struct start_rep {
    int32_t err_no;
    char step[28];
};

/* Is every component of `path` owned by root and writable by root only
 * (as sshd's ChrootDirectory)?  Otherwise the program's user, or anyone,
 * could plant files (a libc, /etc/passwd) in the root it gets.  Returns 0
 * or -EPERM with `bad` naming the component. */
static int chroot_safe(const char *path, char *bad, size_t badlen)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    size_t n = strlen(buf);
    for (size_t i = 0; i <= n; i++) {
        if (i < n && buf[i] != '/')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        struct stat st;
        const char *comp = i ? buf : "/";
        /* A root-owned sticky directory (/tmp) is fine on the way: nobody
         * else can rename or remove the root-owned entry below it. */
        if (stat(comp, &st) < 0 || st.st_uid != 0 ||
            ((st.st_mode & 022) && !(i < n && (st.st_mode & S_ISVTX)))) {
            snprintf(bad, badlen, "%s", comp);
            return -EPERM;
        }
        buf[i] = c;
    }
    return 0;
}

static int child_setup(struct start *st)
{
    static const struct ksigaction dfl = { .handler = SIG_DFL };
    const struct xsvc *x = st->xs;
    const struct exec_conf *e = &x->cs->exec;
    static const int res[EXEC_NRLIMITS] = { RLIMIT_CPU, RLIMIT_AS, RLIMIT_NOFILE, RLIMIT_NPROC };
    /* Wait until the spawner has closed its copy of the connection: the
     * child then holds the last one, and the spawner's close never waits
     * on a lingering socket.  Still root here: no worker can stop us. */
    char go;
    close(st->rep_parent);
    if (!st->shared_vm && (st->step = "start", read(st->rep, &go, 1) != 1))
        return -1;
    /* First into its cgroup: whatever it forks is counted there. */
    if (x->cg_fd >= 0 && (st->step = "cgroup", write(x->cg_fd, "0", 1) < 0))
        return -1;
    /* Default dispositions: whatever superd ignores, the program must not.
     * Only those the spawner changed (listed once at its start): one
     * system call each, where resetting all 64 cost more than the rest of
     * this set-up. */
    for (int sig = 1; sig < NSIG; sig++)
        if (sig <= 64 && (st->not_default & (1ULL << (sig - 1))))
            raw_sigaction(sig, &dfl, NULL);
    if ((st->step = "setsid", setsid() < 0))
        return -1;
    if ((st->step = "dup2", dup2(st->in, 0) < 0 || dup2(st->out, 1) < 0 ||
                            dup2(st->errfd, 2) < 0))
        return -1;
    for (int i = 0; i < EXEC_NRLIMITS; i++) {
        if (!(e->rlimit_set & (1u << i)))
            continue;
        rlim_t v = e->rlimit[i] == EXEC_RLIM_UNLIMITED ? RLIM_INFINITY : (rlim_t)e->rlimit[i];
        struct rlimit rl = { v, v };
        if ((st->step = "setrlimit", setrlimit(res[i], &rl) < 0))
            return -1;
    }
    if (e->has_nice && (st->step = "setpriority", setpriority(PRIO_PROCESS, 0, e->nice) < 0))
        return -1;
    umask(e->has_umask ? (mode_t)e->umask : 022);
    if (e->chroot && (st->step = "chroot", chroot(e->chroot) < 0))
        return -1;
    if ((st->step = "chdir", chdir(e->chdir ? e->chdir : "/") < 0))
        return -1;
    if (x->set_ids) {
        st->step = "setgroups";
        if (syscall(SYS_setgroups, (size_t)x->ngroups, x->groups) < 0)
            return -1;
        if ((st->step = "setgid", syscall(SYS_setresgid, x->gid, x->gid, x->gid) < 0))
            return -1;
        if ((st->step = "setuid", syscall(SYS_setresuid, x->uid, x->uid, x->uid) < 0))
            return -1;
    }
    /* A program never outlives the spawner that enforces its limits
     * (max_lifetime, the stop at shutdown): armed after the switch of
     * user, which clears it, and checked against a spawner already gone. */
    if ((st->step = "pdeathsig", prctl(PR_SET_PDEATHSIG, SIGKILL) < 0))
        return -1;
    if (getppid() != st->spawner) {
        errno = ESRCH;
        return -1;
    }
    if ((st->step = "no_new_privs", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0))
        return -1;
    /* Everything but 0-2 and the report socket, moved to 3 (CLOEXEC:
     * the spawner reads EOF once execve succeeded). */
    if (st->rep != 3 && (st->step = "dup3", dup3(st->rep, 3, O_CLOEXEC) < 0))
        return -1;
    st->rep = 3;
    if ((st->step = "close_range", syscall(SYS_close_range, 4U, ~0U, 0U) < 0))
        return -1;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    st->step = "exec";
    execve(e->program, x->argv, st->envp);
    return -1;
}

/* Fork (or vfork: st->shared_vm) and set the child up; in the child, never
 * returns (a failure is reported on st->rep, then _exit(127)).  A vforked
 * child runs on this stack until execve: it only calls child_setup and
 * _exit, and writes nothing of the spawner's but st->step and errno. */
__attribute__((noinline))     /* its frame is the one a vforked child may use */
static pid_t spawn_child(struct start *st)
{
    pid_t pid = st->shared_vm ? vfork() : fork();
    if (pid == 0) {
        if (child_setup(st) < 0) {
            struct start_rep r = { errno, "" };
            snprintf(r.step, sizeof r.step, "%s", st->step ? st->step : "?");
            ssize_t n = send(st->rep, &r, sizeof r, MSG_NOSIGNAL);
            (void)n;
        }
        _exit(127);
    }
    return pid;
}

static void on_child_stderr(struct loop_watch *w, uint32_t events);

/* Log the child's complete stderr lines; a partial one at `flush`. */
static void err_lines(struct child *ch, const char *data, size_t n, bool flush)
{
    for (size_t i = 0; i <= n; i++) {
        bool end = i == n;
        if (end && !(flush && ch->linelen))
            break;
        if (end || data[i] == '\n' || ch->linelen == sizeof ch->line - 1) {
            ch->line[ch->linelen] = '\0';
            log_msg(LOG_NOTICE, "[%s] pid %ld: %s", ch->xs->cs->name, (long)ch->pid, ch->line);
            ch->linelen = 0;
            if (end || data[i] == '\n')
                continue;
        }
        ch->line[ch->linelen++] = data[i];
    }
}

static void drain_stderr(struct child *ch, bool flush)
{
    char buf[4096];
    ssize_t n;
    /* Bounded: a descendant still holding the pipe could write forever. */
    for (int i = 0; i < 16 && ch->errw.fd >= 0 && (n = read(ch->errw.fd, buf, sizeof buf)) > 0;
         i++)
        err_lines(ch, buf, (size_t)n, false);
    if (flush)
        err_lines(ch, "", 0, true);
}

static void close_stderr(struct child *ch)
{
    if (ch->errw.fd < 0)
        return;
    int fd = ch->errw.fd;
    loop_del(&ch->sp->loop, &ch->errw);
    close(fd);
    ch->errw.fd = -1;
}

static void on_child_stderr(struct loop_watch *w, uint32_t events)
{
    struct child *ch = (struct child *)((char *)w - offsetof(struct child, errw));
    char buf[4096];
    ssize_t n = read(w->fd, buf, sizeof buf);
    if (n > 0)
        err_lines(ch, buf, (size_t)n, false);
    else if (n == 0 || (errno != EAGAIN && errno != EINTR) || (events & LOOP_HANGUP)) {
        err_lines(ch, "", 0, true);
        close_stderr(ch);
    }
}

static void reply(struct peer *p, uint32_t type, uint64_t cookie, pid_t pid, int status)
{
    static struct log_limit limit;
    unsigned long missed;
    if (!p || p->dead)
        return;
    struct spawn_rep rep = { type, pid, status, 0, cookie };
    if (send(p->w.fd, &rep, sizeof rep, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
        log_limit_pass(&limit, &missed))
        log_msg(LOG_ERR, "spawner: cannot tell a worker about pid %ld: %s (%lu more)",
                (long)pid, strerror(errno), missed);
}

static void on_child_report(struct loop_watch *w, uint32_t events);

/* Read the child's report, if any: a failure before execve is logged;
 * EOF (execve closed the socket) or the report ends the watch. */
static void child_report(struct child *ch)
{
    if (ch->repw.fd < 0)
        return;
    struct start_rep r;
    ssize_t n = recv(ch->repw.fd, &r, sizeof r, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n == (ssize_t)sizeof r) {
        r.step[sizeof r.step - 1] = '\0';
        log_msg(LOG_ERR, "[%s] cannot start %s: %s: %s", ch->xs->cs->name,
                ch->xs->cs->exec.program, r.step, strerror(r.err_no));
    }
    int fd = ch->repw.fd;
    loop_del(&ch->sp->loop, &ch->repw);
    close(fd);
    ch->repw.fd = -1;
}

static void on_child_report(struct loop_watch *w, uint32_t events)
{
    (void)events;
    child_report((struct child *)((char *)w - offsetof(struct child, repw)));
}

/*
 * Start the program of x on `fd` (the connection, the datagram socket or
 * the wait = yes listener).  With `own`, fd was received from a worker
 * and is closed here in every case.  Returns the child or NULL (logged).
 * A failure in the child before execve is logged when it reports it; the
 * child then exits with status 127.
 */
/* The exec figures of docs/metrics.md, in the memory the master shares
 * with every process it forked: spawners of two generations may write
 * them at once, hence the atomic additions. */
static void count_exec(int status, bool started)
{
    struct stats *st = stats_mapped();
    if (!st)
        return;
    struct stats_proc *pr = &st->proc;
    if (started) {
        __atomic_add_fetch(&pr->exec_started, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&pr->exec_running, 1, __ATOMIC_RELAXED);
        return;
    }
    uint64_t *how = WIFSIGNALED(status) ? &pr->exec_killed
                  : WEXITSTATUS(status) == 0 ? &pr->exec_exited_ok : &pr->exec_exited_error;
    __atomic_add_fetch(how, 1, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&pr->exec_running, 1, __ATOMIC_RELAXED);
}

static struct child *start(struct spawner *sp, struct xsvc *x, int fd,
                           const struct exec_facts *f, bool own)
{
    const struct exec_conf *e = &x->cs->exec;
    const char *name = x->cs->name;
    static struct log_limit cg_limit, full_limit;
    unsigned long missed;
    struct child *ch = NULL;
    char **envp = NULL;
    int pipefd[2] = { -1, -1 }, rep[2] = { -1, -1 }, errfd = -1;
    if (x->cg_err || x->chroot_err) {
        if (log_limit_pass(&cg_limit, &missed))
            log_msg(LOG_ERR, "[%s] cannot start %s: %s%s (%lu more)", name, e->program,
                    x->cg_err ? "cgroup: " : "", x->cg_err ? x->cg_err : x->chroot_err, missed);
        goto fail;
    }
    if (sp->nchildren >= sp->max_children) {
        if (log_limit_pass(&full_limit, &missed))
            log_msg(LOG_WARNING, "[%s] cannot start %s: %zu programs run already (the limit "
                    "is max_connections, or %d without it) (%lu more)", name, e->program,
                    sp->nchildren, SPAWN_MAX_CHILDREN, missed);
        goto fail;
    }
    ch = calloc(1, sizeof *ch);
    if (!ch || exec_env_build(e, f, environ, &envp) < 0) {
        log_msg(LOG_ERR, "[%s] cannot start %s: out of memory", name, e->program);
        goto fail;
    }
    ch->errw.fd = -1;
    ch->repw.fd = -1;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, rep) < 0) {
        log_msg(LOG_ERR, "[%s] cannot start %s: socketpair: %s", name, e->program,
                strerror(errno));
        goto fail;
    }
    if (e->stderr_to == EXEC_STDERR_LOG) {
        if (pipe2(pipefd, O_CLOEXEC) == 0)
            errfd = pipefd[1];
    } else if (e->stderr_to == EXEC_STDERR_SOCKET) {
        errfd = fd;
    } else {
        errfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    }
    if (errfd < 0) {
        log_msg(LOG_ERR, "[%s] cannot start %s: stderr: %s", name, e->program, strerror(errno));
        goto fail;
    }
    struct start st = { .xs = x, .envp = envp, .in = fd, .out = fd, .errfd = errfd,
                        .rep = rep[1], .rep_parent = rep[0], .spawner = getpid(),
                        .not_default = sp->not_default, .shared_vm = x->vfork_ok };
    /* A vforked child runs its program before the spawner closes its copy:
     * switch a worker's linger off now, not on the program's socket then. */
    if (own && st.shared_vm)
        unlinger(fd);
    pid_t pid = spawn_child(&st);
    int e_no = errno;
    if (errfd != fd && errfd != pipefd[1])
        close(errfd);
    errfd = -1;
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    pipefd[1] = -1;
    close(rep[1]);
    rep[1] = -1;
    exec_args_free(envp);
    envp = NULL;
    if (own && st.shared_vm)
        close(fd);      /* lingers no more (above); the program holds it */
    else if (own)
        close_received(fd);
    own = false;
    if (pid < 0) {
        log_msg(LOG_ERR, "[%s] cannot start %s: fork: %s", name, e->program, strerror(e_no));
        goto fail;
    }
    /* The child may go on now; it holds the only copy of the connection
     * (a vforked one has gone on already: it never waits for this). */
    if (!st.shared_vm && send(rep[0], "g", 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        kill(pid, SIGKILL);     /* never happens: it would wait forever */
    ch->sp = sp;
    ch->pid = pid;
    ch->xs = x;
    ch->start_ms = clock_now_ms();
    if (x->cs->max_lifetime_ms)
        ch->term_at = ch->start_ms + x->cs->max_lifetime_ms;
    if (loop_add(&sp->loop, &ch->repw, rep[0], LOOP_READABLE, on_child_report) < 0)
        close(rep[0]);
    rep[0] = -1;
    if (pipefd[0] >= 0) {
        fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
        if (loop_add(&sp->loop, &ch->errw, pipefd[0], LOOP_READABLE, on_child_stderr) < 0) {
            close(pipefd[0]);
            ch->errw.fd = -1;
        }
    }
    ch->next = sp->children;
    sp->children = ch;
    sp->nchildren++;
    x->live++;
    count_exec(0, true);
    log_msg(LOG_DEBUG, "[%s] pid %ld started", name, (long)pid);
    return ch;
fail:
    if (errfd >= 0 && errfd != fd && errfd != pipefd[1])
        close(errfd);
    for (int i = 0; i < 2; i++) {
        if (pipefd[i] >= 0)
            close(pipefd[i]);
        if (rep[i] >= 0)
            close(rep[i]);
    }
    exec_args_free(envp);
    free(ch);
    if (own)
        close_received(fd);
    return NULL;
}

/* ---- requests from workers ---- */

static bool addr_ok(const struct sockaddr_storage *ss, uint32_t len)
{
    if (len > sizeof *ss)
        return false;
    switch (ss->ss_family) {
    case AF_INET: return len == sizeof(struct sockaddr_in);
    case AF_INET6: return len == sizeof(struct sockaddr_in6);
    case AF_UNIX: return len >= sizeof(sa_family_t);
    case AF_UNSPEC: return len == 0;
    default: return false;
    }
}

/* Is `a` (a connection's local address) the address of listener `l`?  A
 * listener on a wildcard IP matches any IP of its family and port. */
static bool same_listener_addr(const struct sockaddr_storage *l, socklen_t llen,
                               const struct sockaddr_storage *a, socklen_t alen)
{
    if (l->ss_family != a->ss_family)
        return false;
    if (l->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)l, *y = (const void *)a;
        return x->sin_port == y->sin_port &&
               (x->sin_addr.s_addr == htonl(INADDR_ANY) || x->sin_addr.s_addr == y->sin_addr.s_addr);
    }
    if (l->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)l, *y = (const void *)a;
        return x->sin6_port == y->sin6_port &&
               (IN6_IS_ADDR_UNSPECIFIED(&x->sin6_addr) ||
                memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0);
    }
    /* unix: the accepted end has the listener's path; the connecting end
     * has none, and no other socket can be bound to that path. */
    return l->ss_family == AF_UNIX && llen == alen &&
           llen > offsetof(struct sockaddr_un, sun_path) && memcmp(l, a, llen) == 0;
}

/* A stream descriptor must be a connection accepted on one of the
 * service's own listeners: not the connecting end of a connection to
 * superd's unix listener (its SO_PEERCRED would say root), not any other
 * socket a worker made. */
static bool accepted_by(const struct xsvc *x, int fd)
{
    struct sockaddr_storage a;
    socklen_t alen = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &alen) < 0 || alen > sizeof a)
        return false;
    for (size_t i = 0; i < x->nla; i++)
        if (same_listener_addr(&x->la[i], x->lalen[i], &a, alen))
            return true;
    return false;
}

/* A datagram (or TLS relay) request's descriptor must be one end of an unnamed AF_UNIX
 * socketpair (SOCK_DGRAM, or SOCK_STREAM for SPAWN_TLS), as a worker makes: never a listener, a bound
 * UDP socket, or a named unix socket. */
static bool dgram_pair_end(int fd)
{
    int dom = 0;
    socklen_t len = sizeof dom;
    struct sockaddr_storage a;
    socklen_t alen = sizeof a;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) < 0 || dom != AF_UNIX)
        return false;
    if (getsockname(fd, (struct sockaddr *)&a, &alen) < 0 || alen != sizeof(sa_family_t))
        return false;
    alen = sizeof a;
    return getpeername(fd, (struct sockaddr *)&a, &alen) == 0 && alen == sizeof(sa_family_t);
}

/* SPAWN_STREAM with addresses: what a PROXY header carried (IP only), for
 * a service that reads one.  A worker could lie only to the environment,
 * as about a datagram's sender. */
static bool carried_ok(const struct conf_service *cs, const struct spawn_req *rq)
{
    int pf = rq->peer.ss_family, lf = rq->local.ss_family;
    return cs->proxy_protocol && (pf == AF_INET || pf == AF_INET6) &&
           (lf == AF_INET || lf == AF_INET6) && addr_ok(&rq->peer, rq->peerlen) &&
           addr_ok(&rq->local, rq->locallen);
}

/* A printable, NUL-terminated string of a request's fixed-size field. */
static bool text_ok(const char *s, size_t size)
{
    size_t n = strnlen(s, size);
    if (n == size)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

/* SPAWN_TLS: only for a service with a tls:// listener, with facts that
 * are text (they only reach the program's environment). */
static bool tls_req_ok(const struct conf_service *cs, const struct spawn_req *rq)
{
    const struct spawn_tls *t = &rq->tls;
    return cs->tls.ncerts > 0 && text_ok(t->protocol, sizeof t->protocol) && t->protocol[0] &&
           text_ok(t->cipher, sizeof t->cipher) && text_ok(t->sni, sizeof t->sni) &&
           text_ok(t->subject, sizeof t->subject) && text_ok(t->issuer, sizeof t->issuer);
}

/* Check a request against the table and the descriptor it came with.
 * Returns the service or NULL with `why` set. */
static struct xsvc *check_req(struct spawner *sp, const struct spawn_req *rq, int fd,
                              const char **why)
{
    int type = 0, listening = 0;
    socklen_t len = sizeof type;
    struct stat st;
    *why = NULL;
    if (rq->magic != SPAWN_MAGIC)
        *why = "bad magic";
    else if (rq->gen != sp->gen)
        *why = "another configuration generation";
    else if (rq->svc >= sp->c->nsvcs || !sp->xs[rq->svc].cs)
        *why = "not an exec service";
    else if (sp->xs[rq->svc].cs->exec.wait)
        *why = "a wait = yes service (the spawner owns its listeners)";
    else if (rq->type != SPAWN_STREAM && rq->type != SPAWN_DGRAM && rq->type != SPAWN_TLS)
        *why = "unknown request type";
    else if (rq->type == SPAWN_TLS && !tls_req_ok(sp->xs[rq->svc].cs, rq))
        *why = "not a TLS service, or bad TLS facts";
    else if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) ||
             getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        *why = "not a socket";
    else if (rq->type != SPAWN_DGRAM && (type != SOCK_STREAM || !sp->xs[rq->svc].stream))
        *why = "not a stream connection of a stream service";
    else if (rq->type == SPAWN_DGRAM && (type != SOCK_DGRAM || !sp->xs[rq->svc].dgram))
        *why = "not a datagram socket of a datagram service";
    else if (len = sizeof listening,
             getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || listening)
        *why = "a listening socket";
    else if (rq->type == SPAWN_STREAM && !accepted_by(&sp->xs[rq->svc], fd))
        *why = "not a connection accepted on the service's listeners";
    else if (rq->type != SPAWN_STREAM && !dgram_pair_end(fd))
        *why = rq->type == SPAWN_TLS ? "not an unnamed unix stream socketpair"
                                     : "not an unnamed unix datagram socketpair";
    else if (rq->type != SPAWN_STREAM && (!addr_ok(&rq->peer, rq->peerlen) ||
                                          !addr_ok(&rq->local, rq->locallen)))
        *why = "bad address";
    else if (rq->type == SPAWN_STREAM && (rq->peerlen || rq->locallen) &&
             !carried_ok(sp->xs[rq->svc].cs, rq))
        *why = "carried addresses for a service without proxy_protocol, or bad ones";
    return *why ? NULL : &sp->xs[rq->svc];
}

/* The connection facts, from the descriptor itself where it can say. */
static void facts_of(const struct spawn_req *rq, int fd, struct exec_facts *f)
{
    memset(f, 0, sizeof *f);
    if (rq->type == SPAWN_TLS) {
        /* The descriptor is the worker's relay: the client is in the
         * request (environment only, as a datagram's sender). */
        f->socktype = SOCK_STREAM;
        memcpy(&f->peer, &rq->peer, rq->peerlen);
        f->peerlen = rq->peerlen;
        memcpy(&f->local, &rq->local, rq->locallen);
        f->locallen = rq->locallen;
        f->ssl_protocol = rq->tls.protocol;
        f->ssl_cipher = rq->tls.cipher;
        f->ssl_sni = rq->tls.sni;
        f->ssl_subject = rq->tls.subject;
        f->ssl_issuer = rq->tls.issuer;
        return;
    }
    if (rq->type == SPAWN_STREAM && rq->peerlen) {
        /* Behind a PROXY header (checked by carried_ok). */
        f->socktype = SOCK_STREAM;
        memcpy(&f->peer, &rq->peer, rq->peerlen);
        f->peerlen = rq->peerlen;
        memcpy(&f->local, &rq->local, rq->locallen);
        f->locallen = rq->locallen;
        return;
    }
    if (rq->type == SPAWN_DGRAM) {
        f->socktype = SOCK_DGRAM;
        memcpy(&f->peer, &rq->peer, rq->peerlen);
        f->peerlen = rq->peerlen;
        memcpy(&f->local, &rq->local, rq->locallen);
        f->locallen = rq->locallen;
        return;
    }
    f->socktype = SOCK_STREAM;
    f->peerlen = sizeof f->peer;
    f->locallen = sizeof f->local;
    if (getpeername(fd, (struct sockaddr *)&f->peer, &f->peerlen) < 0)
        f->peerlen = 0;
    if (getsockname(fd, (struct sockaddr *)&f->local, &f->locallen) < 0)
        f->locallen = 0;
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (f->local.ss_family == AF_UNIX &&
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
        f->has_cred = true;
        f->uid = cred.uid;
        f->gid = cred.gid;
    }
}

/* Serve one request; `fd` is ours to close, in every case. */
static void handle_req(struct peer *p, const struct spawn_req *rq, int fd)
{
    static struct log_limit bad_limit, full_limit;
    unsigned long missed;
    struct spawner *sp = p->sp;
    const char *why;
    struct xsvc *x = check_req(sp, rq, fd, &why);
    if (!x && log_limit_pass(&bad_limit, &missed))
        log_msg(LOG_ERR, "spawner: refused a worker's request: %s (%lu more)", why, missed);
    /* Retired by a reload or stopping: nothing new starts. */
    if (x && (sp->stopping || sp->retiring))
        x = NULL;
    if (!x) {
        reply(p, SPAWN_REFUSED, rq->cookie, 0, 0);
        close_received(fd);
        return;
    }
    const struct exec_conf *e = &x->cs->exec;
    if (e->max_instances && x->live >= e->max_instances) {
        if (log_limit_pass(&full_limit, &missed))
            log_msg(LOG_WARNING, "[%s] max_instances %ld reached: %s refused (%lu more)",
                    x->cs->name, e->max_instances,
                    rq->type != SPAWN_DGRAM ? "a connection" : "a datagram", missed);
        reply(p, SPAWN_REFUSED, rq->cookie, 0, 0);
        close_received(fd);
        return;
    }
    /* The program reads and writes the socket blocking, as from a pipe
     * (a connection of its own: no other process reads it). */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK))
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    struct exec_facts f;
    facts_of(rq, fd, &f);
    struct child *ch = start(sp, x, fd, &f, true);
    if (!ch) {
        reply(p, SPAWN_REFUSED, rq->cookie, 0, 0);
        return;
    }
    ch->peer = p;
    ch->cookie = rq->cookie;
    p->refs++;
}

static void close_peer(struct peer *p)
{
    if (p->dead)
        return;
    int fd = p->w.fd;
    loop_del(&p->sp->loop, &p->w);
    close(fd);
    p->w.fd = -1;
    p->dead = true;
}

static void on_peer(struct loop_watch *w, uint32_t events)
{
    struct peer *p = (struct peer *)((char *)w - offsetof(struct peer, w));
    (void)events;
    /* Bounded per wake-up, so one busy worker cannot starve the rest. */
    for (int i = 0; i < 64 && !p->dead; i++) {
        struct spawn_req rq;
        int fd = recv_fd(w->fd, &rq, sizeof rq);
        if (fd == -EAGAIN || fd == -EINTR)
            return;
        if (fd == 0 || fd == -ECONNRESET) {
            close_peer(p);      /* the worker is gone; its children go on */
            return;
        }
        if (fd < 0) {
            static struct log_limit limit;
            unsigned long missed;
            if (log_limit_pass(&limit, &missed))
                log_msg(LOG_ERR, "spawner: dropped a malformed message from a worker (%lu more)",
                        missed);
            continue;
        }
        handle_req(p, &rq, fd);
    }
}

/* The master hands over a new worker's end. */
static void on_ctl(struct loop_watch *w, uint32_t events)
{
    struct spawner *sp = (struct spawner *)((char *)w - offsetof(struct spawner, ctl_w));
    (void)events;
    for (;;) {
        uint32_t hello;
        int fd = recv_fd(w->fd, &hello, sizeof hello);
        if (fd == -EAGAIN || fd == -EINTR)
            return;
        if (fd == 0 || fd == -ECONNRESET) {
            /* The master is gone: stop as at shutdown. */
            loop_del(&sp->loop, &sp->ctl_w);
            if (!sp->stopping) {
                sp->stopping = true;
                sp->stop_at = clock_now_ms() + sp->c->shutdown_timeout_ms;
            }
            return;
        }
        if (fd < 0 || hello != SPAWN_MAGIC) {
            if (fd > 0)
                close(fd);
            continue;
        }
        struct peer *p = calloc(1, sizeof *p);
        if (!p || loop_add(&sp->loop, &p->w, fd, LOOP_READABLE, on_peer) < 0) {
            log_msg(LOG_ERR, "spawner: cannot serve a new worker");
            free(p);
            close(fd);
            continue;
        }
        p->sp = sp;
        p->next = sp->peers;
        sp->peers = p;
    }
}

/* ---- wait = yes listeners ---- */

static void on_wait_lsn(struct loop_watch *w, uint32_t events);

static void watch_wait(struct spawner *sp, struct wlsn *wl)
{
    if (loop_add(&sp->loop, &wl->w, wl->l->fd, LOOP_READABLE, on_wait_lsn) < 0)
        log_msg(LOG_ERR, "[%s] %s: cannot watch: the service is stopped", wl->xs->cs->name,
                wl->l->addr.text);
}

static void on_wait_lsn(struct loop_watch *w, uint32_t events)
{
    struct wlsn *wl = (struct wlsn *)((char *)w - offsetof(struct wlsn, w));
    struct spawner *sp = wl->sp;
    (void)events;
    /* Not watched while its child runs: the child owns the socket. */
    loop_del(&sp->loop, &wl->w);
    /* max_instances counts the service's children across its listeners:
     * the datagram (or connection) waits in the socket for a free turn. */
    long max = wl->xs->cs->exec.max_instances;
    if (max && wl->xs->live >= max) {
        static struct log_limit limit;
        unsigned long missed;
        if (log_limit_pass(&limit, &missed))
            log_msg(LOG_WARNING, "[%s] max_instances %ld reached: %s waits for a child to "
                    "exit (%lu more)", wl->xs->cs->name, max, wl->l->addr.text, missed);
        wl->full = true;
        return;
    }
    /* The child reads it as inetd's children do: blocking.  The flag
     * belongs to the open file description, which the master and every
     * worker share: workers set O_NONBLOCK again on each listener they
     * watch (worker_main), so a reload that gives this address to a
     * wait = no service never leaves a worker blocked in accept; the only
     * overlap is a reload that changes the address's wait mode while old
     * processes still use it, bounded by shutdown_timeout. */
    int fl = fcntl(wl->l->fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK))
        fcntl(wl->l->fd, F_SETFL, fl & ~O_NONBLOCK);
    struct exec_facts f = { 0 };
    struct child *ch = start(sp, wl->xs, wl->l->fd, &f, false);
    if (!ch) {
        wl->rewatch_at = clock_now_ms() + WAIT_RESPAWN_MS;
        return;
    }
    ch->wl = wl;
    wl->busy = true;
}

/* ---- children ---- */

static void child_gone(struct spawner *sp, struct child *ch, int status)
{
    char how[96];
    child_report(ch);
    if (ch->repw.fd >= 0) {     /* no report, no EOF: it died before execve */
        int fd = ch->repw.fd;
        loop_del(&sp->loop, &ch->repw);
        close(fd);
        ch->repw.fd = -1;
    }
    /* Whatever it started in its session goes with it: a program's
     * descendants never outlive its limits (max_lifetime, max_instances)
     * nor keep its connection or a wait = yes listener.  The session id
     * cannot be reused while a process of it is alive. */
    kill(-ch->pid, SIGKILL);
    drain_stderr(ch, true);
    close_stderr(ch);
    log_wait_status(status, how, sizeof how);
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    log_msg(ok ? LOG_DEBUG : WIFSIGNALED(status) ? LOG_WARNING : LOG_NOTICE, "[%s] pid %ld %s",
            ch->xs->cs->name, (long)ch->pid, how);
    ch->xs->live--;
    sp->nchildren--;
    ch->dead = true;
    count_exec(status, false);
    if (ch->peer) {
        reply(ch->peer, SPAWN_EXITED, ch->cookie, ch->pid, status);
        ch->peer->refs--;
    }
    if (!sp->stopping && !sp->retiring)
        for (size_t i = 0; i < sp->nwl; i++)
            if (sp->wl[i].full && sp->wl[i].xs == ch->xs) {
                sp->wl[i].full = false;
                watch_wait(sp, &sp->wl[i]);
            }
    struct wlsn *wl = ch->wl;
    if (wl) {
        wl->busy = false;
        long long now = clock_now_ms();
        if (sp->stopping || sp->retiring)
            return;
        if (!ok && now - ch->start_ms < WAIT_RESPAWN_MS)
            wl->rewatch_at = ch->start_ms + WAIT_RESPAWN_MS;
        else
            watch_wait(sp, wl);
    }
}

static void reap(struct spawner *sp)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (struct child *ch = sp->children; ch; ch = ch->next)
            if (!ch->dead && ch->pid == pid) {
                child_gone(sp, ch, status);
                break;
            }
    }
}

/* Free what died during the last batch: never inside it. */
static void sweep(struct spawner *sp)
{
    for (struct child **pp = &sp->children; *pp;) {
        struct child *ch = *pp;
        if (ch->dead) {
            *pp = ch->next;
            free(ch);
        } else {
            pp = &ch->next;
        }
    }
    for (struct peer **pp = &sp->peers; *pp;) {
        struct peer *p = *pp;
        if (p->dead && p->refs == 0) {
            *pp = p->next;
            free(p);
        } else {
            pp = &p->next;
        }
    }
}

static void stop_wait_listeners(struct spawner *sp)
{
    for (size_t i = 0; i < sp->nwl; i++) {
        loop_del(&sp->loop, &sp->wl[i].w);
        sp->wl[i].rewatch_at = 0;
    }
}

static void on_signal(struct loop_watch *w, uint32_t events)
{
    struct spawner *sp = (struct spawner *)((char *)w - offsetof(struct spawner, sig_w));
    struct signalfd_siginfo si;
    (void)events;
    bool chld = false;
    while (read(sp->sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD) {
            chld = true;
        } else if (si.ssi_signo == SIGHUP) {
            /* Retired by a reload: start nothing new on the listeners (the
             * new generation's spawner has them); finish what runs. */
            sp->retiring = true;
            stop_wait_listeners(sp);
        } else if (!sp->stopping) {
            sp->stopping = true;
            sp->stop_at = clock_now_ms() + sp->c->shutdown_timeout_ms;
            stop_wait_listeners(sp);
        } else {
            sp->stop_at = clock_now_ms();   /* a second TERM: now */
        }
    }
    if (chld)
        reap(sp);
}

static void signal_child(struct child *ch, int sig)
{
    /* The whole session: a shell's own children hold the socket too. */
    if (kill(-ch->pid, sig) < 0)
        kill(ch->pid, sig);
}

/* max_lifetime, shutdown, and wait listeners to watch again. */
static long long timers(struct spawner *sp)
{
    long long now = clock_now_ms(), next = -1;
#define NEXT(t) do { if ((t) && (next < 0 || (t) < next)) next = (t); } while (0)
    if (sp->stopping && sp->stop_at && now >= sp->stop_at) {
        for (struct child *ch = sp->children; ch; ch = ch->next)
            if (!ch->dead && !ch->kill_at) {
                signal_child(ch, SIGTERM);
                ch->kill_at = now + SPAWN_KILL_GRACE_MS;
            }
        sp->stop_at = 0;
    }
    NEXT(sp->stop_at);
    for (struct child *ch = sp->children; ch; ch = ch->next) {
        if (ch->dead)
            continue;
        if (ch->term_at && now >= ch->term_at) {
            log_msg(LOG_NOTICE, "[%s] pid %ld: max_lifetime %u ms reached: SIGTERM",
                    ch->xs->cs->name, (long)ch->pid, ch->xs->cs->max_lifetime_ms);
            signal_child(ch, SIGTERM);
            ch->term_at = 0;
            ch->kill_at = now + SPAWN_KILL_GRACE_MS;
        }
        if (ch->kill_at && now >= ch->kill_at) {
            log_msg(LOG_WARNING, "[%s] pid %ld: still running %d ms after SIGTERM: SIGKILL",
                    ch->xs->cs->name, (long)ch->pid, SPAWN_KILL_GRACE_MS);
            signal_child(ch, SIGKILL);
            ch->kill_at = 0;
        }
        NEXT(ch->term_at);
        NEXT(ch->kill_at);
    }
    for (size_t i = 0; i < sp->nwl; i++) {
        struct wlsn *wl = &sp->wl[i];
        if (wl->rewatch_at && now >= wl->rewatch_at && !sp->stopping && !sp->retiring) {
            wl->rewatch_at = 0;
            watch_wait(sp, wl);
        }
        NEXT(wl->rewatch_at);
    }
#undef NEXT
    return next < 0 ? -1 : next - now;
}

static bool peers_alive(const struct spawner *sp)
{
    for (const struct peer *p = sp->peers; p; p = p->next)
        if (!p->dead)
            return true;
    return false;
}

/* Keep the wait = yes listeners of our services; close every other one
 * (workers serve those; a child must never get them). */
static int take_listeners(struct spawner *sp, struct lsn_set *lsns)
{
    sp->wl = calloc(lsns->n ? lsns->n : 1, sizeof *sp->wl);
    if (!sp->wl)
        return -ENOMEM;
    for (size_t i = 0; i < lsns->n; i++) {
        struct listener *l = &lsns->v[i];
        struct xsvc *x = l->svc_index < sp->c->nsvcs ? &sp->xs[l->svc_index] : NULL;
        if (l->fd < 0)
            continue;
        if (x && x->cs && !x->cs->exec.wait && x->nla < x->cs->naddrs) {
            /* Connections handed over must come from these addresses. */
            x->lalen[x->nla] = sizeof x->la[x->nla];
            if (getsockname(l->fd, (struct sockaddr *)&x->la[x->nla], &x->lalen[x->nla]) == 0 &&
                x->lalen[x->nla] <= sizeof x->la[x->nla])
                x->nla++;
        }
        if (!x || !x->cs || !x->cs->exec.wait) {
            close(l->fd);
            continue;
        }
        struct wlsn *wl = &sp->wl[sp->nwl++];
        wl->sp = sp;
        wl->xs = x;
        wl->l = l;
        wl->w.fd = -1;
        watch_wait(sp, wl);
    }
    return 0;
}

void spawner_main(const struct conf *c, unsigned gen, int ctl, struct lsn_set *lsns)
{
    char err[256] = "";
    pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(0);
    prctl(PR_SET_NAME, "superd-spawner");
    struct spawner *sp = calloc(1, sizeof *sp);
    if (!sp)
        _exit(1);
    sp->c = c;
    sp->gen = gen;
    sp->max_children = c->max_connections > 0 ? (size_t)c->max_connections : SPAWN_MAX_CHILDREN;
    sp->ctl = ctl;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    /* What a child must set back to SIG_DFL (nothing here changes a
     * disposition later). */
    sp->not_default = 0;
    for (int sig = 1; sig < NSIG; sig++) {
        struct ksigaction sa;
        if (sig != SIGKILL && sig != SIGSTOP && raw_sigaction(sig, NULL, &sa) == 0 &&
            sa.handler != SIG_DFL)
            sp->not_default |= 1ULL << (sig - 1);
    }
    int r = loop_init(&sp->loop);
    if (r == 0)
        r = table_build(sp, err, sizeof err);
    if (r == 0 && (sp->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
        r = -errno;
    if (r == 0)
        r = loop_add(&sp->loop, &sp->sig_w, sp->sig_fd, LOOP_READABLE, on_signal);
    if (r == 0)
        r = loop_add(&sp->loop, &sp->ctl_w, ctl, LOOP_READABLE, on_ctl);
    if (r == 0)
        r = take_listeners(sp, lsns);
    if (r < 0) {
        log_msg(LOG_ERR, "spawner: %s", err[0] ? err : strerror(-r));
        _exit(1);
    }
    log_msg(LOG_DEBUG, "spawner %ld serving generation %u", (long)getpid(), gen);
    for (;;) {
        long long t = timers(sp);
        if ((sp->stopping || sp->retiring) && sp->nchildren == 0 && !peers_alive(sp))
            break;
        int timeout = t < 0 ? -1 : t > 60000 ? 60000 : (int)t;
        if (loop_run_once(&sp->loop, timeout) < 0)
            break;
        sweep(sp);
    }
    /* A retired generation's cgroups are the next one's too. */
    if (!sp->retiring)
        cgroup_teardown(sp);
    _exit(0);
}
