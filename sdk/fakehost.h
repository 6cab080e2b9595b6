/*
 * fakehost.h - a fake superd host: runs a plugin .so with no daemon and no
 * sockets, so that a plugin can be unit-tested.
 *
 * The fake host defines every superd_* function of <superd/plugin.h>.  This
 * header is <superd/fakehost.h>, the library libsuperd-fakehost.a, and
 * `pkg-config --libs superd` gives both the library and the linker flag
 * that exports the fake's superd_* functions to the plugin a test dlopens:
 * -Wl,--dynamic-list=PREFIX/share/superd/superd-exports.list (-rdynamic
 * does it too).
 *
 * The handles a test gets are the very ones the plugin sees
 * (struct superd_service, struct superd_conn), so a test may also call the
 * public accessors on them, superd_service_data() or superd_queued() say.
 *
 * What the fake host does like the real one:
 *   - loads with RTLD_NOW | RTLD_LOCAL, checks the descriptor's magic, ABI
 *     and size before reading anything else with superd's own check (the
 *     same messages), reads only `size` bytes of it;
 *   - offers on_data() everything not yet consumed, at most FAKE_INPUT_MAX
 *     bytes, and closes when that buffer is full and nothing was consumed,
 *     or when on_data() returns a negative errno;
 *   - stops reading while more than FAKE_HIGH_WATER bytes are queued: fed
 *     bytes wait (fake_conn_pending()) until fake_conn_drain();
 *   - on EOF calls on_eof(), or, when the plugin has none, closes after the
 *     queued output is flushed;
 *   - never frees or calls on_close() inside a plugin callback: superd_close()
 *     only marks the connection, and on_close() runs exactly once at the end
 *     of the fake_conn_* call that saw the close, or from fake_conn_free();
 *   - passes on_data() and on_datagram() a heap copy of exactly `len` bytes
 *     that is freed after the call, and a datagram handle freed after the
 *     call, so AddressSanitizer catches a plugin that reads past `len` or
 *     keeps either pointer.
 *
 * What it does not do: there is no socket, so every superd_write() is
 * queued (superd_queued() grows until fake_conn_drain()) and the output is
 * kept for inspection; there is no loop protection on datagrams (a test
 * feeds what it wants); the host's own keys (plugin, listen, ...) are not
 * known here, so pass only the plugin's keys as options.
 *
 * Misuse of the plugin API that the fake can see (on_data() consuming more
 * than it was given, superd_write() after on_close(), ...) is reported on
 * the log stream and counted by fake_violations().
 *
 * Single-threaded, like the real host's callbacks.
 */
#ifndef SUPERD_FAKEHOST_H
#define SUPERD_FAKEHOST_H

#include <stddef.h>
#include <stdio.h>

#include <superd/plugin.h>

/* The host's input buffer: a request may be at most this long. */
#define FAKE_INPUT_MAX SUPERD_REQUEST_MAX
/* Above this many queued output bytes the host stops reading. */
#define FAKE_HIGH_WATER SUPERD_HIGH_WATER
/* The largest datagram superd_reply() sends, as over UDP. */
#define FAKE_DGRAM_MAX 65507
/* The peer address used when a test passes NULL. */
#define FAKE_PEER "127.0.0.1:40000"
/* A datagram sender with no address (an unbound unix datagram socket):
 * superd_reply() to it fails with -ENOTCONN, as in the real host. */
#define FAKE_PEER_UNBOUND "unix:"
/* The local address superd_conn_addr() and superd_dgram_addr() give for
 * SUPERD_ADDR_LOCAL, by the peer's family, unless fake_service_set_local()
 * set another. */
#define FAKE_LOCAL_INET "127.0.0.1:7000"
#define FAKE_LOCAL_INET6 "[::1]:7000"
#define FAKE_LOCAL_UNIX "unix:/run/fake.sock"

struct fake_plugin;

/* ---- plugins ---- */

/*
 * Load the plugin at `path` (give a path with a slash, or dlopen searches
 * the library path) and check its descriptor as the host does.  On success
 * stores a new handle in *out, owned by the caller and released with
 * fake_plugin_unload(); on failure stores NULL, logs the reason (also
 * available from fake_error()) and returns -ENOENT (no such file),
 * -ELIBBAD (dlopen failed), -ENOEXEC (no superd_plugin symbol, or the wrong
 * magic), -EPROTO (another ABI major, or a newer minor), -EINVAL (a size
 * too small for ABI 1.0) or -ENOMEM.  The messages are superd's, e.g.
 * "./x.so: built for plugin ABI 1.2, newer than this superd's 1.1".  A
 * missing name or version reads as "?", as in superd.
 */
int fake_plugin_load(const char *path, struct fake_plugin **out);

/* The host's copy of the plugin's descriptor: its first `size` bytes, the
 * rest zero.  Owned by the handle; valid until fake_plugin_unload(). */
const struct superd_plugin *fake_plugin_descriptor(const struct fake_plugin *plugin);

/* dlclose the plugin and free the handle, and return 0.  While services
 * made from it are not freed, the plugin stays loaded (its code would be
 * gone under them) and -EBUSY is returned.  NULL is ignored. */
int fake_plugin_unload(struct fake_plugin *plugin);

/* ---- services ---- */

/*
 * A new service `name` (its configuration section) of `plugin`, with the
 * plugin's options given as a NULL-terminated list of key, value pairs:
 *     const char *const opts[] = { "format", "%Y", NULL };
 * `options` may be NULL (no options).  Strings are copied.  init() is not
 * called yet: see fake_service_init().  Returns NULL when out of memory or
 * when a key has no value.  Free with fake_service_free().
 */
struct superd_service *fake_service_new(struct fake_plugin *plugin, const char *name,
                                        const char *const *options);

/*
 * Call the plugin's init() (if any) and return its result: 0, or a negative
 * errno (then fake_service_error() says why).  Connections and datagrams
 * need a service whose init() succeeded.  Calling it twice returns
 * -EALREADY.
 */
int fake_service_init(struct superd_service *svc);

/*
 * The last error superd_config_error() reported, as the daemon prints it
 * after FILE:LINE: "[service] key: message" ("[service] message" without a
 * key); when init() failed without one, "[service] init failed: REASON".
 * NULL when there is none.  Owned by the service.
 */
const char *fake_service_error(const struct superd_service *svc);

/* The first option key the plugin never read with superd_option(), or NULL
 * when it read them all: the real host refuses such a key as unknown.
 * Owned by the service. */
const char *fake_service_unread(const struct superd_service *svc);

/*
 * The address superd_conn_addr() and superd_dgram_addr() give as
 * SUPERD_ADDR_LOCAL for this service, as text ("127.0.0.1:7", "[::1]:7",
 * "unix:/run/x.sock"; copied); NULL restores the default (FAKE_LOCAL_*).
 * The peer's binary address is converted from the text given to
 * fake_conn_open() or fake_dgram_feed() in the same forms.  Returns 0 or
 * -ENOMEM.
 */
int fake_service_set_local(struct superd_service *svc, const char *local);

/*
 * Call fini() if init() succeeded, free the service and return 0.  While
 * connections of the service are not freed, nothing happens (fini() would
 * free what they use) and -EBUSY is returned.  NULL is ignored.
 */
int fake_service_free(struct superd_service *svc);

/* ---- stream connections ---- */

/*
 * Accept a connection from `peer` (NULL: FAKE_PEER) and call on_open().
 * If on_open() refuses it, the connection is returned closed, on_close()
 * has run and fake_conn_error() gives on_open()'s result.  Returns NULL
 * when out of memory or when the service's init() has not succeeded.  The
 * caller frees the connection with fake_conn_free().
 */
struct superd_conn *fake_conn_open(struct superd_service *svc, const char *peer);

/*
 * The client sends `len` bytes (copied).  As the host, the fake offers
 * on_data() everything not yet consumed, keeps the rest for the next call,
 * and closes on a negative result or a full input buffer that on_data()
 * will not consume.  While the output queue is above FAKE_HIGH_WATER the
 * bytes wait unread (see fake_conn_drain()).  Returns 0 once the bytes are
 * handed over (even if the plugin then closed), -EPIPE when the connection
 * was already closed (the bytes are dropped), or -ENOMEM.
 */
int fake_conn_feed(struct superd_conn *conn, const void *data, size_t len);

/*
 * The client closes its sending side.  Once every byte fed before has been
 * read, calls on_eof(), or, when the plugin has none, closes the
 * connection (after the queued output, which the test already has).
 * Returns 0, or -EPIPE when the connection was already closed.
 */
int fake_conn_eof(struct superd_conn *conn);

/*
 * The client read everything queued: empties the output queue, calls
 * on_drain() if anything was queued, and resumes reading bytes that waited
 * behind the high-water mark.  Returns 0, or -EPIPE when the connection is
 * closed (the queue is emptied all the same).
 */
int fake_conn_drain(struct superd_conn *conn);

/* The client vanishes (a reset): the connection closes at once, without
 * on_eof(), and on_close() runs.  Returns 0, or -EPIPE if already closed. */
int fake_conn_reset(struct superd_conn *conn);

/*
 * Every byte the plugin wrote with superd_write() since the connection
 * opened (or since fake_conn_clear_output()), its length in *len (len may
 * be NULL).  The bytes are followed by a NUL not counted in *len, so text
 * compares with strcmp().  Owned by the connection; valid until the next
 * fake_conn_* call on it.
 */
const char *fake_conn_output(const struct superd_conn *conn, size_t *len);

/* Forget the output collected so far (superd_queued() is not changed). */
void fake_conn_clear_output(struct superd_conn *conn);

/* Bytes fed but not yet read by the host (held back by the high-water
 * mark). */
size_t fake_conn_pending(const struct superd_conn *conn);

/* Bytes read by the host that on_data() has not consumed yet (a partial
 * request, offered again with the next bytes). */
size_t fake_conn_unconsumed(const struct superd_conn *conn);

/* Nonzero once the connection is closed or closing, by the plugin
 * (superd_close(), an error result) or by the host.  Seen from the test,
 * a closed connection has had its on_close() call. */
int fake_conn_closed(const struct superd_conn *conn);

/* The first negative errno a callback returned (on_open(), on_data()), or
 * 0 when none did. */
int fake_conn_error(const struct superd_conn *conn);

/* Make every later superd_write() fail with `err` (a negative errno), as on
 * a broken connection; 0 makes writes succeed again. */
void fake_conn_fail_writes(struct superd_conn *conn, int err);

/* Close the connection if it is open, call on_close() if it has not run,
 * and free it.  NULL is ignored. */
void fake_conn_free(struct superd_conn *conn);

/* ---- datagrams ---- */

/*
 * A datagram of `len` bytes (copied) arrives from `peer` (NULL: FAKE_PEER;
 * FAKE_PEER_UNBOUND: a sender that cannot be answered).  Calls
 * on_datagram() and returns how many replies it sent (0 or more), or
 * -EINVAL when the service's init() has not succeeded, or -ENOMEM.  The
 * replies of the previous call are forgotten.
 */
int fake_dgram_feed(struct superd_service *svc, const void *data, size_t len,
                    const char *peer);

/*
 * Reply number `i` (from 0) to the last fake_dgram_feed(), its length in
 * *len (len may be NULL), followed by an uncounted NUL; NULL when there is
 * no such reply.  Owned by the service; valid until the next
 * fake_dgram_feed() or fake_service_free().
 */
const char *fake_dgram_reply(const struct superd_service *svc, size_t i, size_t *len);

/* ---- logging and diagnostics ---- */

/* Where superd_log() lines ("[service] message") and the fake's own
 * diagnostics ("fakehost: ...") go; stderr by default, NULL for nowhere.
 * They are counted and the last one kept either way. */
void fake_log_stream(FILE *stream);

/* How many lines plugins have logged with superd_log() so far. */
unsigned fake_log_count(void);

/* The last line a plugin logged, "[service] message", and its level in
 * *level (level may be NULL); NULL before the first.  Owned by the fake;
 * valid until the next superd_log(). */
const char *fake_log_last(int *level);

/* The message of the fake's last diagnostic (a load failure, a misuse),
 * "" when there was none.  Owned by the fake. */
const char *fake_error(void);

/* How many misuses of the plugin API the fake has seen so far. */
unsigned fake_violations(void);

/*
 * Timers (superd_timer_start) run on a clock of the service's own that
 * only this moves: advance it by `ms`, running every timer due on the
 * way, earliest first (a repeating one as often as it falls due).
 * Returns how many callbacks ran.  fake_service_free() stops the rest
 * before fini(), as the host does.
 */
int fake_timer_advance(struct superd_service *svc, uint64_t ms);

/* ---- outbound connections (superd_connect) ---- */

/*
 * The i-th (from 0, in the order made) outbound connection of the service
 * that is not freed yet, or NULL.  superd_connect() only records it: no
 * callback runs until fake_connect_result().  Drive it then as an
 * accepted connection (fake_conn_feed(), fake_conn_eof(),
 * fake_conn_drain(), fake_conn_reset(), fake_conn_output(): what the
 * plugin wrote to it, also before the connect), and free it with
 * fake_conn_free(), or leave it to fake_service_free(), which closes and
 * frees the outbound connections left, as the host does before fini().
 * superd_peer() gives its address without "tcp://".
 */
struct superd_conn *fake_outbound(struct superd_service *svc, size_t i);

/*
 * The connect of an outbound connection is over: calls on_connect(conn,
 * status) (0: connected; a negative errno such as -ECONNREFUSED: failed,
 * and on_close() follows at once).  Returns 0, or -EINVAL when conn is
 * not waiting for its connect.  fake_timer_advance() past the ops'
 * connect_timeout_ms (0: 10 s) gives -ETIMEDOUT the same way.
 */
int fake_connect_result(struct superd_conn *conn, int status);

/* Nonzero while an outbound connection waits for fake_connect_result(). */
int fake_conn_connecting(const struct superd_conn *conn);

/* ---- flow control ---- */

/* Nonzero while the plugin has the connection paused (superd_pause()):
 * fed bytes wait, as fake_conn_pending() shows. */
int fake_conn_paused(const struct superd_conn *conn);

/* Nonzero once the plugin's superd_shutdown() took effect: it asked, and
 * the queue is drained (the FIN would be on the wire). */
int fake_conn_shut(const struct superd_conn *conn);

/* ---- descriptor watches ---- */

/*
 * The descriptor `fd` is ready for `events` (SUPERD_READABLE,
 * SUPERD_WRITABLE, SUPERD_ERROR): calls the callback of the service's
 * watch of fd with the events it waits for (SUPERD_ERROR always).
 * Returns 1 when it was called, 0 when no watch of fd waits for them.
 */
int fake_watch_fire(struct superd_service *svc, int fd, unsigned events);

/* What the service's watch of fd waits for (SUPERD_* flags), or -1 when
 * fd is not watched. */
int fake_watch_events(const struct superd_service *svc, int fd);

/* ---- held datagrams ---- */

/* How many datagrams the service holds (superd_dgram_hold() not yet
 * released).  A reply through a held datagram is collected as a reply
 * to the last fake_dgram_feed() (fake_dgram_reply()). */
unsigned fake_dgram_held(const struct superd_service *svc);

#endif /* SUPERD_FAKEHOST_H */
