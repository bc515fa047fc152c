/*
 * sampler: loads bpf/profile.bpf.c, opens a sampling perf_event on every
 * online CPU (hardware cycles, or cpu-clock where there is no PMU) and, for
 * off-CPU time, attaches the scheduler's tracepoints, and drains the
 * kernel's aggregated counts.
 *
 * Life cycle: sampler_open (checks, opens the BPF object, sizes it) ->
 * filters (sampler_add_pid, ..._at_exec, sampler_add_cgroup,
 * sampler_enable_cgroup_filter) -> sampler_start (writes the configuration
 * and which filters are on into the program's read-only data, loads it,
 * fills the filters, attaches) -> polls and drains -> sampler_stop ->
 * sampler_close. The program is loaded by sampler_start, not sampler_open,
 * because everything fixed for the session, the filters in use included,
 * is configuration the verifier prunes by: the configuration cannot change
 * once the program is loaded, only the filters' contents can.
 *
 * Ownership: the sampler owns every BPF object, map, ring buffer, perf fd
 * and link, and frees them in sampler_close. It copies sampler_opts (no
 * pointer in it is kept). The ctx pointers given with callbacks are
 * borrowed: they must stay valid until the callback is replaced or the
 * sampler closed. Every pointer a callback receives (a key, stacks, a
 * stack sample) points into the sampler's scratch or a ring buffer and is
 * valid only during that call: copy what must outlive it.
 *
 * Errors: the functions that take `char *err, size_t errlen` return 0 or a
 * negative errno and, on every failure, write a one-line reason that says
 * what failed and what to do; the others return 0 or a negative errno.
 * Not thread-safe: one thread drives a sampler.
 */
#ifndef PODFLAME_SAMPLER_H
#define PODFLAME_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>
#include "bpf/profile.h"

struct sampler;

/* What is recorded: samples on the CPU, time off it, or both. */
enum sampler_event {
    SAMPLER_EVENT_CPU = 0,
    SAMPLER_EVENT_OFFCPU,
    SAMPLER_EVENT_WALL,
};

static inline bool sampler_event_on_cpu(enum sampler_event e)
{
    return e != SAMPLER_EVENT_OFFCPU;
}
static inline bool sampler_event_off_cpu(enum sampler_event e)
{
    return e != SAMPLER_EVENT_CPU;
}

struct sampler_opts {
    enum sampler_event event;
    unsigned int freq;   /* samples per second per CPU */
    bool kernel_stacks;  /* collect kernel stacks */
    bool include_idle;   /* keep samples of the idle task */
    bool follow_forks;   /* add children of filtered processes to the filter */
    bool leaf_fix;       /* record the word a frameless leaf's caller is in */
    uint8_t unwind_mode; /* PF_UNWIND_MODE_*: which processes' stacks are copied */
    uint32_t stack_size; /* bytes of user stack copied above the stack pointer (at most 64 KiB) */
    uint32_t max_keys;   /* count-map entries per slot */
    uint32_t max_stacks; /* stack-map entries per slot */
    /* off CPU */
    uint64_t min_block_ns; /* shorter intervals are dropped (counted) */
    uint32_t state_mask;   /* bit PF_STATE_x: keep that class; 0: all */
};

struct sampler_stats {
    uint64_t counters[PF_STAT__MAX]; /* summed over CPUs */
    unsigned int cpus;               /* CPUs sampled now */
    unsigned int cpus_failed;        /* online CPUs whose event could not be opened */
    unsigned int cpus_added;         /* CPUs that came online and were sampled from then */
    unsigned int cpus_removed;       /* CPUs that went offline */
};

/* Called for each aggregated key; stacks are leaf first. count is samples
 * for an on-CPU key (key->state PF_STATE_CPU), nanoseconds for an off-CPU
 * one. key, ustack and kstack are borrowed for the call. A non-zero return
 * ends the drain's reports (the slot is still cleared) and is what
 * sampler_drain returns. */
typedef int (*sampler_sample_fn)(void *ctx, const struct pf_key *key, uint64_t count,
                                 const uint64_t *ustack, size_t nu, const uint64_t *kstack,
                                 size_t nk);
/* Called for each process the kernel saw for the first time (or after exec),
 * with the cgroup it was sampled in. */
typedef void (*sampler_proc_fn)(void *ctx, pid_t tgid, uint64_t cgroup_id);
/* A sample with a stack copy (--unwind dwarf); size is what arrived. s is
 * borrowed for the call (it is in the ring buffer). */
typedef void (*sampler_stack_fn)(void *ctx, const struct pf_stack_sample *s, size_t size);

/* Checks the options and the kernel, opens and sizes the BPF object; the
 * program is loaded by sampler_start. On success *out is the caller's, to
 * free with sampler_close; on failure *out is untouched. */
int sampler_open(const struct sampler_opts *opts, struct sampler **out, char *err, size_t errlen);

/* Filters. Before sampler_start, each call also turns its filter on (the
 * program is built with it); after sampler_start, a filter that was on
 * takes more entries and one that was off cannot be turned on (-EINVAL).
 * -E2BIG when the filter is full (4096 processes, 1024 cgroups). */
int sampler_add_pid(struct sampler *s, pid_t pid);
/* Like sampler_add_pid, but samples start only once pid calls execve. */
int sampler_add_pid_at_exec(struct sampler *s, pid_t pid);
int sampler_add_cgroup(struct sampler *s, uint64_t cgroup_id);
/* Turns the cgroup filter on even while it holds no cgroup yet (a Pod
 * filter waiting for its Pod): nothing is sampled until one is added.
 * Before sampler_start only; -EINVAL afterwards if the filter was off. */
int sampler_enable_cgroup_filter(struct sampler *s);

/* Loads the program with the configuration and filters given so far,
 * attaches it to the exec and fork tracepoints and to a perf event on
 * every online CPU: sampling begins. After a failure, only sampler_close
 * is left to call. */
int sampler_start(struct sampler *s, char *err, size_t errlen);
/* Follows CPU hotplug: stops sampling CPUs that went offline and starts on
 * those that came online. Call it now and then (every drain). Returns 0 or
 * a negative errno with the reason in err (permission lost, a program that
 * no longer attaches). */
int sampler_follow_cpus(struct sampler *s, char *err, size_t errlen);
/* Detaches the perf events and the scheduler's tracepoints: no new
 * samples, and threads still off the CPU are off it until now (the next
 * drain reports them). Idempotent. */
void sampler_stop(struct sampler *s);
/* Frees everything; s may be NULL. */
void sampler_close(struct sampler *s);

/* "cycles" or "cpu-clock" once started ("sched_switch" off the CPU only),
 * "none" before: a static string. */
const char *sampler_event_name(const struct sampler *s);
/* kernel.perf_event_max_sample_rate now (the kernel lowers it by itself
 * when sampling interrupts take too long); -1 when it cannot be read. */
long sampler_max_sample_rate(void);

/* Waits up to timeout_ms for new-process events and reports them, and
 * hands the stack copies waiting to the stack handler. Returns at once
 * before sampler_start. */
int sampler_poll_processes(struct sampler *s, int timeout_ms, sampler_proc_fn fn, void *ctx);
/* Where stack-copy samples go; they arrive during sampler_poll_processes. */
void sampler_set_stack_handler(struct sampler *s, sampler_stack_fn fn, void *ctx);
/* --unwind auto, after sampler_start: from now on, copy pid's stacks
 * (dwarf) or follow its frame pointers. Until this is called for a
 * process, its stacks are copied. */
int sampler_set_unwind(struct sampler *s, pid_t pid, bool dwarf);

/* Switches samples to the other slot and reports then clears the slot they
 * were going to. Call twice after sampler_stop to empty both slots; the
 * first also reports the threads that were still off the CPU, up to the
 * stop. Nothing to drain before sampler_start. Off-CPU time is reported
 * by the drain after the thread came back, or the one after that. */
int sampler_drain(struct sampler *s, sampler_sample_fn fn, void *ctx);

/* Fills out (zeros before sampler_start). */
int sampler_get_stats(const struct sampler *s, struct sampler_stats *out);

#endif
