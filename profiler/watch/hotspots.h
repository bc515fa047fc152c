/*
 * hotspots: where a Pod's (or a process's) samples in a profile spend
 * their time: its hottest functions by self time, with their total time,
 * and its heaviest code paths, root to leaf. For findings and for
 * `podflame top`. Reads the profile only.
 */
#ifndef PODFLAME_HOTSPOTS_H
#define PODFLAME_HOTSPOTS_H

#include <stddef.h>
#include <stdint.h>

#include "formats/profile.h"

#define HOTSPOT_FUNCTIONS 10
#define HOTSPOT_PATHS     3

struct hot_function {
    char name[256];
    double self_pct, total_pct; /* of the samples counted */
};

struct hot_path {
    char *frames; /* root first, ';'-separated (folded); owned by the pod_hotspots */
    double pct;
};

struct pod_hotspots {
    uint64_t samples;                             /* counted: 0 when none matched */
    struct hot_function funcs[HOTSPOT_FUNCTIONS]; /* most self time first */
    size_t nfuncs;
    struct hot_path paths[HOTSPOT_PATHS]; /* heaviest first */
    size_t npaths;
};

/* The hot spots of the samples whose label pod_uid is uid. Returns 0, or
 * -ENOMEM with the reason in err (out then holds nothing to free). Free a
 * filled out with pod_hotspots_free. */
int pod_hotspots_find(const struct pf_profile *p, const char *uid, struct pod_hotspots *out,
                      char *err, size_t errlen);

/* The same for the samples whose label key is value (a process: "pid"). */
int pod_hotspots_find_label(const struct pf_profile *p, const char *key, const char *value,
                            struct pod_hotspots *out, char *err, size_t errlen);

/* Frees the paths' frames; h may be reused. */
void pod_hotspots_free(struct pod_hotspots *h);

#endif
