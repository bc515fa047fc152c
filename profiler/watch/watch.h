/*
 * watch: the saturation watcher at work, for `podflame watch` and inside
 * `podflame agent`. Once a second it ticks the watcher (watcher.h); when a
 * rule fires, or an alert or a person asks (watch_http), it captures the
 * busiest or the named Pods at a higher rate with a sampling session of its
 * own and writes a finding (finding.h).
 */
#ifndef PODFLAME_WATCH_H
#define PODFLAME_WATCH_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "profiler/io/httpd.h"
#include "profiler/watch/watcher.h"
#include "symbolize/symbolizer.h"

struct watch_opts {
    struct watch_rules rules;
    unsigned capture_hz;      /* default 499 */
    unsigned capture_s;       /* default 20 */
    unsigned top;             /* Pods captured on a node or pressure rule (default 3) */
    const char *findings_dir; /* where findings go */
    const char *kubelet_log_dir;
    const char *node;
    uint8_t unwind;             /* PF_UNWIND_MODE_* of captures */
    bool kube_api;              /* captures also ask the API server for Pod labels */
    struct symbolizer_opts sym; /* how captures name frames; debug_dirs borrowed */
    FILE *log;                  /* one line per event; NULL: none */
};

/* The defaults above, the findings in dir. */
void watch_opts_default(struct watch_opts *o, const char *findings_dir);

struct watch;

/* A watcher with the options in o (copied; the strings and the log it
 * points to are borrowed and must outlive it). Returns 0 or a negative
 * errno with the reason in err. Free with watch_free, after the HTTP
 * thread has stopped calling watch_http. */
int watch_new(const struct watch_opts *o, struct watch **out, char *err, size_t errlen);
void watch_free(struct watch *w);

/* Called with each finding's id and directory. */
typedef void (*watch_finding_fn)(void *ctx, const char *id, const char *dir);

/* One second of watching, or a whole capture and its finding when one is
 * due (captures stop early when *stop becomes non-zero). Returns 0 or a
 * negative errno with the reason in err for what cannot go on. */
int watch_step(struct watch *w, const volatile sig_atomic_t *stop, watch_finding_fn fn, void *ctx,
               char *err, size_t errlen);

/* POST /trigger ({"namespace": NS, "pod": NAME|UID, "reason": TEXT}) and
 * POST /alertmanager (Alertmanager's webhook). Safe from the HTTP thread.
 * Returns false when path is not one of them. */
bool watch_http(struct watch *w, const char *method, const char *path, const char *body, size_t len,
                struct httpd_reply *reply);

/* Findings written so far. */
uint64_t watch_findings(const struct watch *w);

#endif
