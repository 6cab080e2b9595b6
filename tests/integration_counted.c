/*
 * integration_counted.c - limits that cannot switch off (issue 9): the
 * real superd on loopback.  Service names cycled over many reloads keep
 * their limits; a configuration with more services than superd can count
 * is refused with one line (at start-up and on reload); workers killed
 * under connection load leave no connection counted, so a source still
 * gets exactly max_per_source and the service max_connections.
 *
 * Linked into build/tests/integration; registered in tests/integration.c.
 */
#include "integration_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

void test_counted_reload_names(void);
void test_counted_too_many_services(void);
void test_counted_kills_under_load(void);

#define LOG_MS 5000

/* Lines of the daemon's stderr that start with prefix, waiting until
 * there are at least n (up to LOG_MS).  Returns how many there are. */
static int wait_lines(struct it_daemon *d, const char *prefix, int n)
{
    int64_t deadline = it_now_ms() + LOG_MS;
    int got;
    while ((got = it_count_prefix(it_stderr(d), prefix)) < n && it_left_ms(deadline))
        it_sleep_ms(5);
    if (got < n)
        printf("\n    %d lines \"%s\", expected %d; stderr ends:\n%s\n", got, prefix, n,
               it_last_line(it_stderr(d)));
    return got;
}

/* A connection from source address src (127.0.0.0/8 is all loopback). */
static int connect_from(const char *src, int port)
{
    struct sockaddr_storage to;
    struct sockaddr_in from = { .sin_family = AF_INET };
    socklen_t tolen = it_sa_inet(AF_INET, port, &to);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    it_track_fd(fd);
    inet_pton(AF_INET, src, &from.sin_addr);
    if (bind(fd, (struct sockaddr *)&from, sizeof from) < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&to, tolen) < 0) {
        struct pollfd pfd = { fd, POLLOUT, 0 };
        int err = 0;
        socklen_t len = sizeof err;
        if (errno != EINPROGRESS || poll(&pfd, 1, IT_OP_MS) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err)
            return -1;
    }
    return fd;
}

/* Served: 100 bytes echoed. */
static int served(int fd, const char *what)
{
    return fd >= 0 && it_echo_stream(fd, 100, what);
}

/* Refused: closed at once without a byte. */
static int refused(int fd, const char *what)
{
    struct it_xfer x;
    if (fd < 0)
        return 0;
    it_xfer(fd, NULL, 0, 0, NULL, 0, NULL, 0, 0, 1, IT_OP_MS, &x);
    if ((x.eof || x.err == ECONNRESET) && x.rcvd == 0)
        return 1;
    printf("\n    %s: expected to be refused (EOF, no data), got %zu bytes\n", what, x.rcvd);
    return 0;
}

static const char *service(const char *name, int port, const char *limits)
{
    return it_printf("[%s]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n%s\n", name, port, limits);
}

/*
 * 140 reloads, each naming the one service differently (more names than
 * superd has counter slots): after every tenth, max_connections = 1 still
 * holds (superd used to run out of slots after 128 names and then admit
 * everything).
 */
void test_counted_reload_names(void)
{
    int port = it_free_port(IT_TCP4);
    struct it_daemon *d = it_alloc(sizeof *d);
    char *global = "workers = 1\nshutdown_timeout = 100ms\n";
    CU_ASSERT_FATAL(port > 0);
    CU_ASSERT_FATAL(it_start(d, it_conf_global(global, service("name0", port,
                                                             "max_connections = 1"))) == 0);
    for (int i = 1; i <= 140; i++) {
        it_conf_global(global, service(it_printf("name%d", i), port, "max_connections = 1"));
        kill(d->pid, SIGHUP);
        if (wait_lines(d, "superd: reload done: ", i) < i) {
            CU_FAIL("reload not done");
            break;
        }
        if (i % 10)
            continue;
        int a = connect_from("127.0.0.1", port);
        CU_ASSERT(served(a, it_printf("first connection after reload %d", i)));
        int b = connect_from("127.0.0.1", port);
        CU_ASSERT(refused(b, it_printf("second connection after reload %d", i)));
        it_close(a);
        it_close(b);
    }
    CU_ASSERT(it_count_prefix(it_stderr(d), "superd: reload failed") == 0);
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

/* 129 services: refused at start-up with one line, exit 1, no socket
 * file left; on reload, refused and the old configuration serves on. */
void test_counted_too_many_services(void)
{
    char *body = it_printf("%s", "");
    for (int i = 0; i < 129; i++)
        body = it_printf("%s[s%d]\nplugin = discard\nlisten = unix:%s\n", body, i,
                         it_path(it_printf("s%d.sock", i)));
    char *conf = it_conf_global("workers = 1\n", body);
    char *out, *err;
    const char *args[] = { "-c", conf, NULL };
    int st = it_run(args, &out, &err);
    CU_ASSERT(it_exited(st, 1));
    CU_ASSERT(it_count_line(err, it_printf("superd: %s: 129 services, but superd can count "
                                           "(limits and statistics) at most 128", conf)) == 1);
    CU_ASSERT(!it_exists(it_path("s0.sock")));
    CU_ASSERT(!it_exists(it_path("s128.sock")));

    int port = it_free_port(IT_TCP4);
    struct it_daemon *d = it_alloc(sizeof *d);
    CU_ASSERT_FATAL(it_start(d, it_conf_global("workers = 1\nshutdown_timeout = 100ms\n",
                                               service("echo", port, ""))) == 0);
    it_conf_global("workers = 1\n", body);
    kill(d->pid, SIGHUP);
    CU_ASSERT(wait_lines(d, "superd: reload failed, keeping the old configuration: ", 1) == 1);
    CU_ASSERT(it_count_line(it_stderr(d), it_printf("superd: reload failed, keeping the old "
                            "configuration: %s: 129 services, but superd can count (limits and "
                            "statistics) at most 128", conf)) == 1);
    CU_ASSERT(served(connect_from("127.0.0.1", port), "echo after the refused reload"));
    CU_ASSERT(!it_exists(it_path("s0.sock")));
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

/* The daemon's children (its workers). */
static int children(pid_t pid, int *out, int max)
{
    char *text = it_read_file(it_printf("/proc/%d/task/%d/children", (int)pid, (int)pid));
    int n = 0;
    for (char *p = text; *p && n < max;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        out[n++] = (int)v;
        for (p = end; *p == ' ' || *p == '\n'; p++)
            ;
    }
    return n;
}

/* A client process that opens and closes connections from 127.0.0.1 in a
 * loop (some refused: over the limits), until killed. */
static pid_t load(int port)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    for (;;) {
        int fd[4];
        for (int i = 0; i < 4; i++) {
            struct sockaddr_storage to;
            socklen_t len = it_sa_inet(AF_INET, port, &to);
            fd[i] = socket(AF_INET, SOCK_STREAM, 0);
            if (fd[i] >= 0 && connect(fd[i], (struct sockaddr *)&to, len) == 0)
                (void)!write(fd[i], "x", 1);
        }
        for (int i = 0; i < 4; i++)
            if (fd[i] >= 0)
                close(fd[i]);
    }
}

/*
 * 100 worker kills (SIGKILL) while a client opens and closes connections
 * as fast as it can; then 127.0.0.1 still gets exactly max_per_source = 3
 * connections, and 127.0.0.2 the remaining 2 of max_connections = 5.
 */
void test_counted_kills_under_load(void)
{
    int port = it_free_port(IT_TCP4);
    struct it_daemon *d = it_alloc(sizeof *d);
    CU_ASSERT_FATAL(port > 0);
    CU_ASSERT_FATAL(it_start(d, it_conf_global("workers = 2\nshutdown_timeout = 100ms\n",
                                               service("echo", port, "max_per_source = 3\n"
                                                       "max_connections = 5"))) == 0);
    pid_t client = load(port);
    CU_ASSERT_FATAL(client > 0);
    int kills = 0;
    int64_t deadline = it_now_ms() + IT_TEST_MS;
    while (kills < 100 && it_left_ms(deadline)) {
        int w[8], n = children(d->pid, w, 8);
        if (n < 2) {    /* wait for the replacement */
            it_sleep_ms(2);
            continue;
        }
        it_sleep_ms(1 + kills % 7);
        kill(w[kills % n], SIGKILL);
        kills++;
    }
    kill(client, SIGKILL);
    waitpid(client, NULL, 0);
    CU_ASSERT_EQUAL(kills, 100);
    /* Let the last connections close and the replacements start. */
    int w[8];
    while (children(d->pid, w, 8) < 2 && it_left_ms(deadline))
        it_sleep_ms(5);
    it_sleep_ms(200);
    int fd[6];
    for (int i = 0; i < 3; i++) {
        fd[i] = connect_from("127.0.0.1", port);
        CU_ASSERT(served(fd[i], it_printf("connection %d of 3 from 127.0.0.1", i + 1)));
    }
    CU_ASSERT(refused(connect_from("127.0.0.1", port), "a fourth from 127.0.0.1"));
    for (int i = 3; i < 5; i++) {
        fd[i] = connect_from("127.0.0.2", port);
        CU_ASSERT(served(fd[i], it_printf("connection %d of 5", i + 1)));
    }
    CU_ASSERT(refused(connect_from("127.0.0.3", port), "a sixth connection"));
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}
