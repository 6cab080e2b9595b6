/*
 * plugin_api.c - integration tests of the plugin API as a plugin sees it in
 * the real daemon: the ABI 1.1 address accessors (superd_conn_addr,
 * superd_dgram_addr) over tcp4, tcp6, unix, udp and unix-dgram, and the
 * warning about a plugin that exports more than its descriptor.
 *
 *     build/tests/plugin_api BUILD
 *
 * The test plugin addrs (tests/plugins/addrs.c) converts the binary
 * addresses to text itself and answers them; each test compares with what
 * the client's own socket says.
 */
#include "integration_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef TEST_PLUGIN_DIR
#error "TEST_PLUGIN_DIR must name the directory of the built test plugins"
#endif
#define TP(name) TEST_PLUGIN_DIR "/" name ".so"

static void skipped(const char *why)
{
    printf("\n    skipped: %s\n    ", why);
}

static struct it_daemon *serve(const char *listen, const char *plugin)
{
    struct it_daemon *d = it_alloc(sizeof(*d));
    int ok = it_start(d, it_conf(it_printf("[svc]\nplugin = %s\nlisten = %s\n", plugin,
                                           listen))) == 0;
    CU_ASSERT_FATAL(ok);
    return d;
}

/* The port the kernel gave the client's socket. */
static int local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    return ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                                   : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void same_text(const char *what, const char *got, const char *want)
{
    if (strcmp(got, want) != 0)
        printf("\n    %s: got\n%s    wanted\n%s", what, got, want);
    CU_ASSERT_STRING_EQUAL(got, want);
}

/* What the addrs plugin said on a new stream connection, up to its close. */
static char *stream_answer(int fd)
{
    static uint8_t buf[2048];
    struct it_xfer x;
    CU_ASSERT_FATAL(fd >= 0);
    it_xfer(fd, NULL, 0, 0, NULL, 0, buf, sizeof buf - 1, 0, 1, IT_OP_MS, &x);
    CU_ASSERT(x.eof && !x.timeout && x.err == 0);
    return it_printf("%.*s", (int)x.rcvd, (const char *)buf);
}

static void test_tcp4(void)
{
    int port = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(port > 0);
    struct it_daemon *d = serve(it_printf("tcp://127.0.0.1:%d", port), TP("addrs"));
    int fd = it_tcp_connect(AF_INET, port);
    int me = local_port(fd);
    same_text("tcp4", stream_answer(fd),
              it_printf("peer inet 127.0.0.1 %d\nlocal inet 127.0.0.1 %d\nother -22\n"
                        "text 127.0.0.1:%d\n", me, port, me));
    it_stop_ok(d);
}

static void test_tcp6(void)
{
    if (!it_have_ipv6()) {
        skipped("no ::1 on this machine");
        return;
    }
    int port = it_free_port(IT_TCP6);
    CU_ASSERT_FATAL(port > 0);
    struct it_daemon *d = serve(it_printf("tcp://[::1]:%d", port), TP("addrs"));
    int fd = it_tcp_connect(AF_INET6, port);
    int me = local_port(fd);
    same_text("tcp6", stream_answer(fd),
              it_printf("peer inet6 ::1 %d\nlocal inet6 ::1 %d\nother -22\ntext [::1]:%d\n", me,
                        port, me));
    it_stop_ok(d);
}

/* A unix client that did not bind: an empty path, as superd_peer shows. */
static void test_unix(void)
{
    char *path = it_path("addrs.sock");
    struct it_daemon *d = serve(it_printf("unix:%s", path), TP("addrs"));
    same_text("unix", stream_answer(it_unix_connect(path)),
              it_printf("peer unix \nlocal unix %s\nother -22\ntext unix:\n", path));
    it_stop_ok(d);
}

/* A request as long as the reply, so no reply budget is involved. */
static char *dgram_answer(int fd, const struct sockaddr_storage *to, socklen_t tolen)
{
    static char req[512], reply[2048];
    memset(req, 'x', sizeof req);
    ssize_t n = it_dgram_ask(fd, to, tolen, req, sizeof req, reply, sizeof reply - 1, 3);
    CU_ASSERT_FATAL(n > 0);
    return it_printf("%.*s", (int)n, reply);
}

static void test_udp4(void)
{
    int port = it_free_port(IT_UDP4);
    CU_ASSERT_FATAL(port > 0);
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_inet(AF_INET, port, &to);
    struct it_daemon *d = serve(it_printf("udp://127.0.0.1:%d", port), TP("addrs"));
    int fd = it_udp_socket(AF_INET, 0);
    CU_ASSERT_FATAL(fd >= 0);
    int me = local_port(fd);
    same_text("udp4", dgram_answer(fd, &to, tolen),
              it_printf("peer inet 127.0.0.1 %d\nlocal inet 127.0.0.1 %d\nother -22\n"
                        "text 127.0.0.1:%d\n", me, port, me));
    it_stop_ok(d);
}

/* A listener on 0.0.0.0: the local address is the listener's, as the
 * header says (not the datagram's destination). */
static void test_udp_wildcard(void)
{
    int port = it_free_port(IT_UDP4);
    CU_ASSERT_FATAL(port > 0);
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_inet(AF_INET, port, &to);
    struct it_daemon *d = serve(it_printf("udp://0.0.0.0:%d", port), TP("addrs"));
    int fd = it_udp_socket(AF_INET, 0);
    CU_ASSERT_FATAL(fd >= 0);
    int me = local_port(fd);
    same_text("udp 0.0.0.0", dgram_answer(fd, &to, tolen),
              it_printf("peer inet 127.0.0.1 %d\nlocal inet 0.0.0.0 %d\nother -22\n"
                        "text 127.0.0.1:%d\n", me, port, me));
    it_stop_ok(d);
}

static void test_unix_dgram(void)
{
    char *path = it_path("addrs.dgram"), *client = it_path("client.dgram");
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_unix(path, &to);
    struct it_daemon *d = serve(it_printf("unix-dgram:%s", path), TP("addrs"));
    int fd = it_unix_dgram(client);
    CU_ASSERT_FATAL(fd >= 0);
    same_text("unix-dgram", dgram_answer(fd, &to, tolen),
              it_printf("peer unix %s\nlocal unix %s\nother -22\ntext unix:%s\n", client, path,
                        client));
    it_stop_ok(d);
}

/* A plugin exporting more than superd_plugin is served, with a warning
 * naming what it exports, once per process that loads it. */
static void test_extra_exports_warned(void)
{
    int port = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(port > 0);
    struct it_daemon *d = serve(it_printf("tcp://127.0.0.1:%d", port), TP("extraexp"));
    int fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT(fd >= 0 && it_echo_stream(fd, 1000, "extraexp"));
    if (fd >= 0)
        it_close(fd);   /* or the stop waits for it */
    it_stop_ok(d);
    const char *line = it_printf("superd: %s: exports extraexp_helper, extraexp_table besides "
                                 "superd_plugin: build it with -fvisibility=hidden, or mark "
                                 "them static", TP("extraexp"));
    int n = it_count_line(it_stderr(d), line);
    if (n < 1)
        printf("\n    no line \"%s\" in:\n%s", line, it_stderr(d));
    CU_ASSERT(n >= 1);
}

/* ... and a plugin built with hidden visibility gets none. */
static void test_no_warning_when_hidden(void)
{
    int port = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(port > 0);
    struct it_daemon *d = serve(it_printf("tcp://127.0.0.1:%d", port), "echo");
    it_stop_ok(d);
    CU_ASSERT_EQUAL(it_count_prefix(it_stderr(d), "superd: exports"), 0);
    CU_ASSERT_PTR_NULL(strstr(it_stderr(d), "besides superd_plugin"));
}

static const struct it_test tests[] = {
    { "superd_conn_addr: tcp4", test_tcp4 },
    { "superd_conn_addr: tcp6", test_tcp6 },
    { "superd_conn_addr: unix, an unbound client", test_unix },
    { "superd_dgram_addr: udp4", test_udp4 },
    { "superd_dgram_addr: udp on 0.0.0.0 gives the listener's address", test_udp_wildcard },
    { "superd_dgram_addr: unix-dgram, a bound client", test_unix_dgram },
    { "a plugin exporting more than superd_plugin: warned, naming them", test_extra_exports_warned },
    { "a plugin built with hidden visibility: no warning", test_no_warning_when_hidden },
};

int main(int argc, char **argv)
{
    return it_main(argc, argv, "plugin_api", "the plugin API in superd", tests,
                   sizeof(tests) / sizeof(tests[0]));
}
