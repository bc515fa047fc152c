/*
 * buf: the two containers every module needs. array_reserve grows a
 * malloc'd array geometrically; struct buf is a growable byte string that
 * stays NUL-terminated. In formats/ because it is the bottom of the
 * dependency graph.
 */
#ifndef PODFLAME_BUF_H
#define PODFLAME_BUF_H

#include <stddef.h>

/* Makes *arr hold at least need elements of size elem (doubling, from 16).
 * Returns 0 or -ENOMEM; on failure *arr and *cap are unchanged. */
int array_reserve(void **arr, size_t *cap, size_t need, size_t elem);

/* ARRAY_RESERVE_ONE(arr, n, cap): room for one more element at arr[n]. */
#define ARRAY_RESERVE_ONE(arr, n, cap)                                                             \
    array_reserve((void **)&(arr), &(cap), (n) + 1, sizeof(*(arr)))

struct buf {
    char *d; /* NUL-terminated once anything was put */
    size_t len, cap;
};

/* Appends n bytes. Returns 0 or -ENOMEM. */
int buf_put(struct buf *b, const void *s, size_t n);

#endif
