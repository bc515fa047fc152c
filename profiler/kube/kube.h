/*
 * kube: Kubernetes identity from what a node has on disk, with nothing
 * installed in the cluster. A cgroup path names the Pod UID, container ID,
 * runtime and QoS class (every layout kubelet produces: systemd and
 * cgroupfs drivers, containerd, CRI-O, Docker, Guaranteed Pods without a
 * QoS level, cgroup v1); the kubelet's log directories name the namespace,
 * Pod and container; a Pod's name often names its workload.
 *
 * Parsing is separate from reading directories so that it can be tested on
 * tables of real paths.
 *
 * No function here takes an err buffer: parsing never fails, and the rest
 * return -ENOMEM or the errno of the directory they read, which is the
 * whole reason (the caller's message names the directory).
 */
#ifndef PODFLAME_KUBE_H
#define PODFLAME_KUBE_H

#include <stdbool.h>
#include <stddef.h>

enum kube_qos { KUBE_QOS_NONE = 0, KUBE_QOS_GUARANTEED, KUBE_QOS_BURSTABLE, KUBE_QOS_BESTEFFORT };
enum kube_runtime {
    KUBE_RT_UNKNOWN = 0,
    KUBE_RT_CONTAINERD,
    KUBE_RT_CRIO,
    KUBE_RT_DOCKER,
    KUBE_RT_PODMAN,
    KUBE_RT_NSPAWN, /* systemd-nspawn, a machined machine */
};

struct cgroup_identity {
    bool is_pod;
    char pod_uid[40];      /* with dashes, as the API shows it */
    char container_id[72]; /* "" for the Pod's own cgroup */
    enum kube_runtime runtime;
    enum kube_qos qos;
    bool conmon; /* CRI-O's container monitor, not the container */
    /* a container outside Kubernetes (podman, Docker, containerd's own,
     * systemd-nspawn): container_id and runtime, or for a machine its name */
    bool is_container;
    char container_name[128];
    char unit[128]; /* not a Pod: the systemd unit ("foo" for foo.service) */
};

/* Parses a cgroup path (v2 relative to the mount, or a v1 path). Never
 * fails: a layout it does not know gives is_pod false and no unit. A Pod is
 * recognised only where the kubelet puts Pods: its tree (kubepods.slice,
 * kubepods/) at the top of the hierarchy, under kubelet.slice, in
 * containerd's v1 colon form under system.slice/containerd.service, or
 * under a root the kubelet was given with --cgroup-root, which podflame
 * takes from PODFLAME_KUBE_CGROUP_ROOT (':'-separated cgroup paths). So a
 * user or container with a delegated cgroup cannot pose as a Pod. */
void kube_parse_cgroup(const char *path, struct cgroup_identity *out);

/* Replaces the extra roots (PODFLAME_KUBE_CGROUP_ROOT's format; copied). */
void kube_set_cgroup_roots(const char *list);

/* This node's name: NODE_NAME (the Downward API's usual name), else the
 * hostname, else "unknown". Returns the environment's string (valid until
 * the environment changes) or buf (len bytes, at least 2). */
const char *kube_node_name(char *buf, size_t len);

const char *kube_qos_name(enum kube_qos q);         /* "guaranteed", ... "" */
const char *kube_runtime_name(enum kube_runtime r); /* "containerd", ... "" */

/* The workload a Pod name implies, where that is unambiguous: a Deployment
 * (name-<replicaset hash>-<5>), a StatefulSet (name-<ordinal>), a DaemonSet
 * (name-<5>, as Jobs' Pods also are). Writes "kind/name" and returns true,
 * or returns false. */
bool kube_workload(const char *pod, char *out, size_t len);

/* Names from the kubelet's log directories under root (default /var/log):
 * pods/<namespace>_<pod>_<uid>/ and containers/<pod>_<namespace>_<container>-<id>.log */
struct kube_names;
/* Returns 0 (a missing directory has no names: see kube_names_dir_known),
 * -ENOMEM, or the errno of opening ROOT/pods (or ROOT itself) or the
 * containers/ beside it. */
int kube_names_load(const char *root, struct kube_names **out);
/* Whether root held a pods/ directory, or was one (a directory of Pod
 * directories, as /var/log/pods is, with containers/ beside it): else the
 * names can only come from elsewhere, which is worth a warning. */
bool kube_names_dir_known(const struct kube_names *kn);
/* Frees kn (NULL: nothing). */
void kube_names_free(struct kube_names *kn);
/* NULL when unknown; else valid until kube_names_free (adding names does
 * not move them). */
const char *kube_pod_namespace(const struct kube_names *kn, const char *uid);
const char *kube_pod_name(const struct kube_names *kn, const char *uid);
const char *kube_container_name(const struct kube_names *kn, const char *container_id);
size_t kube_names_pods(const struct kube_names *kn);
/* Adds names from another source (the API server), copied; names already
 * known are kept. Return 0 or -ENOMEM. */
int kube_names_add_pod(struct kube_names *kn, const char *uid, const char *ns, const char *pod);
int kube_names_add_container(struct kube_names *kn, const char *container_id, const char *name);
/* A table with no names yet, for another source to fill. Returns 0 or
 * -ENOMEM. */
int kube_names_new(struct kube_names **out);
/* Adds every name of src to dst as the two calls above do. Returns 0 or
 * -ENOMEM. */
int kube_names_merge(struct kube_names *dst, const struct kube_names *src);

/* Which Pods a recording keeps: --pod NAME|UID, -n NAMESPACE, --container
 * NAME, each repeatable. A cgroup matches when every kind of option given
 * has a matching value (any of a kind, all of the kinds). The strings are
 * borrowed (argv's, the config file's): the selector holds no copies. */
#define KUBE_SELECTOR_MAX 64
struct kube_selector {
    const char *pods[KUBE_SELECTOR_MAX];
    size_t npods;
    const char *namespaces[KUBE_SELECTOR_MAX];
    size_t nnamespaces;
    const char *containers[KUBE_SELECTOR_MAX];
    size_t ncontainers;
};

bool kube_selector_empty(const struct kube_selector *sel);

/* True when the cgroup at path is one to sample: a Pod's own cgroup when
 * only Pods and namespaces are asked for (its containers are below it), a
 * container's cgroup when containers are. kn may be NULL (no names). */
bool kube_selector_match(const struct kube_selector *sel, const char *path,
                         const struct kube_names *kn);

#endif
