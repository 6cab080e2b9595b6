/* import_inetd.c - superd-import: inetd.conf (OpenBSD, Debian's
 * openbsd-inetd, GNU inetutils, FreeBSD's flag forms) into entries. */
#include "import.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAXF 64

static const char *const plugins[] = { "echo", "discard", "daytime", "chargen", "time", NULL };

static bool is_plugin(const char *name)
{
    for (int i = 0; plugins[i]; i++)
        if (strcmp(plugins[i], name) == 0)
            return true;
    return false;
}

static const char *base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* inetd's protocol word: tcp and udp are IPv4, as in every Linux inetd. */
static int parse_proto(const char *w, struct imp_listen *l)
{
    static const struct { const char *w; enum imp_proto p; unsigned fam; } t[] = {
        { "tcp", IMP_TCP, IMP_FAM4 }, { "tcp4", IMP_TCP, IMP_FAM4 },
        { "tcp6", IMP_TCP, IMP_FAM6 }, { "tcp46", IMP_TCP, IMP_FAM4 | IMP_FAM6 },
        { "udp", IMP_UDP, IMP_FAM4 }, { "udp4", IMP_UDP, IMP_FAM4 },
        { "udp6", IMP_UDP, IMP_FAM6 }, { "udp46", IMP_UDP, IMP_FAM4 | IMP_FAM6 },
        { "unix", IMP_UNIX, 0 },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(t[i].w, w) == 0) {
            l->proto = t[i].p;
            l->fam = t[i].fam;
            return 0;
        }
    return -EINVAL;
}

/* The service field: [host:]name, or a unix socket's path. */
static int parse_service(struct imp_entry *e, const char *field, const char *dflt_host,
                         char *name, size_t size)
{
    struct imp_listen *l = &e->lsn;
    snprintf(l->host, sizeof l->host, "%s", dflt_host);
    if (l->proto == IMP_UNIX || l->proto == IMP_UNIX_DGRAM) {
        if (field[0] != '/') {
            ent_skip(e, "a unix socket's service field must be its absolute path");
            return -EINVAL;
        }
        snprintf(l->path, sizeof l->path, "%s", field);
        snprintf(name, size, "%s", base(field));
        char *dot = strchr(name, '.');
        if (dot && dot != name)
            *dot = '\0';
        return 0;
    }
    const char *svc = field;
    const char *colon = strrchr(field, ':');
    if (colon) {
        size_t hl = (size_t)(colon - field);
        if (hl >= 2 && field[0] == '[' && field[hl - 1] == ']')
            snprintf(l->host, sizeof l->host, "%.*s", (int)hl - 2, field + 1);
        else
            snprintf(l->host, sizeof l->host, "%.*s", (int)hl, field);
        if (strcmp(l->host, "*") == 0)
            l->host[0] = '\0';
        svc = colon + 1;
    }
    snprintf(name, size, "%s", svc);
    return 0;
}

/* wait / nowait, with inetd's .N (spawns a minute) or FreeBSD's
 * /max-child/max-connections-per-ip-per-minute/max-child-per-ip. */
static int parse_flags(struct imp_entry *e, const char *w, bool *wait, long lim[4])
{
    lim[0] = lim[1] = lim[2] = lim[3] = 0;
    size_t n = strcspn(w, "./");
    if (n == 4 && strncmp(w, "wait", 4) == 0)
        *wait = true;
    else if (n == 6 && strncmp(w, "nowait", 6) == 0)
        *wait = false;
    else
        return -EINVAL;
    const char *p = w + n;
    if (*p == '.') {
        lim[0] = strtol(p + 1, NULL, 10);
        return 0;
    }
    for (int i = 1; *p == '/' && i < 4; i++) {
        char *end;
        lim[i] = strtol(p + 1, &end, 10);
        p = end;
    }
    (void)e;
    return 0;
}

static void map_limits(struct imp_entry *e, bool plugin, const long lim[4])
{
    const char *inst = plugin ? "max_connections" : "max_instances";
    if (lim[0] > 0) {
        ent_key(e, inst, "%ld", lim[0]);
        ent_note(e, "%s: inetd's .%ld counts servers started a minute, and over it inetd stops "
                 "the service for 10 minutes; superd never stops a service: %s bounds those "
                 "running at once, rate_limit = N/m bounds each source", inst, lim[0], inst);
    }
    if (lim[1] > 0)
        ent_key(e, inst, "%ld", lim[1]);
    if (lim[2] > 0)
        ent_key(e, "rate_limit", "%ld/m", lim[2]);
    if (lim[3] > 0)
        ent_key(e, "max_per_source", "%ld", lim[3]);
}

/* user[:group] or user[.group], FreeBSD's /login-class dropped. */
static void parse_user(struct imp_entry *e, char *w, char **user, char **group)
{
    char *cls = strchr(w, '/');
    if (cls) {
        *cls = '\0';
        ent_note(e, "login class %s: superd has no login classes (rlimit_* set limits)",
                 cls + 1);
    }
    *user = w;
    *group = NULL;
    char *sep = strpbrk(w, ":.");
    if (sep) {
        *sep = '\0';
        *group = sep + 1;
    }
}

static void map_program(struct imp_entry *e, char **f, size_t nf, bool wait,
                        const char *user, const char *group)
{
    const char *program = f[5];
    char **argv = f + 6;
    size_t argc = nf - 6;
    char path[4096];
    if (strcmp(base(program), "tcpd") == 0 && argc > 0) {
        /* tcpd runs argv[0]: superd runs it itself, its lists replace tcpd's. */
        if (argv[0][0] == '/')
            snprintf(path, sizeof path, "%s", argv[0]);
        else
            snprintf(path, sizeof path, "/usr/sbin/%s", argv[0]);
        ent_note(e, "%s dropped: superd runs %s itself; only_from and no_access replace "
                 "/etc/hosts.allow and /etc/hosts.deny, which superd does not read",
                 program, path);
        program = path;
    } else if (argc > 0 && strcmp(base(argv[0]), base(program)) != 0) {
        ent_note(e, "argv[0] was '%s': superd passes the program's path as argv[0] "
                 "(a program that reads it, such as busybox, needs a wrapper)", argv[0]);
    }
    ent_head(e, "program", "%s", program);
    if (argc > 1) {
        struct sbuf a = { 0 };
        const char *bad = NULL;
        if (imp_quote_words(&a, argv + 1, argc - 1, &bad) < 0)
            ent_disable(e, "args: the word '%s' cannot be written in superd.ini (';' after a "
                        "blank starts a comment)", bad);
        else
            ent_head(e, "args", "%s", a.s);
        sb_free(&a);
    }
    ent_key(e, "wait", "%s", wait ? "yes" : "no");
    ent_key(e, "user", "%s", user);
    if (group)
        ent_key(e, "group", "%s", group);
    /* inetd calls initgroups for every user but root. */
    if (strcmp(user, "root") != 0)
        ent_key(e, "groups", "yes");
}

/* One entry line split in fields f[0..nf). */
static void convert(struct imp_out *o, const char *path, int lineno, char **f, size_t nf,
                    bool off, const char *dflt_host)
{
    struct imp_entry e;
    char name[64];
    ent_init(&e, path, lineno, f[0]);
    if (strncmp(f[2], "rpc/", 4) == 0) {
        ent_skip(&e, "an RPC service: superd does not register services with rpcbind");
        goto done;
    }
    if (strncmp(f[0], "tcpmux/", 7) == 0) {
        snprintf(e.name, sizeof e.name, "%s", f[0] + 7 + (f[0][7] == '+'));
        ent_skip(&e, "a TCPMUX service (RFC 1078): superd has no tcpmux multiplexer");
        goto done;
    }
    if (parse_proto(f[2], &e.lsn) < 0) {
        ent_skip(&e, "protocol '%s': superd serves tcp, udp and unix sockets", f[2]);
        goto done;
    }
    bool stream = strcmp(f[1], "stream") == 0;
    if (!stream && strcmp(f[1], "dgram") != 0) {
        ent_skip(&e, "socket type '%s': superd serves stream and dgram sockets", f[1]);
        goto done;
    }
    if (e.lsn.proto == IMP_UNIX && !stream)
        e.lsn.proto = IMP_UNIX_DGRAM;
    if ((e.lsn.proto == IMP_TCP && !stream) || (e.lsn.proto == IMP_UDP && stream)) {
        ent_skip(&e, "%s over %s: not a pair inetd serves", f[1], f[2]);
        goto done;
    }
    if (parse_service(&e, f[0], dflt_host, name, sizeof name) < 0)
        goto done;
    snprintf(e.name, sizeof e.name, "%s", name);
    if (e.lsn.proto == IMP_TCP || e.lsn.proto == IMP_UDP) {
        e.lsn.port = imp_port(name, e.lsn.proto == IMP_TCP ? "tcp" : "udp");
        if (!e.lsn.port) {
            ent_skip(&e, "'%s' is no port number, and no %s service in /etc/services", name,
                     e.lsn.proto == IMP_TCP ? "tcp" : "udp");
            goto done;
        }
    }
    e.has_listen = true;
    bool wait;
    long lim[4];
    if (parse_flags(&e, f[3], &wait, lim) < 0) {
        ent_skip(&e, "'%s' is not wait or nowait", f[3]);
        goto done;
    }
    char *user, *group;
    parse_user(&e, f[4], &user, &group);
    bool plugin = strcmp(f[5], "internal") == 0;
    if (plugin) {
        if (!is_plugin(name)) {
            ent_skip(&e, "inetd's internal '%s' has no superd plugin", name);
            goto done;
        }
        ent_head(&e, "plugin", "%s", name);
        if (strcmp(user, "root") != 0)
            ent_note(&e, "user %s: plugins run in superd's workers, as [superd] user", user);
    } else {
        map_program(&e, f, nf, wait, user, group);
    }
    map_limits(&e, plugin, lim);
    if (off)
        ent_disable(&e, "disabled in inetd.conf (#<off>#)");
done:
    imp_add(o, &e);
    ent_free(&e);
}

int imp_inetd(struct imp_out *o, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        int err = errno;
        fprintf(stderr, "superd-import: %s: %s\n", path, strerror(err));
        return -err;
    }
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    char host[256] = "";
    const char *name = strcmp(path, "-") == 0 ? "(stdin)" : path;
    name = imp_out_file(o, name);
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        char *s = line;
        bool off = false;
        if (strncmp(s, "#<off>#", 7) == 0) {
            off = true;
            s += 7;
        }
        char *fields[MAXF];
        size_t nf = 0;
        for (char *tok = strtok(s, " \t\r\n"); tok && nf < MAXF; tok = strtok(NULL, " \t\r\n"))
            fields[nf++] = tok;
        if (nf == 0 || fields[0][0] == '#')
            continue;
        if (nf == 1 && fields[0][strlen(fields[0]) - 1] == ':') {
            /* OpenBSD: "host:" alone sets the host of the lines after it. */
            snprintf(host, sizeof host, "%.*s", (int)strlen(fields[0]) - 1, fields[0]);
            if (strcmp(host, "*") == 0)
                host[0] = '\0';
            continue;
        }
        if (nf < 6) {
            imp_out_note(o, "%s:%d: not converted: %zu fields, an inetd.conf entry has at "
                         "least 6 (service, socket type, protocol, wait, user, server)", name,
                         lineno, nf);
            continue;
        }
        convert(o, name, lineno, fields, nf, off, host);
    }
    free(line);
    if (f != stdin)
        fclose(f);
    return 0;
}
