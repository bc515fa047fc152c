/*
 * podflame query: one profile of a service across nodes and time, read
 * straight from the bucket the agents write to (profiler/query/).
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/clock.h"
#include "formats/merge.h"
#include "profiler/cmd.h"
#include "profiler/io/output.h"
#include "profiler/opts.h"
#include "profiler/query/fleet.h"
#include "profiler/query/range.h"
#include "profiler/query/report.h"
#include "profiler/stop.h"

#define QUERY_DEFAULT_SINCE "1h"

/* The range the options ask for: --from/--until, else --since. */
static int query_range(const struct query_settings *q, int64_t now, int64_t *from, int64_t *until,
                       char *err, size_t errlen)
{
    int64_t since;

    if (q->since && q->from) {
        snprintf(err, errlen, "give --since or --from, not both");
        return -EINVAL;
    }
    *until = now;
    if (q->until && range_instant(q->until, now, until, err, errlen))
        return -EINVAL;
    if (q->from)
        return range_instant(q->from, now, from, err, errlen);
    if (range_duration(q->since ? q->since : QUERY_DEFAULT_SINCE, &since, err, errlen))
        return -EINVAL;
    *from = *until - since;
    return 0;
}

static void show_progress(const struct fleet_stats *st, void *ctx)
{
    (void)ctx;
    fprintf(stderr,
            "\r\033[Kquery: %" PRIu64 " windows listed, %" PRIu64 " skipped, %" PRIu64
            " fetched, %" PRIu64 " merged, %" PRIu64 " unreadable",
            atomic_load(&st->windows) + atomic_load(&st->rollup_objects), atomic_load(&st->skipped),
            atomic_load(&st->fetched), atomic_load(&st->merged), atomic_load(&st->unreadable));
}

/* One run of the selection over [from, until) into *m (a new merge). */
static int run_one(const struct settings *s, struct bucket *b, const struct query_select *sel,
                   int64_t from, int64_t until, bool index_only, struct pf_merge **m,
                   struct fleet_result *r)
{
    struct fleet_query q = {.bucket = b,
                            .sel = sel,
                            .from_ns = from,
                            .until_ns = until,
                            .concurrency = s->query.concurrency,
                            .no_rollups = s->query.no_rollups,
                            .index_only = index_only,
                            .stop = &cmd_stop_signal};
    bool tty = isatty(STDERR_FILENO);
    char err[1024], a[32], z[32];
    int rc;

    if (!index_only && pf_merge_new(m)) {
        fprintf(stderr, "podflame query: out of memory\n");
        return -ENOMEM;
    }
    rc = fleet_run(&q, index_only ? NULL : *m, r, tty ? show_progress : NULL, NULL, err,
                   sizeof(err));
    if (tty)
        fprintf(stderr, "\r\033[K");
    range_format(from, a, sizeof(a));
    range_format(until, z, sizeof(z));
    if (rc) {
        fprintf(stderr, "podflame query: %s\n", err);
        return rc;
    }
    if (r->stopped) {
        fprintf(stderr, "podflame query: interrupted; nothing written\n");
        return -EINTR;
    }
    for (size_t i = 0; i < r->nproblems; i++)
        fprintf(stderr, "podflame query: warning: cannot read %s\n", r->problems[i]);
    if (atomic_load(&r->stats.unreadable) > r->nproblems)
        fprintf(stderr, "podflame query: warning: %" PRIu64 " more unreadable\n",
                atomic_load(&r->stats.unreadable) - r->nproblems);
    fprintf(stderr,
            "podflame query: %s to %s: %" PRIu64 " listings (%" PRIu64 " keys), %" PRIu64
            " windows (%" PRIu64 " ruled out by their index lines), %" PRIu64 " rollups of %" PRIu64
            " hours; %" PRIu64 " objects read (%.1f MB), %" PRIu64 " unreadable\n",
            a, z, atomic_load(&r->stats.list_requests), atomic_load(&r->stats.objects_listed),
            atomic_load(&r->stats.windows), atomic_load(&r->stats.skipped),
            atomic_load(&r->stats.rollup_objects), atomic_load(&r->stats.rollup_hours),
            atomic_load(&r->stats.fetched), (double)atomic_load(&r->stats.bytes) / 1e6,
            atomic_load(&r->stats.unreadable));
    if (!index_only && !atomic_load(&r->stats.merged)) {
        fprintf(stderr, "podflame query: %s\n",
                atomic_load(&r->stats.fetched) || atomic_load(&r->stats.unreadable)
                    ? "nothing could be read"
                    : "no window matched: check the range (--since, --from), the URL and the "
                      "selectors (--list shows what is there)");
        return -ENODATA;
    }
    return 0;
}

/* by node, then time: a listing comes in whatever order the requests ended */
static int by_node_time(const void *a, const void *b)
{
    const struct fleet_item *x = a, *y = b;
    int c = strcmp(x->node ? x->node : "", y->node ? y->node : "");

    return c                            ? c
           : x->start_ns != y->start_ns ? (x->start_ns < y->start_ns ? -1 : 1)
                                        : strcmp(x->key, y->key);
}

static void print_list(struct fleet_result *r)
{
    if (r->nitems)
        qsort(r->items, r->nitems, sizeof(*r->items), by_node_time);
    printf("%-20s %-16s %10s %-7s %-60s %s\n", "START", "NODE", "SAMPLES", "MATCHED", "KEY",
           "PODS");
    for (size_t i = 0; i < r->nitems; i++) {
        const struct fleet_item *it = &r->items[i];
        char t[32];

        range_format(it->start_ns, t, sizeof(t));
        printf("%-20s %-16s %10" PRIu64 " %-7s %-60s %s\n", t, it->node ? it->node : "(rollup)",
               it->samples, it->skipped ? "no" : "yes", it->key,
               it->pods      ? it->pods
               : it->indexed ? "-"
                             : "(no index line)");
    }
}

static uint64_t total_of(const struct pf_profile *p, size_t vi)
{
    uint64_t t = 0;

    for (size_t i = 0; i < p->nsamples; i++)
        t += vi < p->nsample_types ? (uint64_t)p->samples[i].values[vi] : 0;
    return t;
}

/* Writes what was asked of the merged profile(s). Returns the exit status. */
static int query_output(const struct settings *s, struct pf_profile *p, struct pf_profile *base,
                        const char *subtitle)
{
    struct output_opts oo = {.group_by = s->group_by};
    const char *out = s->output ? s->output : s->query.top ? NULL : "query.svg";
    size_t vi = 0, vb = 0;
    char err[1024];

    pf_profile_value_index(p, NULL, &vi);
    if (base)
        pf_profile_value_index(base, NULL, &vb);
    if (out && base) {
        if (report_diff(out, base, vb, p, vi, s->group_by, subtitle, err, sizeof(err))) {
            fprintf(stderr, "podflame query: %s\n", err);
            return 1;
        }
    } else if (out) {
        oo.format = output_format_for(out, s->format, err, sizeof(err));
        if (oo.format == PF_FORMAT_UNKNOWN || output_write(out, p, &oo, err, sizeof(err))) {
            fprintf(stderr, "podflame query: %s\n", err);
            return 1;
        }
    }
    if (s->query.top && (base ? report_growth(stdout, base, vb, p, vi, s->query.top)
                              : report_top(stdout, p, vi, s->query.top))) {
        fprintf(stderr, "podflame query: cannot print the table\n");
        return 1;
    }
    fprintf(stderr, "podflame query: %" PRIu64 " samples%s", total_of(p, vi),
            out ? "; wrote " : "");
    if (out)
        fprintf(stderr, "%s", out);
    if (base)
        fprintf(stderr, " (baseline: %" PRIu64 " samples)", total_of(base, vb));
    fputc('\n', stderr);
    return 0;
}

static int query_main(struct settings *s)
{
    struct query_select sel = {s->query.nodes,       s->query.nnodes,      s->query.namespaces,
                               s->query.nnamespaces, s->query.pods,        s->query.npods,
                               s->query.containers,  s->query.ncontainers, s->query.workloads,
                               s->query.nworkloads,  s->query.labels,      s->query.nlabels};
    struct fleet_result r = {0}, rb = {0};
    struct pf_merge *m = NULL, *mb = NULL;
    struct bucket *b = NULL;
    int64_t now = realtime_ns(), from, until, bfrom = 0, buntil = 0;
    char err[1024], sub[160] = "", a[32], z[32];
    int ret = 1;

    if (s->noperands != 1) {
        fprintf(stderr, "podflame query: give one URL: s3://BUCKET/PREFIX or file:///DIR (try "
                        "--help)\n");
        return 2;
    }
    if (query_range(&s->query, now, &from, &until, err, sizeof(err)) ||
        (s->query.baseline &&
         range_span(s->query.baseline, now, &bfrom, &buntil, err, sizeof(err)))) {
        fprintf(stderr, "podflame query: %s\n", err);
        return 2;
    }
    if (from >= until) {
        fprintf(stderr, "podflame query: the range ends before it starts\n");
        return 2;
    }
    if (s->output &&
        output_format_for(s->output, s->format, err, sizeof(err)) == PF_FORMAT_UNKNOWN) {
        fprintf(stderr, "podflame query: %s\n", err);
        return 2;
    }
    s->bucket.url = s->operands[0];
    if (bucket_open(&s->bucket, &b, err, sizeof(err))) {
        fprintf(stderr, "podflame query: %s\n", err);
        return 2;
    }
    cmd_catch_stop_signals();
    if (s->query.list) {
        if (!run_one(s, b, &sel, from, until, true, NULL, &r) || r.nitems) {
            print_list(&r);
            ret = r.nitems ? 0 : 1;
        }
        goto out;
    }
    if (run_one(s, b, &sel, from, until, false, &m, &r))
        goto out;
    if (s->query.baseline) {
        fprintf(stderr, "podflame query: the baseline:\n");
        if (run_one(s, b, &sel, bfrom, buntil, false, &mb, &rb))
            goto out;
        range_format(bfrom, a, sizeof(a));
        range_format(buntil, z, sizeof(z));
        snprintf(sub, sizeof(sub), "against %s to %s, scaled to the same total", a, z);
    }
    ret = query_output(s, pf_merge_profile(m), mb ? pf_merge_profile(mb) : NULL, sub);
out:
    pf_merge_free(m);
    pf_merge_free(mb);
    fleet_result_free(&r);
    fleet_result_free(&rb);
    bucket_close(b);
    return ret;
}

int cmd_query(int argc, char **argv)
{
    struct settings *s = calloc(1, sizeof(*s));
    char err[1024];
    int rc, ret;

    if (!s) {
        fprintf(stderr, "podflame query: out of memory\n");
        return 1;
    }
    /* a merge makes millions of small blocks and frees the decoded windows:
     * grow the heaps in large steps and keep what was freed for the next
     * window, rather than a brk or mprotect every few pages */
    mallopt(M_TOP_PAD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    if ((rc = opts_parse(&opt_cmd_query, argc, argv, s, err, sizeof(err))))
        ret = opts_exit(&opt_cmd_query, rc, err);
    else
        ret = query_main(s);
    opts_free(s);
    free(s);
    return ret;
}
