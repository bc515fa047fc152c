/*
 * podflame compact: rolls up closed hours of a bucket's windows, so that
 * queries over whole hours read a few objects (profiler/query/rollup.h).
 * One run serves the whole bucket: an hourly CronJob, not a DaemonSet.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/clock.h"
#include "profiler/cmd.h"
#include "profiler/opts.h"
#include "profiler/query/range.h"
#include "profiler/query/rollup.h"
#include "profiler/stop.h"

static int compact_main(struct settings *s)
{
    int64_t now = realtime_ns(), from, until = now, settle, first;
    unsigned done = 0, failed = 0, skipped = 0;
    struct bucket *b = NULL;
    char err[1024];

    if (s->noperands != 1) {
        fprintf(stderr, "podflame compact: give one URL: s3://BUCKET/PREFIX or file:///DIR\n");
        return 2;
    }
    if (range_duration(s->query.settle, &settle, err, sizeof(err)) ||
        (s->query.until && range_instant(s->query.until, now, &until, err, sizeof(err))) ||
        (s->query.from && range_instant(s->query.from, now, &from, err, sizeof(err)))) {
        fprintf(stderr, "podflame compact: %s\n", err);
        return 2;
    }
    if (s->query.since && s->query.from) {
        fprintf(stderr, "podflame compact: give --since or --from, not both\n");
        return 2;
    }
    if (!s->query.from) {
        int64_t since = RANGE_NS_PER_HOUR;

        if (s->query.since && range_duration(s->query.since, &since, err, sizeof(err))) {
            fprintf(stderr, "podflame compact: %s\n", err);
            return 2;
        }
        /* the last closed hour by default */
        from = until - settle - since;
    }
    s->bucket.url = s->operands[0];
    if (bucket_open(&s->bucket, &b, err, sizeof(err))) {
        fprintf(stderr, "podflame compact: %s\n", err);
        return 2;
    }
    cmd_catch_stop_signals();
    first = from - (from % RANGE_NS_PER_HOUR + RANGE_NS_PER_HOUR) % RANGE_NS_PER_HOUR;
    for (int64_t h = first; h + RANGE_NS_PER_HOUR <= until && !cmd_stop_signal;
         h += RANGE_NS_PER_HOUR) {
        struct rollup_report r;
        char hour[32];
        int rc;

        range_format(h, hour, sizeof(hour));
        if (h + RANGE_NS_PER_HOUR + settle > now) {
            fprintf(stderr, "podflame compact: %s: not settled yet (--settle)\n", hour);
            continue;
        }
        if (!s->query.force && rollup_exists(b, h)) {
            skipped++;
            continue;
        }
        rc = rollup_hour(b, h, s->query.concurrency, &cmd_stop_signal, &r, err, sizeof(err));
        for (size_t i = 0; rc == -EIO && i < r.read.nproblems; i++)
            fprintf(stderr, "podflame compact: %s: cannot read %s\n", hour, r.read.problems[i]);
        if (rc == -ENODATA) {
            fprintf(stderr, "podflame compact: %s: no windows\n", hour);
        } else if (rc) {
            fprintf(stderr, "podflame compact: %s: %s\n", hour, err);
            failed++;
        } else {
            fprintf(stderr,
                    "podflame compact: %s: %" PRIu64 " windows into %" PRIu64
                    " rollups (%.1f MB)\n",
                    hour, atomic_load(&r.read.stats.merged), r.groups, (double)r.bytes / 1e6);
            done++;
        }
        fleet_result_free(&r.read);
    }
    bucket_close(b);
    fprintf(stderr, "podflame compact: %u hours rolled up, %u already were, %u failed\n", done,
            skipped, failed);
    return failed || cmd_stop_signal ? 1 : 0;
}

int cmd_compact(int argc, char **argv)
{
    struct settings *s = calloc(1, sizeof(*s));
    char err[1024];
    int rc, ret;

    if (!s) {
        fprintf(stderr, "podflame compact: out of memory\n");
        return 1;
    }
    if ((rc = opts_parse(&opt_cmd_compact, argc, argv, s, err, sizeof(err))))
        ret = opts_exit(&opt_cmd_compact, rc, err);
    else
        ret = compact_main(s);
    opts_free(s);
    free(s);
    return ret;
}
