/*
 * test_core_config_checks.c - configuration mistakes that used to pass
 * silently (issue 9): a key of [superd] overridden by an included file,
 * socket_mode that applies to nothing, group without user, user = root,
 * a TCP wildcard next to a specific address on the same port, a dropped
 * IPv6 zone, a BOM, a CIDR suggestion that repeated the mistake; and a
 * file with 100,000 plugin keys, which must not take quadratic time.
 * Every case asserts the exact line a user reads.
 */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "test_core.h"

#define PATH "t/x.ini"

static char err[CONF_ERR_MAX];
static char tmpdir[64];

#define load_ok(text) load_ok_at(__LINE__, (text))
static struct conf *load_ok_at(unsigned line, const char *text)
{
    struct conf *c = NULL;
    err[0] = '\0';
    int r = conf_load_string(text, PATH, &c, err, sizeof err);
    tc_assert_str(err, "", line, __FILE__, CU_FALSE);
    tc_assert_long(r, 0, "conf_load_string", line, __FILE__);
    return r == 0 ? c : NULL;
}

#define load_bad(text, rc, msg) load_bad_at(__LINE__, (text), (rc), (msg))
static void load_bad_at(unsigned line, const char *text, int rc, const char *msg)
{
    struct conf *c = NULL;
    err[0] = '\0';
    int r = conf_load_string(text, PATH, &c, err, sizeof err);
    tc_assert_str(err, msg, line, __FILE__, CU_FALSE);
    tc_assert_long(r, rc, "conf_load_string", line, __FILE__);
    if (r == 0)
        conf_free(c);
}

/* A good file with exactly one warning, `msg` (NULL: none). */
#define load_warns(text, msg) load_warns_at(__LINE__, (text), (msg))
static void load_warns_at(unsigned line, const char *text, const char *msg)
{
    struct conf *c = load_ok_at(line, text);
    if (!c)
        return;
    tc_assert_long((long)c->nwarnings, msg ? 1 : 0, "warnings", line, __FILE__);
    if (msg && c->nwarnings)
        tc_assert_str(c->warnings[0], msg, line, __FILE__, CU_FALSE);
    conf_free(c);
}

#define ECHO_SVC "[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:10007\n"

/* ---- files, for include ---- */

static int files_setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/superd-cfgchk-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    char d[128];
    snprintf(d, sizeof d, "%s/conf.d", tmpdir);
    return mkdir(d, 0700);
}

static int files_cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *put(const char *name, const char *text)
{
    static char path[4][256];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* conf_load of tmpdir/main.ini holding main_text: must fail with -EEXIST
 * and the message `want`. */
static void load_file_bad(const char *main_text, const char *want)
{
    char *path = put("main.ini", main_text);
    struct conf *c = NULL;
    err[0] = '\0';
    CU_ASSERT_EQUAL(conf_load(path, &c, err, sizeof err), -EEXIST);
    ASSERT_STR(err, want);
    conf_free(c);
}

/* An included file gives a key of [superd] again: both places named, in
 * either order.  It used to override the main file's value silently. */
static void test_include_overrides_global_key(void)
{
    char want[512];
    put("conf.d/a.ini", "[superd]\nworkers = 3\n");
    snprintf(want, sizeof want, "%s/conf.d/a.ini:2: [superd] workers: given twice (first at "
             "%s/main.ini:2)", tmpdir, tmpdir);
    load_file_bad("[superd]\nworkers = 2\ninclude = conf.d/*.ini\n" ECHO_SVC, want);
    snprintf(want, sizeof want, "%s/main.ini:3: [superd] workers: given twice (first at "
             "%s/conf.d/a.ini:2)", tmpdir, tmpdir);
    load_file_bad("[superd]\ninclude = conf.d/*.ini\nworkers = 2\n" ECHO_SVC, want);

    /* A plugin_dir given twice leaked the first value; now it is refused. */
    put("conf.d/a.ini", "[superd]\nplugin_dir = other\n");
    snprintf(want, sizeof want, "%s/conf.d/a.ini:2: [superd] plugin_dir: given twice (first "
             "at %s/main.ini:2)", tmpdir, tmpdir);
    load_file_bad("[superd]\nplugin_dir = plugins\ninclude = conf.d/*.ini\n" ECHO_SVC, want);
    unlink(put("conf.d/a.ini", ""));
}

/* include stays per file: an included file may include others, but not
 * twice itself. */
static void test_include_nested_still_works(void)
{
    put("conf.d/a.ini", "[superd]\ninclude = ../b/*.ini\n[a]\nplugin = echo\n"
        "listen = tcp://127.0.0.1:2001\n");
    char d[128];
    snprintf(d, sizeof d, "%s/b", tmpdir);
    mkdir(d, 0700);
    put("b/b.ini", "[b]\nplugin = echo\nlisten = tcp://127.0.0.1:2002\n");
    char *path = put("main.ini", "[superd]\ninclude = conf.d/*.ini\n" ECHO_SVC);
    struct conf *c = NULL;
    err[0] = '\0';
    CU_ASSERT_EQUAL(conf_load(path, &c, err, sizeof err), 0);
    ASSERT_STR(err, "");
    if (c)
        CU_ASSERT_EQUAL(c->nsvcs, 3);
    conf_free(c);

    put("conf.d/a.ini", "[superd]\ninclude = ../b/*.ini\ninclude = ../b/*.ini\n");
    char want[512];
    snprintf(want, sizeof want, "%s/conf.d/a.ini:3: [superd] include: given twice (first at "
             "line 2)", tmpdir);
    load_file_bad("[superd]\ninclude = conf.d/*.ini\n" ECHO_SVC, want);
    unlink(put("conf.d/a.ini", ""));
}

/* ---- many keys ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * 100,000 plugin keys (the master parses on every reload).  The lookup of
 * keys seen before was a linear scan per key: 20 s here.  The bound below
 * is only there so that a quadratic parser fails instead of hanging the
 * suite; it is far above what the hash set takes (0.1 s, more under ASan).
 */
static void test_many_plugin_keys(void)
{
    enum { N = 100000 };
    size_t cap = N * 24 + 256;
    char *text = malloc(cap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    size_t len = (size_t)snprintf(text, cap, ECHO_SVC);
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(text + len, cap - len, "key%d = v%d\n", i, i);
    double t0 = now_s();
    struct conf *c = load_ok(text);
    double took = now_s() - t0;
    if (c) {
        CU_ASSERT_EQUAL_FATAL(c->svcs[0].nopts, N);
        ASSERT_STR(c->svcs[0].opts[N - 1].key, "key99999");
        ASSERT_STR(c->svcs[0].opts[N - 1].value, "v99999");
        CU_ASSERT_EQUAL(c->svcs[0].opts[N - 1].line, N + 3);
        conf_free(c);
    }
    CU_ASSERT(took < 10.0);
    if (took >= 10.0)
        printf("\n    %d plugin keys took %.1f s to parse\n", N, took);
    /* A duplicate among them is still found, with its first line. */
    snprintf(text + len, cap - len, "key77 = again\n");
    char want[128];
    snprintf(want, sizeof want, PATH ":%d: [echo] key77: given twice (first at line 81)", N + 4);
    load_bad(text, -EEXIST, want);
    free(text);
}

/* Many addresses: clashes are found by sorting, and the first one in file
 * order is reported with its earliest partner. */
static void test_many_addresses(void)
{
    enum { N = 30000 };
    size_t cap = N * 40 + 256;
    char *text = malloc(cap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    size_t len = (size_t)snprintf(text, cap, "[many]\nplugin = echo\n");
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(text + len, cap - len, "listen = tcp://127.0.%d.%d:%d\n",
                                i / 250, i % 250 + 1, 1000 + i % 7);
    struct conf *c = load_ok(text);
    if (c)
        CU_ASSERT_EQUAL(c->svcs[0].naddrs, N);
    conf_free(c);
    snprintf(text + len, cap - len, "listen = tcp://127.0.3.4:1005 tcp://*:1003\n");
    char want[256];
    /* 127.0.3.4 is address 3*250+3 = 753, port 1000 + 753 % 7 = 1004: no
     * clash; the wildcard on 1003 clashes first with address 3 (line 6). */
    snprintf(want, sizeof want, PATH ":%d: [many] listen: tcp 0.0.0.0:1003 overlaps tcp "
             "127.0.0.4:1003 of [many] at line 6 (a wildcard address takes the port on every "
             "address)", N + 3);
    load_bad(text, -EADDRINUSE, want);
    free(text);
}

/* ---- socket_mode, group, user ---- */

static void test_socket_mode_applies_to_nothing(void)
{
    load_bad(ECHO_SVC "socket_mode = 0600\n", -EINVAL,
             PATH ":4: [echo] socket_mode: applies to no listener: only unix:PATH and "
             "unix-dgram:PATH sockets have a file mode (not tcp, udp or an abstract unix:@NAME)");
    load_bad("[echo]\nplugin = echo\nsocket_mode = 0600\nlisten = unix:@superd-x\n", -EINVAL,
             PATH ":3: [echo] socket_mode: applies to no listener: only unix:PATH and "
             "unix-dgram:PATH sockets have a file mode (not tcp, udp or an abstract unix:@NAME)");
    /* A disabled service is not checked, as for its other keys. */
    load_warns(ECHO_SVC "[off]\nplugin = echo\nlisten = unix:@x\nsocket_mode = 0600\n"
               "enabled = no\n", NULL);
}

static void test_socket_mode_abstract_beside_file_warns(void)
{
    load_warns("[echo]\nplugin = echo\nlisten = unix:/tmp/e.sock\nlisten = unix-dgram:@e\n"
               "socket_mode = 0660\n",
               PATH ":5: [echo] socket_mode: does not apply to unix-dgram @e (line 4): an "
               "abstract socket has no file and no mode, anyone may connect to it");
    load_warns("[echo]\nplugin = echo\nlisten = unix:/tmp/e.sock tcp://127.0.0.1:7\n"
               "socket_mode = 0660\n", NULL);
}

static void test_group_without_user(void)
{
    load_bad("[superd]\ngroup = nogroup\n" ECHO_SVC, -EINVAL,
             PATH ":2: [superd] group: given without user (set user = NAME too: group alone "
             "changes nothing)");
    load_warns("[superd]\ngroup = nogroup\nuser = nobody\n" ECHO_SVC, NULL);
}

static void test_user_root_warns(void)
{
    load_warns("[superd]\nuser = root\n" ECHO_SVC,
               PATH ":2: [superd] user: root is uid 0: workers and plugins keep every "
               "privilege (name an unprivileged user)");
    load_warns("[superd]\nuser = nobody\n" ECHO_SVC, NULL);
}

/* ---- messages ---- */

static void test_cidr_suggests_network(void)
{
    load_bad(ECHO_SVC "only_from = 127.0.0.1/8\n", -EINVAL,
             PATH ":4: [echo] only_from: '127.0.0.1/8' has host bits set (did you mean "
             "127.0.0.0/8?)");
}

static void test_bom_accepted(void)
{
    struct conf *c = load_ok("\xef\xbb\xbf[superd]\nworkers = 2\n" ECHO_SVC);
    if (c)
        CU_ASSERT_EQUAL(c->workers, 2);
    conf_free(c);
    c = load_ok("\xef\xbb\xbf" ECHO_SVC);
    conf_free(c);
    /* Only at the start of the file. */
    load_bad("[superd]\n\xef\xbb\xbfworkers = 2\n" ECHO_SVC, -EINVAL,
             PATH ":2: [superd] \xef\xbb\xbfworkers: unknown key");
}

static void test_ipv6_zone_kept(void)
{
    unsigned lo = if_nametoindex("lo");
    CU_ASSERT_FATAL(lo > 0);
    char text[256];
    snprintf(text, sizeof text, "[echo]\nplugin = echo\nlisten = tcp://[fe80::1%%lo]:7 "
             "udp://[fe80::1%%%u]:7\n", lo);
    struct conf *c = load_ok(text);
    if (!c)
        return;
    CU_ASSERT_EQUAL_FATAL(c->svcs[0].naddrs, 2);
    for (size_t i = 0; i < 2; i++) {
        const struct sockaddr_in6 *a = (const void *)&c->svcs[0].addrs[i].sa;
        CU_ASSERT_EQUAL(a->sin6_family, AF_INET6);
        CU_ASSERT_EQUAL(a->sin6_scope_id, lo);
    }
    ASSERT_STR(c->svcs[0].addrs[0].text, "tcp [fe80::1%lo]:7");
    ASSERT_STR(c->svcs[0].addrs[1].text, "udp [fe80::1%lo]:7");
    conf_free(c);
    load_bad("[echo]\nplugin = echo\nlisten = tcp://[fe80::1%no-such-if]:7\n", -ENODEV,
             PATH ":3: [echo] listen: bad address '[fe80::1%no-such-if]': no network "
             "interface 'no-such-if'");
    load_bad("[echo]\nplugin = echo\nlisten = tcp://[fe80::1]:7\n", -EINVAL,
             PATH ":3: [echo] listen: link-local address 'fe80::1' needs an interface: "
             "[fe80::1%IFNAME]");
}

static void test_tcp_wildcard_overlap(void)
{
    load_bad("[echo]\nplugin = echo\nlisten = tcp://*:7000 tcp://127.0.0.1:7000\n", -EADDRINUSE,
             PATH ":3: [echo] listen: tcp 127.0.0.1:7000 overlaps tcp 0.0.0.0:7000 of [echo] "
             "at line 3 (a wildcard address takes the port on every address)");
    load_bad("[a]\nplugin = echo\nlisten = tcp://[::1]:7000\n"
             "[b]\nplugin = echo\nlisten = tcp://[::]:7000\n", -EADDRINUSE,
             PATH ":6: [b] listen: tcp [::]:7000 overlaps tcp [::1]:7000 of [a] at line 3 "
             "(a wildcard address takes the port on every address)");
    /* The earliest partner is named, be it equal or a wildcard. */
    load_bad("[a]\nplugin = echo\nlisten = tcp://0.0.0.0:7000\nlisten = tcp://127.0.0.1:7000 "
             "tcp://0.0.0.0:7000\n", -EADDRINUSE,
             PATH ":4: [a] listen: tcp 127.0.0.1:7000 overlaps tcp 0.0.0.0:7000 of [a] at "
             "line 3 (a wildcard address takes the port on every address)");
    load_bad("[a]\nplugin = echo\nlisten = tcp://0.0.0.0:7000\nlisten = tcp://0.0.0.0:7000\n",
             -EADDRINUSE, PATH ":4: [a] listen: tcp 0.0.0.0:7000 already used by [a] at line 3");
    /* Not clashes: UDP (the kernel lets both bind), other families, ports,
     * kinds, and disabled services. */
    load_warns("[a]\nplugin = echo\nlisten = udp://*:7000 udp://127.0.0.1:7000\n"
               "listen = tcp://0.0.0.0:7001 tcp://[::1]:7001 tcp://127.0.0.1:7002\n"
               "listen = tcp://*:7003 udp://127.0.0.1:7003\n"
               "[off]\nplugin = echo\nlisten = tcp://127.0.0.1:7003\nenabled = no\n", NULL);
}

/* Across files: the included file is named with its line. */
static void test_overlap_across_files(void)
{
    put("conf.d/a.ini", "[inc]\nplugin = echo\nlisten = tcp://127.0.0.1:7000\n");
    char *path = put("main.ini", "[superd]\ninclude = conf.d/*.ini\n"
                     "[echo]\nplugin = echo\nlisten = tcp://*:7000\n");
    struct conf *c = NULL;
    char want[512];
    snprintf(want, sizeof want, "%s/main.ini:5: [echo] listen: tcp 0.0.0.0:7000 overlaps tcp "
             "127.0.0.1:7000 of [inc] at %s/conf.d/a.ini:3 (a wildcard address takes the port "
             "on every address)", tmpdir, tmpdir);
    CU_ASSERT_EQUAL(conf_load(path, &c, err, sizeof err), -EADDRINUSE);
    ASSERT_STR(err, want);
    unlink(put("conf.d/a.ini", ""));
}

/* A typo in a required key is named at its own line with the suggestion;
 * it used to read "plugin: missing" at the section's line. */
static void test_required_key_typo_named(void)
{
    load_bad("[x]\nplugn = echo\nlisten = tcp://127.0.0.1:7000\n", -EINVAL,
             PATH ":2: [x] plugn: unknown key (did you mean plugin?)");
    load_bad("[x]\nlisten = tcp://127.0.0.1:7000\nprogam = /bin/cat\n", -EINVAL,
             PATH ":3: [x] progam: unknown key (did you mean program?)");
    load_bad("[x]\nplugin = echo\nlistn = tcp://127.0.0.1:7000\n", -EINVAL,
             PATH ":3: [x] listn: unknown key (did you mean listen?)");
    /* Nothing near: still "missing", at the section. */
    load_bad("[x]\nlisten = tcp://127.0.0.1:7000\nfrobnicate = 1\n", -EINVAL,
             PATH ":1: [x] plugin: missing (every service needs plugin = NAME or program = PATH)");
}

/* metrics_listen takes stream addresses only, and says so under its own
 * key; a udp:// address used to fail as "[superd-metrics] listen". */
static void test_metrics_listen_datagram(void)
{
    load_bad("[superd]\nmetrics_listen = udp://127.0.0.1:9100\n" 
             "[x]\nplugin = echo\nlisten = tcp://127.0.0.1:7000\n", -EINVAL,
             PATH ":2: [superd] metrics_listen: udp 127.0.0.1:9100: the metrics endpoint is "
             "HTTP over a stream: use tcp:// or unix:");
}

/* include naming a directory that does not exist is no match, as the
 * docs say; it used to be "cannot read". */
static void test_include_missing_dir_no_match(void)
{
    char *path = put("main.ini", "[superd]\ninclude = none/*.ini\n" ECHO_SVC);
    struct conf *c = NULL;
    err[0] = '\0';
    CU_ASSERT_EQUAL(conf_load(path, &c, err, sizeof err), 0);
    ASSERT_STR(err, "");
    if (c)
        CU_ASSERT_EQUAL(c->nsvcs, 1);
    conf_free(c);
}

int test_core_config_checks_register(void)
{
    static const struct tc_test tests[] = {
        { "100,000 plugin keys: parsed, duplicates found", test_many_plugin_keys },
        { "30,000 addresses: the first clash in file order", test_many_addresses },
        { "socket_mode on no unix file: error", test_socket_mode_applies_to_nothing },
        { "socket_mode with an abstract socket beside: warning",
          test_socket_mode_abstract_beside_file_warns },
        { "group without user: error", test_group_without_user },
        { "user = root: warning", test_user_root_warns },
        { "only_from 127.0.0.1/8 suggests 127.0.0.0/8", test_cidr_suggests_network },
        { "a UTF-8 BOM at the start is accepted", test_bom_accepted },
        { "[fe80::1%lo]: zone kept in the address and its text", test_ipv6_zone_kept },
        { "tcp://*:P beside tcp://127.0.0.1:P refused", test_tcp_wildcard_overlap },
        { "a typo in plugin/program/listen named at its line", test_required_key_typo_named },
        { "metrics_listen = udp://: named under metrics_listen", test_metrics_listen_datagram },
    };
    static const struct tc_test file_tests[] = {
        { "an include giving a [superd] key again: both named",
          test_include_overrides_global_key },
        { "include in an included file, once per file", test_include_nested_still_works },
        { "overlap across files names the included file", test_overlap_across_files },
        { "include of a missing directory: no match, no error",
          test_include_missing_dir_no_match },
    };
    if (tc_register("core: config checks", NULL, NULL, tests, sizeof tests / sizeof tests[0]) < 0)
        return -1;
    CU_pSuite s = CU_add_suite("core: config checks, files", files_setup, files_cleanup);
    if (!s)
        return -1;
    for (size_t i = 0; i < sizeof file_tests / sizeof file_tests[0]; i++)
        if (!CU_add_test(s, file_tests[i].name, file_tests[i].fn))
            return -1;
    return 0;
}
