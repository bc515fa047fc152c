#include "profiler/query/rollup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "formats/merge.h"
#include "formats/pprof.h"
#include "profiler/io/index.h"
#include "profiler/query/range.h"

#define NO_GROUP "_"

bool rollup_exists(struct bucket *b, int64_t hour_ns)
{
    char dir[64], key[128], err[256], *data = NULL;
    size_t len = 0;
    int rc;

    fleet_rollup_dir(hour_ns, dir, sizeof(dir));
    snprintf(key, sizeof(key), "%s_manifest.json", dir);
    rc = bucket_get(b, key, 1 << 20, &data, &len, err, sizeof(err));
    free(data);
    return !rc || rc == -EFBIG;
}

struct group {
    const char *ns, *workload; /* the profile's strings, or NO_GROUP */
};

static const char *label_or(const struct pf_profile *p, const struct pf_sample *s, const char *k)
{
    const char *v = pf_sample_label(p, s, k);

    return v && *v ? v : NO_GROUP;
}

static bool in_group(void *ctx, const struct pf_profile *p, const struct pf_sample *s)
{
    const struct group *g = ctx;

    return !strcmp(label_or(p, s, "namespace"), g->ns) &&
           !strcmp(label_or(p, s, "workload"), g->workload);
}

/* The distinct (namespace, workload) pairs of p. */
static int groups_of(const struct pf_profile *p, struct group **out, size_t *n)
{
    struct htab seen;
    struct group *g = NULL;
    size_t cap = 0;
    int rc = 0;

    *n = 0;
    htab_init(&seen);
    for (size_t i = 0; !rc && i < p->nsamples; i++) {
        struct group one = {label_or(p, &p->samples[i], "namespace"),
                            label_or(p, &p->samples[i], "workload")};
        char key[1024];
        int len = snprintf(key, sizeof(key), "%s%c%s", one.ns, 0, one.workload);
        uint64_t at = *n;
        bool found;

        if ((rc = htab_get_or_put(&seen, key, (size_t)len, &at, &found, NULL)) || found)
            continue;
        if (*n == cap) {
            struct group *gg = realloc(g, (cap = cap ? 2 * cap : 32) * sizeof(*gg));

            if (!gg) {
                rc = -ENOMEM;
                break;
            }
            g = gg;
        }
        g[(*n)++] = one;
    }
    htab_free(&seen);
    if (rc) {
        free(g);
        return rc;
    }
    *out = g;
    return 0;
}

/* The group's index line: its key, samples, Pods and nodes. */
static json_t *group_index(const struct pf_profile *p, const struct group *g, const char *key,
                           int64_t hour_ns, size_t bytes)
{
    json_t *o = json_object(), *pods = index_pods(p), *nodes = json_array();
    struct htab seen;
    uint64_t samples = 0;
    char hour[32];

    range_format(hour_ns, hour, sizeof(hour));
    htab_init(&seen);
    for (size_t i = 0; i < p->nsamples; i++) {
        const char *node = pf_sample_label(p, &p->samples[i], "node");
        bool found;
        uint64_t v = 0;

        samples += p->nsample_types ? (uint64_t)p->samples[i].values[0] : 0;
        if (node && !htab_get_or_put(&seen, node, strlen(node), &v, &found, NULL) && !found)
            json_array_append_new(nodes, json_string(node));
    }
    htab_free(&seen);
    json_object_set_new(o, "hour", json_string(hour));
    json_object_set_new(o, "namespace", json_string(g->ns));
    json_object_set_new(o, "workload", json_string(g->workload));
    json_object_set_new(o, "key", json_string(key));
    json_object_set_new(o, "samples", json_integer((json_int_t)samples));
    json_object_set_new(o, "bytes", json_integer((json_int_t)bytes));
    json_object_set_new(o, "pods", pods);
    json_object_set_new(o, "nodes", nodes);
    return o;
}

static int put_json(struct bucket *b, const char *key, json_t *j, char *err, size_t errlen)
{
    char *text = json_dumps(j, JSON_COMPACT);
    int rc;

    if (!text) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    rc = bucket_put(b, key, text, strlen(text), "application/json", err, errlen);
    free(text);
    return rc;
}

/* Writes one group's profile and index line; appends the line to groups. */
static int write_group(struct bucket *b, const struct pf_profile *all, const struct group *g,
                       const char *dir, int64_t hour_ns, json_t *groups, uint64_t *bytes, char *err,
                       size_t errlen)
{
    struct pf_profile *p = NULL;
    char ns[256], wl[256], key[1024], ikey[1024], *buf = NULL;
    size_t len = 0;
    json_t *index = NULL;
    int rc;

    bucket_key_part(g->ns, ns, sizeof(ns));
    bucket_key_part(g->workload, wl, sizeof(wl));
    snprintf(key, sizeof(key), "%s%s/%s.pb.gz", dir, ns, wl);
    snprintf(ikey, sizeof(ikey), "%s%s/%s.json", dir, ns, wl);
    if ((rc = pf_profile_new(&p)) || (rc = pf_profile_subset(all, in_group, (void *)g, p)) ||
        (rc = pprof_write_buffer(p, &buf, &len))) {
        snprintf(err, errlen, "%s: %s", key, strerror(-rc));
        goto out;
    }
    if ((rc = bucket_put(b, key, buf, len, "application/octet-stream", err, errlen)))
        goto out;
    *bytes += len;
    if (!(index = group_index(p, g, key, hour_ns, len))) {
        rc = -ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (!(rc = put_json(b, ikey, index, err, errlen)))
        json_array_append(groups, index);
out:
    json_decref(index);
    free(buf);
    pf_profile_free(p);
    return rc;
}

/* Writes the hour's groups, then its manifest (last: an hour is rolled up
 * when its manifest exists). */
static int write_rollup(struct bucket *b, const struct pf_profile *all, int64_t hour_ns,
                        struct rollup_report *r, char *err, size_t errlen)
{
    struct group *groups = NULL;
    size_t ngroups = 0;
    json_t *manifest = json_object(), *jg = json_array();
    char dir[64], key[128], hour[32];
    int rc = groups_of(all, &groups, &ngroups);

    if (rc || !manifest || !jg) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
    }
    fleet_rollup_dir(hour_ns, dir, sizeof(dir));
    for (size_t i = 0; !rc && i < ngroups; i++)
        rc = write_group(b, all, &groups[i], dir, hour_ns, jg, &r->bytes, err, errlen);
    if (!rc) {
        r->groups = ngroups;
        range_format(hour_ns, hour, sizeof(hour));
        json_object_set_new(manifest, "hour", json_string(hour));
        json_object_set_new(manifest, "windows",
                            json_integer((json_int_t)atomic_load(&r->read.stats.merged)));
        json_object_set(manifest, "groups", jg);
        snprintf(key, sizeof(key), "%s_manifest.json", dir);
        rc = put_json(b, key, manifest, err, errlen);
    }
    json_decref(manifest);
    json_decref(jg);
    free(groups);
    return rc;
}

int rollup_hour(struct bucket *b, int64_t hour_ns, unsigned concurrency,
                const volatile sig_atomic_t *stop, struct rollup_report *r, char *err,
                size_t errlen)
{
    static const struct query_select everything;
    struct fleet_query q = {.bucket = b,
                            .sel = &everything,
                            .from_ns = hour_ns,
                            .until_ns = hour_ns + RANGE_NS_PER_HOUR,
                            .concurrency = concurrency,
                            .no_rollups = true,
                            .stop = stop};
    struct pf_merge *m = NULL;
    int rc;

    memset(r, 0, sizeof(*r));
    if (pf_merge_new(&m)) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    rc = fleet_run(&q, m, &r->read, NULL, NULL, err, errlen);
    if (!rc && r->read.stopped) {
        snprintf(err, errlen, "interrupted");
        rc = -EINTR;
    } else if (!rc && atomic_load(&r->read.stats.unreadable)) {
        snprintf(err, errlen, "%llu windows could not be read; the hour is not rolled up",
                 (unsigned long long)atomic_load(&r->read.stats.unreadable));
        rc = -EIO;
    } else if (!rc && !atomic_load(&r->read.stats.merged)) {
        snprintf(err, errlen, "no windows");
        rc = -ENODATA;
    } else if (!rc) {
        rc = write_rollup(b, pf_merge_profile(m), hour_ns, r, err, errlen);
    }
    pf_merge_free(m);
    return rc;
}
