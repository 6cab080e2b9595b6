/* exec_conf.c - parsing and checking the keys of a service that runs a
 * program.  Users and groups are looked up here, at load: a name that
 * does not exist is a configuration error, never a failed start later. */
#include "exec_conf.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf_keys.h"
#include "config.h"
#include "exec_args.h"

static const char *const rlimit_keys[EXEC_NRLIMITS] = {
    "rlimit_cpu", "rlimit_as", "rlimit_nofile", "rlimit_nproc",
};

static bool valid_name(const char *s, size_t len)
{
    if (len == 0 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

/* "unlimited", or a number with an optional K, M, G (powers of 1024). */
static int parse_rlimit(const char *s, unsigned long long *out)
{
    if (strcmp(s, "unlimited") == 0) {
        *out = EXEC_RLIM_UNLIMITED;
        return 0;
    }
    if (*s < '0' || *s > '9')
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned shift = 0;
    if (*end && !end[1])
        shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 99;
    if (errno || (*end && shift == 99) || (*end && end[1]))
        return -EINVAL;
    if (shift && v > (~0ULL >> shift) - 1)
        return -ERANGE;
    *out = v << shift;
    return 0;
}

/* A plain count: parse_rlimit without the K, M, G suffixes. */
static int parse_rlimit_plain(const char *s, unsigned long long *out)
{
    size_t n = strlen(s);
    if (n && (s[n - 1] == 'K' || s[n - 1] == 'M' || s[n - 1] == 'G'))
        return -EINVAL;
    return parse_rlimit(s, out);
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end)
        return -EINVAL;
    if (errno || v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

static int dup_path(char **dst, const char *value, const char *what, char *msg, size_t msglen)
{
    if (value[0] != '/') {
        snprintf(msg, msglen, "'%s' is not an absolute path (%s must start with /)", value, what);
        return -EINVAL;
    }
    free(*dst);
    *dst = strdup(value);
    return *dst ? 0 : -ENOMEM;
}

static int env_key(struct exec_conf *e, const char *value, char *msg, size_t msglen)
{
    char **v;
    size_t n;
    int r = exec_args_split(value, &v, &n, msg, msglen);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(v[i], '=');
        if (!eq || !valid_name(v[i], (size_t)(eq - v[i]))) {
            snprintf(msg, msglen, "'%s' is not NAME=VALUE (NAME: letters, digits, _)", v[i]);
            exec_args_free(v);
            return -EINVAL;
        }
    }
    e->env = v;
    e->nenv = n;
    return 0;
}

static int pass_env_key(struct exec_conf *e, const char *value, char *msg, size_t msglen)
{
    char **v;
    size_t n;
    int r = exec_args_split(value, &v, &n, msg, msglen);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        if (!valid_name(v[i], strlen(v[i]))) {
            snprintf(msg, msglen, "'%s' is not a variable name (letters, digits, _)", v[i]);
            exec_args_free(v);
            return -EINVAL;
        }
    }
    e->pass_env = v;
    e->npass_env = n;
    return 0;
}

static int user_key(struct exec_conf *e, const char *value, int line, char *msg, size_t msglen)
{
    struct passwd *pw = getpwnam(value);
    if (!pw) {
        snprintf(msg, msglen, "no such user '%s'", value);
        return -ENOENT;
    }
    if (!(e->user = strdup(value)))
        return -ENOMEM;
    e->uid = pw->pw_uid;
    if (!e->has_group)
        e->gid = pw->pw_gid;
    e->user_line = line;
    return 0;
}

static int group_key(struct exec_conf *e, const char *value, char *msg, size_t msglen)
{
    struct group *gr = getgrnam(value);
    if (!gr) {
        snprintf(msg, msglen, "no such group '%s'", value);
        return -ENOENT;
    }
    e->gid = gr->gr_gid;
    e->has_group = true;
    return 0;
}

/* memory_max (bytes, K/M/G) and pids_max (a count): a positive number, or
 * max / unlimited (cgroup v2's word and the rlimits'). */
static int cgroup_limit_key(struct exec_conf *e, const char *key, const char *value,
                            char *msg, size_t msglen)
{
    bool mem = key[0] == 'm';
    unsigned long long v = EXEC_RLIM_UNLIMITED;
    if (strcmp(value, "max") != 0 && strcmp(value, "unlimited") != 0) {
        if ((mem ? parse_rlimit(value, &v) : parse_rlimit_plain(value, &v)) < 0 || v == 0) {
            snprintf(msg, msglen, mem ? "'%s' is not a number of bytes (K, M, G allowed) "
                     "or max" : "'%s' is not a positive number or max", value);
            return -EINVAL;
        }
    }
    *(mem ? &e->memory_max : &e->pids_max) = v;
    *(mem ? &e->has_memory_max : &e->has_pids_max) = true;
    return 0;
}

/* The keys whose value is one word of a fixed set, or a number. */
static int simple_key(struct exec_conf *e, const char *key, const char *value,
                      char *msg, size_t msglen)
{
    long v = 0;
    if (strcmp(key, "wait") == 0 || strcmp(key, "groups") == 0) {
        bool *b = key[0] == 'w' ? &e->wait : &e->groups;
        if (conf_parse_bool(value, b) == 0)
            return 0;
        snprintf(msg, msglen, "'%s' is not yes or no", value);
    } else if (strcmp(key, "stderr") == 0) {
        static const char *const names[] = { "log", "socket", "null" };
        for (int i = 0; i < 3; i++)
            if (strcmp(value, names[i]) == 0) {
                e->stderr_to = i;
                return 0;
            }
        snprintf(msg, msglen, "'%s' is not log, socket or null", value);
    } else if (strcmp(key, "umask") == 0) {
        char *end;
        v = strtol(value, &end, 8);
        if (end != value && !*end && v >= 0 && v <= 0777) {
            e->umask = (int)v;
            e->has_umask = true;
            return 0;
        }
        snprintf(msg, msglen, "'%s' is not an octal mask such as 022", value);
    } else if (strcmp(key, "nice") == 0) {
        if (parse_long(value, -20, 19, &v) == 0) {
            e->nice = (int)v;
            e->has_nice = true;
            return 0;
        }
        snprintf(msg, msglen, "'%s' is not a number from -20 to 19", value);
    } else if (strcmp(key, "memory_max") == 0 || strcmp(key, "pids_max") == 0) {
        return cgroup_limit_key(e, key, value, msg, msglen);
    } else if (strcmp(key, "max_instances") == 0) {
        if (parse_long(value, 1, INT_MAX, &e->max_instances) == 0)
            return 0;
        snprintf(msg, msglen, "'%s' is not a positive number", value);
    } else {
        return 1;
    }
    return -EINVAL;
}

int exec_conf_key(struct conf_service *s, const char *key, const char *value, int line,
                  char *msg, size_t msglen)
{
    struct exec_conf *e = &s->exec;
    int r = simple_key(e, key, value, msg, msglen);
    if (strcmp(key, "wait") == 0)
        e->wait_line = line;
    if (r == 0 && !e->cgroup_key && (strcmp(key, "memory_max") == 0 ||
                                     strcmp(key, "pids_max") == 0)) {
        e->cgroup_key = key[0] == 'm' ? "memory_max" : "pids_max";
        e->cgroup_line = line;
    }
    if (r == 1) {
        r = 0;
        if (strcmp(key, "program") == 0) {
            r = dup_path(&e->program, value, "program", msg, msglen);
            e->program_line = line;
        } else if (strcmp(key, "args") == 0) {
            r = exec_args_split(value, &e->args, &e->nargs, msg, msglen);
        } else if (strcmp(key, "env") == 0) {
            r = env_key(e, value, msg, msglen);
        } else if (strcmp(key, "pass_env") == 0) {
            r = pass_env_key(e, value, msg, msglen);
        } else if (strcmp(key, "user") == 0) {
            r = user_key(e, value, line, msg, msglen);
        } else if (strcmp(key, "group") == 0) {
            r = group_key(e, value, msg, msglen);
        } else if (strcmp(key, "chroot") == 0) {
            r = dup_path(&e->chroot, value, "chroot", msg, msglen);
            e->chroot_line = line;
        } else if (strcmp(key, "chdir") == 0) {
            r = dup_path(&e->chdir, value, "chdir", msg, msglen);
        } else {
            int i = 0;
            while (i < EXEC_NRLIMITS && strcmp(key, rlimit_keys[i]) != 0)
                i++;
            if (i == EXEC_NRLIMITS)
                return 0;   /* not an exec key */
            if (parse_rlimit(value, &e->rlimit[i]) < 0) {
                snprintf(msg, msglen, "'%s' is not a number (K, M, G allowed) or unlimited",
                         value);
                return -EINVAL;
            }
            e->rlimit_set |= 1u << i;
        }
    }
    if (r == -ENOMEM)
        snprintf(msg, msglen, "out of memory");
    if (r == 0 && !e->first_key && strcmp(key, "program") != 0) {
        /* Kept for "needs program": key names are the caller's, copy them. */
        static const char *const known[] = { "args", "wait", "stderr", "env", "pass_env",
            "user", "group", "groups", "chroot", "chdir", "umask", "nice",
            "rlimit_cpu", "rlimit_as", "rlimit_nofile", "rlimit_nproc", "max_instances",
            "memory_max", "pids_max" };
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            if (strcmp(key, known[i]) == 0)
                e->first_key = known[i];
        e->first_line = line;
    }
    return r < 0 ? r : 1;
}

/* The program, as the child will see it (under chroot), is an executable
 * regular file. */
static int check_program(const struct exec_conf *e, char *msg, size_t msglen)
{
    char path[PATH_MAX];
    struct stat st;
    int n = snprintf(path, sizeof path, "%s%s", e->chroot ? e->chroot : "", e->program);
    if (n < 0 || (size_t)n >= sizeof path) {
        snprintf(msg, msglen, "path too long");
        return -ENAMETOOLONG;
    }
    if (stat(path, &st) < 0) {
        int err = errno;
        snprintf(msg, msglen, "%s: %s", path, strerror(err));
        return -err;
    }
    if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111)) {
        snprintf(msg, msglen, "%s is not an executable file", path);
        return -EACCES;
    }
    return 0;
}

int exec_conf_check(const struct conf_service *s, const char **key, int *line,
                    char *msg, size_t msglen)
{
    const struct exec_conf *e = &s->exec;
    if (!e->program) {
        if (!e->first_key)
            return 0;
        *key = e->first_key;
        *line = e->first_line;
        snprintf(msg, msglen, "only for a service that runs a program (program = PATH)");
        return -EINVAL;
    }
    *key = "program";
    *line = e->program_line;
    if (s->plugin) {
        snprintf(msg, msglen, "given with plugin (line %d): a service runs a plugin or a "
                 "program, not both", s->plugin_line);
        return -EINVAL;
    }
    if (e->groups && !e->user) {
        *key = "groups";
        *line = e->first_line;
        snprintf(msg, msglen, "needs user = NAME (whose groups?)");
        return -EINVAL;
    }
    for (size_t i = 0; e->wait && s->proxy_protocol && i < s->naddrs; i++)
        if (addr_socktype(s->addrs[i].kind) == SOCK_STREAM) {
            /* The child accepts on the listener itself: superd never holds
             * a connection to read its header from. */
            *key = "wait";
            *line = e->wait_line ? e->wait_line : e->first_line;
            snprintf(msg, msglen, "a wait = yes program accepts on %s itself, so superd "
                     "cannot read a PROXY header first (proxy_protocol = yes): use wait = no",
                     s->addrs[i].text);
            return -ENOTSUP;
        }
    return check_program(e, msg, msglen);
}

void exec_conf_free(struct exec_conf *e)
{
    free(e->program);
    exec_args_free(e->args);
    exec_args_free(e->env);
    exec_args_free(e->pass_env);
    free(e->user);
    free(e->chroot);
    free(e->chdir);
}

/* A row's setter: every exec key goes through exec_conf_key. */
static int exec_set(struct conf_arg *a)
{
    char msg[512];
    int r = exec_conf_key(a->svc, a->key->name, a->value, a->line, msg, sizeof msg);
    return r < 0 ? conf_fail(a, r, "%s", msg) : 0;
}

/* [superd] cgroup_root: an absolute path (a cgroup directory), copied. */
static int cgroup_root_set(struct conf_arg *a)
{
    char **dst = a->field;
    if (a->value[0] != '/')
        return conf_fail(a, -EINVAL, "'%s' is not an absolute path (a cgroup v2 directory, "
                         "e.g. /sys/fs/cgroup/superd)", a->value);
    free(*dst);
    *dst = strdup(a->value);
    return *dst ? 0 : conf_fail(a, -ENOMEM, "out of memory");
}

#define EXEC_ROW(name) \
    { name, CONF_SERVICE, exec_set, { 0, offsetof(struct conf_service, exec) }, \
      sizeof(struct exec_conf), 0, 0, NULL, NULL, NULL, { 0, 0 } }

const struct conf_key exec_conf_keys[] = {
    EXEC_ROW("program"), EXEC_ROW("args"), EXEC_ROW("wait"), EXEC_ROW("stderr"),
    EXEC_ROW("env"), EXEC_ROW("pass_env"), EXEC_ROW("user"), EXEC_ROW("group"),
    EXEC_ROW("groups"), EXEC_ROW("chroot"), EXEC_ROW("chdir"), EXEC_ROW("umask"),
    EXEC_ROW("nice"), EXEC_ROW("rlimit_cpu"), EXEC_ROW("rlimit_as"), EXEC_ROW("rlimit_nofile"),
    EXEC_ROW("rlimit_nproc"), EXEC_ROW("max_instances"), EXEC_ROW("memory_max"),
    EXEC_ROW("pids_max"),
    { "cgroup_root", CONF_GLOBAL, cgroup_root_set, { offsetof(struct conf, cgroup_root), 0 },
      sizeof(char *), 0, 0, NULL, NULL, NULL, { 0, 0 } },
    { NULL, 0, NULL, { 0, 0 }, 0, 0, 0, NULL, NULL, NULL, { 0, 0 } },
};
