/* exec.h - a worker's side of exec services: admitted connections and
 * datagrams are handed to the spawner, which starts the program; the
 * worker keeps their admission counts until the spawner says the child
 * is gone. */
#ifndef SUPERD_EXEC_H
#define SUPERD_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct listener;
struct serve;

/* Start talking to the spawner on `fd` (the worker's end; -1: there is
 * none) for configuration generation `gen`.  Call once the worker's loop
 * exists.  Returns 0 or a negative errno. */
int exec_attach(struct serve *srv, int fd, unsigned gen);

/* True if listener l belongs to a service that runs a program. */
bool exec_service(const struct listener *l);

/*
 * Hand the admitted connection `fd` (from `ss`) to the spawner and close
 * it here.  `dst` (NULL: none) is a PROXY header's destination: then `ss`
 * and `dst` are the endpoints the program's environment names, not the
 * socket's.  `counted` / `sourced`: admission took a max_connections /
 * max_per_source slot, given back when the child exits (or at once when
 * it cannot start).
 */
void exec_stream(struct listener *l, int fd, const struct sockaddr_storage *ss,
                 socklen_t sslen, const struct sockaddr_storage *dst, socklen_t dstlen,
                 bool counted, bool sourced);

/*
 * A program behind TLS: start it on `fd`, one end of a unix stream
 * socketpair the caller relays to the TLS client (the caller keeps `fd`'s
 * copy to close).  The client's address, the one it reached (`local`;
 * NULL: the listener's) and the session's facts reach the program's
 * environment (SSL_PROTOCOL ...).  The caller's connection
 * holds the admission slots.  Returns 0 or a negative errno (logged).
 */
struct spawn_tls;
int exec_stream_tls(struct listener *l, int fd, const struct sockaddr_storage *peer,
                    socklen_t peerlen, const struct sockaddr_storage *local,
                    socklen_t locallen, const struct spawn_tls *tls);

/* Start the program for one admitted datagram: it reads the datagram on
 * stdin; what it writes to stdout goes back to the sender. */
void exec_dgram(struct listener *l, const struct sockaddr_storage *from, socklen_t fromlen,
                const char *data, size_t len);

/* Drop every pending hand-off (the worker is ending). */
void exec_detach(void);

#endif
