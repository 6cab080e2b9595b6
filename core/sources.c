/* sources.c - the shared per-source table.
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones), under one process-shared robust mutex: if a worker dies
 * holding it, the next locker is told (EOWNERDEAD) and carries on.  Each
 * (service, address) has one aggregate entry (worker -1: the total of open
 * connections and the token buckets) and, per worker holding connections
 * from it, one entry with that worker's count, so a dead worker's
 * connections can be given back.  When the table is full, an idle entry
 * (no connections) near the key is evicted: an evicted source only gets a
 * fresh bucket.
 */
#include "sources.h"

#include "loop.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define PROBE_MAX 64

struct src_entry {
    uint8_t used;
    uint8_t family;
    int16_t svc;
    int16_t worker;         /* -1: the aggregate */
    uint8_t addr[16];
    int32_t active;         /* open connections */
    int64_t rate_tokens;    /* in thousandths of a token */
    int64_t rate_ms;        /* last refill */
    int64_t reply_tokens;
    int64_t reply_ms;
};

struct sources {
    pthread_mutex_t lock;
    unsigned used;
    struct src_entry e[SOURCES_CAPACITY];
};

struct key {
    int16_t svc, worker;
    uint8_t family;
    uint8_t addr[16];
};

struct sources *sources_create(void)
{
    struct sources *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED)
        return NULL;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&s->lock, &a);
    pthread_mutexattr_destroy(&a);
    return s;
}

void sources_destroy(struct sources *s)
{
    if (s)
        munmap(s, sizeof *s);
}

static void lock(struct sources *s)
{
    /* A worker died holding the lock: the table may be off by one entry's
     * update, which is better than stopping every worker. */
    if (pthread_mutex_lock(&s->lock) == EOWNERDEAD)
        pthread_mutex_consistent(&s->lock);
}

static void unlock(struct sources *s)
{
    pthread_mutex_unlock(&s->lock);
}

/* False for addresses that are not IP (unix peers: no per-source state). */
static bool make_key(struct key *k, int svc, int worker, const struct sockaddr *sa)
{
    memset(k, 0, sizeof *k);
    k->svc = (int16_t)svc;
    k->worker = (int16_t)worker;
    if (sa->sa_family == AF_INET) {
        k->family = AF_INET;
        memcpy(k->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {     /* one source, however it arrives */
            k->family = AF_INET;
            memcpy(k->addr, a6->s6_addr + 12, 4);
        } else {
            k->family = AF_INET6;
            memcpy(k->addr, a6->s6_addr, 16);
        }
    } else {
        return false;
    }
    return true;
}

static unsigned hash(const struct key *k)
{
    /* FNV-1a over the key's bytes. */
    uint32_t h = 2166136261u;
    const uint8_t *p = (const uint8_t *)k;
    for (size_t i = 0; i < sizeof *k; i++)
        h = (h ^ p[i]) * 16777619u;
    return h % SOURCES_CAPACITY;
}

static bool same(const struct src_entry *e, const struct key *k)
{
    return e->used && e->svc == k->svc && e->worker == k->worker &&
           e->family == k->family && memcmp(e->addr, k->addr, 16) == 0;
}

static unsigned home(const struct src_entry *e)
{
    struct key k = { .svc = e->svc, .worker = e->worker, .family = e->family };
    memcpy(k.addr, e->addr, 16);
    return hash(&k);
}

/* Remove entry i, shifting later entries of its run back into place. */
static void del(struct sources *s, unsigned i)
{
    s->e[i].used = 0;
    s->used--;
    unsigned j = i;
    for (;;) {
        j = (j + 1) % SOURCES_CAPACITY;
        if (!s->e[j].used)
            return;
        unsigned h = home(&s->e[j]);
        /* Can entry j move to the hole at i?  Yes unless its home lies
         * cyclically in (i, j]. */
        bool stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
        if (stays)
            continue;
        s->e[i] = s->e[j];
        s->e[j].used = 0;
        i = j;
    }
}

/* The entry of k, created (without eviction) if `create`. */
static struct src_entry *probe(struct sources *s, const struct key *k, bool create)
{
    unsigned h = hash(k);
    for (unsigned n = 0; n < PROBE_MAX; n++) {
        struct src_entry *e = &s->e[(h + n) % SOURCES_CAPACITY];
        if (same(e, k))
            return e;
        if (e->used)
            continue;
        /* Past 7/8 full, keep probe runs short: evict instead. */
        if (!create || s->used >= SOURCES_CAPACITY / 8 * 7)
            return NULL;
        memset(e, 0, sizeof *e);
        e->used = 1;
        e->svc = k->svc;
        e->worker = k->worker;
        e->family = k->family;
        memcpy(e->addr, k->addr, 16);
        e->rate_tokens = e->reply_tokens = -1;  /* full on first use */
        s->used++;
        return e;
    }
    return NULL;
}

/* The entry of k, created if `create`; NULL when absent or no room even
 * after evicting idle entries near its home. */
static struct src_entry *find(struct sources *s, const struct key *k, bool create)
{
    for (int tries = 0; tries < 8; tries++) {
        struct src_entry *e = probe(s, k, create);
        if (e || !create)
            return e;
        /* An idle aggregate's only state is its buckets: evict it. */
        unsigned h = hash(k), n;
        for (n = 0; n < PROBE_MAX; n++) {
            unsigned i = (h + n) % SOURCES_CAPACITY;
            if (s->e[i].used && s->e[i].worker == -1 && s->e[i].active == 0) {
                del(s, i);
                break;
            }
        }
        if (n == PROBE_MAX)
            return NULL;
    }
    return NULL;
}

/* Take one token from a bucket of `rate` (burst: rate->count). */
static bool take(int64_t *tokens, int64_t *last, const struct conf_rate *rate, long long now)
{
    int64_t cap = (int64_t)rate->count * 1000;
    if (*tokens < 0) {
        *tokens = cap;
        *last = now;
    } else if (now > *last) {
        /* A full period refills the bucket: cap it, so no product overflows. */
        int64_t elapsed = now - *last > rate->per_ms ? rate->per_ms : now - *last;
        int64_t add = elapsed * (int64_t)rate->count * 1000 / rate->per_ms;
        if (add > 0) {
            *tokens = *tokens + add > cap ? cap : *tokens + add;
            *last = now;
        }
    }
    if (*tokens < 1000)
        return false;
    *tokens -= 1000;
    return true;
}

enum src_verdict sources_admit(struct sources *s, int svc, int worker, const struct sockaddr *sa,
                               long max_per_source, const struct conf_rate *rate, bool counted)
{
    struct key k;
    if (!s || !make_key(&k, svc, -1, sa))
        return SRC_OK;
    enum src_verdict v = SRC_OK;
    lock(s);
    struct src_entry *agg = find(s, &k, true);
    if (!agg) {
        v = SRC_FULL;
        goto out;
    }
    if (max_per_source > 0 && agg->active >= max_per_source) {
        v = SRC_TOO_MANY;
        goto out;
    }
    if (rate->count && !take(&agg->rate_tokens, &agg->rate_ms, rate, clock_now_ms())) {
        v = SRC_RATE;
        goto out;
    }
    if (counted && max_per_source > 0) {
        /* Count it first: find() evicts only idle aggregates, never this one. */
        agg->active++;
        k.worker = (int16_t)worker;
        struct src_entry *own = find(s, &k, true);
        /* find may have moved entries: look the aggregate up again. */
        k.worker = -1;
        agg = find(s, &k, false);
        if (!own) {
            if (agg && agg->active > 0)
                agg->active--;
            v = SRC_FULL;
            goto out;
        }
        own->active++;
    }
out:
    unlock(s);
    return v;
}

void sources_release(struct sources *s, int svc, int worker, const struct sockaddr *sa)
{
    struct key k;
    if (!s || !make_key(&k, svc, worker, sa))
        return;
    lock(s);
    struct src_entry *own = find(s, &k, false);
    if (own) {
        if (--own->active <= 0)
            del(s, (unsigned)(own - s->e));
        k.worker = -1;
        struct src_entry *agg = find(s, &k, false);
        if (agg && agg->active > 0)
            agg->active--;
    }
    unlock(s);
}

bool sources_reply(struct sources *s, int svc, const struct sockaddr *sa,
                   const struct conf_rate *rate)
{
    struct key k;
    if (!s || !make_key(&k, svc, -1, sa))
        return true;
    lock(s);
    struct src_entry *agg = find(s, &k, true);
    bool ok = agg ? take(&agg->reply_tokens, &agg->reply_ms, rate, clock_now_ms()) : false;
    unlock(s);
    return ok;
}

void sources_worker_gone(struct sources *s, int worker)
{
    if (!s)
        return;
    lock(s);
    for (unsigned i = 0; i < SOURCES_CAPACITY; i++) {
        struct src_entry *e = &s->e[i];
        if (!e->used || e->worker != worker)
            continue;
        struct key k = { .svc = e->svc, .worker = -1, .family = e->family };
        memcpy(k.addr, e->addr, 16);
        int32_t gone = e->active;
        del(s, i);
        struct src_entry *agg = find(s, &k, false);
        if (agg)
            agg->active = agg->active > gone ? agg->active - gone : 0;
        /* del may have shifted an unvisited entry into slot i. */
        if (s->e[i].used)
            i--;
    }
    unlock(s);
}

unsigned sources_used(struct sources *s)
{
    return s ? s->used : 0;
}
