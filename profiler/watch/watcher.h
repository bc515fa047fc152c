/*
 * watcher: the CPU-saturation watcher as the commands use it. Each call of
 * watcher_update reads a tick (tick_reader.h) and gives it to the rules
 * (rules.h), which say when an incident opens; the rest asks the rules what
 * the last ticks said. One thread at a time.
 */
#ifndef PODFLAME_WATCHER_H
#define PODFLAME_WATCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profiler/watch/rules.h"

struct watcher;

/* A watcher with the thresholds in rules (copied). Returns 0, or -ENOENT
 * (no cgroup2 mount) or -ENOMEM with the reason in err. Free with
 * watcher_free. */
int watcher_open(const struct watch_rules *rules, struct watcher **out, char *err, size_t errlen);
void watcher_free(struct watcher *w);

/* Reads everything now and applies the rules; call it once a second. When
 * an incident opens, sets *fired and fills ev. Returns 0 or a negative
 * errno with the reason in err. */
int watcher_update(struct watcher *w, struct trigger_event *ev, bool *fired, char *err,
                   size_t errlen);

/* The Pods seen at the last update, busiest first; returns how many were
 * written (at most n). */
size_t watcher_top(const struct watcher *w, struct pod_cpu *out, size_t n);

/* The node's CPU % (of all CPUs) for the last n seconds, oldest first, and
 * the realtime of the newest; returns how many. */
size_t watcher_node_history(const struct watcher *w, double *pct, size_t n, int64_t *newest_ns);

/* A Pod's CPU % (of one CPU) for the last n seconds, oldest first. */
size_t watcher_pod_history(const struct watcher *w, const char *uid, double *pct, size_t n);

/* Node CPUs, for percentages. */
unsigned watcher_ncpus(const struct watcher *w);

#endif
