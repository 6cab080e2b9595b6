/*
 * integration_pidfile.c - pid_file as root (docs/configuration.md,
 * "pid_file"): superd never writes through a symbolic link, never truncates
 * a file that is not a pid file, replaces a stale pid file, refuses another
 * running superd's, and at exit removes only the file it made.
 *
 * Linked into build/tests/integration (IT_REGISTER); IT_ONLY=pid_file runs
 * these.  Every file lives in the test's private directory.
 */
#include "integration_util.h"

#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define VICTIM_TEXT "root:precious:0:0\n"

/* A configuration serving echo on a free TCP port with this pid_file. */
static char *pid_conf(const char *name, const char *pidfile)
{
    char *conf = it_path(it_printf("%s.ini", name));
    int port = it_free_port(IT_TCP4);

    CU_ASSERT_FATAL(port > 0);
    CU_ASSERT_FATAL(it_write_file(conf, it_printf("[superd]\nplugin_dir = %s\nworkers = 1\n"
                                                  "pid_file = %s\n[echo]\nplugin = echo\n"
                                                  "listen = tcp://127.0.0.1:%d\n",
                                                  it_plugin_dir, pidfile, port)) == 0);
    return conf;
}

/* Run superd on conf (with -d when detach) to completion: it must refuse
 * with exit 1 and exactly `line` on stderr. */
static void refused_as(int detach, const char *conf, const char *line)
{
    const char *args[] = { "-c", conf, NULL, NULL };
    char *out, *err;
    int st;

    if (detach) {
        args[0] = "-d";
        args[1] = "-c";
        args[2] = conf;
    }
    st = it_run(args, &out, &err);

    if (!it_exited(st, 1) || !it_count_line(err, line))
        printf("\n    status 0x%x; expected exit 1 and\n      %s\n    stderr:\n%s", (unsigned)st,
               line, err);
    CU_ASSERT(it_exited(st, 1));
    CU_ASSERT(it_count_line(err, line) == 1);
}

#define refused(conf, line) refused_as(0, (conf), (line))

static int is_symlink(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

/* A symbolic link at the pid_file path: refused, the link and the file it
 * points to untouched (a root daemon must not be made to overwrite
 * /etc/shadow). */
static void test_pid_file_symlink_refused(void)
{
    char *pidfile = it_path("superd->pid"), *victim = it_path("victim");

    CU_ASSERT_FATAL(it_write_file(victim, VICTIM_TEXT) == 0);
    CU_ASSERT_FATAL(symlink(victim, pidfile) == 0);
    refused(pid_conf("s", pidfile),
            it_printf("superd: %s: cannot write pid_file: it is a symbolic link (never "
                      "followed; remove it)", pidfile));
    CU_ASSERT_STRING_EQUAL(it_read_file(victim), VICTIM_TEXT);
    CU_ASSERT(is_symlink(pidfile));
    /* With -d too: the file is made before detaching, so the refusal is
     * the command's exit status. */
    refused_as(1, pid_conf("s", pidfile),
               it_printf("superd: %s: cannot write pid_file: it is a symbolic link (never "
                         "followed; remove it)", pidfile));
    CU_ASSERT_STRING_EQUAL(it_read_file(victim), VICTIM_TEXT);
    /* A dangling link is not followed either: nothing is created there. */
    CU_ASSERT_FATAL(unlink(pidfile) == 0 && symlink(it_path("created"), pidfile) == 0);
    refused(pid_conf("s", pidfile),
            it_printf("superd: %s: cannot write pid_file: it is a symbolic link (never "
                      "followed; remove it)", pidfile));
    CU_ASSERT(!it_exists(it_path("created")));
}

/* A regular file that is not a pid file is not truncated. */
static void test_pid_file_other_file_refused(void)
{
    char *pidfile = it_path("superd->pid");

    CU_ASSERT_FATAL(it_write_file(pidfile, VICTIM_TEXT) == 0);
    refused(pid_conf("o", pidfile),
            it_printf("superd: %s: cannot write pid_file: it exists and holds something other "
                      "than a pid (not replaced)", pidfile));
    CU_ASSERT_STRING_EQUAL(it_read_file(pidfile), VICTIM_TEXT);
}

/* A pid file left by a superd that died is replaced; one of a running
 * superd is not. */
static void test_pid_file_stale_and_live(void)
{
    char *pidfile = it_path("superd->pid");
    struct it_daemon *d = it_alloc(sizeof(*d));
    pid_t dead = fork();
    int ok;

    CU_ASSERT_FATAL(dead >= 0);
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    CU_ASSERT_FATAL(it_write_file(pidfile, it_printf("%ld\n", (long)dead)) == 0);
    ok = it_start(d, pid_conf("a", pidfile)) == 0;
    CU_ASSERT_FATAL(ok);
    CU_ASSERT_EQUAL(atol(it_read_file(pidfile)), (long)d->pid);
    refused(pid_conf("b", pidfile),
            it_printf("superd: %s: cannot write pid_file: superd %ld is running with it",
                      pidfile, (long)d->pid));
    CU_ASSERT_EQUAL(atol(it_read_file(pidfile)), (long)d->pid);
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
    CU_ASSERT(!it_exists(pidfile));
}

/* At exit superd removes only the file it made: a symbolic link put in
 * its place (to a file holding superd's pid, even) stays, and so does the
 * file it points to. */
static void test_pid_file_swapped_not_removed(void)
{
    char *pidfile = it_path("superd->pid"), *victim = it_path("victim");
    struct it_daemon *d = it_alloc(sizeof(*d));
    int ok;

    ok = it_start(d, pid_conf("w", pidfile)) == 0;
    CU_ASSERT_FATAL(ok);
    CU_ASSERT_FATAL(it_write_file(victim, it_printf("%ld\n", (long)d->pid)) == 0);
    CU_ASSERT_FATAL(unlink(pidfile) == 0 && symlink(victim, pidfile) == 0);
    CU_ASSERT(it_exited(it_stop(d, SIGTERM), 0));
    CU_ASSERT(is_symlink(pidfile));
    CU_ASSERT_EQUAL(atol(it_read_file(victim)), (long)d->pid);
}

static const struct it_test pidfile_tests[] = {
    { "pid_file: a symbolic link is refused, its target untouched",
      test_pid_file_symlink_refused },
    { "pid_file: a file that is not a pid file is refused, untouched",
      test_pid_file_other_file_refused },
    { "pid_file: a stale one is replaced, a running superd's is not",
      test_pid_file_stale_and_live },
    { "pid_file: at exit only the file superd made is removed",
      test_pid_file_swapped_not_removed },
};

IT_REGISTER(pidfile_tests)
