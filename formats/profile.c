#include "profile.h"

#include "buf.h"

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
