/*
 * lineecho - a line-based service: answers every line the client sends
 * with the line's number and the line, "1: hello", and closes on "quit".
 * A line ends with LF (a CR before it is dropped).
 *
 * Shows on_data consuming less than it was given: it takes one whole line
 * per call and returns that line's length; the host offers the rest again
 * at once, and keeps a partial line until more bytes arrive.
 *
 * Option:
 *   max_line = N   longest line accepted, 1-65000 (default 1024); a
 *                  longer one is answered with an error and the
 *                  connection is closed
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <superd/plugin.h>

/* Per service: the option, read once in init(). */
struct lineecho {
    size_t max_line;
};

/* Per connection: the number of the next line. */
struct session {
    unsigned long line;
};

static int lineecho_init(struct superd_service *svc)
{
    const char *value = superd_option(svc, "max_line");
    struct lineecho *le;
    unsigned long max = 1024;

    if (value != NULL) {
        char *end;

        errno = 0;
        max = strtoul(value, &end, 10);
        /* The host buffers at most 64 KiB of one request. */
        if (errno != 0 || end == value || *end != '\0' || max < 1 || max > 65000)
            return superd_config_error(svc, "max_line",
                                       "\"%s\" is not a number from 1 to 65000", value);
    }
    le = malloc(sizeof *le);
    if (le == NULL)
        return -ENOMEM;
    le->max_line = max;
    superd_service_set_data(svc, le);
    return 0;
}

static void lineecho_fini(struct superd_service *svc)
{
    free(superd_service_data(svc));
}

static int lineecho_open(struct superd_conn *conn)
{
    struct session *s = calloc(1, sizeof *s);

    if (s == NULL)
        return -ENOMEM;
    s->line = 1;
    superd_conn_set_data(conn, s);
    return 0;
}

/* Answer one line; return how many bytes it used (the line and its LF). */
static ssize_t lineecho_data(struct superd_conn *conn, const void *data, size_t len)
{
    const struct lineecho *le = superd_service_data(superd_conn_service(conn));
    struct session *s = superd_conn_data(conn);
    const char *line = data;
    const char *nl = memchr(line, '\n', len);
    size_t n;
    char num[32];
    int r;

    if (nl == NULL) {
        if (len <= le->max_line)
            return 0;                   /* not a whole line yet: wait for more */
        superd_write(conn, "error: line too long\n", 21);
        return -EMSGSIZE;               /* close, after the queued answer */
    }
    n = (size_t)(nl - line);
    if (n > 0 && line[n - 1] == '\r')
        n--;
    if (n > le->max_line) {
        superd_write(conn, "error: line too long\n", 21);
        return -EMSGSIZE;
    }
    if (n == 4 && memcmp(line, "quit", 4) == 0) {
        superd_write(conn, "bye\n", 4);
        superd_close(conn);             /* the host sends "bye" first */
        return nl - line + 1;
    }
    r = snprintf(num, sizeof num, "%lu: ", s->line++);
    if (superd_write(conn, num, (size_t)r) < 0 ||
        superd_write(conn, line, n) < 0 || superd_write(conn, "\n", 1) < 0)
        return -EPIPE;
    return nl - line + 1;               /* one line: the rest comes again */
}

static void lineecho_close(struct superd_conn *conn)
{
    free(superd_conn_data(conn));
}

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "lineecho",
    .version = "1.0",
    .init = lineecho_init,
    .fini = lineecho_fini,
    .on_open = lineecho_open,
    .on_data = lineecho_data,
    .on_close = lineecho_close,
};
