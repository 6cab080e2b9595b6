/* conf_keys.c - the table of the core's configuration keys and one setter
 * per type of value.  config.c does the reading; this file says what each
 * key means. */
#include "conf_keys.h"
#include "tls_conf.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define G(f) offsetof(struct conf, f)
#define S(f) offsetof(struct conf_service, f)
#define SIZE_G(f) sizeof(((struct conf *)0)->f)
#define SIZE_S(f) sizeof(((struct conf_service *)0)->f)

/* A key of one section (OFF_G/OFF_S) or of both (OFF_BOTH). */
#define OFF_G(f) .off = { G(f), 0 }, .size = SIZE_G(f)
#define OFF_S(f) .off = { 0, S(f) }, .size = SIZE_S(f)
#define OFF_BOTH(f) .off = { G(f), S(f) }, .size = SIZE_S(f)

/* conf_set_enum stores an int: the log target's enum must be one. */
_Static_assert(sizeof(enum log_target) == sizeof(int), "enum log_target is not an int");

static const struct conf_choice log_targets[] = {
    { "stderr", LOG_TO_STDERR }, { "syslog", LOG_TO_SYSLOG }, { NULL, 0 },
};

static const struct conf_choice log_levels[] = {
    { "err", LOG_ERR }, { "error", LOG_ERR }, { "warning", LOG_WARNING },
    { "notice", LOG_NOTICE }, { "info", LOG_INFO }, { "debug", LOG_DEBUG }, { NULL, 0 },
};

static const struct conf_choice facilities[] = {
    { "daemon", LOG_DAEMON }, { "user", LOG_USER },
    { "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
    { "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
    { "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 }, { NULL, 0 },
};

/*
 * The core's keys.  To add one: a field in struct conf (for [superd]) or
 * struct conf_service (with its default in add_service or conf_load_string
 * of config.c when it is not zero), then one row here: the name, where it
 * may be given, the type (its setter: conf_set_bool, _count, _duration,
 * _rate, _string, _path, _acl, _mode, _enum, or one of your own with the
 * conf_setter signature) and the field with OFF_G / OFF_S / OFF_BOTH, plus
 * the limits the type reads (min/max, word, hint, choices).  Document it in
 * docs/configuration.md and README.md: a unit test checks that every row is.
 * A module with many keys of its own (exec) may keep its rows in its own
 * table, terminated by a row with a NULL name, listed in `tables` below.
 * Keys needing the whole file (one key requires another) are checked in
 * config.c after the parse, where the seen set tells where each key was.
 */
static const struct conf_key core_keys[] = {
    /* [superd] */
    { "plugin_dir", CONF_GLOBAL, conf_set_path, OFF_G(plugin_dir) },
    { "pid_file", CONF_GLOBAL, conf_set_path, OFF_G(pid_file) },
    { "workers", CONF_GLOBAL, conf_set_count, OFF_G(workers), .min = 1, .max = CONF_WORKERS_MAX,
      .word = "auto" },
    { "user", CONF_GLOBAL, conf_set_user, OFF_G(user), .line_at = { G(user_line) + 1, 0 } },
    { "group", CONF_GLOBAL, conf_set_group, OFF_G(gid) },
    { "log", CONF_GLOBAL, conf_set_enum, OFF_G(log_target), .choices = log_targets,
      .hint = "stderr or syslog" },
    { "log_level", CONF_GLOBAL, conf_set_enum, OFF_G(log_level), .choices = log_levels,
      .hint = "err, warning, notice, info or debug" },
    { "syslog_facility", CONF_GLOBAL, conf_set_enum, OFF_G(syslog_facility),
      .choices = facilities, .hint = "daemon, user or local0 to local7" },
    { "include", CONF_GLOBAL, conf_set_include, OFF_G(files) },
    { "shutdown_timeout", CONF_GLOBAL, conf_set_duration, OFF_G(shutdown_timeout_ms) },
    { "metrics_listen", CONF_GLOBAL, conf_set_metrics_listen, OFF_G(path) },
    /* both: [superd] gives the default of every service, or a total */
    { "max_connections", CONF_BOTH, conf_set_count, OFF_BOTH(max_connections), .min = 1,
      .max = LONG_MAX },
    { "only_from", CONF_BOTH, conf_set_acl, OFF_BOTH(only_from) },
    { "no_access", CONF_BOTH, conf_set_acl, OFF_BOTH(no_access) },
    { "source_prefix_v4", CONF_BOTH, conf_set_count, OFF_BOTH(source_prefix_v4), .min = 1,
      .max = 32, .hint = "a prefix length" },
    { "source_prefix_v6", CONF_BOTH, conf_set_count, OFF_BOTH(source_prefix_v6), .min = 1,
      .max = 128, .hint = "a prefix length" },
    /* services */
    { "plugin", CONF_SERVICE, conf_set_string, OFF_S(plugin), .line_at = { 0, S(plugin_line) + 1 } },
    { "listen", CONF_SERVICE, conf_set_listen, OFF_S(addrs) },
    { "enabled", CONF_SERVICE, conf_set_bool, OFF_S(enabled) },
    { "backlog", CONF_SERVICE, conf_set_count, OFF_S(backlog), .min = 1, .max = 65535 },
    { "max_per_source", CONF_SERVICE, conf_set_count, OFF_S(max_per_source), .min = 1,
      .max = LONG_MAX },
    { "rate_limit", CONF_SERVICE, conf_set_rate, OFF_S(rate_limit) },
    { "udp_reply_rate", CONF_SERVICE, conf_set_reply_rate, OFF_S(udp_reply_rate) },
    { "idle_timeout", CONF_SERVICE, conf_set_duration, OFF_S(idle_timeout_ms),
      .hint = "; 0 for none" },
    { "max_lifetime", CONF_SERVICE, conf_set_duration, OFF_S(max_lifetime_ms),
      .hint = "; 0 for none" },
    { "udp_guard", CONF_SERVICE, conf_set_bool, OFF_S(udp_guard) },
    { "log_connections", CONF_SERVICE, conf_set_bool, OFF_S(log_connections) },
    { "socket_mode", CONF_SERVICE, conf_set_mode, OFF_S(socket_mode), .max = 0777 },
    { "reuseport", CONF_SERVICE, conf_set_bool, OFF_S(reuseport) },
    { "udp_per_worker", CONF_SERVICE, conf_set_bool, OFF_S(udp_per_worker) },
    { "only_uid", CONF_SERVICE, conf_set_ids, OFF_S(only_uid), .word = "user" },
    { "only_gid", CONF_SERVICE, conf_set_ids, OFF_S(only_gid), .word = "group" },
    { "proxy_protocol", CONF_SERVICE, conf_set_proxy_in, OFF_S(proxy_protocol) },
    { "trusted_proxies", CONF_SERVICE, conf_set_acl, OFF_S(trusted_proxies) },
    { "proxy_timeout", CONF_SERVICE, conf_set_duration, OFF_S(proxy_timeout_ms) },
    { NULL, 0, NULL, { 0, 0 }, 0, 0, 0, NULL, NULL, NULL, { 0, 0 } },
};

/* The tls_* keys (tls_conf.c). */
extern const struct conf_key tls_conf_keys[];
/* exec_conf.c: program, args, user ... (docs/exec.md). */
extern const struct conf_key exec_conf_keys[];

/* Every table, looked up in this order (a name may be in one only). */
static const struct conf_key *const tables[] = {
    core_keys,
    tls_conf_keys,
    exec_conf_keys,
};

#define NTABLES (sizeof tables / sizeof tables[0])

const struct conf_key *conf_key_find(unsigned where, const char *name)
{
    for (size_t t = 0; t < NTABLES; t++)
        for (const struct conf_key *k = tables[t]; k->name; k++)
            if ((k->where & where) && strcmp(k->name, name) == 0)
                return k;
    return NULL;
}

const struct conf_key *conf_key_at(size_t i)
{
    for (size_t t = 0; t < NTABLES; t++)
        for (const struct conf_key *k = tables[t]; k->name; k++)
            if (i-- == 0)
                return k;
    return NULL;
}

bool conf_one_edit(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la < lb) {      /* a is the longer, or the same length */
        const char *t = a;
        a = b;
        b = t;
        size_t n = la;
        la = lb;
        lb = n;
    }
    if (la - lb > 1)
        return false;
    size_t i = 0;
    while (i < lb && a[i] == b[i])
        i++;
    if (la > lb)        /* one letter added: the rest is the same */
        return strcmp(a + i + 1, b + i) == 0;
    if (i == la)
        return false;   /* equal */
    if (strcmp(a + i + 1, b + i + 1) == 0)
        return true;    /* one letter changed */
    return i + 1 < la && a[i] == b[i + 1] && a[i + 1] == b[i] &&
           strcmp(a + i + 2, b + i + 2) == 0;      /* two neighbours swapped */
}

const char *conf_key_suggest(unsigned where, const char *name)
{
    for (size_t t = 0; t < NTABLES; t++)
        for (const struct conf_key *k = tables[t]; k->name; k++)
            if ((k->where & where) && conf_one_edit(k->name, name))
                return k->name;
    return NULL;
}

char *conf_resolve(const char *dir, const char *path)
{
    char *out;
    if (path[0] == '/' || strcmp(dir, ".") == 0)
        return strdup(path);
    if (asprintf(&out, "%s/%s", dir, path) < 0)
        return NULL;
    return out;
}

/* ---- one setter per type ---- */

int conf_set_bool(struct conf_arg *a)
{
    if (conf_parse_bool(a->value, a->field) < 0)
        return conf_fail(a, -EINVAL, "'%s' is not yes or no", a->value);
    return 0;
}

/* strtol over the whole string, in [min, max]. */
static int parse_long(const char *s, long min, long max, long *out)
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

int conf_set_count(struct conf_arg *a)
{
    const struct conf_key *k = a->key;
    long v = 0;         /* `word` (workers = auto) is stored as 0 */
    int r = 0;
    if (!k->word || strcmp(a->value, k->word) != 0)
        r = parse_long(a->value, k->min, k->max, &v);
    if (r < 0 && k->max == LONG_MAX)
        return conf_fail(a, -EINVAL, "'%s' is not a positive number", a->value);
    if (r < 0)
        return conf_fail(a, -EINVAL, "'%s' is not %s%s%s from %ld to %ld", a->value,
                         k->word ? k->word : "", k->word ? " or " : "",
                         k->hint ? k->hint : "a number", k->min, k->max);
    if (k->size == sizeof(int))
        *(int *)a->field = (int)v;
    else
        *(long *)a->field = v;
    return 0;
}

int conf_set_duration(struct conf_arg *a)
{
    if (conf_parse_duration(a->value, a->field) < 0)
        return conf_fail(a, -EINVAL, "bad duration '%s' (examples: 250ms, 30s, 5m, 1h%s)",
                         a->value, a->key->hint ? a->key->hint : "");
    return 0;
}

int conf_set_rate(struct conf_arg *a)
{
    if (conf_parse_rate(a->value, a->field) < 0)
        return conf_fail(a, -EINVAL, "'%s' is not N/s, N/m or none", a->value);
    return 0;
}

/* only_uid / only_gid: names (looked up now) or numbers, appended. */
int conf_set_ids(struct conf_arg *a)
{
    struct conf_ids *ids = a->field;
    bool users = strcmp(a->key->word, "user") == 0;
    char *copy = strdup(a->value), *save = NULL;
    if (!copy)
        return conf_fail(a, -ENOMEM, "out of memory");
    int r = 0;
    for (char *w = strtok_r(copy, " \t,", &save); w && !r; w = strtok_r(NULL, " \t,", &save)) {
        char *end;
        unsigned long id = strtoul(w, &end, 10);
        if (*w < '0' || *w > '9' || *end || id > 0xfffffffful) {
            struct passwd *pw = users ? getpwnam(w) : NULL;
            struct group *gr = users ? NULL : getgrnam(w);
            if (!pw && !gr) {
                r = conf_fail(a, -ENOENT, "no such %s '%s'", a->key->word, w);
                break;
            }
            id = pw ? pw->pw_uid : gr->gr_gid;
        }
        unsigned *v = realloc(ids->v, (ids->n + 1) * sizeof *v);
        if (!v) {
            r = conf_fail(a, -ENOMEM, "out of memory");
            break;
        }
        ids->v = v;
        ids->v[ids->n++] = (unsigned)id;
    }
    free(copy);
    return r;
}

/* proxy_protocol: yes/no is the core's (a header in front of every
 * connection); another word (v1, v2, off) belongs to the plugin. */
int conf_set_proxy_in(struct conf_arg *a)
{
    return conf_parse_bool(a->value, a->field) < 0 ? CONF_PLUGIN_VALUE : 0;
}

/* udp_reply_rate: a rate, or off (no reply budget at all: the bench). */
int conf_set_reply_rate(struct conf_arg *a)
{
    a->svc->udp_reply_off = strcmp(a->value, "off") == 0;
    if (!a->svc->udp_reply_off && conf_parse_rate(a->value, a->field) < 0)
        return conf_fail(a, -EINVAL, "'%s' is not N/s, N/m or none or off", a->value);
    return 0;
}

int conf_set_string(struct conf_arg *a)
{
    char **field = a->field;
    *field = strdup(a->value);
    return *field ? 0 : conf_fail(a, -ENOMEM, "out of memory");
}

int conf_set_path(struct conf_arg *a)
{
    char **field = a->field;
    *field = conf_resolve(a->dir, a->value);
    return *field ? 0 : conf_fail(a, -ENOMEM, "out of memory");
}

int conf_set_acl(struct conf_arg *a)
{
    char msg[256];
    if (acl_parse(a->value, a->field, msg, sizeof msg) < 0)
        return conf_fail(a, -EINVAL, "%s", msg);
    return 0;
}

int conf_set_mode(struct conf_arg *a)
{
    char *end;
    long v = strtol(a->value, &end, 8);
    if (end == a->value || *end != '\0' || v < 0 || v > a->key->max)
        return conf_fail(a, -EINVAL, "'%s' is not an octal mode such as 0660", a->value);
    *(int *)a->field = (int)v;
    return 0;
}

int conf_set_enum(struct conf_arg *a)
{
    for (const struct conf_choice *c = a->key->choices; c->name; c++) {
        if (strcmp(a->value, c->name) == 0) {
            *(int *)a->field = c->value;
            return 0;
        }
    }
    return conf_fail(a, -EINVAL, "'%s' is not %s", a->value, a->key->hint);
}

/* ---- keys of their own kind ---- */

int conf_set_user(struct conf_arg *a)
{
    struct conf *c = a->conf;
    struct passwd *pw = getpwnam(a->value);
    if (!pw)
        return conf_fail(a, -ENOENT, "no such user '%s'", a->value);
    if (pw->pw_uid == 0)
        conf_warn(a, "%s is uid 0: workers and plugins keep every privilege "
                  "(name an unprivileged user)", a->value);
    c->uid = pw->pw_uid;
    if (!c->has_group)
        c->gid = pw->pw_gid;
    c->user = strdup(a->value);
    return c->user ? 0 : conf_fail(a, -ENOMEM, "out of memory");
}

int conf_set_group(struct conf_arg *a)
{
    struct group *gr = getgrnam(a->value);
    if (!gr)
        return conf_fail(a, -ENOENT, "no such group '%s'", a->value);
    a->conf->gid = gr->gr_gid;
    a->conf->has_group = true;
    return 0;
}

/* Every address of one listen value (several words, separated by blanks). */
int conf_set_listen(struct conf_arg *a)
{
    struct conf_service *s = a->svc;
    char *copy = strdup(a->value), *save = NULL;
    if (!copy)
        return conf_fail(a, -ENOMEM, "out of memory");
    int r = 0;
    for (char *w = strtok_r(copy, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
        char msg[512];
        size_t before = s->naddrs;
        r = addr_parse(w, a->dir, &s->addrs, &s->naddrs, msg, sizeof msg);
        if (r < 0) {
            conf_fail(a, r, "%s", msg);
            break;
        }
        for (size_t i = before; i < s->naddrs; i++)
            s->addrs[i].line = a->line;
    }
    free(copy);
    return r;
}
