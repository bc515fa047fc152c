/*
 * htab: an open-addressing hash table from byte-string keys to uint64_t
 * values. It owns copies of its keys. It lives in formats/ because formats is
 * the bottom of the dependency graph, so every module can use it.
 */
#ifndef PODFLAME_HTAB_H
#define PODFLAME_HTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct htab_slot {
    uint64_t hash; /* 0 = empty */
    const void *key;
    size_t len;
    uint64_t val;
};

struct htab_chunk;

struct htab {
    struct htab_slot *slots;
    size_t cap; /* power of two */
    size_t count;
    struct htab_chunk *chunks; /* key storage */
};

void htab_init(struct htab *h);
void htab_free(struct htab *h);
uint64_t htab_hash(const void *key, size_t len);

/* Returns true and sets *val when key is present. */
bool htab_get(const struct htab *h, const void *key, size_t len, uint64_t *val);

/* Inserts key -> val, or returns the existing value in *val with *found set.
 * Returns 0 or -ENOMEM. On success *stored_key (if non-NULL) points at the
 * table's own copy of the key, valid until htab_free. */
int htab_get_or_put(struct htab *h, const void *key, size_t len, uint64_t *val, bool *found,
                    const void **stored_key);

/* Overwrites or inserts. Returns 0 or -ENOMEM. */
int htab_put(struct htab *h, const void *key, size_t len, uint64_t val);

#endif
