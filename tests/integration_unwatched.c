/*
 * integration_unwatched.c - an accepted connection joins the loop only
 * once the plugin's on_open has settled (so a daytime connection costs no
 * epoll_ctl).  One paused in on_open must join it all the same: a client's
 * reset is seen at once, not at idle_timeout.  IT_ONLY=unwatched.
 * And listeners a compromised worker cannot filter (SO_LOCK_FILTER):
 * IT_ONLY=filters.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
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

/* A plugin that tries to attach a drop-all filter and a steering program
 * to every listener its worker holds: the kernel refuses them all, and TCP
 * and UDP clients are served.  Before the lock, the filters stayed on the
 * master's sockets and no client got through. */
static void test_listener_filters_locked(void)
{
    int port = it_free_port(IT_TCP4 | IT_UDP4);
    CU_ASSERT_FATAL(port > 0);
    struct it_daemon *d = it_serve(it_conf_global(
        "workers = 1\nshutdown_timeout = 1s\n",
        it_printf("[f]\nplugin = %s/../tests/plugins/filterer.so\n"
                  "listen = tcp://127.0.0.1:%d udp://127.0.0.1:%d\nudp_reply_rate = off\n",
                  it_plugin_dir, port, port)));
    int fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT(fd >= 0);
    if (fd >= 0) {
        CU_ASSERT(it_echo_stream(fd, 1000, "through filterer") == 1);
        it_close(fd);
    }
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_inet(AF_INET, port, &to);
    int u = it_udp_socket(AF_INET, 0);
    char buf[64];
    CU_ASSERT(u >= 0 && it_dgram_ask(u, &to, tolen, "ping", 4, buf, sizeof buf, 5) == 4);
    CU_ASSERT(it_line_of(it_stderr(d), "filterer: 2 sockets, 0 filters attached") > 0);
    if (!it_line_of(it_stderr(d), "filterer: 2 sockets, 0 filters attached"))
        printf("\n    superd said:\n%s\n", it_stderr(d));
    it_stop_ok(d);
}

static const struct it_test unwatched_tests[] = {
    { "unwatched: a connection paused in on_open still sees the client's reset",
      test_paused_in_open_sees_reset },
    { "filters: a worker cannot attach a filter to a listener", test_listener_filters_locked },
};
IT_REGISTER(unwatched_tests)
