/* Unit tests: profiler/kube.c on the cgroup layouts kubelet produces. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "profiler/kube/kube.h"
#include "profiler/kube/kubeapi.h"

#define UID  "6a3e9c7b-0f1e-4c1d-9c2a-8b7e6d5c4b3a"
#define UID_ "6a3e9c7b_0f1e_4c1d_9c2a_8b7e6d5c4b3a"
#define CID  "5c0b0f4e6d7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c"

struct path_case {
    const char *path;
    bool is_pod;
    const char *uid, *cid;
    enum kube_runtime rt;
    enum kube_qos qos;
    bool conmon;
    const char *unit;
};

#define MINIKUBE_ROOT "/docker/d6701ec289c56e4391acb11d07474b3139466857a305490575508a8b7a9fcf22"
#define MINIKUBE_PATH                                                                              \
    MINIKUBE_ROOT                                                                                  \
    "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod2ca4a155_3599_"              \
    "498d_bb9d_4446693fa3ea.slice/crio-358607a37e7ada357032e7f5729c9ae6a3efdb7962acbcb"            \
    "e47ff6a3c5506cb1c.scope"

static const struct path_case cases[] = {
    /* systemd driver, containerd, each QoS class */
    {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
     ".slice/cri-containerd-" CID ".scope",
     true, UID, CID, KUBE_RT_CONTAINERD, KUBE_QOS_BURSTABLE, false, ""},
    {"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
     ".slice/cri-containerd-" CID ".scope",
     true, UID, CID, KUBE_RT_CONTAINERD, KUBE_QOS_BESTEFFORT, false, ""},
    {"/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" CID ".scope", true, UID, CID,
     KUBE_RT_CONTAINERD, KUBE_QOS_GUARANTEED, false, ""},
    /* CRI-O, its conmon, Docker */
    {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice/crio-" CID
     ".scope",
     true, UID, CID, KUBE_RT_CRIO, KUBE_QOS_BURSTABLE, false, ""},
    {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
     ".slice/crio-conmon-" CID ".scope",
     true, UID, CID, KUBE_RT_CRIO, KUBE_QOS_BURSTABLE, true, ""},
    {"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_ ".slice/docker-" CID
     ".scope",
     true, UID, CID, KUBE_RT_DOCKER, KUBE_QOS_BESTEFFORT, false, ""},
    /* cgroupfs driver (and cgroup v1 paths, which look the same) */
    {"/kubepods/burstable/pod" UID "/" CID, true, UID, CID, KUBE_RT_UNKNOWN, KUBE_QOS_BURSTABLE,
     false, ""},
    {"/kubepods/besteffort/pod" UID "/" CID, true, UID, CID, KUBE_RT_UNKNOWN, KUBE_QOS_BESTEFFORT,
     false, ""},
    {"/kubepods/pod" UID "/" CID, true, UID, CID, KUBE_RT_UNKNOWN, KUBE_QOS_GUARANTEED, false, ""},
    {"kubepods/burstable/pod" UID "/" CID, true, UID, CID, KUBE_RT_UNKNOWN, KUBE_QOS_BURSTABLE,
     false, ""},
    /* kind and k3s nest kubepods under the kubelet's slice */
    {"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/"
     "kubelet-kubepods-burstable-pod" UID_ ".slice/cri-containerd-" CID ".scope",
     true, UID, CID, KUBE_RT_CONTAINERD, KUBE_QOS_BURSTABLE, false, ""},
    /* Real paths from public reports. Static Pods' UIDs are bare 32-hex
     * hashes (netdata/netdata#4868): */
    {"/kubepods.slice/kubepods-burstable.slice/"
     "kubepods-burstable-pod8daa50c3a64c9ff60bb9eab7b44b56fd"
     ".slice/cri-containerd-2884d57c0e100d7a9a2f9487ce0bc2986bca3430e988af7a4865aff061f51ac5.scope",
     true, "8daa50c3a64c9ff60bb9eab7b44b56fd",
     "2884d57c0e100d7a9a2f9487ce0bc2986bca3430e988af7a4865aff061f51ac5", KUBE_RT_CONTAINERD,
     KUBE_QOS_BURSTABLE, false, ""},
    /* kubelet inside Docker, CRI-O (kubernetes/minikube#11280): a Pod only
     * when that root is configured (test_cgroup_roots), since a container
     * with a delegated cgroup could make the same tree */
    {MINIKUBE_PATH, false, "", "d6701ec289c56e4391acb11d07474b3139466857a305490575508a8b7a9fcf22",
     KUBE_RT_DOCKER, KUBE_QOS_NONE, false,
     "crio-358607a37e7ada357032e7f5729c9ae6a3efdb7962acbcbe47ff6a3c5506cb1c"},
    /* a cgroup v1 line of /proc/PID/cgroup, CRI-O (opencontainers/runc#4620) */
    {"13:freezer:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-poda5c1f8d5_1919_434d_"
     "add7_4afaafdaef89.slice/crio-5eed917563583925ffdbd40a64efb2aaffe58638e57add8becaf460fe74f5b1c"
     ".scope",
     true, "a5c1f8d5-1919-434d-add7-4afaafdaef89",
     "5eed917563583925ffdbd40a64efb2aaffe58638e57add8becaf460fe74f5b1c", KUBE_RT_CRIO,
     KUBE_QOS_BURSTABLE, false, ""},
    /* containerd's colon form on cgroup v1 (containerd/containerd#5226) */
    {"/system.slice/containerd.service/kubepods-burstable-pod7a875b5c_4d3c_4345_ac0f_5c847d8d7129"
     ".slice:cri-containerd:ee05f876e981d258209f91f25f139f7abc13a0246a5f343298572602fea8c7bb",
     true, "7a875b5c-4d3c-4345-ac0f-5c847d8d7129",
     "ee05f876e981d258209f91f25f139f7abc13a0246a5f343298572602fea8c7bb", KUBE_RT_CONTAINERD,
     KUBE_QOS_BURSTABLE, false, ""},
    /* kind, absolute path (containerd/nri#227) */
    {"/sys/fs/cgroup/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
     "kubelet-kubepods-besteffort-pod1e597579_417e_482f_bf65_5fe170c3aebd.slice/cri-containerd-"
     "d7dfb4a21fe1703a8537e60d5af248af729315d187b24a538102d14874c8117d.scope",
     true, "1e597579-417e-482f-bf65-5fe170c3aebd",
     "d7dfb4a21fe1703a8537e60d5af248af729315d187b24a538102d14874c8117d", KUBE_RT_CONTAINERD,
     KUBE_QOS_BESTEFFORT, false, ""},
    /* the Pod's own cgroup: the pause process, or the Pod as a whole */
    {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice", true, UID, "",
     KUBE_RT_UNKNOWN, KUBE_QOS_BURSTABLE, false, ""},
    /* not Pods */
    {"/kubepods.slice/kubepods-burstable.slice", false, "", "", KUBE_RT_UNKNOWN, KUBE_QOS_NONE,
     false, ""},
    {"/system.slice/containerd.service", false, "", "", KUBE_RT_UNKNOWN, KUBE_QOS_NONE, false,
     "containerd"},
    {"/system.slice/kubelet.service", false, "", "", KUBE_RT_UNKNOWN, KUBE_QOS_NONE, false,
     "kubelet"},
    {"/user.slice/user-1000.slice/session-3.scope", false, "", "", KUBE_RT_UNKNOWN, KUBE_QOS_NONE,
     false, "session-3"},
    {"/", false, "", "", KUBE_RT_UNKNOWN, KUBE_QOS_NONE, false, ""},
    {"", false, "", "", KUBE_RT_UNKNOWN, KUBE_QOS_NONE, false, ""},
    {"/podflame-it-123/a/inner", false, "", "", KUBE_RT_UNKNOWN, KUBE_QOS_NONE, false, ""},
    /* posing as a Pod: the kubelet's tree where the kubelet does not put it */
    {"/user.slice/user-1000.slice/user@1000.service/kubepods.slice/kubepods-pod" UID_
     ".slice/cri-containerd-" CID ".scope",
     false, "", "", KUBE_RT_UNKNOWN, KUBE_QOS_NONE, false, "cri-containerd-" CID},
    {"/podflame-it-123/kubepods-burstable-pod" UID_ ".slice", false, "", "", KUBE_RT_UNKNOWN,
     KUBE_QOS_NONE, false, ""},
    {"/system.slice/evil.service/kubepods-burstable-pod" UID_ ".slice:cri-containerd:" CID, false,
     "", "", KUBE_RT_UNKNOWN, KUBE_QOS_NONE, false, ""},
    {"/kubelet.slice/x/kubelet-kubepods.slice/kubelet-kubepods-pod" UID_ ".slice", false, "", "",
     KUBE_RT_UNKNOWN, KUBE_QOS_NONE, false, ""},
    /* damaged: a UID that is not one, a container id that is not hex */
    {"/kubepods.slice/kubepods-podZZ_not_a_uid.slice/cri-containerd-" CID ".scope", false, "", "",
     KUBE_RT_UNKNOWN, KUBE_QOS_NONE, false, ""},
    {"/kubepods/pod" UID "/not-hex!", true, UID, "", KUBE_RT_UNKNOWN, KUBE_QOS_GUARANTEED, false,
     ""},
};

static void test_paths(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct path_case *c = &cases[i];
        struct cgroup_identity id;

        kube_parse_cgroup(c->path, &id);
        if (id.is_pod != c->is_pod || strcmp(id.pod_uid, c->uid) ||
            strcmp(id.container_id, c->cid) || id.runtime != c->rt || id.qos != c->qos ||
            id.conmon != c->conmon || strcmp(id.unit, c->unit))
            fail_msg("case %zu: %s\n got pod=%d uid=%s cid=%s rt=%s qos=%s conmon=%d unit=%s", i,
                     c->path, id.is_pod, id.pod_uid, id.container_id, kube_runtime_name(id.runtime),
                     kube_qos_name(id.qos), id.conmon, id.unit);
    }
}

/* The kubelet's --cgroup-root: Pods under a configured root, and only
 * there. */
static void test_cgroup_roots(void **state)
{
    struct cgroup_identity id;

    (void)state;
    kube_set_cgroup_roots("/elsewhere:" MINIKUBE_ROOT "/");
    kube_parse_cgroup(MINIKUBE_PATH, &id);
    assert_true(id.is_pod);
    assert_string_equal(id.pod_uid, "2ca4a155-3599-498d-bb9d-4446693fa3ea");
    assert_string_equal(id.container_id,
                        "358607a37e7ada357032e7f5729c9ae6a3efdb7962acbcbe47ff6a3c5506cb1c");
    assert_int_equal(id.runtime, KUBE_RT_CRIO);
    assert_int_equal(id.qos, KUBE_QOS_BESTEFFORT);
    /* a root is a whole prefix, not the start of one */
    kube_parse_cgroup("/elsewhere/x/kubepods.slice/kubepods-pod" UID_ ".slice", &id);
    assert_false(id.is_pod);
    kube_parse_cgroup("/elsewhere/kubepods/pod" UID "/" CID, &id);
    assert_true(id.is_pod);
    kube_set_cgroup_roots("");
    kube_parse_cgroup(MINIKUBE_PATH, &id);
    assert_false(id.is_pod);
}

/* Containers outside Kubernetes, in the cgroups their runtimes make. */
static void test_containers(void **state)
{
    static const struct {
        const char *path;
        enum kube_runtime rt;
        const char *id, *name;
    } cases[] = {
        {"/machine.slice/libpod-" CID ".scope", KUBE_RT_PODMAN, CID, ""},
        {"/machine.slice/libpod-" CID ".scope/container", KUBE_RT_PODMAN, CID, ""},
        {"/libpod_parent/libpod-" CID, KUBE_RT_PODMAN, CID, ""},
        {"/system.slice/docker-" CID ".scope", KUBE_RT_DOCKER, CID, ""},
        {"/docker/" CID, KUBE_RT_DOCKER, CID, ""},
        {"/system.slice/nerdctl-" CID ".scope", KUBE_RT_CONTAINERD, CID, ""},
        {"/default/" CID, KUBE_RT_CONTAINERD, CID, ""},
        {"/machine.slice/machine-my\\x2dbox.scope", KUBE_RT_NSPAWN, "", "my-box"},
        /* not containers: podman's monitor, a short id, a user's scope */
        {"/machine.slice/libpod-conmon-" CID ".scope", KUBE_RT_UNKNOWN, "", ""},
        {"/system.slice/docker-abc.scope", KUBE_RT_UNKNOWN, "", ""},
        {"/user.slice/user-1000.slice/session-3.scope", KUBE_RT_UNKNOWN, "", ""},
        {"/machine-x.scope", KUBE_RT_UNKNOWN, "", ""},
        /* posing: a runtime's tree inside a user's delegated cgroup */
        {"/user.slice/user-1000.slice/user@1000.service/system.slice/docker-" CID ".scope",
         KUBE_RT_UNKNOWN, "", ""},
        {"/user.slice/user-1000.slice/user@1000.service/machine.slice/libpod-" CID ".scope",
         KUBE_RT_UNKNOWN, "", ""},
        {"/user.slice/user-1000.slice/machine.slice/machine-evil.scope", KUBE_RT_UNKNOWN, "", ""},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cgroup_identity id;

        kube_parse_cgroup(cases[i].path, &id);
        if (id.is_pod || id.is_container != (cases[i].rt != KUBE_RT_UNKNOWN) ||
            id.runtime != cases[i].rt || strcmp(id.container_id, cases[i].id) ||
            strcmp(id.container_name, cases[i].name))
            fail_msg("%s: got container=%d rt=%s id=%s name=%s", cases[i].path, id.is_container,
                     kube_runtime_name(id.runtime), id.container_id, id.container_name);
    }
}

static void test_workloads(void **state)
{
    static const char *cases[][2] = {
        {"checkout-7d9f8b6c5d-x2k4p", "deployment/checkout"},
        {"my-api-v2-66b6c48dd5-4jw2p", "deployment/my-api-v2"},
        {"web-0", "statefulset/web"},
        {"redis-master-12", "statefulset/redis-master"},
        {"node-exporter-4xq7z", "daemonset/node-exporter"},
        {"nginx", NULL},
        {"my-app-aeiou", NULL}, /* vowels: not a generated suffix */
        {"-x2k4p", NULL},
    };
    char out[128];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool got = kube_workload(cases[i][0], out, sizeof(out));

        if (got != (cases[i][1] != NULL) || (got && strcmp(out, cases[i][1])))
            fail_msg("%s: got %s, want %s", cases[i][0], got ? out : "(none)",
                     cases[i][1] ? cases[i][1] : "(none)");
    }
}

static void touch(const char *path)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fclose(f);
}

static void test_names_from_log_dirs(void **state)
{
    char root[] = "/tmp/podflame-kube.XXXXXX", path[512];
    struct kube_names *kn;

    (void)state;
    assert_non_null(mkdtemp(root));
    snprintf(path, sizeof(path), "%s/pods", root);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/pods/shop_checkout-7d9f8b6c5d-x2k4p_" UID, root);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/pods/not-a-pod-dir", root);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/containers", root);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/containers/checkout-7d9f8b6c5d-x2k4p_shop_app-" CID ".log",
             root);
    touch(path);
    snprintf(path, sizeof(path), "%s/containers/garbage.log", root);
    touch(path);

    assert_int_equal(kube_names_load(root, &kn), 0);
    assert_int_equal(kube_names_pods(kn), 1);
    assert_string_equal(kube_pod_namespace(kn, UID), "shop");
    assert_string_equal(kube_pod_name(kn, UID), "checkout-7d9f8b6c5d-x2k4p");
    assert_string_equal(kube_container_name(kn, CID), "app");
    assert_null(kube_pod_name(kn, "00000000-0000-0000-0000-000000000000"));
    assert_null(kube_container_name(kn, "abc"));
    assert_true(kube_names_dir_known(kn));
    kube_names_free(kn);

    /* the pods/ directory itself, as most people would name it */
    snprintf(path, sizeof(path), "%s/pods/", root);
    assert_int_equal(kube_names_load(path, &kn), 0);
    assert_true(kube_names_dir_known(kn));
    assert_string_equal(kube_pod_name(kn, UID), "checkout-7d9f8b6c5d-x2k4p");
    assert_string_equal(kube_container_name(kn, CID), "app");
    kube_names_free(kn);

    /* a node without the directories is not an error: no names */
    assert_int_equal(kube_names_load("/nonexistent-podflame", &kn), 0);
    assert_int_equal(kube_names_pods(kn), 0);
    assert_false(kube_names_dir_known(kn));
    kube_names_free(kn);
    snprintf(path, sizeof(path), "rm -rf '%s'", root);
    assert_int_equal(system(path), 0);
}

/* Names from two sources: the first to name a Pod or container wins. */
static void test_names_merge(void **state)
{
    struct kube_names *logs, *api;

    (void)state;
    assert_int_equal(kube_names_new(&logs), 0);
    assert_int_equal(kube_names_new(&api), 0);
    assert_int_equal(kube_names_add_pod(logs, "u-1", "shop", "cart-0"), 0);
    assert_int_equal(kube_names_add_container(logs, "c1", "app"), 0);
    assert_int_equal(kube_names_add_pod(api, "u-1", "other", "renamed"), 0);
    assert_int_equal(kube_names_add_pod(api, "u-2", "pay", "ledger-0"), 0);
    assert_int_equal(kube_names_add_container(api, "c1", "renamed"), 0);
    assert_int_equal(kube_names_add_container(api, "c2", "db"), 0);
    assert_int_equal(kube_names_merge(logs, api), 0);
    kube_names_free(api);
    assert_int_equal(kube_names_pods(logs), 2);
    assert_string_equal(kube_pod_name(logs, "u-1"), "cart-0");
    assert_string_equal(kube_pod_namespace(logs, "u-1"), "shop");
    assert_string_equal(kube_pod_name(logs, "u-2"), "ledger-0");
    assert_string_equal(kube_pod_namespace(logs, "u-2"), "pay");
    assert_string_equal(kube_container_name(logs, "c1"), "app");
    assert_string_equal(kube_container_name(logs, "c2"), "db");
    kube_names_free(logs);
}

/* A PodList page as the API server writes it (trimmed), and the next page. */
static const char page1[] =
    "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"9\","
    "\"continue\":\"eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ\"},\"items\":["
    "{\"metadata\":{\"name\":\"web-6b8f7c9d4-q2w3e\",\"namespace\":\"shop\","
    "\"uid\":\"11111111-2222-3333-4444-555555555555\","
    "\"labels\":{\"tier\":\"front\",\"app\":\"web\",\"pod-template-hash\":\"6b8f7c9d4\"},"
    "\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"web-6b8f7c9d4\",\"controller\":true}]"
    "},"
    "\"status\":{\"containerStatuses\":[{\"name\":\"nginx\",\"containerID\":\"containerd://"
    "abc123\"},"
    "{\"name\":\"waiting\"}],"
    "\"initContainerStatuses\":[{\"name\":\"init\",\"containerID\":\"containerd://def456\"}]}},"
    "{\"metadata\":{\"namespace\":\"x\"}}]}";
static const char page2[] =
    "{\"kind\":\"PodList\",\"metadata\":{},\"items\":["
    "{\"metadata\":{\"name\":\"db-0\",\"namespace\":\"data\",\"uid\":\"u-2\","
    "\"ownerReferences\":[{\"kind\":\"Node\",\"name\":\"n1\"},"
    "{\"kind\":\"StatefulSet\",\"name\":\"db\",\"controller\":true}]}},"
    "{\"metadata\":{\"name\":\"rs-abc\",\"namespace\":\"d\",\"uid\":\"u-3\","
    "\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"rs-abc\"}]}}]}";

static void test_api_pod_list(void **state)
{
    struct kube_pods *pods = NULL;
    const struct kube_pod_meta *m;
    char cont[128];

    (void)state;
    assert_int_equal(kube_pods_parse(&pods, page1, strlen(page1), cont, sizeof(cont)), 0);
    assert_string_equal(cont, "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ");
    assert_int_equal(kube_pods_count(pods), 1); /* the Pod without uid and name is skipped */
    m = kube_pods_find(pods, "11111111-2222-3333-4444-555555555555");
    assert_non_null(m);
    assert_string_equal(m->name, "web-6b8f7c9d4-q2w3e");
    assert_string_equal(m->ns, "shop");
    assert_string_equal(m->workload, "deployment/web");
    assert_int_equal(m->nlabels, 3);
    assert_string_equal(m->labels[0].key, "app"); /* sorted */
    assert_string_equal(m->labels[0].value, "web");
    assert_string_equal(m->labels[2].key, "tier");
    assert_string_equal(kube_pods_container(pods, "abc123"), "nginx");
    assert_string_equal(kube_pods_container(pods, "def456"), "init");
    assert_null(kube_pods_container(pods, "containerd://abc123"));

    assert_int_equal(kube_pods_parse(&pods, page2, strlen(page2), cont, sizeof(cont)), 0);
    assert_string_equal(cont, "");
    assert_int_equal(kube_pods_count(pods), 3);
    assert_string_equal(kube_pods_find(pods, "u-2")->workload, "statefulset/db");
    assert_int_equal(kube_pods_find(pods, "u-2")->nlabels, 0);
    /* no pod-template-hash: the ReplicaSet is all that is known */
    assert_string_equal(kube_pods_find(pods, "u-3")->workload, "replicaset/rs-abc");
    assert_null(kube_pods_find(pods, "nope"));
    kube_pods_free(pods);
}

static void test_api_bad_bodies(void **state)
{
    static const char *bad[] = {
        "",
        "not json",
        "{\"kind\":\"Status\",\"code\":403}",
        "{\"items\":{}}",
        "[1,2]",
        "{\"kind\":\"PodList\",\"items\":[",
    };
    struct kube_pods *pods = NULL;
    char cont[16];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(kube_pods_parse(&pods, bad[i], strlen(bad[i]), cont, sizeof(cont)),
                         -EINVAL);
    assert_null(pods);
    /* odd but valid: no items, items of the wrong type, a non-string label */
    assert_int_equal(kube_pods_parse(&pods, "{\"items\":null}", 14, cont, sizeof(cont)), 0);
    assert_int_equal(
        kube_pods_parse(&pods,
                        "{\"items\":[1,\"x\",{\"metadata\":{\"name\":\"a\",\"uid\":\"b\","
                        "\"labels\":{\"n\":1,\"s\":\"v\"}}}]}",
                        78, cont, sizeof(cont)),
        0);
    assert_int_equal(kube_pods_count(pods), 1);
    assert_int_equal(kube_pods_find(pods, "b")->nlabels, 1);
    assert_null(kube_pods_find(pods, "b")->ns);
    kube_pods_free(pods);
}

/* jansson's tree is ~100 times its text: a page of empty items is refused
 * before it is parsed, and so are more Pods than a node runs. */
static void test_api_amplification(void **state)
{
    size_t n = 300000, len;
    char *body = malloc(40 + 3 * n), *p = body, cont[16];
    struct kube_pods *pods = NULL;

    (void)state;
    assert_non_null(body);
    p += sprintf(p, "{\"kind\":\"PodList\",\"items\":[");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, i ? ",{}" : "{}");
    p += sprintf(p, "]}");
    len = (size_t)(p - body);
    assert_int_equal(kube_pods_parse(&pods, body, len, cont, sizeof(cont)), -E2BIG);
    assert_null(pods);
    /* commas inside strings are not values */
    p = body + sprintf(body, "{\"kind\":\"PodList\",\"items\":[],\"x\":\"");
    memset(p, ',', 2 * n);
    p += 2 * n;
    p += sprintf(p, "\\\"\"}");
    assert_int_equal(kube_pods_parse(&pods, body, (size_t)(p - body), cont, sizeof(cont)), 0);
    assert_int_equal(kube_pods_count(pods), 0);
    kube_pods_free(pods);
    /* 6000 Pods in one page: more than a node runs */
    pods = NULL;
    p = body + sprintf(body, "{\"kind\":\"PodList\",\"items\":[");
    for (size_t i = 0; i < 6000; i++)
        p += sprintf(p, i ? ",1" : "1");
    p += sprintf(p, "]}");
    assert_int_equal(kube_pods_parse(&pods, body, (size_t)(p - body), cont, sizeof(cont)), -E2BIG);
    kube_pods_free(pods);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_cgroup_roots),
        cmocka_unit_test(test_containers),
        cmocka_unit_test(test_workloads),
        cmocka_unit_test(test_names_from_log_dirs),
        cmocka_unit_test(test_names_merge),
        cmocka_unit_test(test_api_pod_list),
        cmocka_unit_test(test_api_bad_bodies),
        cmocka_unit_test(test_api_amplification),
    };

    return cmocka_run_group_tests_name("kube", tests, NULL, NULL);
}
