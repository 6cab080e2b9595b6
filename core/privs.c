/* privs.c - dropping root in processes that run plugin code. */
#include "privs.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int privs_drop(const struct conf *c, char *err, size_t errlen)
{
    if (!c->user || geteuid() != 0)
        return 0;
    /* Groups first: after setuid we could no longer change them. */
    if (setgroups(0, NULL) < 0 || setgid(c->gid) < 0 || setuid(c->uid) < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot switch to user %s: %s", c->user, strerror(e));
        return -e;
    }
    /* Make sure there is no way back. */
    if (c->uid != 0 && setuid(0) == 0) {
        snprintf(err, errlen, "could switch back to root after dropping to %s", c->user);
        return -EPERM;
    }
    return 0;
}
