/*
 * inlined: a CPU loop whose hot code sits in two functions GCC inlines at
 * -O2 (inl_mix inside inl_stage inside inl_outer), for the DWARF tests: the
 * inline chain and the source lines marked HOT and CALL must come back.
 *
 * usage: inlined SECONDS [NAME]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

static volatile unsigned long sink;

static inline __attribute__((always_inline)) unsigned long inl_mix(unsigned long x)
{
    for (int i = 0; i < 4096; i++)
        x = x * 2862933555777941757UL + 3037000493UL; /* HOT */
    return x;
}

static inline __attribute__((always_inline)) unsigned long inl_stage(unsigned long x)
{
    return inl_mix(x ^ 0x5555) + 1; /* CALL-MIX */
}

/* a call makes inl_outer a non-leaf, so GCC gives it a frame pointer */
__attribute__((noinline)) void inl_tick(void)
{
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) unsigned long inl_outer(unsigned long n)
{
    unsigned long x = sink;

    inl_tick();
    for (unsigned long i = 0; i < n; i++)
        x = inl_stage(x + i); /* CALL-STAGE */
    sink = x;
    return x;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2, end = now() + seconds;

    if (argc > 2)
        prctl(PR_SET_NAME, argv[2], 0, 0, 0);
    while (now() < end)
        inl_outer(64);
    return 0;
}
