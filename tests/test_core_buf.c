/* test_core_buf.c - the growable byte buffer behind every connection's input
 * and output queue: growth, compaction, content kept, memory released. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "test_core.h"

/* Byte i of a recognisable stream: not periodic in any power of two. */
static char pat(size_t i)
{
    return (char)(i % 251);
}

static bool holds_pattern(const struct buf *b, size_t from, size_t n)
{
    if (buf_len(b) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (buf_head(b)[i] != pat(from + i))
            return false;
    return true;
}

static void append_pattern(struct buf *b, size_t from, size_t n)
{
    char chunk[1000];
    while (n > 0) {
        size_t k = n < sizeof chunk ? n : sizeof chunk;
        for (size_t i = 0; i < k; i++)
            chunk[i] = pat(from + i);
        CU_ASSERT_EQUAL_FATAL(buf_append(b, chunk, k), 0);
        from += k;
        n -= k;
    }
}

static void test_empty_holds_no_memory(void)
{
    struct buf b = { 0 };
    CU_ASSERT_EQUAL(buf_len(&b), 0);
    /* Appending nothing must not allocate: idle connections cost nothing. */
    CU_ASSERT_EQUAL(buf_append(&b, "x", 0), 0);
    CU_ASSERT_PTR_NULL(b.data);
    CU_ASSERT_EQUAL(b.cap, 0);
}

static void test_append_consume(void)
{
    struct buf b = { 0 };
    CU_ASSERT_EQUAL_FATAL(buf_append(&b, "hello, ", 7), 0);
    CU_ASSERT_EQUAL_FATAL(buf_append(&b, "world", 5), 0);
    CU_ASSERT_EQUAL(buf_len(&b), 12);
    CU_ASSERT_NSTRING_EQUAL(buf_head(&b), "hello, world", 12);
    buf_consume(&b, 7);
    CU_ASSERT_EQUAL(buf_len(&b), 5);
    CU_ASSERT_NSTRING_EQUAL(buf_head(&b), "world", 5);
    buf_consume(&b, 5);
    CU_ASSERT_EQUAL(buf_len(&b), 0);
    /* Consuming everything rewinds, so the space is reused from the start. */
    CU_ASSERT_EQUAL(b.start, 0);
    CU_ASSERT_EQUAL(b.end, 0);
    CU_ASSERT_EQUAL_FATAL(buf_append(&b, "again", 5), 0);
    CU_ASSERT_NSTRING_EQUAL(buf_head(&b), "again", 5);
    buf_free(&b);
}

/* Many appends across several reallocations keep every byte in order. */
static void test_growth_keeps_content(void)
{
    struct buf b = { 0 };
    size_t caps_seen = 0, last_cap = 0;
    for (size_t done = 0; done < 300000; done += 1000) {
        append_pattern(&b, done, 1000);
        CU_ASSERT_FATAL(b.cap >= buf_len(&b));
        if (b.cap != last_cap) {
            caps_seen++;
            last_cap = b.cap;
        }
    }
    CU_ASSERT(caps_seen >= 3);
    CU_ASSERT(holds_pattern(&b, 0, 300000));
    /* One large append grows in one step, and keeps what was there. */
    buf_consume(&b, 100000);
    append_pattern(&b, 300000, 2 * 1024 * 1024);
    CU_ASSERT(holds_pattern(&b, 100000, 200000 + 2 * 1024 * 1024));
    buf_free(&b);
}

/* Consumed space at the front is reclaimed before the buffer grows. */
static void test_compaction(void)
{
    struct buf b = { 0 };
    append_pattern(&b, 0, 4000);
    size_t cap = b.cap;
    CU_ASSERT_FATAL(cap >= 4000);
    /* Fill it exactly, then free most of it from the front. */
    append_pattern(&b, 4000, cap - 4000);
    CU_ASSERT_EQUAL_FATAL(b.end, cap);
    buf_consume(&b, cap - 100);
    append_pattern(&b, cap, cap - 200);
    CU_ASSERT_EQUAL(b.cap, cap);
    CU_ASSERT_EQUAL(b.start, 0);
    CU_ASSERT(holds_pattern(&b, cap - 100, cap - 100));
    /* When compaction is not enough, it grows, still in order. */
    append_pattern(&b, 2 * cap - 200, 1000);
    CU_ASSERT(b.cap > cap);
    CU_ASSERT(holds_pattern(&b, cap - 100, cap + 900));
    buf_free(&b);
}

/* An impossible size fails cleanly and leaves the buffer as it was. */
static void test_overflow_refused(void)
{
    struct buf b = { 0 };
    CU_ASSERT_EQUAL_FATAL(buf_append(&b, "abc", 3), 0);
    char *data = b.data;
    size_t cap = b.cap;
    CU_ASSERT_EQUAL(buf_append(&b, "xyz", SIZE_MAX), -ENOMEM);
    CU_ASSERT_EQUAL(buf_append(&b, "xyz", SIZE_MAX - 2), -ENOMEM);
    CU_ASSERT_PTR_EQUAL(b.data, data);
    CU_ASSERT_EQUAL(b.cap, cap);
    CU_ASSERT_EQUAL(buf_len(&b), 3);
    CU_ASSERT_NSTRING_EQUAL(buf_head(&b), "abc", 3);
    buf_free(&b);
}

static void test_free(void)
{
    struct buf b = { 0 };
    append_pattern(&b, 0, 10000);
    buf_consume(&b, 10);
    buf_free(&b);
    CU_ASSERT_PTR_NULL(b.data);
    CU_ASSERT_EQUAL(buf_len(&b), 0);
    CU_ASSERT_EQUAL(b.start, 0);
    CU_ASSERT_EQUAL(b.cap, 0);
    /* Freeing twice is harmless; the buffer is reusable. */
    buf_free(&b);
    append_pattern(&b, 7, 10);
    CU_ASSERT(holds_pattern(&b, 7, 10));
    buf_free(&b);
    CU_ASSERT_PTR_NULL(b.data);
}

int test_core_buf_register(void)
{
    static const struct tc_test tests[] = {
        { "empty buffer holds no memory", test_empty_holds_no_memory },
        { "append and consume", test_append_consume },
        { "growth keeps content in order", test_growth_keeps_content },
        { "consumed front space is reclaimed before growing", test_compaction },
        { "impossible size: -ENOMEM, buffer unchanged", test_overflow_refused },
        { "buf_free releases memory, buffer reusable", test_free },
    };
    return tc_register("core: buf", NULL, NULL, tests, sizeof tests / sizeof tests[0]);
}
