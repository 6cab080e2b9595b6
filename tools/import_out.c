/* import_out.c - superd-import's model of the superd.ini it writes: entries
 * from the parsers, merged into sections, printed. */
#include "import.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* A converted section, or a service left out (skip: why is in body). */
struct sect {
    char name[64];
    char base[64];
    char *origin_file;
    struct sbuf origin;
    struct sbuf head, body;
    struct imp_listen *lsn;
    size_t nlsn;
    bool disabled, skip;
};

struct imp_out {
    struct sbuf notes;
    char **files;
    size_t nfiles;
    struct sect *v;
    size_t n, cap;
};

static void oom(void)
{
    fputs("superd-import: out of memory\n", stderr);
    exit(1);
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom();
    return p;
}

char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        oom();
    return p;
}

static void sb_grow(struct sbuf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 128;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s)
        oom();
    b->s = s;
    b->cap = cap;
}

void sb_add(struct sbuf *b, const char *text)
{
    size_t n = strlen(text);
    sb_grow(b, n);
    memcpy(b->s + b->len, text, n + 1);
    b->len += n;
}

static void sb_vprintf(struct sbuf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char probe[1];
    int n = vsnprintf(probe, sizeof probe, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return;
    sb_grow(b, (size_t)n);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(b, fmt, ap);
    va_end(ap);
}

void sb_free(struct sbuf *b)
{
    free(b->s);
    *b = (struct sbuf){ 0 };
}

static const char *sb_str(const struct sbuf *b)
{
    return b->s ? b->s : "";
}

/* Comment lines "; text", wrapped at blanks so each fits superd's limit
 * with room to spare; continuation lines are indented. */
static void wrap_comment(struct sbuf *b, const char *text)
{
    const size_t width = 96;
    const char *p = text;
    bool first = true;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t len = strlen(p), cut = len;
        if (len > width) {
            cut = width;
            while (cut > 0 && p[cut] != ' ')
                cut--;
            if (cut == 0)
                cut = len > 180 ? 180 : len;
        }
        sb_printf(b, first ? "; %.*s\n" : ";   %.*s\n", (int)cut, p);
        first = false;
        p += cut;
    }
}

void ent_init(struct imp_entry *e, const char *file, int line, const char *name)
{
    *e = (struct imp_entry){ .file = file, .line = line };
    snprintf(e->name, sizeof e->name, "%s", name);
}

static void ent_vkey(struct imp_entry *e, struct sbuf *b, const char *key, const char *fmt,
                     va_list ap)
{
    struct sbuf v = { 0 };
    sb_vprintf(&v, fmt, ap);
    if (strlen(key) + 3 + v.len > IMP_LINE_MAX) {
        ent_disable(e, "%s: the value is %zu characters, longer than a superd line can hold "
                    "(%d); shorten it", key, v.len, IMP_LINE_MAX);
    } else {
        sb_printf(b, "%s = %s\n", key, v.s);
    }
    sb_free(&v);
}

void ent_head(struct imp_entry *e, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ent_vkey(e, &e->head, key, fmt, ap);
    va_end(ap);
}

void ent_key(struct imp_entry *e, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ent_vkey(e, &e->body, key, fmt, ap);
    va_end(ap);
}

void ent_note(struct imp_entry *e, const char *fmt, ...)
{
    struct sbuf t = { 0 };
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(&t, fmt, ap);
    va_end(ap);
    wrap_comment(&e->body, t.s);
    sb_free(&t);
}

void ent_skip(struct imp_entry *e, const char *fmt, ...)
{
    struct sbuf t = { 0 };
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(&t, fmt, ap);
    va_end(ap);
    /* The first reason is the one that counts; drop what was built. */
    if (!e->skip) {
        sb_free(&e->head);
        sb_free(&e->body);
        e->skip = true;
        struct sbuf line = { 0 };
        sb_printf(&line, "[%s] %s:%d: not converted: %s", e->name, e->file, e->line, t.s);
        wrap_comment(&e->body, line.s);
        sb_free(&line);
    }
    sb_free(&t);
}

void ent_disable(struct imp_entry *e, const char *fmt, ...)
{
    struct sbuf t = { 0 };
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(&t, fmt, ap);
    va_end(ap);
    struct sbuf line = { 0 };
    sb_printf(&line, "%s: enabled = no", t.s);
    wrap_comment(&e->body, line.s);
    sb_free(&line);
    sb_free(&t);
    e->disabled = true;
}

void ent_free(struct imp_entry *e)
{
    sb_free(&e->head);
    sb_free(&e->body);
}

int imp_quote(struct sbuf *b, const char *w)
{
    if (w[0] == ';' || strstr(w, " ;") || strstr(w, "\t;") || strchr(w, '\n'))
        return -EINVAL;
    if (*w && !strpbrk(w, " \t'\"\\")) {
        sb_add(b, w);
    } else if (!strchr(w, '\'')) {
        sb_printf(b, "'%s'", w);
    } else {
        sb_add(b, "\"");
        for (const char *p = w; *p; p++) {
            if (*p == '"' || *p == '\\' || *p == '$' || *p == '`')
                sb_add(b, "\\");
            sb_printf(b, "%c", *p);
        }
        sb_add(b, "\"");
    }
    return 0;
}

int imp_quote_words(struct sbuf *b, char *const *argv, size_t n, const char **bad)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_add(b, " ");
        if (imp_quote(b, argv[i]) < 0) {
            *bad = argv[i];
            return -EINVAL;
        }
    }
    return 0;
}

unsigned imp_port(const char *name, const char *proto)
{
    char *end;
    long v = strtol(name, &end, 10);
    if (end != name && !*end)
        return v >= 1 && v <= 65535 ? (unsigned)v : 0;
    struct servent *se = getservbyname(name, proto);
    return se ? ntohs((uint16_t)se->s_port) : 0;
}

struct imp_out *imp_out_new(void)
{
    return xcalloc(1, sizeof(struct imp_out));
}

void imp_out_free(struct imp_out *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n; i++) {
        struct sect *s = &o->v[i];
        sb_free(&s->origin);
        sb_free(&s->head);
        sb_free(&s->body);
        free(s->lsn);
    }
    free(o->v);
    for (size_t i = 0; i < o->nfiles; i++)
        free(o->files[i]);
    free(o->files);
    sb_free(&o->notes);
    free(o);
}

const char *imp_out_file(struct imp_out *o, const char *name)
{
    char **v = realloc(o->files, (o->nfiles + 1) * sizeof *v);
    if (!v)
        oom();
    o->files = v;
    return o->files[o->nfiles++] = xstrdup(name);
}

void imp_out_note(struct imp_out *o, const char *fmt, ...)
{
    struct sbuf t = { 0 };
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(&t, fmt, ap);
    va_end(ap);
    wrap_comment(&o->notes, t.s);
    sb_free(&t);
}

static bool same_addr(const struct imp_listen *a, const struct imp_listen *b)
{
    if (a->proto != b->proto)
        return false;
    if (a->proto == IMP_UNIX || a->proto == IMP_UNIX_DGRAM)
        return strcmp(a->path, b->path) == 0;
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* The section already using this address (a family of it), if any. */
static const struct sect *addr_owner(const struct imp_out *o, const struct imp_listen *l)
{
    for (size_t i = 0; i < o->n; i++)
        for (size_t j = 0; j < o->v[i].nlsn; j++) {
            const struct imp_listen *m = &o->v[i].lsn[j];
            if (same_addr(m, l) && (m->host[0] || (m->fam & l->fam) ||
                                    m->proto == IMP_UNIX || m->proto == IMP_UNIX_DGRAM))
                return &o->v[i];
        }
    return NULL;
}

static bool name_taken(const struct imp_out *o, const char *name)
{
    if (strcmp(name, "superd") == 0)
        return true;
    for (size_t i = 0; i < o->n; i++)
        if (!o->v[i].skip && strcmp(o->v[i].name, name) == 0)
            return true;
    return false;
}

static const char *proto_word(enum imp_proto p)
{
    return p == IMP_TCP ? "tcp" : p == IMP_UDP ? "udp" : p == IMP_UNIX ? "unix" : "unix-dgram";
}

/* A free section name: base, then base-udp (the protocol), then base-2... */
static void unique_name(const struct imp_out *o, const char *base, enum imp_proto p,
                        char out[64])
{
    snprintf(out, 64, "%s", base);
    if (!name_taken(o, out))
        return;
    snprintf(out, 64, "%.40s-%s", base, proto_word(p));
    for (int i = 2; name_taken(o, out); i++)
        snprintf(out, 64, "%.40s-%d", base, i);
}

/* Section names as superd reads them: no ']', not too long. */
static void clean_name(char *name)
{
    for (char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
            *p = '-';
    if (strlen(name) > 40)
        name[40] = '\0';
    if (!*name)
        strcpy(name, "service");
}

static struct sect *new_sect(struct imp_out *o)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        struct sect *v = realloc(o->v, cap * sizeof *v);
        if (!v)
            oom();
        o->v = v;
        o->cap = cap;
    }
    struct sect *s = &o->v[o->n++];
    *s = (struct sect){ 0 };
    return s;
}

static void add_listen(struct sect *s, const struct imp_listen *l)
{
    for (size_t i = 0; i < s->nlsn; i++)
        if (same_addr(&s->lsn[i], l)) {
            s->lsn[i].fam |= l->fam;
            return;
        }
    struct imp_listen *v = realloc(s->lsn, (s->nlsn + 1) * sizeof *v);
    if (!v)
        oom();
    s->lsn = v;
    s->lsn[s->nlsn++] = *l;
}

static void take(struct sbuf *to, struct sbuf *from)
{
    *to = *from;
    *from = (struct sbuf){ 0 };
}

void imp_add(struct imp_out *o, struct imp_entry *e)
{
    clean_name(e->name);
    if (!e->skip && e->has_listen) {
        const struct sect *owner = addr_owner(o, &e->lsn);
        if (owner)
            ent_skip(e, "the same address as [%s] (%s): superd binds an address once",
                     owner->name, sb_str(&owner->origin));
    }
    if (!e->skip) {
        for (size_t i = 0; i < o->n; i++) {
            struct sect *s = &o->v[i];
            if (s->skip || strcmp(s->base, e->name) != 0 || s->disabled != e->disabled ||
                strcmp(sb_str(&s->head), sb_str(&e->head)) != 0 ||
                strcmp(sb_str(&s->body), sb_str(&e->body)) != 0)
                continue;
            if (s->origin_file && strcmp(s->origin_file, e->file) == 0)
                sb_printf(&s->origin, ", %d", e->line);
            else
                sb_printf(&s->origin, ", %s:%d", e->file, e->line);
            s->origin_file = (char *)e->file;
            add_listen(s, &e->lsn);
            ent_free(e);
            return;
        }
    }
    char name[64];
    if (e->skip)
        snprintf(name, sizeof name, "%s", e->name);
    else
        unique_name(o, e->name, e->lsn.proto, name);
    struct sect *s = new_sect(o);
    snprintf(s->base, sizeof s->base, "%s", e->name);
    memcpy(s->name, name, sizeof name);
    s->origin_file = (char *)e->file;
    sb_printf(&s->origin, "%s:%d", e->file, e->line);
    take(&s->head, &e->head);
    take(&s->body, &e->body);
    s->skip = e->skip;
    s->disabled = e->disabled;
    if (!e->skip)
        add_listen(s, &e->lsn);
}

static void listen_text(const struct imp_listen *l, char *buf, size_t size)
{
    if (l->proto == IMP_UNIX || l->proto == IMP_UNIX_DGRAM) {
        snprintf(buf, size, "%s:%s", proto_word(l->proto), l->path);
        return;
    }
    const char *host = l->host;
    if (!*host)
        host = l->fam == (IMP_FAM4 | IMP_FAM6) ? "*" : l->fam == IMP_FAM6 ? "[::]" : "0.0.0.0";
    bool v6 = strchr(host, ':') != NULL && host[0] != '[';
    snprintf(buf, size, "%s://%s%s%s:%u", proto_word(l->proto), v6 ? "[" : "", host,
             v6 ? "]" : "", l->port);
}

static void print_sect(const struct sect *s, FILE *f)
{
    if (s->skip) {
        fprintf(f, "\n%s", sb_str(&s->body));
        return;
    }
    fprintf(f, "\n[%s]\n", s->name);
    struct imp_entry tmp = { 0 };
    struct sbuf from = { 0 };
    sb_printf(&from, "from %s", sb_str(&s->origin));
    wrap_comment(&tmp.body, from.s);
    fputs(sb_str(&tmp.body), f);
    sb_free(&tmp.body);
    sb_free(&from);
    fputs(sb_str(&s->head), f);
    /* listen may repeat: one line per address would be long for nothing,
     * one line for all may pass the limit. */
    size_t col = 0;
    for (size_t i = 0; i < s->nlsn; i++) {
        char t[4200];
        listen_text(&s->lsn[i], t, sizeof t);
        if (col && col + 1 + strlen(t) > 150) {
            fputc('\n', f);
            col = 0;
        }
        col += (size_t)fprintf(f, col ? " %s" : "listen = %s", t);
    }
    if (col)
        fputc('\n', f);
    fputs(sb_str(&s->body), f);
    if (s->disabled)
        fputs("enabled = no\n", f);
}

void imp_print(const struct imp_out *o, FILE *f, const char *source)
{
    struct sbuf top = { 0 };
    bool programs = false, plugins = false, enabled = false;
    for (size_t i = 0; i < o->n; i++) {
        if (o->v[i].skip)
            continue;
        if (strncmp(sb_str(&o->v[i].head), "program", 7) == 0)
            programs = true;
        else
            plugins = true;
        enabled |= !o->v[i].disabled;
    }
    struct sbuf t = { 0 };
    sb_printf(&t, "superd.ini converted by superd-import from %s. Check it with superd -t -c "
              "FILE; each comment in a section says what did not carry over, and why.", source);
    wrap_comment(&top, t.s);
    sb_free(&t);
    if (plugins)
        wrap_comment(&top, "Plugins (echo, daytime, ...) run in superd's workers, as root unless "
                     "[superd] user names another user (user = nobody, say).");
    if (programs)
        wrap_comment(&top, "A program is ended after max_lifetime (1h by default; inetd and "
                     "xinetd had no limit): add max_lifetime = 0 to a service whose sessions "
                     "last longer.");
    if (o->n && !enabled)
        wrap_comment(&top, "Every service below is disabled, as in the input: superd refuses a "
                     "file with no enabled service until one is enabled = yes.");
    if (!o->n)
        wrap_comment(&top, "The input has no service: superd refuses a file with none.");
    fputs(sb_str(&top), f);
    sb_free(&top);
    fputs(sb_str(&o->notes), f);
    for (size_t i = 0; i < o->n; i++)
        print_sect(&o->v[i], f);
}
