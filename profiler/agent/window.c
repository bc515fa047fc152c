#include "profiler/agent/window.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "formats/buf.h"
#include "formats/pprof.h"
#include "profiler/io/bucket.h"
#include "profiler/io/index.h"

static void utc_stamp(int64_t ns, char *out, size_t len)
{
    time_t t = (time_t)(ns / 1000000000LL);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, len, "%Y%m%dT%H%M%SZ", &tm);
}

static void rfc3339(int64_t ns, char *out, size_t len)
{
    time_t t = (time_t)(ns / 1000000000LL);
    struct tm tm;
    char base[32];

    gmtime_r(&t, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%s.%03dZ", base, (int)(ns / 1000000 % 1000));
}

void window_begin(struct window *w, const char *node, int64_t start_ns, unsigned interval)
{
    int64_t step = (int64_t)interval * 1000000000LL;
    time_t t = (time_t)(start_ns / 1000000000LL);
    char safe[256];
    struct tm tm;

    memset(w, 0, sizeof(*w));
    w->start_ns = start_ns;
    /* aligned to the clock, so that every node's windows line up */
    w->end_ns = (start_ns / step + 1) * step;
    gmtime_r(&t, &tm);
    bucket_key_part(node, safe, sizeof(safe));
    snprintf(w->dir, sizeof(w->dir), "%s/%04d/%02d/%02d/%02d", safe, tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);
}

void window_end(struct window *w, int64_t end_ns)
{
    size_t n;

    w->end_ns = end_ns;
    utc_stamp(w->start_ns, w->stem, sizeof(w->stem));
    n = strlen(w->stem);
    w->stem[n++] = '-';
    utc_stamp(w->end_ns, w->stem + n, sizeof(w->stem) - n);
}

uint64_t window_samples(const struct pf_profile *p)
{
    uint64_t n = 0;

    for (size_t i = 0; i < p->nsamples; i++)
        n += (uint64_t)p->samples[i].values[0];
    return n;
}

static json_t *labels_json(const char *const *labels, size_t nlabels)
{
    json_t *jl = json_object();

    for (size_t i = 0; jl && i < nlabels; i++) {
        const char *eq = strchr(labels[i], '=');
        char k[256];

        if (!eq)
            continue;
        snprintf(k, sizeof(k), "%.*s", (int)(eq - labels[i]), labels[i]);
        if (json_object_set_new(jl, k, json_string(eq + 1))) {
            json_decref(jl);
            jl = NULL;
        }
    }
    return jl;
}

int window_index_line(const struct window *w, const char *node, const char *key,
                      const struct pf_profile *p, size_t bytes, const char *const *labels,
                      size_t nlabels, const char *pod_ns, const char *pod, char **out)
{
    char start[40], end[40];
    json_t *idx = json_object(), *jp = index_pods(p), *jl = labels_json(labels, nlabels);
    int rc = -ENOMEM;

    rfc3339(w->start_ns, start, sizeof(start));
    rfc3339(w->end_ns, end, sizeof(end));
    if (idx && jp && jl) {
        json_object_set_new(idx, "node", json_string(node));
        json_object_set_new(idx, "key", json_string(key));
        json_object_set_new(idx, "start", json_string(start));
        json_object_set_new(idx, "end", json_string(end));
        json_object_set_new(idx, "duration_s", json_real((w->end_ns - w->start_ns) / 1e9));
        json_object_set_new(idx, "samples", json_integer((json_int_t)window_samples(p)));
        json_object_set_new(idx, "lost", json_integer((json_int_t)w->lost));
        json_object_set_new(idx, "bytes", json_integer((json_int_t)bytes));
        if (pod) {
            json_object_set_new(idx, "namespace", json_string(pod_ns));
            json_object_set_new(idx, "pod", json_string(pod));
        }
        json_object_set(idx, "pods", jp);
        json_object_set(idx, "labels", jl);
        if ((*out = json_dumps(idx, JSON_COMPACT)))
            rc = 0;
    }
    json_decref(idx);
    json_decref(jp);
    json_decref(jl);
    return rc;
}
