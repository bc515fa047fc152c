/*
 * session: one sampling session, the part that record, agent and watch
 * share. It owns the sampler, the symbolizer, the unwinder of stack copies,
 * the cgroup cache, the Kubernetes name sources and the collector that
 * fills the caller's profile, and it keeps a Pod filter following Pods as
 * they start. It does not print: warnings go to the log stream given.
 */
#ifndef PODFLAME_SESSION_H
#define PODFLAME_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "formats/profile.h"
#include "symbolize/symbolizer.h"
#include "profiler/sampling/collector.h"
#include "profiler/kube/kube.h"
#include "profiler/sampling/sampler.h"

struct session;
struct kubeapi;

struct session_opts {
    unsigned int freq;
    bool kernel;       /* kernel stacks */
    bool include_idle; /* keep the idle task's samples */
    bool follow_forks; /* children of filtered processes join the filter */
    uint8_t unwind;    /* PF_UNWIND_MODE_* */
    uint32_t stack_size;
    uint32_t map_entries;
    enum sampler_event event; /* on the CPU, off it, or both (wall) */
    uint64_t min_block_ns;    /* off-CPU intervals shorter are dropped */
    uint32_t state_mask;      /* bit PF_STATE_x: keep that off-CPU class; 0: all */
    const char *kubelet_log_dir;
    bool kube_api; /* also ask the API server (in a cluster) */
    struct symbolizer_opts sym;
    const pid_t *pids; /* -p filters */
    size_t npids;
    const char *const *cgroups; /* --cgroup filters */
    size_t ncgroups;
    const struct kube_selector *pods; /* --pod, -n, --container; may be NULL */
    const char *who;                  /* prefix of messages, e.g. "podflame record" */
    FILE *log;                        /* warnings; NULL: none */
};

/* What every command that samples starts from: the whole machine at freq
 * Hz with kernel stacks, auto unwinding with 16 KiB stack copies, 16384
 * map entries, Pods named from the kubelet's logs under /var/log. */
void session_opts_default(struct session_opts *o, unsigned int freq, const char *who);

/* Sets p's sample types for what o records: CPU samples, or wall-clock
 * time (off_cpu the default type for --event offcpu). 0 or -ENOMEM. */
int session_set_sample_types(const struct session_opts *o, struct pf_profile *p);

/* Configures everything; samples will go to p (sample types set). The BPF
 * program is loaded by session_start, once the filters are known, so that
 * the verifier prunes what is off. On failure returns a negative errno
 * with a one-line reason in err. */
int session_open(const struct session_opts *o, struct pf_profile *p, struct session **out,
                 char *err, size_t errlen);
void session_close(struct session *s);

/* Samples pid only once it calls execve (record -- COMMAND). */
int session_add_pid_at_exec(struct session *s, pid_t pid);
/* Loads the BPF program and starts sampling. Returns 0 or a negative errno
 * with a one-line reason in err (no BTF, no privilege, no perf event). */
int session_start(struct session *s, char *err, size_t errlen);

/* Waits up to timeout_ms for new processes and stack copies and handles
 * them; every second, also collects the kernel's counts, drops exited
 * processes and adds Pods that started. Returns 0 or a negative errno with
 * the reason in err. */
int session_poll(struct session *s, int timeout_ms, char *err, size_t errlen);

/* Collects everything sampled so far into the profile and labels it. */
int session_flush(struct session *s, char *err, size_t errlen);

/* session_flush, then samples go to next from now on (a new window). */
int session_rotate(struct session *s, struct pf_profile *next, char *err, size_t errlen);

/* Stops sampling and collects what was in flight. */
int session_stop(struct session *s, char *err, size_t errlen);

/* Lost samples of all kinds summed (count map full, stack collisions,
 * stack errors). */
uint64_t session_lost(const struct session *s);

struct sampler *session_sampler(struct session *s);
struct symbolizer *session_symbolizer(struct session *s);
struct collector *session_collector(struct session *s);
struct kubeapi *session_kubeapi(struct session *s); /* NULL without kube_api */
size_t session_selected_cgroups(const struct session *s);
uint64_t session_dwarf_processes(const struct session *s);

#endif
