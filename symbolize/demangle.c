#include "symbolize/demangle.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libiberty/demangle.h>

#include "formats/htab.h"

struct demangler {
    bool on;
    struct htab names; /* mangled -> pointer to the readable copy (in pool) */
    struct htab pool;  /* readable names, stored as the table's own keys */
};

int demangler_new(bool on, struct demangler **out)
{
    struct demangler *d = calloc(1, sizeof(*d));

    if (!d)
        return -ENOMEM;
    d->on = on;
    htab_init(&d->names);
    htab_init(&d->pool);
    *out = d;
    return 0;
}

void demangler_free(struct demangler *d)
{
    if (!d)
        return;
    htab_free(&d->names);
    htab_free(&d->pool);
    free(d);
}

/* Itanium C++ and Rust legacy names start with _Z, Rust v0 names with _R. */
static bool looks_mangled(const char *name)
{
    return name[0] == '_' && (name[1] == 'Z' || name[1] == 'R');
}

const char *demangler_name(struct demangler *d, const char *name)
{
    const void *stored;
    char *readable;
    uint64_t val;
    bool found;

    if (!d || !d->on || !name || !looks_mangled(name))
        return name;
    if (htab_get(&d->names, name, strlen(name) + 1, &val))
        return (const char *)(uintptr_t)val; // NOLINT(performance-no-int-to-ptr)
    /* DMGL_PARAMS: argument types, as perf shows them; no style flag means
     * automatic: Rust first, then C++ */
    readable = cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI);
    if (!readable)
        stored = name; /* not mangled after all: remember that too */
    else if (htab_get_or_put(&d->pool, readable, strlen(readable) + 1, &val, &found, &stored)) {
        free(readable);
        return name;
    }
    free(readable);
    if (stored == name && htab_get_or_put(&d->pool, name, strlen(name) + 1, &val, &found, &stored))
        return name;
    if (htab_put(&d->names, name, strlen(name) + 1, (uint64_t)(uintptr_t)stored))
        return name;
    return stored;
}
