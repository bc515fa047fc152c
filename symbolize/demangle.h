/*
 * demangle: C++ (Itanium ABI) and Rust (legacy and v0) symbol names made
 * readable with libiberty's demangler, the one binutils and GDB use. Each
 * distinct name is demangled once; the results live as long as the
 * demangler.
 */
#ifndef PODFLAME_DEMANGLE_H
#define PODFLAME_DEMANGLE_H

#include <stdbool.h>

struct demangler;

/* on: false makes demangler_name return names unchanged. Returns 0 or
 * -ENOMEM. */
int demangler_new(bool on, struct demangler **out);
void demangler_free(struct demangler *d);

/* The readable form of name, or name itself when it is not mangled, cannot
 * be demangled, or memory runs out. NULL stays NULL. */
const char *demangler_name(struct demangler *d, const char *name);

#endif
