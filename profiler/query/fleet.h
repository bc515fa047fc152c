/*
 * fleet: reads what a query selects from a bucket the agents write to and
 * sums it into one profile. It lists only the folders the time range
 * covers (NODE/YYYY/MM/DD/HH/), skips a window by its index line when none
 * of its Pods can match, fetches the rest concurrently and merges them
 * sample by sample, one window at a time, so memory follows the distinct
 * stacks, not the windows. Whole hours that `podflame compact` rolled up
 * are read from the rollup (a few objects) instead of every node's
 * windows, and give the same profile.
 *
 * A window that cannot be read is counted and its reason kept (the first
 * few), and the others are still merged.
 */
#ifndef PODFLAME_QUERY_FLEET_H
#define PODFLAME_QUERY_FLEET_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "formats/merge.h"
#include "profiler/io/bucket.h"
#include "profiler/query/select.h"

#define FLEET_MAX_PROBLEMS 8 /* reasons kept; all are counted */

struct fleet_query {
    struct bucket *bucket;
    const struct query_select *sel;
    int64_t from_ns, until_ns;         /* windows that start in [from, until) */
    unsigned concurrency;              /* requests at once, 1 or more */
    bool no_rollups;                   /* read windows even for rolled-up hours */
    bool index_only;                   /* --list: read index lines, no profiles */
    const volatile sig_atomic_t *stop; /* set: stop early (NULL: never) */
};

/* Counters, updated while the query runs (progress reads them). */
struct fleet_stats {
    _Atomic uint64_t list_requests, objects_listed;
    _Atomic uint64_t windows, skipped, fetched, merged, unreadable, bytes;
    _Atomic uint64_t rollup_hours, rollup_objects;
};

/* A window or rollup object read, for --list. */
struct fleet_item {
    char *key, *node; /* node: NULL for a rollup */
    int64_t start_ns, end_ns;
    char *pods;       /* "ns/pod ns/pod ..." from its index line, or NULL */
    uint64_t samples; /* from its index line */
    bool indexed;     /* its index line was read */
    bool skipped;     /* its index line ruled it out */
};

struct fleet_result {
    struct fleet_stats stats;
    struct fleet_item *items; /* index_only: every window in range */
    size_t nitems;
    char *problems[FLEET_MAX_PROBLEMS]; /* "KEY: why" */
    size_t nproblems;
    bool stopped;
};

/* Runs q into m (NULL with index_only), calling progress (may be NULL)
 * from the calling thread about four times a second. Returns 0 (also when
 * windows were unreadable: see r), or a negative errno with err set when
 * the bucket cannot be listed at all (-ECOMM, -EACCES, ...) or memory ran
 * out. Free r with fleet_result_free whatever it returns. */
int fleet_run(const struct fleet_query *q, struct pf_merge *m, struct fleet_result *r,
              void (*progress)(const struct fleet_stats *s, void *ctx), void *ctx, char *err,
              size_t errlen);
void fleet_result_free(struct fleet_result *r);

/* The rollup folder of the hour starting at hour_ns: "_rollup/YYYY/MM/DD/HH/". */
void fleet_rollup_dir(int64_t hour_ns, char *out, size_t len);

/* "YYYY/MM/DD/HH/" of the hour starting at hour_ns. */
void fleet_hour_dir(int64_t hour_ns, char *out, size_t len);

/* The start and end of a window object's name (<start>-<end>.pb.gz, times
 * 20261125T174100Z). Returns 0 or -EINVAL. */
int fleet_window_times(const char *name, int64_t *start_ns, int64_t *end_ns);

#endif
