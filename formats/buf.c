#include "formats/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int array_reserve(void **arr, size_t *cap, size_t need, size_t elem)
{
    size_t ncap;
    void *p;

    if (need <= *cap && *arr)
        return 0;
    ncap = *cap ? *cap : 16;
    while (ncap < need)
        ncap *= 2;
    p = realloc(*arr, ncap * elem);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

int buf_put(struct buf *b, const void *s, size_t n)
{
    size_t cap = b->cap;

    if (array_reserve((void **)&b->d, &cap, b->len + n + 1, 1))
        return -ENOMEM;
    b->cap = cap;
    if (n)
        memcpy(b->d + b->len, s, n);
    b->len += n;
    b->d[b->len] = '\0';
    return 0;
}
