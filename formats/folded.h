/*
 * Folded stacks, the input of flamegraph.pl: one line per unique stack,
 * frames root first separated by ';', a space, and an integer count.
 * Frame annotations: `_[k]` kernel, `_[j]` JIT, `_[i]` inlined into the
 * frame before it.
 */
#ifndef PODFLAME_FOLDED_H
#define PODFLAME_FOLDED_H

#include <stdio.h>

#include "formats/profile.h"

/* Root frames written before a sample's own frames, from its labels
 * (samples without a comm label get none). */
enum pf_group_by {
    PF_GROUP_NONE = 0,  /* frames only */
    PF_GROUP_PROCESS,   /* comm */
    PF_GROUP_PID,       /* comm-pid */
    PF_GROUP_THREAD,    /* comm-pid/tid */
    PF_GROUP_POD,       /* namespace/pod, container, comm */
    PF_GROUP_CONTAINER, /* namespace/pod/container, comm */
};

/* Parses "none", "process", "pid", "thread", "pod", "container".
 * Returns 0 or -EINVAL. Samples without Pod labels fall back to process. */
int pf_group_by_parse(const char *s, enum pf_group_by *out);

struct folded_write_opts {
    enum pf_group_by group_by;
    size_t value_index; /* which sample value to write; 0 = sample count */
};

struct stackcount;
/* Fills sc (initialized by the caller) with p's stacks as folded lines,
 * identical ones summed, sorted. Returns 0 or -ENOMEM. */
int folded_stacks(const struct pf_profile *p, const struct folded_write_opts *opts,
                  struct stackcount *sc);

/* Writes p as folded stacks, identical stacks summed, lines sorted.
 * Returns 0, -ENOMEM, or -EIO when the stream fails. */
int folded_write(const struct pf_profile *p, FILE *out, const struct folded_write_opts *opts);

struct folded_read_report {
    size_t lines;          /* lines read, comments and blank lines included */
    size_t bad_lines;      /* malformed lines skipped */
    size_t first_bad_line; /* 1-based number of the first one, 0 if none */
    const char *first_bad_why;
};

/* Incremental reading, for producers of folded lines (perf script). */
struct folded_reader;
int folded_reader_new(struct pf_profile *p, struct folded_reader **out);
/* Parses one line without its newline (modified in place). Returns 1 when a
 * stack was added, 0 for a blank or comment line, -EINVAL with *why for a
 * malformed line, or -ENOMEM. */
int folded_reader_line(struct folded_reader *r, char *line, size_t len, const char **why);
void folded_reader_free(struct folded_reader *r);

/* Appends the stacks of a folded stream to p (sample type samples/count when
 * p has none). Malformed lines are skipped and counted in *report.
 * Returns 0, -ENOMEM, or -EIO on a read error. */
int folded_read(struct pf_profile *p, FILE *in, struct folded_read_report *report);

#endif
