#include "formats/speedscope.h"

#include "formats/buf.h"
#include "formats/utf8.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Writes s as a JSON string. Invalid UTF-8 becomes U+FFFD so that the
 * document always parses. */
static void json_str(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);

    fputc('"', f);
    while (*p) {
        unsigned char c = *p;
        size_t n = utf8_seq_len(p, left);

        if (!n) {
            fputs("\\ufffd", f);
            p++;
            left--;
            continue;
        }
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fwrite(p, 1, n, f);
        p += n;
        left -= n;
    }
    fputc('"', f);
}

struct group {
    char *name;
    size_t *samples; /* indices into p->samples */
    size_t n, cap;
    int64_t total;
};

struct writer {
    const struct pf_profile *p;
    struct htab frames; /* (name, file, line) -> frame index */
    int64_t (*frame_keys)[3];
    size_t nframes, frames_cap;
    struct htab group_index;
    struct group *groups;
    size_t ngroups, groups_cap;
    uint64_t *stack;
    size_t stack_cap;
};

static int frame_index(struct writer *w, const struct pf_location *loc, const struct pf_line *ln,
                       uint64_t *out)
{
    const struct pf_function *fn = pf_profile_func(w->p, ln->function_id);
    const struct pf_mapping *m = pf_profile_mapping(w->p, loc->mapping_id);
    int64_t key[3] = {fn ? fn->name : 0,
                      fn && fn->filename ? fn->filename
                      : m                ? m->filename
                                         : 0,
                      ln->line};
    bool found;
    int err;

    *out = w->nframes;
    if ((err = htab_get_or_put(&w->frames, key, sizeof(key), out, &found, NULL)))
        return err;
    if (found)
        return 0;
    if (ARRAY_RESERVE_ONE(w->frame_keys, w->nframes, w->frames_cap))
        return -ENOMEM;
    memcpy(w->frame_keys[w->nframes++], key, sizeof(key));
    return 0;
}

static int group_of(struct writer *w, const struct pf_sample *s, enum pf_group_by g,
                    struct group **out)
{
    const char *comm = pf_sample_label(w->p, s, "comm");
    const char *pid = pf_sample_label(w->p, s, "pid");
    const char *tid = pf_sample_label(w->p, s, "tid");
    const char *ns = pf_sample_label(w->p, s, "namespace");
    const char *pod = pf_sample_label(w->p, s, "pod");
    const char *ctr = pf_sample_label(w->p, s, "container");
    char name[512];
    uint64_t idx = w->ngroups;
    bool found;
    int err;

    if (g == PF_GROUP_NONE || !comm)
        snprintf(name, sizeof(name), "all samples");
    else if ((g == PF_GROUP_POD || g == PF_GROUP_CONTAINER) && pod)
        snprintf(name, sizeof(name), "%s%s%s%s%s", ns ? ns : "", ns ? "/" : "", pod,
                 g == PF_GROUP_CONTAINER && ctr ? "/" : "",
                 g == PF_GROUP_CONTAINER && ctr ? ctr : "");
    else if (g == PF_GROUP_PROCESS || !pid)
        snprintf(name, sizeof(name), "%s", comm);
    else if (g == PF_GROUP_PID || !tid)
        snprintf(name, sizeof(name), "%s (pid %s)", comm, pid);
    else
        snprintf(name, sizeof(name), "%s (pid %s, tid %s)", comm, pid, tid);
    if ((err = htab_get_or_put(&w->group_index, name, strlen(name), &idx, &found, NULL)))
        return err;
    if (!found) {
        if (ARRAY_RESERVE_ONE(w->groups, w->ngroups, w->groups_cap))
            return -ENOMEM;
        memset(&w->groups[w->ngroups], 0, sizeof(*w->groups));
        w->groups[w->ngroups].name = strdup(name);
        if (!w->groups[w->ngroups].name)
            return -ENOMEM;
        w->ngroups++;
    }
    *out = &w->groups[idx];
    return 0;
}

/* The value to weigh samples by: CPU time when the profile has it. */
/* The value samples are weighed by, as pprof would show it: the type
 * asked for, else default_sample_type, else the last; with its unit when
 * speedscope knows it. -ENOENT: no such type. */
static int weight_index(const struct pf_profile *p, const char *name, size_t *vi, const char **unit)
{
    static const char *const units[] = {"nanoseconds", "microseconds", "milliseconds", "seconds",
                                        "bytes"};
    const char *u;

    *unit = "none";
    *vi = 0;
    if (!p->nsample_types)
        return 0;
    if (pf_profile_value_index(p, name, vi))
        return -ENOENT;
    if (!name && !*pf_profile_str(p, p->default_sample_type))
        *vi = p->nsample_types - 1; /* a CPU profile: its time, not its count */
    u = pf_profile_str(p, p->sample_types[*vi].unit);
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (!strcmp(u, units[i]))
            *unit = units[i];
    return 0;
}

static int write_group(struct writer *w, FILE *f, const struct group *g, size_t vi,
                       const char *unit)
{
    fputs("{\"type\":\"sampled\",\"name\":", f);
    json_str(f, g->name);
    fprintf(f, ",\"unit\":\"%s\",\"startValue\":0,\"endValue\":%" PRId64 ",\"samples\":[", unit,
            g->total);
    for (size_t i = 0; i < g->n; i++) {
        const struct pf_sample *s = &w->p->samples[g->samples[i]];
        size_t depth = 0;
        int err;

        /* root first: locations are leaf first, lines innermost first */
        for (size_t j = s->nlocations; j-- > 0;) {
            const struct pf_location *loc = pf_profile_location(w->p, s->location_ids[j]);

            for (size_t k = loc ? loc->nlines : 0; k-- > 0;) {
                if (ARRAY_RESERVE_ONE(w->stack, depth, w->stack_cap))
                    return -ENOMEM;
                if ((err = frame_index(w, loc, &loc->lines[k], &w->stack[depth])))
                    return err;
                depth++;
            }
        }
        fputs(i ? ",[" : "[", f);
        for (size_t d = 0; d < depth; d++)
            fprintf(f, d ? ",%" PRIu64 : "%" PRIu64, w->stack[d]);
        fputc(']', f);
    }
    fputs("],\"weights\":[", f);
    for (size_t i = 0; i < g->n; i++)
        fprintf(f, i ? ",%" PRId64 : "%" PRId64, w->p->samples[g->samples[i]].values[vi]);
    fputs("]}", f);
    return 0;
}

int speedscope_write(const struct pf_profile *p, FILE *f, const struct speedscope_opts *opts)
{
    struct speedscope_opts defaults = {0};
    struct writer w = {.p = p};
    const char *unit;
    size_t vi;
    int err = weight_index(p, opts ? opts->sample_type : NULL, &vi, &unit);

    if (err)
        return err;
    if (!opts)
        opts = &defaults;
    htab_init(&w.frames);
    htab_init(&w.group_index);
    for (size_t i = 0; i < p->nsamples && !err; i++) {
        const struct pf_sample *s = &p->samples[i];
        struct group *g;

        if (vi >= p->nsample_types || s->values[vi] <= 0)
            continue;
        err = group_of(&w, s, opts->group_by, &g);
        if (!err && ARRAY_RESERVE_ONE(g->samples, g->n, g->cap))
            err = -ENOMEM;
        if (!err) {
            g->samples[g->n++] = i;
            g->total += s->values[vi];
        }
    }
    if (!err) {
        /* profiles first into a temporary: frames are numbered as met */
        char *body = NULL;
        size_t blen = 0;
        FILE *b = open_memstream(&body, &blen);

        if (!b)
            err = -ENOMEM;
        for (size_t i = 0; !err && i < w.ngroups; i++) {
            if (i)
                fputc(',', b);
            err = write_group(&w, b, &w.groups[i], vi, unit);
        }
        if (b && fclose(b))
            err = err ? err : -ENOMEM;
        if (!err) {
            fputs("{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",", f);
            fputs("\"shared\":{\"frames\":[", f);
            for (size_t i = 0; i < w.nframes; i++) {
                fputs(i ? ",{\"name\":" : "{\"name\":", f);
                json_str(f, pf_profile_str(p, w.frame_keys[i][0]));
                if (w.frame_keys[i][1]) {
                    fputs(",\"file\":", f);
                    json_str(f, pf_profile_str(p, w.frame_keys[i][1]));
                }
                if (w.frame_keys[i][2] > 0)
                    fprintf(f, ",\"line\":%" PRId64, w.frame_keys[i][2]);
                fputc('}', f);
            }
            fputs("]},\"profiles\":[", f);
            fwrite(body, 1, blen, f);
            fputs("],\"name\":", f);
            json_str(f, opts->name ? opts->name : "podflame profile");
            fputs(",\"activeProfileIndex\":0,\"exporter\":", f);
            json_str(f, opts->exporter ? opts->exporter : "podflame");
            fputs("}\n", f);
        }
        free(body);
    }
    for (size_t i = 0; i < w.ngroups; i++) {
        free(w.groups[i].name);
        free(w.groups[i].samples);
    }
    free(w.groups);
    free(w.frame_keys);
    free(w.stack);
    htab_free(&w.frames);
    htab_free(&w.group_index);
    if (!err && (fflush(f) || ferror(f)))
        err = -EIO;
    return err;
}
