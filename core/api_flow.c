/* api_flow.c - flow control and half-close of the plugin API (ABI 1.1):
 * superd_pause, superd_resume and superd_shutdown, on any stream
 * connection (accepted or outbound); conn.c does the work. */
#define SUPERD_HOST_BUILD 1   /* the definitions, not the plugins' weak references */

#include <superd/plugin.h>

#include "abi.h"
#include "conn.h"

#if SUPERD_HOST_ABI_MINOR >= 1

/* Stop reading from conn.  See <superd/plugin.h>. */
int superd_pause(struct superd_conn *conn)
{
    return conn_pause(conn);
}

/* Read again; kept bytes are offered when the running callback returns. */
int superd_resume(struct superd_conn *conn)
{
    return conn_resume(conn);
}

/* FIN once the queue is written; reading goes on. */
int superd_shutdown(struct superd_conn *conn)
{
    return conn_shutdown(conn);
}

#endif
