/* systemd.h - speaking to systemd without libsystemd: the notify protocol
 * (READY=1, RELOADING=1, STOPPING=1) and sockets passed by socket
 * activation (LISTEN_FDS).  Both are no-ops when systemd is not there. */
#ifndef SUPERD_SYSTEMD_H
#define SUPERD_SYSTEMD_H

#include <stddef.h>

#include "listener.h"

/* Send one notify message ("READY=1") to $NOTIFY_SOCKET, if set.  Returns
 * 0 (also when unset) or a negative errno. */
int systemd_notify(const char *msg);

/* "RELOADING=1" with the MONOTONIC_USEC systemd's notify-reload wants. */
int systemd_notify_reloading(void);

/*
 * Collect the sockets passed by socket activation ($LISTEN_PID is us,
 * $LISTEN_FDS of them from fd 3) into `set`, each with its kind and address
 * read from the socket, made non-blocking and close-on-exec, and unset the
 * variables so no child sees them.  The files of unix sockets stay
 * systemd's.  Returns 0 (an empty set when nothing was passed) or a
 * negative errno with err set.
 */
int systemd_listen_fds(struct lsn_set *set, char *err, size_t errlen);

#endif
