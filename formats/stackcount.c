#include "formats/stackcount.h"

#include "formats/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void stackcount_init(struct stackcount *sc)
{
    memset(sc, 0, sizeof(*sc));
    htab_init(&sc->index);
}

void stackcount_free(struct stackcount *sc)
{
    htab_free(&sc->index);
    free(sc->items);
    memset(sc, 0, sizeof(*sc));
}

int stackcount_add(struct stackcount *sc, const char *stack, size_t len, uint64_t count)
{
    uint64_t idx = sc->n;
    const void *key;
    bool found;
    int err;

    /* the key includes a NUL so that the stored copy is a C string */
    if (stack[len] != '\0')
        return -EINVAL;
    err = htab_get_or_put(&sc->index, stack, len + 1, &idx, &found, &key);
    if (err)
        return err;
    if (!found) {
        if (ARRAY_RESERVE_ONE(sc->items, sc->n, sc->cap))
            return -ENOMEM;
        sc->items[sc->n++] = (struct stackcount_item){key, 0};
    }
    sc->items[idx].count += count;
    return 0;
}

static int by_stack(const void *a, const void *b)
{
    return strcmp(((const struct stackcount_item *)a)->stack,
                  ((const struct stackcount_item *)b)->stack);
}

void stackcount_sort(struct stackcount *sc)
{
    if (sc->n)
        qsort(sc->items, sc->n, sizeof(*sc->items), by_stack);
}
