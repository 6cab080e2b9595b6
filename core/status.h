/* status.h - `superd status` (or `superd -s`): the running daemon's
 * figures, read from its metrics endpoint, printed as a table. */
#ifndef SUPERD_STATUS_H
#define SUPERD_STATUS_H

#include "stats.h"

/* Read configuration `path` for metrics_listen, fetch GET /metrics from its
 * first address (bounded in time), print the table on stdout.  Returns the
 * exit status: 0, or 1 with one line on stderr saying why. */
int status_main(const char *path);

#endif
