/*
 * integration_util.h - helpers for the integration tests: start the real
 * superd binary on loopback, talk to it, and always stop it again.
 *
 * Every resource a test takes (daemon processes, descriptors, memory, files
 * in its private directory) is recorded here and released by
 * it_test_teardown(), which CUnit runs after each test however it ended, so
 * a failed assertion never leaves a daemon, a socket or a file behind.
 * Every wait is bounded by a deadline; nothing here blocks forever.
 */
#ifndef SUPERD_INTEGRATION_UTIL_H
#define SUPERD_INTEGRATION_UTIL_H

#include <CUnit/CUnit.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Deadlines, in milliseconds.  Generous: a sanitizer build is slow.  They
 * bound waits; no test asserts that anything is fast. */
#define IT_OP_MS 5000     /* one network operation */
#define IT_START_MS 15000 /* superd -c FILE until "superd: ready" */
#define IT_STOP_MS 10000  /* SIGTERM until exit */
#define IT_RUN_MS 15000   /* superd -t, -V, or a start that must fail */
#define IT_TEST_MS 20000  /* all network operations of one test together */

/* The shared test pattern: IT_PATTERN_LEN bytes, byte i is it_pat(i). */
#define IT_PATTERN_LEN (4u << 20)
extern uint8_t *it_pattern;
uint8_t it_pat(size_t i);

extern char it_superd[];     /* absolute path of BUILD/superd */
extern char it_plugin_dir[]; /* absolute path of BUILD/plugins */
extern char it_dir[];        /* the running test's private directory */

/* Once per program: resolve BUILD, build the pattern.  0 or -1. */
int it_global_init(const char *build);
void it_global_fini(void);

/* CUnit per-test setup and teardown (see the file comment). */
void it_test_setup(void);
void it_test_teardown(void);

/* ---- time ---- */
int64_t it_now_ms(void);
int it_left_ms(int64_t deadline); /* >= 0 */
void it_sleep_ms(int ms);

/* ---- resources released at teardown ---- */
void *it_alloc(size_t n); /* zeroed */
char *it_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *it_path(const char *name); /* it_dir/name */
int it_track_fd(int fd);         /* returns fd */
void it_close(int fd);           /* close now */

/* ---- files and text ---- */
int it_write_file(const char *path, const char *text);
char *it_read_file(const char *path); /* "" when missing; NULL never */
int it_exists(const char *path);      /* lstat() succeeds */
int it_is_socket(const char *path);
int it_line_of(const char *text, const char *needle); /* 1-based, 0 none */
int it_count_line(const char *text, const char *line); /* exact lines */
int it_count_prefix(const char *text, const char *prefix);
int it_lines(const char *text);
const char *it_last_line(const char *text); /* tracked copy, no '\n' */
/* Writes it_dir/superd.ini: [superd] with plugin_dir and the lines of
 * `global`, then body.  Returns its path. */
char *it_conf_global(const char *global, const char *body);
char *it_conf(const char *body);

/* ---- ports ---- */
enum { IT_TCP4 = 1, IT_TCP6 = 2, IT_UDP4 = 4, IT_UDP6 = 8 };
int it_have_ipv6(void);
int it_port_free(int mask, int port);
int it_free_port(int mask); /* 0 when none found */

/* ---- the daemon ---- */
struct it_daemon {
    pid_t pid;
    int reaped;
    int status;  /* wait status once reaped */
    int strays;  /* processes left in its group after it exited */
    char *conf;
    char *errpath;
    char *outpath;
};

/* Start `superd -c conf` and wait for "superd: ready".  0 when ready; -1
 * when it exited or did not get ready in time (its stderr is printed). */
int it_start(struct it_daemon *d, const char *conf);
/* Start `superd -c conf` and return at once (no wait for "ready"). */
void it_spawn(struct it_daemon *d, const char *conf);
/* When >= 0, the daemons started next get this socket as fd 3 with
 * LISTEN_PID/LISTEN_FDS=1, as systemd socket activation passes it. */
extern int it_listen_fd;
/* Send `sig` and wait for the exit; SIGKILL after IT_STOP_MS.  Returns the
 * wait status, or -1 when it had to be killed. */
int it_stop(struct it_daemon *d, int sig);
char *it_stderr(const struct it_daemon *d);
/* Sum of VmRSS in KiB over the daemon and the processes of its group. */
long it_rss_kb(pid_t pid);

/*
 * Run superd with args (NULL-terminated, without argv[0]) to completion.
 * Returns the wait status; -1 when it did not exit within IT_RUN_MS, -2
 * when it printed "superd: ready" (it was killed).  *out and *err get its
 * stdout and stderr (tracked).
 */
int it_run(const char *const *args, char **out, char **err);
int it_exited(int status, int code); /* WIFEXITED and that code */

/* ---- sockets (all non-blocking, close-on-exec, tracked) ---- */
socklen_t it_sa_inet(int family, int port, struct sockaddr_storage *ss);
socklen_t it_sa_unix(const char *path, struct sockaddr_storage *ss);
int it_tcp_connect(int family, int port); /* -1 on failure */
int it_unix_connect(const char *path);    /* "@name": abstract */
int it_tcp_listen(int family, int port);
/* Start superd on conf (fatal to the test if it does not start); the
 * daemon is freed with the test's other allocations. */
struct it_daemon *it_serve(const char *conf);
/* SIGTERM, and assert a clean exit 0 (printing the status and superd's
 * stderr otherwise). */
void it_stop_ok(struct it_daemon *d);
/* GET /metrics from the metrics endpoint on unix socket `sock`: the whole
 * answer, headers included (fatal to the test if it cannot connect). */
char *it_scrape(const char *sock);
/* Absolute path of BUILD/tests/programs/xprog, the exec tests' program. */
const char *it_xprog(void);
int it_udp_socket(int family, int port);  /* bound to loopback:port */
int it_unix_dgram(const char *bindpath);  /* bound when bindpath */

struct it_xfer {
    size_t sent, rcvd;
    int eof;      /* read returned 0 */
    long bad_at;  /* offset of the first unexpected byte, or -1 */
    int err;      /* errno of a failed send/recv, or 0 */
    int timeout;  /* the deadline passed */
};

/*
 * Write `out` (outlen bytes) while reading concurrently, with poll().  After
 * the last byte, shutdown(SHUT_WR) when `shut`.  Received bytes are compared
 * with expect[i % expect_len] when expect is set, and stored in store (up to
 * store_cap) when set.  Reading stops at EOF, when `want` bytes have arrived
 * and until_eof is 0, or at the deadline.
 */
void it_xfer(int fd, const uint8_t *out, size_t outlen, int shut,
             const uint8_t *expect, size_t expect_len, uint8_t *store,
             size_t store_cap, size_t want, int until_eof, int ms,
             struct it_xfer *x);
/* An echo round trip of len pattern bytes on a new stream connection fd;
 * prints what went wrong.  1 when every byte came back. */
int it_echo_stream(int fd, size_t len, const char *what);

/* Send a datagram and wait for one reply, resending up to `tries` times
 * (UDP may drop).  Returns the reply length, or -1. */
ssize_t it_dgram_ask(int fd, const struct sockaddr_storage *to, socklen_t tolen,
                     const void *buf, size_t len, void *reply, size_t cap,
                     int tries);
/* 1 when nothing arrives on fd within ms. */
int it_dgram_silent(int fd, int ms);

/* ---- running a suite ---- */

/* One test of a program's suite. */
struct it_test {
    const char *name;
    CU_TestFunc fn;
};

/*
 * Tests of another file linked into the same program (the Makefile links
 * every tests/integration*.c into build/tests/integration): that file says
 * IT_REGISTER(table) at file scope, and it_main runs the table after its
 * own, under the same IT_ONLY filter.  No edit of the main file needed.
 */
void it_register(const struct it_test *tests, size_t ntests);
#define IT_REGISTER(table)                                                  \
    static void __attribute__((constructor)) it_register_##table(void)      \
    {                                                                       \
        it_register(table, sizeof(table) / sizeof(table[0]));               \
    }

/*
 * The whole main() of a test program: `PROG BUILD_DIR` runs the tests
 * (those whose names contain $IT_ONLY, when set) as one CUnit suite with
 * it_test_setup/it_test_teardown, prints the summary, and returns the exit
 * status: 0 when everything passed, 1 on a failure, 2 on a usage error.
 */
int it_main(int argc, char **argv, const char *prog, const char *suite_name,
            const struct it_test *tests, size_t ntests);

#endif /* SUPERD_INTEGRATION_UTIL_H */
