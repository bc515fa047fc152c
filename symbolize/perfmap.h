/*
 * perfmap: the symbol files JIT compilers write for perf, /tmp/perf-PID.map
 * (Node.js --perf-basic-prof, Java's jcmd Compiler.perfmap, LuaJIT, .NET,
 * ...): one "START SIZE NAME" line per piece of generated code, hex numbers
 * with or without 0x. A file is read whole and sorted; code regenerated at
 * the same address keeps the last name written.
 *
 * The file is the profiled process's to write, so everything is bounded: a
 * file over PERFMAP_MAX_BYTES is not read, a line over PERFMAP_MAX_LINE is
 * skipped without being buffered, and at PERFMAP_MAX_ENTRIES entries or
 * PERFMAP_MAX_NAME_BYTES of names the older half is dropped: a JIT appends
 * for as long as it runs, and its newest code is what runs now.
 */
#ifndef PODFLAME_PERFMAP_H
#define PODFLAME_PERFMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PERFMAP_MAX_BYTES      ((size_t)256 << 20)
#define PERFMAP_MAX_LINE       4096
#define PERFMAP_MAX_ENTRIES    ((size_t)1 << 19)
#define PERFMAP_MAX_NAME_BYTES ((size_t)32 << 20)

struct perfmap;

/* Reads a perf map from f. Lines that do not parse, or are too long, are
 * skipped and counted. Returns 0, -EFBIG (over PERFMAP_MAX_BYTES) or
 * -ENOMEM. */
int perfmap_read(FILE *f, struct perfmap **out);
void perfmap_free(struct perfmap *pm);

/* The name of the code at addr, or NULL. */
const char *perfmap_lookup(const struct perfmap *pm, uint64_t addr);
size_t perfmap_count(const struct perfmap *pm);
size_t perfmap_bad_lines(const struct perfmap *pm);
/* Whether older entries were dropped at PERFMAP_MAX_ENTRIES or
 * PERFMAP_MAX_NAME_BYTES. */
bool perfmap_truncated(const struct perfmap *pm);

#endif
