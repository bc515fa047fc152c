/*
 * select: which samples of a fleet's profiles a query keeps. Every list is
 * a set of alternatives (any may match), lists combine with AND, an empty
 * list keeps everything. Names are shell globs (checkout-*); a Pod is
 * matched by name or by UID. The same test decides at three levels: a
 * node's folder, a window's index line (skipped unread when none of its
 * Pods can match) and each sample's labels.
 */
#ifndef PODFLAME_QUERY_SELECT_H
#define PODFLAME_QUERY_SELECT_H

#include <stdbool.h>
#include <stddef.h>

#include "formats/profile.h"

struct query_select {
    const char *const *nodes; /* the agent's NODE_NAME */
    size_t nnodes;
    const char *const *namespaces;
    size_t nnamespaces;
    const char *const *pods; /* name or UID */
    size_t npods;
    const char *const *containers;
    size_t ncontainers;
    const char *const *workloads; /* the label (deployment/checkout) or its name (checkout) */
    size_t nworkloads;
    const char *const *labels; /* KEY=VALUE: the Pod label KEY (k8s.pod.label.KEY) */
    size_t nlabels;
};

/* Whether samples of node may be kept. */
bool select_node(const struct query_select *s, const char *node);

/* Whether the selection names Pods (namespace, Pod or workload): only then
 * can an index line rule a window out. */
bool select_by_pod(const struct query_select *s);

/* Whether a Pod an index line lists may hold kept samples; uid and
 * workload are NULL when the line does not say them. */
bool select_pod(const struct query_select *s, const char *ns, const char *pod, const char *uid,
                const char *workload);

/* Whether sample smp of p is kept (a keep function of pf_profile_subset;
 * ctx is the struct query_select). */
bool select_sample(void *ctx, const struct pf_profile *p, const struct pf_sample *smp);

#endif
