/*
 * integration_logescape.c - text a client chooses reaches the log escaped:
 * a control byte (a newline, an escape) is written as \xHH, so a client can
 * neither forge a log line nor drive the reader's terminal.
 *
 * Linked into build/tests/integration (IT_REGISTER); IT_ONLY=log runs it.
 * The client is a unix socket bound to an abstract name with a newline and
 * an ANSI escape in it; with log_connections = yes superd logs that name.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define ESC_LOG_MS 5000

/* The first line of stderr that starts with prefix, within ESC_LOG_MS. */
static char *wait_prefix(struct it_daemon *d, const char *prefix)
{
    int64_t deadline = it_now_ms() + ESC_LOG_MS;

    for (;;) {
        char *err = it_stderr(d), *line;
        for (char *p = err; (line = strstr(p, prefix)) != NULL; p = line + 1) {
            char *nl = strchr(line, '\n');
            if ((line == err || line[-1] == '\n') && nl) {
                *nl = '\0';
                return line;
            }
        }
        if (!it_left_ms(deadline)) {
            printf("\n    no line starting \"%s\"; stderr:\n%s", prefix, err);
            return NULL;
        }
        it_sleep_ms(10);
    }
}

/* Connect to the unix stream socket at path from a socket bound to the
 * abstract name `name` (len bytes, no leading NUL), echo "hi", close.  1 when
 * the echo came back. */
static int echo_from_abstract(const char *path, const char *name, size_t len)
{
    struct sockaddr_un me = { .sun_family = AF_UNIX }, to = { .sun_family = AF_UNIX };
    struct timeval tv = { .tv_sec = 5 };
    char buf[8];
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

    if (fd < 0)
        return 0;
    memcpy(me.sun_path + 1, name, len);
    snprintf(to.sun_path, sizeof(to.sun_path), "%s", path);
    /* Blocking, but every call is bounded. */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    ok = bind(fd, (struct sockaddr *)&me, (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
                                                       1 + len)) == 0 &&
         connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0 && write(fd, "hi", 2) == 2 &&
         read(fd, buf, sizeof(buf)) == 2 && !memcmp(buf, "hi", 2);
    close(fd);
    return ok;
}

static void test_log_escapes_peer_name(void)
{
    char *sock = it_path("esc.sock"), *line, *err;
    /* A name that ends the line and forges the next one, in red. */
    static const char name[] = "evil\nsuperd: [echo] forged\x1b[31m";
    struct it_daemon *d = it_alloc(sizeof(*d));
    int ok, st;

    ok = it_start(d, it_conf(it_printf("[echo]\nplugin = echo\nlisten = unix:%s\n"
                                        "log_connections = yes\n", sock))) == 0;
    CU_ASSERT_FATAL(ok);
    CU_ASSERT(echo_from_abstract(sock, name, sizeof(name) - 1));
    line = wait_prefix(d, "superd: [echo] unix:@evil");
    CU_ASSERT_FATAL(line != NULL);
    CU_ASSERT(strstr(line, "superd: [echo] unix:@evil\\x0asuperd: [echo] forged\\x1b[31m: "
                           "closed after ") == line);
    st = it_stop(d, SIGTERM);
    CU_ASSERT(it_exited(st, 0));
    err = it_stderr(d);
    CU_ASSERT(strstr(err, "\nsuperd: [echo] forged") == NULL);
    CU_ASSERT(strchr(err, '\x1b') == NULL);
}

static const struct it_test logescape_tests[] = {
    { "log: a peer's control bytes are escaped (no forged line)", test_log_escapes_peer_name },
};

IT_REGISTER(logescape_tests)
