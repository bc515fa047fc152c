/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Types shared by bpf/profile.bpf.c and the userspace sampler: the key the
 * kernel aggregates samples under, the loss counters, and the new-process
 * event. Plain fixed-width types only, so both sides compile it.
 */
#ifndef PODFLAME_BPF_PROFILE_H
#define PODFLAME_BPF_PROFILE_H

#define PF_COMM_LEN         16
#define PF_MAX_STACK_DEPTH  127 /* the kernel's PERF_MAX_STACK_DEPTH */
#define PF_MAX_CGROUP_DEPTH 16  /* ancestor levels checked by --cgroup */

/* Stack id stored in a key when there is no stack of that kind (a kernel
 * thread has no user stack, a sample in user mode has no kernel stack). */
#define PF_NO_STACK (-1)

/* One aggregation bucket: a thread in a cgroup on a pair of stacks. */
struct pf_key {
    __u32 tgid;
    __u32 tid;
    __u64 cgroup_id;
    __s32 user_stack_id;
    __s32 kern_stack_id;
    char comm[PF_COMM_LEN];      /* thread name */
    char proc_comm[PF_COMM_LEN]; /* the thread group leader's name */
    /* The frameless-leaf fix: a return address found near the user stack
     * pointer, in bits 0-59, and in bits 60-63 the index of its word
     * ([sp] 0, [sp+8] 1, ...); 0 if none. When the sampled function has no
     * frame pointer of its own (a leaf GCC built without one, a prologue
     * that has not run, a libc system-call wrapper), frame-pointer
     * unwinding skips its caller; this word is that caller, and userspace
     * checks the function's CFI before it believes it. */
    __u64 leaf_ret;
    /* PF_STATE_*: on CPU (the value counts samples) or the class of an
     * off-CPU interval (the value sums its nanoseconds). */
    __u32 state;
    __u32 pad;
};

/* Where a thread was: sampled on a CPU, or off it and why. */
enum pf_state {
    PF_STATE_CPU = 0,
    PF_STATE_RUNQUEUE,  /* runnable, waiting for a CPU */
    PF_STATE_THROTTLED, /* runnable, its cgroup's CFS quota used up */
    PF_STATE_BLOCKED,   /* uninterruptible sleep (D) */
    PF_STATE_SLEEPING,  /* interruptible sleep (S): locks, sockets, timers */
    PF_STATE__MAX,
};

#define PF_LEAF_RET_SLOT_SHIFT 60 /* user addresses never reach bit 60 */
#define PF_LEAF_RET_ADDR_MASK  ((1ULL << PF_LEAF_RET_SLOT_SHIFT) - 1)

/* Per-CPU counters (array index) of samples the kernel saw and could not
 * keep, by cause, and of all it delivered. Kept samples are the sum of the
 * drained counts. */
enum pf_stat {
    PF_STAT_LOST_COUNTS_FULL = 0, /* the count map had no room for a new key */
    PF_STAT_LOST_USTACK_COLL,     /* user stack hash collided in the stack map */
    PF_STAT_LOST_KSTACK_COLL,     /* kernel stack hash collided in the stack map */
    PF_STAT_LOST_STACK_ERR,       /* bpf_get_stackid failed otherwise (-ENOMEM...) */
    PF_STAT_LOST_PROC_EVENTS,     /* new-process ring buffer was full */
    PF_STAT_STACK_COPY_FAILED,    /* dwarf: no copy (ring buffer full, stack
                                   * unreadable); frame pointers used instead */
    PF_STAT_EVENTS,               /* every time the program ran on a busy CPU,
                                   * filtered or not: the rate the kernel delivered */
    /* off-CPU (--event offcpu|wall) */
    PF_STAT_OFFCPU_INTERVALS,    /* intervals kept (each may count twice: sleep, then wait) */
    PF_STAT_OFFCPU_SHORT,        /* shorter than --min-block: dropped */
    PF_STAT_OFFCPU_PENDING_FULL, /* no room to remember a thread that left the CPU */
    PF_STAT_OFFCPU_STALE,        /* the thread that came back was not the one that left
                                  * (PID reused) or the clock went back: dropped */
    PF_STAT_OFFCPU_EXITED,       /* the thread exited without coming back: dropped */
    PF_STAT__MAX,
};

/* --event offcpu|wall: a thread that left the CPU, until it comes back.
 * Keyed by thread id. key holds its stacks, in the stack map of the slot
 * that was active when it left (userspace keeps those stack ids while it
 * waits), and key.state the class it left in. */
struct pf_offcpu_pending {
    struct pf_key key;
    __u64 start_ns;   /* when it left the CPU (bpf_ktime_get_ns) */
    __u64 task_start; /* task->start_time: tells a reused thread id */
    __u32 slot;
    __u32 pad;
};

/* An off-CPU interval whose thread left while the other slot was active:
 * a key of its own (seq makes it unique), written once, never added to,
 * so that a drain deleting it cannot race an add. key's stacks are in the
 * stack map of key_slot. */
struct pf_late_key {
    struct pf_key key;
    __u64 seq;
    __u32 key_slot;
    __u32 pad;
};

/* pid_filter values: sample the process now, or only once it has exec'd
 * (record -- COMMAND: the forked child is still podflame until then). */
#define PF_FILTER_ACTIVE     1
#define PF_FILTER_AWAIT_EXEC 2

/* Ring-buffer record: the first sample of a process was just taken, so
 * userspace should snapshot its memory maps before it can exit. */
struct pf_proc_event {
    __u32 tgid;
    __u32 pad;
    __u64 cgroup_id; /* resolved to a path right away: the cgroup may go soon */
};

/* --unwind dwarf: a sample whose user stack userspace unwinds from a copy
 * of the registers and of the top of the stack, with the binaries' CFI.
 * The registers are x86-64's, the only architecture bpf/profile.bpf.c
 * implements. */
#define PF_PAGE_SIZE        4096
#define PF_STACK_PAGES_MAX  17 /* room for 64 KiB from the stack pointer */
#define PF_UNWIND_NREGS     17 /* x86-64 DWARF registers 0-16 */
#define PF_UNWIND_MODE_OFF  0
#define PF_UNWIND_MODE_ALL  1 /* every process */
#define PF_UNWIND_MODE_AUTO 2 /* as unwind_modes says; copies until it does */
/* unwind_modes values (auto): what userspace decided for a process */
#define PF_PROC_UNWIND_FP    1
#define PF_PROC_UNWIND_DWARF 2

struct pf_stack_sample {
    struct pf_key key;
    /* DWARF order: rax rdx rcx rbx rsi rdi rbp rsp r8-r15, then rip */
    __u64 regs[PF_UNWIND_NREGS];
    __u64 stack_start; /* user address of stack[0]: %rsp */
    __u32 stack_len;   /* bytes copied */
    __u32 nkern;       /* kernel frames in kstack */
    __u64 kstack[PF_MAX_STACK_DEPTH];
    __u8 stack[PF_STACK_PAGES_MAX * PF_PAGE_SIZE];
};

#endif
