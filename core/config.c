/* config.c - the INI configuration, parsed with inih.
 *
 * inih hands the handler no line numbers and silently cuts long lines,
 * section names and keys.  So it reads through our own line reader, which
 * counts lines and refuses what inih would truncate; the handler then knows
 * the line of every key it is given.  What each key means (its section,
 * type, field and limits) is a row of the table in conf_keys.c; this file
 * reads, refuses duplicates, finds the row and runs its setter.
 */
#include "config.h"
#include "conf_keys.h"

#include <errno.h>
#include <glob.h>
#include <ini.h>
#include <limits.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* inih's limits on names (its MAX_SECTION and MAX_NAME, minus the NUL). */
#define NAME_MAX_LEN 49
/* The largest configuration file read, so a wrong -c cannot eat memory. */
#define FILE_MAX (4 * 1024 * 1024)

/* A key seen in a section, to refuse duplicates with both places named. */
struct seen {
    const struct conf_file *scope;  /* NULL, or the file for per-file keys */
    const struct conf_file *file;   /* where it was first given */
    char *section;
    char *key;
    int line;
    size_t hash;
};

/*
 * Every (section, key) of one load, the main file and its includes
 * together, so that an included file cannot silently override a key of
 * [superd].  An open-addressing hash set: a file with 100,000 plugin keys
 * must not take a quadratic scan on every key (the master parses on reload).
 */
struct seen_set {
    struct seen *v;         /* cap slots; a slot with key NULL is free */
    size_t cap;             /* 0 or a power of two */
    size_t n;
};

struct conf_parse {
    const struct conf_file *file;   /* the file being read */
    int depth;              /* of includes */
    const char *text;       /* the whole file */
    size_t pos;
    int line;               /* line just handed to inih */
    struct conf *conf;
    char *section;          /* current section, as read by the reader */
    struct seen_set *seen;  /* shared by the main file and its includes */
    char *err;
    size_t errlen;
    int rc;                 /* first error, or 0 */
};

static void vformat(char *buf, size_t size, const char *path, int line, const char *section,
                    const char *key, const char *fmt, va_list ap)
    __attribute__((format(printf, 7, 0)));

/* Format "FILE:LINE: [section] key: message" into buf. */
static void vformat(char *buf, size_t size, const char *path, int line, const char *section,
                    const char *key, const char *fmt, va_list ap)
{
    int n = snprintf(buf, size, "%s:%d: ", path, line);
    if (n < 0 || (size_t)n >= size)
        return;
    if (section && *section)
        n += snprintf(buf + n, size - (size_t)n, "[%s] ", section);
    if ((size_t)n < size && key)
        n += snprintf(buf + n, size - (size_t)n, "%s: ", key);
    if ((size_t)n >= size)
        return;
    vsnprintf(buf + n, size - (size_t)n, fmt, ap);
}

static void fail(struct conf_parse *p, int rc, int line, const char *section,
                 const char *key, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Record the first error as "FILE:LINE: [section] key: message". */
static void fail(struct conf_parse *p, int rc, int line, const char *section,
                 const char *key, const char *fmt, ...)
{
    if (p->rc)
        return;
    p->rc = rc;
    va_list ap;
    va_start(ap, fmt);
    vformat(p->err, p->errlen, p->file->path, line, section, key, fmt, ap);
    va_end(ap);
}

static void warn(struct conf_parse *p, int line, const char *section, const char *key,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Keep a warning, in the same form as an error, for conf_load to log: the
 * file is good, but something in it is probably not what was meant. */
static void warn(struct conf_parse *p, int line, const char *section, const char *key,
                 const char *fmt, ...)
{
    struct conf *c = p->conf;
    char msg[CONF_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vformat(msg, sizeof msg, p->file->path, line, section, key, fmt, ap);
    va_end(ap);
    char **v = realloc(c->warnings, (c->nwarnings + 1) * sizeof *v);
    if (!v || !(v[c->nwarnings] = strdup(msg))) {
        if (v)
            c->warnings = v;
        fail(p, -ENOMEM, line, section, key, "out of memory");
        return;
    }
    c->warnings = v;
    c->nwarnings++;
}

static struct conf_service *find_service(struct conf *c, const char *name)
{
    for (size_t i = 0; i < c->nsvcs; i++)
        if (strcmp(c->svcs[i].name, name) == 0)
            return &c->svcs[i];
    return NULL;
}

static int add_service(struct conf_parse *p, const char *name)
{
    struct conf *c = p->conf;
    struct conf_service *v = realloc(c->svcs, (c->nsvcs + 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    c->svcs = v;
    struct conf_service *s = &v[c->nsvcs];
    memset(s, 0, sizeof *s);
    s->name = strdup(name);
    if (!s->name)
        return -ENOMEM;
    s->file = p->file;
    s->line = p->line;
    s->enabled = true;
    s->socket_mode = -1;
    s->idle_timeout_ms = CONF_IDLE_TIMEOUT_MS;
    s->max_lifetime_ms = CONF_MAX_LIFETIME_MS;
    s->udp_guard = true;
    s->udp_per_worker = true;
    c->nsvcs++;
    return 0;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = '\0';
    return s;
}

/*
 * Look at a raw line before inih does: refuse names inih would truncate,
 * and track sections (inih does not report empty ones, nor repeats).
 */
static void inspect_line(struct conf_parse *p, char *raw)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", raw);
    char *s = trim(buf);
    if (*s == '\0' || *s == ';' || *s == '#')
        return;
    if (*s == '[') {
        char *end = strchr(s, ']');
        if (!end) {
            /* Said here, not after inih has read the whole file. */
            fail(p, -EINVAL, p->line, p->section, NULL, "syntax error: '[' without ']'");
            return;
        }
        *end = '\0';
        const char *name = s + 1;
        if (strlen(name) > NAME_MAX_LEN) {
            fail(p, -ENAMETOOLONG, p->line, NULL, NULL,
                 "section name '%s' longer than %d characters", name, NAME_MAX_LEN);
            return;
        }
        if (*name == '\0') {
            fail(p, -EINVAL, p->line, NULL, NULL, "empty section name");
            return;
        }
        free(p->section);
        p->section = strdup(name);
        if (!p->section) {
            fail(p, -ENOMEM, p->line, NULL, NULL, "out of memory");
            return;
        }
        if (strcmp(name, "superd") == 0)
            return;
        struct conf_service *old = find_service(p->conf, name);
        if (strcmp(name, CONF_METRICS_SERVICE) == 0) {
            fail(p, -EINVAL, p->line, name, NULL,
                 "section name reserved for metrics_listen in [superd]");
            return;
        }
        if (old && old->file == p->file) {
            fail(p, -EEXIST, p->line, name, NULL,
                 "section given twice (first at line %d)", old->line);
            return;
        }
        if (old) {
            fail(p, -EEXIST, p->line, name, NULL, "section given twice (first at %s:%d)",
                 old->file->path, old->line);
            return;
        }
        if (add_service(p, name) < 0)
            fail(p, -ENOMEM, p->line, name, NULL, "out of memory");
        return;
    }
    if (raw[0] == ' ' || raw[0] == '\t')
        return;         /* a continuation line: no key of its own */
    size_t klen = strcspn(s, "=:");
    if (s[klen] == '\0') {
        fail(p, -EINVAL, p->line, p->section, NULL,
             "syntax error: expected [section] or key = value");
        return;
    }
    while (klen > 0 && (s[klen - 1] == ' ' || s[klen - 1] == '\t'))
        klen--;
    if (klen > NAME_MAX_LEN)
        fail(p, -ENAMETOOLONG, p->line, p->section, NULL,
             "key '%.*s' longer than %d characters", (int)klen, s, NAME_MAX_LEN);
}

/* inih's line reader: one line a call, counting lines and refusing those
 * longer than inih's buffer (it would read the rest as a new line). */
static char *read_line(char *str, int num, void *stream)
{
    struct conf_parse *p = stream;
    if (p->rc || p->text[p->pos] == '\0')
        return NULL;
    /* A UTF-8 byte order mark (editors on Windows write one) is not text. */
    if (p->pos == 0 && strncmp(p->text, "\xef\xbb\xbf", 3) == 0)
        p->pos = 3;
    const char *start = p->text + p->pos;
    const char *nl = strchr(start, '\n');
    size_t len = nl ? (size_t)(nl - start) + 1 : strlen(start);
    p->pos += len;
    p->line++;
    size_t content = len - (nl ? 1 : 0);
    if (content > 0 && start[content - 1] == '\r')
        content--;
    if (content + 2 > (size_t)num) {
        fail(p, -E2BIG, p->line, p->section, NULL,
             "line longer than %d characters", num - 2);
        return NULL;
    }
    /* Copy without the CR: content, '\n', NUL fit in inih's num bytes. */
    memcpy(str, start, content);
    len = content;
    if (nl)
        str[len++] = '\n';
    str[len] = '\0';
    inspect_line(p, str);
    return p->rc ? NULL : str;
}

static size_t seen_hash(const struct conf_file *scope, const char *section, const char *key)
{
    /* FNV-1a: the keys come from the operator's own file, not a peer. */
    uint64_t h = 14695981039346656037ULL ^ (uint64_t)(uintptr_t)scope;
    for (const char *s = section; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;      /* no byte of a name: a separator */
    for (const char *s = key; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)(h ^ (h >> 29));
}

/* The slot holding (scope, section, key), or the free slot where it would
 * go.  The set must have room (cap > n). */
static struct seen *seen_slot(const struct seen_set *set, const struct conf_file *scope,
                              const char *section, const char *key, size_t hash)
{
    for (size_t i = hash & (set->cap - 1);; i = (i + 1) & (set->cap - 1)) {
        struct seen *e = &set->v[i];
        if (!e->key || (e->hash == hash && e->scope == scope &&
                        strcmp(e->key, key) == 0 && strcmp(e->section, section) == 0))
            return e;
    }
}

/* Double the table (or make the first one); kept at most half full. */
static int seen_grow(struct seen_set *set)
{
    size_t cap = set->cap ? set->cap * 2 : 64;
    struct seen *v = calloc(cap, sizeof *v);
    if (!v)
        return -ENOMEM;
    struct seen_set bigger = { v, cap, set->n };
    for (size_t i = 0; i < set->cap; i++) {
        struct seen *e = &set->v[i];
        if (e->key)
            *seen_slot(&bigger, e->scope, e->section, e->key, e->hash) = *e;
    }
    free(set->v);
    *set = bigger;
    return 0;
}

/* Where (scope, section, key) was first given, or NULL. */
static const struct seen *seen_find(const struct seen_set *set, const struct conf_file *scope,
                                    const char *section, const char *key)
{
    if (set->n == 0)
        return NULL;
    const struct seen *e = seen_slot(set, scope, section, key, seen_hash(scope, section, key));
    return e->key ? e : NULL;
}

static void seen_free(struct seen_set *set)
{
    for (size_t i = 0; i < set->cap; i++) {
        free(set->v[i].section);
        free(set->v[i].key);
    }
    free(set->v);
    *set = (struct seen_set){ 0 };
}

/*
 * Remember (section, key) at the current line; returns where it was first
 * given, or NULL when this is the first time.  `include` is counted per
 * file: an included file may include others.  Out of memory fails p.
 */
static const struct seen *seen_before(struct conf_parse *p, const char *section, const char *key)
{
    struct seen_set *set = p->seen;
    const struct conf_file *scope = strcmp(key, "include") == 0 ? p->file : NULL;
    size_t hash = seen_hash(scope, section, key);
    if ((set->n + 1) * 2 > set->cap) {
        const struct seen *old = seen_find(set, scope, section, key);
        if (old)
            return old;
        if (seen_grow(set) < 0) {
            fail(p, -ENOMEM, p->line, section, key, "out of memory");
            return NULL;
        }
    }
    struct seen *e = seen_slot(set, scope, section, key, hash);
    if (e->key)
        return e;
    *e = (struct seen){ scope, p->file, strdup(section), strdup(key), p->line, hash };
    if (!e->section || !e->key) {
        free(e->section);
        *e = (struct seen){ 0 };
        fail(p, -ENOMEM, p->line, section, key, "out of memory");
        return NULL;
    }
    set->n++;
    return NULL;
}

int conf_parse_duration(const char *s, unsigned *ms)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return -EINVAL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -ERANGE;
    unsigned long long mult;
    if (*end == '\0' || strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "m") == 0)
        mult = 60 * 1000;
    else if (strcmp(end, "h") == 0)
        mult = 3600 * 1000;
    else
        return -EINVAL;
    if (v > UINT_MAX / mult)
        return -ERANGE;
    *ms = (unsigned)(v * mult);
    return 0;
}

int conf_parse_rate(const char *s, struct conf_rate *out)
{
    if (strcmp(s, "none") == 0) {
        *out = (struct conf_rate){ 0, 0 };
        return 0;
    }
    char *end;
    errno = 0;
    if (*s < '1' || *s > '9')
        return -EINVAL;
    unsigned long n = strtoul(s, &end, 10);
    if (errno || n > 1000000000UL)
        return -EINVAL;
    if (strcmp(end, "/s") == 0)
        *out = (struct conf_rate){ (unsigned)n, 1000 };
    else if (strcmp(end, "/m") == 0)
        *out = (struct conf_rate){ (unsigned)n, 60 * 1000 };
    else
        return -EINVAL;
    return 0;
}

int conf_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "yes", "true", "on", "1", NULL };
    static const char *const no[] = { "no", "false", "off", "0", NULL };
    for (int i = 0; yes[i]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

/* workers = auto: one per CPU this process may run on. */
static int auto_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > CONF_WORKERS_MAX ? CONF_WORKERS_MAX : (int)n;
}

static void include(struct conf_parse *p, const char *value);
static char *dir_of(const char *path);

/* conf_keys.h: the first error wins, as with fail(). */
int conf_fail(struct conf_arg *a, int rc, const char *fmt, ...)
{
    struct conf_parse *p = a->p;
    if (p->rc)
        return rc;
    p->rc = rc;
    va_list ap;
    va_start(ap, fmt);
    vformat(p->err, p->errlen, p->file->path, a->line, a->section, a->key->name, fmt, ap);
    va_end(ap);
    return rc;
}

/* conf_keys.h: kept in conf->warnings, as with warn(). */
void conf_warn(struct conf_arg *a, const char *fmt, ...)
{
    char msg[CONF_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    warn(a->p, a->line, a->section, a->key->name, "%s", msg);
}

/* metrics_listen = ADDRESS ... in [superd]: the listeners of the built-in
 * service CONF_METRICS_SERVICE, made on first use. */
int conf_set_metrics_listen(struct conf_arg *a)
{
    struct conf_parse *p = a->p;
    struct conf_service *s = find_service(p->conf, CONF_METRICS_SERVICE);
    if (!s) {
        if (add_service(p, CONF_METRICS_SERVICE) < 0)
            return conf_fail(a, -ENOMEM, "out of memory");
        s = &p->conf->svcs[p->conf->nsvcs - 1];
        s->builtin = "metrics";
        s->line = a->line;
        s->plugin_line = a->line;
    }
    struct conf_arg sub = *a;
    sub.svc = s;
    size_t before = s->naddrs;
    int r = conf_set_listen(&sub);
    if (r < 0)
        return r;
    /* HTTP needs a stream: say so here, under the key the user wrote. */
    for (size_t i = before; i < s->naddrs; i++)
        if (addr_socktype(s->addrs[i].kind) != SOCK_STREAM)
            return conf_fail(a, -EINVAL, "%s: the metrics endpoint is HTTP over a stream: "
                             "use tcp:// or unix:", s->addrs[i].text);
    return 0;
}

/* include = PATTERN, as a row of the key table. */
int conf_set_include(struct conf_arg *a)
{
    include(a->p, a->value);
    return a->p->rc;
}

/* A service's key that no row names: the plugin's, which must read it.
 * The array doubles when nopts reaches a power of two (its capacity). */
static void plugin_key(struct conf_parse *p, struct conf_service *s, const char *key,
                       const char *value)
{
    struct conf_opt *v = s->opts;
    if ((s->nopts & (s->nopts - 1)) == 0) {
        v = realloc(s->opts, (s->nopts ? s->nopts * 2 : 1) * sizeof *v);
        if (!v) {
            fail(p, -ENOMEM, p->line, s->name, key, "out of memory");
            return;
        }
        s->opts = v;
    }
    v[s->nopts] = (struct conf_opt){ strdup(key), strdup(value), p->line, false };
    if (!v[s->nopts].key || !v[s->nopts].value)
        fail(p, -ENOMEM, p->line, s->name, key, "out of memory");
    s->nopts++;
}

/* A required key is missing: if the section has a key one typo away from it
 * (kept for the plugin, which will never be loaded), name that key at its
 * own line, as every other typo is, rather than "missing" at the section. */
static bool fail_near_miss(struct conf_parse *p, const struct conf_service *s,
                           const char *want, const char *also)
{
    for (size_t i = 0; i < s->nopts; i++) {
        const char *key = s->opts[i].key;
        if (conf_one_edit(want, key) || (also && conf_one_edit(also, key))) {
            fail(p, -EINVAL, s->opts[i].line, s->name, key, "unknown key (did you mean %s?)",
                 conf_one_edit(want, key) ? want : also);
            return true;
        }
    }
    return false;
}

/* A program service has no plugin to read the keys the core left: the
 * first of them is a typo, refused as a plugin service's would be. */
static void fail_unread(struct conf_parse *p, const struct conf_service *s)
{
    const struct conf_opt *o = &s->opts[0];
    const char *near = conf_key_suggest(CONF_SERVICE, o->key);
    if (near)
        fail(p, -EINVAL, o->line, s->name, o->key, "unknown key (did you mean %s?)", near);
    else
        fail(p, -EINVAL, o->line, s->name, o->key, "unknown key");
}

/* Set key of [superd] (s NULL) or of service s through its row. */
static void set_key(struct conf_parse *p, struct conf_service *s, const char *key,
                    const char *value)
{
    unsigned where = s ? CONF_SERVICE : CONF_GLOBAL;
    int in = s ? CONF_IN_SERVICE : CONF_IN_GLOBAL;
    const struct conf_key *k = conf_key_find(where, key);
    if (!k && s) {
        plugin_key(p, s, key, value);
        return;
    }
    if (!k) {
        const char *near = conf_key_suggest(where, key);
        if (near)
            fail(p, -EINVAL, p->line, "superd", key, "unknown key (did you mean %s?)", near);
        else
            fail(p, -EINVAL, p->line, "superd", key, "unknown key");
        return;
    }
    char *base = s ? (char *)s : (char *)p->conf;
    struct conf_arg a = { p, k, value, base + k->off[in], p->conf, s, s ? s->name : "superd",
                          p->file->dir, p->line };
    int r = k->set(&a);
    if (r == CONF_PLUGIN_VALUE && s) {
        plugin_key(p, s, key, value);   /* a value the core leaves to the plugin */
        return;
    }
    if (r == 0 && k->line_at[in])
        *(int *)(base + k->line_at[in] - 1) = p->line;
}

static int handler(void *user, const char *section, const char *key, const char *value)
{
    struct conf_parse *p = user;
    if (p->rc)
        return 0;
    if (*section == '\0') {
        fail(p, -EINVAL, p->line, NULL, key, "key outside of any section");
        return 0;
    }
    const struct seen *first = seen_before(p, section, key);
    /* Keys that may repeat: each value adds (tls_cert/tls_key pairs). */
    bool repeats = strcmp(key, "listen") == 0 || strcmp(key, "tls_cert") == 0 ||
                   strcmp(key, "tls_key") == 0;
    if (first && !repeats) {
        if (first->file == p->file)
            fail(p, -EEXIST, p->line, section, key, "given twice (first at line %d)",
                 first->line);
        else
            fail(p, -EEXIST, p->line, section, key, "given twice (first at %s:%d)",
                 first->file->path, first->line);
        return 0;
    }
    if (p->rc)
        return 0;
    if (*value == '\0') {
        fail(p, -EINVAL, p->line, section, key, "empty value");
        return 0;
    }
    struct conf_service *s = NULL;
    if (strcmp(section, "superd") != 0 && !(s = find_service(p->conf, section))) {
        /* the reader adds every section it sees */
        fail(p, -EINVAL, p->line, section, key, "internal error: unknown section");
        return 0;
    }
    set_key(p, s, key, value);
    return p->rc ? 0 : 1;
}

/* Checks of [superd] that need every file read. */
static void check_globals(struct conf_parse *p)
{
    const struct seen *g = seen_find(p->seen, NULL, "superd", "group");
    if (g && !p->conf->user) {
        /* Without user the workers stay root:root; group alone changes nothing. */
        p->file = g->file;
        fail(p, -EINVAL, g->line, "superd", "group", "given without user (set user = NAME "
             "too: group alone changes nothing)");
        p->file = p->conf->files[0];
    }
}

/* One address of an enabled service, for the clash checks. */
struct aref {
    const struct conf_service *s;
    const struct laddr *a;
    size_t pos;             /* file order: services, then their addresses */
};

static int cmp_num(unsigned long x, unsigned long y)
{
    return x < y ? -1 : x > y;
}

/* Order by what a bind would clash on: kind, family and port, then (when
 * `whole`) the rest of the address. */
static int cmp_key(const struct aref *x, const struct aref *y, bool whole)
{
    const struct laddr *a = x->a, *b = y->a;
    int r = cmp_num(a->kind, b->kind);
    if (!r)
        r = cmp_num(a->sa.ss_family, b->sa.ss_family);
    if (!r)
        r = cmp_num(addr_port((const struct sockaddr *)&a->sa),
                    addr_port((const struct sockaddr *)&b->sa));
    if (!r && whole) {
        const struct sockaddr_in *a4 = (const void *)&a->sa, *b4 = (const void *)&b->sa;
        const struct sockaddr_in6 *a6 = (const void *)&a->sa, *b6 = (const void *)&b->sa;
        if (a->sa.ss_family == AF_INET)
            r = memcmp(&a4->sin_addr, &b4->sin_addr, sizeof a4->sin_addr);
        else if (a->sa.ss_family == AF_INET6) {
            r = memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof a6->sin6_addr);
            if (!r)
                r = cmp_num(a6->sin6_scope_id, b6->sin6_scope_id);
        } else {
            r = cmp_num(a->salen, b->salen);
            if (!r)
                r = memcmp(&a->sa, &b->sa, a->salen);
        }
    }
    return r;
}

/* The same, ties in file order. */
static int cmp_aref(const struct aref *x, const struct aref *y, bool whole)
{
    int r = cmp_key(x, y, whole);
    return r ? r : cmp_num(x->pos, y->pos);
}

static int cmp_same(const void *x, const void *y)
{
    return cmp_aref(x, y, true);
}

static int cmp_port(const void *x, const void *y)
{
    return cmp_aref(x, y, false);
}

static bool is_wildcard(const struct laddr *a)
{
    if (a->sa.ss_family == AF_INET)
        return ((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr == htonl(INADDR_ANY);
    if (a->sa.ss_family == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->sa)->sin6_addr);
    return false;
}

/* x clashes with the earlier y: keep the earliest y. */
static void clash(size_t *first, size_t x, size_t y)
{
    if (y < first[x])
        first[x] = y;
}

/*
 * For every address (by file position), the earliest earlier address it
 * cannot be bound next to: the same address, or for TCP the same port
 * where one side is a wildcard (the kernel refuses 127.0.0.1:P next to a
 * listening 0.0.0.0:P even with SO_REUSEADDR; UDP allows it, and a datagram
 * goes to the more specific socket, so that stays allowed).  Sorting keeps
 * it O(n log n): a file may hold a great many addresses.
 */
static void find_clashes(struct aref *v, size_t n, size_t *first)
{
    for (size_t i = 0; i < n; i++)
        first[i] = SIZE_MAX;
    qsort(v, n, sizeof *v, cmp_same);
    for (size_t i = 1, run = 0; i < n; i++) {
        if (cmp_key(&v[i], &v[run], true) != 0)
            run = i;        /* a new address starts a new run */
        else
            clash(first, v[i].pos, v[run].pos);
    }
    qsort(v, n, sizeof *v, cmp_port);
    for (size_t i = 0, group = 0, wild = SIZE_MAX; i < n; i++) {
        if (v[i].a->kind != ADDR_TCP)
            continue;
        if (i == 0 || cmp_key(&v[i], &v[group], false) != 0) {
            group = i;
            wild = is_wildcard(v[i].a) ? v[i].pos : SIZE_MAX;
            continue;
        }
        if (is_wildcard(v[i].a)) {
            clash(first, v[i].pos, v[group].pos);
            if (wild == SIZE_MAX)
                wild = v[i].pos;
        } else if (wild != SIZE_MAX) {
            clash(first, v[i].pos, wild);
        }
    }
}

/* Report address a of s, which cannot be bound next to o's b. */
static void fail_clash(struct conf_parse *p, const struct conf_service *s, const struct laddr *a,
                       const struct conf_service *o, const struct laddr *b)
{
    bool same = addr_equal((const struct sockaddr *)&a->sa, a->salen,
                           (const struct sockaddr *)&b->sa, b->salen);
    const char *how = same ? "already used by" : "overlaps";
    char other[ADDR_TEXT_MAX + 4] = "";
    if (!same)
        snprintf(other, sizeof other, "%s of ", b->text);
    const char *why = same ? "" : " (a wildcard address takes the port on every address)";
    if (o->file == s->file)
        fail(p, -EADDRINUSE, a->line, s->name, "listen", "%s %s %s[%s] at line %d%s",
             a->text, how, other, o->name, b->line, why);
    else
        fail(p, -EADDRINUSE, a->line, s->name, "listen", "%s %s %s[%s] at %s:%d%s",
             a->text, how, other, o->name, o->file->path, b->line, why);
}

/* socket_mode is the only access control of a unix socket: refuse it where
 * it applies to nothing, warn where an abstract socket stays open to all. */
static void check_socket_mode(struct conf_parse *p, const struct conf_service *s)
{
    if (s->socket_mode < 0)
        return;
    const struct seen *k = seen_find(p->seen, NULL, s->name, "socket_mode");
    int line = k ? k->line : s->line;
    const struct laddr *abstract = NULL;
    bool file = false;
    for (size_t i = 0; i < s->naddrs; i++) {
        const struct laddr *a = &s->addrs[i];
        if (addr_unix_path((const struct sockaddr *)&a->sa, a->salen))
            file = true;
        else if (addr_is_unix(a->kind) && !abstract)
            abstract = a;
    }
    if (!file)
        fail(p, -EINVAL, line, s->name, "socket_mode", "applies to no listener: only "
             "unix:PATH and unix-dgram:PATH sockets have a file mode (not tcp, udp or an "
             "abstract unix:@NAME)");
    else if (abstract)
        warn(p, line, s->name, "socket_mode", "does not apply to %s (line %d): an abstract "
             "socket has no file and no mode, anyone may connect to it", abstract->text,
             abstract->line);
}

/* Checks that need the whole file: required keys, addresses used twice. */
static void check_services(struct conf_parse *p)
{
    struct conf *c = p->conf;
    size_t n = 0, enabled = 0;
    for (size_t i = 0; i < c->nsvcs; i++)
        n += c->svcs[i].enabled ? c->svcs[i].naddrs : 0;
    struct aref *byfile = malloc((n ? n : 1) * sizeof *byfile);
    struct aref *sorted = malloc((n ? n : 1) * sizeof *sorted);
    size_t *first = malloc((n ? n : 1) * sizeof *first);
    if (!byfile || !sorted || !first) {
        fail(p, -ENOMEM, 0, NULL, NULL, "out of memory");
        goto out;
    }
    n = 0;
    for (size_t i = 0; i < c->nsvcs; i++)
        for (size_t a = 0; c->svcs[i].enabled && a < c->svcs[i].naddrs; a++, n++)
            byfile[n] = (struct aref){ &c->svcs[i], &c->svcs[i].addrs[a], n };
    memcpy(sorted, byfile, n * sizeof *sorted);
    find_clashes(sorted, n, first);
    size_t pos = 0;
    for (size_t i = 0; i < c->nsvcs && !p->rc; i++) {
        struct conf_service *s = &c->svcs[i];
        if (!s->enabled)
            continue;
        enabled++;
        if (s->proxy_protocol && !s->trusted_proxies.set) {
            /* Only a local balancer is believed unless told otherwise. */
            char msg[128];
            if (acl_parse("127.0.0.0/8 ::1", &s->trusted_proxies, msg, sizeof msg) < 0)
                fail(p, -ENOMEM, s->line, s->name, "trusted_proxies", "%s", msg);
            else
                warn(p, s->line, s->name, "proxy_protocol", "no trusted_proxies: loopback "
                     "is trusted, so any local user may claim any client address; name "
                     "the balancers with trusted_proxies");
        }
        s->allow = s->only_from.set ? &s->only_from : &c->only_from;
        s->deny = s->no_access.set ? &s->no_access : &c->no_access;
        if (!s->source_prefix_v4)   /* [superd]'s, wherever it was given */
            s->source_prefix_v4 = c->source_prefix_v4;
        if (!s->source_prefix_v6)
            s->source_prefix_v6 = c->source_prefix_v6;
        p->file = s->file;  /* errors name the file the service is in */
        const char *xkey = NULL;
        int xline = 0;
        char xmsg[512];
        int xr = exec_conf_check(s, &xkey, &xline, xmsg, sizeof xmsg);
        if (xr < 0)
            fail(p, xr, xline, s->name, xkey, "%s", xmsg);
        else if (s->exec.program && s->nopts)
            fail_unread(p, s);
        else if (!s->plugin && !s->exec.program && !s->builtin) {
            if (!fail_near_miss(p, s, "plugin", "program"))
                fail(p, -EINVAL, s->line, s->name, "plugin", "missing (every service needs plugin = NAME or program = PATH)");
        } else if (s->naddrs == 0) {
            if (!fail_near_miss(p, s, "listen", NULL))
                fail(p, -EINVAL, s->line, s->name, "listen", "missing (every service needs listen = ADDRESS)");
        }
        for (size_t a = 0; a < s->naddrs && !p->rc; a++, pos++)
            if (first[pos] != SIZE_MAX)
                fail_clash(p, s, &s->addrs[a], byfile[first[pos]].s, byfile[first[pos]].a);
        if (!p->rc)
            check_socket_mode(p, s);
        if (!p->rc) {
            struct conf_arg a = { .p = p, .conf = c, .svc = s, .section = s->name,
                                  .dir = s->file->dir, .line = s->line };
            tls_conf_check(&a);
        }
    }
    if (!p->rc && enabled == 0) {
        p->rc = -ENOENT;
        snprintf(p->err, p->errlen, "%s: no enabled service", c->path);
    }
out:
    free(byfile);
    free(sorted);
    free(first);
    p->file = c->files[0];
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static struct conf_file *add_file(struct conf *c, const char *path)
{
    struct conf_file **v = realloc(c->files, (c->nfiles + 1) * sizeof *v);
    if (!v)
        return NULL;
    c->files = v;
    struct conf_file *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->path = strdup(path);
    f->dir = dir_of(path);
    c->files[c->nfiles++] = f;
    return f->path && f->dir ? f : NULL;
}

/* Parse one file's text into c.  Returns 0 or the first error's errno. */
static int parse_text(struct conf *c, const struct conf_file *f, const char *text, int depth,
                      struct seen_set *seen, char *err, size_t errlen)
{
    struct conf_parse p = { .file = f, .depth = depth, .text = text, .conf = c, .seen = seen,
                       .err = err, .errlen = errlen };
    int line = ini_parse_stream(read_line, &p, handler, &p);
    if (!p.rc && line > 0)
        fail(&p, -EINVAL, line, p.section, NULL, "syntax error: expected [section] or key = value");
    else if (!p.rc && line < 0)
        fail(&p, -ENOMEM, 0, NULL, NULL, "out of memory");
    if (!p.rc && depth == 0)
        check_globals(&p);
    if (!p.rc && depth == 0)
        check_services(&p);
    free(p.section);
    return p.rc;
}

/* The whole file as a string (malloc'ed), refusing huge and binary files. */
static int read_text(const char *path, char **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    char *text = malloc(FILE_MAX + 1);
    size_t len = text ? fread(text, 1, FILE_MAX + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!text)
        return -ENOMEM;
    if (bad || len > FILE_MAX) {
        snprintf(err, errlen, "%s: %s", path, bad ? "read error (a directory?)" : "file larger than 4 MiB");
        free(text);
        return bad ? -EIO : -EFBIG;
    }
    if (memchr(text, '\0', len)) {
        snprintf(err, errlen, "%s: not a text file (contains a NUL byte)", path);
        free(text);
        return -EINVAL;
    }
    text[len] = '\0';
    *out = text;
    return 0;
}

/* include = PATTERN: every file the glob matches, in sorted order, parsed
 * as if it stood here.  No match is not an error (an empty conf.d). */
/* glob's error callback for include: a directory of the pattern that does
 * not exist is no match (documented: "no match is not an error"); any other
 * error (a directory superd may not read) stops the parse.  glob gives the
 * callback no argument, hence the file-scope errno (parsing is one thread). */
static int glob_errno;

static int include_glob_error(const char *path, int err)
{
    (void)path;
    if (err == ENOENT || err == ENOTDIR)
        return 0;
    glob_errno = err;
    return 1;
}

static void include(struct conf_parse *p, const char *value)
{
    if (p->depth + 1 >= CONF_INCLUDE_DEPTH) {
        fail(p, -ELOOP, p->line, "superd", "include",
             "nested deeper than %d files (does a file include itself?)", CONF_INCLUDE_DEPTH);
        return;
    }
    char *pattern = conf_resolve(p->file->dir, value);
    glob_t g;
    glob_errno = 0;
    int r = pattern ? glob(pattern, 0, include_glob_error, &g) : GLOB_NOSPACE;
    free(pattern);
    if (r == GLOB_NOMATCH)
        return;
    if (r != 0) {
        fail(p, -EIO, p->line, "superd", "include", "cannot read '%s'%s%s", value,
             glob_errno ? ": " : "", glob_errno ? strerror(glob_errno) : "");
        return;
    }
    for (size_t i = 0; i < g.gl_pathc && !p->rc; i++) {
        char *text = NULL;
        struct conf_file *f = add_file(p->conf, g.gl_pathv[i]);
        if (!f) {
            fail(p, -ENOMEM, p->line, "superd", "include", "out of memory");
            break;
        }
        int e = read_text(f->path, &text, p->err, p->errlen);
        if (e == 0)
            e = parse_text(p->conf, f, text, p->depth + 1, p->seen, p->err, p->errlen);
        free(text);
        if (e)
            p->rc = e;  /* the message, naming the included file, is in p->err */
    }
    globfree(&g);
}

int conf_load_string(const char *text, const char *path, struct conf **out,
                     char *err, size_t errlen)
{
    struct conf *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->path = strdup(path);
    c->dir = dir_of(path);
    c->log_target = LOG_TO_STDERR;
    c->log_level = LOG_INFO;
    c->syslog_facility = LOG_DAEMON;
    c->shutdown_timeout_ms = 10 * 1000;
    struct conf_file *f = add_file(c, path);
    if (!c->path || !c->dir || !f) {
        conf_free(c);
        return -ENOMEM;
    }
    struct seen_set seen = { 0 };
    int r = parse_text(c, f, text, 0, &seen, err, errlen);
    seen_free(&seen);
    if (r) {
        conf_free(c);
        return r;
    }
    if (c->workers == 0)    /* not given, or auto */
        c->workers = auto_workers();
    *out = c;
    return 0;
}

int conf_load(const char *path, struct conf **out, char *err, size_t errlen)
{
    char *text = NULL;
    int r = read_text(path, &text, err, errlen);
    if (r == 0)
        r = conf_load_string(text, path, out, err, errlen);
    free(text);
    for (size_t i = 0; r == 0 && i < (*out)->nwarnings; i++)
        log_msg(LOG_WARNING, "%s", (*out)->warnings[i]);
    return r;
}

void conf_free(struct conf *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nsvcs; i++) {
        struct conf_service *s = &c->svcs[i];
        free(s->name);
        free(s->plugin);
        free(s->addrs);
        for (size_t j = 0; j < s->nopts; j++) {
            free(s->opts[j].key);
            free(s->opts[j].value);
        }
        free(s->opts);
        acl_free(&s->only_from);
        acl_free(&s->no_access);
        tls_conf_free(&s->tls);
        acl_free(&s->trusted_proxies);
        free(s->only_uid.v);
        free(s->only_gid.v);
        exec_conf_free(&s->exec);
    }
    free(c->svcs);
    free(c->path);
    free(c->dir);
    free(c->plugin_dir);
    free(c->pid_file);
    free(c->cgroup_root);
    free(c->user);
    acl_free(&c->only_from);
    acl_free(&c->no_access);
    for (size_t i = 0; i < c->nfiles; i++) {
        free(c->files[i]->path);
        free(c->files[i]->dir);
        free(c->files[i]);
    }
    free(c->files);
    for (size_t i = 0; i < c->nwarnings; i++)
        free(c->warnings[i]);
    free(c->warnings);
    free(c);
}
