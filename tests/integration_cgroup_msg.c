/*
 * integration_cgroup_msg.c - memory_max with no cgroup_root, where the
 * cgroup superd runs in cannot have the memory controller (this machine's
 * memory is on cgroup v1): one line at start naming the file, line,
 * service and key, and no program runs without its limit.  Where the
 * controller is delegated the program runs, and the test says it skips.
 *
 * Linked into build/tests/integration (IT_REGISTER); IT_ONLY=cgroup-msg.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static void test_cgroup_msg_default_root(void)
{
    struct it_daemon d;
    int port = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(port > 0);
    /* Line 6: [x]; 9: memory_max. */
    const char *conf = it_conf_global("workers = 1\nshutdown_timeout = 1s\n",
        it_printf("[x]\nprogram = /bin/echo\nlisten = tcp://127.0.0.1:%d\nmemory_max = 64M\n",
                  port));
    CU_ASSERT_FATAL(it_start(&d, conf) == 0);
    int fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    uint8_t buf[256];
    struct it_xfer x;
    it_xfer(fd, NULL, 0, 1, NULL, 0, buf, sizeof buf - 1, 0, 1, IT_OP_MS, &x);
    it_close(fd);
    const char *prefix = it_printf("superd: %s:9: [x] memory_max: cgroup: ", conf);
    if (x.rcvd > 0) {
        printf("\n    skipped: the memory controller is delegated here: /bin/echo ran\n");
        CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
        return;
    }
    int found = 0;
    for (int i = 0; i < 100 && !found; i++, it_sleep_ms(20))
        found = it_count_prefix(it_stderr(&d), prefix) == 1;
    CU_ASSERT(found);
    if (!found)
        printf("\n    no line \"%s...\" in:\n%s\n", prefix, it_stderr(&d));
    CU_ASSERT(strstr(it_stderr(&d), ": the program will not be started\n") != NULL);
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

static const struct it_test cgroup_msg_tests[] = {
    { "cgroup-msg: no delegated memory controller: one line naming file:line, service, key",
      test_cgroup_msg_default_root },
};
IT_REGISTER(cgroup_msg_tests)
