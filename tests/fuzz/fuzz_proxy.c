/*
 * fuzz_proxy.c - libFuzzer target: PROXY protocol headers (core/proxy.c),
 * the first bytes superd reads from a client behind a balancer.
 *
 * Checked besides the sanitizers:
 *   - a complete header's length is within the input and at most PROXY_MAX;
 *   - parsing is stable under more input: a header found in a prefix is the
 *     same header (same length, same addresses) in the whole input, and a
 *     prefix never gets a verdict the whole input contradicts;
 *   - a parsed header, built again with proxy_build, parses to the same
 *     addresses.
 * A violation calls abort(), which libFuzzer reports as a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((noreturn))
static void violated(const char *what)
{
    fprintf(stderr, "fuzz_proxy: invariant violated: %s\n", what);
    abort();
}

static void same(const struct proxy_hdr *a, const struct proxy_hdr *b)
{
    if (a->local != b->local)
        violated("local differs");
    if (a->local)
        return;
    if (a->srclen != b->srclen || a->dstlen != b->dstlen ||
        memcmp(&a->src, &b->src, a->srclen) || memcmp(&a->dst, &b->dst, a->dstlen))
        violated("addresses differ");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proxy_hdr h, p;
    int r = proxy_parse(data, size, &h);

    if (r > 0 && ((size_t)r > size || r > PROXY_MAX))
        violated("length past the input or PROXY_MAX");
    for (size_t n = 0; n < size && n < PROXY_MAX + 1; n += 1 + n / 8) {
        int rp = proxy_parse(data, n, &p);
        if (rp > 0 && (r != rp))
            violated("a prefix's header is not the whole input's");
        if (rp > 0)
            same(&p, &h);
        if (rp < 0 && r >= 0)
            violated("a prefix refused what the whole input accepts");
    }
    if (r > 0) {
        uint8_t buf[PROXY_MAX];
        int n = proxy_build(h.version, (struct sockaddr *)&h.src, (struct sockaddr *)&h.dst,
                            buf, sizeof buf);
        if (n <= 0 || proxy_parse(buf, (size_t)n, &p) != n)
            violated("a built header does not parse");
        if (!h.local)
            same(&p, &h);
    }
    return 0;
}
