/* buf.h - a growable byte buffer: bytes are appended at the end and
 * consumed from the front.  Used for connection input and output queues. */
#ifndef SUPERD_BUF_H
#define SUPERD_BUF_H

#include <stddef.h>

struct buf {
    char *data;     /* NULL until the first append: idle connections cost nothing */
    size_t start;   /* first unconsumed byte */
    size_t end;     /* one past the last byte */
    size_t cap;
};

/* Bytes held. */
static inline size_t buf_len(const struct buf *b) { return b->end - b->start; }

/* The held bytes (valid until the next append or free). */
static inline char *buf_head(const struct buf *b) { return b->data + b->start; }

/* Copy n bytes to the end.  Returns 0 or -ENOMEM (the buffer is unchanged). */
int buf_append(struct buf *b, const void *p, size_t n);

/* Drop n bytes from the front (n <= buf_len). */
void buf_consume(struct buf *b, size_t n);

/* Release the memory; the buffer is empty and reusable. */
void buf_free(struct buf *b);

#endif
