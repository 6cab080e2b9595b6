/*
 * chargen - the Character Generator Protocol (RFC 864) over streams: on
 * connect, send lines of 72 printable characters, each line starting one
 * character further along the 95 printable ASCII characters, until the
 * client goes away.  What the client sends is read and thrown away.
 *
 * Shows on_drain: the plugin writes until the host queues output (the
 * client reads slower than we write), returns, and continues when on_drain
 * says the queue is empty again, so its memory stays bounded however slowly
 * the client reads.
 *
 * Option:
 *   max_bytes = N   close after N bytes (default 0: never)
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <superd/plugin.h>

#define LINE_CHARS 72                       /* printable characters per line */
#define LINE_LEN (LINE_CHARS + 2)           /* ... and CR LF */
#define CYCLE_LINES 95                      /* then the pattern repeats */
#define CYCLE_LEN (CYCLE_LINES * LINE_LEN)  /* 7030 bytes */

/* Per service: the whole pattern, built once, and the option. */
struct chargen {
    char cycle[CYCLE_LEN];
    uint64_t max_bytes;                     /* 0: no limit */
};

/* Per connection: where in the pattern we are, and how much went out. */
struct stream {
    size_t offset;                          /* into cycle */
    uint64_t sent;
};

static int chargen_init(struct superd_service *svc)
{
    const char *max = superd_option(svc, "max_bytes");
    struct chargen *cg = malloc(sizeof *cg);

    if (cg == NULL)
        return -ENOMEM;
    for (size_t line = 0; line < CYCLE_LINES; line++) {
        char *p = cg->cycle + line * LINE_LEN;

        for (size_t i = 0; i < LINE_CHARS; i++)
            p[i] = (char)(' ' + (line + i) % 95);
        p[LINE_CHARS] = '\r';
        p[LINE_CHARS + 1] = '\n';
    }
    cg->max_bytes = 0;
    if (max != NULL) {
        char *end;

        errno = 0;
        cg->max_bytes = strtoull(max, &end, 10);
        if (errno != 0 || end == max || *end != '\0' || max[0] == '-') {
            free(cg);
            return superd_config_error(svc, "max_bytes",
                                       "\"%s\" is not a number of bytes", max);
        }
    }
    superd_service_set_data(svc, cg);
    return 0;
}

static void chargen_fini(struct superd_service *svc)
{
    free(superd_service_data(svc));
}

/*
 * Write the pattern until the host has to queue some of it (the socket is
 * full: on_drain will follow) or the limit is reached (then close).  Each
 * write is at most one cycle, so at most 7030 bytes wait in the queue.
 */
static void produce(struct superd_conn *conn)
{
    const struct chargen *cg = superd_service_data(superd_conn_service(conn));
    struct stream *st = superd_conn_data(conn);

    while (superd_queued(conn) == 0) {
        size_t n = CYCLE_LEN - st->offset;

        if (cg->max_bytes != 0 && cg->max_bytes - st->sent < n)
            n = (size_t)(cg->max_bytes - st->sent);
        if (n == 0 || superd_write(conn, cg->cycle + st->offset, n) < 0) {
            superd_close(conn);         /* done, or the client is gone */
            return;
        }
        st->sent += n;
        st->offset = (st->offset + n) % CYCLE_LEN;
    }
}

static int chargen_open(struct superd_conn *conn)
{
    struct stream *st = calloc(1, sizeof *st);

    if (st == NULL)
        return -ENOMEM;                 /* refused; on_close still follows */
    superd_conn_set_data(conn, st);
    produce(conn);
    return 0;
}

/* The client's bytes are read and dropped (RFC 864). */
static ssize_t chargen_data(struct superd_conn *conn, const void *data, size_t len)
{
    (void)conn;
    (void)data;
    return (ssize_t)len;
}

/* The queue is empty again: the next piece. */
static void chargen_drain(struct superd_conn *conn)
{
    produce(conn);
}

/* The client stopped sending; it may still be reading: keep generating
 * (without on_eof the host would close the connection here). */
static void chargen_eof(struct superd_conn *conn)
{
    (void)conn;
}

static void chargen_close(struct superd_conn *conn)
{
    free(superd_conn_data(conn));       /* NULL if on_open failed */
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
};
