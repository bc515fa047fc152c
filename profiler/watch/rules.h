/*
 * rules: the saturation watcher's state machine, with no I/O. It takes one
 * tick of readings a second (tick.h), turns each two into rates (the
 * node's CPU %, each Pod's CPU %, its share of its limit, its throttled
 * periods), keeps five minutes of history, and applies the rules: node
 * CPU, a Pod at its limit, a throttled Pod, node CPU pressure.
 *
 * The rate a tick gives covers the interval since the tick before; a rule
 * holds over an interval, and fires at the tick that completes `sustain`
 * seconds of holding (give or take RULES_SLACK_NS of timer jitter): with
 * one tick a second and sustain 3, at the third tick in a row that holds.
 * An interval has no rate, and no rule holds over it, where a counter
 * went backwards (a cgroup made anew, a counter wrapped, a CPU taken
 * offline), and for a Pod at the tick it is first read, or read again
 * after missing a tick. A rule that fires opens an incident, which does not
 * fire again while it lasts; it closes after the rule has not held for
 * RULES_CLOSE_AFTER_NS, and the same rule and subject fire again only
 * `cooldown` seconds after they last fired.
 *
 * One incident opens a tick. When more are due at once, the first of
 * node-cpu, cpu-pressure, then the Pods' rules, busiest Pod first and
 * pod-limit before throttle, opens; the others stay due and open at the
 * ticks that follow, none is lost.
 */
#ifndef PODFLAME_RULES_H
#define PODFLAME_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profiler/watch/tick.h"

#define WATCH_HISTORY 300 /* seconds of history kept */

/* Timer jitter forgiven when a duration is measured: half a tick. */
#define RULES_SLACK_NS (500 * 1000000LL)
/* An incident closes after its rule has not held for this long. */
#define RULES_CLOSE_AFTER_NS (5 * 1000000000LL)
/* A Pod not read for this long (its cgroup removed) is forgotten. */
#define RULES_FORGET_POD_NS (60 * 1000000000LL)

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

/* "node-cpu", "pod-limit", "throttle", "cpu-pressure", "external"; "?". */
const char *trigger_rule_name(enum trigger_rule r);

/* One Pod at the last tick. */
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

struct rules;

/* A state machine for the thresholds in r (copied). Returns 0 or -ENOMEM
 * with the reason in err; free with rules_free. */
int rules_new(const struct watch_rules *r, struct rules **out, char *err, size_t errlen);
void rules_free(struct rules *rs);

/* Takes the next tick (t is only read, and not kept: its Pods may be
 * reused after the call). Ticks come in order of mono_ns; one that is not
 * later than the last is refused (-EINVAL). When an incident opens, sets
 * *fired and fills ev. Returns 0, or -ENOMEM or -EINVAL with the reason
 * in err; the state is then as before the call. */
int rules_feed(struct rules *rs, const struct watch_tick *t, struct trigger_event *ev, bool *fired,
               char *err, size_t errlen);

/* The Pods of the last tick, busiest first (then by UID); returns how
 * many were written (at most n). */
size_t rules_top(const struct rules *rs, struct pod_cpu *out, size_t n);

/* The node's CPU % (of all CPUs) for the last n seconds, oldest first, and
 * the realtime of the newest; returns how many. A second without a rate
 * reads 0. */
size_t rules_node_history(const struct rules *rs, double *pct, size_t n, int64_t *newest_ns);

/* A Pod's CPU % (of one CPU) for its last n rates, oldest first; 0 for a
 * Pod it does not know (never seen, or forgotten). */
size_t rules_pod_history(const struct rules *rs, const char *uid, double *pct, size_t n);

/* The node's CPUs at the last tick (at least 1), for percentages. */
unsigned rules_ncpus(const struct rules *rs);

#endif
