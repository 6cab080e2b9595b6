/*
 * superd/plugin.h - the one header a superd service plugin includes.
 *
 * A plugin is a shared object that defines exactly one exported symbol,
 * `superd_plugin`, a const struct superd_plugin.  The host checks the first
 * fields of that descriptor (magic, ABI version, size) before it trusts or
 * calls anything else in it, so an old or foreign .so is refused with a
 * clear message instead of crashing the daemon.
 *
 * Threading: there is none.  All callbacks of one service in one worker
 * process run on that worker's event loop, one at a time.  A plugin must
 * never block (no blocking reads, sleeps or DNS look-ups in a callback) and
 * must never call exit(): return an error instead.
 *
 * Errors: functions that can fail return 0 (or a count) on success and a
 * negative errno value on failure, as the Linux kernel and libuv do.
 *
 * Build a plugin with hidden visibility so that it exports nothing but the
 * descriptor:
 *     cc -shared -fPIC -fvisibility=hidden -Iinclude myplugin.c -o myplugin.so
 */
#ifndef SUPERD_PLUGIN_H
#define SUPERD_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "SPRD": marks a descriptor as a superd plugin descriptor. */
#define SUPERD_PLUGIN_MAGIC 0x53505244u

/*
 * The plugin ABI version.  A minor release only appends fields to
 * struct superd_plugin and adds functions; a plugin built for 1.N loads in
 * any host 1.M with M >= N.  Anything else (a field removed, moved or
 * retyped, a changed function contract) bumps the major version, and the
 * host refuses plugins of another major.
 */
#define SUPERD_ABI_MAJOR 1
#define SUPERD_ABI_MINOR 1

/*
 * The oldest host a plugin must load in.  By default a plugin is built for
 * this header's minor (its descriptor says 1.SUPERD_ABI_MINOR, and a host
 * 1.M with a lower M refuses it by that version).  To build a plugin that
 * also loads in older hosts, define SUPERD_TARGET_MINOR before including
 * this header (cc -DSUPERD_TARGET_MINOR=0 ...): the descriptor then says
 * 1.SUPERD_TARGET_MINOR, and a call of a function newer than that is a
 * compile-time error.
 */
#ifndef SUPERD_TARGET_MINOR
#define SUPERD_TARGET_MINOR SUPERD_ABI_MINOR
#endif
#if SUPERD_TARGET_MINOR > SUPERD_ABI_MINOR || SUPERD_TARGET_MINOR < 0
#error "SUPERD_TARGET_MINOR must be between 0 and SUPERD_ABI_MINOR"
#endif

/*
 * SUPERD_SINCE(1, N) marks a function added in ABI 1.N.  In a plugin it is
 * a weak reference: dlopen(RTLD_NOW) of a plugin that calls it succeeds in
 * an older host, which then refuses the plugin by its descriptor's minor,
 * with a message naming both versions, before any of its code runs (not
 * with "undefined symbol").  The host itself is built with
 * SUPERD_HOST_BUILD defined, where the mark is empty.
 */
#if defined(__has_attribute)
#if __has_attribute(error)
#define SUPERD_TOO_NEW_(v) \
    __attribute__((weak, error("needs plugin ABI " v ": SUPERD_TARGET_MINOR is lower")))
#endif
#endif
#ifndef SUPERD_TOO_NEW_
#define SUPERD_TOO_NEW_(v) __attribute__((weak, deprecated("needs plugin ABI " v)))
#endif
#if defined(SUPERD_HOST_BUILD)
#define SUPERD_SINCE_1_1
#elif SUPERD_TARGET_MINOR >= 1
#define SUPERD_SINCE_1_1 __attribute__((weak))
#else
#define SUPERD_SINCE_1_1 SUPERD_TOO_NEW_("1.1")
#endif
#define SUPERD_SINCE(major, minor) SUPERD_SINCE_##major##_##minor

/*
 * The host's limits, the same in every 1.x host.
 */
/* A request may be at most this long: when the input buffer is full and
 * on_data() consumes nothing, the connection is closed. */
#define SUPERD_REQUEST_MAX (64 * 1024)
/* While more output than this is queued, the host stops reading from the
 * connection. */
#define SUPERD_HIGH_WATER (256 * 1024)
/* superd_write() tries the socket first while less than this has been
 * written straight through during the current callback; after that it
 * only queues (see superd_write()). */
#define SUPERD_DIRECT_WRITE_MAX (256 * 1024)

/* Marks the one symbol a plugin exports. */
#define SUPERD_EXPORT __attribute__((visibility("default")))

/*
 * Opaque handles, owned by the host.  A plugin keeps them only as long as
 * the object lives: a service from init() to fini(), a connection from
 * on_open() to the return of on_close(), a datagram only during the
 * on_datagram() call that received it.
 */
struct superd_service;  /* one [section] of the configuration, in one worker */
struct superd_conn;     /* one stream connection (TCP or unix stream) */
struct superd_dgram;    /* one received datagram (UDP or unix datagram) */

/* Log levels, the same numbers as syslog(3). */
enum superd_log_level {
    SUPERD_LOG_ERR = 3,
    SUPERD_LOG_WARNING = 4,
    SUPERD_LOG_NOTICE = 5,
    SUPERD_LOG_INFO = 6,
    SUPERD_LOG_DEBUG = 7,
};

/*
 * The plugin descriptor.  Define it with SUPERD_PLUGIN_HEADER first:
 *
 *     SUPERD_EXPORT const struct superd_plugin superd_plugin = {
 *         SUPERD_PLUGIN_HEADER,
 *         .name = "echo",
 *         .on_data = echo_data,
 *     };
 *
 * Every callback is optional (NULL), but a service may listen on stream
 * sockets only if its plugin has on_open or on_data, and on datagram sockets
 * only if it has on_datagram: anything else is a configuration error, not
 * traffic silently dropped.  The host reads only the first `size`
 * bytes, so fields added in later minor versions read as NULL/0 for a plugin
 * built before they existed.  New fields are appended, never inserted.
 */
struct superd_plugin {
    /* Checked before anything else: SUPERD_PLUGIN_HEADER fills these. */
    uint32_t magic;        /* SUPERD_PLUGIN_MAGIC */
    uint16_t abi_major;    /* SUPERD_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor;    /* SUPERD_TARGET_MINOR the plugin was built for */
    uint32_t size;         /* sizeof(struct superd_plugin) when built */

    /* Short name and version, shown by `superd -t` and in logs.  Static
     * strings owned by the plugin. */
    const char *name;
    const char *version;

    /*
     * Called once per service per worker, before any traffic.  Read the
     * plugin's own configuration keys with superd_option() and keep state
     * with superd_service_set_data().  Return 0, or a negative errno after
     * superd_config_error() to refuse the configuration: the daemon then
     * does not start (and `superd -t` reports it).
     */
    int (*init)(struct superd_service *svc);

    /* Called once per service per worker after the last callback of that
     * service; frees what init() allocated. */
    void (*fini)(struct superd_service *svc);

    /*
     * A stream connection was accepted.  Return 0 to serve it, or a
     * negative errno to close it at once (on_close() still follows).
     */
    int (*on_open)(struct superd_conn *conn);

    /*
     * Bytes arrived.  `data` is owned by the host and valid only during the
     * call.  Return how many bytes were consumed (0..len).  If that is more
     * than 0 but less than len, the rest is offered again at once (so a
     * line-based plugin may take one line a call); if it is 0, the rest is
     * kept and offered again with whatever arrives next.  When on_data is
     * NULL, input is read and dropped.  Return
     * a negative errno to close the connection (queued output is still
     * flushed).  If the host's input buffer is full and nothing is consumed,
     * the connection is closed: a request may be at most SUPERD_REQUEST_MAX
     * (64 KiB).
     */
    ssize_t (*on_data)(struct superd_conn *conn, const void *data, size_t len);

    /*
     * The client closed its sending side (it sent FIN): no more data will
     * arrive, but writes still reach it.  When NULL, the host closes the
     * connection after flushing what is queued, which is what echo and
     * discard want.  A plugin that sets it must eventually call
     * superd_close() (or the connection lives until idle_timeout).
     */
    void (*on_eof)(struct superd_conn *conn);

    /*
     * The output queue, which held bytes, has been written out to the
     * socket.  A generator (chargen, a file sender) writes until
     * superd_queued() is non-zero, returns, and produces its next piece
     * here: its memory stays bounded however slowly the client reads, and
     * its loop ends even against a client that reads as fast as it writes
     * (superd_write() queues after SUPERD_DIRECT_WRITE_MAX bytes a
     * callback).
     * Not called after superd_close().
     */
    void (*on_drain)(struct superd_conn *conn);

    /*
     * The connection is gone (closed by either side, or by an error).
     * Called exactly once for every connection that on_open() saw, also
     * when on_open() refused it.  Free the per-connection data here.  The
     * connection can no longer be written to.
     */
    void (*on_close)(struct superd_conn *conn);

    /*
     * A datagram arrived on a UDP or unix datagram listener.  The host has
     * already dropped datagrams that must not be answered (loop
     * protection).  `data` and `dgram` are valid only during the call;
     * answer with superd_reply().
     */
    void (*on_datagram)(struct superd_service *svc, struct superd_dgram *dgram,
                        const void *data, size_t len);
};

/* The fields every descriptor starts with. */
#define SUPERD_PLUGIN_HEADER                                            \
    .magic = SUPERD_PLUGIN_MAGIC, .abi_major = SUPERD_ABI_MAJOR,        \
    .abi_minor = SUPERD_TARGET_MINOR, .size = sizeof(struct superd_plugin)

/* ---- services and configuration (valid from init() to fini()) ---- */

/* The service's name: its [section] in the configuration.  Owned by the
 * host. */
const char *superd_service_name(const struct superd_service *svc);

/*
 * The value of the plugin's own key `key` in the service's section, or NULL
 * when the key is absent.  Owned by the host; valid until fini().  Reading
 * a key marks it as known: a key that neither the host nor the plugin reads
 * during init() is reported as an unknown key and the daemon does not start.
 */
const char *superd_option(struct superd_service *svc, const char *key);

/*
 * Report a bad value of `key` (or of the section as a whole when key is
 * NULL).  The daemon prints it as `FILE:LINE: [service] key: message`.
 * Returns -EINVAL, so init() can `return superd_config_error(...)`.
 */
int superd_config_error(struct superd_service *svc, const char *key,
                        const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Per-service data of the plugin's own, NULL until set; the plugin owns and
 * frees it (in fini()). */
void superd_service_set_data(struct superd_service *svc, void *data);
void *superd_service_data(const struct superd_service *svc);

/* Log one line to the daemon's log, prefixed with the service name.  Never
 * blocks the loop for long. */
void superd_log(const struct superd_service *svc, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- stream connections (valid from on_open() to on_close()) ---- */

/* The service a connection belongs to. */
struct superd_service *superd_conn_service(const struct superd_conn *conn);

/* Per-connection data of the plugin's own, NULL until set; the plugin owns
 * it and frees it in on_close(). */
void superd_conn_set_data(struct superd_conn *conn, void *data);
void *superd_conn_data(const struct superd_conn *conn);

/*
 * Send `len` bytes.  When nothing is queued and less than
 * SUPERD_DIRECT_WRITE_MAX (256 KiB) has gone straight to the socket during
 * the current callback, the bytes are offered to the socket at once (one
 * send of all `len`, so a single large write may go past that mark); what
 * the socket does not take, or all of it otherwise, is copied into the
 * connection's output queue (the caller keeps ownership of `buf`) and
 * written as the socket drains.  While the queue is above
 * SUPERD_HIGH_WATER (256 KiB) the host stops reading from the connection,
 * so a client that never reads costs bounded memory.  Returns 0, -EPIPE if
 * the connection is closing or broken, or -ENOMEM.
 */
int superd_write(struct superd_conn *conn, const void *buf, size_t len);

/* Bytes waiting in the output queue: a generator writes while this is low
 * and otherwise waits for on_drain(). */
size_t superd_queued(const struct superd_conn *conn);

/*
 * Close the connection once the output queue has been written.  Safe to
 * call more than once and from any callback; the host frees the connection
 * later, never inside the plugin's callback.  on_close() follows.
 */
void superd_close(struct superd_conn *conn);

/* The client's address as text: "192.0.2.1:5555", "[2001:db8::1]:5555",
 * "unix:" plus the peer's path (often empty).  Owned by the host. */
const char *superd_peer(const struct superd_conn *conn);

/* ---- datagrams (valid during on_datagram()) ---- */

/*
 * Send one datagram back to the sender of `dgram`.  The bytes are copied
 * (the caller keeps `buf`); small replies may be sent together with others
 * of the same receive batch, right after on_datagram returns.  Never
 * blocks: when the socket cannot take it, the reply is dropped, as UDP
 * may, so 0 means "sent or queued".  Returns 0,
 * -ENOTCONN when the sender has no address to answer (an unbound unix
 * datagram socket), or another negative errno.
 */
int superd_reply(struct superd_dgram *dgram, const void *buf, size_t len);

/* The sender's address as text, formatted as superd_peer(). */
const char *superd_dgram_peer(const struct superd_dgram *dgram);

/* ---- added in ABI 1.1 ---- */

/* Which address superd_conn_addr() and superd_dgram_addr() give. */
#define SUPERD_ADDR_PEER 0   /* the client: what superd_peer() shows as text */
#define SUPERD_ADDR_LOCAL 1  /* this end: the address the client reached */

/*
 * An address of a connection, in binary form, as getpeername(2) and
 * getsockname(2) give it: `*len` is the size of `sa` on entry and the
 * address's length on return (truncated to the size given, as those
 * calls do).  SUPERD_ADDR_PEER is the client (a sockaddr_in, sockaddr_in6,
 * or sockaddr_un whose path may be empty); SUPERD_ADDR_LOCAL is the
 * address of this end of the connection.  Behind proxy_protocol = yes, a
 * header that carries addresses (v1 TCP4/TCP6, v2 PROXY over IPv4/IPv6)
 * gives both: PEER is its source and LOCAL its destination (the address
 * the client reached on the balancer, as a program's TCPLOCALIP/PORT),
 * never the balancer's side of the socket; a v2 LOCAL or v1 UNKNOWN
 * header keeps the socket's own endpoints.  Returns 0, -EINVAL for
 * another `which`, or the negative errno of the system call.
 */
int superd_conn_addr(const struct superd_conn *conn, int which, struct sockaddr *sa,
                     socklen_t *len) SUPERD_SINCE(1, 1);

/*
 * The same for a datagram (during on_datagram()): SUPERD_ADDR_PEER is its
 * sender (a unix datagram sender that did not bind has an empty path, and
 * cannot be answered); SUPERD_ADDR_LOCAL is the address of the listener it
 * arrived on (for a listener bound to a wildcard address such as 0.0.0.0,
 * that wildcard address and the port).
 */
int superd_dgram_addr(const struct superd_dgram *dgram, int which, struct sockaddr *sa,
                      socklen_t *len) SUPERD_SINCE(1, 1);

/* ---- timers (valid from init() until stopped or fini()) ---- */

/* One timer of a service, run on the worker's loop. */
struct superd_timer;

/*
 * Call fn(timer, arg) after `after_ms` ms, then every `every_ms` ms (0:
 * once).  It runs on the service's loop like any other callback; a
 * superd_write() or superd_close() it makes on any connection takes effect
 * when it returns.  Returns the timer, or NULL (errno set) on failure.
 * The handle is valid until superd_timer_stop(), or for a one-shot timer
 * until its callback returns.  Every timer of a service is stopped before
 * its fini().  O(log n) in the number of timers.
 */
struct superd_timer *superd_timer_start(struct superd_service *svc, uint64_t after_ms,
                                        uint64_t every_ms,
                                        void (*fn)(struct superd_timer *timer, void *arg),
                                        void *arg) SUPERD_SINCE(1, 1);

/* Stop a timer and release its handle; safe from its own callback and
 * from on_close(); NULL is ignored. */
void superd_timer_stop(struct superd_timer *timer) SUPERD_SINCE(1, 1);

/*
 * What superd_conn_tls() tells of a connection on a tls:// listener.  Set
 * `size` to sizeof(struct superd_tls_info) before the call: the host fills
 * the fields that size covers (fields are appended, never moved).  The
 * strings belong to the connection and stay valid until its on_close();
 * a field the session does not have is NULL.
 */
struct superd_tls_info {
    size_t size;                /* set by the caller */
    const char *version;        /* "TLSv1.3", "TLSv1.2" */
    const char *cipher;         /* "TLS_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256" */
    const char *sni;            /* the server name the client asked for */
    const char *alpn;           /* the protocol agreed with tls_alpn */
    const char *peer_subject;   /* the client certificate's subject (RFC 2253),
                                 * verified against tls_ca */
    const char *peer_issuer;    /* ... and its issuer */
    int resumed;                /* 1: the session was resumed (a ticket) */
};

/*
 * The TLS facts of a stream connection (after on_open: the handshake is
 * done before a plugin sees the connection).  Returns 0, or -ENOTSUP when
 * the connection is not TLS (a tcp:// or unix: listener), -EINVAL when
 * info->size is too small for its first fields.
 */
int superd_conn_tls(const struct superd_conn *conn, struct superd_tls_info *info)
    SUPERD_SINCE(1, 1);

/* ---- watches of the plugin's own descriptors ---- */

/* What a watch waits for, and what its callback is told. */
#define SUPERD_READABLE 0x1u    /* data to read, or the peer closed */
#define SUPERD_WRITABLE 0x2u    /* room to write */
#define SUPERD_ERROR 0x4u       /* an error or hang-up (always reported) */

/* One watch of a descriptor the plugin owns. */
struct superd_watch;

/*
 * Call fn(watch, fd, events, arg) on the service's loop whenever `fd` (a
 * descriptor the plugin opened, non-blocking: a pipe to a child, a socket
 * of a client library) is ready for `events` (SUPERD_READABLE and/or
 * SUPERD_WRITABLE; 0 pauses the watch).  Level-triggered: it is called
 * again while the condition holds.  The plugin keeps owning fd: unwatch it
 * before closing it.  Returns the watch, or NULL (errno set).
 */
struct superd_watch *superd_watch(struct superd_service *svc, int fd, unsigned events,
                                  void (*fn)(struct superd_watch *watch, int fd,
                                             unsigned events, void *arg),
                                  void *arg) SUPERD_SINCE(1, 1);

/* Change what a watch waits for.  Returns 0 or a negative errno. */
int superd_watch_set(struct superd_watch *watch, unsigned events) SUPERD_SINCE(1, 1);

/* Stop watching and release the handle (the descriptor stays open); safe
 * from the watch's own callback; NULL is ignored.  Every watch of a service
 * is released before its fini(). */
void superd_unwatch(struct superd_watch *watch) SUPERD_SINCE(1, 1);

/* ---- outbound stream connections ---- */

/*
 * The callbacks of a connection the plugin opened with superd_connect().
 * Define it static const and set `size` to sizeof(struct superd_conn_ops):
 * fields may be appended in later minors and the host reads only what
 * `size` covers.  Every callback may be NULL.
 */
struct superd_conn_ops {
    uint32_t size;
    /* How long the connect may take, in ms; 0: 10 s. */
    uint32_t connect_timeout_ms;
    /* The connect finished: status 0, or a negative errno (-ECONNREFUSED,
     * -ETIMEDOUT ...), after which on_close() follows at once. */
    void (*on_connect)(struct superd_conn *conn, int status);
    /* As struct superd_plugin's on_data, on_eof, on_drain and on_close. */
    ssize_t (*on_data)(struct superd_conn *conn, const void *data, size_t len);
    void (*on_eof)(struct superd_conn *conn);
    void (*on_drain)(struct superd_conn *conn);
    void (*on_close)(struct superd_conn *conn);
};

/*
 * Open a non-blocking stream connection to `address`: "tcp://IPv4:PORT",
 * "tcp://[IPv6]:PORT" or "unix:PATH" (literals only: no name is looked up,
 * nothing blocks).  It is served like an accepted connection (the same
 * superd_write(), output queue and high-water mark, superd_close(),
 * superd_pause() ...) with ops' callbacks; `data` is its
 * superd_conn_data().  superd_write() before on_connect() queues.  Returns
 * the connection, or NULL (errno set: EINVAL for a bad address, ENOMEM,
 * EMFILE ...) with no callback to follow.  The connection belongs to the
 * service: its callbacks run on the loop of the caller's worker.
 */
struct superd_conn *superd_connect(struct superd_service *svc, const char *address,
                                   const struct superd_conn_ops *ops,
                                   void *data) SUPERD_SINCE(1, 1);

/* ---- flow control and half-close, on any stream connection ---- */

/* Stop reading from the connection (its bytes wait in the kernel, so the
 * peer is slowed down by TCP itself).  Returns 0 or -EPIPE when closing. */
int superd_pause(struct superd_conn *conn) SUPERD_SINCE(1, 1);

/* Read again; bytes kept from before (not consumed by on_data) are offered
 * again at once, after the current callback returns.  Returns 0 or -EPIPE. */
int superd_resume(struct superd_conn *conn) SUPERD_SINCE(1, 1);

/* Send FIN once the output queue is written (shutdown(SHUT_WR)) and keep
 * reading: the peer's own data and EOF still arrive.  Later writes fail
 * with -EPIPE.  Returns 0 or -EPIPE when already closing. */
int superd_shutdown(struct superd_conn *conn) SUPERD_SINCE(1, 1);

/* ---- datagrams answered later ---- */

/*
 * Keep a datagram's sender beyond on_datagram(): returns a handle usable
 * with superd_reply() (and superd_dgram_peer(), superd_dgram_addr()) until
 * superd_dgram_release(), or NULL (errno set).  Only the sender and the
 * listener are kept, not the payload (copy it if needed).  A reply through
 * a held datagram meets the same loop protection and reply budgets.
 */
struct superd_dgram *superd_dgram_hold(struct superd_dgram *dgram) SUPERD_SINCE(1, 1);

/* Release a held datagram; NULL is ignored.  Every held datagram of a
 * service is released before its fini(). */
void superd_dgram_release(struct superd_dgram *held) SUPERD_SINCE(1, 1);

#ifdef __cplusplus
}
#endif

#endif /* SUPERD_PLUGIN_H */
