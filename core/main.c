/* main.c - the command line: parse options, load and check the
 * configuration, bind, and hand over to the master. */
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
#include "listener.h"
#include "master.h"
#include "status.h"
#include "pidfile.h"
#include "systemd.h"

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
            "       superd status [-c FILE]   (or superd -s)\n"
            "  -c FILE   configuration file (default: %s)\n"
            "  -t        check the configuration and every plugin it names, print\n"
            "            each listener that would be bound, and exit\n"
            "  -d        detach into the background (default: stay in the foreground)\n"
            "  -s        print the running superd's figures (read from metrics_listen)\n"
            "  -V        print the version and exit\n"
            "  -h        print this help and exit\n"
            "exit status: 0 ok, 1 configuration or start-up error, 2 usage error\n",
            SUPERD_DEFAULT_CONFIG);
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

/* Bind, detach if asked, write the pid file, and hand over to the master. */
static int serve(const char *path, struct conf *c, bool background)
{
    char err[CONF_ERR_MAX];
    struct lsn_set set, passed;
    /* Sockets from systemd socket activation are used instead of binding. */
    int r = systemd_listen_fds(&passed, err, sizeof err);
    if (r == 0)
        r = lsn_set_bind(&set, c, &passed, err, sizeof err);
    for (size_t i = 0; r == 0 && i < passed.n; i++) {
        if (passed.v[i].fd < 0)
            continue;
        snprintf(err, sizeof err, "socket passed by systemd (fd %d, %s) matches no listen entry "
                 "of %s", passed.v[i].fd, passed.v[i].addr.text, c->path);
        lsn_set_close(&set);
        r = -EINVAL;
    }
    if (r < 0) {
        fprintf(stderr, "superd: %s\n", err);
        lsn_set_close(&passed);
        conf_free(c);
        return EXIT_CONFIG;
    }
    for (size_t i = 0; i < set.n; i++)
        log_msg(LOG_NOTICE, "[%s] listening on %s%s", set.v[i].svc_name, set.v[i].addr.text,
                lsn_set_kept(&passed, &set.v[i]) ? " (socket from systemd)" : "");
    lsn_set_close(&passed);
    /* Warnings only once started: an error stays the one line printed. */
    if (geteuid() == 0 && !c->user)
        log_msg(LOG_WARNING, "running as root with no user set: plugins run as root "
                "(set user = NAME in [superd])");
    else if (geteuid() != 0 && c->user)
        log_msg(LOG_NOTICE, "%s:%d: user = %s has no effect: superd was not started as root",
                c->path, c->user_line, c->user);
    /* Made before detaching, so a refusal is still our exit status; the pid
     * is written after, when it is the daemon's. */
    struct pidfile pf = { .pf_fd = -1 };
    r = c->pid_file ? pidfile_create(&pf, c->pid_file, err, sizeof err) : 0;
    if (r == 0 && background && (r = detach()) < 0)
        snprintf(err, sizeof err, "cannot detach: %s", strerror(-r));
    if (r == 0)
        r = pidfile_write(&pf, err, sizeof err);
    if (r < 0) {
        fprintf(stderr, "superd: %s\n", err);
        pidfile_remove(&pf);
        lsn_set_close(&set);
        conf_free(c);
        return EXIT_CONFIG;
    }
    int status = master_run(path, c, &set);
    pidfile_remove(&pf);
    return status;
}

int main(int argc, char **argv)
{
    const char *path = SUPERD_DEFAULT_CONFIG;
    bool check = false, background = false, status = false;
    int opt;
    opterr = 0;
    if (argc > 1 && strcmp(argv[1], "status") == 0) {
        status = true;          /* `superd status ...`: the rest as options */
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    while ((opt = getopt(argc, argv, "c:tdsVh")) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 't': check = true; break;
        case 's': status = true; break;
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

    if (status)
        return status_main(path);

    /* Plugins write to sockets that may be gone: an error, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    /* Read through signalfds; blocked before anything is bound so that an
     * early SIGTERM still cleans up. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);

    char err[CONF_ERR_MAX];
    struct conf *c = NULL;
    if (conf_load(path, &c, err, sizeof err) < 0) {
        fprintf(stderr, "superd: %s\n", err);
        return EXIT_CONFIG;
    }
    if (check) {
        int r = master_check(c, true, false);
        conf_free(c);
        return r < 0 ? EXIT_CONFIG : EXIT_OK;
    }
    log_setup(c->log_target, c->log_level, c->syslog_facility);
    /* Every plugin must start before anything is bound. */
    if (master_check(c, false, false) < 0) {
        conf_free(c);
        return EXIT_CONFIG;
    }
    return serve(path, c, background);
}
