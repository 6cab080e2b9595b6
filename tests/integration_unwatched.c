/*
 * integration_unwatched.c - an accepted connection joins the loop only
 * once the plugin's on_open has settled (so a daytime connection costs no
 * epoll_ctl).  One paused in on_open must join it all the same: a client's
 * reset is seen at once, not at idle_timeout.  IT_ONLY=unwatched.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

static void test_paused_in_open_sees_reset(void)
{
    int port = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(port > 0);
    struct it_daemon *d = it_serve(it_conf_global(
        "workers = 1\nshutdown_timeout = 1s\n",
        it_printf("[p]\nplugin = %s/../tests/plugins/pauser.so\n"
                  "listen = tcp://127.0.0.1:%d\nidle_timeout = 30s\nlog_connections = yes\n",
                  it_plugin_dir, port)));
    int fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    it_sleep_ms(200);   /* accepted and paused by now */
    struct linger lg = { 1, 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    it_close(fd);       /* an RST */
    int64_t deadline = it_now_ms() + 3000;
    while (!it_line_of(it_stderr(d), "reset by the client") && it_left_ms(deadline) > 0)
        it_sleep_ms(20);
    CU_ASSERT(it_line_of(it_stderr(d), "reset by the client") > 0);
    if (!it_line_of(it_stderr(d), "reset by the client"))
        printf("\n    superd said:\n%s\n", it_stderr(d));
    it_stop_ok(d);
}

static const struct it_test unwatched_tests[] = {
    { "unwatched: a connection paused in on_open still sees the client's reset",
      test_paused_in_open_sees_reset },
};
IT_REGISTER(unwatched_tests)
