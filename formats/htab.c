#include "formats/htab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_MIN ((size_t)64 * 1024)

struct htab_chunk {
    struct htab_chunk *next;
    size_t used, cap;
    unsigned char data[];
};

void htab_init(struct htab *h)
{
    memset(h, 0, sizeof(*h));
}

void htab_free(struct htab *h)
{
    struct htab_chunk *c = h->chunks;

    while (c) {
        struct htab_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(h->slots);
    memset(h, 0, sizeof(*h));
}

/* Eight bytes a step (keys are often long: whole folded stacks), each
 * word mixed by a multiply and a rotate, then a final avalanche so that
 * power-of-two masking sees every bit. */
uint64_t htab_hash(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t x = 0x9e3779b97f4a7c15ULL ^ len, w;
    size_t i = 0;

    for (; i + 8 <= len; i += 8) {
        memcpy(&w, p + i, 8);
        x = (x ^ w) * 0xff51afd7ed558ccdULL;
        x = (x << 31) | (x >> 33);
    }
    w = 0;
    if (i < len)
        memcpy(&w, p + i, len - i);
    x = (x ^ w) * 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x ? x : 1;
}

static struct htab_slot *find(const struct htab *h, const void *key, size_t len, uint64_t hash)
{
    size_t mask = h->cap - 1;

    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        struct htab_slot *s = &h->slots[i];

        if (!s->hash)
            return s;
        if (s->hash == hash && s->len == len && memcmp(s->key, key, len) == 0)
            return s;
    }
}

static int grow(struct htab *h)
{
    size_t ncap = h->cap ? h->cap * 2 : 64;
    struct htab_slot *old = h->slots;
    size_t ocap = h->cap;

    h->slots = calloc(ncap, sizeof(*h->slots));
    if (!h->slots) {
        h->slots = old;
        return -ENOMEM;
    }
    h->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].hash)
            *find(h, old[i].key, old[i].len, old[i].hash) = old[i];
    }
    free(old);
    return 0;
}

static const void *store_key(struct htab *h, const void *key, size_t len)
{
    struct htab_chunk *c = h->chunks;
    size_t need = (len + 7) & ~(size_t)7;
    void *dst;

    if (!c || c->cap - c->used < need) {
        size_t cap = need > CHUNK_MIN ? need : CHUNK_MIN;

        c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = h->chunks;
        h->chunks = c;
    }
    dst = c->data + c->used;
    c->used += need;
    if (len)
        memcpy(dst, key, len);
    return dst;
}

bool htab_get(const struct htab *h, const void *key, size_t len, uint64_t *val)
{
    struct htab_slot *s;

    if (!h->cap)
        return false;
    s = find(h, key, len, htab_hash(key, len));
    if (!s->hash)
        return false;
    if (val)
        *val = s->val;
    return true;
}

int htab_get_or_put(struct htab *h, const void *key, size_t len, uint64_t *val, bool *found,
                    const void **stored_key)
{
    uint64_t hash = htab_hash(key, len);
    struct htab_slot *s;

    if ((h->count + 1) * 4 > h->cap * 3 && grow(h))
        return -ENOMEM;
    s = find(h, key, len, hash);
    if (s->hash) {
        *val = s->val;
        *found = true;
        if (stored_key)
            *stored_key = s->key;
        return 0;
    }
    s->key = store_key(h, key, len);
    if (!s->key)
        return -ENOMEM;
    s->hash = hash;
    s->len = len;
    s->val = *val;
    h->count++;
    *found = false;
    if (stored_key)
        *stored_key = s->key;
    return 0;
}

int htab_put(struct htab *h, const void *key, size_t len, uint64_t val)
{
    uint64_t cur = val;
    bool found;
    int err = htab_get_or_put(h, key, len, &cur, &found, NULL);

    if (err || !found)
        return err;
    find(h, key, len, htab_hash(key, len))->val = val;
    return 0;
}
