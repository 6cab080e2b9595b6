/*
 * integration_execstats.c - the exec figures of docs/metrics.md on the real
 * binary: superd_exec_started_total, superd_exec_running and
 * superd_exec_exits_total{how} after programs that exit 0, exit 3 and are
 * killed, and one that is still running.
 *
 * Linked into build/tests/integration (IT_REGISTER); IT_ONLY=execstats runs
 * these.  Loopback and private unix paths only; every wait is bounded.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* Scrape until every line of `want` (NULL-ended) is there, bounded: the
 * spawner counts an exit just after the client sees the connection end. */
static char *scrape_until(const char *sock, const char *const *want)
{
    int64_t deadline = it_now_ms() + IT_OP_MS;
    char *text;
    for (;;) {
        text = it_scrape(sock);
        int all = 1;
        for (size_t i = 0; want[i]; i++)
            all &= it_count_line(text, want[i]) == 1;
        if (all || !it_left_ms(deadline))
            break;
        it_sleep_ms(20);
    }
    for (size_t i = 0; want[i]; i++)
        if (it_count_line(text, want[i]) != 1)
            printf("\n    expected the line \"%s\"; got:\n%.2000s\n", want[i], text);
    return text;
}

/* One connection to a program: read until it closes (bounded). */
static void run_once(int port)
{
    uint8_t buf[256];
    struct it_xfer x;
    int fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    it_xfer(fd, NULL, 0, 1, NULL, 0, buf, sizeof buf, 0, 1, IT_OP_MS, &x);
    CU_ASSERT(x.eof || x.err);
    it_close(fd);
}

static void test_exec_figures(void)
{
    char *sock = it_path("metrics.sock");
    int ok = it_free_port(IT_TCP4);
    int bad = it_free_port(IT_TCP4);
    int sig = it_free_port(IT_TCP4);
    int slp = it_free_port(IT_TCP4);
    const char *p = it_xprog();
    CU_ASSERT_FATAL(ok > 0 && bad > 0 && sig > 0 && slp > 0);
    CU_ASSERT_FATAL(ok != bad && bad != sig && sig != slp && ok != sig && ok != slp &&
                    bad != slp);
    struct it_daemon *d = it_alloc(sizeof *d);
    char *conf = it_conf_global(
        it_printf("workers = 2\nshutdown_timeout = 1s\nmetrics_listen = unix:%s\n", sock),
        it_printf("[ok]\nprogram = %s\nargs = exit 0\nlisten = tcp://127.0.0.1:%d\n"
                  "[bad]\nprogram = %s\nargs = exit 3\nlisten = tcp://127.0.0.1:%d\n"
                  "[sig]\nprogram = %s\nargs = term\nlisten = tcp://127.0.0.1:%d\n"
                  "[slp]\nprogram = %s\nargs = sleep\nlisten = tcp://127.0.0.1:%d\n",
                  p, ok, p, bad, p, sig, p, slp));
    CU_ASSERT_FATAL(it_start(d, conf) == 0);
    run_once(ok);
    run_once(ok);
    run_once(bad);
    run_once(sig);
    const char *const done[] = {
        "superd_exec_started_total 4",
        "superd_exec_running 0",
        "superd_exec_exits_total{how=\"ok\"} 2",
        "superd_exec_exits_total{how=\"error\"} 1",
        "superd_exec_exits_total{how=\"signal\"} 1",
        NULL,
    };
    scrape_until(sock, done);
    for (size_t i = 0; done[i]; i++)
        CU_ASSERT(it_count_line(it_scrape(sock), done[i]) == 1);

    int fd = it_tcp_connect(AF_INET, slp);   /* "sleeping", then 60 s */
    CU_ASSERT_FATAL(fd >= 0);
    const char *const running[] = {
        "superd_exec_started_total 5",
        "superd_exec_running 1",
        NULL,
    };
    char *text = scrape_until(sock, running);
    CU_ASSERT(it_count_line(text, "superd_exec_started_total 5") == 1);
    CU_ASSERT(it_count_line(text, "superd_exec_running 1") == 1);
    it_close(fd);
    CU_ASSERT(it_stop(d, SIGTERM) == 0);
}

static const struct it_test execstats_tests[] = {
    { "execstats: programs started, running and ended by how", test_exec_figures },
};

IT_REGISTER(execstats_tests)
