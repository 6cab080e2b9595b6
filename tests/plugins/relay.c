/* relay - for the cross-connection tests (tests/integration_cross.c): a
 * plugin that writes to and closes a connection other than the one whose
 * callback runs, from a stream callback, a datagram and a timer.
 *
 * Stream commands, one per line:
 *   sink           this connection becomes the sink; "ready\n" to it
 *   blast N        N pattern bytes (byte i is i % 251) to the sink, which
 *                  is then closed; "sent\n" here ("nosink\n" without one)
 *   later MS N     the same from a one-shot timer MS ms later; "armed\n"
 *   tick MS K      "tick\n" here every MS ms, K times, from a repeating
 *                  timer that then stops itself and closes this connection
 * A datagram "blast N" does what the stream command does and answers
 * "sent" (or "nosink").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <superd/plugin.h>

#define BLOB_MAX (16u << 20)

struct relay {
    struct superd_conn *sink;
    char *blob;                 /* BLOB_MAX pattern bytes */
};

/* A connection that ticks. */
struct ticker {
    struct superd_timer *t;
    struct superd_conn *conn;
    unsigned left;
};

/* A pending "later". */
struct later {
    struct superd_service *svc;
    size_t n;
};

static struct relay *relay_of(struct superd_service *svc)
{
    return superd_service_data(svc);
}

static int relay_init(struct superd_service *svc)
{
    struct relay *r = calloc(1, sizeof *r);
    if (!r || !(r->blob = malloc(BLOB_MAX))) {
        free(r);
        return -ENOMEM;
    }
    for (size_t i = 0; i < BLOB_MAX; i++)
        r->blob[i] = (char)(i % 251);
    superd_service_set_data(svc, r);
    return 0;
}

static void relay_fini(struct superd_service *svc)
{
    struct relay *r = relay_of(svc);
    free(r->blob);
    free(r);
}

/* N bytes to the sink, then close it.  0, or -ENOENT without a sink. */
static int blast(struct superd_service *svc, size_t n)
{
    struct relay *r = relay_of(svc);
    if (!r->sink)
        return -ENOENT;
    if (n > BLOB_MAX)
        n = BLOB_MAX;
    int e = superd_write(r->sink, r->blob, n);
    superd_close(r->sink);
    return e;
}

static void later_fired(struct superd_timer *t, void *arg)
{
    (void)t;
    struct later *l = arg;
    blast(l->svc, l->n);
    free(l);
}

static void tick_fired(struct superd_timer *t, void *arg)
{
    struct ticker *k = arg;
    superd_write(k->conn, "tick\n", 5);
    if (--k->left == 0) {
        superd_timer_stop(t);
        k->t = NULL;
        superd_close(k->conn);
    }
}

static void command(struct superd_conn *conn, const char *line)
{
    struct superd_service *svc = superd_conn_service(conn);
    unsigned long a = 0, b = 0;
    if (strcmp(line, "sink") == 0) {
        relay_of(svc)->sink = conn;
        superd_write(conn, "ready\n", 6);
    } else if (sscanf(line, "blast %lu", &a) == 1) {
        int e = blast(svc, a);
        superd_write(conn, e == -ENOENT ? "nosink\n" : "sent\n", e == -ENOENT ? 7 : 5);
    } else if (sscanf(line, "later %lu %lu", &a, &b) == 2) {
        struct later *l = malloc(sizeof *l);
        if (l) {
            *l = (struct later){ svc, b };
            if (!superd_timer_start(svc, a, 0, later_fired, l))
                free(l);
            else
                superd_write(conn, "armed\n", 6);
        }
    } else if (sscanf(line, "tick %lu %lu", &a, &b) == 2 && b > 0 && !superd_conn_data(conn)) {
        struct ticker *k = calloc(1, sizeof *k);
        if (k) {
            *k = (struct ticker){ NULL, conn, (unsigned)b };
            k->t = superd_timer_start(svc, a, a, tick_fired, k);
            superd_conn_set_data(conn, k);
        }
    } else {
        superd_write(conn, "what?\n", 6);
    }
}

static ssize_t relay_data(struct superd_conn *conn, const void *data, size_t len)
{
    const char *nl = memchr(data, '\n', len);
    if (!nl)
        return len > 200 ? -EINVAL : 0;
    char line[256];
    size_t n = (size_t)(nl - (const char *)data);
    memcpy(line, data, n);
    line[n] = '\0';
    command(conn, line);
    return (ssize_t)(n + 1);
}

static void relay_close(struct superd_conn *conn)
{
    struct relay *r = relay_of(superd_conn_service(conn));
    if (r->sink == conn)
        r->sink = NULL;
    struct ticker *k = superd_conn_data(conn);
    if (k) {
        superd_timer_stop(k->t);    /* from on_close: allowed, NULL ignored */
        free(k);
    }
}

static void relay_datagram(struct superd_service *svc, struct superd_dgram *d, const void *data,
                           size_t len)
{
    char line[64];
    unsigned long n;
    if (len >= sizeof line)
        return;
    memcpy(line, data, len);
    line[len] = '\0';
    if (sscanf(line, "blast %lu", &n) != 1)
        return;
    int e = blast(svc, n);
    superd_reply(d, e == -ENOENT ? "nosink" : "sent", e == -ENOENT ? 6 : 4);
}

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "relay",
    .version = "1",
    .init = relay_init,
    .fini = relay_fini,
    .on_data = relay_data,
    .on_close = relay_close,
    .on_datagram = relay_datagram,
};
