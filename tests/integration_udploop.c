/*
 * integration_udploop.c - a datagram loop between two servers that answer
 * everything (docs/configuration.md, "Datagram abuse"): one datagram with a
 * forged source starts it, and superd's default configuration must end it.
 *
 * Linked into build/tests/integration (IT_REGISTER); IT_ONLY=loop runs these.
 *
 * Two superd instances serve echo on UDP, on two free high ports of
 * 127.0.0.1 (not a chatty port, not a port of their own, so the per-datagram
 * loop protection lets them through).  The test sends instance B one
 * datagram that claims to come from instance A's listener: B echoes it to A,
 * A echoes it back to B, and so on, as fast as loopback allows.  The forged
 * source needs a raw socket (CAP_NET_RAW); without one the test says it is
 * skipped.  The loop must stop: the SIGUSR1 counters of both instances stop
 * growing, one of them says why in its log, and both still answer a real
 * client.  Every wait is bounded; teardown stops both daemons either way.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Bounds, generous for a sanitizer build: waits, never timing asserts. */
#define LOOP_LOG_MS 5000
#define LOOP_START_MS 3000
#define LOOP_STOP_MS 2000   /* "within a second", with room for ASan */
#define LOOP_QUIET_MS 300   /* counters unchanged this long: stopped */

static struct it_daemon *echo_daemon(const char *name, int port)
{
    struct it_daemon *d = it_alloc(sizeof(*d));
    char *conf = it_path(it_printf("%s.ini", name));
    int ok;

    CU_ASSERT_FATAL(it_write_file(conf, it_printf("[superd]\nplugin_dir = %s\nworkers = 2\n"
                                                  "shutdown_timeout = 250ms\n"
                                                  "[echo]\nplugin = echo\n"
                                                  "listen = udp://127.0.0.1:%d\n",
                                                  it_plugin_dir, port)) == 0);
    ok = it_start(d, conf) == 0;
    CU_ASSERT_FATAL(ok);
    return d;
}

/*
 * The SIGUSR1 counters of [echo] ("... dgrams_in N dgrams_out N loop_drops
 * N"): sends the signal and reads the next report line.  0, or -1 when no
 * report came within LOOP_LOG_MS.
 */
struct loop_counters {
    long long in, out, loop_drops, refused;
};

static long long field(const char *line, const char *name)
{
    const char *k = strstr(line, it_printf(" %s ", name));

    return k ? atoll(k + strlen(name) + 2) : -1;
}

static int counters(struct it_daemon *d, struct loop_counters *c)
{
    const char *prefix = "superd: [echo] active ";
    int before = it_count_prefix(it_stderr(d), prefix);
    int64_t deadline = it_now_ms() + LOOP_LOG_MS;

    kill(d->pid, SIGUSR1);
    for (;;) {
        char *err = it_stderr(d);
        if (it_count_prefix(err, prefix) > before) {
            char *line = NULL, *nl;
            for (char *p = err; (p = strstr(p, prefix)) != NULL; p++)
                if (p == err || p[-1] == '\n')
                    line = p;
            if (line && (nl = strchr(line, '\n')) != NULL) {
                *nl = '\0';
                c->in = field(line, "dgrams_in");
                c->out = field(line, "dgrams_out");
                c->loop_drops = field(line, "loop_drops");
                c->refused = field(line, "refused");
                return 0;
            }
        }
        if (!it_left_ms(deadline)) {
            printf("\n    no SIGUSR1 report; stderr:\n%s", err);
            return -1;
        }
        it_sleep_ms(10);
    }
}

/*
 * Send 127.0.0.1:to_port one UDP datagram whose source is 127.0.0.1:from_port,
 * through a raw socket (the kernel adds the IP header; checksum 0 means none
 * in IPv4).  0, or a negative errno (-EPERM without CAP_NET_RAW).
 */
static int forge(int from_port, int to_port, const char *payload)
{
    struct sockaddr_storage to;
    socklen_t tolen = it_sa_inet(AF_INET, to_port, &to);
    size_t len = strlen(payload);
    struct {
        struct udphdr h;
        char data[64];
    } pkt;
    int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_UDP), r = 0;

    if (fd < 0)
        return -errno;
    CU_ASSERT_FATAL(len <= sizeof(pkt.data));
    memset(&pkt, 0, sizeof(pkt));
    pkt.h.source = htons((uint16_t)from_port);
    pkt.h.dest = htons((uint16_t)to_port);
    pkt.h.len = htons((uint16_t)(sizeof(pkt.h) + len));
    memcpy(pkt.data, payload, len);
    if (sendto(fd, &pkt, sizeof(pkt.h) + len, 0, (struct sockaddr *)&to, tolen) < 0)
        r = -errno;
    close(fd);
    return r;
}

static void test_udp_loop_stops(void)
{
    int pa = it_free_port(IT_UDP4), pb, fd, r;
    struct it_daemon *a, *b;
    struct loop_counters ca, cb, pa_c, pb_c;
    struct sockaddr_storage to;
    socklen_t tolen;
    char reply[16], *ea, *eb;
    int64_t deadline, quiet_since;
    int started = 0, stopped = 0;

    CU_ASSERT_FATAL(pa > 0);
    pb = it_free_port(IT_UDP4);
    CU_ASSERT_FATAL(pb > 0 && pb != pa);
    a = echo_daemon("a", pa);
    b = echo_daemon("b", pb);

    r = forge(pa, pb, "loop");
    if (r == -EPERM || r == -EACCES) {
        printf("\n    skipped: no raw socket (CAP_NET_RAW) to forge a source\n    ");
        return;
    }
    CU_ASSERT_FATAL(r == 0);

    /* Started: A has had B's echo. */
    deadline = it_now_ms() + LOOP_START_MS;
    while (counters(a, &ca) == 0 && ca.in < 1 && it_left_ms(deadline))
        it_sleep_ms(20);
    started = ca.in >= 1;
    if (!started)
        printf("\n    the forged datagram started no exchange (A dgrams_in %lld)\n", ca.in);
    CU_ASSERT_FATAL(started);

    /* Stopped: neither instance's counters move for LOOP_QUIET_MS, and
     * that within LOOP_STOP_MS of the start. */
    deadline = it_now_ms() + LOOP_STOP_MS + LOOP_QUIET_MS;
    CU_ASSERT_FATAL(counters(a, &pa_c) == 0 && counters(b, &pb_c) == 0);
    quiet_since = it_now_ms();
    while (!stopped && it_left_ms(deadline)) {
        it_sleep_ms(50);
        CU_ASSERT_FATAL(counters(a, &ca) == 0 && counters(b, &cb) == 0);
        if (ca.in != pa_c.in || ca.out != pa_c.out || cb.in != pb_c.in ||
            cb.out != pb_c.out) {
            pa_c = ca;
            pb_c = cb;
            quiet_since = it_now_ms();
        } else if (it_now_ms() - quiet_since >= LOOP_QUIET_MS) {
            stopped = 1;
        }
    }
    if (!stopped)
        printf("\n    the loop still runs: A in %lld out %lld, B in %lld out %lld\n", ca.in,
               ca.out, cb.in, cb.out);
    CU_ASSERT(stopped);

    /* One side spent its loop budget for the other: counted, and said. */
    CU_ASSERT(ca.loop_drops + cb.loop_drops >= 1);
    CU_ASSERT_EQUAL(ca.refused + cb.refused, 0);
    ea = it_printf("superd: [echo] udp 127.0.0.1:%d: reply to 127.0.0.1:%d dropped: over 100 "
                   "replies/s to one source, a loop? (udp_reply_rate raises the budget) "
                   "(0 more)", pa, pb);
    eb = it_printf("superd: [echo] udp 127.0.0.1:%d: reply to 127.0.0.1:%d dropped: over 100 "
                   "replies/s to one source, a loop? (udp_reply_rate raises the budget) "
                   "(0 more)", pb, pa);
    if (!it_count_line(it_stderr(a), ea) && !it_count_line(it_stderr(b), eb))
        printf("\n    expected\n      %s\n    or\n      %s\n    A's stderr:\n%s\n    B's "
               "stderr:\n%s", ea, eb, it_stderr(a), it_stderr(b));
    CU_ASSERT(it_count_line(it_stderr(a), ea) + it_count_line(it_stderr(b), eb) >= 1);

    /* The budget limits the loop, not the service: a client is answered. */
    fd = it_udp_socket(AF_INET, 0);
    CU_ASSERT_FATAL(fd >= 0);
    tolen = it_sa_inet(AF_INET, pa, &to);
    CU_ASSERT(it_dgram_ask(fd, &to, tolen, "client", 6, reply, sizeof(reply), 5) == 6);
    tolen = it_sa_inet(AF_INET, pb, &to);
    CU_ASSERT(it_dgram_ask(fd, &to, tolen, "client", 6, reply, sizeof(reply), 5) == 6);

    CU_ASSERT(it_exited(it_stop(a, SIGTERM), 0));
    CU_ASSERT(it_exited(it_stop(b, SIGTERM), 0));
}

/* A client's burst under the budget is answered whole, with nothing
 * counted as a loop. */
static void test_udp_loop_budget_spares_clients(void)
{
    int port = it_free_port(IT_UDP4), fd, got = 0;
    struct it_daemon *d;
    struct loop_counters c;
    struct sockaddr_storage to;
    socklen_t tolen;
    char reply[16];

    CU_ASSERT_FATAL(port > 0);
    d = echo_daemon("c", port);
    fd = it_udp_socket(AF_INET, 0);
    CU_ASSERT_FATAL(fd >= 0);
    tolen = it_sa_inet(AF_INET, port, &to);
    for (int i = 0; i < 50; i++)
        got += it_dgram_ask(fd, &to, tolen, "ping", 4, reply, sizeof(reply), 1) == 4;
    CU_ASSERT_EQUAL(got, 50);
    CU_ASSERT_FATAL(counters(d, &c) == 0);
    CU_ASSERT_EQUAL(c.out, 50);
    CU_ASSERT_EQUAL(c.loop_drops, 0);
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
}

static const struct it_test loop_tests[] = {
    { "udp loop: a forged datagram between two superds stops", test_udp_loop_stops },
    { "udp loop: the budget spares a client's burst", test_udp_loop_budget_spares_clients },
};

IT_REGISTER(loop_tests)
