/*
 * The one in-memory profile model, shaped like pprof's profile.proto so that
 * every reader fills it and every writer reads it without loss.
 *
 * Strings are interned in a table whose index 0 is "". Mappings, functions
 * and locations are arrays whose ids are index + 1 (pprof reserves id 0).
 * A location's lines are innermost first: lines[0..n-2] were inlined into
 * lines[n-1]. A sample's locations are leaf first. Labels are string labels.
 *
 * Frame kinds that pprof has no field for travel in the mapping: a mapping
 * named "[kernel.kallsyms]" holds kernel frames, one named "[jit]" JIT frames.
 */
#ifndef PODFLAME_PROFILE_H
#define PODFLAME_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "formats/htab.h"

#define PF_KERNEL_MAPPING   "[kernel.kallsyms]"
#define PF_MAX_SAMPLE_TYPES 16
#define PF_JIT_MAPPING      "[jit]"

enum pf_frame_kind {
    PF_FRAME_USER = 0,
    PF_FRAME_KERNEL,
    PF_FRAME_JIT,
};

struct pf_mapping {
    uint64_t start, limit, offset;
    int64_t filename, build_id; /* string indices */
    enum pf_frame_kind kind;
    bool has_functions, has_filenames, has_line_numbers, has_inline_frames;
};

struct pf_function {
    int64_t name, system_name, filename; /* string indices */
    int64_t start_line;
};

struct pf_line {
    uint64_t function_id;
    int64_t line;
};

struct pf_location {
    uint64_t mapping_id; /* 0: none */
    uint64_t address;
    struct pf_line *lines; /* innermost first */
    size_t nlines;
    bool is_folded;
};

/* A string label (str != 0) or a numeric one (num, with num_unit). */
struct pf_label {
    int64_t key, str; /* string indices */
    int64_t num, num_unit;
};

struct pf_sample {
    uint64_t *location_ids; /* leaf first */
    size_t nlocations;
    int64_t *values; /* one per sample type */
    struct pf_label *labels;
    size_t nlabels;
};

struct pf_value_type {
    int64_t type, unit; /* string indices */
};

struct pf_profile {
    char **strings;
    size_t nstrings, strings_cap;
    struct htab string_index;

    struct pf_mapping *mappings;
    size_t nmappings, mappings_cap;
    struct pf_function *functions;
    size_t nfunctions, functions_cap;
    struct htab function_index;
    struct pf_location *locations;
    size_t nlocations, locations_cap;
    struct pf_sample *samples;
    size_t nsamples, samples_cap;

    struct pf_value_type sample_types[PF_MAX_SAMPLE_TYPES];
    size_t nsample_types;
    int64_t default_sample_type; /* string index; 0 = the last type */
    struct pf_value_type period_type;
    int64_t period;
    int64_t time_nanos, duration_nanos;
    int64_t drop_frames, keep_frames; /* string indices (regular expressions) */
    int64_t *comments;                /* string indices */
    size_t ncomments, comments_cap;
};

/* Allocates an empty profile (string 0 = ""). Returns 0 or -ENOMEM. */
int pf_profile_new(struct pf_profile **out);
void pf_profile_free(struct pf_profile *p);

/* Interns a string; returns its index (>= 0) or -ENOMEM. */
int64_t pf_profile_string(struct pf_profile *p, const char *s, size_t len);
static inline int64_t pf_profile_cstring(struct pf_profile *p, const char *s)
{
    return pf_profile_string(p, s, strlen(s));
}
static inline const char *pf_profile_str(const struct pf_profile *p, int64_t idx)
{
    return idx >= 0 && (size_t)idx < p->nstrings ? p->strings[idx] : "";
}

/* Sets the CPU sample types: samples/count and cpu/nanoseconds, period in ns. */
int pf_profile_set_cpu_types(struct pf_profile *p, int64_t period_ns);

/* Sets the wall-clock sample types: samples/count and cpu/nanoseconds for
 * on-CPU samples, off_cpu/nanoseconds for time off the CPU, and
 * wall/nanoseconds, their sum. The default type is off_cpu when
 * off_cpu_only, else wall. Returns 0 or -ENOMEM. */
int pf_profile_set_wall_types(struct pf_profile *p, int64_t period_ns, bool off_cpu_only);

/* Which sample value stands for a sample in one-value formats (folded,
 * SVG, speedscope): the type named (NULL: none named); else the profile's
 * default_sample_type; else, as pprof does, the last type, except when the
 * first is a sample count (samples/count: podflame's and Go's CPU
 * profiles), which is kept, so that folded stacks count samples as
 * flamegraph.pl's input always has. Returns 0 with *index set, or -ENOENT
 * when name is no type of the profile. */
int pf_profile_value_index(const struct pf_profile *p, const char *name, size_t *index);

/* Appends a comment (copied into the string table). Returns 0 or -ENOMEM. */
int pf_profile_add_comment(struct pf_profile *p, const char *text);

/* Appends a mapping; returns its id (> 0) or a negative errno. */
int64_t pf_profile_add_mapping(struct pf_profile *p, const struct pf_mapping *m);

/* Returns the id of the function with these fields, adding it if new. */
int64_t pf_profile_function(struct pf_profile *p, int64_t name, int64_t system_name,
                            int64_t filename, int64_t start_line);

/* Appends a location (lines are copied); returns its id or a negative errno. */
int64_t pf_profile_add_location(struct pf_profile *p, uint64_t mapping_id, uint64_t address,
                                const struct pf_line *lines, size_t nlines);

/* Replaces the lines of location id (lines are copied). Returns 0,
 * -EINVAL for no such location, or -ENOMEM (the old lines stay). */
int pf_profile_set_location_lines(struct pf_profile *p, uint64_t id, const struct pf_line *lines,
                                  size_t nlines);

/* Appends a sample (arrays are copied; values has nsample_types entries). */
int pf_profile_add_sample(struct pf_profile *p, const uint64_t *location_ids, size_t nlocations,
                          const int64_t *values, const struct pf_label *labels, size_t nlabels);

/* Lookups by id; NULL when the id is out of range. */
const struct pf_mapping *pf_profile_mapping(const struct pf_profile *p, uint64_t id);
const struct pf_function *pf_profile_func(const struct pf_profile *p, uint64_t id);
const struct pf_location *pf_profile_location(const struct pf_profile *p, uint64_t id);

/* The value of a sample's string label, or NULL. */
const char *pf_sample_label(const struct pf_profile *p, const struct pf_sample *s, const char *key);

/* Copies into out (fresh from pf_profile_new) the samples of p that keep
 * accepts, what they refer to, and p's types, period, times and comments.
 * Returns 0, -ENOMEM, or -EINVAL for a sample naming a missing location. */
int pf_profile_subset(const struct pf_profile *p,
                      bool (*keep)(void *ctx, const struct pf_profile *p,
                                   const struct pf_sample *s),
                      void *ctx, struct pf_profile *out);

/* Adds the string label key=value to every sample. Returns 0 or -ENOMEM. */
int pf_profile_label_all(struct pf_profile *p, const char *key, const char *value);

/* A Pod with samples in a profile: its labels' values (borrowed from the
 * profile; uid and workload NULL when no sample says them). */
struct pf_pod {
    const char *ns, *pod, *uid, *workload;
    uint64_t samples; /* the first value summed */
};

/* The Pods (samples labelled pod, namespace) of p, in order of first
 * appearance. Returns 0 or -ENOMEM; free *out. */
int pf_profile_pods(const struct pf_profile *p, struct pf_pod **out, size_t *n);

/* The kind of frames a location holds (from its mapping). */
enum pf_frame_kind pf_location_kind(const struct pf_profile *p, const struct pf_location *loc);

#endif
