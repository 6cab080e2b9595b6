/*
 * integration_classic.c - the classic internal services as plugins, on the
 * real binary: chargen (RFC 864), time (RFC 868), qotd (RFC 865).
 *
 * Linked into build/tests/integration (IT_REGISTER); IT_ONLY=classic runs
 * these.  Each test serves one plugin on a free loopback port, talks to it
 * over TCP or UDP as a client would, and checks the bytes on the wire; the
 * chargen memory test checks that clients that never read leave superd's
 * memory bounded.  The UDP clients use ephemeral source ports, which the
 * loop guard lets through, and send one datagram at a time, well within the
 * amplification budget (10 larger replies a second per source).  Every wait
 * is bounded; teardown stops the daemon either way.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CG_LINE 74                      /* 72 characters and CRLF */
#define CG_CYCLE (95 * CG_LINE)         /* the pattern's period: 7030 bytes */
#define RFC868_OFFSET 2208988800u       /* 1900-01-01 to 1970-01-01, in seconds */

/* A chargen connection never ends on its own: at SIGTERM superd waits
 * shutdown_timeout for it, so the tests keep that short. */
static struct it_daemon *serve(const char *body)
{
    struct it_daemon *d = it_alloc(sizeof(*d));
    int ok = it_start(d, it_conf_global("shutdown_timeout = 250ms\n", body)) == 0;

    CU_ASSERT_FATAL(ok);
    return d;
}

/* One period of RFC 864's pattern, built here independently of the
 * plugin: line k is 72 characters from ' ' + k in ASCII order, wrapping
 * from '~' to ' ', then CRLF. */
static uint8_t *chargen_cycle(void)
{
    uint8_t *c = it_alloc(CG_CYCLE);

    for (size_t k = 0; k < 95; k++) {
        for (size_t i = 0; i < 72; i++)
            c[k * CG_LINE + i] = (uint8_t)(' ' + (k + i) % 95);
        c[k * CG_LINE + 72] = '\r';
        c[k * CG_LINE + 73] = '\n';
    }
    return c;
}

/* Read `lines` lines of chargen on fd and check every byte. */
static int read_chargen(int fd, size_t lines, const char *what)
{
    size_t want = lines * CG_LINE;
    struct it_xfer x;

    it_xfer(fd, NULL, 0, 0, chargen_cycle(), CG_CYCLE, NULL, 0, want, 0, IT_OP_MS, &x);
    if (x.rcvd < want || x.bad_at >= 0)
        printf("\n    %s: %zu of %zu bytes, first bad byte %ld, err %d\n", what, x.rcvd,
               want, x.bad_at, x.err);
    return x.rcvd >= want && x.bad_at < 0;
}

/* chargen over TCP: 1000 lines (more than ten periods), byte for byte,
 * the first line exactly as RFC 864 shows it. */
static void test_chargen_tcp(void)
{
    int port = it_free_port(IT_TCP4), fd;
    struct it_daemon *d;
    char first[CG_LINE + 1];
    struct it_xfer x;

    CU_ASSERT_FATAL(port > 0);
    d = serve(it_printf("[chargen]\nplugin = chargen\nlisten = tcp://127.0.0.1:%d\n", port));
    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    it_xfer(fd, NULL, 0, 0, NULL, 0, (uint8_t *)first, CG_LINE, CG_LINE, 0, IT_OP_MS, &x);
    first[CG_LINE] = '\0';
    CU_ASSERT_STRING_EQUAL(first, " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "[\\]^_`abcdefg\r\n");
    it_close(fd);
    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(read_chargen(fd, 1000, "chargen over TCP"));
    it_close(fd);
    it_stop_ok(d);
}

/* Wait until fd's receive queue stops growing for 300 ms (bounded to
 * IT_OP_MS): superd has filled every buffer between it and this client. */
static int wait_filled(const int *fds, int n)
{
    int64_t deadline = it_now_ms() + IT_OP_MS, still_since = it_now_ms();
    long last = -1;

    while (it_left_ms(deadline)) {
        long total = 0;

        for (int i = 0; i < n; i++) {
            int q = 0;

            if (ioctl(fds[i], FIONREAD, &q) == 0)
                total += q;
        }
        if (total != last) {
            last = total;
            still_since = it_now_ms();
        } else if (it_now_ms() - still_since >= 300) {
            return 1;
        }
        it_sleep_ms(20);
    }
    return 0;
}

/* Clients that connect and never read: superd fills the socket buffers,
 * then waits for on_drain; its memory does not grow with the time they
 * hold on, and it still serves a reading client. */
static void test_chargen_unread_bounded(void)
{
    enum { CLIENTS = 16 };
    int port = it_free_port(IT_TCP4), fds[CLIENTS], fd;
    struct it_daemon *d;
    long base, filled, later;

    CU_ASSERT_FATAL(port > 0);
    d = serve(it_printf("[chargen]\nplugin = chargen\nlisten = tcp://127.0.0.1:%d\n", port));
    base = it_rss_kb(d->pid);
    CU_ASSERT_FATAL(base > 0);
    for (int i = 0; i < CLIENTS; i++) {
        fds[i] = it_tcp_connect(AF_INET, port);
        CU_ASSERT_FATAL(fds[i] >= 0);
    }
    CU_ASSERT(wait_filled(fds, CLIENTS));
    filled = it_rss_kb(d->pid);
    it_sleep_ms(500);
    later = it_rss_kb(d->pid);
    printf("\n    chargen, %d clients that never read: superd RSS %ld KiB at start, "
           "%ld KiB once the buffers are full, %ld KiB 500 ms later\n    ",
           CLIENTS, base, filled, later);
    /* Each connection holds at most one period (7 KiB) in superd's queue;
     * the kernel's socket buffers are not in RSS.  Generous for ASan. */
    CU_ASSERT(filled > 0 && filled < base + 32 * 1024);
    CU_ASSERT(later > 0 && later < base + 32 * 1024);
    /* A client that reads is served meanwhile, and the patient ones still
     * get the pattern from its start. */
    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(read_chargen(fd, 100, "a reading client beside them"));
    CU_ASSERT(read_chargen(fds[0], 100, "a client that waited"));
    it_stop_ok(d);
}

/* chargen over UDP: one reply per datagram, 0..512 bytes of the pattern. */
static void test_chargen_udp(void)
{
    int port = it_free_port(IT_UDP4), fd;
    struct it_daemon *d;
    struct sockaddr_storage to;
    socklen_t tolen;
    uint8_t *cycle = chargen_cycle();
    char reply[2048];
    ssize_t n;

    CU_ASSERT_FATAL(port > 0);
    d = serve(it_printf("[chargen]\nplugin = chargen\nlisten = udp://127.0.0.1:%d\n", port));
    fd = it_udp_socket(AF_INET, 0);
    CU_ASSERT_FATAL(fd >= 0);
    tolen = it_sa_inet(AF_INET, port, &to);
    n = it_dgram_ask(fd, &to, tolen, "", 0, reply, sizeof reply, 5);
    CU_ASSERT(n >= 0 && n <= 512);
    if (n > 0) {
        /* It starts at the beginning of some line. */
        size_t k = (size_t)((uint8_t)reply[0] - ' ');
        int same = k < 95 && (size_t)n <= CG_CYCLE - k * CG_LINE &&
                   memcmp(reply, cycle + k * CG_LINE, (size_t)n) == 0;
        if (!same)
            printf("\n    not the pattern: %.*s\n", (int)n, reply);
        CU_ASSERT(same);
    }
    it_stop_ok(d);
}

/* The 4 bytes as seconds since 1970, or -1. */
static long long rfc868_unix(const uint8_t *p)
{
    uint32_t v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];

    return (long long)v - RFC868_OFFSET;
}

static void check_time_value(const uint8_t *p, time_t t0, time_t t1)
{
    long long t = rfc868_unix(p);

    if (t < t0 || t > t1)
        printf("\n    time: %lld, not in [%lld, %lld]\n", t, (long long)t0, (long long)t1);
    CU_ASSERT(t >= t0 && t <= t1);
}

/* time over TCP: 4 bytes, then the server closes; over UDP: 4 bytes. */
static void test_time_tcp_udp(void)
{
    int port = it_free_port(IT_TCP4 | IT_UDP4), fd;
    struct it_daemon *d;
    struct sockaddr_storage to;
    socklen_t tolen;
    uint8_t buf[16];
    struct it_xfer x;
    time_t t0, t1;
    ssize_t n;

    CU_ASSERT_FATAL(port > 0);
    d = serve(it_printf("[time]\nplugin = time\n"
                        "listen = tcp://127.0.0.1:%d udp://127.0.0.1:%d\n", port, port));
    t0 = time(NULL);
    fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    it_xfer(fd, NULL, 0, 0, NULL, 0, buf, sizeof buf, sizeof buf, 1, IT_OP_MS, &x);
    t1 = time(NULL);
    CU_ASSERT_EQUAL(x.rcvd, 4);
    CU_ASSERT(x.eof);
    if (x.rcvd == 4)
        check_time_value(buf, t0, t1);

    fd = it_udp_socket(AF_INET, 0);
    CU_ASSERT_FATAL(fd >= 0);
    tolen = it_sa_inet(AF_INET, port, &to);
    t0 = time(NULL);
    n = it_dgram_ask(fd, &to, tolen, "", 0, buf, sizeof buf, 5);
    t1 = time(NULL);
    CU_ASSERT_EQUAL(n, 4);
    if (n == 4)
        check_time_value(buf, t0, t1);
    it_stop_ok(d);
}

static const char quotes[] = "Simplicity is prerequisite for reliability.\n"
                             "    -- Edsger W. Dijkstra\n"
                             "%\n"
                             "Premature optimization is the root of all evil.\n"
                             "%\n";
static const char *const quotes_sent[] = {
    "Simplicity is prerequisite for reliability.\r\n    -- Edsger W. Dijkstra\r\n",
    "Premature optimization is the root of all evil.\r\n",
};

static int is_a_quote(const void *got, size_t len)
{
    for (size_t i = 0; i < 2; i++)
        if (strlen(quotes_sent[i]) == len && memcmp(got, quotes_sent[i], len) == 0)
            return 1;
    printf("\n    not one of the quotes: \"%.*s\"\n", (int)len, (const char *)got);
    return 0;
}

/* qotd over TCP: a quote, then the server closes; over UDP: a quote. */
static void test_qotd_tcp_udp(void)
{
    int port = it_free_port(IT_TCP4 | IT_UDP4), fd;
    char *file = it_path("quotes");
    struct it_daemon *d;
    struct sockaddr_storage to;
    socklen_t tolen;
    uint8_t buf[1024];
    struct it_xfer x;
    ssize_t n;

    CU_ASSERT_FATAL(port > 0);
    CU_ASSERT_FATAL(it_write_file(file, quotes) == 0);
    d = serve(it_printf("[qotd]\nplugin = qotd\nfile = %s\n"
                        "listen = tcp://127.0.0.1:%d udp://127.0.0.1:%d\n", file, port, port));
    for (int i = 0; i < 3; i++) {
        fd = it_tcp_connect(AF_INET, port);
        CU_ASSERT_FATAL(fd >= 0);
        it_xfer(fd, NULL, 0, 0, NULL, 0, buf, sizeof buf, sizeof buf, 1, IT_OP_MS, &x);
        CU_ASSERT(x.eof);
        CU_ASSERT(is_a_quote(buf, x.rcvd));
        it_close(fd);
    }
    fd = it_udp_socket(AF_INET, 0);
    CU_ASSERT_FATAL(fd >= 0);
    tolen = it_sa_inet(AF_INET, port, &to);
    n = it_dgram_ask(fd, &to, tolen, "", 0, buf, sizeof buf, 5);
    CU_ASSERT(n > 0 && is_a_quote(buf, (size_t)n));
    it_stop_ok(d);
}

/* A quote over 512 bytes: superd -t says where, in the file and in the
 * configuration, and exits 1. */
static void test_qotd_long_quote_refused(void)
{
    char *file = it_path("quotes"), *long_quote = it_alloc(600), *conf, *out, *err, *want;
    const char *args[] = { "-t", "-c", NULL, NULL };
    int st, line;

    memset(long_quote, 'x', 599);
    CU_ASSERT_FATAL(it_write_file(file, it_printf("short\n%%\n%s\n%%\n", long_quote)) == 0);
    conf = it_conf(it_printf("[qotd]\nplugin = qotd\nfile = %s\nlisten = tcp://127.0.0.1:1\n",
                             file));
    line = it_line_of(it_read_file(conf), "file = ");
    CU_ASSERT_FATAL(line > 0);
    args[2] = conf;
    st = it_run(args, &out, &err);
    want = it_printf("superd: %s:%d: [qotd] file: %s:3: the quote is 601 bytes with CRLF "
                     "line ends, at most 512 are allowed (RFC 865)\n", conf, line, file);
    if (strcmp(err, want) != 0)
        printf("\n    expected stderr \"%s\", got \"%s\"\n", want, err);
    CU_ASSERT_STRING_EQUAL(err, want);
    CU_ASSERT(it_exited(st, 1));
}

static const struct it_test classic_tests[] = {
    { "classic: chargen over TCP, 1000 lines byte for byte", test_chargen_tcp },
    { "classic: chargen, clients that never read, bounded memory", test_chargen_unread_bounded },
    { "classic: chargen over UDP, 0..512 bytes of the pattern", test_chargen_udp },
    { "classic: time over TCP and UDP, seconds since 1900", test_time_tcp_udp },
    { "classic: qotd over TCP and UDP, a quote of the file", test_qotd_tcp_udp },
    { "classic: qotd, a quote over 512 bytes refused by superd -t", test_qotd_long_quote_refused },
};

IT_REGISTER(classic_tests)
