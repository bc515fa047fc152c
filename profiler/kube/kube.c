#include "profiler/kube/kube.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/buf.h"
#include "formats/htab.h"

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);

    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

static bool is_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return len > 0;
}

/* A Pod UID as found in a path: systemd writes its dashes as underscores. */
static bool take_uid(const char *s, size_t len, struct cgroup_identity *out)
{
    if (!len || len >= sizeof(out->pod_uid))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i] == '_' ? '-' : s[i];

        if (c != '-' && !is_hex(&c, 1))
            return false;
        out->pod_uid[i] = c;
    }
    out->pod_uid[len] = '\0';
    out->is_pod = true;
    return true;
}

/* The container's cgroup: "<runtime>-<id>.scope" (systemd driver) or the
 * bare id (cgroupfs driver). */
static void take_container(const char *c, size_t len, struct cgroup_identity *out)
{
    static const struct {
        const char *prefix;
        enum kube_runtime rt;
        bool conmon;
    } prefixes[] = {
        {"cri-containerd-", KUBE_RT_CONTAINERD, false},
        {"crio-conmon-", KUBE_RT_CRIO, true},
        {"crio-", KUBE_RT_CRIO, false},
        {"docker-", KUBE_RT_DOCKER, false},
    };

    if (ends_with(c, len, ".scope"))
        len -= 6;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t pl = strlen(prefixes[i].prefix);

        if (len > pl && !memcmp(c, prefixes[i].prefix, pl)) {
            c += pl;
            len -= pl;
            out->runtime = prefixes[i].rt;
            out->conmon = prefixes[i].conmon;
            break;
        }
    }
    if (is_hex(c, len) && len < sizeof(out->container_id)) {
        memcpy(out->container_id, c, len);
        out->container_id[len] = '\0';
    } else {
        out->runtime = KUBE_RT_UNKNOWN;
        out->conmon = false;
    }
}

/* A kubepods component names the QoS class of what is below it. */
static void take_qos(const char *c, size_t len, struct cgroup_identity *out)
{
    if (memmem(c, len, "burstable", 9))
        out->qos = KUBE_QOS_BURSTABLE;
    else if (memmem(c, len, "besteffort", 10))
        out->qos = KUBE_QOS_BESTEFFORT;
}

/* Roots the kubelet was given besides "/" (its --cgroup-root), without
 * their outer slashes, ':'-separated; set once. */
static char extra_roots[1024];
static pthread_once_t extra_roots_once = PTHREAD_ONCE_INIT;

static void trim_slashes(const char **s, size_t *len)
{
    while (*len && **s == '/') {
        (*s)++;
        (*len)--;
    }
    while (*len && (*s)[*len - 1] == '/')
        (*len)--;
}

static void set_roots(const char *list)
{
    size_t w = 0;

    for (const char *r = list ? list : ""; *r;) {
        const char *end = strchrnul(r, ':');
        size_t len = (size_t)(end - r);

        trim_slashes(&r, &len);
        if (len && w + len + 1 < sizeof(extra_roots)) {
            memcpy(extra_roots + w, r, len);
            w += len;
            extra_roots[w++] = ':';
        }
        r = *end ? end + 1 : end;
    }
    extra_roots[w ? w - 1 : 0] = '\0';
}

static void roots_from_env(void)
{
    set_roots(getenv("PODFLAME_KUBE_CGROUP_ROOT"));
}

void kube_set_cgroup_roots(const char *list)
{
    pthread_once(&extra_roots_once, roots_from_env);
    set_roots(list);
}

/* Whether what comes before a runtime's tree is the top of the hierarchy
 * or a root given in PODFLAME_KUBE_CGROUP_ROOT. */
static bool kube_root_allowed_plain(const char *prefix, size_t len)
{
    trim_slashes(&prefix, &len);
    if (!len)
        return true;
    pthread_once(&extra_roots_once, roots_from_env);
    for (const char *r = extra_roots; *r;) {
        const char *end = strchrnul(r, ':');

        if ((size_t)(end - r) == len && !memcmp(r, prefix, len))
            return true;
        r = *end ? end + 1 : end;
    }
    return false;
}

/* Whether what comes before a kubepods component is where the kubelet puts
 * its tree: the top of the hierarchy, kubelet.slice (kind, k3s),
 * containerd's cgroup v1 colon form under its own service, or a root the
 * kubelet was given. Anywhere else (a user's delegated cgroup, a
 * container's own), a "kubepods-...-pod<UID>.slice" is somebody posing as
 * a Pod. */
static bool kube_root_allowed(const char *prefix, size_t len, bool colon_form)
{
    trim_slashes(&prefix, &len);
    if (!len || (len == 13 && !memcmp(prefix, "kubelet.slice", 13)))
        return true;
    if (colon_form && len == 31 && !memcmp(prefix, "system.slice/containerd.service", 31))
        return true;
    return kube_root_allowed_plain(prefix, len);
}

/* A line of /proc/PID/cgroup ("13:freezer:/...") or a path under the
 * mount point ("/sys/fs/cgroup/..."): the cgroup path inside it. */
static const char *cgroup_path_of(const char *path)
{
    const char *p = path;

    while (*p >= '0' && *p <= '9')
        p++;
    if (p != path && *p == ':' && (p = strchr(p + 1, ':')))
        path = p + 1;
    if (starts_with(path, "/sys/fs/cgroup/")) {
        path += 14;
        if (starts_with(path, "/unified/"))
            path += 8;
    }
    return path;
}

/* The next component of a cgroup path at *p: its start in *c, its length
 * in *len; *p moves past it. False at the end. */
static bool next_component(const char **p, const char **c, size_t *len)
{
    const char *s = *p, *slash;

    while (*s == '/')
        s++;
    if (!*s)
        return false;
    slash = strchr(s, '/');
    *len = slash ? (size_t)(slash - s) : strlen(s);
    *c = s;
    *p = s + *len;
    return true;
}

/* A 64-hex container id at c (len bytes), after prefix, before an
 * optional ".scope". */
static bool take_id(const char *c, size_t len, const char *prefix, struct cgroup_identity *out)
{
    size_t pl = strlen(prefix);

    if (ends_with(c, len, ".scope"))
        len -= 6;
    if (len != pl + 64 || memcmp(c, prefix, pl) != 0 || !is_hex(c + pl, 64))
        return false;
    memcpy(out->container_id, c + pl, 64);
    out->container_id[64] = '\0';
    return true;
}

/* systemd's unit-name escaping: "\x2d" is '-'. */
static void unescape_unit(const char *c, size_t len, char *out, size_t outlen)
{
    size_t w = 0;

    for (size_t i = 0; i < len && w + 1 < outlen; i++) {
        unsigned v;

        if (c[i] == '\\' && i + 3 < len && c[i + 1] == 'x' && sscanf(c + i + 2, "%2x", &v) == 1) {
            out[w++] = (char)v;
            i += 3;
        } else {
            out[w++] = c[i];
        }
    }
    out[w] = '\0';
}

/* Whether a component is the one named (len bytes at c). */
static bool is_named(const char *c, size_t len, const char *name)
{
    return len == strlen(name) && !memcmp(c, name, len);
}

/* Containers outside Kubernetes, by the cgroups their runtimes make, at
 * the top of the hierarchy (or under a root given in
 * PODFLAME_KUBE_CGROUP_ROOT), where a user's or a container's delegated
 * cgroup cannot be: podman (machine.slice/libpod-ID.scope, cgroupfs:
 * libpod_parent/libpod-ID; its monitor, libpod-conmon-ID, is not the
 * container), Docker (system.slice/docker-ID.scope, cgroupfs: docker/ID),
 * containerd's own (system.slice/nerdctl-ID.scope, cgroupfs:
 * NAMESPACE/ID) and systemd-nspawn machines (machine.slice/machine-NAME.scope). */
static void parse_container(const char *path, struct cgroup_identity *out)
{
    const char *p = path, *parent = NULL, *c;
    size_t parent_len = 0, len;

    while (next_component(&p, &c, &len)) {
        /* the runtime's own cgroup is the parent: it must sit at a root */
        bool rooted = parent && kube_root_allowed_plain(path, (size_t)(parent - path));

        if (rooted &&
            (is_named(parent, parent_len, "machine.slice") ||
             is_named(parent, parent_len, "libpod_parent")) &&
            take_id(c, len, "libpod-", out))
            out->runtime = KUBE_RT_PODMAN;
        else if (rooted && is_named(parent, parent_len, "system.slice") &&
                 take_id(c, len, "docker-", out))
            out->runtime = KUBE_RT_DOCKER;
        else if (rooted && is_named(parent, parent_len, "system.slice") &&
                 take_id(c, len, "nerdctl-", out))
            out->runtime = KUBE_RT_CONTAINERD;
        else if (rooted && take_id(c, len, "", out))
            out->runtime =
                is_named(parent, parent_len, "docker") ? KUBE_RT_DOCKER : KUBE_RT_CONTAINERD;
        else if (rooted && is_named(parent, parent_len, "machine.slice") && len > 14 &&
                 !memcmp(c, "machine-", 8) && ends_with(c, len, ".scope")) {
            unescape_unit(c + 8, len - 14, out->container_name, sizeof(out->container_name));
            out->runtime = KUBE_RT_NSPAWN;
        }
        if (out->runtime != KUBE_RT_UNKNOWN) {
            out->is_container = true;
            return;
        }
        out->container_id[0] = '\0';
        parent = c;
        parent_len = len;
    }
}

void kube_parse_cgroup(const char *path, struct cgroup_identity *out)
{
    const char *p, *last = NULL, *c;
    size_t last_len = 0, len;
    bool in_kube = false;

    memset(out, 0, sizeof(*out));
    path = cgroup_path_of(path);
    p = path;
    while (next_component(&p, &c, &len)) {
        last = c;
        last_len = len;

        if (out->is_pod) {
            if (!out->container_id[0])
                take_container(c, len, out);
            continue;
        }
        /* systemd driver: kubepods[-qos].slice and kubepods[-qos]-pod<uid>.slice,
         * possibly nested under kubelet.slice (kind, k3s). containerd on
         * cgroup v1 may join Pod and container in one component:
         * kubepods-...-pod<uid>.slice:cri-containerd:<id> */
        if (memmem(c, len, "kubepods", 8)) {
            const char *colon = memchr(c, ':', len);
            const char *pod = memmem(c, colon ? (size_t)(colon - c) : len, "-pod", 4);

            if (!in_kube && !kube_root_allowed(path, (size_t)(c - path), colon != NULL))
                continue;
            in_kube = true;
            take_qos(c, len, out);
            if (colon && pod) {
                const char *colon2 = memchr(colon + 1, ':', (size_t)(c + len - colon - 1));

                if (ends_with(c, (size_t)(colon - c), ".slice") &&
                    take_uid(pod + 4, (size_t)(colon - 6 - (pod + 4)), out) && colon2) {
                    char joined[128];
                    int n = snprintf(joined, sizeof(joined), "%.*s-%.*s", (int)(colon2 - colon - 1),
                                     colon + 1, (int)(c + len - colon2 - 1), colon2 + 1);

                    if (n > 0 && (size_t)n < sizeof(joined))
                        take_container(joined, (size_t)n, out);
                }
                continue;
            }

            if (pod && ends_with(c, len, ".slice"))
                take_uid(pod + 4, (size_t)(c + len - 6 - (pod + 4)), out);
            continue;
        }
        if (!in_kube)
            continue;
        /* cgroupfs driver: kubepods/[qos/]pod<uid>/<container id> */
        if (len == 9 && !memcmp(c, "burstable", 9))
            out->qos = KUBE_QOS_BURSTABLE;
        else if (len == 10 && !memcmp(c, "besteffort", 10))
            out->qos = KUBE_QOS_BESTEFFORT;
        else if (len > 3 && starts_with(c, "pod"))
            take_uid(c + 3, len - 3, out);
    }
    if (out->is_pod) {
        if (out->qos == KUBE_QOS_NONE)
            out->qos = KUBE_QOS_GUARANTEED; /* Guaranteed Pods sit right under kubepods */
        return;
    }
    out->qos = KUBE_QOS_NONE;
    if (last && !in_kube) {
        size_t n = ends_with(last, last_len, ".service") ? last_len - 8
                   : ends_with(last, last_len, ".scope") ? last_len - 6
                                                         : 0;

        if (n && n < sizeof(out->unit)) {
            memcpy(out->unit, last, n);
            out->unit[n] = '\0';
        }
    }
    parse_container(path, out);
}

const char *kube_qos_name(enum kube_qos q)
{
    static const char *names[] = {"", "guaranteed", "burstable", "besteffort"};

    return (unsigned)q < 4 ? names[q] : "";
}

const char *kube_runtime_name(enum kube_runtime r)
{
    static const char *names[] = {"", "containerd", "cri-o", "docker", "podman", "systemd-nspawn"};

    return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "";
}

/* Kubernetes' random suffixes use consonants and digits that cannot spell
 * words (k8s.io/apimachinery rand.String). */
static bool safe_chars(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!strchr("bcdfghjklmnpqrstvwxz2456789", s[i]) || !s[i])
            return false;
    }
    return len > 0;
}

bool kube_workload(const char *pod, char *out, size_t len)
{
    const char *d1 = strrchr(pod, '-'), *d2 = NULL;
    size_t tail;

    if (!d1 || d1 == pod)
        return false;
    tail = strlen(d1 + 1);
    for (const char *q = d1 - 1; q > pod; q--) {
        if (*q == '-') {
            d2 = q;
            break;
        }
    }
    if (tail && strspn(d1 + 1, "0123456789") == tail) {
        snprintf(out, len, "statefulset/%.*s", (int)(d1 - pod), pod);
        return true;
    }
    if (tail != 5 || !safe_chars(d1 + 1, 5))
        return false;
    /* name-<pod-template-hash>-<5>: the hash is 6 to 10 safe characters */
    if (d2 && d2 > pod && d1 - d2 - 1 >= 6 && d1 - d2 - 1 <= 10 &&
        safe_chars(d2 + 1, (size_t)(d1 - d2 - 1))) {
        snprintf(out, len, "deployment/%.*s", (int)(d2 - pod), pod);
        return true;
    }
    snprintf(out, len, "daemonset/%.*s", (int)(d1 - pod), pod);
    return true;
}

/* ---- names from the kubelet's log directories ---- */

struct pod_entry {
    char *ns, *name;
};

struct kube_names {
    struct htab pods;       /* uid -> index into entries */
    struct htab containers; /* container id -> index into cnames */
    struct pod_entry *entries;
    size_t nentries, entries_cap;
    char **cnames;
    size_t ncnames, cnames_cap;
    bool dir_known; /* the directory held pods/, or was the pods/ directory */
};

/* Calls fn for each entry of dir; a missing directory has no entries. */
static int each_entry(const char *dir, int (*fn)(struct kube_names *, const char *),
                      struct kube_names *kn)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int err = 0;

    if (!d)
        return errno == ENOENT ? 0 : -errno;
    while (!err && (de = readdir(d)))
        err = fn(kn, de->d_name);
    closedir(d);
    return err;
}

static int put_pod(struct kube_names *kn, const char *uid, size_t uid_len, const char *ns,
                   size_t ns_len, const char *name, size_t name_len)
{
    struct pod_entry *pe;

    if (htab_get(&kn->pods, uid, uid_len, NULL))
        return 0; /* the first source wins */
    if (ARRAY_RESERVE_ONE(kn->entries, kn->nentries, kn->entries_cap))
        return -ENOMEM;
    pe = &kn->entries[kn->nentries];
    pe->ns = strndup(ns, ns_len);
    pe->name = strndup(name, name_len);
    if (!pe->ns || !pe->name) {
        free(pe->ns);
        free(pe->name);
        return -ENOMEM;
    }
    return htab_put(&kn->pods, uid, uid_len, kn->nentries++);
}

static int put_container(struct kube_names *kn, const char *id, size_t id_len, const char *name,
                         size_t name_len)
{
    if (htab_get(&kn->containers, id, id_len, NULL))
        return 0;
    if (ARRAY_RESERVE_ONE(kn->cnames, kn->ncnames, kn->cnames_cap) ||
        !(kn->cnames[kn->ncnames] = strndup(name, name_len)))
        return -ENOMEM;
    kn->ncnames++;
    return htab_put(&kn->containers, id, id_len, kn->ncnames - 1);
}

int kube_names_add_pod(struct kube_names *kn, const char *uid, const char *ns, const char *pod)
{
    return put_pod(kn, uid, strlen(uid), ns, strlen(ns), pod, strlen(pod));
}

int kube_names_add_container(struct kube_names *kn, const char *container_id, const char *name)
{
    return put_container(kn, container_id, strlen(container_id), name, strlen(name));
}

/* pods/<namespace>_<pod>_<uid> */
static int add_pod(struct kube_names *kn, const char *name)
{
    const char *a = strchr(name, '_'), *b = a ? strchr(a + 1, '_') : NULL;

    if (!a || !b || strchr(b + 1, '_') || a == name || b == a + 1 || !b[1])
        return 0;
    return put_pod(kn, b + 1, strlen(b + 1), name, (size_t)(a - name), a + 1, (size_t)(b - a - 1));
}

/* containers/<pod>_<namespace>_<container>-<id>.log */
static int add_container(struct kube_names *kn, const char *name)
{
    size_t len = strlen(name);
    const char *a = strchr(name, '_'), *b = a ? strchr(a + 1, '_') : NULL, *dash;

    if (!b || !ends_with(name, len, ".log"))
        return 0;
    len -= 4;
    dash = memrchr(name, '-', len);
    if (!dash || dash <= b + 1 || !is_hex(dash + 1, (size_t)(name + len - dash - 1)))
        return 0;
    return put_container(kn, dash + 1, (size_t)(name + len - dash - 1), b + 1,
                         (size_t)(dash - b - 1));
}

int kube_names_new(struct kube_names **out)
{
    struct kube_names *kn = calloc(1, sizeof(*kn));

    if (!kn)
        return -ENOMEM;
    htab_init(&kn->pods);
    htab_init(&kn->containers);
    *out = kn;
    return 0;
}

int kube_names_merge(struct kube_names *dst, const struct kube_names *src)
{
    int err = 0;

    for (size_t i = 0; !err && i < src->pods.cap; i++) {
        const struct htab_slot *sl = &src->pods.slots[i];
        const struct pod_entry *pe = sl->hash ? &src->entries[sl->val] : NULL;

        if (pe)
            err =
                put_pod(dst, sl->key, sl->len, pe->ns, strlen(pe->ns), pe->name, strlen(pe->name));
    }
    for (size_t i = 0; !err && i < src->containers.cap; i++) {
        const struct htab_slot *sl = &src->containers.slots[i];

        if (sl->hash)
            err = put_container(dst, sl->key, sl->len, src->cnames[sl->val],
                                strlen(src->cnames[sl->val]));
    }
    return err;
}

int kube_names_load(const char *root, struct kube_names **out)
{
    struct kube_names *kn;
    char path[4096], parent[4000];
    struct stat st;
    int err;

    if ((err = kube_names_new(&kn)))
        return err;
    snprintf(path, sizeof(path), "%s/pods", root);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        kn->dir_known = true;
        snprintf(parent, sizeof(parent), "%s", root);
    } else {
        /* /var/log/pods given for /var/log: the Pod directories themselves,
         * and containers/ beside them */
        const char *slash;
        size_t len = strlen(root);

        while (len > 1 && root[len - 1] == '/')
            len--;
        slash = memrchr(root, '/', len);
        snprintf(path, sizeof(path), "%.*s", (int)len, root);
        snprintf(parent, sizeof(parent), "%.*s",
                 slash ? (int)(slash == root ? 1 : slash - root) : 1, slash ? root : ".");
    }
    err = each_entry(path, add_pod, kn);
    kn->dir_known |= kn->nentries > 0;
    if (!err) {
        snprintf(path, sizeof(path), "%.4000s/containers", parent);
        err = each_entry(path, add_container, kn);
    }
    if (err) {
        kube_names_free(kn);
        return err;
    }
    *out = kn;
    return 0;
}

void kube_names_free(struct kube_names *kn)
{
    if (!kn)
        return;
    for (size_t i = 0; i < kn->nentries; i++) {
        free(kn->entries[i].ns);
        free(kn->entries[i].name);
    }
    for (size_t i = 0; i < kn->ncnames; i++)
        free(kn->cnames[i]);
    free(kn->entries);
    free(kn->cnames);
    htab_free(&kn->pods);
    htab_free(&kn->containers);
    free(kn);
}

static const struct pod_entry *pod_entry(const struct kube_names *kn, const char *uid)
{
    uint64_t idx;

    return uid && htab_get(&kn->pods, uid, strlen(uid), &idx) ? &kn->entries[idx] : NULL;
}

const char *kube_pod_namespace(const struct kube_names *kn, const char *uid)
{
    const struct pod_entry *pe = pod_entry(kn, uid);

    return pe ? pe->ns : NULL;
}

const char *kube_pod_name(const struct kube_names *kn, const char *uid)
{
    const struct pod_entry *pe = pod_entry(kn, uid);

    return pe ? pe->name : NULL;
}

const char *kube_container_name(const struct kube_names *kn, const char *container_id)
{
    uint64_t idx;

    if (!container_id || !htab_get(&kn->containers, container_id, strlen(container_id), &idx))
        return NULL;
    return kn->cnames[idx];
}

size_t kube_names_pods(const struct kube_names *kn)
{
    return kn->nentries;
}

bool kube_selector_empty(const struct kube_selector *sel)
{
    return !sel->npods && !sel->nnamespaces && !sel->ncontainers;
}

static bool any_of(const char *const *values, size_t n, const char *a, const char *b)
{
    for (size_t i = 0; i < n; i++) {
        if ((a && !strcmp(values[i], a)) || (b && !strcmp(values[i], b)))
            return true;
    }
    return false;
}

bool kube_selector_match(const struct kube_selector *sel, const char *path,
                         const struct kube_names *kn)
{
    struct cgroup_identity id;
    const char *pod, *ns;

    if (kube_selector_empty(sel))
        return false;
    kube_parse_cgroup(path, &id);
    if (!id.is_pod || id.conmon)
        return false;
    /* the Pod's cgroup covers its containers; a container filter needs
     * the container's own cgroup */
    if (sel->ncontainers ? !id.container_id[0] : id.container_id[0] != '\0')
        return false;
    pod = kn ? kube_pod_name(kn, id.pod_uid) : NULL;
    ns = kn ? kube_pod_namespace(kn, id.pod_uid) : NULL;
    if (sel->npods && !any_of(sel->pods, sel->npods, pod, id.pod_uid))
        return false;
    if (sel->nnamespaces && !any_of(sel->namespaces, sel->nnamespaces, ns, NULL))
        return false;
    if (sel->ncontainers &&
        !any_of(sel->containers, sel->ncontainers,
                kn ? kube_container_name(kn, id.container_id) : NULL, id.container_id))
        return false;
    return true;
}

const char *kube_node_name(char *buf, size_t len)
{
    const char *node = getenv("NODE_NAME");

    if (node && *node)
        return node;
    memset(buf, 0, len);
    if (gethostname(buf, len - 1) || !*buf)
        snprintf(buf, len, "unknown");
    return buf;
}

bool kube_names_dir_known(const struct kube_names *kn)
{
    return kn->dir_known;
}
