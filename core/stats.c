/* stats.c - counters shared by the master and its workers. */
#include "stats.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static struct stats *mapped;

struct stats *stats_create(void)
{
    void *p = mmap(NULL, sizeof(struct stats), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    mapped = p;
    return p;
}

struct stats *stats_mapped(void)
{
    return mapped;
}

void stats_destroy(struct stats *st)
{
    if (st == mapped)
        mapped = NULL;
    if (st)
        munmap(st, sizeof *st);
}

/* A worker may be looking names up while the master changes a slot: the
 * first byte is written last when a slot is taken and first when it is
 * freed, so a reader never matches a half-written name. */
static bool slot_is(const struct stats *st, int i, const char *name)
{
    return __atomic_load_n(&st->svc[i].name[0], __ATOMIC_ACQUIRE) == name[0] &&
           name[0] && strcmp(st->svc[i].name, name) == 0;
}

static bool slot_free(const struct stats *st, int i)
{
    return __atomic_load_n(&st->svc[i].name[0], __ATOMIC_ACQUIRE) == '\0';
}

static int find(const struct stats *st, const char *name)
{
    for (int i = 0; i < STATS_MAX_SERVICES; i++)
        if (slot_is(st, i, name))
            return i;
    return -ENOENT;
}

static void free_slot(struct stats *st, int i)
{
    __atomic_store_n(&st->svc[i].name[0], '\0', __ATOMIC_RELEASE);
    st->svc[i].assigned = false;
    st->svc[i].users = 0;
}

int stats_service_slot(struct stats *st, const char *name)
{
    int i = find(st, name);
    if (i >= 0)
        return i;
    for (i = 0; i < STATS_MAX_SERVICES && !slot_free(st, i); i++)
        ;
    if (i == STATS_MAX_SERVICES || !name[0])
        return -ENOSPC;
    struct stats_service *s = &st->svc[i];
    memset(&s->retired, 0, sizeof s->retired);
    s->assigned = false;
    s->users = 0;
    /* No row serves a free slot, but clear it anyway: its counters start at 0. */
    for (int w = 0; w < STATS_MAX_WORKERS; w++)
        memset(&st->rows[w][i], 0, sizeof st->rows[w][i]);
    snprintf(s->name + 1, sizeof s->name - 1, "%s", name + 1);
    __atomic_store_n(&s->name[0], name[0], __ATOMIC_RELEASE);
    return i;
}

/* Is `name` an enabled service of c? */
static bool in_conf(const struct conf *c, const char *name)
{
    for (size_t i = 0; i < c->nsvcs; i++)
        if (c->svcs[i].enabled && strncmp(c->svcs[i].name, name, STATS_NAME_MAX - 1) == 0)
            return true;
    return false;
}

int stats_fit(const struct stats *st, const struct conf *c, char *err, size_t errlen)
{
    size_t want = 0;
    for (size_t i = 0; i < c->nsvcs; i++)
        want += c->svcs[i].enabled;
    /* Slots of services that c drops but whose workers still run. */
    int held = 0;
    for (int i = 0; i < STATS_MAX_SERVICES; i++)
        if (!slot_free(st, i) && st->svc[i].users > 0 && !in_conf(c, st->svc[i].name))
            held++;
    if (want <= (size_t)(STATS_MAX_SERVICES - held))
        return 0;
    if (held && want <= STATS_MAX_SERVICES)
        snprintf(err, errlen, "%s: %zu services, but superd can count (limits and statistics) "
                 "only %d more while workers of the earlier configuration still serve %d "
                 "others; retry once they have finished", c->path, want,
                 STATS_MAX_SERVICES - held, held);
    else
        snprintf(err, errlen, "%s: %zu services, but superd can count (limits and statistics) "
                 "at most %d", c->path, want, STATS_MAX_SERVICES);
    return -ENOSPC;
}

int stats_assign(struct stats *st, const struct conf *c, char *err, size_t errlen)
{
    int r = stats_fit(st, c, err, errlen);
    if (r < 0)
        return r;
    for (int i = 0; i < STATS_MAX_SERVICES; i++) {
        if (slot_free(st, i) || in_conf(c, st->svc[i].name))
            continue;
        st->svc[i].assigned = false;
        if (st->svc[i].users <= 0)
            free_slot(st, i);
    }
    for (size_t i = 0; i < c->nsvcs; i++) {
        if (!c->svcs[i].enabled)
            continue;
        int slot = stats_service_slot(st, c->svcs[i].name);
        if (slot < 0) {     /* cannot happen after stats_fit */
            snprintf(err, errlen, "[%s] no statistics slot left", c->svcs[i].name);
            return slot;
        }
        st->svc[slot].assigned = true;
    }
    return 0;
}

int stats_worker_take(struct stats *st)
{
    for (int w = 0; w < STATS_MAX_WORKERS; w++) {
        if (st->worker_used[w])
            continue;
        __atomic_store_n(&st->worker_ready[w], 0, __ATOMIC_RELAXED);
        memset(st->rows[w], 0, sizeof st->rows[w]);
        memset(st->serves[w], 0, sizeof st->serves[w]);
        __atomic_store_n(&st->row_active[w], 0, __ATOMIC_RELAXED);
        for (int i = 0; i < STATS_MAX_SERVICES; i++) {
            if (slot_free(st, i) || !st->svc[i].assigned)
                continue;
            st->serves[w][i / 64] |= 1ull << (i % 64);
            st->svc[i].users++;
        }
        __atomic_store_n(&st->worker_used[w], true, __ATOMIC_RELEASE);
        return w;
    }
    return -ENOSPC;
}

_Static_assert((sizeof(struct stats_row) - offsetof(struct stats_row, accepted)) %
               sizeof(uint64_t) == 0, "stats_row: only uint64_t counters after active");

/* Add every counter of r to `to` (not `active`): the fields after it are
 * all uint64_t, summed as an array. */
static void fold(struct stats_row *to, const struct stats_row *r)
{
    enum { N = (sizeof(struct stats_row) - offsetof(struct stats_row, accepted)) /
               sizeof(uint64_t) };
    uint64_t *t = &to->accepted;
    const uint64_t *f = &r->accepted;
    for (size_t i = 0; i < N; i++)
        t[i] += __atomic_load_n(&f[i], __ATOMIC_RELAXED);
}

void stats_refused(struct stats_row *row, enum stats_refusal why)
{
    STATS_ADD(row, refused, 1);
    STATS_ADD(row, refused_by[why], 1);
}

void stats_closed(struct stats_row *row, long long ms)
{
    static const long long bounds[] = STATS_LIFETIME_BOUNDS;
    size_t b = 0;
    while (b < sizeof bounds / sizeof bounds[0] && ms > bounds[b])
        b++;
    STATS_ADD(row, closed, 1);
    STATS_ADD(row, lifetime_ms, (uint64_t)(ms < 0 ? 0 : ms));
    STATS_ADD(row, lifetime[b], 1);
}

void stats_worker_release(struct stats *st, int w)
{
    if (w < 0 || w >= STATS_MAX_WORKERS || !st->worker_used[w])
        return;
    /* Out of every sum first: its connections died with it. */
    __atomic_store_n(&st->worker_used[w], false, __ATOMIC_RELEASE);
    for (int i = 0; i < STATS_MAX_SERVICES; i++) {
        fold(&st->svc[i].retired, &st->rows[w][i]);
        memset(&st->rows[w][i], 0, sizeof st->rows[w][i]);
        if (!(st->serves[w][i / 64] & 1ull << (i % 64)))
            continue;
        if (--st->svc[i].users <= 0 && !st->svc[i].assigned && !slot_free(st, i))
            free_slot(st, i);
    }
    memset(st->serves[w], 0, sizeof st->serves[w]);
    __atomic_store_n(&st->row_active[w], 0, __ATOMIC_RELAXED);
}

void stats_sum(const struct stats *st, int service, struct stats_row *out)
{
    *out = st->svc[service].retired;
    out->active = 0;
    for (int w = 0; w < STATS_MAX_WORKERS; w++) {
        if (!__atomic_load_n(&st->worker_used[w], __ATOMIC_ACQUIRE))
            continue;
        fold(out, &st->rows[w][service]);
        out->active += __atomic_load_n(&st->rows[w][service].active, __ATOMIC_RELAXED);
    }
}

/* Open connections across every live row: of one service, or (service < 0)
 * of all.  Sequentially consistent with the increments in
 * stats_conn_admit, so of two workers racing for the last place at least
 * one sees the other. */
static int64_t active_sum(const struct stats *st, int service)
{
    int64_t n = 0;
    for (int w = 0; w < STATS_MAX_WORKERS; w++) {
        if (!__atomic_load_n(&st->worker_used[w], __ATOMIC_SEQ_CST))
            continue;
        n += service < 0 ? __atomic_load_n(&st->row_active[w], __ATOMIC_SEQ_CST)
                         : __atomic_load_n(&st->rows[w][service].active, __ATOMIC_SEQ_CST);
    }
    return n;
}

bool stats_conn_admit(struct stats *st, int w, int service, int64_t max_service,
                      int64_t max_total)
{
    if (w < 0 || w >= STATS_MAX_WORKERS || service < 0 || service >= STATS_MAX_SERVICES)
        return max_service <= 0 && max_total <= 0;
    /* Count first, then check: a worker that dies in between takes its
     * whole row with it, so nothing leaks. */
    __atomic_fetch_add(&st->rows[w][service].active, 1, __ATOMIC_SEQ_CST);
    __atomic_fetch_add(&st->row_active[w], 1, __ATOMIC_SEQ_CST);
    if ((max_service > 0 && active_sum(st, service) > max_service) ||
        (max_total > 0 && active_sum(st, -1) > max_total)) {
        stats_conn_release(st, w, service);
        return false;
    }
    return true;
}

void stats_conn_release(struct stats *st, int w, int service)
{
    if (w < 0 || w >= STATS_MAX_WORKERS || service < 0 || service >= STATS_MAX_SERVICES)
        return;
    __atomic_fetch_sub(&st->row_active[w], 1, __ATOMIC_SEQ_CST);
    __atomic_fetch_sub(&st->rows[w][service].active, 1, __ATOMIC_SEQ_CST);
}
