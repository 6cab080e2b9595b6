/*
 * test_core_listener.c - unix socket files as the master makes them: the
 * socket_mode a file gets (at bind, and on a reload that keeps it), a
 * racer that swaps a symbolic link in at the path while we bind (the
 * target's mode must never change), and the messages for a path that is
 * in use (a full backlog must not block the probe; a path superd itself
 * holds with the other kind says so).
 *
 * Everything happens in a private directory under /tmp, removed after
 * each test; every loop is bounded in time.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "listener.h"
#include "test_core.h"

#define RACE_MS 1500      /* how long the racer runs */
#define RACE_MIN_SWAPS 20 /* swaps it must have made for the race to count */

static char dir[64];
static char err[CONF_ERR_MAX];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/superd-lsn-XXXXXX");
    if (!mkdtemp(dir))
        dir[0] = '\0';
}

static void teardown(void)
{
    if (!dir[0])
        return;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_core_listener: cannot remove %s\n", dir);
    dir[0] = '\0';
}

static char *in_dir(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
    return buf;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int mode_of(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

/* A listener on unix:path (kind ADDR_UNIX or ADDR_UNIX_DGRAM), unbound. */
static void unix_listener(struct listener *l, enum addr_kind kind, const char *path)
{
    memset(l, 0, sizeof *l);
    struct sockaddr_un *un = (struct sockaddr_un *)&l->addr.sa;
    un->sun_family = AF_UNIX;
    snprintf(un->sun_path, sizeof un->sun_path, "%s", path);
    l->addr.kind = kind;
    l->addr.salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
    snprintf(l->addr.text, sizeof l->addr.text, "%s %s", addr_kind_name(kind), path);
    l->fd = -1;
    l->w.fd = -1;
}

static struct conf *load(const char *text)
{
    struct conf *c = NULL;
    err[0] = '\0';
    int r = conf_load_string(text, "t/x.ini", &c, err, sizeof err);
    ASSERT_STR(err, "");
    CU_ASSERT_EQUAL(r, 0);
    return r == 0 ? c : NULL;
}

/* ---- the mode a socket file is made with ---- */

static void test_mode_at_bind(void)
{
    char path[128];
    struct listener l;
    mode_t saved = umask(022);
    static const int modes[] = { 0666, 0600, 0660, 0777, 0 };
    CU_ASSERT_FATAL(dir[0] != '\0');
    in_dir(path, sizeof path, "m.sock");
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        unix_listener(&l, i % 2 ? ADDR_UNIX_DGRAM : ADDR_UNIX, path);
        CU_ASSERT_EQUAL_FATAL(lsn_bind(&l, 0, modes[i], err, sizeof err), 0);
        tc_assert_long(mode_of(path), modes[i], "mode of the socket file", __LINE__, __FILE__);
        lsn_close(&l);
        CU_ASSERT_EQUAL(mode_of(path), -1);
    }
    /* No socket_mode: the umask's. */
    unix_listener(&l, ADDR_UNIX, path);
    CU_ASSERT_EQUAL_FATAL(lsn_bind(&l, 0, -1, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mode_of(path), 0755);
    lsn_close(&l);
    /* The process's umask is as it was. */
    CU_ASSERT_EQUAL(umask(saved), 022);
}

/*
 * A racer process keeps swapping a symbolic link to a victim file in at
 * the socket path (replacing the socket just bound) while we bind it over
 * and over.  Whatever the interleaving, the victim keeps its mode.
 */
static void test_symlink_race(void)
{
    char path[128], victim[128], link_tmp[128];
    CU_ASSERT_FATAL(dir[0] != '\0');
    in_dir(path, sizeof path, "race.sock");
    in_dir(victim, sizeof victim, "victim");
    in_dir(link_tmp, sizeof link_tmp, "link.tmp");
    int vfd = open(victim, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    CU_ASSERT_FATAL(vfd >= 0);
    CU_ASSERT_FATAL(fchmod(vfd, 0600) == 0);
    close(vfd);

    unsigned long *swaps = mmap(NULL, sizeof *swaps, PROT_READ | PROT_WRITE,
                                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_FATAL(swaps != MAP_FAILED);
    *swaps = 0;
    pid_t racer = fork();
    CU_ASSERT_FATAL(racer >= 0);
    if (racer == 0) {
        long long end = now_ms() + RACE_MS + 2000; /* bounded even if never killed */
        if (symlink(victim, link_tmp) < 0)
            _exit(1);
        while (now_ms() < end) {
            struct stat st;
            if (lstat(path, &st) < 0)
                continue;
            if (S_ISSOCK(st.st_mode)) {
                if (rename(link_tmp, path) == 0) {
                    __atomic_add_fetch(swaps, 1, __ATOMIC_RELAXED);
                    if (symlink(victim, link_tmp) < 0)
                        _exit(1);
                }
            } else if (S_ISLNK(st.st_mode)) {
                unlink(path); /* let the next bind find the path free */
            }
        }
        _exit(0);
    }

    unsigned long binds = 0, refused = 0;
    long long end = now_ms() + RACE_MS;
    while (now_ms() < end && mode_of(victim) == 0600) {
        struct listener l;
        unix_listener(&l, ADDR_UNIX, path);
        if (lsn_bind(&l, 0, 0666, err, sizeof err) == 0)
            binds++;
        else
            refused++;
        lsn_close(&l);
    }
    kill(racer, SIGKILL);
    waitpid(racer, NULL, 0);
    printf("\n    %lu binds, %lu refused, %lu symlinks swapped in ", binds, refused, *swaps);
    int vmode = mode_of(victim);
    tc_assert_long(vmode, 0600, "the victim's mode", __LINE__, __FILE__);
    /* The race was really run (an early loss ends it sooner). */
    if (vmode == 0600) {
        CU_ASSERT(*swaps >= RACE_MIN_SWAPS);
        CU_ASSERT(binds > 0);
    }
    munmap(swaps, sizeof *swaps);
}

/* ---- kept across a reload ---- */

static char *svc(char *buf, size_t size, const char *scheme, const char *path, const char *mode)
{
    snprintf(buf, size, "[echo]\nplugin = echo\nlisten = %s:%s\n%s%s%s", scheme, path,
             mode ? "socket_mode = " : "", mode ? mode : "", mode ? "\n" : "");
    return buf;
}

/* A reload that changes socket_mode changes the kept file's mode. */
static void test_reload_applies_mode(void)
{
    char path[128], text[512];
    struct lsn_set a, b, c;
    struct conf *c1, *c2, *c3;
    mode_t saved = umask(022);
    CU_ASSERT_FATAL(dir[0] != '\0');
    in_dir(path, sizeof path, "kept.sock");
    c1 = load(svc(text, sizeof text, "unix", path, "0600"));
    c2 = load(svc(text, sizeof text, "unix", path, "0666"));
    c3 = load(svc(text, sizeof text, "unix", path, NULL));
    CU_ASSERT_FATAL(c1 && c2 && c3);
    CU_ASSERT_EQUAL_FATAL(lsn_set_bind(&a, c1, NULL, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mode_of(path), 0600);
    struct stat before, after;
    CU_ASSERT_FATAL(lstat(path, &before) == 0);

    CU_ASSERT_EQUAL_FATAL(lsn_set_bind(&b, c2, &a, err, sizeof err), 0);
    CU_ASSERT(lsn_set_kept(&a, &b.v[0]));
    CU_ASSERT_EQUAL(mode_of(path), 0666);
    CU_ASSERT_FATAL(lstat(path, &after) == 0);
    CU_ASSERT(before.st_ino == after.st_ino); /* the same socket, not a new one */
    lsn_set_close(&a);

    /* socket_mode removed: back to the umask's mode. */
    CU_ASSERT_EQUAL_FATAL(lsn_set_bind(&c, c3, &b, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mode_of(path), 0755);
    lsn_set_close(&b);
    lsn_set_close(&c);
    CU_ASSERT_EQUAL(mode_of(path), -1);
    conf_free(c1);
    conf_free(c2);
    conf_free(c3);
    umask(saved);
}

/* The kept file was replaced by a symbolic link: nothing is chmodded, the
 * reload is refused naming the key, and the old set keeps its socket. */
static void test_reload_mode_replaced_file(void)
{
    char path[128], victim[128], text[512], want[600];
    struct lsn_set a, b;
    struct conf *c1, *c2;
    CU_ASSERT_FATAL(dir[0] != '\0');
    in_dir(path, sizeof path, "swapped.sock");
    in_dir(victim, sizeof victim, "victim");
    int vfd = open(victim, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    CU_ASSERT_FATAL(vfd >= 0);
    CU_ASSERT_FATAL(fchmod(vfd, 0600) == 0);
    close(vfd);
    c1 = load(svc(text, sizeof text, "unix", path, "0600"));
    c2 = load(svc(text, sizeof text, "unix", path, "0666"));
    CU_ASSERT_FATAL(c1 && c2);
    CU_ASSERT_EQUAL_FATAL(lsn_set_bind(&a, c1, NULL, err, sizeof err), 0);
    int fd = a.v[0].fd;
    CU_ASSERT_FATAL(unlink(path) == 0 && symlink(victim, path) == 0);

    CU_ASSERT_EQUAL(lsn_set_bind(&b, c2, &a, err, sizeof err), -ELOOP);
    snprintf(want, sizeof want, "t/x.ini:3: [echo] socket_mode: cannot apply it to the kept "
             "unix %s: %s was replaced by a symbolic link; restart superd to apply it",
             path, path);
    ASSERT_STR(err, want);
    CU_ASSERT_EQUAL(mode_of(victim), 0600);
    CU_ASSERT_EQUAL(a.v[0].fd, fd); /* given back */
    CU_ASSERT(!lsn_set_kept(&a, &a.v[0]));
    lsn_set_close(&a);
    CU_ASSERT(lstat(path, &(struct stat){ 0 }) == 0); /* not ours: left alone */
    conf_free(c1);
    conf_free(c2);
}

/* unix: becomes unix-dgram: on one path: the message says it is superd's
 * own socket, and the old set keeps serving it. */
static void test_reload_kind_change(void)
{
    char path[128], text[512], want[600];
    struct lsn_set a, b;
    struct conf *c1, *c2;
    CU_ASSERT_FATAL(dir[0] != '\0');
    in_dir(path, sizeof path, "kind.sock");
    c1 = load(svc(text, sizeof text, "unix", path, NULL));
    c2 = load(svc(text, sizeof text, "unix-dgram", path, NULL));
    CU_ASSERT_FATAL(c1 && c2);
    CU_ASSERT_EQUAL_FATAL(lsn_set_bind(&a, c1, NULL, err, sizeof err), 0);
    CU_ASSERT_EQUAL(lsn_set_bind(&b, c2, &a, err, sizeof err), -EADDRINUSE);
    snprintf(want, sizeof want, "t/x.ini:3: [echo] listen: %s is superd's own unix socket of "
             "[echo]: a reload cannot make it a unix-dgram socket; restart superd, or reload "
             "once without it first", path);
    ASSERT_STR(err, want);
    CU_ASSERT(a.v[0].fd >= 0 && mode_of(path) >= 0);
    lsn_set_close(&a);
    CU_ASSERT_EQUAL(mode_of(path), -1);
    conf_free(c1);
    conf_free(c2);
}

/* ---- what is at the path already ---- */

/* A squatter whose backlog is full: refused at once as in use, never a
 * connect() that waits for room. */
static void test_full_backlog_is_in_use(void)
{
    char path[128], want[512];
    CU_ASSERT_FATAL(dir[0] != '\0');
    in_dir(path, sizeof path, "squat.sock");
    struct listener sq;
    unix_listener(&sq, ADDR_UNIX, path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_FATAL(s >= 0);
    CU_ASSERT_FATAL(bind(s, (struct sockaddr *)&sq.addr.sa, sq.addr.salen) == 0);
    CU_ASSERT_FATAL(listen(s, 0) == 0);
    int fill[8], nfill = 0;
    for (; nfill < 8; nfill++) {
        fill[nfill] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (connect(fill[nfill], (struct sockaddr *)&sq.addr.sa, sq.addr.salen) < 0) {
            CU_ASSERT_EQUAL(errno, EAGAIN); /* full */
            close(fill[nfill]);
            break;
        }
    }
    CU_ASSERT_FATAL(nfill < 8);

    /* In a child with an alarm: the old blocking probe would hang here. */
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        alarm(5);
        struct listener l;
        unix_listener(&l, ADDR_UNIX, path);
        int r = lsn_bind(&l, 0, -1, err, sizeof err);
        snprintf(want, sizeof want, "%s is in use by a live socket", path);
        _exit(r == -EADDRINUSE && strcmp(err, want) == 0 ? 0 : 1);
    }
    int status = 0;
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (WIFSIGNALED(status))
        printf("\n    the probe blocked (killed by signal %d) ", WTERMSIG(status));
    CU_ASSERT(mode_of(path) >= 0); /* the squatter's file is left alone */
    for (int i = 0; i < nfill; i++)
        close(fill[i]);
    close(s);
}

int test_core_listener_register(void)
{
    static const struct tc_test tests[] = {
        { "socket_mode: the file is made with it, umask untouched", test_mode_at_bind },
        { "socket_mode: a symlink racer never gets its target chmodded", test_symlink_race },
        { "reload: a kept socket file gets the new socket_mode", test_reload_applies_mode },
        { "reload: a replaced kept file is refused, never chmodded",
          test_reload_mode_replaced_file },
        { "reload: unix: to unix-dgram: names superd's own socket", test_reload_kind_change },
        { "a full backlog is in use, the probe never blocks", test_full_backlog_is_in_use },
    };
    return tc_register("core: listeners and unix socket files", setup, teardown, tests,
                       sizeof tests / sizeof tests[0]);
}
