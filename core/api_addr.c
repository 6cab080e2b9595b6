/* api_addr.c - the address accessors of the plugin API (ABI 1.1):
 * superd_conn_addr and superd_dgram_addr, the binary forms of what
 * superd_peer and superd_dgram_peer show as text. */
#define SUPERD_HOST_BUILD 1   /* the definitions, not the plugins' weak references */

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <superd/plugin.h>

#include "abi.h"
#include "conn.h"
#include "dgram.h"
#include "listener.h"

/* The header states the host's limits; they are conn.c's. */
_Static_assert(CONN_IN_MAX == SUPERD_REQUEST_MAX, "SUPERD_REQUEST_MAX is not conn.c's");
_Static_assert(CONN_OUT_HIGH == SUPERD_HIGH_WATER, "SUPERD_HIGH_WATER is not conn.c's");
_Static_assert(CONN_OUT_HIGH == SUPERD_DIRECT_WRITE_MAX,
               "SUPERD_DIRECT_WRITE_MAX is not conn.c's");

#if SUPERD_HOST_ABI_MINOR >= 1

/* Copy an address out as getsockname(2) does: truncated to *len, which
 * then says the whole length. */
static int copy_out(const void *from, socklen_t fromlen, struct sockaddr *sa, socklen_t *len)
{
    memcpy(sa, from, fromlen < *len ? fromlen : *len);
    *len = fromlen;
    return 0;
}

static int sock_name(int fd, bool peer, struct sockaddr *sa, socklen_t *len)
{
    int r = peer ? getpeername(fd, sa, len) : getsockname(fd, sa, len);
    return r < 0 ? -errno : 0;
}

int superd_conn_addr(const struct superd_conn *conn, int which, struct sockaddr *sa,
                     socklen_t *len)
{
    if (which == SUPERD_ADDR_LOCAL) {
        /* Behind a PROXY header that carried addresses: the destination
         * the client reached, as a program's TCPLOCALIP; the socket's own
         * address is the balancer's side. */
        if (conn->pdst.sa.sa_family == AF_INET)
            return copy_out(&conn->pdst, sizeof(struct sockaddr_in), sa, len);
        if (conn->pdst.sa.sa_family == AF_INET6)
            return copy_out(&conn->pdst, sizeof(struct sockaddr_in6), sa, len);
        return sock_name(conn->fd, false, sa, len);
    }
    if (which != SUPERD_ADDR_PEER)
        return -EINVAL;
    /* TCP: the address accept() gave, kept for superd_peer (a reset peer
     * makes getpeername fail); unix: the socket knows it. */
    if (conn->src.sa.sa_family == AF_INET)
        return copy_out(&conn->src, sizeof(struct sockaddr_in), sa, len);
    if (conn->src.sa.sa_family == AF_INET6)
        return copy_out(&conn->src, sizeof(struct sockaddr_in6), sa, len);
    return sock_name(conn->fd, true, sa, len);
}

int superd_dgram_addr(const struct superd_dgram *dg, int which, struct sockaddr *sa,
                      socklen_t *len)
{
    if (which == SUPERD_ADDR_LOCAL)
        return sock_name(dg->lsn->fd, false, sa, len);
    if (which != SUPERD_ADDR_PEER)
        return -EINVAL;
    return copy_out(dg->from, dg->fromlen, sa, len);
}

#endif
