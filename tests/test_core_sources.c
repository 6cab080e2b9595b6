/*
 * test_core_sources.c - the per-source table shared by every worker:
 * max_per_source (exact across worker rows, released, given back when a
 * worker is gone), rate_limit token buckets, the datagram reply budget,
 * and its fixed bound under a flood of distinct addresses.  Each test
 * gets a fresh table from sources_create().
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "sources.h"
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

/* Every test needs the table. */
#define NEED_TABLE() CU_ASSERT_PTR_NOT_NULL_FATAL(tab)

static const struct conf_rate no_rate = { 0, 0 };

/* A service's settings as sources_admit reads them (default prefixes). */
static const struct conf_service *pol(long max_per_source, const struct conf_rate *rate)
{
    static struct conf_service cs[4];
    static unsigned next;
    struct conf_service *c = &cs[next++ % 4];
    memset(c, 0, sizeof *c);
    c->max_per_source = max_per_source;
    c->rate_limit = *rate;
    return c;
}

/* An IPv4 peer 10.a.b.c from a number (distinct numbers, distinct
 * addresses), or a given text address. */
static const struct sockaddr *v4n(uint32_t n, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)(1024 + n % 60000));
    in->sin_addr.s_addr = htonl(0x0a000000u | (n & 0xffffffu));
    return (const struct sockaddr *)ss;
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

/* Admit a counted connection from `addr` (text) on service 0. */
static enum src_verdict conn_in(int worker, const char *addr, long max,
                                const struct conf_rate *rate)
{
    struct sockaddr_storage ss;
    return sources_admit(tab, 0, worker, ip(addr, &ss), pol(max, rate), true);
}

static void conn_out(int worker, const char *addr)
{
    struct sockaddr_storage ss;
    sources_release(tab, 0, worker, ip(addr, &ss), pol(1, &no_rate));
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0)
        ;
}

/* ---- max_per_source ---- */

static void test_max_per_source_exact(void)
{
    NEED_TABLE();
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 3, &no_rate), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 3, &no_rate), SRC_TOO_MANY);
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 3, &no_rate), SRC_TOO_MANY);
    /* Other sources are untouched. */
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.2", 3, &no_rate), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(0, "2001:db8::1", 3, &no_rate), SRC_OK);
    /* Release frees exactly one slot. */
    conn_out(0, "192.0.2.1");
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 3, &no_rate), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 3, &no_rate), SRC_TOO_MANY);
    conn_out(0, "192.0.2.1");
    conn_out(0, "192.0.2.1");
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 3, &no_rate), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 3, &no_rate), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 3, &no_rate), SRC_TOO_MANY);
}

/* Another service has its own counts for the same address. */
static void test_max_per_source_per_service(void)
{
    NEED_TABLE();
    struct sockaddr_storage ss;
    const struct sockaddr *sa = ip("192.0.2.1", &ss);
    CU_ASSERT_EQUAL(sources_admit(tab, 0, 0, sa, pol(1, &no_rate), true), SRC_OK);
    CU_ASSERT_EQUAL(sources_admit(tab, 0, 0, sa, pol(1, &no_rate), true), SRC_TOO_MANY);
    CU_ASSERT_EQUAL(sources_admit(tab, 1, 0, sa, pol(1, &no_rate), true), SRC_OK);
    CU_ASSERT_EQUAL(sources_admit(tab, 1, 0, sa, pol(1, &no_rate), true), SRC_TOO_MANY);
    sources_release(tab, 1, 0, sa, pol(1, &no_rate));
    CU_ASSERT_EQUAL(sources_admit(tab, 0, 0, sa, pol(1, &no_rate), true), SRC_TOO_MANY);
    CU_ASSERT_EQUAL(sources_admit(tab, 1, 0, sa, pol(1, &no_rate), true), SRC_OK);
}

/* A datagram (not counted) never takes a slot. */
static void test_uncounted_takes_no_slot(void)
{
    NEED_TABLE();
    struct sockaddr_storage ss;
    const struct sockaddr *sa = ip("192.0.2.1", &ss);
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(sources_admit(tab, 0, 0, sa, pol(1, &no_rate), false), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 1, &no_rate), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 1, &no_rate), SRC_TOO_MANY);
}

static void test_two_workers_share_a_limit(void)
{
    NEED_TABLE();
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 2, &no_rate), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(1, "192.0.2.1", 2, &no_rate), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 2, &no_rate), SRC_TOO_MANY);
    CU_ASSERT_EQUAL(conn_in(1, "192.0.2.1", 2, &no_rate), SRC_TOO_MANY);
    /* A release on either row frees the shared slot. */
    conn_out(1, "192.0.2.1");
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 2, &no_rate), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(1, "192.0.2.1", 2, &no_rate), SRC_TOO_MANY);
    conn_out(0, "192.0.2.1");
    conn_out(0, "192.0.2.1");
    CU_ASSERT_EQUAL(conn_in(1, "192.0.2.1", 2, &no_rate), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(1, "192.0.2.1", 2, &no_rate), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 2, &no_rate), SRC_TOO_MANY);
}

static void test_worker_gone_gives_back(void)
{
    NEED_TABLE();
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 3, &no_rate), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(1, "192.0.2.1", 3, &no_rate), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(1, "192.0.2.1", 3, &no_rate), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(1, "192.0.2.2", 1, &no_rate), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 3, &no_rate), SRC_TOO_MANY);
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.2", 1, &no_rate), SRC_TOO_MANY);
    sources_worker_gone(tab, 1);
    /* Row 1's two are back; row 0's one still counts. */
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 3, &no_rate), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 3, &no_rate), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 3, &no_rate), SRC_TOO_MANY);
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.2", 1, &no_rate), SRC_OK);
    /* A late release from the dead row changes nothing. */
    conn_out(1, "192.0.2.1");
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 3, &no_rate), SRC_TOO_MANY);
    /* A new worker may reuse the row. */
    CU_ASSERT_EQUAL(conn_in(1, "192.0.2.3", 1, &no_rate), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(1, "192.0.2.3", 1, &no_rate), SRC_TOO_MANY);
}

/*
 * Many sources, connections on rows 0, 1 and 2 interleaved: after row 1
 * is gone, every source has exactly its row 0 and row 2 connections left
 * (this walks the table's deletion while entries shift back).
 */
static void test_worker_gone_many(void)
{
    NEED_TABLE();
    enum { N = 5000, MAX = 8 };
    struct sockaddr_storage ss;
    for (uint32_t i = 0; i < N; i++) {
        const struct sockaddr *sa = v4n(i, &ss);
        int held[3] = { (int)(i % 3), 1 + (int)(i % 2), (int)(i % 4) };
        for (int w = 0; w < 3; w++)
            for (int k = 0; k < held[w]; k++)
                CU_ASSERT_EQUAL(sources_admit(tab, 0, w, sa, pol(MAX, &no_rate), true), SRC_OK);
    }
    unsigned before = sources_used(tab);
    /* Only marked: the next locker drops the row's entries. */
    sources_worker_gone(tab, 1);
    CU_ASSERT_EQUAL(sources_used(tab), before);
    unsigned bad = 0;
    for (uint32_t i = 0; i < N; i++) {
        const struct sockaddr *sa = v4n(i, &ss);
        int left = (int)(i % 3) + (int)(i % 4);
        /* Exactly MAX - left more fit. */
        int more = 0;
        while (more <= MAX && sources_admit(tab, 0, 0, sa, pol(MAX, &no_rate), true) == SRC_OK)
            more++;
        if (more != MAX - left && bad++ < 5)
            printf("\n    source %u: %d more fit, expected %d\n", i, more, MAX - left);
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(sources_used(tab) < before);
    /* Every row entry is dropped: only aggregates (aging out) and the new ones. */
    sources_worker_gone(tab, 0);
    sources_worker_gone(tab, 2);
    for (uint32_t i = 0; i < N; i += 97)
        CU_ASSERT_EQUAL(sources_admit(tab, 0, 0, v4n(i, &ss), pol(1, &no_rate), true), SRC_OK);
    CU_ASSERT(sources_used(tab) <= N + 2 * (N / 97 + 1));
}

/* ---- one source, however it arrives ---- */

static void test_v4_mapped_is_the_same_source(void)
{
    NEED_TABLE();
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 2, &no_rate), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(0, "::ffff:192.0.2.1", 2, &no_rate), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 2, &no_rate), SRC_TOO_MANY);
    CU_ASSERT_EQUAL(conn_in(0, "::ffff:192.0.2.1", 2, &no_rate), SRC_TOO_MANY);
    conn_out(0, "::ffff:192.0.2.1");
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 2, &no_rate), SRC_OK);
}

static void test_ipv6_per_prefix(void)
{
    NEED_TABLE();
    CU_ASSERT_EQUAL(conn_in(0, "2001:db8::1", 1, &no_rate), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(0, "2001:db8::1", 1, &no_rate), SRC_TOO_MANY);
    /* Same /64 (source_prefix_v6 by default), another address: the same source. */
    CU_ASSERT_EQUAL(conn_in(0, "2001:db8::2", 1, &no_rate), SRC_TOO_MANY);
    /* Another /64: another source. */
    CU_ASSERT_EQUAL(conn_in(0, "2001:db8:0:1::1", 1, &no_rate), SRC_OK);
}

static void test_unix_always_admitted(void)
{
    NEED_TABLE();
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    const struct sockaddr *sa = (const struct sockaddr *)&un;
    struct conf_rate one = { 1, 60000 };
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(sources_admit(tab, 0, 0, sa, pol(1, &one), true), SRC_OK);
    for (int i = 0; i < 10; i++)
        CU_ASSERT(sources_reply(tab, 0, sa, pol(0, &no_rate), &one));
    sources_release(tab, 0, 0, sa, pol(1, &no_rate));
    CU_ASSERT_EQUAL(sources_used(tab), 0);
    /* No table (a single process without shared memory): no limits. */
    struct sockaddr_storage ss;
    CU_ASSERT_EQUAL(sources_admit(NULL, 0, 0, ip("192.0.2.1", &ss), pol(1, &one), true), SRC_OK);
    CU_ASSERT(sources_reply(NULL, 0, ip("192.0.2.1", &ss), pol(0, &no_rate), &one));
    CU_ASSERT_EQUAL(sources_used(NULL), 0);
}

/* ---- rate_limit ---- */

static void test_rate_burst_then_refused(void)
{
    NEED_TABLE();
    struct conf_rate r = { 3, 1000 };
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 0, &r), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 0, &r), SRC_RATE);
    CU_ASSERT_EQUAL(conn_in(1, "192.0.2.1", 0, &r), SRC_RATE);
    /* Another source has its own bucket. */
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(conn_in(0, "192.0.2.2", 0, &r), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.2", 0, &r), SRC_RATE);
    /* Datagrams take from the same bucket. */
    struct sockaddr_storage ss;
    CU_ASSERT_EQUAL(sources_admit(tab, 0, 0, ip("192.0.2.3", &ss), pol(0, &r), false), SRC_OK);
    CU_ASSERT_EQUAL(sources_admit(tab, 0, 0, ip("192.0.2.3", &ss), pol(0, &r), false), SRC_OK);
    CU_ASSERT_EQUAL(sources_admit(tab, 0, 0, ip("192.0.2.3", &ss), pol(0, &r), false), SRC_OK);
    CU_ASSERT_EQUAL(sources_admit(tab, 0, 0, ip("192.0.2.3", &ss), pol(0, &r), false), SRC_RATE);
}

static void test_rate_refills(void)
{
    NEED_TABLE();
    /* 3 per 50 ms: a token every 17 ms, the bucket full again in 50. */
    struct conf_rate r = { 3, 50 };
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 0, &r), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 0, &r), SRC_RATE);
    sleep_ms(80);
    /* Full again, but never above the burst. */
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 0, &r), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 0, &r), SRC_RATE);
    /* Refused tries take nothing: one token after about 17 ms. */
    enum src_verdict v = SRC_RATE;
    for (int i = 0; i < 200 && v == SRC_RATE; i++) {
        sleep_ms(2);
        v = conn_in(0, "192.0.2.1", 0, &r);
    }
    CU_ASSERT_EQUAL(v, SRC_OK);
}

/* max_per_source is checked first: a connection refused by it takes no
 * token; one refused by the rate takes no slot. */
static void test_rate_and_max_per_source(void)
{
    NEED_TABLE();
    struct conf_rate r = { 2, 60000 };
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 1, &r), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 1, &r), SRC_TOO_MANY);
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 1, &r), SRC_TOO_MANY);
    conn_out(0, "192.0.2.1");
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 1, &r), SRC_OK);
    conn_out(0, "192.0.2.1");
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 1, &r), SRC_RATE);
    /* The refused one left the slot free: with a fresh bucket it fits. */
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 1, &no_rate), SRC_OK);
    CU_ASSERT_EQUAL(conn_in(0, "192.0.2.1", 1, &no_rate), SRC_TOO_MANY);
}

/* ---- the reply budget ---- */

static void test_reply_budget(void)
{
    NEED_TABLE();
    struct sockaddr_storage a, b;
    const struct sockaddr *sa = ip("192.0.2.1", &a), *sb = ip("2001:db8::1", &b);
    struct conf_rate r = { 10, 1000 };
    for (int i = 0; i < 10; i++)
        CU_ASSERT(sources_reply(tab, 0, sa, pol(0, &no_rate), &r));
    CU_ASSERT_FALSE(sources_reply(tab, 0, sa, pol(0, &no_rate), &r));
    CU_ASSERT_FALSE(sources_reply(tab, 0, sa, pol(0, &no_rate), &r));
    /* Per source and per service. */
    CU_ASSERT(sources_reply(tab, 0, sb, pol(0, &no_rate), &r));
    CU_ASSERT(sources_reply(tab, 1, sa, pol(0, &no_rate), &r));
    /* The reply budget is not the rate_limit bucket. */
    struct conf_rate one = { 1, 60000 };
    CU_ASSERT_EQUAL(sources_admit(tab, 0, 0, sa, pol(0, &one), false), SRC_OK);
    CU_ASSERT_EQUAL(sources_admit(tab, 0, 0, sa, pol(0, &one), false), SRC_RATE);
    CU_ASSERT_FALSE(sources_reply(tab, 0, sa, pol(0, &no_rate), &r));
}

static void test_reply_budget_refills(void)
{
    NEED_TABLE();
    struct sockaddr_storage a;
    const struct sockaddr *sa = ip("192.0.2.1", &a);
    struct conf_rate r = { 5, 50 };
    for (int i = 0; i < 5; i++)
        CU_ASSERT(sources_reply(tab, 0, sa, pol(0, &no_rate), &r));
    CU_ASSERT_FALSE(sources_reply(tab, 0, sa, pol(0, &no_rate), &r));
    sleep_ms(80);
    int n = 0;
    while (n < 100 && sources_reply(tab, 0, sa, pol(0, &no_rate), &r))
        n++;
    /* Back to the burst, not above it. */
    CU_ASSERT_EQUAL(n, 5);
}

/* ---- the fixed bound ---- */

/* rate_limit only: entries hold no connection, so old ones are evicted
 * and no new source is ever refused for room. */
static void test_flood_rate_only(void)
{
    NEED_TABLE();
    struct conf_rate r = { 5, 1000 };
    struct sockaddr_storage ss;
    unsigned full = 0, other = 0, peak = 0;
    for (uint32_t i = 0; i < 200000; i++) {
        enum src_verdict v = sources_admit(tab, 0, (int)(i % 4), v4n(i, &ss), pol(0, &r), true);
        if (v == SRC_FULL)
            full++;
        else if (v != SRC_OK)
            other++;
        unsigned used = sources_used(tab);
        if (used > peak)
            peak = used;
    }
    if (full)
        printf("\n    %u of 200000 new sources refused as 'table full'\n", full);
    CU_ASSERT_EQUAL(full, 0);
    CU_ASSERT_EQUAL(other, 0);
    CU_ASSERT(peak <= SOURCES_CAPACITY);
    CU_ASSERT(sources_used(tab) <= SOURCES_CAPACITY);
    /* The table still works: a source seen last still has its bucket. */
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(sources_admit(tab, 0, 0, v4n(199999, &ss), pol(0, &r), true), SRC_OK);
    CU_ASSERT_EQUAL(sources_admit(tab, 0, 0, v4n(199999, &ss), pol(0, &r), true), SRC_RATE);
}

/* Sources holding connections are never evicted by a flood. */
static void test_flood_keeps_held_slots(void)
{
    NEED_TABLE();
    enum { HELD = 1000 };
    struct conf_rate r = { 5, 1000 };
    struct sockaddr_storage ss;
    struct sockaddr_in held;
    for (uint32_t i = 0; i < HELD; i++) {
        v4n(i, &ss);
        memcpy(&held, &ss, sizeof held);
        held.sin_addr.s_addr = htonl(0xc0000000u | i);     /* 192.0.x.x */
        CU_ASSERT_EQUAL(sources_admit(tab, 0, 0, (struct sockaddr *)&held, pol(1, &no_rate), true), SRC_OK);
    }
    unsigned full = 0;
    for (uint32_t i = 0; i < 200000; i++)
        full += sources_admit(tab, 1, 0, v4n(i, &ss), pol(0, &r), true) == SRC_FULL;
    CU_ASSERT_EQUAL(full, 0);
    CU_ASSERT(sources_used(tab) <= SOURCES_CAPACITY);
    unsigned lost = 0;
    for (uint32_t i = 0; i < HELD; i++) {
        v4n(i, &ss);
        memcpy(&held, &ss, sizeof held);
        held.sin_addr.s_addr = htonl(0xc0000000u | i);
        const struct sockaddr *sa = (const struct sockaddr *)&held;
        /* Still counted ... */
        lost += sources_admit(tab, 0, 0, sa, pol(1, &no_rate), true) != SRC_TOO_MANY;
        /* ... and released by its row. */
        sources_release(tab, 0, 0, sa, pol(1, &no_rate));
        lost += sources_admit(tab, 0, 0, sa, pol(1, &no_rate), true) != SRC_OK;
    }
    CU_ASSERT_EQUAL(lost, 0);
}

/*
 * max_per_source: each source holding a connection takes two entries (the
 * total and its worker's), which cannot be evicted.  When they fill the
 * table, new sources are refused (SRC_FULL, "per-source table full"); once
 * released, their idle entries make room again and no new source is
 * refused.
 */
static void test_full_table_then_room_again(void)
{
    NEED_TABLE();
    enum { N = 40000 };
    struct sockaddr_storage ss;
    unsigned ok = 0, full = 0;
    static uint8_t admitted[N];
    memset(admitted, 0, sizeof admitted);
    for (uint32_t i = 0; i < N; i++) {
        enum src_verdict v = sources_admit(tab, 0, 0, v4n(i, &ss), pol(1, &no_rate), true);
        admitted[i] = v == SRC_OK;
        ok += v == SRC_OK;
        full += v == SRC_FULL;
    }
    CU_ASSERT_EQUAL(ok + full, N);
    CU_ASSERT(full > 0);
    CU_ASSERT(sources_used(tab) <= SOURCES_CAPACITY);
    for (uint32_t i = 0; i < N; i++)
        if (admitted[i])
            sources_release(tab, 0, 0, v4n(i, &ss), pol(1, &no_rate));
    /* Only idle totals are left (also of sources refused as full), aging out. */
    CU_ASSERT(sources_used(tab) <= ok + full);
    unsigned full2 = 0;
    for (uint32_t i = N; i < N + ok / 2; i++)
        full2 += sources_admit(tab, 0, 0, v4n(i, &ss), pol(1, &no_rate), true) == SRC_FULL;
    if (full2)
        printf("\n    %u of %u new sources refused as 'table full' while %u idle "
               "entries could be evicted\n", full2, ok / 2, ok);
    CU_ASSERT_EQUAL(full2, 0);
    CU_ASSERT(sources_used(tab) <= SOURCES_CAPACITY);
}

/*
 * A table full of idle entries (a rate_limit flood on another service),
 * then many new sources that each open one connection (max_per_source) and
 * close it: every one must be admitted, since idle entries can always be
 * evicted.  The addresses are fixed, so the outcome is the same every run.
 *
 * A regression test: sources_admit once created the new source's total
 * entry (idle: active 0), then made room for the worker's entry by
 * evicting "an idle total near its key", which could be that very entry;
 * the connection was then refused as SRC_FULL ("per-source table full")
 * in a table of evictable entries (3 of these 200000, about 13 per
 * million).
 */
static void test_no_self_eviction(void)
{
    NEED_TABLE();
    struct conf_rate r = { 5, 1000 };
    struct sockaddr_in in = { .sin_family = AF_INET };
    const struct sockaddr *sa = (const struct sockaddr *)&in;
    for (uint32_t i = 0; i < 100000; i++) {
        in.sin_addr.s_addr = htonl(0x0a000000u | i);
        CU_ASSERT_EQUAL(sources_admit(tab, 1, 0, sa, pol(0, &r), true), SRC_OK);
    }
    unsigned full = 0, first = 0;
    for (uint32_t i = 0; i < 200000; i++) {
        in.sin_addr.s_addr = htonl(0x0b000000u | i);
        enum src_verdict v = sources_admit(tab, 0, 0, sa, pol(1, &no_rate), true);
        if (v == SRC_OK)
            sources_release(tab, 0, 0, sa, pol(1, &no_rate));
        else if (v == SRC_FULL && full++ == 0)
            first = i;
    }
    if (full)
        printf("\n    %u of 200000 new sources refused as 'table full' (the first: "
               "11.%u.%u.%u) in a table of idle entries\n", full, first >> 16 & 255,
               first >> 8 & 255, first & 255);
    CU_ASSERT_EQUAL(full, 0);
}

int test_core_sources_register(void)
{
    static const struct tc_test tests[] = {
        { "max_per_source: N admitted, N+1 refused, release frees one",
          test_max_per_source_exact },
        { "max_per_source: per service", test_max_per_source_per_service },
        { "max_per_source: datagrams take no slot", test_uncounted_takes_no_slot },
        { "max_per_source: two worker rows share the limit", test_two_workers_share_a_limit },
        { "sources_worker_gone gives back the row's connections",
          test_worker_gone_gives_back },
        { "sources_worker_gone with 5000 sources on three rows", test_worker_gone_many },
        { "IPv4-mapped IPv6 and IPv4 are one source", test_v4_mapped_is_the_same_source },
        { "IPv6 counts per /64 by default", test_ipv6_per_prefix },
        { "unix peers and no table: always admitted", test_unix_always_admitted },
        { "rate_limit: burst N, then SRC_RATE, per source", test_rate_burst_then_refused },
        { "rate_limit: the bucket refills", test_rate_refills },
        { "rate_limit and max_per_source together", test_rate_and_max_per_source },
        { "sources_reply: budget per source and service", test_reply_budget },
        { "sources_reply: the budget refills", test_reply_budget_refills },
        { "flood of 200000 sources, rate_limit only: never full", test_flood_rate_only },
        { "flood of 200000 sources keeps held slots", test_flood_keeps_held_slots },
        { "table full of held slots, then room again", test_full_table_then_room_again },
        { "a new source never evicts its own entry", test_no_self_eviction },
    };
    return tc_register("core: per-source table", setup, teardown, tests,
                       sizeof tests / sizeof tests[0]);
}
