/*
 * agent: profiles the node all the time and writes one pprof per interval
 * to object storage. Each window goes to the spool on disk first (spool.h),
 * then uploader threads put it to the target (upload.h), retrying with
 * backoff until it is there; /metrics and /healthz tell how that goes.
 * The saturation watcher (watch.h) runs beside it unless turned off.
 */
#ifndef PODFLAME_AGENT_H
#define PODFLAME_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "profiler/io/bucket.h"
#include "profiler/io/httpd.h"
#include "profiler/sampling/session.h"
#include "profiler/watch/watch.h"

#define AGENT_MAX_LABELS 64

/* The agent's own settings; the sampling session's and the watcher's
 * come beside them (agent_run). */
struct agent_settings {
    unsigned interval;       /* seconds a window lasts, aligned to the clock */
    struct bucket_config up; /* where windows go: up.url */
    const char *spool_dir;
    uint64_t spool_max;                   /* bytes; the oldest windows are dropped beyond it */
    const char *metrics_addr;             /* HOST:PORT of /metrics and /healthz; "off": none */
    unsigned concurrency;                 /* uploads at once */
    unsigned grace;                       /* seconds to drain the spool after SIGTERM */
    bool split_pods;                      /* also one profile per Pod */
    const char *labels[AGENT_MAX_LABELS]; /* KEY=VALUE on every sample */
    size_t nlabels;
    bool no_watch; /* no saturation watcher */
    bool off_cpu;  /* windows of wall time: CPU samples and time off the CPU */
};

/* Everything agent_run needs; the agent borrows it until agent_run returns. */
struct agent_config {
    const struct agent_settings *a;
    struct session_opts ses;        /* what is sampled; its pods, pids, cgroups borrowed */
    const struct watch_opts *watch; /* the watcher's rules; ignored with a->no_watch */
    const struct httpd_opts *http;  /* tokens, TLS, the control listener */
    /* set by SIGINT/SIGTERM: the agent stops, writes its last window and
     * drains the spool for a->grace seconds; it sets *stop itself to stop
     * its watcher after a failure. A second signal (stop_count > 1) cuts
     * the draining short. */
    volatile sig_atomic_t *stop, *stop_count;
    FILE *log; /* one line per event */
};

/* Runs the agent until *c->stop. Returns 0 after a clean stop (the last
 * window written, the spool drained or kept for the next start), or a
 * negative errno with a one-line reason in err when it could not start or
 * sampling failed. */
int agent_run(const struct agent_config *c, char *err, size_t errlen);

#endif
