#include "profiler/query/fleet.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "formats/pprof.h"
#include "profiler/query/range.h"

#define MAX_INDEX_BYTES ((size_t)4 << 20)
/* A rollup holds a workload's hour: decoded, hundreds of MB. Two at once
 * keep both cores busy; more would only add their memory. */
#define MAX_ROLLUPS_OPEN   2
#define MAX_MANIFEST_BYTES ((size_t)64 << 20)

enum task_kind { TASK_LIST_HOUR, TASK_WINDOW, TASK_ROLLUP };

struct task {
    enum task_kind kind;
    char *key;  /* LIST_HOUR: the folder; else the object */
    char *node; /* NULL for a rollup */
    int64_t start_ns, end_ns;
    bool has_index;
};

struct pool {
    const struct fleet_query *q;
    struct pf_merge *m;
    struct fleet_result *r;
    pthread_mutex_t lock; /* tasks, items, problems, the merge */
    pthread_cond_t changed;
    struct task *tasks;
    size_t ntasks, cap, next, active, exited;
    unsigned rollups_open; /* rollups fetched and not yet merged */
    int fatal;             /* out of memory: stop */
};

void fleet_hour_dir(int64_t hour_ns, char *out, size_t len)
{
    time_t t = (time_t)(hour_ns / RANGE_NS_PER_S);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, len, "%Y/%m/%d/%H/", &tm);
}

void fleet_rollup_dir(int64_t hour_ns, char *out, size_t len)
{
    char hour[32];

    fleet_hour_dir(hour_ns, hour, sizeof(hour));
    snprintf(out, len, "_rollup/%s", hour);
}

/* 20261125T174100Z */
static int stamp(const char *s, int64_t *ns)
{
    struct tm tm = {0};
    const char *end = strptime(s, "%Y%m%dT%H%M%SZ", &tm);

    if (!end || end - s != 16)
        return -EINVAL;
    *ns = (int64_t)timegm(&tm) * RANGE_NS_PER_S;
    return 0;
}

int fleet_window_times(const char *name, int64_t *start_ns, int64_t *end_ns)
{
    size_t len = strlen(name);

    if (len != 33 + 6 || name[16] != '-' || strcmp(name + 33, ".pb.gz") != 0 ||
        stamp(name, start_ns) || stamp(name + 17, end_ns))
        return -EINVAL;
    return 0;
}

/* ---- the pool ---- */

/* Queues a task (its strings copied). Called with the lock held. */
static int push_task(struct pool *pl, const struct task *t)
{
    struct task copy = *t;

    if (pl->ntasks == pl->cap) {
        size_t cap = pl->cap ? 2 * pl->cap : 256;
        struct task *g = realloc(pl->tasks, cap * sizeof(*g));

        if (!g)
            return -ENOMEM;
        pl->tasks = g;
        pl->cap = cap;
    }
    copy.key = strdup(t->key);
    copy.node = t->node ? strdup(t->node) : NULL;
    if (!copy.key || (t->node && !copy.node)) {
        free(copy.key);
        free(copy.node);
        return -ENOMEM;
    }
    pl->tasks[pl->ntasks++] = copy;
    pthread_cond_broadcast(&pl->changed);
    return 0;
}

static void problem(struct pool *pl, const char *key, const char *why)
{
    struct fleet_result *r = pl->r;

    atomic_fetch_add(&r->stats.unreadable, 1);
    pthread_mutex_lock(&pl->lock);
    if (r->nproblems < FLEET_MAX_PROBLEMS &&
        asprintf(&r->problems[r->nproblems], "%s: %s", key, why) >= 0)
        r->nproblems++;
    pthread_mutex_unlock(&pl->lock);
}

static void add_item(struct pool *pl, const struct task *t, json_t *index, bool skipped)
{
    struct fleet_result *r = pl->r;
    struct fleet_item it = {
        .start_ns = t->start_ns, .end_ns = t->end_ns, .indexed = index != NULL, .skipped = skipped};
    json_t *pods = json_object_get(index, "pods"), *pod;
    size_t i, len = 0;

    it.key = strdup(t->key);
    it.node = t->node ? strdup(t->node) : NULL;
    it.samples = (uint64_t)json_integer_value(json_object_get(index, "samples"));
    json_array_foreach(pods, i, pod)
    {
        const char *ns = json_string_value(json_object_get(pod, "namespace")),
                   *name = json_string_value(json_object_get(pod, "pod"));
        size_t add = (ns ? strlen(ns) : 0) + (name ? strlen(name) : 0) + 2;
        char *g = realloc(it.pods, len + add + 1);

        if (!g)
            break;
        it.pods = g;
        len += (size_t)sprintf(it.pods + len, "%s%s/%s", len ? " " : "", ns ? ns : "",
                               name ? name : "");
    }
    pthread_mutex_lock(&pl->lock);
    if (r->nitems % 256 == 0) {
        struct fleet_item *g = realloc(r->items, (r->nitems + 256) * sizeof(*g));

        if (!g) {
            pl->fatal = -ENOMEM;
            pthread_mutex_unlock(&pl->lock);
            free(it.key);
            free(it.node);
            free(it.pods);
            return;
        }
        r->items = g;
    }
    r->items[r->nitems++] = it;
    pthread_mutex_unlock(&pl->lock);
}

/* ---- listing an hour of a node ---- */

struct hour_listing {
    char **names; /* object names in the folder */
    size_t n, cap;
};

static int keep_name(void *ctx, const struct bucket_entry *e)
{
    struct hour_listing *h = ctx;
    const char *name = strrchr(e->key, '/');

    if (e->folder)
        return 0; /* a window's per-Pod objects, findings: the node's window has it all */
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 128;
        char **g = realloc(h->names, cap * sizeof(*g));

        if (!g)
            return -ENOMEM;
        h->names = g;
        h->cap = cap;
    }
    if (!(h->names[h->n] = strdup(name ? name + 1 : e->key)))
        return -ENOMEM;
    h->n++;
    return 0;
}

static bool listed(const struct hour_listing *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (!strcmp(h->names[i], name))
            return true;
    return false;
}

static void run_list_hour(struct pool *pl, const struct task *t)
{
    const struct fleet_query *q = pl->q;
    struct hour_listing h = {0};
    char err[512];
    int rc;

    atomic_fetch_add(&pl->r->stats.list_requests, 1);
    rc = bucket_list(q->bucket, t->key, true, keep_name, &h, err, sizeof(err));
    if (rc == -ENOMEM)
        snprintf(err, sizeof(err), "out of memory");
    if (rc) {
        problem(pl, t->key, err);
    } else {
        atomic_fetch_add(&pl->r->stats.objects_listed, h.n);
    }
    for (size_t i = 0; !rc && i < h.n; i++) {
        struct task w = {.kind = TASK_WINDOW, .node = t->node};
        char key[1024], index[128];

        if (fleet_window_times(h.names[i], &w.start_ns, &w.end_ns) || w.start_ns < q->from_ns ||
            w.start_ns >= q->until_ns)
            continue;
        snprintf(index, sizeof(index), "%.33s.json", h.names[i]);
        snprintf(key, sizeof(key), "%s%s", t->key, h.names[i]);
        w.key = key;
        w.has_index = listed(&h, index);
        atomic_fetch_add(&pl->r->stats.windows, 1);
        pthread_mutex_lock(&pl->lock);
        if (push_task(pl, &w))
            pl->fatal = -ENOMEM;
        pthread_mutex_unlock(&pl->lock);
    }
    for (size_t i = 0; i < h.n; i++)
        free(h.names[i]);
    free(h.names);
}

/* ---- reading a window ---- */

/* Whether an index line's Pods may hold selected samples. */
static bool index_matches(const struct query_select *sel, json_t *index)
{
    json_t *pods = json_object_get(index, "pods"), *pod;
    size_t i;

    if (!select_by_pod(sel))
        return true;
    if (json_is_string(json_object_get(index, "pod"))) /* a Pod's own object */
        return select_pod(sel, json_string_value(json_object_get(index, "namespace")),
                          json_string_value(json_object_get(index, "pod")), NULL, NULL);
    json_array_foreach(pods, i, pod)
    {
        if (select_pod(sel, json_string_value(json_object_get(pod, "namespace")),
                       json_string_value(json_object_get(pod, "pod")),
                       json_string_value(json_object_get(pod, "uid")),
                       json_string_value(json_object_get(pod, "workload"))))
            return true;
    }
    return false;
}

/* The window's index line, or NULL (an unreadable one is no reason to
 * skip the window: the profile decides). */
static json_t *read_index(struct pool *pl, const struct task *t)
{
    char key[1024], err[512], *data = NULL;
    size_t len = 0;
    json_t *j;

    snprintf(key, sizeof(key), "%.*s.json", (int)(strlen(t->key) - 6), t->key);
    if (bucket_get(pl->q->bucket, key, MAX_INDEX_BYTES, &data, &len, err, sizeof(err)))
        return NULL;
    atomic_fetch_add(&pl->r->stats.bytes, len);
    j = json_loadb(data, len, 0, NULL);
    free(data);
    return json_is_object(j) ? j : (json_decref(j), NULL);
}

static void run_window(struct pool *pl, const struct task *t)
{
    const struct fleet_query *q = pl->q;
    const char *extra[2] = {"node", t->node};
    json_t *index = NULL;
    struct pf_profile *p = NULL;
    char err[512], *data = NULL;
    size_t len = 0;
    int rc;

    if (t->has_index && (q->index_only || select_by_pod(q->sel)))
        index = read_index(pl, t);
    if (index && !index_matches(q->sel, index)) {
        atomic_fetch_add(&pl->r->stats.skipped, 1);
        if (q->index_only)
            add_item(pl, t, index, true);
        json_decref(index);
        return;
    }
    if (q->index_only) {
        add_item(pl, t, index, false);
        json_decref(index);
        return;
    }
    json_decref(index);
    if (t->kind == TASK_ROLLUP) {
        pthread_mutex_lock(&pl->lock);
        while (pl->rollups_open >= MAX_ROLLUPS_OPEN)
            pthread_cond_wait(&pl->changed, &pl->lock);
        pl->rollups_open++;
        pthread_mutex_unlock(&pl->lock);
    }
    rc = bucket_get(q->bucket, t->key, PPROF_MAX_BYTES, &data, &len, err, sizeof(err));
    if (!rc) {
        atomic_fetch_add(&pl->r->stats.fetched, 1);
        atomic_fetch_add(&pl->r->stats.bytes, len);
        if ((rc = pf_profile_new(&p)))
            snprintf(err, sizeof(err), "out of memory");
        else
            rc = pprof_decode(p, (const uint8_t *)data, len, err, sizeof(err));
    }
    free(data);
    if (!rc) {
        pthread_mutex_lock(&pl->lock);
        rc = pf_merge_take(pl->m, p, select_sample, (void *)q->sel, extra, t->node ? 1 : 0, err,
                           sizeof(err));
        p = NULL; /* the merge's now */
        if (rc == -ENOMEM)
            pl->fatal = rc;
        pthread_mutex_unlock(&pl->lock);
        if (!rc)
            atomic_fetch_add(&pl->r->stats.merged, 1);
    }
    pf_profile_free(p);
    if (t->kind == TASK_ROLLUP) {
        pthread_mutex_lock(&pl->lock);
        pl->rollups_open--;
        pthread_cond_broadcast(&pl->changed);
        pthread_mutex_unlock(&pl->lock);
    }
    if (rc && rc != -ENOMEM)
        problem(pl, t->key, err);
}

static void *worker(void *arg)
{
    struct pool *pl = arg;

    pthread_mutex_lock(&pl->lock);
    for (;;) {
        struct task t;

        while (pl->next == pl->ntasks && pl->active && !pl->fatal && !(pl->q->stop && *pl->q->stop))
            pthread_cond_wait(&pl->changed, &pl->lock);
        if (pl->next == pl->ntasks || pl->fatal || (pl->q->stop && *pl->q->stop))
            break;
        t = pl->tasks[pl->next++];
        pl->active++;
        pthread_mutex_unlock(&pl->lock);
        if (t.kind == TASK_LIST_HOUR)
            run_list_hour(pl, &t);
        else
            run_window(pl, &t);
        pthread_mutex_lock(&pl->lock);
        pl->active--;
        pthread_cond_broadcast(&pl->changed);
    }
    pl->exited++;
    pthread_cond_broadcast(&pl->changed);
    pthread_mutex_unlock(&pl->lock);
    return NULL;
}

/* ---- rollups ---- */

/* Whether a rollup group (an entry of the manifest's "groups") may hold
 * selected samples: one of its Pods and one of its nodes may match. */
static bool group_matches(const struct query_select *sel, json_t *g)
{
    json_t *pods = json_object_get(g, "pods"), *nodes = json_object_get(g, "nodes"), *v;
    bool node_ok = !sel->nnodes, pod_ok = !select_by_pod(sel);
    size_t i;

    json_array_foreach(nodes, i, v)
    {
        if (select_node(sel, json_string_value(v) ? json_string_value(v) : ""))
            node_ok = true;
    }
    json_array_foreach(pods, i, v)
    {
        if (select_pod(sel, json_string_value(json_object_get(v, "namespace")),
                       json_string_value(json_object_get(v, "pod")),
                       json_string_value(json_object_get(v, "uid")),
                       json_string_value(json_object_get(v, "workload"))))
            pod_ok = true;
    }
    return node_ok && pod_ok;
}

/* Queues the rollup objects of the hour at hour_ns that may match. Sets
 * *covered when the hour has a complete rollup (its manifest). */
static int queue_rollup(struct pool *pl, int64_t hour_ns, bool *covered)
{
    char dir[64], key[1024], err[512], *data = NULL;
    size_t len = 0, i;
    json_t *man, *groups, *g;
    int rc = 0;

    *covered = false;
    fleet_rollup_dir(hour_ns, dir, sizeof(dir));
    snprintf(key, sizeof(key), "%s_manifest.json", dir);
    if (bucket_get(pl->q->bucket, key, MAX_MANIFEST_BYTES, &data, &len, err, sizeof(err)))
        return 0; /* not rolled up (or unreadable): its windows are read */
    man = json_loadb(data, len, 0, NULL);
    free(data);
    groups = json_object_get(man, "groups");
    if (!json_is_array(groups)) {
        problem(pl, key, "not a rollup manifest; the hour's windows are read instead");
        json_decref(man);
        return 0;
    }
    *covered = true;
    atomic_fetch_add(&pl->r->stats.rollup_hours, 1);
    json_array_foreach(groups, i, g)
    {
        const char *gkey = json_string_value(json_object_get(g, "key"));
        struct task t = {
            .kind = TASK_ROLLUP, .start_ns = hour_ns, .end_ns = hour_ns + RANGE_NS_PER_HOUR};

        if (!gkey || !group_matches(pl->q->sel, g))
            continue;
        t.key = (char *)gkey;
        atomic_fetch_add(&pl->r->stats.rollup_objects, 1);
        if ((rc = push_task(pl, &t)))
            break;
    }
    json_decref(man);
    return rc;
}

/* ---- the whole query ---- */

struct node_list {
    char **names;
    size_t n, cap;
};

static int keep_node(void *ctx, const struct bucket_entry *e)
{
    struct node_list *l = ctx;
    size_t len = strlen(e->key);

    /* NODE/ folders; _rollup/ and other _ names are podflame's own */
    if (!e->folder || e->key[0] == '_' || len < 2)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **g = realloc(l->names, cap * sizeof(*g));

        if (!g)
            return -ENOMEM;
        l->names = g;
        l->cap = cap;
    }
    if (!(l->names[l->n] = strndup(e->key, len - 1)))
        return -ENOMEM;
    l->n++;
    return 0;
}

/* Queues the rollups of whole hours and a listing of every other hour of
 * every selected node; lists the nodes only when some hour needs them. */
static int plan(struct pool *pl, struct node_list *nodes, char *err, size_t errlen)
{
    const struct fleet_query *q = pl->q;
    int64_t first =
        q->from_ns - (q->from_ns % RANGE_NS_PER_HOUR + RANGE_NS_PER_HOUR) % RANGE_NS_PER_HOUR;
    bool listed = false;
    int rc = 0;

    for (int64_t h = first; !rc && h < q->until_ns; h += RANGE_NS_PER_HOUR) {
        bool whole = h >= q->from_ns && h + RANGE_NS_PER_HOUR <= q->until_ns, covered = false;
        char hour[32], key[1024];

        if (whole && !q->no_rollups && (rc = queue_rollup(pl, h, &covered)))
            break;
        if (covered)
            continue;
        if (!listed) {
            atomic_fetch_add(&pl->r->stats.list_requests, 1);
            if ((rc = bucket_list(q->bucket, "", true, keep_node, nodes, err, errlen))) {
                if (rc == -ENOMEM)
                    snprintf(err, errlen, "out of memory");
                return rc;
            }
            listed = true;
        }
        fleet_hour_dir(h, hour, sizeof(hour));
        for (size_t i = 0; !rc && i < nodes->n; i++) {
            struct task t = {.kind = TASK_LIST_HOUR, .key = key, .node = nodes->names[i]};

            if (!select_node(q->sel, nodes->names[i]))
                continue;
            snprintf(key, sizeof(key), "%s/%s", nodes->names[i], hour);
            rc = push_task(pl, &t);
        }
    }
    if (rc)
        snprintf(err, errlen, "out of memory");
    return rc;
}

static void wait_workers(struct pool *pl, unsigned n,
                         void (*progress)(const struct fleet_stats *s, void *ctx), void *ctx)
{
    pthread_mutex_lock(&pl->lock);
    while (pl->exited < n) {
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 250000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&pl->changed, &pl->lock, &until);
        if (pl->q->stop && *pl->q->stop)
            pthread_cond_broadcast(&pl->changed); /* workers waiting for tasks see it */
        if (progress) {
            pthread_mutex_unlock(&pl->lock);
            progress(&pl->r->stats, ctx);
            pthread_mutex_lock(&pl->lock);
        }
    }
    pthread_mutex_unlock(&pl->lock);
}

int fleet_run(const struct fleet_query *q, struct pf_merge *m, struct fleet_result *r,
              void (*progress)(const struct fleet_stats *s, void *ctx), void *ctx, char *err,
              size_t errlen)
{
    struct pool pl = {.q = q, .m = m, .r = r};
    struct node_list nodes = {0};
    unsigned n = q->concurrency ? q->concurrency : 1, started = 0;
    pthread_t *threads = calloc(n, sizeof(*threads));
    int rc;

    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&pl.lock, NULL);
    pthread_cond_init(&pl.changed, NULL);
    if (!threads) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = plan(&pl, &nodes, err, errlen)))
        goto out;
    for (; started < n; started++)
        if (pthread_create(&threads[started], NULL, worker, &pl))
            break;
    if (!started) {
        snprintf(err, errlen, "cannot start a thread");
        rc = -EAGAIN;
        goto out;
    }
    wait_workers(&pl, started, progress, ctx);
    for (unsigned i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    r->stopped = q->stop && *q->stop;
    if ((rc = pl.fatal))
        snprintf(err, errlen, "out of memory");
out:
    for (size_t i = 0; i < pl.ntasks; i++) {
        free(pl.tasks[i].key);
        free(pl.tasks[i].node);
    }
    free(pl.tasks);
    for (size_t i = 0; i < nodes.n; i++)
        free(nodes.names[i]);
    free(nodes.names);
    free(threads);
    pthread_mutex_destroy(&pl.lock);
    pthread_cond_destroy(&pl.changed);
    return rc;
}

void fleet_result_free(struct fleet_result *r)
{
    for (size_t i = 0; i < r->nitems; i++) {
        free(r->items[i].key);
        free(r->items[i].node);
        free(r->items[i].pods);
    }
    free(r->items);
    for (size_t i = 0; i < r->nproblems; i++)
        free(r->problems[i]);
    memset(r, 0, sizeof(*r));
}
