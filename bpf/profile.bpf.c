// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * podflame's sampler: a perf_event program on every CPU that aggregates
 * {process, thread, cgroup, user stack, kernel stack} -> count in the kernel.
 *
 * Counts and stacks live in two slots (counts0/stacks0, counts1/stacks1).
 * Samples go to the slot named by active_slot; userspace flips it, then reads
 * and clears the other one, so nothing that arrives during a drain is lost
 * and a stack id is never freed while a key still points at it.
 *
 * Off the CPU (--event offcpu|wall), the scheduler's switch adds to the
 * same keys: a thread in scope that leaves the CPU is remembered with its
 * stacks, taken then, in its own context; when it comes back, the time it
 * was away is added to its key under the class of each part (until its
 * wakeup, why it left; after it, the wait for a CPU, which the scheduler
 * itself recorded). The value of an on-CPU key counts samples; that of an
 * off-CPU key sums nanoseconds.
 *
 * Reading order: the configuration (fixed at load), the live state, the
 * maps, what depends on the architecture, the steps of a sample, the steps
 * of an off-CPU interval, and the programs: profile_sample, the scheduler's
 * tracepoints, then the exec and fork tracepoints.
 *
 * Tasks are read one way throughout: a BTF pointer (bpf_get_current_task_btf,
 * 5.11, or a tp_btf argument) and plain member accesses, which vmlinux.h's
 * preserve_access_index turns into CO-RE relocations and the verifier into
 * loads whose faults the kernel catches. The user registers are reachable
 * only through bpf_task_pt_regs() (5.15, the oldest kernel podflame
 * supports), which takes such a pointer; bpf_get_current_task() with
 * BPF_CORE_READ would make no older kernel work and would turn every read
 * into a bpf_probe_read_kernel() call. The one exception is what only
 * some kernels have (the throttling state): local flavours of those types
 * and BPF_CORE_READ, which CO-RE can ask whether the field exists.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "profile.h"

#define EEXIST 17
#define EFAULT 14

/* include/linux/sched.h: the task states an off-CPU interval is told by */
#define TASK_RUNNING         0x0000
#define TASK_UNINTERRUPTIBLE 0x0002
#define TASK_DEAD            0x0080
#define TASK_NOLOAD          0x0400

/* Configuration: written by userspace through the skeleton's .rodata before
 * the program is loaded, read-only afterwards. The verifier knows these
 * values and drops the code of every path they turn off (kernel stacks,
 * idle samples, each filter, stack copies). */
const volatile __u32 self_tgid = 0;         /* podflame itself: never sampled */
const volatile bool include_idle = false;   /* keep the idle task's samples */
const volatile bool kernel_stacks = true;   /* false: user stacks only */
const volatile bool filter_pids = false;    /* only the processes in pid_filter */
const volatile bool filter_cgroups = false; /* only tasks below a cgroup in cgroup_filter */
const volatile bool follow_forks = false;   /* children of filtered processes join pid_filter */
const volatile bool leaf_fix = false;       /* look for the caller of a frameless leaf */
const volatile __u8 unwind_mode = PF_UNWIND_MODE_OFF;
const volatile __u32 stack_size = 0;      /* bytes of user stack copied from the stack pointer */
const volatile __u64 stack_ring_wake = 0; /* wake the reader when this much is waiting */
const volatile __u64 min_block_ns = 0;    /* off-CPU intervals shorter than this are dropped */
const volatile __u32 state_mask = ~0u;    /* bit PF_STATE_x set: keep that off-CPU class */

/* Live state, in .bss: userspace flips the slot while sampling. Everything
 * else that changes after load (filters, per-process unwinding) is a map. */
__u32 active_slot;
/* Bumped after each process or cgroup added to the filters (by userspace,
 * and by the exec and fork programs): the verdicts cached in scope_cache
 * and task_offcpu from before are stale. */
__u32 filter_gen;

struct counts_map {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, struct pf_key);
    __type(value, __u64);
    __uint(max_entries, 16384); /* resized by userspace before load */
};
struct counts_map counts0 SEC(".maps");
struct counts_map counts1 SEC(".maps");

struct stacks_map {
    __uint(type, BPF_MAP_TYPE_STACK_TRACE);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, PF_MAX_STACK_DEPTH * sizeof(__u64));
    __uint(max_entries, 32768);
};
struct stacks_map stacks0 SEC(".maps");
struct stacks_map stacks1 SEC(".maps");

/* tgid -> PF_FILTER_*; userspace adds to it while sampling (record -- COMMAND
 * waits for its exec), and so do the exec and fork tracepoints. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, __u32);
    __type(value, __u8);
    __uint(max_entries, 4096);
} pid_filter SEC(".maps");

/* cgroup ids; userspace adds the cgroups of Pods as they start. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, __u64);
    __type(value, __u8);
    __uint(max_entries, 1024);
} cgroup_filter SEC(".maps");

/* cgroup id -> whether it is below a cgroup of cgroup_filter, as of
 * filter_gen: one lookup instead of a walk up the tree, which costs more
 * than the rest of an out-of-scope context switch. */
struct scope_verdict {
    __u32 gen;
    __u32 in_scope;
};

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __type(key, __u64);
    __type(value, struct scope_verdict);
    __uint(max_entries, 8192);
} scope_cache SEC(".maps");

/* Off CPU, per task: whether it is in scope (as of filter_gen, in its
 * cgroup then) and whether it waits in offcpu_pending. Reached from the
 * task itself, so the switches and wakeups of the threads out of scope,
 * nearly all of them on a node, cost no hash lookup. */
struct task_offcpu {
    __u64 cgroup_id;
    __u32 gen;
    __u8 known; /* gen, cgroup_id and in_scope hold a verdict */
    __u8 in_scope;
    __u8 away; /* an entry waits in offcpu_pending */
    __u8 pad;
};

struct {
    __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct task_offcpu);
} task_offcpu SEC(".maps");

/* tgids already announced to userspace; LRU so a long run never fills it
 * (an evicted tgid is simply announced again). */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __type(key, __u32);
    __type(value, __u8);
    __uint(max_entries, 32768);
} seen_tgids SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 256 * 1024);
} proc_events SEC(".maps");

/* Off-CPU intervals that came back after their slot was drained (a sleep
 * across a slot flip): each its own entry, read and deleted by the next
 * drain; one entry without off-CPU. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, struct pf_late_key);
    __type(value, __u64);
    __uint(max_entries, 16384); /* resized by userspace before load */
} offcpu_late SEC(".maps");

__u64 late_seq;

/* tid -> the thread that left the CPU (--event offcpu|wall); one entry
 * without off-CPU. A thread that comes back takes its entry out. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, __u32);
    __type(value, struct pf_offcpu_pending);
    __uint(max_entries, 65536); /* resized by userspace before load */
} offcpu_pending SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, PF_STAT__MAX);
} stats SEC(".maps");

/* --unwind auto: how each process is unwound (PF_PROC_UNWIND_*), decided
 * by userspace when the process is announced; until then its stacks are
 * copied, so no sample waits for the decision. LRU: an evicted process is
 * copied, which is complete, only dearer. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __type(key, __u32);
    __type(value, __u8);
    __uint(max_entries, 65536);
} unwind_modes SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 16 * 1024 * 1024); /* sized by userspace to the CPU count */
} stack_events SEC(".maps");

/* One stack-copy buffer per CPU (too big for a per-CPU array value): a
 * perf_event program never nests on its CPU. Resized to the CPU count. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, struct pf_stack_sample);
    __uint(max_entries, 1);
} stack_scratch SEC(".maps");

/*
 * What depends on the architecture: the user registers a stack copy
 * carries (in the DWARF order symbolize/unwinder.c reads), the user stack
 * pointer, the end of user space, and the decoding of the call instruction
 * before a return address (the frameless-leaf fix).
 */
#if defined(__TARGET_ARCH_x86)

#define USER_ADDR_END (1ULL << 47) /* 4-level paging */

static __always_inline __u64 user_sp(const struct pt_regs *regs)
{
    return regs->sp;
}

static __always_inline __u64 user_fp(const struct pt_regs *regs)
{
    return regs->bp;
}

/* DWARF order: rax rdx rcx rbx rsi rdi rbp rsp r8-r15, then rip */
static __always_inline void copy_user_regs(const struct pt_regs *regs, __u64 out[PF_UNWIND_NREGS])
{
    out[0] = regs->ax;
    out[1] = regs->dx;
    out[2] = regs->cx;
    out[3] = regs->bx;
    out[4] = regs->si;
    out[5] = regs->di;
    out[6] = regs->bp;
    out[7] = regs->sp;
    out[8] = regs->r8;
    out[9] = regs->r9;
    out[10] = regs->r10;
    out[11] = regs->r11;
    out[12] = regs->r12;
    out[13] = regs->r13;
    out[14] = regs->r14;
    out[15] = regs->r15;
    out[16] = regs->ip;
}

/* Whether the instruction before b[8] (the 8 bytes before a candidate
 * return address) is a call: `call rel32` (e8) or `call r/m` (ff /2 in any
 * of its lengths, 2, 3, 4, 6 or 7 bytes, a REX prefix before it or not). */
static __always_inline bool ends_in_call(const __u8 b[8])
{
    if (b[3] == 0xe8)
        return true;
    return (b[6] == 0xff && ((b[7] >> 3) & 7) == 2) || (b[5] == 0xff && ((b[6] >> 3) & 7) == 2) ||
           (b[4] == 0xff && ((b[5] >> 3) & 7) == 2) || (b[2] == 0xff && ((b[3] >> 3) & 7) == 2) ||
           (b[1] == 0xff && ((b[2] >> 3) & 7) == 2);
}

#else
/* Any other architecture (the Makefile passes -D__TARGET_ARCH_$(ARCH)) needs
 * its own section above: user_sp(), copy_user_regs() in its DWARF register
 * order (PF_UNWIND_NREGS in profile.h, and symbolize/unwinder.c, which
 * reads them, follow it), USER_ADDR_END and ends_in_call(). */
#error "x86-64 only: write user_sp, copy_user_regs, USER_ADDR_END, ends_in_call for this arch"
#endif

/*
 * The steps of a sample.
 */
static __always_inline void stat_inc(__u32 which)
{
    __u64 *v = bpf_map_lookup_elem(&stats, &which);

    if (v)
        *v += 1; /* per-CPU: no other writer */
}

static __always_inline bool in_pid_set(__u32 tgid)
{
    __u8 *state = bpf_map_lookup_elem(&pid_filter, &tgid);

    return state && *state == PF_FILTER_ACTIVE;
}

static __always_inline bool in_cgroup_set(void)
{
    /* A Pod's processes live in leaf cgroups below the cgroup a user names,
     * so match any ancestor, not only the task's own cgroup. */
    for (int level = 0; level < PF_MAX_CGROUP_DEPTH; level++) {
        __u64 id = bpf_get_current_ancestor_cgroup_id(level);

        if (!id)
            break;
        if (bpf_map_lookup_elem(&cgroup_filter, &id))
            return true;
    }
    return false;
}

/* in_cgroup_set, remembered per cgroup until the filter grows. The
 * generation is read before the walk: a cgroup added during it leaves a
 * verdict that is already stale. */
static __always_inline bool in_cgroup_set_cached(void)
{
    __u64 id = bpf_get_current_cgroup_id();
    __u32 gen = filter_gen;
    struct scope_verdict *v = bpf_map_lookup_elem(&scope_cache, &id), nv;

    if (v && v->gen == gen)
        return v->in_scope;
    nv.gen = gen;
    nv.in_scope = in_cgroup_set();
    bpf_map_update_elem(&scope_cache, &id, &nv, BPF_ANY);
    return nv.in_scope;
}

/* The filters, one early return each in the callers: the process set,
 * then the cgroup set. Both read the current task. */
static __always_inline bool in_scope(__u32 tgid)
{
    if (filter_pids && !in_pid_set(tgid))
        return false;
    if (filter_cgroups && !in_cgroup_set_cached())
        return false;
    return true;
}

static __always_inline void announce_process(__u32 tgid, __u64 cgroup_id)
{
    __u8 one = 1;
    struct pf_proc_event ev = {.tgid = tgid, .cgroup_id = cgroup_id};

    if (bpf_map_lookup_elem(&seen_tgids, &tgid))
        return;
    if (bpf_map_update_elem(&seen_tgids, &tgid, &one, BPF_NOEXIST))
        return; /* another CPU announced it first */
    if (bpf_ringbuf_output(&proc_events, &ev, sizeof(ev), 0)) {
        bpf_map_delete_elem(&seen_tgids, &tgid); /* retry on the next sample */
        stat_inc(PF_STAT_LOST_PROC_EVENTS);
    }
}

/* Whether addr can be a return address: a user address after a call.
 * Reading 8 bytes costs far less than looking the address up among the
 * process's mappings, and data that happens to pass is rare; userspace
 * still checks the leaf's CFI before using it. */
static __always_inline bool is_call_site(__u64 addr)
{
    __u8 b[8];

    if (addr < 4096 || addr >= USER_ADDR_END ||
        bpf_probe_read_user(b, sizeof(b), (void *)(addr - 8)))
        return false;
    return ends_in_call(b);
}

/* The first of the nwords words at the user stack pointer that is a
 * return address, with its index, for the caller of a function without a
 * frame pointer: [sp] in a frameless leaf or before the prologue, [sp+8]
 * after `push %rbp` and before `mov %rsp,%rbp`, further in a function
 * that keeps its locals without a frame pointer (glibc's system-call
 * wrappers, where a thread leaves the CPU). task is a user task. nwords is
 * a constant: 2 for a sample, LEAF_WORDS_OFFCPU off the CPU. */
#define LEAF_WORDS_MAX    8
#define LEAF_WORDS_OFFCPU 8
#define FRAME_MAX         (1ULL << 20) /* a frame pointer further up is no frame pointer */

/* Where the stack that is certainly live ends above sp: the caller's
 * caller's frame, when the frame pointers say where that is, else 1 KiB
 * (a thread's stack holds more than that above its deepest frame: glibc
 * keeps the thread's descriptor there, the kernel argv and the
 * environment). A word that points below it points into the stack, not at
 * code. Nearness alone would not do: a thread's stack is mapped among the
 * shared libraries, and a return address into one can be close. */
static __always_inline __u64 live_stack_end(const struct pt_regs *regs)
{
    __u64 sp = user_sp(regs), fp = user_fp(regs), end = sp + 1024, saved = 0;

    if (fp > sp && fp - sp < FRAME_MAX) {
        end = fp + 16 > end ? fp + 16 : end;
        if (!bpf_probe_read_user(&saved, sizeof(saved), (void *)fp) && saved > fp &&
            saved - fp < FRAME_MAX && saved + 16 > end)
            end = saved + 16;
    }
    return end;
}

static __always_inline __u64 leaf_return(struct task_struct *task, const int nwords)
{
    struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
    __u64 words[LEAF_WORDS_MAX] = {};
    __u64 sp = user_sp(regs), live_end = sp;

    if (bpf_probe_read_user(words, nwords * sizeof(words[0]), (void *)sp) &&
        bpf_probe_read_user(words, 2 * sizeof(words[0]), (void *)sp))
        return 0; /* near the stack's end: two words may still be there */
    /* Deeper than two words, the stack's own pointers (a buffer's address,
     * a saved frame pointer) come often, and the bytes before them pass for
     * a call now and then: those are no return address. */
    if (nwords > 2)
        live_end = live_stack_end(regs);
    for (int i = 0; i < nwords && i < LEAF_WORDS_MAX; i++) {
        if (words[i] >= sp && words[i] < live_end)
            continue;
        if (is_call_site(words[i]))
            return words[i] | ((__u64)i << PF_LEAF_RET_SLOT_SHIFT);
    }
    return 0;
}

static __always_inline bool wants_copy(__u32 tgid)
{
    __u8 *mode;

    if (unwind_mode == PF_UNWIND_MODE_ALL)
        return true;
    mode = bpf_map_lookup_elem(&unwind_modes, &tgid);
    return !mode || *mode == PF_PROC_UNWIND_DWARF;
}

/* Copies stack_size bytes of user stack from start into s->stack, a page at
 * a time (a read must not cross into a page that may not exist: the copy
 * stops where the stack ends). Returns the bytes copied. */
static __always_inline __u32 copy_user_stack(struct pf_stack_sample *s, __u64 start)
{
    __u32 len = 0;

    for (__u32 i = 0; i < PF_STACK_PAGES_MAX; i++) {
        __u64 chunk = PF_PAGE_SIZE - ((start + len) & (PF_PAGE_SIZE - 1));

        if (len >= stack_size || len > (PF_STACK_PAGES_MAX - 1) * PF_PAGE_SIZE)
            break;
        if (chunk > stack_size - len)
            chunk = stack_size - len;
        if (chunk == 0 || chunk > PF_PAGE_SIZE)
            break;
        if (bpf_probe_read_user(&s->stack[len], chunk, (void *)(start + len)))
            break;
        len += chunk;
    }
    return len;
}

/* Sends the sample to userspace with the user registers and the top of the
 * user stack. task is a user task. Returns false when it could not (the
 * caller falls back to frame pointers). */
static __always_inline bool copy_stack(struct bpf_perf_event_data *ctx, struct task_struct *task,
                                       const struct pf_key *key)
{
    struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
    __u32 cpu = bpf_get_smp_processor_id(), len;
    struct pf_stack_sample *s = bpf_map_lookup_elem(&stack_scratch, &cpu);
    __u64 size;
    long kb;

    if (!s)
        return false;
    s->key = *key;
    copy_user_regs(regs, s->regs);
    s->stack_start = user_sp(regs);
    len = copy_user_stack(s, s->stack_start);
    if (!len)
        return false;
    s->stack_len = len;
    kb = kernel_stacks ? bpf_get_stack(ctx, s->kstack, sizeof(s->kstack), 0) : 0;
    s->nkern = kb > 0 ? kb / sizeof(__u64) : 0;
    size = sizeof(*s) - sizeof(s->stack) + len;
    if (size > sizeof(*s))
        return false;
    /* no wakeup per sample (thousands a second): userspace polls every
     * 100 ms anyway; only a ring filling up wakes it early */
    if (bpf_ringbuf_output(&stack_events, s, size,
                           bpf_ringbuf_query(&stack_events, BPF_RB_AVAIL_DATA) > stack_ring_wake
                               ? BPF_RB_FORCE_WAKEUP
                               : BPF_RB_NO_WAKEUP))
        return false;
    if (key->tgid)
        announce_process(key->tgid, key->cgroup_id);
    return true;
}

/* Returns false when the stack could not be stored and the sample is lost.
 * ctx is the program's context: a perf_event's or a tracepoint's. */
static __always_inline bool take_stack(void *ctx, void *stacks, __u64 flags, __s32 *id,
                                       __u32 coll_stat)
{
    long ret = bpf_get_stackid(ctx, stacks, flags);

    if (ret >= 0) {
        *id = ret;
        return true;
    }
    *id = PF_NO_STACK;
    if (ret == -EFAULT) /* no stack of this kind: kernel thread or user mode */
        return true;
    stat_inc(ret == -EEXIST ? coll_stat : PF_STAT_LOST_STACK_ERR);
    return false;
}

/* Both stacks of the current task into stacks, the kernel's without its
 * kskip innermost frames. Returns false when one could not be stored
 * (counted). */
static __always_inline bool take_stacks(void *ctx, void *stacks, struct pf_key *key, __u64 kskip)
{
    if (!kernel_stacks)
        key->kern_stack_id = PF_NO_STACK;
    else if (!take_stack(ctx, stacks, kskip & BPF_F_SKIP_FIELD_MASK, &key->kern_stack_id,
                         PF_STAT_LOST_KSTACK_COLL))
        return false;
    return take_stack(ctx, stacks, BPF_F_USER_STACK, &key->user_stack_id, PF_STAT_LOST_USTACK_COLL);
}

/* counts[key] += value. Returns false when the map had no room (counted). */
static __always_inline bool add_to_counts(void *counts, struct pf_key *key, __u64 value)
{
    __u64 *val = bpf_map_lookup_elem(counts, key);
    long err;

    if (val) {
        __sync_fetch_and_add(val, value);
        return true;
    }
    /* A process's first sample always makes a new key, so the check for
     * new processes only needs to run here, off the common path. */
    if (key->tgid)
        announce_process(key->tgid, key->cgroup_id);
    err = bpf_map_update_elem(counts, key, &value, BPF_NOEXIST);
    if (err == -EEXIST) { /* raced with another CPU inserting it */
        val = bpf_map_lookup_elem(counts, key);
        if (val) {
            __sync_fetch_and_add(val, value);
            return true;
        }
    }
    if (err)
        stat_inc(PF_STAT_LOST_COUNTS_FULL);
    return !err;
}

static __always_inline int count_sample(struct bpf_perf_event_data *ctx, void *counts, void *stacks,
                                        struct pf_key *key)
{
    if (take_stacks(ctx, stacks, key, 0))
        add_to_counts(counts, key, 1);
    return 0;
}

/*
 * The steps of an off-CPU interval.
 */

/* Local flavours of what some kernels lack, so that CO-RE can ask. */
struct task_struct___throttle {
    bool throttled; /* 6.18: per-task throttling */
} __attribute__((preserve_access_index));

struct cfs_rq___bandwidth {
    int throttle_count; /* CONFIG_CFS_BANDWIDTH */
} __attribute__((preserve_access_index));

struct sched_entity___group {
    struct cfs_rq___bandwidth *cfs_rq; /* CONFIG_FAIR_GROUP_SCHED */
} __attribute__((preserve_access_index));

/* Local flavours: CONFIG_SCHED_INFO's record of when a task was queued,
 * and the runqueue a task's cfs_rq is on (CONFIG_FAIR_GROUP_SCHED), whose
 * clock __schedule has just updated (the runqueues are per-CPU data that
 * kallsyms may not list, so not reachable as a ksym). */
struct sched_info___queued {
    unsigned long long last_queued;
} __attribute__((preserve_access_index));

struct task_struct___sched_info {
    struct sched_info___queued sched_info;
} __attribute__((preserve_access_index));

struct cfs_rq___rq {
    struct rq *rq;
} __attribute__((preserve_access_index));

struct sched_entity___rq {
    struct cfs_rq___rq *cfs_rq;
} __attribute__((preserve_access_index));

/* How long next, switched in now, waited on this CPU's runqueue: since
 * the scheduler queued it (its wakeup, or a migration) by the scheduler's
 * own record, in the runqueue's clock. A program on every wakeup would
 * cost each wakeup of every thread on the node a lookup. 0 when unknown
 * (a kernel without CONFIG_SCHED_INFO). */
static __always_inline __u64 queued_ns(struct task_struct *next)
{
    struct task_struct___sched_info *ts = (void *)next;
    struct sched_entity___rq *se = (void *)&next->se;
    __u64 queued, now;

    if (!bpf_core_field_exists(ts->sched_info) || !bpf_core_field_exists(se->cfs_rq) ||
        !bpf_core_field_exists(se->cfs_rq->rq))
        return 0;
    queued = BPF_CORE_READ(ts, sched_info.last_queued);
    now = BPF_CORE_READ(se, cfs_rq, rq, clock);
    return queued && queued <= now ? now - queued : 0;
}

/* Whether runnable task t waits because its cgroup used up its CFS quota.
 * Since 6.18 a throttled task takes itself off the runqueue on its way
 * back to user mode and says so in task->throttled; before, the whole
 * group left the runqueue, and its cfs_rq counts the throttled levels
 * above it and its own. */
static __always_inline bool task_throttled(struct task_struct *t)
{
    struct task_struct___throttle *tt = (void *)t;
    struct sched_entity___group *se = (void *)&t->se;
    struct cfs_rq___bandwidth *cfs;

    if (bpf_core_field_exists(tt->throttled) && BPF_CORE_READ(tt, throttled))
        return true;
    if (!bpf_core_field_exists(se->cfs_rq))
        return false;
    cfs = BPF_CORE_READ(se, cfs_rq);
    return cfs && bpf_core_field_exists(cfs->throttle_count) &&
           BPF_CORE_READ(cfs, throttle_count) > 0;
}

/* Why prev leaves the CPU. A preempted task stays runnable, whatever
 * state it was about to set. */
static __always_inline __u32 leaving_state(struct task_struct *prev, bool preempt)
{
    unsigned int state = prev->__state;

    if (preempt || state == TASK_RUNNING)
        return task_throttled(prev) ? PF_STATE_THROTTLED : PF_STATE_RUNQUEUE;
    if ((state & TASK_UNINTERRUPTIBLE) && !(state & TASK_NOLOAD))
        return PF_STATE_BLOCKED;
    return PF_STATE_SLEEPING; /* also TASK_IDLE, stopped, traced, parked */
}

/* in_scope for t, the current task, remembered in its storage until the
 * filters change or it changes cgroup. */
static __always_inline bool task_in_scope(struct task_offcpu *t, __u32 tgid)
{
    __u64 cgid = bpf_get_current_cgroup_id();
    __u32 gen = filter_gen;

    if (t->known && t->gen == gen && t->cgroup_id == cgid)
        return t->in_scope;
    t->in_scope = in_scope(tgid);
    t->cgroup_id = cgid;
    t->gen = gen;
    t->known = 1;
    return t->in_scope;
}

/* prev, the current task, leaves the CPU: remember it with its stacks. */
static __always_inline void leave_cpu(void *ctx, struct task_struct *prev, bool preempt)
{
    __u32 tgid = prev->tgid, tid = prev->pid;
    struct pf_offcpu_pending p = {};
    struct task_offcpu *t;

    if (tid == 0 || tgid == self_tgid)
        return;
    if (!prev->mm)
        return; /* a kernel thread: no service's code waits there */
    if (prev->__state & TASK_DEAD)
        return; /* its last switch */
    t = bpf_task_storage_get(&task_offcpu, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (!t) {
        stat_inc(PF_STAT_OFFCPU_PENDING_FULL); /* no storage: it could not be found again */
        return;
    }
    if (!task_in_scope(t, tgid))
        return;

    p.slot = active_slot;
    p.key.tgid = tgid;
    p.key.tid = tid;
    p.key.cgroup_id = bpf_get_current_cgroup_id();
    p.key.state = leaving_state(prev, preempt);
    bpf_get_current_comm(p.key.comm, sizeof(p.key.comm));
    bpf_probe_read_kernel_str(p.key.proc_comm, sizeof(p.key.proc_comm), prev->group_leader->comm);
    /* the two innermost kernel frames are this program's and the
     * tracepoint's (bpf_trace_run*): the stack starts at __schedule */
    if (!take_stacks(ctx, p.slot ? (void *)&stacks1 : (void *)&stacks0, &p.key, 2))
        return;
    /* a thread mostly leaves the CPU in a system call, whose libc wrapper
     * has no frame: the caller it returns to is at the stack pointer */
    if (leaf_fix)
        p.key.leaf_ret = leaf_return(prev, LEAF_WORDS_OFFCPU);
    p.start_ns = bpf_ktime_get_ns(); /* dear in a VM: only once in scope */
    p.task_start = prev->start_time;
    if (bpf_map_update_elem(&offcpu_pending, &tid, &p, BPF_ANY))
        stat_inc(PF_STAT_OFFCPU_PENDING_FULL);
    else
        t->away = 1;
}

/* Adds ns of class state to the key, in the slot its stacks are in. */
/* Adds ns of class state to the key, in the slot its stacks are in. While
 * that slot is active, to its count map, as CPU samples are (a drain waits
 * out a grace period after the flip); once it is not, the drain may be
 * deleting the key while this adds to it, so the time goes into a late
 * entry of its own instead. */
static __always_inline void add_interval(struct pf_offcpu_pending *p, __u32 state, __u64 ns)
{
    struct pf_late_key late = {};

    if (!ns || !(state_mask & (1u << state)))
        return;
    p->key.state = state;
    if (p->slot == active_slot) {
        add_to_counts(p->slot ? (void *)&counts1 : (void *)&counts0, &p->key, ns);
        return;
    }
    late.key = p->key;
    late.key_slot = p->slot;
    late.seq = __sync_fetch_and_add(&late_seq, 1);
    if (bpf_map_update_elem(&offcpu_late, &late, &ns, BPF_NOEXIST))
        stat_inc(PF_STAT_LOST_COUNTS_FULL);
}

/* next comes back to the CPU: what it was away for goes to its key, a
 * sleep's last part, since its wakeup, as a wait for a CPU. The entry goes
 * only after the time was added: userspace keeps the stacks of every
 * entry it sees, so the stacks of a key added late are still there. */
static __always_inline void return_to_cpu(struct task_struct *next)
{
    struct task_offcpu *t = bpf_task_storage_get(&task_offcpu, next, 0, 0);
    __u32 tid = next->pid;
    struct pf_offcpu_pending *e, p;
    __u64 now, away, queued;
    __u32 left;

    if (!t || !t->away)
        return;
    t->away = 0;
    e = bpf_map_lookup_elem(&offcpu_pending, &tid);
    if (!e)
        return;
    now = bpf_ktime_get_ns();
    p = *e;
    left = p.key.state;
    away = now - p.start_ns;
    if (p.task_start != next->start_time || now < p.start_ns) {
        stat_inc(PF_STAT_OFFCPU_STALE);
    } else if (away < min_block_ns) {
        stat_inc(PF_STAT_OFFCPU_SHORT);
    } else {
        queued = left >= PF_STATE_BLOCKED ? queued_ns(next) : 0;
        if (queued >= away)
            queued = 0; /* queued before it left: not this sleep's record */
        add_interval(&p, left, away - queued);
        add_interval(&p, PF_STATE_RUNQUEUE, queued);
        stat_inc(PF_STAT_OFFCPU_INTERVALS);
    }
    bpf_map_delete_elem(&offcpu_pending, &tid);
}

/*
 * The programs.
 */
SEC("perf_event")
int profile_sample(struct bpf_perf_event_data *ctx)
{
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    __u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
    struct task_struct *task;
    struct pf_key key = {};

    if (tid != 0)
        stat_inc(PF_STAT_EVENTS);
    if (tid == 0 && !include_idle)
        return 0;
    if (tgid == self_tgid)
        return 0;
    if (!in_scope(tgid))
        return 0;

    task = bpf_get_current_task_btf();
    key.tgid = tgid;
    key.tid = tid;
    key.cgroup_id = bpf_get_current_cgroup_id();
    bpf_get_current_comm(key.comm, sizeof(key.comm));
    bpf_probe_read_kernel_str(key.proc_comm, sizeof(key.proc_comm), task->group_leader->comm);
    if (task->mm) { /* not a kernel thread: there is a user stack */
        if (unwind_mode != PF_UNWIND_MODE_OFF && wants_copy(tgid)) {
            if (copy_stack(ctx, task, &key))
                return 0;
            stat_inc(PF_STAT_STACK_COPY_FAILED);
        }
        if (leaf_fix)
            key.leaf_ret = leaf_return(task, 2);
    }

    if (active_slot)
        return count_sample(ctx, &counts1, &stacks1, &key);
    return count_sample(ctx, &counts0, &stacks0, &key);
}

/* Off CPU: one program sees both threads of a switch. Loaded only with
 * --event offcpu|wall. The three-argument prototype is 5.15's; later
 * kernels pass prev's state too, which prev->__state still holds. */
SEC("tp_btf/sched_switch")
int BPF_PROG(offcpu_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
    leave_cpu(ctx, prev, preempt);
    return_to_cpu(next);
    return 0;
}

/* A thread that exits without coming back (it should not: a task runs to
 * exit) must not leave its entry for a thread that reuses its id. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(offcpu_exit, struct task_struct *p)
{
    struct task_offcpu *t = bpf_task_storage_get(&task_offcpu, p, 0, 0);
    __u32 tid = p->pid;

    if (t && t->away && !bpf_map_delete_elem(&offcpu_pending, &tid))
        stat_inc(PF_STAT_OFFCPU_EXITED);
    return 0;
}

/* An exec replaces the address space: forget the tgid so that the next
 * sample announces it again and userspace re-reads its maps. BTF-typed
 * tracepoints need no tracefs mount, which minimal nodes often lack. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
    __u32 tgid = p->tgid;
    __u8 *state;

    bpf_map_delete_elem(&seen_tgids, &tgid);
    bpf_map_delete_elem(&unwind_modes, &tgid); /* a new image: decide again */
    if (!filter_pids)
        return 0;
    state = bpf_map_lookup_elem(&pid_filter, &tgid);
    if (state && *state == PF_FILTER_AWAIT_EXEC) {
        *state = PF_FILTER_ACTIVE;
        __sync_fetch_and_add(&filter_gen, 1);
    }
    return 0;
}

/* A new process may reuse the PID of one that exited: forget the tgid, as
 * exec does, so that its first sample announces it and userspace reads its
 * maps rather than symbolizing it with the dead process's. `record --
 * COMMAND` also profiles the command's child processes. New threads need
 * nothing: their tgid is already known and in the filter. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
    __u32 ptgid = parent->tgid;
    __u32 ctgid = child->tgid;
    __u8 active = PF_FILTER_ACTIVE;

    if (ctgid == ptgid)
        return 0;
    bpf_map_delete_elem(&seen_tgids, &ctgid);
    bpf_map_delete_elem(&unwind_modes, &ctgid);
    if (!filter_pids || !follow_forks)
        return 0;
    if (in_pid_set(ptgid) && !bpf_map_update_elem(&pid_filter, &ctgid, &active, BPF_ANY))
        __sync_fetch_and_add(&filter_gen, 1);
    return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
