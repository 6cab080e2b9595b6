/* proxy.c - PROXY protocol v1 and v2 headers: parse and build. */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const uint8_t v2_sig[12] = { '\r', '\n', '\r', '\n', 0, '\r', '\n', 'Q', 'U', 'I', 'T',
                                    '\n' };
static const char v1_sig[] = "PROXY ";

#define V2_HEAD 16              /* signature, ver/cmd, family, length */
#define V2_INET_LEN 12
#define V2_INET6_LEN 36

/* True while buf could still be the start of sig. */
static bool prefix_of(const uint8_t *buf, size_t len, const void *sig, size_t siglen)
{
    return memcmp(buf, sig, len < siglen ? len : siglen) == 0;
}

/* One decimal port, 0-65535, no sign, no leading zero but "0" itself. */
static int parse_port(const char *s, size_t n)
{
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= 65535 ? v : -1;
}

/* An address and a port into ss, for family af. */
static int set_addr(int af, const char *ip, int port, struct sockaddr_storage *ss,
                    socklen_t *sslen)
{
    memset(ss, 0, sizeof *ss);
    if (af == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        if (inet_pton(AF_INET, ip, &sin->sin_addr) != 1)
            return -EPROTO;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        *sslen = sizeof *sin;
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) != 1)
            return -EPROTO;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        *sslen = sizeof *sin6;
    }
    return 0;
}

/* "PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n", or "PROXY UNKNOWN ...\r\n". */
static int parse_v1(const uint8_t *buf, size_t len, struct proxy_hdr *out)
{
    if (!prefix_of(buf, len, v1_sig, sizeof v1_sig - 1))
        return -EPROTO;
    const uint8_t *cr = NULL;
    size_t scan = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;
    for (size_t i = 0; i + 1 < scan; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n') {
            cr = buf + i;
            break;
        }
    if (!cr)
        return len >= PROXY_V1_MAX ? -EPROTO : 0;
    size_t linelen = (size_t)(cr - buf);
    char line[PROXY_V1_MAX + 1];
    memcpy(line, buf, linelen);
    line[linelen] = '\0';
    if (memchr(line, '\0', linelen))
        return -EPROTO;

    struct proxy_hdr h = { .version = 1 };
    const char *p = line + sizeof v1_sig - 1;
    if (strncmp(p, "UNKNOWN", 7) == 0 && (p[7] == '\0' || p[7] == ' ')) {
        h.local = true;
        *out = h;
        return (int)linelen + 2;
    }
    int af;
    if (strncmp(p, "TCP4 ", 5) == 0)
        af = AF_INET;
    else if (strncmp(p, "TCP6 ", 5) == 0)
        af = AF_INET6;
    else
        return -EPROTO;
    p += 5;
    /* Exactly four fields separated by single spaces. */
    const char *f[4];
    size_t flen[4];
    for (int i = 0; i < 4; i++) {
        const char *sp = strchr(p, ' ');
        size_t n = sp ? (size_t)(sp - p) : strlen(p);
        if (n == 0 || (i < 3) != (sp != NULL) || n > INET6_ADDRSTRLEN)
            return -EPROTO;
        f[i] = p;
        flen[i] = n;
        p += n + (sp != NULL);
    }
    char src[INET6_ADDRSTRLEN + 1], dst[INET6_ADDRSTRLEN + 1];
    snprintf(src, sizeof src, "%.*s", (int)flen[0], f[0]);
    snprintf(dst, sizeof dst, "%.*s", (int)flen[1], f[1]);
    int sport = parse_port(f[2], flen[2]), dport = parse_port(f[3], flen[3]);
    if (sport < 0 || dport < 0 ||
        set_addr(af, src, sport, &h.src, &h.srclen) < 0 ||
        set_addr(af, dst, dport, &h.dst, &h.dstlen) < 0)
        return -EPROTO;
    *out = h;
    return (int)linelen + 2;
}

static int parse_v2(const uint8_t *buf, size_t len, struct proxy_hdr *out)
{
    if (!prefix_of(buf, len, v2_sig, sizeof v2_sig))
        return -EPROTO;
    if (len < V2_HEAD)
        return 0;
    uint8_t ver = buf[12] >> 4, cmd = buf[12] & 0x0f, fam = buf[13] >> 4;
    uint8_t transport = buf[13] & 0x0f;
    size_t body = ((size_t)buf[14] << 8) | buf[15];
    if (ver != 2 || cmd > 1 || V2_HEAD + body > PROXY_MAX)
        return -EPROTO;
    /* Headers are read on stream connections only: a PROXY command for a
     * datagram (2) or an undefined transport is not this connection's.
     * UNSPEC (0) stays accepted; LOCAL's block is ignored, as the spec says. */
    if (cmd == 1 && transport > 1)
        return -EPROTO;
    if (len < V2_HEAD + body)
        return 0;
    const uint8_t *a = buf + V2_HEAD;
    struct proxy_hdr h = { .version = 2, .local = true };
    if (cmd == 1 && fam == 1) {
        if (body < V2_INET_LEN)
            return -EPROTO;
        struct sockaddr_in *s = (struct sockaddr_in *)&h.src, *d = (struct sockaddr_in *)&h.dst;
        s->sin_family = d->sin_family = AF_INET;
        memcpy(&s->sin_addr, a, 4);
        memcpy(&d->sin_addr, a + 4, 4);
        memcpy(&s->sin_port, a + 8, 2);
        memcpy(&d->sin_port, a + 10, 2);
        h.srclen = h.dstlen = sizeof *s;
        h.local = false;
    } else if (cmd == 1 && fam == 2) {
        if (body < V2_INET6_LEN)
            return -EPROTO;
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&h.src;
        struct sockaddr_in6 *d = (struct sockaddr_in6 *)&h.dst;
        s->sin6_family = d->sin6_family = AF_INET6;
        memcpy(&s->sin6_addr, a, 16);
        memcpy(&d->sin6_addr, a + 16, 16);
        memcpy(&s->sin6_port, a + 32, 2);
        memcpy(&d->sin6_port, a + 34, 2);
        h.srclen = h.dstlen = sizeof *s;
        h.local = false;
    } else if (cmd == 1 && fam > 3) {
        return -EPROTO;
    }
    /* LOCAL, UNSPEC and unix addresses: the real endpoints stand.  TLVs
     * (the rest of the body) are skipped: superd acts on none of them. */
    *out = h;
    return (int)(V2_HEAD + body);
}

int proxy_parse(const uint8_t *buf, size_t len, struct proxy_hdr *out)
{
    if (len == 0)
        return 0;
    if (buf[0] == 'P')
        return parse_v1(buf, len, out);
    if (buf[0] == '\r')
        return parse_v2(buf, len, out);
    return -EPROTO;
}

static bool both(const struct sockaddr *a, const struct sockaddr *b, int af)
{
    return a && b && a->sa_family == af && b->sa_family == af;
}

static int build_v1(const struct sockaddr *src, const struct sockaddr *dst, uint8_t *buf,
                    size_t cap)
{
    char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
    int n;
    if (both(src, dst, AF_INET)) {
        const struct sockaddr_in *a = (const void *)src, *b = (const void *)dst;
        inet_ntop(AF_INET, &a->sin_addr, s, sizeof s);
        inet_ntop(AF_INET, &b->sin_addr, d, sizeof d);
        n = snprintf((char *)buf, cap, "PROXY TCP4 %s %s %u %u\r\n", s, d,
                     ntohs(a->sin_port), ntohs(b->sin_port));
    } else if (both(src, dst, AF_INET6)) {
        const struct sockaddr_in6 *a = (const void *)src, *b = (const void *)dst;
        inet_ntop(AF_INET6, &a->sin6_addr, s, sizeof s);
        inet_ntop(AF_INET6, &b->sin6_addr, d, sizeof d);
        n = snprintf((char *)buf, cap, "PROXY TCP6 %s %s %u %u\r\n", s, d,
                     ntohs(a->sin6_port), ntohs(b->sin6_port));
    } else {
        n = snprintf((char *)buf, cap, "PROXY UNKNOWN\r\n");
    }
    return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

static int build_v2(const struct sockaddr *src, const struct sockaddr *dst, uint8_t *buf,
                    size_t cap)
{
    uint8_t h[V2_HEAD + V2_INET6_LEN];
    size_t body = 0;
    memcpy(h, v2_sig, sizeof v2_sig);
    h[12] = 0x21;   /* version 2, PROXY */
    h[13] = 0x00;   /* UNSPEC */
    if (both(src, dst, AF_INET)) {
        const struct sockaddr_in *a = (const void *)src, *b = (const void *)dst;
        h[13] = 0x11;
        memcpy(h + 16, &a->sin_addr, 4);
        memcpy(h + 20, &b->sin_addr, 4);
        memcpy(h + 24, &a->sin_port, 2);
        memcpy(h + 26, &b->sin_port, 2);
        body = V2_INET_LEN;
    } else if (both(src, dst, AF_INET6)) {
        const struct sockaddr_in6 *a = (const void *)src, *b = (const void *)dst;
        h[13] = 0x21;
        memcpy(h + 16, &a->sin6_addr, 16);
        memcpy(h + 32, &b->sin6_addr, 16);
        memcpy(h + 48, &a->sin6_port, 2);
        memcpy(h + 50, &b->sin6_port, 2);
        body = V2_INET6_LEN;
    } else {
        h[12] = 0x20;   /* LOCAL: no addresses to carry */
    }
    h[14] = (uint8_t)(body >> 8);
    h[15] = (uint8_t)body;
    if (cap < V2_HEAD + body)
        return -ENOSPC;
    memcpy(buf, h, V2_HEAD + body);
    return (int)(V2_HEAD + body);
}

int proxy_build(int version, const struct sockaddr *src, const struct sockaddr *dst,
                uint8_t *buf, size_t cap)
{
    if (version == 1)
        return build_v1(src, dst, buf, cap);
    if (version == 2)
        return build_v2(src, dst, buf, cap);
    return -EINVAL;
}

const char *proxy_strerror(int r)
{
    if (r == 0)
        return "incomplete PROXY header";
    if (r == -EPROTO)
        return "malformed or missing PROXY header";
    return "PROXY header error";
}
