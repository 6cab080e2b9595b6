/*
 * integration_config.c - `superd -t` on configurations that used to pass
 * the check and then fail at start or do something else than written
 * (issue 9): the exact stderr line and exit status a user gets.  Linked
 * into build/tests/integration; registered in integration.c's table.
 */
#include <CUnit/CUnit.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "integration_config.h"
#include "integration_util.h"

/* superd -t -c conf: the wait status, with stdout and stderr. */
static int check(const char *conf, char **out, char **err)
{
    const char *args[] = { "-t", "-c", conf, NULL };
    int st = it_run(args, out, err);
    return st;
}

/* -t must refuse conf with exactly `line` (without "superd: ", '\n'). */
static void refused(const char *conf, const char *line)
{
    char *out, *err;
    int st = check(conf, &out, &err);
    char *want = it_printf("superd: %s\n", line);
    if (strcmp(err, want) != 0)
        printf("\n    expected stderr \"%s\", got \"%s\"\n", want, err);
    CU_ASSERT_STRING_EQUAL(err, want);
    CU_ASSERT(it_exited(st, 1));
    CU_ASSERT(strstr(out, "configuration OK") == NULL);
}

/* tcp://127.0.0.1:P beside the wildcard on the same port passed -t, then
 * bind failed with "Address already in use" at start.  -t refuses it now,
 * and so does a start, before anything is bound. */
void it_cfg_test_tcp_wildcard_overlap(void)
{
    int port = it_free_port(IT_TCP4 | IT_TCP6);
    CU_ASSERT_FATAL(port > 0);
    char *conf = it_conf(it_printf("[echo]\nplugin = echo\nlisten = tcp://*:%d\n"
                                   "listen = tcp://127.0.0.1:%d\n", port, port));
    char *text = it_read_file(conf);
    int wild = it_line_of(text, "tcp://*:"), spec = it_line_of(text, "tcp://127.0.0.1:");
    char *line = it_printf("%s:%d: [echo] listen: tcp 127.0.0.1:%d overlaps tcp 0.0.0.0:%d of "
                           "[echo] at line %d (a wildcard address takes the port on every "
                           "address)", conf, spec, port, port, wild);
    refused(conf, line);

    const char *args[] = { "-c", conf, NULL };
    char *out, *err;
    int st = it_run(args, &out, &err);
    CU_ASSERT_STRING_EQUAL(err, it_printf("superd: %s\n", line));
    CU_ASSERT(it_exited(st, 1));
    CU_ASSERT(it_port_free(IT_TCP4 | IT_TCP6, port));
}

/* An included file gave workers again: it silently won.  Both are named. */
void it_cfg_test_include_overrides(void)
{
    char *dir = it_path("conf.d");
    CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
    char *inc = it_printf("%s/10-more.ini", dir);
    it_write_file(inc, "[superd]\nworkers = 3\n");
    char *conf = it_conf_global("workers = 2\ninclude = conf.d/*.ini",
                                "[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:1\n");
    int first = it_line_of(it_read_file(conf), "workers = 2");
    refused(conf, it_printf("%s:2: [superd] workers: given twice (first at %s:%d)", inc, conf,
                            first));
    unlink(inc);
    rmdir(dir);
}

/* socket_mode on a service with no unix socket file: it protected nothing. */
void it_cfg_test_socket_mode_nothing(void)
{
    char *conf = it_conf("[echo]\nplugin = echo\nlisten = unix:@superd-it-cfg\n"
                         "socket_mode = 0600\n");
    int line = it_line_of(it_read_file(conf), "socket_mode");
    refused(conf, it_printf("%s:%d: [echo] socket_mode: applies to no listener: only unix:PATH "
                            "and unix-dgram:PATH sockets have a file mode (not tcp, udp or an "
                            "abstract unix:@NAME)", conf, line));
}

/* group without user: the workers stayed root:root. */
void it_cfg_test_group_without_user(void)
{
    char *conf = it_conf_global("group = nogroup",
                                "[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:1\n");
    int line = it_line_of(it_read_file(conf), "group = ");
    refused(conf, it_printf("%s:%d: [superd] group: given without user (set user = NAME too: "
                            "group alone changes nothing)", conf, line));
}

/* user = root passes, with one warning line on stderr. */
void it_cfg_test_user_root_warns(void)
{
    char *conf = it_conf_global("user = root",
                                "[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:1\n");
    int line = it_line_of(it_read_file(conf), "user = root");
    char *out, *err;
    int st = check(conf, &out, &err);
    CU_ASSERT(it_exited(st, 0));
    CU_ASSERT_STRING_EQUAL(err, it_printf("superd: %s:%d: [superd] user: root is uid 0: workers "
                                          "and plugins keep every privilege (name an "
                                          "unprivileged user)\n", conf, line));
    CU_ASSERT_STRING_EQUAL(it_last_line(out), it_printf("%s: configuration OK", conf));
}

/* A file saved with a UTF-8 BOM was "syntax error" at line 1. */
void it_cfg_test_bom(void)
{
    char *conf = it_path("bom.ini");
    it_write_file(conf, it_printf("\xef\xbb\xbf[superd]\nplugin_dir = %s\n[echo]\nplugin = echo\n"
                                  "listen = tcp://127.0.0.1:1\n", it_plugin_dir));
    char *out, *err;
    int st = check(conf, &out, &err);
    CU_ASSERT(it_exited(st, 0));
    CU_ASSERT_STRING_EQUAL(err, "");
    CU_ASSERT_STRING_EQUAL(it_last_line(out), it_printf("%s: configuration OK", conf));
}

/* [fe80::1%lo]: the zone was dropped from the address (and its text). */
void it_cfg_test_ipv6_zone(void)
{
    CU_ASSERT_FATAL(if_nametoindex("lo") > 0);
    char *conf = it_conf("[echo]\nplugin = echo\nlisten = tcp://[fe80::1%lo]:7\n");
    char *out, *err;
    int st = check(conf, &out, &err);
    CU_ASSERT(it_exited(st, 0));
    CU_ASSERT_STRING_EQUAL(err, "");
    CU_ASSERT_EQUAL(it_count_line(out, "[echo] listen tcp [fe80::1%lo]:7"), 1);
}

/* only_from = 127.0.0.1/8 suggested itself. */
void it_cfg_test_cidr_suggestion(void)
{
    char *conf = it_conf("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:1\n"
                         "only_from = 127.0.0.1/8\n");
    int line = it_line_of(it_read_file(conf), "only_from");
    refused(conf, it_printf("%s:%d: [echo] only_from: '127.0.0.1/8' has host bits set (did you "
                            "mean 127.0.0.0/8?)", conf, line));
}
