/*
 * state: what the agent's threads share (the sampling loop, the uploaders,
 * the watcher and the HTTP listeners). Private to profiler/agent/.
 */
#ifndef PODFLAME_AGENT_STATE_H
#define PODFLAME_AGENT_STATE_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "profiler/agent/agent.h"
#include "profiler/agent/spool.h"
#include "profiler/io/bucket.h"
#include "profiler/io/httpd.h"
#include "profiler/sampling/session.h"
#include "profiler/watch/watch.h"

/* What /metrics reports; written by the main and uploader threads. */
struct agent_metrics {
    _Atomic uint64_t samples, lost, windows, windows_dropped, objects, upload_failures;
    _Atomic uint64_t upload_bytes, spool_errors;
    _Atomic uint64_t sym_binaries, sym_known, sym_refused, sym_processes, processes;
    _Atomic int64_t last_upload_s, heartbeat_ns, start_s;
};

struct agent {
    const struct agent_config *c;
    const struct agent_settings *o;
    struct agent_metrics m;
    struct spool *spool;
    struct bucket *target;
    char node[256];
    FILE *log;
    /* uploaders: lock and wake guard what follows */
    pthread_mutex_t lock;
    pthread_cond_t wake;   /* on CLOCK_MONOTONIC */
    bool stopping;         /* no new windows: drain until the deadline */
    int64_t deadline_ns;   /* when draining must end */
    int64_t next_try_ns;   /* backoff: no upload before this */
    unsigned failures_run; /* consecutive failed uploads */
    unsigned in_flight;
    char last_error[1024];
    struct watch *watch; /* the saturation watcher; NULL with --no-watch */
    uint64_t lost_mark;  /* lost samples when the last window closed */
};

/* An uploader thread: takes spooled objects and puts them to the target,
 * backing off on failures, until stopping and drained or the deadline. */
void *agent_uploader(void *ag);

/* Wakes the uploaders: something was spooled, or they should stop. */
void agent_wake(struct agent *ag);

/* GET /metrics, GET /healthz, and the watcher's POST endpoints. */
void agent_http(void *ag, const char *method, const char *path, const char *body, size_t len,
                struct httpd_reply *reply);

/* The session's and symbolizer's counts into the metrics; the heartbeat
 * /healthz reads. */
void agent_publish_stats(struct agent *ag, struct session *ses);

#endif
