/*
 * perfscript: `perf script` text to folded stacks, streaming, with the exact
 * semantics of FlameGraph's stackcollapse-perf.pl (its options --pid, --tid,
 * --kernel, --jit, --all, --addrs, --event-filter). Line patterns are the
 * script's own regular expressions, run by PCRE2 (Perl-compatible, JIT), so
 * that the output is byte-identical to the script's for any input.
 */
#ifndef PODFLAME_PERFSCRIPT_H
#define PODFLAME_PERFSCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct perfscript_opts {
    bool pid, tid;     /* root frame comm-PID or comm-PID/TID */
    bool kernel, jit;  /* annotate _[k] and _[j] */
    bool addrs;        /* [module <addr>] for frames without a symbol */
    const char *event; /* keep only this event; NULL: the first one seen */
    bool regex_only;   /* tests: skip the hand-written frame matcher */
};

struct perfscript_report {
    uint64_t lines;
    uint64_t stacks;             /* samples turned into a stack */
    uint64_t unrecognized;       /* lines that are neither header nor frame */
    uint64_t first_unrecognized; /* its 1-based line number, 0 if none */
    uint64_t filtered;           /* headers of other events, skipped */
    char filter_event[64];       /* the event kept */
};

/* Called once per sample: the folded stack (root first, NUL-terminated, not
 * to be kept) and its count (the period, or 1). Non-zero return stops. */
typedef int (*perfscript_fn)(void *ctx, const char *stack, size_t len, uint64_t count);

/* Streams in through fn. Returns 0, -ENOMEM, -EIO (read error) or what fn
 * returned. */
int perfscript_collapse(FILE *in, const struct perfscript_opts *opts, perfscript_fn fn, void *ctx,
                        struct perfscript_report *report);

/* Reads perf script into p the way `collapse --all` folds it: the process
 * name as the root frame, kernel and JIT frames annotated. Returns 0,
 * -ENOMEM or -EIO. */
struct pf_profile;
int perfscript_read(struct pf_profile *p, FILE *in, struct perfscript_report *report);

#endif
