/* test_core_addr.c - listen addresses (addr_parse, addr_format,
 * addr_equal) and datagram loop protection (dgram_bad_source). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "addr.h"
#include "dgram.h"
#include "listener.h"
#include "test_core.h"

static char err[512];

/* Parse one word that must be good; the addresses, *n of them. */
#define parse_ok(word, basedir, n) parse_ok_at(__LINE__, (word), (basedir), (n))
static struct laddr *parse_ok_at(unsigned line, const char *word, const char *basedir, size_t *n)
{
    struct laddr *v = NULL;
    *n = 0;
    err[0] = '\0';
    int r = addr_parse(word, basedir, &v, n, err, sizeof err);
    tc_assert_str(err, "", line, __FILE__, CU_FALSE);
    tc_assert_long(r, 0, word, line, __FILE__);
    return v;
}

/* A word that must be refused with exactly `msg`, adding nothing. */
#define parse_bad(word, rc, msg) parse_bad_at(__LINE__, (word), (rc), (msg))
static void parse_bad_at(unsigned line, const char *word, int rc, const char *msg)
{
    struct laddr *v = NULL;
    size_t n = 0;
    err[0] = '\0';
    int r = addr_parse(word, "/etc/superd", &v, &n, err, sizeof err);
    tc_assert_str(err, msg, line, __FILE__, CU_FALSE);
    tc_assert_long(r, rc, word, line, __FILE__);
    tc_assert_long((long)n, 0, "addresses added", line, __FILE__);
    free(v);
}

/* The text of the only address of a good word. */
#define parse_one(word, basedir, kind, text) parse_one_at(__LINE__, (word), (basedir), (kind), (text))
static void parse_one_at(unsigned line, const char *word, const char *basedir, enum addr_kind kind,
                         const char *text)
{
    size_t n;
    struct laddr *v = parse_ok_at(line, word, basedir, &n);
    tc_assert_long((long)n, 1, "addresses", line, __FILE__);
    if (n >= 1) {
        tc_assert_str(v[0].text, text, line, __FILE__, CU_FALSE);
        tc_assert_long(v[0].kind, kind, "kind", line, __FILE__);
        tc_assert_long(v[0].line, 0, "line", line, __FILE__);
    }
    free(v);
}

static struct sockaddr_in in4(const char *ip, unsigned port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    CU_ASSERT_EQUAL_FATAL(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    return a;
}

static struct sockaddr_in6 in6(const char *ip, unsigned port)
{
    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
    CU_ASSERT_EQUAL_FATAL(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
    return a;
}

/* A unix address; abstract when path starts with '@'. */
static socklen_t un(struct sockaddr_un *a, const char *path)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    size_t len = strlen(path);
    memcpy(a->sun_path, path, len);
    if (path[0] == '@') {
        a->sun_path[0] = '\0';
        return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    }
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
}

static char *repeat(char ch, size_t n)
{
    char *s = malloc(n + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    memset(s, ch, n);
    s[n] = '\0';
    return s;
}

/* ---- addr_parse ---- */

static void test_parse_inet(void)
{
    parse_one("tcp://127.0.0.1:7", NULL, ADDR_TCP, "tcp 127.0.0.1:7");
    parse_one("udp://192.0.2.1:65535", NULL, ADDR_UDP, "udp 192.0.2.1:65535");
    parse_one("tcp://[::1]:10007", NULL, ADDR_TCP, "tcp [::1]:10007");
    parse_one("udp://[2001:db8::1]:1", NULL, ADDR_UDP, "udp [2001:db8::1]:1");
    parse_one("tcp://127.0.0.1:007", NULL, ADDR_TCP, "tcp 127.0.0.1:7");

    size_t n;
    struct laddr *v = parse_ok("tcp://10.1.2.3:8080", NULL, &n);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    const struct sockaddr_in *a = (const void *)&v[0].sa;
    CU_ASSERT_EQUAL(a->sin_family, AF_INET);
    CU_ASSERT_EQUAL(ntohs(a->sin_port), 8080);
    CU_ASSERT_EQUAL(ntohl(a->sin_addr.s_addr), 0x0a010203u);
    CU_ASSERT_EQUAL(v[0].salen, sizeof(struct sockaddr_in));
    CU_ASSERT_EQUAL(addr_port((const struct sockaddr *)&v[0].sa), 8080);
    free(v);

    v = parse_ok("udp://[::1]:53", NULL, &n);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    const struct sockaddr_in6 *b = (const void *)&v[0].sa;
    CU_ASSERT_EQUAL(b->sin6_family, AF_INET6);
    CU_ASSERT(IN6_IS_ADDR_LOOPBACK(&b->sin6_addr));
    CU_ASSERT_EQUAL(addr_port((const struct sockaddr *)&v[0].sa), 53);
    CU_ASSERT_EQUAL(v[0].salen, sizeof(struct sockaddr_in6));
    free(v);
}

static void test_parse_star(void)
{
    size_t n;
    struct laddr *v = parse_ok("udp://*:10007", NULL, &n);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    ASSERT_STR(v[0].text, "udp 0.0.0.0:10007");
    ASSERT_STR(v[1].text, "udp [::]:10007");
    CU_ASSERT_EQUAL(v[0].sa.ss_family, AF_INET);
    CU_ASSERT_EQUAL(v[1].sa.ss_family, AF_INET6);
    free(v);
}

/* /etc/services names, looked up for the word's protocol. */
static void test_parse_service_names(void)
{
    parse_one("tcp://127.0.0.1:echo", NULL, ADDR_TCP, "tcp 127.0.0.1:7");
    parse_one("udp://127.0.0.1:daytime", NULL, ADDR_UDP, "udp 127.0.0.1:13");
    parse_one("tcp://[::1]:discard", NULL, ADDR_TCP, "tcp [::1]:9");
}

/* Words append to what the vector holds. */
static void test_parse_appends(void)
{
    struct laddr *v = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(addr_parse("tcp://127.0.0.1:1", NULL, &v, &n, err, sizeof err), 0);
    CU_ASSERT_EQUAL(addr_parse("unix:/tmp/a", NULL, &v, &n, err, sizeof err), 0);
    CU_ASSERT_EQUAL(addr_parse("tcp://*:2", NULL, &v, &n, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(n, 4);
    ASSERT_STR(v[0].text, "tcp 127.0.0.1:1");
    ASSERT_STR(v[1].text, "unix /tmp/a");
    ASSERT_STR(v[2].text, "tcp 0.0.0.0:2");
    ASSERT_STR(v[3].text, "tcp [::]:2");
    free(v);
}

static void test_parse_unix(void)
{
    parse_one("unix:/run/superd/echo.sock", NULL, ADDR_UNIX, "unix /run/superd/echo.sock");
    parse_one("unix-dgram:/run/superd/echo.sock", NULL, ADDR_UNIX_DGRAM,
              "unix-dgram /run/superd/echo.sock");
    parse_one("unix:@superd-echo", NULL, ADDR_UNIX, "unix @superd-echo");
    parse_one("unix-dgram:@x", NULL, ADDR_UNIX_DGRAM, "unix-dgram @x");
    /* Relative paths are relative to the configuration's directory. */
    parse_one("unix:echo.sock", "/etc/superd", ADDR_UNIX, "unix /etc/superd/echo.sock");
    parse_one("unix:run/echo.sock", "conf", ADDR_UNIX, "unix conf/run/echo.sock");
    parse_one("unix:echo.sock", ".", ADDR_UNIX, "unix echo.sock");
    parse_one("unix:echo.sock", NULL, ADDR_UNIX, "unix echo.sock");
    parse_one("unix:/abs.sock", "/etc/superd", ADDR_UNIX, "unix /abs.sock");

    size_t n;
    struct laddr *v = parse_ok("unix:/tmp/s", NULL, &n);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    const struct sockaddr_un *p = (const void *)&v[0].sa;
    CU_ASSERT_EQUAL(p->sun_family, AF_UNIX);
    ASSERT_STR(p->sun_path, "/tmp/s");
    CU_ASSERT_EQUAL(v[0].salen, offsetof(struct sockaddr_un, sun_path) + 7);
    ASSERT_STR(addr_unix_path((const struct sockaddr *)&v[0].sa, v[0].salen), "/tmp/s");
    free(v);

    /* Abstract: a leading NUL, no terminating one, no file. */
    v = parse_ok("unix:@ab", NULL, &n);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    p = (const void *)&v[0].sa;
    CU_ASSERT_EQUAL(v[0].salen, offsetof(struct sockaddr_un, sun_path) + 3);
    CU_ASSERT_EQUAL(p->sun_path[0], '\0');
    CU_ASSERT_EQUAL(memcmp(p->sun_path + 1, "ab", 2), 0);
    CU_ASSERT_PTR_NULL(addr_unix_path((const struct sockaddr *)&v[0].sa, v[0].salen));
    free(v);
}

/* sun_path holds 108 bytes: a path of 107 and its NUL, or '@' and 107. */
static void test_parse_unix_longest(void)
{
    char word[256];
    char *p107 = repeat('p', 106);
    snprintf(word, sizeof word, "unix:/%s", p107);
    size_t n;
    struct laddr *v = parse_ok(word, NULL, &n);
    CU_ASSERT_EQUAL(n, 1);
    free(v);
    snprintf(word, sizeof word, "unix:@%s", p107);
    strcat(word, "q");          /* '@' + 107 */
    v = parse_ok(word, NULL, &n);
    CU_ASSERT_EQUAL(n, 1);
    free(v);
    free(p107);
}

static void test_parse_errors(void)
{
    const char *expect = "expected tcp://HOST:PORT, tls://HOST:PORT, udp://HOST:PORT, unix:PATH or unix-dgram:PATH";
    char want[256];

    parse_bad("tcp://127.0.0.1:0", -ERANGE, "port 0 out of range");
    parse_bad("udp://127.0.0.1:65536", -ERANGE, "port 65536 out of range");
    parse_bad("tcp://127.0.0.1:99999999999999999999999", -ERANGE,
              "port 99999999999999999999999 out of range");
    parse_bad("tcp://127.0.0.1:", -EINVAL, "missing port");
    parse_bad("tcp://[::1]:", -EINVAL, "missing port");
    parse_bad("tcp://127.0.0.1", -EINVAL, "bad address '127.0.0.1': expected HOST:PORT");
    parse_bad("tcp://127.0.0.1:7x", -EINVAL, "bad port '7x'");
    parse_bad("tcp://:7", -EINVAL, "bad address ':7': missing host (use * for every address)");
    parse_bad("tcp://[]:7", -EINVAL, "bad address '[]:7': missing host (use * for every address)");
    parse_bad("tcp://::1:7", -EINVAL,
              "bad address '::1:7': put an IPv6 address in brackets, [::1]:PORT");
    parse_bad("udp://2001:db8::1:53", -EINVAL,
              "bad address '2001:db8::1:53': put an IPv6 address in brackets, [::1]:PORT");
    parse_bad("tcp://[::1]7", -EINVAL, "bad address '[::1]7': expected [IPv6]:PORT");
    parse_bad("tcp://[::1", -EINVAL, "bad address '[::1': expected [IPv6]:PORT");
    parse_bad("tcp://[::g]:7", -EINVAL, "bad IPv6 address '::g'");
    parse_bad("tcp://[127.0.0.1]:7", -EINVAL, "bad IPv6 address '127.0.0.1'");
    parse_bad("tcp://[1:2:3:4:5:6:7:8:9]:7", -EINVAL, "bad IPv6 address '1:2:3:4:5:6:7:8:9'");
    parse_bad("tcp://127.0.0.1:nosuchservice", -ENOENT,
              "unknown service name 'nosuchservice' for tcp (see /etc/services)");
    parse_bad("udp://127.0.0.1:nosuchservice", -ENOENT,
              "unknown service name 'nosuchservice' for udp (see /etc/services)");
    parse_bad("unix:", -EINVAL, "unix: socket path is empty");
    parse_bad("unix-dgram:", -EINVAL, "unix-dgram: socket path is empty");

    static const char *const schemes[] = {
        "sctp://127.0.0.1:7", "TCP://127.0.0.1:7", "tcp:/127.0.0.1:7", "127.0.0.1:7",
        "/tmp/x.sock", "", "unixdgram:/x",
    };
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        snprintf(want, sizeof want, "bad address '%s': %s", schemes[i], expect);
        parse_bad(schemes[i], -EINVAL, want);
    }
}

static void test_parse_unix_too_long(void)
{
    char word[256], want[256];
    char *p = repeat('p', 107);
    snprintf(word, sizeof word, "unix:/%s", p);           /* 108 bytes: no room for NUL */
    snprintf(want, sizeof want, "socket path '/%s' too long (at most 107 bytes)", p);
    parse_bad(word, -ENAMETOOLONG, want);
    snprintf(word, sizeof word, "unix-dgram:@%sq", p);    /* '@' + 108 */
    snprintf(want, sizeof want, "abstract socket name '@%sq' too long (at most 107 bytes)", p);
    parse_bad(word, -ENAMETOOLONG, want);
    free(p);
    /* "@" alone named an abstract socket of no name, which anyone may take. */
    parse_bad("unix:@", -EINVAL, "unix: abstract socket name is empty (write @NAME)");
    parse_bad("unix-dgram:@", -EINVAL, "unix-dgram: abstract socket name is empty (write @NAME)");
}

/* ---- addr_format, addr_equal ---- */

static void test_format(void)
{
    char buf[ADDR_FMT_MAX];
    struct sockaddr_in a4 = in4("192.0.2.1", 5555);
    addr_format((struct sockaddr *)&a4, sizeof a4, buf, sizeof buf);
    ASSERT_STR(buf, "192.0.2.1:5555");

    struct sockaddr_in6 a6 = in6("2001:db8::1", 7);
    addr_format((struct sockaddr *)&a6, sizeof a6, buf, sizeof buf);
    ASSERT_STR(buf, "[2001:db8::1]:7");
    a6 = in6("::ffff:192.0.2.1", 0);
    addr_format((struct sockaddr *)&a6, sizeof a6, buf, sizeof buf);
    ASSERT_STR(buf, "[::ffff:192.0.2.1]:0");

    struct sockaddr_un u;
    socklen_t ulen = un(&u, "/run/superd/echo.sock");
    addr_format((struct sockaddr *)&u, ulen, buf, sizeof buf);
    ASSERT_STR(buf, "/run/superd/echo.sock");
    /* Without the terminating NUL in the length, the same. */
    addr_format((struct sockaddr *)&u, ulen - 1, buf, sizeof buf);
    ASSERT_STR(buf, "/run/superd/echo.sock");

    ulen = un(&u, "@superd-echo");
    addr_format((struct sockaddr *)&u, ulen, buf, sizeof buf);
    ASSERT_STR(buf, "@superd-echo");

    /* Unnamed: what accept() or recvfrom() give for an unbound client. */
    memset(&u, 0, sizeof u);
    u.sun_family = AF_UNIX;
    strcpy(buf, "junk");
    addr_format((struct sockaddr *)&u, sizeof(sa_family_t), buf, sizeof buf);
    ASSERT_STR(buf, "");

    /* A short buffer is cut, always terminated. */
    addr_format((struct sockaddr *)&a4, sizeof a4, buf, 6);
    ASSERT_STR(buf, "192.0");
}

static void test_format_longest(void)
{
    char buf[ADDR_FMT_MAX];
    struct sockaddr_un u = { .sun_family = AF_UNIX };
    memset(u.sun_path, 'x', sizeof u.sun_path);
    u.sun_path[0] = '\0';
    addr_format((struct sockaddr *)&u, sizeof u, buf, sizeof buf);
    CU_ASSERT_EQUAL(strlen(buf), sizeof u.sun_path);        /* '@' + 107 */
    CU_ASSERT_EQUAL(buf[0], '@');
    struct sockaddr_in6 a6 = in6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
    addr_format((struct sockaddr *)&a6, sizeof a6, buf, sizeof buf);
    ASSERT_STR(buf, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
}

static void test_equal(void)
{
    struct sockaddr_in a = in4("127.0.0.1", 7), b = in4("127.0.0.1", 7);
    struct sockaddr_in c = in4("127.0.0.1", 8), d = in4("127.0.0.2", 7);
    memset(b.sin_zero, 0xff, sizeof b.sin_zero);     /* padding does not count */
    CU_ASSERT_TRUE(addr_equal((struct sockaddr *)&a, sizeof a, (struct sockaddr *)&b, sizeof b));
    CU_ASSERT_FALSE(addr_equal((struct sockaddr *)&a, sizeof a, (struct sockaddr *)&c, sizeof c));
    CU_ASSERT_FALSE(addr_equal((struct sockaddr *)&a, sizeof a, (struct sockaddr *)&d, sizeof d));

    struct sockaddr_in6 e = in6("::1", 7), f = in6("::1", 7), g = in6("::1", 9);
    struct sockaddr_in6 h = in6("::ffff:127.0.0.1", 7), s = in6("fe80::1", 7), t = in6("fe80::1", 7);
    s.sin6_scope_id = 1;
    t.sin6_scope_id = 2;
    CU_ASSERT_TRUE(addr_equal((struct sockaddr *)&e, sizeof e, (struct sockaddr *)&f, sizeof f));
    CU_ASSERT_FALSE(addr_equal((struct sockaddr *)&e, sizeof e, (struct sockaddr *)&g, sizeof g));
    CU_ASSERT_FALSE(addr_equal((struct sockaddr *)&s, sizeof s, (struct sockaddr *)&t, sizeof t));
    /* Different families never match, not even a v4-mapped address. */
    CU_ASSERT_FALSE(addr_equal((struct sockaddr *)&a, sizeof a, (struct sockaddr *)&h, sizeof h));
    CU_ASSERT_FALSE(addr_equal((struct sockaddr *)&h, sizeof h, (struct sockaddr *)&a, sizeof a));

    struct sockaddr_un u1, u2, u3, u4;
    socklen_t l1 = un(&u1, "/tmp/a.sock"), l2 = un(&u2, "/tmp/a.sock");
    socklen_t l3 = un(&u3, "/tmp/b.sock"), l4 = un(&u4, "@/tmp/a.sock");
    CU_ASSERT_TRUE(addr_equal((struct sockaddr *)&u1, l1, (struct sockaddr *)&u2, l2));
    CU_ASSERT_FALSE(addr_equal((struct sockaddr *)&u1, l1, (struct sockaddr *)&u3, l3));
    CU_ASSERT_FALSE(addr_equal((struct sockaddr *)&u1, l1, (struct sockaddr *)&u4, l4));
    CU_ASSERT_FALSE(addr_equal((struct sockaddr *)&u1, l1, (struct sockaddr *)&a, sizeof a));
}

/* ---- dgram_bad_source ---- */

/* Listeners built from listen words, as worker_bind makes them. */
static struct listener *listeners(const char *const *words, size_t nwords, size_t *n)
{
    struct laddr *v = NULL;
    size_t nv = 0;
    for (size_t i = 0; i < nwords; i++)
        CU_ASSERT_EQUAL_FATAL(addr_parse(words[i], "/tmp", &v, &nv, err, sizeof err), 0);
    struct listener *l = calloc(nv ? nv : 1, sizeof *l);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    for (size_t i = 0; i < nv; i++) {
        l[i].addr = v[i];
        l[i].fd = -1;
    }
    free(v);
    *n = nv;
    return l;
}

/* Check one source: dropped with reason `why`, or allowed when NULL. */
#define check_source(l, n, from, fromlen, why) \
    check_source_at(__LINE__, (l), (n), (from), (fromlen), (why))
static void check_source_at(unsigned line, const struct listener *l, size_t n,
                            const struct sockaddr *from, socklen_t fromlen, const char *why)
{
    char text[ADDR_FMT_MAX], got[256], want[256];
    const char *reason = NULL;
    struct dgram_own *own;
    CU_ASSERT_EQUAL_FATAL(dgram_own_build(&own, l, n), 0);
    bool bad = dgram_bad_source(own, from, fromlen, &reason);
    dgram_own_free(own);
    addr_format(from, fromlen, text, sizeof text);
    snprintf(got, sizeof got, "%s: %s", text, bad ? (reason ? reason : "(no reason)") : "allowed");
    snprintf(want, sizeof want, "%s: %s", text, why ? why : "allowed");
    tc_assert_str(got, want, line, __FILE__, CU_FALSE);
}

#define CHATTY "source port of a chatty service"
#define CAST "broadcast, multicast or unspecified source"
#define OWN "one of superd's own datagram listeners"

static void test_bad_source_ports(void)
{
    static const unsigned chatty[] = { 7, 9, 13, 17, 19, 37 };
    static const unsigned fine[] = { 1, 6, 8, 10, 18, 36, 38, 53, 123, 1234, 65535 };
    for (size_t i = 0; i < sizeof chatty / sizeof chatty[0]; i++) {
        struct sockaddr_in a = in4("192.0.2.1", chatty[i]);
        struct sockaddr_in6 b = in6("2001:db8::1", chatty[i]);
        struct sockaddr_in6 c = in6("::ffff:192.0.2.1", chatty[i]);
        check_source(NULL, 0, (struct sockaddr *)&a, sizeof a, CHATTY);
        check_source(NULL, 0, (struct sockaddr *)&b, sizeof b, CHATTY);
        check_source(NULL, 0, (struct sockaddr *)&c, sizeof c, CHATTY);
    }
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
        struct sockaddr_in a = in4("192.0.2.1", fine[i]);
        struct sockaddr_in6 b = in6("2001:db8::1", fine[i]);
        struct sockaddr_in6 c = in6("::ffff:192.0.2.1", fine[i]);
        check_source(NULL, 0, (struct sockaddr *)&a, sizeof a, NULL);
        check_source(NULL, 0, (struct sockaddr *)&b, sizeof b, NULL);
        check_source(NULL, 0, (struct sockaddr *)&c, sizeof c, NULL);
    }
    struct sockaddr_in z4 = in4("192.0.2.1", 0);
    struct sockaddr_in6 z6 = in6("2001:db8::1", 0);
    check_source(NULL, 0, (struct sockaddr *)&z4, sizeof z4, "source port 0");
    check_source(NULL, 0, (struct sockaddr *)&z6, sizeof z6, "source port 0");
}

static void test_bad_source_cast(void)
{
    static const char *const v4[] = { "255.255.255.255", "224.0.0.1", "239.255.255.250", "0.0.0.0" };
    static const char *const v6[] = {
        "ff02::1", "ff05::1:3", "::", "::ffff:255.255.255.255", "::ffff:224.0.0.251",
        "::ffff:0.0.0.0",
    };
    for (size_t i = 0; i < sizeof v4 / sizeof v4[0]; i++) {
        struct sockaddr_in a = in4(v4[i], 1234);
        check_source(NULL, 0, (struct sockaddr *)&a, sizeof a, CAST);
    }
    for (size_t i = 0; i < sizeof v6 / sizeof v6[0]; i++) {
        struct sockaddr_in6 a = in6(v6[i], 1234);
        check_source(NULL, 0, (struct sockaddr *)&a, sizeof a, CAST);
    }
    struct sockaddr_in ok4 = in4("223.255.255.255", 1234);
    struct sockaddr_in6 ok6 = in6("fe80::1", 1234);
    check_source(NULL, 0, (struct sockaddr *)&ok4, sizeof ok4, NULL);
    check_source(NULL, 0, (struct sockaddr *)&ok6, sizeof ok6, NULL);
}

/* A datagram from one of our own datagram listeners' addresses. */
static void test_bad_source_own_listener(void)
{
    static const char *const words[] = {
        "udp://127.0.0.1:10007", "tcp://127.0.0.1:20000", "udp://[::1]:10007",
        "unix-dgram:/tmp/superd-d.sock", "unix:/tmp/superd-s.sock", "unix-dgram:@superd-d",
    };
    size_t n;
    struct listener *l = listeners(words, sizeof words / sizeof words[0], &n);

    struct sockaddr_in a = in4("127.0.0.1", 10007), b = in4("127.0.0.1", 10008);
    struct sockaddr_in c = in4("127.0.0.2", 10007), d = in4("127.0.0.1", 20000);
    check_source(l, n, (struct sockaddr *)&a, sizeof a, OWN);
    check_source(l, n, (struct sockaddr *)&b, sizeof b, NULL);
    check_source(l, n, (struct sockaddr *)&c, sizeof c, NULL);
    /* A stream listener is not a datagram one. */
    check_source(l, n, (struct sockaddr *)&d, sizeof d, NULL);

    struct sockaddr_in6 e = in6("::1", 10007), f = in6("::1", 10009);
    check_source(l, n, (struct sockaddr *)&e, sizeof e, OWN);
    check_source(l, n, (struct sockaddr *)&f, sizeof f, NULL);

    struct sockaddr_un u;
    socklen_t ulen = un(&u, "/tmp/superd-d.sock");
    check_source(l, n, (struct sockaddr *)&u, ulen, OWN);
    ulen = un(&u, "@superd-d");
    check_source(l, n, (struct sockaddr *)&u, ulen, OWN);
    ulen = un(&u, "/tmp/superd-s.sock");
    check_source(l, n, (struct sockaddr *)&u, ulen, NULL);
    ulen = un(&u, "/tmp/client.sock");
    check_source(l, n, (struct sockaddr *)&u, ulen, NULL);
    memset(&u, 0, sizeof u);
    u.sun_family = AF_UNIX;
    check_source(l, n, (struct sockaddr *)&u, sizeof(sa_family_t), NULL);
    free(l);
}

/* A wildcard listener's port is ours on every address. */
static void test_bad_source_wildcard_listener(void)
{
    static const char *const words[] = { "udp://*:5000", "tcp://*:6000" };
    size_t n;
    struct listener *l = listeners(words, 2, &n);
    CU_ASSERT_EQUAL_FATAL(n, 4);
    struct sockaddr_in a = in4("192.0.2.7", 5000), b = in4("192.0.2.7", 5001);
    struct sockaddr_in c = in4("192.0.2.7", 6000);
    struct sockaddr_in6 d = in6("2001:db8::7", 5000), e = in6("2001:db8::7", 5001);
    check_source(l, n, (struct sockaddr *)&a, sizeof a, OWN);
    check_source(l, n, (struct sockaddr *)&b, sizeof b, NULL);
    check_source(l, n, (struct sockaddr *)&c, sizeof c, NULL);
    check_source(l, n, (struct sockaddr *)&d, sizeof d, OWN);
    check_source(l, n, (struct sockaddr *)&e, sizeof e, NULL);
    free(l);
}

int test_core_addr_register(void)
{
    static const struct tc_test tests[] = {
        { "addr_parse tcp/udp, IPv4 and [IPv6]", test_parse_inet },
        { "addr_parse *: 0.0.0.0 and ::", test_parse_star },
        { "addr_parse /etc/services names", test_parse_service_names },
        { "addr_parse appends to the vector", test_parse_appends },
        { "addr_parse unix, unix-dgram, @abstract, relative", test_parse_unix },
        { "addr_parse longest unix path and abstract name", test_parse_unix_longest },
        { "addr_parse errors", test_parse_errors },
        { "addr_parse unix path too long", test_parse_unix_too_long },
        { "addr_format v4, v6, path, abstract, unnamed", test_format },
        { "addr_format longest", test_format_longest },
        { "addr_equal", test_equal },
        { "dgram_bad_source: ports 0 and chatty services", test_bad_source_ports },
        { "dgram_bad_source: broadcast, multicast, unspecified", test_bad_source_cast },
        { "dgram_bad_source: our own listeners", test_bad_source_own_listener },
        { "dgram_bad_source: a wildcard listener's port", test_bad_source_wildcard_listener },
    };
    return tc_register("core: addr", NULL, NULL, tests, sizeof tests / sizeof tests[0]);
}
