/*
 * test_core_loop.c - the event loop's timers and settle list, and the
 * connection layer served from a bare serving context (no worker): the
 * relay test plugin writes from one connection's callback to another,
 * which must be settled (its output armed, its close done) before it has
 * an event of its own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <superd/plugin.h>

#include "buf.h"
#include "config.h"
#include "conn.h"
#include "listener.h"
#include "loop.h"
#include "serve.h"
#include "service.h"
#include "test_core.h"

#ifndef TEST_PLUGIN_DIR
#error "TEST_PLUGIN_DIR must name the directory of the built test plugins"
#endif

#define WAIT_MS 5000
#define NTIMERS 600

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- timers ---- */

struct tt {
    struct loop_timer t;
    long long due;
    int fired;
    bool stopped;
};

static struct tt timers[NTIMERS];
static struct tt *order[NTIMERS];
static int nfired;

static void tt_fired(struct loop_timer *t)
{
    struct tt *x = (struct tt *)t;
    x->fired++;
    if (nfired < NTIMERS)
        order[nfired++] = x;
}

/* Hundreds of timers started in random order, a third stopped: the rest
 * fire once each, in the order they are due. */
static void test_timer_heap_order(void)
{
    struct loop l;
    CU_ASSERT_FATAL(loop_init(&l) == 0);
    nfired = 0;
    srand(42);
    for (int i = 0; i < NTIMERS; i++) {
        timers[i] = (struct tt){ 0 };
        loop_timer_init(&timers[i].t, tt_fired);
        long long after = rand() % 40;
        CU_ASSERT_FATAL(loop_timer_start(&l, &timers[i].t, after) == 0);
        timers[i].due = timers[i].t.due;
    }
    /* Re-arming moves a timer; stopping one removes it from anywhere. */
    CU_ASSERT(loop_timer_start(&l, &timers[0].t, 5) == 0);
    timers[0].due = timers[0].t.due;
    int expect = 0;
    for (int i = 0; i < NTIMERS; i++) {
        if (i % 3 == 1) {
            loop_timer_stop(&l, &timers[i].t);
            loop_timer_stop(&l, &timers[i].t);  /* twice: a no-op */
            timers[i].stopped = true;
        } else {
            expect++;
        }
    }
    CU_ASSERT_EQUAL(l.ntimers, (size_t)expect);
    long long deadline = now_ms() + WAIT_MS;
    while (l.ntimers && now_ms() < deadline)
        CU_ASSERT(loop_run_once(&l, 100) >= 0);
    CU_ASSERT_EQUAL(nfired, expect);
    for (int i = 0; i < NTIMERS; i++) {
        CU_ASSERT_EQUAL(timers[i].fired, timers[i].stopped ? 0 : 1);
        CU_ASSERT_FALSE(loop_timer_armed(&timers[i].t));
    }
    for (int i = 1; i < nfired; i++)
        CU_ASSERT(order[i - 1]->due <= order[i]->due);
    loop_fini(&l);
}

static struct loop *self_loop;
static int self_runs;

static void rearm_now(struct loop_timer *t)
{
    self_runs++;
    loop_timer_start(self_loop, t, 0);
}

/* A timer that re-arms itself with 0 ms runs once per turn: it cannot
 * hold the loop. */
static void test_timer_rearm_zero(void)
{
    struct loop l;
    struct loop_timer t;
    CU_ASSERT_FATAL(loop_init(&l) == 0);
    self_loop = &l;
    self_runs = 0;
    loop_timer_init(&t, rearm_now);
    CU_ASSERT_FATAL(loop_timer_start(&l, &t, 0) == 0);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(loop_run_once(&l, 1000), 1);
    CU_ASSERT_EQUAL(self_runs, 3);
    loop_timer_stop(&l, &t);
    CU_ASSERT_EQUAL(l.ntimers, 0);
    loop_fini(&l);
}

/* ---- the settle list ---- */

static struct loop_pending pa, pb;
static int ran_a, ran_b;
static struct loop *pend_loop;

static void run_b(struct loop_pending *p)
{
    (void)p;
    ran_b++;
}

static void run_a(struct loop_pending *p)
{
    (void)p;
    ran_a++;
    loop_pending_add(pend_loop, &pb);   /* queued while draining: runs too */
}

static void test_pending(void)
{
    struct loop l;
    CU_ASSERT_FATAL(loop_init(&l) == 0);
    pend_loop = &l;
    ran_a = ran_b = 0;
    pa = (struct loop_pending){ .fn = run_a };
    pb = (struct loop_pending){ .fn = run_b };
    loop_pending_add(&l, &pa);
    loop_pending_add(&l, &pa);  /* already queued: once */
    loop_pending_run(&l);
    CU_ASSERT_EQUAL(ran_a, 1);
    CU_ASSERT_EQUAL(ran_b, 1);
    CU_ASSERT_PTR_NULL(l.pending);
    loop_pending_add(&l, &pb);
    loop_pending_del(&l, &pb);
    loop_pending_run(&l);
    CU_ASSERT_EQUAL(ran_b, 1);
    /* Queued outside every callback: settled at the next turn. */
    loop_pending_add(&l, &pb);
    CU_ASSERT(loop_run_once(&l, 0) >= 0);
    CU_ASSERT_EQUAL(ran_b, 2);
    loop_fini(&l);
}

/* ---- connections on a bare serving context ---- */

static struct {
    char dir[64];
    char sock[100];
    char why[CONF_ERR_MAX];
    struct conf *conf;
    struct loop loop;
    struct serve srv;
    struct superd_service svc;
    struct listener lsn;
    bool started;
} fx;

static void serve_setup(void)
{
    char text[512], path[128];
    memset(&fx, 0, sizeof fx);
    fx.loop.epfd = -1;
    fx.lsn.fd = -1;
    snprintf(fx.dir, sizeof fx.dir, "/tmp/superd-unit-loop-XXXXXX");
    if (!mkdtemp(fx.dir)) {
        snprintf(fx.why, sizeof fx.why, "mkdtemp: %s", strerror(errno));
        fx.dir[0] = '\0';
        return;
    }
    snprintf(fx.sock, sizeof fx.sock, "%s/relay.sock", fx.dir);
    snprintf(text, sizeof text, "[relay]\nplugin = %s/relay.so\nlisten = unix:relay.sock\n",
             TEST_PLUGIN_DIR);
    snprintf(path, sizeof path, "%s/superd.ini", fx.dir);
    if (conf_load_string(text, path, &fx.conf, fx.why, sizeof fx.why) < 0)
        return;
    if (loop_init(&fx.loop) < 0) {
        snprintf(fx.why, sizeof fx.why, "loop_init failed");
        return;
    }
    fx.srv = (struct serve){ .loop = &fx.loop, .conf = fx.conf, .stats_row = -1, .spare_fd = -1 };
    fx.started = true;
    if (service_start(&fx.svc, fx.conf, &fx.conf->svcs[0], &fx.srv, fx.why, sizeof fx.why) < 0)
        return;
    fx.lsn.addr = fx.conf->svcs[0].addrs[0];
    fx.lsn.svc = &fx.svc;
    fx.lsn.srv = &fx.srv;
    fx.lsn.svc_name = fx.conf->svcs[0].name;
    if (lsn_bind(&fx.lsn, 0, -1, fx.why, sizeof fx.why) < 0)
        return;
    if (loop_add(&fx.loop, &fx.lsn.w, fx.lsn.fd, LOOP_READABLE, conn_accept_ready) < 0)
        snprintf(fx.why, sizeof fx.why, "loop_add failed");
}

static void serve_teardown(void)
{
    conn_close_all(&fx.srv.conns);
    if (fx.lsn.fd >= 0) {
        loop_del(&fx.loop, &fx.lsn.w);
        lsn_close(&fx.lsn);
    }
    if (fx.started)
        service_stop(&fx.svc);
    loop_fini(&fx.loop);
    conf_free(fx.conf);
    if (fx.dir[0]) {
        unlink(fx.sock);
        rmdir(fx.dir);
    }
    memset(&fx, 0, sizeof fx);
}

static void turn(int timeout_ms)
{
    CU_ASSERT(loop_run_once(&fx.loop, timeout_ms) >= 0);
    conn_reap(&fx.srv.conns);
}

/* A connected client, once the serving context holds it: its
 * superd_conn in *sc. */
static int client(struct superd_conn **sc)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", fx.sock);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_FATAL(fd >= 0);
    size_t before = fx.srv.conns.nlive;
    CU_ASSERT_FATAL(connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0);
    long long deadline = now_ms() + WAIT_MS;
    while (fx.srv.conns.nlive == before && now_ms() < deadline)
        turn(10);
    CU_ASSERT_FATAL(fx.srv.conns.nlive == before + 1);
    *sc = fx.srv.conns.live;    /* the newest is first */
    return fd;
}

/* Send a line and turn the loop until `answer` came back. */
static void ask(int fd, const char *line, const char *answer)
{
    char got[64] = "";
    size_t n = 0, want = strlen(answer);
    CU_ASSERT_FATAL(send(fd, line, strlen(line), MSG_NOSIGNAL) == (ssize_t)strlen(line));
    long long deadline = now_ms() + WAIT_MS;
    while (n < want && now_ms() < deadline) {
        turn(10);
        ssize_t r = recv(fd, got + n, want - n, MSG_DONTWAIT);
        if (r > 0)
            n += (size_t)r;
    }
    ASSERT_STR(got, answer);
}

/* A's callback writes 1 MiB to B and closes it: when that turn ends, B's
 * queue is armed for writing and reading has stopped, before B has had
 * an event; B then gets every byte and EOF. */
static void test_cross_settled_without_worker(void)
{
    ASSERT_STR_FATAL(fx.why, "");
    struct superd_conn *sb, *sa;
    int b = client(&sb);
    ask(b, "sink\n", "ready\n");
    int a = client(&sa);
    CU_ASSERT_EQUAL(sb->w.events, LOOP_READABLE);
    ask(a, "blast 1048576\n", "sent\n");
    /* B settled from A's callback: closing, its rest queued and armed. */
    CU_ASSERT(buf_len(&sb->out) > 0);
    CU_ASSERT_EQUAL(sb->w.events, LOOP_WRITABLE);
    CU_ASSERT_EQUAL(sb->settle.queued, false);
    static char chunk[65536];
    size_t got = 0;
    long long bad = -1;
    bool eof = false;
    long long deadline = now_ms() + WAIT_MS;
    while (!eof && now_ms() < deadline) {
        ssize_t r = recv(b, chunk, sizeof chunk, MSG_DONTWAIT);
        if (r > 0) {
            for (ssize_t i = 0; i < r && bad < 0; i++)
                if ((unsigned char)chunk[i] != (got + (size_t)i) % 251)
                    bad = (long long)(got + (size_t)i);
            got += (size_t)r;
            continue;
        }
        if (r == 0)
            eof = true;
        else
            turn(10);
    }
    CU_ASSERT_EQUAL(got, 1048576);
    CU_ASSERT_EQUAL(bad, -1);
    CU_ASSERT(eof);
    CU_ASSERT_EQUAL(fx.srv.conns.nlive, 1);
    close(a);
    close(b);
}

/* An idle connection is closed by its timer (idle_timeout), with no scan:
 * the loop sleeps until the timer is due. */
static void test_idle_timer(void)
{
    ASSERT_STR_FATAL(fx.why, "");
    fx.conf->svcs[0].idle_timeout_ms = 30;
    struct superd_conn *sc;
    int fd = client(&sc);
    CU_ASSERT(loop_timer_armed(&sc->timer));
    CU_ASSERT_EQUAL(fx.loop.ntimers, 1);
    long long deadline = now_ms() + WAIT_MS;
    while (fx.srv.conns.nlive && now_ms() < deadline)
        turn(-1);   /* no timeout of our own: the timer wakes the loop */
    CU_ASSERT_EQUAL(fx.srv.conns.nlive, 0);
    CU_ASSERT_EQUAL(fx.loop.ntimers, 0);
    char c;
    CU_ASSERT_EQUAL(recv(fd, &c, 1, 0), 0);
    close(fd);
}

int test_core_loop_register(void)
{
    static const struct tc_test plain[] = {
        { "timers: many, stopped and re-armed, fire in due order", test_timer_heap_order },
        { "timers: a 0 ms re-arm cannot hold the loop", test_timer_rearm_zero },
        { "settle list: once, deletable, drained at the next turn", test_pending },
    };
    static const struct tc_test served[] = {
        { "serve: another connection settled after the callback, no worker",
          test_cross_settled_without_worker },
        { "serve: idle_timeout by a loop timer", test_idle_timer },
    };
    if (tc_register("loop", NULL, NULL, plain, sizeof plain / sizeof plain[0]) < 0)
        return -1;
    return tc_register("serve", serve_setup, serve_teardown, served,
                       sizeof served / sizeof served[0]);
}
