/*
 * chain: known CPU shares behind a fixed call chain, on a thread of its own:
 *
 *   start_thread -> chain_thread -> chain_loop -> chain_middle_a -> chain_leaf_a  60 %
 *                                              -> chain_middle_b -> chain_leaf_b  40 %
 *
 * for the unwinding tests. Built -O2, so GCC gives the leaves no frame of
 * their own: frame-pointer unwinding alone loses the middle functions. With
 * -DCHAIN_LIB the middles and leaves go in a shared library (libchain.so)
 * and the executable keeps the thread and the loop (-DCHAIN_MAIN).
 *
 * usage: chain SECONDS [DEPTH]
 *        chain --rounds N     (fixed work, for benchmarks)
 * DEPTH: recurse DEPTH times (512 bytes of stack each) before the loop, for
 * stacks deeper than a stack copy.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UNIT 4096 /* loop iterations per share unit */

unsigned long chain_middle_a(unsigned long x);
unsigned long chain_middle_b(unsigned long x);

#ifndef CHAIN_MAIN
static volatile unsigned long chain_sink;

__attribute__((noinline)) unsigned long chain_leaf_a(unsigned long x)
{
    for (int i = 0; i < 6 * UNIT; i++)
        x = x * 2862933555777941757UL + 3037000493UL;
    return x;
}

__attribute__((noinline)) unsigned long chain_leaf_b(unsigned long x)
{
    for (int i = 0; i < 4 * UNIT; i++)
        x = x * 2862933555777941757UL + 3037000493UL;
    return x;
}

/* "+ chain_sink": no tail call, so the middle keeps its frame */
__attribute__((noinline)) unsigned long chain_middle_a(unsigned long x)
{
    return chain_leaf_a(x ^ 0x5a) + chain_sink;
}

__attribute__((noinline)) unsigned long chain_middle_b(unsigned long x)
{
    return chain_leaf_b(x ^ 0xa5) + chain_sink;
}
#endif

#ifndef CHAIN_LIB
static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile unsigned long loop_sink;

static unsigned long rounds; /* --rounds: fixed work instead of time */

__attribute__((noinline)) void chain_loop(double end)
{
    unsigned long x = 1, done = 0;

    while (rounds ? done++ < rounds : now() < end) {
        x = chain_middle_a(x);
        x = chain_middle_b(x);
    }
    loop_sink = x;
}

static int depth;

__attribute__((noinline)) void chain_deep(int n, double end)
{
    volatile char pad[512];

    pad[0] = (char)n;
    if (n > 0)
        chain_deep(n - 1, end);
    else
        chain_loop(end);
    loop_sink += pad[0];
}

__attribute__((noinline)) void *chain_thread(void *arg)
{
    if (depth)
        chain_deep(depth, *(double *)arg);
    else
        chain_loop(*(double *)arg);
    loop_sink++;
    return NULL;
}

int main(int argc, char **argv)
{
    double end = now() + (argc > 1 ? atof(argv[1]) : 2);
    pthread_t t;

    if (argc > 2 && !strcmp(argv[1], "--rounds"))
        rounds = strtoul(argv[2], NULL, 10);
    else
        depth = argc > 2 ? atoi(argv[2]) : 0;
    if (pthread_create(&t, NULL, chain_thread, &end) != 0)
        return 1;
    pthread_join(t, NULL);
    return 0;
}
#endif
