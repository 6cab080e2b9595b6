/*
 * fuzz_config.c - libFuzzer target: the configuration parser.
 *
 * The input is the text of a configuration file, parsed with
 * conf_load_string() as if it were FUZZ_INCLUDE_DIR/fuzz.ini, so that a
 * relative `include` finds the few fixed files there (see shims.c for what
 * else is kept from the network and the file system).  Besides the
 * sanitizers, it checks what the rest of the daemon relies on:
 *   - an error is one line (no newline) that names the file it is in, and
 *     fits the buffer;
 *   - a configuration that loads has an enabled service, every enabled
 *     service has a plugin and an address, and the values are in range.
 * A violation calls abort(), which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#ifndef FUZZ_INCLUDE_DIR
#error "FUZZ_INCLUDE_DIR must name tests/fuzz/include (the Makefile sets it)"
#endif

#define FUZZ_PATH FUZZ_INCLUDE_DIR "/fuzz.ini"

/* The largest input tried: far above the seeds, far below FILE_MAX. */
#define INPUT_MAX (256 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((noreturn))
static void violated(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_config: invariant violated: %s: %s\n", what, detail);
    abort();
}

/* A nul-terminated string of at most `size` bytes in buf. */
static int terminated(const char *buf, size_t size)
{
    return memchr(buf, '\0', size) != NULL;
}

static void check_error(int r, const char *err, size_t errlen)
{
    if (r >= 0)
        violated("error result", "conf_load_string() failed with a result >= 0");
    if (!terminated(err, errlen))
        violated("error message", "not nul-terminated");
    if (err[0] == '\0')
        violated("error message", "empty");
    if (strchr(err, '\n') != NULL)
        violated("error message is more than one line", err);
    /* Every message names a file: this one or one it included, all of
     * which live in FUZZ_INCLUDE_DIR. */
    if (strncmp(err, FUZZ_INCLUDE_DIR "/", strlen(FUZZ_INCLUDE_DIR "/")) != 0)
        violated("error message does not name the file", err);
}

static void check_service(const struct conf_service *s)
{
    if (s->name == NULL || s->name[0] == '\0' || s->file == NULL || s->line < 1)
        violated("service", "no name, file or line");
    if (!s->enabled)
        return;
    if (s->plugin == NULL || s->naddrs == 0 || s->addrs == NULL)
        violated("enabled service without plugin or listen", s->name);
    for (size_t i = 0; i < s->naddrs; i++) {
        const struct laddr *a = &s->addrs[i];
        if (!terminated(a->text, sizeof a->text) || a->line < 1 ||
            a->salen == 0 || a->salen > sizeof a->sa)
            violated("listen address", s->name);
    }
    if (s->backlog < 0 || s->backlog > 65535 || s->max_connections < 0 ||
        s->max_per_source < 0 || s->socket_mode < -1 || s->socket_mode > 0777)
        violated("service value out of range", s->name);
    if (s->only_from.set && s->only_from.text == NULL)
        violated("only_from set without its text", s->name);
    for (size_t i = 0; i < s->nopts; i++)
        if (s->opts[i].key == NULL || s->opts[i].value == NULL || s->opts[i].line < 1)
            violated("plugin option", s->name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[CONF_ERR_MAX];
    struct conf *c = NULL;
    char *text;
    int r;

    if (size > INPUT_MAX)
        return 0;
    text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    memset(err, 'x', sizeof err);
    err[sizeof err - 1] = 'x';      /* so a missing terminator is seen */

    r = conf_load_string(text, FUZZ_PATH, &c, err, sizeof err);
    if (r == 0) {
        size_t enabled = 0;

        if (c == NULL)
            violated("success", "no configuration returned");
        if (c->workers < 1 || c->workers > CONF_WORKERS_MAX || c->nfiles < 1 ||
            c->max_connections < 0)
            violated("global value out of range", c->path);
        for (size_t i = 0; i < c->nsvcs; i++) {
            check_service(&c->svcs[i]);
            enabled += c->svcs[i].enabled;
        }
        if (enabled == 0)
            violated("success", "no enabled service");
        conf_free(c);
    } else {
        if (c != NULL)
            violated("failure", "a configuration was returned");
        check_error(r, err, sizeof err);
    }
    free(text);
    return 0;
}
