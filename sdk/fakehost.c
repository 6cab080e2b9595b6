/*
 * fakehost.c - a fake superd host for plugin unit tests: the superd_* API
 * of <superd/plugin.h> over in-memory buffers.  See fakehost.h.
 */
#define SUPERD_HOST_BUILD 1   /* the definitions, not the plugins' weak references */

#include "fakehost.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "abi.h"    /* the descriptor check, the very one superd runs */

_Static_assert(FAKE_INPUT_MAX == SUPERD_REQUEST_MAX, "the fake's input buffer is superd's");
_Static_assert(FAKE_HIGH_WATER == SUPERD_HIGH_WATER, "the fake's high-water mark is superd's");

/* A growable byte buffer, kept NUL-terminated for text comparisons. */
struct buf {
    char *data;
    size_t len;
    size_t cap;
};

struct fake_plugin {
    void *fp_handle;
    char *fp_path;
    struct superd_plugin fp_desc;  /* the first `size` bytes, zero-filled */
    unsigned fp_services;          /* live services made from it */
};

struct option {
    char *key;
    char *value;
    bool read;
};

enum svc_state { SVC_NEW, SVC_READY, SVC_FAILED };

struct superd_service {
    struct fake_plugin *sv_plugin;
    char *sv_name;
    char *sv_local;                /* fake_service_set_local(), or NULL */
    struct option *sv_opts;
    size_t sv_nopts;
    void *sv_data;                 /* the plugin's */
    enum svc_state sv_state;
    char *sv_error;                /* "[service] key: message" */
    unsigned sv_conns;             /* live connections */
    struct buf *sv_replies;        /* replies to the last datagram */
    size_t sv_nreplies;
    struct superd_timer *sv_timers;   /* armed, in start order */
    uint64_t sv_now;               /* the test's clock (fake_timer_advance) */
    struct superd_conn *sv_conn_list; /* every connection not freed */
    struct superd_watch *sv_watches;  /* in start order */
    struct superd_dgram *sv_held;     /* held datagrams */
    unsigned sv_nheld;
};

/* A watch: it runs when the test fires it (fake_watch_fire). */
struct superd_watch {
    struct superd_service *wt_svc;
    int wt_fd;
    unsigned wt_events;
    void (*wt_fn)(struct superd_watch *w, int fd, unsigned events, void *arg);
    void *wt_arg;
    bool wt_running, wt_gone;
    struct superd_watch *wt_next;
};

/* A timer: it runs when the test advances the service's clock. */
struct superd_timer {
    struct superd_service *tm_svc;
    uint64_t tm_due, tm_every;
    void (*tm_fn)(struct superd_timer *t, void *arg);
    void *tm_arg;
    bool tm_running, tm_stopped;
    struct superd_timer *tm_next;
};

static void timer_unlink(struct superd_timer *t)
{
    struct superd_timer **pp = &t->tm_svc->sv_timers;
    while (*pp && *pp != t)
        pp = &(*pp)->tm_next;
    if (*pp)
        *pp = t->tm_next;
    t->tm_next = NULL;
}

struct superd_conn {
    struct superd_service *cn_svc;
    char *cn_peer;
    void *cn_data;                 /* the plugin's */
    struct buf cn_in;              /* read, not yet consumed by on_data() */
    struct buf cn_pending;         /* fed, not yet read by the host */
    size_t cn_pending_off;
    struct buf cn_out;             /* everything written */
    size_t cn_queued;
    int cn_fail_writes;
    int cn_error;                  /* first negative callback result */
    bool cn_closed;                /* closed or closing */
    bool cn_eof;                   /* the client sent FIN */
    bool cn_eof_done;              /* ... and the plugin was told */
    bool cn_close_done;            /* on_close() has returned */
    bool cn_paused;                /* superd_pause() */
    bool cn_reoffer;               /* superd_resume(): offer cn_in again */
    bool cn_shut;                  /* superd_shutdown() */
    bool cn_outbound;              /* made by superd_connect() */
    bool cn_connecting;            /* ... not yet told of the result */
    uint64_t cn_connect_due;       /* ... its timeout, on the service's clock */
    struct superd_conn_ops cn_ops; /* ... its callbacks (zero past `size`) */
    struct superd_conn *cn_next;   /* the service's connections */
};

struct superd_dgram {
    struct superd_service *dg_svc;
    const char *dg_peer;
    char *dg_peer_copy;            /* a held datagram's own copy */
    bool dg_held;
    struct superd_dgram *dg_next;  /* the service's held datagrams */
};

static void dgram_unhold(struct superd_dgram *held);

static FILE *log_out;
static bool log_out_set;
static unsigned log_count;
static char *log_last;
static int log_last_level;
static char last_error[512];
static unsigned violations;

/* ---- small helpers ---- */

static FILE *log_stream(void)
{
    return log_out_set ? log_out : stderr;
}

/* A diagnostic of the fake's own: kept for fake_error() and logged. */
__attribute__((format(printf, 1, 2)))
static void note(const char *fmt, ...)
{
    va_list ap;
    FILE *out = log_stream();

    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    if (out != NULL)
        fprintf(out, "fakehost: %s\n", last_error);
}

/* A plugin broke the API's contract. */
__attribute__((format(printf, 1, 2)))
static void violation(const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    violations++;
    note("plugin API misuse: %s", msg);
}

static int buf_append(struct buf *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        char *p;

        while (cap < b->len + len + 1)
            cap *= 2;
        p = realloc(b->data, cap);
        if (p == NULL)
            return -ENOMEM;
        b->data = p;
        b->cap = cap;
    }
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

/* Drop the first n bytes. */
static void buf_consume(struct buf *b, size_t n)
{
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

static void buf_clear(struct buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

static void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* A heap copy of exactly len bytes (ASan then sees reads past len). */
static void *copy_exact(const void *data, size_t len)
{
    void *p = malloc(len > 0 ? len : 1);

    if (p != NULL && len > 0)
        memcpy(p, data, len);
    return p;
}

static const struct superd_plugin *desc_of(const struct superd_service *svc)
{
    return &svc->sv_plugin->fp_desc;
}

/* A connection's callbacks: an outbound one's own ops, or the plugin's. */
static ssize_t (*data_cb(const struct superd_conn *c))(struct superd_conn *, const void *, size_t)
{
    return c->cn_outbound ? c->cn_ops.on_data : desc_of(c->cn_svc)->on_data;
}

static void (*eof_cb(const struct superd_conn *c))(struct superd_conn *)
{
    return c->cn_outbound ? c->cn_ops.on_eof : desc_of(c->cn_svc)->on_eof;
}

static void (*drain_cb(const struct superd_conn *c))(struct superd_conn *)
{
    return c->cn_outbound ? c->cn_ops.on_drain : desc_of(c->cn_svc)->on_drain;
}

static void (*close_cb(const struct superd_conn *c))(struct superd_conn *)
{
    return c->cn_outbound ? c->cn_ops.on_close : desc_of(c->cn_svc)->on_close;
}

/* ---- plugins ---- */

static int check_descriptor(const char *path, const struct superd_plugin *d)
{
    char why[512];
    int r = plugin_abi_check(path, d, why, sizeof why);

    if (r < 0)
        note("%s", why);
    return r;
}

/* dlopen's failure: tell a missing file from one that is not loadable. */
static int open_error(const char *path)
{
    const char *why = dlerror();

    /* dlerror()'s message already names the file. */
    if (why != NULL)
        note("%s", why);
    else
        note("%s: dlopen failed", path);
    return access(path, F_OK) == 0 ? -ELIBBAD : -ENOENT;
}

/*
 * Load and check a plugin as the host does.  See fakehost.h.
 */
int fake_plugin_load(const char *path, struct fake_plugin **out)
{
    const struct superd_plugin *d;
    struct fake_plugin *p;
    void *handle;
    size_t size;
    int r;

    *out = NULL;
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL)
        return open_error(path);
    d = dlsym(handle, "superd_plugin");
    if (d == NULL) {
        note("%s: no superd_plugin symbol: not a superd plugin", path);
        dlclose(handle);
        return -ENOEXEC;
    }
    r = check_descriptor(path, d);
    if (r < 0) {
        dlclose(handle);
        return r;
    }
    p = calloc(1, sizeof *p);
    if (p == NULL || (p->fp_path = strdup(path)) == NULL) {
        free(p);
        dlclose(handle);
        return -ENOMEM;
    }
    /* Only what the plugin's size covers: newer fields stay NULL. */
    size = d->size < sizeof p->fp_desc ? d->size : sizeof p->fp_desc;
    memcpy(&p->fp_desc, d, size);
    if (p->fp_desc.name == NULL)        /* as superd shows it */
        p->fp_desc.name = "?";
    if (p->fp_desc.version == NULL)
        p->fp_desc.version = "?";
    p->fp_handle = handle;
    *out = p;
    return 0;
}

/*
 * The descriptor copy.  See fakehost.h.
 */
const struct superd_plugin *fake_plugin_descriptor(const struct fake_plugin *plugin)
{
    return &plugin->fp_desc;
}

/*
 * Unload a plugin that no service uses any more.  See fakehost.h.
 */
int fake_plugin_unload(struct fake_plugin *plugin)
{
    if (plugin == NULL)
        return 0;
    if (plugin->fp_services > 0) {
        /* Its code must stay mapped under the services left. */
        note("fake_plugin_unload(%s): %u services not freed: kept loaded",
             plugin->fp_path, plugin->fp_services);
        return -EBUSY;
    }
    dlclose(plugin->fp_handle);
    free(plugin->fp_path);
    free(plugin);
    return 0;
}

/* ---- services ---- */

static int copy_options(struct superd_service *svc, const char *const *options)
{
    size_t n = 0;

    while (options != NULL && options[2 * n] != NULL) {
        if (options[2 * n + 1] == NULL) {
            note("fake_service_new(%s): option %s has no value", svc->sv_name,
                 options[2 * n]);
            return -EINVAL;
        }
        n++;
    }
    svc->sv_opts = calloc(n > 0 ? n : 1, sizeof *svc->sv_opts);
    if (svc->sv_opts == NULL)
        return -ENOMEM;
    for (svc->sv_nopts = 0; svc->sv_nopts < n; svc->sv_nopts++) {
        struct option *o = &svc->sv_opts[svc->sv_nopts];

        o->key = strdup(options[2 * svc->sv_nopts]);
        o->value = strdup(options[2 * svc->sv_nopts + 1]);
        if (o->key == NULL || o->value == NULL) {
            svc->sv_nopts++;    /* so that the free path sees it */
            return -ENOMEM;
        }
    }
    return 0;
}

static void clear_replies(struct superd_service *svc)
{
    for (size_t i = 0; i < svc->sv_nreplies; i++)
        buf_free(&svc->sv_replies[i]);
    free(svc->sv_replies);
    svc->sv_replies = NULL;
    svc->sv_nreplies = 0;
}

/* Free a service's memory; no plugin code runs. */
static void service_release(struct superd_service *svc)
{
    for (size_t i = 0; i < svc->sv_nopts; i++) {
        free(svc->sv_opts[i].key);
        free(svc->sv_opts[i].value);
    }
    free(svc->sv_opts);
    clear_replies(svc);
    free(svc->sv_error);
    free(svc->sv_local);
    free(svc->sv_name);
    free(svc);
}

/*
 * Create a service with its options.  See fakehost.h.
 */
struct superd_service *fake_service_new(struct fake_plugin *plugin, const char *name,
                                        const char *const *options)
{
    struct superd_service *svc = calloc(1, sizeof *svc);

    if (svc == NULL)
        return NULL;
    svc->sv_plugin = plugin;
    svc->sv_name = strdup(name);
    if (svc->sv_name == NULL || copy_options(svc, options) < 0) {
        service_release(svc);
        return NULL;
    }
    plugin->fp_services++;
    return svc;
}

/*
 * Run the plugin's init().  See fakehost.h.
 */
int fake_service_init(struct superd_service *svc)
{
    const struct superd_plugin *d = desc_of(svc);
    int r;

    if (svc->sv_state != SVC_NEW) {
        note("fake_service_init(%s) called twice", svc->sv_name);
        return -EALREADY;
    }
    r = d->init != NULL ? d->init(svc) : 0;
    if (r == 0) {
        svc->sv_state = SVC_READY;
        return 0;
    }
    if (r > 0) {
        violation("[%s] init() returned %d, not 0 or a negative errno", svc->sv_name, r);
        r = -EINVAL;
    }
    svc->sv_state = SVC_FAILED;
    if (svc->sv_error == NULL &&
        asprintf(&svc->sv_error, "[%s] init failed: %s", svc->sv_name, strerror(-r)) < 0)
        svc->sv_error = NULL;
    return r;
}

/*
 * The last configuration error.  See fakehost.h.
 */
const char *fake_service_error(const struct superd_service *svc)
{
    return svc->sv_error;
}

/*
 * The first option never read.  See fakehost.h.
 */
const char *fake_service_unread(const struct superd_service *svc)
{
    for (size_t i = 0; i < svc->sv_nopts; i++)
        if (!svc->sv_opts[i].read)
            return svc->sv_opts[i].key;
    return NULL;
}

/*
 * fini() and free.  See fakehost.h.
 */
int fake_service_free(struct superd_service *svc)
{
    if (svc == NULL)
        return 0;
    unsigned accepted = 0;

    for (struct superd_conn *c = svc->sv_conn_list; c != NULL; c = c->cn_next)
        accepted += !c->cn_outbound;
    if (accepted == 0) {
        /* As the host closes every connection before fini(): the outbound
         * ones the test did not free are closed and freed here. */
        while (svc->sv_conn_list != NULL)
            fake_conn_free(svc->sv_conn_list);
    }
    if (svc->sv_conns > 0) {
        /* fini() would free what those connections' callbacks still use. */
        note("fake_service_free(%s): %u connections not freed: kept",
             svc->sv_name, svc->sv_conns);
        return -EBUSY;
    }
    /* As the host does: no timer runs after fini(). */
    while (svc->sv_timers) {
        struct superd_timer *t = svc->sv_timers;
        timer_unlink(t);
        free(t);
    }
    /* ... and no watch, and no held datagram outlives it. */
    while (svc->sv_watches) {
        struct superd_watch *w = svc->sv_watches;
        svc->sv_watches = w->wt_next;
        free(w);
    }
    while (svc->sv_held)
        dgram_unhold(svc->sv_held);
    if (svc->sv_state == SVC_READY && desc_of(svc)->fini != NULL)
        desc_of(svc)->fini(svc);
    svc->sv_plugin->fp_services--;
    service_release(svc);
    return 0;
}

/*
 * The local address of the service's connections and datagrams.  See
 * fakehost.h.
 */
int fake_service_set_local(struct superd_service *svc, const char *local)
{
    char *copy = NULL;

    if (local != NULL && (copy = strdup(local)) == NULL)
        return -ENOMEM;
    free(svc->sv_local);
    svc->sv_local = copy;
    return 0;
}

/* ---- stream connections ---- */

static void set_error(struct superd_conn *conn, int err)
{
    if (conn->cn_error == 0)
        conn->cn_error = err;
}

/* Hand on_data() what is in the input buffer and act on its answer. */
static void deliver_once(struct superd_conn *conn)
{
    ssize_t (*on_data)(struct superd_conn *, const void *, size_t) = data_cb(conn);
    size_t len = conn->cn_in.len;
    ssize_t r = (ssize_t)len;   /* no on_data(): the bytes are dropped */

    if (on_data != NULL) {
        void *copy = copy_exact(conn->cn_in.data, len);

        if (copy == NULL) {
            note("out of memory: closing the connection");
            conn->cn_closed = true;
            return;
        }
        r = on_data(conn, copy, len);
        free(copy);
    }
    if (r < 0) {
        set_error(conn, (int)r);
        conn->cn_closed = true;
        return;
    }
    if ((size_t)r > len) {
        violation("[%s] on_data() consumed %zd of %zu bytes", conn->cn_svc->sv_name, r, len);
        conn->cn_closed = true;
        return;
    }
    buf_consume(&conn->cn_in, (size_t)r);
    if (r == 0 && len == FAKE_INPUT_MAX && !conn->cn_paused) {
        note("[%s] input buffer full (%d bytes) and nothing consumed: closing, as the host does",
             conn->cn_svc->sv_name, FAKE_INPUT_MAX);
        conn->cn_closed = true;
    }
}

/* As the host does: while on_data() consumes something and bytes remain,
 * offer the rest at once (a line-based plugin may take one line a call). */
static void deliver_data(struct superd_conn *conn)
{
    size_t before;

    do {
        before = conn->cn_in.len;
        deliver_once(conn);
    } while (!conn->cn_closed && !conn->cn_paused && conn->cn_in.len > 0 &&
             conn->cn_in.len < before);
}

static void deliver_eof(struct superd_conn *conn)
{
    void (*on_eof)(struct superd_conn *) = eof_cb(conn);

    conn->cn_eof_done = true;
    if (on_eof != NULL)
        on_eof(conn);
    else
        conn->cn_closed = true;
}

/* Move up to one input buffer's room from the pending bytes to the input. */
static int read_pending(struct superd_conn *conn)
{
    size_t avail = conn->cn_pending.len - conn->cn_pending_off;
    size_t room = FAKE_INPUT_MAX - conn->cn_in.len;
    size_t n = avail < room ? avail : room;

    if (buf_append(&conn->cn_in, conn->cn_pending.data + conn->cn_pending_off, n) < 0)
        return -ENOMEM;
    conn->cn_pending_off += n;
    if (conn->cn_pending_off == conn->cn_pending.len) {
        buf_clear(&conn->cn_pending);
        conn->cn_pending_off = 0;
    }
    return 0;
}

/*
 * What the host's loop does while the socket is readable: read what the
 * client sent, while the connection is open and the output queue is below
 * the high-water mark, then the EOF once everything before it is read.
 */
static void pump(struct superd_conn *conn)
{
    while (!conn->cn_closed && !conn->cn_paused && !conn->cn_connecting &&
           conn->cn_queued <= FAKE_HIGH_WATER) {
        if (conn->cn_reoffer) {
            /* superd_resume(): the bytes kept are offered again. */
            conn->cn_reoffer = false;
            if (conn->cn_in.len > 0)
                deliver_data(conn);
        } else if (conn->cn_pending.len > conn->cn_pending_off) {
            if (read_pending(conn) < 0) {
                note("out of memory: closing the connection");
                conn->cn_closed = true;
                break;
            }
            deliver_data(conn);
        } else if (conn->cn_eof && !conn->cn_eof_done) {
            deliver_eof(conn);
        } else {
            break;
        }
    }
}

/*
 * The deferred part of a close, run by each fake_conn_* driver after its
 * callbacks have returned, as the host frees outside plugin callbacks.
 */
static void finish(struct superd_conn *conn)
{
    void (*on_close)(struct superd_conn *) = close_cb(conn);

    /* Shut both ways, with everything written: nothing can move any more. */
    if (conn->cn_shut && conn->cn_eof_done && conn->cn_queued == 0)
        conn->cn_closed = true;
    if (!conn->cn_closed || conn->cn_close_done)
        return;
    /* What the client sent and the host never read dies with the socket. */
    buf_clear(&conn->cn_pending);
    conn->cn_pending_off = 0;
    conn->cn_connecting = false;
    if (on_close != NULL)
        on_close(conn);
    conn->cn_close_done = true;
}

/* After a callback, as the host's settle list: every connection of the
 * service gets what the callback asked for (bytes kept by a paused
 * connection offered after superd_resume(), a close carried out). */
static void settle_all(struct superd_service *svc)
{
    for (int round = 0; round < 8; round++) {
        bool again = false;
        for (struct superd_conn *c = svc->sv_conn_list; c != NULL; c = c->cn_next) {
            if (c->cn_close_done)
                continue;
            pump(c);
            finish(c);
            again = again || c->cn_close_done;
        }
        if (!again)
            break;
    }
}

static void link_conn(struct superd_conn *conn)
{
    struct superd_conn **pp = &conn->cn_svc->sv_conn_list;

    while (*pp != NULL)
        pp = &(*pp)->cn_next;
    *pp = conn;
    conn->cn_svc->sv_conns++;
}

static void unlink_conn(struct superd_conn *conn)
{
    struct superd_conn **pp = &conn->cn_svc->sv_conn_list;

    while (*pp != NULL && *pp != conn)
        pp = &(*pp)->cn_next;
    if (*pp != NULL)
        *pp = conn->cn_next;
    conn->cn_svc->sv_conns--;
}

/*
 * Accept a connection and run on_open().  See fakehost.h.
 */
struct superd_conn *fake_conn_open(struct superd_service *svc, const char *peer)
{
    const struct superd_plugin *d = desc_of(svc);
    struct superd_conn *conn;

    if (svc->sv_state != SVC_READY) {
        note("fake_conn_open(%s): the service's init() has not succeeded", svc->sv_name);
        return NULL;
    }
    conn = calloc(1, sizeof *conn);
    if (conn == NULL)
        return NULL;
    conn->cn_peer = strdup(peer != NULL ? peer : FAKE_PEER);
    if (conn->cn_peer == NULL) {
        free(conn);
        return NULL;
    }
    conn->cn_svc = svc;
    link_conn(conn);
    if (d->on_open != NULL) {
        int r = d->on_open(conn);

        if (r > 0)
            violation("[%s] on_open() returned %d, not 0 or a negative errno", svc->sv_name, r);
        if (r != 0) {
            set_error(conn, r < 0 ? r : -EINVAL);
            conn->cn_closed = true;
        }
    }
    finish(conn);
    settle_all(svc);
    return conn;
}

/* What the core does after a client's event: deliver, end what is over,
 * then settle every connection the callbacks touched. */
static void host_turn(struct superd_conn *conn)
{
    pump(conn);
    finish(conn);
    settle_all(conn->cn_svc);
}

/*
 * The client sends bytes.  See fakehost.h.
 */
int fake_conn_feed(struct superd_conn *conn, const void *data, size_t len)
{
    if (conn->cn_closed)
        return -EPIPE;
    if (buf_append(&conn->cn_pending, data, len) < 0)
        return -ENOMEM;
    host_turn(conn);
    return 0;
}

/*
 * The client half-closes.  See fakehost.h.
 */
int fake_conn_eof(struct superd_conn *conn)
{
    if (conn->cn_closed)
        return -EPIPE;
    conn->cn_eof = true;
    host_turn(conn);
    return 0;
}

/*
 * The client reads everything queued.  See fakehost.h.
 */
int fake_conn_drain(struct superd_conn *conn)
{
    void (*on_drain)(struct superd_conn *) = drain_cb(conn);
    size_t was = conn->cn_queued;

    conn->cn_queued = 0;
    if (conn->cn_closed)
        return -EPIPE;
    if (was > 0 && on_drain != NULL && !conn->cn_shut && !conn->cn_connecting)
        on_drain(conn);
    host_turn(conn);
    return 0;
}

/*
 * The client resets the connection.  See fakehost.h.
 */
int fake_conn_reset(struct superd_conn *conn)
{
    if (conn->cn_closed)
        return -EPIPE;
    conn->cn_closed = true;
    conn->cn_queued = 0;
    finish(conn);
    settle_all(conn->cn_svc);
    return 0;
}

/*
 * Everything written so far.  See fakehost.h.
 */
const char *fake_conn_output(const struct superd_conn *conn, size_t *len)
{
    if (len != NULL)
        *len = conn->cn_out.len;
    return conn->cn_out.data != NULL ? conn->cn_out.data : "";
}

/*
 * Forget the collected output.  See fakehost.h.
 */
void fake_conn_clear_output(struct superd_conn *conn)
{
    buf_clear(&conn->cn_out);
}

/*
 * Bytes held back by the high-water mark.  See fakehost.h.
 */
size_t fake_conn_pending(const struct superd_conn *conn)
{
    return conn->cn_pending.len - conn->cn_pending_off;
}

/*
 * Bytes not consumed by on_data().  See fakehost.h.
 */
size_t fake_conn_unconsumed(const struct superd_conn *conn)
{
    return conn->cn_in.len;
}

/*
 * Whether the connection is closed.  See fakehost.h.
 */
int fake_conn_closed(const struct superd_conn *conn)
{
    return conn->cn_closed;
}

/*
 * The first callback error.  See fakehost.h.
 */
int fake_conn_error(const struct superd_conn *conn)
{
    return conn->cn_error;
}

/*
 * Inject write failures.  See fakehost.h.
 */
void fake_conn_fail_writes(struct superd_conn *conn, int err)
{
    conn->cn_fail_writes = err;
}

/*
 * Close (on_close() once) and free.  See fakehost.h.
 */
void fake_conn_free(struct superd_conn *conn)
{
    if (conn == NULL)
        return;
    conn->cn_closed = true;
    finish(conn);
    unlink_conn(conn);
    buf_free(&conn->cn_in);
    buf_free(&conn->cn_pending);
    buf_free(&conn->cn_out);
    free(conn->cn_peer);
    free(conn);
}

/* ---- datagrams ---- */

/*
 * Deliver one datagram and collect the replies.  See fakehost.h.
 */
int fake_dgram_feed(struct superd_service *svc, const void *data, size_t len,
                    const char *peer)
{
    const struct superd_plugin *d = desc_of(svc);
    struct superd_dgram *dgram;
    void *copy;

    if (svc->sv_state != SVC_READY) {
        note("fake_dgram_feed(%s): the service's init() has not succeeded", svc->sv_name);
        return -EINVAL;
    }
    clear_replies(svc);
    if (d->on_datagram == NULL)
        return 0;
    /* Both on the heap and freed after the call, so ASan sees a plugin that
     * keeps them. */
    dgram = malloc(sizeof *dgram);
    copy = copy_exact(data, len);
    if (dgram == NULL || copy == NULL) {
        free(dgram);
        free(copy);
        return -ENOMEM;
    }
    memset(dgram, 0, sizeof *dgram);
    dgram->dg_svc = svc;
    dgram->dg_peer = peer != NULL ? peer : FAKE_PEER;
    d->on_datagram(svc, dgram, copy, len);
    free(copy);
    free(dgram);
    settle_all(svc);
    return (int)svc->sv_nreplies;
}

/*
 * One reply to the last datagram.  See fakehost.h.
 */
const char *fake_dgram_reply(const struct superd_service *svc, size_t i, size_t *len)
{
    if (i >= svc->sv_nreplies)
        return NULL;
    if (len != NULL)
        *len = svc->sv_replies[i].len;
    return svc->sv_replies[i].data != NULL ? svc->sv_replies[i].data : "";
}

/* ---- logging and diagnostics ---- */

/*
 * Redirect or silence the log.  See fakehost.h.
 */
void fake_log_stream(FILE *stream)
{
    log_out = stream;
    log_out_set = true;
}

/*
 * Lines logged so far.  See fakehost.h.
 */
unsigned fake_log_count(void)
{
    return log_count;
}

/*
 * The last line logged.  See fakehost.h.
 */
const char *fake_log_last(int *level)
{
    if (level != NULL)
        *level = log_last_level;
    return log_last;
}

/*
 * The last diagnostic.  See fakehost.h.
 */
const char *fake_error(void)
{
    return last_error;
}

/*
 * Misuses seen.  See fakehost.h.
 */
unsigned fake_violations(void)
{
    return violations;
}

/* ==== the plugin API, as the plugin sees it ==== */

/*
 * The service's name, owned by the service.
 */
const char *superd_service_name(const struct superd_service *svc)
{
    return svc->sv_name;
}

/*
 * An option's value (the last one, if the key repeats), owned by the
 * service; marks every occurrence of the key as read.
 */
const char *superd_option(struct superd_service *svc, const char *key)
{
    const char *value = NULL;

    for (size_t i = 0; key != NULL && i < svc->sv_nopts; i++) {
        if (strcmp(svc->sv_opts[i].key, key) == 0) {
            svc->sv_opts[i].read = true;
            value = svc->sv_opts[i].value;
        }
    }
    return value;
}

/*
 * Keep "[service] key: message" for fake_service_error(), replacing any
 * earlier one.  Returns -EINVAL.
 */
int superd_config_error(struct superd_service *svc, const char *key,
                        const char *fmt, ...)
{
    char *msg = NULL;
    char *line = NULL;
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (r < 0)
        return -EINVAL;
    if (key != NULL)
        r = asprintf(&line, "[%s] %s: %s", svc->sv_name, key, msg);
    else
        r = asprintf(&line, "[%s] %s", svc->sv_name, msg);
    free(msg);
    if (r < 0)
        return -EINVAL;
    free(svc->sv_error);
    svc->sv_error = line;
    return -EINVAL;
}

/*
 * The plugin's per-service pointer; the plugin owns what it points to.
 */
void superd_service_set_data(struct superd_service *svc, void *data)
{
    svc->sv_data = data;
}

/*
 * The pointer last given to superd_service_set_data(), NULL before.
 */
void *superd_service_data(const struct superd_service *svc)
{
    return svc->sv_data;
}

/*
 * Write "[service] message" to the log stream, and keep it for
 * fake_log_last().
 */
void superd_log(const struct superd_service *svc, int level, const char *fmt, ...)
{
    FILE *out = log_stream();
    char *msg = NULL;
    char *line = NULL;
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (r < 0)
        return;
    r = asprintf(&line, "[%s] %s", svc != NULL ? svc->sv_name : "?", msg);
    free(msg);
    if (r < 0)
        return;
    if (out != NULL)
        fprintf(out, "%s\n", line);
    free(log_last);
    log_last = line;
    log_last_level = level;
    log_count++;
}

/*
 * The service a connection belongs to.
 */
struct superd_service *superd_conn_service(const struct superd_conn *conn)
{
    return conn->cn_svc;
}

/*
 * The plugin's per-connection pointer; the plugin owns what it points to.
 */
void superd_conn_set_data(struct superd_conn *conn, void *data)
{
    conn->cn_data = data;
}

/*
 * The pointer last given to superd_conn_set_data(), NULL before.
 */
void *superd_conn_data(const struct superd_conn *conn)
{
    return conn->cn_data;
}

/*
 * Append a copy of the bytes to the output (kept for fake_conn_output())
 * and to the queue.  Returns 0, -EPIPE once closing, the injected error of
 * fake_conn_fail_writes(), or -ENOMEM.
 */
int superd_write(struct superd_conn *conn, const void *buf, size_t len)
{
    if (conn->cn_close_done) {
        violation("[%s] superd_write() after on_close()", conn->cn_svc->sv_name);
        return -EPIPE;
    }
    if (conn->cn_closed || conn->cn_shut)
        return -EPIPE;
    if (conn->cn_fail_writes < 0)
        return conn->cn_fail_writes;
    if (len == 0)
        return 0;
    if (buf_append(&conn->cn_out, buf, len) < 0)
        return -ENOMEM;
    conn->cn_queued += len;
    return 0;
}

/*
 * Bytes written and not yet drained by the test.
 */
size_t superd_queued(const struct superd_conn *conn)
{
    return conn->cn_queued;
}

/*
 * Mark the connection closed; on_close() runs when the current fake_conn_*
 * call returns to the test, never inside the plugin's callback.
 */
void superd_close(struct superd_conn *conn)
{
    if (conn->cn_close_done) {
        violation("[%s] superd_close() after on_close()", conn->cn_svc->sv_name);
        return;
    }
    conn->cn_closed = true;
}

/*
 * The peer given to fake_conn_open(), owned by the connection.
 */
const char *superd_peer(const struct superd_conn *conn)
{
    return conn->cn_peer;
}

/*
 * Keep a copy of the reply for fake_dgram_reply().  Returns 0, -ENOTCONN
 * for a FAKE_PEER_UNBOUND sender, -EMSGSIZE above FAKE_DGRAM_MAX bytes, or
 * -ENOMEM.
 */
int superd_reply(struct superd_dgram *dgram, const void *buf, size_t len)
{
    struct superd_service *svc = dgram->dg_svc;
    struct buf *replies;

    if (strcmp(dgram->dg_peer, FAKE_PEER_UNBOUND) == 0)
        return -ENOTCONN;
    if (len > FAKE_DGRAM_MAX)
        return -EMSGSIZE;
    replies = realloc(svc->sv_replies, (svc->sv_nreplies + 1) * sizeof *replies);
    if (replies == NULL)
        return -ENOMEM;
    svc->sv_replies = replies;
    memset(&replies[svc->sv_nreplies], 0, sizeof *replies);
    if (buf_append(&replies[svc->sv_nreplies], buf, len) < 0)
        return -ENOMEM;
    svc->sv_nreplies++;
    return 0;
}

/*
 * The sender given to fake_dgram_feed(), owned by the test.
 */
const char *superd_dgram_peer(const struct superd_dgram *dgram)
{
    return dgram->dg_peer;
}

#if SUPERD_HOST_ABI_MINOR >= 1

/* ---- added in ABI 1.1 ---- */

/*
 * Advance the service's clock by `ms`, running the timers due on the way,
 * earliest first.  See fakehost.h.
 */
int fake_timer_advance(struct superd_service *svc, uint64_t ms)
{
    uint64_t until = svc->sv_now + ms;
    int ran = 0;
    for (int guard = 0; guard < 1000000; guard++) {
        struct superd_timer *next = NULL;
        for (struct superd_timer *t = svc->sv_timers; t; t = t->tm_next)
            if (t->tm_due <= until && (next == NULL || t->tm_due < next->tm_due))
                next = t;
        struct superd_conn *late = NULL;
        for (struct superd_conn *c = svc->sv_conn_list; c; c = c->cn_next)
            if (c->cn_connecting && !c->cn_closed && c->cn_connect_due <= until &&
                (late == NULL || c->cn_connect_due < late->cn_connect_due))
                late = c;
        if (late != NULL && (next == NULL || late->cn_connect_due < next->tm_due)) {
            svc->sv_now = late->cn_connect_due;
            fake_connect_result(late, -ETIMEDOUT);
            ran++;
            continue;
        }
        if (next == NULL)
            break;
        svc->sv_now = next->tm_due;
        next->tm_running = true;
        next->tm_fn(next, next->tm_arg);
        next->tm_running = false;
        settle_all(svc);
        ran++;
        if (next->tm_stopped) {
            free(next);
        } else if (next->tm_every) {
            next->tm_due += next->tm_every;
        } else {
            timer_unlink(next);
            free(next);
        }
    }
    svc->sv_now = until;
    return ran;
}

/* "unix:PATH" ("unix:@NAME": abstract), "A.B.C.D:PORT" or "[V6]:PORT" in
 * binary form; -EAFNOSUPPORT for text that is none of them. */
static int parse_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon;
    char *end;
    unsigned long port;

    memset(ss, 0, sizeof *ss);
    if (strncmp(text, "unix:", 5) == 0) {
        struct sockaddr_un *sun = (struct sockaddr_un *)ss;
        const char *path = text + 5;
        size_t n = strlen(path);

        if (n >= sizeof sun->sun_path)
            return -EAFNOSUPPORT;
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, path, n);
        if (path[0] == '@')
            sun->sun_path[0] = '\0';          /* abstract: no NUL at the end */
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
                           (n > 0 && path[0] != '@'));
        return 0;
    }
    colon = strrchr(text, ':');
    if (colon == NULL || (size_t)(colon - text) >= sizeof host)
        return -EAFNOSUPPORT;
    port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || port > 65535)
        return -EAFNOSUPPORT;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    if (host[0] == '[' && colon > text + 1 && colon[-1] == ']') {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

        host[colon - text - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1)
            return -EAFNOSUPPORT;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof *in6;
        return 0;
    }
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
        return -EAFNOSUPPORT;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    *len = sizeof *in;
    return 0;
}

/* The address `which` of a connection or datagram from `peer` to `svc`,
 * copied out as getsockname(2) does. */
static int fake_addr(const struct superd_service *svc, const char *peer, int which,
                     struct sockaddr *sa, socklen_t *len)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    const char *text;
    int r;

    if (which == SUPERD_ADDR_PEER) {
        text = peer;
    } else if (which == SUPERD_ADDR_LOCAL) {
        text = svc->sv_local;
        if (text == NULL)       /* the default: of the peer's family */
            text = strncmp(peer, "unix:", 5) == 0 ? FAKE_LOCAL_UNIX
                   : peer[0] == '[' ? FAKE_LOCAL_INET6 : FAKE_LOCAL_INET;
    } else {
        return -EINVAL;
    }
    r = parse_addr(text, &ss, &sslen);
    if (r < 0) {
        note("[%s] superd_*_addr(): \"%s\" is not an address the fake can convert",
             svc->sv_name, text);
        return r;
    }
    memcpy(sa, &ss, sslen < *len ? sslen : *len);
    *len = sslen;
    return 0;
}

/*
 * The peer given to fake_conn_open(), or the service's local address, in
 * binary form.
 */
int superd_conn_addr(const struct superd_conn *conn, int which, struct sockaddr *sa,
                     socklen_t *len)
{
    if (conn->cn_close_done) {
        violation("[%s] superd_conn_addr() after on_close()", conn->cn_svc->sv_name);
        return -EPIPE;
    }
    return fake_addr(conn->cn_svc, conn->cn_peer, which, sa, len);
}

/*
 * The sender given to fake_dgram_feed(), or the service's local address,
 * in binary form.
 */
int superd_dgram_addr(const struct superd_dgram *dgram, int which, struct sockaddr *sa,
                      socklen_t *len)
{
    return fake_addr(dgram->dg_svc, dgram->dg_peer, which, sa, len);
}

/*
 * The fake's connections are never TLS: -ENOTSUP, as the daemon answers
 * for a tcp:// or unix: connection.
 */
int superd_conn_tls(const struct superd_conn *conn, struct superd_tls_info *info)
{
    (void)info;
    if (conn->cn_close_done) {
        violation("[%s] superd_conn_tls() after on_close()", conn->cn_svc->sv_name);
        return -EPIPE;
    }
    return -ENOTSUP;
}

/*
 * A timer on the service's test clock: it runs only in
 * fake_timer_advance().
 */
struct superd_timer *superd_timer_start(struct superd_service *svc, uint64_t after_ms,
                                        uint64_t every_ms,
                                        void (*fn)(struct superd_timer *t, void *arg), void *arg)
{
    if (svc == NULL || fn == NULL) {
        violation("superd_timer_start() without a service or a callback");
        errno = EINVAL;
        return NULL;
    }
    struct superd_timer *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    *t = (struct superd_timer){ .tm_svc = svc, .tm_due = svc->sv_now + after_ms,
                                .tm_every = every_ms, .tm_fn = fn, .tm_arg = arg };
    struct superd_timer **pp = &svc->sv_timers;
    while (*pp)
        pp = &(*pp)->tm_next;
    *pp = t;
    return t;
}

/*
 * Stop a timer; safe from its own callback.
 */
void superd_timer_stop(struct superd_timer *t)
{
    if (t == NULL || t->tm_stopped)
        return;
    t->tm_stopped = true;
    timer_unlink(t);
    if (!t->tm_running)
        free(t);
}

#endif

#if SUPERD_HOST_ABI_MINOR >= 1

/* ---- outbound connections ---- */

/* The connect timeout when the ops give none, as the host's. */
#define FAKE_CONNECT_TIMEOUT_MS 10000

/*
 * A connection on the service's connection list, as fake_conn_open() makes
 * one, without calling anything.
 */
static struct superd_conn *new_conn(struct superd_service *svc, const char *peer)
{
    struct superd_conn *conn = calloc(1, sizeof *conn);

    if (conn == NULL)
        return NULL;
    conn->cn_peer = strdup(peer);
    if (conn->cn_peer == NULL) {
        free(conn);
        return NULL;
    }
    conn->cn_svc = svc;
    link_conn(conn);
    return conn;
}

/*
 * Record a connection as the host would open it: nothing is called until
 * the test gives the result with fake_connect_result().
 */
struct superd_conn *superd_connect(struct superd_service *svc, const char *address,
                                   const struct superd_conn_ops *ops, void *data)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    const char *peer;
    struct superd_conn *conn;

    if (svc == NULL || address == NULL || ops == NULL ||
        ops->size < offsetof(struct superd_conn_ops, on_connect)) {
        violation("superd_connect() without a service, an address or valid ops");
        errno = EINVAL;
        return NULL;
    }
    if (svc->sv_state != SVC_READY && svc->sv_state != SVC_NEW) {
        errno = EINVAL;
        return NULL;
    }
    /* Literals only, as the host: "tcp://A:P", "tcp://[V6]:P", "unix:PATH". */
    peer = strncmp(address, "tcp://", 6) == 0 ? address + 6 : address;
    if ((peer == address && strncmp(address, "unix:", 5) != 0) ||
        (peer == address && address[5] == '\0') || parse_addr(peer, &ss, &sslen) < 0) {
        errno = EINVAL;
        return NULL;
    }
    conn = new_conn(svc, peer);
    if (conn == NULL)
        return NULL;
    conn->cn_outbound = true;
    conn->cn_connecting = true;
    memcpy(&conn->cn_ops, ops, ops->size < sizeof conn->cn_ops ? ops->size
                                                                : sizeof conn->cn_ops);
    conn->cn_connect_due = svc->sv_now + (conn->cn_ops.connect_timeout_ms
                                          ? conn->cn_ops.connect_timeout_ms
                                          : FAKE_CONNECT_TIMEOUT_MS);
    conn->cn_data = data;
    return conn;
}

/*
 * The connect of an outbound connection is over.  See fakehost.h.
 */
int fake_connect_result(struct superd_conn *conn, int status)
{
    if (!conn->cn_outbound || !conn->cn_connecting || conn->cn_closed) {
        note("fake_connect_result(): not a connection waiting for its connect");
        return -EINVAL;
    }
    conn->cn_connecting = false;
    if (status < 0) {
        conn->cn_closed = true;
        set_error(conn, status);
    }
    if (conn->cn_ops.on_connect != NULL)
        conn->cn_ops.on_connect(conn, status < 0 ? status : 0);
    host_turn(conn);
    return 0;
}

/*
 * The i-th outbound connection of the service not yet freed.  See
 * fakehost.h.
 */
struct superd_conn *fake_outbound(struct superd_service *svc, size_t i)
{
    for (struct superd_conn *c = svc->sv_conn_list; c != NULL; c = c->cn_next)
        if (c->cn_outbound && i-- == 0)
            return c;
    return NULL;
}

/*
 * Whether the connect is still waiting for its result.  See fakehost.h.
 */
int fake_conn_connecting(const struct superd_conn *conn)
{
    return conn->cn_connecting && !conn->cn_closed;
}

/* ---- flow control ---- */

/*
 * Whether the plugin paused the connection.  See fakehost.h.
 */
int fake_conn_paused(const struct superd_conn *conn)
{
    return conn->cn_paused;
}

/*
 * Whether the plugin's FIN went out.  See fakehost.h.
 */
int fake_conn_shut(const struct superd_conn *conn)
{
    return conn->cn_shut && conn->cn_queued == 0;
}

/*
 * Stop reading: fed bytes wait (fake_conn_pending()).
 */
int superd_pause(struct superd_conn *conn)
{
    if (conn->cn_close_done)
        violation("[%s] superd_pause() after on_close()", conn->cn_svc->sv_name);
    if (conn->cn_closed)
        return -EPIPE;
    conn->cn_paused = true;
    return 0;
}

/*
 * Read again; what was kept is offered when the current callback returns
 * to the fake.
 */
int superd_resume(struct superd_conn *conn)
{
    if (conn->cn_close_done)
        violation("[%s] superd_resume() after on_close()", conn->cn_svc->sv_name);
    if (conn->cn_closed)
        return -EPIPE;
    if (conn->cn_paused) {
        conn->cn_paused = false;
        conn->cn_reoffer = conn->cn_in.len > 0;
    }
    return 0;
}

/*
 * FIN once the queue is drained (fake_conn_shut()); writes fail from now.
 */
int superd_shutdown(struct superd_conn *conn)
{
    if (conn->cn_close_done)
        violation("[%s] superd_shutdown() after on_close()", conn->cn_svc->sv_name);
    if (conn->cn_closed)
        return -EPIPE;
    conn->cn_shut = true;
    return 0;
}

/* ---- watches ---- */

/*
 * A watch the test fires with fake_watch_fire().
 */
struct superd_watch *superd_watch(struct superd_service *svc, int fd, unsigned events,
                                  void (*fn)(struct superd_watch *w, int fd, unsigned events,
                                             void *arg),
                                  void *arg)
{
    struct superd_watch *w, **pp;

    if (svc == NULL || fn == NULL || fd < 0 ||
        (events & ~(SUPERD_READABLE | SUPERD_WRITABLE | SUPERD_ERROR)) != 0) {
        violation("superd_watch() without a service, a descriptor or a callback, "
                  "or with unknown events");
        errno = EINVAL;
        return NULL;
    }
    w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    *w = (struct superd_watch){ .wt_svc = svc, .wt_fd = fd, .wt_fn = fn, .wt_arg = arg,
                                .wt_events = events & (SUPERD_READABLE | SUPERD_WRITABLE) };
    for (pp = &svc->sv_watches; *pp != NULL; pp = &(*pp)->wt_next)
        ;
    *pp = w;
    return w;
}

/*
 * Change what the watch waits for.
 */
int superd_watch_set(struct superd_watch *w, unsigned events)
{
    if (w == NULL || w->wt_gone ||
        (events & ~(SUPERD_READABLE | SUPERD_WRITABLE | SUPERD_ERROR)) != 0)
        return -EINVAL;
    w->wt_events = events & (SUPERD_READABLE | SUPERD_WRITABLE);
    return 0;
}

static void watch_unlink(struct superd_watch *w)
{
    struct superd_watch **pp = &w->wt_svc->sv_watches;

    while (*pp != NULL && *pp != w)
        pp = &(*pp)->wt_next;
    if (*pp != NULL)
        *pp = w->wt_next;
}

/*
 * Release a watch; safe from its own callback.
 */
void superd_unwatch(struct superd_watch *w)
{
    if (w == NULL || w->wt_gone)
        return;
    w->wt_gone = true;
    watch_unlink(w);
    if (!w->wt_running)
        free(w);
}

/*
 * The descriptor is ready.  See fakehost.h.
 */
int fake_watch_fire(struct superd_service *svc, int fd, unsigned events)
{
    for (struct superd_watch *w = svc->sv_watches; w != NULL; w = w->wt_next) {
        unsigned ev;

        if (w->wt_fd != fd)
            continue;
        ev = events & (w->wt_events | SUPERD_ERROR);
        if (ev == 0)
            return 0;
        w->wt_running = true;
        w->wt_fn(w, fd, ev, w->wt_arg);
        w->wt_running = false;
        if (w->wt_gone)
            free(w);
        settle_all(svc);
        return 1;
    }
    return 0;
}

/*
 * What the watch of fd waits for.  See fakehost.h.
 */
int fake_watch_events(const struct superd_service *svc, int fd)
{
    for (const struct superd_watch *w = svc->sv_watches; w != NULL; w = w->wt_next)
        if (w->wt_fd == fd)
            return (int)w->wt_events;
    return -1;
}

/* ---- held datagrams ---- */

/*
 * Keep the sender: replies through it go to the service's replies
 * (fake_dgram_reply()).
 */
struct superd_dgram *superd_dgram_hold(struct superd_dgram *dgram)
{
    struct superd_dgram *h;

    if (dgram == NULL) {
        errno = EINVAL;
        return NULL;
    }
    h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->dg_svc = dgram->dg_svc;
    h->dg_peer_copy = strdup(dgram->dg_peer);
    if (h->dg_peer_copy == NULL) {
        free(h);
        return NULL;
    }
    h->dg_peer = h->dg_peer_copy;
    h->dg_held = true;
    h->dg_next = h->dg_svc->sv_held;
    h->dg_svc->sv_held = h;
    h->dg_svc->sv_nheld++;
    return h;
}

/*
 * Release a held datagram.
 */
void superd_dgram_release(struct superd_dgram *held)
{
    if (held == NULL)
        return;
    if (!held->dg_held) {
        violation("superd_dgram_release() of a datagram that is not held");
        return;
    }
    dgram_unhold(held);
}

/*
 * How many datagrams the service holds.  See fakehost.h.
 */
unsigned fake_dgram_held(const struct superd_service *svc)
{
    return svc->sv_nheld;
}

#endif

static void dgram_unhold(struct superd_dgram *held)
{
    struct superd_dgram **pp = &held->dg_svc->sv_held;

    while (*pp != NULL && *pp != held)
        pp = &(*pp)->dg_next;
    if (*pp != NULL)
        *pp = held->dg_next;
    held->dg_svc->sv_nheld--;
    free(held->dg_peer_copy);
    free(held);
}
