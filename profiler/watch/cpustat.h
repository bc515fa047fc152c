/*
 * cpustat: CPU use as the kernel counts it, for the saturation watcher:
 * the node's per-CPU time from /proc/stat, CPU pressure from
 * /proc/pressure/cpu, and a cgroup's usage, limit and throttling from cgroup
 * v2 (cpu.stat, cpu.max, cpu.pressure) or, for what v2 lacks on a hybrid or
 * v1 host, from the v1 cpu and cpuacct controllers (cpuacct.usage,
 * cpu.cfs_quota_us, cpu.cfs_period_us, cpu.stat). The parsers take text, so
 * they are unit-tested and fuzzed without a kernel.
 */
#ifndef PODFLAME_CPUSTAT_H
#define PODFLAME_CPUSTAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CPUSTAT_MAX_CPUS 1024

/* Cumulative CPU time in clock ticks. */
struct node_cpu {
    uint64_t busy, total;                /* all CPUs */
    uint64_t cpu_busy[CPUSTAT_MAX_CPUS]; /* per CPU */
    uint64_t cpu_total[CPUSTAT_MAX_CPUS];
    unsigned ncpus;
};

/* A cgroup's counters; a field the host does not have stays at its mark. */
struct cgroup_cpu {
    uint64_t usage_usec;               /* cumulative CPU time */
    uint64_t nr_periods, nr_throttled; /* 0 without a limit or a cpu controller */
    uint64_t throttled_usec;
    double limit_cpus;     /* cpu.max quota/period; 0: no limit */
    double psi_some_avg10; /* -1: no cpu.pressure */
    bool has_throttling;   /* the counters above come from a controller */
};

/* "cpu  1 2 3 ..." lines of /proc/stat. Returns 0 or -EINVAL. */
int cpustat_parse_proc_stat(const char *text, struct node_cpu *out);

/* "some avg10=1.23 avg60=..." (PSI): the some avg10 value, or -EINVAL. */
int cpustat_parse_psi(const char *text, double *some_avg10);

/* cgroup v2 cpu.stat ("usage_usec N" lines) into out. Returns 0 or -EINVAL
 * when usage_usec is missing. */
int cpustat_parse_cpu_stat(const char *text, struct cgroup_cpu *out);

/* cgroup v2 cpu.max ("max 100000" or "50000 100000"): CPUs, 0 for none. */
int cpustat_parse_cpu_max(const char *text, double *cpus);

/* Reads the node's counters. Returns 0 or a negative errno; it fills no
 * message (profiler/record.c calls it so): the caller names /proc/stat. */
int cpustat_read_node(struct node_cpu *out, double *psi_some_avg10);

/* Reads a cgroup: v2dir is its cgroup2 directory; v1rel (may be NULL) its
 * path under the v1 cpu and cpuacct mounts, consulted for what v2 lacks.
 * A file the host does not have leaves its fields at their marks. Returns
 * 0, or -ENOENT with the reason in err when the cgroup is gone. */
int cpustat_read_cgroup(const char *v2dir, const char *v1rel, struct cgroup_cpu *out, char *err,
                        size_t errlen);

/* Where the v1 controller named ctrl ("cpu", "cpuacct") is mounted, from
 * /proc/self/mountinfo read once; NULL when it is not (pure cgroup v2).
 * The string is static: valid for the life of the process. */
const char *cpustat_v1_mount(const char *ctrl);

#endif
