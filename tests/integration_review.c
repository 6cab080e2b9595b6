/*
 * integration_review.c - divergences a black-box review found between the
 * documents and the binary, each checked on the real binary.
 *
 * Linked into build/tests/integration (IT_REGISTER); IT_ONLY=review runs
 * these.  Loopback and private unix paths only; every wait is bounded.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* docs/metrics.md: "a request over 8 KiB is 431", also when the whole
 * request (headers and the blank line) arrives in one write: it once got
 * 200 unless it was still incomplete at 8 KiB. */
static void test_metrics_whole_request_over_8k(void)
{
    static uint8_t buf[1 << 16];
    char *sock = it_path("metrics.sock");
    struct it_daemon *d = it_alloc(sizeof(*d));
    size_t pad = 9000;
    char *req = it_alloc(pad + 64);
    struct it_xfer x;
    int fd;

    CU_ASSERT_FATAL(it_start(d, it_conf_global(it_printf("workers = 1\nmetrics_listen = unix:%s\n",
                                                         sock),
                                               "")) == 0);
    strcpy(req, "GET /metrics HTTP/1.1\r\nX-Pad: ");
    memset(req + strlen(req), 'a', pad);
    strcat(req, "\r\n\r\n");
    fd = it_unix_connect(sock);
    CU_ASSERT_FATAL(fd >= 0);
    memset(buf, 0, sizeof(buf));
    it_xfer(fd, (const uint8_t *)req, strlen(req), 0, NULL, 0, buf, sizeof(buf) - 1, 0, 1,
            IT_OP_MS, &x);
    it_close(fd);
    CU_ASSERT(strncmp((char *)buf, "HTTP/1.1 431 ", 13) == 0);
    if (strncmp((char *)buf, "HTTP/1.1 431 ", 13) != 0)
        printf("\n    got: %.60s\n", (char *)buf);
    CU_ASSERT(it_stop(d, SIGTERM) == 0);
}

static const struct it_test review_tests[] = {
    { "review: a whole metrics request over 8 KiB is 431", test_metrics_whole_request_over_8k },
};

IT_REGISTER(review_tests)
