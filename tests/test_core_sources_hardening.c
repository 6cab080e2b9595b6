/*
 * test_core_sources_hardening.c - the per-source table and the shared
 * counters under attack (issue 9): sources counted per prefix, a keyed
 * table that chosen addresses cannot crowd a victim out of, buckets that
 * eviction cannot reset while they limit, counts that stay exact when
 * workers are killed in the middle of an update, and a master that never
 * waits on a lock a worker holds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sources.h"
#include "stats.h"
#include "test_core.h"

static struct sources *tab;

static void setup(void)
{
    tab = sources_create();
}

static void teardown(void)
{
    sources_destroy(tab);
    tab = NULL;
}

static const struct sockaddr *ip(const char *text, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, text, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(40000);
    } else {
        CU_ASSERT_FATAL(inet_pton(AF_INET6, text, &in6->sin6_addr) == 1);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(40000);
    }
    return (const struct sockaddr *)ss;
}

static const struct sockaddr *v4n(uint32_t host, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(host);
    return (const struct sockaddr *)ss;
}

static struct conf_service svc(long max, unsigned count, unsigned per_ms)
{
    struct conf_service cs;
    memset(&cs, 0, sizeof cs);
    cs.max_per_source = max;
    cs.rate_limit = (struct conf_rate){ count, per_ms };
    return cs;
}

static enum src_verdict conn_in(const struct conf_service *cs, int worker, const char *addr)
{
    struct sockaddr_storage ss;
    return sources_admit(tab, 0, worker, ip(addr, &ss), cs, true);
}

/* ---- sources per prefix ---- */

static void test_one_v6_prefix_is_one_source(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(tab);
    struct conf_service cs = svc(2, 0, 0);
    CU_ASSERT_EQUAL(conn_in(&cs, 0, "2001:db8:1:2::1"), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(&cs, 1, "2001:db8:1:2:ffff:ffff:ffff:fffe"), SRC_OK);
    /* Any third address of that /64 is over max_per_source 2. */
    CU_ASSERT_EQUAL(conn_in(&cs, 0, "2001:db8:1:2:abcd::7"), SRC_TOO_MANY);
    CU_ASSERT_EQUAL(conn_in(&cs, 0, "2001:db8:1:3::1"), SRC_OK);
    /* A release from any address of the /64 frees its place. */
    struct sockaddr_storage ss;
    sources_release(tab, 0, 1, ip("2001:db8:1:2:ffff:ffff:ffff:fffe", &ss), &cs);
    CU_ASSERT_EQUAL(conn_in(&cs, 1, "2001:db8:1:2::99"), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(&cs, 1, "2001:db8:1:2::99"), SRC_TOO_MANY);
}

static void test_configured_prefixes(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(tab);
    struct conf_service cs = svc(1, 0, 0);
    cs.source_prefix_v6 = 48;
    cs.source_prefix_v4 = 24;
    CU_ASSERT_EQUAL(conn_in(&cs, 0, "2001:db8:5::1"), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(&cs, 0, "2001:db8:5:ffff::1"), SRC_TOO_MANY);
    CU_ASSERT_EQUAL(conn_in(&cs, 0, "2001:db8:6::1"), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(&cs, 0, "198.51.100.1"), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(&cs, 0, "198.51.100.254"), SRC_TOO_MANY);
    CU_ASSERT_EQUAL(conn_in(&cs, 0, "::ffff:198.51.100.9"), SRC_TOO_MANY);
    CU_ASSERT_EQUAL(conn_in(&cs, 0, "198.51.101.1"), SRC_OK);
    /* The default /32: every IPv4 address is a source. */
    struct conf_service dflt = svc(1, 0, 0);
    CU_ASSERT_EQUAL(conn_in(&dflt, 0, "203.0.113.1"), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(&dflt, 0, "203.0.113.2"), SRC_OK);
}

/* ---- eviction cannot reset a limiting bucket ---- */

static void test_limited_bucket_survives_floods(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(tab);
    struct conf_service cs = svc(0, 3, 60000);
    struct sockaddr_storage ss;
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(conn_in(&cs, 0, "192.0.2.66"), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(&cs, 0, "192.0.2.66"), SRC_RATE);
    /* A flood of new sources (one connection each), then one of sources
     * that drain their own buckets too, so that limiting entries must go. */
    unsigned full = 0;
    for (uint32_t i = 0; i < 200000; i++)
        full += sources_admit(tab, 0, 0, v4n(0x0a000000u + i, &ss), &cs, true) == SRC_FULL;
    CU_ASSERT_EQUAL(conn_in(&cs, 0, "192.0.2.66"), SRC_RATE);
    for (uint32_t i = 0; i < 100000; i++)
        for (int k = 0; k < 4; k++)
            full += sources_admit(tab, 0, 0, v4n(0x0b000000u + i, &ss), &cs, true) == SRC_FULL;
    CU_ASSERT_EQUAL(full, 0);
    CU_ASSERT(sources_used(tab) <= SOURCES_CAPACITY);
    CU_ASSERT_EQUAL(conn_in(&cs, 0, "192.0.2.66"), SRC_RATE);
    /* The same for the datagram reply budget. */
    struct conf_rate two = { 2, 60000 };
    const struct sockaddr *victim = ip("192.0.2.67", &ss);
    CU_ASSERT(sources_reply(tab, 0, victim, &cs, &two));
    CU_ASSERT(sources_reply(tab, 0, victim, &cs, &two));
    CU_ASSERT_FALSE(sources_reply(tab, 0, victim, &cs, &two));
    struct sockaddr_storage fs;
    for (uint32_t i = 0; i < 100000; i++)
        for (int k = 0; k < 3; k++)
            sources_reply(tab, 0, v4n(0x0c000000u + i, &fs), &cs, &two);
    CU_ASSERT_FALSE(sources_reply(tab, 0, ip("192.0.2.67", &ss), &cs, &two));
}

/* ---- chosen addresses cannot crowd a victim out ---- */

/* The table's former unkeyed hash (FNV-1a of {svc, worker, family, addr},
 * 22 bytes), which anyone could compute. */
static unsigned fnv_home(int svc, int worker, uint32_t host)
{
    uint8_t k[22] = { 0 };
    int16_t s16 = (int16_t)svc, w16 = (int16_t)worker;
    uint32_t be = htonl(host);
    memcpy(k, &s16, 2);
    memcpy(k + 2, &w16, 2);
    k[4] = AF_INET;
    memcpy(k + 5, &be, 4);
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < sizeof k; i++)
        h = (h ^ k[i]) * 16777619u;
    return h % 65536;
}

static void test_colliding_addresses_do_not_lock_out(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(tab);
    const uint32_t victim = 0xc0000201u;    /* 192.0.2.1 */
    unsigned hv = fnv_home(0, -1, victim), in_window = 0, held = 0;
    struct conf_service cs = svc(1, 0, 0);
    struct sockaddr_storage ss;
    /* Hold one connection from each address whose entries would sit in
     * the 64 slots after the victim's home: 80 entries for 64 slots. */
    for (uint32_t host = 0x0a000000u; in_window < 80 && host < 0x0b000000u; host++) {
        unsigned a = (fnv_home(0, -1, host) - hv) % 65536, o = (fnv_home(0, 0, host) - hv) % 65536;
        if (a >= 64 && o >= 64)
            continue;
        in_window += (a < 64) + (o < 64);
        held += sources_admit(tab, 0, 0, v4n(host, &ss), &cs, true) == SRC_OK;
    }
    CU_ASSERT(in_window >= 80);
    CU_ASSERT(held > 40);
    CU_ASSERT_EQUAL(sources_admit(tab, 0, 0, v4n(victim, &ss), &cs, true), SRC_OK);
}

/* Two tables (two starts) place keys differently: the key is random. */
static void test_key_differs_per_start(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(tab);
    struct sources *other = sources_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(other);
    CU_ASSERT(memcmp((const char *)tab + sizeof(pthread_mutex_t),
                     (const char *)other + sizeof(pthread_mutex_t), 16) != 0);
    sources_destroy(other);
}

/* ---- workers killed in the middle of an update ---- */

static void sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    while (nanosleep(&ts, &ts) < 0)
        ;
}

/* A worker's life on row `row`: connections from one source come and go. */
static void busy_worker(int row, const struct conf_service *cs) __attribute__((noreturn));
static void busy_worker(int row, const struct conf_service *cs)
{
    struct sockaddr_storage ss;
    const struct sockaddr *sa = ip("192.0.2.9", &ss);
    for (;;) {
        if (sources_admit(tab, 0, row, sa, cs, true) == SRC_OK)
            sources_release(tab, 0, row, sa, cs);
    }
}

/*
 * 100 times: a worker admitting and releasing connections from one source
 * is killed at a random moment, perhaps between the two counts of an
 * update, perhaps holding the lock; its row is marked gone, as the master
 * does.  Then the source still gets exactly max_per_source connections.
 */
static void test_killed_workers_leak_nothing(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(tab);
    struct conf_service cs = svc(3, 0, 0);
    struct sockaddr_storage ss;
    const struct sockaddr *sa = ip("192.0.2.9", &ss);
    /* One connection held by a live row all along. */
    CU_ASSERT_EQUAL(sources_admit(tab, 0, 5, sa, &cs, true), SRC_OK);
    srand(9);
    for (int i = 0; i < 100; i++) {
        int row = 1 + i % 3;
        pid_t pid = fork();
        CU_ASSERT_FATAL(pid >= 0);
        if (pid == 0)
            busy_worker(row, &cs);
        sleep_us(200 + rand() % 1500);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        sources_worker_gone(tab, row);
    }
    int n = 0;
    while (n < 10 && sources_admit(tab, 0, 0, sa, &cs, true) == SRC_OK)
        n++;
    CU_ASSERT_EQUAL(n, 2);
}

/* The same for max_connections: the stats rows. */
static void busy_stats(struct stats *st, int row, int slot) __attribute__((noreturn));
static void busy_stats(struct stats *st, int row, int slot)
{
    for (;;)
        if (stats_conn_admit(st, row, slot, 4, 6))
            stats_conn_release(st, row, slot);
}

static void test_killed_workers_keep_max_connections(void)
{
    struct stats *st = stats_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    int slot = stats_service_slot(st, "echo");
    CU_ASSERT_FATAL(slot >= 0);
    int live = stats_worker_take(st);
    CU_ASSERT_TRUE(stats_conn_admit(st, live, slot, 4, 6));
    srand(4);
    for (int i = 0; i < 100; i++) {
        int row = stats_worker_take(st);
        CU_ASSERT_FATAL(row >= 0);
        pid_t pid = fork();
        CU_ASSERT_FATAL(pid >= 0);
        if (pid == 0)
            busy_stats(st, row, slot);
        sleep_us(200 + rand() % 1500);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        stats_worker_release(st, row);
    }
    int n = 0;
    while (n < 10 && stats_conn_admit(st, live, slot, 4, 6))
        n++;
    CU_ASSERT_EQUAL(n, 3);
    struct stats_row r;
    stats_sum(st, slot, &r);
    CU_ASSERT_EQUAL(r.active, 4);
    stats_destroy(st);
}

/* ---- the master never waits on the lock ---- */

/*
 * A worker holds the table's lock and never lets go (stopped, or stuck in
 * a loop).  The master's calls for a gone worker return at once; once the
 * holder dies, the next locker repairs the table (EOWNERDEAD) and drops
 * the gone rows' counts.
 */
static void test_master_never_waits(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(tab);
    struct conf_service cs = svc(2, 0, 0);
    CU_ASSERT_EQUAL(conn_in(&cs, 3, "192.0.2.5"), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(&cs, 3, "192.0.2.5"), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(&cs, 0, "192.0.2.5"), SRC_TOO_MANY);
    int ready[2];
    CU_ASSERT_FATAL(pipe(ready) == 0);
    pid_t holder = fork();
    CU_ASSERT_FATAL(holder >= 0);
    if (holder == 0) {
        /* The lock is the table's first member (sources.c). */
        pthread_mutex_lock((pthread_mutex_t *)tab);
        (void)!write(ready[1], "x", 1);
        for (;;)
            pause();
    }
    char c;
    CU_ASSERT_FATAL(read(ready[0], &c, 1) == 1);
    /* The master's part, in a child so that a wait cannot hang the test. */
    pid_t master = fork();
    CU_ASSERT_FATAL(master >= 0);
    if (master == 0) {
        sources_worker_gone(tab, 3);
        _exit(0);
    }
    int status = -1, waited = 0;
    while (waitpid(master, &status, WNOHANG) == 0 && waited++ < 200)
        sleep_us(10000);
    if (waited > 200) {
        kill(master, SIGKILL);
        waitpid(master, &status, 0);
    }
    CU_ASSERT(waited <= 200 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    close(ready[0]);
    close(ready[1]);
    /* Row 3's two connections no longer count. */
    CU_ASSERT_EQUAL(conn_in(&cs, 0, "192.0.2.5"), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(&cs, 0, "192.0.2.5"), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(&cs, 0, "192.0.2.5"), SRC_TOO_MANY);
}

/* ---- statistics slots ---- */

static struct conf *one_service_conf(const char *name)
{
    static struct conf c;
    static struct conf_service s;
    static char buf[64];
    snprintf(buf, sizeof buf, "%s", name);
    memset(&c, 0, sizeof c);
    memset(&s, 0, sizeof s);
    s.name = buf;
    s.enabled = true;
    c.path = (char *)"test.ini";
    c.svcs = &s;
    c.nsvcs = 1;
    return &c;
}

/* 400 configurations in turn, each with another service name, each served
 * by a worker that is then gone: slots are freed, so every name gets one. */
static void test_slots_freed(void)
{
    struct stats *st = stats_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    char err[256] = "";
    int prev = -1;
    for (int i = 0; i < 400; i++) {
        char name[32];
        snprintf(name, sizeof name, "svc%d", i);
        int r = stats_assign(st, one_service_conf(name), err, sizeof err);
        if (r < 0) {
            printf("\n    configuration %d: %s\n", i, err);
            CU_FAIL("stats_assign refused");
            break;
        }
        int row = stats_worker_take(st);
        CU_ASSERT(row >= 0);
        /* The previous generation's worker drains, then goes. */
        if (prev >= 0)
            stats_worker_release(st, prev);
        prev = row;
        int slot = stats_service_slot(st, name);
        CU_ASSERT(stats_conn_admit(st, row, slot, 1, 0));
        CU_ASSERT_FALSE(stats_conn_admit(st, row, slot, 1, 0));
        stats_conn_release(st, row, slot);
    }
    stats_destroy(st);
}

static void test_too_many_services(void)
{
    struct stats *st = stats_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    enum { N = STATS_MAX_SERVICES + 1 };
    static struct conf_service svcs[N];
    static char names[N][16];
    struct conf c = { .path = (char *)"superd.ini", .svcs = svcs, .nsvcs = N };
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "s%d", i);
        svcs[i] = (struct conf_service){ .name = names[i], .enabled = true };
    }
    char err[512] = "";
    CU_ASSERT_EQUAL(stats_assign(st, &c, err, sizeof err), -ENOSPC);
    ASSERT_STR(err, "superd.ini: 129 services, but superd can count (limits and statistics) "
                    "at most 128");
    /* Nothing was taken: the first 128 fit. */
    c.nsvcs = N - 1;
    CU_ASSERT_EQUAL(stats_assign(st, &c, err, sizeof err), 0);
    int row = stats_worker_take(st);
    /* While a worker still serves them, 128 other services do not fit. */
    for (int i = 0; i < N - 1; i++)
        names[i][0] = 't';
    CU_ASSERT_EQUAL(stats_fit(st, &c, err, sizeof err), -ENOSPC);
    ASSERT_STR(err, "superd.ini: 128 services, but superd can count (limits and statistics) "
                    "only 0 more while workers of the earlier configuration still serve 128 "
                    "others; retry once they have finished");
    stats_worker_release(st, row);
    CU_ASSERT_EQUAL(stats_assign(st, &c, err, sizeof err), 0);
    stats_destroy(st);
}

/* ---- the two keys ---- */

static void test_prefix_keys(void)
{
    char err[CONF_ERR_MAX] = "";
    struct conf *c = NULL;
    const char *text = "[superd]\nsource_prefix_v6 = 56\n"
                       "[a]\nplugin = echo\nlisten = tcp://127.0.0.1:7\nsource_prefix_v4 = 24\n"
                       "[b]\nplugin = echo\nlisten = tcp://127.0.0.1:8\nsource_prefix_v6 = 128\n";
    CU_ASSERT_EQUAL_FATAL(conf_load_string(text, "t.ini", &c, err, sizeof err), 0);
    CU_ASSERT_EQUAL(c->svcs[0].source_prefix_v4, 24);
    CU_ASSERT_EQUAL(c->svcs[0].source_prefix_v6, 56);     /* [superd]'s */
    CU_ASSERT_EQUAL(c->svcs[1].source_prefix_v4, 0);      /* the default, 32 */
    CU_ASSERT_EQUAL(c->svcs[1].source_prefix_v6, 128);
    conf_free(c);
    c = NULL;
    CU_ASSERT(conf_load_string("[a]\nplugin = echo\nlisten = tcp://127.0.0.1:7\n"
                               "source_prefix_v4 = 33\n", "t.ini", &c, err, sizeof err) < 0);
    ASSERT_STR(err, "t.ini:4: [a] source_prefix_v4: '33' is not a prefix length from 1 to 32");
    CU_ASSERT(conf_load_string("[superd]\nsource_prefix_v6 = /64\n", "t.ini", &c, err,
                               sizeof err) < 0);
    ASSERT_STR(err, "t.ini:2: [superd] source_prefix_v6: '/64' is not a prefix length from 1 "
                    "to 128");
}

int test_core_sources_hardening_register(void)
{
    static const struct tc_test tests[] = {
        { "two addresses of one /64 share max_per_source", test_one_v6_prefix_is_one_source },
        { "source_prefix_v4 / source_prefix_v6", test_configured_prefixes },
        { "a limiting bucket is not reset by floods of other sources",
          test_limited_bucket_survives_floods },
        { "addresses colliding in the old hash do not lock a victim out",
          test_colliding_addresses_do_not_lock_out },
        { "the table's key is drawn per start", test_key_differs_per_start },
        { "100 workers killed mid-update: max_per_source stays exact",
          test_killed_workers_leak_nothing },
        { "100 workers killed mid-update: max_connections stays exact",
          test_killed_workers_keep_max_connections },
        { "the master never waits on a lock a worker holds", test_master_never_waits },
        { "stats slots are freed: 400 service names in turn", test_slots_freed },
        { "more services than slots: refused with one line", test_too_many_services },
        { "source_prefix_v4 / _v6 keys: [superd] default, per service, bad values",
          test_prefix_keys },
    };
    return tc_register("core: per-source table and counters under attack", setup, teardown,
                       tests, sizeof tests / sizeof tests[0]);
}
