#include "profiler/sampling/session.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/clock.h"
#include "formats/htab.h"
#include "symbolize/unwinder.h"
#include "profiler/kube/cgroups.h"
#include "profiler/kube/kubeapi.h"
#include "profiler/sampling/privs.h"

#define DRAIN_INTERVAL_NS 1000000000LL
/* Drains between two releases of the file pages symbolization touched
 * (symbolizer_release_pages): often enough that they do not pile up
 * between windows, rarely enough that hot pages are not refaulted all
 * the time. */
#define RELEASE_PAGES_EVERY 5

struct session {
    struct session_opts o;
    struct sampler *s;
    struct symbolizer *sym;
    struct collector *col;
    struct cgroups *cg;    /* NULL without cgroup2 */
    struct kube_names *kn; /* names for the Pod filter */
    struct kubeapi *api;   /* --kube-api, else NULL */
    struct unwinder *unw;  /* stack copies; NULL in fp mode */
    int err;               /* first error from a callback */
    int64_t next_drain;
    uint64_t drains;
    uint64_t ips[PF_MAX_STACK_DEPTH];
    uint64_t dwarf_procs; /* processes given stack copies (auto) */
    struct htab selected; /* cgroup ids in the BPF filter */
};

static void say(const struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void say(const struct session *s, const char *fmt, ...)
{
    va_list ap;

    if (!s->o.log)
        return;
    va_start(ap, fmt);
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is just above
    vfprintf(s->o.log, fmt, ap);
    va_end(ap);
}

static int select_cgroup(void *ctx, uint64_t id, const char *path)
{
    struct session *s = ctx;
    int err;

    if (htab_get(&s->selected, &id, sizeof(id), NULL) ||
        !kube_selector_match(s->o.pods, path, s->kn))
        return 0;
    if ((err = sampler_add_cgroup(s->s, id)))
        return err;
    return htab_put(&s->selected, &id, sizeof(id), 1);
}

/* Adds the cgroups of selected Pods that are not in the filter yet: at the
 * start, then every second, so that Pods that start later are sampled. */
static int select_pods(struct session *s)
{
    struct kube_names *kn;

    if (!s->o.pods || kube_selector_empty(s->o.pods) || !s->cg)
        return 0;
    if (kube_names_load(s->o.kubelet_log_dir, &kn) == 0) {
        if (s->api && kubeapi_add_names(s->api, kn)) {
            kube_names_free(kn);
            return -ENOMEM;
        }
        kube_names_free(s->kn);
        s->kn = kn;
    }
    return cgroups_walk(s->cg, select_cgroup, s);
}

static void on_process(void *ctx, pid_t tgid, uint64_t cgroup_id)
{
    struct session *s = ctx;
    int err = symbolizer_add_process(s->sym, tgid);

    /* a new process, or a new image after an exec */
    if (s->unw)
        unwinder_forget(s->unw, tgid);
    /* auto: stack copies for processes whose executable has no frame
     * pointers; the rest cost nothing extra once this is decided */
    if (s->o.unwind == PF_UNWIND_MODE_AUTO) {
        bool dwarf = unwinder_exe_has_frame_pointers(s->unw, tgid) == 0;

        if (sampler_set_unwind(s->s, tgid, dwarf) == 0 && dwarf)
            s->dwarf_procs++;
    }
    /* name the cgroup now: a Pod's cgroup can be gone by the next drain */
    if (s->cg)
        cgroups_path(s->cg, cgroup_id);
    if (err == -ENOMEM && !s->err)
        s->err = err; /* -ESRCH: it exited first; counted by the symbolizer */
}

static void on_stack(void *ctx, const struct pf_stack_sample *ss, size_t size)
{
    static const enum collector_unwind how[UNWIND_END__MAX] = {
        [UNWIND_COMPLETE] = COLLECTOR_UNWIND_DWARF,
        [UNWIND_COPY_SHORT] = COLLECTOR_UNWIND_DWARF_SHORT,
        [UNWIND_FAILED] = COLLECTOR_UNWIND_DWARF_FAILED,
        [UNWIND_MAX_DEPTH] = COLLECTOR_UNWIND_DWARF,
    };
    struct session *s = ctx;
    size_t hdr = sizeof(*ss) - sizeof(ss->stack), len = ss->stack_len;
    enum unwind_end why;
    int n;

    if (s->err)
        return;
    if (len > size - hdr)
        len = size - hdr; /* never trust a length over what arrived */
    n = unwinder_unwind(s->unw, s->sym, (pid_t)ss->key.tgid, (const uint64_t *)ss->regs,
                        ss->stack_start, ss->stack, len, s->ips, PF_MAX_STACK_DEPTH, &why);
    if (n < 0) {
        s->err = n;
        return;
    }
    n = collector_add_unwound(s->col, &ss->key, 1, s->ips, (size_t)n, (const uint64_t *)ss->kstack,
                              ss->nkern < PF_MAX_STACK_DEPTH ? ss->nkern : PF_MAX_STACK_DEPTH,
                              how[why]);
    if (n)
        s->err = n;
}

static int on_sample(void *ctx, const struct pf_key *key, uint64_t count, const uint64_t *ustack,
                     size_t nu, const uint64_t *kstack, size_t nk)
{
    struct session *s = ctx;

    return collector_add(s->col, key, count, ustack, nu, kstack, nk);
}

/* --kube-api: a first list now, so that a misconfiguration shows at once;
 * then a thread keeps it fresh. Only not being in a cluster is fatal: an
 * API server that does not answer yet must not stop the profiler. */
static int open_kube_api(struct session *s, const char *node, char *err, size_t errlen)
{
    struct kubeapi_config cfg;
    char why[256];
    int rc;

    if (kubeapi_config_in_cluster(&cfg, why, sizeof(why))) {
        snprintf(err, errlen, "--kube-api: %s", why);
        return -ENOENT;
    }
    if ((rc = kubeapi_open(&cfg, node, &s->api))) {
        snprintf(err, errlen, "--kube-api: %s", strerror(-rc));
        return rc;
    }
    if (kubeapi_refresh(s->api, why, sizeof(why)))
        say(s,
            "podflame: kube-api: %s; retrying every 30 s, Pods are named from the kubelet's "
            "logs meanwhile\n",
            why);
    if ((rc = kubeapi_start(s->api))) {
        snprintf(err, errlen, "--kube-api: %s", strerror(-rc));
        return rc;
    }
    collector_set_kube_api(s->col, s->api);
    return 0;
}

static int apply_filters(struct session *s, char *err, size_t errlen)
{
    const struct session_opts *o = &s->o;
    int rc;

    for (size_t i = 0; i < o->npids; i++) {
        if (kill(o->pids[i], 0) && errno == ESRCH) {
            snprintf(err, errlen, "no such process: %d", (int)o->pids[i]);
            return -ESRCH;
        }
        if ((rc = sampler_add_pid(s->s, o->pids[i]))) {
            snprintf(err, errlen, "cannot filter PID %d: %s", (int)o->pids[i], strerror(-rc));
            return rc;
        }
        /* gone by now: its samples say so in the summary */
        (void)symbolizer_add_process(s->sym, o->pids[i]);
    }
    if (o->ncgroups && !s->cg) {
        snprintf(err, errlen,
                 "--cgroup needs cgroup v2, and no cgroup2 mount is in /proc/self/mountinfo");
        return -ENOENT;
    }
    for (size_t i = 0; i < o->ncgroups; i++) {
        uint64_t id;

        rc = cgroups_id(s->cg, o->cgroups[i], &id);
        if (!rc)
            rc = sampler_add_cgroup(s->s, id);
        if (rc) {
            snprintf(err, errlen, "--cgroup %s: %s (cgroup2 is mounted at %s)", o->cgroups[i],
                     rc == -ENOTDIR ? "not a cgroup v2 directory" : strerror(-rc),
                     cgroups_mount(s->cg));
            return rc;
        }
    }
    if (o->pods && !kube_selector_empty(o->pods)) {
        if (!s->cg) {
            snprintf(err, errlen,
                     "Pod filters need cgroup v2, and no cgroup2 mount is in "
                     "/proc/self/mountinfo");
            return -ENOENT;
        }
        sampler_enable_cgroup_filter(s->s);
        if ((rc = select_pods(s))) {
            snprintf(err, errlen, "selecting Pods: %s", strerror(-rc));
            return rc;
        }
        if (!s->selected.count)
            say(s, "podflame: no Pod matches the filters yet: waiting for one\n");
    }
    return 0;
}

int session_set_sample_types(const struct session_opts *o, struct pf_profile *p)
{
    int64_t period = 1000000000LL / o->freq;

    if (o->event == SAMPLER_EVENT_CPU)
        return pf_profile_set_cpu_types(p, period);
    return pf_profile_set_wall_types(p, period, o->event == SAMPLER_EVENT_OFFCPU);
}

void session_opts_default(struct session_opts *o, unsigned int freq, const char *who)
{
    *o = (struct session_opts){.freq = freq,
                               .kernel = true,
                               .unwind = PF_UNWIND_MODE_AUTO,
                               .stack_size = 16384,
                               .map_entries = 16384,
                               .min_block_ns = 1000000,
                               .kubelet_log_dir = "/var/log",
                               .who = who};
}

/* A --kubelet-log-dir that holds neither pods/ nor Pod directories names
 * nothing: said once, at the start (the default /var/log of a host without
 * Kubernetes is not worth a word). */
static void warn_kubelet_dir(const struct session *s)
{
    struct kube_names *kn;

    if (!strcmp(s->o.kubelet_log_dir, "/var/log") || kube_names_load(s->o.kubelet_log_dir, &kn))
        return;
    if (!kube_names_dir_known(kn))
        say(s,
            "podflame: --kubelet-log-dir %s holds neither pods/ nor Pod directories "
            "(NAMESPACE_POD_UID): Pods will be named by UID\n",
            s->o.kubelet_log_dir);
    kube_names_free(kn);
}

int session_open(const struct session_opts *o, struct pf_profile *p, struct session **out,
                 char *err, size_t errlen)
{
    struct session *s = calloc(1, sizeof(*s));
    struct sampler_opts so;
    char host[256];
    const char *node = kube_node_name(host, sizeof(host));
    int rc = -ENOMEM;

    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    s->o = *o;
    htab_init(&s->selected);
    if (cgroups_open(&s->cg))
        s->cg = NULL; /* no cgroup2: samples get no cgroup label */
    if (symbolizer_new(&s->sym) || symbolizer_configure(s->sym, &o->sym) ||
        collector_new(s->sym, s->cg, p, 1000000000LL / o->freq, &s->col) ||
        collector_set_kube(s->col, o->kubelet_log_dir, node)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (o->kube_api && (rc = open_kube_api(s, node, err, errlen)))
        goto fail;
    warn_kubelet_dir(s);
    so = (struct sampler_opts){.freq = o->freq,
                               .kernel_stacks = o->kernel,
                               .include_idle = o->include_idle,
                               .follow_forks = o->follow_forks,
                               .leaf_fix = true,
                               .unwind_mode = o->unwind,
                               .stack_size = o->stack_size,
                               .max_keys = o->map_entries,
                               .max_stacks = 2 * o->map_entries,
                               .event = o->event,
                               .min_block_ns = o->min_block_ns,
                               .state_mask = o->state_mask};
    if ((rc = sampler_open(&so, &s->s, err, errlen)))
        goto fail;
    if ((rc = apply_filters(s, err, errlen)))
        goto fail;
    if (o->unwind != PF_UNWIND_MODE_OFF) {
        if ((rc = unwinder_new(&s->unw))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        sampler_set_stack_handler(s->s, on_stack, s);
    }
    if (o->kernel && (rc = symbolizer_load_kernel(s->sym))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    *out = s;
    return 0;
fail:
    session_close(s);
    return rc ? rc : -ENOMEM;
}

void session_close(struct session *s)
{
    if (!s)
        return;
    sampler_close(s->s);
    collector_free(s->col);
    kubeapi_close(s->api);
    symbolizer_free(s->sym);
    unwinder_free(s->unw);
    cgroups_close(s->cg);
    kube_names_free(s->kn);
    htab_free(&s->selected);
    free(s);
}

int session_add_pid_at_exec(struct session *s, pid_t pid)
{
    return sampler_add_pid_at_exec(s->s, pid);
}

int session_start(struct session *s, char *err, size_t errlen)
{
    int rc = sampler_start(s->s, err, errlen);

    s->next_drain = mono_ns() + DRAIN_INTERVAL_NS;
    if (rc)
        return rc;
    /* loaded and attached: the rest of root's powers go (privs.h) */
    if ((rc = privs_drop()))
        snprintf(err, errlen, "cannot drop capabilities: %s", strerror(-rc));
    return rc;
}

static int drain(struct session *s, char *err, size_t errlen)
{
    int rc = sampler_drain(s->s, on_sample, s);

    if (!rc)
        rc = s->err;
    if (rc)
        snprintf(err, errlen, "collecting samples: %s", strerror(-rc));
    return rc;
}

int session_poll(struct session *s, int timeout_ms, char *err, size_t errlen)
{
    int rc = sampler_poll_processes(s->s, timeout_ms, on_process, s);

    if (rc) {
        snprintf(err, errlen, "reading process events: %s", strerror(-rc));
        return rc;
    }
    if (s->err) {
        snprintf(err, errlen, "collecting samples: %s", strerror(-s->err));
        return s->err;
    }
    if (mono_ns() < s->next_drain)
        return 0;
    s->next_drain += DRAIN_INTERVAL_NS;
    if ((rc = drain(s, err, errlen)))
        return rc;
    if ((rc = sampler_follow_cpus(s->s, err, errlen)))
        return rc;
    symbolizer_forget_exited(s->sym);
    if (s->unw)
        unwinder_forget_exited(s->unw);
    if (++s->drains % RELEASE_PAGES_EVERY == 0) {
        symbolizer_release_pages(s->sym);
        if (s->unw)
            unwinder_release_pages(s->unw);
    }
    if ((rc = select_pods(s))) {
        snprintf(err, errlen, "selecting Pods: %s", strerror(-rc));
        return rc;
    }
    return 0;
}

int session_flush(struct session *s, char *err, size_t errlen)
{
    int rc;

    /* name every process announced meanwhile before their samples */
    sampler_poll_processes(s->s, 0, on_process, s);
    if ((rc = drain(s, err, errlen)))
        return rc;
    if ((rc = collector_finish(s->col)))
        snprintf(err, errlen, "labelling samples: %s", strerror(-rc));
    return rc;
}

int session_rotate(struct session *s, struct pf_profile *next, char *err, size_t errlen)
{
    int rc = session_flush(s, err, errlen);

    if (!rc && (rc = collector_rebind(s->col, next)))
        snprintf(err, errlen, "out of memory");
    return rc;
}

int session_stop(struct session *s, char *err, size_t errlen)
{
    sampler_stop(s->s);
    /* the kernel counts into two slots: drain both */
    sampler_poll_processes(s->s, 0, on_process, s);
    int rc = drain(s, err, errlen);

    return rc ? rc : session_flush(s, err, errlen);
}

uint64_t session_lost(const struct session *s)
{
    struct sampler_stats st;
    const uint64_t *c = st.counters;

    sampler_get_stats(s->s, &st);
    return c[PF_STAT_LOST_COUNTS_FULL] + c[PF_STAT_LOST_USTACK_COLL] + c[PF_STAT_LOST_KSTACK_COLL] +
           c[PF_STAT_LOST_STACK_ERR];
}

struct sampler *session_sampler(struct session *s)
{
    return s->s;
}

struct symbolizer *session_symbolizer(struct session *s)
{
    return s->sym;
}

struct collector *session_collector(struct session *s)
{
    return s->col;
}

struct kubeapi *session_kubeapi(struct session *s)
{
    return s->api;
}

size_t session_selected_cgroups(const struct session *s)
{
    return s->selected.count;
}

uint64_t session_dwarf_processes(const struct session *s)
{
    return s->dwarf_procs;
}
