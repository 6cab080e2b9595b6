/*
 * listeners.c - integration tests of unix socket files as the real superd
 * binary makes and keeps them: the socket_mode a file gets at start and on
 * a reload that keeps it, a squatted path whose backlog is full (start-up
 * and reload must answer at once, not hang in connect()), and a reload
 * that turns unix: into unix-dgram: on one path.
 *
 *     build/tests/listeners BUILD        (BUILD: build, build-asan, ...)
 *
 * Same rules as tests/integration.c: every wait bounded, no timing
 * asserted, the per-test teardown stops whatever is still running.
 * IT_ONLY=substring runs the tests whose names contain it.
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
#include <unistd.h>

/* Exact string compare that shows both strings on a failure. */
#define ASSERT_STR(actual, expected) assert_str((actual), (expected), __LINE__)
static void assert_str(const char *actual, const char *expected, unsigned line)
{
    int ok = actual && strcmp(actual, expected) == 0;

    if (!ok)
        printf("\n    line %u: expected \"%s\"\n             got \"%s\"", line, expected,
               actual ? actual : "(NULL)");
    CU_assertImplementation(ok, line, "exact string", __FILE__, "", CU_FALSE);
}

/* The line of the configuration (NULL: it_dir/superd.ini) that listens
 * on path. */
static int line_of(const char *conf, const char *path)
{
    const char *text = it_read_file(conf ? conf : it_path("superd.ini"));
    const char *p = strstr(text, it_printf(":%s\n", path));

    return p ? it_line_of(text, it_printf("%.*s", (int)strcspn(p, "\n") + 1, p)) : 0;
}

static int mode_of(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

/* The first line of text that starts with prefix (a tracked copy), or NULL. */
static const char *line_with(const char *text, const char *prefix)
{
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, prefix, strlen(prefix)) == 0)
            return it_printf("%.*s", (int)strcspn(p, "\n"), p);
    }
    return NULL;
}

/* Rewrite the configuration and SIGHUP (the first reload of d): returns
 * the line that ends it, "superd: reload done..." or "...failed...". */
static const char *reload(struct it_daemon *d, const char *body)
{
    CU_ASSERT_FATAL(it_conf(body) != NULL);
    kill(d->pid, SIGHUP);
    int64_t deadline = it_now_ms() + IT_START_MS;
    while (it_left_ms(deadline)) {
        char *err = it_stderr(d);
        const char *line = line_with(err, "superd: reload failed");
        if (line || (line = line_with(err, "superd: reload done")))
            return line;
        it_sleep_ms(10);
    }
    printf("\n    the reload did not finish; stderr:\n%s", it_stderr(d));
    return NULL;
}

/* A stream socket at path that listens with a full backlog (never
 * accepts): a non-blocking connect() to it fails with EAGAIN, a blocking
 * one waits for room forever. */
static int squat_full(const char *path)
{
    struct sockaddr_storage ss;
    socklen_t len = it_sa_unix(path, &ss);
    int s = it_track_fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));

    if (s < 0 || bind(s, (struct sockaddr *)&ss, len) < 0 || listen(s, 0) < 0)
        return -1;
    for (int i = 0; i < 16; i++) {
        int c = it_track_fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (connect(c, (struct sockaddr *)&ss, len) < 0)
            return errno == EAGAIN ? s : -1;
    }
    return -1;
}

static char *echo_unix(const char *path, const char *mode)
{
    return it_printf("[echo]\nplugin = echo\nlisten = unix:%s\n%s%s%s", path,
                     mode ? "socket_mode = " : "", mode ? mode : "", mode ? "\n" : "");
}

/* ---- socket_mode ---- */

/* The file is made with the configured mode, whatever the umask. */
static void test_mode_at_start(void)
{
    char *path = it_path("m.sock");
    mode_t saved = umask(077); /* superd inherits it */
    struct it_daemon *d = it_serve(it_conf(echo_unix(path, "0666")));
    umask(saved);
    int fd;

    CU_ASSERT_EQUAL(mode_of(path), 0666);
    fd = it_unix_connect(path);
    CU_ASSERT(it_echo_stream(fd, 1000, "unix, socket_mode = 0666"));
    it_close(fd);
    it_stop_ok(d);
    CU_ASSERT(!it_exists(path));
}

/* A reload that changes socket_mode changes the kept file's mode; the
 * socket (and a connection on it) is the same one. */
static void test_reload_changes_mode(void)
{
    char *path = it_path("kept.sock");
    struct it_daemon *d = it_serve(it_conf(echo_unix(path, "0600")));
    struct stat before, after;
    const char *line;
    int fd;

    CU_ASSERT_EQUAL(mode_of(path), 0600);
    CU_ASSERT_FATAL(lstat(path, &before) == 0);
    fd = it_unix_connect(path);
    CU_ASSERT(it_echo_stream(fd, 100, "before the reload"));

    line = reload(d, echo_unix(path, "0660"));
    ASSERT_STR(line,
                           "superd: reload done: 0 added, 1 kept, 0 removed; 2 new workers");
    CU_ASSERT(it_count_line(it_stderr(d), it_printf("superd: reload: [echo] kept unix %s",
                                                    path)) == 1);
    CU_ASSERT_EQUAL(mode_of(path), 0660);
    CU_ASSERT_FATAL(lstat(path, &after) == 0);
    CU_ASSERT(before.st_ino == after.st_ino);
    CU_ASSERT(it_echo_stream(fd, 100, "the connection from before the reload"));
    it_close(fd);
    fd = it_unix_connect(path);
    CU_ASSERT(it_echo_stream(fd, 100, "after the reload"));
    it_close(fd);
    it_stop_ok(d);
}

/* ---- a squatted path ---- */

/* Another user's socket with a full backlog: start-up exits 1 at once with
 * the line naming service and path, instead of hanging in connect(). */
static void test_squatted_full_backlog_start(void)
{
    char *path = it_path("squat.sock"), *conf, *out, *err;
    const char *args[] = { "-c", NULL, NULL };

    CU_ASSERT_FATAL(squat_full(path) >= 0);
    conf = it_conf(echo_unix(path, NULL));
    args[1] = conf;
    int st = it_run(args, &out, &err);
    if (st == -1)
        printf("\n    superd did not exit within %d ms (blocked on the squatted path)",
               IT_RUN_MS);
    CU_ASSERT(it_exited(st, 1));
    ASSERT_STR(err, it_printf("superd: %s:%d: [echo] listen: %s is in use by a live socket\n",
                              conf, line_of(conf, path), path));
    CU_ASSERT(it_is_socket(path)); /* the squatter's, left alone */
}

/* The same path added by a reload: the reload fails at once, the old
 * configuration keeps serving, and SIGTERM is still heard. */
static void test_squatted_full_backlog_reload(void)
{
    char *path = it_path("ok.sock"), *squat = it_path("squat.sock");
    struct it_daemon *d;
    const char *line;
    int fd;

    CU_ASSERT_FATAL(squat_full(squat) >= 0);
    d = it_serve(it_conf(echo_unix(path, NULL)));
    line = reload(d, it_printf("[echo]\nplugin = echo\nlisten = unix:%s\nlisten = unix:%s\n",
                               path, squat));
    ASSERT_STR(line,
                           it_printf("superd: reload failed, keeping the old configuration: "
                                     "%s/superd.ini:%d: [echo] listen: %s is in use by a live "
                                     "socket", it_dir, line_of(NULL, squat), squat));
    fd = it_unix_connect(path);
    CU_ASSERT(it_echo_stream(fd, 100, "the old configuration"));
    it_close(fd);
    it_stop_ok(d);
    CU_ASSERT(it_is_socket(squat));
}

/* ---- a path changing kind ---- */

/* unix: to unix-dgram: on one path: the reload fails saying it is
 * superd's own socket, and the stream socket keeps serving. */
static void test_reload_kind_change(void)
{
    char *path = it_path("kind.sock");
    struct it_daemon *d = it_serve(it_conf(echo_unix(path, NULL)));
    const char *line;
    int fd;

    line = reload(d, it_printf("[echo]\nplugin = echo\nlisten = unix-dgram:%s\n", path));
    ASSERT_STR(line,
                           it_printf("superd: reload failed, keeping the old configuration: "
                                     "%s/superd.ini:%d: [echo] listen: %s is superd's own unix "
                                     "socket of [echo]: a reload cannot make it a unix-dgram "
                                     "socket; restart superd, or reload once without it first",
                                     it_dir, line_of(NULL, path), path));
    fd = it_unix_connect(path);
    CU_ASSERT(it_echo_stream(fd, 100, "the old unix stream socket"));
    it_close(fd);
    it_stop_ok(d);
    CU_ASSERT(!it_exists(path));
}

/* ---- UDP ports ---- */

/* No other socket can bind beside superd's UDP listener, even one that
 * asks for SO_REUSEADDR: it would receive a share of the datagrams. */
static void test_udp_port_not_shareable(void)
{
    int port = it_free_port(IT_UDP4);
    struct sockaddr_storage ss;
    socklen_t len = it_sa_inet(AF_INET, port, &ss);
    struct it_daemon *d;
    int one = 1, s, r, e;

    CU_ASSERT_FATAL(port > 0);
    d = it_serve(it_conf(it_printf("[echo]\nplugin = echo\nlisten = udp://127.0.0.1:%d\n", port)));
    s = it_track_fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    CU_ASSERT_FATAL(s >= 0);
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    r = bind(s, (struct sockaddr *)&ss, len);
    e = errno;
    CU_ASSERT_EQUAL(r, -1);
    CU_ASSERT_EQUAL(e, EADDRINUSE);
    it_stop_ok(d);
}

/* reuseport = yes: a second instance binds the same TCP and UDP port and
 * both serve; without it, the second start fails naming the address. */
static void test_reuseport_two_instances(void)
{
    int port = it_free_port(IT_TCP4 | IT_UDP4);
    char *body = it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d "
                           "udp://127.0.0.1:%d\nreuseport = yes\n", port, port);
    char *c1 = it_path("one.ini"), *c2 = it_path("two.ini");
    struct it_daemon *a = it_alloc(sizeof(*a)), *b = it_alloc(sizeof(*b));
    const char *args[3];
    char *out, *err;
    int st;

    CU_ASSERT_FATAL(port > 0);
    CU_ASSERT_FATAL(it_write_file(c1, it_printf("[superd]\nplugin_dir = %s\nworkers = 1\n%s",
                                                it_plugin_dir, body)) == 0);
    CU_ASSERT_FATAL(it_write_file(c2, it_printf("[superd]\nplugin_dir = %s\nworkers = 1\n%s",
                                                it_plugin_dir, body)) == 0);
    CU_ASSERT_FATAL(it_start(a, c1) == 0);
    CU_ASSERT_FATAL(it_start(b, c2) == 0);
    for (int i = 0; i < 8; i++) {
        int fd = it_tcp_connect(AF_INET, port);
        CU_ASSERT(it_echo_stream(fd, 100, "echo through either instance"));
        it_close(fd);
    }
    /* One instance stops (a rolling upgrade): the other serves on. */
    CU_ASSERT(it_stop(a, SIGTERM) == 0);
    {
        int fd = it_tcp_connect(AF_INET, port);
        CU_ASSERT(it_echo_stream(fd, 100, "echo after the other stopped"));
        it_close(fd);
    }
    /* Without reuseport the port is superd's alone. */
    CU_ASSERT_FATAL(it_write_file(c1, it_printf("[superd]\nplugin_dir = %s\nworkers = 1\n"
                                                "[echo]\nplugin = echo\n"
                                                "listen = tcp://127.0.0.1:%d\n",
                                                it_plugin_dir, port)) == 0);
    args[0] = "-c";
    args[1] = c1;
    args[2] = NULL;
    st = it_run(args, &out, &err);
    CU_ASSERT(it_exited(st, 1));
    CU_ASSERT(strstr(err, it_printf("[echo] listen: cannot bind tcp 127.0.0.1:%d: Address "
                                    "already in use", port)) != NULL);
    CU_ASSERT(it_stop(b, SIGTERM) == 0);
}

static const struct it_test tests[] = {
    { "socket_mode: the file is made with it (umask 077)", test_mode_at_start },
    { "reload: a kept unix socket gets the new socket_mode", test_reload_changes_mode },
    { "start: squatted path with a full backlog: exit 1 at once",
      test_squatted_full_backlog_start },
    { "reload: squatted path with a full backlog: fails at once, old one serves",
      test_squatted_full_backlog_reload },
    { "reload: unix: to unix-dgram: names superd's own socket", test_reload_kind_change },
    { "udp: no other socket can bind beside a listener", test_udp_port_not_shareable },
    { "reuseport: two instances share a port", test_reuseport_two_instances },
};

int main(int argc, char **argv)
{
    return it_main(argc, argv, "listeners", "unix socket files", tests,
                   sizeof(tests) / sizeof(tests[0]));
}
