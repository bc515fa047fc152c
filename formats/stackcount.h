/*
 * stackcount: sums counts per folded stack string and lists them in byte
 * order, as flamegraph tools print them. Memory grows with distinct stacks.
 */
#ifndef PODFLAME_STACKCOUNT_H
#define PODFLAME_STACKCOUNT_H

#include <stddef.h>
#include <stdint.h>

#include "formats/htab.h"

struct stackcount_item {
    const char *stack; /* NUL-terminated, owned by the table */
    uint64_t count;
};

struct stackcount {
    struct htab index; /* stack -> position in items */
    struct stackcount_item *items;
    size_t n, cap;
};

void stackcount_init(struct stackcount *sc);
void stackcount_free(struct stackcount *sc);
/* Adds count to stack[0..len). Returns 0 or -ENOMEM. */
int stackcount_add(struct stackcount *sc, const char *stack, size_t len, uint64_t count);
/* Sorts items by stack, bytewise. Adding after sorting is not allowed. */
void stackcount_sort(struct stackcount *sc);

#endif
