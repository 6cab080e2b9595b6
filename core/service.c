/* service.c - one configured service: plugin start-up and the
 * configuration side of the plugin API. */
#include "service.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf_keys.h"
#include "log.h"
#include "dgram.h"
#include "timer.h"
#include "watch.h"

/* The line a key of this service is on (the section's when unknown). */
static int key_line(const struct superd_service *s, const char *key)
{
    if (key) {
        for (size_t i = 0; i < s->cs->nopts; i++)
            if (strcmp(s->cs->opts[i].key, key) == 0)
                return s->cs->opts[i].line;
        if (strcmp(key, "plugin") == 0)
            return s->cs->plugin_line;
    }
    return s->cs->line;
}

/* Where service_start and service_stop say what they are about to run. */
static int trace_fd = -1;

void service_trace(int fd)
{
    trace_fd = fd;
}

/* One line "[service] step" before plugin code runs, so that whoever
 * reads the pipe can name the step that crashed. */
static void trace(const struct conf_service *cs, const char *step)
{
    if (trace_fd < 0)
        return;
    char line[128];
    int n = snprintf(line, sizeof line, "[%s] %s\n", cs->name, step);
    if (n > 0 && (size_t)n < sizeof line && write(trace_fd, line, (size_t)n) < 0)
        return;     /* nobody listening: nothing to say */
}

static void set_err(char *err, size_t errlen, const struct superd_service *s,
                    const char *key, const char *msg)
{
    snprintf(err, errlen, "%s:%d: [%s] %s%s%s", s->cs->file->path, key_line(s, key),
             s->cs->name, key ? key : "", key ? ": " : "", msg);
}

/* The most distinct keys remembered from init's superd_option calls. */
#define ASKED_MAX 64

/* Remember a key init() asked for (once each, up to ASKED_MAX); out of
 * memory only loses a suggestion. */
static void remember_asked(struct superd_service *s, const char *key)
{
    for (size_t i = 0; i < s->nasked; i++)
        if (strcmp(s->asked[i], key) == 0)
            return;
    if (s->nasked == ASKED_MAX)
        return;
    char **v = realloc(s->asked, (s->nasked + 1) * sizeof *v);
    if (!v)
        return;
    s->asked = v;
    if ((v[s->nasked] = strdup(key)) != NULL)
        s->nasked++;
}

/* A key one edit away from an unread `key`: one the plugin asked for,
 * else one of the core's service keys; NULL when none is. */
static const char *suggest(const struct superd_service *s, const char *key)
{
    for (size_t i = 0; i < s->nasked; i++)
        if (conf_one_edit(s->asked[i], key))
            return s->asked[i];
    return conf_key_suggest(CONF_SERVICE, key);
}

static int start(struct superd_service *s, const struct conf *c, struct conf_service *cs,
                 struct serve *srv, char *err, size_t errlen)
{
    char msg[768];
    char *path = NULL;
    memset(s, 0, sizeof *s);
    s->conf = c;
    s->cs = cs;
    s->srv = srv;
    s->stats_slot = -1;
    if (cs->exec.program)
        return 0;   /* no plugin: the spawner runs the program */
    int r;
    if (cs->builtin) {
        r = plugin_builtin(cs->builtin, &s->plugin, msg, sizeof msg);
    } else {
        r = plugin_find(cs->plugin, cs->file->dir, c->plugin_dir, &path, msg, sizeof msg);
        if (r == 0)
            trace(cs, "load");  /* dlopen runs the plugin's constructors */
        if (r == 0)
            r = plugin_load(path, &s->plugin, msg, sizeof msg);
    }
    free(path);
    if (r < 0) {
        set_err(err, errlen, s, "plugin", msg);
        return r;
    }
    const struct superd_plugin *d = service_plugin(s);
    if (d->init) {
        trace(cs, "init");
        r = d->init(s);
        if (r < 0) {
            if (s->err)
                snprintf(err, errlen, "%s", s->err);
            else {
                snprintf(msg, sizeof msg, "%s: init failed: %s", d->name, strerror(-r));
                set_err(err, errlen, s, "plugin", msg);
            }
            return r;
        }
    }
    s->inited = true;
    /* A listener the plugin cannot serve would take traffic and drop it. */
    for (size_t i = 0; i < cs->naddrs; i++) {
        bool stream = addr_socktype(cs->addrs[i].kind) == SOCK_STREAM;
        if (stream ? (d->on_open || d->on_data) : d->on_datagram != NULL)
            continue;
        snprintf(msg, sizeof msg, "plugin %s does not serve %s (%s)", d->name,
                 stream ? "stream connections" : "datagrams", cs->addrs[i].text);
        snprintf(err, errlen, "%s:%d: [%s] listen: %s", cs->file->path, cs->addrs[i].line,
                 cs->name, msg);
        return -EPROTONOSUPPORT;
    }
    /* A key neither the core nor the plugin read is a typo: refuse it. */
    for (size_t i = 0; i < cs->nopts; i++) {
        if (!cs->opts[i].used) {
            const char *near = suggest(s, cs->opts[i].key);
            if (near)
                snprintf(msg, sizeof msg, "unknown key (did you mean %s?)", near);
            set_err(err, errlen, s, cs->opts[i].key, near ? msg : "unknown key");
            return -EINVAL;
        }
    }
    return 0;
}

static void forget_asked(struct superd_service *s)
{
    for (size_t i = 0; i < s->nasked; i++)
        free(s->asked[i]);
    free(s->asked);
    s->asked = NULL;
    s->nasked = 0;
}

int service_start(struct superd_service *s, const struct conf *c,
                  struct conf_service *cs, struct serve *srv, char *err, size_t errlen)
{
    int r = start(s, c, cs, srv, err, errlen);
    forget_asked(s);    /* only the unknown-key check needs them */
    return r;
}

void service_stop(struct superd_service *s)
{
    /* No timer of a service runs after its fini(). */
    timer_stop_all(s);
    watch_release_all(s);
    dgram_release_all(s);
    if (s->inited && s->plugin->desc.fini) {
        trace(s->cs, "fini");
        s->plugin->desc.fini(s);
    }
    s->inited = false;
    plugin_unload(s->plugin);
    s->plugin = NULL;
    free(s->err);
    s->err = NULL;
}

/* ---- the public API ---- */

const char *superd_service_name(const struct superd_service *svc)
{
    return svc->cs->name;
}

const char *superd_option(struct superd_service *svc, const char *key)
{
    if (!svc->inited && key)    /* during init: what a typo may have meant */
        remember_asked(svc, key);
    for (size_t i = 0; i < svc->cs->nopts; i++) {
        if (strcmp(svc->cs->opts[i].key, key) == 0) {
            svc->cs->opts[i].used = true;
            return svc->cs->opts[i].value;
        }
    }
    return NULL;
}

int superd_config_error(struct superd_service *svc, const char *key, const char *fmt, ...)
{
    if (svc->err)
        return -EINVAL;     /* the first error is the one the user sees */
    char msg[512], line[CONF_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    set_err(line, sizeof line, svc, key, msg);
    svc->err = strdup(line);
    return -EINVAL;
}

void superd_service_set_data(struct superd_service *svc, void *data)
{
    svc->data = data;
}

void *superd_service_data(const struct superd_service *svc)
{
    return svc->data;
}

void superd_log(const struct superd_service *svc, int level, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_msg(level, "[%s] %s", svc ? svc->cs->name : "?", msg);
}
