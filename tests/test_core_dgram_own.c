/* test_core_dgram_own.c - the index of a worker's own datagram listeners
 * (dgram_own_build, dgram_bad_source): with a thousand listeners it says
 * exactly what a walk of every listener says. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "addr.h"
#include "dgram.h"
#include "listener.h"
#include "test_core.h"

#define OWN "one of superd's own datagram listeners"

static char err[256];

/* The loop guard as it was: every listener, for every datagram.  The
 * reference the index must agree with. */
static bool walk_own(const struct listener *lsns, size_t n, const struct sockaddr *from,
                     socklen_t fromlen)
{
    for (size_t i = 0; i < n; i++) {
        const struct laddr *a = &lsns[i].addr;
        const struct sockaddr *own = (const struct sockaddr *)&a->sa;
        if (own->sa_family != from->sa_family ||
            (a->kind != ADDR_UDP && a->kind != ADDR_UNIX_DGRAM))
            continue;
        if (own->sa_family != AF_UNIX && addr_port(own) != addr_port(from))
            continue;
        bool wild = (own->sa_family == AF_INET &&
                     ((const struct sockaddr_in *)own)->sin_addr.s_addr == htonl(INADDR_ANY)) ||
                    (own->sa_family == AF_INET6 &&
                     IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)own)->sin6_addr));
        if (addr_equal(own, a->salen, from, fromlen) || wild)
            return true;
    }
    return false;
}

/* Listeners from listen words, as the worker holds them. */
static struct listener *make(char **words, size_t nwords, size_t *n)
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

/* The index and the walk agree on one source; counts the sources found ours. */
static void agree(const struct dgram_own *own, const struct listener *l, size_t n,
                  const struct sockaddr *from, socklen_t fromlen, unsigned *ours)
{
    const char *why = NULL;
    bool bad = dgram_bad_source(own, from, fromlen, &why);
    bool want = walk_own(l, n, from, fromlen);
    /* Port 0, chatty ports and casts are refused before either looks. */
    if (bad && strcmp(why, OWN) != 0)
        return;
    if (bad != want) {
        char text[ADDR_FMT_MAX];
        addr_format(from, fromlen, text, sizeof text);
        fprintf(stderr, "\n  %s: index says %s, walk says %s\n", text, bad ? "ours" : "not ours",
                want ? "ours" : "not ours");
    }
    CU_ASSERT_EQUAL(bad, want);
    *ours += want;
}

/* 1,000 listeners: UDP on IPv4 and IPv6 (some ports shared by several
 * addresses, some wildcards), TCP on the same ports, unix-dgram and unix
 * stream sockets; sources at and around each of them. */
static void test_thousand_listeners(void)
{
    char *words[1000];
    size_t nw = 0;
    for (int i = 0; i < 100; i++) {
        char w[128];
        int p = 30000 + i * 3;
        snprintf(w, sizeof w, "udp://127.0.0.1:%d", p), words[nw++] = strdup(w);
        snprintf(w, sizeof w, "udp://127.0.0.2:%d", p), words[nw++] = strdup(w);
        snprintf(w, sizeof w, "udp://[::1]:%d", p), words[nw++] = strdup(w);
        snprintf(w, sizeof w, "tcp://127.0.0.1:%d", p + 1), words[nw++] = strdup(w);
        snprintf(w, sizeof w, "tcp://[::1]:%d", p + 1), words[nw++] = strdup(w);
        snprintf(w, sizeof w, "udp://%s:%d", i % 10 ? "127.0.0.3" : "*", p + 2),
            words[nw++] = strdup(w);
        snprintf(w, sizeof w, "unix-dgram:/tmp/superd-own-%d.sock", i), words[nw++] = strdup(w);
        snprintf(w, sizeof w, "unix-dgram:@superd-own-%d", i), words[nw++] = strdup(w);
        snprintf(w, sizeof w, "unix:/tmp/superd-stream-%d.sock", i), words[nw++] = strdup(w);
        snprintf(w, sizeof w, "udp://[::ffff:127.0.0.9]:%d", p), words[nw++] = strdup(w);
    }
    size_t n;
    struct listener *l = make(words, nw, &n);
    CU_ASSERT_EQUAL_FATAL(n >= 1000, true);
    struct dgram_own *own;
    CU_ASSERT_EQUAL_FATAL(dgram_own_build(&own, l, n), 0);

    unsigned ours = 0, tried = 0;
    /* Every listener's own address, and its port on other addresses. */
    for (size_t i = 0; i < n; i++) {
        const struct sockaddr *sa = (const struct sockaddr *)&l[i].addr.sa;
        agree(own, l, n, sa, l[i].addr.salen, &ours), tried++;
        if (sa->sa_family == AF_UNIX) {
            /* The same bytes one longer, and one shorter: not the same. */
            struct sockaddr_un u;
            memcpy(&u, sa, sizeof u);
            agree(own, l, n, (struct sockaddr *)&u, l[i].addr.salen + 1, &ours), tried++;
            agree(own, l, n, (struct sockaddr *)&u, l[i].addr.salen - 1, &ours), tried++;
            continue;
        }
        static const char *const v4[] = { "127.0.0.1", "127.0.0.2", "127.0.0.3", "10.1.2.3" };
        static const char *const v6[] = { "::1", "2001:db8::1", "::ffff:127.0.0.1",
                                          "::ffff:127.0.0.9" };
        unsigned port = addr_port(sa);
        for (unsigned d = 0; d < 3; d++) {
            for (size_t k = 0; k < 4; k++) {
                struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port + d) };
                struct sockaddr_in6 b = { .sin6_family = AF_INET6, .sin6_port = htons(port + d) };
                inet_pton(AF_INET, v4[k], &a.sin_addr);
                inet_pton(AF_INET6, v6[k], &b.sin6_addr);
                agree(own, l, n, (struct sockaddr *)&a, sizeof a, &ours), tried++;
                agree(own, l, n, (struct sockaddr *)&b, sizeof b, &ours), tried++;
                b.sin6_scope_id = 1;
                agree(own, l, n, (struct sockaddr *)&b, sizeof b, &ours), tried++;
            }
        }
    }
    /* Clients: unnamed unix sockets and other paths. */
    struct sockaddr_un u = { .sun_family = AF_UNIX };
    agree(own, l, n, (struct sockaddr *)&u, sizeof(sa_family_t), &ours), tried++;
    for (int i = 0; i < 200; i++) {
        snprintf(u.sun_path, sizeof u.sun_path, "/tmp/client-%d.sock", i);
        agree(own, l, n, (struct sockaddr *)&u,
              (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(u.sun_path) + 1),
              &ours), tried++;
    }
    /* Both answers happen, many times each. */
    CU_ASSERT(ours > 500);
    CU_ASSERT(tried - ours > 5000);

    dgram_own_free(own);
    free(l);
    for (size_t i = 0; i < nw; i++)
        free(words[i]);
}

/* No listener, or no datagram listener: nothing is ours. */
static void test_empty(void)
{
    const char *why = NULL;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(5000),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    CU_ASSERT_FALSE(dgram_bad_source(NULL, (struct sockaddr *)&a, sizeof a, &why));
    char *words[] = { "tcp://127.0.0.1:5000", "unix:/tmp/superd-s.sock" };
    size_t n;
    struct listener *l = make(words, 2, &n);
    struct dgram_own *own;
    CU_ASSERT_EQUAL_FATAL(dgram_own_build(&own, l, n), 0);
    CU_ASSERT_FALSE(dgram_bad_source(own, (struct sockaddr *)&a, sizeof a, &why));
    dgram_own_free(own);
    dgram_own_free(NULL);
    free(l);
}

int test_core_dgram_own_register(void)
{
    static const struct tc_test tests[] = {
        { "dgram_own: 1,000 listeners: the index agrees with a walk of all", test_thousand_listeners },
        { "dgram_own: no datagram listener", test_empty },
    };
    return tc_register("core: dgram own listeners", NULL, NULL, tests,
                       sizeof tests / sizeof tests[0]);
}
