/* main.c - the command line: parse options, load the configuration and
 * plugins, bind, serve until told to stop. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "worker.h"

#ifndef SUPERD_VERSION
#define SUPERD_VERSION "0.0.0"
#endif
#ifndef SUPERD_DEFAULT_CONFIG
#define SUPERD_DEFAULT_CONFIG "/etc/superd/superd.ini"
#endif

enum { EXIT_OK = 0, EXIT_CONFIG = 1, EXIT_USAGE = 2 };

static void usage(FILE *f)
{
    fprintf(f,
            "usage: superd [-c FILE] [-t] [-d] [-V] [-h]\n"
            "  -c FILE   configuration file (default: %s)\n"
            "  -t        check the configuration and every plugin it names, print\n"
            "            each listener that would be bound, and exit\n"
            "  -d        detach into the background (default: stay in the foreground)\n"
            "  -V        print the version and exit\n"
            "  -h        print this help and exit\n"
            "exit status: 0 ok, 1 configuration or start-up error, 2 usage error\n",
            SUPERD_DEFAULT_CONFIG);
}

/* -t: what would run, on stdout. */
static void print_check(const struct worker *wk, const struct conf *c)
{
    for (size_t i = 0; i < wk->nsvcs; i++) {
        const struct superd_service *s = &wk->svcs[i];
        const struct superd_plugin *d = service_plugin(s);
        printf("[%s] plugin %s %s %s\n", s->cs->name, d->name, d->version, s->plugin->path);
        for (size_t a = 0; a < s->cs->naddrs; a++)
            printf("[%s] listen %s\n", s->cs->name, s->cs->addrs[a].text);
    }
    printf("%s: configuration OK\n", c->path);
}

/* Fork into the background: the parent exits once the child runs. */
static int detach(void)
{
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0)
        _exit(EXIT_OK);
    if (setsid() < 0)
        return -errno;
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        /* stderr stays: it is where the log goes unless log = syslog. */
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        close(fd);
    }
    return 0;
}

static int write_pid_file(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    fprintf(f, "%ld\n", (long)getpid());
    return fclose(f) == 0 ? 0 : -errno;
}

/* Remove the pid file only if it is still ours. */
static void remove_pid_file(const char *path)
{
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (!f)
        return;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = 0;
    fclose(f);
    if (pid == (long)getpid())
        unlink(path);
}

static int serve(struct worker *wk, const struct conf *c, bool background)
{
    char err[CONF_ERR_MAX];
    int r = worker_bind(wk, err, sizeof err);
    if (r < 0) {
        fprintf(stderr, "superd: %s\n", err);
        return EXIT_CONFIG;
    }
    for (size_t i = 0; i < wk->nlsns; i++)
        log_msg(LOG_NOTICE, "[%s] listening on %s", wk->lsns[i].svc->cs->name,
                wk->lsns[i].addr.text);
    if (background && (r = detach()) < 0) {
        fprintf(stderr, "superd: cannot detach: %s\n", strerror(-r));
        return EXIT_CONFIG;
    }
    if (c->pid_file && (r = write_pid_file(c->pid_file)) < 0) {
        fprintf(stderr, "superd: %s: cannot write pid_file: %s\n", c->pid_file, strerror(-r));
        return EXIT_CONFIG;
    }
    log_msg(LOG_NOTICE, "ready");
    r = worker_run(wk);
    if (c->pid_file)
        remove_pid_file(c->pid_file);
    if (r < 0) {
        log_msg(LOG_ERR, "event loop failed: %s", strerror(-r));
        return EXIT_CONFIG;
    }
    log_msg(LOG_NOTICE, "stopped");
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    const char *path = SUPERD_DEFAULT_CONFIG;
    bool check = false, background = false;
    int opt;
    opterr = 0;
    while ((opt = getopt(argc, argv, "c:tdVh")) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 't': check = true; break;
        case 'd': background = true; break;
        case 'V': printf("superd %s\n", SUPERD_VERSION); return EXIT_OK;
        case 'h': usage(stdout); return EXIT_OK;
        default:
            if (optopt == 'c')
                fprintf(stderr, "superd: option -c needs a file\n");
            else
                fprintf(stderr, "superd: unknown option -%c\n", optopt);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "superd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }

    /* Plugins write to sockets that may be gone: an error, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    /* Read through the worker's signalfd; blocked before anything is bound
     * so that an early SIGTERM still cleans up. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);

    char err[CONF_ERR_MAX];
    struct conf *c = NULL;
    if (conf_load(path, &c, err, sizeof err) < 0) {
        fprintf(stderr, "superd: %s\n", err);
        return EXIT_CONFIG;
    }
    if (!check)
        log_setup(c->log_target, c->log_level);

    struct worker wk;
    int status;
    if (worker_load(&wk, c, err, sizeof err) < 0) {
        fprintf(stderr, "superd: %s\n", err);
        status = EXIT_CONFIG;
    } else if (check) {
        print_check(&wk, c);
        status = EXIT_OK;
    } else {
        status = serve(&wk, c, background);
    }
    worker_fini(&wk);
    conf_free(c);
    return status;
}
