/*
 * test_core_loader.c - finding and loading plugins (plugin_find,
 * plugin_load) against the test plugins in TEST_PLUGIN_DIR, and starting a
 * service (service_start): the exact line a user sees when a plugin is
 * missing, foreign, of another ABI, refuses its options, or leaves a key
 * unread.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "loader.h"
#include "service.h"
#include "plugins/good.h"
#include "test_core.h"

#ifndef TEST_PLUGIN_DIR
#error "TEST_PLUGIN_DIR must name the directory of the built test plugins"
#endif

#define TP(name) TEST_PLUGIN_DIR "/" name ".so"

static char err[CONF_ERR_MAX];

/* ---- plugin_find ---- */

static void test_find_path(void)
{
    char *path = NULL;
    CU_ASSERT_EQUAL(plugin_find(TP("good"), "/nonexistent", NULL, &path, err, sizeof err), 0);
    ASSERT_STR(path, TP("good"));
    free(path);

    /* A name with a '/' is a path relative to the configuration's directory. */
    path = NULL;
    CU_ASSERT_EQUAL(plugin_find("plugins/good.so", TEST_PLUGIN_DIR "/..", NULL, &path, err,
                                sizeof err), 0);
    ASSERT_STR(path, TEST_PLUGIN_DIR "/../plugins/good.so");
    free(path);

    path = NULL;
    err[0] = '\0';
    CU_ASSERT_EQUAL(plugin_find("plugins/none.so", "/nonexistent", TEST_PLUGIN_DIR, &path, err,
                                sizeof err), -ENOENT);
    ASSERT_STR(err, "/nonexistent/plugins/none.so: No such file or directory");
    CU_ASSERT_PTR_NULL(path);

    err[0] = '\0';
    CU_ASSERT_EQUAL(plugin_find("./none.so", ".", NULL, &path, err, sizeof err), -ENOENT);
    ASSERT_STR(err, "./none.so: No such file or directory");
    CU_ASSERT_PTR_NULL(path);
}

static void test_find_in_plugin_dir(void)
{
    char *path = NULL;
    CU_ASSERT_EQUAL(plugin_find("good", "/nonexistent", TEST_PLUGIN_DIR, &path, err, sizeof err), 0);
    ASSERT_STR(path, TP("good"));
    free(path);
}

/* plugin_dir comes before the build's and the installed directories. */
static void test_find_order(void)
{
    char dir[64], file[128], *path = NULL;
    snprintf(dir, sizeof dir, "/tmp/superd-unit-find-XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/echo.so", dir);
    FILE *f = fopen(file, "w");
    CU_ASSERT_PTR_NOT_NULL(f);
    if (f)
        fclose(f);
    CU_ASSERT_EQUAL(plugin_find("echo", ".", dir, &path, err, sizeof err), 0);
    ASSERT_STR(path, file);
    free(path);
    unlink(file);
    rmdir(dir);

    /* Not in plugin_dir, and this test binary is not build/superd: the
     * build's own plugins are not searched (tests/integration.c shows
     * build/superd finding them). */
    path = NULL;
    CU_ASSERT_EQUAL(plugin_find("echo", ".", TEST_PLUGIN_DIR, &path, err, sizeof err), -ENOENT);
    CU_ASSERT_PTR_NULL(path);
}

static void test_find_not_found(void)
{
    char *path = NULL;
    err[0] = '\0';
    CU_ASSERT_EQUAL(plugin_find("nosuch", ".", "/nonexistent/plugins", &path, err, sizeof err),
                    -ENOENT);
    ASSERT_STR(err, "nosuch.so not found (searched /nonexistent/plugins, "
               SUPERD_PLUGIN_DIR ")");
    CU_ASSERT_PTR_NULL(path);
    err[0] = '\0';
    CU_ASSERT_EQUAL(plugin_find("nosuch", ".", NULL, &path, err, sizeof err), -ENOENT);
    ASSERT_STR(err, "nosuch.so not found (searched " SUPERD_PLUGIN_DIR ")");
    CU_ASSERT_PTR_NULL(path);
}

/* ---- plugin_load ---- */

#define load_bad(path, msg) load_bad_at(__LINE__, (path), (msg))
static void load_bad_at(unsigned line, const char *path, const char *msg)
{
    struct plugin *p = NULL;
    err[0] = '\0';
    int r = plugin_load(path, &p, err, sizeof err);
    tc_assert_str(err, msg, line, __FILE__, CU_FALSE);
    tc_assert_long(r, -ENOEXEC, "plugin_load", line, __FILE__);
    CU_ASSERT_PTR_NULL(p);
    if (r == 0)
        plugin_unload(p);
}

static void test_load_good(void)
{
    struct plugin *p = NULL;
    err[0] = '\0';
    CU_ASSERT_EQUAL_FATAL(plugin_load(TP("good"), &p, err, sizeof err), 0);
    ASSERT_STR(err, "");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    ASSERT_STR(p->path, TP("good"));
    CU_ASSERT_PTR_NOT_NULL(p->handle);
    ASSERT_STR(p->desc.name, "good");
    ASSERT_STR(p->desc.version, "9.9");
    CU_ASSERT_EQUAL(p->desc.magic, SUPERD_PLUGIN_MAGIC);
    CU_ASSERT_EQUAL(p->desc.abi_major, SUPERD_ABI_MAJOR);
    CU_ASSERT_EQUAL(p->desc.abi_minor, SUPERD_ABI_MINOR);
    CU_ASSERT_EQUAL(p->desc.size, sizeof(struct superd_plugin));
    CU_ASSERT_PTR_NOT_NULL(p->desc.init);
    CU_ASSERT_PTR_NOT_NULL(p->desc.fini);
    CU_ASSERT_PTR_NOT_NULL(p->desc.on_data);
    CU_ASSERT_PTR_NULL(p->desc.on_eof);
    CU_ASSERT_PTR_NULL(p->desc.on_datagram);

    /* Loaded twice (two workers' services), each is its own. */
    struct plugin *q = NULL;
    CU_ASSERT_EQUAL(plugin_load(TP("good"), &q, err, sizeof err), 0);
    CU_ASSERT_PTR_NOT_NULL(q);
    CU_ASSERT_PTR_NOT_EQUAL(p, q);
    plugin_unload(q);
    ASSERT_STR(p->desc.name, "good");
    plugin_unload(p);
    plugin_unload(NULL);
}

static void test_load_nodesc(void)
{
    load_bad(TP("nodesc"), TP("nodesc") ": not a superd plugin (no superd_plugin symbol)");
}

static void test_load_badmagic(void)
{
    load_bad(TP("badmagic"), TP("badmagic") ": not a superd plugin (bad magic 0xdeadbeef)");
}

static void test_load_abi2(void)
{
    char want[512];
    snprintf(want, sizeof want, "%s: built for plugin ABI %d.0, this superd has %d.%d",
             TP("abi2"), SUPERD_ABI_MAJOR + 1, SUPERD_ABI_MAJOR, SUPERD_ABI_MINOR);
    load_bad(TP("abi2"), want);
    /* As the ABI stands today, literally: */
    load_bad(TP("abi2"), TP("abi2") ": built for plugin ABI 2.0, this superd has 1.1");
}

static void test_load_newminor(void)
{
    char want[512];
    snprintf(want, sizeof want, "%s: built for plugin ABI %d.%d, newer than this superd's %d.%d",
             TP("newminor"), SUPERD_ABI_MAJOR, SUPERD_ABI_MINOR + 1, SUPERD_ABI_MAJOR,
             SUPERD_ABI_MINOR);
    load_bad(TP("newminor"), want);
}

static void test_load_small(void)
{
    char want[512];
    snprintf(want, sizeof want, "%s: descriptor size %zu too small for plugin ABI %d.%d",
             TP("small"), offsetof(struct superd_plugin, on_datagram), SUPERD_ABI_MAJOR,
             SUPERD_ABI_MINOR);
    load_bad(TP("small"), want);
}

/* A plugin built for 1.0 with today's header (SUPERD_TARGET_MINOR 0) says
 * 1.0 and loads; one that calls a 1.1 function says 1.1 and loads here. */
static void test_load_older_minor(void)
{
    struct plugin *p = NULL;
    CU_ASSERT_EQUAL_FATAL(plugin_load(TP("only10"), &p, err, sizeof err), 0);
    CU_ASSERT_EQUAL(p->desc.abi_minor, 0);
    plugin_unload(p);
    p = NULL;
    CU_ASSERT_EQUAL_FATAL(plugin_load(TP("addrs"), &p, err, sizeof err), 0);
    CU_ASSERT_EQUAL(p->desc.abi_minor, 1);
    plugin_unload(p);
}

/* What a plugin exports besides its descriptor, named for the warning. */
static void test_extra_exports(void)
{
    struct plugin *p = NULL;
    char names[256], small[20];
    CU_ASSERT_EQUAL_FATAL(plugin_load(TP("extraexp"), &p, err, sizeof err), 0);
    CU_ASSERT_EQUAL(plugin_extra_exports(p, names, sizeof names), 2);
    ASSERT_STR(names, "extraexp_helper, extraexp_table");
    CU_ASSERT_EQUAL(plugin_extra_exports(p, small, sizeof small), 2);
    ASSERT_STR(small, "extraexp_helper,...");
    plugin_unload(p);

    p = NULL;
    CU_ASSERT_EQUAL_FATAL(plugin_load(TP("good"), &p, err, sizeof err), 0);
    CU_ASSERT_EQUAL(plugin_extra_exports(p, names, sizeof names), 0);
    ASSERT_STR(names, "");
    plugin_unload(p);
}

/* Not a shared object at all, or no file: dlopen's reason, naming it. */
static void test_load_not_elf(void)
{
    load_bad(TEST_PLUGIN_DIR "/missing.so",
             "cannot load: " TEST_PLUGIN_DIR "/missing.so: cannot open shared object file: "
             "No such file or directory");

    char dir[64], file[128], prefix[256];
    snprintf(dir, sizeof dir, "/tmp/superd-unit-elf-XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/text.so", dir);
    FILE *f = fopen(file, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("this is not an ELF file, just some text to make it long enough to be read\n", f);
    for (int i = 0; i < 20; i++)
        fputs("padding padding padding padding padding padding padding padding\n", f);
    fclose(f);
    struct plugin *p = NULL;
    err[0] = '\0';
    int r = plugin_load(file, &p, err, sizeof err);
    unlink(file);
    rmdir(dir);
    CU_ASSERT_EQUAL(r, -ENOEXEC);
    CU_ASSERT_PTR_NULL(p);
    snprintf(prefix, sizeof prefix, "cannot load: %s: ", file);
    char got[sizeof prefix];
    snprintf(got, sizeof got, "%.*s", (int)strlen(prefix), err);
    ASSERT_STR(got, prefix);
    CU_ASSERT(strlen(err) > strlen(prefix));
    CU_ASSERT_PTR_NULL(strchr(err, '\n'));
}

/* ---- service_start ---- */

#define SVC_PATH "t/svc.ini"

struct svc_fixture {
    struct conf *conf;
    struct superd_service svc;
    bool started;
};

#define NEVER_BOUND "/tmp/superd-unit-never-bound.sock"

/* The service [svc] of a file whose 5th line names the plugin, whose 6th
 * listens on `listen`, and whose 7th holds `extra` (the plugin's keys). */
static struct conf *svc_conf_on(unsigned line, const char *plugin, const char *listen,
                                const char *extra)
{
    char text[1024];
    snprintf(text, sizeof text,
             "[superd]\n"                                   /* 1 */
             "plugin_dir = " TEST_PLUGIN_DIR "\n"           /* 2 */
             "\n"                                           /* 3 */
             "[svc]\n"                                      /* 4 */
             "plugin = %s\n"                                /* 5 */
             "listen = %s\n"                                /* 6 */
             "%s", plugin, listen, extra);
    struct conf *c = NULL;
    err[0] = '\0';
    int r = conf_load_string(text, SVC_PATH, &c, err, sizeof err);
    tc_assert_str(err, "", line, __FILE__, CU_TRUE);
    tc_assert_long(r, 0, "conf_load_string", line, __FILE__);
    if (r < 0)
        CU_FAIL_FATAL("the test's configuration does not load");
    return c;
}

#define svc_conf(plugin, extra) svc_conf_on(__LINE__, (plugin), "unix:" NEVER_BOUND, (extra))

/* Start [svc] listening on `listen`; expect rc and exactly msg ("" for
 * success). */
#define start_expect_on(plugin, listen, extra, rc, msg) \
    start_expect_at(__LINE__, (plugin), (listen), (extra), (rc), (msg))
#define start_expect(plugin, extra, rc, msg) \
    start_expect_at(__LINE__, (plugin), "unix:" NEVER_BOUND, (extra), (rc), (msg))
static void start_expect_at(unsigned line, const char *plugin, const char *listen,
                            const char *extra, int rc, const char *msg)
{
    struct conf *c = svc_conf_on(line, plugin, listen, extra);
    struct superd_service s;
    err[0] = '\0';
    int r = service_start(&s, c, &c->svcs[0], NULL, err, sizeof err);
    tc_assert_str(err, msg, line, __FILE__, CU_FALSE);
    tc_assert_long(r, rc, "service_start", line, __FILE__);
    service_stop(&s);
    conf_free(c);
}

static void test_start_good(void)
{
    struct conf *c = svc_conf(TP("good"), "greeting = hello there\n");
    struct superd_service s;
    err[0] = '\0';
    int r = service_start(&s, c, &c->svcs[0], NULL, err, sizeof err);
    ASSERT_STR(err, "");
    CU_ASSERT_EQUAL_FATAL(r, 0);
    CU_ASSERT(s.inited);
    ASSERT_STR(superd_service_name(&s), "svc");
    ASSERT_STR(service_plugin(&s)->name, "good");
    ASSERT_STR(service_plugin(&s)->version, "9.9");
    /* good keeps the greeting (the host's copy) in its service data. */
    const struct good_state *st = superd_service_data(&s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    ASSERT_STR(st->greeting, "hello there");
    CU_ASSERT(c->svcs[0].opts[0].used);
    service_stop(&s);
    CU_ASSERT_FALSE(s.inited);
    CU_ASSERT_PTR_NULL(s.plugin);
    conf_free(c);
    /* The option is optional. */
    start_expect(TP("good"), "", 0, "");
    /* Found by name in plugin_dir. */
    start_expect("good", "", 0, "");
}

static void test_start_init_config_error(void)
{
    start_expect(TP("initfail"), "answer = 41\n", -EINVAL,
                 SVC_PATH ":7: [svc] answer: must be 42, not '41'");
    start_expect(TP("initfail"), "\nerrno_only = no\nanswer = 7\n", -EINVAL,
                 SVC_PATH ":9: [svc] answer: must be 42, not '7'");
    /* A key that is not in the file: the section's line. */
    start_expect(TP("initfail"), "", -EINVAL,
                 SVC_PATH ":4: [svc] answer: must be 42, not '(none)'");
    start_expect(TP("initfail"), "answer = 42\n", 0, "");
}

static void test_start_init_errno_only(void)
{
    start_expect(TP("initfail"), "errno_only = yes\n", -EPERM,
                 SVC_PATH ":5: [svc] plugin: initfail: init failed: Operation not permitted");
}

static void test_start_unknown_key(void)
{
    start_expect(TP("good"), "colour = red\n", -EINVAL, SVC_PATH ":7: [svc] colour: unknown key");
    start_expect(TP("good"), "greeting = hi\ncolour = red\n", -EINVAL,
                 SVC_PATH ":8: [svc] colour: unknown key");
    /* initfail reads answer and errno_only, nothing else. */
    start_expect(TP("initfail"), "answer = 42\ngreeting = hi\n", -EINVAL,
                 SVC_PATH ":8: [svc] greeting: unknown key");
}

static void test_start_plugin_errors(void)
{
    start_expect("nosuch", "", -ENOENT,
                 SVC_PATH ":5: [svc] plugin: nosuch.so not found (searched " TEST_PLUGIN_DIR ", "
                 SUPERD_PLUGIN_DIR ")");
    start_expect(TP("abi2"), "", -ENOEXEC,
                 SVC_PATH ":5: [svc] plugin: " TP("abi2")
                 ": built for plugin ABI 2.0, this superd has 1.1");
    start_expect("nodesc", "", -ENOEXEC,
                 SVC_PATH ":5: [svc] plugin: " TP("nodesc")
                 ": not a superd plugin (no superd_plugin symbol)");
}

/* A listener the plugin has no callbacks for is refused, naming it. */
static void test_start_kind_not_served(void)
{
    start_expect_on(TP("good"), "tcp://127.0.0.1:10007 unix-dgram:" NEVER_BOUND, "", -EPROTONOSUPPORT,
                    SVC_PATH ":6: [svc] listen: plugin good does not serve datagrams "
                    "(unix-dgram " NEVER_BOUND ")");
    start_expect_on(TP("good"), "unix:" NEVER_BOUND, "", 0, "");
}

int test_core_loader_register(void)
{
    static const struct tc_test tests[] = {
        { "plugin_find: a path", test_find_path },
        { "plugin_find: NAME.so in plugin_dir", test_find_in_plugin_dir },
        { "plugin_find: plugin_dir first, then the build's", test_find_order },
        { "plugin_find: not found names every directory", test_find_not_found },
        { "plugin_load: good, name and version copied", test_load_good },
        { "plugin_load: no superd_plugin symbol", test_load_nodesc },
        { "plugin_load: bad magic", test_load_badmagic },
        { "plugin_load: another major ABI", test_load_abi2 },
        { "plugin_load: a newer minor ABI", test_load_newminor },
        { "plugin_load: descriptor too small", test_load_small },
        { "plugin_load: missing file, not ELF", test_load_not_elf },
        { "plugin_load: a plugin built for an older minor", test_load_older_minor },
        { "plugin_extra_exports: names what a plugin exports besides superd_plugin",
          test_extra_exports },
        { "service_start: good plugin, options read", test_start_good },
        { "service_start: init's config error at its key's line", test_start_init_config_error },
        { "service_start: init fails with an errno only", test_start_init_errno_only },
        { "service_start: a key nobody read", test_start_unknown_key },
        { "service_start: plugin missing or refused", test_start_plugin_errors },
        { "service_start: a listener the plugin cannot serve", test_start_kind_not_served },
    };
    return tc_register("core: loader and services", NULL, NULL, tests, sizeof tests / sizeof tests[0]);
}
