/*
 * integration_spawner.c - the spawner against a compromised worker
 * (tests/plugins/hostile.so plays it) and the exec path's other edges:
 * a spoofed unix connection, a lingering socket, datagram requests past
 * the global cap, a non-socketpair datagram request, a program's
 * descendants, a listener left blocking by a wait = yes program, a plugin
 * initialised while holding a wait = yes listener, an unsafe chroot, and
 * client-chosen unix paths in the environment.
 *
 * Linked into build/tests/integration (IT_REGISTER); IT_ONLY=spawner runs these.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define WAIT_MS 5000

/* Wait (bounded) for the daemon's stderr to contain `needle`. */
static int log_has(struct it_daemon *d, const char *needle)
{
    int64_t deadline = it_now_ms() + WAIT_MS;
    do {
        const char *text = it_stderr(d);
        if (text && strstr(text, needle))
            return 1;
        it_sleep_ms(10);
    } while (it_left_ms(deadline));
    printf("\n    no \"%s\" in:\n%s\n", needle, it_stderr(d));
    return 0;
}

/* Send a line and read the reply (up to EOF, `want` bytes or the deadline). */
static char *say(int port, const char *line, size_t want)
{
    static uint8_t buf[65536];
    int fd = it_tcp_connect(AF_INET, port);
    if (fd < 0)
        return it_printf("(no connection)");
    struct it_xfer x;
    it_xfer(fd, (const uint8_t *)line, strlen(line), want == 0, NULL, 0, buf, sizeof buf - 1,
            want, want == 0, IT_OP_MS, &x);
    buf[x.rcvd < sizeof buf - 1 ? x.rcvd : sizeof buf - 1] = '\0';
    it_close(fd);
    return it_printf("%s", (char *)buf);
}

static int need_root(void)
{
    if (geteuid() == 0)
        return 1;
    printf("\n    skipped: needs root (workers as nobody, a spawner as root)\n");
    return 0;
}

static const char *hostile_section(int port)
{
    return it_printf("[h]\nplugin = %s/hostile.so\nlisten = tcp://127.0.0.1:%d\n",
                     TEST_PLUGIN_DIR, port);
}

/* HIGH 3: the connecting end of a connection to superd's own unix listener
 * would give the program IPCREMOTEEUID=0 (the master's credentials). */
static void test_spawner_spoofed_unix_peer(void)
{
    if (!need_root())
        return;
    struct it_daemon d;
    int hp = it_free_port(IT_TCP4);
    char *name = it_printf("@superd-spoof-%ld", (long)getpid());
    const char *conf = it_conf_global("user = nobody\nworkers = 1\nshutdown_timeout = 1s\n",
        it_printf("[x]\nprogram = /bin/sh\nargs = -c \"env | grep IPCREMOTEEUID >&2\"\n"
                  "listen = unix:%s\n%s", name, hostile_section(hp)));
    CU_ASSERT_FATAL(it_start(&d, conf) == 0);
    CU_ASSERT_STRING_EQUAL(say(hp, it_printf("spoof 0 %s\n", name), 5), "done\n");
    CU_ASSERT(log_has(&d, "spawner: refused a worker's request: not a connection accepted on "
                          "the service's listeners"));
    /* The accepted end is served as any connection: the worker is the peer. */
    CU_ASSERT(log_has(&d, ": IPCREMOTEEUID=65534\n"));
    CU_ASSERT(strstr(it_stderr(&d), ": IPCREMOTEEUID=0\n") == NULL);
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

/* HIGH 2: a socket with SO_LINGER {1, INT_MAX} and unsent data, refused by
 * the spawner, must not block it in close(). */
static void test_spawner_lingering_socket(void)
{
    if (!need_root())
        return;
    struct it_daemon d;
    int hp = it_free_port(IT_TCP4), xp = it_free_port(IT_TCP4);
    const char *conf = it_conf_global("user = nobody\nworkers = 1\nshutdown_timeout = 1s\n",
        it_printf("[x]\nprogram = %s\nargs = echo\nlisten = tcp://127.0.0.1:%d\n%s",
                  it_xprog(), xp, hostile_section(hp)));
    CU_ASSERT_FATAL(it_start(&d, conf) == 0);
    CU_ASSERT_STRING_EQUAL(say(hp, "linger\n", 5), "done\n");
    CU_ASSERT(log_has(&d, "spawner: refused a worker's request: bad magic"));
    CU_ASSERT_STRING_EQUAL(say(xp, "still served\n", 0), "still served\n");
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

/* MEDIUM b and LOW: datagram requests are capped by max_connections across
 * every service, and only an unnamed unix socketpair is one. */
static void test_spawner_dgram_cap_and_kind(void)
{
    if (!need_root())
        return;
    struct it_daemon d;
    int hp = it_free_port(IT_TCP4), up = it_free_port(IT_UDP4);
    const char *conf = it_conf_global(
        "user = nobody\nworkers = 1\nshutdown_timeout = 1s\nmax_connections = 3\n",
        it_printf("[d]\nprogram = %s\nargs = sleep\nlisten = udp://127.0.0.1:%d\n"
                  "stderr = null\n%s", it_xprog(), up, hostile_section(hp)));
    CU_ASSERT_FATAL(it_start(&d, conf) == 0);
    CU_ASSERT_STRING_EQUAL(say(hp, "dgram 0 6\n", 5), "done\n");
    CU_ASSERT(log_has(&d, "superd: [d] cannot start "));
    CU_ASSERT(log_has(&d, ": 3 programs run already (the limit is max_connections, or 1024 "
                          "without it)"));
    CU_ASSERT_STRING_EQUAL(say(hp, "udp 0\n", 5), "done\n");
    CU_ASSERT(log_has(&d, "spawner: refused a worker's request: not an unnamed unix datagram "
                          "socketpair"));
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

/* Gone: no such process, or a zombie waiting for its reaper. */
static int pid_gone(long pid)
{
    char path[64], buf[512];
    if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
        return 1;
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] == 'Z';
}

/* MEDIUM c: what a program leaves running in its session is killed when
 * it exits. */
static void test_spawner_descendants_killed(void)
{
    struct it_daemon d;
    int xp = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(it_start(&d, it_conf(it_printf(
        "[x]\nprogram = /bin/sh\nargs = -c \"sleep 30 </dev/null >/dev/null 2>&1 & echo $!\"\n"
        "listen = tcp://127.0.0.1:%d\n", xp))) == 0);
    long pid = atol(say(xp, "", 0));
    CU_ASSERT_FATAL(pid > 1);
    int64_t deadline = it_now_ms() + WAIT_MS;
    while (!pid_gone(pid) && it_left_ms(deadline))
        it_sleep_ms(10);
    CU_ASSERT(pid_gone(pid));
    if (!pid_gone(pid))
        kill((pid_t)pid, SIGKILL);
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

/* MEDIUM a: a wait = yes program gets its listener blocking; a reload that
 * gives the address to a plugin must not leave workers blocked in accept. */
static void test_spawner_listener_nonblocking_after_reload(void)
{
    struct it_daemon d;
    int xp = it_free_port(IT_TCP4);
    const char *global = "workers = 1\nshutdown_timeout = 1s\nlog_level = debug\n";
    const char *conf = it_conf_global(global, it_printf(
        "[x]\nprogram = %s\nargs = exit 0\nwait = yes\nlisten = tcp://127.0.0.1:%d\n"
        "stderr = null\n", it_xprog(), xp));
    CU_ASSERT_FATAL(it_start(&d, conf) == 0);
    /* A connection makes the spawner start the program on the listener. */
    int fd = it_tcp_connect(AF_INET, xp);
    CU_ASSERT(fd >= 0);
    CU_ASSERT(log_has(&d, "superd: [x] pid "));
    CU_ASSERT_FATAL(it_write_file(d.conf, it_printf("[superd]\n%s[x]\nplugin = echo\n"
                                                    "listen = tcp://127.0.0.1:%d\n",
                                                    global, xp)) == 0);
    kill(d.pid, SIGHUP);
    CU_ASSERT(log_has(&d, "reload done"));
    CU_ASSERT(it_echo_stream(it_tcp_connect(AF_INET, xp), 1024, "after reload"));
    CU_ASSERT(it_echo_stream(it_tcp_connect(AF_INET, xp), 1024, "after reload, again"));
    if (fd >= 0)
        it_close(fd);
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

/* MEDIUM d: no plugin code runs while a worker holds a wait = yes listener. */
static void test_spawner_plugin_init_without_wait_listener(void)
{
    struct it_daemon d;
    int hp = it_free_port(IT_TCP4), up = it_free_port(IT_UDP4);
    CU_ASSERT_FATAL(it_start(&d, it_conf_global("workers = 1\nlog_level = debug\n",
        it_printf("[w]\nprogram = %s\nargs = udpwait\nwait = yes\nlisten = udp://127.0.0.1:%d\n"
                  "%s", it_xprog(), up, hostile_section(hp)))) == 0);
    CU_ASSERT_STRING_EQUAL(say(hp, "nothing\n", 5), "done\n");   /* a worker serves */
    CU_ASSERT(strstr(it_stderr(&d), "init holds a UDP socket") == NULL);
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

/* LOW: a chroot writable by others is refused, as sshd refuses it. */
static void test_spawner_unsafe_chroot(void)
{
    if (!need_root())
        return;
    char *root = it_path("openroot");
    CU_ASSERT_FATAL(mkdir(root, 0755) == 0 && chmod(root, 0777) == 0);
    /* Only looked at by the configuration check: never started. */
    CU_ASSERT_FATAL(it_write_file(it_printf("%s/xprog", root), "#!/bin/sh\n") == 0);
    chmod(it_printf("%s/xprog", root), 0755);
    struct it_daemon d;
    int xp = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(it_start(&d, it_conf(it_printf(
        "[x]\nprogram = /xprog\nargs = ids\nchroot = %s\nlisten = tcp://127.0.0.1:%d\n",
        root, xp))) == 0);
    CU_ASSERT(log_has(&d, it_printf("superd: [x] chroot %s: %s is not owned by root or is "
                                    "writable by group or others: the program will not be "
                                    "started\n", root, root)));
    CU_ASSERT_STRING_EQUAL(say(xp, "", 0), "");
    CU_ASSERT(log_has(&d, it_printf("superd: [x] cannot start /xprog: chroot: %s is not owned",
                                    root)));
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

/* LOW: a client-chosen unix address reaches the environment escaped. */
static void test_spawner_env_escapes_unix_path(void)
{
    struct it_daemon d;
    char *name = it_printf("@superd-env-%ld", (long)getpid());
    CU_ASSERT_FATAL(it_start(&d, it_conf(it_printf(
        "[x]\nprogram = %s\nargs = env\nlisten = unix:%s\n", it_xprog(), name))) == 0);
    int fd = it_track_fd(socket(AF_UNIX, SOCK_STREAM, 0));
    struct sockaddr_un me = { .sun_family = AF_UNIX }, to = { .sun_family = AF_UNIX };
    const char evil[] = "\0sdt\nFAKE=1";
    memcpy(me.sun_path, evil, sizeof evil - 1);
    CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&me,
                         (socklen_t)(offsetof(struct sockaddr_un, sun_path) + sizeof evil - 1)) == 0);
    size_t l = strlen(name);
    memcpy(to.sun_path, name, l);
    to.sun_path[0] = '\0';
    CU_ASSERT_FATAL(connect(fd, (struct sockaddr *)&to,
                            (socklen_t)(offsetof(struct sockaddr_un, sun_path) + l)) == 0);
    static uint8_t buf[16384];
    struct it_xfer x;
    it_xfer(fd, NULL, 0, 1, NULL, 0, buf, sizeof buf - 1, 0, 1, IT_OP_MS, &x);
    buf[x.rcvd] = '\0';
    const char *env = (const char *)buf;
    CU_ASSERT(it_count_line(env, "IPCREMOTEPATH=@sdt\\x0aFAKE=1") == 1);
    CU_ASSERT(it_count_line(env, "FAKE=1") == 0);
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

static const struct it_test spawner_tests[] = {
    { "spawner: a spoofed unix connection is refused (no IPCREMOTEEUID=0)",
      test_spawner_spoofed_unix_peer },
    { "spawner: a lingering socket does not block it", test_spawner_lingering_socket },
    { "spawner: datagram requests capped; only socketpairs", test_spawner_dgram_cap_and_kind },
    { "spawner: a program's descendants die with it", test_spawner_descendants_killed },
    { "spawner: listeners non-blocking after a wait = yes reload",
      test_spawner_listener_nonblocking_after_reload },
    { "spawner: plugin init never holds a wait = yes listener",
      test_spawner_plugin_init_without_wait_listener },
    { "spawner: an unsafe chroot is refused", test_spawner_unsafe_chroot },
    { "spawner: client-chosen unix paths escaped in the environment",
      test_spawner_env_escapes_unix_path },
};
IT_REGISTER(spawner_tests)
