/*
 * integration_metrics.c - metrics_listen and `superd status` on the real
 * binary (docs/metrics.md): exact counters after a known workload, in the
 * Prometheus text format and in OpenMetrics, the HTTP answers to anything
 * else, and the status table.
 *
 * Linked into build/tests/integration (IT_REGISTER); IT_ONLY=metrics runs
 * these.  Loopback and private unix paths only; every wait is bounded.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Send `request` on a new connection to the metrics socket and return the
 * whole answer (tracked), or "" when nothing came. */
static char *ask(const char *sock, const char *request)
{
    static uint8_t buf[1 << 20];
    struct it_xfer x;
    int fd = it_unix_connect(sock);

    CU_ASSERT_FATAL(fd >= 0);
    memset(buf, 0, sizeof(buf));
    it_xfer(fd, (const uint8_t *)request, strlen(request), 0, NULL, 0, buf, sizeof(buf) - 1, 0,
            1, IT_OP_MS, &x);
    it_close(fd);
    return it_printf("%s", (char *)buf);
}

static char *scrape(const char *sock)
{
    return ask(sock, "GET /metrics HTTP/1.1\r\nHost: superd\r\n\r\n");
}

static struct it_daemon *start_with_metrics(const char *sock, int port, const char *extra)
{
    struct it_daemon *d = it_alloc(sizeof(*d));
    char *conf = it_conf_global(it_printf("workers = 2\nmetrics_listen = unix:%s\n", sock),
                                it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d "
                                          "udp://127.0.0.1:%d\n%s", port, port, extra));

    CU_ASSERT_FATAL(it_start(d, conf) == 0);
    return d;
}

/* Read one byte from a child's pipe, bounded: 1 when read. */
static int read_byte(int fd, char *c)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };

    return poll(&p, 1, 2 * IT_OP_MS) == 1 && read(fd, c, 1) == 1;
}

/* 1 when text has the exact line. */
static int has_line(const char *text, const char *line)
{
    int n = it_count_line(text, line);

    if (n != 1)
        printf("\n    expected the line \"%s\" once; got:\n%.3000s\n", line, text);
    return n == 1;
}

/* Scrape until `line` is there (a worker counts a close just after the
 * client sees it), bounded. */
static char *scrape_until(const char *sock, const char *line)
{
    int64_t deadline = it_now_ms() + IT_OP_MS;
    char *text;

    do {
        text = scrape(sock);
        if (it_count_line(text, line) == 1)
            break;
        it_sleep_ms(20);
    } while (it_left_ms(deadline));
    return text;
}

/* Three echo connections of 100 bytes and two datagrams of 10 bytes give
 * exactly these counters; a refused source is counted by its reason. */
static void test_metrics_exact_counters(void)
{
    int port = it_free_port(IT_TCP4 | IT_UDP4);
    char *sock = it_path("metrics.sock");
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_inet(AF_INET, port, &to);
    uint8_t reply[64];
    struct it_daemon *d;
    char *text;
    int fd;

    CU_ASSERT_FATAL(port > 0);
    d = start_with_metrics(sock, port, "");
    for (int i = 0; i < 3; i++) {
        fd = it_tcp_connect(AF_INET, port);
        CU_ASSERT(it_echo_stream(fd, 100, "100 bytes"));
        it_close(fd);
    }
    fd = it_udp_socket(AF_INET, 0);
    CU_ASSERT_FATAL(fd >= 0);
    for (int i = 0; i < 2; i++)
        CU_ASSERT(it_dgram_ask(fd, &to, tolen, it_pattern, 10, reply, sizeof(reply), 1) == 10);
    text = scrape_until(sock, "superd_connections_active{service=\"echo\"} 0");
    CU_ASSERT(strncmp(text, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CU_ASSERT(strstr(text, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n") != NULL);
    CU_ASSERT(has_line(text, "superd_connections_accepted_total{service=\"echo\"} 3"));
    CU_ASSERT(has_line(text, "superd_connections_active{service=\"echo\"} 0"));
    CU_ASSERT(has_line(text, "superd_received_bytes_total{service=\"echo\"} 320"));
    CU_ASSERT(has_line(text, "superd_sent_bytes_total{service=\"echo\"} 320"));
    CU_ASSERT(has_line(text, "superd_datagrams_received_total{service=\"echo\"} 2"));
    CU_ASSERT(has_line(text, "superd_datagrams_sent_total{service=\"echo\"} 2"));
    CU_ASSERT(has_line(text, "superd_workers 2"));
    CU_ASSERT(has_line(text, "superd_reloads_total 0"));
    CU_ASSERT(has_line(text, "# TYPE superd_connections_accepted_total counter"));
    CU_ASSERT(has_line(text, "# TYPE superd_connection_duration_seconds histogram"));
    CU_ASSERT(has_line(text, "superd_build_info{version=\"" SUPERD_VERSION "\"} 1"));
    CU_ASSERT(it_stop(d, SIGTERM) == 0);
}

/* Accept: application/openmetrics-text gets OpenMetrics: counter families
 * without _total, samples with it, "# EOF" last. */
static void test_metrics_openmetrics(void)
{
    int port = it_free_port(IT_TCP4 | IT_UDP4);
    char *sock = it_path("metrics.sock");
    struct it_daemon *d;
    char *text;

    CU_ASSERT_FATAL(port > 0);
    d = start_with_metrics(sock, port, "");
    text = ask(sock, "GET /metrics HTTP/1.1\r\nHost: x\r\n"
                     "Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n\r\n");
    CU_ASSERT(strstr(text, "\r\nContent-Type: application/openmetrics-text; version=1.0.0; "
                           "charset=utf-8\r\n") != NULL);
    CU_ASSERT(has_line(text, "# TYPE superd_connections_accepted counter"));
    CU_ASSERT(has_line(text, "superd_connections_accepted_total{service=\"echo\"} 0"));
    CU_ASSERT(strcmp(it_last_line(text), "# EOF") == 0);
    CU_ASSERT(it_stop(d, SIGTERM) == 0);
}

/* Only GET (and HEAD) of /metrics: anything else gets its HTTP status. */
static void test_metrics_other_requests(void)
{
    int port = it_free_port(IT_TCP4 | IT_UDP4);
    char *sock = it_path("metrics.sock");
    struct it_daemon *d;

    CU_ASSERT_FATAL(port > 0);
    d = start_with_metrics(sock, port, "");
    CU_ASSERT(strncmp(ask(sock, "GET / HTTP/1.1\r\n\r\n"), "HTTP/1.1 404 Not Found\r\n", 24) == 0);
    CU_ASSERT(strncmp(ask(sock, "POST /metrics HTTP/1.1\r\n\r\n"),
                      "HTTP/1.1 405 Method Not Allowed\r\n", 33) == 0);
    {
        char *head = ask(sock, "HEAD /metrics HTTP/1.0\r\n\r\n");
        char *end = strstr(head, "\r\n\r\n");
        CU_ASSERT(strncmp(head, "HTTP/1.1 200 OK\r\n", 17) == 0);
        CU_ASSERT(end && end[4] == '\0');   /* no body */
    }
    CU_ASSERT(it_stop(d, SIGTERM) == 0);
}

/* Request lines shorter than a method, first thing a fresh worker reads
 * (its read buffer still zeros, no space to stop a scan): 405, and the
 * worker lives on.  They once made it read past its buffer. */
static void test_metrics_short_request_line(void)
{
    char *sock = it_path("metrics.sock");
    struct it_daemon *d = it_alloc(sizeof(*d));

    CU_ASSERT_FATAL(it_start(d, it_conf_global(it_printf("workers = 1\nmetrics_listen = unix:%s\n",
                                                         sock),
                                               "")) == 0);
    CU_ASSERT(strncmp(ask(sock, "GET\r\n\r\n"), "HTTP/1.1 405 Method Not Allowed\r\n", 33) == 0);
    CU_ASSERT(strncmp(ask(sock, "\n\n"), "HTTP/1.1 405 Method Not Allowed\r\n", 33) == 0);
    CU_ASSERT(strncmp(scrape(sock), "HTTP/1.1 200 OK\r\n", 17) == 0);
    CU_ASSERT(strstr(it_stderr(d), "while serving") == NULL);   /* no worker died */
    CU_ASSERT(it_stop(d, SIGTERM) == 0);
}

/* A reload and a failed reload show in the process figures. */
static void test_metrics_reloads_and_restarts(void)
{
    int port = it_free_port(IT_TCP4 | IT_UDP4);
    char *sock = it_path("metrics.sock");
    struct it_daemon *d;
    char *text;

    CU_ASSERT_FATAL(port > 0);
    d = start_with_metrics(sock, port, "");
    kill(d->pid, SIGHUP);
    text = scrape_until(sock, "superd_reloads_total 1");
    CU_ASSERT(has_line(text, "superd_reloads_total 1"));
    CU_ASSERT(has_line(text, "superd_reload_failures_total 0"));
    CU_ASSERT(strstr(text, "superd_last_reload_success_timestamp_seconds 0\n") == NULL);
    it_write_file(d->conf, "[superd\n");   /* a broken file: the reload fails */
    kill(d->pid, SIGHUP);
    text = scrape_until(sock, "superd_reload_failures_total 1");
    CU_ASSERT(has_line(text, "superd_reload_failures_total 1"));
    CU_ASSERT(it_stop(d, SIGTERM) == 0);
}

/* superd status prints the same figures as a table. */
static void test_status_table(void)
{
    int port = it_free_port(IT_TCP4 | IT_UDP4);
    char *sock = it_path("metrics.sock");
    const char *args[4];
    struct it_daemon *d;
    char *out, *err, *row;
    int fd, st;

    CU_ASSERT_FATAL(port > 0);
    d = start_with_metrics(sock, port, "");
    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT(it_echo_stream(fd, 100, "100 bytes"));
    it_close(fd);
    scrape_until(sock, "superd_connections_active{service=\"echo\"} 0");
    args[0] = "status";
    args[1] = "-c";
    args[2] = d->conf;
    args[3] = NULL;
    st = it_run(args, &out, &err);
    CU_ASSERT(it_exited(st, 0));
    CU_ASSERT(strncmp(out, "superd " SUPERD_VERSION ": up ", 10 + strlen(SUPERD_VERSION)) == 0);
    CU_ASSERT(strstr(out, ", 2 workers serving, 0 restarts, 0 reloads (0 failed)\n") != NULL);
    CU_ASSERT(strstr(out, "\nSERVICE ") != NULL);
    row = strstr(out, "\necho ");
    CU_ASSERT_FATAL(row != NULL);
    {
        unsigned long long v[7];
        CU_ASSERT_EQUAL(sscanf(row, "\necho %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                               &v[2], &v[3], &v[4], &v[5], &v[6]), 7);
        CU_ASSERT(v[0] == 0 && v[1] == 1 && v[2] == 0 && v[3] == 100 && v[4] == 100);
    }
    CU_ASSERT(it_stop(d, SIGTERM) == 0);
    /* Without metrics_listen: one line that says so, exit 1. */
    args[2] = it_conf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:1\n");
    st = it_run(args, &out, &err);
    CU_ASSERT(it_exited(st, 1));
    CU_ASSERT_STRING_EQUAL(err, it_printf("superd: %s: no metrics_listen in [superd]: superd "
                                          "status reads the running daemon's figures from it\n",
                                          args[2]));
}

/* A program unpacked by `make test-deps`, or NULL (the test is skipped). */
static char *dep(const char *rel)
{
    const char *root = getenv("SUPERD_TEST_DEPS");
    char *path;

    if (!root)
        return NULL;
    path = it_printf("%s/%s", root, rel);
    return access(path, X_OK) == 0 ? path : NULL;
}

/* GET path from 127.0.0.1:port over HTTP/1.0: the whole answer, or "". */
static char *http_get(int port, const char *path)
{
    static uint8_t buf[1 << 20];
    char *req = it_printf("GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    struct it_xfer x;
    int fd = it_tcp_connect(AF_INET, port);

    if (fd < 0)
        return "";
    memset(buf, 0, sizeof(buf));
    it_xfer(fd, (const uint8_t *)req, strlen(req), 0, NULL, 0, buf, sizeof(buf) - 1, 0, 1,
            IT_OP_MS, &x);
    it_close(fd);
    return it_printf("%s", (char *)buf);
}

/* promtool (Debian's prometheus package) finds nothing wrong in a scrape. */
static void test_promtool_check(void)
{
    int port = it_free_port(IT_TCP4 | IT_UDP4);
    char *sock = it_path("metrics.sock"), *promtool = dep("usr/bin/promtool");
    char *file = it_path("scrape.txt"), *out = it_path("promtool.out"), *text, *body;
    struct it_daemon *d;
    int st;

    if (!promtool) {
        printf("\n    skipped: no promtool (make test-deps could not fetch prometheus)\n    ");
        return;
    }
    CU_ASSERT_FATAL(port > 0);
    d = start_with_metrics(sock, port, "only_from = 127.0.0.1\n");
    text = scrape(sock);
    body = strstr(text, "\r\n\r\n");
    CU_ASSERT_FATAL(body != NULL);
    CU_ASSERT_FATAL(it_write_file(file, body + 4) == 0);
    st = system(it_printf("'%s' check metrics < '%s' > '%s' 2>&1", promtool, file, out));
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        printf("\n    promtool check metrics: %s\n", it_read_file(out));
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CU_ASSERT(it_stop(d, SIGTERM) == 0);
}

/* A real Prometheus server scrapes superd and its query API returns the
 * exact counts of a known workload. */
static void test_prometheus_scrapes(void)
{
    int port = it_free_port(IT_TCP4 | IT_UDP4), mport = it_free_port(IT_TCP4);
    int pport = it_free_port(IT_TCP4);
    char *prom = dep("usr/bin/prometheus"), *yml = it_path("prometheus.yml");
    char *accepted = NULL, *bytes = NULL, *per_listener = NULL;
    struct it_daemon *d = it_alloc(sizeof(*d));
    int64_t deadline;
    pid_t pid;

    if (!prom) {
        printf("\n    skipped: no prometheus (make test-deps could not fetch it)\n    ");
        return;
    }
    CU_ASSERT_FATAL(port > 0 && mport > 0 && pport > 0 && mport != pport);
    CU_ASSERT_FATAL(it_start(d, it_conf_global(
        it_printf("workers = 2\nmetrics_listen = tcp://127.0.0.1:%d\n", mport),
        it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n", port))) == 0);
    for (int i = 0; i < 3; i++) {
        int fd = it_tcp_connect(AF_INET, port);
        CU_ASSERT(it_echo_stream(fd, 100, "100 bytes"));
        it_close(fd);
    }
    CU_ASSERT_FATAL(it_write_file(yml, it_printf(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: superd\n    static_configs:\n"
        "      - targets: ['127.0.0.1:%d']\n", mport)) == 0);
    pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(prom, prom, it_printf("--config.file=%s", yml),
              it_printf("--storage.tsdb.path=%s", it_path("tsdb")),
              it_printf("--web.listen-address=127.0.0.1:%d", pport), (char *)NULL);
        _exit(127);
    }
    deadline = it_now_ms() + 30000;
    while (it_left_ms(deadline) && (!accepted || !bytes || !per_listener)) {
        char *a = http_get(pport, "/api/v1/query?query=superd_connections_accepted_total"
                                  "%7Bservice%3D%22echo%22%7D");
        char *b = http_get(pport, "/api/v1/query?query=superd_received_bytes_total"
                                  "%7Bservice%3D%22echo%22%7D");
        char *l = http_get(pport, it_printf("/api/v1/query?query=superd_listener_connections_"
                                            "accepted_total%%7Blistener%%3D%%22tcp%%3A%%2F%%2F"
                                            "127.0.0.1%%3A%d%%22%%7D", port));
        if (strstr(a, "\"3\"]"))
            accepted = a;
        if (strstr(b, "\"300\"]"))
            bytes = b;
        if (strstr(l, "\"3\"]"))
            per_listener = l;
        if (!accepted || !bytes || !per_listener)
            it_sleep_ms(250);
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    CU_ASSERT(accepted != NULL);
    CU_ASSERT(bytes != NULL);
    CU_ASSERT(per_listener != NULL);
    CU_ASSERT(it_stop(d, SIGTERM) == 0);
}

/* Refusals are counted by reason (acl, max_connections, only_uid as acl),
 * and closed connections fill the lifetime histogram. */
static void test_metrics_refusal_reasons(void)
{
    int port = it_free_port(IT_TCP4 | IT_UDP4), port2 = it_free_port(IT_TCP4);
    char *sock = it_path("metrics.sock"), *usock = it_path("u.sock");
    struct it_daemon *d = it_alloc(sizeof(*d));
    char *text;
    int fd, held;

    CU_ASSERT_FATAL(port > 0 && port2 > 0 && port != port2);
    CU_ASSERT_FATAL(it_start(d, it_conf_global(
        it_printf("workers = 1\nmetrics_listen = unix:%s\n", sock),
        it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\nmax_connections = 1\n"
                  "[closed]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n"
                  "only_from = 192.0.2.0/24\n"
                  "[uidonly]\nplugin = echo\nlisten = unix:%s\nonly_uid = 4242\n",
                  port, port2, usock))) == 0);
    fd = it_unix_connect(usock);            /* uid 0 is not 4242: logged (the first) */
    it_close(fd);
    held = it_tcp_connect(AF_INET, port);
    CU_ASSERT(it_echo_stream(held, 10, "the one connection allowed"));
    fd = it_tcp_connect(AF_INET, port);     /* over max_connections: closed at once */
    CU_ASSERT(it_dgram_silent(fd, 200) || 1);
    it_close(fd);
    fd = it_tcp_connect(AF_INET, port2);    /* not in only_from */
    it_close(fd);
    it_close(held);
    text = scrape_until(sock, "superd_connections_refused_total{service=\"uidonly\",reason=\"acl\"} 1");
    CU_ASSERT(has_line(text, "superd_connections_refused_total{service=\"echo\","
                             "reason=\"max_connections\"} 1"));
    CU_ASSERT(has_line(text, "superd_connections_refused_total{service=\"closed\","
                             "reason=\"acl\"} 1"));
    CU_ASSERT(has_line(text, "superd_connections_refused_total{service=\"uidonly\","
                             "reason=\"acl\"} 1"));
    text = scrape_until(sock, "superd_connection_duration_seconds_count{service=\"echo\"} 1");
    CU_ASSERT(has_line(text, "superd_connection_duration_seconds_count{service=\"echo\"} 1"));
    CU_ASSERT(has_line(text, "superd_connection_duration_seconds_bucket{service=\"echo\","
                             "le=\"+Inf\"} 1"));
    CU_ASSERT(strstr(it_stderr(d), it_printf("[uidonly] unix %s: refused unix:", usock)) != NULL);
    CU_ASSERT(strstr(it_stderr(d), ": only_uid: uid 0 not allowed (0 more refusals)") != NULL);
    CU_ASSERT(it_stop(d, SIGTERM) == 0);
}

/* A known workload on two TCP listeners and a UDP one of one service gives
 * exact figures per listener (labels service and listener), the service's
 * are their sums, and superd status shows each listener under its service. */
static void test_metrics_per_listener(void)
{
    int port = it_free_port(IT_TCP4 | IT_UDP4), port2 = it_free_port(IT_TCP4);
    char *sock = it_path("metrics.sock");
    struct it_daemon *d = it_alloc(sizeof(*d));
    struct sockaddr_storage to;
    socklen_t tolen;
    uint8_t reply[64];
    const char *args[4];
    char *text, *out, *err, *l1, *l2, *lu, *row;
    int fd, st;

    CU_ASSERT_FATAL(port > 0 && port2 > 0 && port != port2);
    tolen = it_sa_inet(AF_INET, port, &to);
    CU_ASSERT_FATAL(it_start(d, it_conf_global(
        it_printf("workers = 2\nmetrics_listen = unix:%s\n", sock),
        it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d tcp://127.0.0.1:%d "
                  "udp://127.0.0.1:%d\n", port, port2, port))) == 0);
    for (int i = 0; i < 3; i++) {
        fd = it_tcp_connect(AF_INET, port);
        CU_ASSERT(it_echo_stream(fd, 100, "100 bytes"));
        it_close(fd);
    }
    fd = it_tcp_connect(AF_INET, port2);
    CU_ASSERT(it_echo_stream(fd, 50, "50 bytes"));
    it_close(fd);
    fd = it_udp_socket(AF_INET, 0);
    CU_ASSERT_FATAL(fd >= 0);
    for (int i = 0; i < 2; i++)
        CU_ASSERT(it_dgram_ask(fd, &to, tolen, it_pattern, 10, reply, sizeof(reply), 1) == 10);
    l1 = it_printf("service=\"echo\",listener=\"tcp://127.0.0.1:%d\"", port);
    l2 = it_printf("service=\"echo\",listener=\"tcp://127.0.0.1:%d\"", port2);
    lu = it_printf("service=\"echo\",listener=\"udp://127.0.0.1:%d\"", port);
    text = scrape_until(sock, "superd_connections_active{service=\"echo\"} 0");
    text = scrape_until(sock, it_printf("superd_listener_connections_active{%s} 0", l2));
    CU_ASSERT(has_line(text, it_printf("superd_listener_connections_accepted_total{%s} 3", l1)));
    CU_ASSERT(has_line(text, it_printf("superd_listener_connections_accepted_total{%s} 1", l2)));
    CU_ASSERT(has_line(text, it_printf("superd_listener_connections_active{%s} 0", l1)));
    CU_ASSERT(has_line(text, it_printf("superd_listener_received_bytes_total{%s} 300", l1)));
    CU_ASSERT(has_line(text, it_printf("superd_listener_sent_bytes_total{%s} 300", l1)));
    CU_ASSERT(has_line(text, it_printf("superd_listener_received_bytes_total{%s} 50", l2)));
    CU_ASSERT(has_line(text, it_printf("superd_listener_sent_bytes_total{%s} 50", l2)));
    CU_ASSERT(has_line(text, it_printf("superd_listener_received_bytes_total{%s} 20", lu)));
    CU_ASSERT(has_line(text, it_printf("superd_listener_datagrams_received_total{%s} 2", lu)));
    CU_ASSERT(has_line(text, it_printf("superd_listener_datagrams_sent_total{%s} 2", lu)));
    CU_ASSERT(has_line(text, it_printf("superd_listener_datagrams_dropped_total{%s,"
                                       "reason=\"loop\"} 0", lu)));
    CU_ASSERT(has_line(text, it_printf("superd_listener_connections_refused_total{%s,"
                                       "reason=\"max_per_source\"} 0", l2)));
    /* A datagram listener has no connection samples, a stream one no datagram ones. */
    CU_ASSERT(strstr(text, it_printf("superd_listener_connections_accepted_total{%s}", lu)) == NULL);
    CU_ASSERT(strstr(text, it_printf("superd_listener_datagrams_received_total{%s}", l1)) == NULL);
    /* The service's figures are the sums. */
    CU_ASSERT(has_line(text, "superd_connections_accepted_total{service=\"echo\"} 4"));
    CU_ASSERT(has_line(text, "superd_received_bytes_total{service=\"echo\"} 370"));
    CU_ASSERT(has_line(text, "# TYPE superd_listener_connections_accepted_total counter"));
    CU_ASSERT(has_line(text, "# TYPE superd_listener_connections_active gauge"));
    args[0] = "status";
    args[1] = "-c";
    args[2] = d->conf;
    args[3] = NULL;
    st = it_run(args, &out, &err);
    CU_ASSERT(it_exited(st, 0));
    row = strstr(out, "\necho ");
    CU_ASSERT_FATAL(row != NULL);
    {
        unsigned long long v[7];
        char *r1 = strstr(row, it_printf("\n  tcp://127.0.0.1:%d ", port));
        char *r2 = strstr(row, it_printf("\n  tcp://127.0.0.1:%d ", port2));
        char *ru = strstr(row, it_printf("\n  udp://127.0.0.1:%d ", port));
        CU_ASSERT_FATAL(r1 && r2 && ru);
        CU_ASSERT_EQUAL(sscanf(strchr(r1 + 3, ' '), "%llu %llu %llu %llu %llu %llu %llu", &v[0],
                               &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]), 7);
        CU_ASSERT(v[0] == 0 && v[1] == 3 && v[2] == 0 && v[3] == 300 && v[4] == 300 &&
                  v[5] == 0 && v[6] == 0);
        CU_ASSERT_EQUAL(sscanf(strchr(r2 + 3, ' '), "%llu %llu %llu %llu %llu %llu %llu", &v[0],
                               &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]), 7);
        CU_ASSERT(v[1] == 1 && v[3] == 50 && v[4] == 50);
        CU_ASSERT_EQUAL(sscanf(strchr(ru + 3, ' '), "%llu %llu %llu %llu %llu %llu %llu", &v[0],
                               &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]), 7);
        CU_ASSERT(v[1] == 0 && v[3] == 20 && v[4] == 20 && v[5] == 2 && v[6] == 2);
    }
    CU_ASSERT(it_stop(d, SIGTERM) == 0);
}

/* Connect to abstract unix socket `name` and see whether the connection
 * is served (a byte echoed) or refused (closed at once).  Child side: no
 * CUnit.  Returns the fd when served, -1 when refused or failed. */
static int uid_try(const char *name)
{
    char c = 'x';
    int fd = it_unix_connect(name);
    struct pollfd p;

    if (fd < 0 || send(fd, &c, 1, MSG_NOSIGNAL) != 1)
        return -1;
    p.fd = fd;
    p.events = POLLIN;
    if (poll(&p, 1, IT_OP_MS) == 1 && recv(fd, &c, 1, 0) == 1 && c == 'x')
        return fd;
    return -1;
}

/* A child as `uid`: three connections at once; reports how many were
 * served, then holds them until `hold` is readable (bounded). */
static pid_t uid_client(uid_t uid, const char *name, int report, int hold)
{
    pid_t pid = fork();

    if (pid != 0)
        return pid;
    if (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0)
        _exit(2);
    {
        char served = 0, c;
        struct pollfd p = { .fd = hold, .events = POLLIN };
        for (int i = 0; i < 3; i++)
            served += uid_try(name) >= 0;
        if (write(report, &served, 1) != 1)
            _exit(3);
        poll(&p, 1, 3 * IT_OP_MS);
        if (read(hold, &c, 1) < 0)
            _exit(4);
    }
    _exit(0);
}

/* max_per_source on a unix stream listener counts each peer uid
 * (SO_PEERCRED): the third connection of uid 65534 is refused (counted as
 * max_per_source, per listener too) while uid 65533 still gets its two. */
static void test_unix_max_per_source_per_uid(void)
{
    char *sock = it_path("metrics.sock");
    char *name = it_printf("@superd-it-uid-%d", (int)getpid());
    struct it_daemon *d;
    int rep[2], hold[2];
    char a = 0, b = 0, *text, *lab;
    pid_t pa, pb;

    if (geteuid() != 0) {
        printf("\n    skipped: needs root (children setuid to 65534 and 65533)\n    ");
        return;
    }
    d = it_alloc(sizeof(*d));
    CU_ASSERT_FATAL(it_start(d, it_conf_global(
        it_printf("workers = 2\nmetrics_listen = unix:%s\n", sock),
        it_printf("[uids]\nplugin = echo\nlisten = unix:%s\nmax_per_source = 2\n", name))) == 0);
    CU_ASSERT_FATAL(pipe(rep) == 0 && pipe(hold) == 0);
    pa = uid_client(65534, name, rep[1], hold[0]);
    CU_ASSERT_FATAL(pa > 0);
    CU_ASSERT(read_byte(rep[0], &a));
    pb = uid_client(65533, name, rep[1], hold[0]);   /* while 65534 holds its two */
    CU_ASSERT_FATAL(pb > 0);
    CU_ASSERT(read_byte(rep[0], &b));
    CU_ASSERT_EQUAL(a, 2);
    CU_ASSERT_EQUAL(b, 2);
    CU_ASSERT(write(hold[1], "gg", 2) == 2);
    CU_ASSERT(waitpid(pa, NULL, 0) == pa);
    CU_ASSERT(waitpid(pb, NULL, 0) == pb);
    close(rep[0]);
    close(rep[1]);
    close(hold[0]);
    close(hold[1]);
    text = scrape_until(sock, "superd_connections_refused_total{service=\"uids\","
                              "reason=\"max_per_source\"} 2");
    CU_ASSERT(has_line(text, "superd_connections_refused_total{service=\"uids\","
                             "reason=\"max_per_source\"} 2"));
    CU_ASSERT(has_line(text, "superd_connections_accepted_total{service=\"uids\"} 4"));
    lab = it_printf("service=\"uids\",listener=\"unix:%s\"", name);
    CU_ASSERT(has_line(text, it_printf("superd_listener_connections_refused_total{%s,"
                                       "reason=\"max_per_source\"} 2", lab)));
    CU_ASSERT(has_line(text, it_printf("superd_listener_connections_accepted_total{%s} 4", lab)));
    CU_ASSERT(strstr(it_stderr(d), ": max_per_source 2 reached (uid 6553") != NULL);
    CU_ASSERT(it_stop(d, SIGTERM) == 0);
}

/* superd status fails in one line: the file's warnings are not printed
 * again (proxy_protocol without trusted_proxies warns), whether the daemon
 * is down or its only_from closes the connection without an answer (that
 * used to end in "answered: " and nothing). */
static void test_status_one_line(void)
{
    int port = it_free_port(IT_TCP4), mport = it_free_port(IT_TCP4);
    char *out, *err;
    const char *args[] = { "status", "-c", NULL, NULL };
    CU_ASSERT_FATAL(port > 0 && mport > 0 && port != mport);
    char *svc = it_printf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:%d\n"
                          "proxy_protocol = yes\n", port);
    char *conf = it_conf_global(it_printf("workers = 1\nmetrics_listen = tcp://127.0.0.1:%d\n"
                                          "only_from = 10.0.0.1\n", mport), svc);
    args[2] = conf;
    int st = it_run(args, &out, &err);      /* nothing runs yet */
    CU_ASSERT(it_exited(st, 1));
    CU_ASSERT_EQUAL(it_lines(err), 1);
    CU_ASSERT(strstr(err, "warning") == NULL && strstr(err, "trusted_proxies") == NULL);
    struct it_daemon *d = it_serve(conf);
    st = it_run(args, &out, &err);
    CU_ASSERT(it_exited(st, 1));
    CU_ASSERT_STRING_EQUAL(err, it_printf("superd: status: tcp 127.0.0.1:%d closed the "
                                          "connection without an answer (refused: only_from or "
                                          "no_access of [superd]?)\n", mport));
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

static const struct it_test metrics_tests[] = {
    { "metrics: exact counters after a known workload", test_metrics_exact_counters },
    { "metrics: OpenMetrics when the Accept header asks", test_metrics_openmetrics },
    { "metrics: 404, 405 and HEAD", test_metrics_other_requests },
    { "metrics: a short request line first: 405, the worker lives", test_metrics_short_request_line },
    { "metrics: reloads and failed reloads counted", test_metrics_reloads_and_restarts },
    { "metrics: superd status prints the table", test_status_table },
    { "metrics: refusals by reason, lifetimes, only_uid", test_metrics_refusal_reasons },
    { "metrics: promtool check metrics passes", test_promtool_check },
    { "metrics: a real Prometheus scrapes exact counts", test_prometheus_scrapes },
    { "metrics: exact figures per listener, and in superd status", test_metrics_per_listener },
    { "metrics: superd status fails in one line", test_status_one_line },
    { "metrics: max_per_source on a unix listener counts per uid",
      test_unix_max_per_source_per_uid },
};

IT_REGISTER(metrics_tests)
