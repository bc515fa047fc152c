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
#include "profiler/opts.h"
#include "profiler/watch/watch.h"
#include "profiler/stop.h"

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

int cmd_watch(int argc, char **argv)
{
    struct settings set;
    struct watch_opts o;
    struct watch_ctx ctx = {0};
    struct httpd *http = NULL;
    const char *listen;
    char err[1024], host[256];
    int ret = 1, rc;

    if ((rc = opts_parse(&opt_cmd_watch, argc, argv, &set, err, sizeof(err)))) {
        opts_free(&set);
        return opts_exit(&opt_cmd_watch, rc, err);
    }
    o = set.watch;
    listen = set.listen;
    o.node = kube_node_name(host, sizeof(host));
    o.log = stderr;
    if (watch_new(&o, &ctx.w, err, sizeof(err))) {
        fprintf(stderr, "podflame watch: %s\n", err);
        goto out;
    }
    /* captures load BPF later, with the capabilities privs_drop keeps */
    if ((rc = privs_drop())) {
        fprintf(stderr, "podflame watch: cannot drop capabilities: %s\n", strerror(-rc));
        goto out;
    }
    if (strcmp(listen, "off") != 0) {
        struct httpd_listen l = {.addr = listen, .control = true, .log = stderr};

        if (httpd_start(&set.http, &l, on_watch_http, &ctx, &http, err, sizeof(err))) {
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
    opts_free(&set);
    return ret;
}
