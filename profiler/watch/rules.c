#include "profiler/watch/rules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/buf.h"

/* Seconds of per-second values, oldest overwritten. */
struct ring {
    float v[WATCH_HISTORY];
    unsigned n, head;
};

/* One rule on one subject. */
struct incident {
    bool holding;        /* the rule held over the last interval */
    int64_t holds_since; /* mono: where the run of holding intervals began */
    int64_t held_real;   /* the same on the real-time clock */
    bool closing;        /* open, and the rule no longer holds ... */
    int64_t false_since; /* ... since then (mono) */
    bool open;
    bool fired;       /* ever */
    int64_t fired_at; /* mono: when it last fired */
    bool due;         /* this tick: it would open, if it is the one chosen */
    double value;     /* this tick: what the rule measured */
};

struct pod_state {
    struct pod_cpu now;
    struct cgroup_cpu last; /* counters at its last reading */
    int64_t last_ns;        /* mono: its last reading */
    uint64_t seen_tick;     /* the tick of its last reading */
    bool rated;             /* now has rates for the last interval */
    struct ring hist;       /* CPU % of one CPU */
    struct incident limit, throttle;
};

struct rules {
    struct watch_rules r;
    uint64_t ntick;             /* ticks taken */
    int64_t last_ns, last_real; /* the last tick's times */
    uint64_t last_busy, last_total;
    unsigned ncpus;
    struct ring node_hist; /* node CPU % of all CPUs */
    int64_t node_newest;   /* realtime of its newest value */
    struct incident node_cpu, psi;
    struct pod_state *pods;
    size_t npods, cap;
};

const char *trigger_rule_name(enum trigger_rule r)
{
    static const char *names[TRIGGER__MAX] = {"node-cpu", "pod-limit", "throttle", "cpu-pressure",
                                              "external"};

    return r < TRIGGER__MAX ? names[r] : "?";
}

int rules_new(const struct watch_rules *r, struct rules **out, char *err, size_t errlen)
{
    struct rules *rs = calloc(1, sizeof(*rs));

    if (!rs) {
        snprintf(err, errlen, "out of memory for the watcher's rules");
        return -ENOMEM;
    }
    rs->r = *r;
    *out = rs;
    return 0;
}

void rules_free(struct rules *rs)
{
    if (!rs)
        return;
    free(rs->pods);
    free(rs);
}

static void push(struct ring *ring, double v)
{
    ring->v[ring->head] = (float)v;
    ring->head = (ring->head + 1) % WATCH_HISTORY;
    if (ring->n < WATCH_HISTORY)
        ring->n++;
}

static size_t copy_ring(const struct ring *ring, double *out, size_t want)
{
    size_t k = want < ring->n ? want : ring->n;

    for (size_t i = 0; i < k; i++)
        out[i] = ring->v[(ring->head + WATCH_HISTORY - k + i) % WATCH_HISTORY];
    return k;
}

static double pct(uint64_t part, uint64_t whole)
{
    double v = 100.0 * (double)part / (double)whole;

    return v > 100 ? 100 : v;
}

/* Has what began at since lasted dur by now, timer jitter forgiven? */
static bool lasted(int64_t now, int64_t since, int64_t dur)
{
    return now - since + RULES_SLACK_NS >= dur;
}

static int64_t secs_ns(unsigned s)
{
    return (int64_t)s * 1000000000LL;
}

/* ---- readings into rates ---- */

/* The node's CPU % over the interval that ends at t; 0 when a counter went
 * backwards (a CPU taken offline leaves the sums). */
static double node_rate(const struct rules *rs, const struct watch_tick *t, bool *valid)
{
    *valid = t->node_total > rs->last_total && t->node_busy >= rs->last_busy;
    return *valid ? pct(t->node_busy - rs->last_busy, t->node_total - rs->last_total) : 0;
}

static struct pod_state *find_pod(const struct rules *rs, const char *uid)
{
    for (size_t i = 0; i < rs->npods; i++) {
        if (!strcmp(rs->pods[i].now.uid, uid))
            return &rs->pods[i];
    }
    return NULL;
}

/* The Pod's rates over the last interval: only when it was read at the
 * tick before too and its counters went forward. */
static void rate_pod(struct rules *rs, struct pod_state *p, const struct tick_pod *tp, int64_t now)
{
    const struct cgroup_cpu *c = &tp->cpu, *l = &p->last;

    p->now.cpu_pct = p->now.throttled_pct = 0;
    p->rated = p->seen_tick + 1 == rs->ntick && now > p->last_ns && c->usage_usec >= l->usage_usec;
    if (p->rated) {
        p->now.cpu_pct =
            100.0 * (double)(c->usage_usec - l->usage_usec) / ((double)(now - p->last_ns) / 1000.0);
        if (c->nr_periods > l->nr_periods && c->nr_throttled >= l->nr_throttled)
            p->now.throttled_pct =
                pct(c->nr_throttled - l->nr_throttled, c->nr_periods - l->nr_periods);
        push(&p->hist, p->now.cpu_pct);
    }
}

/* Takes one Pod's reading; room for it was made beforehand. */
static void read_pod(struct rules *rs, const struct tick_pod *tp, int64_t now)
{
    struct pod_state *p = find_pod(rs, tp->uid);

    if (p && p->seen_tick == rs->ntick)
        return; /* listed twice: the first counts */
    if (!p) {
        p = &rs->pods[rs->npods++];
        memset(p, 0, sizeof(*p));
        snprintf(p->now.uid, sizeof(p->now.uid), "%s", tp->uid);
    } else {
        rate_pod(rs, p, tp, now);
    }
    snprintf(p->now.path, sizeof(p->now.path), "%s", tp->path);
    p->now.cgroup_id = tp->cgroup_id;
    p->now.limit_cpus = tp->cpu.limit_cpus;
    p->now.psi = tp->cpu.psi_some_avg10;
    p->last = tp->cpu;
    p->last_ns = now;
    p->seen_tick = rs->ntick;
}

/* Pods not read for a while are gone: their cgroup was removed. */
static void forget_pods(struct rules *rs, int64_t now)
{
    for (size_t i = 0; i < rs->npods;) {
        if (now - rs->pods[i].last_ns > RULES_FORGET_POD_NS)
            rs->pods[i] = rs->pods[--rs->npods];
        else
            i++;
    }
}

/* ---- the rules ---- */

/* Advances one rule on one subject over the interval from the last tick
 * to now; sets inc->due when it would open now. */
static void advance(const struct rules *rs, struct incident *inc, bool holds, double value,
                    int64_t now)
{
    int64_t from = rs->last_ns;

    inc->due = false;
    inc->value = value;
    if (!holds) {
        inc->holding = false;
        if (inc->open && !inc->closing) {
            inc->closing = true;
            inc->false_since = from;
        }
        if (inc->open && lasted(now, inc->false_since, RULES_CLOSE_AFTER_NS))
            inc->open = inc->closing = false;
        return;
    }
    inc->closing = false;
    if (!inc->holding) {
        inc->holding = true;
        inc->holds_since = from;
        inc->held_real = rs->last_real;
    }
    inc->due = !inc->open && lasted(now, inc->holds_since, secs_ns(rs->r.sustain)) &&
               !(inc->fired && !lasted(now, inc->fired_at, secs_ns(rs->r.cooldown)));
}

static void advance_pod(const struct rules *rs, struct pod_state *p, int64_t now)
{
    bool now_rated = p->seen_tick == rs->ntick && p->rated;
    double of_limit = p->now.limit_cpus > 0 ? p->now.cpu_pct / p->now.limit_cpus : 0;

    advance(rs, &p->limit,
            now_rated && rs->r.pod_limit > 0 && p->now.limit_cpus > 0 &&
                of_limit >= rs->r.pod_limit,
            of_limit, now);
    advance(rs, &p->throttle,
            now_rated && rs->r.throttle > 0 && p->now.throttled_pct >= rs->r.throttle,
            p->now.throttled_pct, now);
}

/* Busiest first, then by UID. */
static int by_cpu(const struct pod_cpu *x, const struct pod_cpu *y)
{
    return x->cpu_pct < y->cpu_pct ? 1 : x->cpu_pct > y->cpu_pct ? -1 : strcmp(x->uid, y->uid);
}

/* The incident that opens this tick, with its rule and Pod; NULL: none. */
static struct incident *choose(struct rules *rs, enum trigger_rule *rule, struct pod_state **pod)
{
    struct pod_state *best = NULL;

    *pod = NULL;
    *rule = rs->node_cpu.due ? TRIGGER_NODE_CPU : TRIGGER_PSI;
    if (rs->node_cpu.due || rs->psi.due)
        return rs->node_cpu.due ? &rs->node_cpu : &rs->psi;
    for (size_t i = 0; i < rs->npods; i++) {
        struct pod_state *p = &rs->pods[i];

        if ((p->limit.due || p->throttle.due) && (!best || by_cpu(&p->now, &best->now) < 0))
            best = p;
    }
    if (!best)
        return NULL;
    *pod = best;
    *rule = best->limit.due ? TRIGGER_POD_LIMIT : TRIGGER_THROTTLE;
    return best->limit.due ? &best->limit : &best->throttle;
}

static double threshold(const struct watch_rules *r, enum trigger_rule rule)
{
    switch (rule) {
    case TRIGGER_NODE_CPU:
        return r->node_cpu;
    case TRIGGER_POD_LIMIT:
        return r->pod_limit;
    case TRIGGER_THROTTLE:
        return r->throttle;
    case TRIGGER_PSI:
        return r->psi;
    default:
        return 0;
    }
}

/* Advances every rule (so that incidents close on time) and opens the one
 * chosen, if any. */
static void apply(struct rules *rs, const struct watch_tick *t, double node_pct, bool node_valid,
                  struct trigger_event *ev, bool *fired)
{
    int64_t now = t->mono_ns;
    enum trigger_rule rule;
    struct pod_state *pod;
    struct incident *inc;

    advance(rs, &rs->node_cpu, node_valid && rs->r.node_cpu > 0 && node_pct >= rs->r.node_cpu,
            node_pct, now);
    advance(rs, &rs->psi, rs->r.psi > 0 && t->node_psi >= rs->r.psi, t->node_psi, now);
    for (size_t i = 0; i < rs->npods; i++)
        advance_pod(rs, &rs->pods[i], now);
    if (!(inc = choose(rs, &rule, &pod)))
        return;
    inc->open = inc->fired = true;
    inc->fired_at = now;
    memset(ev, 0, sizeof(*ev));
    ev->rule = rule;
    if (pod)
        snprintf(ev->pod_uid, sizeof(ev->pod_uid), "%s", pod->now.uid);
    ev->value = inc->value;
    ev->threshold = threshold(&rs->r, rule);
    ev->since_ns = inc->held_real;
    ev->at_ns = t->real_ns;
    *fired = true;
}

int rules_feed(struct rules *rs, const struct watch_tick *t, struct trigger_event *ev, bool *fired,
               char *err, size_t errlen)
{
    double node_pct = 0;
    bool node_valid = false, first = rs->ntick == 0;

    *fired = false;
    if (!first && t->mono_ns <= rs->last_ns) {
        snprintf(err, errlen, "a tick read at %lld ns is not after the last one (%lld ns)",
                 (long long)t->mono_ns, (long long)rs->last_ns);
        return -EINVAL;
    }
    /* room for every Pod first: past this point nothing fails */
    if (array_reserve((void **)&rs->pods, &rs->cap, rs->npods + t->npods, sizeof(*rs->pods))) {
        snprintf(err, errlen, "out of memory for %zu Pods' state", rs->npods + t->npods);
        return -ENOMEM;
    }
    rs->ntick++;
    if (!first) {
        node_pct = node_rate(rs, t, &node_valid);
        push(&rs->node_hist, node_pct);
        rs->node_newest = t->real_ns;
    }
    for (size_t i = 0; i < t->npods; i++)
        read_pod(rs, &t->pods[i], t->mono_ns);
    forget_pods(rs, t->mono_ns);
    if (!first)
        apply(rs, t, node_pct, node_valid, ev, fired);
    rs->last_ns = t->mono_ns;
    rs->last_real = t->real_ns;
    rs->last_busy = t->node_busy;
    rs->last_total = t->node_total;
    rs->ncpus = t->ncpus;
    return 0;
}

/* ---- what the last ticks said ---- */

size_t rules_top(const struct rules *rs, struct pod_cpu *out, size_t n)
{
    size_t k = 0;

    /* insertion into out, which stays sorted: n is small */
    for (size_t i = 0; i < rs->npods; i++) {
        const struct pod_cpu *c = &rs->pods[i].now;
        size_t at = k;

        if (rs->pods[i].seen_tick != rs->ntick)
            continue;
        while (at > 0 && by_cpu(c, &out[at - 1]) < 0)
            at--;
        if (at >= n)
            continue;
        if (k == n)
            k--;
        memmove(&out[at + 1], &out[at], (k - at) * sizeof(*out));
        out[at] = *c;
        k++;
    }
    return k;
}

size_t rules_node_history(const struct rules *rs, double *pct_out, size_t n, int64_t *newest_ns)
{
    *newest_ns = rs->node_newest;
    return copy_ring(&rs->node_hist, pct_out, n);
}

size_t rules_pod_history(const struct rules *rs, const char *uid, double *pct_out, size_t n)
{
    const struct pod_state *p = find_pod(rs, uid);

    return p ? copy_ring(&p->hist, pct_out, n) : 0;
}

unsigned rules_ncpus(const struct rules *rs)
{
    return rs->ncpus ? rs->ncpus : 1;
}
