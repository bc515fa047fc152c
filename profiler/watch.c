/*
 * podflame watch: the saturation watcher on its own, with its listener for
 * alerts and podflame trigger.
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

#include "profiler/cmd.h"
#include "profiler/io/httpd.h"
#include "profiler/kube/kube.h"
#include "profiler/sampling/privs.h"
#include "profiler/watch/watch.h"
#include "profiler/stop.h"

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
    cmd_catch_stop_signals();
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
    while (!cmd_stop_signal) {
        if (watch_step(ctx.w, &cmd_stop_signal, NULL, NULL, err, sizeof(err))) {
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
