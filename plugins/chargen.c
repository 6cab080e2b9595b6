/*
 * chargen - the Character Generator Protocol, RFC 864.
 *
 * The pattern: lines of 72 printable ASCII characters (32 ' ' to 126 '~'),
 * each followed by CRLF; line k starts with character 32 + k % 95 and goes
 * on in ASCII order, wrapping from '~' back to ' '.  After 95 lines the
 * pattern repeats.  The first lines are:
 *
 *      !"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_`abcdefg
 *     !"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_`abcdefgh
 *
 * Stream: from connect, the pattern flows until the client closes the
 * connection.  What the client sends is read and dropped; a half-close
 * (the client's FIN) does not stop the flow, as the client may still read.
 * The plugin writes until the host has to queue some of it, then waits for
 * on_drain(): at most one cycle of the pattern (7030 bytes) is ever queued
 * per connection, however slowly the client reads, so a client that never
 * reads costs bounded memory, and idle_timeout ends it as nothing moves
 * (max_lifetime ends any chargen connection).
 *
 * Datagram: each datagram, whatever it holds, is answered with one datagram
 * of a random length from 0 to 512 bytes made of the pattern, starting at
 * the beginning of a line; the starting line moves on by one for each
 * datagram the service answers in this worker.  The core's loop guard drops
 * datagrams from the ports of the classic services (7, 9, 13, 17, 19, 37)
 * before they reach the plugin, so two chargens cannot feed each other.  A
 * reply is usually larger than the datagram it answers, so the host's
 * amplification budget applies: at most 10 such replies a second to one
 * source address (docs/configuration.md, "Datagram abuse"); the ones over
 * it are dropped and counted as refused.
 *
 * The plugin takes no options.
 */
#include <superd/plugin.h>

#include "xorshift.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#define LINE_CHARS 72                       /* printable characters per line */
#define LINE_LEN (LINE_CHARS + 2)           /* ... and CR LF */
#define PRINTABLE 95                        /* ' ' .. '~' */
#define CYCLE_LINES PRINTABLE               /* then the pattern repeats */
#define CYCLE_LEN (CYCLE_LINES * LINE_LEN)  /* 7030 bytes */
#define DGRAM_MAX 512                       /* RFC 864: "between 0 and 512" */

/* Per service (per worker): the whole pattern, built once, plus 512 bytes
 * of its start again, so that a datagram starting on any line is one
 * contiguous piece; and the datagram state. */
struct chargen {
    char cycle[CYCLE_LEN + DGRAM_MAX];
    uint64_t rng;                           /* xorshift64 state, never 0 */
    size_t next_line;                       /* where the next datagram starts */
};

/* Per connection: where in the pattern the next write starts. */
struct stream {
    size_t offset;                          /* into cycle, < CYCLE_LEN */
};

static int chargen_init(struct superd_service *svc)
{
    struct chargen *cg = malloc(sizeof *cg);

    if (cg == NULL)
        return superd_config_error(svc, NULL, "out of memory");
    for (size_t line = 0; line < CYCLE_LINES; line++) {
        char *p = cg->cycle + line * LINE_LEN;

        for (size_t i = 0; i < LINE_CHARS; i++)
            p[i] = (char)(' ' + (line + i) % PRINTABLE);
        p[LINE_CHARS] = '\r';
        p[LINE_CHARS + 1] = '\n';
    }
    for (size_t i = 0; i < DGRAM_MAX; i++)
        cg->cycle[CYCLE_LEN + i] = cg->cycle[i];
    cg->rng = xorshift_seed();
    cg->next_line = 0;
    superd_service_set_data(svc, cg);
    return 0;
}

static void chargen_fini(struct superd_service *svc)
{
    free(superd_service_data(svc));
    superd_service_set_data(svc, NULL);
}

/*
 * Write the pattern, at most the rest of one cycle a write, until the host
 * has to queue some of it: then on_drain() follows once the queue is out.
 * The loop also ends against a client that reads as fast as it is written,
 * because superd_write() queues after SUPERD_DIRECT_WRITE_MAX bytes in one
 * callback.  A failed write means the client is gone: close.
 */
static void produce(struct superd_conn *conn)
{
    const struct chargen *cg = superd_service_data(superd_conn_service(conn));
    struct stream *st = superd_conn_data(conn);

    while (superd_queued(conn) == 0) {
        size_t n = CYCLE_LEN - st->offset;

        if (superd_write(conn, cg->cycle + st->offset, n) < 0) {
            superd_close(conn);
            return;
        }
        st->offset = (st->offset + n) % CYCLE_LEN;
    }
}

/* Start the flow at once: on_drain() comes only after something queued. */
static int chargen_open(struct superd_conn *conn)
{
    struct stream *st = calloc(1, sizeof *st);

    if (st == NULL)
        return -ENOMEM;                 /* refused; on_close() still follows */
    superd_conn_set_data(conn, st);
    produce(conn);
    return 0;
}

/* RFC 864: "Any data received is thrown away." */
static ssize_t chargen_data(struct superd_conn *conn, const void *data, size_t len)
{
    (void)conn;
    (void)data;
    return (ssize_t)len;
}

/* The queue is out: the next piece. */
static void chargen_drain(struct superd_conn *conn)
{
    produce(conn);
}

/* The client stopped sending but may still read: keep generating (without
 * on_eof the host would close here). */
static void chargen_eof(struct superd_conn *conn)
{
    (void)conn;
}

static void chargen_close(struct superd_conn *conn)
{
    free(superd_conn_data(conn));       /* NULL when on_open() failed */
    superd_conn_set_data(conn, NULL);
}

/* One reply of 0..512 pattern bytes; a failed reply is dropped, as UDP may
 * drop it anyway (-EAGAIN over the amplification budget is expected). */
static void chargen_datagram(struct superd_service *svc, struct superd_dgram *dgram,
                             const void *data, size_t len)
{
    struct chargen *cg = superd_service_data(svc);
    size_t n = (size_t)(xorshift_next(&cg->rng) % (DGRAM_MAX + 1));
    size_t start = cg->next_line * LINE_LEN;

    (void)data;
    (void)len;
    cg->next_line = (cg->next_line + 1) % CYCLE_LINES;
    (void)superd_reply(dgram, cg->cycle + start, n);
}

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "chargen",
    .version = "1.0",
    .init = chargen_init,
    .fini = chargen_fini,
    .on_open = chargen_open,
    .on_data = chargen_data,
    .on_eof = chargen_eof,
    .on_drain = chargen_drain,
    .on_close = chargen_close,
    .on_datagram = chargen_datagram,
};
