/* import.h - superd-import: what the inetd.conf and xinetd parsers hand to
 * the writer of superd.ini.
 *
 * A parser fills one struct imp_entry per service line (inetd) or service
 * block (xinetd) with ent_* calls, then gives it to imp_add, which merges it
 * into a section of the same name and the same keys (tcp4 + tcp6, or the
 * stream and datagram halves of an internal service) or starts a new one.
 * imp_print writes the whole superd.ini.  Nothing here links superd's core. */
#ifndef SUPERD_IMPORT_H
#define SUPERD_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* superd reads at most 198 characters a line (inih's buffer). */
#define IMP_LINE_MAX 198
/* ... and section names of at most 49. */
#define IMP_NAME_MAX 49

/* A growing string; imp_* functions never fail on memory (the tool stops). */
struct sbuf {
    char *s;
    size_t len, cap;
};

void sb_add(struct sbuf *b, const char *text);
void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_free(struct sbuf *b);
char *xstrdup(const char *s);
void *xcalloc(size_t n, size_t size);

enum imp_proto { IMP_TCP, IMP_UDP, IMP_UNIX, IMP_UNIX_DGRAM };
#define IMP_FAM4 1u
#define IMP_FAM6 2u

/* One listen address.  host "" is the wildcard of the families in fam. */
struct imp_listen {
    enum imp_proto proto;
    unsigned fam;
    char host[256];
    unsigned port;
    char path[4096];
};

/* A service being converted.  file and line name where it came from. */
struct imp_entry {
    const char *file;
    int line;
    char name[64];          /* the section's name, before it is made unique */
    struct sbuf head;       /* plugin = or program = and args = */
    struct sbuf body;       /* every other key, and comments */
    struct imp_listen lsn;
    bool has_listen;
    bool disabled;          /* enabled = no */
    bool skip;              /* not converted at all: the reason is in body */
};

/* Start an entry: zeroed, with its origin. */
void ent_init(struct imp_entry *e, const char *file, int line, const char *name);
/* Append "key = value" to the head or body; a line longer than superd reads
 * becomes a comment and the service is disabled. */
void ent_head(struct imp_entry *e, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ent_key(struct imp_entry *e, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Append a comment (wrapped to fit superd's line limit). */
void ent_note(struct imp_entry *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The whole service is not converted: why. */
void ent_skip(struct imp_entry *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Keep the service but write enabled = no, with why. */
void ent_disable(struct imp_entry *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ent_free(struct imp_entry *e);

/* One word of a value, quoted as superd's args/env splitting reads it back:
 * appended to b.  Returns 0, or -EINVAL when no quoting can carry it (a
 * ';' after a blank starts an inline comment before superd sees quotes). */
int imp_quote(struct sbuf *b, const char *word);
/* The words of argv (n of them) quoted and joined by blanks, into b.  On
 * -EINVAL, *bad is the word that cannot be written. */
int imp_quote_words(struct sbuf *b, char *const *argv, size_t n, const char **bad);

/* The converted file. */
struct imp_out;
struct imp_out *imp_out_new(void);
void imp_out_free(struct imp_out *o);
/* A comment at the top of the output, about the input as a whole. */
void imp_out_note(struct imp_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A copy of a file name that lives as long as o (entries point to it). */
const char *imp_out_file(struct imp_out *o, const char *name);
/* Merge the entry into the output (the entry is reset; free it after). */
void imp_add(struct imp_out *o, struct imp_entry *e);
/* Write the superd.ini; source names the input in its first line. */
void imp_print(const struct imp_out *o, FILE *f, const char *source);

/* Port of a service name for "tcp" or "udp", or a decimal port: 0 when
 * neither. */
unsigned imp_port(const char *name, const char *proto);

/* The parsers.  Each returns 0, or -errno when path cannot be read (the
 * message is printed on stderr). */
int imp_inetd(struct imp_out *o, const char *path);
/* root: prefix of absolute includedir/includefile paths (NULL: none). */
int imp_xinetd(struct imp_out *o, const char *path, const char *root);
int imp_xinetd_dir(struct imp_out *o, const char *dir);

#endif
