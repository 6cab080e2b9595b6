/* import_xinetd.c - superd-import: xinetd.conf, its includedir and
 * includefile, xinetd.d directories and single service files, into entries. */
#include "import.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

struct attr {
    char name[32];
    bool dflt;              /* from the defaults block */
    char op;                /* '=', '+' (+=) or '-' (-=) */
    char *value;
    const char *file;
    int line;
};

struct block {
    char name[64];
    const char *file;
    int line;
    struct attr *v;
    size_t n;
};

struct xparse {
    struct imp_out *o;
    const char *root;
    struct block defaults;
    struct block *svc;
    size_t nsvc;
    int depth;
};

static void block_add(struct block *b, const char *name, char op, const char *value,
                      const char *file, int line)
{
    struct attr *v = realloc(b->v, (b->n + 1) * sizeof *v);
    if (!v) {
        fputs("superd-import: out of memory\n", stderr);
        exit(1);
    }
    b->v = v;
    struct attr *a = &b->v[b->n++];
    snprintf(a->name, sizeof a->name, "%s", name);
    a->op = op;
    a->value = xstrdup(value);
    a->file = file;
    a->line = line;
}

static void block_free(struct block *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->v[i].value);
    free(b->v);
    b->v = NULL;
    b->n = 0;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

static int parse_file(struct xparse *p, const char *path);

/* xinetd skips names with a dot or ending in '~' (editor and package
 * manager leftovers); the rest is read in sorted order. */
static int skip_name(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return !(strchr(d->d_name, '.') || (n && d->d_name[n - 1] == '~'));
}

static int parse_dir(struct xparse *p, const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, skip_name, alphasort);
    if (n < 0) {
        int err = errno;
        fprintf(stderr, "superd-import: %s: %s\n", dir, strerror(err));
        return -err;
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            parse_file(p, path);
        free(names[i]);
    }
    free(names);
    return 0;
}

/* An includedir / includefile argument, under root when it is absolute. */
static void include(struct xparse *p, const char *file, int line, const char *what,
                    const char *arg)
{
    char path[4096];
    if (p->root && arg[0] == '/')
        snprintf(path, sizeof path, "%s%s", p->root, arg);
    else
        snprintf(path, sizeof path, "%s", arg);
    if (p->depth >= 8) {
        imp_out_note(p->o, "%s:%d: %s %s: not read: includes nested deeper than 8", file,
                     line, what, arg);
        return;
    }
    p->depth++;
    int r = strcmp(what, "includedir") == 0 ? parse_dir(p, path) : parse_file(p, path);
    p->depth--;
    if (r < 0)
        imp_out_note(p->o, "%s:%d: %s %s: cannot read %s: %s", file, line, what, arg, path,
                     strerror(-r));
}

static int parse_file(struct xparse *p, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int err = errno;
        fprintf(stderr, "superd-import: %s: %s\n", path, strerror(err));
        return -err;
    }
    const char *file = imp_out_file(p->o, path);
    char *buf = NULL;
    size_t cap = 0;
    int lineno = 0;
    struct block *cur = NULL;
    bool want_brace = false;
    while (getline(&buf, &cap, f) >= 0) {
        lineno++;
        char *s = trim(buf);
        if (!*s || *s == '#')
            continue;
        if (want_brace || (cur && *s == '{' && !s[1])) {
            if (*s == '{') {
                want_brace = false;
                s = trim(s + 1);
                if (!*s)
                    continue;
            }
        }
        if (cur) {
            if (*s == '}') {
                cur = NULL;
                continue;
            }
            char *eq = strchr(s, '=');
            if (!eq) {
                imp_out_note(p->o, "%s:%d: not converted: '%s' is not NAME = VALUE", file,
                             lineno, s);
                continue;
            }
            char op = '=';
            char *end = eq;
            if (eq > s && (eq[-1] == '+' || eq[-1] == '-'))
                op = *--end;
            *end = '\0';
            block_add(cur, trim(s), op, trim(eq + 1), file, lineno);
            continue;
        }
        char word[64] = "", arg[4096] = "";
        sscanf(s, "%63s %4095[^\n]", word, arg);
        char *a = trim(arg);
        size_t al = strlen(a);
        bool brace = al && a[al - 1] == '{';
        if (brace)
            a[--al] = '\0', a = trim(a);
        if (strcmp(word, "service") == 0 && *a) {
            struct block *v = realloc(p->svc, (p->nsvc + 1) * sizeof *v);
            if (!v) {
                fputs("superd-import: out of memory\n", stderr);
                exit(1);
            }
            p->svc = v;
            cur = &p->svc[p->nsvc++];
            *cur = (struct block){ .file = file, .line = lineno };
            snprintf(cur->name, sizeof cur->name, "%s", a);
        } else if (strcmp(word, "defaults") == 0) {
            cur = &p->defaults;
            if (!cur->file)
                cur->file = file, cur->line = lineno;
        } else if ((strcmp(word, "includedir") == 0 || strcmp(word, "includefile") == 0) && *a) {
            include(p, file, lineno, word, a);
            continue;
        } else {
            imp_out_note(p->o, "%s:%d: not converted: '%s' is not an xinetd keyword", file,
                         lineno, s);
            continue;
        }
        want_brace = !brace;
    }
    free(buf);
    fclose(f);
    return 0;
}

/* ---- a service's attributes, with the defaults under them ---- */

struct eff {
    struct attr *v;         /* values owned here; file/line borrowed */
    size_t n;
};

static struct attr *eff_get(const struct eff *e, const char *name)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->v[i].name, name) == 0)
            return &e->v[i];
    return NULL;
}

/* value -= words: every word of del taken out of value. */
static char *remove_words(const char *value, const char *del)
{
    struct sbuf out = { 0 };
    char *copy = xstrdup(value), *save;
    for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        char *dcopy = xstrdup(del), *s2;
        bool found = false;
        for (char *d = strtok_r(dcopy, " \t", &s2); d && !found; d = strtok_r(NULL, " \t", &s2))
            found = strcmp(w, d) == 0;
        free(dcopy);
        if (!found)
            sb_printf(&out, "%s%s", out.len ? " " : "", w);
    }
    free(copy);
    if (!out.s)
        return xstrdup("");
    return out.s;
}

static void eff_apply(struct eff *e, const struct attr *a, bool dflt)
{
    struct attr *cur = eff_get(e, a->name);
    if (!cur) {
        struct attr *v = realloc(e->v, (e->n + 1) * sizeof *v);
        if (!v) {
            fputs("superd-import: out of memory\n", stderr);
            exit(1);
        }
        e->v = v;
        cur = &e->v[e->n++];
        *cur = *a;
        cur->value = a->op == '-' ? xstrdup("") : xstrdup(a->value);
        cur->dflt = dflt;
        return;
    }
    char *nv;
    if (a->op == '+') {
        struct sbuf b = { 0 };
        sb_printf(&b, "%s%s%s", cur->value, *cur->value ? " " : "", a->value);
        nv = b.s;
    } else if (a->op == '-') {
        nv = remove_words(cur->value, a->value);
    } else {
        nv = xstrdup(a->value);
    }
    free(cur->value);
    cur->value = nv;
    cur->file = a->file;
    cur->line = a->line;
    cur->op = a->op;
    cur->dflt = dflt && cur->dflt;
}

/* Where a note's attribute came from, when not the service's own block. */
#define DF(a) ((a)->dflt ? "defaults: " : "")

static void eff_free(struct eff *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i].value);
    free(e->v);
}

static bool has_word(const char *value, const char *word)
{
    char *copy = xstrdup(value), *save;
    bool found = false;
    for (char *w = strtok_r(copy, " \t", &save); w && !found; w = strtok_r(NULL, " \t", &save))
        found = strcasecmp(w, word) == 0;
    free(copy);
    return found;
}

static bool yes(const char *v)
{
    return strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

/* ---- the conversion of one service ---- */

static const char *const plugins[] = { "echo", "discard", "daytime", "chargen", "time", NULL };

/* Addresses of an xinetd list: a.b.c.0 is a /24 there, a.b.c.{d,e} lists
 * hosts; host and network names superd cannot match (it never resolves in
 * its lists). Returns the number of words left out. */
static int map_addrs(const char *value, struct sbuf *out, struct sbuf *bad)
{
    int nbad = 0;
    char *copy = xstrdup(value), *save;
    for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        char *brace = strchr(w, '{');
        if (brace && w[strlen(w) - 1] == '}') {
            *brace = '\0';
            char *s2;
            for (char *h = strtok_r(brace + 1, ",}", &s2); h; h = strtok_r(NULL, ",}", &s2)) {
                char addr[64];
                struct in_addr in;
                snprintf(addr, sizeof addr, "%s%s", w, h);
                if (inet_pton(AF_INET, addr, &in) == 1)
                    sb_printf(out, "%s%s", out->len ? " " : "", addr);
                else
                    sb_printf(bad, "%s%s", bad->len ? " " : "", addr), nbad++;
            }
            continue;
        }
        struct in_addr in;
        struct in6_addr in6;
        char host[64];
        snprintf(host, sizeof host, "%s", w);
        char *slash = strchr(host, '/');
        if (slash)
            *slash = '\0';
        if (strcmp(w, "localhost") == 0) {
            sb_printf(out, "%s127.0.0.1 ::1", out->len ? " " : "");
        } else if (strcmp(w, "0.0.0.0") == 0) {
            sb_printf(out, "%s0.0.0.0/0 ::/0", out->len ? " " : "");
        } else if (!slash && inet_pton(AF_INET, host, &in) == 1) {
            /* Trailing zero bytes are wildcards in xinetd. */
            uint32_t a = ntohl(in.s_addr);
            int prefix = 32;
            while (prefix > 0 && ((a >> (32 - prefix)) & 0xffu) == 0)
                prefix -= 8;
            if (prefix == 32)
                sb_printf(out, "%s%s", out->len ? " " : "", w);
            else
                sb_printf(out, "%s%s/%d", out->len ? " " : "", w, prefix);
        } else if (inet_pton(AF_INET, host, &in) == 1 || inet_pton(AF_INET6, host, &in6) == 1) {
            sb_printf(out, "%s%s", out->len ? " " : "", w);
        } else {
            sb_printf(bad, "%s%s", bad->len ? " " : "", w);
            nbad++;
        }
    }
    free(copy);
    return nbad;
}

static void map_acl(struct imp_entry *e, const struct eff *ef, const char *name)
{
    const struct attr *a = eff_get(ef, name);
    if (!a)
        return;
    struct sbuf out = { 0 }, bad = { 0 };
    int nbad = map_addrs(a->value, &out, &bad);
    bool only = strcmp(name, "only_from") == 0;
    if (out.len)
        ent_key(e, name, "%s", out.s);
    if (only && !*trim(a->value))
        ent_disable(e, "%sonly_from is empty: xinetd lets no one in", DF(a));
    else if (nbad && only && !out.len)
        ent_disable(e, "%sonly_from %s: superd matches addresses only, never names; "
                    "give addresses", DF(a), bad.s);
    else if (nbad && only)
        ent_note(e, "%sonly_from %s left out: superd matches addresses only, never names",
                 DF(a), bad.s);
    else if (nbad)
        ent_disable(e, "%sno_access %s: superd matches addresses only, never names; "
                    "give addresses", DF(a), bad.s);
    sb_free(&out);
    sb_free(&bad);
}

static void quoted_key(struct imp_entry *e, const char *key, const char *value)
{
    char *copy = xstrdup(value), *save;
    char *words[256];
    size_t n = 0;
    for (char *w = strtok_r(copy, " \t", &save); w && n < 256; w = strtok_r(NULL, " \t", &save))
        words[n++] = w;
    struct sbuf b = { 0 };
    const char *bad = NULL;
    if (n && imp_quote_words(&b, words, n, &bad) < 0)
        ent_disable(e, "%s: the word '%s' cannot be written in superd.ini (';' after a blank "
                    "starts a comment)", key, bad);
    else if (n)
        ent_head(e, key, "%s", b.s);
    sb_free(&b);
    free(copy);
}

static void map_rlimit(struct imp_entry *e, const struct attr *a, const char *key)
{
    char v[64];
    snprintf(v, sizeof v, "%s", a->value);
    if (strcasecmp(v, "UNLIMITED") == 0) {
        ent_key(e, key, "unlimited");
        return;
    }
    size_t n = strlen(v);
    if (n && (v[n - 1] == 'k' || v[n - 1] == 'm'))
        v[n - 1] = (char)(v[n - 1] - 'a' + 'A');
    ent_key(e, key, "%s", v);
}

/* Attributes that are exec keys of the same name and value. */
static void map_exec(struct imp_entry *e, const struct eff *ef, bool plugin)
{
    static const struct { const char *x, *key; } same[] = {
        { "user", "user" }, { "group", "group" }, { "groups", "groups" }, { "umask", "umask" },
        { "nice", "nice" }, { "rlimit_cpu", "rlimit_cpu" }, { "rlimit_as", "rlimit_as" },
        { "rlimit_files", "rlimit_nofile" }, { "env", "env" }, { "passenv", "pass_env" },
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        const struct attr *a = eff_get(ef, same[i].x);
        if (!a)
            continue;
        if (plugin) {
            if (!((strcmp(a->name, "user") == 0 && strcmp(a->value, "root") == 0) ||
                  (strcmp(a->name, "groups") == 0 && !yes(a->value))))
                ent_note(e, "%s%s = %s: for programs only; plugins run in superd's "
                         "workers, as [superd] user", DF(a), a->name, a->value);
        } else if (strncmp(a->name, "rlimit_", 7) == 0) {
            map_rlimit(e, a, same[i].key);
        } else if (strcmp(a->name, "groups") == 0) {
            ent_key(e, "groups", "%s", yes(a->value) ? "yes" : "no");
        } else if (strcmp(a->name, "env") == 0 || strcmp(a->name, "passenv") == 0) {
            struct imp_entry tmp = { 0 };
            quoted_key(&tmp, same[i].key, a->value);
            sb_add(&e->body, tmp.head.s ? tmp.head.s : "");
            if (tmp.body.s)
                sb_add(&e->body, tmp.body.s);
            e->disabled |= tmp.disabled;
            ent_free(&tmp);
        } else {
            ent_key(e, same[i].key, "%s", a->value);
        }
    }
}

static void map_limits(struct imp_entry *e, const struct eff *ef, bool plugin)
{
    const struct attr *a = eff_get(ef, "instances");
    if (a && strcasecmp(a->value, "UNLIMITED") != 0)
        ent_key(e, plugin ? "max_connections" : "max_instances", "%s", a->value);
    a = eff_get(ef, "per_source");
    if (a && strcasecmp(a->value, "UNLIMITED") != 0)
        ent_key(e, "max_per_source", "%s", a->value);
    a = eff_get(ef, "cps");
    if (a) {
        char rate[32] = "", wait[32] = "";
        sscanf(a->value, "%31s %31s", rate, wait);
        ent_note(e, "%scps = %s: xinetd switches the whole service off for %s s when "
                 "connections come faster; superd never switches a service off, it limits "
                 "each source instead:", DF(a), a->value, *wait ? wait : "some");
        ent_note(e, "rate_limit = %s/s", rate);
    }
}

static void map_logging(struct imp_entry *e, const struct eff *ef)
{
    const struct attr *ok = eff_get(ef, "log_on_success");
    const struct attr *bad = eff_get(ef, "log_on_failure");
    if (ok && *trim(ok->value)) {
        ent_key(e, "log_connections", "yes");
        ent_note(e, "%slog_on_success = %s: superd logs one line per connection at its "
                 "close (peer, duration, bytes)", DF(ok), ok->value);
    }
    /* The defaults' one is said once, at the top. */
    if (bad && !bad->dflt && *trim(bad->value))
        ent_note(e, "%slog_on_failure = %s: superd always logs refusals (at most a line "
                 "a second, with the rule and the peer)", DF(bad), bad->value);
}

/* Attributes superd has no counterpart for, and why. */
static void map_rest(struct imp_entry *e, const struct eff *ef)
{
    static const struct { const char *x, *why; } t[] = {
        { "banner", "superd sends no banner" },
        { "banner_success", "superd sends no banner" },
        { "banner_fail", "superd sends no banner" },
        { "access_times", "superd has no time windows" },
        { "max_load", "superd does not watch the load average" },
        { "deny_time", "superd has no SENSOR blacklist" },
        { "rlimit_data", "superd sets rlimit_cpu, rlimit_as, rlimit_nofile, rlimit_nproc" },
        { "rlimit_rss", "superd sets rlimit_cpu, rlimit_as, rlimit_nofile, rlimit_nproc" },
        { "rlimit_stack", "superd sets rlimit_cpu, rlimit_as, rlimit_nofile, rlimit_nproc" },
        { "mdns", "superd does not announce services" },
        { "libwrap", "superd does not read hosts.allow and hosts.deny (only_from, no_access)" },
        { "log_type", "superd logs to stderr or syslog for every service ([superd] log)" },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        const struct attr *a = eff_get(ef, t[i].x);
        if (a)
            ent_note(e, "%s%s = %s: not converted: %s", DF(a), a->name,
                     a->value, t[i].why);
    }
    static const char *const known[] = {
        "id", "type", "flags", "socket_type", "protocol", "wait", "user", "group", "groups",
        "instances", "per_source", "cps", "nice", "umask", "server", "server_args",
        "only_from", "no_access", "env", "passenv", "port", "bind", "interface", "redirect",
        "rlimit_cpu", "rlimit_as", "rlimit_files", "disable", "v6only", "log_on_success",
        "log_on_failure", "rpc_version", "rpc_number", "enabled", "disabled", NULL,
    };
    for (size_t i = 0; i < ef->n; i++) {
        const struct attr *a = &ef->v[i];
        bool k = false;
        for (size_t j = 0; known[j] && !k; j++)
            k = strcmp(known[j], a->name) == 0;
        for (size_t j = 0; j < sizeof t / sizeof t[0] && !k; j++)
            k = strcmp(t[j].x, a->name) == 0;
        if (!k)
            ent_note(e, "%s%s = %s: not converted: not an xinetd attribute superd-import "
                     "knows", DF(a), a->name, a->value);
    }
}

static void map_flags(struct imp_entry *e, const struct attr *a)
{
    if (!a)
        return;
    static const struct { const char *f, *why; } t[] = {
        { "KEEPALIVE", "superd does not set SO_KEEPALIVE" },
        { "SENSOR", "superd has no SENSOR blacklist" },
        { "INTERCEPT", "superd does not intercept wait services" },
        { "IDONLY", "superd does no ident lookups" },
        { "LABELED", "superd does not set SELinux labels" },
        { "NORETRY", "superd has no fork retries" },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (has_word(a->value, t[i].f))
            ent_note(e, "%sflags %s: not converted: %s", DF(a), t[i].f,
                     t[i].why);
}

/* server and server_args: with NAMEINARGS the first word is argv[0]. */
static void map_program(struct imp_entry *e, const struct eff *ef, bool nameinargs)
{
    const struct attr *srv = eff_get(ef, "server");
    const struct attr *sa = eff_get(ef, "server_args");
    char *copy = xstrdup(sa ? sa->value : ""), *save;
    char *words[256];
    size_t n = 0;
    for (char *w = strtok_r(copy, " \t", &save); w && n < 256; w = strtok_r(NULL, " \t", &save))
        words[n++] = w;
    const char *program = srv->value;
    char path[4096];
    char **argv = words;
    if (nameinargs && n > 0) {
        const char *b = strrchr(program, '/');
        if (strcmp(b ? b + 1 : program, "tcpd") == 0) {
            snprintf(path, sizeof path, "%s%s", words[0][0] == '/' ? "" : "/usr/sbin/",
                     words[0]);
            ent_note(e, "%s%s dropped (NAMEINARGS): superd runs %s itself; only_from and "
                     "no_access replace hosts.allow and hosts.deny", DF(srv),
                     program, path);
            program = path;
        } else {
            ent_note(e, "%sNAMEINARGS: argv[0] was '%s'; superd passes the program's "
                     "path as argv[0] (a program that reads it, such as busybox, needs a wrapper)", DF(sa), words[0]);
        }
        argv++;
        n--;
    }
    ent_head(e, "program", "%s", program);
    struct sbuf b = { 0 };
    const char *bad = NULL;
    if (n && imp_quote_words(&b, argv, n, &bad) < 0)
        ent_disable(e, "args: the word '%s' cannot be written in superd.ini (';' after a blank "
                    "starts a comment)", bad);
    else if (n)
        ent_head(e, "args", "%s", b.s);
    sb_free(&b);
    free(copy);
}

static bool listed(const struct block *d, const char *key, const char *id, const char *name)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->v[i].name, key) == 0 &&
            (has_word(d->v[i].value, id) || has_word(d->v[i].value, name)))
            return true;
    return false;
}

static bool has_key(const struct block *d, const char *key)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->v[i].name, key) == 0)
            return true;
    return false;
}

/* Where and how it listens; false when the entry was skipped. */
static bool map_listen(struct imp_entry *e, const struct eff *ef, const char *name)
{
    const struct attr *st = eff_get(ef, "socket_type");
    const struct attr *pr = eff_get(ef, "protocol");
    if (!st) {
        ent_skip(e, "no socket_type");
        return false;
    }
    bool stream = strcmp(st->value, "stream") == 0;
    if (!stream && strcmp(st->value, "dgram") != 0) {
        ent_skip(e, "socket_type %s: superd serves stream and dgram sockets", st->value);
        return false;
    }
    const char *proto = pr ? pr->value : stream ? "tcp" : "udp";
    if (strcmp(proto, stream ? "tcp" : "udp") != 0) {
        ent_skip(e, "protocol %s with socket_type %s: superd serves tcp streams and udp "
                 "datagrams", proto, st->value);
        return false;
    }
    e->lsn.proto = stream ? IMP_TCP : IMP_UDP;
    const struct attr *port = eff_get(ef, "port");
    e->lsn.port = imp_port(port ? port->value : name, proto);
    if (!e->lsn.port) {
        ent_skip(e, "no port: no port attribute, and '%s' is no %s service in /etc/services",
                 port ? port->value : name, proto);
        return false;
    }
    const struct attr *fl = eff_get(ef, "flags");
    const struct attr *v6only = eff_get(ef, "v6only");
    bool v6 = fl && has_word(fl->value, "IPv6"), v4 = fl && has_word(fl->value, "IPv4");
    e->lsn.fam = v6 ? IMP_FAM6 : IMP_FAM4;
    if ((v6 && v4) || (v6 && v6only && !yes(v6only->value)))
        e->lsn.fam = IMP_FAM4 | IMP_FAM6;
    const struct attr *bind = eff_get(ef, "bind");
    if (!bind)
        bind = eff_get(ef, "interface");
    if (bind) {
        snprintf(e->lsn.host, sizeof e->lsn.host, "%s", bind->value);
        if (strcmp(bind->value, "0.0.0.0") == 0 || strcmp(bind->value, "::") == 0)
            e->lsn.host[0] = '\0';
    }
    e->has_listen = true;
    return true;
}

static void convert(struct xparse *p, const struct block *b)
{
    struct imp_out *o = p->o;
    struct eff ef = { 0 };
    for (size_t i = 0; i < p->defaults.n; i++) {
        const char *n = p->defaults.v[i].name;
        /* These three concern xinetd as a whole: said once, at the top. */
        if (strcmp(n, "enabled") != 0 && strcmp(n, "disabled") != 0 &&
            strcmp(n, "log_type") != 0)
            eff_apply(&ef, &p->defaults.v[i], true);
    }
    for (size_t i = 0; i < b->n; i++)
        eff_apply(&ef, &b->v[i], false);
    const struct attr *id = eff_get(&ef, "id");
    const char *sid = id ? id->value : b->name;
    struct imp_entry e;
    ent_init(&e, b->file, b->line, b->name);
    const struct attr *type = eff_get(&ef, "type");
    const struct attr *fl = eff_get(&ef, "flags");
    bool internal = type && has_word(type->value, "INTERNAL");
    if (type && has_word(type->value, "RPC")) {
        ent_skip(&e, "an RPC service: superd does not register services with rpcbind");
    } else if (type && (has_word(type->value, "TCPMUX") || has_word(type->value, "TCPMUXPLUS"))) {
        ent_skip(&e, "a TCPMUX service (RFC 1078): superd has no tcpmux multiplexer");
    } else if (internal && (strcmp(b->name, "services") == 0 || strcmp(b->name, "servers") == 0 ||
                            strcmp(b->name, "xadmin") == 0)) {
        ent_skip(&e, "xinetd's own '%s' lists its state; superd logs its counters on SIGUSR1",
                 b->name);
    } else if (map_listen(&e, &ef, b->name)) {
        const struct attr *redirect = eff_get(&ef, "redirect");
        bool plugin = internal || redirect;
        if (redirect) {
            char host[256] = "", port[32] = "";
            sscanf(redirect->value, "%255s %31s", host, port);
            bool v6 = strchr(host, ':') != NULL;
            ent_head(&e, "plugin", "forward");
            ent_key(&e, "to", "tcp://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port);
        } else if (internal) {
            bool known = false;
            for (int i = 0; plugins[i]; i++)
                known |= strcmp(plugins[i], b->name) == 0;
            if (!known)
                ent_skip(&e, "xinetd's internal '%s' has no superd plugin", b->name);
            else
                ent_head(&e, "plugin", "%s", b->name);
        } else if (!eff_get(&ef, "server")) {
            ent_skip(&e, "no server, redirect or type = INTERNAL: nothing to run");
        } else {
            map_program(&e, &ef, fl && has_word(fl->value, "NAMEINARGS"));
            const struct attr *w = eff_get(&ef, "wait");
            ent_key(&e, "wait", "%s", w && yes(w->value) ? "yes" : "no");
        }
        if (!e.skip) {
            map_exec(&e, &ef, plugin);
            map_limits(&e, &ef, plugin);
            map_acl(&e, &ef, "only_from");
            map_acl(&e, &ef, "no_access");
            map_logging(&e, &ef);
            map_flags(&e, fl);
            map_rest(&e, &ef);
            const struct attr *dis = eff_get(&ef, "disable");
            if (dis && yes(dis->value))
                ent_disable(&e, "disable = %s", dis->value);
            else if (listed(&p->defaults, "disabled", sid, b->name))
                ent_disable(&e, "listed in defaults' disabled");
            else if (has_key(&p->defaults, "enabled") &&
                     !listed(&p->defaults, "enabled", sid, b->name))
                ent_disable(&e, "not listed in defaults' enabled");
        }
    }
    imp_add(o, &e);
    ent_free(&e);
    eff_free(&ef);
}

static void finish(struct xparse *p)
{
    for (size_t i = 0; i < p->defaults.n; i++) {
        const struct attr *a = &p->defaults.v[i];
        if (strcmp(a->name, "log_on_failure") == 0)
            imp_out_note(p->o, "%s:%d: log_on_failure = %s: superd always logs refusals (at "
                         "most a line a second, with the rule and the peer)", a->file, a->line,
                         a->value);
        if (strcmp(a->name, "log_type") == 0)
            imp_out_note(p->o, "%s:%d: log_type = %s: superd logs to stderr or syslog for "
                         "every service ([superd] log, syslog_facility)", a->file, a->line,
                         a->value);
    }
    for (size_t i = 0; i < p->nsvc; i++) {
        convert(p, &p->svc[i]);
        block_free(&p->svc[i]);
    }
    free(p->svc);
    block_free(&p->defaults);
}

int imp_xinetd(struct imp_out *o, const char *path, const char *root)
{
    struct xparse p = { .o = o, .root = root };
    int r = parse_file(&p, path);
    finish(&p);
    return r;
}

int imp_xinetd_dir(struct imp_out *o, const char *dir)
{
    struct xparse p = { .o = o };
    int r = parse_dir(&p, dir);
    finish(&p);
    return r;
}
