/*
 * cpuwork: a CPU workload whose functions take known shares of its time.
 * Each round calls func_a, func_b, func_c and func_d with 50, 30, 10 and 10
 * units of the same loop, so their self shares are 50/30/10/10 %.
 *
 * usage: cpuwork SECONDS [NAME]   (NAME renames the process, for tests)
 *        cpuwork --rounds N       (fixed work, for benchmarks)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#define UNIT 20000 /* loop iterations per unit: one round is ~100 units */

static volatile unsigned long sink;

static void spin(unsigned long units)
{
    unsigned long x = sink;

    for (unsigned long i = 0; i < units * UNIT; i++)
        x = x * 2862933555777941757UL + 3037000493UL;
    sink = x;
}

/* Each function does its own loop (not a shared helper) so that samples
 * land in it as self time. */
__attribute__((noinline)) void func_a(void)
{
    unsigned long x = sink;

    for (unsigned long i = 0; i < 50UL * UNIT; i++)
        x = x * 2862933555777941757UL + 3037000493UL;
    sink = x;
}

__attribute__((noinline)) void func_b(void)
{
    unsigned long x = sink;

    for (unsigned long i = 0; i < 30UL * UNIT; i++)
        x = x * 2862933555777941757UL + 3037000493UL;
    sink = x;
}

__attribute__((noinline)) void func_c(void)
{
    unsigned long x = sink;

    for (unsigned long i = 0; i < 10UL * UNIT; i++)
        x = x * 2862933555777941757UL + 3037000493UL;
    sink = x;
}

__attribute__((noinline)) void func_d(void)
{
    unsigned long x = sink;

    for (unsigned long i = 0; i < 10UL * UNIT; i++)
        x = x * 2862933555777941757UL + 3037000493UL;
    sink = x;
}

/* With CPUWORK_TRUTH=FILE, each function's CPU time is measured and its
 * share written to FILE at SIGTERM: the truth a test compares a profile
 * against, whatever a busy VM does to the nominal 50/30/10/10. */
static double spent[4];
static int measure;
static volatile sig_atomic_t stop;

static double cpu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void run_round(void)
{
    void (*fns[4])(void) = {func_a, func_b, func_c, func_d};

    for (int i = 0; i < 4; i++) {
        double t = measure ? cpu_now() : 0;

        fns[i]();
        if (measure)
            spent[i] += cpu_now() - t;
    }
}

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static void write_truth(const char *path)
{
    static const char *names[4] = {"func_a", "func_b", "func_c", "func_d"};
    double total = spent[0] + spent[1] + spent[2] + spent[3];
    FILE *f = fopen(path, "w");

    if (!f || total <= 0)
        return;
    for (int i = 0; i < 4; i++)
        fprintf(f, "%s %.2f\n", names[i], 100.0 * spent[i] / total);
    fclose(f);
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    double end;

    if (argc >= 3 && strcmp(argv[1], "--rounds") == 0) {
        long rounds = atol(argv[2]);

        for (long i = 0; i < rounds; i++)
            run_round();
        return 0;
    }
    if (argc < 2 || atof(argv[1]) <= 0) {
        fprintf(stderr, "usage: cpuwork SECONDS [NAME] | cpuwork --rounds N\n");
        return 2;
    }
    if (argc >= 3)
        prctl(PR_SET_NAME, argv[2], 0, 0, 0);
    spin(1); /* warm up */
    if (getenv("CPUWORK_TRUTH")) {
        measure = 1;
        signal(SIGTERM, on_term);
    }
    end = now() + atof(argv[1]);
    while (!stop && now() < end)
        run_round();
    if (measure)
        write_truth(getenv("CPUWORK_TRUTH"));
    return 0;
}
