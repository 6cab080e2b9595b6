/* exec_args.c - shell-like word splitting, without any expansion. */
#include "exec_args.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void exec_args_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* Append the word buf[0..len) to *v (NULL-terminated, *n words). */
static int push(char ***v, size_t *n, const char *buf, size_t len)
{
    char **nv = realloc(*v, (*n + 2) * sizeof *nv);
    if (!nv)
        return -ENOMEM;
    *v = nv;
    if (!(nv[*n] = strndup(buf, len)))
        return -ENOMEM;
    nv[++*n] = NULL;
    return 0;
}

int exec_args_split(const char *s, char ***out, size_t *n, char *err, size_t errlen)
{
    size_t cap = strlen(s) + 1;     /* a word is never longer than s */
    char *buf = malloc(cap), **v = calloc(1, sizeof *v);
    size_t nv = 0, len = 0;
    bool inword = false;
    int r = buf && v ? 0 : -ENOMEM;
    const char *why = NULL;
    for (const char *p = s; !r && !why && *p; p++) {
        char ch = *p;
        if (ch == ' ' || ch == '\t') {
            if (inword)
                r = push(&v, &nv, buf, len);
            inword = false;
            len = 0;
        } else if (ch == '\'') {
            const char *e = strchr(p + 1, '\'');
            if (!e) {
                why = "unterminated single quote";
                break;
            }
            memcpy(buf + len, p + 1, (size_t)(e - p - 1));
            len += (size_t)(e - p - 1);
            inword = true;
            p = e;
        } else if (ch == '"') {
            inword = true;
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && p[1] && strchr("\"\\$`", p[1]))
                    p++;
                buf[len++] = *p;
            }
            if (!*p)
                why = "unterminated double quote";
            if (!*p)
                break;
        } else if (ch == '\\') {
            if (!p[1]) {
                why = "backslash at the end (nothing to escape)";
                break;
            }
            buf[len++] = *++p;
            inword = true;
        } else {
            buf[len++] = ch;
            inword = true;
        }
    }
    if (!r && !why && inword)
        r = push(&v, &nv, buf, len);
    free(buf);
    if (r || why) {
        exec_args_free(v);
        snprintf(err, errlen, "%s", why ? why : "out of memory");
        return why ? -EINVAL : r;
    }
    *out = v;
    *n = nv;
    return 0;
}
