/*
 * index: what index lines (the JSON beside each object in a bucket: the
 * agent's windows, compact's rollups) say about a profile without opening
 * it, built the same way for every writer and read back by query.
 */
#ifndef PODFLAME_IO_INDEX_H
#define PODFLAME_IO_INDEX_H

#include <jansson.h>

#include "formats/profile.h"

/* [{"namespace": NS, "pod": POD, "uid": UID, "workload": W, "samples": N}]
 * for every Pod of p, in order of first sample (uid and workload when the
 * samples say them). A new reference, or NULL when memory ran out. */
json_t *index_pods(const struct pf_profile *p);

#endif
