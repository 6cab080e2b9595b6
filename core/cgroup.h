/* cgroup.h - a cgroup v2 per exec service, for memory_max and pids_max.
 *
 * The spawner makes ROOT/superd-SERVICE, where ROOT is [superd]
 * cgroup_root or, by default, the cgroup superd runs in; it enables the
 * controllers the limits need in ROOT's cgroup.subtree_control, writes
 * memory.max / pids.max, and keeps cgroup.procs open: a child writes "0"
 * to it (itself) before it execs, so the program and everything it forks
 * are counted from their first instruction.
 */
#ifndef SUPERD_CGROUP_H
#define SUPERD_CGROUP_H

#include <stdbool.h>
#include <stddef.h>

struct exec_conf;

/*
 * The directory of the cgroup v2 the calling process is in (the cgroup2
 * mount point, from /proc/self/mountinfo, joined with the "0::" line of
 * /proc/self/cgroup) into `path`.  Returns 0, or a negative errno with
 * the reason in err.
 */
int cgroup_self(char *path, size_t len, char *err, size_t errlen);

/*
 * Make ROOT/superd-NAME for a service with exec keys `e`: enable memory
 * and/or pids in ROOT (only those e's limits need), create the directory
 * (an existing one is reused: a reload's new spawner shares it), write
 * memory.max (and memory.swap.max 0, where swap accounting exists) and
 * pids.max.  On success *procs_fd is its cgroup.procs, open for writing
 * (close-on-exec; the caller owns it) and 0 is returned; otherwise a
 * negative errno with one line in err naming the file and the reason.
 */
int cgroup_prepare(const char *root, const char *name, const struct exec_conf *e,
                   int *procs_fd, char *err, size_t errlen);

/* Remove ROOT/superd-NAME if it is empty (at shutdown); errors ignored. */
void cgroup_remove(const char *root, const char *name);

#endif
