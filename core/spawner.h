/* spawner.h - the process that starts programs for exec services.
 *
 * Forked by the master (as root) before the workers of a configuration
 * generation, it keeps that configuration's exec services and accepts
 * from each worker, over a SOCK_SEQPACKET socketpair, only
 * struct spawn_req: "start configured service #svc of generation #gen
 * with this descriptor (SCM_RIGHTS)".  It starts the child with the
 * service's identity and limits, reaps it, enforces max_instances and
 * max_lifetime, logs its stderr and exit, and answers the worker with
 * struct spawn_rep when the child is gone (or was never started).  The
 * listeners of wait = yes services are its own: workers never watch them.
 * See docs/processes.md for why a compromised worker gains nothing by it.
 */
#ifndef SUPERD_SPAWNER_H
#define SUPERD_SPAWNER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "config.h"
#include "listener.h"

#define SPAWN_MAGIC 0x73706e31u     /* "spn1" */

enum spawn_req_type {
    SPAWN_STREAM = 1,   /* fd: an accepted connection of the service */
    SPAWN_DGRAM = 2,    /* fd: a unix datagram socket holding the datagram */
    SPAWN_TLS = 3,      /* fd: a unix stream socket the worker relays to a TLS
                         * client (peer, local and tls: environment only) */
};

/* SPAWN_TLS: the session, for the program's SSL_* variables.  Each a
 * NUL-terminated string ("" when absent). */
struct spawn_tls {
    char protocol[16];
    char cipher[64];
    char sni[256];
    char subject[512];
    char issuer[512];
};

/* A worker's request; every field is checked, nothing else is read. */
struct spawn_req {
    uint32_t magic;
    uint32_t type;              /* enum spawn_req_type */
    uint32_t svc;               /* index in the configuration's services */
    uint32_t gen;               /* the configuration generation */
    uint64_t cookie;            /* the worker's, echoed in the reply */
    uint32_t peerlen;           /* SPAWN_DGRAM, SPAWN_TLS, and SPAWN_STREAM behind a PROXY
                                 * header (0: ask the socket): the client and the
                                 * address it reached (environment only) */
    uint32_t locallen;
    struct sockaddr_storage peer;
    struct sockaddr_storage local;
    struct spawn_tls tls;       /* SPAWN_TLS only */
};

enum spawn_rep_type {
    SPAWN_EXITED = 1,   /* the child is gone: status as waitpid's */
    SPAWN_REFUSED = 2,  /* never started (max_instances, a failure): logged */
};

struct spawn_rep {
    uint32_t type;
    int32_t pid;
    int32_t status;
    uint32_t pad;
    uint64_t cookie;
};

/* After max_lifetime, SIGTERM; this much later, SIGKILL. */
#define SPAWN_KILL_GRACE_MS 2000

/* True if `c` has at least one enabled exec service. */
bool spawner_needed(const struct conf *c);

/*
 * The spawner's main, in the child the master forked: `ctl` is its end of
 * the master's control socket (new workers' sockets arrive on it, EOF
 * means the master is gone), `lsns` the master's listeners (it keeps the
 * wait = yes ones of `c`, closes the others).  Never returns.
 */
void spawner_main(const struct conf *c, unsigned gen, int ctl, struct lsn_set *lsns)
    __attribute__((noreturn));

/*
 * The master's side: make a socketpair for a new worker, hand one end to
 * the spawner through `ctl` and return the other in *worker_fd (close it
 * after the fork).  Returns 0 or a negative errno.
 */
int spawner_link(int ctl, int *worker_fd);

/* Send `fd` with `len` bytes of `data` over a unix socket.  Returns 0 or a
 * negative errno (-EAGAIN when the socket is full). */
int spawn_send_fd(int sock, const void *data, size_t len, int fd);

#endif
