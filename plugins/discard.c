/*
 * discard - the Discard Protocol, RFC 863.
 *
 * Stream: everything the client sends is read and thrown away; nothing is
 * ever sent back.  The connection closes when the client closes its side.
 * Datagram: datagrams are read and never answered.
 * The plugin takes no options.
 */
#include <superd/plugin.h>

/* Consume everything: returning less would leave bytes in the host's input
 * buffer, which would eventually fill and close the connection. */
static ssize_t discard_data(struct superd_conn *conn, const void *data, size_t len)
{
    (void)conn;
    (void)data;
    return (ssize_t)len;
}

/* Defined (rather than left NULL) so the plugin says it serves datagrams. */
static void discard_datagram(struct superd_service *svc, struct superd_dgram *dgram,
                             const void *data, size_t len)
{
    (void)svc;
    (void)dgram;
    (void)data;
    (void)len;
}

/* No on_eof: the host closes after flushing, which is all discard needs. */
SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "discard",
    .version = "1.0",
    .on_data = discard_data,
    .on_datagram = discard_datagram,
};
