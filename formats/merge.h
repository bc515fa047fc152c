/*
 * merge: sums many profiles into one, sample by sample, as `go tool pprof
 * -proto a b c` does. Equal stacks with equal labels become one sample
 * whose values are the sums; mappings, functions and locations equal in
 * every field are kept once. Memory follows the number of distinct stacks
 * and labels, not the number of profiles added.
 *
 * A merge owns its profile (pf_merge_profile) until pf_merge_free. The
 * first profile added sets the sample types and the period; a later one
 * with other types is refused.
 */
#ifndef PODFLAME_MERGE_H
#define PODFLAME_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "formats/profile.h"

struct pf_merge;

/* Returns 0 or -ENOMEM. */
int pf_merge_new(struct pf_merge **out);
void pf_merge_free(struct pf_merge *m);

/* Adds the samples of p that keep accepts (keep NULL: all), with the
 * string labels extra (key, value pairs; nextra pairs) added to each
 * sample that lacks that key. Returns 0, -ENOMEM, or -EINVAL with the
 * reason in err: p's sample types differ from the merge's (nothing of p is
 * added), or a sample names a location p lacks (what came before it is
 * added; pprof_decode never makes such a profile). */
int pf_merge_add(struct pf_merge *m, const struct pf_profile *p,
                 bool (*keep)(void *ctx, const struct pf_profile *p, const struct pf_sample *s),
                 void *ctx, const char *const *extra, size_t nextra, char *err, size_t errlen);

/* As pf_merge_add, and takes p (frees it, whatever it returns): the first
 * profile of a merge becomes the merge's own, samples filtered in place,
 * without a copy (a rollup read whole: half the memory and time). */
int pf_merge_take(struct pf_merge *m, struct pf_profile *p,
                  bool (*keep)(void *ctx, const struct pf_profile *p, const struct pf_sample *s),
                  void *ctx, const char *const *extra, size_t nextra, char *err, size_t errlen);

/* The sum so far (time_nanos the earliest start, duration_nanos up to the
 * latest end of the profiles added). Owned by m. */
struct pf_profile *pf_merge_profile(struct pf_merge *m);

/* Profiles and samples added (before merging equal ones). */
uint64_t pf_merge_profiles(const struct pf_merge *m);

#endif
