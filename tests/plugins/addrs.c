/* addrs - a plugin of ABI 1.1 that answers with the addresses
 * superd_conn_addr() and superd_dgram_addr() give, converted from binary
 * by the plugin itself, next to superd_peer()'s text:
 *     peer inet 127.0.0.1 40000
 *     local inet 127.0.0.1 7000
 *     text 127.0.0.1:40000
 * ("inet6 ::1 PORT", "unix PATH" with an empty PATH for an unnamed socket,
 * "@NAME" for an abstract one; "error -E" when the call failed).  A stream
 * connection gets it at once and is closed; a datagram gets it as reply. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include <superd/plugin.h>

/* One line "NAME ..." for the address in sa/len, or "NAME error -E". */
static int describe(char *out, size_t cap, const char *name, int r,
                    const struct sockaddr_storage *ss, socklen_t len)
{
    char host[INET6_ADDRSTRLEN];
    if (r < 0)
        return snprintf(out, cap, "%s error %d\n", name, r);
    if (ss->ss_family == AF_INET && len == sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const void *)ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        return snprintf(out, cap, "%s inet %s %u\n", name, host, ntohs(in->sin_port));
    }
    if (ss->ss_family == AF_INET6 && len == sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const void *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        return snprintf(out, cap, "%s inet6 %s %u\n", name, host, ntohs(in6->sin6_port));
    }
    if (ss->ss_family == AF_UNIX && len >= offsetof(struct sockaddr_un, sun_path)) {
        const struct sockaddr_un *sun = (const void *)ss;
        size_t n = len - offsetof(struct sockaddr_un, sun_path);
        if (n > 0 && sun->sun_path[0] == '\0')
            return snprintf(out, cap, "%s unix @%.*s\n", name, (int)(n - 1), sun->sun_path + 1);
        return snprintf(out, cap, "%s unix %.*s\n", name, (int)strnlen(sun->sun_path, n),
                        sun->sun_path);
    }
    return snprintf(out, cap, "%s family %d len %u\n", name, ss->ss_family, (unsigned)len);
}

/* Both addresses and the text, into out; returns the length. */
#define REPORT(fn, obj, peer_text, out, cap)                                     \
    do {                                                                         \
        struct sockaddr_storage ss;                                              \
        socklen_t alen = sizeof ss;                                               \
        int n = 0, r = fn(obj, SUPERD_ADDR_PEER, (struct sockaddr *)&ss, &alen); \
        n += describe(out + n, cap - (size_t)n, "peer", r, &ss, alen);            \
        alen = sizeof ss;                                                         \
        r = fn(obj, SUPERD_ADDR_LOCAL, (struct sockaddr *)&ss, &alen);            \
        n += describe(out + n, cap - (size_t)n, "local", r, &ss, alen);           \
        alen = sizeof ss;                                                         \
        r = fn(obj, 7, (struct sockaddr *)&ss, &alen);                            \
        n += snprintf(out + n, cap - (size_t)n, "other %d\n", r);                \
        n += snprintf(out + n, cap - (size_t)n, "text %s\n", peer_text);        \
        reply_len = (size_t)n;                                                   \
    } while (0)

static int addrs_open(struct superd_conn *conn)
{
    char out[1024];
    size_t reply_len;
    REPORT(superd_conn_addr, conn, superd_peer(conn), out, sizeof out);
    int r = superd_write(conn, out, reply_len);
    superd_close(conn);
    return r;
}

static ssize_t addrs_data(struct superd_conn *conn, const void *data, size_t len)
{
    (void)conn;
    (void)data;
    return (ssize_t)len;
}

static void addrs_datagram(struct superd_service *svc, struct superd_dgram *dg,
                           const void *data, size_t len)
{
    char out[1024];
    size_t reply_len;
    (void)svc;
    (void)data;
    (void)len;
    REPORT(superd_dgram_addr, dg, superd_dgram_peer(dg), out, sizeof out);
    superd_reply(dg, out, reply_len);
}

SUPERD_EXPORT const struct superd_plugin superd_plugin = {
    SUPERD_PLUGIN_HEADER,
    .name = "addrs",
    .version = "1.1",
    .on_open = addrs_open,
    .on_data = addrs_data,
    .on_datagram = addrs_datagram,
};
