/*
 * daytime - the Daytime Protocol, RFC 867.
 *
 * Stream: on connect, the server sends one line with the current local date
 * and time, ending in CRLF, and closes.  Whatever the client sends is ignored.
 * Datagram: any datagram is answered with the same line.
 *
 * Option:
 *   format = STRFTIME-FORMAT   the line's layout (strftime(3)); the default,
 *                              "%A, %B %d, %Y %H:%M:%S-%Z", is the syntax
 *                              RFC 867 suggests: "Tuesday, February 22, 1982
 *                              17:37:43-PST".
 */
#include <superd/plugin.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_FORMAT "%A, %B %d, %Y %H:%M:%S-%Z"

/* Longest line accepted at init, without CRLF.  The buffer leaves room for
 * lines that grow later (a longer month name) and for the CRLF. */
#define LINE_MAX_CHARS 200
#define LINE_BUF 256

/* A service's state: its format, and the line of the last second it was
 * asked for.  strftime and localtime cost more than the rest of a
 * connection, and the line only changes once a second. */
struct daytime {
    char *format;
    time_t sec;             /* the second `line` was made for */
    size_t len;             /* 0: none made yet (or it failed) */
    char line[LINE_BUF];
};

/*
 * Format the local time `now` into buf (LINE_BUF bytes) and append CRLF.
 * Returns the line's length with CRLF, or 0 when strftime gives nothing or
 * more than the buffer holds.
 */
static size_t format_line(const char *format, time_t now, char *buf)
{
    struct tm tm;
    size_t n;

    if (localtime_r(&now, &tm) == NULL)
        return 0;
    /* The format comes from the configuration (checked in init()), so it
     * cannot be a literal: silence only that warning, only here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    n = strftime(buf, LINE_BUF - 2, format, &tm);
#pragma GCC diagnostic pop
    if (n == 0)
        return 0;
    memcpy(buf + n, "\r\n", 2);
    return n + 2;
}

/* The line for now, made at most once a second, falling back to the
 * default format if the configured one produces nothing at this moment (it
 * was checked at init, but a locale's names vary in length).  Sets *line to
 * it (valid until the next call) and returns its length with CRLF, 0 if
 * none. */
static size_t daytime_line(const struct superd_service *svc, const char **line)
{
    struct daytime *d = superd_service_data(svc);
    time_t now = time(NULL);

    if (d->len == 0 || now != d->sec) {
        d->sec = now;
        d->len = format_line(d->format, now, d->line);
        if (d->len == 0 && strcmp(d->format, DEFAULT_FORMAT) != 0)
            d->len = format_line(DEFAULT_FORMAT, now, d->line);
    }
    *line = d->line;
    return d->len;
}

/* Refuse a format that cannot make one non-empty line of sane length now. */
static int check_format(struct superd_service *svc, const char *format)
{
    char buf[LINE_BUF];
    size_t n;

    if (format[0] == '\0')
        return superd_config_error(svc, "format", "must not be empty");
    n = format_line(format, time(NULL), buf);
    if (n == 0)
        return superd_config_error(svc, "format",
                                   "\"%s\" gives an empty or over-long line", format);
    n -= 2;
    if (n > LINE_MAX_CHARS)
        return superd_config_error(svc, "format",
                                   "\"%s\" gives %zu characters, at most %d are allowed",
                                   format, n, LINE_MAX_CHARS);
    /* RFC 867 answers with one line: a newline inside would split it. */
    if (memchr(buf, '\n', n) != NULL || memchr(buf, '\r', n) != NULL)
        return superd_config_error(svc, "format",
                                   "\"%s\" gives a line break; the answer is one line",
                                   format);
    return 0;
}

static int daytime_init(struct superd_service *svc)
{
    const char *format = superd_option(svc, "format");
    struct daytime *d;
    int r;

    /* Read the zone now, outside the event loop, not on the first answer. */
    tzset();
    if (format == NULL)
        format = DEFAULT_FORMAT;
    r = check_format(svc, format);
    if (r < 0)
        return r;
    /* A copy: the host's option string is ours only until fini(). */
    d = calloc(1, sizeof *d);
    if (d != NULL)
        d->format = strdup(format);
    if (d == NULL || d->format == NULL) {
        free(d);
        return superd_config_error(svc, "format", "out of memory");
    }
    superd_service_set_data(svc, d);
    return 0;
}

static void daytime_fini(struct superd_service *svc)
{
    struct daytime *d = superd_service_data(svc);

    if (d != NULL)
        free(d->format);
    free(d);
    superd_service_set_data(svc, NULL);
}

/* Send the line and close: the whole exchange happens on connect. */
static int daytime_open(struct superd_conn *conn)
{
    const char *line;
    size_t n = daytime_line(superd_conn_service(conn), &line);
    int r;

    if (n == 0) {
        superd_log(superd_conn_service(conn), SUPERD_LOG_ERR, "cannot format the time");
        return -EINVAL;
    }
    r = superd_write(conn, line, n);
    if (r < 0)
        return r;
    superd_close(conn);
    return 0;
}

/* RFC 867: "Any data received is thrown away." */
static ssize_t daytime_data(struct superd_conn *conn, const void *data, size_t len)
{
    (void)conn;
    (void)data;
    return (ssize_t)len;
}

/* The datagram's content does not matter; a failed reply is dropped, as UDP
 * may drop it anyway. */
static void daytime_datagram(struct superd_service *svc, struct superd_dgram *dgram,
                             const void *data, size_t len)
{
    const char *line;
    size_t n = daytime_line(svc, &line);

    (void)data;
    (void)len;
    if (n > 0)
        (void)superd_reply(dgram, line, n);
}

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "daytime",
    .version = "1.0",
    .init = daytime_init,
    .fini = daytime_fini,
    .on_open = daytime_open,
    .on_data = daytime_data,
    .on_datagram = daytime_datagram,
};
