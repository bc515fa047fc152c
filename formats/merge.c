#include "formats/merge.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Merged samples by their stack and labels: open addressing over the
 * samples themselves, so that no copy of a key is kept (a sample's key is
 * most of its size). */
struct sample_index {
    uint64_t *hash; /* 0: empty */
    size_t *at;     /* position in the profile's samples */
    size_t cap, n;  /* cap: a power of two */
};

struct pf_merge {
    struct pf_profile *p;
    struct htab mappings, locations; /* their fields -> id */
    struct sample_index samples;
    uint64_t *scratch; /* one sample's locations and labels, being merged */
    size_t scratch_cap;
    int64_t end_nanos;
    uint64_t profiles;
    bool typed; /* the first profile set the types */
};

/* What one added profile's ids and strings are in the merge; 0 (and -1
 * for strings) until first needed. */
struct translation {
    const struct pf_profile *in;
    int64_t *strings;
    uint64_t *mappings, *locations;
};

int pf_merge_new(struct pf_merge **out)
{
    struct pf_merge *m = calloc(1, sizeof(*m));

    if (!m || pf_profile_new(&m->p)) {
        free(m);
        return -ENOMEM;
    }
    htab_init(&m->mappings);
    htab_init(&m->locations);
    *out = m;
    return 0;
}

void pf_merge_free(struct pf_merge *m)
{
    if (!m)
        return;
    pf_profile_free(m->p);
    htab_free(&m->mappings);
    htab_free(&m->locations);
    free(m->samples.hash);
    free(m->samples.at);
    free(m->scratch);
    free(m);
}

struct pf_profile *pf_merge_profile(struct pf_merge *m)
{
    return m->p;
}

uint64_t pf_merge_profiles(const struct pf_merge *m)
{
    return m->profiles;
}

static int64_t tr_string(struct pf_merge *m, struct translation *t, int64_t idx)
{
    if (idx <= 0 || (size_t)idx >= t->in->nstrings)
        return 0;
    if (t->strings[idx] < 0)
        t->strings[idx] = pf_profile_cstring(m->p, t->in->strings[idx]);
    return t->strings[idx];
}

/* What makes two mappings one: every field but the has_* flags. */
static void mapping_key(const struct pf_mapping *mp, uint64_t key[6])
{
    key[0] = mp->start;
    key[1] = mp->limit;
    key[2] = mp->offset;
    key[3] = (uint64_t)mp->filename;
    key[4] = (uint64_t)mp->build_id;
    key[5] = (uint64_t)mp->kind;
}

/* What makes two locations one: mapping, address and lines (2 + 2 *
 * nlines words in key). */
static size_t location_key(uint64_t mapping, uint64_t address, const struct pf_line *lines,
                           size_t nlines, uint64_t *key)
{
    key[0] = mapping;
    key[1] = address;
    for (size_t i = 0; i < nlines; i++) {
        key[2 + 2 * i] = lines[i].function_id;
        key[3 + 2 * i] = (uint64_t)lines[i].line;
    }
    return (2 + 2 * nlines) * sizeof(*key);
}

static int64_t tr_mapping(struct pf_merge *m, struct translation *t, uint64_t id)
{
    const struct pf_mapping *in = pf_profile_mapping(t->in, id);
    struct pf_mapping out;
    uint64_t key[6], found_id;
    bool found;
    int64_t rc;

    if (!in)
        return 0;
    if (t->mappings[id - 1])
        return (int64_t)t->mappings[id - 1];
    out = *in;
    if ((out.filename = tr_string(m, t, in->filename)) < 0 ||
        (out.build_id = tr_string(m, t, in->build_id)) < 0)
        return -ENOMEM;
    mapping_key(&out, key);
    found_id = m->p->nmappings + 1; /* the id it gets when new */
    if (htab_get_or_put(&m->mappings, key, sizeof(key), &found_id, &found, NULL))
        return -ENOMEM;
    if (!found && (rc = pf_profile_add_mapping(m->p, &out)) < 0)
        return rc; /* the table is then wrong, but the merge is out of memory: done */
    t->mappings[id - 1] = found_id;
    return (int64_t)found_id;
}

/* A location's merged id; its key is (mapping, address, lines). */
static int64_t tr_location(struct pf_merge *m, struct translation *t, uint64_t id)
{
    const struct pf_location *in = pf_profile_location(t->in, id);
    uint64_t *key, loc_id;
    struct pf_line *lines;
    size_t nkey;
    int64_t mapping, rc = 0;
    bool found;

    if (!in)
        return -EINVAL;
    if (t->locations[id - 1])
        return (int64_t)t->locations[id - 1];
    if ((mapping = tr_mapping(m, t, in->mapping_id)) < 0)
        return mapping;
    nkey = 2 + 2 * in->nlines;
    key = malloc(nkey * sizeof(*key));
    lines = malloc((in->nlines ? in->nlines : 1) * sizeof(*lines));
    if (!key || !lines) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < in->nlines; i++) {
        const struct pf_function *f = pf_profile_func(t->in, in->lines[i].function_id);
        int64_t fid = 0;

        if (f) {
            int64_t name = tr_string(m, t, f->name), sys = tr_string(m, t, f->system_name),
                    file = tr_string(m, t, f->filename);

            if (name < 0 || sys < 0 || file < 0 ||
                (fid = pf_profile_function(m->p, name, sys, file, f->start_line)) < 0) {
                rc = -ENOMEM;
                goto out;
            }
        }
        lines[i] = (struct pf_line){(uint64_t)fid, in->lines[i].line};
    }
    location_key((uint64_t)mapping, in->address, lines, in->nlines, key);
    loc_id = m->p->nlocations + 1;
    if (htab_get_or_put(&m->locations, key, nkey * sizeof(*key), &loc_id, &found, NULL)) {
        rc = -ENOMEM;
        goto out;
    }
    if (!found &&
        (rc = pf_profile_add_location(m->p, (uint64_t)mapping, in->address, lines, in->nlines)) < 0)
        goto out;
    t->locations[id - 1] = loc_id;
    rc = (int64_t)loc_id;
out:
    free(key);
    free(lines);
    return rc;
}

/* Sums of what profiles say, which a hostile one can make overflow: held
 * at the bound rather than wrapped (wrapping is undefined for int64_t, and
 * a sum that wrapped would read as a small or negative number). */
static int64_t saturating_add(int64_t a, int64_t b)
{
    int64_t r;

    return __builtin_add_overflow(a, b, &r) ? (b > 0 ? INT64_MAX : INT64_MIN) : r;
}

static int64_t saturating_sub(int64_t a, int64_t b)
{
    int64_t r;

    return __builtin_sub_overflow(a, b, &r) ? (b < 0 ? INT64_MAX : INT64_MIN) : r;
}

/* The types must be the same, by name and unit, in the same order. */
static int check_types(struct pf_merge *m, struct translation *t, char *err, size_t errlen)
{
    const struct pf_profile *in = t->in;
    bool same = in->nsample_types == m->p->nsample_types;

    if (!in->nsample_types) {
        snprintf(err, errlen, "it has no sample types");
        return -EINVAL;
    }
    if (!m->typed) {
        m->p->nsample_types = in->nsample_types;
        for (size_t i = 0; i < in->nsample_types; i++) {
            m->p->sample_types[i].type = tr_string(m, t, in->sample_types[i].type);
            m->p->sample_types[i].unit = tr_string(m, t, in->sample_types[i].unit);
        }
        m->p->period_type.type = tr_string(m, t, in->period_type.type);
        m->p->period_type.unit = tr_string(m, t, in->period_type.unit);
        m->p->default_sample_type = tr_string(m, t, in->default_sample_type);
        m->p->period = in->period;
        m->typed = true;
        return 0;
    }
    for (size_t i = 0; same && i < in->nsample_types; i++)
        same = !strcmp(pf_profile_str(in, in->sample_types[i].type),
                       pf_profile_str(m->p, m->p->sample_types[i].type)) &&
               !strcmp(pf_profile_str(in, in->sample_types[i].unit),
                       pf_profile_str(m->p, m->p->sample_types[i].unit));
    if (!same) {
        snprintf(err, errlen, "its sample types (%zu, the first %s/%s) are not the others'",
                 in->nsample_types,
                 in->nsample_types ? pf_profile_str(in, in->sample_types[0].type) : "none",
                 in->nsample_types ? pf_profile_str(in, in->sample_types[0].unit) : "none");
        return -EINVAL;
    }
    return 0;
}

/* The labels of s in the merge's strings, then the extra ones it lacks. */
static int tr_labels(struct pf_merge *m, struct translation *t, const struct pf_sample *s,
                     const char *const *extra, size_t nextra, struct pf_label *out, size_t *n)
{
    *n = 0;
    for (size_t i = 0; i < s->nlabels; i++) {
        struct pf_label l = s->labels[i];

        l.key = tr_string(m, t, l.key);
        l.str = tr_string(m, t, l.str);
        l.num_unit = tr_string(m, t, l.num_unit);
        if (l.key < 0 || l.str < 0 || l.num_unit < 0)
            return -ENOMEM;
        out[(*n)++] = l;
    }
    for (size_t i = 0; i < nextra; i++) {
        int64_t k, v;

        if (pf_sample_label(t->in, s, extra[2 * i]))
            continue;
        if ((k = pf_profile_cstring(m->p, extra[2 * i])) < 0 ||
            (v = pf_profile_cstring(m->p, extra[2 * i + 1])) < 0)
            return -ENOMEM;
        out[(*n)++] = (struct pf_label){.key = k, .str = v};
    }
    return 0;
}

static bool same_sample(const struct pf_sample *s, const uint64_t *locs, size_t nlocs,
                        const struct pf_label *labels, size_t nlabels)
{
    /* a sample may have no locations or no labels: NULL, not for memcmp */
    return s->nlocations == nlocs && s->nlabels == nlabels &&
           (!nlocs || !memcmp(s->location_ids, locs, nlocs * sizeof(*locs))) &&
           (!nlabels || !memcmp(s->labels, labels, nlabels * sizeof(*labels)));
}

static int index_grow(struct sample_index *x)
{
    size_t cap = x->cap ? 2 * x->cap : 1024;
    uint64_t *hash = calloc(cap, sizeof(*hash));
    size_t *at = malloc(cap * sizeof(*at));

    if (!hash || !at) {
        free(hash);
        free(at);
        return -ENOMEM;
    }
    for (size_t i = 0; i < x->cap; i++) {
        size_t j = x->hash[i] & (cap - 1);

        if (!x->hash[i])
            continue;
        while (hash[j])
            j = (j + 1) & (cap - 1);
        hash[j] = x->hash[i];
        at[j] = x->at[i];
    }
    free(x->hash);
    free(x->at);
    x->hash = hash;
    x->at = at;
    x->cap = cap;
    return 0;
}

static uint64_t sample_hash(const uint64_t *locs, size_t nlocs, const struct pf_label *labels,
                            size_t nlabels)
{
    uint64_t h = htab_hash(locs, nlocs * sizeof(*locs)) ^
                 (htab_hash(labels, nlabels * sizeof(*labels)) * 0x9e3779b97f4a7c15ULL);

    return h | 1; /* 0 marks an empty slot */
}

/* The slot of the sample of p equal to this one, or the empty slot where
 * it goes (*found false). The index has room for one more. */
static size_t index_slot(const struct sample_index *x, const struct pf_profile *p, uint64_t h,
                         const uint64_t *locs, size_t nlocs, const struct pf_label *labels,
                         size_t nlabels, bool *found)
{
    size_t j;

    for (j = h & (x->cap - 1); x->hash[j]; j = (j + 1) & (x->cap - 1))
        if (x->hash[j] == h && same_sample(&p->samples[x->at[j]], locs, nlocs, labels, nlabels)) {
            *found = true;
            return j;
        }
    *found = false;
    return j;
}

/* Adds values to the merged sample of equal stack and labels, or adds it. */
static int merge_sample(struct pf_merge *m, const uint64_t *locs, size_t nlocs,
                        const struct pf_label *labels, size_t nlabels, const int64_t *values)
{
    struct sample_index *x = &m->samples;
    uint64_t h = sample_hash(locs, nlocs, labels, nlabels);
    bool found;
    size_t j;
    int rc;

    if ((x->n + 1) * 4 > x->cap * 3 && (rc = index_grow(x)))
        return rc;
    j = index_slot(x, m->p, h, locs, nlocs, labels, nlabels, &found);
    if (found) {
        for (size_t i = 0; i < m->p->nsample_types; i++)
            m->p->samples[x->at[j]].values[i] =
                saturating_add(m->p->samples[x->at[j]].values[i], values[i]);
        return 0;
    }
    if ((rc = pf_profile_add_sample(m->p, locs, nlocs, values, labels, nlabels)))
        return rc;
    x->hash[j] = h;
    x->at[j] = m->p->nsamples - 1;
    x->n++;
    return 0;
}

/* Adds s (its ids and strings translated) to the merge. */
static int add_sample(struct pf_merge *m, struct translation *t, const struct pf_sample *s,
                      const char *const *extra, size_t nextra)
{
    size_t nlabels, need = s->nlocations + 4 * (s->nlabels + nextra) + 1;
    struct pf_label *labels;
    uint64_t *locs;

    if (need > m->scratch_cap) {
        uint64_t *g = realloc(m->scratch, need * sizeof(*g));

        if (!g)
            return -ENOMEM;
        m->scratch = g;
        m->scratch_cap = need;
    }
    locs = m->scratch;
    /* labels after the locations, aligned: pf_label is four 64-bit words */
    labels = (struct pf_label *)(void *)(m->scratch + s->nlocations);
    for (size_t i = 0; i < s->nlocations; i++) {
        int64_t id = tr_location(m, t, s->location_ids[i]);

        if (id < 0)
            return (int)id;
        locs[i] = (uint64_t)id;
    }
    if (tr_labels(m, t, s, extra, nextra, labels, &nlabels))
        return -ENOMEM;
    return merge_sample(m, locs, s->nlocations, labels, nlabels, s->values);
}

/* The merge spans the earliest start to the latest end of what it got. */
static void merge_times(struct pf_merge *m, int64_t start, int64_t end)
{
    if (start && (!m->p->time_nanos || start < m->p->time_nanos))
        m->p->time_nanos = start;
    if (end > m->end_nanos)
        m->end_nanos = end;
    if (m->p->time_nanos)
        m->p->duration_nanos = saturating_sub(m->end_nanos, m->p->time_nanos);
    m->profiles++;
}

int pf_merge_add(struct pf_merge *m, const struct pf_profile *p,
                 bool (*keep)(void *ctx, const struct pf_profile *p, const struct pf_sample *s),
                 void *ctx, const char *const *extra, size_t nextra, char *err, size_t errlen)
{
    struct translation t = {p, NULL, NULL, NULL};
    int64_t end = saturating_add(p->time_nanos, p->duration_nanos);
    int rc = -ENOMEM;

    t.strings = malloc((p->nstrings ? p->nstrings : 1) * sizeof(*t.strings));
    t.mappings = calloc(p->nmappings ? p->nmappings : 1, sizeof(*t.mappings));
    t.locations = calloc(p->nlocations ? p->nlocations : 1, sizeof(*t.locations));
    if (!t.strings || !t.mappings || !t.locations) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    memset(t.strings, 0xff, (p->nstrings ? p->nstrings : 1) * sizeof(*t.strings));
    if ((rc = check_types(m, &t, err, errlen)))
        goto out;
    for (size_t i = 0; !rc && i < p->nsamples; i++)
        if (!keep || keep(ctx, p, &p->samples[i]))
            rc = add_sample(m, &t, &p->samples[i], extra, nextra);
    if (rc) {
        snprintf(err, errlen, "%s",
                 rc == -ENOMEM ? "out of memory" : "a sample names a location it lacks");
        goto out;
    }
    merge_times(m, p->time_nanos, end);
out:
    free(t.strings);
    free(t.mappings);
    free(t.locations);
    return rc;
}

/* Enters p's mappings and locations in the merge's tables, as if merged. */
static int index_parts(struct pf_merge *m, const struct pf_profile *p)
{
    uint64_t key[6], *lkey;
    size_t most = 0;
    int rc = 0;

    for (size_t i = 0; !rc && i < p->nmappings; i++) {
        mapping_key(&p->mappings[i], key);
        rc = htab_put(&m->mappings, key, sizeof(key), i + 1);
    }
    for (size_t i = 0; i < p->nlocations; i++)
        if (p->locations[i].nlines > most)
            most = p->locations[i].nlines;
    if (rc || !(lkey = malloc((2 + 2 * most) * sizeof(*lkey))))
        return -ENOMEM;
    for (size_t i = 0; !rc && i < p->nlocations; i++) {
        const struct pf_location *l = &p->locations[i];

        rc = htab_put(&m->locations, lkey,
                      location_key(l->mapping_id, l->address, l->lines, l->nlines, lkey), i + 1);
    }
    free(lkey);
    return rc;
}

/* Gives s the extra labels it lacks (strings of p). */
static int add_extra(struct pf_profile *p, struct pf_sample *s, const char *const *extra,
                     size_t nextra)
{
    for (size_t i = 0; i < nextra; i++) {
        struct pf_label *g;
        int64_t k, v;

        if (pf_sample_label(p, s, extra[2 * i]))
            continue;
        if ((k = pf_profile_cstring(p, extra[2 * i])) < 0 ||
            (v = pf_profile_cstring(p, extra[2 * i + 1])) < 0 ||
            !(g = realloc(s->labels, (s->nlabels + 1) * sizeof(*g))))
            return -ENOMEM;
        s->labels = g;
        s->labels[s->nlabels++] = (struct pf_label){.key = k, .str = v};
    }
    return 0;
}

static void sample_free(struct pf_sample *s)
{
    free(s->location_ids);
    free(s->values);
    free(s->labels);
}

/* p becomes the merge's profile: the samples keep rejects dropped, equal
 * ones summed, its parts entered in the tables. */
static int adopt(struct pf_merge *m, struct pf_profile *p,
                 bool (*keep)(void *ctx, const struct pf_profile *p, const struct pf_sample *s),
                 void *ctx, const char *const *extra, size_t nextra)
{
    struct sample_index *x = &m->samples;
    size_t kept = 0, i;
    int rc = index_parts(m, p);

    for (i = 0; !rc && i < p->nsamples; i++) {
        struct pf_sample s = p->samples[i];
        uint64_t h;
        bool found;
        size_t j;

        if ((keep && !keep(ctx, p, &s)) || (rc = add_extra(p, &s, extra, nextra))) {
            sample_free(&s);
            continue;
        }
        if ((x->n + 1) * 4 > x->cap * 3 && (rc = index_grow(x))) {
            sample_free(&s);
            break;
        }
        h = sample_hash(s.location_ids, s.nlocations, s.labels, s.nlabels);
        /* compares with the samples kept so far, moved to the front */
        j = index_slot(x, p, h, s.location_ids, s.nlocations, s.labels, s.nlabels, &found);
        if (found) {
            for (size_t v = 0; v < p->nsample_types; v++)
                p->samples[x->at[j]].values[v] =
                    saturating_add(p->samples[x->at[j]].values[v], s.values[v]);
            sample_free(&s);
            continue;
        }
        x->hash[j] = h;
        x->at[j] = kept;
        x->n++;
        p->samples[kept++] = s;
    }
    for (; i < p->nsamples; i++) /* after a failure */
        sample_free(&p->samples[i]);
    p->nsamples = kept;
    pf_profile_free(m->p);
    m->p = p;
    m->typed = true;
    return rc;
}

int pf_merge_take(struct pf_merge *m, struct pf_profile *p,
                  bool (*keep)(void *ctx, const struct pf_profile *p, const struct pf_sample *s),
                  void *ctx, const char *const *extra, size_t nextra, char *err, size_t errlen)
{
    int64_t start = p->time_nanos, end = p->time_nanos + p->duration_nanos;
    int rc;

    if (m->profiles || !p->nsample_types) {
        rc = pf_merge_add(m, p, keep, ctx, extra, nextra, err, errlen);
        pf_profile_free(p);
        return rc;
    }
    if ((rc = adopt(m, p, keep, ctx, extra, nextra))) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    m->p->time_nanos = 0;
    merge_times(m, start, end);
    return 0;
}
