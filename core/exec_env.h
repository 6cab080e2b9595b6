/* exec_env.h - the environment of a program started for a connection or a
 * datagram: UCSPI (ucspi-tcp, s6), systemd and xinetd variables, plus the
 * service's env and pass_env.  Pure: no system call, unit-tested. */
#ifndef SUPERD_EXEC_ENV_H
#define SUPERD_EXEC_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

struct exec_conf;

/* What a child's environment says about its client. */
struct exec_facts {
    int socktype;                   /* SOCK_STREAM or SOCK_DGRAM; 0: no client (wait) */
    struct sockaddr_storage peer;   /* ss_family AF_UNSPEC: unknown */
    socklen_t peerlen;
    struct sockaddr_storage local;
    socklen_t locallen;
    bool has_cred;                  /* unix stream: SO_PEERCRED of the peer */
    const char *ssl_protocol;       /* behind TLS: the session (NULL: not TLS) */
    const char *ssl_cipher;
    const char *ssl_sni;            /* "" when absent, as the two below */
    const char *ssl_subject;
    const char *ssl_issuer;
    uid_t uid;
    gid_t gid;
};

/* PATH when neither env nor pass_env gives one. */
#define EXEC_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/*
 * Build the child's environment: PATH (EXEC_DEFAULT_PATH), then the
 * connection's variables from `f`, then each pass_env name found in
 * `from` (superd's own environment, NULL-terminated "NAME=VALUE"), then
 * e->env; a later NAME replaces an earlier one in place.  On success *out
 * is a NULL-terminated vector (free with exec_args_free) and 0 is returned;
 * else -ENOMEM.
 */
int exec_env_build(const struct exec_conf *e, const struct exec_facts *f,
                   char *const *from, char ***out);

#endif
