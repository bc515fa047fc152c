#include "profiler/watch/triggers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/buf.h"
#include "formats/clock.h"
#include "profiler/kube/cgroups.h"
#include "profiler/watch/cpustat.h"
#include "profiler/kube/kube.h"

/* An incident closes after its rule has not held for this long. */
#define CLOSE_AFTER_NS (5 * 1000000000LL)
/* A Pod whose cgroup is gone is forgotten after this long. */
#define FORGET_POD_NS (60 * 1000000000LL)

/* One rule on one subject. */
struct incident {
    int64_t holds_since; /* mono; 0: the rule does not hold */
    int64_t held_real;   /* realtime when it began to hold */
    int64_t false_since; /* mono; while open: when it stopped holding */
    int64_t fired_at;    /* mono; 0: never */
    bool open;
};

struct pod_state {
    struct pod_cpu now;
    struct cgroup_cpu last;
    int64_t last_ns, seen_ns;
    bool has_last;
    float hist[WATCH_HISTORY]; /* CPU % of one CPU, ring */
    unsigned nhist, head;
    struct incident inc[TRIGGER__MAX];
};

struct watcher {
    struct watch_rules r;
    struct cgroups *cg;
    struct node_cpu *last_node, *node;
    bool has_node;
    float node_hist[WATCH_HISTORY];
    unsigned nnode, node_head;
    int64_t node_newest;
    struct incident node_inc[TRIGGER__MAX];
    struct pod_state *pods;
    size_t npods, cap;
    int64_t tick_ns;
};

const char *trigger_rule_name(enum trigger_rule r)
{
    static const char *names[TRIGGER__MAX] = {"node-cpu", "pod-limit", "throttle", "cpu-pressure",
                                              "external"};

    return r < TRIGGER__MAX ? names[r] : "?";
}

int watcher_new(const struct watch_rules *rules, struct watcher **out)
{
    struct watcher *w = calloc(1, sizeof(*w));
    int rc;

    if (!w)
        return -ENOMEM;
    w->r = *rules;
    w->last_node = calloc(1, sizeof(*w->last_node));
    w->node = calloc(1, sizeof(*w->node));
    if (!w->last_node || !w->node) {
        watcher_free(w);
        return -ENOMEM;
    }
    if ((rc = cgroups_open(&w->cg))) {
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
    cgroups_close(w->cg);
    free(w->last_node);
    free(w->node);
    free(w->pods);
    free(w);
}

static struct pod_state *find_pod(struct watcher *w, const char *uid)
{
    for (size_t i = 0; i < w->npods; i++) {
        if (!strcmp(w->pods[i].now.uid, uid))
            return &w->pods[i];
    }
    return NULL;
}

static void push(float *ring, unsigned *n, unsigned *head, double v)
{
    ring[*head] = (float)v;
    *head = (*head + 1) % WATCH_HISTORY;
    if (*n < WATCH_HISTORY)
        (*n)++;
}

static size_t copy_ring(const float *ring, unsigned n, unsigned head, double *out, size_t want)
{
    size_t k = want < n ? want : n;

    for (size_t i = 0; i < k; i++)
        out[i] = ring[(head + WATCH_HISTORY - k + i) % WATCH_HISTORY];
    return k;
}

/* Reads one Pod cgroup found by the walk. */
static int visit(void *ctx, uint64_t id, const char *path)
{
    struct watcher *w = ctx;
    struct cgroup_identity ident;
    struct cgroup_cpu c;
    struct pod_state *p;
    char dir[1024];

    kube_parse_cgroup(path, &ident);
    if (!ident.is_pod || ident.container_id[0] || ident.conmon)
        return 0; /* the Pod's own cgroup holds all its containers */
    snprintf(dir, sizeof(dir), "%s/%s", cgroups_mount(w->cg), path);
    if (cpustat_read_cgroup(dir, path, &c))
        return 0; /* gone meanwhile */
    if (!(p = find_pod(w, ident.pod_uid))) {
        if (ARRAY_RESERVE_ONE(w->pods, w->npods, w->cap))
            return -ENOMEM;
        p = &w->pods[w->npods++];
        memset(p, 0, sizeof(*p));
        snprintf(p->now.uid, sizeof(p->now.uid), "%s", ident.pod_uid);
    }
    snprintf(p->now.path, sizeof(p->now.path), "%s", path);
    p->now.cgroup_id = id;
    p->now.limit_cpus = c.limit_cpus;
    p->now.psi = c.psi_some_avg10;
    p->now.cpu_pct = p->now.throttled_pct = 0;
    if (p->has_last && w->tick_ns > p->last_ns) {
        double dt_us = (double)(w->tick_ns - p->last_ns) / 1000.0;
        uint64_t periods = c.nr_periods - p->last.nr_periods;

        if (c.usage_usec >= p->last.usage_usec)
            p->now.cpu_pct = 100.0 * (double)(c.usage_usec - p->last.usage_usec) / dt_us;
        if (c.nr_periods > p->last.nr_periods && c.nr_throttled >= p->last.nr_throttled)
            p->now.throttled_pct =
                100.0 * (double)(c.nr_throttled - p->last.nr_throttled) / (double)periods;
        push(p->hist, &p->nhist, &p->head, p->now.cpu_pct);
    }
    p->last = c;
    p->last_ns = w->tick_ns;
    p->seen_ns = w->tick_ns;
    p->has_last = true;
    return 0;
}

/* Advances one rule on one subject; true when its incident opens now. */
static bool step(struct watcher *w, struct incident *inc, bool holds)
{
    int64_t now = w->tick_ns, sustain = (int64_t)w->r.sustain * 1000000000LL;
    int64_t cooldown = (int64_t)w->r.cooldown * 1000000000LL;

    if (!holds) {
        inc->holds_since = 0;
        if (inc->open) {
            if (!inc->false_since)
                inc->false_since = now;
            if (now - inc->false_since >= CLOSE_AFTER_NS)
                inc->open = false;
        }
        return false;
    }
    inc->false_since = 0;
    if (!inc->holds_since) {
        inc->holds_since = now;
        inc->held_real = realtime_ns();
    }
    if (inc->open || now - inc->holds_since < sustain)
        return false;
    if (inc->fired_at && now - inc->fired_at < cooldown)
        return false;
    inc->open = true;
    inc->fired_at = now;
    return true;
}

static void fill(struct trigger_event *ev, enum trigger_rule rule, const char *uid, double value,
                 double threshold, const struct incident *inc)
{
    memset(ev, 0, sizeof(*ev));
    ev->rule = rule;
    if (uid)
        snprintf(ev->pod_uid, sizeof(ev->pod_uid), "%s", uid);
    ev->value = value;
    ev->threshold = threshold;
    ev->since_ns = inc->held_real;
    ev->at_ns = realtime_ns();
}

int watcher_tick(struct watcher *w, struct trigger_event *ev, bool *fired)
{
    double psi, node_pct = 0;
    struct node_cpu *t;
    int rc;

    *fired = false;
    w->tick_ns = mono_ns();
    if ((rc = cpustat_read_node(w->node, &psi)))
        return rc;
    if (w->has_node && w->node->total > w->last_node->total)
        node_pct = 100.0 * (double)(w->node->busy - w->last_node->busy) /
                   (double)(w->node->total - w->last_node->total);
    if (w->has_node) {
        push(w->node_hist, &w->nnode, &w->node_head, node_pct);
        w->node_newest = realtime_ns();
    }
    t = w->last_node;
    w->last_node = w->node;
    w->node = t;
    if ((rc = cgroups_walk(w->cg, visit, w)))
        return rc;
    /* Pods whose cgroup is gone */
    for (size_t i = 0; i < w->npods;) {
        if (w->tick_ns - w->pods[i].seen_ns > FORGET_POD_NS)
            w->pods[i] = w->pods[--w->npods];
        else
            i++;
    }
    if (!w->has_node) {
        w->has_node = true;
        return 0;
    }
    /* every rule advances every tick, so that incidents close on time */
    if (step(w, &w->node_inc[TRIGGER_NODE_CPU], w->r.node_cpu > 0 && node_pct >= w->r.node_cpu) &&
        !*fired) {
        fill(ev, TRIGGER_NODE_CPU, NULL, node_pct, w->r.node_cpu, &w->node_inc[TRIGGER_NODE_CPU]);
        *fired = true;
    }
    if (step(w, &w->node_inc[TRIGGER_PSI], w->r.psi > 0 && psi >= w->r.psi) && !*fired) {
        fill(ev, TRIGGER_PSI, NULL, psi, w->r.psi, &w->node_inc[TRIGGER_PSI]);
        *fired = true;
    }
    for (size_t i = 0; i < w->npods; i++) {
        struct pod_state *p = &w->pods[i];
        bool fresh = p->seen_ns == w->tick_ns;
        double of_limit = p->now.limit_cpus > 0 ? p->now.cpu_pct / p->now.limit_cpus : 0;

        if (step(w, &p->inc[TRIGGER_POD_LIMIT],
                 fresh && w->r.pod_limit > 0 && p->now.limit_cpus > 0 &&
                     of_limit >= w->r.pod_limit) &&
            !*fired) {
            fill(ev, TRIGGER_POD_LIMIT, p->now.uid, of_limit, w->r.pod_limit,
                 &p->inc[TRIGGER_POD_LIMIT]);
            *fired = true;
        }
        if (step(w, &p->inc[TRIGGER_THROTTLE],
                 fresh && w->r.throttle > 0 && p->now.throttled_pct >= w->r.throttle) &&
            !*fired) {
            fill(ev, TRIGGER_THROTTLE, p->now.uid, p->now.throttled_pct, w->r.throttle,
                 &p->inc[TRIGGER_THROTTLE]);
            *fired = true;
        }
    }
    return 0;
}

static int by_cpu(const void *a, const void *b)
{
    const struct pod_cpu *x = a, *y = b;

    return x->cpu_pct < y->cpu_pct ? 1 : x->cpu_pct > y->cpu_pct ? -1 : strcmp(x->uid, y->uid);
}

size_t watcher_top(const struct watcher *w, struct pod_cpu *out, size_t n)
{
    struct pod_cpu *all = malloc((w->npods ? w->npods : 1) * sizeof(*all));
    size_t k = 0;

    if (!all)
        return 0;
    for (size_t i = 0; i < w->npods; i++) {
        if (w->pods[i].seen_ns == w->tick_ns)
            all[k++] = w->pods[i].now;
    }
    if (k > 1)
        qsort(all, k, sizeof(*all), by_cpu);
    if (k > n)
        k = n;
    memcpy(out, all, k * sizeof(*out));
    free(all);
    return k;
}

size_t watcher_node_history(const struct watcher *w, double *pct, size_t n, int64_t *newest_ns)
{
    *newest_ns = w->node_newest;
    return copy_ring(w->node_hist, w->nnode, w->node_head, pct, n);
}

size_t watcher_pod_history(const struct watcher *w, const char *uid, double *pct, size_t n)
{
    for (size_t i = 0; i < w->npods; i++) {
        if (!strcmp(w->pods[i].now.uid, uid))
            return copy_ring(w->pods[i].hist, w->pods[i].nhist, w->pods[i].head, pct, n);
    }
    return 0;
}

unsigned watcher_ncpus(const struct watcher *w)
{
    return w->last_node->ncpus ? w->last_node->ncpus : 1;
}
