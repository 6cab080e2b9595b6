/* stats.c - counters shared by the master and its workers. */
#include "stats.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

struct stats *stats_create(void)
{
    void *p = mmap(NULL, sizeof(struct stats), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void stats_destroy(struct stats *st)
{
    if (st)
        munmap(st, sizeof *st);
}

int stats_service_slot(struct stats *st, const char *name)
{
    int free_slot = -1;
    for (int i = 0; i < STATS_MAX_SERVICES; i++) {
        if (strcmp(st->svc[i].name, name) == 0)
            return i;
        if (free_slot < 0 && st->svc[i].name[0] == '\0')
            free_slot = i;
    }
    if (free_slot < 0)
        return -ENOSPC;
    struct stats_service *s = &st->svc[free_slot];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    for (int w = 0; w < STATS_MAX_WORKERS; w++)
        memset(&st->rows[w][free_slot], 0, sizeof st->rows[w][free_slot]);
    return free_slot;
}

void stats_service_release(struct stats *st, const bool keep[STATS_MAX_SERVICES])
{
    for (int i = 0; i < STATS_MAX_SERVICES; i++)
        if (!keep[i])
            st->svc[i].name[0] = '\0';
}

int stats_worker_take(struct stats *st)
{
    for (int w = 0; w < STATS_MAX_WORKERS; w++) {
        if (!st->worker_used[w]) {
            st->worker_used[w] = true;
            __atomic_store_n(&st->worker_ready[w], 0, __ATOMIC_RELAXED);
            memset(st->rows[w], 0, sizeof st->rows[w]);
            return w;
        }
    }
    return -ENOSPC;
}

static void fold(struct stats_row *to, const struct stats_row *r)
{
    to->accepted += r->accepted;
    to->refused += r->refused;
    to->bytes_in += r->bytes_in;
    to->bytes_out += r->bytes_out;
    to->dgrams_in += r->dgrams_in;
    to->dgrams_out += r->dgrams_out;
    to->loop_drops += r->loop_drops;
}

void stats_worker_release(struct stats *st, int w)
{
    if (w < 0 || w >= STATS_MAX_WORKERS || !st->worker_used[w])
        return;
    for (int i = 0; i < STATS_MAX_SERVICES; i++) {
        struct stats_row *r = &st->rows[w][i];
        fold(&st->svc[i].retired, r);
        /* Its connections died with it: free their slots. */
        int64_t gone = __atomic_load_n(&r->active, __ATOMIC_RELAXED);
        if (gone) {
            __atomic_fetch_sub(&st->svc[i].active, gone, __ATOMIC_RELAXED);
            __atomic_fetch_sub(&st->active, gone, __ATOMIC_RELAXED);
        }
        memset(r, 0, sizeof *r);
    }
    st->worker_used[w] = false;
}

void stats_sum(const struct stats *st, int service, struct stats_row *out)
{
    *out = st->svc[service].retired;
    out->active = __atomic_load_n(&st->svc[service].active, __ATOMIC_RELAXED);
    for (int w = 0; w < STATS_MAX_WORKERS; w++)
        if (st->worker_used[w])
            fold(out, &st->rows[w][service]);
}

bool stats_conn_admit(struct stats *st, int service, int64_t max_service, int64_t max_total)
{
    int64_t *svc = &st->svc[service].active;
    if (__atomic_add_fetch(svc, 1, __ATOMIC_RELAXED) > max_service && max_service > 0) {
        __atomic_fetch_sub(svc, 1, __ATOMIC_RELAXED);
        return false;
    }
    if (__atomic_add_fetch(&st->active, 1, __ATOMIC_RELAXED) > max_total && max_total > 0) {
        __atomic_fetch_sub(&st->active, 1, __ATOMIC_RELAXED);
        __atomic_fetch_sub(svc, 1, __ATOMIC_RELAXED);
        return false;
    }
    return true;
}

void stats_conn_release(struct stats *st, int service)
{
    __atomic_fetch_sub(&st->svc[service].active, 1, __ATOMIC_RELAXED);
    __atomic_fetch_sub(&st->active, 1, __ATOMIC_RELAXED);
}
