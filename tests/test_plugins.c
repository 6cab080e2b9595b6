/*
 * test_plugins.c - CUnit tests of the sample plugins (echo, discard,
 * daytime, chargen, time, qotd), each loaded from its built .so and run against the fake host;
 * and of the fake host itself (sdk/fakehost.c) with test plugins from
 * TEST_PLUGIN_DIR: superd's own descriptor check, the ABI 1.1 addresses.
 *
 * Usage: unit_plugins PLUGIN_DIR     (e.g. build/plugins)
 */
#include <CUnit/Basic.h>

#include <errno.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fakehost.h"

static const char *plugin_dir;
static struct fake_plugin *echo;
static struct fake_plugin *discard;
static struct fake_plugin *daytime;
static struct fake_plugin *chargen;
static struct fake_plugin *timep;
static struct fake_plugin *qotd;
static unsigned violations_before;

/* ---- helpers ---- */

static int load(const char *name, struct fake_plugin **out)
{
    char path[4096];

    snprintf(path, sizeof path, "%s/%s.so", plugin_dir, name);
    /* On failure the fake host has logged why. */
    return fake_plugin_load(path, out) < 0 ? -1 : 0;
}

static int echo_suite_init(void) { return load("echo", &echo); }
static int discard_suite_init(void) { return load("discard", &discard); }
static int daytime_suite_init(void) { return load("daytime", &daytime); }
static int chargen_suite_init(void) { return load("chargen", &chargen); }
static int time_suite_init(void) { return load("time", &timep); }
static int qotd_suite_init(void) { return load("qotd", &qotd); }

static int echo_suite_clean(void) { return fake_plugin_unload(echo) < 0 ? -1 : 0; }
static int discard_suite_clean(void) { return fake_plugin_unload(discard) < 0 ? -1 : 0; }
static int daytime_suite_clean(void) { return fake_plugin_unload(daytime) < 0 ? -1 : 0; }
static int chargen_suite_clean(void) { return fake_plugin_unload(chargen) < 0 ? -1 : 0; }
static int time_suite_clean(void) { return fake_plugin_unload(timep) < 0 ? -1 : 0; }
static int qotd_suite_clean(void) { return fake_plugin_unload(qotd) < 0 ? -1 : 0; }

/* Every test must leave the plugin API contract intact. */
static void setup(void)
{
    violations_before = fake_violations();
}

static void teardown(void)
{
    CU_ASSERT_EQUAL(fake_violations(), violations_before);
}

/* A service of `plugin` named after it, initialised with `options`. */
static struct superd_service *start(struct fake_plugin *plugin, const char *const *options)
{
    const char *name = fake_plugin_descriptor(plugin)->name;
    struct superd_service *svc = fake_service_new(plugin, name, options);
    int r;

    CU_ASSERT_PTR_NOT_NULL_FATAL(svc);
    r = fake_service_init(svc);
    if (r != 0) {
        fprintf(stderr, "init: %s\n", fake_service_error(svc));
        fake_service_free(svc);
    }
    CU_ASSERT_EQUAL_FATAL(r, 0);
    return svc;
}

static struct superd_conn *open_conn(struct superd_service *svc)
{
    struct superd_conn *conn = fake_conn_open(svc, NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    return conn;
}

/* Bytes that differ from their neighbours and do not repeat every 256. */
static unsigned char *pattern(size_t len)
{
    unsigned char *p = malloc(len > 0 ? len : 1);

    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)(i * 7 + (i >> 8) * 13 + 1);
    return p;
}

/* Whether the connection's output is exactly these bytes. */
static bool output_is(const struct superd_conn *conn, const void *want, size_t len)
{
    size_t got_len;
    const char *got = fake_conn_output(conn, &got_len);

    return got_len == len && memcmp(got, want, len) == 0;
}

/*
 * Whether `line` is `format` applied to the local time of some second in
 * [t0, t1], followed by CRLF: the plugin ran between the two readings.
 */
static bool is_time_line(const char *format, time_t t0, time_t t1, const char *line,
                         size_t len)
{
    for (time_t t = t0; t <= t1; t++) {
        char want[300];
        struct tm tm;
        size_t n;

        CU_ASSERT_PTR_NOT_NULL_FATAL(localtime_r(&t, &tm));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        n = strftime(want, sizeof want - 2, format, &tm);
#pragma GCC diagnostic pop
        memcpy(want + n, "\r\n", 3);
        if (len == n + 2 && memcmp(line, want, len) == 0)
            return true;
    }
    return false;
}

/* RFC 867's suggested syntax, the daytime default. */
static bool has_default_shape(const char *line)
{
    static const char re_text[] =
        "^(Sunday|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday), "
        "(January|February|March|April|May|June|July|August|September|October|"
        "November|December) [0-3][0-9], [0-9]{4} "
        "[0-2][0-9]:[0-5][0-9]:[0-6][0-9]-[^\r\n]+\r\n$";
    regex_t re;
    bool ok;

    CU_ASSERT_EQUAL_FATAL(regcomp(&re, re_text, REG_EXTENDED | REG_NOSUB), 0);
    ok = regexec(&re, line, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

static void check_descriptor(struct fake_plugin *plugin, const char *name)
{
    const struct superd_plugin *d = fake_plugin_descriptor(plugin);

    CU_ASSERT_EQUAL(d->magic, SUPERD_PLUGIN_MAGIC);
    CU_ASSERT_EQUAL(d->abi_major, SUPERD_ABI_MAJOR);
    CU_ASSERT(d->abi_minor <= SUPERD_ABI_MINOR);
    CU_ASSERT_EQUAL(d->size, sizeof(struct superd_plugin));
    CU_ASSERT_STRING_EQUAL(d->name, name);
    CU_ASSERT_PTR_NOT_NULL(d->version);
    /* Both kinds of listener work with every sample service. */
    CU_ASSERT_PTR_NOT_NULL(d->on_data);
    CU_ASSERT_PTR_NOT_NULL(d->on_datagram);
}

/* A key the plugin does not know stays unread, so the host can refuse it. */
static void check_unknown_option(struct fake_plugin *plugin, const char *const *options)
{
    struct superd_service *svc = start(plugin, options);

    CU_ASSERT_PTR_NOT_NULL(fake_service_unread(svc));
    if (fake_service_unread(svc) != NULL)
        CU_ASSERT_STRING_EQUAL(fake_service_unread(svc), "bogus");
    fake_service_free(svc);
}

/* ---- echo ---- */

static void test_echo_descriptor(void)
{
    check_descriptor(echo, "echo");
}

static void test_echo_one_byte(void)
{
    struct superd_service *svc = start(echo, NULL);
    struct superd_conn *conn = open_conn(svc);

    CU_ASSERT_TRUE(output_is(conn, "", 0));
    CU_ASSERT_EQUAL(fake_conn_feed(conn, "x", 1), 0);
    CU_ASSERT_TRUE(output_is(conn, "x", 1));
    CU_ASSERT_FALSE(fake_conn_closed(conn));
    fake_conn_free(conn);
    fake_service_free(svc);
}

static void test_echo_64k(void)
{
    struct superd_service *svc = start(echo, NULL);
    struct superd_conn *conn = open_conn(svc);
    size_t len = 64 * 1024;
    unsigned char *data = pattern(len);

    CU_ASSERT_EQUAL(fake_conn_feed(conn, data, len), 0);
    CU_ASSERT_TRUE(output_is(conn, data, len));
    CU_ASSERT_FALSE(fake_conn_closed(conn));
    free(data);
    fake_conn_free(conn);
    fake_service_free(svc);
}

/* Each piece comes back before the next is sent, and in order. */
static void test_echo_pieces(void)
{
    static const size_t sizes[] = { 1, 1000, 3, 70000, 5 };
    struct superd_service *svc = start(echo, NULL);
    struct superd_conn *conn = open_conn(svc);
    size_t total = 0, off = 0;
    unsigned char *data;

    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        total += sizes[i];
    data = pattern(total);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        CU_ASSERT_EQUAL(fake_conn_feed(conn, data + off, sizes[i]), 0);
        off += sizes[i];
        CU_ASSERT_TRUE(output_is(conn, data, off));
        CU_ASSERT_EQUAL(fake_conn_unconsumed(conn), 0);
    }
    CU_ASSERT_FALSE(fake_conn_closed(conn));
    free(data);
    fake_conn_free(conn);
    fake_service_free(svc);
}

/* A client that sends more than it reads: echo's queue stays bounded and
 * nothing is lost once the client reads. */
static void test_echo_backpressure(void)
{
    struct superd_service *svc = start(echo, NULL);
    struct superd_conn *conn = open_conn(svc);
    size_t len = 1024 * 1024;
    unsigned char *data = pattern(len);
    int rounds = 0;

    CU_ASSERT_EQUAL(fake_conn_feed(conn, data, len), 0);
    while (fake_conn_pending(conn) > 0 && rounds++ < 100) {
        CU_ASSERT(superd_queued(conn) <= FAKE_HIGH_WATER + FAKE_INPUT_MAX);
        CU_ASSERT_EQUAL(fake_conn_drain(conn), 0);
    }
    CU_ASSERT_EQUAL(fake_conn_pending(conn), 0);
    CU_ASSERT_TRUE(output_is(conn, data, len));
    CU_ASSERT_FALSE(fake_conn_closed(conn));
    free(data);
    fake_conn_free(conn);
    fake_service_free(svc);
}

/* RFC 862 half-close: the echoed bytes stay, then the connection closes. */
static void test_echo_eof_closes_after_flush(void)
{
    struct superd_service *svc = start(echo, NULL);
    struct superd_conn *conn = open_conn(svc);

    CU_ASSERT_EQUAL(fake_conn_feed(conn, "abc", 3), 0);
    CU_ASSERT_FALSE(fake_conn_closed(conn));
    CU_ASSERT_EQUAL(fake_conn_eof(conn), 0);
    CU_ASSERT_TRUE(fake_conn_closed(conn));
    CU_ASSERT_TRUE(output_is(conn, "abc", 3));
    CU_ASSERT_EQUAL(superd_queued(conn), 3);   /* still to be flushed, not dropped */
    fake_conn_free(conn);
    fake_service_free(svc);
}

/* A broken connection ends the session instead of losing bytes silently. */
static void test_echo_write_error_closes(void)
{
    struct superd_service *svc = start(echo, NULL);
    struct superd_conn *conn = open_conn(svc);

    fake_conn_fail_writes(conn, -ECONNRESET);
    CU_ASSERT_EQUAL(fake_conn_feed(conn, "abc", 3), 0);
    CU_ASSERT_TRUE(fake_conn_closed(conn));
    CU_ASSERT_EQUAL(fake_conn_error(conn), -ECONNRESET);
    fake_conn_free(conn);
    fake_service_free(svc);
}

static void check_echo_datagram(struct superd_service *svc, const void *data, size_t len)
{
    size_t got_len = 0;
    const char *got;

    CU_ASSERT_EQUAL(fake_dgram_feed(svc, data, len, NULL), 1);
    got = fake_dgram_reply(svc, 0, &got_len);
    CU_ASSERT_PTR_NOT_NULL(got);
    CU_ASSERT_EQUAL(got_len, len);
    CU_ASSERT(got != NULL && got_len == len && memcmp(got, data, len) == 0);
}

static void test_echo_datagram(void)
{
    struct superd_service *svc = start(echo, NULL);
    unsigned char *big = pattern(FAKE_DGRAM_MAX);

    check_echo_datagram(svc, "hello\0world\r\n", 13);
    check_echo_datagram(svc, "x", 1);
    check_echo_datagram(svc, big, FAKE_DGRAM_MAX);
    check_echo_datagram(svc, "", 0);
    free(big);
    fake_service_free(svc);
}

static void test_echo_unknown_option(void)
{
    static const char *const opts[] = { "bogus", "1", NULL };

    check_unknown_option(echo, opts);
}

/* ---- discard ---- */

static void test_discard_descriptor(void)
{
    check_descriptor(discard, "discard");
}

/* Nothing comes back, however much is sent, and the connection stays open
 * (it would close if discard left its input buffer full). */
static void test_discard_writes_nothing(void)
{
    static const size_t sizes[] = { 1, 64 * 1024, 3, 200 * 1024, 1 };
    struct superd_service *svc = start(discard, NULL);
    struct superd_conn *conn = open_conn(svc);
    unsigned char *data = pattern(200 * 1024);

    CU_ASSERT_TRUE(output_is(conn, "", 0));
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        CU_ASSERT_EQUAL(fake_conn_feed(conn, data, sizes[i]), 0);
        CU_ASSERT_TRUE(output_is(conn, "", 0));
        CU_ASSERT_FALSE(fake_conn_closed(conn));
        CU_ASSERT_EQUAL(fake_conn_unconsumed(conn), 0);
    }
    CU_ASSERT_EQUAL(fake_conn_pending(conn), 0);
    free(data);
    fake_conn_free(conn);
    fake_service_free(svc);
}

static void test_discard_eof_closes(void)
{
    struct superd_service *svc = start(discard, NULL);
    struct superd_conn *conn = open_conn(svc);

    CU_ASSERT_EQUAL(fake_conn_feed(conn, "abc", 3), 0);
    CU_ASSERT_EQUAL(fake_conn_eof(conn), 0);
    CU_ASSERT_TRUE(fake_conn_closed(conn));
    CU_ASSERT_TRUE(output_is(conn, "", 0));
    fake_conn_free(conn);
    fake_service_free(svc);
}

static void test_discard_datagram_no_reply(void)
{
    static const size_t sizes[] = { 0, 1, 1000, FAKE_DGRAM_MAX };
    struct superd_service *svc = start(discard, NULL);
    unsigned char *data = pattern(FAKE_DGRAM_MAX);

    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        CU_ASSERT_EQUAL(fake_dgram_feed(svc, data, sizes[i], NULL), 0);
    free(data);
    fake_service_free(svc);
}

static void test_discard_unknown_option(void)
{
    static const char *const opts[] = { "bogus", "1", NULL };

    check_unknown_option(discard, opts);
}

/* ---- daytime ---- */

#define DEFAULT_FORMAT "%A, %B %d, %Y %H:%M:%S-%Z"

static void test_daytime_descriptor(void)
{
    check_descriptor(daytime, "daytime");
}

/* One line on connect, then the server closes; `format` shapes the line. */
static void check_daytime_stream(const char *const *options, const char *format)
{
    struct superd_service *svc = start(daytime, options);
    time_t t0 = time(NULL), t1;
    struct superd_conn *conn = open_conn(svc);
    const char *out;
    size_t len;

    t1 = time(NULL);
    out = fake_conn_output(conn, &len);
    CU_ASSERT_TRUE(is_time_line(format, t0, t1, out, len));
    CU_ASSERT_TRUE(len >= 2 && strstr(out, "\r\n") == out + len - 2);
    CU_ASSERT_TRUE(fake_conn_closed(conn));
    CU_ASSERT_EQUAL(fake_conn_error(conn), 0);
    /* Whatever the client sends afterwards changes nothing. */
    CU_ASSERT_EQUAL(fake_conn_feed(conn, "hello\r\n", 7), -EPIPE);
    CU_ASSERT_TRUE(output_is(conn, out, len));
    fake_conn_free(conn);
    fake_service_free(svc);
}

static void test_daytime_year_format(void)
{
    static const char *const opts[] = { "format", "%Y", NULL };
    struct superd_service *svc = start(daytime, opts);
    time_t t0 = time(NULL), t1;
    struct superd_conn *conn = open_conn(svc);
    struct tm tm0, tm1;
    char y0[16], y1[16];
    const char *out;

    t1 = time(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(localtime_r(&t0, &tm0));
    CU_ASSERT_PTR_NOT_NULL_FATAL(localtime_r(&t1, &tm1));
    snprintf(y0, sizeof y0, "%d\r\n", tm0.tm_year + 1900);
    snprintf(y1, sizeof y1, "%d\r\n", tm1.tm_year + 1900);
    out = fake_conn_output(conn, NULL);
    CU_ASSERT_TRUE(strcmp(out, y0) == 0 || strcmp(out, y1) == 0);
    CU_ASSERT_TRUE(fake_conn_closed(conn));
    fake_conn_free(conn);
    fake_service_free(svc);
    check_daytime_stream(opts, "%Y");
}

static void test_daytime_default_format(void)
{
    struct superd_service *svc = start(daytime, NULL);
    struct superd_conn *conn = open_conn(svc);

    CU_ASSERT_TRUE(has_default_shape(fake_conn_output(conn, NULL)));
    fake_conn_free(conn);
    fake_service_free(svc);
    check_daytime_stream(NULL, DEFAULT_FORMAT);
}

static void test_daytime_datagram(void)
{
    static const char *const opts[] = { "format", "%Y-%m-%d %H:%M:%S", NULL };
    struct superd_service *svc = start(daytime, NULL);
    struct superd_service *custom = start(daytime, opts);
    time_t t0 = time(NULL), t1;
    const char *got, *got_custom;
    size_t len, len_custom;

    CU_ASSERT_EQUAL(fake_dgram_feed(svc, "anything", 8, NULL), 1);
    got = fake_dgram_reply(svc, 0, &len);
    CU_ASSERT_EQUAL(fake_dgram_feed(custom, "", 0, NULL), 1);
    got_custom = fake_dgram_reply(custom, 0, &len_custom);
    t1 = time(NULL);
    CU_ASSERT_PTR_NOT_NULL(got);
    CU_ASSERT_PTR_NOT_NULL(got_custom);
    if (got != NULL && got_custom != NULL) {
        CU_ASSERT_TRUE(has_default_shape(got));
        CU_ASSERT_TRUE(is_time_line(DEFAULT_FORMAT, t0, t1, got, len));
        CU_ASSERT_TRUE(is_time_line("%Y-%m-%d %H:%M:%S", t0, t1, got_custom, len_custom));
    }
    fake_service_free(custom);
    fake_service_free(svc);
}

/* The line is made once a second and kept: a connection in the next second
 * (stream or datagram) gets that second's line, never the kept one. */
static void test_daytime_follows_the_clock(void)
{
    static const char *const opts[] = { "format", "%s", NULL };
    struct superd_service *svc = start(daytime, opts);
    struct superd_conn *first, *second;
    time_t t0, t1, t2;
    char kept[64];
    const char *got;
    size_t len;
    int i;

    t0 = time(NULL);
    first = open_conn(svc);
    t1 = time(NULL);
    got = fake_conn_output(first, &len);
    CU_ASSERT_TRUE_FATAL(len < sizeof kept && is_time_line("%s", t0, t1, got, len));
    memcpy(kept, got, len);
    /* Into the next second: at most 1.5 s. */
    for (i = 0; i < 150 && time(NULL) == t1; i++)
        usleep(10000);
    t2 = time(NULL);
    CU_ASSERT_TRUE_FATAL(t2 > t1);
    second = open_conn(svc);
    got = fake_conn_output(second, &len);
    CU_ASSERT_TRUE(is_time_line("%s", t2, time(NULL), got, len));
    CU_ASSERT_FALSE(memcmp(got, kept, len) == 0);
    CU_ASSERT_EQUAL(fake_dgram_feed(svc, "", 0, NULL), 1);
    got = fake_dgram_reply(svc, 0, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_TRUE(is_time_line("%s", t2, time(NULL), got, len));
    fake_conn_free(second);
    fake_conn_free(first);
    fake_service_free(svc);
}

/* init() refuses `format`; the message names the service and the key. */
static void check_daytime_rejects(const char *format)
{
    const char *const opts[] = { "format", format, NULL };
    struct superd_service *svc = fake_service_new(daytime, "daytime", opts);
    const char *err;

    CU_ASSERT_PTR_NOT_NULL_FATAL(svc);
    CU_ASSERT_EQUAL(fake_service_init(svc), -EINVAL);
    err = fake_service_error(svc);
    CU_ASSERT_PTR_NOT_NULL(err);
    if (err != NULL) {
        CU_ASSERT_EQUAL(strncmp(err, "[daytime] format: ", 18), 0);
        CU_ASSERT(strlen(err) > 18);
    }
    /* A refused service serves nothing (quietly: the fake would say so). */
    fake_log_stream(NULL);
    CU_ASSERT_PTR_NULL(fake_conn_open(svc, NULL));
    fake_log_stream(stderr);
    fake_service_free(svc);
}

static void test_daytime_rejects_empty_format(void)
{
    check_daytime_rejects("");
}

static void test_daytime_rejects_bad_formats(void)
{
    char too_long[2 * 101 + 1] = "";

    for (int i = 0; i < 51; i++)
        strcat(too_long, "%Y");         /* 204 characters: just over */
    check_daytime_rejects(too_long);
    for (int i = 51; i < 101; i++)
        strcat(too_long, "%Y");         /* 404: more than a line buffer */
    check_daytime_rejects(too_long);
    check_daytime_rejects("%Y%n");      /* not one line */
    check_daytime_rejects("%Y\r");
}

/* The length limit is 200 characters: a line of 200 still works. */
static void test_daytime_accepts_200_chars(void)
{
    char format[2 * 50 + 1] = "";
    const char *const opts[] = { "format", format, NULL };
    struct superd_service *svc;
    struct superd_conn *conn;
    size_t len;

    for (int i = 0; i < 50; i++)
        strcat(format, "%Y");           /* 200 characters while years have 4 digits */
    svc = start(daytime, opts);
    conn = open_conn(svc);
    fake_conn_output(conn, &len);
    CU_ASSERT_EQUAL(len, 202);
    fake_conn_free(conn);
    fake_service_free(svc);
}

static void test_daytime_unknown_option(void)
{
    static const char *const opts[] = { "format", "%Y", "bogus", "1", NULL };

    check_unknown_option(daytime, opts);
}

/* ---- chargen ---- */

#define CG_LINE 74                      /* 72 characters and CRLF */
#define CG_CYCLE (95 * CG_LINE)         /* the pattern's period */

/* RFC 864's line k: 72 characters from ' ' + k % 95 in ASCII order,
 * wrapping from '~' to ' ', then CRLF; into buf (CG_LINE bytes). */
static void chargen_line(size_t k, char *buf)
{
    for (size_t i = 0; i < 72; i++)
        buf[i] = (char)(' ' + (k + i) % 95);
    buf[72] = '\r';
    buf[73] = '\n';
}

/* Whether `out` (len bytes) is the pattern from its start: line after line,
 * the last one possibly cut short. */
static bool is_chargen_pattern(const char *out, size_t len, size_t first_line)
{
    char want[CG_LINE];

    for (size_t off = 0; off < len; off += CG_LINE) {
        size_t n = len - off < CG_LINE ? len - off : CG_LINE;

        chargen_line(first_line + off / CG_LINE, want);
        if (memcmp(out + off, want, n) != 0) {
            fprintf(stderr, "\n    line %zu differs: %.*s\n", off / CG_LINE, (int)n, out + off);
            return false;
        }
    }
    return true;
}

static void test_chargen_descriptor(void)
{
    check_descriptor(chargen, "chargen");
    CU_ASSERT_PTR_NOT_NULL(fake_plugin_descriptor(chargen)->on_drain);
}

/* The RFC's first lines, exactly, from the first write on. */
static void test_chargen_first_lines(void)
{
    static const char first[] =
        " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n"
        "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh\r\n"
        "\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghi\r\n";
    struct superd_service *svc = start(chargen, NULL);
    struct superd_conn *conn = open_conn(svc);
    const char *out;
    size_t len;

    out = fake_conn_output(conn, &len);
    CU_ASSERT_FATAL(len >= sizeof first - 1);
    CU_ASSERT_EQUAL(memcmp(out, first, sizeof first - 1), 0);
    CU_ASSERT_FALSE(fake_conn_closed(conn));
    fake_conn_free(conn);
    fake_service_free(svc);
}

/* Line 95 is line 0 again; '~' wraps to ' ' inside a line; and nothing
 * else comes out but the pattern, over three periods. */
static void test_chargen_rotation(void)
{
    struct superd_service *svc = start(chargen, NULL);
    struct superd_conn *conn = open_conn(svc);
    const char *out;
    size_t len = 0;
    int rounds = 0;

    while (len < 3 * CG_CYCLE + CG_LINE && rounds++ < 1000) {
        CU_ASSERT_EQUAL_FATAL(fake_conn_drain(conn), 0);
        fake_conn_output(conn, &len);
    }
    out = fake_conn_output(conn, &len);
    CU_ASSERT_FATAL(len >= 3 * CG_CYCLE + CG_LINE);
    CU_ASSERT_TRUE(is_chargen_pattern(out, len, 0));
    CU_ASSERT_EQUAL(memcmp(out + CG_CYCLE, out, CG_LINE), 0);
    CU_ASSERT_EQUAL(memcmp(out + 3 * CG_CYCLE, out, CG_LINE), 0);
    /* Line 94 starts with '~' and goes on with ' ' (126 wraps to 32). */
    CU_ASSERT_EQUAL(memcmp(out + 94 * CG_LINE, "~ !\"#", 5), 0);
    /* Line 23 ends with '~' (23 + 71 = 94). */
    CU_ASSERT_EQUAL(memcmp(out + 23 * CG_LINE + 71, "~\r\n", 3), 0);
    fake_conn_free(conn);
    fake_service_free(svc);
}

/* However long the client does not read, at most one period of the pattern
 * waits; each drain brings at most one more. */
static void test_chargen_bounded_per_drain(void)
{
    struct superd_service *svc = start(chargen, NULL);
    struct superd_conn *conn = open_conn(svc);
    size_t before, after;

    fake_conn_output(conn, &before);
    CU_ASSERT(before > 0);
    CU_ASSERT(superd_queued(conn) > 0);
    CU_ASSERT(superd_queued(conn) <= CG_CYCLE);
    /* Bytes the client sends do not make more output. */
    CU_ASSERT_EQUAL(fake_conn_feed(conn, "hello\r\n", 7), 0);
    fake_conn_output(conn, &after);
    CU_ASSERT_EQUAL(after, before);
    for (int i = 0; i < 50; i++) {
        CU_ASSERT_EQUAL(fake_conn_drain(conn), 0);
        fake_conn_output(conn, &after);
        CU_ASSERT(after > before);
        CU_ASSERT(after - before <= CG_CYCLE);
        CU_ASSERT(superd_queued(conn) <= CG_CYCLE);
        before = after;
    }
    CU_ASSERT_EQUAL(fake_conn_unconsumed(conn), 0);
    fake_conn_free(conn);
    fake_service_free(svc);
}

/* A half-close does not stop the flow; a reset ends it. */
static void test_chargen_eof_keeps_flowing(void)
{
    struct superd_service *svc = start(chargen, NULL);
    struct superd_conn *conn = open_conn(svc);
    size_t before, after;

    CU_ASSERT_EQUAL(fake_conn_eof(conn), 0);
    CU_ASSERT_FALSE(fake_conn_closed(conn));
    fake_conn_output(conn, &before);
    CU_ASSERT_EQUAL(fake_conn_drain(conn), 0);
    fake_conn_output(conn, &after);
    CU_ASSERT(after > before);
    CU_ASSERT_EQUAL(fake_conn_reset(conn), 0);
    CU_ASSERT_TRUE(fake_conn_closed(conn));
    fake_conn_free(conn);
    fake_service_free(svc);
}

/* A broken connection ends the flow instead of looping on errors. */
static void test_chargen_write_error_closes(void)
{
    struct superd_service *svc = start(chargen, NULL);
    struct superd_conn *conn = open_conn(svc);

    fake_conn_fail_writes(conn, -EPIPE);
    fake_conn_drain(conn);
    CU_ASSERT_TRUE(fake_conn_closed(conn));
    fake_conn_free(conn);
    fake_service_free(svc);
}

/* One reply per datagram, 0..512 bytes of the pattern from a line's start;
 * over many datagrams the lengths vary and the starting line moves. */
static void test_chargen_datagram(void)
{
    struct superd_service *svc = start(chargen, NULL);
    size_t min = 513, max = 0;

    for (size_t i = 0; i < 2000; i++) {
        const char *got;
        size_t len = 999;

        CU_ASSERT_EQUAL_FATAL(fake_dgram_feed(svc, i % 2 ? "x" : "", i % 2, NULL), 1);
        got = fake_dgram_reply(svc, 0, &len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(got);
        CU_ASSERT(len <= 512);
        CU_ASSERT_TRUE(is_chargen_pattern(got, len, i % 95));
        min = len < min ? len : min;
        max = len > max ? len : max;
    }
    /* 2000 draws of 513 values: far from one value; near both ends. */
    CU_ASSERT(min < 64);
    CU_ASSERT(max > 448);
    fake_service_free(svc);
}

static void test_chargen_unknown_option(void)
{
    static const char *const opts[] = { "bogus", "1", NULL };

    check_unknown_option(chargen, opts);
}

/* ---- time ---- */

#define RFC868_OFFSET 2208988800u       /* 1900-01-01 to 1970-01-01, in seconds */

static uint32_t be32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;

    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

/* Whether the 4 bytes are a time between t0 and t1, as RFC 868 counts. */
static bool is_rfc868_between(const char *p, time_t t0, time_t t1)
{
    uint32_t v = be32(p);

    return v >= (uint32_t)(t0 + RFC868_OFFSET) && v <= (uint32_t)(t1 + RFC868_OFFSET);
}

static void test_time_descriptor(void)
{
    check_descriptor(timep, "time");
}

/* 4 bytes, big-endian seconds since 1900, then the server closes. */
static void test_time_stream(void)
{
    struct superd_service *svc = start(timep, NULL);
    time_t t0 = time(NULL), t1;
    struct superd_conn *conn = open_conn(svc);
    const char *out;
    size_t len;

    t1 = time(NULL);
    out = fake_conn_output(conn, &len);
    CU_ASSERT_EQUAL_FATAL(len, 4);
    CU_ASSERT_TRUE(is_rfc868_between(out, t0, t1));
    /* The top byte for any date 1968..2036 is at least 0x80: not 1970's 0. */
    CU_ASSERT((unsigned char)out[0] >= 0x80);
    CU_ASSERT_TRUE(fake_conn_closed(conn));
    CU_ASSERT_EQUAL(fake_conn_error(conn), 0);
    fake_conn_free(conn);
    fake_service_free(svc);
}

static void test_time_datagram(void)
{
    struct superd_service *svc = start(timep, NULL);
    time_t t0 = time(NULL), t1;
    const char *got;
    size_t len = 0;

    CU_ASSERT_EQUAL_FATAL(fake_dgram_feed(svc, "", 0, NULL), 1);
    t1 = time(NULL);
    got = fake_dgram_reply(svc, 0, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_EQUAL_FATAL(len, 4);
    CU_ASSERT_TRUE(is_rfc868_between(got, t0, t1));
    /* Any content gets the same kind of answer. */
    CU_ASSERT_EQUAL(fake_dgram_feed(svc, "what time is it?", 16, NULL), 1);
    fake_dgram_reply(svc, 0, &len);
    CU_ASSERT_EQUAL(len, 4);
    fake_service_free(svc);
}

static void test_time_unknown_option(void)
{
    static const char *const opts[] = { "bogus", "1", NULL };

    check_unknown_option(timep, opts);
}

/* ---- qotd ---- */

/* A file in /tmp with `text` (len bytes); its path, which the caller
 * unlinks and frees. */
static char *quotes_file(const char *text, size_t len)
{
    char *path = strdup("/tmp/superd-qotd-XXXXXX");
    int fd;

    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(write(fd, text, len) == (ssize_t)len);
    close(fd);
    return path;
}

/* A qotd service on a file of `text`; *path gets the file's path. */
static struct superd_service *start_qotd(const char *text, char **path)
{
    const char *opts[] = { "file", NULL, NULL };

    *path = quotes_file(text, strlen(text));
    opts[1] = *path;
    return start(qotd, opts);
}

static void drop_file(char *path)
{
    unlink(path);
    free(path);
}

/* Whether `got` (len bytes) is one of the NULL-terminated `want`. */
static bool is_one_of(const char *got, size_t len, const char *const *want)
{
    for (size_t i = 0; want[i] != NULL; i++)
        if (strlen(want[i]) == len && memcmp(got, want[i], len) == 0)
            return true;
    fprintf(stderr, "\n    unexpected quote: %.*s\n", (int)len, got);
    return false;
}

/* Stream: one quote, then the server closes; over many connections every
 * quote shows up and nothing else does. */
static void check_qotd_picks(struct superd_service *svc, const char *const *want, size_t n)
{
    bool seen[8] = { false };

    for (int i = 0; i < 200; i++) {
        struct superd_conn *conn = open_conn(svc);
        size_t len;
        const char *out = fake_conn_output(conn, &len);

        CU_ASSERT_TRUE(is_one_of(out, len, want));
        for (size_t k = 0; k < n; k++)
            seen[k] |= strlen(want[k]) == len && memcmp(out, want[k], len) == 0;
        CU_ASSERT_TRUE(fake_conn_closed(conn));
        fake_conn_free(conn);
    }
    for (size_t k = 0; k < n; k++)
        CU_ASSERT_TRUE(seen[k]);
}

static void test_qotd_descriptor(void)
{
    check_descriptor(qotd, "qotd");
}

/* fortune format: quotes between "%" lines, sent with CRLF line ends;
 * blank quotes (two "%" in a row, a trailing one) are skipped. */
static void test_qotd_fortune_format(void)
{
    static const char *const want[] = {
        "The first quote.\r\n    -- someone\r\n",
        "Second, one line.\r\n",
        "Third:\r\n100% sure\r\n",
        NULL,
    };
    char *path;
    struct superd_service *svc = start_qotd("The first quote.\n    -- someone\n%\n"
                                            "Second, one line.\r\n%\n%\n  \n%\n"
                                            "Third:\n100% sure\n%\n", &path);

    check_qotd_picks(svc, want, 3);
    fake_service_free(svc);
    drop_file(path);
}

/* No "%" line: one quote per line; empty lines skipped; the last line
 * needs no newline. */
static void test_qotd_line_format(void)
{
    static const char *const want[] = { "one\r\n", "two % three\r\n", "four\r\n", NULL };
    char *path;
    struct superd_service *svc = start_qotd("one\n\ntwo % three\r\n   \nfour", &path);

    check_qotd_picks(svc, want, 3);
    fake_service_free(svc);
    drop_file(path);
}

static void test_qotd_datagram(void)
{
    static const char *const want[] = { "alpha\r\n", "beta\r\n", NULL };
    char *path;
    struct superd_service *svc = start_qotd("alpha\nbeta\n", &path);
    const char *got;
    size_t len;

    for (int i = 0; i < 20; i++) {
        CU_ASSERT_EQUAL_FATAL(fake_dgram_feed(svc, "", 0, NULL), 1);
        got = fake_dgram_reply(svc, 0, &len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(got);
        CU_ASSERT_TRUE(is_one_of(got, len, want));
    }
    fake_service_free(svc);
    drop_file(path);
}

/* A quote of exactly 512 bytes as sent (510 characters and CRLF) is fine. */
static void test_qotd_512_bytes(void)
{
    char text[520], *path;
    struct superd_service *svc;
    struct superd_conn *conn;
    size_t len;

    memset(text, 'q', 510);
    strcpy(text + 510, "\n");
    svc = start_qotd(text, &path);
    conn = open_conn(svc);
    fake_conn_output(conn, &len);
    CU_ASSERT_EQUAL(len, 512);
    fake_conn_free(conn);
    fake_service_free(svc);
    drop_file(path);
}

/* init() refuses the file; the message is exactly `want` with "PATH"
 * replaced by the file's path (NULL `text`: no file at all). */
static void check_qotd_rejects(const char *text, size_t len, const char *want)
{
    char *path = text ? quotes_file(text, len) : strdup("/nonexistent/quotes");
    const char *opts[] = { "file", path, NULL };
    struct superd_service *svc = fake_service_new(qotd, "qotd", opts);
    char expected[512];
    const char *at = strstr(want, "PATH");
    const char *err;

    CU_ASSERT_FATAL(at != NULL);
    snprintf(expected, sizeof expected, "%.*s%s%s", (int)(at - want), want, path, at + 4);
    CU_ASSERT_PTR_NOT_NULL_FATAL(svc);
    CU_ASSERT_EQUAL(fake_service_init(svc), -EINVAL);
    err = fake_service_error(svc);
    CU_ASSERT_PTR_NOT_NULL(err);
    if (err != NULL) {
        CU_ASSERT_STRING_EQUAL(err, expected);
        if (strcmp(err, expected) != 0)
            fprintf(stderr, "\n    got  %s\n    want %s\n", err, expected);
    }
    fake_service_free(svc);
    if (text)
        unlink(path);
    free(path);
}

static void test_qotd_rejects_long_quote(void)
{
    char text[1200];

    /* Fortune format: the third quote, from line 5, is 511 + 2 bytes. */
    strcpy(text, "short\n%\nalso short\n%\n");
    memset(text + strlen(text), 'x', 511);
    strcpy(text + 21 + 511, "\n%\nlast\n");
    check_qotd_rejects(text, strlen(text),
                       "[qotd] file: PATH:5: the quote is 513 bytes with CRLF line ends, "
                       "at most 512 are allowed (RFC 865)");
    /* Over several lines: the quote starting on line 3 grows past 512. */
    strcpy(text, "a\n%\n");
    for (int i = 0; i < 10; i++)
        strcat(text, "fifty characters of text, ten of them in a line...\n");
    strcat(text, "%\n");
    check_qotd_rejects(text, strlen(text),
                       "[qotd] file: PATH:3: the quote is 520 bytes with CRLF line ends, "
                       "at most 512 are allowed (RFC 865)");
    /* One per line: line 2. */
    strcpy(text, "fine\n");
    memset(text + 5, 'y', 600);
    strcpy(text + 605, "\nfine too\n");
    check_qotd_rejects(text, strlen(text),
                       "[qotd] file: PATH:2: the quote is 602 bytes with CRLF line ends, "
                       "at most 512 are allowed (RFC 865)");
}

static void test_qotd_rejects_bad_files(void)
{
    check_qotd_rejects(NULL, 0, "[qotd] file: PATH: No such file or directory");
    check_qotd_rejects("", 0, "[qotd] file: PATH: no quotes in it");
    check_qotd_rejects("%\n\n%\n", 5, "[qotd] file: PATH: no quotes in it");
    check_qotd_rejects("one\ntw\0o\n", 9, "[qotd] file: PATH:2: a NUL byte; quotes are text");
}

static void test_qotd_rejects_missing_file_key(void)
{
    struct superd_service *svc = fake_service_new(qotd, "qotd", NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(svc);
    CU_ASSERT_EQUAL(fake_service_init(svc), -EINVAL);
    CU_ASSERT_STRING_EQUAL(fake_service_error(svc),
                           "[qotd] file: missing: name the quotes file (file = PATH)");
    fake_service_free(svc);
}

static void test_qotd_unknown_option(void)
{
    char *path = quotes_file("q\n", 2);
    const char *const opts[] = { "file", path, "bogus", "1", NULL };

    check_unknown_option(qotd, opts);
    unlink(path);
    free(path);
}

/* ---- the fake host itself ---- */

#ifndef TEST_PLUGIN_DIR
#error "TEST_PLUGIN_DIR must name the directory of the built test plugins"
#endif
#define TP(name) TEST_PLUGIN_DIR "/" name ".so"

/* Refused with superd's own words (core/abi.c), and the fake's code. */
static void fake_refuses(const char *path, int code, const char *msg)
{
    struct fake_plugin *p = NULL;

    fake_log_stream(NULL);
    CU_ASSERT_EQUAL(fake_plugin_load(path, &p), code);
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT_STRING_EQUAL(fake_error(), msg);
    if (strcmp(fake_error(), msg) != 0)
        fprintf(stderr, "\n    got  %s\n    want %s\n", fake_error(), msg);
    fake_log_stream(stderr);
}

static void test_fake_same_check_as_superd(void)
{
    fake_refuses(TP("newminor"), -EPROTO,
                 TP("newminor") ": built for plugin ABI 1.2, newer than this superd's 1.1");
    fake_refuses(TP("abi2"), -EPROTO, TP("abi2") ": built for plugin ABI 2.0, this superd has 1.1");
    fake_refuses(TP("small"), -EINVAL,
                 TP("small") ": descriptor size 88 too small for plugin ABI 1.1");
    fake_refuses(TP("badmagic"), -ENOEXEC,
                 TP("badmagic") ": not a superd plugin (bad magic 0xdeadbeef)");
}

/* A plugin built for 1.0 loads; its descriptor says so. */
static void test_fake_loads_older_minor(void)
{
    struct fake_plugin *p = NULL;

    CU_ASSERT_EQUAL_FATAL(fake_plugin_load(TP("only10"), &p), 0);
    CU_ASSERT_EQUAL(fake_plugin_descriptor(p)->abi_minor, 0);
    CU_ASSERT_STRING_EQUAL(fake_plugin_descriptor(p)->version, "1.0");
    fake_plugin_unload(p);
}

/* What the addrs plugin answers a connection from `peer`. */
static void check_conn_addrs(struct superd_service *svc, const char *peer, const char *want)
{
    struct superd_conn *conn = fake_conn_open(svc, peer);

    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    CU_ASSERT_STRING_EQUAL(fake_conn_output(conn, NULL), want);
    if (strcmp(fake_conn_output(conn, NULL), want) != 0)
        fprintf(stderr, "\n    got\n%s    want\n%s", fake_conn_output(conn, NULL), want);
    CU_ASSERT(fake_conn_closed(conn));
    fake_conn_free(conn);
}

static void test_fake_conn_addr(void)
{
    struct fake_plugin *p = NULL;
    struct superd_service *svc;

    CU_ASSERT_EQUAL_FATAL(fake_plugin_load(TP("addrs"), &p), 0);
    svc = start(p, NULL);
    check_conn_addrs(svc, NULL, "peer inet 127.0.0.1 40000\nlocal inet 127.0.0.1 7000\n"
                                "other -22\ntext 127.0.0.1:40000\n");
    check_conn_addrs(svc, "[2001:db8::1]:5555", "peer inet6 2001:db8::1 5555\n"
                     "local inet6 ::1 7000\nother -22\ntext [2001:db8::1]:5555\n");
    check_conn_addrs(svc, "unix:", "peer unix \nlocal unix /run/fake.sock\nother -22\ntext unix:\n");
    CU_ASSERT_EQUAL(fake_service_set_local(svc, "unix:@superd"), 0);
    check_conn_addrs(svc, "unix:/tmp/c.sock",
                     "peer unix /tmp/c.sock\nlocal unix @superd\nother -22\ntext unix:/tmp/c.sock\n");
    CU_ASSERT_EQUAL(fake_service_set_local(svc, "192.0.2.7:13"), 0);
    check_conn_addrs(svc, NULL, "peer inet 127.0.0.1 40000\nlocal inet 192.0.2.7 13\n"
                                "other -22\ntext 127.0.0.1:40000\n");
    fake_service_free(svc);
    fake_plugin_unload(p);
}

static void test_fake_dgram_addr(void)
{
    struct fake_plugin *p = NULL;
    struct superd_service *svc;
    const char *want = "peer inet 192.0.2.1 1234\nlocal inet 127.0.0.1 7000\n"
                       "other -22\ntext 192.0.2.1:1234\n";

    CU_ASSERT_EQUAL_FATAL(fake_plugin_load(TP("addrs"), &p), 0);
    svc = start(p, NULL);
    CU_ASSERT_EQUAL(fake_dgram_feed(svc, "x", 1, "192.0.2.1:1234"), 1);
    CU_ASSERT_STRING_EQUAL(fake_dgram_reply(svc, 0, NULL), want);
    fake_service_free(svc);
    fake_plugin_unload(p);
}

/* ---- main ---- */

static CU_TestInfo echo_tests[] = {
    { "descriptor: magic, ABI, size, name", test_echo_descriptor },
    { "stream: 1 byte comes back", test_echo_one_byte },
    { "stream: 64 KiB come back exactly", test_echo_64k },
    { "stream: pieces come back in order", test_echo_pieces },
    { "stream: 1 MiB unread by the client, bounded queue", test_echo_backpressure },
    { "stream: EOF closes after the echoed bytes", test_echo_eof_closes_after_flush },
    { "stream: a write error closes", test_echo_write_error_closes },
    { "datagram: answered with identical bytes", test_echo_datagram },
    { "config: an unknown key stays unread", test_echo_unknown_option },
    CU_TEST_INFO_NULL,
};

static CU_TestInfo discard_tests[] = {
    { "descriptor: magic, ABI, size, name", test_discard_descriptor },
    { "stream: nothing comes back, stays open", test_discard_writes_nothing },
    { "stream: EOF closes", test_discard_eof_closes },
    { "datagram: never answered", test_discard_datagram_no_reply },
    { "config: an unknown key stays unread", test_discard_unknown_option },
    CU_TEST_INFO_NULL,
};

static CU_TestInfo daytime_tests[] = {
    { "descriptor: magic, ABI, size, name", test_daytime_descriptor },
    { "stream: format = %Y gives the year, CRLF, close", test_daytime_year_format },
    { "stream: default format is RFC 867's, CRLF, close", test_daytime_default_format },
    { "datagram: answered with the line", test_daytime_datagram },
    { "the kept line follows the clock into the next second", test_daytime_follows_the_clock },
    { "config: empty format is refused, naming the key", test_daytime_rejects_empty_format },
    { "config: over-long or multi-line format is refused", test_daytime_rejects_bad_formats },
    { "config: a 200-character line is accepted", test_daytime_accepts_200_chars },
    { "config: an unknown key stays unread", test_daytime_unknown_option },
    CU_TEST_INFO_NULL,
};

static CU_TestInfo chargen_tests[] = {
    { "descriptor: magic, ABI, size, name, on_drain", test_chargen_descriptor },
    { "stream: RFC 864's first lines, exactly", test_chargen_first_lines },
    { "stream: each line one character on, period 95 lines", test_chargen_rotation },
    { "stream: at most one period queued, per drain", test_chargen_bounded_per_drain },
    { "stream: a half-close keeps the flow, a reset ends it", test_chargen_eof_keeps_flowing },
    { "stream: a write error closes", test_chargen_write_error_closes },
    { "datagram: 0..512 bytes of the pattern", test_chargen_datagram },
    { "config: an unknown key stays unread", test_chargen_unknown_option },
    CU_TEST_INFO_NULL,
};

static CU_TestInfo time_tests[] = {
    { "descriptor: magic, ABI, size, name", test_time_descriptor },
    { "stream: 4 bytes, seconds since 1900, close", test_time_stream },
    { "datagram: 4 bytes, seconds since 1900", test_time_datagram },
    { "config: an unknown key stays unread", test_time_unknown_option },
    CU_TEST_INFO_NULL,
};

static CU_TestInfo qotd_tests[] = {
    { "descriptor: magic, ABI, size, name", test_qotd_descriptor },
    { "stream: fortune format, CRLF, every quote, close", test_qotd_fortune_format },
    { "stream: one quote per line without a % line", test_qotd_line_format },
    { "datagram: answered with a quote", test_qotd_datagram },
    { "config: a quote of 512 bytes is accepted", test_qotd_512_bytes },
    { "config: a longer quote is refused, naming its line", test_qotd_rejects_long_quote },
    { "config: missing, empty, blank, binary files refused", test_qotd_rejects_bad_files },
    { "config: file is required", test_qotd_rejects_missing_file_key },
    { "config: an unknown key stays unread", test_qotd_unknown_option },
    CU_TEST_INFO_NULL,
};

static CU_TestInfo fakehost_tests[] = {
    { "load: superd's descriptor check, superd's messages", test_fake_same_check_as_superd },
    { "load: a plugin built for ABI 1.0 with today's header", test_fake_loads_older_minor },
    { "superd_conn_addr: tcp4, tcp6, unix, a set local address", test_fake_conn_addr },
    { "superd_dgram_addr: sender and local address", test_fake_dgram_addr },
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    { "fake host", NULL, NULL, setup, teardown, fakehost_tests },
    { "echo", echo_suite_init, echo_suite_clean, setup, teardown, echo_tests },
    { "discard", discard_suite_init, discard_suite_clean, setup, teardown, discard_tests },
    { "daytime", daytime_suite_init, daytime_suite_clean, setup, teardown, daytime_tests },
    { "chargen", chargen_suite_init, chargen_suite_clean, setup, teardown, chargen_tests },
    { "time", time_suite_init, time_suite_clean, setup, teardown, time_tests },
    { "qotd", qotd_suite_init, qotd_suite_clean, setup, teardown, qotd_tests },
    CU_SUITE_INFO_NULL,
};

int api11_register(void);   /* test_plugins_api11.c */

int main(int argc, char **argv)
{
    unsigned failures, suites_failed;

    if (argc != 2) {
        fprintf(stderr, "usage: %s PLUGIN_DIR\n", argv[0]);
        return 2;
    }
    plugin_dir = argv[1];
    if (CU_initialize_registry() != CUE_SUCCESS || CU_register_suites(suites) != CUE_SUCCESS ||
        api11_register() < 0) {
        fprintf(stderr, "%s: %s\n", argv[0], CU_get_error_msg());
        CU_cleanup_registry();
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures();
    suites_failed = CU_get_number_of_suites_failed();
    printf("\nunit_plugins: %u tests run, %u assertion failures, %u suites failed to initialise\n",
           CU_get_number_of_tests_run(), failures, suites_failed);
    CU_cleanup_registry();
    return failures > 0 || suites_failed > 0 ? 1 : 0;
}
