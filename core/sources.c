/* sources.c - the shared per-source table.
 *
 * Buckets of BUCKET_SLOTS entries; a key may live in either of its two
 * buckets (picked by a keyed SipHash), and entries never move, so a worker
 * killed in the middle of an update leaves no half-moved entry behind.
 * One process-shared robust mutex guards the table.
 *
 * Each (service, source) has one aggregate entry (worker -1: its open
 * connections in total and its rate buckets) and, per worker row holding
 * connections from it, one entry with that row's count.  The rows are the
 * truth: an aggregate's count is the sum of its rows'.  So when a worker
 * dies holding the lock (EOWNERDEAD) the next locker recounts every
 * aggregate from the rows, and when a worker is gone its row's entries are
 * dropped (by the next locker: the master never takes the lock).
 *
 * Rate buckets are GCRA: one "theoretical arrival time" each, the moment
 * the bucket is full again.  An aggregate with no connection whose buckets
 * are full holds no state and ages out.  When both buckets of a new key
 * are full, the idle aggregate nearest to full is evicted; if a bucket of
 * it is still limiting (refusing), its debt is kept in a ghost slot (by the
 * same keyed hash), which a new entry of that key starts from: eviction
 * never hands a limited source a fresh bucket.
 */
#include "sources.h"

#include "loop.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUCKET_SLOTS 8
#define NBUCKETS (SOURCES_CAPACITY / BUCKET_SLOTS)
#define NGHOSTS 65536
/* Stale aggregates looked at (and dropped) per locked operation. */
#define SWEEP_STEP 8

struct src_entry {
    uint8_t used;           /* written last when made, first when dropped */
    uint8_t family;
    uint8_t bits;           /* the prefix length */
    uint8_t pad;
    int16_t svc;
    int16_t worker;         /* -1: the aggregate */
    uint8_t addr[16];       /* masked to the prefix */
    int32_t active;         /* open connections */
    int32_t recount;        /* scratch of the repair */
    int64_t rate_tat;       /* ns: the rate_limit bucket is full from then on */
    int64_t rate_open;      /* ns: it refuses until then (it is limiting) */
    int64_t reply_tat;      /* ns: the same for the reply budget */
    int64_t reply_open;
};

/* The buckets' debt of evicted aggregates. */
struct ghost {
    int64_t rate_tat;
    int64_t reply_tat;
};

struct sources {
    pthread_mutex_t lock;
    uint64_t k0, k1;        /* SipHash key, drawn at creation */
    unsigned used;
    unsigned sweep;         /* the next slot to age */
    uint64_t gone[SOURCES_ROWS / 64];  /* rows to drop (set by the master) */
    struct ghost ghosts[NGHOSTS];
    struct src_entry e[SOURCES_CAPACITY];
};

struct key {
    uint64_t w[3];          /* svc, worker, family, bits | addr */
};

/* ---- the keyed hash: SipHash-1-3 over the key's three words ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND(v0, v1, v2, v3) do { \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2; \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0; \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
    } while (0)

static uint64_t siphash(const struct sources *s, const struct key *k)
{
    uint64_t v0 = s->k0 ^ 0x736f6d6570736575ull, v1 = s->k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = s->k0 ^ 0x6c7967656e657261ull, v3 = s->k1 ^ 0x7465646279746573ull;
    for (int i = 0; i < 3; i++) {
        v3 ^= k->w[i];
        SIPROUND(v0, v1, v2, v3);
        v0 ^= k->w[i];
    }
    uint64_t b = (uint64_t)sizeof k->w << 56;
    v3 ^= b;
    SIPROUND(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

/* A per-start key: getrandom, or (never seen in practice) the clock and
 * the pid, which at least differ from start to start. */
static void draw_key(struct sources *s)
{
    uint64_t k[2];
    if (getrandom(k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        k[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
        k[1] = (uint64_t)ts.tv_sec * 0xc2b2ae3d27d4eb4full ^ (uint64_t)(uintptr_t)s;
    }
    s->k0 = k[0];
    s->k1 = k[1];
}

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
    draw_key(s);
    return s;
}

void sources_destroy(struct sources *s)
{
    if (s)
        munmap(s, sizeof *s);
}

/* ---- keys and slots ---- */

static void mask(uint8_t *addr, unsigned len, unsigned bits)
{
    for (unsigned i = 0; i < len; i++) {
        unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;
        addr[i] &= (uint8_t)(0xff00u >> keep);
    }
}

int sources_peer_uid(int fd, struct sockaddr *out)
{
    struct ucred cr;
    socklen_t len = sizeof cr;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
        return -errno;
    uint32_t uid = (uint32_t)cr.uid;
    memset(out, 0, sizeof *out);
    out->sa_family = SOURCES_AF_UID;
    memcpy(out->sa_data + 2, &uid, sizeof uid);
    return 0;
}

bool sources_is_uid(const struct sockaddr *sa, unsigned *uid)
{
    if (!sa || sa->sa_family != SOURCES_AF_UID)
        return false;
    uint32_t u;
    memcpy(&u, sa->sa_data + 2, sizeof u);
    *uid = u;
    return true;
}

/* False for addresses that are neither IP nor a uid (other unix peers: no
 * per-source state). */
static bool make_key(struct key *k, int svc, int worker, const struct sockaddr *sa,
                     const struct conf_service *cs)
{
    uint8_t addr[16] = { 0 };
    unsigned family, bits;
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (sa->sa_family == AF_INET) {
        family = AF_INET;
        memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(a6)) {
        family = AF_INET;   /* one source, however it arrives */
        memcpy(addr, a6->s6_addr + 12, 4);
    } else if (sa->sa_family == AF_INET6) {
        family = AF_INET6;
        memcpy(addr, a6->s6_addr, 16);
    } else if (sources_is_uid(sa, &bits)) {
        /* A uid: a key of its own family (AF_UNIX), whole. */
        uint32_t uid = bits;
        memcpy(addr, &uid, sizeof uid);
        k->w[0] = (uint64_t)(uint16_t)svc | (uint64_t)(uint16_t)worker << 16 |
                  (uint64_t)AF_UNIX << 32 | (uint64_t)32 << 40;
        memcpy(&k->w[1], addr, 16);
        return true;
    } else {
        return false;
    }
    if (family == AF_INET) {
        bits = cs->source_prefix_v4 > 0 ? (unsigned)cs->source_prefix_v4 : SOURCES_PREFIX_V4;
        mask(addr, 4, bits > 32 ? 32 : bits);
    } else {
        bits = cs->source_prefix_v6 > 0 ? (unsigned)cs->source_prefix_v6 : SOURCES_PREFIX_V6;
        mask(addr, 16, bits > 128 ? 128 : bits);
    }
    k->w[0] = (uint64_t)(uint16_t)svc | (uint64_t)(uint16_t)worker << 16 |
              (uint64_t)family << 32 | (uint64_t)bits << 40;
    memcpy(&k->w[1], addr, 16);
    return true;
}

static void entry_key(const struct src_entry *e, int worker, struct key *k)
{
    k->w[0] = (uint64_t)(uint16_t)e->svc | (uint64_t)(uint16_t)worker << 16 |
              (uint64_t)e->family << 32 | (uint64_t)e->bits << 40;
    memcpy(&k->w[1], e->addr, 16);
}

static bool same(const struct src_entry *e, const struct key *k)
{
    struct key ek;
    if (!e->used)
        return false;
    entry_key(e, e->worker, &ek);
    return memcmp(&ek, k, sizeof ek) == 0;
}

/* The two buckets of a key (distinct) and its ghost slot. */
static void place(const struct sources *s, const struct key *k, unsigned b[2], unsigned *ghost)
{
    uint64_t h = siphash(s, k);
    b[0] = (unsigned)(h % NBUCKETS);
    b[1] = (unsigned)((h >> 21) % NBUCKETS);
    if (b[1] == b[0])
        b[1] = (b[0] + 1) % NBUCKETS;
    if (ghost)
        *ghost = (unsigned)((h >> 42) % NGHOSTS);
}

static struct src_entry *lookup(struct sources *s, const struct key *k)
{
    unsigned b[2];
    place(s, k, b, NULL);
    for (int j = 0; j < 2; j++)
        for (unsigned i = 0; i < BUCKET_SLOTS; i++)
            if (same(&s->e[b[j] * BUCKET_SLOTS + i], k))
                return &s->e[b[j] * BUCKET_SLOTS + i];
    return NULL;
}

static int64_t now_ns(void)
{
    return clock_now_ms() * 1000000;
}

static int64_t later(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* Holds nothing: no connection and full buckets. */
static bool stale(const struct src_entry *e, int64_t now)
{
    return e->active <= 0 && e->rate_tat <= now && e->reply_tat <= now;
}

static void drop(struct sources *s, struct src_entry *e)
{
    __atomic_store_n(&e->used, 0, __ATOMIC_RELEASE);
    s->used--;
}

/* Evict aggregate e (idle), keeping the debt of a limiting bucket in its
 * ghost slot. */
static void evict(struct sources *s, struct src_entry *e, int64_t now)
{
    if (e->rate_open > now || e->reply_open > now) {
        struct key k;
        unsigned b[2], g;
        entry_key(e, -1, &k);
        place(s, &k, b, &g);
        s->ghosts[g].rate_tat = later(s->ghosts[g].rate_tat, e->rate_tat);
        s->ghosts[g].reply_tat = later(s->ghosts[g].reply_tat, e->reply_tat);
    }
    drop(s, e);
}

/*
 * The entry of k, made if absent: in a free slot of its emptier bucket,
 * else in place of the idle aggregate nearest to full in either bucket
 * (never `keep`).  NULL when every slot holds connections.
 */
static struct src_entry *get(struct sources *s, const struct key *k, const struct src_entry *keep)
{
    struct src_entry *e = lookup(s, k);
    if (e)
        return e;
    unsigned b[2], g, nfree[2] = { 0, 0 };
    struct src_entry *slot[2] = { NULL, NULL }, *victim = NULL;
    int64_t now = now_ns(), best = INT64_MAX;
    place(s, k, b, &g);
    for (int j = 0; j < 2; j++) {
        for (unsigned i = 0; i < BUCKET_SLOTS; i++) {
            struct src_entry *c = &s->e[b[j] * BUCKET_SLOTS + i];
            if (!c->used) {
                nfree[j]++;
                slot[j] = c;
            } else if (c != keep && c->active <= 0 && c->recount <= 0) {
                int64_t full = later(c->rate_tat, c->reply_tat);
                if (c->worker != -1)
                    full = INT64_MIN;   /* a row entry at 0 should not exist: reuse */
                if (full < best) {
                    best = full;
                    victim = c;
                }
            }
        }
    }
    e = nfree[0] >= nfree[1] ? slot[0] : slot[1];
    if (!e && !victim)
        return NULL;
    if (!e) {
        evict(s, victim, now);
        e = victim;
    }
    struct src_entry n = { 0 };
    n.svc = (int16_t)(k->w[0] & 0xffff);
    n.worker = (int16_t)(k->w[0] >> 16 & 0xffff);
    n.family = (uint8_t)(k->w[0] >> 32 & 0xff);
    n.bits = (uint8_t)(k->w[0] >> 40 & 0xff);
    memcpy(n.addr, &k->w[1], 16);
    if (n.worker == -1) {
        /* Whatever an evicted entry of this key still owed. */
        n.rate_tat = n.rate_open = s->ghosts[g].rate_tat > now ? s->ghosts[g].rate_tat : 0;
        n.reply_tat = n.reply_open = s->ghosts[g].reply_tat > now ? s->ghosts[g].reply_tat : 0;
    }
    *e = n;
    __atomic_store_n(&e->used, 1, __ATOMIC_RELEASE);
    s->used++;
    return e;
}

/* ---- repairs, under the lock ---- */

/* A worker died holding the lock: recount every aggregate from its rows
 * (they are the truth), and `used`. */
static void recount(struct sources *s)
{
    unsigned used = 0;
    for (unsigned i = 0; i < SOURCES_CAPACITY; i++)
        s->e[i].recount = 0;
    for (unsigned i = 0; i < SOURCES_CAPACITY; i++) {
        struct src_entry *e = &s->e[i];
        if (!e->used || e->worker == -1)
            continue;
        struct key k;
        entry_key(e, -1, &k);
        /* get() never evicts an aggregate that has a recount. */
        struct src_entry *agg = get(s, &k, NULL);
        if (agg)
            agg->recount += e->active;
    }
    for (unsigned i = 0; i < SOURCES_CAPACITY; i++) {
        struct src_entry *e = &s->e[i];
        if (e->used && e->worker == -1)
            e->active = e->recount;
        e->recount = 0;
        used += e->used;
    }
    s->used = used;
}

/* Drop the entries of rows that are gone, and their counts. */
static void drop_gone(struct sources *s)
{
    uint64_t gone[SOURCES_ROWS / 64];
    for (unsigned i = 0; i < SOURCES_ROWS / 64; i++)
        gone[i] = __atomic_load_n(&s->gone[i], __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < SOURCES_CAPACITY; i++) {
        struct src_entry *e = &s->e[i];
        if (!e->used || e->worker < 0 || e->worker >= SOURCES_ROWS ||
            !(gone[e->worker / 64] & 1ull << (e->worker % 64)))
            continue;
        struct key k;
        entry_key(e, -1, &k);
        struct src_entry *agg = lookup(s, &k);
        if (agg)
            agg->active = agg->active > e->active ? agg->active - e->active : 0;
        drop(s, e);
    }
    for (unsigned i = 0; i < SOURCES_ROWS / 64; i++)
        __atomic_fetch_and(&s->gone[i], ~gone[i], __ATOMIC_RELEASE);
}

/* Age a few aggregates: those holding nothing are dropped. */
static void sweep(struct sources *s)
{
    int64_t now = now_ns();
    for (unsigned n = 0; n < SWEEP_STEP; n++) {
        struct src_entry *e = &s->e[s->sweep];
        s->sweep = (s->sweep + 1) % SOURCES_CAPACITY;
        if (e->used && e->worker == -1 && stale(e, now))
            drop(s, e);
    }
}

static void lock(struct sources *s)
{
    /* A worker died holding the lock: its update may be half done. */
    if (pthread_mutex_lock(&s->lock) == EOWNERDEAD) {
        recount(s);
        pthread_mutex_consistent(&s->lock);
    }
    bool gone = false;
    for (unsigned i = 0; i < SOURCES_ROWS / 64; i++)
        gone |= __atomic_load_n(&s->gone[i], __ATOMIC_ACQUIRE) != 0;
    if (gone)
        drop_gone(s);
    sweep(s);
}

static void unlock(struct sources *s)
{
    pthread_mutex_unlock(&s->lock);
}

/* ---- rate buckets ---- */

/* GCRA: admit one event at `rate` (burst rate->count) if the bucket's
 * arrival time is within the burst of now, and move it on; *open is when
 * it admits again. */
static bool take(int64_t *tat, int64_t *open, const struct conf_rate *rate, int64_t now)
{
    int64_t t = (int64_t)rate->per_ms * 1000000 / (int64_t)rate->count;
    if (t < 1)
        t = 1;
    int64_t tau = t * ((int64_t)rate->count - 1);
    int64_t base = later(*tat, now);
    if (base - now > tau)
        return false;
    *tat = base + t;
    *open = *tat - tau;
    return true;
}

/* ---- the API ---- */

enum src_verdict sources_admit(struct sources *s, int svc, int worker, const struct sockaddr *sa,
                               const struct conf_service *cs, bool counted)
{
    struct key k, own_key;
    if (!s || !make_key(&k, svc, -1, sa, cs))
        return SRC_OK;
    bool count = counted && cs->max_per_source > 0 && worker >= 0 && worker < SOURCES_ROWS;
    enum src_verdict v = SRC_OK;
    lock(s);
    struct src_entry *agg = get(s, &k, NULL), *own = NULL;
    if (!agg) {
        v = SRC_FULL;
        goto out;
    }
    if (counted && cs->max_per_source > 0 && agg->active >= cs->max_per_source) {
        v = SRC_TOO_MANY;
        goto out;
    }
    if (count) {
        make_key(&own_key, svc, worker, sa, cs);
        own = get(s, &own_key, agg);
        if (!own) {
            v = SRC_FULL;
            goto out;
        }
    }
    if (cs->rate_limit.count && !take(&agg->rate_tat, &agg->rate_open, &cs->rate_limit, now_ns())) {
        if (own && own->active <= 0)
            drop(s, own);
        v = SRC_RATE;
        goto out;
    }
    /* Two stores: a worker killed between them leaves the aggregate off,
     * and the next locker recounts it from the rows. */
    if (own) {
        own->active++;
        agg->active++;
    }
out:
    unlock(s);
    return v;
}

void sources_release(struct sources *s, int svc, int worker, const struct sockaddr *sa,
                     const struct conf_service *cs)
{
    struct key k;
    if (!s || cs->max_per_source <= 0 || !make_key(&k, svc, worker, sa, cs))
        return;
    lock(s);
    /* Absent when its row was dropped as gone: nothing left to give back. */
    struct src_entry *own = lookup(s, &k);
    if (own) {
        entry_key(own, -1, &k);
        struct src_entry *agg = lookup(s, &k);
        if (--own->active <= 0)
            drop(s, own);
        if (agg && agg->active > 0)
            agg->active--;
    }
    unlock(s);
}

bool sources_reply(struct sources *s, int svc, const struct sockaddr *sa,
                   const struct conf_service *cs, const struct conf_rate *rate)
{
    struct key k;
    if (!s || !rate->count || !make_key(&k, svc, -1, sa, cs))
        return true;
    lock(s);
    struct src_entry *agg = get(s, &k, NULL);
    bool ok = agg ? take(&agg->reply_tat, &agg->reply_open, rate, now_ns()) : false;
    unlock(s);
    return ok;
}

void sources_worker_gone(struct sources *s, int worker)
{
    if (!s || worker < 0 || worker >= SOURCES_ROWS)
        return;
    __atomic_fetch_or(&s->gone[worker / 64], 1ull << (worker % 64), __ATOMIC_RELEASE);
}

unsigned sources_used(struct sources *s)
{
    return s ? __atomic_load_n(&s->used, __ATOMIC_RELAXED) : 0;
}
