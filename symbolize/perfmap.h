/*
 * perfmap: the symbol files JIT compilers write for perf, /tmp/perf-PID.map
 * (Node.js --perf-basic-prof, Java's jcmd Compiler.perfmap, LuaJIT, .NET,
 * ...): one "START SIZE NAME" line per piece of generated code, hex numbers
 * with or without 0x. A file is read whole (up to 256 MiB) and sorted; code
 * regenerated at the same address keeps the last name written.
 */
#ifndef PODFLAME_PERFMAP_H
#define PODFLAME_PERFMAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct perfmap;

/* Reads a perf map from f. Lines that do not parse are skipped and counted.
 * Returns 0, -EFBIG (over the size limit) or -ENOMEM. */
int perfmap_read(FILE *f, struct perfmap **out);
void perfmap_free(struct perfmap *pm);

/* The name of the code at addr, or NULL. */
const char *perfmap_lookup(const struct perfmap *pm, uint64_t addr);
size_t perfmap_count(const struct perfmap *pm);
size_t perfmap_bad_lines(const struct perfmap *pm);

#endif
