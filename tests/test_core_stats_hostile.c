/*
 * test_core_stats_hostile.c - a compromised worker can write the whole
 * shared statistics map (stats.h); the master's slot decisions do not
 * rest on it: a worker that marks every slot and row used does not make
 * reloads fail, and a worker whose row claims slots it does not serve
 * cannot make the master free a slot another live worker still serves.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "stats.h"
#include "test_core.h"

static void tcp_addr(struct laddr *a, int port)
{
    memset(a, 0, sizeof *a);
    a->kind = ADDR_TCP;
    snprintf(a->text, sizeof a->text, "tcp 127.0.0.1:%d", port);
}

/* What a hostile worker can do to the map: every slot named, assigned and
 * in use, every row used and serving every slot. */
static void scribble(struct stats *st)
{
    for (int i = 0; i < STATS_MAX_SERVICES; i++) {
        snprintf(st->svc[i].name, sizeof st->svc[i].name, "hostile%d", i);
        st->svc[i].assigned = true;
        st->svc[i].users = 1000;
    }
    for (int i = 0; i < STATS_MAX_LISTENERS; i++) {
        snprintf(st->lsn[i].svc, sizeof st->lsn[i].svc, "hostile");
        snprintf(st->lsn[i].label, sizeof st->lsn[i].label, "tcp://10.0.0.1:%d", i);
        st->lsn[i].assigned = true;
        st->lsn[i].users = 1000;
        st->lhash[i] = (uint32_t)i;
    }
    for (int w = 0; w < STATS_MAX_WORKERS; w++) {
        st->worker_used[w] = true;
        memset(st->serves[w], 0xff, sizeof st->serves[w]);
        memset(st->lserves[w], 0xff, sizeof st->lserves[w]);
    }
}

/* Every slot and row marked used in the map: a configuration of 128
 * services and 4096 listeners (one service and its two listeners kept)
 * still fits, is assigned, and gets a worker whose listener rows are
 * found again by name. */
static void test_scribbled_map_reload_fits(void)
{
    struct stats *st = stats_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    enum { NL = STATS_MAX_LISTENERS, NS = STATS_MAX_SERVICES };
    static struct laddr addrs[NL];
    static struct conf_service svcs[NS];
    static char names[NS][16];
    for (int i = 0; i < NL; i++)
        tcp_addr(&addrs[i], 7 + i);
    struct conf c = { .path = (char *)"superd.ini", .svcs = svcs, .nsvcs = 1 };
    svcs[0] = (struct conf_service){ .name = (char *)"echo", .enabled = true, .addrs = addrs,
                                     .naddrs = 2 };
    char err[512] = "";
    CU_ASSERT_EQUAL_FATAL(stats_assign(st, &c, err, sizeof err), 0);
    int honest = stats_worker_take(st);
    int hostile = stats_worker_take(st);
    CU_ASSERT_FATAL(honest >= 0 && hostile >= 0);
    scribble(st);

    /* echo with its two listeners, 127 new services with the other 4094. */
    size_t used = 2;
    for (int i = 1; i < NS; i++) {
        snprintf(names[i], sizeof names[i], "n%d", i);
        size_t n = i < NS - 1 ? 32 : NL - used;
        svcs[i] = (struct conf_service){ .name = names[i], .enabled = true,
                                         .addrs = &addrs[used], .naddrs = n };
        used += n;
    }
    CU_ASSERT_EQUAL_FATAL(used, (size_t)NL);
    c.nsvcs = NS;
    err[0] = '\0';
    CU_ASSERT_EQUAL(stats_fit(st, &c, err, sizeof err), 0);
    ASSERT_STR(err, "");
    CU_ASSERT_EQUAL_FATAL(stats_assign(st, &c, err, sizeof err), 0);
    int w = stats_worker_take(st);
    CU_ASSERT_FATAL(w >= 0);
    CU_ASSERT(w != honest && w != hostile);
    /* The new worker's look-ups in the map find its listeners, the kept
     * ones included (published again over what the worker wrote). */
    CU_ASSERT_PTR_NOT_NULL(stats_listener_row(st, w, "echo", &addrs[0]));
    CU_ASSERT_PTR_NOT_NULL(stats_listener_row(st, w, "n1", &addrs[2]));
    CU_ASSERT_PTR_NOT_NULL(stats_listener_row(st, w, names[NS - 1], &addrs[NL - 1]));
    stats_destroy(st);
}

/* A lying row: the hostile worker claims echo's slots in its own row and
 * clears them in the honest worker's row.  Its release leaves echo's
 * slots to the honest worker (still counted, still held); the honest
 * worker's release frees them. */
static void test_lying_row_release(void)
{
    struct stats *st = stats_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    struct laddr a7, a9;
    tcp_addr(&a7, 7);
    tcp_addr(&a9, 9);
    struct conf_service echo = { .name = (char *)"echo", .enabled = true, .addrs = &a7,
                                 .naddrs = 1 };
    struct conf_service other = { .name = (char *)"other", .enabled = true, .addrs = &a9,
                                  .naddrs = 1 };
    struct conf c = { .path = (char *)"superd.ini", .svcs = &echo, .nsvcs = 1 };
    char err[512] = "";
    CU_ASSERT_EQUAL_FATAL(stats_assign(st, &c, err, sizeof err), 0);
    int honest = stats_worker_take(st);
    CU_ASSERT_FATAL(honest >= 0);
    int s_echo = stats_service_slot(st, "echo");
    int l_echo = stats_listener_slot(st, "echo", "tcp://127.0.0.1:7");
    CU_ASSERT_FATAL(s_echo >= 0 && l_echo >= 0);
    /* A reload drops echo; the honest worker still drains it. */
    c.svcs = &other;
    CU_ASSERT_EQUAL_FATAL(stats_assign(st, &c, err, sizeof err), 0);
    int hostile = stats_worker_take(st);
    CU_ASSERT_FATAL(hostile >= 0);

    st->serves[hostile][s_echo / 64] |= 1ull << (s_echo % 64);
    st->lserves[hostile][l_echo / 64] |= 1ull << (l_echo % 64);
    st->svc[s_echo].users = 1;
    st->lsn[l_echo].users = 1;
    memset(st->serves[honest], 0, sizeof st->serves[honest]);
    memset(st->lserves[honest], 0, sizeof st->lserves[honest]);
    stats_worker_release(st, hostile);

    /* echo's slots are still the honest worker's. */
    ASSERT_STR(st->svc[s_echo].name, "echo");
    CU_ASSERT_EQUAL(stats_listener_slot(st, "echo", "tcp://127.0.0.1:7"), l_echo);
    static struct conf_service many[STATS_MAX_SERVICES];
    static char names[STATS_MAX_SERVICES][16];
    for (int i = 0; i < STATS_MAX_SERVICES; i++) {
        snprintf(names[i], sizeof names[i], "m%d", i);
        many[i] = (struct conf_service){ .name = names[i], .enabled = true };
    }
    struct conf cm = { .path = (char *)"superd.ini", .svcs = many,
                       .nsvcs = STATS_MAX_SERVICES };
    CU_ASSERT_EQUAL(stats_fit(st, &cm, err, sizeof err), -ENOSPC);
    ASSERT_STR(err, "superd.ini: 128 services, but superd can count (limits and statistics) "
                    "only 127 more while workers of the earlier configuration still serve 1 "
                    "others; retry once they have finished");
    /* A new service does not get the slot the honest worker still writes. */
    struct conf_service third = { .name = (char *)"third", .enabled = true };
    c.svcs = &third;
    CU_ASSERT_EQUAL_FATAL(stats_assign(st, &c, err, sizeof err), 0);
    CU_ASSERT(stats_service_slot(st, "third") != s_echo);

    /* The honest worker is gone (its map bits cleared): echo's slots are freed. */
    stats_worker_release(st, honest);
    CU_ASSERT_EQUAL(stats_listener_slot(st, "echo", "tcp://127.0.0.1:7"), -ENOENT);
    CU_ASSERT_EQUAL(st->svc[s_echo].name[0], '\0');
    cm.nsvcs = STATS_MAX_SERVICES;
    err[0] = '\0';
    CU_ASSERT_EQUAL(stats_fit(st, &cm, err, sizeof err), 0);
    ASSERT_STR(err, "");
    stats_destroy(st);
}

int test_core_stats_hostile_register(void)
{
    static const struct tc_test tests[] = {
        { "every slot marked used by a worker: a reload still fits",
          test_scribbled_map_reload_fits },
        { "a worker's lying row cannot free another worker's slot", test_lying_row_release },
    };
    return tc_register("core: statistics slots, a hostile worker", NULL, NULL, tests,
                       sizeof tests / sizeof tests[0]);
}
