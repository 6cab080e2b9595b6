/* master.h - the master process: it binds, forks the workers and
 * supervises them (replacing the dead, reloading on SIGHUP, stopping on
 * SIGTERM), and never runs plugin code itself. */
#ifndef SUPERD_MASTER_H
#define SUPERD_MASTER_H

#include <stdbool.h>

#include "config.h"
#include "listener.h"

/*
 * Load and initialise every plugin of `c` in a short-lived child process
 * (with the workers' privileges), so that a plugin that fails or crashes
 * in init is reported without ever running in the master.  With `print`,
 * the child prints what `superd -t` shows.  An error goes to stderr as
 * "superd: FILE:LINE: ..." or, with `to_log`, to the log after "reload
 * failed, keeping the old configuration: ".  Returns 0 if every plugin
 * started, else -1.
 */
int master_check(const struct conf *c, bool print, bool to_log);

/*
 * Serve: fork c->workers workers on the bound listeners `lsns`, then
 * supervise until SIGTERM/SIGINT and every worker has exited.  Takes
 * ownership of `c` and `lsns` (closes the listeners, removing the socket
 * files, and frees both).  `path` is re-read on SIGHUP.  Returns the exit
 * status: 0 after a clean stop.
 */
int master_run(const char *path, struct conf *c, struct lsn_set *lsns);

#endif
