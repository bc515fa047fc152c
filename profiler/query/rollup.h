/*
 * rollup: one closed hour of a fleet's windows summed into one profile
 * per namespace and workload, so that a query over whole hours reads a
 * few objects instead of nodes × windows:
 *   _rollup/YYYY/MM/DD/HH/NS/WORKLOAD.pb.gz    the group's samples
 *   _rollup/YYYY/MM/DD/HH/NS/WORKLOAD.json     its index line
 *   _rollup/YYYY/MM/DD/HH/_manifest.json       every group, written last
 * Samples keep all their labels (node added where a window's lacked it),
 * so a query selects inside a rollup exactly as inside the windows and
 * gets the same profile. Samples of no Pod go to the group _/_.
 */
#ifndef PODFLAME_QUERY_ROLLUP_H
#define PODFLAME_QUERY_ROLLUP_H

#include <signal.h>
#include <stdint.h>

#include "profiler/io/bucket.h"
#include "profiler/query/fleet.h"

struct rollup_report {
    struct fleet_result read; /* the hour's windows */
    uint64_t groups, bytes;   /* objects written */
};

/* Rolls up the hour that starts at hour_ns. Returns 0, -ENODATA when the
 * hour has no windows (nothing is written), -EIO when a window could not
 * be read (nothing is written: a rollup must not lose a window; see
 * r->read.problems), or another negative errno with err set. Free r->read
 * with fleet_result_free. */
int rollup_hour(struct bucket *b, int64_t hour_ns, unsigned concurrency,
                const volatile sig_atomic_t *stop, struct rollup_report *r, char *err,
                size_t errlen);

/* Whether the hour has a manifest (is rolled up). */
bool rollup_exists(struct bucket *b, int64_t hour_ns);

#endif
