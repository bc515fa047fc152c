/*
 * window: one interval of the agent's profile and where it goes. A window
 * is aligned to the clock (every node's windows line up), named by its UTC
 * start and end, and stored under NODE/YYYY/MM/DD/HH/ with an index line
 * beside each object that says what is in it without opening it. Nothing
 * here touches the disk or the network: the agent spools what this makes.
 */
#ifndef PODFLAME_AGENT_WINDOW_H
#define PODFLAME_AGENT_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "formats/profile.h"

struct window {
    int64_t start_ns, end_ns; /* realtime */
    uint64_t lost;            /* samples the kernel lost in it */
    char dir[512];            /* NODE/YYYY/MM/DD/HH, of the start */
    char stem[64];            /* <start>-<end>, 20261125T174100Z-20261125T174200Z */
};

/* Starts a window at start_ns that ends at the next multiple of interval
 * seconds; node is made safe for a key (bucket_key_part). */
void window_begin(struct window *w, const char *node, int64_t start_ns, unsigned interval);

/* Ends it at end_ns (the clock may have gone back: any time) and names it. */
void window_end(struct window *w, int64_t end_ns);

/* Samples (the first value summed) of a profile. */
uint64_t window_samples(const struct pf_profile *p);

/* The index line of the object key holding p (bytes long): node, key,
 * start, end, duration, samples, lost, bytes, the Pod (pod set: a Pod's own
 * profile) or the Pods and their samples, and the labels (KEY=VALUE each).
 * One line of compact JSON in *out (malloc'd), no newline. Returns 0 or
 * -ENOMEM. */
int window_index_line(const struct window *w, const char *node, const char *key,
                      const struct pf_profile *p, size_t bytes, const char *const *labels,
                      size_t nlabels, const char *pod_ns, const char *pod, char **out);

#endif
