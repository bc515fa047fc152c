#include "symbolize/kallsyms.h"

#include "formats/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* 16 bytes a symbol, not 24: names are references into the packed chunks
 * (chunk << CHUNK_SHIFT | offset), 120k+ of them on a node */
struct ksym {
    uint64_t addr;
    uint32_t name;
    uint32_t module; /* NO_MODULE: the kernel image */
};

#define NO_MODULE UINT32_MAX

struct kallsyms {
    struct ksym *syms;
    size_t nsyms, cap;
    char **chunks; /* the names, packed: a node has 100k+ kernel symbols */
    size_t nchunks, chunks_cap, chunk_used;
    bool restricted;
};

static int cmp_ksym(const void *a, const void *b)
{
    const struct ksym *x = a, *y = b;

    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static bool is_text(char type)
{
    return type == 't' || type == 'T' || type == 'w' || type == 'W';
}

void kallsyms_free(struct kallsyms *ks)
{
    if (!ks)
        return;
    for (size_t i = 0; i < ks->nchunks; i++)
        free(ks->chunks[i]);
    free(ks->chunks);
    free(ks->syms);
    free(ks);
}

#define CHUNK_SHIFT 18
#define CHUNK_BYTES ((size_t)1 << CHUNK_SHIFT)
#define MAX_CHUNKS  ((size_t)1 << (32 - CHUNK_SHIFT))

static const char *text_at(const struct kallsyms *ks, uint32_t ref)
{
    return ks->chunks[ref >> CHUNK_SHIFT] + (ref & (CHUNK_BYTES - 1));
}

/* Room for len bytes in the last chunk, or a new one; *ref names them. */
static char *pack(struct kallsyms *ks, size_t len, uint32_t *ref)
{
    char *c;

    if (len > CHUNK_BYTES)
        return NULL;
    if (!ks->nchunks || ks->chunk_used + len > CHUNK_BYTES) {
        if (ks->nchunks == MAX_CHUNKS ||
            ARRAY_RESERVE_ONE(ks->chunks, ks->nchunks, ks->chunks_cap) ||
            !(c = malloc(CHUNK_BYTES)))
            return NULL;
        ks->chunks[ks->nchunks++] = c;
        ks->chunk_used = 0;
    }
    *ref = (uint32_t)((ks->nchunks - 1) << CHUNK_SHIFT | ks->chunk_used);
    c = ks->chunks[ks->nchunks - 1] + ks->chunk_used;
    ks->chunk_used += len;
    return c;
}

/* Stores "name\0module\0" for one symbol; the module is shared with the
 * previous line's when they are equal (modules' symbols come in runs). */
static int add_sym(struct kallsyms *ks, uint64_t addr, const char *name, const char *module)
{
    uint32_t prev_mod = ks->nsyms ? ks->syms[ks->nsyms - 1].module : NO_MODULE;
    bool same_mod = !*module ? prev_mod == NO_MODULE
                             : prev_mod != NO_MODULE && !strcmp(text_at(ks, prev_mod), module);
    size_t nlen = strlen(name) + 1, mlen = same_mod || !*module ? 0 : strlen(module) + 1;
    uint32_t ref;
    char *s;

    if (ARRAY_RESERVE_ONE(ks->syms, ks->nsyms, ks->cap) || !(s = pack(ks, nlen + mlen, &ref)))
        return -ENOMEM;
    memcpy(s, name, nlen);
    if (mlen)
        memcpy(s + nlen, module, mlen);
    ks->syms[ks->nsyms++] = (struct ksym){addr, ref,
                                          !*module   ? NO_MODULE
                                          : same_mod ? prev_mod
                                                     : ref + (uint32_t)nlen};
    return 0;
}

int kallsyms_parse(FILE *f, struct kallsyms **out, size_t *bad_lines)
{
    struct kallsyms *ks = calloc(1, sizeof(*ks));
    char *line = NULL;
    size_t cap = 0, bad = 0;
    bool any_nonzero = false;
    int err = 0;

    if (!ks)
        return -ENOMEM;
    while (getline(&line, &cap, f) >= 0) {
        unsigned long long addr;
        char type, name[512], module[256] = "";
        int n = sscanf(line, "%llx %c %511s [%255[^]]]", &addr, &type, name, module);

        if (n < 3) {
            bad++;
            continue;
        }
        if (!is_text(type))
            continue;
        if (addr)
            any_nonzero = true;
        if ((err = add_sym(ks, addr, name, module)))
            break;
    }
    free(line);
    if (err) {
        kallsyms_free(ks);
        return err;
    }
    ks->restricted = ks->nsyms && !any_nonzero;
    if (ks->nsyms) {
        struct ksym *fit = realloc(ks->syms, ks->nsyms * sizeof(*ks->syms));

        if (fit) { /* the doubling left up to half of it unused */
            ks->syms = fit;
            ks->cap = ks->nsyms;
        }
        qsort(ks->syms, ks->nsyms, sizeof(*ks->syms), cmp_ksym);
    }
    if (bad_lines)
        *bad_lines = bad;
    *out = ks;
    return 0;
}

int kallsyms_load(struct kallsyms **out)
{
    FILE *f = fopen("/proc/kallsyms", "re");
    int err;

    if (!f)
        return -errno;
    err = kallsyms_parse(f, out, NULL);
    fclose(f);
    return err;
}

bool kallsyms_restricted(const struct kallsyms *ks)
{
    return ks->restricted;
}

size_t kallsyms_count(const struct kallsyms *ks)
{
    return ks->nsyms;
}

const char *kallsyms_lookup(const struct kallsyms *ks, uint64_t addr, const char **module,
                            uint64_t *sym_start)
{
    size_t lo = 0, hi = ks->nsyms;

    if (ks->restricted)
        return NULL;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (ks->syms[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (!lo)
        return NULL;
    if (module)
        *module = ks->syms[lo - 1].module == NO_MODULE ? "" : text_at(ks, ks->syms[lo - 1].module);
    if (sym_start)
        *sym_start = ks->syms[lo - 1].addr;
    return text_at(ks, ks->syms[lo - 1].name);
}
