/* test_core_loopguard.c - the per-worker datagram loop budget
 * (core/loopguard.c): a burst of `count`, then `count` per period; sources
 * and services apart; a loop's next reply refused. */
#include "test_core.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "loopguard.h"

static struct sockaddr_in v4(const char *ip, int port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, ip, &sin.sin_addr);
    return sin;
}

static int passes(int svc, struct sockaddr_in *sin, const struct conf_rate *r, long long now,
                  int tries)
{
    int n = 0;
    for (int i = 0; i < tries; i++)
        n += loopguard_pass(svc, (struct sockaddr *)sin, sizeof *sin, r, now);
    return n;
}

static void test_burst_then_rate(void)
{
    struct conf_rate r = { 100, 1000 };
    struct sockaddr_in a = v4("192.0.2.1", 7), b = v4("192.0.2.2", 7);
    long long t = 1000000;

    CU_ASSERT_EQUAL(passes(1, &a, &r, t, 150), 100);    /* a burst of 100 */
    CU_ASSERT_EQUAL(passes(1, &a, &r, t + 5, 5), 0);    /* nothing back yet */
    CU_ASSERT_EQUAL(passes(1, &a, &r, t + 100, 20), 10); /* 10 ms each */
    CU_ASSERT_EQUAL(passes(1, &b, &r, t + 100, 150), 100); /* another source */
    CU_ASSERT_EQUAL(passes(2, &a, &r, t + 100, 150), 100); /* another service */
    CU_ASSERT_EQUAL(passes(1, &a, &r, t + 2100, 150), 100); /* refilled */
}

static void test_port_matters_and_none(void)
{
    struct conf_rate r = { 3, 1000 }, none = { 0, 0 };
    struct sockaddr_in a = v4("198.51.100.1", 5000), a2 = v4("198.51.100.1", 5001);
    long long t = 5000000;

    CU_ASSERT_EQUAL(passes(3, &a, &r, t, 10), 3);
    CU_ASSERT_EQUAL(passes(3, &a2, &r, t, 10), 3);
    CU_ASSERT_EQUAL(passes(3, &a, &none, t, 10), 10);
}

int test_core_loopguard_register(void)
{
    static const struct tc_test tests[] = {
        { "loop budget: a burst, then the rate; sources and services apart",
          test_burst_then_rate },
        { "loop budget: per address and port; a zero rate is no budget",
          test_port_matters_and_none },
    };
    return tc_register("datagram loop budget", NULL, NULL, tests, sizeof tests / sizeof tests[0]);
}
