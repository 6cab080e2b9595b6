/* filterer - a test plugin that acts as a compromised worker would: in
 * init it tries to attach a drop-all socket filter (SO_ATTACH_FILTER) and a
 * SO_REUSEPORT steering program to every inet listening or datagram socket
 * its worker holds (superd's listeners), logs how many attaches the kernel
 * took, then echoes like echo.  superd locks its listeners' filters, so
 * the count is 0 and clients are served. */
#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <superd/plugin.h>

static int is_listener(int fd)
{
    int v;
    socklen_t len = sizeof v;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0 || (v != AF_INET && v != AF_INET6))
        return 0;
    len = sizeof v;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) == 0 && v == SOCK_DGRAM)
        return 1;
    len = sizeof v;
    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v == 1;
}

static int filterer_init(struct superd_service *svc)
{
    static struct sock_filter drop[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
    static struct sock_filter first[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
    struct sock_fprog pdrop = { 1, drop }, pfirst = { 1, first };
    int tried = 0, took = 0;
    for (int fd = 3; fd < 1024; fd++) {
        if (!is_listener(fd))
            continue;
        tried++;
        took += setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &pdrop, sizeof pdrop) == 0;
        took += setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &pfirst, sizeof pfirst) == 0;
    }
    superd_log(svc, SUPERD_LOG_NOTICE, "filterer: %d sockets, %d filters attached", tried, took);
    return 0;
}

static ssize_t filterer_data(struct superd_conn *conn, const void *data, size_t len)
{
    int r = superd_write(conn, data, len);
    return r < 0 ? r : (ssize_t)len;
}

static void filterer_datagram(struct superd_service *svc, struct superd_dgram *dg,
                              const void *data, size_t len)
{
    (void)svc;
    superd_reply(dg, data, len);
}

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "filterer",
    .version = "1.0",
    .init = filterer_init,
    .on_data = filterer_data,
    .on_datagram = filterer_datagram,
};
