#include "profiler/watch/tick_reader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/buf.h"
#include "formats/clock.h"
#include "profiler/kube/cgroups.h"
#include "profiler/kube/kube.h"
#include "profiler/watch/cpustat.h"

struct tick_reader {
    struct cgroups *cg;
    struct node_cpu *node; /* /proc/stat parsed: per-CPU arrays, too large for the stack */
    struct tick_pod *pods; /* the last tick's Pods */
    size_t npods, cap;
};

int tick_reader_open(struct tick_reader **out, char *err, size_t errlen)
{
    struct tick_reader *r = calloc(1, sizeof(*r));
    int rc;

    if (!r || !(r->node = calloc(1, sizeof(*r->node)))) {
        free(r);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if ((rc = cgroups_open(&r->cg))) {
        snprintf(err, errlen, "%s",
                 rc == -ENOENT ? "the watcher needs cgroup v2, and no cgroup2 mount is in "
                                 "/proc/self/mountinfo"
                               : strerror(-rc));
        tick_reader_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

void tick_reader_close(struct tick_reader *r)
{
    if (!r)
        return;
    cgroups_close(r->cg);
    free(r->node);
    free(r->pods);
    free(r);
}

/* Reads one cgroup of the walk when it is a Pod's own. */
static int visit(void *ctx, uint64_t id, const char *path)
{
    struct tick_reader *r = ctx;
    struct cgroup_identity ident;
    struct cgroup_cpu c;
    struct tick_pod *p;
    char dir[1024], gone[256];

    kube_parse_cgroup(path, &ident);
    if (!ident.is_pod || ident.container_id[0] || ident.conmon)
        return 0; /* the Pod's own cgroup holds all its containers */
    snprintf(dir, sizeof(dir), "%s/%s", cgroups_mount(r->cg), path);
    if (cpustat_read_cgroup(dir, path, &c, gone, sizeof(gone)))
        return 0; /* removed meanwhile */
    if (ARRAY_RESERVE_ONE(r->pods, r->npods, r->cap))
        return -ENOMEM;
    p = &r->pods[r->npods++];
    memset(p, 0, sizeof(*p));
    snprintf(p->uid, sizeof(p->uid), "%s", ident.pod_uid);
    snprintf(p->path, sizeof(p->path), "%s", path);
    p->cgroup_id = id;
    p->cpu = c;
    return 0;
}

int tick_reader_read(struct tick_reader *r, struct watch_tick *t, char *err, size_t errlen)
{
    double psi;
    int rc;

    memset(t, 0, sizeof(*t));
    t->mono_ns = mono_ns();
    t->real_ns = realtime_ns();
    if ((rc = cpustat_read_node(r->node, &psi))) {
        snprintf(err, errlen, "reading /proc/stat: %s", strerror(-rc));
        return rc;
    }
    t->node_busy = r->node->busy;
    t->node_total = r->node->total;
    t->ncpus = r->node->ncpus;
    t->node_psi = psi;
    r->npods = 0;
    if ((rc = cgroups_walk(r->cg, visit, r))) {
        snprintf(err, errlen, "reading the Pods' cgroups under %s: %s", cgroups_mount(r->cg),
                 strerror(-rc));
        return rc;
    }
    t->pods = r->pods;
    t->npods = r->npods;
    return 0;
}
