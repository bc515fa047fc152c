/*
 * tick_reader: reads a tick (tick.h) from the running system: the node's
 * CPU time from /proc/stat and its CPU pressure from /proc/pressure/cpu
 * (cpustat.h), then every Pod's own cgroup found in a walk of the cgroup2
 * hierarchy, with what the v1 cpu and cpuacct controllers add on a hybrid
 * host. Nothing here decides anything: that is the rules' (rules.h).
 */
#ifndef PODFLAME_TICK_READER_H
#define PODFLAME_TICK_READER_H

#include <stddef.h>

#include "profiler/watch/tick.h"

struct tick_reader;

/* Finds the cgroup2 mount. Returns 0, or -ENOENT (none: the watcher needs
 * cgroup v2) or -ENOMEM, with the reason in err. Close with
 * tick_reader_close. */
int tick_reader_open(struct tick_reader **out, char *err, size_t errlen);
void tick_reader_close(struct tick_reader *r);

/* Reads everything now into t. t->pods points into r: valid until the
 * next tick_reader_read or tick_reader_close. A Pod whose cgroup goes away
 * during the read is left out. Returns 0, or a negative errno with the
 * reason in err (the node's counters unreadable, out of memory). */
int tick_reader_read(struct tick_reader *r, struct watch_tick *t, char *err, size_t errlen);

#endif
