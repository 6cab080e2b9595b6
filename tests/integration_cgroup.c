/*
 * integration_cgroup.c - a cgroup v2 per exec service (docs/exec.md,
 * "cgroups"): the child runs in CGROUP_ROOT/superd-SERVICE, memory_max
 * OOM-kills a program that allocates past it (logged as killed by signal
 * 9), pids_max stops a fork bomb, the cgroup is removed at shutdown, and
 * the keys' errors at load.  Runs tests/programs/cgprog.c.
 *
 * Each test makes its own cgroup_root below the cgroup this test runs in;
 * where cgroup v2 is not mounted, not writable, or the memory / pids
 * controller is not delegated to it, the test says so in one line and is
 * skipped.  Linked into build/tests/integration; IT_ONLY=cgroup runs these.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_MS 5000

static const char *cgprog(void)
{
    static char path[PATH_MAX];
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", it_superd);
    snprintf(path, sizeof path, "%s/tests/programs/cgprog", dirname(copy));
    return path;
}

/* The cgroup v2 directory this process is in, and its path as
 * /proc/self/cgroup writes it; NULL (with why) when there is none. */
static char *self_cgroup(const char **rel, const char **why)
{
    static char mnt[PATH_MAX], cg[PATH_MAX];
    char line[4096];
    FILE *f = fopen("/proc/self/mountinfo", "r");
    mnt[0] = cg[0] = '\0';
    while (f && !mnt[0] && fgets(line, sizeof line, f)) {
        char *dash = strstr(line, " - ");
        char root[PATH_MAX], mp[PATH_MAX];
        if (dash && strncmp(dash + 3, "cgroup2 ", 8) == 0 &&
            sscanf(line, "%*s %*s %*s %4095s %4095s", root, mp) == 2 && strcmp(root, "/") == 0)
            snprintf(mnt, sizeof mnt, "%s", mp);
    }
    if (f)
        fclose(f);
    f = fopen("/proc/self/cgroup", "r");
    while (f && !cg[0] && fgets(line, sizeof line, f))
        if (strncmp(line, "0::", 3) == 0) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(cg, sizeof cg, "%s", line + 3);
        }
    if (f)
        fclose(f);
    if (!mnt[0] || !cg[0]) {
        *why = "no cgroup v2 (cgroup2 not mounted, or this process is not in it)";
        return NULL;
    }
    *rel = cg;
    return it_printf("%s%s", mnt, strcmp(cg, "/") == 0 ? "" : cg);
}

static int has_word(const char *list, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = list; (p = strstr(p, w)); p += n)
        if ((p == list || p[-1] == ' ') && (!p[n] || p[n] == ' ' || p[n] == '\n'))
            return 1;
    return 0;
}

/* A fresh cgroup_root below ours, with `ctls` ("memory", "pids" or NULL)
 * available in it.  NULL, with the reason printed, when it cannot be. */
static char *make_root(const char *ctls, const char **rel_out)
{
    static int seq;
    const char *why = NULL, *rel = NULL;
    char *self = self_cgroup(&rel, &why);
    if (self && ctls) {
        char *avail = it_read_file(it_printf("%s/cgroup.controllers", self));
        char *on = it_read_file(it_printf("%s/cgroup.subtree_control", self));
        if (!has_word(avail, ctls))
            why = it_printf("the %s controller is not delegated to %s (cgroup.controllers: "
                            "'%.*s')", ctls, self, (int)strcspn(avail, "\n"), avail);
        else if (!has_word(on, ctls)) {
            int fd = open(it_printf("%s/cgroup.subtree_control", self), O_WRONLY);
            if (fd < 0 || write(fd, it_printf("+%s", ctls), strlen(ctls) + 1) < 0)
                why = it_printf("cannot enable %s in %s/cgroup.subtree_control: %s", ctls, self,
                                strerror(errno));
            if (fd >= 0)
                close(fd);
        }
    }
    char *root = self && !why ? it_printf("%s/superd-it-%ld-%d", self, (long)getpid(), ++seq)
                              : NULL;
    if (root && mkdir(root, 0755) < 0) {
        why = it_printf("cannot make a cgroup below %s: %s", self, strerror(errno));
        root = NULL;
    }
    if (!root) {
        printf("\n    skipped: %s\n", why);
        return NULL;
    }
    if (rel_out)
        *rel_out = it_printf("%s/superd-it-%ld-%d", strcmp(rel, "/") == 0 ? "" : rel,
                             (long)getpid(), seq);
    return root;
}

/* Start [x] running `cgprog ARGS` on a TCP port with `extra` lines, under
 * cgroup_root `root`.  Returns the port. */
static int start_cg(struct it_daemon *d, const char *root, const char *args, const char *extra)
{
    int port = it_free_port(IT_TCP4);
    CU_ASSERT_FATAL(port > 0);
    CU_ASSERT_FATAL(it_start(d, it_conf_global(
        it_printf("workers = 1\nshutdown_timeout = 1s\ncgroup_root = %s\n", root),
        it_printf("[x]\nprogram = %s\nargs = %s\nlisten = tcp://127.0.0.1:%d\n%s", cgprog(),
                  args, port, extra))) == 0);
    return port;
}

static char *talk(int port)
{
    int fd = it_tcp_connect(AF_INET, port);
    CU_ASSERT_FATAL(fd >= 0);
    static uint8_t buf[8192];
    struct it_xfer x;
    it_xfer(fd, NULL, 0, 1, NULL, 0, buf, sizeof buf - 1, 0, 1, 10000, &x);
    buf[x.rcvd < sizeof buf - 1 ? x.rcvd : sizeof buf - 1] = '\0';
    it_close(fd);
    return it_printf("%s", (char *)buf);
}

/* A line of the daemon's stderr starting with prefix and ending with
 * suffix, waited for up to LOG_MS. */
static int has_line(struct it_daemon *d, const char *prefix, const char *suffix)
{
    int64_t deadline = it_now_ms() + LOG_MS;
    size_t pl = strlen(prefix), sl = strlen(suffix);
    do {
        const char *text = it_stderr(d);
        for (const char *l = text; l && *l;) {
            const char *nl = strchr(l, '\n');
            size_t len = nl ? (size_t)(nl - l) : strlen(l);
            if (len >= pl + sl && strncmp(l, prefix, pl) == 0 &&
                strncmp(l + len - sl, suffix, sl) == 0)
                return 1;
            l = nl ? nl + 1 : NULL;
        }
        it_sleep_ms(10);
    } while (it_left_ms(deadline));
    printf("\n    no line \"%s...%s\" in:\n%s\n", prefix, suffix, it_stderr(d));
    return 0;
}

/* superd removed superd-x at shutdown; remove our root. */
static void end_root(const char *root)
{
    CU_ASSERT(!it_exists(it_printf("%s/superd-x", root)));
    rmdir(it_printf("%s/superd-x", root));
    CU_ASSERT(rmdir(root) == 0);
}

static void test_cgroup_child_placed(void)
{
    const char *rel;
    char *root = make_root(NULL, &rel);
    if (!root)
        return;
    struct it_daemon d;
    int port = start_cg(&d, root, "cgroup", "");
    char *out = talk(port);
    CU_ASSERT(it_count_line(out, it_printf("0::%s/superd-x", rel)) == 1);
    if (it_count_line(out, it_printf("0::%s/superd-x", rel)) != 1)
        printf("\n    the child said:\n%s\n", out);
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
    end_root(root);
}

static void test_cgroup_memory_max(void)
{
    char *root = make_root("memory", NULL);
    if (!root)
        return;
    struct it_daemon d;
    int port = start_cg(&d, root, "alloc 256", "memory_max = 32M\n");
    CU_ASSERT(it_read_file(it_printf("%s/superd-x/memory.max", root))[0] != '\0');
    CU_ASSERT(strcmp(it_read_file(it_printf("%s/superd-x/memory.max", root)), "33554432\n")
              == 0);
    char *out = talk(port);
    CU_ASSERT(strstr(out, "allocated") == NULL);    /* it never got there */
    CU_ASSERT(has_line(&d, "superd: [x] pid ", " killed by signal 9 (Killed)"));
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
    end_root(root);
}

static void test_cgroup_pids_max(void)
{
    char *root = make_root("pids", NULL);
    if (!root)
        return;
    struct it_daemon d;
    int port = start_cg(&d, root, "forkbomb 200", "pids_max = 8\n");
    CU_ASSERT(strcmp(it_read_file(it_printf("%s/superd-x/pids.max", root)), "8\n") == 0);
    char *out = talk(port);
    /* The program itself is one of the 8. */
    CU_ASSERT(it_count_line(out, "forks=7 errno=EAGAIN") == 1);
    if (it_count_line(out, "forks=7 errno=EAGAIN") != 1)
        printf("\n    the child said: %s\n", out);
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
    end_root(root);
}

/* A cgroup that cannot be made: one line at start, and no program runs
 * without the limits asked for. */
static void test_cgroup_unusable_root(void)
{
    char *notcg = it_path("not-a-cgroup");
    CU_ASSERT_FATAL(mkdir(notcg, 0755) == 0);
    struct it_daemon d;
    int port = start_cg(&d, notcg, "cgroup", "pids_max = 8\n");
    CU_ASSERT(has_line(&d, it_printf("superd: %s:11: [x] pids_max: cgroup: %s is not a cgroup "
                                     "v2 directory", it_path("superd.ini"), notcg),
                       ": the program will not be started"));
    CU_ASSERT_STRING_EQUAL(talk(port), "");
    CU_ASSERT(has_line(&d, it_printf("superd: [x] cannot start %s: cgroup: %s is not a cgroup "
                                     "v2 directory", cgprog(), notcg), " (0 more)"));
    CU_ASSERT(it_exited(it_stop(&d, SIGTERM), 0));
}

static void test_cgroup_config_errors(void)
{
    static const struct {
        const char *global, *svc, *line;
    } cases[] = {
        { "", "program = /bin/cat\nmemory_max = lots\n",
          "[x] memory_max: 'lots' is not a number of bytes (K, M, G allowed) or max" },
        { "", "program = /bin/cat\npids_max = 0\n",
          "[x] pids_max: '0' is not a positive number or max" },
        { "", "program = /bin/cat\npids_max = 4K\n",
          "[x] pids_max: '4K' is not a positive number or max" },
        { "", "plugin = echo\npids_max = 8\n",
          "[x] pids_max: only for a service that runs a program (program = PATH)" },
        { "cgroup_root = sys/fs/cgroup\n", "program = /bin/cat\n",
          "[superd] cgroup_root: 'sys/fs/cgroup' is not an absolute path (a cgroup v2 "
          "directory, e.g. /sys/fs/cgroup/superd)" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out, *err;
        const char *conf = it_conf_global(cases[i].global,
            it_printf("[x]\n%slisten = tcp://127.0.0.1:1\n", cases[i].svc));
        const char *args[] = { "-t", "-c", conf, NULL };
        int st = it_run(args, &out, &err);
        CU_ASSERT(it_exited(st, 1));
        if (!strstr(err, cases[i].line)) {
            CU_FAIL("expected message missing");
            printf("\n    wanted '%s' in:\n%s\n", cases[i].line, err);
        }
    }
    /* Good values pass. */
    char *out, *err;
    const char *conf = it_conf_global("cgroup_root = /sys/fs/cgroup/superd\n",
        "[x]\nprogram = /bin/cat\nmemory_max = 64M\npids_max = max\n"
        "listen = tcp://127.0.0.1:1\n");
    const char *args[] = { "-t", "-c", conf, NULL };
    CU_ASSERT(it_exited(it_run(args, &out, &err), 0));
}

static const struct it_test cgroup_tests[] = {
    { "cgroup: the child runs in CGROUP_ROOT/superd-SERVICE", test_cgroup_child_placed },
    { "cgroup: memory_max OOM-kills past the limit", test_cgroup_memory_max },
    { "cgroup: pids_max stops a fork bomb", test_cgroup_pids_max },
    { "cgroup: an unusable cgroup_root starts nothing", test_cgroup_unusable_root },
    { "cgroup: memory_max, pids_max, cgroup_root errors at load", test_cgroup_config_errors },
};
IT_REGISTER(cgroup_tests)
