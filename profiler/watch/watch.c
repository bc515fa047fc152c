#include "profiler/watch/watch.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "formats/clock.h"
#include "profiler/watch/finding.h"
#include "profiler/kube/kube.h"
#include "profiler/sampling/session.h"

#define MAX_QUEUE 8
#define TICK_NS   1000000000LL

/* A capture waiting to run: a rule that fired, or Pods someone named. */
struct request {
    struct trigger_event ev;
    char reason[512];
    char uids[FINDING_MAX_PODS][40]; /* named Pods; none: the busiest */
    size_t nuids;
};

struct watch {
    struct watch_opts o;
    struct watcher *wr;
    struct kube_names *kn;
    int64_t names_loaded_ns;
    int64_t next_tick;
    uint64_t findings;
    pthread_mutex_t lock;     /* guards what follows */
    struct finding_pod *pods; /* the Pods of the last tick, named, busiest first */
    size_t npods;
    struct request queue[MAX_QUEUE];
    size_t nqueue;
};

void watch_opts_default(struct watch_opts *o, const char *findings_dir)
{
    *o = (struct watch_opts){.rules = {.node_cpu = 90,
                                       .pod_limit = 90,
                                       .throttle = 25,
                                       .psi = 0,
                                       .sustain = 15,
                                       .cooldown = 300},
                             .capture_hz = 499,
                             .capture_s = 20,
                             .top = 3,
                             .findings_dir = findings_dir,
                             .kubelet_log_dir = "/var/log",
                             .unwind = PF_UNWIND_MODE_AUTO};
}

static void say(const struct watch *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(const struct watch *w, const char *fmt, ...)
{
    va_list ap;

    if (!w->o.log)
        return;
    va_start(ap, fmt);
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is just above
    vfprintf(w->o.log, fmt, ap);
    va_end(ap);
}

int watch_new(const struct watch_opts *o, struct watch **out, char *err, size_t errlen)
{
    struct watch *w = calloc(1, sizeof(*w));
    int rc;

    if (!w) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    w->o = *o;
    pthread_mutex_init(&w->lock, NULL);
    if ((rc = watcher_open(&o->rules, &w->wr, err, errlen))) {
        watch_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void watch_free(struct watch *w)
{
    if (!w)
        return;
    watcher_free(w->wr);
    kube_names_free(w->kn);
    free(w->pods);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

uint64_t watch_findings(const struct watch *w)
{
    return w->findings;
}

/* Names a Pod from the kubelet's log tree, reloaded at most once a second
 * when a Pod is not in it. */
static void name_pod(struct watch *w, const char *uid, char *ns, char *name)
{
    const char *n = w->kn ? kube_pod_name(w->kn, uid) : NULL;

    if (!n && mono_ns() - w->names_loaded_ns >= TICK_NS) {
        struct kube_names *fresh;

        w->names_loaded_ns = mono_ns();
        if (kube_names_load(w->o.kubelet_log_dir, &fresh) == 0) {
            kube_names_free(w->kn);
            w->kn = fresh;
            n = kube_pod_name(w->kn, uid);
        }
    }
    snprintf(name, 256, "%s", n ? n : "");
    n = w->kn ? kube_pod_namespace(w->kn, uid) : NULL;
    snprintf(ns, 256, "%s", n ? n : "");
}

/* The Pods of this tick, for captures and for the HTTP thread. */
static int publish_pods(struct watch *w, char *err, size_t errlen)
{
    struct pod_cpu top[256];
    size_t n = watcher_top(w->wr, top, 256);
    struct finding_pod *pods = calloc(n ? n : 1, sizeof(*pods));

    if (!pods) {
        snprintf(err, errlen, "out of memory for %zu Pods", n);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        pods[i].cpu = top[i];
        name_pod(w, top[i].uid, pods[i].ns, pods[i].name);
    }
    pthread_mutex_lock(&w->lock);
    free(w->pods);
    w->pods = pods;
    w->npods = n;
    pthread_mutex_unlock(&w->lock);
    return 0;
}

/* With the lock held. */
static bool enqueue(struct watch *w, const struct request *rq)
{
    if (w->nqueue == MAX_QUEUE)
        return false;
    w->queue[w->nqueue++] = *rq;
    return true;
}

static int tick(struct watch *w, char *err, size_t errlen)
{
    struct trigger_event ev;
    bool fired;
    int rc = watcher_update(w->wr, &ev, &fired, err, errlen);

    if (rc)
        return rc;
    if ((rc = publish_pods(w, err, errlen)))
        return rc;
    if (fired) {
        struct request rq = {.ev = ev};
        bool ok;

        pthread_mutex_lock(&w->lock);
        ok = enqueue(w, &rq);
        pthread_mutex_unlock(&w->lock);
        say(w, "podflame: %s fired (%.1f, threshold %.1f)%s%s%s\n", trigger_rule_name(ev.rule),
            ev.value, ev.threshold, ev.pod_uid[0] ? " for Pod " : "", ev.pod_uid,
            ok ? "" : "; captures are backed up, this one is dropped");
    }
    return 0;
}

/* The Pods a capture looks at: the ones asked for, or the subject and the
 * busiest. With the lock held. */
static size_t capture_pods(struct watch *w, const struct request *rq, struct finding_pod *out)
{
    size_t n = 0;

    if (rq->nuids) {
        for (size_t k = 0; k < rq->nuids; k++) {
            for (size_t i = 0; i < w->npods && n < FINDING_MAX_PODS; i++) {
                if (!strcmp(w->pods[i].cpu.uid, rq->uids[k]))
                    out[n++] = w->pods[i];
            }
        }
        return n;
    }
    /* the Pod that fired first, then the busiest */
    for (size_t i = 0; i < w->npods && rq->ev.pod_uid[0]; i++) {
        if (!strcmp(w->pods[i].cpu.uid, rq->ev.pod_uid))
            out[n++] = w->pods[i];
    }
    for (size_t i = 0; i < w->npods && n < w->o.top; i++) {
        if (!rq->ev.pod_uid[0] || strcmp(w->pods[i].cpu.uid, rq->ev.pod_uid) != 0)
            out[n++] = w->pods[i];
    }
    return n;
}

/* Samples the Pods of f at the capture rate, ticking the watcher as it
 * goes, and writes the finding. */
static int capture(struct watch *w, struct finding *f, const volatile sig_atomic_t *stop,
                   watch_finding_fn fn, void *ctx, char *err, size_t errlen)
{
    const char *paths[FINDING_MAX_PODS];
    struct session_opts so;
    struct session *ses = NULL;
    struct pf_profile *p = NULL;
    char id[600];
    int64_t start, next;
    int rc;

    session_opts_default(&so, w->o.capture_hz, "podflame watch");
    /* wall time: whether the Pod was slow by its code, its limit, its
     * neighbours or what it waited on is the finding's first line */
    so.event = SAMPLER_EVENT_WALL;
    so.unwind = w->o.unwind;
    so.kubelet_log_dir = w->o.kubelet_log_dir;
    so.kube_api = w->o.kube_api;
    so.sym = w->o.sym;
    so.cgroups = paths;
    so.ncgroups = f->npods;
    for (size_t i = 0; i < f->npods; i++)
        paths[i] = f->pods[i].cpu.path;
    if ((rc = pf_profile_new(&p)) || (rc = session_set_sample_types(&so, p))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if ((rc = session_open(&so, p, &ses, err, errlen)) || (rc = session_start(ses, err, errlen)))
        goto out;
    p->time_nanos = f->ev.at_ns;
    start = mono_ns();
    next = start + TICK_NS;
    while (!*stop && mono_ns() - start < (int64_t)w->o.capture_s * 1000000000LL) {
        if ((rc = session_poll(ses, 100, err, errlen)))
            goto out;
        if (mono_ns() >= next) {
            next += TICK_NS;
            if ((rc = tick(w, err, errlen)))
                goto out;
        }
    }
    f->capture_s = (double)(mono_ns() - start) / 1e9;
    p->duration_nanos = mono_ns() - start;
    if ((rc = session_stop(ses, err, errlen)))
        goto out;
    f->nnode = watcher_node_history(w->wr, f->node_cpu, WATCH_HISTORY, &f->node_newest_ns);
    if ((rc = finding_write(f, p, w->o.findings_dir, id, sizeof(id), err, errlen)))
        goto out;
    w->findings++;
    say(w, "podflame: finding %s/%s: %s\n", w->o.findings_dir, id,
        f->npods ? (f->pods[0].name[0] ? f->pods[0].name : f->pods[0].cpu.uid) : "no Pod");
    if (fn) {
        char dir[1400];

        snprintf(dir, sizeof(dir), "%s/%s", w->o.findings_dir, id);
        fn(ctx, id, dir);
    }
out:
    session_close(ses);
    pf_profile_free(p);
    return rc;
}

/* Sleeps until the next tick is due or a capture is asked for; true when
 * the tick is due (then schedules the one after). */
static bool wait_tick(struct watch *w, const volatile sig_atomic_t *stop)
{
    int64_t now = mono_ns();
    bool asked = false;

    if (!w->next_tick)
        w->next_tick = now;
    while (now < w->next_tick && !*stop && !asked) {
        struct timespec ts = {0, 100000000L};

        nanosleep(&ts, NULL);
        now = mono_ns();
        pthread_mutex_lock(&w->lock);
        asked = w->nqueue > 0; /* an asked-for capture starts at once */
        pthread_mutex_unlock(&w->lock);
    }
    if (*stop || now < w->next_tick)
        return false;
    w->next_tick += TICK_NS;
    if (w->next_tick < now)
        w->next_tick = now + TICK_NS;
    return true;
}

/* Takes the first capture asked for into f: what fired or who asked, and
 * its Pods. False when none is waiting. */
static bool next_request(struct watch *w, struct finding *f)
{
    struct request rq;
    bool have;

    pthread_mutex_lock(&w->lock);
    have = w->nqueue > 0;
    if (have) {
        rq = w->queue[0];
        memmove(w->queue, w->queue + 1, (w->nqueue - 1) * sizeof(*w->queue));
        w->nqueue--;
        f->npods = capture_pods(w, &rq, f->pods);
    }
    pthread_mutex_unlock(&w->lock);
    if (!have)
        return false;
    f->ev = rq.ev;
    snprintf(f->reason, sizeof(f->reason), "%s", rq.reason);
    f->node = w->o.node;
    f->ncpus = watcher_ncpus(w->wr);
    f->capture_hz = w->o.capture_hz;
    return true;
}

int watch_step(struct watch *w, const volatile sig_atomic_t *stop, watch_finding_fn fn, void *ctx,
               char *err, size_t errlen)
{
    struct finding *f;
    int rc = 0;

    if (wait_tick(w, stop) && (rc = tick(w, err, errlen)))
        return rc;
    if (*stop)
        return 0;
    if (!(f = calloc(1, sizeof(*f)))) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (next_request(w, f) && !f->npods) {
        say(w, "podflame: %s: no Pod to capture on this node\n", trigger_rule_name(f->ev.rule));
    } else if (f->npods) {
        rc = capture(w, f, stop, fn, ctx, err, errlen);
        if (rc && rc != -ENOMEM) {
            /* a capture that cannot run is reported; the watcher goes on */
            say(w, "podflame: capture failed: %s\n", err);
            rc = 0;
        }
    }
    free(f);
    return rc;
}

/* ---- HTTP: /trigger and /alertmanager ---- */

static void reply_text(struct httpd_reply *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reply_text(struct httpd_reply *r, int status, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    int n;

    va_start(ap, fmt);
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is just above
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    r->status = status;
    r->content_type = "text/plain";
    r->body = n < 0 ? NULL : s;
    r->len = n < 0 ? 0 : (size_t)n;
}

/* Does Pod name belong to the workload or service called what? */
static bool of_workload(const char *pod, const char *what)
{
    char wl[300];
    size_t n = strlen(what);

    if (kube_workload(pod, wl, sizeof(wl))) {
        const char *slash = strchr(wl, '/');

        if (slash && !strcmp(slash + 1, what))
            return true;
    }
    return !strncmp(pod, what, n) && pod[n] == '-';
}

/* Adds the Pods matching ns and pod (a name or UID) or workload to rq.
 * With the lock held. Returns how many. */
static size_t resolve(struct watch *w, const char *ns, const char *pod, const char *workload,
                      struct request *rq)
{
    size_t found = 0;

    for (size_t i = 0; i < w->npods && rq->nuids < FINDING_MAX_PODS; i++) {
        const struct finding_pod *e = &w->pods[i];
        bool match = pod ? !strcmp(e->cpu.uid, pod) ||
                               (!strcmp(e->name, pod) && (!ns || !*ns || !strcmp(e->ns, ns)))
                         : workload && ns && !strcmp(e->ns, ns) && e->name[0] &&
                               of_workload(e->name, workload);

        if (match) {
            snprintf(rq->uids[rq->nuids++], sizeof(rq->uids[0]), "%s", e->cpu.uid);
            found++;
        }
    }
    return found;
}

static void queue_request(struct watch *w, struct request *rq, struct httpd_reply *reply,
                          const char *what)
{
    bool ok;

    rq->ev.rule = TRIGGER_EXTERNAL;
    /* the finding is named after the first Pod asked for */
    snprintf(rq->ev.pod_uid, sizeof(rq->ev.pod_uid), "%s", rq->uids[0]);
    rq->ev.at_ns = rq->ev.since_ns = realtime_ns();
    ok = enqueue(w, rq);
    pthread_mutex_unlock(&w->lock);
    if (!ok) {
        say(w, "podflame: %s: refused, %d captures are waiting already\n", what, MAX_QUEUE);
        reply_text(reply, 503, "busy: %d captures are waiting already\n", MAX_QUEUE);
        return;
    }
    say(w, "podflame: %s: capturing %zu Pod%s\n", what, rq->nuids, rq->nuids == 1 ? "" : "s");
    reply_text(reply, 202, "capturing %zu Pod%s for %u s: %s\n", rq->nuids,
               rq->nuids == 1 ? "" : "s", w->o.capture_s, rq->reason);
}

static void on_trigger(struct watch *w, json_t *j, struct httpd_reply *reply)
{
    const char *ns = json_string_value(json_object_get(j, "namespace"));
    const char *pod = json_string_value(json_object_get(j, "pod"));
    const char *why = json_string_value(json_object_get(j, "reason"));
    struct request rq = {0};

    if (!pod || !*pod) {
        say(w, "podflame: /trigger: no \"pod\" in the request\n");
        reply_text(reply, 400, "give {\"namespace\": NS, \"pod\": NAME or UID}\n");
        return;
    }
    snprintf(rq.reason, sizeof(rq.reason), "%s", why && *why ? why : "asked by podflame trigger");
    pthread_mutex_lock(&w->lock);
    if (!resolve(w, ns, pod, NULL, &rq)) {
        pthread_mutex_unlock(&w->lock);
        say(w, "podflame: /trigger: no Pod %s%s%s on this node\n", ns ? ns : "", ns ? "/" : "",
            pod);
        reply_text(reply, 404, "no Pod %s%s%s on this node\n", ns ? ns : "", ns ? "/" : "", pod);
        return;
    }
    queue_request(w, &rq, reply, "/trigger");
}

static void on_alertmanager(struct watch *w, json_t *j, struct httpd_reply *reply)
{
    static const char *workload_labels[] = {"deployment", "statefulset", "daemonset",
                                            "service",    "app",         "job"};
    json_t *alerts = json_object_get(j, "alerts"), *a;
    struct request rq = {0};
    size_t idx, firing = 0;

    if (!json_is_array(alerts)) {
        say(w, "podflame: /alertmanager: not an Alertmanager webhook (no \"alerts\" list)\n");
        reply_text(reply, 400, "expected Alertmanager's webhook JSON with an \"alerts\" list\n");
        return;
    }
    pthread_mutex_lock(&w->lock);
    json_array_foreach(alerts, idx, a)
    {
        json_t *labels = json_object_get(a, "labels");
        const char *status = json_string_value(json_object_get(a, "status"));
        const char *ns = json_string_value(json_object_get(labels, "namespace"));
        const char *pod = json_string_value(json_object_get(labels, "pod"));
        const char *name = json_string_value(json_object_get(labels, "alertname"));

        if (!json_is_object(labels) || (status && strcmp(status, "firing") != 0))
            continue;
        firing++;
        if (!rq.reason[0] || strlen(rq.reason) < sizeof(rq.reason) - 64) {
            size_t l = strlen(rq.reason);

            snprintf(rq.reason + l, sizeof(rq.reason) - l, "%salert %s", l ? ", " : "",
                     name ? name : "(unnamed)");
        }
        if (pod) {
            resolve(w, ns, pod, NULL, &rq);
            continue;
        }
        for (size_t k = 0; k < sizeof(workload_labels) / sizeof(*workload_labels); k++) {
            const char *v = json_string_value(json_object_get(labels, workload_labels[k]));

            if (v && resolve(w, ns, NULL, v, &rq))
                break;
        }
    }
    if (!rq.nuids) {
        pthread_mutex_unlock(&w->lock);
        say(w, "podflame: /alertmanager: %zu firing alert%s, none names a Pod on this node\n",
            firing, firing == 1 ? "" : "s");
        reply_text(reply, firing ? 404 : 400,
                   "%zu firing alerts; none names a Pod of this node (labels namespace and pod, or "
                   "namespace and deployment, statefulset, daemonset, service or app)\n",
                   firing);
        return;
    }
    queue_request(w, &rq, reply, "/alertmanager");
}

bool watch_http(struct watch *w, const char *method, const char *path, const char *body, size_t len,
                struct httpd_reply *reply)
{
    json_error_t jerr;
    json_t *j;

    if (strcmp(path, "/trigger") != 0 && strcmp(path, "/alertmanager") != 0)
        return false;
    if (strcmp(method, "POST") != 0) {
        reply_text(reply, 405, "POST a JSON body to %s\n", path);
        return true;
    }
    j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j || !json_is_object(j)) {
        say(w, "podflame: %s: malformed JSON: %s (line %d)\n", path,
            j ? "not an object" : jerr.text, jerr.line);
        reply_text(reply, 400, "malformed JSON: %s\n", j ? "not an object" : jerr.text);
        json_decref(j);
        return true;
    }
    if (!strcmp(path, "/trigger"))
        on_trigger(w, j, reply);
    else
        on_alertmanager(w, j, reply);
    json_decref(j);
    return true;
}
