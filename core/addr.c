/* addr.c - listen addresses: parsing and formatting. */
#include "addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdint.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

static const struct { const char *prefix; enum addr_kind kind; } schemes[] = {
    { "tcp://", ADDR_TCP },
    { "tls://", ADDR_TCP },     /* marked .tls by addr_parse */
    { "udp://", ADDR_UDP },
    { "unix-dgram:", ADDR_UNIX_DGRAM },
    { "unix:", ADDR_UNIX },
};

const char *addr_kind_name(enum addr_kind kind)
{
    switch (kind) {
    case ADDR_TCP: return "tcp";
    case ADDR_UDP: return "udp";
    case ADDR_UNIX: return "unix";
    case ADDR_UNIX_DGRAM: return "unix-dgram";
    }
    return "?";
}

int addr_socktype(enum addr_kind kind)
{
    return kind == ADDR_TCP || kind == ADDR_UNIX ? SOCK_STREAM : SOCK_DGRAM;
}

bool addr_is_unix(enum addr_kind kind)
{
    return kind == ADDR_UNIX || kind == ADDR_UNIX_DGRAM;
}

/* Append one address, skipping duplicates from the same word (a name may
 * resolve to one address twice); `first` is where this word's addresses
 * start.  Duplicates across words are the configuration's to refuse. */
static int push(struct laddr **vec, size_t *n, size_t first, enum addr_kind kind,
                const void *sa, socklen_t salen)
{
    for (size_t i = first; i < *n; i++)
        if ((*vec)[i].kind == kind &&
            addr_equal((const struct sockaddr *)&(*vec)[i].sa, (*vec)[i].salen, sa, salen))
            return 0;
    struct laddr *v = realloc(*vec, (*n + 1) * sizeof **vec);
    if (!v)
        return -ENOMEM;
    *vec = v;
    struct laddr *a = &v[(*n)++];
    memset(a, 0, sizeof *a);
    a->kind = kind;
    memcpy(&a->sa, sa, salen);
    a->salen = salen;
    char buf[ADDR_FMT_MAX];
    addr_format(sa, salen, buf, sizeof buf);
    snprintf(a->text, sizeof a->text, "%s %s", addr_kind_name(kind), buf);
    return 0;
}

static int parse_unix(const char *rest, enum addr_kind kind, const char *basedir,
                      struct laddr **vec, size_t *n, char *err, size_t errlen)
{
    size_t first = *n;
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    size_t len = strlen(rest);
    if (len == 0) {
        snprintf(err, errlen, "%s: socket path is empty", addr_kind_name(kind));
        return -EINVAL;
    }
    char path[sizeof sun.sun_path + 1];
    if (rest[0] == '@') {
        /* Linux abstract namespace: a leading NUL, no file. */
        if (len == 1) {
            snprintf(err, errlen, "%s: abstract socket name is empty (write @NAME)",
                     addr_kind_name(kind));
            return -EINVAL;
        }
        if (len > sizeof sun.sun_path) {
            snprintf(err, errlen, "abstract socket name '%s' too long (at most %zu bytes)",
                     rest, sizeof sun.sun_path - 1);
            return -ENAMETOOLONG;
        }
        memcpy(sun.sun_path + 1, rest + 1, len - 1);
        return push(vec, n, first, kind, &sun, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
    }
    int m;
    if (rest[0] == '/' || !basedir || strcmp(basedir, ".") == 0)
        m = snprintf(path, sizeof path, "%s", rest);
    else
        m = snprintf(path, sizeof path, "%s/%s", basedir, rest);
    if (m < 0 || (size_t)m >= sizeof sun.sun_path) {
        snprintf(err, errlen, "socket path '%s' too long (at most %zu bytes)",
                 rest, sizeof sun.sun_path - 1);
        return -ENAMETOOLONG;
    }
    memcpy(sun.sun_path, path, (size_t)m + 1);
    return push(vec, n, first, kind, &sun, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)m + 1));
}

/* A decimal port 1..65535 or a service name from /etc/services. */
static int parse_port(const char *s, enum addr_kind kind, unsigned *port,
                      char *err, size_t errlen)
{
    if (*s == '\0') {
        snprintf(err, errlen, "missing port");
        return -EINVAL;
    }
    if (isdigit((unsigned char)*s)) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (*end != '\0') {
            snprintf(err, errlen, "bad port '%s'", s);
            return -EINVAL;
        }
        if (errno || v < 1 || v > 65535) {
            snprintf(err, errlen, "port %s out of range", s);
            return -ERANGE;
        }
        *port = (unsigned)v;
        return 0;
    }
    const char *proto = kind == ADDR_TCP ? "tcp" : "udp";
    struct servent *se = getservbyname(s, proto);
    if (!se) {
        snprintf(err, errlen, "unknown service name '%s' for %s (see /etc/services)", s, proto);
        return -ENOENT;
    }
    *port = ntohs((uint16_t)se->s_port);
    return 0;
}

/*
 * Split a zone off an IPv6 literal, "fe80::1%eth0" (or "%2"): host keeps
 * the address, *scope gets the interface index.  The index is looked up
 * here, at parse time, so an unknown interface is a configuration error.
 */
static int parse_scope(char *host, uint32_t *scope, char *err, size_t errlen)
{
    char *pct = strchr(host, '%');
    *scope = 0;
    if (!pct)
        return 0;
    *pct = '\0';
    const char *zone = pct + 1;
    char *end;
    errno = 0;
    unsigned long v = isdigit((unsigned char)*zone) ? strtoul(zone, &end, 10) : 0;
    if (isdigit((unsigned char)*zone) && *end == '\0' && !errno && v > 0 && v <= UINT32_MAX) {
        *scope = (uint32_t)v;
        return 0;
    }
    *scope = if_nametoindex(zone);
    if (*scope == 0) {
        snprintf(err, errlen, "bad address '[%s%%%s]': no network interface '%s'", host, zone,
                 zone);
        *pct = '%';
        return -ENODEV;
    }
    return 0;
}

/* Give a parsed IPv6 address its zone; a link-local one needs one (the
 * kernel refuses to bind it without). */
static int set_scope(struct sockaddr *sa, const char *host, uint32_t scope,
                     char *err, size_t errlen)
{
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
    if (scope)
        in6->sin6_scope_id = scope;
    if (IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr) && in6->sin6_scope_id == 0) {
        snprintf(err, errlen, "link-local address '%s' needs an interface: [%s%%IFNAME]",
                 host, host);
        return -EINVAL;
    }
    return 0;
}

static int parse_inet(const char *rest, enum addr_kind kind, struct laddr **vec,
                      size_t *n, char *err, size_t errlen)
{
    size_t first = *n;
    char host[256];
    const char *portstr;
    bool bracketed = rest[0] == '[';
    if (bracketed) {
        const char *close = strchr(rest, ']');
        if (!close || close[1] != ':') {
            snprintf(err, errlen, "bad address '%s': expected [IPv6]:PORT", rest);
            return -EINVAL;
        }
        if ((size_t)(close - rest - 1) >= sizeof host) {
            snprintf(err, errlen, "host name too long");
            return -EINVAL;
        }
        memcpy(host, rest + 1, (size_t)(close - rest - 1));
        host[close - rest - 1] = '\0';
        portstr = close + 2;
    } else {
        const char *colon = strrchr(rest, ':');
        if (!colon) {
            snprintf(err, errlen, "bad address '%s': expected HOST:PORT", rest);
            return -EINVAL;
        }
        if ((size_t)(colon - rest) >= sizeof host) {
            snprintf(err, errlen, "host name too long");
            return -EINVAL;
        }
        memcpy(host, rest, (size_t)(colon - rest));
        host[colon - rest] = '\0';
        if (strchr(host, ':')) {
            snprintf(err, errlen, "bad address '%s': put an IPv6 address in brackets, [::1]:PORT", rest);
            return -EINVAL;
        }
        portstr = colon + 1;
    }
    if (host[0] == '\0') {
        snprintf(err, errlen, "bad address '%s': missing host (use * for every address)", rest);
        return -EINVAL;
    }
    unsigned port;
    int r = parse_port(portstr, kind, &port, err, errlen);
    if (r < 0)
        return r;

    if (!bracketed && strcmp(host, "*") == 0) {
        struct sockaddr_in in4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
        in4.sin_addr.s_addr = htonl(INADDR_ANY);
        in6.sin6_addr = in6addr_any;
        if ((r = push(vec, n, first, kind, &in4, sizeof in4)) < 0)
            return r;
        return push(vec, n, first, kind, &in6, sizeof in6);
    }

    uint32_t scope = 0;
    if (bracketed && (r = parse_scope(host, &scope, err, errlen)) < 0)
        return r;
    struct addrinfo hints = {
        .ai_family = bracketed ? AF_INET6 : AF_UNSPEC,
        .ai_socktype = addr_socktype(kind),
        .ai_flags = bracketed ? AI_NUMERICHOST : 0,
    };
    struct addrinfo *res;
    int g = getaddrinfo(host, NULL, &hints, &res);
    if (g != 0) {
        if (bracketed)
            snprintf(err, errlen, "bad IPv6 address '%s'", host);
        else
            snprintf(err, errlen, "cannot resolve host '%s': %s", host, gai_strerror(g));
        return -EINVAL;
    }
    r = 0;
    for (struct addrinfo *ai = res; ai && r == 0; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET)
            ((struct sockaddr_in *)ai->ai_addr)->sin_port = htons((uint16_t)port);
        else if (ai->ai_family == AF_INET6)
            ((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = htons((uint16_t)port);
        else
            continue;
        if (bracketed && (r = set_scope(ai->ai_addr, host, scope, err, errlen)) < 0)
            break;
        r = push(vec, n, first, kind, ai->ai_addr, ai->ai_addrlen);
    }
    freeaddrinfo(res);
    return r;
}

/* Parse one listen word and append every address it names. */
int addr_parse(const char *word, const char *basedir, struct laddr **vec,
               size_t *n, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t plen = strlen(schemes[i].prefix);
        if (strncmp(word, schemes[i].prefix, plen) != 0)
            continue;
        enum addr_kind kind = schemes[i].kind;
        if (addr_is_unix(kind))
            return parse_unix(word + plen, kind, basedir, vec, n, err, errlen);
        size_t first = *n;
        int r = parse_inet(word + plen, kind, vec, n, err, errlen);
        if (r == 0 && strncmp(word, "tls://", 6) == 0)
            for (size_t a = first; a < *n; a++) {
                (*vec)[a].tls = true;
                memcpy((*vec)[a].text, "tls", 3);     /* was "tcp" */
            }
        return r;
    }
    snprintf(err, errlen,
             "bad address '%s': expected tcp://HOST:PORT, tls://HOST:PORT, udp://HOST:PORT, "
             "unix:PATH or unix-dgram:PATH", word);
    return -EINVAL;
}

const char *addr_unix_path(const struct sockaddr *sa, socklen_t salen)
{
    const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
    if (sa->sa_family != AF_UNIX || salen <= offsetof(struct sockaddr_un, sun_path) ||
        sun->sun_path[0] == '\0')
        return NULL;
    return sun->sun_path;
}

void addr_format(const struct sockaddr *sa, socklen_t salen, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN];
    if (size)
        buf[0] = '\0';
    switch (sa->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port));
        break;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        if (in6->sin6_scope_id == 0) {
            snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port));
            break;
        }
        /* The zone is part of the address: [fe80::1%eth0]:7. */
        char zone[IF_NAMESIZE];
        if (!if_indextoname(in6->sin6_scope_id, zone))
            snprintf(zone, sizeof zone, "%u", (unsigned)in6->sin6_scope_id);
        snprintf(buf, size, "[%s%%%s]:%u", host, zone, ntohs(in6->sin6_port));
        break;
    }
    case AF_UNIX: {
        const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
        size_t off = offsetof(struct sockaddr_un, sun_path);
        if (salen <= off)
            break;      /* unnamed */
        size_t len = salen - off;
        if (sun->sun_path[0] == '\0')   /* abstract: not NUL-terminated */
            snprintf(buf, size, "@%.*s", (int)(len - 1), sun->sun_path + 1);
        else
            snprintf(buf, size, "%.*s", (int)strnlen(sun->sun_path, len), sun->sun_path);
        break;
    }
    default:
        snprintf(buf, size, "(family %d)", sa->sa_family);
    }
}

unsigned addr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return 0;
}

bool addr_equal(const struct sockaddr *a, socklen_t alen,
                const struct sockaddr *b, socklen_t blen)
{
    if (a->sa_family != b->sa_family)
        return false;
    switch (a->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0 &&
               x->sin6_scope_id == y->sin6_scope_id;
    }
    default:
        return alen == blen && memcmp(a, b, alen) == 0;
    }
}
