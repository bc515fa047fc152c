/*
 * kubeapi: Pod metadata from the Kubernetes API server, for the Pods on
 * this node only (fieldSelector spec.nodeName): names, labels, the owning
 * workload and the container IDs of each container. Optional: the kubelet's
 * log directories (kube.h) already name Pods; the API adds labels and exact
 * owners. It is read in-cluster with the Pod's service-account token over
 * HTTPS (libcurl), on a thread of its own so that a slow API server never
 * stalls sampling.
 *
 * Parsing a PodList is separate from fetching it, so it can be tested alone.
 *
 * Errors: the calls that reach the server fill a why buffer on every
 * failure; the others return -ENOMEM or the errno named, the whole reason.
 */
#ifndef PODFLAME_KUBEAPI_H
#define PODFLAME_KUBEAPI_H

#include <stdbool.h>
#include <stddef.h>

/* ---- a parsed PodList ---- */

struct kube_label {
    const char *key, *value;
};

struct kube_pod_meta {
    const char *uid, *name, *ns;
    const char *workload;            /* "deployment/x", "statefulset/y", ... or NULL */
    const struct kube_label *labels; /* sorted by key */
    size_t nlabels;
};

struct kube_pods;

/* Parses one page of a PodList (GET /api/v1/pods) and adds its Pods to
 * *pods (created when NULL). Copies metadata.continue into cont ("" on the
 * last page). Returns 0, -EINVAL (not JSON, or not a PodList), -E2BIG (a
 * page that could hold over 200000 JSON values, or over 5000 Pods in all:
 * refused before parsing, since jansson's tree is ~100 times the text) or
 * -ENOMEM; on error *pods keeps what earlier pages added. */
int kube_pods_parse(struct kube_pods **pods, const char *json, size_t len, char *cont,
                    size_t cont_len);
/* Frees pods (NULL: nothing). */
void kube_pods_free(struct kube_pods *pods);
size_t kube_pods_count(const struct kube_pods *pods);
/* NULL when unknown. The struct is valid until the next kube_pods_parse
 * into pods (which may move it); its strings and labels until
 * kube_pods_free. */
const struct kube_pod_meta *kube_pods_find(const struct kube_pods *pods, const char *uid);
/* The container name of a container ID (hex, without "containerd://");
 * NULL when unknown, else valid until kube_pods_free. */
const char *kube_pods_container(const struct kube_pods *pods, const char *container_id);

/* ---- the client ---- */

struct kubeapi_config {
    char url[300];        /* https://host:port */
    char token_path[512]; /* re-read on every request: projected tokens rotate */
    char ca_path[512];
};

/* The in-cluster configuration: KUBERNETES_SERVICE_HOST/_PORT and the
 * service-account directory (/var/run/secrets/kubernetes.io/serviceaccount,
 * or PODFLAME_KUBE_SA_DIR). Returns 0, or -ENOENT with why set when this is
 * not a Pod of a cluster. */
int kubeapi_config_in_cluster(struct kubeapi_config *cfg, char *why, size_t len);

struct kubeapi;

/* node: the spec.nodeName to ask for. cfg and node are copied. Returns 0
 * or -ENOMEM. */
int kubeapi_open(const struct kubeapi_config *cfg, const char *node, struct kubeapi **out);
/* Stops the refresh thread and frees everything. */
void kubeapi_close(struct kubeapi *api);

/* Fetches the node's Pods now, on the caller's thread. Returns 0 or a
 * negative errno with why set (HTTP status and the server's message). */
int kubeapi_refresh(struct kubeapi *api, char *why, size_t len);

/* Starts refreshing every 30 s on a thread, sooner after kubeapi_kick.
 * Returns 0 or pthread_create's negative errno; the refreshes' errors are
 * kept for kubeapi_stats. */
int kubeapi_start(struct kubeapi *api);

/* A Pod was seen that the API has not listed: refresh soon (at most once
 * every 2 s). */
void kubeapi_kick(struct kubeapi *api);

/* Calls fn with the Pod's metadata and the name of container_id (may be
 * NULL), under the client's lock: fn must copy what it keeps. Returns false
 * when the Pod is not known (fn is not called). */
bool kubeapi_with_pod(struct kubeapi *api, const char *uid, const char *container_id,
                      void (*fn)(void *ctx, const struct kube_pod_meta *pod, const char *container),
                      void *ctx);

/* Adds the names of the listed Pods and containers to kn (see
 * kube_names_add_pod), so that Pod filters can match them. */
struct kube_names;
int kubeapi_add_names(struct kubeapi *api, struct kube_names *kn);

/* Refreshes that succeeded and failed, Pods in the last list, and the last
 * error ("" if none), copied into why. */
void kubeapi_stats(struct kubeapi *api, unsigned *ok, unsigned *failed, size_t *pods, char *why,
                   size_t len);

#endif
