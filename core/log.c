/* log.c - the daemon's log: stderr or syslog, with a level threshold. */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <sys/wait.h>
#include <string.h>
#include <stdlib.h>
#include <syslog.h>
#include <unistd.h>

static enum log_target target = LOG_TO_STDERR;
static int max_level = LOG_INFO;
static bool stamped;

static const char *const level_names[] = {
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

void log_setup(enum log_target t, int level, int facility)
{
    if (t == LOG_TO_SYSLOG)
        openlog("superd", LOG_PID | LOG_NDELAY, facility);
    else if (target == LOG_TO_SYSLOG)
        closelog();
    target = t;
    max_level = level;
    stamped = isatty(STDERR_FILENO) && !getenv("JOURNAL_STREAM");
}

/*
 * Append `src` to dst[*n..cap-1] with every control byte (below 0x20, and
 * DEL) written as \xHH, so that text a client chose (an abstract socket's
 * name, a request a plugin quotes) can neither start a forged log line nor
 * send the terminal an escape sequence.  Bytes from 0x80 up stay: UTF-8
 * names are legitimate.  Stops before an escape that would not fit whole.
 */
static void append_escaped(char *dst, size_t cap, size_t *n, const char *src)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = *n;
    for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
        if (*p >= 0x20 && *p != 0x7f) {
            if (i + 1 > cap)
                break;
            dst[i++] = (char)*p;
            continue;
        }
        if (i + 4 > cap)
            break;
        dst[i++] = '\\';
        dst[i++] = 'x';
        dst[i++] = hex[*p >> 4];
        dst[i++] = hex[*p & 15];
    }
    *n = i;
}

/* Log one line with a va_list. */
void log_vmsg(int level, const char *fmt, va_list ap)
{
    if (level > max_level)
        return;
    char msg[1024];
    if (vsnprintf(msg, sizeof msg, fmt, ap) < 0)
        return;
    /* One buffer, one write: lines from several processes never interleave. */
    char line[1024];
    size_t n = 0;
    if (target == LOG_TO_SYSLOG) {
        append_escaped(line, sizeof line - 1, &n, msg);
        line[n] = '\0';
        syslog(level, "%s", line);
        return;
    }
    if (stamped) {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        n = strftime(line, 32, "%Y-%m-%d %H:%M:%S", &tm);
        n += (size_t)snprintf(line + n, sizeof line - n, ".%03ld %s ", ts.tv_nsec / 1000000,
                              level_names[level & 7]);
    }
    n += (size_t)snprintf(line + n, sizeof line - n, "superd: ");
    append_escaped(line, sizeof line - 1, &n, msg);
    line[n++] = '\n';
    fwrite(line, 1, n, stderr);
    fflush(stderr);
}

/* Log one line. */
void log_msg(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}

/* True if a line may be logged now (at most one a second per limit). */
bool log_limit_pass(struct log_limit *lim, unsigned long *missed)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (lim->last != 0 && ts.tv_sec == lim->last) {
        lim->missed++;
        return false;
    }
    *missed = lim->missed;
    lim->missed = 0;
    /* CLOCK_MONOTONIC may start at 0; keep "never logged" distinct. */
    lim->last = ts.tv_sec ? ts.tv_sec : 1;
    return true;
}

/* Parse a level name; returns the syslog level or -EINVAL. */
int log_level_parse(const char *name)
{
    static const struct { const char *name; int level; } levels[] = {
        { "err", LOG_ERR }, { "error", LOG_ERR }, { "warning", LOG_WARNING },
        { "notice", LOG_NOTICE }, { "info", LOG_INFO }, { "debug", LOG_DEBUG },
    };
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (strcmp(name, levels[i].name) == 0)
            return levels[i].level;
    return -EINVAL;
}

void log_wait_status(int status, char *buf, size_t size)
{
    if (WIFSIGNALED(status))
        snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
}
