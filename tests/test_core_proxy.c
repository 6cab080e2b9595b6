/* test_core_proxy.c - the PROXY protocol parser and builder (core/proxy.c):
 * what haproxy and other balancers send, what superd must refuse, and the
 * round trip through the builder the forward plugin uses. */
#include "test_core.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include "proxy.h"

static int parse_str(const char *s, struct proxy_hdr *h)
{
    return proxy_parse((const uint8_t *)s, strlen(s), h);
}

static void check_in4(const struct sockaddr_storage *ss, const char *ip, int port)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
    char text[INET_ADDRSTRLEN];

    CU_ASSERT_EQUAL_FATAL(sin->sin_family, AF_INET);
    inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
    CU_ASSERT_STRING_EQUAL(text, ip);
    CU_ASSERT_EQUAL(ntohs(sin->sin_port), port);
}

static void check_in6(const struct sockaddr_storage *ss, const char *ip, int port)
{
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
    char text[INET6_ADDRSTRLEN];

    CU_ASSERT_EQUAL_FATAL(sin6->sin6_family, AF_INET6);
    inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text);
    CU_ASSERT_STRING_EQUAL(text, ip);
    CU_ASSERT_EQUAL(ntohs(sin6->sin6_port), port);
}

static void test_v1_tcp4(void)
{
    struct proxy_hdr h;
    const char *s = "PROXY TCP4 192.0.2.7 127.0.0.1 56324 443\r\nGET /";

    CU_ASSERT_EQUAL(parse_str(s, &h), (int)strlen(s) - 5);
    CU_ASSERT_EQUAL(h.version, 1);
    CU_ASSERT_FALSE(h.local);
    check_in4(&h.src, "192.0.2.7", 56324);
    check_in4(&h.dst, "127.0.0.1", 443);
}

static void test_v1_tcp6_and_unknown(void)
{
    struct proxy_hdr h;

    CU_ASSERT_EQUAL(parse_str("PROXY TCP6 2001:db8::1 ::1 65535 0\r\n", &h), 36);
    check_in6(&h.src, "2001:db8::1", 65535);
    check_in6(&h.dst, "::1", 0);
    CU_ASSERT_EQUAL(parse_str("PROXY UNKNOWN\r\n", &h), 15);
    CU_ASSERT_TRUE(h.local);
    CU_ASSERT_EQUAL(parse_str("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", &h), 35);
    CU_ASSERT_TRUE(h.local);
}

/* Every proper prefix of a valid header asks for more. */
static void test_v1_partial(void)
{
    const char *s = "PROXY TCP4 192.0.2.7 127.0.0.1 56324 443\r\n";
    struct proxy_hdr h;

    for (size_t n = 0; n < strlen(s); n++)
        CU_ASSERT_EQUAL(proxy_parse((const uint8_t *)s, n, &h), 0);
}

static void test_v1_malformed(void)
{
    static const char *bad[] = {
        "GET / HTTP/1.0\r\n",
        "PROXY TCP4 192.0.2.7 127.0.0.1 56324\r\n",           /* a field short */
        "PROXY TCP4 192.0.2.7 127.0.0.1 56324 443 9\r\n",     /* a field long */
        "PROXY TCP4 192.0.2.7  127.0.0.1 56324 443\r\n",      /* two spaces */
        "PROXY TCP4 192.0.2.700 127.0.0.1 56324 443\r\n",     /* bad address */
        "PROXY TCP4 2001:db8::1 127.0.0.1 1 2\r\n",           /* v6 in TCP4 */
        "PROXY TCP6 192.0.2.7 ::1 1 2\r\n",                   /* v4 in TCP6 */
        "PROXY TCP4 192.0.2.7 127.0.0.1 65536 443\r\n",       /* port range */
        "PROXY TCP4 192.0.2.7 127.0.0.1 0443 443\r\n",        /* leading zero */
        "PROXY TCP4 192.0.2.7 127.0.0.1 -1 443\r\n",
        "PROXY UDP4 192.0.2.7 127.0.0.1 1 2\r\n",
        "PROXY TCP4 192.0.2.7 127.0.0.1 1 2\n",               /* no CR: waits, then */
    };
    struct proxy_hdr h;

    for (size_t i = 0; i + 1 < sizeof bad / sizeof bad[0]; i++) {
        int r = parse_str(bad[i], &h);
        if (r != -EPROTO)
            printf("\n    \"%s\" gave %d\n", bad[i], r);
        CU_ASSERT_EQUAL(r, -EPROTO);
    }
    /* ... 107 bytes without CRLF are too many. */
    char line[200];
    memset(line, 'x', sizeof line);
    memcpy(line, "PROXY TCP4 ", 11);
    CU_ASSERT_EQUAL(proxy_parse((const uint8_t *)line, 106, &h), 0);
    CU_ASSERT_EQUAL(proxy_parse((const uint8_t *)line, 107, &h), -EPROTO);
    CU_ASSERT_EQUAL(proxy_parse((const uint8_t *)"PROXY\0TCP4 1\r\n", 14, &h), -EPROTO);
}

static const uint8_t sig[12] = { 13, 10, 13, 10, 0, 13, 10, 'Q', 'U', 'I', 'T', 10 };

static size_t v2(uint8_t *buf, uint8_t vc, uint8_t fam, const uint8_t *body, size_t len)
{
    memcpy(buf, sig, 12);
    buf[12] = vc;
    buf[13] = fam;
    buf[14] = (uint8_t)(len >> 8);
    buf[15] = (uint8_t)len;
    if (len)
        memcpy(buf + 16, body, len);
    return 16 + len;
}

static void test_v2_inet_with_tlvs(void)
{
    /* 192.0.2.7:56324 -> 127.0.0.1:443, then a TLV (ALPN "h2") to skip. */
    uint8_t body[] = { 192, 0, 2, 7, 127, 0, 0, 1, 0xdc, 0x04, 0x01, 0xbb,
                       0x01, 0x00, 0x02, 'h', '2' };
    uint8_t buf[600];
    struct proxy_hdr h;
    size_t n = v2(buf, 0x21, 0x11, body, sizeof body);

    memcpy(buf + n, "rest", 4);
    CU_ASSERT_EQUAL(proxy_parse(buf, n + 4, &h), (int)n);
    CU_ASSERT_EQUAL(h.version, 2);
    CU_ASSERT_FALSE(h.local);
    check_in4(&h.src, "192.0.2.7", 56324);
    check_in4(&h.dst, "127.0.0.1", 443);
    for (size_t k = 0; k < n; k++)
        CU_ASSERT_EQUAL(proxy_parse(buf, k, &h), 0);
}

static void test_v2_local_unspec_unix(void)
{
    uint8_t buf[600], unixbody[216] = { 0 };
    struct proxy_hdr h;
    size_t n;

    n = v2(buf, 0x20, 0x00, NULL, 0);           /* LOCAL: a health check */
    CU_ASSERT_EQUAL(proxy_parse(buf, n, &h), 16);
    CU_ASSERT_TRUE(h.local);
    n = v2(buf, 0x21, 0x00, NULL, 0);           /* PROXY, UNSPEC */
    CU_ASSERT_EQUAL(proxy_parse(buf, n, &h), 16);
    CU_ASSERT_TRUE(h.local);
    n = v2(buf, 0x21, 0x31, unixbody, sizeof unixbody);
    CU_ASSERT_EQUAL(proxy_parse(buf, n, &h), (int)n);
    CU_ASSERT_TRUE(h.local);
}

static void test_v2_malformed(void)
{
    uint8_t buf[70000], body[40] = { 0 };
    struct proxy_hdr h;
    size_t n;

    n = v2(buf, 0x11, 0x11, body, 12);          /* version 1 in a v2 header */
    CU_ASSERT_EQUAL(proxy_parse(buf, n, &h), -EPROTO);
    n = v2(buf, 0x22, 0x11, body, 12);          /* command 2 */
    CU_ASSERT_EQUAL(proxy_parse(buf, n, &h), -EPROTO);
    n = v2(buf, 0x21, 0x11, body, 11);          /* IPv4 body too short */
    CU_ASSERT_EQUAL(proxy_parse(buf, n, &h), -EPROTO);
    n = v2(buf, 0x21, 0x21, body, 35);          /* IPv6 body too short */
    CU_ASSERT_EQUAL(proxy_parse(buf, n, &h), -EPROTO);
    n = v2(buf, 0x21, 0x41, body, 12);          /* family 4 */
    CU_ASSERT_EQUAL(proxy_parse(buf, n, &h), -EPROTO);
    /* A length past PROXY_MAX is refused at once, not waited for. */
    memcpy(buf, sig, 12);
    buf[12] = 0x21;
    buf[13] = 0x11;
    buf[14] = 0xff;
    buf[15] = 0xff;
    CU_ASSERT_EQUAL(proxy_parse(buf, 16, &h), -EPROTO);
    buf[4] = 1;                                 /* broken signature */
    CU_ASSERT_EQUAL(proxy_parse(buf, 5, &h), -EPROTO);
}

/* What proxy_build writes, proxy_parse reads back, in both versions. */
/* The transport nibble: headers come on stream connections, so a PROXY
 * command for a datagram (or an undefined transport) is refused; UNSPEC is
 * accepted (the spec lets a receiver ignore it), LOCAL's block ignored. */
static void test_v2_transport(void)
{
    uint8_t buf[64], body[12] = { 127, 0, 0, 1, 127, 0, 0, 2, 0x30, 0x39, 0, 80 };
    struct proxy_hdr h;
    size_t n;

    n = v2(buf, 0x21, 0x12, body, sizeof body);  /* IPv4, DGRAM */
    CU_ASSERT_EQUAL(proxy_parse(buf, n, &h), -EPROTO);
    n = v2(buf, 0x21, 0x22, body, sizeof body);  /* IPv6 (short body), DGRAM */
    CU_ASSERT_EQUAL(proxy_parse(buf, n, &h), -EPROTO);
    n = v2(buf, 0x21, 0x02, NULL, 0);            /* UNSPEC family, DGRAM */
    CU_ASSERT_EQUAL(proxy_parse(buf, n, &h), -EPROTO);
    n = v2(buf, 0x21, 0x13, body, sizeof body);  /* transport 3: undefined */
    CU_ASSERT_EQUAL(proxy_parse(buf, n, &h), -EPROTO);
    n = v2(buf, 0x21, 0x10, body, sizeof body);  /* IPv4, UNSPEC transport */
    CU_ASSERT_EQUAL(proxy_parse(buf, n, &h), (int)n);
    CU_ASSERT_FALSE(h.local);
    CU_ASSERT_EQUAL(ntohs(((struct sockaddr_in *)&h.src)->sin_port), 12345);
    n = v2(buf, 0x20, 0x12, body, sizeof body);  /* LOCAL: the block is ignored */
    CU_ASSERT_EQUAL(proxy_parse(buf, n, &h), (int)n);
    CU_ASSERT_TRUE(h.local);
}

static void test_build_round_trip(void)
{
    struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(1234) };
    struct sockaddr_in b4 = { .sin_family = AF_INET, .sin_port = htons(80) };
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(5) };
    struct sockaddr_in6 b6 = { .sin6_family = AF_INET6, .sin6_port = htons(65535) };
    uint8_t buf[PROXY_MAX];
    struct proxy_hdr h;

    inet_pton(AF_INET, "198.51.100.9", &a4.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &b4.sin_addr);
    inet_pton(AF_INET6, "2001:db8::9", &a6.sin6_addr);
    inet_pton(AF_INET6, "::1", &b6.sin6_addr);
    for (int v = 1; v <= 2; v++) {
        int n = proxy_build(v, (struct sockaddr *)&a4, (struct sockaddr *)&b4, buf, sizeof buf);
        CU_ASSERT_FATAL(n > 0);
        CU_ASSERT_EQUAL(proxy_parse(buf, (size_t)n, &h), n);
        CU_ASSERT_EQUAL(h.version, v);
        check_in4(&h.src, "198.51.100.9", 1234);
        check_in4(&h.dst, "127.0.0.1", 80);
        n = proxy_build(v, (struct sockaddr *)&a6, (struct sockaddr *)&b6, buf, sizeof buf);
        CU_ASSERT_FATAL(n > 0);
        CU_ASSERT_EQUAL(proxy_parse(buf, (size_t)n, &h), n);
        check_in6(&h.src, "2001:db8::9", 5);
        check_in6(&h.dst, "::1", 65535);
        /* Mixed families (or unix) go as "unknown". */
        n = proxy_build(v, (struct sockaddr *)&a4, (struct sockaddr *)&b6, buf, sizeof buf);
        CU_ASSERT_FATAL(n > 0);
        CU_ASSERT_EQUAL(proxy_parse(buf, (size_t)n, &h), n);
        CU_ASSERT_TRUE(h.local);
    }
    CU_ASSERT_EQUAL(memcmp(buf, sig, 12), 0);
    CU_ASSERT_EQUAL(proxy_build(1, (struct sockaddr *)&a4, (struct sockaddr *)&b4, buf, 10),
                    -ENOSPC);
    CU_ASSERT_EQUAL(proxy_build(3, NULL, NULL, buf, sizeof buf), -EINVAL);
}

int test_core_proxy_register(void)
{
    static const struct tc_test tests[] = {
        { "PROXY v1 TCP4, the stream's bytes after it", test_v1_tcp4 },
        { "PROXY v1 TCP6 and UNKNOWN", test_v1_tcp6_and_unknown },
        { "PROXY v1: every prefix asks for more", test_v1_partial },
        { "PROXY v1: malformed lines refused", test_v1_malformed },
        { "PROXY v2 IPv4 with a TLV skipped; prefixes ask for more", test_v2_inet_with_tlvs },
        { "PROXY v2 LOCAL, UNSPEC and unix: the real endpoints", test_v2_local_unspec_unix },
        { "PROXY v2: malformed headers refused", test_v2_malformed },
        { "PROXY v2: DGRAM transport refused on a stream, UNSPEC accepted", test_v2_transport },
        { "PROXY build and parse: v1 and v2, IPv4 and IPv6", test_build_round_trip },
    };
    return tc_register("PROXY protocol", NULL, NULL, tests, sizeof tests / sizeof tests[0]);
}
