/*
 * report: what query prints and draws from merged profiles: the hottest
 * functions and Pods as a table, the functions that grew most against a
 * baseline, and the differential flame graph of the two. Tables go to a
 * stream; the graph to a path, written atomically.
 */
#ifndef PODFLAME_QUERY_REPORT_H
#define PODFLAME_QUERY_REPORT_H

#include <stdio.h>

#include "formats/folded.h"
#include "formats/profile.h"

/* The n functions with the most self time, their total (self and
 * callees), and the n Pods with the most samples, of value vi. Returns 0,
 * -ENOMEM or -EIO. */
int report_top(FILE *out, const struct pf_profile *p, size_t vi, unsigned n);

/* The n functions whose share of self time grew most from before to after
 * (and the n that shrank most), each side normalised by its own total.
 * Returns 0, -ENOMEM or -EIO. */
int report_growth(FILE *out, const struct pf_profile *before, size_t vi_before,
                  const struct pf_profile *after, size_t vi_after, unsigned n);

/* A differential flame graph at path: after's stacks, red where they grew
 * against before (scaled to after's total), blue where they shrank; a
 * .folded path gets 'stack before after' lines instead. Returns 0 or a
 * negative errno with err set. */
int report_diff(const char *path, const struct pf_profile *before, size_t vi_before,
                const struct pf_profile *after, size_t vi_after, enum pf_group_by group_by,
                const char *subtitle, char *err, size_t errlen);

#endif
