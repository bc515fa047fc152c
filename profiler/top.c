/*
 * podflame top: a live view of the node's busiest Pods and their hottest
 * functions, refreshed every second.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "formats/clock.h"
#include "formats/escape.h"
#include "formats/htab.h"
#include "profiler/cmd.h"
#include "profiler/watch/finding.h"
#include "profiler/kube/kube.h"
#include "profiler/opts.h"
#include "profiler/sampling/session.h"
#include "profiler/watch/hotspots.h"
#include "profiler/watch/watcher.h"
#include "profiler/stop.h"

#define TOP_PODS  8
#define TOP_FUNCS 5

/* A row's hottest functions with their self time; the names come from
 * other people's binaries and perf maps: nothing in them may reach the
 * terminal as a control sequence. */
static void print_hot_functions(const struct pod_hotspots *hs)
{
    for (size_t k = 0; k < hs->nfuncs && k < TOP_FUNCS; k++) {
        char *safe;

        if (hs->funcs[k].self_pct < 1)
            break;
        safe = escaped(escape_terminal, hs->funcs[k].name);
        printf(" %s %.0f%%", safe ? safe : "?", hs->funcs[k].self_pct);
        free(safe);
    }
}

struct proc_load {
    const char *key, *value, *label; /* the label rows are grouped by */
    uint64_t samples;
};

/* THR% and RUNQ%: of the time the Pod's threads wanted a CPU (ran, were
 * throttled or queued), how much its limit and its neighbours took. Of the
 * time they wanted one, not of their wall time, which idle threads fill
 * with sleep. */
static void print_waits(const struct pf_profile *p, const char *uid)
{
    struct pod_wall w;
    char why[256];
    uint64_t want;

    if (pod_wall_find(p, uid, &w, why, sizeof(why))) {
        printf("%5s %5s ", "?", "?");
        return;
    }
    /* --event cpu: no wall time, nothing to say */
    want = w.ns[WALL_RUNNING] + w.ns[WALL_THROTTLED] + w.ns[WALL_RUNQUEUE];
    if (want)
        printf("%5.0f %5.0f ", 100.0 * (double)w.ns[WALL_THROTTLED] / (double)want,
               100.0 * (double)w.ns[WALL_RUNQUEUE] / (double)want);
    else
        printf("%5s %5s ", "-", "-");
    pod_wall_free(&w);
}

static int by_load(const void *a, const void *b)
{
    const struct proc_load *x = a, *y = b;

    return x->samples != y->samples ? (x->samples < y->samples ? 1 : -1)
                                    : strcmp(x->value, y->value);
}

/* A node without Pods: its busiest containers (podman, Docker, ...) and
 * processes outside them, from the samples. */
static void top_processes(const struct pf_profile *p, int rows, double secs, unsigned hz)
{
    struct proc_load *procs = calloc(p->nsamples ? p->nsamples : 1, sizeof(*procs));
    struct htab index;
    size_t n = 0;

    printf("(no Pods on this node: the busiest containers and processes)\n%-44s %7s  %s\n",
           "CONTAINER OR PROCESS", "CPU%", "HOTTEST FUNCTIONS (self %)");
    if (!procs)
        return;
    htab_init(&index);
    for (size_t i = 0; i < p->nsamples; i++) {
        const char *ctr = pf_sample_label(p, &p->samples[i], "container");
        const char *rt = pf_sample_label(p, &p->samples[i], "runtime");
        const char *pid = pf_sample_label(p, &p->samples[i], "pid");
        const char *comm = pf_sample_label(p, &p->samples[i], "comm");
        const char *value = ctr ? ctr : pid;
        char key[300];
        uint64_t idx = n;
        bool found;

        if (!value)
            continue;
        snprintf(key, sizeof(key), "%c%s", ctr ? 'c' : 'p', value);
        if (htab_get_or_put(&index, key, strlen(key), &idx, &found, NULL))
            continue;
        if (!found)
            procs[n++] = (struct proc_load){ctr ? "container" : "pid", value,
                                            ctr ? (rt ? rt : "container") : (comm ? comm : "?"), 0};
        procs[idx].samples += (uint64_t)(p->samples[i].values[0] > 0 ? p->samples[i].values[0] : 0);
    }
    htab_free(&index);
    if (n > 1)
        qsort(procs, n, sizeof(*procs), by_load);
    for (size_t i = 0; i < n && i < TOP_PODS && (int)i < rows - 3; i++) {
        struct pod_hotspots hs;
        char why[256];
        char label[300], *safe;

        if (!strcmp(procs[i].key, "container"))
            snprintf(label, sizeof(label), "%.250s [%s]", procs[i].value, procs[i].label);
        else
            snprintf(label, sizeof(label), "%.250s (%s)", procs[i].label, procs[i].value);
        safe = escaped(escape_terminal, label);
        printf("%-44.44s %7.1f ", safe ? safe : "?",
               secs > 0 && hz ? 100.0 * (double)procs[i].samples / (secs * hz) : 0.0);
        free(safe);
        if (pod_hotspots_find_label(p, procs[i].key, procs[i].value, &hs, why, sizeof(why)) == 0) {
            print_hot_functions(&hs);
            pod_hotspots_free(&hs);
        }
        putchar('\n');
    }
    free(procs);
}

static void top_frame(const struct settings *o, const char *node, struct pf_profile *p,
                      struct watcher *wr, struct kube_names **kn, int rows, double secs)
{
    struct pod_cpu pods[TOP_PODS];
    size_t n = watcher_top(wr, pods, TOP_PODS);
    double hist[1];
    int64_t newest;
    size_t h = watcher_node_history(wr, hist, 1, &newest);
    int used = 3;

    printf("\033[H\033[2Jpodflame top - node %s, %u CPUs %.0f%% busy, sampled %.0f s at %u Hz "
           "(Ctrl-C quits)\n\n",
           node, watcher_ncpus(wr), h ? hist[0] : 0.0, secs, o->ses.freq);
    if (n)
        printf("%-44s %7s %9s %5s %5s  %s\n", "POD", "CPU%", "LIMIT", "THR%", "RUNQ%",
               "HOTTEST FUNCTIONS (self %)");
    for (size_t i = 0; i < n && used < rows - 1; i++) {
        struct pod_hotspots hs;
        char why[256];
        const char *name = *kn ? kube_pod_name(*kn, pods[i].uid) : NULL;
        const char *ns = *kn ? kube_pod_namespace(*kn, pods[i].uid) : NULL;
        char label[300], limit[32], *safe;

        if (!name) {
            struct kube_names *fresh;

            if (kube_names_load(o->ses.kubelet_log_dir, &fresh) == 0) {
                kube_names_free(*kn);
                *kn = fresh;
                name = kube_pod_name(*kn, pods[i].uid);
                ns = kube_pod_namespace(*kn, pods[i].uid);
            }
        }
        snprintf(label, sizeof(label), "%.250s%s%.250s", name && ns ? ns : "",
                 name && ns ? "/" : "", name ? name : pods[i].uid);
        if (pods[i].limit_cpus > 0)
            snprintf(limit, sizeof(limit), "%.2f", pods[i].limit_cpus);
        else
            snprintf(limit, sizeof(limit), "-");
        /* names come from other people's binaries and perf maps: nothing
         * in them may reach the terminal as a control sequence */
        safe = escaped(escape_terminal, label);
        printf("%-44.44s %7.1f %9s ", safe ? safe : "?", pods[i].cpu_pct, limit);
        free(safe);
        print_waits(p, pods[i].uid);
        if (pod_hotspots_find(p, pods[i].uid, &hs, why, sizeof(why)) == 0) {
            print_hot_functions(&hs);
            pod_hotspots_free(&hs);
        }
        putchar('\n');
        used++;
    }
    if (!n)
        top_processes(p, rows - used, secs, o->ses.freq);
    fflush(stdout);
}

/* The live state of podflame top. */
struct top_view {
    struct settings o;
    struct session *ses;
    struct watcher *wr;
    struct kube_names *kn;
    struct pf_profile *p;
    char node[256];
    char err[1024];
};

static int new_window(const struct top_view *t, struct pf_profile **out)
{
    int rc = pf_profile_new(out);

    if (!rc && (rc = session_set_sample_types(&t->o.ses, *out))) {
        pf_profile_free(*out);
        *out = NULL;
    }
    return rc;
}

static int top_open(struct top_view *t)
{
    static const struct watch_rules quiet = {.sustain = 1, .cooldown = 1};
    struct session_opts so = t->o.ses;

    kube_node_name(t->node, sizeof(t->node));
    so.who = "podflame top";
    if (new_window(t, &t->p)) {
        snprintf(t->err, sizeof(t->err), "out of memory");
        return -1;
    }
    if (watcher_open(&quiet, &t->wr, t->err, sizeof(t->err)))
        return -1;
    if (session_open(&so, t->p, &t->ses, t->err, sizeof(t->err)) ||
        session_start(t->ses, t->err, sizeof(t->err)))
        return -1;
    return 0;
}

/* Refreshes every second; a fresh window every --window seconds keeps the
 * view current. */
static int top_loop(struct top_view *t)
{
    int64_t start = mono_ns(), next_tick = start + 1000000000LL;
    unsigned long left = t->o.iterations;
    struct trigger_event ev;
    bool fired;
    int rc;

    if (watcher_update(t->wr, &ev, &fired, t->err, sizeof(t->err)))
        return -1;
    while (!cmd_stop_signal) {
        struct pf_profile *next = NULL;

        if (session_poll(t->ses, 100, t->err, sizeof(t->err)))
            return -1;
        if (mono_ns() < next_tick)
            continue;
        next_tick += 1000000000LL;
        /* a second the cgroups could not be read shows the last one read */
        watcher_update(t->wr, &ev, &fired, t->err, sizeof(t->err));
        if (session_flush(t->ses, t->err, sizeof(t->err)))
            return -1;
        top_frame(&t->o, t->node, t->p, t->wr, &t->kn, 40, (double)(mono_ns() - start) / 1e9);
        if (left && --left == 0)
            break;
        if ((mono_ns() - start) / 1000000000LL % t->o.window != 0)
            continue;
        if ((rc = new_window(t, &next)) ||
            (rc = session_rotate(t->ses, next, t->err, sizeof(t->err)))) {
            if (rc == -ENOMEM)
                snprintf(t->err, sizeof(t->err), "out of memory");
            pf_profile_free(next);
            return -1;
        }
        pf_profile_free(t->p);
        t->p = next;
        start = mono_ns();
    }
    return 0;
}

int cmd_top(int argc, char **argv)
{
    struct top_view *t = calloc(1, sizeof(*t));
    int ret = 1, rc;

    if (!t) {
        fprintf(stderr, "podflame top: out of memory\n");
        return 1;
    }
    if ((rc = opts_parse(&opt_cmd_top, argc, argv, &t->o, t->err, sizeof(t->err))))
        ret = opts_exit(&opt_cmd_top, rc, t->err);
    else if (top_open(t) == 0 && (cmd_catch_stop_signals(), top_loop(t) == 0))
        ret = 0;
    else
        fprintf(stderr, "podflame top: %s\n", t->err);
    session_close(t->ses);
    watcher_free(t->wr);
    kube_names_free(t->kn);
    pf_profile_free(t->p);
    opts_free(&t->o);
    free(t);
    return ret;
}
