/* good.h - the good test plugin's service data, so that a test can see
 * what the plugin saw (superd_service_data() of its service). */
#ifndef SUPERD_TEST_GOOD_H
#define SUPERD_TEST_GOOD_H

#include <stddef.h>

struct good_state {
    const char *greeting;   /* the `greeting` option, or NULL */
    unsigned long opens;    /* on_open calls */
    unsigned long closes;   /* on_close calls */
    size_t bytes_in;        /* bytes offered to on_data (it takes them all) */
};

#endif
