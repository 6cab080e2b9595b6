/* api_tls.c - superd_conn_tls (plugin ABI 1.1): the TLS facts of a
 * connection on a tls:// listener. */
#define SUPERD_HOST_BUILD 1   /* the definitions, not the plugins' weak references */

#include <errno.h>

#include <superd/plugin.h>

#include "abi.h"
#include "conn.h"
#include "tls.h"

#if SUPERD_HOST_ABI_MINOR >= 1

int superd_conn_tls(const struct superd_conn *conn, struct superd_tls_info *info)
{
    if (!conn->tls)
        return -ENOTSUP;
    return tls_conn_info(conn->tls, info);
}

#endif
