/*
 * echo - the Echo Protocol, RFC 862.
 *
 * Stream: every byte the client sends is sent back, until the client closes
 * its side; then the connection is closed once the echoed bytes are out.
 * Datagram: each datagram is answered with one datagram of the same bytes.
 * The plugin takes no options.
 */
#include <superd/plugin.h>

/* Echo what arrived.  Only what was queued counts as consumed, so on a
 * write failure nothing is lost silently: the error closes the connection. */
static ssize_t echo_data(struct superd_conn *conn, const void *data, size_t len)
{
    int r = superd_write(conn, data, len);

    return r < 0 ? r : (ssize_t)len;
}

/* A failed reply is dropped, as UDP may drop it anyway. */
static void echo_datagram(struct superd_service *svc, struct superd_dgram *dgram,
                          const void *data, size_t len)
{
    (void)svc;
    (void)superd_reply(dgram, data, len);
}

/*
 * No on_eof: the host's default (close once the queue is flushed) is
 * exactly RFC 862's behaviour when the client half-closes.
 */
SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "echo",
    .version = "1.0",
    .on_data = echo_data,
    .on_datagram = echo_datagram,
};
