/*
 * finding: what the watcher writes about one incident, in a directory of
 * its own: finding.json (for machines), finding.md (for people), and the
 * capture as capture.pb.gz and capture.svg. It says what fired and with
 * which numbers, the node's CPU timeline, the busiest Pods with their CPU,
 * limit and throttling, and for each Pod its ten hottest functions and its
 * three heaviest code paths, read from the capture.
 */
#ifndef PODFLAME_FINDING_H
#define PODFLAME_FINDING_H

#include <stddef.h>
#include <stdint.h>

#include "formats/profile.h"
#include "profiler/watch/rules.h"
/* profiler/top.c finds hot spots through this header: once it includes
 * hotspots.h itself, this line can go */
#include "profiler/watch/hotspots.h"

#define FINDING_MAX_PODS 16

struct finding_pod {
    struct pod_cpu cpu;
    char ns[256], name[256]; /* "" when the node does not name it */
};

struct finding {
    struct trigger_event ev;
    char reason[512];               /* external triggers: the alert or the person */
    const char *node;               /* borrowed; NULL: "this node" */
    double node_cpu[WATCH_HISTORY]; /* oldest first */
    size_t nnode;
    int64_t node_newest_ns;
    unsigned ncpus;
    struct finding_pod pods[FINDING_MAX_PODS]; /* busiest first */
    size_t npods;
    unsigned capture_hz;
    double capture_s;
};

/* Writes DIR/ID/{finding.json,finding.md,capture.pb.gz,capture.svg} (each
 * atomically), ID from the time, the rule and the subject, into id. Returns
 * 0 or a negative errno with a one-line reason in err. */
int finding_write(const struct finding *f, const struct pf_profile *capture, const char *dir,
                  char *id, size_t idlen, char *err, size_t errlen);

#endif
