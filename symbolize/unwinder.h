/*
 * unwinder: user stacks unwound from a copy of the registers and of the top
 * of the stack (what the BPF program sends in --unwind dwarf), with the CFI
 * (.eh_frame, .debug_frame) of the process's binaries, through libdwfl: the
 * way perf --call-graph dwarf does it, for binaries built without frame
 * pointers. One Dwfl per process holds its modules and their parsed CFI,
 * so each binary's CFI is read once per process; at most a bounded number
 * of processes are kept (least recently used out), and exited ones are
 * dropped.
 */
#ifndef PODFLAME_UNWINDER_H
#define PODFLAME_UNWINDER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Why an unwind ended. */
enum unwind_end {
    UNWIND_COMPLETE = 0, /* reached the outermost frame */
    UNWIND_COPY_SHORT,   /* needed stack beyond the copied bytes */
    UNWIND_FAILED,       /* no CFI for a frame, or the process is gone */
    UNWIND_MAX_DEPTH,    /* stopped at the frame limit */
    UNWIND_END__MAX,
};

struct unwinder;
struct symbolizer;

/* Returns 0 or -ENOMEM. */
int unwinder_new(struct unwinder **out);
void unwinder_free(struct unwinder *u);

/* Drops the state of processes that have exited (after a second sweep
 * finds them gone, as samples trail a process). Call once a drain. */
void unwinder_forget_exited(struct unwinder *u);

/* Gives back the resident pages of the files the fallback unwinder mapped
 * (residency.h). */
void unwinder_release_pages(struct unwinder *u);

/* Unwinds one sample of pid: regs are the 17 x86-64 DWARF registers
 * (rip last), stack the len bytes copied from user address stack_start.
 * The fast path takes each frame's CFI rule from sym (parsed once per
 * binary for all processes); a frame whose CFI is not a simple rule sends
 * the whole sample through libdwfl.
 * Writes up to max addresses to ips, leaf first (then return addresses),
 * sets *why, and returns how many (>= 1: the leaf is always known), or
 * -ENOMEM. */
int unwinder_unwind(struct unwinder *u, struct symbolizer *sym, pid_t pid, const uint64_t regs[17],
                    uint64_t stack_start, const uint8_t *stack, size_t len, uint64_t *ips,
                    size_t max, enum unwind_end *why);

/* Drops what is kept for pid (it exited, or it exec'd a new image). */
void unwinder_forget(struct unwinder *u, pid_t pid);

/* Whether the main executable of pid keeps frame pointers, judged from its
 * functions' prologues (push %rbp ... mov %rsp,%rbp), once per executable.
 * Returns 1, 0, or a negative errno when it cannot be read. */
int unwinder_exe_has_frame_pointers(struct unwinder *u, pid_t pid);
/* The same judgement of the ELF file open at fd (1, 0, or -ENOEXEC). */
int unwinder_file_has_frame_pointers(int fd);

#endif
