/* log.h - the daemon's log: stderr or syslog, with a level threshold. */
#ifndef SUPERD_LOG_H
#define SUPERD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <syslog.h>   /* LOG_ERR ... LOG_DEBUG: the levels used here */
#include <time.h>

enum log_target { LOG_TO_STDERR, LOG_TO_SYSLOG };

/*
 * Choose where lines go, the most verbose level kept (a syslog level) and
 * the syslog facility.  On stderr, lines carry a timestamp and level only
 * when stderr is a terminal outside systemd: the journal, or whatever
 * reads a pipe or file, stamps lines itself.
 */
void log_setup(enum log_target target, int max_level, int facility);

/* Log one line, "superd: " + message on stderr.  Levels as syslog(3). */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/*
 * A per-call-site limit of one line a second, so that a flood (of refused
 * datagrams, of accept errors) cannot flood the log.  Zero-initialise it.
 */
struct log_limit {
    time_t last;            /* second of the last line let through */
    unsigned long missed;   /* events swallowed since then */
};

/* True if a line may be logged now.  *missed receives how many events were
 * swallowed since the last line (to say so in the line). */
bool log_limit_pass(struct log_limit *lim, unsigned long *missed);

/* How a child ended, from its wait status, for a log line: "exited with
 * status N" or "killed by signal N (Name)". */
void log_wait_status(int status, char *buf, size_t size);

/* Parse a level name ("err", "warning", "notice", "info", "debug"); returns
 * the level or -EINVAL. */
int log_level_parse(const char *name);

#endif
