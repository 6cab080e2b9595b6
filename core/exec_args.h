/* exec_args.h - splitting `args =`, `env =` and `pass_env =` values into
 * words, the way a shell would without expanding anything. */
#ifndef SUPERD_EXEC_ARGS_H
#define SUPERD_EXEC_ARGS_H

#include <stddef.h>

/*
 * Split `s` into words: blanks (space, tab) separate words; 'single quotes'
 * keep everything literally; "double quotes" keep everything but a
 * backslash before " \ $ or ` (which stands for that character); outside
 * quotes a backslash keeps the next character.  Quotes join with what
 * touches them (a"b"'c' is one word, abc; "" is an empty word).  Nothing is
 * expanded: no $VAR, no globs, no ~.  On success *out is a malloc'ed,
 * NULL-terminated vector of malloc'ed words (free with exec_args_free), *n
 * its length, and 0 is returned; on failure a negative errno is returned
 * and err says why ("unterminated double quote", ...).
 */
int exec_args_split(const char *s, char ***out, size_t *n, char *err, size_t errlen);

/* Free a vector made by exec_args_split (NULL is fine). */
void exec_args_free(char **v);

#endif
