/* systemd.c - the notify protocol and socket activation. */
#include "systemd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* sd_listen_fds(3): passed sockets start at fd 3. */
#define LISTEN_FDS_START 3

int systemd_notify(const char *msg)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 0;
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    size_t len = strlen(path);
    if (len >= sizeof sun.sun_path || (path[0] != '/' && path[0] != '@'))
        return -EINVAL;
    memcpy(sun.sun_path, path, len);
    if (path[0] == '@')
        sun.sun_path[0] = '\0';     /* abstract namespace */
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int r = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sun, salen) < 0 ? -errno : 0;
    close(fd);
    return r;
}

int systemd_notify_reloading(void)
{
    struct timespec ts;
    char msg[64];
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
    return systemd_notify(msg);
}

/* Kind and address of a passed socket. */
static int describe(int fd, struct laddr *a, char *err, size_t errlen)
{
    int type;
    socklen_t tlen = sizeof type;
    a->salen = sizeof a->sa;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 ||
        getsockname(fd, (struct sockaddr *)&a->sa, &a->salen) < 0) {
        int e = errno;
        snprintf(err, errlen, "socket passed by systemd (fd %d): %s", fd, strerror(e));
        return -e;
    }
    int family = a->sa.ss_family;
    if ((family != AF_INET && family != AF_INET6 && family != AF_UNIX) ||
        (type != SOCK_STREAM && type != SOCK_DGRAM)) {
        snprintf(err, errlen, "socket passed by systemd (fd %d) is not TCP, UDP or unix", fd);
        return -EPROTONOSUPPORT;
    }
    if (family == AF_UNIX)
        a->kind = type == SOCK_STREAM ? ADDR_UNIX : ADDR_UNIX_DGRAM;
    else
        a->kind = type == SOCK_STREAM ? ADDR_TCP : ADDR_UDP;
    char text[ADDR_FMT_MAX];
    addr_format((struct sockaddr *)&a->sa, a->salen, text, sizeof text);
    snprintf(a->text, sizeof a->text, "%s %s", addr_kind_name(a->kind), text);
    return 0;
}

int systemd_listen_fds(struct lsn_set *set, char *err, size_t errlen)
{
    set->v = NULL;
    set->n = 0;
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    if (!pid || !fds || strtol(pid, NULL, 10) != (long)getpid())
        return 0;
    char *end;
    long n = strtol(fds, &end, 10);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (*end || n <= 0 || n > 4096)
        return 0;
    set->v = calloc((size_t)n, sizeof *set->v);
    if (!set->v)
        return -ENOMEM;
    for (int fd = LISTEN_FDS_START; fd < LISTEN_FDS_START + n; fd++) {
        struct listener *l = &set->v[set->n++];
        l->fd = fd;
        l->w.fd = -1;
        int r = describe(fd, &l->addr, err, errlen);
        if (r < 0)
            return r;
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        lsn_lock_filter(fd);
    }
    return 0;
}
