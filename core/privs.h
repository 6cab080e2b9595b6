/* privs.h - dropping root in processes that run plugin code. */
#ifndef SUPERD_PRIVS_H
#define SUPERD_PRIVS_H

#include <stddef.h>

struct conf;

/*
 * When running as root and `user` is configured: drop every supplementary
 * group, then switch to the configured group and user, for good.  Does
 * nothing otherwise.  Returns 0, or a negative errno with the reason in err.
 */
int privs_drop(const struct conf *c, char *err, size_t errlen);

#endif
