#include "profiler/watch/watcher.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "profiler/watch/tick_reader.h"

struct watcher {
    struct tick_reader *reader;
    struct rules *rules;
};

int watcher_open(const struct watch_rules *rules, struct watcher **out, char *err, size_t errlen)
{
    struct watcher *w = calloc(1, sizeof(*w));
    int rc;

    if (!w) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if ((rc = tick_reader_open(&w->reader, err, errlen)) ||
        (rc = rules_new(rules, &w->rules, err, errlen))) {
        watcher_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void watcher_free(struct watcher *w)
{
    if (!w)
        return;
    tick_reader_close(w->reader);
    rules_free(w->rules);
    free(w);
}

int watcher_update(struct watcher *w, struct trigger_event *ev, bool *fired, char *err,
                   size_t errlen)
{
    struct watch_tick t;
    int rc;

    *fired = false;
    if ((rc = tick_reader_read(w->reader, &t, err, errlen)))
        return rc;
    return rules_feed(w->rules, &t, ev, fired, err, errlen);
}

size_t watcher_top(const struct watcher *w, struct pod_cpu *out, size_t n)
{
    return rules_top(w->rules, out, n);
}

size_t watcher_node_history(const struct watcher *w, double *pct, size_t n, int64_t *newest_ns)
{
    return rules_node_history(w->rules, pct, n, newest_ns);
}

size_t watcher_pod_history(const struct watcher *w, const char *uid, double *pct, size_t n)
{
    return rules_pod_history(w->rules, uid, pct, n);
}

unsigned watcher_ncpus(const struct watcher *w)
{
    return rules_ncpus(w->rules);
}
