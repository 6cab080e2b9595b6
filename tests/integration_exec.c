/*
 * integration_exec.c - services that run programs (docs/exec.md), on the
 * real binary with tests/programs/xprog.c: echo through the socket, the
 * environment in each dialect, exit status and signals logged, stderr
 * logged line by line, max_lifetime, max_instances, a wait-style datagram
 * server, one program per datagram, identity, chroot and rlimits seen from
 * inside the child (as root), and no descriptor of superd's in a child.
 *
 * Linked into build/tests/integration (IT_REGISTER); IT_ONLY=exec runs these.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_MS 5000

/* Start superd with one exec service [x] running `xprog ARGS` on `listen`,
 * plus `extra` lines.  Returns the port used (TCP or UDP, by `udp`). */
static int start_x(struct it_daemon *d, int udp, const char *args, const char *extra)
{
    int port = it_free_port(udp ? IT_UDP4 : IT_TCP4);
    CU_ASSERT_FATAL(port > 0);
    const char *conf = it_conf_global("workers = 2\nlog_level = debug\nshutdown_timeout = 1s\n",
        it_printf("[x]\nprogram = %s\nargs = %s\nlisten = %s://127.0.0.1:%d\n%s", it_xprog(), args,
                  udp ? "udp" : "tcp", port, extra ? extra : ""));
    CU_ASSERT_FATAL(it_start(d, conf) == 0);
    return port;
}

/* Everything the program at the other end of a new connection says, after
 * we send `in` and shut down our side. */
static char *talk(int port, const char *in)
{
    int fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    static uint8_t buf[65536];
    struct it_xfer x;
    it_xfer(fd, (const uint8_t *)in, strlen(in), 1, NULL, 0, buf, sizeof buf - 1, 0, 1,
            IT_OP_MS, &x);
    CU_ASSERT(x.eof);
    buf[x.rcvd < sizeof buf - 1 ? x.rcvd : sizeof buf - 1] = '\0';
    it_close(fd);
    return it_printf("%s", (char *)buf);
}

/* A line of text that starts with `prefix` and ends with `suffix`, waiting
 * for the daemon's stderr to have one (up to LOG_MS). */
static int has_line(struct it_daemon *d, const char *prefix, const char *suffix)
{
    int64_t deadline = it_now_ms() + LOG_MS;
    do {
        const char *text = it_stderr(d);
        for (const char *l = text; l && *l;) {
            const char *nl = strchr(l, '\n');
            size_t len = nl ? (size_t)(nl - l) : strlen(l);
            size_t pl = strlen(prefix), sl = strlen(suffix);
            if (len >= pl + sl && strncmp(l, prefix, pl) == 0 &&
                strncmp(l + len - sl, suffix, sl) == 0)
                return 1;
            l = nl ? nl + 1 : NULL;
        }
        it_sleep_ms(10);
    } while (it_left_ms(deadline));
    printf("\n    no line \"%s...%s\" in:\n%s\n", prefix, suffix, it_stderr(d));
    return 0;
}

static void test_exec_echo(void)
{
    struct it_daemon d;
    int port = start_x(&d, 0, "echo", NULL);
    int fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(it_echo_stream(fd, 256 * 1024, "exec echo"));
    CU_ASSERT_STRING_EQUAL(talk(port, "hello\n"), "hello\n");
    CU_ASSERT(has_line(&d, "superd: [x] pid ", " exited with status 0"));
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

static void test_exec_env_tcp(void)
{
    struct it_daemon d;
    setenv("XPROG_PASSED", "from-superd", 1);
    setenv("XPROG_SECRET", "not-passed", 1);
    int port = start_x(&d, 0, "env", "env = A=1 'B=two words'\npass_env = XPROG_PASSED\n");
    unsetenv("XPROG_PASSED");
    unsetenv("XPROG_SECRET");
    char *env = talk(port, "");
    CU_ASSERT(it_count_line(env, "PROTO=TCP") == 1);
    CU_ASSERT(it_count_line(env, "TCPLOCALIP=127.0.0.1") == 1);
    CU_ASSERT(it_count_line(env, it_printf("TCPLOCALPORT=%d", port)) == 1);
    CU_ASSERT(it_count_line(env, "TCPREMOTEIP=127.0.0.1") == 1);
    CU_ASSERT(it_count_prefix(env, "TCPREMOTEPORT=") == 1);
    CU_ASSERT(it_count_line(env, "REMOTE_ADDR=127.0.0.1") == 1);
    CU_ASSERT(it_count_prefix(env, "REMOTE_PORT=") == 1);
    CU_ASSERT(it_count_line(env, "REMOTE_HOST=127.0.0.1") == 1);
    CU_ASSERT(it_count_line(env, "A=1") == 1);
    CU_ASSERT(it_count_line(env, "B=two words") == 1);
    CU_ASSERT(it_count_line(env, "XPROG_PASSED=from-superd") == 1);
    CU_ASSERT(it_count_prefix(env, "XPROG_SECRET=") == 0);
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

static void test_exec_env_unix(void)
{
    struct it_daemon d;
    char *sock = it_path("env.sock");
    CU_ASSERT_FATAL(it_start(&d, it_conf(it_printf("[x]\nprogram = %s\nargs = env\n"
                                                   "listen = unix:%s\n", it_xprog(), sock))) == 0);
    int fd = it_unix_connect(sock);
    CU_ASSERT_FATAL(fd >= 0);
    static uint8_t buf[16384];
    struct it_xfer x;
    it_xfer(fd, NULL, 0, 1, NULL, 0, buf, sizeof buf - 1, 0, 1, IT_OP_MS, &x);
    buf[x.rcvd] = '\0';
    const char *env = (const char *)buf;
    CU_ASSERT(it_count_line(env, "PROTO=IPC") == 1);
    CU_ASSERT(it_count_line(env, it_printf("IPCREMOTEEUID=%d", (int)geteuid())) == 1);
    CU_ASSERT(it_count_line(env, it_printf("IPCREMOTEEGID=%d", (int)getegid())) == 1);
    CU_ASSERT(it_count_line(env, it_printf("IPCLOCALPATH=%s", sock)) == 1);
    CU_ASSERT(it_count_prefix(env, "REMOTE_ADDR=") == 0);
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

static void test_exec_exit_status_and_stderr(void)
{
    struct it_daemon d;
    int port = start_x(&d, 0, "exit 3", NULL);
    talk(port, "");
    CU_ASSERT(has_line(&d, "superd: [x] pid ", ": bye"));
    CU_ASSERT(has_line(&d, "superd: [x] pid ", " exited with status 3"));
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

static void test_exec_killed(void)
{
    struct it_daemon d;
    int port = start_x(&d, 0, "term", NULL);
    talk(port, "");
    /* superd blocks TERM for itself: the child has the default again. */
    CU_ASSERT(has_line(&d, "superd: [x] pid ", " killed by signal 15 (Terminated)"));
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

static void test_exec_max_lifetime(void)
{
    struct it_daemon d;
    int port = start_x(&d, 0, "sleep", "max_lifetime = 300ms\n");
    CU_ASSERT_STRING_EQUAL(talk(port, ""), "sleeping\n");   /* EOF: it was stopped */
    CU_ASSERT(has_line(&d, "superd: [x] pid ", ": max_lifetime 300 ms reached: SIGTERM"));
    CU_ASSERT(has_line(&d, "superd: [x] pid ", " killed by signal 15 (Terminated)"));
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

static void test_exec_max_instances(void)
{
    struct it_daemon d;
    int port = start_x(&d, 0, "sleep", "max_instances = 1\nstderr = null\n");
    int first = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(first >= 0);
    uint8_t buf[64];
    struct it_xfer x;
    it_xfer(first, NULL, 0, 0, NULL, 0, buf, sizeof buf, 9, 0, IT_OP_MS, &x);
    CU_ASSERT(x.rcvd == 9);     /* "sleeping\n": the first one runs */
    CU_ASSERT_STRING_EQUAL(talk(port, ""), "");     /* the second is closed */
    CU_ASSERT(has_line(&d, "superd: [x] max_instances 1 reached: a connection refused", ")"));
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

static void test_exec_no_superd_fds(void)
{
    struct it_daemon d;
    int port = start_x(&d, 0, "fds", NULL);
    char *fds = talk(port, "");
    CU_ASSERT_STRING_EQUAL(fds, "fd 0\nfd 1\nfd 2\n");
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

static void test_exec_identity_chroot_rlimits(void)
{
    if (geteuid() != 0) {
        printf("\n    skipped: needs root (user, chroot)\n");
        return;
    }
    /* A chroot with the static program and a marker file in it. */
    char *root = it_path("root");
    CU_ASSERT_FATAL(mkdir(root, 0755) == 0);
    char *text = NULL;
    FILE *f = fopen(it_xprog(), "rb");
    CU_ASSERT_FATAL(f != NULL);
    static char bin[4 << 20];
    size_t n = fread(bin, 1, sizeof bin, f);
    fclose(f);
    FILE *o = fopen(it_printf("%s/xprog", root), "wb");
    CU_ASSERT_FATAL(o && fwrite(bin, 1, n, o) == n);
    fclose(o);
    chmod(it_printf("%s/xprog", root), 0755);
    CU_ASSERT_FATAL(it_write_file(it_printf("%s/xprog-chroot-marker", root), "") == 0);
    (void)text;
    struct it_daemon d;
    int port = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(it_start(&d, it_conf(it_printf(
        "[x]\nprogram = /xprog\nargs = ids\nlisten = tcp://127.0.0.1:%d\nchroot = %s\n"
        "user = nobody\ngroup = nogroup\numask = 027\nnice = 5\nrlimit_nofile = 64\n"
        "rlimit_cpu = 7\nrlimit_as = 512M\n", port, root))) == 0);
    char *ids = talk(port, "");
    CU_ASSERT(it_count_line(ids, "uid=65534 euid=65534 gid=65534 egid=65534") == 1);
    CU_ASSERT(it_count_line(ids, "groups=") == 1);      /* no groups = yes: none */
    CU_ASSERT(it_count_line(ids, "cwd=/") == 1);
    CU_ASSERT(it_count_line(ids, "marker=yes") == 1);   /* inside the chroot */
    CU_ASSERT(it_count_line(ids, "umask=027") == 1);
    CU_ASSERT(it_count_line(ids, "nice=5") == 1);
    CU_ASSERT(it_count_line(ids, "nofile=64") == 1);
    CU_ASSERT(it_count_line(ids, "cpu=7") == 1);
    CU_ASSERT(it_count_line(ids, "as=536870912") == 1);
    CU_ASSERT(it_count_line(ids, "no_new_privs=1") == 1);
    CU_ASSERT(it_count_line(ids, "blocked_term=0") == 1);
    if (it_count_line(ids, "marker=yes") != 1)
        printf("\n    the child said:\n%s\n", ids);
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

static void test_exec_groups(void)
{
    if (geteuid() != 0) {
        printf("\n    skipped: needs root\n");
        return;
    }
    struct it_daemon d;
    int port = start_x(&d, 0, "ids", "user = root\ngroups = yes\ngroup = nogroup\n");
    char *ids = talk(port, "");
    CU_ASSERT(it_count_line(ids, "uid=0 euid=0 gid=65534 egid=65534") == 1);
    /* root's supplementary groups by initgroups: root (0) and the gid asked. */
    CU_ASSERT(it_count_prefix(ids, "groups=") == 1 && strstr(ids, "groups=") &&
              strstr(strstr(ids, "groups="), "0"));
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

static void test_exec_dgram_nowait(void)
{
    struct it_daemon d;
    int port = start_x(&d, 1, "dgram", NULL);
    int fd = it_udp_socket(AF_INET, 0);
    CU_ASSERT_FATAL(fd >= 0);
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_inet(AF_INET, port, &to);
    char reply[256];
    ssize_t n = it_dgram_ask(fd, &to, tolen, "hello", 5, reply, sizeof reply - 1, 3);
    CU_ASSERT_FATAL(n == 9);
    reply[n] = '\0';
    CU_ASSERT_STRING_EQUAL(reply, "got:hello");
    CU_ASSERT(has_line(&d, "superd: [x] pid ", " exited with status 0"));
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

static void test_exec_wait_udp(void)
{
    struct it_daemon d;
    int port = start_x(&d, 1, "udpwait", "wait = yes\n");
    int fd = it_udp_socket(AF_INET, 0);
    CU_ASSERT_FATAL(fd >= 0);
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_inet(AF_INET, port, &to);
    char a[256], b[256], c[256];
    ssize_t na = it_dgram_ask(fd, &to, tolen, "one", 3, a, sizeof a - 1, 3);
    ssize_t nb = it_dgram_ask(fd, &to, tolen, "two", 3, b, sizeof b - 1, 3);
    CU_ASSERT_FATAL(na > 4 && nb > 4);
    a[na] = b[nb] = '\0';
    /* One child serves both: the same pid answered. */
    CU_ASSERT_EQUAL(atoi(a), atoi(b));
    CU_ASSERT(strstr(a, ":one") && strstr(b, ":two"));
    /* It exits when idle; the next datagram starts another. */
    CU_ASSERT(has_line(&d, it_printf("superd: [x] pid %d", atoi(a)), " exited with status 0"));
    ssize_t nc = it_dgram_ask(fd, &to, tolen, "three", 5, c, sizeof c - 1, 3);
    CU_ASSERT_FATAL(nc > 4);
    c[nc] = '\0';
    CU_ASSERT(atoi(c) != atoi(a));
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

/* max_instances counts a wait = yes service's children across its
 * listeners: with 1, a datagram on the second listener waits until the
 * first listener's child has exited (it used to start a second child). */
static void test_exec_wait_max_instances(void)
{
    struct it_daemon d;
    int p1 = it_free_port(IT_UDP4), p2 = 0;
    for (int i = 0; i < 20 && (p2 == 0 || p2 == p1); i++)
        p2 = it_free_port(IT_UDP4);
    CU_ASSERT_FATAL(p1 > 0 && p2 > 0 && p1 != p2);
    const char *conf = it_conf_global("workers = 1\nlog_level = debug\nshutdown_timeout = 1s\n",
        it_printf("[x]\nprogram = %s\nargs = udpwait\nwait = yes\nmax_instances = 1\n"
                  "listen = udp://127.0.0.1:%d udp://127.0.0.1:%d\n", it_xprog(), p1, p2));
    CU_ASSERT_FATAL(it_start(&d, conf) == 0);
    int fd = it_udp_socket(AF_INET, 0);
    CU_ASSERT_FATAL(fd >= 0);
    struct sockaddr_storage t1, t2;
    socklen_t l1 = it_sa_inet(AF_INET, p1, &t1), l2 = it_sa_inet(AF_INET, p2, &t2);
    char a[256], b[256];
    ssize_t na = it_dgram_ask(fd, &t1, l1, "one", 3, a, sizeof a - 1, 3);
    CU_ASSERT_FATAL(na > 4);
    ssize_t nb = it_dgram_ask(fd, &t2, l2, "two", 3, b, sizeof b - 1, 6);
    CU_ASSERT_FATAL(nb > 4);
    a[na] = b[nb] = '\0';
    CU_ASSERT(atoi(a) != atoi(b));
    const char *err = it_stderr(&d);
    int exited_a = it_line_of(err, it_printf("superd: [x] pid %d exited", atoi(a)));
    int started_b = it_line_of(err, it_printf("superd: [x] pid %d started", atoi(b)));
    CU_ASSERT(exited_a > 0 && started_b > exited_a);
    CU_ASSERT(it_line_of(err, "max_instances 1 reached: udp 127.0.0.1:") > 0);
    if (!(exited_a > 0 && started_b > exited_a))
        printf("\n    superd said:\n%s\n", err);
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

static void test_exec_config_errors(void)
{
    char *out, *err;
    const char *conf = it_conf(it_printf("[x]\nprogram = %s/nothing\nlisten = tcp://127.0.0.1:1\n",
                                         it_dir));
    const char *args[] = { "-t", "-c", conf, NULL };
    int st = it_run(args, &out, &err);
    CU_ASSERT(it_exited(st, 1));
    CU_ASSERT(it_count_line(err, it_printf("superd: %s:5: [x] program: %s/nothing: No such "
                                           "file or directory", conf, it_dir)) == 1);
}

static const struct it_test exec_tests[] = {
    { "exec: echo through cat-like program", test_exec_echo },
    { "exec: environment over TCP (UCSPI, systemd, xinetd, env, pass_env)", test_exec_env_tcp },
    { "exec: environment over unix (PROTO=IPC, SO_PEERCRED)", test_exec_env_unix },
    { "exec: exit status and stderr logged", test_exec_exit_status_and_stderr },
    { "exec: a child killed by a signal is logged", test_exec_killed },
    { "exec: max_lifetime stops a child", test_exec_max_lifetime },
    { "exec: max_instances refuses past the limit", test_exec_max_instances },
    { "exec: no descriptor of superd's in a child", test_exec_no_superd_fds },
    { "exec: user, group, chroot, umask, nice, rlimits from inside", test_exec_identity_chroot_rlimits },
    { "exec: groups = yes", test_exec_groups },
    { "exec: nowait datagram, one program per datagram", test_exec_dgram_nowait },
    { "exec: wait = yes datagram server", test_exec_wait_udp },
    { "exec: wait = yes: max_instances counts across the listeners",
      test_exec_wait_max_instances },
    { "exec: program errors at load", test_exec_config_errors },
};
IT_REGISTER(exec_tests)
