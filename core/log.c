/* log.c - the daemon's log: stderr or syslog, with a level threshold. */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

static enum log_target target = LOG_TO_STDERR;
static int max_level = LOG_INFO;

/* Choose where lines go and the most verbose level kept. */
void log_setup(enum log_target t, int level)
{
    if (t == LOG_TO_SYSLOG && target != LOG_TO_SYSLOG)
        openlog("superd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    target = t;
    max_level = level;
}

/* Log one line with a va_list. */
void log_vmsg(int level, const char *fmt, va_list ap)
{
    if (level > max_level)
        return;
    if (target == LOG_TO_SYSLOG) {
        vsyslog(level, fmt, ap);
        return;
    }
    /* One buffer, one write: lines from several processes never interleave. */
    char line[1024];
    int n = snprintf(line, sizeof line, "superd: ");
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
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
