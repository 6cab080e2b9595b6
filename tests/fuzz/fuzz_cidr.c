/*
 * fuzz_cidr.c - libFuzzer target: address lists (only_from, no_access).
 *
 * The input's first line goes to cidr_parse(); the whole input (up to a
 * NUL) to acl_parse().  The parsed list is then matched against fixed peers
 * (IPv4, IPv6, IPv4-mapped IPv6, a unix socket), against peers made of the
 * input's first bytes, and against each block's own network address.
 * Checked besides the sanitizers:
 *   - a parsed block has a family, a prefix in range and no host bits, and
 *     formatting it and parsing it again gives the same block;
 *   - acl_match() returns the first block that a plain bit-by-bit
 *     comparison says contains the address (mapped IPv6 as IPv4), and
 *     every block contains its own network address;
 *   - acl_allowed() agrees with acl_match() for only_from and for
 *     no_access, always allows unix peers, and writes its rule text inside
 *     the buffer given.
 * A violation calls abort(), which libFuzzer reports as a crash.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "access.h"

#define INPUT_MAX 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((noreturn))
static void violated(const char *what, const char *input)
{
    fprintf(stderr, "fuzz_cidr: invariant violated: %s (input '%s')\n", what, input);
    abort();
}

static void check_cidr(const struct cidr *c, const char *input)
{
    char text[INET6_ADDRSTRLEN + 8], err[256];
    unsigned max = c->family == AF_INET ? 32 : 128;
    struct cidr again;

    if (c->family != AF_INET && c->family != AF_INET6)
        violated("block of no family", input);
    if (c->prefix > max)
        violated("prefix out of range", input);
    for (unsigned bit = c->prefix; bit < 128; bit++)
        if (c->addr[bit / 8] & (0x80 >> (bit % 8)))
            violated("host bits set", input);
    if (inet_ntop(c->family, c->addr, text, INET6_ADDRSTRLEN) == NULL)
        violated("inet_ntop refused a parsed block", input);
    snprintf(text + strlen(text), 8, "/%u", c->prefix);
    if (cidr_parse(text, &again, err, sizeof err) != 0)
        violated("a parsed block does not parse again when formatted", input);
    if (memcmp(&again, c, sizeof again) != 0)
        violated("a block formatted and parsed again differs", input);
}

/* ::ffff:0:0/96, from bytes (a cidr's addr is not aligned for in6_addr). */
static int is_v4mapped(const uint8_t *a)
{
    static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

    return memcmp(a, prefix, sizeof prefix) == 0;
}

/* The reference: does block c contain address addr of `family`? */
static int ref_contains(const struct cidr *c, int family, const uint8_t *addr)
{
    if (c->family != family)
        return 0;
    for (unsigned bit = 0; bit < c->prefix; bit++) {
        unsigned mask = 0x80u >> (bit % 8);
        if ((c->addr[bit / 8] & mask) != (addr[bit / 8] & mask))
            return 0;
    }
    return 1;
}

static const struct cidr *ref_match(const struct acl *acl, const struct sockaddr *sa)
{
    const uint8_t *addr;
    int family = sa->sa_family;

    if (family == AF_INET) {
        addr = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
    } else if (family == AF_INET6) {
        addr = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        if (is_v4mapped(addr)) {
            family = AF_INET;
            addr += 12;
        }
    } else {
        return NULL;
    }
    for (size_t i = 0; i < acl->n; i++)
        if (ref_contains(&acl->v[i], family, addr))
            return &acl->v[i];
    return NULL;
}

static void check_rule(const char *rule, size_t size, const char *input)
{
    if (memchr(rule, '\0', size) == NULL)
        violated("rule text not nul-terminated", input);
    for (size_t i = size; i < 64; i++)
        if (rule[i] != 'R')
            violated("rule text written past its buffer", input);
}

static void check_peer(const struct acl *acl, const struct sockaddr *sa, const char *input)
{
    static const size_t sizes[] = { 1, 12, 48 };
    const struct cidr *m = acl_match(acl, sa);
    char rule[64];

    if (m != ref_match(acl, sa))
        violated("acl_match() differs from the reference", input);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int inet = sa->sa_family == AF_INET || sa->sa_family == AF_INET6;
        bool ok;

        memset(rule, 'R', sizeof rule);
        ok = acl_allowed(acl, NULL, sa, rule, sizes[i]);
        if (ok != (!inet || m != NULL))
            violated("only_from decision differs from acl_match()", input);
        if (!ok)
            check_rule(rule, sizes[i], input);
        memset(rule, 'R', sizeof rule);
        ok = acl_allowed(NULL, acl, sa, rule, sizes[i]);
        if (ok != (!inet || m == NULL))
            violated("no_access decision differs from acl_match()", input);
        if (!ok)
            check_rule(rule, sizes[i], input);
    }
}

static void match_all(const struct acl *acl, const uint8_t *data, size_t size,
                      const char *input)
{
    static const char *const v4[] = { "127.0.0.1", "10.1.2.3", "192.0.2.1", "0.0.0.0",
                                      "255.255.255.255", "172.16.0.1" };
    static const char *const v6[] = { "::1", "2001:db8::1", "::ffff:192.0.2.1",
                                      "::ffff:10.1.2.3", "fe80::1", "::", "::192.0.2.1",
                                      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" };
    struct sockaddr_in in4 = { .sin_family = AF_INET, .sin_port = htons(4242) };
    struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(4242) };
    struct sockaddr_un un = { .sun_family = AF_UNIX, .sun_path = "/run/x.sock" };

    for (size_t i = 0; i < sizeof v4 / sizeof v4[0]; i++) {
        inet_pton(AF_INET, v4[i], &in4.sin_addr);
        check_peer(acl, (struct sockaddr *)&in4, input);
    }
    for (size_t i = 0; i < sizeof v6 / sizeof v6[0]; i++) {
        inet_pton(AF_INET6, v6[i], &in6.sin6_addr);
        check_peer(acl, (struct sockaddr *)&in6, input);
    }
    check_peer(acl, (struct sockaddr *)&un, input);

    /* Peers the fuzzer chooses: the input's first bytes. */
    memset(&in4.sin_addr, 0, sizeof in4.sin_addr);
    memcpy(&in4.sin_addr, data, size < 4 ? size : 4);
    check_peer(acl, (struct sockaddr *)&in4, input);
    memset(&in6.sin6_addr, 0, sizeof in6.sin6_addr);
    memcpy(&in6.sin6_addr, data, size < 16 ? size : 16);
    check_peer(acl, (struct sockaddr *)&in6, input);

    /* Every block contains its own network address. */
    for (size_t i = 0; i < acl->n; i++) {
        const struct cidr *c = &acl->v[i];
        const struct cidr *m;

        /* cidr_parse() turns ::ffff:a.b.c.d/N (N >= 96) into IPv4, since
         * mapped peers match as IPv4: no IPv6 block may stay mapped. */
        if (c->family == AF_INET6 && c->prefix >= 96 && is_v4mapped(c->addr))
            abort();
        if (c->family == AF_INET) {
            memcpy(&in4.sin_addr, c->addr, 4);
            m = acl_match(acl, (struct sockaddr *)&in4);
        } else {
            memcpy(&in6.sin6_addr, c->addr, 16);
            m = acl_match(acl, (struct sockaddr *)&in6);
        }
        if (m == NULL || m > c)
            violated("a block does not contain its own network address", input);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct acl acl;
    struct cidr one;
    char err[256];
    char *text;
    int r;

    if (size > INPUT_MAX)
        return 0;
    text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    /* One block: the first line. */
    {
        char *nl = strchr(text, '\n');
        if (nl != NULL)
            *nl = '\0';
        memset(err, 'x', sizeof err);
        r = cidr_parse(text, &one, err, sizeof err);
        if (r == 0)
            check_cidr(&one, text);
        else if (memchr(err, '\0', sizeof err) == NULL || err[0] == '\0')
            violated("cidr_parse() failure without a message", text);
        if (nl != NULL)
            *nl = '\n';
    }

    /* A list: the whole input. */
    memset(err, 'x', sizeof err);
    r = acl_parse(text, &acl, err, sizeof err);
    if (r == 0) {
        if (!acl.set || acl.text == NULL || strcmp(acl.text, text) != 0)
            violated("parsed list without its text", text);
        for (size_t i = 0; i < acl.n; i++)
            check_cidr(&acl.v[i], text);
        match_all(&acl, data, size, text);
    } else if (memchr(err, '\0', sizeof err) == NULL || err[0] == '\0') {
        violated("acl_parse() failure without a message", text);
    }
    acl_free(&acl);
    if (acl.v != NULL || acl.n != 0 || acl.set || acl.text != NULL)
        violated("acl_free() left the list set", text);
    free(text);
    return 0;
}
