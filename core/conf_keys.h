/* conf_keys.h - the configuration keys as a table (nginx's ngx_command_t).
 *
 * Each key the core reads is one row: its name, the sections it may be
 * given in, its type (the setter that parses the value, one per type, each
 * with one error message), the field it fills (an offsetof into struct conf
 * and/or struct conf_service) and its limits.  config.c reads the file,
 * refuses duplicates, finds the row and calls its setter; a key of a
 * service that no row names is kept for the plugin.  How to add a key: see
 * the comment above the table in conf_keys.c.
 */
#ifndef SUPERD_CONF_KEYS_H
#define SUPERD_CONF_KEYS_H

#include <stddef.h>

#include "config.h"

/* Where a key may be given (bits of conf_key.where). */
#define CONF_GLOBAL  1u         /* [superd] */
#define CONF_SERVICE 2u         /* a service's section */
#define CONF_BOTH    (CONF_GLOBAL | CONF_SERVICE)

/* Index of the section in conf_key.off and .line_at: [superd], service. */
enum { CONF_IN_GLOBAL, CONF_IN_SERVICE };

struct conf_parse;              /* config.c's parser state */
struct conf_key;

/* One key being set: everything a setter may need. */
struct conf_arg {
    struct conf_parse *p;       /* for conf_fail / conf_warn */
    const struct conf_key *key;
    const char *value;          /* not empty; dies after the call: copy it */
    void *field;                /* the row's field in conf or svc */
    struct conf *conf;
    struct conf_service *svc;   /* NULL in [superd] */
    const char *section;        /* "superd" or the service's name */
    const char *dir;            /* directory of the file the key is in */
    int line;
};

/* Parse a->value into a->field.  Returns 0, or the negative errno it has
 * reported with conf_fail (the first error is the one the user sees). */
typedef int conf_setter(struct conf_arg *a);

/* A setter's answer for a value that is not the core's to read: the key is
 * then the plugin's, as any key the core does not know (proxy_protocol =
 * yes is the core's PROXY header in; = v1 or v2 is the forward plugin's
 * header out). */
#define CONF_PLUGIN_VALUE 1

/* A word of an enumerated key and the value stored for it. */
struct conf_choice {
    const char *name;
    int value;
};

struct conf_key {
    const char *name;
    unsigned where;             /* CONF_GLOBAL, CONF_SERVICE or CONF_BOTH */
    conf_setter *set;           /* the type: conf_set_bool, conf_set_count ... */
    size_t off[2];              /* the field in struct conf, struct conf_service */
    size_t size;                /* of the field (numbers: int or long) */
    long min, max;              /* numbers: the range; max LONG_MAX: no upper limit */
    const char *word;           /* count: a word also taken, stored as 0 (auto) */
    const char *hint;           /* message words: what a count is, the enum's
                                 * choices, a duration's note */
    const struct conf_choice *choices;  /* enum: NULL-terminated */
    size_t line_at[2];          /* offsetof + 1 of an int that gets the key's
                                 * line, per section; 0: none */
};

/* The types.  Each reports a bad value in one form, given with the type. */
conf_setter conf_set_bool;      /* yes/no ...: "'V' is not yes or no" */
conf_setter conf_set_count;     /* int or long in [min, max], or `word` (0):
                                 * "'V' is not [WORD or ]HINT from MIN to MAX",
                                 * HINT "a number" by default; without an
                                 * upper limit: "'V' is not a positive number" */
conf_setter conf_set_duration;  /* unsigned ms: "bad duration 'V' (examples:
                                 * 250ms, 30s, 5m, 1h[HINT])" */
conf_setter conf_set_rate;      /* struct conf_rate: "'V' is not N/s, N/m or none" */
conf_setter conf_set_metrics_listen; /* the built-in metrics service's listen */
conf_setter conf_set_ids;        /* struct conf_ids: names (word: "user"/"group") or ids */
conf_setter conf_set_proxy_in;   /* bool; any other word: CONF_PLUGIN_VALUE */
conf_setter conf_set_reply_rate; /* the same, or off: udp_reply_off */
conf_setter conf_set_string;    /* char *, copied */
conf_setter conf_set_path;      /* char *, resolved against the file's directory */
conf_setter conf_set_acl;       /* struct acl: acl_parse's message */
conf_setter conf_set_mode;      /* int, octal, up to max:
                                 * "'V' is not an octal mode such as 0660" */
conf_setter conf_set_enum;      /* int, one of choices: "'V' is not HINT" */
conf_setter conf_set_user;      /* [superd] user: looked up, uid 0 warns */
conf_setter conf_set_group;     /* [superd] group: looked up */
conf_setter conf_set_listen;    /* a service's addresses, appended */
conf_setter conf_set_include;   /* [superd] include (in config.c) */

/* The row of `name` that may be given in `where` (CONF_GLOBAL or
 * CONF_SERVICE), or NULL. */
const struct conf_key *conf_key_find(unsigned where, const char *name);

/* The i-th row of every table, in order, or NULL past the last (for tests
 * and documentation checks). */
const struct conf_key *conf_key_at(size_t i);

/* A key that may be given in `where` and is one edit (a letter added,
 * removed, changed, or two neighbours swapped) away from `name`, or NULL. */
const char *conf_key_suggest(unsigned where, const char *name);

/* Whether a and b are one such edit apart (not equal). */
bool conf_one_edit(const char *a, const char *b);

/* dir + "/" + path, unless path is absolute or dir is "."; malloc'ed, or
 * NULL when out of memory. */
char *conf_resolve(const char *dir, const char *path);

/* Report the key of `a` as wrong: "FILE:LINE: [section] key: message".
 * Returns rc (a negative errno).  Implemented by config.c. */
int conf_fail(struct conf_arg *a, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Keep a warning about the key of `a`, in the same form. */
void conf_warn(struct conf_arg *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
