/*
 * xprog.c - the program the exec integration tests run (linked statically,
 * so that it also runs inside an empty chroot).  argv[1] says what to do:
 *   echo        copy stdin to stdout until EOF
 *   env         print the environment, one variable a line
 *   exit N      say "bye" on stderr, exit with status N
 *   term        raise SIGTERM (killed, if the disposition is the default)
 *   sleep       say "sleeping" on stdout, then sleep 60 s
 *   ids         print uid, gid, groups, cwd, umask, nice, rlimits, no_new_privs
 *   fds         print every open descriptor
 *   dgram       read one datagram on stdin, write "got:DATA" to stdout
 *   udpwait     inetd's wait style: answer "PID:DATA" to every datagram on
 *               the listening socket (stdin) until 700 ms pass without one
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

static int do_echo(void)
{
    char buf[65536];
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0)
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(1, buf + off, (size_t)(n - off));
            if (w <= 0)
                return 1;
            off += w;
        }
    return n < 0;
}

static int do_ids(void)
{
    gid_t groups[64];
    int n = getgroups(64, groups);
    char cwd[256];
    struct rlimit rl;
    mode_t m = umask(0);
    printf("uid=%d euid=%d gid=%d egid=%d\n", (int)getuid(), (int)geteuid(), (int)getgid(),
           (int)getegid());
    printf("groups=");
    for (int i = 0; i < n; i++)
        printf("%s%d", i ? "," : "", (int)groups[i]);
    printf("\ncwd=%s\n", getcwd(cwd, sizeof cwd) ? cwd : "?");
    printf("umask=%03o\n", (unsigned)m);
    errno = 0;
    printf("nice=%d\n", getpriority(PRIO_PROCESS, 0));
    getrlimit(RLIMIT_NOFILE, &rl);
    printf("nofile=%llu\n", (unsigned long long)rl.rlim_cur);
    getrlimit(RLIMIT_CPU, &rl);
    printf("cpu=%llu\n", (unsigned long long)rl.rlim_cur);
    getrlimit(RLIMIT_AS, &rl);
    printf("as=%llu\n", (unsigned long long)rl.rlim_cur);
    printf("no_new_privs=%d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    struct stat st;
    printf("marker=%s\n", stat("/xprog-chroot-marker", &st) == 0 ? "yes" : "no");
    sigset_t mask;
    sigprocmask(SIG_SETMASK, NULL, &mask);
    printf("blocked_term=%d\n", sigismember(&mask, SIGTERM));
    return 0;
}

static int do_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d))
            printf("fd %s\n", e->d_name);
    closedir(d);
    return 0;
}

static int do_dgram(void)
{
    char buf[2048], out[2100];
    ssize_t n = recv(0, buf, sizeof buf - 1, 0);
    if (n < 0)
        return 1;
    int len = snprintf(out, sizeof out, "got:%.*s", (int)n, buf);
    return send(1, out, (size_t)len, 0) == len ? 0 : 1;
}

static int do_udpwait(void)
{
    struct pollfd p = { 0, POLLIN, 0 };
    while (poll(&p, 1, 700) > 0) {
        char buf[2048], out[2100];
        struct sockaddr_storage from;
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(0, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &len);
        if (n < 0)
            continue;
        int k = snprintf(out, sizeof out, "%d:%.*s", (int)getpid(), (int)n, buf);
        sendto(0, out, (size_t)k, 0, (struct sockaddr *)&from, len);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    if (strcmp(what, "echo") == 0)
        return do_echo();
    if (strcmp(what, "env") == 0) {
        for (char **e = environ; *e; e++)
            printf("%s\n", *e);
        return 0;
    }
    if (strcmp(what, "exit") == 0) {
        fprintf(stderr, "bye\n");
        return argc > 2 ? atoi(argv[2]) : 0;
    }
    if (strcmp(what, "term") == 0) {
        raise(SIGTERM);
        return 0;
    }
    if (strcmp(what, "sleep") == 0) {
        printf("sleeping\n");
        fflush(stdout);
        sleep(60);
        return 0;
    }
    if (strcmp(what, "ids") == 0)
        return do_ids();
    if (strcmp(what, "fds") == 0)
        return do_fds();
    if (strcmp(what, "dgram") == 0)
        return do_dgram();
    if (strcmp(what, "udpwait") == 0)
        return do_udpwait();
    fprintf(stderr, "xprog: unknown mode '%s'\n", what);
    return 2;
}
