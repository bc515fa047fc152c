/*
 * The agent's main thread: windows sampled, closed into the spool, the
 * watcher's findings spooled beside them, and the stop: the last window,
 * then the spool drained for up to the grace period.
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "formats/clock.h"
#include "formats/pprof.h"
#include "profiler/agent/state.h"
#include "profiler/agent/window.h"
#include "profiler/kube/kube.h"
#include "profiler/sampling/privs.h"

#define MAX_UPLOADERS 64

/* Writes one object and its index line to the spool. */
static int spool_object(struct agent *ag, const struct window *w, const struct pf_profile *p,
                        const char *key_stem, const char *pod_ns, const char *pod, char *err,
                        size_t errlen)
{
    char key[1500], *data = NULL, *line = NULL;
    size_t len = 0;
    unsigned dropped = 0;
    int rc;

    snprintf(key, sizeof(key), "%s.pb.gz", key_stem);
    if ((rc = pprof_write_buffer(p, &data, &len)) ||
        (rc = window_index_line(w, ag->node, key, p, len, ag->o->labels, ag->o->nlabels, pod_ns,
                                pod, &line))) {
        snprintf(err, errlen, "encoding the window: %s", strerror(-rc));
        free(data);
        return rc;
    }
    rc = spool_add(ag->spool, key, line, data, len, &dropped, err, errlen);
    if (dropped) {
        atomic_fetch_add(&ag->m.windows_dropped, dropped);
        fprintf(ag->log,
                "podflame: spool over %" PRIu64 " bytes: dropped the %u oldest window%s not yet "
                "uploaded\n",
                ag->o->spool_max, dropped, dropped == 1 ? "" : "s");
    }
    free(line);
    free(data);
    return rc;
}

struct pod_filter {
    const char *ns, *pod;
};

static bool sample_of_pod(void *ctx, const struct pf_profile *p, const struct pf_sample *s)
{
    const struct pod_filter *f = ctx;
    const char *pod = pf_sample_label(p, s, "pod"), *ns = pf_sample_label(p, s, "namespace");

    return pod && !strcmp(pod, f->pod) && !strcmp(ns ? ns : "", f->ns);
}

/* The window's node profile, then one per Pod with --split-by pod. */
static int write_window(struct agent *ag, const struct window *w, struct pf_profile *p, char *err,
                        size_t errlen)
{
    char stem[1400];
    struct pf_pod *pods = NULL;
    size_t npods = 0;
    int rc = 0;

    for (size_t i = 0; !rc && i < ag->o->nlabels; i++) {
        const char *eq = strchr(ag->o->labels[i], '=');
        char k[256];

        snprintf(k, sizeof(k), "%.*s", (int)(eq - ag->o->labels[i]), ag->o->labels[i]);
        rc = pf_profile_label_all(p, k, eq + 1);
    }
    if (rc) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    snprintf(stem, sizeof(stem), "%s/%s", w->dir, w->stem);
    if ((rc = spool_object(ag, w, p, stem, NULL, NULL, err, errlen)))
        return rc;
    atomic_fetch_add(&ag->m.windows, 1);
    if (!ag->o->split_pods)
        return 0;
    if ((rc = pf_profile_pods(p, &pods, &npods))) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    for (size_t i = 0; !rc && i < npods; i++) {
        struct pod_filter f = {pods[i].ns, pods[i].pod};
        struct pf_profile *sub = NULL;
        char ns[256], pod[256];

        bucket_key_part(pods[i].ns, ns, sizeof(ns));
        bucket_key_part(pods[i].pod, pod, sizeof(pod));
        snprintf(stem, sizeof(stem), "%s/%s/%s/%s", w->dir, w->stem, ns, pod);
        if ((rc = pf_profile_new(&sub)) || (rc = pf_profile_subset(p, sample_of_pod, &f, sub)))
            snprintf(err, errlen, "splitting the window by Pod: %s", strerror(-rc));
        else
            rc = spool_object(ag, w, sub, stem, pods[i].ns, pods[i].pod, err, errlen);
        pf_profile_free(sub);
    }
    free(pods);
    return rc;
}

static int new_window_profile(const struct agent *ag, struct pf_profile **out, int64_t start_ns)
{
    struct pf_profile *p;
    char comment[300];

    if (pf_profile_new(&p))
        return -ENOMEM;
    snprintf(comment, sizeof(comment), "podflame agent on %s", ag->node);
    if (session_set_sample_types(&ag->c->ses, p) || pf_profile_add_comment(p, comment)) {
        pf_profile_free(p);
        return -ENOMEM;
    }
    p->time_nanos = start_ns;
    *out = p;
    return 0;
}

/* Closes the current window into the spool. */
static int close_window(struct agent *ag, struct session *ses, struct window *w,
                        struct pf_profile **cur, int64_t now_real, bool last, char *err,
                        size_t errlen)
{
    struct pf_profile *next = NULL, *done = *cur;
    uint64_t samples;
    int rc;

    if (!last && (rc = new_window_profile(ag, &next, now_real))) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    rc = last ? session_stop(ses, err, errlen) : session_rotate(ses, next, err, errlen);
    if (rc) {
        pf_profile_free(next);
        return rc;
    }
    *cur = next;
    agent_publish_stats(ag, ses);
    /* the kernel's loss counters add up from the start: a window's own is the
     * rise since the last window closed */
    w->lost = atomic_load(&ag->m.lost) - ag->lost_mark;
    ag->lost_mark = atomic_load(&ag->m.lost);
    window_end(w, now_real);
    done->duration_nanos = w->end_ns - w->start_ns;
    samples = window_samples(done);
    atomic_fetch_add(&ag->m.samples, samples);
    rc = write_window(ag, w, done, err, errlen);
    if (!rc)
        fprintf(ag->log, "podflame: window %s: %" PRIu64 " samples, %" PRIu64 " lost; spooled\n",
                w->stem, samples, w->lost);
    pf_profile_free(done);
    /* the window and its encodings are gone: give their pages back, so the
     * agent's RSS is its caches, not its largest window so far */
    malloc_trim(0);
    agent_wake(ag);
    return rc;
}

/* Spools a finding's files for upload, beside the windows of its hour. */
static void on_finding(void *ctx, const char *id, const char *dir)
{
    static const char *files[] = {"finding.json", "finding.md", "capture.pb.gz", "capture.svg"};
    struct agent *ag = ctx;
    struct window w;
    char key[1600], path[1600], err[512];

    window_begin(&w, ag->node, realtime_ns(), ag->o->interval);
    for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
        FILE *f;
        char *data = NULL;
        size_t len = 0;
        unsigned dropped = 0;
        long size;

        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        snprintf(key, sizeof(key), "%s/findings/%s/%s", w.dir, id, files[i]);
        if (!(f = fopen(path, "re"))) {
            fprintf(ag->log, "podflame: finding %s: cannot read %s for upload: %s\n", id, path,
                    strerror(errno));
            continue;
        }
        if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
            (data = malloc((size_t)size)) && fread(data, 1, (size_t)size, f) == (size_t)size)
            len = (size_t)size;
        fclose(f);
        if (!len)
            fprintf(ag->log, "podflame: finding %s: cannot read %s for upload\n", id, path);
        else if (spool_add(ag->spool, key, "", data, len, &dropped, err, sizeof(err)))
            fprintf(ag->log, "podflame: finding %s: %s\n", id, err);
        if (dropped)
            atomic_fetch_add(&ag->m.windows_dropped, dropped);
        free(data);
    }
    agent_wake(ag);
}

static void *watcher_thread(void *arg)
{
    struct agent *ag = arg;
    char err[1024];

    while (!*ag->c->stop) {
        if (watch_step(ag->watch, ag->c->stop, on_finding, ag, err, sizeof(err))) {
            fprintf(ag->log, "podflame: the watcher stopped: %s\n", err);
            break;
        }
    }
    return NULL;
}

/* --metrics-addr, and --control-addr when given. */
static int start_listeners(struct agent *ag, struct httpd **http, struct httpd **control, char *err,
                           size_t errlen)
{
    const struct httpd_opts *ho = ag->c->http;
    struct httpd_listen metrics = {
        .addr = ag->o->metrics_addr, .control = !ho->control_addr, .metrics = true, .log = ag->log};
    struct httpd_listen ctl = {.addr = ho->control_addr, .control = true, .log = ag->log};
    char why[1024];
    int rc;

    if (strcmp(ag->o->metrics_addr, "off") != 0 &&
        (rc = httpd_start(ho, &metrics, agent_http, ag, http, why, sizeof(why)))) {
        snprintf(err, errlen, "--metrics-addr %s", why);
        return rc;
    }
    if (ho->control_addr &&
        (rc = httpd_start(ho, &ctl, agent_http, ag, control, why, sizeof(why)))) {
        snprintf(err, errlen, "--control-addr %s", why);
        return rc;
    }
    return 0;
}

/* The control endpoints of a listener that is not loopback-only and has no
 * token are refused: say so, and how to open them, at start. */
static void say_if_locked(const struct agent *ag, const struct httpd *h, const char *addr)
{
    if (h && httpd_control_locked(h))
        fprintf(ag->log,
                "podflame: POST /trigger and /alertmanager answer 403 on %s: it is not "
                "loopback-only and no --control-token-file is given (give one, or "
                "--control-addr 127.0.0.1:PORT to keep them on loopback)\n",
                addr);
}

/* The agent's running parts; the main thread's alone. */
struct run {
    struct agent *ag;
    struct session *ses;
    struct pf_profile *cur; /* the open window's profile */
    struct window w;
    struct httpd *http, *control_http;
    pthread_t threads[MAX_UPLOADERS], watch_thread;
    unsigned nthreads;
    bool watching;
};

static int agent_init(struct agent *ag, const struct agent_config *c, char *err, size_t errlen)
{
    pthread_condattr_t ca;
    char host[256];
    int rc;

    ag->c = c;
    ag->o = c->a;
    ag->log = c->log ? c->log : stderr;
    pthread_mutex_init(&ag->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ag->wake, &ca);
    pthread_condattr_destroy(&ca);
    snprintf(ag->node, sizeof(ag->node), "%s", kube_node_name(host, sizeof(host)));
    atomic_store(&ag->m.start_s, realtime_ns() / 1000000000LL);
    atomic_store(&ag->m.heartbeat_ns, mono_ns());
    srand((unsigned)(realtime_ns() ^ getpid()));
    if ((rc = bucket_open(&ag->o->up, &ag->target, err, errlen)))
        return rc;
    if ((rc = spool_open(ag->o->spool_dir, ag->o->spool_max, &ag->spool, err, errlen)))
        return rc;
    if (!ag->o->no_watch) {
        struct watch_opts wo = *c->watch;

        wo.node = ag->node;
        wo.log = ag->log;
        if ((rc = watch_new(&wo, &ag->watch, err, errlen))) {
            size_t n = strlen(err);

            snprintf(err + n, errlen - n, " (--no-watch runs without it)");
            return rc;
        }
    }
    return 0;
}

static void say_started(const struct run *r)
{
    const struct agent *ag = r->ag;
    struct spool_stats st;

    spool_get_stats(ag->spool, &st);
    fprintf(ag->log,
            "podflame: agent on node %s: %u Hz (%s), a profile every %u s to %s; spool %s "
            "(%" PRIu64 " waiting from before)%s%s%s%s%s%s\n",
            ag->node, ag->c->ses.freq, sampler_event_name(session_sampler(r->ses)), ag->o->interval,
            bucket_where(ag->target), ag->o->spool_dir, st.entries, r->http ? "; metrics on " : "",
            r->http ? httpd_scheme(r->http) : "", r->http ? "://" : "",
            r->http ? ag->o->metrics_addr : "", r->control_http ? "; control on " : "",
            r->control_http ? ag->c->http->control_addr : "");
    say_if_locked(ag, r->http, ag->o->metrics_addr);
    say_if_locked(ag, r->control_http, ag->c->http->control_addr);
}

/* Sampling, then the listeners and threads, with what is left of root's
 * powers once sampling started. */
static int agent_start(struct run *r, char *err, size_t errlen)
{
    struct agent *ag = r->ag;
    struct session_opts so = ag->c->ses;
    int64_t now = realtime_ns();
    int rc;

    if (geteuid() != 0)
        fprintf(ag->log, "podflame: not running as root: this needs CAP_BPF and CAP_PERFMON\n");
    else {
        char degraded[512];

        /* a container with fewer capabilities than the DaemonSet's samples
         * on, with fewer names: say so once, at start */
        privs_degraded(degraded, sizeof(degraded));
        if (degraded[0])
            fprintf(ag->log, "podflame: %s\n", degraded);
    }
    window_begin(&r->w, ag->node, now, ag->o->interval);
    if ((rc = new_window_profile(ag, &r->cur, now))) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    so.log = ag->log;
    if ((rc = session_open(&so, r->cur, &r->ses, err, errlen)) ||
        (rc = session_start(r->ses, err, errlen)))
        return rc;
    /* session_start dropped root's other powers: every thread started from
     * here on (the HTTP listener's included) has only what is left */
    if ((rc = start_listeners(ag, &r->http, &r->control_http, err, errlen)))
        return rc;
    if (ag->watch && pthread_create(&r->watch_thread, NULL, watcher_thread, ag) == 0)
        r->watching = true;
    for (; r->nthreads < ag->o->concurrency && r->nthreads < MAX_UPLOADERS; r->nthreads++) {
        if (pthread_create(&r->threads[r->nthreads], NULL, agent_uploader, ag)) {
            fprintf(ag->log, "podflame agent: cannot start an upload thread\n");
            break;
        }
    }
    say_started(r);
    return 0;
}

/* Windows, one after the other, until told to stop; then the last one. */
static int agent_loop(struct run *r, char *err, size_t errlen)
{
    struct agent *ag = r->ag;
    int rc;

    while (!*ag->c->stop) {
        int64_t now;

        if ((rc = session_poll(r->ses, 100, err, errlen)))
            return rc;
        if (mono_ns() - atomic_load(&ag->m.heartbeat_ns) >= 1000000000LL)
            agent_publish_stats(ag, r->ses); /* also the heartbeat /healthz reads */
        now = realtime_ns();
        if (now >= r->w.end_ns || now < r->w.start_ns) { /* the end, or the clock went back */
            struct pf_profile *before = r->cur;

            if ((rc = close_window(ag, r->ses, &r->w, &r->cur, now, false, err, errlen))) {
                if (r->cur == before)
                    return rc; /* no new window: sampling cannot go on */
                fprintf(ag->log, "podflame agent: %s\n", err);
            }
            window_begin(&r->w, ag->node, now, ag->o->interval);
        }
    }
    /* SIGTERM: the watcher stops (a capture in progress ends early and is
     * written), then the partial window, then the spool for up to --grace s */
    if (r->watching) {
        pthread_join(r->watch_thread, NULL);
        r->watching = false;
    }
    fprintf(ag->log, "podflame: stopping (signal %d): writing the last window\n",
            (int)*ag->c->stop);
    if (close_window(ag, r->ses, &r->w, &r->cur, realtime_ns(), true, err, errlen))
        fprintf(ag->log, "podflame agent: %s\n", err);
    return 0;
}

/* The uploaders drain the spool until the deadline (none after a failure). */
static void agent_stop(struct run *r, bool clean)
{
    struct agent *ag = r->ag;

    if (r->watching) {
        *ag->c->stop = SIGTERM;
        pthread_join(r->watch_thread, NULL);
    }
    pthread_mutex_lock(&ag->lock);
    ag->stopping = true;
    ag->deadline_ns = mono_ns() + (clean ? (int64_t)ag->o->grace * 1000000000LL : 0);
    pthread_cond_broadcast(&ag->wake);
    pthread_mutex_unlock(&ag->lock);
    for (unsigned i = 0; i < r->nthreads; i++)
        pthread_join(r->threads[i], NULL);
    if (ag->spool) {
        struct spool_stats st;

        spool_get_stats(ag->spool, &st);
        fprintf(ag->log,
                "podflame: %" PRIu64 " objects uploaded, %" PRIu64 " failed attempts; %" PRIu64
                " left in the spool for the next start%s%s\n",
                atomic_load(&ag->m.objects), atomic_load(&ag->m.upload_failures), st.entries,
                st.entries && ag->last_error[0] ? "; last error: " : "",
                st.entries && ag->last_error[0] ? ag->last_error : "");
    }
}

int agent_run(const struct agent_config *c, char *err, size_t errlen)
{
    struct agent *ag = calloc(1, sizeof(*ag));
    struct run r = {.ag = ag};
    int rc;

    if (!ag) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    /* few arenas: the agent's threads allocate little, and each arena
     * would keep its own free pages */
    mallopt(M_ARENA_MAX, 2);
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
        snprintf(err, errlen, "cannot initialize libcurl");
        free(ag);
        return -ENOMEM;
    }
    if (!(rc = agent_init(ag, c, err, errlen)) && !(rc = agent_start(&r, err, errlen)))
        rc = agent_loop(&r, err, errlen);
    agent_stop(&r, rc == 0);
    httpd_stop(r.http);
    httpd_stop(r.control_http);
    watch_free(ag->watch);
    session_close(r.ses);
    pf_profile_free(r.cur);
    spool_close(ag->spool);
    bucket_close(ag->target);
    curl_global_cleanup();
    pthread_cond_destroy(&ag->wake);
    pthread_mutex_destroy(&ag->lock);
    free(ag);
    return rc;
}
