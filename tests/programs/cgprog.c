/*
 * cgprog.c - the program the cgroup tests run as an exec service
 * (tests/integration_cgroup.c).  argv[1] says what to do; it writes its
 * findings to stdout (the socket):
 *
 *   cgroup          print /proc/self/cgroup
 *   alloc MB        allocate and touch MB MiB, then print "allocated MB"
 *                   (under a smaller memory_max it never gets there)
 *   forkbomb MAX    fork children that wait, until fork fails or MAX;
 *                   print "forks=N errno=NAME", then end the children
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int do_cgroup(void)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    char line[4096];
    if (!f)
        return 1;
    while (fgets(line, sizeof line, f))
        fputs(line, stdout);
    fclose(f);
    return 0;
}

static int do_alloc(long mb)
{
    for (long i = 0; i < mb; i++) {
        char *p = malloc(1 << 20);
        if (!p) {
            printf("malloc failed at %ld MiB\n", i);
            return 1;
        }
        memset(p, (int)i | 1, 1 << 20);     /* touched: charged */
    }
    printf("allocated %ld\n", mb);
    return 0;
}

static int do_forkbomb(long max)
{
    int pipefd[2];
    pid_t *kids = calloc((size_t)max, sizeof *kids);
    long n = 0;
    int err = 0;
    if (!kids || pipe(pipefd) < 0)
        return 1;
    while (n < max) {
        pid_t pid = fork();
        if (pid < 0) {
            err = errno;
            break;
        }
        if (pid == 0) {
            char c;
            close(pipefd[1]);
            /* Until the parent closes its end. */
            while (read(pipefd[0], &c, 1) < 0 && errno == EINTR)
                ;
            _exit(0);
        }
        kids[n++] = pid;
    }
    printf("forks=%ld errno=%s\n", n, err == EAGAIN ? "EAGAIN" : err ? strerror(err) : "none");
    fflush(stdout);
    close(pipefd[1]);
    for (long i = 0; i < n; i++)
        waitpid(kids[i], NULL, 0);
    free(kids);
    return 0;
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    long n = argc > 2 ? atol(argv[2]) : 0;
    if (strcmp(what, "cgroup") == 0)
        return do_cgroup();
    if (strcmp(what, "alloc") == 0)
        return do_alloc(n);
    if (strcmp(what, "forkbomb") == 0)
        return do_forkbomb(n > 0 ? n : 1000);
    fprintf(stderr, "cgprog: unknown mode '%s'\n", what);
    return 2;
}
