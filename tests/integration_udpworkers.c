/*
 * integration_udpworkers.c - a UDP listener with a socket per worker
 * (udp_per_worker, docs/scaling.md): the master binds one SO_REUSEPORT
 * socket per worker slot and worker slot i reads socket i only.
 *
 * Linked into build/tests/integration (IT_REGISTER); IT_ONLY="udp per
 * worker" runs these.
 *
 * What a user can see: every datagram from many source ports is answered
 * (the bytes come back), by both workers (each worker process holds exactly
 * one socket bound to the port, a different one, as /proc shows; a stopped
 * worker's datagrams wait in its socket and are answered once it runs
 * again), through a reload, a change of the worker count and a killed
 * worker, with no refusal (an ICMP port unreachable would show as
 * ECONNREFUSED on the connected client sockets); and no process of another
 * user can join the port's SO_REUSEPORT group.  Every wait is bounded.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define NCLIENTS 32     /* source ports: 2^-31 that they all hash to one socket */
#define MAXP 16         /* processes or sockets looked at */
#define ANSWER_MS 3000  /* for every client to get its answer (resending) */
#define LAYOUT_MS 5000  /* for the processes and sockets to settle */

static const char *global(int workers)
{
    return it_printf("workers = %d\nshutdown_timeout = 250ms\n", workers);
}

static const char *echo_udp(int port, const char *extra)
{
    return it_printf("[echo]\nplugin = echo\nlisten = udp://127.0.0.1:%d\n"
                     "udp_reply_rate = off\n%s", port, extra);
}

/* SIGHUP after writing global/body; waits for this reload's "reload
 * done" (1) or "reload failed" (0). */
static int reload(struct it_daemon *d, const char *glob, const char *body)
{
    int done = it_count_prefix(it_stderr(d), "superd: reload done");
    int failed = it_count_prefix(it_stderr(d), "superd: reload failed");
    int64_t deadline = it_now_ms() + IT_START_MS;

    CU_ASSERT_FATAL(it_conf_global(glob, body) != NULL);
    kill(d->pid, SIGHUP);
    while (it_left_ms(deadline)) {
        char *err = it_stderr(d);
        if (it_count_prefix(err, "superd: reload failed") > failed)
            return 0;
        if (it_count_prefix(err, "superd: reload done") > done)
            return 1;
        it_sleep_ms(25);
    }
    printf("\n    the reload did not finish; stderr:\n%s", it_stderr(d));
    return 0;
}

/* ---- /proc ---- */

/* The processes whose parent is `ppid` (the workers: no exec service, so
 * no spawner).  Returns how many, at most max.  No tracked allocation:
 * layout() calls it in a loop. */
static int children(pid_t ppid, pid_t *out, int max)
{
    DIR *dir = opendir("/proc");
    struct dirent *de;
    int n = 0;

    if (!dir)
        return 0;
    while ((de = readdir(dir)) != NULL && n < max) {
        char path[300], stat[512], *rp;
        FILE *f;
        size_t len;
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
        if (!(f = fopen(path, "re")))
            continue;
        len = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
        stat[len] = '\0';
        rp = strrchr(stat, ')');
        /* "pid (comm) S ppid ..." */
        if (rp && atoi(rp + 4) == (int)ppid)
            out[n++] = (pid_t)atoi(de->d_name);
    }
    closedir(dir);
    return n;
}

/* The inode of each line of /proc/net/FILE whose field `key_field` (0-based)
 * is `key`; inode is field `inode_field`.  Returns how many, at most max. */
static int proc_net(const char *file, int key_field, const char *key, int inode_field,
                    unsigned long *out, int max)
{
    char path[64], line[512];
    FILE *f;
    int n = 0;

    snprintf(path, sizeof path, "/proc/net/%s", file);
    if (!(f = fopen(path, "re")))
        return 0;
    while (n < max && fgets(line, sizeof line, f)) {
        char *save = NULL, *tok = strtok_r(line, " \t\n", &save);
        const char *k = NULL, *ino = NULL;
        for (int i = 0; tok; i++, tok = strtok_r(NULL, " \t\n", &save)) {
            if (i == key_field)
                k = tok;
            if (i == inode_field)
                ino = tok;
        }
        if (k && ino && strcmp(k, key) == 0)
            out[n++] = strtoul(ino, NULL, 10);
    }
    fclose(f);
    return n;
}

/* The inodes of the UDP sockets bound to 127.0.0.1:port (every socket of
 * the group is one line). */
static int port_inodes(int port, unsigned long *out, int max)
{
    char key[32];

    snprintf(key, sizeof key, "0100007F:%04X", port);
    return proc_net("udp", 1, key, 9, out, max);
}

/* How many of the `n` socket inodes process `pid` holds open; *which gets
 * the last one held. */
static int held(pid_t pid, const unsigned long *inodes, int n, unsigned long *which)
{
    char fddir[64];
    DIR *dir;
    struct dirent *de;
    int count = 0;

    snprintf(fddir, sizeof fddir, "/proc/%d/fd", (int)pid);
    if (!(dir = opendir(fddir)))
        return -1;
    while ((de = readdir(dir)) != NULL) {
        char path[400], link[64];
        unsigned long ino;
        ssize_t len;
        snprintf(path, sizeof path, "%s/%s", fddir, de->d_name);
        len = readlink(path, link, sizeof link - 1);
        if (len <= 0)
            continue;
        link[len] = '\0';
        if (sscanf(link, "socket:[%lu]", &ino) != 1)
            continue;
        for (int i = 0; i < n; i++)
            if (inodes[i] == ino) {
                count++;
                *which = ino;
            }
    }
    closedir(dir);
    return count;
}

/*
 * Wait (bounded) until the port has `nsock` sockets, the master holds them
 * all and there are `nworkers` workers, each holding exactly one of them,
 * no two the same (or, with nsock 1, all the one).  Fills wpids/wsock.
 * Returns 1 when so, else 0 (with what was seen printed).
 */
static int layout(struct it_daemon *d, int port, int nsock, int nworkers, pid_t *wpids,
                  unsigned long *wsock)
{
    int64_t deadline = it_now_ms() + LAYOUT_MS;
    unsigned long inodes[MAXP], dummy;
    int n = 0, nw = 0, mh = 0;

    do {
        int ok;
        n = port_inodes(port, inodes, MAXP);
        nw = children(d->pid, wpids, MAXP);
        mh = held(d->pid, inodes, n, &dummy);
        ok = n == nsock && nw == nworkers && mh == nsock;
        for (int i = 0; ok && i < nw; i++) {
            ok = held(wpids[i], inodes, n, &wsock[i]) == 1;
            for (int j = 0; ok && j < i && nsock > 1; j++)
                ok = wsock[j] != wsock[i];
        }
        if (ok)
            return 1;
        it_sleep_ms(20);
    } while (it_left_ms(deadline));
    printf("\n    port %d: %d sockets (want %d), master holds %d, %d workers (want %d)\n",
           port, n, nsock, mh, nw, nworkers);
    return 0;
}

/* The inode of the unix socket bound to `path`, from /proc/net/unix. */
static unsigned long unix_inode(const char *path)
{
    unsigned long inode = 0;

    proc_net("unix", 7, path, 6, &inode, 1);
    return inode;
}

/* ---- clients ---- */

/* NCLIENTS sockets, each bound to its own ephemeral port and connected to
 * the listener (so an ICMP refusal shows as ECONNREFUSED). */
static void clients(int port, int *fds)
{
    struct sockaddr_storage ss;
    socklen_t len = it_sa_inet(AF_INET, port, &ss);

    for (int i = 0; i < NCLIENTS; i++) {
        fds[i] = it_udp_socket(AF_INET, 0);
        CU_ASSERT_FATAL(fds[i] >= 0);
        CU_ASSERT_FATAL(connect(fds[i], (struct sockaddr *)&ss, len) == 0);
    }
}

/* Client i's datagram of a round, in buf (no tracked allocation: ask()
 * makes many). */
static const char *payload(char *buf, size_t size, int i, int round)
{
    snprintf(buf, size, "datagram %d of round %d", i, round);
    return buf;
}

/*
 * Send each client's datagram (again every 200 ms while `resend`) and
 * read answers until every client has its own back or `ms` pass.  Counts
 * answers with exactly the bytes sent in *answered, refusals in *refused.
 * A client answered already before this call (got[i]) is not asked again.
 */
static void ask(const int *fds, int *got, int round, int ms, int resend, int *answered,
                int *refused)
{
    int64_t deadline = it_now_ms() + ms, next = 0;

    *answered = *refused = 0;
    for (int i = 0; i < NCLIENTS; i++)
        *answered += got[i];
    while (*answered < NCLIENTS && it_left_ms(deadline)) {
        struct pollfd pfd[NCLIENTS];
        if (it_now_ms() >= next) {
            for (int i = 0; i < NCLIENTS; i++) {
                char p[64];
                if (!got[i])
                    send(fds[i], p, strlen(payload(p, sizeof p, i, round)), MSG_NOSIGNAL);
            }
            next = resend ? it_now_ms() + 200 : deadline + 1;
        }
        for (int i = 0; i < NCLIENTS; i++)
            pfd[i] = (struct pollfd){ fds[i], POLLIN, 0 };
        if (poll(pfd, NCLIENTS, 50) <= 0)
            continue;
        for (int i = 0; i < NCLIENTS; i++) {
            char buf[128], p[64];
            ssize_t r;
            if (!(pfd[i].revents & (POLLIN | POLLERR)))
                continue;
            while ((r = recv(fds[i], buf, sizeof buf - 1, MSG_DONTWAIT)) >= 0 ||
                   errno == ECONNREFUSED) {
                if (r < 0) {
                    (*refused)++;
                    continue;
                }
                buf[r] = '\0';
                if (!got[i] && strcmp(buf, payload(p, sizeof p, i, round)) == 0) {
                    got[i] = 1;
                    (*answered)++;
                }
            }
        }
    }
}

/* Every client answered (resending), none refused. */
static void all_answered(const int *fds, int round, const char *when)
{
    int got[NCLIENTS] = { 0 }, answered, refused;

    ask(fds, got, round, ANSWER_MS, 1, &answered, &refused);
    if (answered != NCLIENTS || refused)
        printf("\n    %s: %d of %d answered, %d refused\n", when, answered, NCLIENTS, refused);
    CU_ASSERT_EQUAL(answered, NCLIENTS);
    CU_ASSERT_EQUAL(refused, 0);
}

/* ---- tests ---- */

/* workers = 2: two sockets, one per worker, both serving: with one worker
 * stopped, only part of the clients are answered, and the rest are once
 * it runs again (their datagrams waited in its socket). */
static void test_two_sockets_both_serve(void)
{
    int port = it_free_port(IT_UDP4), fds[NCLIENTS], got[NCLIENTS] = { 0 }, answered, refused;
    pid_t w[MAXP];
    unsigned long s[MAXP];
    struct it_daemon *d;

    CU_ASSERT_FATAL(port > 0);
    d = it_serve(it_conf_global(global(2), echo_udp(port, "")));
    CU_ASSERT_FATAL(layout(d, port, 2, 2, w, s));
    clients(port, fds);
    all_answered(fds, 1, "workers = 2");

    CU_ASSERT_FATAL(kill(w[0], SIGSTOP) == 0);
    ask(fds, got, 2, 500, 0, &answered, &refused);
    if (answered == 0 || answered == NCLIENTS)
        printf("\n    with worker %d stopped: %d of %d answered\n", (int)w[0], answered,
               NCLIENTS);
    CU_ASSERT(answered > 0);            /* the other worker serves its share */
    CU_ASSERT(answered < NCLIENTS);     /* the stopped one's share waits */
    kill(w[0], SIGCONT);
    /* No resend: the waiting datagrams themselves are answered. */
    ask(fds, got, 2, ANSWER_MS, 0, &answered, &refused);
    CU_ASSERT_EQUAL(answered, NCLIENTS);
    CU_ASSERT_EQUAL(refused, 0);
    it_stop_ok(d);
}

/* A reload keeps the sockets (same inodes), a change of the worker count
 * opens or closes the extra ones, and a killed worker's replacement reads
 * its socket: every client is answered at each step, none refused. */
static void test_reload_and_kill(void)
{
    int port = it_free_port(IT_UDP4), fds[NCLIENTS];
    pid_t w[MAXP], w2[MAXP];
    unsigned long s[MAXP], s2[MAXP], killed_sock = 0;
    struct it_daemon *d;
    int64_t deadline;

    CU_ASSERT_FATAL(port > 0);
    d = it_serve(it_conf_global(global(2), echo_udp(port, "")));
    CU_ASSERT_FATAL(layout(d, port, 2, 2, w, s));
    clients(port, fds);
    all_answered(fds, 1, "before the reload");

    CU_ASSERT_FATAL(reload(d, global(2), echo_udp(port, "")));
    all_answered(fds, 2, "after the reload");
    CU_ASSERT_FATAL(layout(d, port, 2, 2, w2, s2));
    CU_ASSERT((s2[0] == s[0] && s2[1] == s[1]) || (s2[0] == s[1] && s2[1] == s[0]));

    CU_ASSERT_FATAL(reload(d, global(3), echo_udp(port, "")));
    CU_ASSERT_FATAL(layout(d, port, 3, 3, w, s));
    all_answered(fds, 3, "workers = 3");
    CU_ASSERT_FATAL(reload(d, global(2), echo_udp(port, "")));
    CU_ASSERT_FATAL(layout(d, port, 2, 2, w, s));
    all_answered(fds, 4, "workers = 2 again");

    /* A worker killed: its replacement reads the same socket. */
    killed_sock = s[0];
    CU_ASSERT_FATAL(kill(w[0], SIGKILL) == 0);
    all_answered(fds, 5, "after a worker was killed");
    deadline = it_now_ms() + IT_START_MS;
    while (!strstr(it_stderr(d), "starting another") && it_left_ms(deadline))
        it_sleep_ms(25);
    CU_ASSERT_FATAL(layout(d, port, 2, 2, w2, s2));
    CU_ASSERT(w2[0] != w[0] && w2[1] != w[0]);
    CU_ASSERT(s2[0] == killed_sock || s2[1] == killed_sock);
    all_answered(fds, 6, "with the replacement worker");

    CU_ASSERT_FATAL(reload(d, global(1), echo_udp(port, "")));
    CU_ASSERT_FATAL(layout(d, port, 1, 1, w, s));
    all_answered(fds, 7, "workers = 1");
    it_stop_ok(d);
}

/* A reload that fails (a port taken) after the kept listener was taken
 * over gives its sockets back: the old workers serve on through them. */
static void test_failed_reload_keeps_sockets(void)
{
    int port = it_free_port(IT_UDP4), busy = 0, fds[NCLIENTS], taken;
    pid_t w[MAXP];
    unsigned long s[MAXP], s2[MAXP];
    struct it_daemon *d;

    CU_ASSERT_FATAL(port > 0);
    d = it_serve(it_conf_global(global(2), echo_udp(port, "")));
    CU_ASSERT_FATAL(layout(d, port, 2, 2, w, s));
    clients(port, fds);
    busy = it_free_port(IT_UDP4);
    CU_ASSERT_FATAL(busy > 0 && busy != port);
    taken = it_udp_socket(AF_INET, busy);
    CU_ASSERT_FATAL(taken >= 0);
    CU_ASSERT(!reload(d, global(3), it_printf("%s[other]\nplugin = echo\n"
                                              "listen = udp://127.0.0.1:%d\n",
                                              echo_udp(port, ""), busy)));
    CU_ASSERT(strstr(it_stderr(d), it_printf("[other] listen: cannot bind udp 127.0.0.1:%d: "
                                             "Address already in use", busy)) != NULL);
    CU_ASSERT_FATAL(layout(d, port, 2, 2, w, s2));
    CU_ASSERT((s2[0] == s[0] && s2[1] == s[1]) || (s2[0] == s[1] && s2[1] == s[0]));
    all_answered(fds, 1, "after the failed reload");
    it_close(taken);
    CU_ASSERT_FATAL(reload(d, global(3), echo_udp(port, "")));
    CU_ASSERT_FATAL(layout(d, port, 3, 3, w, s2));
    all_answered(fds, 2, "after the next reload");
    it_stop_ok(d);
}

/* A port another socket holds with SO_REUSEPORT is in use: superd with
 * per-worker sockets exits 1 rather than join that socket's group and
 * share the datagrams with it (it used to start and answer about 2/3). */
static void test_port_held_with_reuseport(void)
{
    int port = it_free_port(IT_UDP4), one = 1, st;
    struct sockaddr_storage ss;
    socklen_t len = it_sa_inet(AF_INET, port, &ss);
    int hold = it_track_fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    char *conf, *out, *err, *want;
    const char *args[] = { "-c", NULL, NULL };

    CU_ASSERT_FATAL(port > 0 && hold >= 0);
    CU_ASSERT_FATAL(setsockopt(hold, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0);
    CU_ASSERT_FATAL(bind(hold, (struct sockaddr *)&ss, len) == 0);
    conf = it_conf_global(global(2), echo_udp(port, ""));
    args[1] = conf;
    want = it_printf("superd: %s:%d: [echo] listen: cannot bind udp 127.0.0.1:%d: "
                     "Address already in use\n", conf,
                     it_line_of(it_read_file(conf), "listen = udp"), port);
    st = it_run(args, &out, &err);
    if (!it_exited(st, 1) || !strstr(err, want))
        printf("\n    expected exit 1 and \"%s\"; wait status 0x%x, stderr:\n%s", want,
               (unsigned)st, err);
    CU_ASSERT(it_exited(st, 1));
    CU_ASSERT(strstr(err, want) != NULL);
    it_close(hold);
}

/* A UDP socket passed by systemd (bound without SO_REUSEPORT) becomes
 * slot 0's, and the second worker's socket is bound beside it. */
static void test_systemd_socket(void)
{
    int port = it_free_port(IT_UDP4), ls, fds[NCLIENTS];
    pid_t w[MAXP];
    unsigned long s[MAXP];
    struct it_daemon *d;

    CU_ASSERT_FATAL(port > 0);
    ls = it_udp_socket(AF_INET, port);
    CU_ASSERT_FATAL(ls >= 0);
    it_listen_fd = ls;
    d = it_serve(it_conf_global(global(2), echo_udp(port, "")));
    it_listen_fd = -1;
    it_close(ls);
    CU_ASSERT(strstr(it_stderr(d), it_printf("superd: [echo] listening on udp 127.0.0.1:%d "
                                             "(socket from systemd)", port)) != NULL);
    CU_ASSERT_FATAL(layout(d, port, 2, 2, w, s));
    clients(port, fds);
    all_answered(fds, 1, "passed socket and its companion");
    it_stop_ok(d);
}

/* udp_per_worker = no: the workers share one socket; a unix datagram
 * listener is always shared (no SO_REUSEPORT for unix sockets). */
static void test_shared_when_off(void)
{
    int port = it_free_port(IT_UDP4), fds[NCLIENTS];
    pid_t w[MAXP];
    unsigned long s[MAXP];
    struct it_daemon *d;
    char *path = it_path("dgram.sock");
    const char *unix_svc = it_printf("[unixecho]\nplugin = echo\nlisten = unix-dgram:%s\n", path);
    unsigned long ui, dummy;

    CU_ASSERT_FATAL(port > 0);
    d = it_serve(it_conf_global(global(2), it_printf("%s%s", echo_udp(port, "udp_per_worker = no\n"),
                                                  unix_svc)));
    CU_ASSERT_FATAL(layout(d, port, 1, 2, w, s));
    CU_ASSERT_EQUAL(s[0], s[1]);
    ui = unix_inode(path);
    CU_ASSERT(ui != 0);
    CU_ASSERT_EQUAL(held(w[0], &ui, 1, &dummy), 1);
    CU_ASSERT_EQUAL(held(w[1], &ui, 1, &dummy), 1);
    clients(port, fds);
    all_answered(fds, 1, "udp_per_worker = no");
    CU_ASSERT_FATAL(reload(d, global(2), echo_udp(port, "")));
    CU_ASSERT_FATAL(layout(d, port, 2, 2, w, s));
    all_answered(fds, 2, "switched to per worker by a reload");
    it_stop_ok(d);
}

/*
 * Bind a UDP socket with option `opt` set to 127.0.0.1:port in a child
 * that became nobody first (a socket's SO_REUSEPORT group is checked
 * against the uid that made it).  Returns 0 when the bind worked, the
 * child's errno, or -1 when it could not become nobody.
 */
static int bind_as_nobody(int port, int opt)
{
    struct sockaddr_storage ss;
    socklen_t len = it_sa_inet(AF_INET, port, &ss);
    int st = 0;
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        struct passwd *pw = getpwnam("nobody");
        uid_t uid = pw ? pw->pw_uid : 65534;
        gid_t gid = pw ? pw->pw_gid : 65534;
        int one = 1, s;
        if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0 || getuid() == 0)
            _exit(127);
        s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (s < 0 || setsockopt(s, SOL_SOCKET, opt, &one, sizeof one) < 0)
            _exit(126);
        _exit(bind(s, (struct sockaddr *)&ss, len) == 0 ? 0 : errno & 0x7f);
    }
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st) == 127 || WEXITSTATUS(st) == 126 ? -1 : WEXITSTATUS(st);
}

/* The group admits sockets of superd's own uid only: a process of another
 * user cannot bind beside the per-worker sockets, with SO_REUSEPORT or
 * SO_REUSEADDR (and, as a control, can bind a free port that way). */
static void test_nobody_cannot_join(void)
{
    int port = it_free_port(IT_UDP4), other = 0, one = 1, s, r, e;
    struct sockaddr_storage ss;
    socklen_t len = it_sa_inet(AF_INET, port, &ss);
    pid_t w[MAXP];
    unsigned long sk[MAXP];
    struct it_daemon *d;

    CU_ASSERT_FATAL(port > 0);
    if (getuid() != 0) {
        printf("\n    skipped: not root, cannot become nobody\n");
        return;
    }
    d = it_serve(it_conf_global(global(2), echo_udp(port, "")));
    CU_ASSERT_FATAL(layout(d, port, 2, 2, w, sk));
    CU_ASSERT_EQUAL(bind_as_nobody(port, SO_REUSEPORT), EADDRINUSE);
    CU_ASSERT_EQUAL(bind_as_nobody(port, SO_REUSEADDR), EADDRINUSE);
    /* Nor root's own socket without SO_REUSEPORT. */
    s = it_track_fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    CU_ASSERT_FATAL(s >= 0);
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    r = bind(s, (struct sockaddr *)&ss, len);
    e = errno;
    CU_ASSERT_EQUAL(r, -1);
    CU_ASSERT_EQUAL(e, EADDRINUSE);
    CU_ASSERT_FATAL(layout(d, port, 2, 2, w, sk));     /* still only superd's */
    it_stop_ok(d);

    /* The control: nobody's SO_REUSEPORT bind works where superd is not. */
    other = it_free_port(IT_UDP4);
    CU_ASSERT_FATAL(other > 0);
    CU_ASSERT_EQUAL(bind_as_nobody(other, SO_REUSEPORT), 0);
}

/* reuseport = yes and a socket per worker: two instances, each with two
 * workers, share the port and every client is answered, also after one
 * instance stopped. */
static void test_two_instances(void)
{
    int port = it_free_port(IT_UDP4), fds[NCLIENTS];
    const char *body = echo_udp(port, "reuseport = yes\n");
    char *c1 = it_path("one.ini"), *c2 = it_path("two.ini");
    struct it_daemon *a = it_alloc(sizeof(*a)), *b = it_alloc(sizeof(*b));
    unsigned long inodes[MAXP];

    CU_ASSERT_FATAL(port > 0);
    CU_ASSERT_FATAL(it_write_file(c1, it_printf("[superd]\nplugin_dir = %s\n%s%s",
                                                it_plugin_dir, global(2), body)) == 0);
    CU_ASSERT_FATAL(it_write_file(c2, it_printf("[superd]\nplugin_dir = %s\n%s%s",
                                                it_plugin_dir, global(2), body)) == 0);
    CU_ASSERT_FATAL(it_start(a, c1) == 0);
    CU_ASSERT_FATAL(it_start(b, c2) == 0);
    CU_ASSERT_EQUAL(port_inodes(port, inodes, MAXP), 4);
    clients(port, fds);
    all_answered(fds, 1, "two instances");
    CU_ASSERT(it_stop(a, SIGTERM) == 0);
    all_answered(fds, 2, "after one instance stopped");
    CU_ASSERT(it_stop(b, SIGTERM) == 0);
}

static const struct it_test tests[] = {
    { "udp per worker: two sockets, both workers serve", test_two_sockets_both_serve },
    { "udp per worker: reload, worker count, killed worker", test_reload_and_kill },
    { "udp per worker: a port held by another SO_REUSEPORT socket is in use",
      test_port_held_with_reuseport },
    { "udp per worker: a failed reload gives the sockets back",
      test_failed_reload_keeps_sockets },
    { "udp per worker: beside a socket passed by systemd", test_systemd_socket },
    { "udp per worker: off, and unix-dgram, share one socket", test_shared_when_off },
    { "udp per worker: nobody cannot bind beside it", test_nobody_cannot_join },
    { "udp per worker: two instances with reuseport", test_two_instances },
};

IT_REGISTER(tests)
