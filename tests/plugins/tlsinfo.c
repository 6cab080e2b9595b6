/* tlsinfo - for the TLS tests: on open, writes one line with what
 * superd_conn_tls() tells (and the worker's pid), then echoes; with
 * `close = yes` it closes after that line.  On a connection that is not
 * TLS the line is "not tls <errno>". */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <superd/plugin.h>

static int closing;

static int info_init(struct superd_service *svc)
{
    const char *c = superd_option(svc, "close");
    closing = c && strcmp(c, "yes") == 0;
    return 0;
}

static int info_open(struct superd_conn *conn)
{
    struct superd_tls_info t = { .size = sizeof t };
    char line[1024];
    int r = superd_conn_tls(conn, &t);
    if (r < 0)
        snprintf(line, sizeof line, "not tls %d\n", -r);
    else
        snprintf(line, sizeof line, "pid=%ld version=%s cipher=%s sni=%s alpn=%s resumed=%d "
                 "subject=%s issuer=%s\n", (long)getpid(), t.version, t.cipher,
                 t.sni ? t.sni : "-", t.alpn ? t.alpn : "-", t.resumed,
                 t.peer_subject ? t.peer_subject : "-", t.peer_issuer ? t.peer_issuer : "-");
    superd_write(conn, line, strlen(line));
    if (closing)
        superd_close(conn);
    return 0;
}

static ssize_t info_data(struct superd_conn *conn, const void *data, size_t len)
{
    int r = superd_write(conn, data, len);
    return r < 0 ? r : (ssize_t)len;
}

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "tlsinfo",
    .version = "1.0",
    .init = info_init,
    .on_open = info_open,
    .on_data = info_data,
};
