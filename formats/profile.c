#include "formats/profile.h"

#include "formats/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RESERVE(p, field) ARRAY_RESERVE_ONE((p)->field, (p)->n##field, (p)->field##_cap)

int pf_profile_new(struct pf_profile **out)
{
    struct pf_profile *p = calloc(1, sizeof(*p));

    if (!p)
        return -ENOMEM;
    htab_init(&p->string_index);
    htab_init(&p->function_index);
    if (pf_profile_string(p, "", 0) != 0) {
        pf_profile_free(p);
        return -ENOMEM;
    }
    *out = p;
    return 0;
}

void pf_profile_free(struct pf_profile *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nstrings; i++)
        free(p->strings[i]);
    free(p->strings);
    for (size_t i = 0; i < p->nlocations; i++)
        free(p->locations[i].lines);
    for (size_t i = 0; i < p->nsamples; i++) {
        free(p->samples[i].location_ids);
        free(p->samples[i].values);
        free(p->samples[i].labels);
    }
    free(p->comments);
    free(p->mappings);
    free(p->functions);
    free(p->locations);
    free(p->samples);
    htab_free(&p->string_index);
    htab_free(&p->function_index);
    free(p);
}

int64_t pf_profile_string(struct pf_profile *p, const char *s, size_t len)
{
    uint64_t idx = p->nstrings;
    bool found;
    char *copy;
    int err;

    if (htab_get(&p->string_index, s, len, &idx))
        return (int64_t)idx;
    if (RESERVE(p, strings))
        return -ENOMEM;
    copy = malloc(len + 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, s, len);
    copy[len] = '\0';
    err = htab_get_or_put(&p->string_index, s, len, &idx, &found, NULL);
    if (err) {
        free(copy);
        return err;
    }
    p->strings[p->nstrings++] = copy;
    return (int64_t)idx;
}

int pf_profile_set_cpu_types(struct pf_profile *p, int64_t period_ns)
{
    int64_t samples = pf_profile_cstring(p, "samples"), count = pf_profile_cstring(p, "count");
    int64_t cpu = pf_profile_cstring(p, "cpu"), ns = pf_profile_cstring(p, "nanoseconds");

    if (samples < 0 || count < 0 || cpu < 0 || ns < 0)
        return -ENOMEM;
    p->sample_types[0] = (struct pf_value_type){samples, count};
    p->sample_types[1] = (struct pf_value_type){cpu, ns};
    p->nsample_types = 2;
    p->period_type = (struct pf_value_type){cpu, ns};
    p->period = period_ns;
    return 0;
}

int pf_profile_set_wall_types(struct pf_profile *p, int64_t period_ns, bool off_cpu_only)
{
    int64_t off = pf_profile_cstring(p, "off_cpu"), wall = pf_profile_cstring(p, "wall");
    int64_t ns = pf_profile_cstring(p, "nanoseconds");
    int err = pf_profile_set_cpu_types(p, period_ns);

    if (err || off < 0 || wall < 0 || ns < 0)
        return err ? err : -ENOMEM;
    p->sample_types[2] = (struct pf_value_type){off, ns};
    p->sample_types[3] = (struct pf_value_type){wall, ns};
    p->nsample_types = 4;
    p->default_sample_type = off_cpu_only ? off : wall;
    return 0;
}

int pf_profile_add_comment(struct pf_profile *p, const char *text)
{
    int64_t idx = pf_profile_cstring(p, text);

    if (idx < 0 || RESERVE(p, comments))
        return -ENOMEM;
    p->comments[p->ncomments++] = idx;
    return 0;
}

int64_t pf_profile_add_mapping(struct pf_profile *p, const struct pf_mapping *m)
{
    if (RESERVE(p, mappings))
        return -ENOMEM;
    p->mappings[p->nmappings++] = *m;
    return (int64_t)p->nmappings;
}

int64_t pf_profile_function(struct pf_profile *p, int64_t name, int64_t system_name,
                            int64_t filename, int64_t start_line)
{
    int64_t key[4] = {name, system_name, filename, start_line};
    uint64_t id = p->nfunctions + 1;
    bool found;

    if (RESERVE(p, functions))
        return -ENOMEM;
    if (htab_get_or_put(&p->function_index, key, sizeof(key), &id, &found, NULL))
        return -ENOMEM;
    if (!found)
        p->functions[p->nfunctions++] =
            (struct pf_function){name, system_name, filename, start_line};
    return (int64_t)id;
}

int64_t pf_profile_add_location(struct pf_profile *p, uint64_t mapping_id, uint64_t address,
                                const struct pf_line *lines, size_t nlines)
{
    struct pf_location *loc;

    if (RESERVE(p, locations))
        return -ENOMEM;
    loc = &p->locations[p->nlocations];
    loc->mapping_id = mapping_id;
    loc->address = address;
    loc->nlines = nlines;
    loc->lines = NULL;
    loc->is_folded = false;
    if (nlines) {
        loc->lines = malloc(nlines * sizeof(*lines));
        if (!loc->lines)
            return -ENOMEM;
        memcpy(loc->lines, lines, nlines * sizeof(*lines));
    }
    return (int64_t)++p->nlocations;
}

int pf_profile_set_location_lines(struct pf_profile *p, uint64_t id, const struct pf_line *lines,
                                  size_t nlines)
{
    struct pf_location *loc;
    struct pf_line *copy = NULL;

    if (!id || id > p->nlocations)
        return -EINVAL;
    loc = &p->locations[id - 1];
    if (nlines && !(copy = malloc(nlines * sizeof(*lines))))
        return -ENOMEM;
    if (nlines)
        memcpy(copy, lines, nlines * sizeof(*lines));
    free(loc->lines);
    loc->lines = copy;
    loc->nlines = nlines;
    return 0;
}

static void *dup_array(const void *src, size_t n, size_t sz)
{
    void *dst;

    if (!n)
        return NULL;
    dst = malloc(n * sz);
    if (dst)
        memcpy(dst, src, n * sz);
    return dst;
}

int pf_profile_add_sample(struct pf_profile *p, const uint64_t *location_ids, size_t nlocations,
                          const int64_t *values, const struct pf_label *labels, size_t nlabels)
{
    struct pf_sample s = {0};

    if (RESERVE(p, samples))
        return -ENOMEM;
    s.nlocations = nlocations;
    s.nlabels = nlabels;
    s.location_ids = dup_array(location_ids, nlocations, sizeof(*location_ids));
    s.values = dup_array(values, p->nsample_types, sizeof(*values));
    s.labels = dup_array(labels, nlabels, sizeof(*labels));
    if ((nlocations && !s.location_ids) || (p->nsample_types && !s.values) ||
        (nlabels && !s.labels)) {
        free(s.location_ids);
        free(s.values);
        free(s.labels);
        return -ENOMEM;
    }
    p->samples[p->nsamples++] = s;
    return 0;
}

const struct pf_mapping *pf_profile_mapping(const struct pf_profile *p, uint64_t id)
{
    return id && id <= p->nmappings ? &p->mappings[id - 1] : NULL;
}

const struct pf_function *pf_profile_func(const struct pf_profile *p, uint64_t id)
{
    return id && id <= p->nfunctions ? &p->functions[id - 1] : NULL;
}

const struct pf_location *pf_profile_location(const struct pf_profile *p, uint64_t id)
{
    return id && id <= p->nlocations ? &p->locations[id - 1] : NULL;
}

const char *pf_sample_label(const struct pf_profile *p, const struct pf_sample *s, const char *key)
{
    for (size_t i = 0; i < s->nlabels; i++) {
        if (strcmp(pf_profile_str(p, s->labels[i].key), key) == 0)
            return pf_profile_str(p, s->labels[i].str);
    }
    return NULL;
}

enum pf_frame_kind pf_location_kind(const struct pf_profile *p, const struct pf_location *loc)
{
    const struct pf_mapping *m = pf_profile_mapping(p, loc->mapping_id);

    return m ? m->kind : PF_FRAME_USER;
}

/* Old index or id -> new, filled as things are first used; 0 = not yet. */
struct subset_map {
    const struct pf_profile *src;
    struct pf_profile *dst;
    int64_t *strings;   /* new index + 1 */
    uint64_t *mappings; /* new id */
    uint64_t *functions;
    uint64_t *locations;
};

static int64_t subset_string(struct subset_map *m, int64_t idx)
{
    int64_t v;

    if (idx <= 0 || (size_t)idx >= m->src->nstrings)
        return 0;
    if (m->strings[idx])
        return m->strings[idx] - 1;
    v = pf_profile_cstring(m->dst, m->src->strings[idx]);
    if (v >= 0)
        m->strings[idx] = v + 1;
    return v;
}

static int64_t subset_location(struct subset_map *m, uint64_t id)
{
    const struct pf_location *loc = pf_profile_location(m->src, id);
    struct pf_line lines[64];
    uint64_t mid = 0;
    int64_t v;

    if (!loc)
        return -EINVAL;
    if (m->locations[id - 1])
        return (int64_t)m->locations[id - 1];
    if (loc->mapping_id && loc->mapping_id <= m->src->nmappings) {
        mid = m->mappings[loc->mapping_id - 1];
        if (!mid) {
            struct pf_mapping mp = m->src->mappings[loc->mapping_id - 1];

            mp.filename = subset_string(m, mp.filename);
            mp.build_id = subset_string(m, mp.build_id);
            if (mp.filename < 0 || mp.build_id < 0 || (v = pf_profile_add_mapping(m->dst, &mp)) < 0)
                return -ENOMEM;
            mid = m->mappings[loc->mapping_id - 1] = (uint64_t)v;
        }
    }
    for (size_t i = 0; i < loc->nlines && i < 64; i++) {
        const struct pf_function *f = pf_profile_func(m->src, loc->lines[i].function_id);
        uint64_t fid = 0;

        if (f && !(fid = m->functions[loc->lines[i].function_id - 1])) {
            int64_t name = subset_string(m, f->name), sys = subset_string(m, f->system_name);
            int64_t file = subset_string(m, f->filename);

            if (name < 0 || sys < 0 || file < 0 ||
                (v = pf_profile_function(m->dst, name, sys, file, f->start_line)) < 0)
                return -ENOMEM;
            fid = m->functions[loc->lines[i].function_id - 1] = (uint64_t)v;
        }
        lines[i] = (struct pf_line){.function_id = fid, .line = loc->lines[i].line};
    }
    v = pf_profile_add_location(m->dst, mid, loc->address, lines,
                                loc->nlines < 64 ? loc->nlines : 64);
    if (v > 0)
        m->locations[id - 1] = (uint64_t)v;
    return v;
}

static int subset_sample(struct subset_map *m, const struct pf_sample *s)
{
    uint64_t *locs = malloc((s->nlocations ? s->nlocations : 1) * sizeof(*locs));
    struct pf_label *labels = malloc((s->nlabels ? s->nlabels : 1) * sizeof(*labels));
    int rc = locs && labels ? 0 : -ENOMEM;

    for (size_t i = 0; !rc && i < s->nlocations; i++) {
        int64_t v = subset_location(m, s->location_ids[i]);

        if (v < 0)
            rc = (int)v;
        else
            locs[i] = (uint64_t)v;
    }
    for (size_t i = 0; !rc && i < s->nlabels; i++) {
        labels[i] = s->labels[i];
        labels[i].key = subset_string(m, s->labels[i].key);
        labels[i].str = subset_string(m, s->labels[i].str);
        labels[i].num_unit = subset_string(m, s->labels[i].num_unit);
        if (labels[i].key < 0 || labels[i].str < 0 || labels[i].num_unit < 0)
            rc = -ENOMEM;
    }
    if (!rc)
        rc = pf_profile_add_sample(m->dst, locs, s->nlocations, s->values, labels, s->nlabels);
    free(locs);
    free(labels);
    return rc;
}

int pf_profile_subset(const struct pf_profile *p,
                      bool (*keep)(void *ctx, const struct pf_profile *p,
                                   const struct pf_sample *s),
                      void *ctx, struct pf_profile *out)
{
    struct subset_map m = {.src = p, .dst = out};
    int rc = 0;

    m.strings = calloc(p->nstrings + 1, sizeof(*m.strings));
    m.mappings = calloc(p->nmappings + 1, sizeof(*m.mappings));
    m.functions = calloc(p->nfunctions + 1, sizeof(*m.functions));
    m.locations = calloc(p->nlocations + 1, sizeof(*m.locations));
    if (!m.strings || !m.mappings || !m.functions || !m.locations) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; !rc && i < p->nsample_types; i++) {
        out->sample_types[i].type = subset_string(&m, p->sample_types[i].type);
        out->sample_types[i].unit = subset_string(&m, p->sample_types[i].unit);
        if (out->sample_types[i].type < 0 || out->sample_types[i].unit < 0)
            rc = -ENOMEM;
    }
    out->nsample_types = p->nsample_types;
    out->default_sample_type = subset_string(&m, p->default_sample_type);
    out->period_type.type = subset_string(&m, p->period_type.type);
    out->period_type.unit = subset_string(&m, p->period_type.unit);
    out->period = p->period;
    out->time_nanos = p->time_nanos;
    out->duration_nanos = p->duration_nanos;
    out->drop_frames = subset_string(&m, p->drop_frames);
    out->keep_frames = subset_string(&m, p->keep_frames);
    if (out->default_sample_type < 0 || out->period_type.type < 0 || out->period_type.unit < 0 ||
        out->drop_frames < 0 || out->keep_frames < 0)
        rc = -ENOMEM;
    for (size_t i = 0; !rc && i < p->ncomments; i++)
        rc = pf_profile_add_comment(out, pf_profile_str(p, p->comments[i]));
    for (size_t i = 0; !rc && i < p->nsamples; i++) {
        if (keep(ctx, p, &p->samples[i]))
            rc = subset_sample(&m, &p->samples[i]);
    }
out:
    free(m.strings);
    free(m.mappings);
    free(m.functions);
    free(m.locations);
    return rc;
}

int pf_profile_label_all(struct pf_profile *p, const char *key, const char *value)
{
    int64_t k = pf_profile_cstring(p, key), v = pf_profile_cstring(p, value);

    if (k < 0 || v < 0)
        return -ENOMEM;
    for (size_t i = 0; i < p->nsamples; i++) {
        struct pf_sample *s = &p->samples[i];
        struct pf_label *l = realloc(s->labels, (s->nlabels + 1) * sizeof(*l));

        if (!l)
            return -ENOMEM;
        s->labels = l;
        l[s->nlabels++] = (struct pf_label){.key = k, .str = v};
    }
    return 0;
}

int pf_profile_value_index(const struct pf_profile *p, const char *name, size_t *index)
{
    const char *want = name ? name : pf_profile_str(p, p->default_sample_type);

    *index = 0;
    if (!p->nsample_types)
        return name ? -ENOENT : 0;
    if (want && *want) {
        for (size_t i = 0; i < p->nsample_types; i++) {
            if (!strcmp(pf_profile_str(p, p->sample_types[i].type), want)) {
                *index = i;
                return 0;
            }
        }
        if (name)
            return -ENOENT;
    }
    if (!strcmp(pf_profile_str(p, p->sample_types[0].type), "samples") &&
        !strcmp(pf_profile_str(p, p->sample_types[0].unit), "count"))
        return 0;
    *index = p->nsample_types - 1;
    return 0;
}

int pf_profile_pods(const struct pf_profile *p, struct pf_pod **out, size_t *n)
{
    struct pf_pod *pods = NULL;
    struct htab index; /* "ns\0pod" -> position in pods */
    size_t np = 0, cap = 0;
    int rc = 0;

    htab_init(&index);
    for (size_t i = 0; !rc && i < p->nsamples; i++) {
        const struct pf_sample *s = &p->samples[i];
        const char *pod = pf_sample_label(p, s, "pod"), *ns = pf_sample_label(p, s, "namespace");
        size_t nslen, len;
        uint64_t at = np;
        bool found;
        char *key;

        if (!pod)
            continue;
        if (!ns)
            ns = "";
        nslen = strlen(ns);
        len = nslen + 1 + strlen(pod);
        if (!(key = malloc(len + 1))) {
            rc = -ENOMEM;
            break;
        }
        memcpy(key, ns, nslen + 1);
        memcpy(key + nslen + 1, pod, strlen(pod) + 1);
        rc = htab_get_or_put(&index, key, len, &at, &found, NULL);
        free(key);
        if (!rc && !found) {
            if (np == cap) {
                struct pf_pod *g = realloc(pods, (cap = cap ? 2 * cap : 16) * sizeof(*g));

                if (!g) {
                    rc = -ENOMEM;
                    break;
                }
                pods = g;
            }
            pods[np++] = (struct pf_pod){ns, pod, NULL, NULL, 0};
        }
        if (rc)
            break;
        if (!pods || at >= np)
            continue; /* cannot be: the table holds positions in pods */
        if (!pods[at].uid)
            pods[at].uid = pf_sample_label(p, s, "pod_uid");
        if (!pods[at].workload)
            pods[at].workload = pf_sample_label(p, s, "workload");
        pods[at].samples += p->nsample_types ? (uint64_t)s->values[0] : 0;
    }
    htab_free(&index);
    if (rc) {
        free(pods);
        return rc;
    }
    *out = pods;
    *n = np;
    return 0;
}
