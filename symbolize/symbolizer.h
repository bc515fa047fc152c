/*
 * symbolizer: turns sampled addresses into frames. It owns a snapshot of
 * each process's executable mappings (taken when the process is first seen,
 * so names survive its exit), a cache of parsed binaries keyed by device and
 * inode (the same library in 50 processes is read once), the vDSO and the
 * kernel's symbols.
 *
 * Errors: no function here takes an err buffer. Each failure is one of the
 * errnos its comment names (almost always -ENOMEM, or -ESRCH for a process
 * that is gone), and that errno is the whole reason: a caller's message
 * says which process or address it was about.
 */
#ifndef PODFLAME_SYMBOLIZER_H
#define PODFLAME_SYMBOLIZER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "symbolize/debuginfo.h"

struct symbolizer;

/*
 * A named address. Its strings (name, module, build_id, lines[].func and
 * lines[].file) are borrowed from the symbolizer: the caller never frees
 * them, and copies (or interns) whatever it keeps, at once, because they
 * live only as long as the state they point into:
 *
 * - a user frame's (symbolizer_user, symbolizer_user_name, and the lines
 *   of symbolizer_user_lines) are valid until the next call on the same
 *   symbolizer that can read a process's maps or parse a binary:
 *   symbolizer_add_process, symbolizer_user, symbolizer_user_name,
 *   symbolizer_frame_rule, symbolizer_frameless_slot,
 *   symbolizer_forget_exited, symbolizer_configure or symbolizer_free.
 *   Any of those may evict the parsed state of a binary (max_binaries, least
 *   recently used first; the binary in use by that call is kept), which
 *   frees its symbol table (an undemangled name, build_id) and its DWARF
 *   (lines[]); may read a process's maps again on a miss, which frees the
 *   old snapshot (module of a frame in a mapping with no parsed binary); or
 *   may read its perf map again, which frees the old one (a JIT frame's
 *   name). A binary's path (module of a frame in a binary) lasts until
 *   symbolizer_forget_exited drops the binary, and a demangled name until
 *   symbolizer_configure or symbolizer_free, but a caller cannot tell
 *   those apart from the rest: it relies on the shorter rule.
 *   symbolizer_lines_done, symbolizer_get_stats, symbolizer_maps_text,
 *   symbolizer_load_kernel, symbolizer_kernel and symbolizer_release_pages
 *   (which only gives pages back to the file) do not invalidate them.
 * - a kernel frame's (symbolizer_kernel) are valid until symbolizer_free:
 *   the kernel's symbols are read once and never evicted.
 *
 * Evicted binaries are parsed again on their next lookup, so a frame asked
 * for again is named again; only the pointers from the earlier call go.
 */
struct sym_frame {
    const char *name;                      /* symbol-table name (demangled), or NULL */
    struct sym_line lines[SYM_MAX_INLINE]; /* from DWARF, innermost first */
    size_t nlines;                         /* 0: no DWARF covers the address */
    const char *module;                    /* binary path or kernel module; "" when none */
    const char *build_id;                  /* hex, "" when unknown */
    uint64_t addr;                         /* ELF virtual address (user) or kernel address */
    uint32_t binary_id;                    /* > 0: stable id of the binary; 0: none */
    uint64_t func_start; /* no name: where its code starts by .eh_frame, else addr */
    bool kernel;
    bool jit; /* named from the process's perf map */
};

struct symbolizer_stats {
    uint64_t processes;          /* maps snapshots taken */
    uint64_t maps_failed;        /* processes gone before their maps were read */
    uint64_t binaries;           /* distinct binaries opened */
    uint64_t binaries_bad;       /* binaries that could not be opened or parsed */
    uint64_t debug_embedded;     /* binaries with DWARF inside */
    uint64_t debug_separate;     /* ... in a local debug file */
    uint64_t debug_debuginfod;   /* ... downloaded from debuginfod */
    uint64_t binaries_shared;    /* found parsed under another inode by build ID */
    uint64_t binaries_evicted;   /* parsed state dropped to stay under the limit */
    uint64_t binaries_reloaded;  /* ... and parsed again */
    uint64_t binaries_forgotten; /* unused by any process: entry dropped */
    uint64_t binaries_known;     /* entries held now, parsed or not */
    uint64_t lines_dropped;      /* binaries evicted before their lines were read */
    uint64_t processes_dropped;  /* exited processes forgotten */
    uint64_t jit_maps;           /* perf-PID.map files read */
    uint64_t jit_bad_lines;      /* their lines that did not parse */
    uint64_t jit_too_large;      /* perf maps over PERFMAP_MAX_BYTES, not read */
    uint64_t jit_truncated;      /* perf maps whose oldest entries were dropped at a cap */
    uint64_t binaries_too_large; /* symbol tables over the caps: no symbols */
    uint64_t debug_refused;      /* DWARF not read: it would inflate too far */
    uint64_t binaries_loaded;    /* parsed now (the cache's size) */
    uint64_t processes_tracked;  /* processes whose maps are held now */
    uint64_t cache_resets;       /* times the caches went over max_cached */
    bool kernel_restricted;      /* kallsyms hid its addresses */
    bool kernel_missing;         /* /proc/kallsyms could not be read */
};

struct symbolizer_opts {
    const char *const *debug_dirs; /* searched for .build-id/ and debuglink files */
    size_t ndebug_dirs;
    const char *debuginfod_urls; /* NULL: DEBUGINFOD_URLS from the environment */
    int debuginfod_timeout_s;    /* 0: DEBUGINFOD_TIMEOUT, else 5 */
    bool no_demangle;
    size_t max_binaries; /* kept parsed at once (LRU); 0: 512 */
    size_t max_cached;   /* lookups, frame rules and CU indexes cached over all
                            binaries before they start over; 0: 4 million */
};

int symbolizer_new(struct symbolizer **out);
/* Before the first process: where debug information is looked for and
 * whether names are demangled. Returns 0 or -ENOMEM. */
int symbolizer_configure(struct symbolizer *s, const struct symbolizer_opts *o);
void symbolizer_free(struct symbolizer *s);

/* Snapshots the maps of pid and opens its binaries. Call it as soon as a
 * process is seen. Returns 0, -ESRCH when it already exited, or -errno. */
int symbolizer_add_process(struct symbolizer *s, pid_t pid);

/* Names a user address of pid. is_return: addr is a return address (every
 * frame but the leaf), so the call instruction before it is looked up.
 * Always fills *out (name NULL when unknown); returns 0 or -ENOMEM. */
int symbolizer_user(struct symbolizer *s, pid_t pid, uint64_t addr, bool is_return,
                    struct sym_frame *out);

/* symbolizer_user without the DWARF lines (nlines 0), for a caller that
 * asks for them later, away from the sampling path: looking for a debug
 * file (or downloading it) and decompressing it is the slow part of
 * symbolization. The binary is kept open until symbolizer_lines_done. */
int symbolizer_user_name(struct symbolizer *s, pid_t pid, uint64_t addr, bool is_return,
                         struct sym_frame *out);

/* The DWARF lines at vaddr (a sym_frame's addr) of binary_id (its
 * binary_id), whether or not a process still maps the binary; fills lines
 * like symbolizer_user and returns how many (0: no DWARF covers it, or the
 * binary was evicted meanwhile). Their strings live as a user frame's do
 * (see struct sym_frame). */
size_t symbolizer_user_lines(struct symbolizer *s, uint32_t binary_id, uint64_t vaddr,
                             bool is_return, struct sym_line *lines, size_t max);

/* The lines named so far have been asked for: their binaries may go. */
void symbolizer_lines_done(struct symbolizer *s);

/* Where the return address of the function sampled at addr (a leaf IP) is,
 * when that function has not set up a frame pointer there: the word index
 * from the stack pointer (0: [sp], 1: [sp+8], ...), from its CFI. Returns
 * -1 when it has a frame (frame-pointer unwinding finds its caller) or when
 * that is unknown. */
int symbolizer_frameless_slot(struct symbolizer *s, pid_t pid, uint64_t addr);

/* The CFI rule at addr in pid (see struct frame_rule), from the binary's
 * cached rules: one parse of its CFI serves every process that maps it.
 * Returns 0 (out->kind FRAME_RULE_COMPLEX when unknown) or -ENOMEM. */
int symbolizer_frame_rule(struct symbolizer *s, pid_t pid, uint64_t addr, struct frame_rule *out);

/* The snapshot of pid's executable mappings as /proc/PID/maps lines (for
 * a process that is gone), in a new string. Returns 0, -ESRCH or -ENOMEM. */
int symbolizer_maps_text(struct symbolizer *s, pid_t pid, char **text, size_t *len);

/* Reads the kernel's symbols now rather than at the first kernel frame, so
 * the cost falls before sampling starts. Returns 0 or -ENOMEM; a missing or
 * restricted /proc/kallsyms is reported in the stats, not as an error. */
int symbolizer_load_kernel(struct symbolizer *s);

/* Names a kernel address; fills *out like symbolizer_user. */
int symbolizer_kernel(struct symbolizer *s, uint64_t addr, struct sym_frame *out);

/* Forgets processes that have exited: each sweep notes the ones gone, the
 * next frees them (samples taken before the exit arrive within one drain).
 * Call it after every drain. Returns how many were dropped. */
int symbolizer_forget_exited(struct symbolizer *s);

/* Gives back the resident pages of the open binaries' file mappings
 * (residency.h): a long-running profiler's RSS is then its own state, not
 * every page of every binary it ever read. */
void symbolizer_release_pages(struct symbolizer *s);

void symbolizer_get_stats(const struct symbolizer *s, struct symbolizer_stats *out);

#endif
