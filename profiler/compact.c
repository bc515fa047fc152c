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

/* The range the options ask for: --from/--until, else the --since before
 * the last settled hour. Returns 0 or -EINVAL with err set. */
static int compact_range(const struct query_settings *q, int64_t now, int64_t *from, int64_t *until,
                         int64_t *settle, char *err, size_t errlen)
{
    int64_t since = RANGE_NS_PER_HOUR;

    *until = now;
    if (q->since && q->from) {
        snprintf(err, errlen, "give --since or --from, not both");
        return -EINVAL;
    }
    if (range_duration(q->settle, settle, err, errlen) ||
        (q->until && range_instant(q->until, now, until, err, errlen)) ||
        (q->from && range_instant(q->from, now, from, err, errlen)) ||
        (q->since && range_duration(q->since, &since, err, errlen)))
        return -EINVAL;
    if (!q->from)
        *from = *until - *settle - since; /* by default the last closed hour */
    return 0;
}

/* Rolls up one hour; says how it went. Returns 1 done, 0 nothing to do, -1 failed. */
static int compact_hour(const struct settings *s, struct bucket *b, int64_t h)
{
    struct rollup_report r;
    char hour[32], err[1024];
    int rc = rollup_hour(b, h, s->query.concurrency, &cmd_stop_signal, &r, err, sizeof(err));

    range_format(h, hour, sizeof(hour));
    for (size_t i = 0; rc == -EIO && i < r.read.nproblems; i++)
        fprintf(stderr, "podflame compact: %s: cannot read %s\n", hour, r.read.problems[i]);
    if (rc == -ENODATA)
        fprintf(stderr, "podflame compact: %s: no windows\n", hour);
    else if (rc)
        fprintf(stderr, "podflame compact: %s: %s\n", hour, err);
    else
        fprintf(stderr,
                "podflame compact: %s: %" PRIu64 " windows into %" PRIu64 " rollups (%.1f MB)\n",
                hour, atomic_load(&r.read.stats.merged), r.groups, (double)r.bytes / 1e6);
    fleet_result_free(&r.read);
    return rc == -ENODATA ? 0 : rc ? -1 : 1;
}

static int compact_main(struct settings *s)
{
    int64_t now = realtime_ns(), from = 0, until, settle, first;
    unsigned done = 0, failed = 0, skipped = 0;
    struct bucket *b = NULL;
    char err[1024];

    if (s->noperands != 1) {
        fprintf(stderr, "podflame compact: give one URL: s3://BUCKET/PREFIX or file:///DIR\n");
        return 2;
    }
    if (compact_range(&s->query, now, &from, &until, &settle, err, sizeof(err))) {
        fprintf(stderr, "podflame compact: %s\n", err);
        return 2;
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
        char hour[32];
        int rc;

        range_format(h, hour, sizeof(hour));
        if (h + RANGE_NS_PER_HOUR + settle > now) {
            fprintf(stderr, "podflame compact: %s: not settled yet (--settle)\n", hour);
        } else if (!s->query.force && rollup_exists(b, h)) {
            skipped++;
        } else if ((rc = compact_hour(s, b, h)) != 0) {
            done += rc > 0;
            failed += rc < 0;
        }
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
