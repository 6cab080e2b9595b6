/*
 * integration_proxycount.c - docs/metrics.md: a connection the PROXY stage
 * refuses was accepted first, so it counts in _accepted_total (service and
 * listener) besides refused{reason="proxy"}; a carried client refused by
 * admission does not.
 *
 * Linked into build/tests/integration (IT_REGISTER); IT_ONLY=proxycount
 * runs these.  Loopback and private unix paths only; every wait is bounded.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* Send `out` on a new connection and read until the server closes. */
static void send_and_wait(int port, const char *out, const char *want)
{
    uint8_t buf[256];
    struct it_xfer x;
    int fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    memset(buf, 0, sizeof buf);
    it_xfer(fd, (const uint8_t *)out, strlen(out), 1, NULL, 0, buf, sizeof buf - 1, 0, 1,
            IT_OP_MS, &x);
    CU_ASSERT(x.eof || x.err);
    CU_ASSERT_STRING_EQUAL((char *)buf, want);
    it_close(fd);
}

static void test_proxy_refusals_were_accepted(void)
{
    char *sock = it_path("metrics.sock");
    int port = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(port > 0);
    struct it_daemon *d = it_alloc(sizeof *d);
    char *conf = it_conf_global(
        it_printf("workers = 2\nmetrics_listen = unix:%s\n", sock),
        it_printf("[px]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\nproxy_protocol = yes\n"
                  "trusted_proxies = 127.0.0.1\nonly_from = 127.0.0.0/8\n", port));
    CU_ASSERT_FATAL(it_start(d, conf) == 0);
    send_and_wait(port, "PROXY TCP4 127.0.0.9 127.0.0.1 1111 7\r\nhi", "hi");
    send_and_wait(port, "GARBAGE\r\n", "");
    send_and_wait(port, "PROXY TCP4 192.0.2.1 127.0.0.1 1111 7\r\nhi", "");
    const char *svc = "service=\"px\"";
    char *lsn = it_printf("service=\"px\",listener=\"tcp://127.0.0.1:%d\"", port);
    const char *want[] = {
        it_printf("superd_connections_accepted_total{%s} 2", svc),
        it_printf("superd_connections_refused_total{%s,reason=\"proxy\"} 1", svc),
        it_printf("superd_connections_refused_total{%s,reason=\"acl\"} 1", svc),
        it_printf("superd_listener_connections_accepted_total{%s} 2", lsn),
        it_printf("superd_listener_connections_refused_total{%s,reason=\"proxy\"} 1", lsn),
    };
    int64_t deadline = it_now_ms() + IT_OP_MS;
    char *text;
    int all;
    do {
        text = it_scrape(sock);
        all = 1;
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
            all &= it_count_line(text, want[i]) == 1;
        if (!all)
            it_sleep_ms(20);
    } while (!all && it_left_ms(deadline));
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (it_count_line(text, want[i]) != 1)
            printf("\n    expected the line \"%s\"\n", want[i]);
        CU_ASSERT(it_count_line(text, want[i]) == 1);
    }
    CU_ASSERT(it_stop(d, SIGTERM) == 0);
}

static const struct it_test proxycount_tests[] = {
    { "proxycount: a PROXY-stage refusal counts as accepted, an admission one not",
      test_proxy_refusals_were_accepted },
};

IT_REGISTER(proxycount_tests)
