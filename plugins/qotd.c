/*
 * qotd - the Quote of the Day Protocol, RFC 865.
 *
 * Stream: on connect, the server sends one quote chosen at random and
 * closes.  Whatever the client sends is ignored.
 * Datagram: any datagram is answered with one quote chosen at random.  The
 * core's loop guard drops datagrams from the ports of the classic services
 * (7, 9, 13, 17, 19, 37), so two qotd servers cannot feed each other.  A
 * quote is usually larger than the datagram it answers, so the host's
 * amplification budget applies: at most 10 such replies a second to one
 * source address (docs/configuration.md, "Datagram abuse").
 *
 * Option:
 *   file = PATH   the quotes (required), read once by each worker when it
 *                 starts (so also on every reload), after the workers took
 *                 the configured `user`: that user must be able to read it.
 *
 * The file's format, chosen by its content:
 *   - fortune(6) format, when some line is exactly "%": the quotes are the
 *     runs of lines between those separator lines (the fortune packages'
 *     files have this format, but many hold quotes over 512 bytes, which
 *     are refused: pick or trim the quotes);
 *   - otherwise one quote per line.
 * Quotes made only of blank space are skipped.  Lines are sent with CRLF
 * line ends, as network text.  RFC 865 limits a quote to 512 characters:
 * a quote longer than 512 bytes as sent (line ends counted as CRLF) is a
 * configuration error naming the file and the quote's first line, as is a
 * NUL byte, a file larger than 4 MiB, or a file with no quote.
 */
#include <superd/plugin.h>

#include "xorshift.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define QUOTE_MAX 512                       /* RFC 865 */
#define FILE_MAX (4u << 20)

/* One quote: a piece of qotd.text, with CRLF line ends. */
struct quote {
    size_t off, len;
};

/* Per service (per worker): the quotes, all in one buffer, and the random
 * state. */
struct qotd {
    char *text;
    struct quote *quotes;
    size_t nquotes;
    uint64_t rng;                           /* xorshift64 state, never 0 */
};

static void qotd_free(struct qotd *q)
{
    if (q == NULL)
        return;
    free(q->text);
    free(q->quotes);
    free(q);
}

/*
 * Read the whole file at `path` into a new NUL-terminated buffer (*out,
 * the caller frees it; length in *len).  Returns 0, or a configuration
 * error on key `file` naming the path.
 */
static int read_file(struct superd_service *svc, const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "re");
    struct stat st;
    char *buf;
    size_t n;
    int err;

    if (f == NULL)
        return superd_config_error(svc, "file", "%s: %s", path, strerror(errno));
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return superd_config_error(svc, "file", "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > FILE_MAX) {
        fclose(f);
        return superd_config_error(svc, "file", "%s: larger than %u bytes", path, FILE_MAX);
    }
    /* One byte more than allowed, to see a file that grew since fstat. */
    buf = malloc(FILE_MAX + 2);
    if (buf == NULL) {
        fclose(f);
        return superd_config_error(svc, "file", "%s: out of memory", path);
    }
    n = fread(buf, 1, FILE_MAX + 1, f);
    err = ferror(f) ? errno : 0;
    fclose(f);
    if (err != 0 || n > FILE_MAX) {
        free(buf);
        return err != 0 ? superd_config_error(svc, "file", "%s: %s", path, strerror(err))
                        : superd_config_error(svc, "file", "%s: larger than %u bytes", path,
                                              FILE_MAX);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* The length of the line at p (up to, without, '\n' and a '\r' before it),
 * and in *next where the following line starts. */
static size_t line_len(const char *p, const char *end, const char **next)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = (size_t)((nl ? nl : end) - p);

    *next = nl ? nl + 1 : end;
    if (n > 0 && p[n - 1] == '\r')
        n--;
    return n;
}

static int is_separator(const char *p, size_t n)
{
    return n == 1 && p[0] == '%';
}

static int is_blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\f' && p[i] != '\v')
            return 0;
    return 1;
}

/* Whether some line of the file is exactly "%": fortune format. */
static int fortune_format(const char *p, const char *end)
{
    while (p < end) {
        const char *next;
        size_t n = line_len(p, end, &next);

        if (is_separator(p, n))
            return 1;
        p = next;
    }
    return 0;
}

/*
 * Split `src` (len bytes) into quotes, written with CRLF line ends into
 * q->text (allocated here, large enough: each line grows by at most one
 * byte).  Returns 0, or a configuration error naming path:line.
 */
static int parse(struct superd_service *svc, const char *path, const char *src, size_t len,
                 struct qotd *q)
{
    const char *p = src, *end = src + len;
    int fortune = fortune_format(src, end);
    size_t out = 0, start = 0, cap = 16, first_line = 0, line = 0;
    const char *nul = memchr(src, '\0', len);
    char *shrunk;
    int nonblank = 0;

    if (nul != NULL) {
        for (const char *s = src; s < nul; s++)
            line += *s == '\n';
        return superd_config_error(svc, "file", "%s:%zu: a NUL byte; quotes are text",
                                   path, line + 1);
    }
    q->text = malloc(2 * len + 3);
    q->quotes = malloc(cap * sizeof *q->quotes);
    if (q->text == NULL || q->quotes == NULL)
        return superd_config_error(svc, "file", "%s: out of memory", path);
    while (p <= end) {
        const char *next;
        size_t n = p < end ? line_len(p, end, &next) : 0;
        /* A quote ends at a separator, at the end of the file, or (one per
         * line) after every line. */
        int at_end = p == end, sep = !at_end && fortune && is_separator(p, n);

        if (!at_end && !sep) {
            line++;
            if (out == start)
                first_line = line;
            memcpy(q->text + out, p, n);
            memcpy(q->text + out + n, "\r\n", 2);
            out += n + 2;
            nonblank |= !is_blank(p, n);
        } else if (!at_end) {
            line++;
        }
        if (at_end || sep || !fortune) {
            if (nonblank) {
                if (out - start > QUOTE_MAX)
                    return superd_config_error(svc, "file",
                                               "%s:%zu: the quote is %zu bytes with CRLF line "
                                               "ends, at most %d are allowed (RFC 865)",
                                               path, first_line, out - start, QUOTE_MAX);
                if (q->nquotes == cap) {
                    struct quote *bigger = realloc(q->quotes, 2 * cap * sizeof *bigger);

                    if (bigger == NULL)
                        return superd_config_error(svc, "file", "%s: out of memory", path);
                    q->quotes = bigger;
                    cap *= 2;
                }
                q->quotes[q->nquotes++] = (struct quote){ start, out - start };
                start = out;
            }
            out = start;                    /* a blank quote is dropped */
            nonblank = 0;
        }
        if (at_end)
            break;
        p = next;
    }
    if (q->nquotes == 0)
        return superd_config_error(svc, "file", "%s: no quotes in it", path);
    /* Keep only what the quotes use (the buffer was sized for the worst). */
    shrunk = realloc(q->text, start);
    if (shrunk != NULL)
        q->text = shrunk;
    return 0;
}

static int qotd_init(struct superd_service *svc)
{
    const char *path = superd_option(svc, "file");
    struct qotd *q;
    char *src = NULL;
    size_t len = 0;
    int r;

    if (path == NULL)
        return superd_config_error(svc, "file", "missing: name the quotes file (file = PATH)");
    if (path[0] == '\0')
        return superd_config_error(svc, "file", "must not be empty");
    r = read_file(svc, path, &src, &len);
    if (r < 0)
        return r;
    q = calloc(1, sizeof *q);
    if (q == NULL) {
        free(src);
        return superd_config_error(svc, "file", "out of memory");
    }
    r = parse(svc, path, src, len, q);
    free(src);
    if (r < 0) {
        qotd_free(q);
        return r;
    }
    q->rng = xorshift_seed();
    superd_service_set_data(svc, q);
    return 0;
}

static void qotd_fini(struct superd_service *svc)
{
    qotd_free(superd_service_data(svc));
    superd_service_set_data(svc, NULL);
}

/* A quote chosen at random. */
static const struct quote *pick(struct superd_service *svc, const char **text)
{
    struct qotd *q = superd_service_data(svc);

    *text = q->text;
    return &q->quotes[xorshift_next(&q->rng) % q->nquotes];
}

/* Send a quote and close: the whole exchange happens on connect. */
static int qotd_open(struct superd_conn *conn)
{
    const char *text;
    const struct quote *qt = pick(superd_conn_service(conn), &text);
    int r = superd_write(conn, text + qt->off, qt->len);

    if (r < 0)
        return r;
    superd_close(conn);
    return 0;
}

/* Anything the client sends before the close is thrown away. */
static ssize_t qotd_data(struct superd_conn *conn, const void *data, size_t len)
{
    (void)conn;
    (void)data;
    return (ssize_t)len;
}

/* The datagram's content does not matter; a failed reply is dropped, as UDP
 * may drop it anyway (-EAGAIN over the amplification budget is expected). */
static void qotd_datagram(struct superd_service *svc, struct superd_dgram *dgram,
                          const void *data, size_t len)
{
    const char *text;
    const struct quote *qt = pick(svc, &text);

    (void)data;
    (void)len;
    (void)superd_reply(dgram, text + qt->off, qt->len);
}

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "qotd",
    .version = "1.0",
    .init = qotd_init,
    .fini = qotd_fini,
    .on_open = qotd_open,
    .on_data = qotd_data,
    .on_datagram = qotd_datagram,
};
