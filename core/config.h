/* config.h - the INI configuration: [superd] plus one section per service.
 * Parsing only: nothing here binds a socket or loads a plugin. */
#ifndef SUPERD_CONFIG_H
#define SUPERD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "access.h"
#include "addr.h"
#include "exec_conf.h"
#include "log.h"
#include "tls_conf.h"

/* A rate: `count` events per `per_ms`; count 0 means no limit. */
struct conf_rate {
    unsigned count;
    unsigned per_ms;
};

/* A list of user or group ids (only_uid, only_gid); n == 0: no list. */
struct conf_ids {
    unsigned *v;
    size_t n;
};

/* A key of a service section that the core does not read: the plugin's. */
struct conf_opt {
    char *key;
    char *value;
    int line;
    bool used;      /* set when the plugin reads it with superd_option() */
};

/* A file the configuration was read from: the main one or an include. */
struct conf_file {
    char *path;             /* as given or as found by the include glob */
    char *dir;              /* its directory: base of its relative paths */
};

struct conf_service {
    const struct conf_file *file;   /* where the section is */
    char *name;             /* the [section] */
    int line;               /* line of the [section] header */
    char *plugin;           /* plugin = NAME or a path */
    int plugin_line;
    bool enabled;
    struct laddr *addrs;    /* every address of every listen key */
    size_t naddrs;
    int backlog;            /* listen(2) backlog; 0: the kernel's somaxconn */
    long max_connections;   /* open at once, across workers; 0: no limit */
    bool log_connections;   /* one log line per connection, at its close */
    struct acl only_from;   /* .set when given; else [superd]'s applies */
    struct acl no_access;
    long max_per_source;    /* open connections per source address; 0: none */
    struct conf_rate rate_limit;        /* new connections/datagrams per source */
    int source_prefix_v4;   /* a source is this prefix of an address; 0: 32 */
    int source_prefix_v6;   /* the same for IPv6; 0: 64 */
    unsigned idle_timeout_ms;   /* no byte either way for this long: close; 0: never */
    unsigned max_lifetime_ms;   /* longest a connection may live; 0: forever */
    bool udp_guard;             /* loop protection on datagram listeners */
    struct conf_rate udp_reply_rate;    /* replies per source; 0: see docs */
    bool udp_reply_off;                 /* udp_reply_rate = off: no reply budget */
    int socket_mode;        /* permissions of unix socket files; -1: umask */
    struct conf_tls tls;    /* tls_* keys, PEM bytes (tls_conf.h) */
    bool reuseport;         /* SO_REUSEPORT on its TCP/UDP listeners */
    bool udp_per_worker;    /* UDP: one SO_REUSEPORT socket per worker slot */
    const struct acl *allow;    /* the only_from in force: its own or [superd]'s (at load) */
    const struct acl *deny;     /* the same for no_access */
    struct conf_ids only_uid;   /* unix stream peers (SO_PEERCRED): these uids only */
    struct conf_ids only_gid;   /* ... and these primary gids only */
    bool proxy_protocol;        /* a PROXY v1/v2 header first (proxy_wait.c) */
    struct acl trusted_proxies; /* who may send one; default loopback */
    unsigned proxy_timeout_ms;  /* for the whole header; 0: PROXY_TIMEOUT_MS */
    struct conf_opt *opts;  /* the plugin's keys, in file order */
    size_t nopts;
    const char *builtin;    /* served by the core's own handler of this name
                             * (metrics_listen), not by a plugin; static */
    struct exec_conf exec;  /* program = PATH and its keys (exec_conf.c) */
};

/* The service that metrics_listen in [superd] makes: its name in logs and
 * statistics.  A section of this name is refused. */
#define CONF_METRICS_SERVICE "superd-metrics"

struct conf {
    char *path;             /* as given, for messages */
    char *dir;              /* its directory: base of relative paths */
    char *plugin_dir;       /* resolved against dir; NULL if not set */
    int workers;            /* worker processes (auto: the number of CPUs) */
    long max_connections;   /* every service together; 0: no limit */
    struct acl only_from;   /* defaults for services that set none */
    struct acl no_access;
    int source_prefix_v4;   /* defaults for services that set none; 0: 32, 64 */
    int source_prefix_v6;
    char *user;             /* workers run as this user (when started as root) */
    int user_line;
    uid_t uid;
    gid_t gid;              /* `group`, or the user's primary group */
    bool has_group;
    enum log_target log_target;
    int log_level;
    int syslog_facility;    /* LOG_DAEMON, LOG_LOCAL0 ... */
    char *pid_file;         /* resolved against dir; NULL if not set */
    char *cgroup_root;      /* exec services' cgroups go under it; NULL: superd's own */
    unsigned shutdown_timeout_ms;
    unsigned tls_ticket_rotate_ms;  /* 0: TLS_TICKET_ROTATE_MS */
    struct conf_service *svcs;
    size_t nsvcs;
    struct conf_file **files;   /* [0] is the main file */
    size_t nfiles;
    char **warnings;        /* "FILE:LINE: [section] key: message" lines */
    size_t nwarnings;
};

/* How deep `include` may nest (a file including itself is a loop). */
#define CONF_INCLUDE_DEPTH 8

/* The most workers `workers` may ask for. */
#define CONF_WORKERS_MAX 64

/* Longest message a configuration error makes, file name included. */
#define CONF_ERR_MAX 1024

/*
 * Read and check the file at `path`.  On success *out holds the parsed
 * configuration (free it with conf_free) and 0 is returned; each of its
 * warnings (a good file that probably does not say what was meant, such as
 * user = root) has been logged at LOG_WARNING.  On failure a negative errno
 * is returned and err holds one line for the user:
 * "FILE:LINE: [section] key: message".
 */
int conf_load(const char *path, struct conf **out, char *err, size_t errlen);

/* The same from a string; `path` names it in messages and gives the base
 * directory of relative paths.  Warnings are only kept in (*out)->warnings,
 * not logged. */
int conf_load_string(const char *text, const char *path, struct conf **out,
                     char *err, size_t errlen);

void conf_free(struct conf *c);

/* Parse "250ms", "30s", "5m", "1h" (a bare number is seconds) into
 * milliseconds.  Returns 0 or -EINVAL / -ERANGE. */
int conf_parse_duration(const char *s, unsigned *ms);

/* Parse "N/s" or "N/m" (N > 0), or "none" (no limit).  Returns 0 or
 * -EINVAL. */
int conf_parse_rate(const char *s, struct conf_rate *out);

/* Defaults of the limits, documented in docs/configuration.md. */
#define CONF_IDLE_TIMEOUT_MS (5 * 60 * 1000)
#define CONF_MAX_LIFETIME_MS (60 * 60 * 1000)

/* Parse yes/no, true/false, on/off, 1/0.  Returns 0 or -EINVAL. */
int conf_parse_bool(const char *s, bool *out);

#endif
