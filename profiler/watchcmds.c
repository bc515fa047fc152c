/*
 * podflame watch, podflame trigger and podflame top: the saturation
 * watcher on its own, a person's way to ask for a capture, and a live view
 * of the hottest Pods and their hottest functions.
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

#include <curl/curl.h>
#include <jansson.h>

#include "../formats/clock.h"
#include "../formats/escape.h"
#include "../formats/htab.h"
#include "access.h"
#include "cmd.h"
#include "finding.h"
#include "httpd.h"
#include "kube.h"
#include "opts.h"
#include "privs.h"
#include "session.h"
#include "watch.h"

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static void catch_signals(void)
{
    struct sigaction sa = {.sa_handler = on_signal};

    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* ---- podflame watch ---- */

static void watch_usage(FILE *f)
{
    fprintf(f, "usage: podflame watch [OPTIONS]\n"
               "\n"
               "Watches the node's and every Pod's CPU once a second; when a rule holds long\n"
               "enough, captures the Pods concerned at a higher rate and writes a finding:\n"
               "DIR/<time>-<rule>-<pod>/finding.md (for people), finding.json, capture.pb.gz and\n"
               "capture.svg. Alerts and people ask for captures over HTTP (POST /alertmanager:\n"
               "Alertmanager's webhook; POST /trigger: podflame trigger). podflame agent runs\n"
               "the same watcher.\n"
               "\n"
               "options:\n");
    fputs(watch_opts_help, f);
    fprintf(f, "                            (default ./findings)\n"
               "      --listen HOST:PORT    /trigger, /alertmanager, /healthz (default\n"
               "                            127.0.0.1:9740; 'off' for none)\n");
    fputs(httpd_opts_help, f);
    fprintf(f, "      --kubelet-log-dir DIR names of Pods (default /var/log)\n"
               "  -h, --help                this help\n"
               "\n"
               "example:\n"
               "  podflame watch --node-cpu 80 --sustain 10 --findings-dir /var/tmp/findings\n");
}

struct watch_ctx {
    struct watch *w;
};

static void on_watch_http(void *ctx, const char *method, const char *path, const char *body,
                          size_t len, struct httpd_reply *reply)
{
    struct watch_ctx *c = ctx;

    if (watch_http(c->w, method, path, body, len, reply))
        return;
    reply->status = strcmp(path, "/healthz") ? 404 : 200;
    reply->body =
        strdup(reply->status == 200 ? "ok\n" : "not found: POST /trigger or /alertmanager\n");
    reply->len = reply->body ? strlen(reply->body) : 0;
}

/* Options shared with the agent are parsed by watch_opts_set. */
#define WATCH_LONGOPTS                                                                             \
    {"node-cpu", required_argument, NULL, 0}, {"pod-limit", required_argument, NULL, 0},           \
        {"throttle", required_argument, NULL, 0}, {"psi", required_argument, NULL, 0},             \
        {"sustain", required_argument, NULL, 0}, {"cooldown", required_argument, NULL, 0},         \
        {"capture-hz", required_argument, NULL, 0},                                                \
        {"capture-seconds", required_argument, NULL, 0}, {"top", required_argument, NULL, 0},      \
    {                                                                                              \
        "findings-dir", required_argument, NULL, 0                                                 \
    }

int cmd_watch(int argc, char **argv)
{
    static const struct option longopts[] = {
        WATCH_LONGOPTS,
        {"control-token-file", required_argument, NULL, 0},
        {"tls-cert", required_argument, NULL, 0},
        {"tls-key", required_argument, NULL, 0},
        {"listen", required_argument, NULL, 'l'},
        {"kubelet-log-dir", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct watch_opts o;
    struct httpd_opts ho = {0};
    struct watch_ctx ctx = {0};
    struct httpd *http = NULL;
    const char *listen = "127.0.0.1:9740";
    char err[1024], host[256];
    int c, idx, ret = 1, rc;

    watch_opts_default(&o, "findings");
    optind = 1;
    while ((c = getopt_long(argc, argv, "+h", longopts, &idx)) != -1) {
        if (c == 0) {
            if ((rc = httpd_opts_set(&ho, longopts[idx].name, optarg, err, sizeof(err))) == -ENOENT)
                rc = watch_opts_set(&o, longopts[idx].name, optarg, err, sizeof(err));
            if (rc) {
                fprintf(stderr, "podflame watch: %s\n", err);
                return 2;
            }
        } else if (c == 'l') {
            listen = optarg;
        } else if (c == 'k') {
            o.kubelet_log_dir = optarg;
        } else if (c == 'h') {
            watch_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "(try 'podflame watch --help')\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "podflame watch: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!ho.tls_cert != !ho.tls_key) {
        fprintf(stderr, "podflame watch: give both --tls-cert and --tls-key, or neither\n");
        return 2;
    }
    o.node = kube_node_name(host, sizeof(host));
    o.log = stderr;
    if (watch_new(&o, &ctx.w, err, sizeof(err))) {
        fprintf(stderr, "podflame watch: %s\n", err);
        return 1;
    }
    /* captures load BPF later, with the capabilities privs_drop keeps */
    if ((rc = privs_drop())) {
        fprintf(stderr, "podflame watch: cannot drop capabilities: %s\n", strerror(-rc));
        goto out;
    }
    if (strcmp(listen, "off") != 0) {
        struct httpd_listen l = {.addr = listen, .control = true, .log = stderr};

        if (httpd_start(&ho, &l, on_watch_http, &ctx, &http, err, sizeof(err))) {
            fprintf(stderr, "podflame watch: --listen %s\n", err);
            goto out;
        }
    }
    catch_signals();
    fprintf(stderr,
            "podflame: watching node %s: node CPU >= %.0f%%, Pod >= %.0f%% of its limit, "
            "throttled >= %.0f%%%s for %u s; captures %u Hz for %u s; findings in %s%s%s%s%s\n",
            o.node, o.rules.node_cpu, o.rules.pod_limit, o.rules.throttle,
            o.rules.psi > 0 ? ", CPU pressure" : "", o.rules.sustain, o.capture_hz, o.capture_s,
            o.findings_dir, http ? "; listening on " : "", http ? httpd_scheme(http) : "",
            http ? "://" : "", http ? listen : "");
    if (http && httpd_control_locked(http))
        fprintf(stderr,
                "podflame: POST /trigger and /alertmanager answer 403 on %s: it is not "
                "loopback-only and no --control-token-file is given (give one to enable them)\n",
                listen);
    while (!stop_signal) {
        if (watch_step(ctx.w, &stop_signal, NULL, NULL, err, sizeof(err))) {
            fprintf(stderr, "podflame watch: %s\n", err);
            goto out;
        }
    }
    fprintf(stderr, "podflame: %" PRIu64 " finding%s written\n", watch_findings(ctx.w),
            watch_findings(ctx.w) == 1 ? "" : "s");
    ret = 0;
out:
    httpd_stop(http);
    watch_free(ctx.w);
    return ret;
}

/* ---- podflame trigger ---- */

struct reply_buf {
    char text[4096];
    size_t len;
};

static size_t keep(char *buf, size_t size, size_t n, void *ctx)
{
    struct reply_buf *r = ctx;
    size_t got = size * n, room = sizeof(r->text) - 1 - r->len;

    memcpy(r->text + r->len, buf, got < room ? got : room);
    r->len += got < room ? got : room;
    r->text[r->len] = '\0';
    return got;
}

/* Frees a string that held a secret. */
static void forget(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

int cmd_trigger(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"pod", required_argument, NULL, 'p'},
        {"namespace", required_argument, NULL, 'n'},
        {"reason", required_argument, NULL, 'r'},
        {"addr", required_argument, NULL, 'a'},
        {"token-file", required_argument, NULL, 't'},
        {"cacert", required_argument, NULL, 'c'},
        {"insecure", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *pod = NULL, *ns = NULL, *reason = NULL, *addr = "127.0.0.1:9740";
    const char *token_file = getenv("PODFLAME_CONTROL_TOKEN_FILE"), *cacert = NULL;
    bool insecure = false;
    struct reply_buf reply = {0};
    struct curl_slist *hdrs = NULL;
    char url[512], *body, *token = NULL, *auth = NULL, err[512];
    size_t toklen = 0;
    json_t *j;
    CURL *h;
    long code = 0;
    CURLcode cc;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "+p:n:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            pod = optarg;
            break;
        case 'n':
            ns = optarg;
            break;
        case 'r':
            reason = optarg;
            break;
        case 'a':
            addr = optarg;
            break;
        case 't':
            token_file = optarg;
            break;
        case 'c':
            cacert = optarg;
            break;
        case 'k':
            insecure = true;
            break;
        case 'h':
            printf("usage: podflame trigger --pod NAME|UID [-n NAMESPACE] [--reason TEXT]\n"
                   "                        [--addr HOST:PORT|URL] [--token-file FILE]\n"
                   "                        [--cacert FILE | --insecure]\n\n"
                   "Asks the agent or watcher on this node (default 127.0.0.1:9740) to capture a\n"
                   "Pod now and write a finding, as a firing alert would.\n\n"
                   "  --addr HOST:PORT|URL    the listener: HOST:PORT (http), or http://HOST:PORT\n"
                   "                          or https://HOST:PORT\n"
                   "  --token-file FILE       send 'Authorization: Bearer' with this file's token\n"
                   "                          (the agent's --control-token-file; default\n"
                   "                          $PODFLAME_CONTROL_TOKEN_FILE)\n"
                   "  --cacert FILE           CA certificate(s) to check an https listener with\n"
                   "  --insecure              https without checking the certificate\n");
            return 0;
        default:
            fprintf(stderr, "(try 'podflame trigger --help')\n");
            return 2;
        }
    }
    if (!pod) {
        fprintf(stderr, "podflame trigger: say which Pod: --pod NAME [-n NAMESPACE]\n");
        return 2;
    }
    if (token_file && *token_file && token_read(token_file, &token, &toklen, err, sizeof(err))) {
        fprintf(stderr, "podflame trigger: --token-file %s\n", err);
        return 2;
    }
    if (token && asprintf(&auth, "Authorization: Bearer %s", token) < 0)
        auth = NULL;
    if (token) {
        explicit_bzero(token, toklen);
        free(token);
        if (!auth) {
            fprintf(stderr, "podflame trigger: out of memory\n");
            return 1;
        }
    }
    j = json_pack("{s:s, s:s, s:s}", "pod", pod, "namespace", ns ? ns : "", "reason",
                  reason ? reason : "asked by podflame trigger");
    body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!body || curl_global_init(CURL_GLOBAL_DEFAULT) || !(h = curl_easy_init())) {
        free(body);
        forget(auth);
        fprintf(stderr, "podflame trigger: out of memory\n");
        return 1;
    }
    /* HOST:PORT, or a URL of the listener (https for a TLS one) */
    if (!strncmp(addr, "http://", 7) || !strncmp(addr, "https://", 8))
        snprintf(url, sizeof(url), "%.*s/trigger",
                 (int)(strlen(addr) - (addr[strlen(addr) - 1] == '/')), addr);
    else
        snprintf(url, sizeof(url), "http://%s/trigger", addr);
    hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (auth)
        hdrs = curl_slist_append(hdrs, auth);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (cacert)
        curl_easy_setopt(h, CURLOPT_CAINFO, cacert);
    if (insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    curl_global_cleanup();
    forget(auth);
    free(body);
    if (cc != CURLE_OK) {
        fprintf(stderr, "podflame trigger: %s: %s (is podflame agent or watch running there?)\n",
                url, curl_easy_strerror(cc));
        return 1;
    }
    if (code == 401 && !auth)
        fprintf(stderr,
                "podflame trigger: %s: 401: give the listener's token with --token-file "
                "FILE\n",
                url);
    else {
        /* the listener's words, one line, no control characters */
        size_t len = strcspn(reply.text, "\n");
        struct buf safe = {0};

        if (len && !escape_terminal(&safe, reply.text, len) && !buf_put(&safe, "", 1))
            fprintf(code / 100 == 2 ? stdout : stderr, "podflame trigger: %s\n", safe.d);
        free(safe.d);
    }
    return code / 100 == 2 ? 0 : 1;
}

/* ---- podflame top ---- */

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
        char label[300], *safe;

        if (!strcmp(procs[i].key, "container"))
            snprintf(label, sizeof(label), "%.250s [%s]", procs[i].value, procs[i].label);
        else
            snprintf(label, sizeof(label), "%.250s (%s)", procs[i].label, procs[i].value);
        safe = escaped(escape_terminal, label);
        printf("%-44.44s %7.1f ", safe ? safe : "?",
               secs > 0 && hz ? 100.0 * (double)procs[i].samples / (secs * hz) : 0.0);
        free(safe);
        if (label_hotspots(p, procs[i].key, procs[i].value, &hs) == 0) {
            print_hot_functions(&hs);
            pod_hotspots_free(&hs);
        }
        putchar('\n');
    }
    free(procs);
}

static void top_frame(const struct watch_opts *o, struct pf_profile *p, struct watcher *wr,
                      struct kube_names **kn, int rows, double secs)
{
    struct pod_cpu pods[TOP_PODS];
    size_t n = watcher_top(wr, pods, TOP_PODS);
    double hist[1];
    int64_t newest;
    size_t h = watcher_node_history(wr, hist, 1, &newest);
    int used = 3;

    printf("\033[H\033[2Jpodflame top - node %s, %u CPUs %.0f%% busy, sampled %.0f s at %u Hz "
           "(Ctrl-C quits)\n\n",
           o->node, watcher_ncpus(wr), h ? hist[0] : 0.0, secs, o->capture_hz);
    if (n)
        printf("%-44s %7s %9s  %s\n", "POD", "CPU%", "LIMIT", "HOTTEST FUNCTIONS (self %)");
    for (size_t i = 0; i < n && used < rows - 1; i++) {
        struct pod_hotspots hs;
        const char *name = *kn ? kube_pod_name(*kn, pods[i].uid) : NULL;
        const char *ns = *kn ? kube_pod_namespace(*kn, pods[i].uid) : NULL;
        char label[300], limit[32], *safe;

        if (!name) {
            struct kube_names *fresh;

            if (kube_names_load(o->kubelet_log_dir, &fresh) == 0) {
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
        if (pod_hotspots(p, pods[i].uid, &hs) == 0) {
            print_hot_functions(&hs);
            pod_hotspots_free(&hs);
        }
        putchar('\n');
        used++;
    }
    if (!n)
        top_processes(p, rows - used, secs, o->capture_hz);
    fflush(stdout);
}

int cmd_top(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"freq", required_argument, NULL, 'F'},
        {"window", required_argument, NULL, 'w'},
        {"kubelet-log-dir", required_argument, NULL, 'k'},
        {"iterations", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct watch_opts o;
    struct watch_rules quiet = {.sustain = 1, .cooldown = 1};
    struct session_opts so;
    struct session *ses = NULL;
    struct watcher *wr = NULL;
    struct kube_names *kn = NULL;
    struct pf_profile *p = NULL, *next;
    char err[1024], host[256];
    unsigned window = 5;
    unsigned long v;
    long iterations = -1;
    int c, ret = 1;
    int64_t start, next_tick;

    watch_opts_default(&o, NULL);
    o.capture_hz = 99;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+F:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'F':
            if (opt_uint("freq", optarg, 1, 100000, "Hz", &v, err, sizeof(err))) {
                fprintf(stderr, "podflame top: %s\n", err);
                return 2;
            }
            o.capture_hz = (unsigned)v;
            break;
        case 'w':
            if (opt_uint("window", optarg, 1, 86400, "seconds", &v, err, sizeof(err))) {
                fprintf(stderr, "podflame top: %s\n", err);
                return 2;
            }
            window = (unsigned)v;
            break;
        case 'i':
            if (opt_uint("iterations", optarg, 1, LONG_MAX, "", &v, err, sizeof(err))) {
                fprintf(stderr, "podflame top: %s\n", err);
                return 2;
            }
            iterations = (long)v;
            break;
        case 'k':
            o.kubelet_log_dir = optarg;
            break;
        case 'h':
            printf("usage: podflame top [-F HZ] [--window SECS] [--kubelet-log-dir DIR]\n"
                   "                    [--iterations N]\n\n"
                   "A live view of the node's busiest Pods (CPU from their cgroups) and each\n"
                   "Pod's hottest functions (sampled at HZ, default 99, over the last SECS,\n"
                   "default 5), refreshed every second, like top for code.\n");
            return 0;
        default:
            fprintf(stderr, "(try 'podflame top --help')\n");
            return 2;
        }
    }
    o.node = kube_node_name(host, sizeof(host));
    session_opts_default(&so, o.capture_hz, "podflame top");
    so.kubelet_log_dir = o.kubelet_log_dir;
    if (pf_profile_new(&p) || pf_profile_set_cpu_types(p, 1000000000LL / o.capture_hz)) {
        fprintf(stderr, "podflame top: out of memory\n");
        goto out;
    }
    if (watcher_new(&quiet, &wr)) {
        fprintf(stderr, "podflame top: needs cgroup v2, and no cgroup2 mount is in "
                        "/proc/self/mountinfo\n");
        goto out;
    }
    if (session_open(&so, p, &ses, err, sizeof(err)) || session_start(ses, err, sizeof(err))) {
        fprintf(stderr, "podflame top: %s\n", err);
        goto out;
    }
    catch_signals();
    start = mono_ns();
    next_tick = start + 1000000000LL;
    {
        struct trigger_event ev;
        bool fired;

        watcher_tick(wr, &ev, &fired);
    }
    while (!stop_signal && iterations != 0) {
        if (session_poll(ses, 100, err, sizeof(err))) {
            fprintf(stderr, "podflame top: %s\n", err);
            goto out;
        }
        if (mono_ns() < next_tick)
            continue;
        next_tick += 1000000000LL;
        {
            struct trigger_event ev;
            bool fired;

            watcher_tick(wr, &ev, &fired);
        }
        if (session_flush(ses, err, sizeof(err))) {
            fprintf(stderr, "podflame top: %s\n", err);
            goto out;
        }
        top_frame(&o, p, wr, &kn, 40, (double)(mono_ns() - start) / 1e9);
        if (iterations > 0)
            iterations--;
        /* a fresh window every --window seconds keeps the view current */
        if ((mono_ns() - start) / 1000000000LL % window == 0) {
            if (pf_profile_new(&next) ||
                pf_profile_set_cpu_types(next, 1000000000LL / o.capture_hz) ||
                session_rotate(ses, next, err, sizeof(err))) {
                fprintf(stderr, "podflame top: out of memory\n");
                goto out;
            }
            pf_profile_free(p);
            p = next;
            start = mono_ns();
        }
    }
    ret = 0;
out:
    session_close(ses);
    watcher_free(wr);
    kube_names_free(kn);
    pf_profile_free(p);
    return ret;
}
