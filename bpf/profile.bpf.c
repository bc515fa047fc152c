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
 * Reading order: the configuration (fixed at load), the live state, the
 * maps, what depends on the architecture, the steps of a sample, and the
 * programs: profile_sample, then the exec and fork tracepoints.
 *
 * Tasks are read one way throughout: a BTF pointer (bpf_get_current_task_btf,
 * 5.11, or a tp_btf argument) and plain member accesses, which vmlinux.h's
 * preserve_access_index turns into CO-RE relocations and the verifier into
 * loads whose faults the kernel catches. The user registers are reachable
 * only through bpf_task_pt_regs() (5.15, the oldest kernel podflame
 * supports), which takes such a pointer; bpf_get_current_task() with
 * BPF_CORE_READ would make no older kernel work and would turn every read
 * into a bpf_probe_read_kernel() call.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "profile.h"

#define EEXIST 17
#define EFAULT 14

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

/* Live state, in .bss: userspace flips the slot while sampling. Everything
 * else that changes after load (filters, per-process unwinding) is a map. */
__u32 active_slot;

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

/* The two words at the user stack pointer that can hold the return address
 * of a function without a frame: [sp] in a frameless leaf or before the
 * prologue, [sp+8] after `push %rbp` and before `mov %rsp,%rbp`. task is a
 * user task (it has an mm). */
static __always_inline __u64 leaf_return(struct task_struct *task)
{
    struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
    __u64 words[2] = {};

    if (bpf_probe_read_user(words, sizeof(words), (void *)user_sp(regs)))
        return 0;
    if (is_call_site(words[0]))
        return words[0];
    if (is_call_site(words[1]))
        return words[1] | PF_LEAF_RET_SP8;
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

/* Returns false when the stack could not be stored and the sample is lost. */
static __always_inline bool take_stack(struct bpf_perf_event_data *ctx, void *stacks, __u64 flags,
                                       __s32 *id, __u32 coll_stat)
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

static __always_inline int count_sample(struct bpf_perf_event_data *ctx, void *counts, void *stacks,
                                        struct pf_key *key)
{
    __u64 one = 1, *val;
    long err;

    if (!kernel_stacks)
        key->kern_stack_id = PF_NO_STACK;
    else if (!take_stack(ctx, stacks, 0, &key->kern_stack_id, PF_STAT_LOST_KSTACK_COLL))
        return 0;
    if (!take_stack(ctx, stacks, BPF_F_USER_STACK, &key->user_stack_id, PF_STAT_LOST_USTACK_COLL))
        return 0;

    val = bpf_map_lookup_elem(counts, key);
    if (val) {
        __sync_fetch_and_add(val, 1);
        return 0;
    }
    /* A process's first sample always makes a new key, so the check for
     * new processes only needs to run here, off the common path. */
    if (key->tgid)
        announce_process(key->tgid, key->cgroup_id);
    err = bpf_map_update_elem(counts, key, &one, BPF_NOEXIST);
    if (err == -EEXIST) { /* raced with another CPU inserting it */
        val = bpf_map_lookup_elem(counts, key);
        if (val) {
            __sync_fetch_and_add(val, 1);
            return 0;
        }
    }
    if (err)
        stat_inc(PF_STAT_LOST_COUNTS_FULL);
    return 0;
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
    if (filter_pids && !in_pid_set(tgid))
        return 0;
    if (filter_cgroups && !in_cgroup_set())
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
            key.leaf_ret = leaf_return(task);
    }

    if (active_slot)
        return count_sample(ctx, &counts1, &stacks1, &key);
    return count_sample(ctx, &counts0, &stacks0, &key);
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
    if (state && *state == PF_FILTER_AWAIT_EXEC)
        *state = PF_FILTER_ACTIVE;
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
    if (in_pid_set(ptgid))
        bpf_map_update_elem(&pid_filter, &ctgid, &active, BPF_ANY);
    return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
