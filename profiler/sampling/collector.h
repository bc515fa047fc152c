/*
 * collector: turns the sampler's aggregated kernel samples into the profile
 * model. Identical {thread, cgroup, stacks} across drains become one sample;
 * each distinct frame is symbolized once and becomes one location.
 */
#ifndef PODFLAME_COLLECTOR_H
#define PODFLAME_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>
#include "bpf/profile.h"
#include "formats/profile.h"
#include "symbolize/symbolizer.h"
#include "profiler/kube/cgroups.h"

struct collector;

/* How a sample's user stack was unwound and completed. */
enum collector_unwind {
    COLLECTOR_UNWIND_FP = 0,        /* frame pointers; the chain was whole */
    COLLECTOR_UNWIND_FP_LEAF_FIXED, /* ... plus a frameless leaf's caller */
    COLLECTOR_UNWIND_FP_LEAF_LOST,  /* ... a frameless leaf's caller not found */
    COLLECTOR_UNWIND_DWARF,         /* a stack copy, with CFI, to the outermost frame */
    COLLECTOR_UNWIND_DWARF_SHORT,   /* ... cut short: the copy was too small */
    COLLECTOR_UNWIND_DWARF_FAILED,  /* ... cut short: no CFI, or the process was gone */
    COLLECTOR_UNWIND__MAX,
};

/* p must already have its sample types set (pf_profile_set_cpu_types, or
 * pf_profile_set_wall_types for off-CPU time: an off-CPU key's nanoseconds
 * go to off_cpu and wall, under a synthetic leaf frame naming its class,
 * and every sample gets a `state` label). The collector borrows sym, cg
 * (may be NULL) and p. Returns 0 or -ENOMEM. */
int collector_new(struct symbolizer *sym, struct cgroups *cg, struct pf_profile *p,
                  int64_t period_ns, struct collector **out);
void collector_free(struct collector *c);

/* Starts a new window: samples go to p (sample types set) from now on.
 * Call collector_finish first. The caller keeps the old profile; counts of
 * samples by unwinding method go on adding up. Returns 0 or -ENOMEM. */
int collector_rebind(struct collector *c, struct pf_profile *p);

/* Turns on Kubernetes labels (pod, namespace, container, pod_uid,
 * container_id, qos, workload) from cgroup paths and the kubelet's log
 * directories under log_dir, and the node label. Returns 0 or -ENOMEM. */
int collector_set_kube(struct collector *c, const char *log_dir, const char *node);

/* Adds Pod labels, owners and names from the API server (borrowed; may be
 * NULL) to what collector_set_kube gives. */
struct kubeapi;
void collector_set_kube_api(struct collector *c, struct kubeapi *api);

/* Adds count samples of one key (nanoseconds for an off-CPU key); stacks
 * leaf first. Returns 0 or -ENOMEM. */
int collector_add(struct collector *c, const struct pf_key *key, uint64_t count,
                  const uint64_t *ustack, size_t nu, const uint64_t *kstack, size_t nk);

/* Before writing the profile: names the locations of binaries added since
 * the last call from their DWARF (function, file, line, inlined calls;
 * else from the symbol table), which the sampling path leaves for now,
 * and labels again the samples of Pods that had no names when they were
 * first seen. Returns 0 or -ENOMEM. */
int collector_finish(struct collector *c);

/* Like collector_add for a user stack unwound from a stack copy: how says
 * how far that got (COLLECTOR_UNWIND_DWARF*). */
int collector_add_unwound(struct collector *c, const struct pf_key *key, uint64_t count,
                          const uint64_t *ustack, size_t nu, const uint64_t *kstack, size_t nk,
                          enum collector_unwind how);

/* On-CPU samples; off-CPU nanoseconds (--event offcpu|wall). */
uint64_t collector_samples(const struct collector *c);
uint64_t collector_offcpu_ns(const struct collector *c);
/* "running" for PF_STATE_CPU, else the off-CPU class: "runqueue",
 * "throttled", "blocked", "sleeping"; the `state` label's values. */
const char *collector_state_name(uint32_t state);
/* Samples with a user stack, by how it was unwound. */
void collector_unwind_stats(const struct collector *c, uint64_t out[COLLECTOR_UNWIND__MAX]);
/* Processes with samples in the current window. */
size_t collector_processes(const struct collector *c);

/* A process whose code podflame could not name or unwind through: JIT code
 * without a perf map, stacks cut short where there was no CFI. */
struct collector_unnamed {
    uint32_t pid;
    const char *comm; /* the process's name, valid while the profile is */
    uint64_t samples;
    uint64_t unnamed;   /* samples with a frame in anonymous code, unnamed */
    uint64_t cut_short; /* samples whose stack copy ended at no CFI */
};

/* Calls fn for each process in the current profile with at least 20
 * samples of which a tenth had unnamed JIT code or were cut short, the
 * worst first, at most max of them. Returns 0 or -ENOMEM. */
int collector_unnamed_processes(const struct collector *c, size_t max,
                                void (*fn)(void *ctx, const struct collector_unnamed *u),
                                void *ctx);

#endif
