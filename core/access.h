/* access.h - address lists (only_from, no_access): IPv4 and IPv6
 * addresses and CIDR blocks, parsed once at start, matched after accept or
 * receive with no DNS, no allocation. */
#ifndef SUPERD_ACCESS_H
#define SUPERD_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
    uint8_t family;     /* AF_INET or AF_INET6 */
    uint8_t prefix;     /* 0..32 or 0..128 */
    uint8_t addr[16];   /* network order, host bits cleared */
};

struct acl {
    struct cidr *v;     /* NULL when the list is not set */
    size_t n;
    bool set;           /* the key was given (an explicit list) */
    char *text;         /* as written, for log lines */
};

/*
 * Parse one CIDR block or address ("192.0.2.0/24", "2001:db8::/32",
 * "127.0.0.1", "::1").  Host bits must be zero ("10.1.2.3/8" is refused:
 * it usually means a typo).  Returns 0 or -EINVAL with a message in err.
 */
int cidr_parse(const char *s, struct cidr *out, char *err, size_t errlen);

/* Parse a list of blocks separated by blanks or commas into acl (which the
 * caller frees with acl_free).  Returns 0 or a negative errno with err. */
int acl_parse(const char *value, struct acl *acl, char *err, size_t errlen);

void acl_free(struct acl *acl);

/* The first block of `acl` that contains the address, or NULL.  An
 * IPv4-mapped IPv6 address (::ffff:192.0.2.1) matches as IPv4. */
const struct cidr *acl_match(const struct acl *acl, const struct sockaddr *sa);

/*
 * The access decision for a peer: refused when no_access matches it, or
 * when only_from is set and does not match it.  Addresses that are not
 * IPv4/IPv6 (unix sockets) are always allowed.  On refusal, *rule says
 * which list refused ("no_access 10.0.0.0/8", "only_from").
 */
bool acl_allowed(const struct acl *only_from, const struct acl *no_access,
                 const struct sockaddr *sa, char *rule, size_t rulelen);

#endif
