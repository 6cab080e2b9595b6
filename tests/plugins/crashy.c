/* crashy - for the master/worker tests: tells which worker serves a
 * connection, crashes on request, and can crash in init.
 *
 * On connect it writes "pid PID version VERSION\n", then echoes.  Data
 * containing "crash" makes it crash the worker (SIGSEGV); "hang" makes the
 * callback never return (a stuck plugin).  init() aborts
 * when the file named by the option `crash_init_if` exists, so a test can
 * make every later worker start-up fail; `init_sleep_ms` makes init slow
 * (a plugin that takes a while to start, for the reload tests).  Built twice by the Makefile, with
 * CRASHY_VERSION "1" and "2", to test that a reload loads a rebuilt .so.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <superd/plugin.h>

#ifndef CRASHY_VERSION
#define CRASHY_VERSION "1"
#endif

static int crashy_init(struct superd_service *svc)
{
    const char *path = superd_option(svc, "crash_init_if");
    const char *ms = superd_option(svc, "init_sleep_ms");
    if (path && access(path, F_OK) == 0)
        abort();
    if (ms)
        usleep((useconds_t)atoi(ms) * 1000);
    return 0;
}

static int crashy_open(struct superd_conn *conn)
{
    char line[64];
    int n = snprintf(line, sizeof line, "pid %ld version %s\n", (long)getpid(), CRASHY_VERSION);
    return superd_write(conn, line, (size_t)n);
}

static ssize_t crashy_data(struct superd_conn *conn, const void *data, size_t len)
{
    if (memmem(data, len, "crash", 5))
        raise(SIGSEGV);
    if (memmem(data, len, "hang", 4))
        for (;;)
            pause();
    int r = superd_write(conn, data, len);
    return r < 0 ? r : (ssize_t)len;
}

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "crashy",
    .version = CRASHY_VERSION,
    .init = crashy_init,
    .on_open = crashy_open,
    .on_data = crashy_data,
};
