/*
 * triggers: the CPU-saturation watcher. Every second it reads the node's
 * CPU time and CPU pressure and every Pod's cgroup (usage, limit,
 * throttling, pressure), keeps five minutes of history, and applies the
 * rules: node CPU, a Pod at its limit, a throttled Pod, CPU pressure, each
 * sustained for some seconds. A rule that holds opens an incident, which
 * fires once; it closes when the rule has not held for a few seconds, and
 * the same rule and subject fire again only after the cooldown.
 */
#ifndef PODFLAME_TRIGGERS_H
#define PODFLAME_TRIGGERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WATCH_HISTORY 300 /* seconds kept */

struct watch_rules {
    double node_cpu;   /* % of all CPUs busy (default 90; 0: off) */
    double pod_limit;  /* % of a Pod's CPU limit used (default 90; 0: off) */
    double throttle;   /* % of a Pod's CFS periods throttled (default 25; 0: off) */
    double psi;        /* node CPU pressure, some avg10 % (default 0: off) */
    unsigned sustain;  /* seconds a rule must hold (default 15) */
    unsigned cooldown; /* seconds before the same rule and subject fire again (default 300) */
};

enum trigger_rule {
    TRIGGER_NODE_CPU,
    TRIGGER_POD_LIMIT,
    TRIGGER_THROTTLE,
    TRIGGER_PSI,
    TRIGGER_EXTERNAL, /* an alert or a person */
    TRIGGER__MAX,
};

/* One Pod now. */
struct pod_cpu {
    char uid[40];
    char path[512];       /* its cgroup, relative to the cgroup2 mount */
    uint64_t cgroup_id;   /* of its cgroup2 directory */
    double cpu_pct;       /* % of one CPU over the last second */
    double limit_cpus;    /* 0: no limit */
    double throttled_pct; /* % of periods throttled over the last second */
    double psi;           /* cpu.pressure some avg10; -1: none */
};

struct trigger_event {
    enum trigger_rule rule;
    char pod_uid[40]; /* "" for node rules */
    double value, threshold;
    int64_t since_ns; /* realtime: when the rule began to hold */
    int64_t at_ns;    /* realtime: when it fired */
};

struct watcher;

int watcher_new(const struct watch_rules *rules, struct watcher **out);
void watcher_free(struct watcher *w);

/* Reads everything now; call it once a second. When an incident opens,
 * sets *fired and fills ev. Returns 0 or a negative errno. */
int watcher_tick(struct watcher *w, struct trigger_event *ev, bool *fired);

/* The Pods seen at the last tick, busiest first; returns how many were
 * written (at most n). */
size_t watcher_top(const struct watcher *w, struct pod_cpu *out, size_t n);

/* The node's CPU % (of all CPUs) for the last n seconds, oldest first, and
 * the realtime of the newest; returns how many. */
size_t watcher_node_history(const struct watcher *w, double *pct, size_t n, int64_t *newest_ns);

/* A Pod's CPU % (of one CPU) for the last n seconds, oldest first. */
size_t watcher_pod_history(const struct watcher *w, const char *uid, double *pct, size_t n);

/* Node CPUs, for percentages. */
unsigned watcher_ncpus(const struct watcher *w);

const char *trigger_rule_name(enum trigger_rule r); /* "node-cpu", ... */

#endif
