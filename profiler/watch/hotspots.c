#include "profiler/watch/hotspots.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/buf.h"
#include "formats/folded.h"
#include "formats/htab.h"
#include "formats/stackcount.h"

/* Every function met in the stacks, with its self and total samples. */
struct func_count {
    char *name;
    uint64_t self, total;
};

struct func_table {
    struct htab index; /* name -> position in fc */
    struct func_count *fc;
    size_t n, cap;
};

struct label_match {
    const char *key, *value;
};

static bool of_label(void *ctx, const struct pf_profile *p, const struct pf_sample *s)
{
    const struct label_match *m = ctx;
    const char *v = pf_sample_label(p, s, m->key);

    return v && !strcmp(v, m->value);
}

static int by_self(const void *a, const void *b)
{
    const struct func_count *x = a, *y = b;

    if (x->self != y->self)
        return x->self < y->self ? 1 : -1;
    if (x->total != y->total)
        return x->total < y->total ? 1 : -1;
    return strcmp(x->name, y->name);
}

static int by_count(const void *a, const void *b)
{
    const struct stackcount_item *x = a, *y = b;

    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->stack, y->stack);
}

static void func_table_free(struct func_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->fc[i].name);
    free(t->fc);
    htab_free(&t->index);
}

/* The position of the function name[0..len) in t, added when new. */
static int func_index(struct func_table *t, const char *name, size_t len, uint64_t *idx)
{
    char *copy;

    if (htab_get(&t->index, name, len, idx))
        return 0;
    if (!(copy = strndup(name, len)) || ARRAY_RESERVE_ONE(t->fc, t->n, t->cap) || !t->fc) {
        free(copy);
        return -ENOMEM;
    }
    *idx = t->n;
    t->fc[t->n++] = (struct func_count){.name = copy};
    return htab_put(&t->index, name, len, *idx);
}

/* Counts one folded stack's frames: the leaf as self, each distinct frame
 * once as total (a recursive function is not counted twice). */
static int count_frames(struct func_table *t, const char *stack, uint64_t count)
{
    uint64_t seen[256];
    size_t nseen = 0;

    for (const char *p = stack; *p;) {
        size_t len = strcspn(p, ";");
        uint64_t idx;
        bool dup = false;
        int rc;

        if ((rc = func_index(t, p, len, &idx)))
            return rc;
        for (size_t i = 0; i < nseen && !dup; i++)
            dup = seen[i] == idx;
        if (!dup) {
            t->fc[idx].total += count;
            if (nseen < 256)
                seen[nseen++] = idx;
        }
        p += len;
        if (!*p)
            t->fc[idx].self += count;
        else
            p++;
    }
    return 0;
}

/* The functions with the most self time into out. */
static void top_functions(struct func_table *t, struct pod_hotspots *out)
{
    if (t->n > 1)
        qsort(t->fc, t->n, sizeof(*t->fc), by_self);
    for (size_t i = 0; i < t->n && out->nfuncs < HOTSPOT_FUNCTIONS; i++) {
        struct hot_function *h = &out->funcs[out->nfuncs++];

        snprintf(h->name, sizeof(h->name), "%s", t->fc[i].name);
        h->self_pct = 100.0 * (double)t->fc[i].self / (double)out->samples;
        h->total_pct = 100.0 * (double)t->fc[i].total / (double)out->samples;
    }
}

/* The heaviest stacks into out; sorts sc's items (its index no longer
 * matches them: only stackcount_free may follow). */
static int top_paths(struct stackcount *sc, struct pod_hotspots *out)
{
    if (sc->n > 1)
        qsort(sc->items, sc->n, sizeof(*sc->items), by_count);
    for (size_t i = 0; i < sc->n && out->npaths < HOTSPOT_PATHS; i++) {
        char *frames = strdup(sc->items[i].stack);

        if (!frames)
            return -ENOMEM;
        // NOLINTBEGIN(clang-analyzer-unix.Malloc): out owns it; pod_hotspots_free frees it
        out->paths[out->npaths] = (struct hot_path){
            .frames = frames, .pct = 100.0 * (double)sc->items[i].count / (double)out->samples};
        out->npaths++;
        // NOLINTEND(clang-analyzer-unix.Malloc)
    }
    return 0;
}

/* The stacks of p's samples whose label key is value, folded, into sc. */
static int matching_stacks(const struct pf_profile *p, const char *key, const char *value,
                           struct stackcount *sc, char *err, size_t errlen)
{
    struct label_match match = {key, value};
    struct folded_write_opts fo = {.group_by = PF_GROUP_NONE};
    struct pf_profile *sub = NULL;
    int rc;

    if ((rc = pf_profile_new(&sub)) || (rc = pf_profile_subset(p, of_label, &match, sub)) ||
        (rc = folded_stacks(sub, &fo, sc)))
        snprintf(err, errlen, "the samples of %s %s: %s", key, value,
                 rc == -EINVAL ? "a sample names a location the profile lacks" : strerror(-rc));
    pf_profile_free(sub);
    return rc;
}

int pod_hotspots_find_label(const struct pf_profile *p, const char *key, const char *value,
                            struct pod_hotspots *out, char *err, size_t errlen)
{
    struct stackcount sc;
    struct func_table t = {0};
    int rc;

    memset(out, 0, sizeof(*out));
    stackcount_init(&sc);
    htab_init(&t.index);
    if ((rc = matching_stacks(p, key, value, &sc, err, errlen)))
        goto out;
    for (size_t i = 0; i < sc.n && !rc; i++) {
        out->samples += sc.items[i].count;
        rc = count_frames(&t, sc.items[i].stack, sc.items[i].count);
    }
    if (!rc && out->samples) {
        top_functions(&t, out);
        rc = top_paths(&sc, out);
    }
    if (rc)
        snprintf(err, errlen, "the hot spots of %s %s: out of memory", key, value);
out:
    func_table_free(&t);
    stackcount_free(&sc);
    if (rc)
        pod_hotspots_free(out);
    return rc;
}

int pod_hotspots_find(const struct pf_profile *p, const char *uid, struct pod_hotspots *out,
                      char *err, size_t errlen)
{
    return pod_hotspots_find_label(p, "pod_uid", uid, out, err, errlen);
}

void pod_hotspots_free(struct pod_hotspots *h)
{
    for (size_t i = 0; i < h->npaths; i++)
        free(h->paths[i].frames);
    h->npaths = 0;
}

const char *wall_state_name(enum wall_state s)
{
    static const char *const names[WALL__MAX] = {"running", "runqueue", "throttled", "blocked",
                                                 "sleeping"};

    return s < WALL__MAX ? names[s] : "unknown";
}

static int sample_type_named(const struct pf_profile *p, const char *name)
{
    size_t i;

    return pf_profile_value_index(p, name, &i) ? -1 : (int)i;
}

struct pod_state_match {
    const char *uid, *state;
};

static bool of_pod_state(void *ctx, const struct pf_profile *p, const struct pf_sample *s)
{
    const struct pod_state_match *m = ctx;
    const char *uid = pf_sample_label(p, s, "pod_uid"), *st = pf_sample_label(p, s, "state");

    return uid && st && !strcmp(uid, m->uid) && !strcmp(st, m->state);
}

/* The heaviest path of the Pod's samples in one state, by wall time. */
static int heaviest_wait(const struct pf_profile *p, const char *uid, enum wall_state st,
                         size_t wall_index, struct pod_wall *out)
{
    struct pod_state_match m = {uid, wall_state_name(st)};
    struct folded_write_opts fo = {.group_by = PF_GROUP_NONE, .value_index = wall_index};
    struct pf_profile *sub = NULL;
    struct stackcount sc;
    size_t best = 0;
    int rc;

    stackcount_init(&sc);
    if (!(rc = pf_profile_new(&sub)) && !(rc = pf_profile_subset(p, of_pod_state, &m, sub)) &&
        !(rc = folded_stacks(sub, &fo, &sc)) && sc.n) {
        for (size_t i = 1; i < sc.n; i++)
            best = sc.items[i].count > sc.items[best].count ? i : best;
        out->waits[st].pct = 100.0 * (double)sc.items[best].count / (double)out->total;
        if (!(out->waits[st].frames = strdup(sc.items[best].stack)))
            rc = -ENOMEM;
    }
    stackcount_free(&sc);
    pf_profile_free(sub);
    return rc;
}

int pod_wall_find(const struct pf_profile *p, const char *uid, struct pod_wall *out, char *err,
                  size_t errlen)
{
    int wi = sample_type_named(p, "wall");
    int rc = 0;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; wi >= 0 && i < p->nsamples; i++) {
        const struct pf_sample *s = &p->samples[i];
        const char *u = pf_sample_label(p, s, "pod_uid"), *st = pf_sample_label(p, s, "state");
        int64_t v = s->values[wi];

        if (!u || !st || strcmp(u, uid) != 0 || v <= 0)
            continue;
        for (int k = 0; k < WALL__MAX; k++) {
            if (!strcmp(st, wall_state_name((enum wall_state)k))) {
                out->ns[k] += (uint64_t)v;
                out->total += (uint64_t)v;
            }
        }
    }
    for (int k = WALL_RUNQUEUE; !rc && out->total && k < WALL__MAX; k++) {
        if (out->ns[k])
            rc = heaviest_wait(p, uid, (enum wall_state)k, (size_t)wi, out);
    }
    if (rc) {
        snprintf(err, errlen, "the wall time of Pod %s: %s", uid, strerror(-rc));
        pod_wall_free(out);
    }
    return rc;
}

void pod_wall_free(struct pod_wall *w)
{
    for (int k = 0; k < WALL__MAX; k++) {
        free(w->waits[k].frames);
        w->waits[k].frames = NULL;
    }
}
