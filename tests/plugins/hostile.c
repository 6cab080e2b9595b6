/* hostile - plays a compromised worker for tests/integration_spawner.c:
 * it finds its link to the spawner in /proc/self/fd (the only
 * SOCK_SEQPACKET socket a worker holds) and sends what a plugin should
 * never be able to use, on a client's one-line command:
 *   spoof SVC @NAME   the connecting end of a connection to superd's own
 *                     abstract unix listener (SO_PEERCRED: root)
 *   linger            a TCP socket with unsent data and SO_LINGER {1, INT_MAX}
 *                     in a malformed request (the spawner must close it)
 *   dgram SVC N       N datagram requests on fresh socketpairs
 *   udp SVC           a bound UDP socket as a datagram request
 * At init it logs "hostile: init holds a UDP socket" when it finds one
 * (a wait = yes listener must be closed before any plugin code runs). */
#include <dirent.h>
#include <limits.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <superd/plugin.h>
#include "spawner.h"

static int send_with_fd(int sock, const void *data, size_t len, int fd)
{
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    struct iovec iov = { (void *)data, len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    memset(&u, 0, sizeof u);
    msg.msg_control = u.buf;
    msg.msg_controllen = sizeof u.buf;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    return sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* The first socket of `type` (and, for SOCK_DGRAM, AF_INET) among ours. */
static int find_fd(int type, int inet_only)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int found = -1;
    while (d && (e = readdir(d)) != NULL && found < 0) {
        int fd = atoi(e->d_name), t = 0, dom = 0;
        socklen_t l = sizeof t;
        if (fd <= 2 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &l) < 0 || t != type)
            continue;
        l = sizeof dom;
        if (inet_only && (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) < 0 || dom != AF_INET))
            continue;
        found = fd;
    }
    if (d)
        closedir(d);
    return found;
}

static int req(unsigned svc, uint32_t type, uint32_t magic, int fd)
{
    struct spawn_req rq = { .magic = magic, .type = type, .svc = svc, .gen = 0 };
    return send_with_fd(find_fd(SOCK_SEQPACKET, 0), &rq, sizeof rq, fd);
}

static int hostile_init(struct superd_service *svc)
{
    if (find_fd(SOCK_DGRAM, 1) >= 0)
        superd_log(svc, SUPERD_LOG_ERR, "hostile: init holds a UDP socket");
    return 0;
}

/* Kept open for ever: the lingering connection's window stays closed. */
int hostile_held[2] = { -1, -1 };

static void do_linger(void)
{
    int ls, acc;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    int small = 4096;
    ls = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(ls, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    if (bind(ls, (void *)&a, sizeof a) < 0 || listen(ls, 1) < 0 ||
        getsockname(ls, (void *)&a, &al) < 0)
        return;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (void *)&a, sizeof a) < 0)
        return;
    acc = accept(ls, NULL, NULL);
    hostile_held[0] = ls;
    hostile_held[1] = acc;
    fcntl(c, F_SETFL, O_NONBLOCK);
    static char junk[65536];
    while (send(c, junk, sizeof junk, 0) > 0)
        ;
    struct linger lg = { 1, INT_MAX };
    setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    req(0, SPAWN_STREAM, 0, c);     /* bad magic: refused, closed */
    close(c);
}

static ssize_t hostile_data(struct superd_conn *conn, const void *data, size_t len)
{
    char cmd[256], arg[128] = "";
    unsigned svc = 0, n = 0;
    snprintf(cmd, sizeof cmd, "%.*s", (int)len, (const char *)data);
    if (sscanf(cmd, "spoof %u %127s", &svc, arg) == 2) {
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un un = { .sun_family = AF_UNIX };
        size_t l = strlen(arg);
        memcpy(un.sun_path, arg, l);
        un.sun_path[0] = '\0';      /* "@name": abstract */
        if (connect(s, (void *)&un, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + l)) == 0)
            req(svc, SPAWN_STREAM, SPAWN_MAGIC, s);
        close(s);
    } else if (strncmp(cmd, "linger", 6) == 0) {
        do_linger();
    } else if (sscanf(cmd, "dgram %u %u", &svc, &n) == 2) {
        for (unsigned i = 0; i < n; i++) {
            int sv[2];
            if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0)
                break;
            req(svc, SPAWN_DGRAM, SPAWN_MAGIC, sv[1]);
            close(sv[1]);   /* sv[0] kept: the programs wait on stdin */
        }
    } else if (sscanf(cmd, "udp %u", &svc) == 1) {
        int u = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        bind(u, (void *)&a, sizeof a);
        req(svc, SPAWN_DGRAM, SPAWN_MAGIC, u);
        close(u);
    }
    superd_write(conn, "done\n", 5);
    return (ssize_t)len;
}

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "hostile",
    .version = "1",
    .init = hostile_init,
    .on_data = hostile_data,
};
