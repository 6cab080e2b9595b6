/*
 * test_core_stats.c - the shared statistics' listener slots (stats.h):
 * each listen address gets a row per worker, kept across reloads by
 * service and address, folded into its totals when a worker is gone, and
 * a configuration with more listeners than slots is refused with one line;
 * and a unix peer's uid as a per-source key (sources.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sources.h"
#include "stats.h"
#include "test_core.h"

/* A listen address as the parser makes it (only what stats reads). */
static void tcp_addr(struct laddr *a, int port)
{
    memset(a, 0, sizeof *a);
    a->kind = ADDR_TCP;
    snprintf(a->text, sizeof a->text, "tcp 127.0.0.1:%d", port);
}

static void test_listener_labels(void)
{
    struct laddr a;
    char label[STATS_LABEL_MAX];
    tcp_addr(&a, 7);
    stats_listener_label(&a, label, sizeof label);
    ASSERT_STR(label, "tcp://127.0.0.1:7");
    memset(&a, 0, sizeof a);
    a.kind = ADDR_UNIX;
    snprintf(a.text, sizeof a.text, "unix /run/x.sock");
    stats_listener_label(&a, label, sizeof label);
    ASSERT_STR(label, "unix:/run/x.sock");
    a.kind = ADDR_UNIX_DGRAM;
    snprintf(a.text, sizeof a.text, "unix-dgram @name");
    stats_listener_label(&a, label, sizeof label);
    ASSERT_STR(label, "unix-dgram:@name");
}

/* A worker's counts survive it (retired), and a reload that keeps the
 * address keeps the counters; a dropped address's slot is freed once its
 * last worker is gone. */
static void test_listener_rows_kept(void)
{
    struct stats *st = stats_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    struct laddr addrs[2];
    tcp_addr(&addrs[0], 7);
    tcp_addr(&addrs[1], 8);
    struct conf_service s = { .name = (char *)"echo", .enabled = true, .addrs = addrs,
                              .naddrs = 2 };
    struct conf c = { .path = (char *)"superd.ini", .svcs = &s, .nsvcs = 1 };
    char err[256] = "";
    CU_ASSERT_EQUAL_FATAL(stats_assign(st, &c, err, sizeof err), 0);
    int w = stats_worker_take(st);
    CU_ASSERT_FATAL(w >= 0);
    struct stats_lrow *r7 = stats_listener_row(st, w, "echo", &addrs[0]);
    struct stats_lrow *r8 = stats_listener_row(st, w, "echo", &addrs[1]);
    CU_ASSERT_FATAL(r7 && r8 && r7 != r8);
    STATS_ADD(r7, accepted, 3);
    STATS_ADD(r7, bytes_in, 300);
    STATS_ADD(r7, active, 1);
    STATS_ADD(r8, dgrams_in, 2);
    int s7 = stats_listener_slot(st, "echo", "tcp://127.0.0.1:7");
    int s8 = stats_listener_slot(st, "echo", "tcp://127.0.0.1:8");
    CU_ASSERT_FATAL(s7 >= 0 && s8 >= 0);
    struct stats_lrow sum;
    stats_listener_sum(st, s7, &sum);
    CU_ASSERT(sum.accepted == 3 && sum.bytes_in == 300 && sum.active == 1);
    /* A reload keeps port 7 and drops port 8; the old worker is gone. */
    s.naddrs = 1;
    CU_ASSERT_EQUAL_FATAL(stats_assign(st, &c, err, sizeof err), 0);
    CU_ASSERT_EQUAL(stats_listener_slot(st, "echo", "tcp://127.0.0.1:8"), s8); /* still served */
    int w2 = stats_worker_take(st);
    CU_ASSERT_FATAL(w2 >= 0);
    CU_ASSERT_PTR_NULL(stats_listener_row(st, w2, "echo", &addrs[1]));  /* not its own */
    stats_worker_release(st, w);
    CU_ASSERT_EQUAL(stats_listener_slot(st, "echo", "tcp://127.0.0.1:7"), s7);
    CU_ASSERT_EQUAL(stats_listener_slot(st, "echo", "tcp://127.0.0.1:8"), -ENOENT);
    stats_listener_sum(st, s7, &sum);
    CU_ASSERT(sum.accepted == 3 && sum.bytes_in == 300 && sum.active == 0);
    STATS_ADD(stats_listener_row(st, w2, "echo", &addrs[0]), accepted, 1);
    stats_listener_sum(st, s7, &sum);
    CU_ASSERT_EQUAL(sum.accepted, 4);
    stats_worker_release(st, w2);
    stats_destroy(st);
}

/* More listeners than slots: refused with one line, nothing taken. */
static void test_too_many_listeners(void)
{
    struct stats *st = stats_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    enum { N = STATS_MAX_LISTENERS + 1 };
    static struct laddr addrs[N];
    for (int i = 0; i < N; i++)
        tcp_addr(&addrs[i], 1000 + i);
    struct conf_service s = { .name = (char *)"many", .enabled = true, .addrs = addrs,
                              .naddrs = N };
    struct conf c = { .path = (char *)"superd.ini", .svcs = &s, .nsvcs = 1 };
    char err[512] = "";
    CU_ASSERT_EQUAL(stats_assign(st, &c, err, sizeof err), -ENOSPC);
    ASSERT_STR(err, "superd.ini: 4097 listeners, but superd can count (statistics) at most 4096");
    CU_ASSERT_EQUAL(stats_listener_slot(st, "many", "tcp://127.0.0.1:1000"), -ENOENT);
    s.naddrs = N - 1;
    CU_ASSERT_EQUAL(stats_assign(st, &c, err, sizeof err), 0);
    int w = stats_worker_take(st);
    CU_ASSERT(w >= 0);
    /* While that worker serves them, 4096 other addresses do not fit. */
    s.name = (char *)"other";
    CU_ASSERT_EQUAL(stats_fit(st, &c, err, sizeof err), -ENOSPC);
    ASSERT_STR(err, "superd.ini: 4096 listeners, but superd can count (statistics) only 0 more "
                    "while workers of the earlier configuration still serve 4096 others; retry "
                    "once they have finished");
    stats_worker_release(st, w);
    CU_ASSERT_EQUAL(stats_assign(st, &c, err, sizeof err), 0);
    stats_destroy(st);
}

/* A unix peer's uid is one source: max_per_source 1 lets uid 1000 and
 * uid 1001 have one each. */
static void test_uid_sources(void)
{
    struct sources *tab = sources_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(tab);
    struct conf_service cs = { .max_per_source = 1 };
    struct sockaddr u1000, u1001;
    unsigned uid = 0;
    int sv[2];
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CU_ASSERT_EQUAL(sources_peer_uid(sv[0], &u1000), 0);
    CU_ASSERT(sources_is_uid(&u1000, &uid));
    CU_ASSERT_EQUAL(uid, (unsigned)getuid());
    close(sv[0]);
    close(sv[1]);
    memset(&u1000, 0, sizeof u1000);
    u1000.sa_family = SOURCES_AF_UID;
    u1001 = u1000;
    uid = 1000;
    memcpy(u1000.sa_data + 2, &uid, 4);
    uid = 1001;
    memcpy(u1001.sa_data + 2, &uid, 4);
    CU_ASSERT_EQUAL(sources_admit(tab, 0, 0, &u1000, &cs, true), SRC_OK);
    CU_ASSERT_EQUAL(sources_admit(tab, 0, 1, &u1000, &cs, true), SRC_TOO_MANY);
    CU_ASSERT_EQUAL(sources_admit(tab, 0, 1, &u1001, &cs, true), SRC_OK);
    sources_release(tab, 0, 0, &u1000, &cs);
    CU_ASSERT_EQUAL(sources_admit(tab, 0, 1, &u1000, &cs, true), SRC_OK);
    sources_destroy(tab);
}

int test_core_stats_register(void)
{
    static const struct tc_test tests[] = {
        { "listener labels as the configuration writes them", test_listener_labels },
        { "listener rows: retired, kept across a reload, freed", test_listener_rows_kept },
        { "more listeners than slots: refused with one line", test_too_many_listeners },
        { "a unix peer's uid is one source", test_uid_sources },
    };
    return tc_register("core: shared statistics per listener, unix uids as sources", NULL, NULL, tests,
                       sizeof tests / sizeof tests[0]);
}
