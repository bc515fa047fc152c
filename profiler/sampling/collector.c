#include "profiler/sampling/collector.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "profiler/kube/containers.h"
#include "profiler/kube/kube.h"
#include "profiler/kube/kubeapi.h"
#include "formats/clock.h"
#include "formats/buf.h"

/* An unknown Pod UID reloads the kubelet's directories at most this often:
 * Pods that start while recording get their names. */
#define KUBE_RELOAD_NS 1000000000LL

struct collector {
    struct symbolizer *sym;
    struct cgroups *cg;
    struct pf_profile *p;
    int64_t period_ns;
    struct htab samples;   /* raw sample key -> sample index */
    struct htab locations; /* frame key -> location id */
    struct htab mappings;  /* binary id -> mapping id */
    struct htab tgids;     /* processes seen */
    uint64_t kernel_mapping, jit_mapping;
    uint64_t total;
    uint64_t *scratch;                                         /* raw key buffer */
    uint64_t loc_ids[2 * PF_MAX_STACK_DEPTH + 1];              /* + an off-CPU class's leaf */
    int64_t k_pid, k_tid, k_comm, k_thread, k_cgroup, k_state; /* label key strings */
    /* off CPU: where its values go (-1: the profile has no such type), the
     * synthetic leaf of each class, and the time seen */
    int vi_off, vi_wall;
    uint64_t state_loc[PF_STATE__MAX];
    uint64_t offcpu_ns;
    /* Kubernetes identity, when turned on */
    char *kube_dir;
    char *node;
    struct kube_names *kn;
    struct container_names *containers; /* outside Kubernetes: podman, Docker */
    int64_t kube_loaded_ns;
    struct kubeapi *api; /* borrowed; NULL without --kube-api */
    bool label_pending;  /* the last kube_labels lacked a name source */
    /* how each sample's user stack was completed (enum collector_unwind) */
    uint8_t *unwind, last_unwind;
    int next_unwind; /* -1: frame pointers; else how collector_add_unwound got it */
    size_t unwind_cap;
    uint64_t unwind_samples[COLLECTOR_UNWIND__MAX];
    uint64_t ufixed[PF_MAX_STACK_DEPTH + 1];
    uint64_t *pending; /* samples to label again in collector_finish */
    size_t npending, pending_cap;
    struct named_later *later; /* locations to name from DWARF in collector_finish */
    size_t nlater, later_cap;
};

/* A location of a binary's address, named (from DWARF, else from the
 * symbol table) when the profile is finished rather than on the sampling
 * path, where finding and reading a debug file would hold up the reading
 * of samples for as long as it takes. */
struct named_later {
    uint64_t location_id;
    uint64_t vaddr;
    uint32_t binary_id;
    bool is_return;
    int64_t name; /* the symbol table's name (string index) */
};

/* Location cache key: what makes two frames the same place. */
struct frame_key {
    uint32_t kind;  /* 'K' kernel, 'U' file-backed user, 'A' anonymous user */
    uint32_t owner; /* binary id ('U') or pid ('A') */
    uint64_t addr;
};

static int sample_type_index(const struct pf_profile *p, const char *type)
{
    size_t i;

    return pf_profile_value_index(p, type, &i) ? -1 : (int)i;
}

/* What depends on the profile: its label keys, and where off-CPU time goes. */
static int bind_profile(struct collector *c)
{
    c->k_pid = pf_profile_cstring(c->p, "pid");
    c->k_tid = pf_profile_cstring(c->p, "tid");
    c->k_comm = pf_profile_cstring(c->p, "comm");
    c->k_thread = pf_profile_cstring(c->p, "thread");
    c->k_cgroup = pf_profile_cstring(c->p, "cgroup");
    c->k_state = pf_profile_cstring(c->p, "state");
    c->vi_off = sample_type_index(c->p, "off_cpu");
    c->vi_wall = sample_type_index(c->p, "wall");
    memset(c->state_loc, 0, sizeof(c->state_loc));
    return c->k_pid < 0 || c->k_tid < 0 || c->k_comm < 0 || c->k_thread < 0 || c->k_cgroup < 0 ||
                   c->k_state < 0
               ? -ENOMEM
               : 0;
}

const char *collector_state_name(uint32_t state)
{
    static const char *const names[PF_STATE__MAX] = {
        [PF_STATE_CPU] = "running",         [PF_STATE_RUNQUEUE] = "runqueue",
        [PF_STATE_THROTTLED] = "throttled", [PF_STATE_BLOCKED] = "blocked",
        [PF_STATE_SLEEPING] = "sleeping",
    };

    return state < PF_STATE__MAX ? names[state] : "unknown";
}

int collector_new(struct symbolizer *sym, struct cgroups *cg, struct pf_profile *p,
                  int64_t period_ns, struct collector **out)
{
    struct collector *c = calloc(1, sizeof(*c));

    if (!c)
        return -ENOMEM;
    c->sym = sym;
    c->cg = cg;
    c->p = p;
    c->period_ns = period_ns;
    c->next_unwind = -1;
    htab_init(&c->samples);
    htab_init(&c->locations);
    htab_init(&c->mappings);
    htab_init(&c->tgids);
    c->scratch = malloc(sizeof(struct pf_key) + (2 + 2 * PF_MAX_STACK_DEPTH) * sizeof(uint64_t));
    if (!c->scratch || bind_profile(c) ||
        container_names_new(getenv("PODFLAME_PODMAN_CONTAINERS_JSON"),
                            getenv("PODFLAME_DOCKER_DIR"), &c->containers)) {
        collector_free(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

int collector_rebind(struct collector *c, struct pf_profile *p)
{
    /* Every cached id is an index into the old profile. */
    htab_free(&c->samples);
    htab_free(&c->locations);
    htab_free(&c->mappings);
    htab_free(&c->tgids);
    c->kernel_mapping = c->jit_mapping = 0;
    c->npending = c->nlater = 0;
    c->p = p;
    return bind_profile(c);
}

void collector_free(struct collector *c)
{
    if (!c)
        return;
    htab_free(&c->samples);
    htab_free(&c->locations);
    htab_free(&c->mappings);
    htab_free(&c->tgids);
    free(c->scratch);
    free(c->kube_dir);
    free(c->node);
    kube_names_free(c->kn);
    container_names_free(c->containers);
    free(c->pending);
    free(c->later);
    free(c->unwind);
    free(c);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash && slash[1] ? slash + 1 : path;
}

/* The one mapping of all kernel frames, or of all JIT frames: made at
 * the first, its id kept in *slot. */
static int64_t synthetic_mapping(struct collector *c, uint64_t *slot, enum pf_frame_kind kind,
                                 const char *name)
{
    struct pf_mapping m = {.kind = kind, .has_functions = true};
    int64_t ret;

    if (*slot)
        return (int64_t)*slot;
    if ((m.filename = pf_profile_cstring(c->p, name)) < 0)
        return m.filename;
    ret = pf_profile_add_mapping(c->p, &m);
    if (ret > 0)
        *slot = (uint64_t)ret;
    return ret;
}

static int64_t mapping_for(struct collector *c, const struct sym_frame *f)
{
    struct pf_mapping m = {0};
    uint64_t id;
    int64_t ret;

    if (f->kernel)
        return synthetic_mapping(c, &c->kernel_mapping, PF_FRAME_KERNEL, PF_KERNEL_MAPPING);
    if (f->jit)
        return synthetic_mapping(c, &c->jit_mapping, PF_FRAME_JIT, PF_JIT_MAPPING);
    if (!f->binary_id)
        return 0;
    if (htab_get(&c->mappings, &f->binary_id, sizeof(f->binary_id), &id))
        return (int64_t)id;
    /* Addresses in this mapping are the binary's own (ELF virtual), the same
     * in every process, so the mapping covers the whole address space. */
    m.limit = UINT64_MAX;
    m.has_functions = true; /* named here: pprof must not re-symbolize */
    m.filename = pf_profile_cstring(c->p, f->module);
    m.build_id = pf_profile_cstring(c->p, f->build_id);
    if (m.filename < 0 || m.build_id < 0)
        return -ENOMEM;
    ret = pf_profile_add_mapping(c->p, &m);
    if (ret > 0 && htab_put(&c->mappings, &f->binary_id, sizeof(f->binary_id), (uint64_t)ret))
        return -ENOMEM;
    return ret;
}

/* The frame's display name: its symbol, else module+0xADDR, else [unknown]. */
static int64_t frame_name(struct collector *c, const struct sym_frame *f)
{
    char buf[512];

    if (f->name)
        return pf_profile_cstring(c->p, f->name);
    if (f->kernel)
        return pf_profile_cstring(c->p, "[kernel]");
    if (!f->module[0])
        return pf_profile_cstring(c->p, "[unknown]");
    /* the start of its code when .eh_frame says it, so that a stripped
     * library's function is one frame and one pprof function */
    snprintf(buf, sizeof(buf), "%s+0x%" PRIx64, base_name(f->module), f->func_start);
    return pf_profile_cstring(c->p, buf);
}

/* The profile's lines for DWARF's: one per function inlined at the
 * address, innermost first, each with its file and line. */
static int dwarf_lines(struct collector *c, const struct sym_line *sl, size_t n, uint64_t mid,
                       struct pf_line *out)
{
    struct pf_mapping *m = mid ? &c->p->mappings[mid - 1] : NULL;

    for (size_t i = 0; i < n; i++) {
        int64_t name = pf_profile_cstring(c->p, sl[i].func);
        int64_t file = pf_profile_cstring(c->p, sl[i].file);
        int64_t fid;

        if (name < 0 || file < 0)
            return -ENOMEM;
        if ((fid = pf_profile_function(c->p, name, name, file, 0)) < 0)
            return (int)fid;
        out[i] = (struct pf_line){.function_id = (uint64_t)fid, .line = sl[i].line};
    }
    if (m) {
        m->has_filenames = m->has_line_numbers = true;
        m->has_inline_frames |= n > 1;
    }
    return 0;
}

static int64_t location_for(struct collector *c, uint32_t pid, uint64_t addr, bool kernel,
                            bool is_return)
{
    struct sym_frame f;
    struct frame_key key = {0};
    struct pf_line line = {0};
    int64_t mid, name, fid, lid;
    uint64_t id;
    int err;

    err = kernel ? symbolizer_kernel(c->sym, is_return ? addr - 1 : addr, &f)
                 : symbolizer_user_name(c->sym, (pid_t)pid, addr, is_return, &f);
    if (err)
        return err;
    if (kernel)
        key = (struct frame_key){'K', 0, addr};
    else if (f.binary_id)
        key = (struct frame_key){'U', f.binary_id, f.addr};
    else
        key = (struct frame_key){'A', pid, addr};
    if (htab_get(&c->locations, &key, sizeof(key), &id))
        return (int64_t)id;

    mid = mapping_for(c, &f);
    if (mid < 0)
        return mid;
    name = frame_name(c, &f);
    if (name < 0)
        return -ENOMEM;
    if (!kernel && f.binary_id) {
        /* its lines come in collector_finish */
        if (ARRAY_RESERVE_ONE(c->later, c->nlater, c->later_cap))
            return -ENOMEM;
        lid = pf_profile_add_location(c->p, (uint64_t)mid, f.addr, NULL, 0);
        if (lid > 0)
            c->later[c->nlater++] = (struct named_later){.location_id = (uint64_t)lid,
                                                         .vaddr = f.addr,
                                                         .binary_id = f.binary_id,
                                                         .is_return = is_return,
                                                         .name = name};
    } else {
        fid = pf_profile_function(c->p, name, name, 0, 0);
        if (fid < 0)
            return fid;
        line.function_id = (uint64_t)fid;
        lid = pf_profile_add_location(c->p, (uint64_t)mid, kernel ? addr : f.addr, &line, 1);
    }
    if (lid < 0)
        return lid;
    if (htab_put(&c->locations, &key, sizeof(key), (uint64_t)lid))
        return -ENOMEM;
    return lid;
}

/* Names the locations added since the last call (see struct named_later). */
static int name_locations(struct collector *c)
{
    struct sym_line sl[SYM_MAX_INLINE];
    struct pf_line lines[SYM_MAX_INLINE];
    int err = 0;

    for (size_t i = 0; !err && i < c->nlater; i++) {
        const struct named_later *l = &c->later[i];
        const struct pf_location *loc = pf_profile_location(c->p, l->location_id);
        size_t n =
            symbolizer_user_lines(c->sym, l->binary_id, l->vaddr, l->is_return, sl, SYM_MAX_INLINE);
        int64_t fid;

        if (!loc)
            continue;
        if (n) {
            err = dwarf_lines(c, sl, n, loc->mapping_id, lines);
        } else if ((fid = pf_profile_function(c->p, l->name, l->name, 0, 0)) < 0) {
            err = (int)fid;
        } else {
            lines[0] = (struct pf_line){.function_id = (uint64_t)fid};
            n = 1;
        }
        if (!err)
            err = pf_profile_set_location_lines(c->p, l->location_id, lines, n);
    }
    c->nlater = 0;
    symbolizer_lines_done(c->sym);
    return err;
}

static int64_t label_str(struct collector *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int64_t label_str(struct collector *c, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;

    va_start(ap, fmt);
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is just above
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return pf_profile_cstring(c->p, buf);
}

int collector_set_kube(struct collector *c, const char *log_dir, const char *node)
{
    free(c->kube_dir);
    free(c->node);
    c->kube_dir = strdup(log_dir);
    c->node = node && *node ? strdup(node) : NULL;
    return !c->kube_dir || (node && *node && !c->node) ? -ENOMEM : 0;
}

void collector_set_kube_api(struct collector *c, struct kubeapi *api)
{
    c->api = api;
}

/* The kubelet's names, reloaded when a Pod is not in them yet. A missing
 * directory is not an error: Pods are then known by UID only. */
static const struct kube_names *kube_names_for(struct collector *c, const char *uid)
{
    int64_t now = mono_ns();
    struct kube_names *fresh;

    if (c->kn && kube_pod_name(c->kn, uid))
        return c->kn;
    if (!c->kn || now - c->kube_loaded_ns >= KUBE_RELOAD_NS) {
        c->kube_loaded_ns = now;
        if (kube_names_load(c->kube_dir, &fresh) == 0) {
            kube_names_free(c->kn);
            c->kn = fresh;
        }
    }
    return c->kn;
}

/* Room for the fixed labels, the Kubernetes ones and a Pod's own labels;
 * Pod labels beyond it are left off. */
#define MAX_SAMPLE_LABELS 64

static int add_label(struct collector *c, struct pf_label *labels, size_t *n, const char *key,
                     const char *value)
{
    int64_t k, v;

    if (*n >= MAX_SAMPLE_LABELS)
        return 0;
    k = pf_profile_cstring(c->p, key);
    v = pf_profile_cstring(c->p, value);
    if (k < 0 || v < 0)
        return -ENOMEM;
    labels[(*n)++] = (struct pf_label){.key = k, .str = v};
    return 0;
}

/* What the API server adds: names the log tree lacks, the exact owner, and
 * the Pod's labels as k8s.pod.label.<key> (OpenTelemetry's spelling). */
struct api_labels {
    struct collector *c;
    struct pf_label *labels;
    size_t *n;
    const char *pod, *ns, *ctr; /* already known from the log tree */
    bool workload;
    int err;
};

static void add_api_labels(void *ctx, const struct kube_pod_meta *m, const char *container)
{
    struct api_labels *a = ctx;
    char key[320];
    int err = 0;

    if (!a->pod && m->name)
        err = add_label(a->c, a->labels, a->n, "pod", m->name);
    if (!err && !a->ns && m->ns)
        err = add_label(a->c, a->labels, a->n, "namespace", m->ns);
    if (!err && !a->ctr && container)
        err = add_label(a->c, a->labels, a->n, "container", container);
    if (!err && m->workload) {
        err = add_label(a->c, a->labels, a->n, "workload", m->workload);
        a->workload = true;
    } else if (!err && !a->pod && m->name && kube_workload(m->name, key, sizeof(key))) {
        err = add_label(a->c, a->labels, a->n, "workload", key);
        a->workload = true;
    }
    for (size_t i = 0; !err && i < m->nlabels; i++) {
        snprintf(key, sizeof(key), "k8s.pod.label.%s", m->labels[i].key);
        err = add_label(a->c, a->labels, a->n, key, m->labels[i].value);
    }
    a->err = err;
}

/* A container outside Kubernetes: its id, runtime and name (the
 * runtime's, else the id's first 12 characters, as they show it). */
static int container_labels(struct collector *c, const struct cgroup_identity *id,
                            struct pf_label *labels, size_t *n)
{
    const char *name = id->container_name[0]
                           ? id->container_name
                           : container_name(c->containers, id->runtime, id->container_id);
    char shortid[13];
    int err = 0;

    snprintf(shortid, sizeof(shortid), "%.12s", id->container_id);
    if (id->container_id[0])
        err = add_label(c, labels, n, "container_id", id->container_id);
    if (!err)
        err = add_label(c, labels, n, "runtime", kube_runtime_name(id->runtime));
    if (!err)
        err = add_label(c, labels, n, "container", name ? name : shortid);
    return err;
}

/* pod, namespace, container, pod_uid, container_id, qos, workload, node;
 * container_id, runtime, container for containers outside Kubernetes */
static int kube_labels(struct collector *c, const char *cgpath, struct pf_label *labels, size_t *n)
{
    struct cgroup_identity id;
    const struct kube_names *kn;
    struct api_labels a = {.c = c, .labels = labels, .n = n};
    char workload[256];
    int err = 0;

    if (c->node)
        err = add_label(c, labels, n, "node", c->node);
    if (err || !cgpath)
        return err;
    kube_parse_cgroup(cgpath, &id);
    if (id.is_container)
        return container_labels(c, &id, labels, n);
    if (!id.is_pod)
        return 0;
    kn = c->kube_dir ? kube_names_for(c, id.pod_uid) : NULL;
    a.pod = kn ? kube_pod_name(kn, id.pod_uid) : NULL;
    a.ns = kn ? kube_pod_namespace(kn, id.pod_uid) : NULL;
    a.ctr = kn && id.container_id[0] ? kube_container_name(kn, id.container_id) : NULL;
    err = add_label(c, labels, n, "pod_uid", id.pod_uid);
    if (!err)
        err = add_label(c, labels, n, "qos", kube_qos_name(id.qos));
    if (!err && id.container_id[0])
        err = add_label(c, labels, n, "container_id", id.container_id);
    if (!err && a.pod)
        err = add_label(c, labels, n, "pod", a.pod);
    if (!err && a.ns)
        err = add_label(c, labels, n, "namespace", a.ns);
    if (!err && a.ctr)
        err = add_label(c, labels, n, "container", a.ctr);
    if (!err && c->api) {
        if (!kubeapi_with_pod(c->api, id.pod_uid, id.container_id, add_api_labels, &a)) {
            kubeapi_kick(c->api); /* a Pod newer than the last list */
            c->label_pending = true;
        }
        err = a.err;
    }
    if (!a.pod && !c->api)
        c->label_pending = true; /* the log tree may name it later */
    if (!err && !a.workload && a.pod && kube_workload(a.pod, workload, sizeof(workload)))
        err = add_label(c, labels, n, "workload", workload);
    return err;
}

/* The frameless-leaf fix: frame-pointer unwinding skips the caller of a
 * function sampled before it set up its frame (GCC's frameless leaves, or
 * a prologue). When the leaf's CFI says its return address is at the stack
 * slot the kernel found a code address in, that address is the caller. */
static const uint64_t *complete_leaf(struct collector *c, const struct pf_key *key,
                                     const uint64_t *ustack, size_t *nu)
{
    uint64_t ret = key->leaf_ret & PF_LEAF_RET_ADDR_MASK;
    int want = (int)(key->leaf_ret >> PF_LEAF_RET_SLOT_SHIFT), slot;

    c->last_unwind = COLLECTOR_UNWIND_FP;
    if (!*nu || *nu >= PF_MAX_STACK_DEPTH)
        return ustack;
    slot = symbolizer_frameless_slot(c->sym, (pid_t)key->tgid, ustack[0]);

    if (slot < 0)
        return ustack; /* the leaf has its frame: the chain is complete */
    if (!key->leaf_ret || slot != want) {
        c->last_unwind = COLLECTOR_UNWIND_FP_LEAF_LOST;
        return ustack;
    }
    if (*nu >= 2 && ustack[1] == ret)
        return ustack; /* the chain has it already */
    c->ufixed[0] = ustack[0];
    c->ufixed[1] = ret;
    memcpy(c->ufixed + 2, ustack + 1, (*nu - 1) * sizeof(*ustack));
    (*nu)++;
    c->last_unwind = COLLECTOR_UNWIND_FP_LEAF_FIXED;
    return c->ufixed;
}

/* The synthetic leaf of an off-CPU class: a frame named [throttled],
 * [runqueue], [blocked] or [sleeping], in no mapping. */
static int64_t state_location(struct collector *c, uint32_t state)
{
    char name[32];
    struct pf_line line;
    int64_t str, fn, loc;

    if (state >= PF_STATE__MAX)
        state = PF_STATE_SLEEPING;
    if (c->state_loc[state])
        return (int64_t)c->state_loc[state];
    snprintf(name, sizeof(name), "[%s]", collector_state_name(state));
    if ((str = pf_profile_cstring(c->p, name)) < 0 ||
        (fn = pf_profile_function(c->p, str, str, 0, 0)) < 0)
        return -ENOMEM;
    line = (struct pf_line){.function_id = (uint64_t)fn};
    if ((loc = pf_profile_add_location(c->p, 0, 0, &line, 1)) < 0)
        return loc;
    c->state_loc[state] = (uint64_t)loc;
    return loc;
}

static int new_sample(struct collector *c, const struct pf_key *key, const uint64_t *ustack,
                      size_t nu, const uint64_t *kstack, size_t nk)
{
    struct pf_label labels[MAX_SAMPLE_LABELS];
    int64_t values[PF_MAX_SAMPLE_TYPES] = {0};
    size_t nloc = 0, nlab = 0;
    const char *cgpath = c->cg ? cgroups_path(c->cg, key->cgroup_id) : NULL;
    int64_t v;

    if (c->next_unwind >= 0)
        c->last_unwind = (uint8_t)c->next_unwind;
    else
        ustack = complete_leaf(c, key, ustack, &nu);
    if (array_reserve((void **)&c->unwind, &c->unwind_cap, c->p->nsamples + 1, 1))
        return -ENOMEM;
    c->unwind[c->p->nsamples] = c->last_unwind;

    /* leaf first: an off-CPU class on top of kernel frames, which sit on
     * top of user frames */
    if (key->state != PF_STATE_CPU) {
        if ((v = state_location(c, key->state)) < 0)
            return (int)v;
        c->loc_ids[nloc++] = (uint64_t)v;
    }
    for (size_t i = 0; i < nk; i++) {
        v = location_for(c, key->tgid, kstack[i], true, i > 0);
        if (v < 0)
            return (int)v;
        c->loc_ids[nloc++] = (uint64_t)v;
    }
    for (size_t i = 0; i < nu; i++) {
        v = location_for(c, key->tgid, ustack[i], false, i > 0);
        if (v < 0)
            return (int)v;
        c->loc_ids[nloc++] = (uint64_t)v;
    }
    labels[nlab++] = (struct pf_label){.key = c->k_pid, .str = label_str(c, "%u", key->tgid)};
    labels[nlab++] = (struct pf_label){.key = c->k_tid, .str = label_str(c, "%u", key->tid)};
    labels[nlab++] =
        (struct pf_label){.key = c->k_comm, .str = label_str(c, "%.16s", key->proc_comm)};
    labels[nlab++] = (struct pf_label){.key = c->k_thread, .str = label_str(c, "%.16s", key->comm)};
    if (cgpath)
        labels[nlab++] =
            (struct pf_label){.key = c->k_cgroup, .str = pf_profile_cstring(c->p, cgpath)};
    if (c->vi_off >= 0)
        labels[nlab++] = (struct pf_label){
            .key = c->k_state, .str = pf_profile_cstring(c->p, collector_state_name(key->state))};
    for (size_t i = 0; i < nlab; i++) {
        if (labels[i].str < 0)
            return -ENOMEM;
    }
    c->label_pending = false;
    if ((c->kube_dir || c->api) && (v = kube_labels(c, cgpath, labels, &nlab)))
        return (int)v;
    if ((v = pf_profile_add_sample(c->p, c->loc_ids, nloc, values, labels, nlab)))
        return (int)v;
    if (c->label_pending) {
        if (ARRAY_RESERVE_ONE(c->pending, c->npending, c->pending_cap))
            return -ENOMEM;
        c->pending[c->npending++] = c->p->nsamples - 1;
    }
    return 0;
}

/* Adds to sample s the labels of more whose keys s lacks. */
static int merge_labels(struct pf_sample *s, const struct pf_label *more, size_t n)
{
    struct pf_label *l = realloc(s->labels, (s->nlabels + n) * sizeof(*l));

    if (!l)
        return -ENOMEM;
    s->labels = l;
    for (size_t i = 0; i < n; i++) {
        bool have = false;

        for (size_t j = 0; j < s->nlabels && !have; j++)
            have = l[j].key == more[i].key;
        if (!have)
            l[s->nlabels++] = more[i];
    }
    return 0;
}

int collector_finish(struct collector *c)
{
    struct pf_label labels[MAX_SAMPLE_LABELS];
    int err = name_locations(c);

    /* Samples of Pods that were not named yet when first seen (a Pod newer
     * than the API's last list or the log tree's last read) get the names
     * known now. */
    for (size_t i = 0; !err && i < c->npending; i++) {
        struct pf_sample *s = &c->p->samples[c->pending[i]];
        const char *path = NULL;
        size_t n = 0;

        for (size_t j = 0; j < s->nlabels && !path; j++) {
            if (s->labels[j].key == c->k_cgroup)
                path = c->p->strings[s->labels[j].str];
        }
        if (path && !(err = kube_labels(c, path, labels, &n)))
            err = merge_labels(s, labels, n);
    }
    c->npending = 0;
    return err;
}

int collector_add_unwound(struct collector *c, const struct pf_key *key, uint64_t count,
                          const uint64_t *ustack, size_t nu, const uint64_t *kstack, size_t nk,
                          enum collector_unwind how)
{
    int err;

    c->next_unwind = (int)how;
    err = collector_add(c, key, count, ustack, nu, kstack, nk);
    c->next_unwind = -1;
    return err;
}

/* count is samples on the CPU, nanoseconds off it. */
static void add_values(struct collector *c, int64_t *values, uint32_t state, uint64_t count)
{
    if (state == PF_STATE_CPU) {
        values[0] += (int64_t)count;
        values[1] += (int64_t)count * c->period_ns;
        if (c->vi_wall >= 0)
            values[c->vi_wall] += (int64_t)count * c->period_ns;
        c->total += count;
        return;
    }
    if (c->vi_off >= 0)
        values[c->vi_off] += (int64_t)count;
    if (c->vi_wall >= 0)
        values[c->vi_wall] += (int64_t)count;
    c->offcpu_ns += count;
}

int collector_add(struct collector *c, const struct pf_key *key, uint64_t count,
                  const uint64_t *ustack, size_t nu, const uint64_t *kstack, size_t nk)
{
    struct pf_key *k = (struct pf_key *)c->scratch;
    uint64_t *rest = c->scratch + sizeof(*k) / sizeof(uint64_t);
    uint64_t idx = c->p->nsamples, tg = key->tgid;
    size_t len;
    bool found;
    int err;

    /* Stack ids differ between drains; the addresses are the identity. */
    *k = *key;
    k->user_stack_id = k->kern_stack_id = 0;
    rest[0] = nu;
    rest[1] = nk;
    memcpy(rest + 2, ustack, nu * sizeof(*ustack));
    memcpy(rest + 2 + nu, kstack, nk * sizeof(*kstack));
    len = sizeof(*k) + (2 + nu + nk) * sizeof(uint64_t);
    if ((err = htab_get_or_put(&c->samples, c->scratch, len, &idx, &found, NULL)))
        return err;
    if (!found && (err = new_sample(c, key, ustack, nu, kstack, nk))) {
        /* keep the table consistent with the profile */
        htab_put(&c->samples, c->scratch, len, UINT64_MAX);
        return err;
    }
    if (idx == UINT64_MAX)
        return -ENOMEM;
    add_values(c, c->p->samples[idx].values, key->state, count);
    if (nu && key->state == PF_STATE_CPU)
        c->unwind_samples[c->unwind[idx]] += count;
    if (!htab_get(&c->tgids, &tg, sizeof(tg), NULL) && htab_put(&c->tgids, &tg, sizeof(tg), 1))
        return -ENOMEM;
    return 0;
}

void collector_unwind_stats(const struct collector *c, uint64_t out[COLLECTOR_UNWIND__MAX])
{
    memcpy(out, c->unwind_samples, sizeof(c->unwind_samples));
}

uint64_t collector_samples(const struct collector *c)
{
    return c->total;
}

uint64_t collector_offcpu_ns(const struct collector *c)
{
    return c->offcpu_ns;
}

size_t collector_processes(const struct collector *c)
{
    return c->tgids.count;
}

static int by_trouble(const void *a, const void *b)
{
    const struct collector_unnamed *x = a, *y = b;
    uint64_t tx = x->unnamed + x->cut_short, ty = y->unnamed + y->cut_short;

    return tx != ty ? (tx < ty ? 1 : -1) : (x->pid > y->pid) - (x->pid < y->pid);
}

int collector_unnamed_processes(const struct collector *c, size_t max,
                                void (*fn)(void *ctx, const struct collector_unnamed *u), void *ctx)
{
    struct collector_unnamed *procs = NULL;
    size_t n = 0, cap = 0, shown = 0;
    struct htab index;
    int err = 0;

    htab_init(&index);
    for (size_t i = 0; !err && i < c->p->nsamples; i++) {
        const struct pf_sample *s = &c->p->samples[i];
        const char *pid = pf_sample_label(c->p, s, "pid"), *comm = pf_sample_label(c->p, s, "comm");
        uint64_t n_, count = (uint64_t)(s->values[0] > 0 ? s->values[0] : 0);
        struct collector_unnamed *u;
        bool found, unnamed = false;

        if (!pid)
            continue;
        n_ = n;
        if ((err = htab_get_or_put(&index, pid, strlen(pid), &n_, &found, NULL)))
            break;
        if (!found) {
            if (ARRAY_RESERVE_ONE(procs, n, cap)) {
                err = -ENOMEM;
                break;
            }
            procs[n++] = (struct collector_unnamed){.pid = (uint32_t)strtoul(pid, NULL, 10),
                                                    .comm = comm ? comm : ""};
        }
        if (!procs)
            break;
        u = &procs[n_];
        u->samples += count;
        for (size_t j = 0; j < s->nlocations && !unnamed; j++) {
            const struct pf_location *l = pf_profile_location(c->p, s->location_ids[j]);

            /* anonymous code that no perf map named sits in no mapping
             * (named JIT code is in [jit], kernel code in its own) */
            unnamed = l && !l->mapping_id;
        }
        u->unnamed += unnamed ? count : 0;
        if (c->unwind && c->unwind[i] == COLLECTOR_UNWIND_DWARF_FAILED)
            u->cut_short += count;
    }
    htab_free(&index);
    if (!err && n > 1)
        qsort(procs, n, sizeof(*procs), by_trouble);
    for (size_t i = 0; !err && i < n && shown < max; i++) {
        const struct collector_unnamed *u = &procs[i];

        if (u->samples < 20 || (u->unnamed + u->cut_short) * 10 < u->samples)
            continue;
        fn(ctx, u);
        shown++;
    }
    free(procs);
    return err;
}
