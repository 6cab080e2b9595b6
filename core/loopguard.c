/* loopguard.c - the per-worker datagram loop budget (GCRA per source). */
#include "loopguard.h"

#include <stdint.h>
#include <string.h>
#include <sys/random.h>

struct guard_entry {
    uint64_t key;           /* 0: free */
    long long tat_us;       /* theoretical arrival time of the next reply */
};

static struct guard_entry table[LOOPGUARD_SLOTS];
static uint64_t seed;

/* FNV-1a over the seed and the address, finished with a mixer: the seed
 * makes the slot of an address unpredictable from outside. */
static uint64_t hash(int svc, const struct sockaddr *sa, socklen_t salen)
{
    if (!seed && getrandom(&seed, sizeof seed, GRND_NONBLOCK) != sizeof seed)
        seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)&seed;
    uint64_t h = 1469598103934665603ull ^ seed ^ (uint64_t)svc;
    const unsigned char *p = (const unsigned char *)sa;
    for (socklen_t i = 0; i < salen; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h ? h : 1;
}

bool loopguard_pass(int svc, const struct sockaddr *sa, socklen_t salen,
                    const struct conf_rate *rate, long long now_ms)
{
    if (!rate->count)
        return true;
    /* Only the address and port matter: sockaddr padding is zero here,
     * but hash the meaningful bytes only, to be sure. */
    socklen_t n = salen;
    if (sa->sa_family == AF_INET)
        n = 8;                  /* family, port, address */
    else if (sa->sa_family == AF_INET6)
        n = 24;                 /* family, port, flowinfo, address */
    uint64_t k = hash(svc, sa, n);
    struct guard_entry *e = &table[k % LOOPGUARD_SLOTS];
    long long now_us = now_ms * 1000;
    long long interval = (long long)rate->per_ms * 1000 / rate->count;
    if (!interval)
        interval = 1;
    /* GCRA: one reply per interval, and up to count - 1 ahead of time
     * (a burst of count). */
    long long tolerance = interval * (long long)(rate->count - 1);
    if (e->key != k) {
        e->key = k;
        e->tat_us = now_us;
    }
    long long tat = e->tat_us > now_us ? e->tat_us : now_us;
    if (tat - now_us > tolerance)
        return false;
    e->tat_us = tat + interval;
    return true;
}
