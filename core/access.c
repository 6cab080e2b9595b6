/* access.c - address lists: CIDR parsing and matching. */
#include "access.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cidr_parse(const char *s, struct cidr *out, char *err, size_t errlen)
{
    char host[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(s, '/');
    size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
    memset(out, 0, sizeof *out);
    if (hlen == 0 || hlen >= sizeof host) {
        snprintf(err, errlen, "'%s' is not an address or CIDR block", s);
        return -EINVAL;
    }
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    unsigned max;
    if (inet_pton(AF_INET, host, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, host, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        /* Names are refused: no DNS, ever, on the way to an accept. */
        snprintf(err, errlen, "'%s' is not an address or CIDR block (host names are not allowed)", s);
        return -EINVAL;
    }
    unsigned prefix = max;
    if (slash) {
        char *end;
        unsigned long v = strtoul(slash + 1, &end, 10);
        if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || v > max) {
            snprintf(err, errlen, "'%s': prefix length must be 0 to %u", s, max);
            return -EINVAL;
        }
        prefix = (unsigned)v;
    }
    /* Host bits are checked as written, so that the suggestion (the block's
     * network) is in the user's own notation. */
    uint8_t net[16];
    memcpy(net, out->addr, sizeof net);
    bool host_bits = false;
    for (unsigned bit = prefix; bit < max; bit++) {
        if (net[bit / 8] & (0x80 >> (bit % 8))) {
            net[bit / 8] &= (uint8_t)~(0x80 >> (bit % 8));
            host_bits = true;
        }
    }
    if (host_bits) {
        char text[INET6_ADDRSTRLEN];
        inet_ntop(out->family, net, text, sizeof text);
        snprintf(err, errlen, "'%s' has host bits set (did you mean %s/%u?)", s, text, prefix);
        return -EINVAL;
    }
    /* ::ffff:a.b.c.d/N: peers in it are matched as IPv4 (acl_match), so
     * keep the block as IPv4 too, or it would match nothing. */
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (out->family == AF_INET6 && prefix >= 96 && memcmp(out->addr, mapped, 12) == 0) {
        memmove(out->addr, out->addr + 12, 4);
        memset(out->addr + 4, 0, 12);
        out->family = AF_INET;
        prefix -= 96;
    }
    out->prefix = (uint8_t)prefix;
    return 0;
}

int acl_parse(const char *value, struct acl *acl, char *err, size_t errlen)
{
    memset(acl, 0, sizeof *acl);
    acl->set = true;
    acl->text = strdup(value);
    char *copy = strdup(value), *save = NULL;
    if (!copy || !acl->text) {
        free(copy);
        return -ENOMEM;
    }
    int r = 0;
    for (char *w = strtok_r(copy, " \t,", &save); w && r == 0; w = strtok_r(NULL, " \t,", &save)) {
        struct cidr *v = realloc(acl->v, (acl->n + 1) * sizeof *v);
        if (!v) {
            r = -ENOMEM;
            break;
        }
        acl->v = v;
        r = cidr_parse(w, &acl->v[acl->n], err, errlen);
        if (r == 0)
            acl->n++;
    }
    free(copy);
    if (r == 0 && acl->n == 0) {
        snprintf(err, errlen, "no address or CIDR block given");
        r = -EINVAL;
    }
    return r;
}

void acl_free(struct acl *acl)
{
    free(acl->v);
    free(acl->text);
    memset(acl, 0, sizeof *acl);
}

static bool contains(const struct cidr *c, const uint8_t *addr)
{
    unsigned full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->addr, addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->addr[full] & mask) == (addr[full] & mask);
}

const struct cidr *acl_match(const struct acl *acl, const struct sockaddr *sa)
{
    int family = sa->sa_family;
    const uint8_t *addr;
    if (family == AF_INET) {
        addr = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
    } else if (family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        addr = a6->s6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            family = AF_INET;
            addr += 12;
        }
    } else {
        return NULL;
    }
    for (size_t i = 0; i < acl->n; i++)
        if (acl->v[i].family == family && contains(&acl->v[i], addr))
            return &acl->v[i];
    return NULL;
}

bool acl_allowed(const struct acl *only_from, const struct acl *no_access,
                 const struct sockaddr *sa, char *rule, size_t rulelen)
{
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
        return true;
    const struct cidr *c = no_access && no_access->set ? acl_match(no_access, sa) : NULL;
    if (c) {
        char net[INET6_ADDRSTRLEN];
        inet_ntop(c->family, c->addr, net, sizeof net);
        snprintf(rule, rulelen, "no_access %s/%u", net, c->prefix);
        return false;
    }
    if (only_from && only_from->set && !acl_match(only_from, sa)) {
        snprintf(rule, rulelen, "only_from %s", only_from->text);
        return false;
    }
    return true;
}
