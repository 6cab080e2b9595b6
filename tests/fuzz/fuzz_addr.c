/*
 * fuzz_addr.c - libFuzzer target: one listen word, as addr_parse() reads
 * it from a `listen =` line.
 *
 * The input (up to its first NUL) is parsed three times into the same
 * vector: without a base directory, with ".", and with a long absolute one,
 * so appending, relative unix paths and the path length limit are all
 * reached.  Host names never reach DNS (see shims.c).  Checked besides the
 * sanitizers:
 *   - a failure adds nothing and leaves a one-line, nul-terminated message;
 *   - a success adds at least one address, of the kind the word's scheme
 *     names, with a consistent family, length, port and text;
 *   - a relative unix path is under the base directory, and every path is
 *     nul-terminated inside sun_path;
 *   - addr_format() stays inside buffers of any size.
 * A violation calls abort(), which libFuzzer reports as a crash.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "addr.h"

#define INPUT_MAX 4096

/* 60 characters: with a short relative path it still fits sun_path, with a
 * long one it does not. */
#define LONG_BASE "/var/lib/superd-fuzz/a-base-directory-of-some-length/conf"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((noreturn))
static void violated(const char *what, const char *word)
{
    fprintf(stderr, "fuzz_addr: invariant violated: %s (word '%s')\n", what, word);
    abort();
}

/* The kind a word's scheme names, as addr_parse() must read it, or -1. */
static int expected_kind(const char *word)
{
    if (strncmp(word, "tcp://", 6) == 0 || strncmp(word, "tls://", 6) == 0)
        return ADDR_TCP;    /* tls:// is a TCP listener marked .tls */
    if (strncmp(word, "udp://", 6) == 0)
        return ADDR_UDP;
    if (strncmp(word, "unix-dgram:", 11) == 0)
        return ADDR_UNIX_DGRAM;
    if (strncmp(word, "unix:", 5) == 0)
        return ADDR_UNIX;
    return -1;
}

static void check_format(const struct laddr *a, const char *word)
{
    static const size_t sizes[] = { 1, 2, 8, 17, ADDR_FMT_MAX };
    char buf[ADDR_FMT_MAX + 8];

    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        memset(buf, 'Z', sizeof buf);
        addr_format((const struct sockaddr *)&a->sa, a->salen, buf, sizes[i]);
        if (memchr(buf, '\0', sizes[i]) == NULL)
            violated("addr_format() left no terminator", word);
        for (size_t j = sizes[i]; j < sizeof buf; j++)
            if (buf[j] != 'Z')
                violated("addr_format() wrote past the buffer", word);
    }
}

static void check_addr(const struct laddr *a, const char *word, const char *basedir)
{
    const struct sockaddr *sa = (const struct sockaddr *)&a->sa;
    const char *kind = a->tls ? "tls" : addr_kind_name(a->kind);
    size_t klen = strlen(kind);

    if ((int)a->kind != expected_kind(word))
        violated("kind differs from the scheme", word);
    if (a->tls != (strncmp(word, "tls://", 6) == 0))
        violated("tls mark differs from the scheme", word);
    if (memchr(a->text, '\0', sizeof a->text) == NULL)
        violated("text not nul-terminated", word);
    if (strncmp(a->text, kind, klen) != 0 || a->text[klen] != ' ')
        violated("text does not start with the kind", word);
    if (a->salen == 0 || a->salen > sizeof a->sa)
        violated("bad address length", word);
    if (!addr_equal(sa, a->salen, sa, a->salen))
        violated("an address differs from itself", word);
    if (addr_is_unix(a->kind)) {
        const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
        const char *path = addr_unix_path(sa, a->salen);

        if (sa->sa_family != AF_UNIX || addr_port(sa) != 0)
            violated("unix address of another family", word);
        if (path != NULL) {
            if (memchr(sun->sun_path, '\0', sizeof sun->sun_path) == NULL)
                violated("unix path not nul-terminated in sun_path", word);
            if (basedir != NULL && strcmp(basedir, ".") != 0 && path[0] != '/')
                violated("relative unix path left relative with a base directory", word);
        } else if (a->salen <= offsetof(struct sockaddr_un, sun_path) ||
                   sun->sun_path[0] != '\0') {
            violated("unix address that is neither a path nor abstract", word);
        }
    } else {
        unsigned port = addr_port(sa);

        if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
            violated("inet address of another family", word);
        if ((sa->sa_family == AF_INET && a->salen != sizeof(struct sockaddr_in)) ||
            (sa->sa_family == AF_INET6 && a->salen != sizeof(struct sockaddr_in6)))
            violated("inet address length", word);
        if (port < 1 || port > 65535)
            violated("port out of range", word);
    }
    check_format(a, word);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const bases[] = { NULL, ".", LONG_BASE };
    struct laddr *vec = NULL;
    size_t n = 0;
    char *word;

    if (size > INPUT_MAX)
        return 0;
    word = malloc(size + 1);
    if (word == NULL)
        return 0;
    memcpy(word, data, size);
    word[size] = '\0';

    for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++) {
        char err[512];
        size_t before = n;
        int r;

        memset(err, 'x', sizeof err);
        r = addr_parse(word, bases[b], &vec, &n, err, sizeof err);
        if (r < 0) {
            if (n != before)
                violated("a failure added addresses", word);
            if (memchr(err, '\0', sizeof err) == NULL || err[0] == '\0')
                violated("failure without a message", word);
            /* A word cannot hold a newline (the configuration splits lines),
             * but the message must not add one. */
            if (strchr(word, '\n') == NULL && strchr(err, '\n') != NULL)
                violated("message of more than one line", word);
            continue;
        }
        if (r > 0)
            violated("positive result", word);
        if (n <= before)
            violated("success without an address", word);
        for (size_t i = before; i < n; i++)
            check_addr(&vec[i], word, bases[b]);
    }
    free(vec);
    free(word);
    return 0;
}
