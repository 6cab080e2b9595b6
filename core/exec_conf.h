/* exec_conf.h - the keys of a service that runs a program (program, args,
 * wait, stderr, env, pass_env, user, group, groups, chroot, chdir, umask,
 * nice, rlimit_*, max_instances, memory_max, pids_max; cgroup_root in
 * [superd]): parsed and checked here, kept in
 * struct conf_service's `exec`. */
#ifndef SUPERD_EXEC_CONF_H
#define SUPERD_EXEC_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct conf_service;

enum exec_stderr { EXEC_STDERR_LOG, EXEC_STDERR_SOCKET, EXEC_STDERR_NULL };

/* rlimit_cpu, rlimit_as, rlimit_nofile, rlimit_nproc, in that order. */
enum { EXEC_RLIMIT_CPU, EXEC_RLIMIT_AS, EXEC_RLIMIT_NOFILE, EXEC_RLIMIT_NPROC, EXEC_NRLIMITS };
#define EXEC_RLIM_UNLIMITED (~0ULL)

struct exec_conf {
    char *program;              /* absolute path; NULL: not an exec service */
    int program_line;
    char **args;                /* argv[1..], NULL-terminated (argv[0] is program) */
    size_t nargs;
    bool wait;                  /* inetd's wait: the child gets the listener */
    int stderr_to;              /* enum exec_stderr */
    char **env;                 /* NAME=VALUE words */
    size_t nenv;
    char **pass_env;            /* NAME words, copied from superd's environment */
    size_t npass_env;
    char *user;                 /* NULL: superd's own [superd] user (or root) */
    uid_t uid;
    gid_t gid;                  /* `group`, else the user's primary group */
    bool has_group;
    bool groups;                /* groups = yes: the user's supplementary groups */
    char *chroot;               /* absolute, or NULL */
    char *chdir;                /* absolute (inside the chroot), or NULL */
    int umask;                  /* -1: 022 */
    bool has_umask;
    int nice;
    bool has_nice;
    unsigned long long rlimit[EXEC_NRLIMITS];
    unsigned rlimit_set;        /* bit i: rlimit[i] given */
    long max_instances;         /* children at once; 0: no limit */
    unsigned long long memory_max;  /* bytes, EXEC_RLIM_UNLIMITED: max (cgroup) */
    unsigned long long pids_max;    /* processes, EXEC_RLIM_UNLIMITED: max (cgroup) */
    bool has_memory_max, has_pids_max;
    const char *cgroup_key;     /* the first of memory_max, pids_max given, */
    int cgroup_line;            /* and its line: for the spawner's messages */
    const char *first_key;      /* the first exec key given, for messages */
    int first_line;
    int user_line, chroot_line, wait_line;
};

/*
 * If `key` is one of the exec keys, parse `value` (given at `line`) into
 * s->exec and return 1; return 0 for a key that is not one of them.  On a
 * bad value return a negative errno with the reason in msg (the caller
 * prefixes "FILE:LINE: [service] key: ").
 */
int exec_conf_key(struct conf_service *s, const char *key, const char *value, int line,
                  char *msg, size_t msglen);

/*
 * Checks that need the whole section: program and plugin are exclusive,
 * exec keys need program, the program (inside chroot when given) is an
 * executable regular file.  Returns 0, or a negative errno with *key,
 * *line and msg set for "FILE:LINE: [service] key: msg".
 */
int exec_conf_check(const struct conf_service *s, const char **key, int *line,
                    char *msg, size_t msglen);

/* Free what exec_conf_key allocated in e. */
void exec_conf_free(struct exec_conf *e);

#endif
