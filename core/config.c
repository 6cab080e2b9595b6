/* config.c - the INI configuration, parsed with inih.
 *
 * inih hands the handler no line numbers and silently cuts long lines,
 * section names and keys.  So it reads through our own line reader, which
 * counts lines and refuses what inih would truncate; the handler then knows
 * the line of every key it is given.
 */
#include "config.h"

#include <errno.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
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

/* A key seen in a section, to refuse duplicates with both lines named. */
struct seen {
    char *section;
    char *key;
    int line;
};

struct parse {
    const struct conf_file *file;   /* the file being read */
    int depth;              /* of includes */
    const char *text;       /* the whole file */
    size_t pos;
    int line;               /* line just handed to inih */
    struct conf *conf;
    char *section;          /* current section, as read by the reader */
    struct seen *seen;
    size_t nseen;
    char *err;
    size_t errlen;
    int rc;                 /* first error, or 0 */
};

static void fail(struct parse *p, int rc, int line, const char *section,
                 const char *key, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Record the first error as "FILE:LINE: [section] key: message". */
static void fail(struct parse *p, int rc, int line, const char *section,
                 const char *key, const char *fmt, ...)
{
    if (p->rc)
        return;
    p->rc = rc;
    int n = snprintf(p->err, p->errlen, "%s:%d: ", p->file->path, line);
    if (n < 0 || (size_t)n >= p->errlen)
        return;
    if (section && *section)
        n += snprintf(p->err + n, p->errlen - (size_t)n, "[%s] ", section);
    if ((size_t)n < p->errlen && key)
        n += snprintf(p->err + n, p->errlen - (size_t)n, "%s: ", key);
    if ((size_t)n >= p->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static struct conf_service *find_service(struct conf *c, const char *name)
{
    for (size_t i = 0; i < c->nsvcs; i++)
        if (strcmp(c->svcs[i].name, name) == 0)
            return &c->svcs[i];
    return NULL;
}

static int add_service(struct parse *p, const char *name)
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
static void inspect_line(struct parse *p, char *raw)
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
    struct parse *p = stream;
    if (p->rc || p->text[p->pos] == '\0')
        return NULL;
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

/* Remember (section, key); returns the line it was first seen at, or 0. */
static int seen_before(struct parse *p, const char *section, const char *key)
{
    for (size_t i = 0; i < p->nseen; i++)
        if (strcmp(p->seen[i].section, section) == 0 && strcmp(p->seen[i].key, key) == 0)
            return p->seen[i].line;
    struct seen *v = realloc(p->seen, (p->nseen + 1) * sizeof *v);
    if (!v)
        return 0;
    p->seen = v;
    v[p->nseen].section = strdup(section);
    v[p->nseen].key = strdup(key);
    v[p->nseen].line = p->line;
    if (v[p->nseen].section && v[p->nseen].key)
        p->nseen++;
    else {
        free(v[p->nseen].section);
        free(v[p->nseen].key);
    }
    return 0;
}

/* dir + "/" + path, unless path is absolute. */
static char *resolve(const char *dir, const char *path)
{
    char *out;
    if (path[0] == '/' || strcmp(dir, ".") == 0)
        return strdup(path);
    if (asprintf(&out, "%s/%s", dir, path) < 0)
        return NULL;
    return out;
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

static int parse_int(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0')
        return -EINVAL;
    if (errno || v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

/* workers = auto: one per CPU this process may run on. */
static int auto_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > CONF_WORKERS_MAX ? CONF_WORKERS_MAX : (int)n;
}

static void include(struct parse *p, const char *value);
static char *dir_of(const char *path);

/* syslog facility names. */
static int facility_parse(const char *name)
{
    static const struct { const char *name; int facility; } names[] = {
        { "daemon", LOG_DAEMON }, { "user", LOG_USER },
        { "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
        { "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
        { "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0)
            return names[i].facility;
    return -EINVAL;
}

/* only_from / no_access, in a service or in [superd]. */
static void acl_key(struct parse *p, const char *section, const char *key, const char *value,
                    struct acl *acl)
{
    char msg[256];
    if (acl_parse(value, acl, msg, sizeof msg) < 0)
        fail(p, -EINVAL, p->line, section, key, "%s", msg);
}

/* source_prefix_v4 / source_prefix_v6, in a service or in [superd]. */
static void prefix_key(struct parse *p, const char *section, const char *key, const char *value,
                       int *v4, int *v6)
{
    bool is_v4 = strcmp(key, "source_prefix_v4") == 0;
    long bits = 0;
    if (parse_int(value, 1, is_v4 ? 32 : 128, &bits) < 0)
        fail(p, -EINVAL, p->line, section, key, "'%s' is not a prefix length from 1 to %d",
             value, is_v4 ? 32 : 128);
    else
        *(is_v4 ? v4 : v6) = (int)bits;
}

static void global_key(struct parse *p, const char *key, const char *value)
{
    struct conf *c = p->conf;
    const char *sec = "superd";
    if (strcmp(key, "plugin_dir") == 0) {
        c->plugin_dir = resolve(p->file->dir, value);
    } else if (strcmp(key, "pid_file") == 0) {
        c->pid_file = resolve(p->file->dir, value);
    } else if (strcmp(key, "workers") == 0) {
        long v = 0;
        if (strcmp(value, "auto") == 0)
            c->workers = auto_workers();
        else if (parse_int(value, 1, CONF_WORKERS_MAX, &v) < 0)
            fail(p, -EINVAL, p->line, sec, key, "'%s' is not auto or a number from 1 to %d",
                 value, CONF_WORKERS_MAX);
        else
            c->workers = (int)v;
    } else if (strcmp(key, "max_connections") == 0) {
        if (parse_int(value, 1, LONG_MAX, &c->max_connections) < 0)
            fail(p, -EINVAL, p->line, sec, key, "'%s' is not a positive number", value);
    } else if (strcmp(key, "user") == 0) {
        struct passwd *pw = getpwnam(value);
        if (!pw) {
            fail(p, -ENOENT, p->line, sec, key, "no such user '%s'", value);
            return;
        }
        c->user = strdup(value);
        c->user_line = p->line;
        c->uid = pw->pw_uid;
        if (!c->has_group)
            c->gid = pw->pw_gid;
        if (!c->user)
            fail(p, -ENOMEM, p->line, sec, key, "out of memory");
    } else if (strcmp(key, "group") == 0) {
        struct group *gr = getgrnam(value);
        if (!gr) {
            fail(p, -ENOENT, p->line, sec, key, "no such group '%s'", value);
            return;
        }
        c->gid = gr->gr_gid;
        c->has_group = true;
    } else if (strcmp(key, "log") == 0) {
        if (strcmp(value, "stderr") == 0)
            c->log_target = LOG_TO_STDERR;
        else if (strcmp(value, "syslog") == 0)
            c->log_target = LOG_TO_SYSLOG;
        else
            fail(p, -EINVAL, p->line, sec, key, "'%s' is not stderr or syslog", value);
    } else if (strcmp(key, "log_level") == 0) {
        int lv = log_level_parse(value);
        if (lv < 0)
            fail(p, -EINVAL, p->line, sec, key,
                 "'%s' is not err, warning, notice, info or debug", value);
        else
            c->log_level = lv;
    } else if (strcmp(key, "source_prefix_v4") == 0 || strcmp(key, "source_prefix_v6") == 0) {
        prefix_key(p, sec, key, value, &c->source_prefix_v4, &c->source_prefix_v6);
    } else if (strcmp(key, "only_from") == 0) {
        acl_key(p, sec, key, value, &c->only_from);
    } else if (strcmp(key, "no_access") == 0) {
        acl_key(p, sec, key, value, &c->no_access);
    } else if (strcmp(key, "syslog_facility") == 0) {
        int f = facility_parse(value);
        if (f < 0)
            fail(p, -EINVAL, p->line, sec, key, "'%s' is not daemon, user or local0 to local7", value);
        else
            c->syslog_facility = f;
    } else if (strcmp(key, "include") == 0) {
        include(p, value);
    } else if (strcmp(key, "shutdown_timeout") == 0) {
        if (conf_parse_duration(value, &c->shutdown_timeout_ms) < 0)
            fail(p, -EINVAL, p->line, sec, key,
                 "bad duration '%s' (examples: 250ms, 30s, 5m, 1h)", value);
    } else {
        fail(p, -EINVAL, p->line, sec, key, "unknown key");
        return;
    }
    if (!p->rc && ((strcmp(key, "plugin_dir") == 0 && !c->plugin_dir) ||
                   (strcmp(key, "pid_file") == 0 && !c->pid_file)))
        fail(p, -ENOMEM, p->line, sec, key, "out of memory");
}

/* Every address of one listen value (several words, separated by blanks). */
static void listen_key(struct parse *p, struct conf_service *s, const char *value)
{
    char *copy = strdup(value), *save = NULL;
    if (!copy) {
        fail(p, -ENOMEM, p->line, s->name, "listen", "out of memory");
        return;
    }
    for (char *w = strtok_r(copy, " \t,", &save); w && !p->rc; w = strtok_r(NULL, " \t,", &save)) {
        char msg[512];
        size_t before = s->naddrs;
        int r = addr_parse(w, p->file->dir, &s->addrs, &s->naddrs, msg, sizeof msg);
        if (r < 0) {
            fail(p, r, p->line, s->name, "listen", "%s", msg);
            break;
        }
        for (size_t i = before; i < s->naddrs; i++)
            s->addrs[i].line = p->line;
    }
    free(copy);
}

static void service_key(struct parse *p, struct conf_service *s, const char *key,
                        const char *value)
{
    if (strcmp(key, "plugin") == 0) {
        s->plugin = strdup(value);
        s->plugin_line = p->line;
        if (!s->plugin)
            fail(p, -ENOMEM, p->line, s->name, key, "out of memory");
    } else if (strcmp(key, "listen") == 0) {
        listen_key(p, s, value);
    } else if (strcmp(key, "enabled") == 0) {
        if (conf_parse_bool(value, &s->enabled) < 0)
            fail(p, -EINVAL, p->line, s->name, key, "'%s' is not yes or no", value);
    } else if (strcmp(key, "backlog") == 0) {
        long v = 0;
        if (parse_int(value, 1, 65535, &v) < 0)
            fail(p, -EINVAL, p->line, s->name, key, "'%s' is not a number from 1 to 65535", value);
        s->backlog = (int)v;
    } else if (strcmp(key, "only_from") == 0) {
        acl_key(p, s->name, key, value, &s->only_from);
    } else if (strcmp(key, "no_access") == 0) {
        acl_key(p, s->name, key, value, &s->no_access);
    } else if (strcmp(key, "max_per_source") == 0) {
        if (parse_int(value, 1, LONG_MAX, &s->max_per_source) < 0)
            fail(p, -EINVAL, p->line, s->name, key, "'%s' is not a positive number", value);
    } else if (strcmp(key, "source_prefix_v4") == 0 || strcmp(key, "source_prefix_v6") == 0) {
        prefix_key(p, s->name, key, value, &s->source_prefix_v4, &s->source_prefix_v6);
    } else if (strcmp(key, "rate_limit") == 0 || strcmp(key, "udp_reply_rate") == 0) {
        struct conf_rate *r = key[0] == 'r' ? &s->rate_limit : &s->udp_reply_rate;
        if (conf_parse_rate(value, r) < 0)
            fail(p, -EINVAL, p->line, s->name, key, "'%s' is not N/s, N/m or none", value);
    } else if (strcmp(key, "idle_timeout") == 0 || strcmp(key, "max_lifetime") == 0) {
        unsigned *ms = key[0] == 'i' ? &s->idle_timeout_ms : &s->max_lifetime_ms;
        if (conf_parse_duration(value, ms) < 0)
            fail(p, -EINVAL, p->line, s->name, key,
                 "bad duration '%s' (examples: 250ms, 30s, 5m, 1h; 0 for none)", value);
    } else if (strcmp(key, "udp_guard") == 0) {
        if (conf_parse_bool(value, &s->udp_guard) < 0)
            fail(p, -EINVAL, p->line, s->name, key, "'%s' is not yes or no", value);
    } else if (strcmp(key, "log_connections") == 0) {
        if (conf_parse_bool(value, &s->log_connections) < 0)
            fail(p, -EINVAL, p->line, s->name, key, "'%s' is not yes or no", value);
    } else if (strcmp(key, "max_connections") == 0) {
        if (parse_int(value, 1, LONG_MAX, &s->max_connections) < 0)
            fail(p, -EINVAL, p->line, s->name, key, "'%s' is not a positive number", value);
    } else if (strcmp(key, "socket_mode") == 0) {
        char *end;
        long v = strtol(value, &end, 8);
        if (end == value || *end != '\0' || v < 0 || v > 0777)
            fail(p, -EINVAL, p->line, s->name, key, "'%s' is not an octal mode such as 0660", value);
        s->socket_mode = (int)v;
    } else {
        /* Not the core's: keep it for the plugin, which must read it. */
        struct conf_opt *v = realloc(s->opts, (s->nopts + 1) * sizeof *v);
        if (!v) {
            fail(p, -ENOMEM, p->line, s->name, key, "out of memory");
            return;
        }
        s->opts = v;
        v[s->nopts] = (struct conf_opt){ strdup(key), strdup(value), p->line, false };
        if (!v[s->nopts].key || !v[s->nopts].value)
            fail(p, -ENOMEM, p->line, s->name, key, "out of memory");
        s->nopts++;
    }
}

static int handler(void *user, const char *section, const char *key, const char *value)
{
    struct parse *p = user;
    if (p->rc)
        return 0;
    if (*section == '\0') {
        fail(p, -EINVAL, p->line, NULL, key, "key outside of any section");
        return 0;
    }
    int first = seen_before(p, section, key);
    if (first && strcmp(key, "listen") != 0) {
        fail(p, -EEXIST, p->line, section, key, "given twice (first at line %d)", first);
        return 0;
    }
    if (*value == '\0') {
        fail(p, -EINVAL, p->line, section, key, "empty value");
        return 0;
    }
    if (strcmp(section, "superd") == 0) {
        global_key(p, key, value);
    } else {
        struct conf_service *s = find_service(p->conf, section);
        if (!s) {   /* the reader adds every section it sees */
            fail(p, -EINVAL, p->line, section, key, "internal error: unknown section");
            return 0;
        }
        service_key(p, s, key, value);
    }
    return p->rc ? 0 : 1;
}

/* Checks that need the whole file: required keys, addresses used twice. */
static void check_services(struct parse *p)
{
    struct conf *c = p->conf;
    size_t enabled = 0;
    for (size_t i = 0; i < c->nsvcs && !p->rc; i++) {
        struct conf_service *s = &c->svcs[i];
        if (!s->enabled)
            continue;
        enabled++;
        if (!s->source_prefix_v4)   /* [superd]'s, wherever it was given */
            s->source_prefix_v4 = c->source_prefix_v4;
        if (!s->source_prefix_v6)
            s->source_prefix_v6 = c->source_prefix_v6;
        p->file = s->file;  /* errors name the file the service is in */
        if (!s->plugin)
            fail(p, -EINVAL, s->line, s->name, "plugin", "missing (every service needs plugin = NAME)");
        else if (s->naddrs == 0)
            fail(p, -EINVAL, s->line, s->name, "listen", "missing (every service needs listen = ADDRESS)");
        for (size_t a = 0; a < s->naddrs && !p->rc; a++)
            for (size_t j = 0; j <= i && !p->rc; j++) {
                struct conf_service *o = &c->svcs[j];
                size_t end = j == i ? a : o->naddrs;
                for (size_t b = 0; b < end && o->enabled; b++)
                    if (o->addrs[b].kind == s->addrs[a].kind &&
                        addr_equal((struct sockaddr *)&o->addrs[b].sa, o->addrs[b].salen,
                                   (struct sockaddr *)&s->addrs[a].sa, s->addrs[a].salen)) {
                        if (o->file == s->file)
                            fail(p, -EADDRINUSE, s->addrs[a].line, s->name, "listen",
                                 "%s already used by [%s] at line %d", s->addrs[a].text,
                                 o->name, o->addrs[b].line);
                        else
                            fail(p, -EADDRINUSE, s->addrs[a].line, s->name, "listen",
                                 "%s already used by [%s] at %s:%d", s->addrs[a].text,
                                 o->name, o->file->path, o->addrs[b].line);
                        break;
                    }
            }
    }
    if (!p->rc && enabled == 0) {
        p->rc = -ENOENT;
        snprintf(p->err, p->errlen, "%s: no enabled service", c->path);
    }
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
                      char *err, size_t errlen)
{
    struct parse p = { .file = f, .depth = depth, .text = text, .conf = c,
                       .err = err, .errlen = errlen };
    int line = ini_parse_stream(read_line, &p, handler, &p);
    if (!p.rc && line > 0)
        fail(&p, -EINVAL, line, p.section, NULL, "syntax error: expected [section] or key = value");
    else if (!p.rc && line < 0)
        fail(&p, -ENOMEM, 0, NULL, NULL, "out of memory");
    if (!p.rc && depth == 0)
        check_services(&p);
    for (size_t i = 0; i < p.nseen; i++) {
        free(p.seen[i].section);
        free(p.seen[i].key);
    }
    free(p.seen);
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
static void include(struct parse *p, const char *value)
{
    if (p->depth + 1 >= CONF_INCLUDE_DEPTH) {
        fail(p, -ELOOP, p->line, "superd", "include",
             "nested deeper than %d files (does a file include itself?)", CONF_INCLUDE_DEPTH);
        return;
    }
    char *pattern = resolve(p->file->dir, value);
    glob_t g;
    int r = pattern ? glob(pattern, GLOB_ERR, NULL, &g) : GLOB_NOSPACE;
    free(pattern);
    if (r == GLOB_NOMATCH)
        return;
    if (r != 0) {
        fail(p, -EIO, p->line, "superd", "include", "cannot read '%s'", value);
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
            e = parse_text(p->conf, f, text, p->depth + 1, p->err, p->errlen);
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
    c->workers = auto_workers();
    c->log_target = LOG_TO_STDERR;
    c->log_level = LOG_INFO;
    c->syslog_facility = LOG_DAEMON;
    c->shutdown_timeout_ms = 10 * 1000;
    struct conf_file *f = add_file(c, path);
    if (!c->path || !c->dir || !f) {
        conf_free(c);
        return -ENOMEM;
    }
    int r = parse_text(c, f, text, 0, err, errlen);
    if (r) {
        conf_free(c);
        return r;
    }
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
    }
    free(c->svcs);
    free(c->path);
    free(c->dir);
    free(c->plugin_dir);
    free(c->pid_file);
    free(c->user);
    acl_free(&c->only_from);
    acl_free(&c->no_access);
    for (size_t i = 0; i < c->nfiles; i++) {
        free(c->files[i]->path);
        free(c->files[i]->dir);
        free(c->files[i]);
    }
    free(c->files);
    free(c);
}
