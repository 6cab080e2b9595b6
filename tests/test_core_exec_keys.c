/* test_core_exec_keys.c - a program service has no plugin to read keys the
 * core does not know: such a key is refused at load, as in a plugin
 * service ("unknown key", with "did you mean" one edit away). */
#include <errno.h>
#include <string.h>

#include "config.h"
#include "test_core.h"

#define PATH "t/x.ini"
#define PROG "[p]\nprogram = /bin/cat\nlisten = tcp://127.0.0.1:10007\n"

static void load_bad_at(unsigned line, const char *text, const char *msg)
{
    static char err[CONF_ERR_MAX];
    struct conf *c = NULL;
    err[0] = '\0';
    int r = conf_load_string(text, PATH, &c, err, sizeof err);
    tc_assert_str(err, msg, line, __FILE__, CU_FALSE);
    tc_assert_long(r, -EINVAL, "conf_load_string", line, __FILE__);
    if (r == 0)
        conf_free(c);
}

static void test_program_unknown_key(void)
{
    load_bad_at(__LINE__, PROG "bogus = 1\n", PATH ":4: [p] bogus: unknown key");
    load_bad_at(__LINE__, PROG "max_instance = 3\n",
                PATH ":4: [p] max_instance: unknown key (did you mean max_instances?)");
    load_bad_at(__LINE__, PROG "to = tcp://127.0.0.1:1\n", PATH ":4: [p] to: unknown key");
}

static void test_program_known_keys_pass(void)
{
    struct conf *c = NULL;
    char err[CONF_ERR_MAX] = "";
    int r = conf_load_string(PROG "max_instances = 3\nargs = -u\n", PATH, &c, err, sizeof err);
    tc_assert_str(err, "", __LINE__, __FILE__, CU_FALSE);
    tc_assert_long(r, 0, "conf_load_string", __LINE__, __FILE__);
    if (r == 0)
        conf_free(c);
}

int test_core_exec_keys_register(void)
{
    static const struct tc_test tests[] = {
        { "program service: an unknown key is refused", test_program_unknown_key },
        { "program service: its own keys pass", test_program_known_keys_pass },
    };
    return tc_register("exec keys", NULL, NULL, tests, sizeof tests / sizeof tests[0]);
}
