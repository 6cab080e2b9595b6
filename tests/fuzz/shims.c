/*
 * shims.c - keep the configuration and listen-address fuzzers off the
 * network and out of the file system.
 *
 * The fuzz binaries are linked with
 *     -Wl,--wrap=getaddrinfo,--wrap=glob,--wrap=getpwnam,--wrap=getgrnam
 * so that the core objects' calls to those functions land here (and
 * __real_NAME is the C library's, or the sanitizer's interceptor of it).
 * The core's code is compiled unchanged; only what the fuzzer can make it
 * reach through these four calls is narrowed:
 *
 *   getaddrinfo  a listen word such as tcp://somename:7 would send a DNS
 *                query for every mutation (slow, not loopback-only, and the
 *                answer varies).  Host names are refused as a numeric-only
 *                look-up refuses them, except "localhost", which is answered
 *                as 127.0.0.1.
 *   glob         `include = /dev/std?n` would make the parser read whatever the
 *                pattern names (/dev/stdin blocks).  Only patterns inside
 *                FUZZ_INCLUDE_DIR (tests/fuzz/include, a few fixed files)
 *                and without ".." are expanded; others match nothing.
 *   getpwnam,    `user =` and `group =` would go through NSS modules
 *   getgrnam     (systemd-userdb here): a small fixed table instead.
 */
#include <glob.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#ifndef FUZZ_INCLUDE_DIR
#error "FUZZ_INCLUDE_DIR must name tests/fuzz/include (the Makefile sets it)"
#endif

int __real_getaddrinfo(const char *node, const char *service,
                       const struct addrinfo *hints, struct addrinfo **res);
int __wrap_getaddrinfo(const char *node, const char *service,
                       const struct addrinfo *hints, struct addrinfo **res);
int __real_glob(const char *pattern, int flags, int (*errfunc)(const char *, int),
                glob_t *pglob);
int __wrap_glob(const char *pattern, int flags, int (*errfunc)(const char *, int),
                glob_t *pglob);
struct passwd *__wrap_getpwnam(const char *name);
struct group *__wrap_getgrnam(const char *name);

/*
 * getaddrinfo() with AI_NUMERICHOST always set: literals resolve as before,
 * names fail with EAI_NONAME without a query; "localhost" is 127.0.0.1.
 * The result is the real function's, freed with freeaddrinfo().
 */
int __wrap_getaddrinfo(const char *node, const char *service,
                       const struct addrinfo *hints, struct addrinfo **res)
{
    struct addrinfo h = { 0 };

    if (hints != NULL)
        h = *hints;
    if (node != NULL && strcmp(node, "localhost") == 0 && !(h.ai_flags & AI_NUMERICHOST))
        node = "127.0.0.1";
    h.ai_flags |= AI_NUMERICHOST;
    return __real_getaddrinfo(node, service, &h, res);
}

/*
 * glob() for patterns inside FUZZ_INCLUDE_DIR; any other pattern matches
 * nothing (GLOB_NOMATCH, pglob untouched), as a missing directory would.
 */
int __wrap_glob(const char *pattern, int flags, int (*errfunc)(const char *, int),
                glob_t *pglob)
{
    static const char dir[] = FUZZ_INCLUDE_DIR "/";

    if (strncmp(pattern, dir, sizeof dir - 1) != 0 || strstr(pattern, "..") != NULL)
        return GLOB_NOMATCH;
    return __real_glob(pattern, flags, errfunc, pglob);
}

/* A user of the fixed table, or NULL as for an unknown name. */
struct passwd *__wrap_getpwnam(const char *name)
{
    static struct passwd users[] = {
        { .pw_name = "root", .pw_passwd = "x", .pw_uid = 0, .pw_gid = 0,
          .pw_gecos = "root", .pw_dir = "/root", .pw_shell = "/bin/sh" },
        { .pw_name = "daemon", .pw_passwd = "x", .pw_uid = 1, .pw_gid = 1,
          .pw_gecos = "daemon", .pw_dir = "/", .pw_shell = "/bin/false" },
        { .pw_name = "nobody", .pw_passwd = "x", .pw_uid = 65534, .pw_gid = 65534,
          .pw_gecos = "nobody", .pw_dir = "/nonexistent", .pw_shell = "/bin/false" },
    };

    for (size_t i = 0; i < sizeof users / sizeof users[0]; i++)
        if (strcmp(name, users[i].pw_name) == 0)
            return &users[i];
    return NULL;
}

/* A group of the fixed table, or NULL as for an unknown name. */
struct group *__wrap_getgrnam(const char *name)
{
    static char *no_members[] = { NULL };
    static struct group groups[] = {
        { .gr_name = "root", .gr_passwd = "x", .gr_gid = 0, .gr_mem = no_members },
        { .gr_name = "daemon", .gr_passwd = "x", .gr_gid = 1, .gr_mem = no_members },
        { .gr_name = "nogroup", .gr_passwd = "x", .gr_gid = 65534, .gr_mem = no_members },
    };

    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        if (strcmp(name, groups[i].gr_name) == 0)
            return &groups[i];
    return NULL;
}
