/*
 * time - the Time Protocol, RFC 868.
 *
 * The answer is the current time as a 32-bit unsigned number of seconds
 * since 1900-01-01 00:00 UTC, in network byte order (big-endian): 4 bytes.
 * RFC 868's counter wraps in February 2036; after that the value is the
 * count modulo 2^32, which is what NTP's era 1 and current rdate clients
 * expect.
 *
 * Stream: on connect, the server sends the 4 bytes and closes.  Whatever the
 * client sends is ignored.
 * Datagram: any datagram (RFC 868 says an empty one) is answered with the 4
 * bytes.  The core's loop guard drops datagrams from the ports of the
 * classic services (7, 9, 13, 17, 19, 37), so two time servers cannot feed
 * each other.  The reply is larger than the empty request, so the host's
 * amplification budget applies: at most 10 replies a second to one source
 * address for requests shorter than 4 bytes (docs/configuration.md,
 * "Datagram abuse").
 *
 * The plugin takes no options.
 */
#include <superd/plugin.h>

#include <errno.h>
#include <stdint.h>
#include <time.h>

/* Seconds from 1900-01-01 to 1970-01-01: 70 years, 17 of them leap. */
#define EPOCH_1900_TO_1970 2208988800u

/* Now, as RFC 868's 4 bytes, big-endian. */
static void time_value(unsigned char out[4])
{
    uint32_t t = (uint32_t)((uint64_t)time(NULL) + EPOCH_1900_TO_1970);

    out[0] = (unsigned char)(t >> 24);
    out[1] = (unsigned char)(t >> 16);
    out[2] = (unsigned char)(t >> 8);
    out[3] = (unsigned char)t;
}

/* Send the 4 bytes and close: the whole exchange happens on connect. */
static int time_open(struct superd_conn *conn)
{
    unsigned char buf[4];
    int r;

    time_value(buf);
    r = superd_write(conn, buf, sizeof buf);
    if (r < 0)
        return r;
    superd_close(conn);
    return 0;
}

/* Anything the client sends before the close is thrown away. */
static ssize_t time_data(struct superd_conn *conn, const void *data, size_t len)
{
    (void)conn;
    (void)data;
    return (ssize_t)len;
}

/* The datagram's content does not matter; a failed reply is dropped, as UDP
 * may drop it anyway. */
static void time_datagram(struct superd_service *svc, struct superd_dgram *dgram,
                          const void *data, size_t len)
{
    unsigned char buf[4];

    (void)svc;
    (void)data;
    (void)len;
    time_value(buf);
    (void)superd_reply(dgram, buf, sizeof buf);
}

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "time",
    .version = "1.0",
    .on_open = time_open,
    .on_data = time_data,
    .on_datagram = time_datagram,
};
