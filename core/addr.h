/* addr.h - listen addresses: parsing "tcp://HOST:PORT", "unix:PATH" and
 * friends into socket addresses, and formatting addresses as text. */
#ifndef SUPERD_ADDR_H
#define SUPERD_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

enum addr_kind { ADDR_TCP, ADDR_UDP, ADDR_UNIX, ADDR_UNIX_DGRAM };

/* Room for addr_format(): a 108-byte unix path with its '@', or an IPv6
 * address with brackets, scope and port. */
#define ADDR_FMT_MAX 112
/* Room for a kind or "unix:" prefix and a formatted address. */
#define ADDR_TEXT_MAX 128

/* One address to listen on. */
struct laddr {
    enum addr_kind kind;
    struct sockaddr_storage sa;
    socklen_t salen;
    char text[ADDR_TEXT_MAX];   /* "tcp 127.0.0.1:7", "unix /run/x.sock" */
    bool tls;                   /* tls://: a TCP listener whose connections
                                 * speak TLS (kind is ADDR_TCP) */
    int line;                   /* configuration line that named it, or 0 */
};

/*
 * Parse one listen word and append every address it names to *vec (grown
 * with realloc; the caller frees it).  `*` names 0.0.0.0 and ::, a host
 * name every address it resolves to (this blocks: call it at start-up
 * only).  tls://HOST:PORT is parsed as tcp:// and marked .tls, with
 * the text "tls HOST:PORT".  Relative unix paths are taken relative to `basedir`.  On error
 * returns a negative errno and writes a message for the user into err.
 */
int addr_parse(const char *word, const char *basedir, struct laddr **vec,
               size_t *n, char *err, size_t errlen);

/* "tcp", "udp", "unix", "unix-dgram". */
const char *addr_kind_name(enum addr_kind kind);

/* SOCK_STREAM or SOCK_DGRAM. */
int addr_socktype(enum addr_kind kind);

/* True for unix and unix-dgram. */
bool addr_is_unix(enum addr_kind kind);

/* Path of a unix address that lives in the file system, or NULL (abstract
 * and unnamed addresses have none). */
const char *addr_unix_path(const struct sockaddr *sa, socklen_t salen);

/*
 * Format a socket address: "192.0.2.1:7", "[2001:db8::1]:7", "/path",
 * "@name", or "" for an unnamed unix socket.
 */
void addr_format(const struct sockaddr *sa, socklen_t salen, char *buf, size_t size);

/* Port of an IPv4/IPv6 address (host order), 0 for others. */
unsigned addr_port(const struct sockaddr *sa);

/* True when two addresses are the same family, address and port/path. */
bool addr_equal(const struct sockaddr *a, socklen_t alen,
                const struct sockaddr *b, socklen_t blen);

#endif
