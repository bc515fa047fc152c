/*
 * cgroup v2: where the unified hierarchy is mounted (read from
 * /proc/self/mountinfo; /sys/fs/cgroup on pure-v2 hosts,
 * /sys/fs/cgroup/unified on hybrid ones), a path's cgroup id, and the path
 * of an id (a cached walk of the hierarchy, redone on a miss).
 *
 * No function here takes an err buffer: each returns the errno named, which
 * is the whole reason; the caller's message names the path or id.
 */
#ifndef PODFLAME_CGROUPS_H
#define PODFLAME_CGROUPS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cgroups;

/* Finds the cgroup2 mount in a mountinfo stream; copies it into buf.
 * Returns 0, -ENOENT when there is none, or -ENAMETOOLONG when it does not
 * fit in len bytes. */
int cgroups_find_mount(FILE *mountinfo, char *buf, size_t len);

/* Returns 0, -ENOENT (no cgroup2 mount), -ENOMEM, or the errno of opening
 * /proc/self/mountinfo. */
int cgroups_open(struct cgroups **out);
/* Frees cg (NULL: nothing). */
void cgroups_close(struct cgroups *cg);
/* Where cgroup2 is mounted; valid until cgroups_close. */
const char *cgroups_mount(const struct cgroups *cg);

/* The id of a cgroup given as an absolute path or one relative to the
 * cgroup2 mount. Returns 0, -ENOTDIR (not a cgroup2 directory),
 * -ENAMETOOLONG, or stat's errno (-ENOENT: no such cgroup). */
int cgroups_id(const struct cgroups *cg, const char *path, uint64_t *id);

/* The path of a cgroup id relative to the mount ("/" for the root), or NULL
 * when no such cgroup exists. A removed cgroup keeps its path for 30 s after
 * a walk first misses it, then is forgotten. Valid until the next call on
 * cg (copy it to keep it). */
const char *cgroups_path(struct cgroups *cg, uint64_t id);

/* Walks the whole hierarchy now and calls fn for every cgroup (paths
 * relative to the mount, valid during the call only), recently removed
 * ones included. Returns 0, fn's non-zero result, or -ENOMEM. fn must not
 * call back into cg. */
int cgroups_walk(struct cgroups *cg, int (*fn)(void *ctx, uint64_t id, const char *path),
                 void *ctx);

/* Cache size (ids known, including cached misses) and how many removed
 * cgroups have been forgotten so far. */
size_t cgroups_cached(const struct cgroups *cg);
size_t cgroups_forgotten(const struct cgroups *cg);
/* How long a removed cgroup is remembered (default 30 s). */
void cgroups_set_forget_after(struct cgroups *cg, int64_t ns);

#endif
