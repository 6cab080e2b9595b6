/*
 * test_lineecho - unit test of lineecho.so against the fake host: no
 * daemon, no sockets.  Run as:  ./test_lineecho ./lineecho.so
 */
#include <stdio.h>
#include <string.h>
#include <superd/fakehost.h>

static int failures;

#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                 \
        }                                                               \
    } while (0)

int main(int argc, char **argv)
{
    const char *const options[] = { "max_line", "10", NULL };
    struct fake_plugin *plugin;
    struct superd_service *svc;
    struct superd_conn *conn;

    if (argc != 2 || fake_plugin_load(argv[1], &plugin) < 0)
        return 2;
    svc = fake_service_new(plugin, "lineecho", options);
    CHECK(svc != NULL && fake_service_init(svc) == 0);
    CHECK(fake_service_unread(svc) == NULL);    /* max_line was read */

    conn = fake_conn_open(svc, NULL);
    /* Two lines and a half in one read: two answers, the half is kept. */
    fake_conn_feed(conn, "one\ntwo\r\nthr", 12);
    CHECK(strcmp(fake_conn_output(conn, NULL), "1: one\n2: two\n") == 0);
    CHECK(fake_conn_unconsumed(conn) == 3);
    fake_conn_feed(conn, "ee\nquit\n", 8);
    CHECK(strcmp(fake_conn_output(conn, NULL), "1: one\n2: two\n3: three\nbye\n") == 0);
    CHECK(fake_conn_closed(conn));
    fake_conn_free(conn);

    /* A line longer than max_line: an error, and the connection closes. */
    conn = fake_conn_open(svc, NULL);
    fake_conn_feed(conn, "0123456789abc", 13);
    CHECK(strcmp(fake_conn_output(conn, NULL), "error: line too long\n") == 0);
    CHECK(fake_conn_closed(conn));
    fake_conn_free(conn);

    CHECK(fake_violations() == 0);
    fake_service_free(svc);
    fake_plugin_unload(plugin);
    printf("test_lineecho: %s\n", failures == 0 ? "ok" : "FAILED");
    return failures == 0 ? 0 : 1;
}
