/*
 * test_core_access.c - address lists (only_from, no_access): what
 * cidr_parse and acl_parse accept and the exact message of what they
 * refuse, and how acl_match / acl_allowed decide for a peer (IPv4, IPv6,
 * IPv4-mapped IPv6, unix).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "access.h"
#include "test_core.h"

/* ---- helpers ---- */

/* A peer address from text: IPv4 or IPv6 (port 1234). */
static const struct sockaddr *peer(const char *text, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, text, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(1234);
    } else {
        CU_ASSERT_FATAL(inet_pton(AF_INET6, text, &in6->sin6_addr) == 1);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(1234);
    }
    return (const struct sockaddr *)ss;
}

/* "family/prefix/address" of a parsed block, to compare in one string. */
static void show(const struct cidr *c, char *out, size_t len)
{
    char a[INET6_ADDRSTRLEN] = "?";
    if (c->family == AF_INET || c->family == AF_INET6)
        inet_ntop(c->family, c->addr, a, sizeof a);
    snprintf(out, len, "%s %s/%u", c->family == AF_INET ? "v4" : c->family == AF_INET6 ? "v6" : "?",
             a, c->prefix);
}

/* cidr_parse(s) must succeed and give `want` (as show() prints it). */
#define cidr_ok(s, want) cidr_ok_at(__LINE__, (s), (want))
static void cidr_ok_at(unsigned line, const char *s, const char *want)
{
    struct cidr c;
    char err[256] = "", got[128];
    int r = cidr_parse(s, &c, err, sizeof err);
    tc_assert_long(r, 0, s, line, __FILE__);
    tc_assert_str(err, "", line, __FILE__, CU_FALSE);
    show(&c, got, sizeof got);
    tc_assert_str(got, want, line, __FILE__, CU_FALSE);
}

/* cidr_parse(s) must fail with -EINVAL and exactly `msg`. */
#define cidr_bad(s, msg) cidr_bad_at(__LINE__, (s), (msg))
static void cidr_bad_at(unsigned line, const char *s, const char *msg)
{
    struct cidr c;
    char err[256] = "";
    int r = cidr_parse(s, &c, err, sizeof err);
    tc_assert_long(r, -EINVAL, s, line, __FILE__);
    tc_assert_str(err, msg, line, __FILE__, CU_FALSE);
}

/* Parse a list that must be good. */
static void acl_ok(const char *value, struct acl *acl)
{
    char err[256] = "";
    int r = acl_parse(value, acl, err, sizeof err);
    ASSERT_STR(err, "");
    CU_ASSERT_EQUAL_FATAL(r, 0);
}

/* Does the list match the peer's address? */
static bool matches(const struct acl *acl, const char *addr)
{
    struct sockaddr_storage ss;
    return acl_match(acl, peer(addr, &ss)) != NULL;
}

/* acl_allowed for a peer; `rule` gets the refusing rule or "". */
static bool allowed(const struct acl *only, const struct acl *no, const char *addr,
                    char *rule, size_t len)
{
    struct sockaddr_storage ss;
    rule[0] = '\0';
    return acl_allowed(only, no, peer(addr, &ss), rule, len);
}

/* ---- cidr_parse ---- */

static void test_cidr_ipv4(void)
{
    cidr_ok("192.0.2.0/24", "v4 192.0.2.0/24");
    cidr_ok("127.0.0.1", "v4 127.0.0.1/32");
    cidr_ok("127.0.0.1/32", "v4 127.0.0.1/32");
    cidr_ok("10.0.0.0/8", "v4 10.0.0.0/8");
    cidr_ok("192.0.2.128/25", "v4 192.0.2.128/25");
    cidr_ok("0.0.0.0/0", "v4 0.0.0.0/0");
    cidr_ok("255.255.255.255", "v4 255.255.255.255/32");
    /* A leading zero in the prefix is still the number. */
    cidr_ok("10.0.0.0/08", "v4 10.0.0.0/8");
}

static void test_cidr_ipv6(void)
{
    cidr_ok("2001:db8::/32", "v6 2001:db8::/32");
    cidr_ok("::1", "v6 ::1/128");
    cidr_ok("::1/128", "v6 ::1/128");
    cidr_ok("::/0", "v6 ::/0");
    cidr_ok("fe80::/10", "v6 fe80::/10");
    cidr_ok("2001:db8:0:1::/64", "v6 2001:db8:0:1::/64");
    /* IPv4-mapped blocks become IPv4: mapped peers match as IPv4. */
    cidr_ok("::ffff:192.0.2.1", "v4 192.0.2.1/32");
    cidr_ok("::ffff:10.0.0.0/104", "v4 10.0.0.0/8");
}

static void test_cidr_host_bits(void)
{
    /* The suggestion is the block's network, not the text as written. */
    cidr_bad("10.1.2.3/8", "'10.1.2.3/8' has host bits set (did you mean 10.0.0.0/8?)");
    cidr_bad("127.0.0.1/8", "'127.0.0.1/8' has host bits set (did you mean 127.0.0.0/8?)");
    cidr_bad("192.0.2.1/24", "'192.0.2.1/24' has host bits set (did you mean 192.0.2.0/24?)");
    cidr_bad("1.0.0.0/0", "'1.0.0.0/0' has host bits set (did you mean 0.0.0.0/0?)");
    cidr_bad("192.0.2.129/25",
             "'192.0.2.129/25' has host bits set (did you mean 192.0.2.128/25?)");
    cidr_bad("2001:db8::1/32", "'2001:db8::1/32' has host bits set (did you mean 2001:db8::/32?)");
    cidr_bad("::1/127", "'::1/127' has host bits set (did you mean ::/127?)");
    cidr_bad("::ffff:10.1.2.3/104",
             "'::ffff:10.1.2.3/104' has host bits set (did you mean ::ffff:10.0.0.0/104?)");
}

static void test_cidr_names_refused(void)
{
    cidr_bad("localhost", "'localhost' is not an address or CIDR block (host names are not allowed)");
    cidr_bad("example.com/24",
             "'example.com/24' is not an address or CIDR block (host names are not allowed)");
    cidr_bad("[::1]", "'[::1]' is not an address or CIDR block (host names are not allowed)");
    cidr_bad("10.0.0", "'10.0.0' is not an address or CIDR block (host names are not allowed)");
    cidr_bad("256.0.0.1", "'256.0.0.1' is not an address or CIDR block (host names are not allowed)");
    cidr_bad("", "'' is not an address or CIDR block");
    cidr_bad("/8", "'/8' is not an address or CIDR block");
    char longer[128];
    memset(longer, '1', 100);
    longer[100] = '\0';
    char want[256];
    snprintf(want, sizeof want, "'%s' is not an address or CIDR block", longer);
    cidr_bad(longer, want);
}

static void test_cidr_bad_prefix(void)
{
    cidr_bad("10.0.0.0/33", "'10.0.0.0/33': prefix length must be 0 to 32");
    cidr_bad("::/129", "'::/129': prefix length must be 0 to 128");
    cidr_bad("10.0.0.0/", "'10.0.0.0/': prefix length must be 0 to 32");
    cidr_bad("10.0.0.0/-1", "'10.0.0.0/-1': prefix length must be 0 to 32");
    cidr_bad("10.0.0.0/+8", "'10.0.0.0/+8': prefix length must be 0 to 32");
    cidr_bad("10.0.0.0/ 8", "'10.0.0.0/ 8': prefix length must be 0 to 32");
    cidr_bad("10.0.0.0/8x", "'10.0.0.0/8x': prefix length must be 0 to 32");
    cidr_bad("10.0.0.0/8/8", "'10.0.0.0/8/8': prefix length must be 0 to 32");
    cidr_bad("10.0.0.0/99999999999999999999999",
             "'10.0.0.0/99999999999999999999999': prefix length must be 0 to 32");
    cidr_bad("2001:db8::/abc", "'2001:db8::/abc': prefix length must be 0 to 128");
}

/* ---- acl_parse ---- */

static void test_acl_parse_list(void)
{
    struct acl acl;
    acl_ok("127.0.0.0/8 ::1", &acl);
    CU_ASSERT(acl.set);
    ASSERT_STR(acl.text, "127.0.0.0/8 ::1");
    CU_ASSERT_EQUAL_FATAL(acl.n, 2);
    char got[128];
    show(&acl.v[0], got, sizeof got);
    ASSERT_STR(got, "v4 127.0.0.0/8");
    show(&acl.v[1], got, sizeof got);
    ASSERT_STR(got, "v6 ::1/128");
    acl_free(&acl);
    CU_ASSERT_FALSE(acl.set);
    CU_ASSERT_PTR_NULL(acl.v);
    CU_ASSERT_PTR_NULL(acl.text);
    /* Commas and runs of blanks separate too. */
    acl_ok("10.0.0.0/8,192.168.0.0/16 ,\t 2001:db8::/32", &acl);
    CU_ASSERT_EQUAL(acl.n, 3);
    ASSERT_STR(acl.text, "10.0.0.0/8,192.168.0.0/16 ,\t 2001:db8::/32");
    acl_free(&acl);
    /* acl_free on a freed (zeroed) list is harmless. */
    acl_free(&acl);
}

static void test_acl_parse_bad_entry(void)
{
    struct acl acl;
    char err[256] = "";
    CU_ASSERT_EQUAL(acl_parse("127.0.0.1 localhost ::1", &acl, err, sizeof err), -EINVAL);
    ASSERT_STR(err, "'localhost' is not an address or CIDR block (host names are not allowed)");
    /* The caller frees what was parsed (a leak shows under ASan). */
    acl_free(&acl);
    err[0] = '\0';
    CU_ASSERT_EQUAL(acl_parse("10.0.0.0/8 10.1.0.0/8", &acl, err, sizeof err), -EINVAL);
    ASSERT_STR(err, "'10.1.0.0/8' has host bits set (did you mean 10.0.0.0/8?)");
    acl_free(&acl);
    /* Separators only: no block at all is refused, not an empty list
     * that would refuse (only_from) or allow (no_access) everyone. */
    err[0] = '\0';
    CU_ASSERT_EQUAL(acl_parse(" , \t,", &acl, err, sizeof err), -EINVAL);
    ASSERT_STR(err, "no address or CIDR block given");
    acl_free(&acl);
}

/* ---- acl_match ---- */

static void test_acl_match_ipv4(void)
{
    struct acl acl;
    acl_ok("192.0.2.128/25 127.0.0.2", &acl);
    CU_ASSERT(matches(&acl, "192.0.2.128"));
    CU_ASSERT(matches(&acl, "192.0.2.200"));
    CU_ASSERT(matches(&acl, "192.0.2.255"));
    CU_ASSERT_FALSE(matches(&acl, "192.0.2.127"));
    CU_ASSERT_FALSE(matches(&acl, "192.0.3.200"));
    CU_ASSERT(matches(&acl, "127.0.0.2"));
    CU_ASSERT_FALSE(matches(&acl, "127.0.0.1"));
    CU_ASSERT_FALSE(matches(&acl, "127.0.0.3"));
    /* An IPv4 block never matches a native IPv6 peer. */
    CU_ASSERT_FALSE(matches(&acl, "::1"));
    /* The first block that contains it is returned. */
    struct sockaddr_storage ss;
    const struct cidr *c = acl_match(&acl, peer("127.0.0.2", &ss));
    CU_ASSERT_PTR_EQUAL(c, &acl.v[1]);
    acl_free(&acl);
}

static void test_acl_match_ipv6(void)
{
    struct acl acl;
    acl_ok("2001:db8::/32 ::1 fe80::/10", &acl);
    CU_ASSERT(matches(&acl, "2001:db8::1"));
    CU_ASSERT(matches(&acl, "2001:db8:ffff:ffff::1"));
    CU_ASSERT_FALSE(matches(&acl, "2001:db9::1"));
    CU_ASSERT(matches(&acl, "::1"));
    CU_ASSERT_FALSE(matches(&acl, "::2"));
    CU_ASSERT(matches(&acl, "febf::1"));
    CU_ASSERT_FALSE(matches(&acl, "fec0::1"));
    CU_ASSERT_FALSE(matches(&acl, "127.0.0.1"));
    acl_free(&acl);
}

static void test_acl_match_prefix_0_32_128(void)
{
    struct acl acl;
    acl_ok("0.0.0.0/0", &acl);
    CU_ASSERT(matches(&acl, "1.2.3.4"));
    CU_ASSERT(matches(&acl, "255.255.255.255"));
    CU_ASSERT(matches(&acl, "::ffff:1.2.3.4"));
    CU_ASSERT_FALSE(matches(&acl, "::1"));
    acl_free(&acl);
    acl_ok("::/0", &acl);
    CU_ASSERT(matches(&acl, "::1"));
    CU_ASSERT(matches(&acl, "2001:db8::1"));
    CU_ASSERT_FALSE(matches(&acl, "1.2.3.4"));
    acl_free(&acl);
    acl_ok("10.9.8.7/32 2001:db8::7/128", &acl);
    CU_ASSERT(matches(&acl, "10.9.8.7"));
    CU_ASSERT_FALSE(matches(&acl, "10.9.8.6"));
    CU_ASSERT(matches(&acl, "2001:db8::7"));
    CU_ASSERT_FALSE(matches(&acl, "2001:db8::6"));
    acl_free(&acl);
}

static void test_acl_match_v4_mapped(void)
{
    struct acl acl;
    acl_ok("127.0.0.0/8 192.0.2.1", &acl);
    /* What an IPv6 listener bound to :: reports for an IPv4 client. */
    CU_ASSERT(matches(&acl, "::ffff:127.0.0.2"));
    CU_ASSERT(matches(&acl, "::ffff:192.0.2.1"));
    CU_ASSERT_FALSE(matches(&acl, "::ffff:192.0.2.2"));
    CU_ASSERT_FALSE(matches(&acl, "::ffff:10.0.0.1"));
    /* IPv4-compatible (deprecated ::a.b.c.d) is not mapped: no match. */
    CU_ASSERT_FALSE(matches(&acl, "::127.0.0.2"));
    acl_free(&acl);
}

static void test_acl_match_unix_never(void)
{
    struct acl acl;
    acl_ok("0.0.0.0/0 ::/0", &acl);
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    strcpy(un.sun_path, "/tmp/x.sock");
    CU_ASSERT_PTR_NULL(acl_match(&acl, (const struct sockaddr *)&un));
    acl_free(&acl);
}

/* ---- acl_allowed ---- */

static void test_allowed_no_lists(void)
{
    char rule[160];
    struct acl unset = { 0 };
    CU_ASSERT(allowed(NULL, NULL, "127.0.0.1", rule, sizeof rule));
    CU_ASSERT(allowed(&unset, &unset, "::1", rule, sizeof rule));
    ASSERT_STR(rule, "");
}

static void test_allowed_only_from(void)
{
    char rule[160];
    struct acl only;
    acl_ok("127.0.0.2 ::1", &only);
    CU_ASSERT(allowed(&only, NULL, "127.0.0.2", rule, sizeof rule));
    CU_ASSERT(allowed(&only, NULL, "::1", rule, sizeof rule));
    CU_ASSERT(allowed(&only, NULL, "::ffff:127.0.0.2", rule, sizeof rule));
    CU_ASSERT_FALSE(allowed(&only, NULL, "127.0.0.1", rule, sizeof rule));
    /* The list as written, for the log line. */
    ASSERT_STR(rule, "only_from 127.0.0.2 ::1");
    CU_ASSERT_FALSE(allowed(&only, NULL, "::ffff:127.0.0.1", rule, sizeof rule));
    ASSERT_STR(rule, "only_from 127.0.0.2 ::1");
    CU_ASSERT_FALSE(allowed(&only, NULL, "2001:db8::1", rule, sizeof rule));
    ASSERT_STR(rule, "only_from 127.0.0.2 ::1");
    acl_free(&only);
}

static void test_allowed_no_access(void)
{
    char rule[160];
    struct acl no;
    acl_ok("10.0.0.0/8 2001:db8::/32 127.0.0.3", &no);
    CU_ASSERT(allowed(NULL, &no, "127.0.0.2", rule, sizeof rule));
    CU_ASSERT_FALSE(allowed(NULL, &no, "10.1.2.3", rule, sizeof rule));
    /* The block that matched, not the whole list. */
    ASSERT_STR(rule, "no_access 10.0.0.0/8");
    CU_ASSERT_FALSE(allowed(NULL, &no, "2001:db8::42", rule, sizeof rule));
    ASSERT_STR(rule, "no_access 2001:db8::/32");
    CU_ASSERT_FALSE(allowed(NULL, &no, "::ffff:127.0.0.3", rule, sizeof rule));
    ASSERT_STR(rule, "no_access 127.0.0.3/32");
    acl_free(&no);
}

static void test_allowed_no_access_wins(void)
{
    char rule[160];
    struct acl only, no;
    acl_ok("127.0.0.0/8", &only);
    acl_ok("127.0.0.3/32", &no);
    CU_ASSERT(allowed(&only, &no, "127.0.0.2", rule, sizeof rule));
    CU_ASSERT_FALSE(allowed(&only, &no, "127.0.0.3", rule, sizeof rule));
    ASSERT_STR(rule, "no_access 127.0.0.3/32");
    /* Outside both: only_from refuses it. */
    CU_ASSERT_FALSE(allowed(&only, &no, "192.0.2.1", rule, sizeof rule));
    ASSERT_STR(rule, "only_from 127.0.0.0/8");
    acl_free(&only);
    acl_free(&no);
}

static void test_allowed_unix_always(void)
{
    char rule[160] = "";
    struct acl only, no;
    acl_ok("127.0.0.2", &only);
    acl_ok("0.0.0.0/0 ::/0", &no);
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    CU_ASSERT(acl_allowed(&only, &no, (const struct sockaddr *)&un, rule, sizeof rule));
    ASSERT_STR(rule, "");
    acl_free(&only);
    acl_free(&no);
}

/* A rule that does not fit the caller's buffer is cut, never overrun. */
static void test_allowed_rule_truncated(void)
{
    char rule[16];
    struct acl only;
    acl_ok("127.0.0.2 127.0.0.4 127.0.0.5", &only);
    memset(rule, 'x', sizeof rule);
    CU_ASSERT_FALSE(acl_allowed(&only, NULL, (const struct sockaddr *)&(struct sockaddr_in){
                                    .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) },
                                rule, 12));
    ASSERT_STR(rule, "only_from 1");
    CU_ASSERT_EQUAL(rule[12], 'x');
    acl_free(&only);
}

int test_core_access_register(void)
{
    static const struct tc_test tests[] = {
        { "cidr_parse: IPv4, /0, /32, bare address", test_cidr_ipv4 },
        { "cidr_parse: IPv6, /0, /128, bare address", test_cidr_ipv6 },
        { "cidr_parse: host bits set refused", test_cidr_host_bits },
        { "cidr_parse: host names and non-addresses refused", test_cidr_names_refused },
        { "cidr_parse: bad prefix lengths refused", test_cidr_bad_prefix },
        { "acl_parse: blanks and commas, text kept", test_acl_parse_list },
        { "acl_parse: one bad entry, or none, refuses the list", test_acl_parse_bad_entry },
        { "acl_match: IPv4 blocks", test_acl_match_ipv4 },
        { "acl_match: IPv6 blocks", test_acl_match_ipv6 },
        { "acl_match: /0, /32, /128", test_acl_match_prefix_0_32_128 },
        { "acl_match: IPv4-mapped IPv6 matches as IPv4", test_acl_match_v4_mapped },
        { "acl_match: unix peers match nothing", test_acl_match_unix_never },
        { "acl_allowed: no lists allow everyone", test_allowed_no_lists },
        { "acl_allowed: only_from, rule names the list", test_allowed_only_from },
        { "acl_allowed: no_access, rule names the block", test_allowed_no_access },
        { "acl_allowed: no_access wins over only_from", test_allowed_no_access_wins },
        { "acl_allowed: unix peers always allowed", test_allowed_unix_always },
        { "acl_allowed: rule cut to the buffer", test_allowed_rule_truncated },
    };
    return tc_register("core: access lists", NULL, NULL, tests, sizeof tests / sizeof tests[0]);
}
