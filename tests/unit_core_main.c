/*
 * unit_core_main.c - runs the core's CUnit suites (tests/test_core_*.c):
 * configuration, listen addresses, plugin loader and services, buffers,
 * stream connections, access lists and the per-source table.  Exits 0
 * only if every suite registered and every test passed.
 *
 * Usage: unit_core        (test plugins come from TEST_PLUGIN_DIR)
 */
#include <CUnit/Basic.h>

#include <stdio.h>
#include <stdlib.h>

#include "test_core.h"

int main(void)
{
    static int (*const suites[])(void) = {
        test_core_config_register,
        test_core_addr_register,
        test_core_loader_register,
        test_core_buf_register,
        test_core_conn_register,
        test_core_access_register,
        test_core_sources_register,
        test_core_listener_register,
        test_core_proxy_register,
        test_core_loopguard_register,
        test_core_sources_hardening_register,
        test_core_config_checks_register,
        test_core_exec_register,
        test_core_config_keys_register,
        test_core_tls_register,
        test_core_loop_register,
        test_core_stats_register,
        test_core_stats_hostile_register,
        test_core_dgram_own_register,
        test_core_exec_keys_register,
    };

    if (CU_initialize_registry() != CUE_SUCCESS) {
        fprintf(stderr, "unit_core: cannot initialise CUnit: %s\n", CU_get_error_msg());
        return EXIT_FAILURE;
    }
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
        if (suites[i]() < 0) {
            fprintf(stderr, "unit_core: cannot register a suite: %s\n", CU_get_error_msg());
            CU_cleanup_registry();
            return EXIT_FAILURE;
        }
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_ErrorCode rc = CU_basic_run_tests();
    /* CU_basic_run_tests printed the run summary; a failed suite set-up
     * counts as a failure too. */
    unsigned failed = CU_get_number_of_tests_failed() + CU_get_number_of_suites_failed();
    if (rc != CUE_SUCCESS)
        fprintf(stderr, "unit_core: CUnit error: %s\n", CU_get_error_msg());
    CU_cleanup_registry();
    if (rc != CUE_SUCCESS)
        return EXIT_FAILURE;
    printf("\nunit_core: %s\n", failed ? "FAILED" : "all tests passed");
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
