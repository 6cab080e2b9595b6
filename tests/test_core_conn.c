/*
 * test_core_conn.c - the stream connection layer driven for real, without
 * the daemon: a configuration naming the good test plugin (which echoes)
 * and a unix stream listener in a private directory, loaded and bound by
 * the worker, its listener registered on the worker's loop as worker.c's
 * start() does, and client sockets on the other end.  The loop is turned
 * by hand (loop_run_once, then conn_reap), every wait bounded by
 * iterations and time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "conn.h"
#include "dgram.h"
#include "loop.h"
#include "worker.h"
#include "plugins/good.h"
#include "test_core.h"

#ifndef TEST_PLUGIN_DIR
#error "TEST_PLUGIN_DIR must name the directory of the built test plugins"
#endif

/* Longest any one wait may take. */
#define WAIT_MS 5000
/* The most a flooding client sends: far past the high-water mark and every
 * socket buffer, so a worker that never pauses fails instead of eating
 * memory. */
#define FLOOD_MAX (16 * 1024 * 1024)

static struct {
    char dir[64];
    char sock[100];             /* fits sun_path */
    char why[CONF_ERR_MAX];     /* why set-up failed, or "" */
    struct conf *conf;
    struct lsn_set set;         /* bound as the master does */
    struct worker wk;
    bool loaded;                /* worker_fini is owed */
    bool ready;
} fx;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Byte i of the stream a client sends: not periodic in a power of two. */
static char pat(size_t i)
{
    return (char)(i % 251);
}

static void fill(char *p, size_t from, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pat(from + i);
}

/* Offset of the first byte that is not the pattern, or -1. */
static long long mismatch(const char *p, size_t from, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pat(from + i))
            return (long long)(from + i);
    return -1;
}

static void conn_setup(void)
{
    char text[1024];
    memset(&fx, 0, sizeof fx);
    fx.wk.loop.epfd = -1;
    snprintf(fx.dir, sizeof fx.dir, "/tmp/superd-unit-conn-XXXXXX");
    if (!mkdtemp(fx.dir)) {
        snprintf(fx.why, sizeof fx.why, "mkdtemp: %s", strerror(errno));
        fx.dir[0] = '\0';
        return;
    }
    snprintf(fx.sock, sizeof fx.sock, "%s/echo.sock", fx.dir);
    snprintf(text, sizeof text, "[svc]\nplugin = %s/good.so\nlisten = unix:echo.sock\n",
             TEST_PLUGIN_DIR);
    char path[128];
    snprintf(path, sizeof path, "%s/superd.ini", fx.dir);
    if (conf_load_string(text, path, &fx.conf, fx.why, sizeof fx.why) < 0)
        return;
    fx.loaded = true;
    if (worker_load(&fx.wk, fx.conf, NULL, -1, fx.why, sizeof fx.why) < 0 ||
        lsn_set_bind(&fx.set, fx.conf, NULL, fx.why, sizeof fx.why) < 0)
        return;
    int r = worker_attach(&fx.wk, &fx.set);
    if (r == 0)
        r = worker_start(&fx.wk);
    if (r < 0) {
        snprintf(fx.why, sizeof fx.why, "worker_start: %s", strerror(-r));
        return;
    }
    fx.ready = true;
}

static void conn_teardown(void)
{
    if (fx.loaded)
        worker_fini(&fx.wk);
    lsn_set_close(&fx.set);
    conf_free(fx.conf);
    if (fx.dir[0]) {
        unlink(fx.sock);
        rmdir(fx.dir);
    }
    memset(&fx, 0, sizeof fx);
}

/* What the good plugin saw: its service data. */
static struct good_state *good(void)
{
    return superd_service_data(&fx.wk.svcs[0]);
}

/* Every test starts with this: a failed set-up says why. */
#define REQUIRE_READY()                    \
    do {                                   \
        ASSERT_STR_FATAL(fx.why, "");      \
        CU_ASSERT_FATAL(fx.ready);         \
    } while (0)

/* One turn of the worker's loop, then the deferred frees, as worker_run. */
static void turn(int timeout_ms)
{
    int r = loop_run_once(&fx.wk.loop, timeout_ms);
    CU_ASSERT(r >= 0);
    conn_reap(&fx.wk.srv.conns);
}

/* Turn the loop until the worker holds `n` connections. */
static bool wait_nlive(size_t n)
{
    long long deadline = now_ms() + WAIT_MS;
    for (int i = 0; i < 10000 && now_ms() < deadline; i++) {
        if (fx.wk.srv.conns.nlive == n)
            return true;
        turn(10);
    }
    return fx.wk.srv.conns.nlive == n;
}

/* A connected non-blocking client, accepted by the worker. */
static int client(void)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", fx.sock);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    CU_ASSERT_FATAL(fd >= 0);
    size_t before = fx.wk.srv.conns.nlive;
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
        close(fd);
        CU_FAIL_FATAL("connect to the worker's unix listener failed");
    }
    CU_ASSERT_FATAL(wait_nlive(before + 1));
    return fd;
}

/* Send msg, then turn the loop until it all came back. */
static void round_trip(int fd, const char *msg)
{
    size_t len = strlen(msg), got = 0;
    char back[256] = "";
    CU_ASSERT_FATAL(len < sizeof back);
    CU_ASSERT_EQUAL_FATAL(send(fd, msg, len, MSG_NOSIGNAL), (ssize_t)len);
    long long deadline = now_ms() + WAIT_MS;
    for (int i = 0; i < 10000 && got < len && now_ms() < deadline; i++) {
        turn(10);
        ssize_t n = recv(fd, back + got, sizeof back - 1 - got, MSG_DONTWAIT);
        if (n > 0)
            got += (size_t)n;
        else if (n == 0)
            break;
    }
    back[got] = '\0';
    ASSERT_STR(back, msg);
}

/*
 * Write as much as the worker takes from a client that never reads, until
 * the connection stops reading.  Returns the bytes sent; *max_queued gets
 * the largest output queue seen.
 */
static size_t flood_until_paused(int fd, struct superd_conn *sc, size_t *max_queued)
{
    static char chunk[64 * 1024];
    size_t sent = 0;
    long long deadline = now_ms() + WAIT_MS;
    for (int i = 0; i < 20000 && sent < FLOOD_MAX && now_ms() < deadline; i++) {
        fill(chunk, sent, sizeof chunk);
        ssize_t n = send(fd, chunk, sizeof chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0)
            sent += (size_t)n;
        turn(n > 0 ? 0 : 10);
        CU_ASSERT_EQUAL_FATAL(fx.wk.srv.conns.nlive, 1);
        if (buf_len(&sc->out) > *max_queued)
            *max_queued = buf_len(&sc->out);
        if (!(sc->w.events & LOOP_READABLE))
            break;
    }
    return sent;
}

static void test_echo_round_trip(void)
{
    REQUIRE_READY();
    int fd = client();
    CU_ASSERT_EQUAL(fx.wk.srv.conns.nlive, 1);
    struct superd_conn *sc = fx.wk.srv.conns.live;
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    /* An unbound unix client has no name. */
    ASSERT_STR(superd_peer(sc), "unix:");
    CU_ASSERT_EQUAL(sc->w.events, LOOP_READABLE);
    round_trip(fd, "hello, superd\n");
    round_trip(fd, "and again\n");
    /* Nothing is kept between requests: an idle connection holds no buffer. */
    CU_ASSERT_PTR_NULL(sc->in.data);
    CU_ASSERT_PTR_NULL(sc->out.data);
    CU_ASSERT_EQUAL(good()->opens, 1);
    CU_ASSERT_EQUAL(good()->bytes_in, 24);
    CU_ASSERT_EQUAL(good()->closes, 0);
    close(fd);
    CU_ASSERT(wait_nlive(0));
    CU_ASSERT_EQUAL(good()->closes, 1);
}

/*
 * A client that writes and never reads: the output queue grows to the
 * high-water mark, then the connection stops reading (LOOP_READABLE off) and
 * memory stays bounded.  When the client reads, everything comes back in
 * order, reading resumes and the queue drains to nothing.
 */
static void test_backpressure(void)
{
    REQUIRE_READY();
    static char chunk[64 * 1024];
    int fd = client();
    struct superd_conn *sc = fx.wk.srv.conns.live;
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    size_t max_q = 0;
    size_t sent = flood_until_paused(fd, sc, &max_q);
    CU_ASSERT_FATAL(!(sc->w.events & LOOP_READABLE));
    size_t q = buf_len(&sc->out);
    CU_ASSERT(q >= CONN_OUT_HIGH);
    CU_ASSERT(q < CONN_OUT_HIGH + CONN_IN_MAX);
    CU_ASSERT(sc->w.events & LOOP_WRITABLE);
    CU_ASSERT_EQUAL(superd_queued(sc), q);

    /* While paused, more input is not read: the queue does not grow. */
    for (int i = 0; i < 50; i++) {
        fill(chunk, sent, sizeof chunk);
        ssize_t n = send(fd, chunk, sizeof chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0)
            sent += (size_t)n;
        turn(1);
        CU_ASSERT_FALSE(sc->w.events & LOOP_READABLE);
        if (buf_len(&sc->out) > max_q)
            max_q = buf_len(&sc->out);
    }
    CU_ASSERT_EQUAL(buf_len(&sc->out), q);

    /* Other clients are served meanwhile. */
    int other = client();
    round_trip(other, "still serving\n");
    close(other);
    CU_ASSERT(wait_nlive(1));
    CU_ASSERT_PTR_EQUAL(fx.wk.srv.conns.live, sc);

    /* The client reads: every byte comes back, in order. */
    size_t got = 0;
    long long bad = -1;
    bool resumed = false;
    long long deadline = now_ms() + WAIT_MS;
    for (int i = 0; i < 200000 && got < sent && now_ms() < deadline; i++) {
        ssize_t n = recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
        if (n > 0) {
            if (bad < 0)
                bad = mismatch(chunk, got, (size_t)n);
            got += (size_t)n;
        } else if (n == 0) {
            break;
        }
        turn(n > 0 ? 0 : 10);
        if (fx.wk.srv.conns.nlive != 1)
            break;
        if (sc->w.events & LOOP_READABLE)
            resumed = true;
        if (buf_len(&sc->out) > max_q)
            max_q = buf_len(&sc->out);
    }
    CU_ASSERT_EQUAL_FATAL(fx.wk.srv.conns.nlive, 1);
    CU_ASSERT_EQUAL(got, sent);
    CU_ASSERT_EQUAL(bad, -1);
    CU_ASSERT(resumed);
    CU_ASSERT(max_q < CONN_OUT_HIGH + CONN_IN_MAX);
    CU_ASSERT_EQUAL(buf_len(&sc->out), 0);
    CU_ASSERT_PTR_NULL(sc->out.data);
    CU_ASSERT_EQUAL(sc->w.events, LOOP_READABLE);
    close(fd);
    CU_ASSERT(wait_nlive(0));
}

/*
 * Half-close: the client sends, shuts down its sending side while the
 * worker still holds queued output for it, and still gets every byte,
 * then EOF; the worker then frees the connection.
 */
static void test_half_close(void)
{
    REQUIRE_READY();
    static char chunk[64 * 1024];
    int fd = client();
    struct superd_conn *sc = fx.wk.srv.conns.live;
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    size_t sent = 0;
    long long deadline = now_ms() + WAIT_MS;
    for (int i = 0; i < 20000 && buf_len(&sc->out) == 0 && sent < FLOOD_MAX && now_ms() < deadline;
         i++) {
        fill(chunk, sent, sizeof chunk);
        ssize_t n = send(fd, chunk, sizeof chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0)
            sent += (size_t)n;
        turn(n > 0 ? 0 : 10);
    }
    CU_ASSERT_FATAL(buf_len(&sc->out) > 0);
    CU_ASSERT_EQUAL_FATAL(shutdown(fd, SHUT_WR), 0);

    size_t got = 0;
    long long bad = -1;
    bool eof = false;
    deadline = now_ms() + WAIT_MS;
    for (int i = 0; i < 200000 && !eof && now_ms() < deadline; i++) {
        ssize_t n = recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
        if (n > 0) {
            if (bad < 0)
                bad = mismatch(chunk, got, (size_t)n);
            got += (size_t)n;
        } else if (n == 0) {
            eof = true;
            break;
        }
        turn(n > 0 ? 0 : 10);
    }
    CU_ASSERT_EQUAL(got, sent);
    CU_ASSERT_EQUAL(bad, -1);
    CU_ASSERT(eof);
    CU_ASSERT(wait_nlive(0));
    close(fd);
}

/* A client that closes is freed, idle or with output still queued. */
static void test_client_close_frees(void)
{
    REQUIRE_READY();
    int fd = client();
    round_trip(fd, "bye\n");
    close(fd);
    CU_ASSERT(wait_nlive(0));
    CU_ASSERT_PTR_NULL(fx.wk.srv.conns.live);
    CU_ASSERT_PTR_NULL(fx.wk.srv.conns.dead);

    fd = client();
    size_t max_q = 0;
    flood_until_paused(fd, fx.wk.srv.conns.live, &max_q);
    CU_ASSERT(max_q >= CONN_OUT_HIGH);
    close(fd);
    CU_ASSERT(wait_nlive(0));
    CU_ASSERT_PTR_NULL(fx.wk.srv.conns.live);
    CU_ASSERT_PTR_NULL(fx.wk.srv.conns.dead);
    /* on_close exactly once for every connection. */
    CU_ASSERT_EQUAL(good()->opens, 2);
    CU_ASSERT_EQUAL(good()->closes, 2);
}

/*
 * A unix client that writes its request and closes at once: the bytes are
 * in the socket, so the plugin must still be offered them, as over TCP
 * (where the FIN arrives after the data).
 * Over a unix stream socket the peer's close raises EPOLLHUP together
 * with LOOP_READABLE.
 */
static void test_send_then_close(void)
{
    REQUIRE_READY();
    int fd = client();
    static const char msg[] = "fire and forget\n";
    CU_ASSERT_EQUAL_FATAL(send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL), (ssize_t)(sizeof msg - 1));
    close(fd);
    CU_ASSERT(wait_nlive(0));
    tc_assert_long((long)good()->bytes_in, (long)(sizeof msg - 1), "bytes offered to on_data",
                   __LINE__, __FILE__);
    CU_ASSERT_EQUAL(good()->closes, 1);
}

/* More clients than one accept batch: all accepted, all served. */
static void test_many_clients(void)
{
    REQUIRE_READY();
    enum { N = CONN_ACCEPT_BATCH * 2 + 3 };
    int fds[N];
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", fx.sock);
    for (int i = 0; i < N; i++) {
        fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        CU_ASSERT_FATAL(fds[i] >= 0);
        CU_ASSERT_EQUAL_FATAL(connect(fds[i], (struct sockaddr *)&sun, sizeof sun), 0);
    }
    CU_ASSERT(wait_nlive(N));
    for (int i = 0; i < N; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "client %d\n", i);
        round_trip(fds[i], msg);
    }
    for (int i = 0; i < N; i++)
        close(fds[i]);
    CU_ASSERT(wait_nlive(0));
    CU_ASSERT_EQUAL(good()->opens, N);
    CU_ASSERT_EQUAL(good()->closes, N);
}

/* worker_fini closes the connections and the worker's listener copies
 * but leaves the socket file to the master; closing the master's set
 * removes it. */
static void test_fini_removes_socket(void)
{
    REQUIRE_READY();
    CU_ASSERT_EQUAL(access(fx.sock, F_OK), 0);
    int fd = client();
    worker_fini(&fx.wk);
    fx.loaded = false;
    CU_ASSERT_EQUAL(access(fx.sock, F_OK), 0);
    /* The client sees the close. */
    char c;
    CU_ASSERT_EQUAL(recv(fd, &c, 1, MSG_DONTWAIT), 0);
    lsn_set_close(&fx.set);
    CU_ASSERT_EQUAL(access(fx.sock, F_OK), -1);
    CU_ASSERT_EQUAL(errno, ENOENT);
    close(fd);
}

int test_core_conn_register(void)
{
    static const struct tc_test tests[] = {
        { "echo round trip through the worker", test_echo_round_trip },
        { "a client that never reads: reading pauses, memory bounded, then drains",
          test_backpressure },
        { "half-close: queued bytes, then EOF", test_half_close },
        { "a closed client is freed", test_client_close_frees },
        { "a unix client that sends and closes at once is still heard",
          test_send_then_close },
        { "more clients than one accept batch", test_many_clients },
        { "socket file: kept by worker_fini, removed with the master's set", test_fini_removes_socket },
    };
    return tc_register("core: stream connections", conn_setup, conn_teardown, tests,
                       sizeof tests / sizeof tests[0]);
}
