/*
 * test_core_config.c - the INI configuration: what a good file gives, and
 * the exact one-line message of every bad one.  Parsed from strings named
 * "t/x.ini" (conf_load_string), plus a few real files (conf_load).
 *
 * This file also stands in for inih's ini_parse_stream (passing every call
 * on to the real one) to watch the core's line reader: it hands the reader
 * a buffer with guard bytes past the size inih allows, so a write past
 * inih's line buffer, which no sanitizer can see inside the uninstrumented
 * library, is caught here.
 */
#include <dlfcn.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "test_core.h"

#define PATH "t/x.ini"

/* ---- the guard around inih's line buffer ---- */

#define GUARD 64
#define GUARD_BYTE 0x5a

static ini_reader real_reader;
static void *real_stream;
static unsigned guard_calls;        /* lines read through the guard */
static char guard_overflow[256];    /* the first line that overflowed, or "" */

static char *guarded_reader(char *str, int num, void *stream)
{
    (void)stream;
    char big[4096 + GUARD];
    if (num <= 0 || (size_t)num > sizeof big - GUARD)
        return real_reader(str, num, real_stream);
    memset(big, GUARD_BYTE, sizeof big);
    char *r = real_reader(big, num, real_stream);
    guard_calls++;
    for (size_t i = (size_t)num; i < (size_t)num + GUARD; i++) {
        if ((unsigned char)big[i] != GUARD_BYTE && !guard_overflow[0]) {
            snprintf(guard_overflow, sizeof guard_overflow,
                     "the line reader wrote byte %zu of a %d-byte buffer", i, num);
            break;
        }
    }
    if (!r)
        return NULL;
    size_t len = strnlen(big, (size_t)num - 1);
    memcpy(str, big, len);
    str[len] = '\0';
    return str;
}

/* Interposes libinih's: the core's config.o links against this one. */
int ini_parse_stream(ini_reader reader, void *stream, ini_handler handler, void *user)
{
    /* A use of another libinih function, so that the linker keeps the
     * library (--as-needed would drop it: this file defines the only
     * function the core calls). */
    static int (*volatile keep)(const char *, ini_handler, void *) = ini_parse_string;
    (void)keep;
    int (*real)(ini_reader, void *, ini_handler, void *);
    *(void **)&real = dlsym(RTLD_NEXT, "ini_parse_stream");
    if (!real) {
        fprintf(stderr, "unit_core: libinih's ini_parse_stream not found: %s\n", dlerror());
        return -1;
    }
    ini_reader saved_reader = real_reader;
    void *saved_stream = real_stream;
    real_reader = reader;
    real_stream = stream;
    int r = real(guarded_reader, stream, handler, user);
    real_reader = saved_reader;
    real_stream = saved_stream;
    return r;
}

/* ---- helpers ---- */

static char err[CONF_ERR_MAX];

/* Parse text that must be good; NULL (and a failed assertion naming the
 * message) if it was not. */
#define load_ok(text) load_ok_at(__LINE__, (text))
static struct conf *load_ok_at(unsigned line, const char *text)
{
    struct conf *c = NULL;
    err[0] = '\0';
    int r = conf_load_string(text, PATH, &c, err, sizeof err);
    tc_assert_str(err, "", line, __FILE__, CU_FALSE);
    tc_assert_long(r, 0, "conf_load_string", line, __FILE__);
    return r == 0 ? c : NULL;
}

/* Parse text that must be refused with exactly `msg` and return code rc. */
#define load_bad(text, rc, msg) load_bad_at(__LINE__, (text), (rc), (msg))
static void load_bad_at(unsigned line, const char *text, int rc, const char *msg)
{
    struct conf *c = NULL;
    err[0] = '\0';
    int r = conf_load_string(text, PATH, &c, err, sizeof err);
    tc_assert_str(err, msg, line, __FILE__, CU_FALSE);
    tc_assert_long(r, rc, "conf_load_string", line, __FILE__);
    if (r == 0)
        conf_free(c);
}

static char *repeat(char ch, size_t n)
{
    char *s = malloc(n + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    memset(s, ch, n);
    s[n] = '\0';
    return s;
}

/* A minimal good service section, to complete files that test [superd]. */
#define ECHO_SVC "[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:10007\n"

/* ---- good files ---- */

static void test_every_key(void)
{
    struct conf *c = load_ok(
        "[superd]\n"                                        /* 1 */
        "plugin_dir = plugins\n"
        "workers = 1\n"
        "log = syslog\n"
        "log_level = debug\n"                               /* 5 */
        "pid_file = run/superd.pid\n"
        "shutdown_timeout = 250ms\n"
        "\n"
        "[echo]\n"                                          /* 9 */
        "plugin = echo\n"
        "listen = tcp://127.0.0.1:10007 tcp://[::1]:10007\n"
        "listen = udp://127.0.0.1:10007\n"
        "enabled = yes\n"
        "backlog = 128\n"
        "socket_mode = 0660\n"                              /* 15 */
        "listen = unix:/tmp/e.sock\n");  /* socket_mode applies to something */
    if (!c)
        return;
    ASSERT_STR(c->path, PATH);
    ASSERT_STR(c->dir, "t");
    ASSERT_STR(c->plugin_dir, "t/plugins");
    ASSERT_STR(c->pid_file, "t/run/superd.pid");
    CU_ASSERT_EQUAL(c->workers, 1);
    CU_ASSERT_EQUAL(c->log_target, LOG_TO_SYSLOG);
    CU_ASSERT_EQUAL(c->log_level, LOG_DEBUG);
    CU_ASSERT_EQUAL(c->shutdown_timeout_ms, 250);
    CU_ASSERT_EQUAL_FATAL(c->nsvcs, 1);
    struct conf_service *s = &c->svcs[0];
    ASSERT_STR(s->name, "echo");
    CU_ASSERT_EQUAL(s->line, 9);
    ASSERT_STR(s->plugin, "echo");
    CU_ASSERT_EQUAL(s->plugin_line, 10);
    CU_ASSERT(s->enabled);
    CU_ASSERT_EQUAL(s->backlog, 128);
    CU_ASSERT_EQUAL(s->socket_mode, 0660);
    CU_ASSERT_EQUAL(s->nopts, 0);
    CU_ASSERT_EQUAL_FATAL(s->naddrs, 4);
    ASSERT_STR(s->addrs[0].text, "tcp 127.0.0.1:10007");
    ASSERT_STR(s->addrs[1].text, "tcp [::1]:10007");
    ASSERT_STR(s->addrs[2].text, "udp 127.0.0.1:10007");
    CU_ASSERT_EQUAL(s->addrs[0].kind, ADDR_TCP);
    CU_ASSERT_EQUAL(s->addrs[1].kind, ADDR_TCP);
    CU_ASSERT_EQUAL(s->addrs[2].kind, ADDR_UDP);
    CU_ASSERT_EQUAL(s->addrs[0].line, 11);
    CU_ASSERT_EQUAL(s->addrs[1].line, 11);
    CU_ASSERT_EQUAL(s->addrs[2].line, 12);
    conf_free(c);
}

/* udp_reply_rate = off removes the reply budget; none keeps the default. */
static void test_udp_reply_rate_off(void)
{
    struct conf *c = load_ok(ECHO_SVC "udp_reply_rate = off\n");
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT_TRUE(c->svcs[0].udp_reply_off);
    conf_free(c);
    c = load_ok(ECHO_SVC "udp_reply_rate = none\n");
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT_FALSE(c->svcs[0].udp_reply_off);
    CU_ASSERT_EQUAL(c->svcs[0].udp_reply_rate.count, 0);
    conf_free(c);
}

static void test_defaults(void)
{
    struct conf *c = load_ok(ECHO_SVC);
    if (!c)
        return;
    CU_ASSERT_PTR_NULL(c->plugin_dir);
    CU_ASSERT_PTR_NULL(c->pid_file);
    /* workers = auto by default: one per online CPU. */
    CU_ASSERT_EQUAL(c->workers, (int)sysconf(_SC_NPROCESSORS_ONLN));
    CU_ASSERT_EQUAL(c->max_connections, 0);
    CU_ASSERT_PTR_NULL(c->user);
    CU_ASSERT_EQUAL(c->log_target, LOG_TO_STDERR);
    CU_ASSERT_EQUAL(c->log_level, LOG_INFO);
    CU_ASSERT_EQUAL(c->shutdown_timeout_ms, 10000);
    CU_ASSERT_EQUAL_FATAL(c->nsvcs, 1);
    CU_ASSERT(c->svcs[0].enabled);
    CU_ASSERT_EQUAL(c->svcs[0].backlog, 0);
    CU_ASSERT_EQUAL(c->svcs[0].socket_mode, -1);
    conf_free(c);
}

/* Absolute paths stay as they are; a file in "." keeps relative ones. */
static void test_paths_resolved(void)
{
    struct conf *c = NULL;
    const char *text = "[superd]\nplugin_dir = /opt/superd/plugins\npid_file = superd.pid\n"
                       "[u]\nplugin = p\nlisten = unix:u.sock unix:/run/v.sock\n";
    CU_ASSERT_EQUAL_FATAL(conf_load_string(text, "/etc/superd/superd.ini", &c, err, sizeof err), 0);
    ASSERT_STR(c->dir, "/etc/superd");
    ASSERT_STR(c->plugin_dir, "/opt/superd/plugins");
    ASSERT_STR(c->pid_file, "/etc/superd/superd.pid");
    ASSERT_STR(c->svcs[0].addrs[0].text, "unix /etc/superd/u.sock");
    ASSERT_STR(c->svcs[0].addrs[1].text, "unix /run/v.sock");
    conf_free(c);
    c = NULL;
    CU_ASSERT_EQUAL_FATAL(conf_load_string(text, "superd.ini", &c, err, sizeof err), 0);
    ASSERT_STR(c->dir, ".");
    ASSERT_STR(c->pid_file, "superd.pid");
    ASSERT_STR(c->svcs[0].addrs[0].text, "unix u.sock");
    conf_free(c);
}

/* `*` is every IPv4 and every IPv6 address: two listeners. */
static void test_listen_star(void)
{
    struct conf *c = load_ok("[echo]\nplugin = echo\nlisten = tcp://*:7000\n");
    if (!c)
        return;
    struct conf_service *s = &c->svcs[0];
    CU_ASSERT_EQUAL_FATAL(s->naddrs, 2);
    ASSERT_STR(s->addrs[0].text, "tcp 0.0.0.0:7000");
    ASSERT_STR(s->addrs[1].text, "tcp [::]:7000");
    const struct sockaddr_in *in4 = (const void *)&s->addrs[0].sa;
    const struct sockaddr_in6 *in6 = (const void *)&s->addrs[1].sa;
    CU_ASSERT_EQUAL(in4->sin_family, AF_INET);
    CU_ASSERT_EQUAL(in4->sin_addr.s_addr, htonl(INADDR_ANY));
    CU_ASSERT_EQUAL(ntohs(in4->sin_port), 7000);
    CU_ASSERT_EQUAL(in6->sin6_family, AF_INET6);
    CU_ASSERT(IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr));
    CU_ASSERT_EQUAL(ntohs(in6->sin6_port), 7000);
    CU_ASSERT_EQUAL(s->addrs[0].salen, sizeof(struct sockaddr_in));
    CU_ASSERT_EQUAL(s->addrs[1].salen, sizeof(struct sockaddr_in6));
    conf_free(c);
}

static void test_listen_ipv6_and_service_names(void)
{
    struct conf *c = load_ok("[echo]\nplugin = echo\n"
                             "listen = tcp://[::1]:10007 tcp://127.0.0.1:echo\n"
                             "listen = udp://[::1]:daytime\n");
    if (!c)
        return;
    struct conf_service *s = &c->svcs[0];
    CU_ASSERT_EQUAL_FATAL(s->naddrs, 3);
    ASSERT_STR(s->addrs[0].text, "tcp [::1]:10007");
    ASSERT_STR(s->addrs[1].text, "tcp 127.0.0.1:7");
    ASSERT_STR(s->addrs[2].text, "udp [::1]:13");
    CU_ASSERT_EQUAL(s->addrs[0].sa.ss_family, AF_INET6);
    conf_free(c);
}

/* Several listen keys, several addresses a line, any mix of kinds; the same
 * host and port over TCP and UDP are two different listeners. */
static void test_listen_unix_kinds(void)
{
    struct conf *c = load_ok("[echo]\nplugin = echo\n"
                             "listen = unix:/tmp/a.sock unix-dgram:/tmp/b.sock\n"
                             "listen = unix:@superd-test,unix:run/e.sock\n"
                             "listen = tcp://127.0.0.1:9000 udp://127.0.0.1:9000\n");
    if (!c)
        return;
    struct conf_service *s = &c->svcs[0];
    CU_ASSERT_EQUAL_FATAL(s->naddrs, 6);
    ASSERT_STR(s->addrs[0].text, "unix /tmp/a.sock");
    ASSERT_STR(s->addrs[1].text, "unix-dgram /tmp/b.sock");
    ASSERT_STR(s->addrs[2].text, "unix @superd-test");
    /* Relative unix paths are relative to the file's directory. */
    ASSERT_STR(s->addrs[3].text, "unix t/run/e.sock");
    ASSERT_STR(s->addrs[4].text, "tcp 127.0.0.1:9000");
    ASSERT_STR(s->addrs[5].text, "udp 127.0.0.1:9000");
    CU_ASSERT_EQUAL(s->addrs[0].kind, ADDR_UNIX);
    CU_ASSERT_EQUAL(s->addrs[1].kind, ADDR_UNIX_DGRAM);
    CU_ASSERT_EQUAL(s->addrs[2].kind, ADDR_UNIX);
    const struct sockaddr_un *ab = (const void *)&s->addrs[2].sa;
    CU_ASSERT_EQUAL(ab->sun_path[0], '\0');
    CU_ASSERT_EQUAL(s->addrs[2].salen, offsetof(struct sockaddr_un, sun_path) + 12);
    const struct sockaddr_un *rel = (const void *)&s->addrs[3].sa;
    ASSERT_STR(rel->sun_path, "t/run/e.sock");
    CU_ASSERT_EQUAL(s->addrs[2].line, 4);
    CU_ASSERT_EQUAL(s->addrs[5].line, 5);
    conf_free(c);
}

/* A disabled service is parsed but not checked: no plugin, no listen, an
 * address another service uses, none of that is an error. */
static void test_disabled_service_not_checked(void)
{
    struct conf *c = load_ok("[off]\nenabled = no\n"
                             "[dup]\nenabled = false\nplugin = x\nlisten = tcp://127.0.0.1:10007\n"
                             ECHO_SVC);
    if (!c)
        return;
    CU_ASSERT_EQUAL_FATAL(c->nsvcs, 3);
    ASSERT_STR(c->svcs[0].name, "off");
    CU_ASSERT_FALSE(c->svcs[0].enabled);
    CU_ASSERT_FALSE(c->svcs[1].enabled);
    CU_ASSERT(c->svcs[2].enabled);
    conf_free(c);
}

/* Keys the core does not know are the plugin's, kept in file order with
 * their lines, unread so far. */
static void test_plugin_options_kept(void)
{
    struct conf *c = load_ok("[daytime]\n"
                             "plugin = daytime\n"
                             "format = %A, %B %d, %Y\n"
                             "listen = tcp://127.0.0.1:10013\n"
                             "\n"
                             "colour = blue  \n");
    if (!c)
        return;
    struct conf_service *s = &c->svcs[0];
    CU_ASSERT_EQUAL_FATAL(s->nopts, 2);
    ASSERT_STR(s->opts[0].key, "format");
    ASSERT_STR(s->opts[0].value, "%A, %B %d, %Y");
    CU_ASSERT_EQUAL(s->opts[0].line, 3);
    CU_ASSERT_FALSE(s->opts[0].used);
    ASSERT_STR(s->opts[1].key, "colour");
    ASSERT_STR(s->opts[1].value, "blue");
    CU_ASSERT_EQUAL(s->opts[1].line, 6);
    CU_ASSERT_FALSE(s->opts[1].used);
    conf_free(c);
}

/* Comments, blank lines and CRLF line ends change nothing, lines included. */
static void test_comments_and_crlf(void)
{
    struct conf *c = load_ok("; a comment\r\n"
                             "# another\r\n"
                             "\r\n"
                             "[echo]\r\n"
                             "plugin = echo\r\n"
                             "listen = unix:/tmp/e.sock\r\n"
                             "note = x\r\n");
    if (!c)
        return;
    struct conf_service *s = &c->svcs[0];
    CU_ASSERT_EQUAL(s->line, 4);
    ASSERT_STR(s->plugin, "echo");
    CU_ASSERT_EQUAL(s->plugin_line, 5);
    CU_ASSERT_EQUAL_FATAL(s->naddrs, 1);
    ASSERT_STR(s->addrs[0].text, "unix /tmp/e.sock");
    CU_ASSERT_EQUAL_FATAL(s->nopts, 1);
    ASSERT_STR(s->opts[0].value, "x");
    CU_ASSERT_EQUAL(s->opts[0].line, 7);
    conf_free(c);
}

/* The DESIGN's own example, inline comments and all (but workers = 1:
 * this version runs one worker). */
static void test_design_example(void)
{
    struct conf *c = load_ok(
        "[superd]\n"
        "plugin_dir = plugins            ; relative paths are relative to this file\n"
        "workers = 1                     ; worker processes\n"
        "\n"
        "[echo]\n"
        "plugin = echo                   ; echo.so in the plugin search path, or a path\n"
        "listen = tcp://127.0.0.1:10007 tcp://[::1]:10007\n"
        "listen = udp://127.0.0.1:10007 udp://[::1]:10007\n"
        "listen = unix:/tmp/superd-echo.sock\n");
    if (!c)
        return;
    ASSERT_STR(c->plugin_dir, "t/plugins");
    CU_ASSERT_EQUAL_FATAL(c->nsvcs, 1);
    ASSERT_STR(c->svcs[0].plugin, "echo");
    CU_ASSERT_EQUAL_FATAL(c->svcs[0].naddrs, 5);
    ASSERT_STR(c->svcs[0].addrs[3].text, "udp [::1]:10007");
    ASSERT_STR(c->svcs[0].addrs[4].text, "unix /tmp/superd-echo.sock");
    CU_ASSERT_EQUAL(c->svcs[0].addrs[4].line, 9);
    conf_free(c);
}

/* Names of 49 characters and lines of 198 are inih's limits: accepted
 * whole, never truncated. */
static void test_longest_names_and_line(void)
{
    char *sec = repeat('s', 49), *key = repeat('k', 49), *val = repeat('v', 198 - 4);
    char text[1024];
    snprintf(text, sizeof text, "[%s]\nplugin = echo\nlisten = unix:/tmp/l.sock\n%s = 1\nx = %s\n",
             sec, key, val);
    struct conf *c = load_ok(text);
    if (c) {
        struct conf_service *s = &c->svcs[0];
        ASSERT_STR(s->name, sec);
        CU_ASSERT_EQUAL_FATAL(s->nopts, 2);
        ASSERT_STR(s->opts[0].key, key);
        ASSERT_STR(s->opts[1].value, val);
        CU_ASSERT_EQUAL(s->opts[1].line, 5);
        conf_free(c);
    }
    free(sec);
    free(key);
    free(val);
}

/*
 * inih reads lines into a 200-byte buffer.  A line with 198 characters of
 * content ending in CRLF is 200 bytes plus the NUL: the core's line reader
 * must not write past the buffer (ASan cannot see it: libinih is not
 * instrumented; the guard above does).
 */
static void test_line_reader_stays_in_buffer(void)
{
    char *val = repeat('v', 198 - 4);
    char text[1024];
    snprintf(text, sizeof text, "[echo]\r\nplugin = echo\r\nlisten = unix:/tmp/l.sock\r\n"
             "x = %s\r\n", val);
    unsigned calls = guard_calls;
    guard_overflow[0] = '\0';
    struct conf *c = NULL;
    int r = conf_load_string(text, PATH, &c, err, sizeof err);
    /* The guard really watched this parse. */
    CU_ASSERT(guard_calls > calls);
    ASSERT_STR(guard_overflow, "");
    if (r == 0) {
        CU_ASSERT_EQUAL(c->svcs[0].nopts, 1);
        if (c->svcs[0].nopts == 1)
            ASSERT_STR(c->svcs[0].opts[0].value, val);
        conf_free(c);
    } else {
        /* Refusing the line would be honest too, with its number. */
        ASSERT_STR(err, PATH ":4: [echo] line longer than 198 characters");
    }
    free(val);
}

/* listen may repeat; each address keeps the line that named it. */
static void test_listen_repeated_across_lines(void)
{
    struct conf *c = load_ok("[echo]\nplugin = echo\n"
                             "listen = tcp://127.0.0.1:1\n"
                             "listen = tcp://127.0.0.1:2\n"
                             "listen = tcp://127.0.0.1:3 tcp://127.0.0.1:4\n");
    if (!c)
        return;
    struct conf_service *s = &c->svcs[0];
    CU_ASSERT_EQUAL_FATAL(s->naddrs, 4);
    for (size_t i = 0; i < 4; i++) {
        char want[64];
        snprintf(want, sizeof want, "tcp 127.0.0.1:%zu", i + 1);
        ASSERT_STR(s->addrs[i].text, want);
    }
    CU_ASSERT_EQUAL(s->addrs[0].line, 3);
    CU_ASSERT_EQUAL(s->addrs[1].line, 4);
    CU_ASSERT_EQUAL(s->addrs[3].line, 5);
    conf_free(c);
}

/* ---- bad files: one exact line each ---- */

static void test_bad_listen(void)
{
    load_bad("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:99999\n", -ERANGE,
             PATH ":3: [echo] listen: port 99999 out of range");
    /* The first bad word of a line is named, after good ones. */
    load_bad("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:7000\n"
             "listen = udp://127.0.0.1:7000 udp://::1:7000\n", -EINVAL,
             PATH ":4: [echo] listen: bad address '::1:7000': put an IPv6 address in brackets, [::1]:PORT");
    load_bad("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:nosuchservice\n", -ENOENT,
             PATH ":3: [echo] listen: unknown service name 'nosuchservice' for tcp (see /etc/services)");
    load_bad("[echo]\nplugin = echo\nlisten = 127.0.0.1:7\n", -EINVAL,
             PATH ":3: [echo] listen: bad address '127.0.0.1:7': expected tcp://HOST:PORT, tls://HOST:PORT, "
             "udp://HOST:PORT, unix:PATH or unix-dgram:PATH");
}

static void test_workers_user_limits(void)
{
    struct conf *c = load_ok("[superd]\nworkers = 3\nmax_connections = 100\nuser = nobody\n"
                             "group = nogroup\n" ECHO_SVC "max_connections = 7\n");
    if (!c)
        return;
    CU_ASSERT_EQUAL(c->workers, 3);
    CU_ASSERT_EQUAL(c->max_connections, 100);
    CU_ASSERT_STRING_EQUAL(c->user, "nobody");
    CU_ASSERT_EQUAL(c->uid, getpwnam("nobody")->pw_uid);
    CU_ASSERT_EQUAL(c->gid, getgrnam("nogroup")->gr_gid);
    CU_ASSERT_EQUAL(c->svcs[0].max_connections, 7);
    conf_free(c);
    c = load_ok("[superd]\nworkers = auto\nuser = nobody\n" ECHO_SVC);
    if (!c)
        return;
    CU_ASSERT_EQUAL(c->workers, (int)sysconf(_SC_NPROCESSORS_ONLN));
    /* No group: the user's primary group. */
    CU_ASSERT_EQUAL(c->gid, getpwnam("nobody")->pw_gid);
    conf_free(c);
}

static void test_unknown_global_key(void)
{
    load_bad("[superd]\nworkers = 1\nplugin_path = x\n" ECHO_SVC, -EINVAL,
             PATH ":3: [superd] plugin_path: unknown key");
}

static void test_bad_global_values(void)
{
    load_bad("[superd]\nworkers = 0\n" ECHO_SVC, -EINVAL,
             PATH ":2: [superd] workers: '0' is not auto or a number from 1 to 64");
    load_bad("[superd]\nworkers = 65\n" ECHO_SVC, -EINVAL,
             PATH ":2: [superd] workers: '65' is not auto or a number from 1 to 64");
    load_bad("[superd]\nworkers = many\n" ECHO_SVC, -EINVAL,
             PATH ":2: [superd] workers: 'many' is not auto or a number from 1 to 64");
    load_bad("[superd]\nmax_connections = -1\n" ECHO_SVC, -EINVAL,
             PATH ":2: [superd] max_connections: '-1' is not a positive number");
    load_bad("[superd]\nuser = no-such-user-here\n" ECHO_SVC, -ENOENT,
             PATH ":2: [superd] user: no such user 'no-such-user-here'");
    load_bad("[superd]\ngroup = no-such-group-here\n" ECHO_SVC, -ENOENT,
             PATH ":2: [superd] group: no such group 'no-such-group-here'");
    load_bad("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:7000\nmax_connections = 0\n", -EINVAL,
             PATH ":4: [echo] max_connections: '0' is not a positive number");
    load_bad("[superd]\nlog = file\n" ECHO_SVC, -EINVAL,
             PATH ":2: [superd] log: 'file' is not stderr or syslog");
    load_bad("[superd]\nlog_level = verbose\n" ECHO_SVC, -EINVAL,
             PATH ":2: [superd] log_level: 'verbose' is not err, warning, notice, info or debug");
}

static void test_bad_service_values(void)
{
    load_bad(ECHO_SVC "enabled = maybe\n", -EINVAL, PATH ":4: [echo] enabled: 'maybe' is not yes or no");
    load_bad(ECHO_SVC "backlog = 0\n", -EINVAL,
             PATH ":4: [echo] backlog: '0' is not a number from 1 to 65535");
    load_bad(ECHO_SVC "backlog = 65536\n", -EINVAL,
             PATH ":4: [echo] backlog: '65536' is not a number from 1 to 65535");
    load_bad(ECHO_SVC "backlog = 12x\n", -EINVAL,
             PATH ":4: [echo] backlog: '12x' is not a number from 1 to 65535");
    load_bad(ECHO_SVC "socket_mode = 0999\n", -EINVAL,
             PATH ":4: [echo] socket_mode: '0999' is not an octal mode such as 0660");
    load_bad(ECHO_SVC "socket_mode = 01777\n", -EINVAL,
             PATH ":4: [echo] socket_mode: '01777' is not an octal mode such as 0660");
}

static void test_duplicate_key(void)
{
    load_bad("[echo]\nplugin = echo\nplugin = discard\nlisten = tcp://127.0.0.1:7000\n", -EEXIST,
             PATH ":3: [echo] plugin: given twice (first at line 2)");
    load_bad("[superd]\nlog = stderr\n\nlog = syslog\n" ECHO_SVC, -EEXIST,
             PATH ":4: [superd] log: given twice (first at line 2)");
    /* A plugin's key too. */
    load_bad(ECHO_SVC "format = a\nformat = b\n", -EEXIST,
             PATH ":5: [echo] format: given twice (first at line 4)");
}

static void test_duplicate_section(void)
{
    load_bad(ECHO_SVC "[other]\nplugin = x\nlisten = tcp://127.0.0.1:1\n[echo]\n", -EEXIST,
             PATH ":7: [echo] section given twice (first at line 1)");
}

static void test_empty_value(void)
{
    load_bad("[echo]\nplugin =\nlisten = tcp://127.0.0.1:7000\n", -EINVAL,
             PATH ":2: [echo] plugin: empty value");
    load_bad("[superd]\nlog_level =   \n" ECHO_SVC, -EINVAL,
             PATH ":2: [superd] log_level: empty value");
}

static void test_key_outside_section(void)
{
    load_bad("; top\nplugin = echo\n" ECHO_SVC, -EINVAL,
             PATH ":2: plugin: key outside of any section");
}

static void test_syntax_error(void)
{
    load_bad(ECHO_SVC "this line has no equals sign\n", -EINVAL,
             PATH ":4: [echo] syntax error: expected [section] or key = value");
    load_bad("[echo\n", -EINVAL, PATH ":1: syntax error: '[' without ']'");
    load_bad("[]\n" ECHO_SVC, -EINVAL, PATH ":1: empty section name");
}

/*
 * A syntax error is reported like any other error: the first in the file
 * wins, and the message names the section the bad line is in.
 */
static void test_syntax_error_first_and_in_its_section(void)
{
    load_bad("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:7000\noops\n"
             "[other]\nplugin = x\nlisten = tcp://127.0.0.1:7001\n", -EINVAL,
             PATH ":4: [echo] syntax error: expected [section] or key = value");
    load_bad("[echo\nplugin = echo\n", -EINVAL, PATH ":1: syntax error: '[' without ']'");
    load_bad(ECHO_SVC "oops\nbacklog = 0\n", -EINVAL,
             PATH ":4: [echo] syntax error: expected [section] or key = value");
}

static void test_bad_duration_key(void)
{
    load_bad("[superd]\nshutdown_timeout = 5x\n" ECHO_SVC, -EINVAL,
             PATH ":2: [superd] shutdown_timeout: bad duration '5x' (examples: 250ms, 30s, 5m, 1h)");
    load_bad("[superd]\nshutdown_timeout = 1.5s\n" ECHO_SVC, -EINVAL,
             PATH ":2: [superd] shutdown_timeout: bad duration '1.5s' (examples: 250ms, 30s, 5m, 1h)");
    load_bad("[superd]\nshutdown_timeout = -1s\n" ECHO_SVC, -EINVAL,
             PATH ":2: [superd] shutdown_timeout: bad duration '-1s' (examples: 250ms, 30s, 5m, 1h)");
    load_bad("[superd]\nshutdown_timeout = 5000h\n" ECHO_SVC, -EINVAL,
             PATH ":2: [superd] shutdown_timeout: bad duration '5000h' (examples: 250ms, 30s, 5m, 1h)");
}

static void test_long_section_name(void)
{
    char *sec = repeat('s', 50);
    char text[256], want[256];
    snprintf(text, sizeof text, ECHO_SVC "[%s]\nplugin = x\n", sec);
    snprintf(want, sizeof want, PATH ":4: section name '%s' longer than 49 characters", sec);
    load_bad(text, -ENAMETOOLONG, want);
    free(sec);
}

static void test_long_key(void)
{
    char *key = repeat('k', 50);
    char text[256], want[256];
    snprintf(text, sizeof text, ECHO_SVC "%s = 1\n", key);
    snprintf(want, sizeof want, PATH ":4: [echo] key '%s' longer than 49 characters", key);
    load_bad(text, -ENAMETOOLONG, want);
    /* Blanks before the '=' are not part of the key. */
    char *key49 = repeat('k', 49);
    snprintf(text, sizeof text, ECHO_SVC "%s     = 1\n", key49);
    struct conf *c = load_ok(text);
    conf_free(c);
    free(key);
    free(key49);
}

static void test_long_line(void)
{
    char *val = repeat('v', 199 - 4);
    char text[1024];
    snprintf(text, sizeof text, ECHO_SVC "x = %s\n", val);
    load_bad(text, -E2BIG, PATH ":4: [echo] line longer than 198 characters");
    /* The last line, with no newline, counts the same. */
    snprintf(text, sizeof text, ECHO_SVC "x = %s", val);
    load_bad(text, -E2BIG, PATH ":4: [echo] line longer than 198 characters");
    free(val);
}

static void test_missing_plugin_or_listen(void)
{
    load_bad("[superd]\nlog = stderr\n\n[echo]\nlisten = tcp://127.0.0.1:7000\n", -EINVAL,
             PATH ":4: [echo] plugin: missing (every service needs plugin = NAME or program = PATH)");
    load_bad(ECHO_SVC "[daytime]\nplugin = daytime\n", -EINVAL,
             PATH ":4: [daytime] listen: missing (every service needs listen = ADDRESS)");
}

static void test_same_address_in_two_services(void)
{
    load_bad(ECHO_SVC "\n[other]\nplugin = x\nlisten = unix:/tmp/o.sock tcp://127.0.0.1:10007\n",
             -EADDRINUSE,
             PATH ":7: [other] listen: tcp 127.0.0.1:10007 already used by [echo] at line 3");
    /* `*` includes 0.0.0.0. */
    load_bad("[a]\nplugin = x\nlisten = udp://*:5000\n[b]\nplugin = y\nlisten = udp://0.0.0.0:5000\n",
             -EADDRINUSE,
             PATH ":6: [b] listen: udp 0.0.0.0:5000 already used by [a] at line 3");
    load_bad("[a]\nplugin = x\nlisten = unix:@abs\n[b]\nplugin = y\nlisten = unix:@abs\n",
             -EADDRINUSE,
             PATH ":6: [b] listen: unix @abs already used by [a] at line 3");
}

/* The same address twice in one service is the same mistake as in two
 * (only a host name resolving to one address twice is folded). */
static void test_same_address_twice_in_one_service(void)
{
    load_bad("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:7000\nlisten = tcp://127.0.0.1:7000\n",
             -EADDRINUSE,
             PATH ":4: [echo] listen: tcp 127.0.0.1:7000 already used by [echo] at line 3");
    load_bad("[echo]\nplugin = echo\nlisten = udp://*:7000 udp://0.0.0.0:7000\n", -EADDRINUSE,
             PATH ":3: [echo] listen: udp 0.0.0.0:7000 already used by [echo] at line 3");
}

static void test_no_enabled_service(void)
{
    load_bad("", -ENOENT, PATH ": no enabled service");
    load_bad("[superd]\nlog = stderr\n", -ENOENT, PATH ": no enabled service");
    load_bad("[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:7\nenabled = off\n", -ENOENT,
             PATH ": no enabled service");
}

/* The first error is the one reported. */
static void test_first_error_wins(void)
{
    load_bad("[superd]\nlog = nowhere\nworkers = 8\n[echo]\n", -EINVAL,
             PATH ":2: [superd] log: 'nowhere' is not stderr or syslog");
}

static void test_parse_duration(void)
{
    static const struct { const char *s; unsigned ms; } good[] = {
        { "0", 0 }, { "250ms", 250 }, { "30s", 30000 }, { "5m", 300000 }, { "1h", 3600000 },
        { "10", 10000 }, { "0ms", 0 }, { "4294967295ms", 4294967295u },
        { "4294967s", 4294967000u }, { "1193h", 4294800000u },
    };
    static const struct { const char *s; int rc; } bad[] = {
        { "", -EINVAL }, { "s", -EINVAL }, { "ms", -EINVAL }, { "-1", -EINVAL },
        { "+1s", -EINVAL }, { " 1s", -EINVAL }, { "1 s", -EINVAL }, { "1.5s", -EINVAL },
        { "1S", -EINVAL }, { "1d", -EINVAL }, { "1sec", -EINVAL }, { "1s ", -EINVAL },
        { "4294967296ms", -ERANGE }, { "4294968s", -ERANGE }, { "1194h", -ERANGE },
        { "99999999999999999999999", -ERANGE },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        unsigned ms = 12345;
        int r = conf_parse_duration(good[i].s, &ms);
        char what[128];
        snprintf(what, sizeof what, "%s -> %d, %u ms", good[i].s, r, ms);
        char want[128];
        snprintf(want, sizeof want, "%s -> 0, %u ms", good[i].s, good[i].ms);
        ASSERT_STR(what, want);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned ms = 12345;
        int r = conf_parse_duration(bad[i].s, &ms);
        char what[128], want[128];
        snprintf(what, sizeof what, "'%s' -> %d, %u ms", bad[i].s, r, ms);
        snprintf(want, sizeof want, "'%s' -> %d, 12345 ms", bad[i].s, bad[i].rc);
        ASSERT_STR(what, want);
    }
}

static void test_parse_bool(void)
{
    static const char *const yes[] = { "yes", "YES", "True", "on", "1" };
    static const char *const no[] = { "no", "No", "false", "OFF", "0" };
    static const char *const bad[] = { "", "y", "n", "2", "yess", "enabled", " yes", "-1" };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        bool v = false;
        CU_ASSERT_EQUAL(conf_parse_bool(yes[i], &v), 0);
        CU_ASSERT_TRUE(v);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        bool v = true;
        CU_ASSERT_EQUAL(conf_parse_bool(no[i], &v), 0);
        CU_ASSERT_FALSE(v);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool v = true;
        CU_ASSERT_EQUAL(conf_parse_bool(bad[i], &v), -EINVAL);
        CU_ASSERT_TRUE(v);     /* untouched */
    }
}

/* ---- real files ---- */

static char tmpdir[64];

static int files_setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/superd-unit-conf-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int files_cleanup(void)
{
    return rmdir(tmpdir) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fwrite(data, 1, len, f), len);
    CU_ASSERT_EQUAL(fclose(f), 0);
}

static void test_load_file(void)
{
    char path[128], want[256];
    snprintf(path, sizeof path, "%s/superd.ini", tmpdir);
    const char *text = "[echo]\nplugin = echo\nlisten = unix:echo.sock\n";
    write_file(path, text, strlen(text));
    struct conf *c = NULL;
    err[0] = '\0';
    int r = conf_load(path, &c, err, sizeof err);
    unlink(path);
    ASSERT_STR(err, "");
    CU_ASSERT_EQUAL_FATAL(r, 0);
    ASSERT_STR(c->path, path);
    ASSERT_STR(c->dir, tmpdir);
    snprintf(want, sizeof want, "unix %s/echo.sock", tmpdir);
    ASSERT_STR(c->svcs[0].addrs[0].text, want);
    conf_free(c);
}

static void test_load_file_errors_name_it(void)
{
    char path[128], want[256];
    snprintf(path, sizeof path, "%s/bad.ini", tmpdir);
    const char *text = "[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:0\n";
    write_file(path, text, strlen(text));
    struct conf *c = NULL;
    int r = conf_load(path, &c, err, sizeof err);
    snprintf(want, sizeof want, "%s:3: [echo] listen: port 0 out of range", path);
    ASSERT_STR(err, want);
    CU_ASSERT_EQUAL(r, -ERANGE);
    write_file(path, "[echo]\0\n", 8);
    r = conf_load(path, &c, err, sizeof err);
    snprintf(want, sizeof want, "%s: not a text file (contains a NUL byte)", path);
    ASSERT_STR(err, want);
    CU_ASSERT_EQUAL(r, -EINVAL);
    unlink(path);
}

static void test_load_missing_file(void)
{
    char path[128], want[256];
    snprintf(path, sizeof path, "%s/nope.ini", tmpdir);
    struct conf *c = NULL;
    int r = conf_load(path, &c, err, sizeof err);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
    ASSERT_STR(err, want);
    CU_ASSERT_EQUAL(r, -ENOENT);
    CU_ASSERT_PTR_NULL(c);
}

static void test_load_huge_file(void)
{
    char path[128], want[256];
    snprintf(path, sizeof path, "%s/huge.ini", tmpdir);
    size_t len = 4 * 1024 * 1024 + 1;
    char *text = malloc(len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    memset(text, '\n', len);
    write_file(path, text, len);
    free(text);
    struct conf *c = NULL;
    int r = conf_load(path, &c, err, sizeof err);
    unlink(path);
    snprintf(want, sizeof want, "%s: file larger than 4 MiB", path);
    ASSERT_STR(err, want);
    CU_ASSERT_EQUAL(r, -EFBIG);
}

/* ---- limits and access control (docs/configuration.md) ---- */

static void test_limit_defaults(void)
{
    struct conf *c = load_ok(ECHO_SVC);
    if (!c)
        return;
    CU_ASSERT_FALSE(c->only_from.set);
    CU_ASSERT_FALSE(c->no_access.set);
    CU_ASSERT_EQUAL_FATAL(c->nsvcs, 1);
    const struct conf_service *s = &c->svcs[0];
    CU_ASSERT_FALSE(s->only_from.set);
    CU_ASSERT_FALSE(s->no_access.set);
    CU_ASSERT_EQUAL(s->max_connections, 0);
    CU_ASSERT_EQUAL(s->max_per_source, 0);
    CU_ASSERT_EQUAL(s->rate_limit.count, 0);
    CU_ASSERT_EQUAL(s->udp_reply_rate.count, 0);
    /* idle 5m, lifetime 1h, loop protection on. */
    CU_ASSERT_EQUAL(s->idle_timeout_ms, 5 * 60 * 1000);
    CU_ASSERT_EQUAL(s->max_lifetime_ms, 60 * 60 * 1000);
    CU_ASSERT_EQUAL(CONF_IDLE_TIMEOUT_MS, 300000);
    CU_ASSERT_EQUAL(CONF_MAX_LIFETIME_MS, 3600000);
    CU_ASSERT(s->udp_guard);
    CU_ASSERT_FALSE(s->log_connections);
    conf_free(c);
}

static void test_limit_keys(void)
{
    struct conf *c = load_ok(
        "[superd]\n"
        "only_from = 127.0.0.0/8 ::1\n"
        "no_access = 127.0.0.3/32, 2001:db8::/32\n"
        "[echo]\n"
        "plugin = echo\n"
        "listen = tcp://127.0.0.1:10007 udp://127.0.0.1:10007\n"
        "only_from = 192.0.2.0/24\n"
        "no_access = 192.0.2.7\n"
        "max_per_source = 2\n"
        "rate_limit = 3/s\n"
        "idle_timeout = 300ms\n"
        "max_lifetime = 2h\n"
        "udp_guard = no\n"
        "udp_reply_rate = 10/m\n"
        "[daytime]\n"
        "plugin = daytime\n"
        "listen = udp://127.0.0.1:10013\n"
        "rate_limit = none\n"
        "idle_timeout = 0\n"
        "max_lifetime = 0\n"
        "udp_guard = on\n"
        "udp_reply_rate = 1000000000/s\n");
    if (!c)
        return;
    CU_ASSERT(c->only_from.set);
    ASSERT_STR(c->only_from.text, "127.0.0.0/8 ::1");
    CU_ASSERT_EQUAL(c->only_from.n, 2);
    CU_ASSERT(c->no_access.set);
    ASSERT_STR(c->no_access.text, "127.0.0.3/32, 2001:db8::/32");
    CU_ASSERT_EQUAL(c->no_access.n, 2);
    CU_ASSERT_EQUAL_FATAL(c->nsvcs, 2);
    const struct conf_service *e = &c->svcs[0], *d = &c->svcs[1];
    CU_ASSERT(e->only_from.set);
    ASSERT_STR(e->only_from.text, "192.0.2.0/24");
    CU_ASSERT_EQUAL(e->only_from.n, 1);
    CU_ASSERT(e->no_access.set);
    ASSERT_STR(e->no_access.text, "192.0.2.7");
    CU_ASSERT_EQUAL(e->max_per_source, 2);
    CU_ASSERT_EQUAL(e->rate_limit.count, 3);
    CU_ASSERT_EQUAL(e->rate_limit.per_ms, 1000);
    CU_ASSERT_EQUAL(e->idle_timeout_ms, 300);
    CU_ASSERT_EQUAL(e->max_lifetime_ms, 2 * 3600 * 1000);
    CU_ASSERT_FALSE(e->udp_guard);
    CU_ASSERT_EQUAL(e->udp_reply_rate.count, 10);
    CU_ASSERT_EQUAL(e->udp_reply_rate.per_ms, 60000);
    /* A service that sets no list keeps none of its own. */
    CU_ASSERT_FALSE(d->only_from.set);
    CU_ASSERT_FALSE(d->no_access.set);
    CU_ASSERT_EQUAL(d->rate_limit.count, 0);
    CU_ASSERT_EQUAL(d->idle_timeout_ms, 0);
    CU_ASSERT_EQUAL(d->max_lifetime_ms, 0);
    CU_ASSERT(d->udp_guard);
    CU_ASSERT_EQUAL(d->udp_reply_rate.count, 1000000000u);
    CU_ASSERT_EQUAL(d->udp_reply_rate.per_ms, 1000);
    conf_free(c);
}

static void test_bad_access_lists(void)
{
    load_bad(ECHO_SVC "only_from = localhost\n", -EINVAL,
             PATH ":4: [echo] only_from: 'localhost' is not an address or CIDR block "
             "(host names are not allowed)");
    load_bad(ECHO_SVC "no_access = 127.0.0.1 10.1.2.3/8\n", -EINVAL,
             PATH ":4: [echo] no_access: '10.1.2.3/8' has host bits set (did you mean "
             "10.0.0.0/8?)");
    load_bad(ECHO_SVC "only_from = 10.0.0.0/33\n", -EINVAL,
             PATH ":4: [echo] only_from: '10.0.0.0/33': prefix length must be 0 to 32");
    load_bad(ECHO_SVC "only_from = ::/129\n", -EINVAL,
             PATH ":4: [echo] only_from: '::/129': prefix length must be 0 to 128");
    load_bad("[superd]\nonly_from = example.com\n" ECHO_SVC, -EINVAL,
             PATH ":2: [superd] only_from: 'example.com' is not an address or CIDR block "
             "(host names are not allowed)");
    load_bad("[superd]\nno_access = 127.0.0.1/\n" ECHO_SVC, -EINVAL,
             PATH ":2: [superd] no_access: '127.0.0.1/': prefix length must be 0 to 32");
    load_bad(ECHO_SVC "only_from = 127.0.0.1\nonly_from = ::1\n", -EEXIST,
             PATH ":5: [echo] only_from: given twice (first at line 4)");
}

/* A list with no address in it (only separators) would refuse every peer
 * (only_from) or nobody (no_access) without a word: it is refused.  (It
 * was once accepted as an empty list that refused every client.) */
static void test_access_list_without_address(void)
{
    load_bad(ECHO_SVC "only_from = ,\n", -EINVAL,
             PATH ":4: [echo] only_from: no address or CIDR block given");
    load_bad(ECHO_SVC "no_access = , ,\n", -EINVAL,
             PATH ":4: [echo] no_access: no address or CIDR block given");
    load_bad("[superd]\nonly_from = ,\n" ECHO_SVC, -EINVAL,
             PATH ":2: [superd] only_from: no address or CIDR block given");
}

static void test_bad_limit_values(void)
{
    load_bad(ECHO_SVC "max_per_source = 0\n", -EINVAL,
             PATH ":4: [echo] max_per_source: '0' is not a positive number");
    load_bad(ECHO_SVC "max_per_source = -2\n", -EINVAL,
             PATH ":4: [echo] max_per_source: '-2' is not a positive number");
    load_bad(ECHO_SVC "max_per_source = 2x\n", -EINVAL,
             PATH ":4: [echo] max_per_source: '2x' is not a positive number");
    load_bad(ECHO_SVC "max_per_source = 99999999999999999999\n", -EINVAL,
             PATH ":4: [echo] max_per_source: '99999999999999999999' is not a positive number");
    static const char *const bad_rates[] = {
        "0/s", "3", "3/h", "3/S", "/s", "-3/s", "3 /s", "3/s/s", "03/s", "1000000001/s",
        "99999999999999999999/s", "3/sec", "three/s",
    };
    for (size_t i = 0; i < sizeof bad_rates / sizeof bad_rates[0]; i++) {
        char text[256], want[256];
        snprintf(text, sizeof text, ECHO_SVC "rate_limit = %s\n", bad_rates[i]);
        snprintf(want, sizeof want, PATH ":4: [echo] rate_limit: '%s' is not N/s, N/m or none",
                 bad_rates[i]);
        load_bad(text, -EINVAL, want);
        snprintf(text, sizeof text, ECHO_SVC "udp_reply_rate = %s\n", bad_rates[i]);
        snprintf(want, sizeof want,
                 PATH ":4: [echo] udp_reply_rate: '%s' is not N/s, N/m or none or off",
                 bad_rates[i]);
        load_bad(text, -EINVAL, want);
    }
    static const char *const bad_durations[] = { "5x", "1.5s", "-1s", "5000h", "ms", "1d", "5 m" };
    for (size_t i = 0; i < sizeof bad_durations / sizeof bad_durations[0]; i++) {
        char text[256], want[256];
        snprintf(text, sizeof text, ECHO_SVC "idle_timeout = %s\n", bad_durations[i]);
        snprintf(want, sizeof want, PATH ":4: [echo] idle_timeout: bad duration '%s' "
                 "(examples: 250ms, 30s, 5m, 1h; 0 for none)", bad_durations[i]);
        load_bad(text, -EINVAL, want);
        snprintf(text, sizeof text, ECHO_SVC "max_lifetime = %s\n", bad_durations[i]);
        snprintf(want, sizeof want, PATH ":4: [echo] max_lifetime: bad duration '%s' "
                 "(examples: 250ms, 30s, 5m, 1h; 0 for none)", bad_durations[i]);
        load_bad(text, -EINVAL, want);
    }
    load_bad(ECHO_SVC "udp_guard = maybe\n", -EINVAL,
             PATH ":4: [echo] udp_guard: 'maybe' is not yes or no");
    load_bad(ECHO_SVC "udp_guard = 2\n", -EINVAL, PATH ":4: [echo] udp_guard: '2' is not yes or no");
    load_bad(ECHO_SVC "log_connections = sometimes\n", -EINVAL,
             PATH ":4: [echo] log_connections: 'sometimes' is not yes or no");
}

/* The per-service limits are not [superd] keys. */
static void test_limit_keys_not_global(void)
{
    static const char *const keys[] = {
        "max_per_source = 2", "rate_limit = 3/s", "idle_timeout = 1s", "max_lifetime = 1s",
        "udp_guard = no", "udp_reply_rate = 5/s",
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char text[256], want[256], key[64];
        snprintf(text, sizeof text, "[superd]\n%s\n" ECHO_SVC, keys[i]);
        snprintf(key, sizeof key, "%.*s", (int)strcspn(keys[i], " "), keys[i]);
        snprintf(want, sizeof want, PATH ":2: [superd] %s: unknown key", key);
        load_bad(text, -EINVAL, want);
    }
}

/* The limit keys repeated: refused like every other key. */
static void test_limit_keys_twice(void)
{
    load_bad(ECHO_SVC "rate_limit = 3/s\nrate_limit = 4/s\n", -EEXIST,
             PATH ":5: [echo] rate_limit: given twice (first at line 4)");
    load_bad(ECHO_SVC "idle_timeout = 3s\n\nidle_timeout = 4s\n", -EEXIST,
             PATH ":6: [echo] idle_timeout: given twice (first at line 4)");
    load_bad("[superd]\nno_access = ::1\nno_access = ::2\n" ECHO_SVC, -EEXIST,
             PATH ":3: [superd] no_access: given twice (first at line 2)");
}

static void test_parse_rate(void)
{
    static const struct { const char *s; unsigned count, per_ms; } good[] = {
        { "1/s", 1, 1000 }, { "3/s", 3, 1000 }, { "10/m", 10, 60000 },
        { "1000000000/s", 1000000000u, 1000 }, { "none", 0, 0 },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct conf_rate r = { 7, 7 };
        char what[128], want[128];
        int rc = conf_parse_rate(good[i].s, &r);
        snprintf(what, sizeof what, "%s -> %d, %u/%u ms", good[i].s, rc, r.count, r.per_ms);
        snprintf(want, sizeof want, "%s -> 0, %u/%u ms", good[i].s, good[i].count, good[i].per_ms);
        ASSERT_STR(what, want);
    }
    static const char *const bad[] = { "", "0/s", "3", "3/h", "/s", "-1/s", "1/s ", " 1/s", "None" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct conf_rate r = { 7, 7 };
        char what[128], want[128];
        int rc = conf_parse_rate(bad[i], &r);
        snprintf(what, sizeof what, "'%s' -> %d, %u/%u ms", bad[i], rc, r.count, r.per_ms);
        snprintf(want, sizeof want, "'%s' -> %d, 7/7 ms", bad[i], -EINVAL);
        ASSERT_STR(what, want);
    }
}

int test_core_config_register(void)
{
    static const struct tc_test tests[] = {
        { "every key of [superd] and of a service", test_every_key },
        { "udp_reply_rate = off and none", test_udp_reply_rate_off },
        { "defaults", test_defaults },
        { "relative paths resolved against the file's directory", test_paths_resolved },
        { "listen *: 0.0.0.0 and ::", test_listen_star },
        { "listen [IPv6] and /etc/services names", test_listen_ipv6_and_service_names },
        { "listen unix, unix-dgram, @abstract, relative path", test_listen_unix_kinds },
        { "listen repeated, several addresses a line", test_listen_repeated_across_lines },
        { "enabled = no skips the service's checks", test_disabled_service_not_checked },
        { "plugin options kept with their lines", test_plugin_options_kept },
        { "comments, blank lines, CRLF", test_comments_and_crlf },
        { "the DESIGN's example, inline comments", test_design_example },
        { "49-character names, 198-character lines accepted whole", test_longest_names_and_line },
        { "198-character CRLF line stays in inih's buffer",
          test_line_reader_stays_in_buffer },
        { "bad listen address", test_bad_listen },
        { "unknown global key", test_unknown_global_key },
        { "bad global values", test_bad_global_values },
        { "workers, user, group, max_connections", test_workers_user_limits },
        { "bad service values", test_bad_service_values },
        { "duplicate key", test_duplicate_key },
        { "duplicate section", test_duplicate_section },
        { "empty value", test_empty_value },
        { "key outside any section", test_key_outside_section },
        { "syntax errors", test_syntax_error },
        { "syntax error reported first, in its own section",
          test_syntax_error_first_and_in_its_section },
        { "bad durations", test_bad_duration_key },
        { "section name longer than 49", test_long_section_name },
        { "key longer than 49", test_long_key },
        { "line longer than 198", test_long_line },
        { "missing plugin, missing listen", test_missing_plugin_or_listen },
        { "same address in two services", test_same_address_in_two_services },
        { "same address twice in one service", test_same_address_twice_in_one_service },
        { "no enabled service", test_no_enabled_service },
        { "the first error is reported", test_first_error_wins },
        { "conf_parse_duration", test_parse_duration },
        { "conf_parse_bool", test_parse_bool },
        { "limits: defaults (idle 5m, lifetime 1h, udp_guard yes)", test_limit_defaults },
        { "limits: every key, global and per service", test_limit_keys },
        { "limits: bad only_from / no_access", test_bad_access_lists },
        { "limits: a list with no address in it", test_access_list_without_address },
        { "limits: bad values", test_bad_limit_values },
        { "limits: per-service keys are unknown in [superd]", test_limit_keys_not_global },
        { "limits: a key given twice", test_limit_keys_twice },
        { "conf_parse_rate", test_parse_rate },
    };
    static const struct tc_test file_tests[] = {
        { "conf_load a file: path as given, its directory", test_load_file },
        { "conf_load errors name the file", test_load_file_errors_name_it },
        { "conf_load a missing file", test_load_missing_file },
        { "conf_load a file over 4 MiB", test_load_huge_file },
    };
    if (tc_register("core: config", NULL, NULL, tests, sizeof tests / sizeof tests[0]) < 0)
        return -1;
    CU_pSuite s = CU_add_suite("core: config files", files_setup, files_cleanup);
    if (!s)
        return -1;
    for (size_t i = 0; i < sizeof file_tests / sizeof file_tests[0]; i++)
        if (!CU_add_test(s, file_tests[i].name, file_tests[i].fn))
            return -1;
    return 0;
}
