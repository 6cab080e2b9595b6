/*
 * integration_execsig.c - a program started for a connection gets default
 * signal dispositions and an empty signal mask, whatever superd ignores
 * (SIGPIPE, SIGHUP) or blocks for its signalfd.  The spawner resets only
 * the dispositions it found changed at its start: this checks that list.
 *
 * Linked into build/tests/integration (IT_REGISTER); IT_ONLY=execsig runs it.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The kernel's sigaction: glibc refuses signals 32 and 33 (its own). */
struct ksa {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

static void set_raw(int sig, void (*handler)(int))
{
    struct ksa sa = { .handler = handler };
    CU_ASSERT(syscall(SYS_rt_sigaction, sig, &sa, NULL, sizeof(uint64_t)) == 0);
}

/* What /bin/grep says about its own signals, run for one connection; with
 * `inherit`, superd itself starts with signals 32 and 33 ignored (as it
 * does under some supervisors), which glibc's sigaction cannot undo. */
static void check_exec_signals(bool inherit)
{
    struct it_daemon d;
    int port = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(port > 0);
    const char *conf = it_conf_global("workers = 1\nshutdown_timeout = 1s\n",
        it_printf("[x]\nprogram = /bin/grep\nargs = ^Sig /proc/self/status\n"
                  "listen = tcp://127.0.0.1:%d\n", port));
    if (inherit) {
        set_raw(32, SIG_IGN);
        set_raw(33, SIG_IGN);
    }
    int started = it_start(&d, conf);
    if (inherit) {
        set_raw(32, SIG_DFL);
        set_raw(33, SIG_DFL);
    }
    CU_ASSERT_FATAL(started == 0);
    int fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    static uint8_t buf[4096];
    struct it_xfer x;
    it_xfer(fd, (const uint8_t *)"", 0, 1, NULL, 0, buf, sizeof buf - 1, 0, 1, IT_OP_MS, &x);
    CU_ASSERT(x.eof);
    buf[x.rcvd < sizeof buf - 1 ? x.rcvd : sizeof buf - 1] = '\0';
    it_close(fd);
    const char *out = (const char *)buf;
    CU_ASSERT(it_count_line(out, "SigBlk:\t0000000000000000") == 1);
    CU_ASSERT(it_count_line(out, "SigIgn:\t0000000000000000") == 1);
    if (it_count_line(out, "SigIgn:\t0000000000000000") != 1)
        printf("\n    the program said:\n%s\n", out);
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

static void test_exec_signals_default(void)
{
    check_exec_signals(false);
}

static void test_exec_signals_inherited_ignored(void)
{
    check_exec_signals(true);
}

static const struct it_test execsig_tests[] = {
    { "exec: the program starts with default dispositions and no signal blocked",
      test_exec_signals_default },
    { "exec: signals 32 and 33 ignored where superd started are default in the program",
      test_exec_signals_inherited_ignored },
};
IT_REGISTER(execsig_tests)
