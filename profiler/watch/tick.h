/*
 * tick: one second of readings, as the kernel counts them: the node's CPU
 * time and CPU pressure, and every Pod's cgroup counters, limit and
 * pressure. Plain data: tick_reader.h fills one from /proc and the cgroups,
 * a test writes one by hand, and the rules (rules.h) take a series of them.
 * Counters are cumulative, as read; the rules turn two ticks into rates.
 */
#ifndef PODFLAME_TICK_H
#define PODFLAME_TICK_H

#include <stddef.h>
#include <stdint.h>

#include "profiler/watch/cpustat.h"

/* A Pod's own cgroup (the one that holds all its containers). */
struct tick_pod {
    char uid[40];          /* with dashes, as the API shows it */
    char path[512];        /* relative to the cgroup2 mount */
    uint64_t cgroup_id;    /* of its cgroup2 directory */
    struct cgroup_cpu cpu; /* usage, throttling (cumulative), limit, PSI */
};

struct watch_tick {
    int64_t mono_ns;     /* when it was read, on the monotonic clock: rates, sustain, cooldown */
    int64_t real_ns;     /* the same moment on the real-time clock: what findings show */
    uint64_t node_busy;  /* /proc/stat, clock ticks, all CPUs, cumulative */
    uint64_t node_total; /* the same, idle included */
    unsigned ncpus;      /* CPUs /proc/stat lists */
    double node_psi;     /* /proc/pressure/cpu some avg10 (%); -1: none */
    const struct tick_pod *pods; /* borrowed from whoever filled the tick */
    size_t npods;                /* a Pod listed twice: the first counts */
};

#endif
