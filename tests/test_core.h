/* test_core.h - the suites of the core unit tests (tests/test_core_*.c),
 * registered by unit_core_main.c, and the small helpers they share. */
#ifndef SUPERD_TEST_CORE_H
#define SUPERD_TEST_CORE_H

#include <CUnit/CUnit.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Each adds its suite to the CUnit registry; returns 0, or -1 when CUnit
 * could not register it (CU_get_error_msg() says why). */
int test_core_config_register(void);
int test_core_addr_register(void);
int test_core_loader_register(void);
int test_core_buf_register(void);
int test_core_conn_register(void);
int test_core_access_register(void);
int test_core_sources_register(void);
int test_core_listener_register(void);
int test_core_proxy_register(void);
int test_core_loopguard_register(void);
int test_core_sources_hardening_register(void);
int test_core_config_checks_register(void);
int test_core_exec_register(void);
int test_core_config_keys_register(void);
int test_core_tls_register(void);
int test_core_loop_register(void);
int test_core_stats_register(void);
int test_core_stats_hostile_register(void);
int test_core_dgram_own_register(void);
int test_core_exec_keys_register(void);

/* One test of a suite. */
struct tc_test {
    const char *name;
    CU_TestFunc fn;
};

/* Register a suite and its tests; setup and teardown (either may be NULL)
 * run around every test, also when a fatal assertion ends it. */
static inline int tc_register(const char *suite, CU_SetUpFunc setup, CU_TearDownFunc teardown,
                              const struct tc_test *tests, size_t n)
{
    CU_pSuite s = CU_add_suite_with_setup_and_teardown(suite, NULL, NULL, setup, teardown);
    if (!s)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!CU_add_test(s, tests[i].name, tests[i].fn))
            return -1;
    return 0;
}

/*
 * Assert that a string is exactly the expected one.  Unlike
 * CU_ASSERT_STRING_EQUAL, a failure shows both strings, which is what one
 * needs to see when a user-visible message changed.
 */
#define ASSERT_STR(actual, expected) \
    tc_assert_str((actual), (expected), __LINE__, __FILE__, CU_FALSE)
#define ASSERT_STR_FATAL(actual, expected) \
    tc_assert_str((actual), (expected), __LINE__, __FILE__, CU_TRUE)

static inline void tc_assert_str(const char *actual, const char *expected, unsigned line,
                                 const char *file, CU_BOOL fatal)
{
    char msg[2048];
    bool ok = actual && expected && strcmp(actual, expected) == 0;
    snprintf(msg, sizeof msg, "expected \"%s\", got \"%s\"",
             expected ? expected : "(NULL)", actual ? actual : "(NULL)");
    CU_assertImplementation(ok, line, msg, file, "", fatal);
}

/* The same for numbers, e.g. a return code: "what: expected E, got A".
 * Helpers pass their caller's line, so that a failure points at the case. */
static inline void tc_assert_long(long actual, long expected, const char *what, unsigned line,
                                  const char *file)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s: expected %ld, got %ld", what, expected, actual);
    CU_assertImplementation(actual == expected, line, msg, file, "", CU_FALSE);
}

#endif
