/*
 * clock: the monotonic clock in nanoseconds, for rate limits, grace periods
 * and durations; the real-time clock for timestamps written out.
 */
#ifndef PODFLAME_CLOCK_H
#define PODFLAME_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline int64_t realtime_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#endif
