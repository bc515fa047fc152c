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

/* Where a Pod's threads spent their wall-clock time, in a profile of
 * --event wall (sample type wall, label state): nanoseconds by state
 * (WALL_RUNNING, then the off-CPU classes in PF_STATE_* order), and for
 * each off-CPU state the heaviest code path that waited so. */
enum wall_state {
    WALL_RUNNING = 0,
    WALL_RUNQUEUE,
    WALL_THROTTLED,
    WALL_BLOCKED,
    WALL_SLEEPING,
    WALL__MAX,
};

struct pod_wall {
    uint64_t total; /* 0: no wall time (not a wall profile, or no sample of the Pod) */
    uint64_t ns[WALL__MAX];
    struct hot_path waits[WALL__MAX]; /* frames NULL when none; pct of total */
};

/* "running", "runqueue", "throttled", "blocked", "sleeping": the state
 * label's values. */
const char *wall_state_name(enum wall_state s);

/* Fills out for the samples whose label pod_uid is uid. Returns 0, or
 * -ENOMEM with the reason in err. Free a filled out with pod_wall_free. */
int pod_wall_find(const struct pf_profile *p, const char *uid, struct pod_wall *out, char *err,
                  size_t errlen);
void pod_wall_free(struct pod_wall *w);

#endif
