/* test_core_config_keys.c - the key table of core/conf_keys.c: one error
 * form per type of value, "did you mean" for a key one edit away (in
 * [superd] at parse time, in a service when the plugin has not read it),
 * and every key of the table documented. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_keys.h"
#include "config.h"
#include "service.h"
#include "test_core.h"

#define PATH "t/k.ini"
#define ECHO_SVC "[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:10007\n"

static char err[CONF_ERR_MAX];

/* Parse text that must be refused with exactly `msg` and return code rc. */
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

static void test_one_edit(void)
{
    static const struct { const char *a, *b; bool near; } cases[] = {
        { "workers", "wokers", true },          /* a letter removed */
        { "workers", "workerss", true },        /* added */
        { "workers", "xorkers", true },         /* changed, first */
        { "workers", "workerz", true },         /* changed, last */
        { "workers", "wrokers", true },         /* neighbours swapped */
        { "workers", "workres", true },
        { "format", "fromat", true },
        { "workers", "workers", false },        /* equal: not a typo */
        { "workers", "wrkers_", false },        /* two edits */
        { "workers", "owrkesr", false },        /* two swaps */
        { "workers", "work", false },
        { "a", "", true },
        { "", "", false },
        { "ab", "ba", true },
        { "abc", "cba", false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[128];
        snprintf(what, sizeof what, "'%s' and '%s'", cases[i].a, cases[i].b);
        tc_assert_long(conf_one_edit(cases[i].a, cases[i].b), cases[i].near, what, __LINE__,
                       __FILE__);
        tc_assert_long(conf_one_edit(cases[i].b, cases[i].a), cases[i].near, what, __LINE__,
                       __FILE__);
    }
}

/* A [superd] key one edit away from a [superd] key: the error names it. */
static void test_global_typo(void)
{
    load_bad("[superd]\nwokers = 2\n" ECHO_SVC, -EINVAL,
             PATH ":2: [superd] wokers: unknown key (did you mean workers?)");
    load_bad("[superd]\nshutdown_timeuot = 1s\n" ECHO_SVC, -EINVAL,
             PATH ":2: [superd] shutdown_timeuot: unknown key (did you mean shutdown_timeout?)");
    load_bad("[superd]\nonly_form = 127.0.0.1\n" ECHO_SVC, -EINVAL,
             PATH ":2: [superd] only_form: unknown key (did you mean only_from?)");
    load_bad("[superd]\nlog_levels = info\n" ECHO_SVC, -EINVAL,
             PATH ":2: [superd] log_levels: unknown key (did you mean log_level?)");
    /* Two edits away: nothing is suggested. */
    load_bad("[superd]\nwrkrs = 2\n" ECHO_SVC, -EINVAL, PATH ":2: [superd] wrkrs: unknown key");
    /* Only keys of [superd] are suggested there: listen is a service's. */
    load_bad("[superd]\nlisten_ = x\n" ECHO_SVC, -EINVAL,
             PATH ":2: [superd] listen_: unknown key");
    CU_ASSERT_PTR_NULL(conf_key_suggest(CONF_GLOBAL, "listne"));
    ASSERT_STR(conf_key_suggest(CONF_SERVICE, "listne"), "listen");
    ASSERT_STR(conf_key_suggest(CONF_SERVICE, "max_connection"), "max_connections");
    ASSERT_STR(conf_key_suggest(CONF_GLOBAL, "max_connection"), "max_connections");
}

/* Every type's error, in its one form (the key and value vary, the form
 * does not). */
static void test_type_errors(void)
{
    static const struct { const char *line; int rc; const char *msg; } global[] = {
        { "workers = 0", -EINVAL, "workers: '0' is not auto or a number from 1 to 64" },
        { "max_connections = -1", -EINVAL, "max_connections: '-1' is not a positive number" },
        { "source_prefix_v6 = 129", -EINVAL,
          "source_prefix_v6: '129' is not a prefix length from 1 to 128" },
        { "shutdown_timeout = 1d", -EINVAL,
          "shutdown_timeout: bad duration '1d' (examples: 250ms, 30s, 5m, 1h)" },
        { "log = file", -EINVAL, "log: 'file' is not stderr or syslog" },
        { "log_level = loud", -EINVAL,
          "log_level: 'loud' is not err, warning, notice, info or debug" },
        { "syslog_facility = local8", -EINVAL,
          "syslog_facility: 'local8' is not daemon, user or local0 to local7" },
        { "user = no-such-user-here", -ENOENT, "user: no such user 'no-such-user-here'" },
        { "group = no-such-group-here", -ENOENT, "group: no such group 'no-such-group-here'" },
    };
    static const struct { const char *line; int rc; const char *msg; } service[] = {
        { "enabled = perhaps", -EINVAL, "enabled: 'perhaps' is not yes or no" },
        { "backlog = 65536", -EINVAL, "backlog: '65536' is not a number from 1 to 65535" },
        { "max_per_source = 0", -EINVAL, "max_per_source: '0' is not a positive number" },
        { "rate_limit = 5/h", -EINVAL, "rate_limit: '5/h' is not N/s, N/m or none" },
        { "idle_timeout = soon", -EINVAL,
          "idle_timeout: bad duration 'soon' (examples: 250ms, 30s, 5m, 1h; 0 for none)" },
        { "socket_mode = 0800", -EINVAL, "socket_mode: '0800' is not an octal mode such as 0660" },
        { "socket_mode = 01000", -EINVAL,
          "socket_mode: '01000' is not an octal mode such as 0660" },
        { "only_from = 10.0.0.0/33", -EINVAL, NULL },  /* acl_parse's message */
    };
    char text[512], want[512];
    for (size_t i = 0; i < sizeof global / sizeof global[0]; i++) {
        snprintf(text, sizeof text, "[superd]\n%s\n" ECHO_SVC, global[i].line);
        snprintf(want, sizeof want, PATH ":2: [superd] %s", global[i].msg);
        load_bad(text, global[i].rc, want);
    }
    for (size_t i = 0; i < sizeof service / sizeof service[0]; i++) {
        snprintf(text, sizeof text, ECHO_SVC "%s\n", service[i].line);
        struct conf *c = NULL;
        int r = conf_load_string(text, PATH, &c, err, sizeof err);
        tc_assert_long(r, service[i].rc, service[i].line, __LINE__, __FILE__);
        if (service[i].msg) {
            snprintf(want, sizeof want, PATH ":4: [echo] %s", service[i].msg);
            ASSERT_STR(err, want);
        } else {
            CU_ASSERT(strncmp(err, PATH ":4: [echo] only_from: ", 27) == 0);
        }
        if (r == 0)
            conf_free(c);
    }
}

/* Every key of the table reaches its field, in its section. */
static void test_rows_fill_fields(void)
{
    struct conf *c = NULL;
    int r = conf_load_string("[superd]\nworkers = 3\nlog_level = debug\nmax_connections = 9\n"
                             "source_prefix_v4 = 24\n"
                             "[echo]\nplugin = echo\nlisten = unix:/tmp/superd-unit-nb.sock\n"
                             "max_connections = 4\nsource_prefix_v6 = 48\nbacklog = 7\n"
                             "socket_mode = 0640\nudp_guard = no\n",
                             PATH, &c, err, sizeof err);
    ASSERT_STR(r ? err : "", "");
    CU_ASSERT_EQUAL_FATAL(r, 0);
    CU_ASSERT_EQUAL(c->workers, 3);
    CU_ASSERT_EQUAL(c->log_level, LOG_DEBUG);
    CU_ASSERT_EQUAL(c->max_connections, 9);
    CU_ASSERT_EQUAL(c->source_prefix_v4, 24);
    CU_ASSERT_EQUAL(c->svcs[0].max_connections, 4);
    CU_ASSERT_EQUAL(c->svcs[0].source_prefix_v6, 48);
    CU_ASSERT_EQUAL(c->svcs[0].source_prefix_v4, 24);   /* [superd]'s */
    CU_ASSERT_EQUAL(c->svcs[0].backlog, 7);
    CU_ASSERT_EQUAL(c->svcs[0].socket_mode, 0640);
    CU_ASSERT_FALSE(c->svcs[0].udp_guard);
    CU_ASSERT_EQUAL(c->svcs[0].plugin_line, 7);
    conf_free(c);
}

/* ---- did you mean, for a service's keys the plugin did not read ---- */

#define TP(name) TEST_PLUGIN_DIR "/" name ".so"

/* Start [svc] of plugin `good` (reads greeting) with extra keys on line 4. */
static void start_expect_at(unsigned line, const char *extra, const char *msg)
{
    char text[512];
    snprintf(text, sizeof text, "[svc]\nplugin = %s\nlisten = unix:/tmp/superd-unit-nb.sock\n%s",
             TP("good"), extra);
    struct conf *c = NULL;
    int r = conf_load_string(text, PATH, &c, err, sizeof err);
    tc_assert_long(r, 0, "conf_load_string", line, __FILE__);
    if (r < 0)
        return;
    struct superd_service s;
    err[0] = '\0';
    r = service_start(&s, c, &c->svcs[0], NULL, err, sizeof err);
    tc_assert_str(err, msg, line, __FILE__, CU_FALSE);
    tc_assert_long(r, -EINVAL, "service_start", line, __FILE__);
    service_stop(&s);
    conf_free(c);
}
#define start_expect(extra, msg) start_expect_at(__LINE__, (extra), (msg))

static void test_plugin_typo(void)
{
    /* A key the plugin asked for, one edit away. */
    start_expect("greting = hi\n", PATH ":4: [svc] greting: unknown key (did you mean greeting?)");
    start_expect("greetign = hi\n",
                 PATH ":4: [svc] greetign: unknown key (did you mean greeting?)");
    /* A core key of services, one edit away (kept for the plugin at parse
     * time, refused once the plugin did not read it). */
    start_expect("backlgo = 5\n", PATH ":4: [svc] backlgo: unknown key (did you mean backlog?)");
    start_expect("idle_timout = 5s\n",
                 PATH ":4: [svc] idle_timout: unknown key (did you mean idle_timeout?)");
    /* Nothing near. */
    start_expect("colour = red\n", PATH ":4: [svc] colour: unknown key");
    /* A [superd]-only key is not suggested in a service. */
    start_expect("worker = 2\n", PATH ":4: [svc] worker: unknown key");
}

/* ---- the documentation names every key ---- */

/* The repository root: TEST_PLUGIN_DIR is ROOT/BUILD/tests/plugins. */
static char *read_doc(const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", TEST_PLUGIN_DIR);
    for (int i = 0; i < 3; i++) {
        char *slash = strrchr(path, '/');
        if (slash)
            *slash = '\0';
    }
    size_t n = strlen(path);
    snprintf(path + n, sizeof path - n, "/%s", name);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    return strdup(buf);
}

static void test_keys_documented(void)
{
    char *conf_md = read_doc("docs/configuration.md");
    char *readme = read_doc("README.md");
    CU_ASSERT_PTR_NOT_NULL_FATAL(conf_md);
    CU_ASSERT_PTR_NOT_NULL_FATAL(readme);
    size_t n = 0;
    for (const struct conf_key *k; (k = conf_key_at(n)) != NULL; n++) {
        char row[128], word[128], msg[256];
        /* A row of a key table in the reference, and the name in the
         * README's table. */
        snprintf(row, sizeof row, "\n| `%s` |", k->name);
        snprintf(word, sizeof word, "`%s`", k->name);
        snprintf(msg, sizeof msg, "docs/configuration.md has no row \"| `%s` |\"", k->name);
        CU_assertImplementation(strstr(conf_md, row) != NULL, __LINE__, msg, __FILE__, "",
                                CU_FALSE);
        snprintf(msg, sizeof msg, "README.md does not name `%s`", k->name);
        CU_assertImplementation(strstr(readme, word) != NULL, __LINE__, msg, __FILE__, "",
                                CU_FALSE);
        /* Each row is well formed: a setter, a section, a name not given
         * twice in one section. */
        CU_ASSERT_PTR_NOT_NULL(k->set);
        CU_ASSERT(k->where != 0 && (k->where & ~CONF_BOTH) == 0);
        for (size_t j = 0; j < n; j++) {
            const struct conf_key *o = conf_key_at(j);
            CU_ASSERT(strcmp(o->name, k->name) != 0 || (o->where & k->where) == 0);
        }
    }
    CU_ASSERT(n >= 27);
    free(conf_md);
    free(readme);
}

int test_core_config_keys_register(void)
{
    static const struct tc_test tests[] = {
        { "one edit: added, removed, changed, swapped", test_one_edit },
        { "[superd] typo one edit away: did you mean", test_global_typo },
        { "every type's error form", test_type_errors },
        { "rows fill their fields in both sections", test_rows_fill_fields },
        { "plugin key typo: did you mean (plugin's or core key)", test_plugin_typo },
        { "every key in the table is documented", test_keys_documented },
    };
    return tc_register("config keys", NULL, NULL, tests, sizeof tests / sizeof tests[0]);
}
