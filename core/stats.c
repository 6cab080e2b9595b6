/* stats.c - counters shared by the master and its workers. */
#include "stats.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static struct stats *mapped;

/*
 * The master's own record of the slots, in its private memory: every
 * decision about slots and rows (what fits, what to take, what to free)
 * is made from it, never from the map, which any worker can write.  The
 * map's names, `assigned`, `users`, hashes, worker_used and serves bits
 * are a copy the master publishes for the workers' look-ups and sums;
 * it writes them and reads them back only to publish a key again that a
 * worker has overwritten (stats_assign).  A process forked from the
 * master (a worker, the check child) inherits a copy it does not use:
 * the book belongs to the process that made the map.
 */
struct book {
    const struct stats *st;                 /* the map it keeps */
    pid_t pid;                              /* the process that made it */
    char name[STATS_MAX_SERVICES][STATS_NAME_MAX];     /* "" when free */
    bool assigned[STATS_MAX_SERVICES];
    int32_t users[STATS_MAX_SERVICES];
    char lsvc[STATS_MAX_LISTENERS][STATS_NAME_MAX];    /* "" when free */
    char llabel[STATS_MAX_LISTENERS][STATS_LABEL_MAX];
    uint32_t lhash[STATS_MAX_LISTENERS];
    bool lassigned[STATS_MAX_LISTENERS];
    int32_t lusers[STATS_MAX_LISTENERS];
    bool used[STATS_MAX_WORKERS];
    uint64_t serves[STATS_MAX_WORKERS][STATS_MAX_SERVICES / 64];
    uint64_t lserves[STATS_MAX_WORKERS][STATS_MAX_LISTENERS / 64];
};

static struct book *book;

/* The book of st, in the process that made st only; NULL elsewhere. */
static struct book *book_of(const struct stats *st)
{
    return book && book->st == st && book->pid == getpid() ? book : NULL;
}

static bool has_bit(const uint64_t *bits, int i)
{
    return bits[i / 64] & 1ull << (i % 64);
}

struct stats *stats_create(void)
{
    struct book *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    /* Mostly listener rows that stay untouched: no reserve for them. */
    void *p = mmap(NULL, sizeof(struct stats), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        free(b);
        return NULL;
    }
    b->st = p;
    b->pid = getpid();
    free(book);     /* one map per process keeps a book: the last made */
    book = b;
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
    if (st && book && book->st == st) {
        free(book);
        book = NULL;
    }
    if (st)
        munmap(st, sizeof *st);
}

/* Write a name into the map for workers to look up: the first byte is
 * cleared first and written last, so a reader never matches a
 * half-written name. */
static void publish_name(char *dst, size_t size, const char *name)
{
    __atomic_store_n(&dst[0], '\0', __ATOMIC_RELEASE);
    if (!name[0])
        return;
    snprintf(dst + 1, size - 1, "%s", name + 1);
    __atomic_store_n(&dst[0], name[0], __ATOMIC_RELEASE);
}

/* ---- service slots: look-ups in the map (workers) ---- */

static bool slot_is(const struct stats *st, int i, const char *name)
{
    return __atomic_load_n(&st->svc[i].name[0], __ATOMIC_ACQUIRE) == name[0] &&
           name[0] && strcmp(st->svc[i].name, name) == 0;
}

static int find(const struct stats *st, const char *name)
{
    for (int i = 0; i < STATS_MAX_SERVICES; i++)
        if (slot_is(st, i, name))
            return i;
    return -ENOENT;
}

/* ---- service slots: the master's book ---- */

static int bfind(const struct book *b, const char *name)
{
    for (int i = 0; i < STATS_MAX_SERVICES; i++)
        if (name[0] && strncmp(b->name[i], name, STATS_NAME_MAX - 1) == 0)
            return i;
    return -ENOENT;
}

/* Publish slot i's `assigned` and `users` (the metrics read `assigned`). */
static void publish_svc(struct stats *st, const struct book *b, int i)
{
    st->svc[i].assigned = b->assigned[i];
    st->svc[i].users = b->users[i];
}

static void free_slot(struct stats *st, struct book *b, int i)
{
    b->name[i][0] = '\0';
    b->assigned[i] = false;
    b->users[i] = 0;
    __atomic_store_n(&st->svc[i].name[0], '\0', __ATOMIC_RELEASE);
    publish_svc(st, b, i);
}

/* The book's slot of `name`, taking a free one if it has none. */
static int bslot(struct stats *st, struct book *b, const char *name)
{
    int i = bfind(b, name);
    if (i >= 0)
        return i;
    for (i = 0; i < STATS_MAX_SERVICES && b->name[i][0]; i++)
        ;
    if (i == STATS_MAX_SERVICES || !name[0])
        return -ENOSPC;
    snprintf(b->name[i], sizeof b->name[i], "%s", name);
    b->assigned[i] = false;
    b->users[i] = 0;
    struct stats_service *s = &st->svc[i];
    __atomic_store_n(&s->name[0], '\0', __ATOMIC_RELEASE);
    memset(&s->retired, 0, sizeof s->retired);
    publish_svc(st, b, i);
    /* No row serves a free slot, but clear it anyway: its counters start at 0. */
    for (int w = 0; w < STATS_MAX_WORKERS; w++)
        memset(&st->rows[w][i], 0, sizeof st->rows[w][i]);
    publish_name(s->name, sizeof s->name, b->name[i]);
    return i;
}

int stats_service_slot(struct stats *st, const char *name)
{
    struct book *b = book_of(st);
    return b ? bslot(st, b, name) : find(st, name);
}

/* Is `name` an enabled service of c? */
static bool in_conf(const struct conf *c, const char *name)
{
    for (size_t i = 0; i < c->nsvcs; i++)
        if (c->svcs[i].enabled && strncmp(c->svcs[i].name, name, STATS_NAME_MAX - 1) == 0)
            return true;
    return false;
}

/* ---- listener slots ---- */

/* FNV-1a of the service's name and the label. */
static uint32_t lhash(const char *svc, const char *label)
{
    uint32_t h = 2166136261u;
    for (const char *p = svc; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ 0xffu) * 16777619u;
    for (const char *p = label; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h;
}

static int lfind(const struct stats *st, const char *svc, const char *label, uint32_t h)
{
    if (!svc[0])
        return -ENOENT;
    for (int i = 0; i < STATS_MAX_LISTENERS; i++) {
        const struct stats_listener *l = &st->lsn[i];
        if (st->lhash[i] == h && __atomic_load_n(&l->svc[0], __ATOMIC_ACQUIRE) == svc[0] &&
            strncmp(l->svc, svc, STATS_NAME_MAX - 1) == 0 &&
            strncmp(l->label, label, STATS_LABEL_MAX - 1) == 0)
            return i;
    }
    return -ENOENT;
}

/* The same look-up in the master's book. */
static int blfind(const struct book *b, const char *svc, const char *label, uint32_t h)
{
    if (!svc[0])
        return -ENOENT;
    for (int i = 0; i < STATS_MAX_LISTENERS; i++)
        if (b->lhash[i] == h && b->lsvc[i][0] &&
            strncmp(b->lsvc[i], svc, STATS_NAME_MAX - 1) == 0 &&
            strncmp(b->llabel[i], label, STATS_LABEL_MAX - 1) == 0)
            return i;
    return -ENOENT;
}

static void publish_lsn(struct stats *st, const struct book *b, int i)
{
    st->lsn[i].assigned = b->lassigned[i];
    st->lsn[i].users = b->lusers[i];
}

static void lfree_slot(struct stats *st, struct book *b, int i)
{
    b->lsvc[i][0] = '\0';
    b->lassigned[i] = false;
    b->lusers[i] = 0;
    __atomic_store_n(&st->lsn[i].svc[0], '\0', __ATOMIC_RELEASE);
    publish_lsn(st, b, i);
}

void stats_listener_label(const struct laddr *a, char *out, size_t size)
{
    /* a->text is "KIND ADDRESS" ("tcp 127.0.0.1:7", "unix /run/x.sock"). */
    const char *sp = strchr(a->text, ' ');
    if (!sp) {
        snprintf(out, size, "%s", a->text);
        return;
    }
    snprintf(out, size, "%.*s%s%s", (int)(sp - a->text), a->text,
             addr_is_unix(a->kind) ? ":" : "://", sp + 1);
}

int stats_listener_slot(const struct stats *st, const char *svc, const char *label)
{
    return lfind(st, svc, label, lhash(svc, label));
}

/* The book's slot of listener `label` of service `name`, or -ENOENT. */
static int blslot(const struct book *b, const char *name, const char *label)
{
    char svc[STATS_NAME_MAX];
    snprintf(svc, sizeof svc, "%s", name);
    return blfind(b, svc, label, lhash(svc, label));
}

/* Mark in keep[] the slots that listeners of c have now; the number of
 * listeners of c. */
static size_t mark_kept(const struct book *b, const struct conf *c, bool *keep)
{
    size_t n = 0;
    char label[STATS_LABEL_MAX];
    memset(keep, 0, STATS_MAX_LISTENERS * sizeof *keep);
    for (size_t i = 0; i < c->nsvcs; i++) {
        if (!c->svcs[i].enabled)
            continue;
        for (size_t a = 0; a < c->svcs[i].naddrs; a++, n++) {
            stats_listener_label(&c->svcs[i].addrs[a], label, sizeof label);
            int slot = blslot(b, c->svcs[i].name, label);
            if (slot >= 0)
                keep[slot] = true;
        }
    }
    return n;
}

static int listeners_fit(const struct book *b, const struct conf *c, char *err, size_t errlen)
{
    bool keep[STATS_MAX_LISTENERS];
    size_t want = mark_kept(b, c, keep);
    /* Slots of listeners that c drops but whose workers still run. */
    int held = 0;
    for (int i = 0; i < STATS_MAX_LISTENERS; i++)
        if (b->lsvc[i][0] && b->lusers[i] > 0 && !keep[i])
            held++;
    if (want <= (size_t)(STATS_MAX_LISTENERS - held))
        return 0;
    if (held && want <= STATS_MAX_LISTENERS)
        snprintf(err, errlen, "%s: %zu listeners, but superd can count (statistics) only %d "
                 "more while workers of the earlier configuration still serve %d others; "
                 "retry once they have finished", c->path, want, STATS_MAX_LISTENERS - held,
                 held);
    else
        snprintf(err, errlen, "%s: %zu listeners, but superd can count (statistics) at most %d",
                 c->path, want, STATS_MAX_LISTENERS);
    return -ENOSPC;
}

/* Take a free slot for (svc, label); -ENOSPC when none is left. */
static int ltake(struct stats *st, struct book *b, const char *svc, const char *label,
                 uint32_t h)
{
    int i;
    for (i = 0; i < STATS_MAX_LISTENERS && b->lsvc[i][0]; i++)
        ;
    if (i == STATS_MAX_LISTENERS || !svc[0])
        return -ENOSPC;
    snprintf(b->lsvc[i], sizeof b->lsvc[i], "%s", svc);
    snprintf(b->llabel[i], sizeof b->llabel[i], "%s", label);
    b->lhash[i] = h;
    b->lassigned[i] = false;
    b->lusers[i] = 0;
    struct stats_listener *l = &st->lsn[i];
    __atomic_store_n(&l->svc[0], '\0', __ATOMIC_RELEASE);
    memset(&l->retired, 0, sizeof l->retired);
    publish_lsn(st, b, i);
    st->lhash[i] = h;
    snprintf(l->label, sizeof l->label, "%s", b->llabel[i]);
    publish_name(l->svc, sizeof l->svc, b->lsvc[i]);
    return i;
}

/* Publish listener slot i's key again where a worker has overwritten it,
 * so that new workers find their listeners. */
static void republish_lsn(struct stats *st, const struct book *b, int i)
{
    struct stats_listener *l = &st->lsn[i];
    if (st->lhash[i] == b->lhash[i] &&
        strncmp(l->svc, b->lsvc[i], STATS_NAME_MAX) == 0 &&
        strncmp(l->label, b->llabel[i], STATS_LABEL_MAX) == 0)
        return;
    __atomic_store_n(&l->svc[0], '\0', __ATOMIC_RELEASE);
    st->lhash[i] = b->lhash[i];
    snprintf(l->label, sizeof l->label, "%s", b->llabel[i]);
    publish_name(l->svc, sizeof l->svc, b->lsvc[i]);
}

/* After listeners_fit: the listeners of c are the assigned ones. */
static void listeners_assign(struct stats *st, struct book *b, const struct conf *c)
{
    bool keep[STATS_MAX_LISTENERS];
    char label[STATS_LABEL_MAX];
    mark_kept(b, c, keep);
    for (int i = 0; i < STATS_MAX_LISTENERS; i++) {
        if (!b->lsvc[i][0] || keep[i])
            continue;
        b->lassigned[i] = false;
        if (b->lusers[i] <= 0)
            lfree_slot(st, b, i);
        else
            publish_lsn(st, b, i);
    }
    for (size_t i = 0; i < c->nsvcs; i++) {
        if (!c->svcs[i].enabled)
            continue;
        char name[STATS_NAME_MAX];
        snprintf(name, sizeof name, "%s", c->svcs[i].name);
        for (size_t a = 0; a < c->svcs[i].naddrs; a++) {
            stats_listener_label(&c->svcs[i].addrs[a], label, sizeof label);
            uint32_t h = lhash(name, label);
            int slot = blfind(b, name, label, h);
            if (slot < 0)
                slot = ltake(st, b, name, label, h);
            if (slot >= 0) {    /* always, after listeners_fit */
                b->lassigned[slot] = true;
                publish_lsn(st, b, slot);
                republish_lsn(st, b, slot);
            }
        }
    }
}

struct stats_lrow *stats_listener_row(struct stats *st, int w, const char *svc,
                                      const struct laddr *a)
{
    char name[STATS_NAME_MAX], label[STATS_LABEL_MAX];
    if (!st || w < 0 || w >= STATS_MAX_WORKERS)
        return NULL;
    snprintf(name, sizeof name, "%s", svc);
    stats_listener_label(a, label, sizeof label);
    int i = stats_listener_slot(st, name, label);
    /* Only a slot this row serves: its release folds and clears it. */
    if (i < 0 || !(st->lserves[w][i / 64] & 1ull << (i % 64)))
        return NULL;
    return &st->lrows[w][i];
}

_Static_assert((sizeof(struct stats_lrow) - offsetof(struct stats_lrow, accepted)) %
               sizeof(uint64_t) == 0, "stats_lrow: only uint64_t counters after active");

/* Add every counter of r to `to` (not `active`), as fold() does. */
static void lfold(struct stats_lrow *to, const struct stats_lrow *r)
{
    enum { N = (sizeof(struct stats_lrow) - offsetof(struct stats_lrow, accepted)) /
               sizeof(uint64_t) };
    uint64_t *t = &to->accepted;
    const uint64_t *f = &r->accepted;
    for (size_t i = 0; i < N; i++)
        t[i] += __atomic_load_n(&f[i], __ATOMIC_RELAXED);
}

void stats_listener_sum(const struct stats *st, int slot, struct stats_lrow *out)
{
    *out = st->lsn[slot].retired;
    out->active = 0;
    for (int w = 0; w < STATS_MAX_WORKERS; w++) {
        if (!__atomic_load_n(&st->worker_used[w], __ATOMIC_ACQUIRE))
            continue;
        lfold(out, &st->lrows[w][slot]);
        out->active += __atomic_load_n(&st->lrows[w][slot].active, __ATOMIC_RELAXED);
    }
}

static int services_fit(const struct book *b, const struct conf *c, char *err,
                        size_t errlen)
{
    size_t want = 0;
    for (size_t i = 0; i < c->nsvcs; i++)
        want += c->svcs[i].enabled;
    /* Slots of services that c drops but whose workers still run. */
    int held = 0;
    for (int i = 0; i < STATS_MAX_SERVICES; i++)
        if (b->name[i][0] && b->users[i] > 0 && !in_conf(c, b->name[i]))
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

static int fit(const struct book *b, const struct conf *c, char *err, size_t errlen)
{
    int r = services_fit(b, c, err, errlen);
    return r < 0 ? r : listeners_fit(b, c, err, errlen);
}

int stats_fit(const struct stats *st, const struct conf *c, char *err, size_t errlen)
{
    const struct book *b = book_of(st);
    if (!b) {
        snprintf(err, errlen, "statistics: not the master's map");
        return -EINVAL;
    }
    return fit(b, c, err, errlen);
}

int stats_assign(struct stats *st, const struct conf *c, char *err, size_t errlen)
{
    int r = stats_fit(st, c, err, errlen);
    if (r < 0)
        return r;
    struct book *b = book_of(st);
    for (int i = 0; i < STATS_MAX_SERVICES; i++) {
        if (!b->name[i][0] || in_conf(c, b->name[i]))
            continue;
        b->assigned[i] = false;
        if (b->users[i] <= 0)
            free_slot(st, b, i);
        else
            publish_svc(st, b, i);
    }
    for (size_t i = 0; i < c->nsvcs; i++) {
        if (!c->svcs[i].enabled)
            continue;
        int slot = bslot(st, b, c->svcs[i].name);
        if (slot < 0) {     /* cannot happen after stats_fit */
            snprintf(err, errlen, "[%s] no statistics slot left", c->svcs[i].name);
            return slot;
        }
        b->assigned[slot] = true;
        publish_svc(st, b, slot);
        /* A worker may have overwritten the name: new workers look it up. */
        if (strncmp(st->svc[slot].name, b->name[slot], STATS_NAME_MAX) != 0)
            publish_name(st->svc[slot].name, sizeof st->svc[slot].name, b->name[slot]);
    }
    listeners_assign(st, b, c);
    return 0;
}

/* Row w serves the slots assigned now, in the book and in the map. */
static void serve_assigned(struct stats *st, struct book *b, int w)
{
    memset(b->serves[w], 0, sizeof b->serves[w]);
    for (int i = 0; i < STATS_MAX_SERVICES; i++) {
        if (!b->name[i][0] || !b->assigned[i])
            continue;
        b->serves[w][i / 64] |= 1ull << (i % 64);
        b->users[i]++;
        publish_svc(st, b, i);
    }
    memcpy(st->serves[w], b->serves[w], sizeof st->serves[w]);
    memset(b->lserves[w], 0, sizeof b->lserves[w]);
    for (int i = 0; i < STATS_MAX_LISTENERS; i++) {
        if (!b->lsvc[i][0] || !b->lassigned[i])
            continue;
        /* Zero already (a release clears what it folds); made sure. */
        memset(&st->lrows[w][i], 0, sizeof st->lrows[w][i]);
        b->lserves[w][i / 64] |= 1ull << (i % 64);
        b->lusers[i]++;
        publish_lsn(st, b, i);
    }
    memcpy(st->lserves[w], b->lserves[w], sizeof st->lserves[w]);
}

int stats_worker_take(struct stats *st)
{
    struct book *b = book_of(st);
    if (!b)
        return -EINVAL;
    for (int w = 0; w < STATS_MAX_WORKERS; w++) {
        if (b->used[w])
            continue;
        __atomic_store_n(&st->worker_ready[w], 0, __ATOMIC_RELAXED);
        memset(st->rows[w], 0, sizeof st->rows[w]);
        __atomic_store_n(&st->row_active[w], 0, __ATOMIC_RELAXED);
        serve_assigned(st, b, w);
        b->used[w] = true;
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
    struct book *b = book_of(st);
    if (!b || w < 0 || w >= STATS_MAX_WORKERS || !b->used[w])
        return;
    /* Out of every sum first: its connections died with it. */
    b->used[w] = false;
    __atomic_store_n(&st->worker_used[w], false, __ATOMIC_RELEASE);
    for (int i = 0; i < STATS_MAX_SERVICES; i++) {
        fold(&st->svc[i].retired, &st->rows[w][i]);
        memset(&st->rows[w][i], 0, sizeof st->rows[w][i]);
        if (!has_bit(b->serves[w], i))
            continue;
        if (--b->users[i] <= 0 && !b->assigned[i] && b->name[i][0])
            free_slot(st, b, i);
        else
            publish_svc(st, b, i);
    }
    memset(b->serves[w], 0, sizeof b->serves[w]);
    memset(st->serves[w], 0, sizeof st->serves[w]);
    __atomic_store_n(&st->row_active[w], 0, __ATOMIC_RELAXED);
    /* Only the listener rows it served are counted (and cleared). */
    for (int i = 0; i < STATS_MAX_LISTENERS; i++) {
        if (!has_bit(b->lserves[w], i))
            continue;
        lfold(&st->lsn[i].retired, &st->lrows[w][i]);
        memset(&st->lrows[w][i], 0, sizeof st->lrows[w][i]);
        if (--b->lusers[i] <= 0 && !b->lassigned[i] && b->lsvc[i][0])
            lfree_slot(st, b, i);
        else
            publish_lsn(st, b, i);
    }
    memset(b->lserves[w], 0, sizeof b->lserves[w]);
    memset(st->lserves[w], 0, sizeof st->lserves[w]);
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
