/* fdspy - for the master tests: init() refuses to start when the process
 * it runs in holds a signalfd or a second epoll instance, which at init
 * time can only be the master's (a worker's own loop exists before its
 * plugins start, so that they can start timers; its signalfd comes after).
 * A plugin holding the master's signalfd could unregister it from the
 * master's epoll and so switch off its SIGTERM, SIGCHLD and SIGHUP. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <superd/plugin.h>

static int fdspy_init(struct superd_service *svc)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int found = 0, epolls = 0;
    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL && !found) {
        char path[300], target[128];
        ssize_t n;
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        n = readlink(path, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        /* The first epoll instance may be the worker's own loop. */
        if (strcmp(target, "anon_inode:[signalfd]") == 0 ||
            (strcmp(target, "anon_inode:[eventpoll]") == 0 && ++epolls > 1)) {
            superd_config_error(svc, NULL, "holds fd %s: %s", e->d_name, target);
            found = 1;
        }
    }
    closedir(d);
    return found ? -1 : 0;
}

static ssize_t fdspy_data(struct superd_conn *conn, const void *data, size_t len)
{
    int r = superd_write(conn, data, len);
    return r < 0 ? r : (ssize_t)len;
}

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "fdspy",
    .version = "1",
    .init = fdspy_init,
    .on_data = fdspy_data,
};
