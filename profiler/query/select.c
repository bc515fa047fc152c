#include "profiler/query/select.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

/* Whether value matches one of the globs (an empty list matches all; a
 * missing value matches none of a non-empty list). */
static bool any_glob(const char *const *globs, size_t n, const char *value)
{
    if (!n)
        return true;
    if (!value)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!fnmatch(globs[i], value, 0))
            return true;
    return false;
}

/* The collector's workload label is KIND/NAME (deployment/checkout): a
 * selector matches it whole or by its name. */
static bool workload_matches(const struct query_select *s, const char *workload)
{
    const char *slash = workload ? strrchr(workload, '/') : NULL;

    return any_glob(s->workloads, s->nworkloads, workload) ||
           (slash && any_glob(s->workloads, s->nworkloads, slash + 1));
}

bool select_node(const struct query_select *s, const char *node)
{
    return any_glob(s->nodes, s->nnodes, node);
}

bool select_by_pod(const struct query_select *s)
{
    return s->nnamespaces || s->npods || s->nworkloads;
}

/* A Pod selector matches the name as a glob or the UID exactly. */
static bool pod_matches(const struct query_select *s, const char *pod, const char *uid)
{
    if (any_glob(s->pods, s->npods, pod))
        return true;
    for (size_t i = 0; uid && i < s->npods; i++)
        if (!strcmp(s->pods[i], uid))
            return true;
    return false;
}

/* A Kubernetes UID: a UUID, 36 characters of hex digits and dashes. */
static bool looks_like_uid(const char *v)
{
    return strlen(v) == 36 && strspn(v, "0123456789abcdefABCDEF-") == 36;
}

bool select_pod(const struct query_select *s, const char *ns, const char *pod, const char *uid,
                const char *workload)
{
    bool uid_selector = false;

    if (!any_glob(s->namespaces, s->nnamespaces, ns))
        return false;
    for (size_t i = 0; !uid && i < s->npods; i++)
        uid_selector = uid_selector || looks_like_uid(s->pods[i]);
    /* an index line of an older agent has no UIDs: a UID selector may
     * still match this Pod's samples */
    if (s->npods && !pod_matches(s, pod, uid) && !uid_selector)
        return false;
    return !s->nworkloads || !workload || workload_matches(s, workload);
}

/* The Pod label KEY=VALUE of a selector, as the collector writes it. */
static bool has_pod_label(const struct pf_profile *p, const struct pf_sample *smp, const char *kv)
{
    const char *eq = strchr(kv, '=');
    char key[320];
    const char *v;

    if (!eq)
        return false;
    snprintf(key, sizeof(key), "k8s.pod.label.%.*s", (int)(eq - kv), kv);
    v = pf_sample_label(p, smp, key);
    return v && !strcmp(v, eq + 1);
}

bool select_sample(void *ctx, const struct pf_profile *p, const struct pf_sample *smp)
{
    const struct query_select *s = ctx;
    const char *node = pf_sample_label(p, smp, "node");

    /* a window's samples may lack the label: its folder named the node */
    if (node && !select_node(s, node))
        return false;
    if (!any_glob(s->namespaces, s->nnamespaces, pf_sample_label(p, smp, "namespace")) ||
        (s->npods &&
         !pod_matches(s, pf_sample_label(p, smp, "pod"), pf_sample_label(p, smp, "pod_uid"))) ||
        !any_glob(s->containers, s->ncontainers, pf_sample_label(p, smp, "container")) ||
        !workload_matches(s, pf_sample_label(p, smp, "workload")))
        return false;
    for (size_t i = 0; i < s->nlabels; i++)
        if (!has_pod_label(p, smp, s->labels[i]))
            return false;
    return true;
}
