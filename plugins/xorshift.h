/* xorshift.h - the small random numbers of the sample plugins (chargen's
 * datagram lengths, qotd's choice of quote): no cryptographic quality is
 * needed, only numbers that differ between workers and restarts.  Header
 * only, so each plugin stays one .so with nothing shared at run time. */
#ifndef SUPERD_PLUGINS_XORSHIFT_H
#define SUPERD_PLUGINS_XORSHIFT_H

#include <stdint.h>
#include <sys/random.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* A seed, never 0 (xorshift's one fixed point). */
static inline uint64_t xorshift_seed(void)
{
    uint64_t s = 0;

    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s)
        s = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15u ^ (uint64_t)getpid();
    return s != 0 ? s : 0x2545f4914f6cdd1du;
}

/* The next number of xorshift64; *state is never 0. */
static inline uint64_t xorshift_next(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

#endif
