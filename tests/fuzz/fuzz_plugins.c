/*
 * fuzz_plugins.c - libFuzzer target: the sample plugins (echo, discard,
 * daytime) driven through the fake host, sdk/fakehost.c.
 *
 * The plugins are loaded once from FUZZ_PLUGIN_DIR (the Makefile's
 * $(BUILD)/fuzz/plugins: the same sources built with clang and the
 * sanitizers, so their code is covered and checked too), or from the
 * directory in $SUPERD_FUZZ_PLUGIN_DIR, e.g. build/plugins.
 *
 * Each input is a script of operations, one byte each (then its operands),
 * on fresh services and at most MAX_CONNS connections at a time:
 *
 *   OPEN s        accept a connection on service s (echo, discard, daytime,
 *                 or the daytime service with a fuzzed format)
 *   FEED c n      the client of connection c sends the next n input bytes
 *   FEED_BIG c k  ... sends k * 16 KiB of a pattern (reaches the high-water
 *                 mark and the 64 KiB input buffer)
 *   EOF c         the client shuts its sending side
 *   DRAIN c       the client reads everything queued
 *   RESET c       the client resets the connection
 *   FAIL c        superd_write() on c starts (or stops) failing
 *   FREE c        the host frees connection c
 *   DGRAM s p n   a datagram of the next n input bytes from peer kind p
 *   DGRAM_BIG s k a datagram of 65000 + 4k bytes (either side of 65507)
 *   FORMAT n      a new daytime service with format = the next n bytes
 *
 * After every operation it checks, and abort()s on a violation:
 *   - echo: the output is a prefix of what was sent; while open and
 *     writable, output + bytes held back == bytes sent; after EOF and
 *     enough drains the connection closes with output == input; a
 *     datagram is answered once with the same bytes when it fits in one;
 *   - discard: never any output, closes at EOF, never answers a datagram;
 *   - daytime: one line ending in CRLF and nothing else, then closed; one
 *     such line per datagram;
 *   - nobody answers a sender that cannot be answered; the fake host
 *     counts no misuse of the plugin API; services free cleanly.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakehost.h"

#ifndef FUZZ_PLUGIN_DIR
#error "FUZZ_PLUGIN_DIR must name the plugins' build directory (the Makefile sets it)"
#endif

#define MAX_CONNS 8
#define BIG_UNIT (16 * 1024)
/* Bytes sent on all connections of one input, at most. */
#define SEND_BUDGET (4u << 20)
/* Big datagrams per input, at most. */
#define BIG_DGRAMS 8
/* The daytime plugin's line buffer: the longest answer, CRLF included. */
#define DAYTIME_LINE_MAX 256

enum { SVC_ECHO, SVC_DISCARD, SVC_DAYTIME, SVC_FORMAT, NSVC };
enum { OP_OPEN, OP_FEED, OP_FEED_BIG, OP_EOF, OP_DRAIN, OP_RESET, OP_FAIL,
       OP_FREE, OP_DGRAM, OP_DGRAM_BIG, OP_FORMAT, NOPS };

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input being read as a script. */
struct script {
    const uint8_t *p;
    size_t left;
};

/* A connection and what its client did. */
struct tconn {
    struct superd_conn *conn;
    int svc;
    uint8_t *sent;          /* every byte the fake host accepted */
    size_t nsent;
    bool eof;               /* the client shut its side */
    bool reset;
    bool failing;           /* writes fail now */
    bool failed;            /* ... or did at some point */
};

static struct fake_plugin *plugins[3];
static struct superd_service *svcs[NSVC];
static struct tconn conns[MAX_CONNS];
static size_t budget;
static unsigned big_dgrams;
static uint8_t *pattern;

__attribute__((noreturn))
static void violated(const char *what)
{
    fprintf(stderr, "fuzz_plugins: invariant violated: %s\n", what);
    abort();
}

static uint8_t next_u8(struct script *s)
{
    if (s->left == 0)
        return 0;
    s->left--;
    return *s->p++;
}

/* Up to `want` bytes of the script as data; their count in *got. */
static const uint8_t *next_bytes(struct script *s, size_t want, size_t *got)
{
    const uint8_t *p = s->p;

    *got = want < s->left ? want : s->left;
    s->p += *got;
    s->left -= *got;
    return p;
}

static int plugin_of(int svc)
{
    return svc == SVC_FORMAT ? SVC_DAYTIME : svc;
}

/* Exactly one line ending in CRLF, with no other CR, LF or NUL. */
static void check_daytime_line(const char *out, size_t len)
{
    if (len < 2 || len > DAYTIME_LINE_MAX)
        violated("daytime: answer of a bad length");
    if (out[len - 2] != '\r' || out[len - 1] != '\n')
        violated("daytime: answer does not end in CRLF");
    for (size_t i = 0; i + 2 < len; i++)
        if (out[i] == '\r' || out[i] == '\n' || out[i] == '\0')
            violated("daytime: answer is more than one line");
}

static void check_violations(void)
{
    if (fake_violations() != 0)
        violated(fake_error());
}

static void check_conn(const struct tconn *t)
{
    size_t olen;
    const char *out = fake_conn_output(t->conn, &olen);
    int closed = fake_conn_closed(t->conn);

    switch (plugin_of(t->svc)) {
    case SVC_ECHO:
        if (olen > t->nsent || (olen > 0 && memcmp(out, t->sent, olen) != 0))
            violated("echo: output is not a prefix of the input");
        /* A failed write makes echo refuse the bytes and close. */
        if (!t->failed && fake_conn_unconsumed(t->conn) != 0)
            violated("echo: left input unconsumed");
        if (!closed && !t->failed && olen + fake_conn_pending(t->conn) != t->nsent)
            violated("echo: bytes lost while open");
        if (!t->failed && fake_conn_error(t->conn) != 0)
            violated("echo: an error without a failed write");
        break;
    case SVC_DISCARD:
        if (olen != 0)
            violated("discard: wrote something");
        if (fake_conn_unconsumed(t->conn) != 0 || fake_conn_error(t->conn) != 0)
            violated("discard: left input unconsumed or failed");
        break;
    default:
        /* The whole exchange happens in on_open(), before any FAIL. */
        if (!closed)
            violated("daytime: connection left open after the line");
        check_daytime_line(out, olen);
        break;
    }
    check_violations();
}

/* The end of a connection: run it to completion where the client would,
 * then check the final state and free it. */
static void end_conn(struct tconn *t)
{
    if (t->conn == NULL)
        return;
    if (plugin_of(t->svc) == SVC_ECHO && t->eof && !t->reset && !t->failed) {
        /* Each drain lets at least one high-water mark's worth through. */
        size_t rounds = t->nsent / FAKE_HIGH_WATER + 3;
        size_t olen;

        while (!fake_conn_closed(t->conn) && rounds-- > 0)
            fake_conn_drain(t->conn);
        fake_conn_output(t->conn, &olen);
        if (!fake_conn_closed(t->conn))
            violated("echo: not closed after EOF and drains");
        if (olen != t->nsent)
            violated("echo: output after EOF differs in length from the input");
    }
    if (plugin_of(t->svc) == SVC_DISCARD && t->eof && !t->reset &&
        !fake_conn_closed(t->conn))
        violated("discard: not closed after EOF");
    check_conn(t);
    fake_conn_free(t->conn);
    check_violations();
    free(t->sent);
    memset(t, 0, sizeof *t);
}

static struct tconn *pick_conn(struct script *s)
{
    struct tconn *t = &conns[next_u8(s) % MAX_CONNS];

    return t->conn != NULL ? t : NULL;
}

static void op_open(struct script *s)
{
    int svc = next_u8(s) % NSVC;
    struct tconn *t = NULL;

    for (size_t i = 0; i < MAX_CONNS && t == NULL; i++)
        if (conns[i].conn == NULL)
            t = &conns[i];
    if (t == NULL || svcs[svc] == NULL)
        return;
    t->svc = svc;
    t->conn = fake_conn_open(svcs[svc], next_u8(s) & 1 ? "[2001:db8::7]:5555" : NULL);
    if (t->conn == NULL) {
        /* Only a daytime service whose fuzzed format init() refused. */
        if (svc != SVC_FORMAT || fake_service_error(svcs[svc]) == NULL)
            violated("fake_conn_open() failed on a ready service");
        return;
    }
    if (plugin_of(svc) != SVC_DAYTIME && fake_conn_closed(t->conn))
        violated("echo/discard: closed at open");
    check_conn(t);
}

/* The client sends len bytes; the fake host takes them unless closed. */
static void send_bytes(struct tconn *t, const uint8_t *data, size_t len)
{
    int closed = fake_conn_closed(t->conn);
    int r;

    if (t->eof || len > budget)
        return;     /* a client cannot send after its FIN */
    budget -= len;
    r = fake_conn_feed(t->conn, data, len);
    if (closed) {
        if (r != -EPIPE)
            violated("feed on a closed connection did not fail with EPIPE");
    } else {
        uint8_t *p;

        if (r != 0)
            violated("feed on an open connection failed");
        p = realloc(t->sent, t->nsent + len + 1);
        if (p == NULL)
            abort();
        memcpy(p + t->nsent, data, len);
        t->sent = p;
        t->nsent += len;
    }
    check_conn(t);
}

static void op_feed(struct script *s)
{
    struct tconn *t = pick_conn(s);
    size_t want = next_u8(s), got;
    const uint8_t *data;

    want |= (size_t)next_u8(s) << 8;
    data = next_bytes(s, want, &got);
    if (t != NULL)
        send_bytes(t, data, got);
}

static void op_feed_big(struct script *s)
{
    struct tconn *t = pick_conn(s);
    size_t units = next_u8(s) % 32 + 1;
    size_t off = next_u8(s);

    if (t != NULL)
        send_bytes(t, pattern + off, units * BIG_UNIT);
}

static void op_eof(struct script *s)
{
    struct tconn *t = pick_conn(s);
    int closed, r;

    if (t == NULL || t->eof)
        return;
    closed = fake_conn_closed(t->conn);
    r = fake_conn_eof(t->conn);
    if (closed != (r == -EPIPE) || (!closed && r != 0))
        violated("fake_conn_eof() result");
    t->eof = true;
    if (plugin_of(t->svc) == SVC_DISCARD && !fake_conn_closed(t->conn))
        violated("discard: not closed at EOF");
    check_conn(t);
}

static void op_drain(struct script *s)
{
    struct tconn *t = pick_conn(s);

    if (t == NULL)
        return;
    fake_conn_drain(t->conn);
    check_conn(t);
}

static void op_reset(struct script *s)
{
    struct tconn *t = pick_conn(s);

    if (t == NULL)
        return;
    if (fake_conn_reset(t->conn) == 0)
        t->reset = true;
    if (!fake_conn_closed(t->conn))
        violated("open after a reset");
    check_conn(t);
}

static void op_fail(struct script *s)
{
    struct tconn *t = pick_conn(s);

    if (t == NULL)
        return;
    t->failing = !t->failing;
    if (t->failing)
        t->failed = true;
    fake_conn_fail_writes(t->conn, t->failing ? -EIO : 0);
}

static void op_free(struct script *s)
{
    struct tconn *t = pick_conn(s);

    if (t != NULL)
        end_conn(t);
}

static void send_dgram(int svc, const uint8_t *data, size_t len, const char *peer)
{
    const char *reply;
    size_t rlen;
    int r;

    if (svcs[svc] == NULL)
        return;
    r = fake_dgram_feed(svcs[svc], data, len, peer);
    check_violations();
    if (r == -EINVAL && svc == SVC_FORMAT && fake_service_error(svcs[svc]) != NULL)
        return;     /* init() refused the fuzzed format */
    if (r < 0)
        violated("fake_dgram_feed() failed");
    if (peer != NULL && strcmp(peer, FAKE_PEER_UNBOUND) == 0) {
        if (r != 0)
            violated("answered a sender that has no address");
        return;
    }
    switch (plugin_of(svc)) {
    case SVC_ECHO:
        if (len > FAKE_DGRAM_MAX) {
            if (r != 0)
                violated("echo: answered a datagram too big to send");
            return;
        }
        reply = fake_dgram_reply(svcs[svc], 0, &rlen);
        if (r != 1 || reply == NULL || rlen != len || (len > 0 && memcmp(reply, data, len) != 0))
            violated("echo: the answer is not the datagram");
        break;
    case SVC_DISCARD:
        if (r != 0)
            violated("discard: answered a datagram");
        break;
    default:
        reply = fake_dgram_reply(svcs[svc], 0, &rlen);
        if (r != 1 || reply == NULL)
            violated("daytime: not one answer to a datagram");
        check_daytime_line(reply, rlen);
        break;
    }
}

static const char *pick_peer(struct script *s)
{
    switch (next_u8(s) % 3) {
    case 0: return NULL;
    case 1: return "[::1]:5555";
    default: return FAKE_PEER_UNBOUND;
    }
}

static void op_dgram(struct script *s)
{
    int svc = next_u8(s) % NSVC;
    const char *peer = pick_peer(s);
    size_t want = next_u8(s), got;
    const uint8_t *data;

    want |= (size_t)next_u8(s) << 8;
    data = next_bytes(s, want, &got);
    send_dgram(svc, data, got, peer);
}

static void op_dgram_big(struct script *s)
{
    int svc = next_u8(s) % NSVC;
    size_t len = 65000 + (size_t)next_u8(s) * 4;

    if (big_dgrams++ < BIG_DGRAMS)
        send_dgram(svc, pattern, len, NULL);
}

/* Free every connection of service svc, then the service. */
static void drop_service(int svc)
{
    for (size_t i = 0; i < MAX_CONNS; i++)
        if (conns[i].conn != NULL && conns[i].svc == svc)
            end_conn(&conns[i]);
    if (fake_service_free(svcs[svc]) != 0)
        violated("fake_service_free() with no connection left");
    svcs[svc] = NULL;
    check_violations();
}

static void op_format(struct script *s)
{
    size_t want = next_u8(s), got;
    const uint8_t *data = next_bytes(s, want, &got);
    char format[256];
    const char *opts[] = { "format", format, NULL };
    const char *err;
    int r;

    memcpy(format, data, got);
    format[got] = '\0';
    drop_service(SVC_FORMAT);
    svcs[SVC_FORMAT] = fake_service_new(plugins[SVC_DAYTIME], "daytime-fuzz", opts);
    if (svcs[SVC_FORMAT] == NULL)
        violated("fake_service_new() failed");
    r = fake_service_init(svcs[SVC_FORMAT]);
    err = fake_service_error(svcs[SVC_FORMAT]);
    if (r == 0) {
        if (err != NULL || fake_service_unread(svcs[SVC_FORMAT]) != NULL)
            violated("daytime: init() succeeded with an error or an unread key");
    } else if (r > 0 || err == NULL || strncmp(err, "[daytime-fuzz] format: ", 23) != 0) {
        violated("daytime: init() refused a format without saying why");
    }
    check_violations();
}

static void new_services(void)
{
    static const char *const names[] = { "echo", "discard", "daytime" };

    for (int i = 0; i < 3; i++) {
        svcs[i] = fake_service_new(plugins[i], names[i], NULL);
        if (svcs[i] == NULL || fake_service_init(svcs[i]) != 0)
            violated("a sample service does not start");
    }
    svcs[SVC_FORMAT] = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const names[] = { "echo", "discard", "daytime" };
    const char *dir = getenv("SUPERD_FUZZ_PLUGIN_DIR");

    (void)argc;
    (void)argv;
    if (dir == NULL || dir[0] == '\0')
        dir = FUZZ_PLUGIN_DIR;
    /* The plugins' logs (daytime's "cannot format") are not failures. */
    fake_log_stream(NULL);
    for (int i = 0; i < 3; i++) {
        char path[4096];

        snprintf(path, sizeof path, "%s/%s.so", dir, names[i]);
        if (fake_plugin_load(path, &plugins[i]) != 0) {
            fprintf(stderr, "fuzz_plugins: cannot load %s: %s\n", path, fake_error());
            exit(1);
        }
    }
    /* 32 units and any offset up to 255, and the biggest datagram. */
    pattern = malloc(32 * BIG_UNIT + 256);
    if (pattern == NULL)
        exit(1);
    for (size_t i = 0; i < 32 * BIG_UNIT + 256; i++)
        pattern[i] = (uint8_t)(i * 31 + i / 251);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct script s = { data, size };

    budget = SEND_BUDGET;
    big_dgrams = 0;
    new_services();
    while (s.left > 0) {
        switch (next_u8(&s) % NOPS) {
        case OP_OPEN: op_open(&s); break;
        case OP_FEED: op_feed(&s); break;
        case OP_FEED_BIG: op_feed_big(&s); break;
        case OP_EOF: op_eof(&s); break;
        case OP_DRAIN: op_drain(&s); break;
        case OP_RESET: op_reset(&s); break;
        case OP_FAIL: op_fail(&s); break;
        case OP_FREE: op_free(&s); break;
        case OP_DGRAM: op_dgram(&s); break;
        case OP_DGRAM_BIG: op_dgram_big(&s); break;
        default: op_format(&s); break;
        }
    }
    for (size_t i = 0; i < MAX_CONNS; i++)
        end_conn(&conns[i]);
    for (int i = 0; i < NSVC; i++)
        if (svcs[i] != NULL)
            drop_service(i);
    return 0;
}
