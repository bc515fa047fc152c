/*
 * Kernel symbols from /proc/kallsyms: text symbols sorted by address, with
 * the module each belongs to. Knows when kptr_restrict hides the addresses.
 */
#ifndef PODFLAME_KALLSYMS_H
#define PODFLAME_KALLSYMS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct kallsyms;

/* Parses kallsyms text. Malformed lines are skipped and counted.
 * Returns 0 or -ENOMEM. */
int kallsyms_parse(FILE *f, struct kallsyms **out, size_t *bad_lines);
/* Reads /proc/kallsyms. Returns 0, -errno from fopen, or -ENOMEM. */
int kallsyms_load(struct kallsyms **out);
void kallsyms_free(struct kallsyms *ks);

/* True when every address read as 0 (kptr_restrict or no privilege). */
bool kallsyms_restricted(const struct kallsyms *ks);
size_t kallsyms_count(const struct kallsyms *ks);

/* The symbol at or before addr; *module is "" for the core kernel. NULL when
 * addr is below every symbol or the table is restricted. */
const char *kallsyms_lookup(const struct kallsyms *ks, uint64_t addr, const char **module,
                            uint64_t *sym_start);

#endif
