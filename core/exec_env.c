/* exec_env.c - the environment of a started program.
 *
 * Names follow the programs' own conventions: ucspi-tcp and s6-tcpserver
 * (PROTO=TCP, TCPREMOTEIP ..., IPv6 too), s6-ipcserver for unix sockets
 * (PROTO=IPC, IPCREMOTEEUID ...), systemd's Accept=yes units (REMOTE_ADDR,
 * REMOTE_PORT) and xinetd (REMOTE_HOST).  Datagrams get the same shape
 * with PROTO=UDP and UDP* names, superd's own extension.
 */
#include "exec_env.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "exec_args.h"
#include "exec_conf.h"

struct envv {
    char **v;
    size_t n;
    int err;
};

/* Set NAME=VALUE, replacing an earlier NAME in place. */
static void put(struct envv *ev, const char *name, const char *value)
{
    if (ev->err)
        return;
    char *s;
    if (asprintf(&s, "%s=%s", name, value) < 0) {
        ev->err = -ENOMEM;
        return;
    }
    size_t len = strlen(name);
    for (size_t i = 0; i < ev->n; i++)
        if (strncmp(ev->v[i], name, len) == 0 && ev->v[i][len] == '=') {
            free(ev->v[i]);
            ev->v[i] = s;
            return;
        }
    char **nv = realloc(ev->v, (ev->n + 2) * sizeof *nv);
    if (!nv) {
        free(s);
        ev->err = -ENOMEM;
        return;
    }
    ev->v = nv;
    nv[ev->n++] = s;
    nv[ev->n] = NULL;
}

/* An IP address and port as text; false for any other family. */
static bool ip_text(const struct sockaddr_storage *ss, char *ip, size_t iplen, char *port,
                    size_t portlen)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)ss;
        inet_ntop(AF_INET, &in->sin_addr, ip, (socklen_t)iplen);
        snprintf(port, portlen, "%u", ntohs(in->sin_port));
        return true;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)ss;
        /* A v4-mapped peer is an IPv4 client: say so as a v4 program expects. */
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
            inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], ip, (socklen_t)iplen);
        else
            inet_ntop(AF_INET6, &in6->sin6_addr, ip, (socklen_t)iplen);
        snprintf(port, portlen, "%u", ntohs(in6->sin6_port));
        return true;
    }
    return false;
}

/* Append bytes [p, p+n) to buf (size > 0, always terminated), with every
 * control byte (below 0x20, DEL, an abstract name's NULs) as \xHH, as the
 * log writes them: the client chooses its own unix address, and a
 * newline in it must not forge a line in a program that prints or parses
 * its environment. */
static void escape_into(char *buf, size_t size, size_t *at, const char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = *at;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)p[k];
        if (c >= 0x20 && c != 0x7f) {
            if (i + 1 >= size)
                break;
            buf[i++] = (char)c;
            continue;
        }
        if (i + 4 >= size)
            break;
        buf[i++] = '\\';
        buf[i++] = 'x';
        buf[i++] = hex[c >> 4];
        buf[i++] = hex[c & 15];
    }
    buf[i] = '\0';
    *at = i;
}

/* The path of a unix address ("@name" for an abstract one; "" if none),
 * control bytes escaped. */
static void unix_text(const struct sockaddr_storage *ss, socklen_t len, char *buf, size_t size)
{
    const struct sockaddr_un *un = (const void *)ss;
    size_t off = offsetof(struct sockaddr_un, sun_path), at = 0;
    buf[0] = '\0';
    if (ss->ss_family != AF_UNIX || len <= off)
        return;
    size_t n = len - off;
    if (n > sizeof un->sun_path)
        n = sizeof un->sun_path;
    if (un->sun_path[0] == '\0') {
        escape_into(buf, size, &at, "@", 1);
        escape_into(buf, size, &at, un->sun_path + 1, n - 1);
    } else {
        escape_into(buf, size, &at, un->sun_path, strnlen(un->sun_path, n));
    }
}

static void ip_vars(struct envv *ev, const struct exec_facts *f)
{
    const char *p = f->socktype == SOCK_DGRAM ? "UDP" : "TCP";
    char ip[INET6_ADDRSTRLEN], port[8], name[32];
    put(ev, "PROTO", p);
    if (ip_text(&f->local, ip, sizeof ip, port, sizeof port)) {
        snprintf(name, sizeof name, "%sLOCALIP", p);
        put(ev, name, ip);
        snprintf(name, sizeof name, "%sLOCALPORT", p);
        put(ev, name, port);
    }
    if (ip_text(&f->peer, ip, sizeof ip, port, sizeof port)) {
        snprintf(name, sizeof name, "%sREMOTEIP", p);
        put(ev, name, ip);
        snprintf(name, sizeof name, "%sREMOTEPORT", p);
        put(ev, name, port);
        put(ev, "REMOTE_ADDR", ip);     /* systemd */
        put(ev, "REMOTE_PORT", port);
        put(ev, "REMOTE_HOST", ip);     /* xinetd: the address, never a DNS name */
    }
}

static void ipc_vars(struct envv *ev, const struct exec_facts *f)
{
    char buf[4 * sizeof ((struct sockaddr_un *)0)->sun_path + 2];
    put(ev, "PROTO", "IPC");
    unix_text(&f->local, f->locallen, buf, sizeof buf);
    put(ev, "IPCLOCALPATH", buf);
    unix_text(&f->peer, f->peerlen, buf, sizeof buf);
    put(ev, "IPCREMOTEPATH", buf);
    if (f->has_cred) {
        snprintf(buf, sizeof buf, "%lu", (unsigned long)f->uid);
        put(ev, "IPCREMOTEEUID", buf);
        snprintf(buf, sizeof buf, "%lu", (unsigned long)f->gid);
        put(ev, "IPCREMOTEEGID", buf);
    }
}

static const char *lookup(char *const *from, const char *name)
{
    size_t len = strlen(name);
    for (; from && *from; from++)
        if (strncmp(*from, name, len) == 0 && (*from)[len] == '=')
            return *from + len + 1;
    return NULL;
}

/* A program behind TLS: the names s6-tlsserver uses (SSL_PROTOCOL,
 * SSL_CIPHER, SSL_TLS_SNI_SERVERNAME, SSL_PEER_CERT_SUBJECT) and stunnel's
 * for the client certificate (SSL_CLIENT_DN, SSL_CLIENT_I_DN). */
static void tls_vars(struct envv *ev, const struct exec_facts *f)
{
    put(ev, "SSL_PROTOCOL", f->ssl_protocol);
    put(ev, "SSL_CIPHER", f->ssl_cipher);
    if (f->ssl_sni && *f->ssl_sni)
        put(ev, "SSL_TLS_SNI_SERVERNAME", f->ssl_sni);
    if (f->ssl_subject && *f->ssl_subject) {
        put(ev, "SSL_PEER_CERT_SUBJECT", f->ssl_subject);
        put(ev, "SSL_CLIENT_DN", f->ssl_subject);
    }
    if (f->ssl_issuer && *f->ssl_issuer)
        put(ev, "SSL_CLIENT_I_DN", f->ssl_issuer);
}

int exec_env_build(const struct exec_conf *e, const struct exec_facts *f,
                   char *const *from, char ***out)
{
    struct envv ev = { calloc(1, sizeof(char *)), 0, 0 };
    if (!ev.v)
        return -ENOMEM;
    put(&ev, "PATH", EXEC_DEFAULT_PATH);
    int fam = f->local.ss_family ? f->local.ss_family : f->peer.ss_family;
    if (f->socktype && fam == AF_UNIX)
        ipc_vars(&ev, f);
    else if (f->socktype && (fam == AF_INET || fam == AF_INET6))
        ip_vars(&ev, f);
    if (f->ssl_protocol)
        tls_vars(&ev, f);
    for (size_t i = 0; i < e->npass_env; i++) {
        const char *v = lookup(from, e->pass_env[i]);
        if (v)
            put(&ev, e->pass_env[i], v);
    }
    for (size_t i = 0; i < e->nenv; i++) {
        char *eq = strchr(e->env[i], '=');
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(eq - e->env[i]), e->env[i]);
        put(&ev, name, eq + 1);
    }
    if (ev.err) {
        exec_args_free(ev.v);
        return ev.err;
    }
    *out = ev.v;
    return 0;
}
