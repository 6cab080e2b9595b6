/*
 * test_plugin.c - unit tests of the plugin against superd's fake host: no
 * daemon, no sockets.  `make test` runs them:  ./test_plugin ./myplugin.so
 *
 * The fake host (<superd/fakehost.h>, libsuperd-fakehost.a) loads the .so
 * as superd does, feeds it bytes, EOFs and datagrams, and collects what it
 * writes, replies and logs.
 */
#include <CUnit/Basic.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <superd/fakehost.h>

static const char *plugin_path;
static struct fake_plugin *plugin;

static int suite_init(void)
{
    return fake_plugin_load(plugin_path, &plugin) < 0 ? -1 : 0;
}

static int suite_clean(void)
{
    return fake_plugin_unload(plugin) < 0 ? -1 : 0;
}

/* A service of the plugin with `options` (key, value, ..., NULL), its
 * init() run and checked. */
static struct superd_service *start(const char *const *options)
{
    struct superd_service *svc = fake_service_new(plugin, "test", options);

    CU_ASSERT_PTR_NOT_NULL_FATAL(svc);
    if (fake_service_init(svc) != 0) {
        fprintf(stderr, "init: %s\n", fake_service_error(svc));
        fake_service_free(svc);
        CU_FAIL_FATAL("init failed");
    }
    CU_ASSERT_PTR_NULL(fake_service_unread(svc));   /* every option read */
    return svc;
}

static void test_stream(void)
{
    unsigned violations = fake_violations();
    struct superd_service *svc = start(NULL);
    struct superd_conn *conn = fake_conn_open(svc, NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    CU_ASSERT_STRING_EQUAL(fake_conn_output(conn, NULL), "hello\n");
    CU_ASSERT_EQUAL(fake_conn_feed(conn, "abc", 3), 0);
    CU_ASSERT_EQUAL(fake_conn_feed(conn, "de", 2), 0);
    CU_ASSERT_FALSE(fake_conn_closed(conn));
    CU_ASSERT_EQUAL(fake_conn_eof(conn), 0);
    CU_ASSERT_STRING_EQUAL(fake_conn_output(conn, NULL), "hello\n5 bytes\n");
    CU_ASSERT_TRUE(fake_conn_closed(conn));
    fake_conn_free(conn);
    CU_ASSERT_EQUAL(fake_service_free(svc), 0);
    CU_ASSERT_EQUAL(fake_violations(), violations);
}

static void test_greeting_option(void)
{
    const char *const options[] = { "greeting", "hi there", NULL };
    struct superd_service *svc = start(options);
    struct superd_conn *conn = fake_conn_open(svc, NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    CU_ASSERT_STRING_EQUAL(fake_conn_output(conn, NULL), "hi there\n");
    fake_conn_free(conn);
    fake_service_free(svc);
}

static void test_bad_option(void)
{
    char longer[300];
    const char *const options[] = { "greeting", longer, NULL };
    struct superd_service *svc;

    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    svc = fake_service_new(plugin, "test", options);
    CU_ASSERT_PTR_NOT_NULL_FATAL(svc);
    CU_ASSERT_EQUAL(fake_service_init(svc), -EINVAL);
    CU_ASSERT_STRING_EQUAL(fake_service_error(svc),
                           "[test] greeting: longer than 200 characters");
    fake_service_free(svc);
}

static void test_datagram(void)
{
    struct superd_service *svc = start(NULL);
    size_t len;

    CU_ASSERT_EQUAL(fake_dgram_feed(svc, "12345678", 8, NULL), 1);
    CU_ASSERT_STRING_EQUAL(fake_dgram_reply(svc, 0, &len), "8 bytes\n");
    CU_ASSERT_EQUAL(len, 8);
    fake_service_free(svc);
}

static CU_TestInfo tests[] = {
    { "stream: greeting, count, answer at EOF", test_stream },
    { "option: greeting", test_greeting_option },
    { "option: a bad greeting is refused", test_bad_option },
    { "datagram: answered with its size", test_datagram },
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    { "plugin", suite_init, suite_clean, NULL, NULL, tests },
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
    unsigned failures;

    if (argc != 2) {
        fprintf(stderr, "usage: %s PLUGIN.so\n", argv[0]);
        return 2;
    }
    plugin_path = argv[1];
    if (CU_initialize_registry() != CUE_SUCCESS || CU_register_suites(suites) != CUE_SUCCESS) {
        fprintf(stderr, "%s: %s\n", argv[0], CU_get_error_msg());
        CU_cleanup_registry();
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failures == 0 ? 0 : 1;
}
