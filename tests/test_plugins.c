/*
 * test_plugins.c - CUnit tests of the sample plugins (echo, discard,
 * daytime), each loaded from its built .so and run against the fake host;
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

#include "fakehost.h"

static const char *plugin_dir;
static struct fake_plugin *echo;
static struct fake_plugin *discard;
static struct fake_plugin *daytime;
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

static int echo_suite_clean(void) { return fake_plugin_unload(echo) < 0 ? -1 : 0; }
static int discard_suite_clean(void) { return fake_plugin_unload(discard) < 0 ? -1 : 0; }
static int daytime_suite_clean(void) { return fake_plugin_unload(daytime) < 0 ? -1 : 0; }

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
    { "config: empty format is refused, naming the key", test_daytime_rejects_empty_format },
    { "config: over-long or multi-line format is refused", test_daytime_rejects_bad_formats },
    { "config: a 200-character line is accepted", test_daytime_accepts_200_chars },
    { "config: an unknown key stays unread", test_daytime_unknown_option },
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
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
    unsigned failures, suites_failed;

    if (argc != 2) {
        fprintf(stderr, "usage: %s PLUGIN_DIR\n", argv[0]);
        return 2;
    }
    plugin_dir = argv[1];
    if (CU_initialize_registry() != CUE_SUCCESS || CU_register_suites(suites) != CUE_SUCCESS) {
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
