#include "profiler/kube/cgroups.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <linux/magic.h>

#include "formats/clock.h"
#include "formats/buf.h"
#include "formats/htab.h"

#define MAX_WALK_DEPTH 32
/* A cgroup missing from walks is kept this long, so that samples it took
 * before its removal, drained later, are still labelled with its path; then
 * it is forgotten, so a node that churns Pods does not grow the cache. */
#define FORGET_AFTER_NS (30 * 1000000000LL) /* the default */

struct cgroup_entry {
    uint64_t id;
    char *path;         /* NULL: a cached miss, the id did not exist at a walk */
    int64_t gone_since; /* 0 while the cgroup exists */
    uint64_t seen;      /* the walk that last saw it */
};

struct cgroups {
    char mount[PATH_MAX];
    struct htab paths; /* id -> index into entries */
    struct cgroup_entry *entries;
    size_t nentries, cap;
    uint64_t walks;
    size_t forgotten;
    int64_t forget_after_ns;
};

int cgroups_find_mount(FILE *mountinfo, char *buf, size_t len)
{
    char *line = NULL;
    size_t cap = 0;
    int err = -ENOENT;

    while (getline(&line, &cap, mountinfo) >= 0) {
        /* id parent maj:min root mountpoint opts [optional...] - fstype src sopts */
        char *sep = strstr(line, " - ");
        char mnt[PATH_MAX], fstype[64];

        if (!sep || sscanf(sep + 3, "%63s", fstype) != 1 || strcmp(fstype, "cgroup2") != 0)
            continue;
        if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
            continue;
        if (strlen(mnt) >= len) {
            err = -ENAMETOOLONG;
            continue;
        }
        strcpy(buf, mnt);
        err = 0;
        break;
    }
    free(line);
    return err;
}

int cgroups_open(struct cgroups **out)
{
    struct cgroups *cg = calloc(1, sizeof(*cg));
    FILE *f;
    int err;

    if (!cg)
        return -ENOMEM;
    f = fopen("/proc/self/mountinfo", "re");
    if (!f) {
        err = -errno;
        free(cg);
        return err;
    }
    err = cgroups_find_mount(f, cg->mount, sizeof(cg->mount));
    fclose(f);
    if (err) {
        free(cg);
        return err;
    }
    htab_init(&cg->paths);
    cg->forget_after_ns = FORGET_AFTER_NS;
    *out = cg;
    return 0;
}

void cgroups_close(struct cgroups *cg)
{
    if (!cg)
        return;
    for (size_t i = 0; i < cg->nentries; i++)
        free(cg->entries[i].path);
    free(cg->entries);
    htab_free(&cg->paths);
    free(cg);
}

const char *cgroups_mount(const struct cgroups *cg)
{
    return cg->mount;
}

static int resolve(const struct cgroups *cg, const char *path, char *buf, size_t len)
{
    int n;

    if (path[0] == '/' && strncmp(path, cg->mount, strlen(cg->mount)) == 0)
        n = snprintf(buf, len, "%s", path);
    else
        n = snprintf(buf, len, "%s/%s", cg->mount, path[0] == '/' ? path + 1 : path);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* On 64-bit kernels the cgroup id bpf_get_current_cgroup_id() returns is the
 * kernfs inode number of the cgroup directory. */
int cgroups_id(const struct cgroups *cg, const char *path, uint64_t *id)
{
    char full[PATH_MAX];
    struct statfs sfs;
    struct stat st;
    int err = resolve(cg, path, full, sizeof(full));

    if (err)
        return err;
    if (stat(full, &st))
        return -errno;
    if (!S_ISDIR(st.st_mode) || statfs(full, &sfs) || sfs.f_type != CGROUP2_SUPER_MAGIC)
        return -ENOTDIR;
    *id = st.st_ino;
    return 0;
}

/* Records id at path (NULL: known missing). Returns 0 or -ENOMEM. */
static int remember(struct cgroups *cg, uint64_t id, const char *rel)
{
    struct cgroup_entry *e;
    uint64_t idx;
    char *copy = NULL;

    if (htab_get(&cg->paths, &id, sizeof(id), &idx)) {
        e = &cg->entries[idx];
        if (rel && !e->path && !(e->path = strdup(rel)))
            return -ENOMEM;
        if (rel) {
            e->gone_since = 0;
            e->seen = cg->walks;
        }
        return 0;
    }
    if (ARRAY_RESERVE_ONE(cg->entries, cg->nentries, cg->cap))
        return -ENOMEM;
    if (rel && !(copy = strdup(rel)))
        return -ENOMEM;
    if (htab_put(&cg->paths, &id, sizeof(id), cg->nentries)) {
        free(copy);
        return -ENOMEM;
    }
    cg->entries[cg->nentries++] = (struct cgroup_entry){
        .id = id, .path = copy, .gone_since = rel ? 0 : mono_ns(), .seen = cg->walks};
    return 0;
}

/* After a walk: starts the clock on cgroups it did not see and forgets
 * those gone for longer than FORGET_AFTER_NS, rebuilding the index. */
static int forget_removed(struct cgroups *cg)
{
    int64_t now = mono_ns();
    size_t keep = 0;
    struct htab fresh;

    for (size_t i = 0; i < cg->nentries; i++) {
        struct cgroup_entry *e = &cg->entries[i];

        if (e->seen != cg->walks && !e->gone_since)
            e->gone_since = now;
        if (e->gone_since && now - e->gone_since >= cg->forget_after_ns)
            keep++;
    }
    if (!keep)
        return 0;
    htab_init(&fresh);
    keep = 0;
    for (size_t i = 0; i < cg->nentries; i++) {
        struct cgroup_entry *e = &cg->entries[i];

        if (e->gone_since && now - e->gone_since >= cg->forget_after_ns) {
            free(e->path);
            cg->forgotten++;
            continue;
        }
        if (htab_put(&fresh, &e->id, sizeof(e->id), keep)) {
            htab_free(&fresh);
            return -ENOMEM; /* the old index is intact; forgetting can wait */
        }
        cg->entries[keep++] = *e;
    }
    htab_free(&cg->paths);
    cg->paths = fresh;
    cg->nentries = keep;
    return 0;
}

static int walk(struct cgroups *cg, char *full, size_t base_len, int depth)
{
    size_t len = strlen(full);
    struct dirent *de;
    struct stat st;
    DIR *d;
    int err = 0;

    if (depth > MAX_WALK_DEPTH || stat(full, &st))
        return 0; /* removed while we walk: not an error */
    err = remember(cg, (uint64_t)st.st_ino, len > base_len ? full + base_len : "/");
    if (err)
        return err;
    d = opendir(full);
    if (!d)
        return 0;
    while (!err && (de = readdir(d))) {
        if (de->d_type != DT_DIR || de->d_name[0] == '.')
            continue;
        if (len + 1 + strlen(de->d_name) >= PATH_MAX)
            continue;
        full[len] = '/';
        strcpy(full + len + 1, de->d_name);
        err = walk(cg, full, base_len, depth + 1);
        full[len] = '\0';
    }
    closedir(d);
    return err;
}

/* A full walk; only then can cgroups be found missing. */
static int walk_all(struct cgroups *cg)
{
    char full[PATH_MAX];
    int err;

    cg->walks++;
    snprintf(full, sizeof(full), "%s", cg->mount);
    if ((err = walk(cg, full, strlen(cg->mount), 0)))
        return err;
    return forget_removed(cg);
}

int cgroups_walk(struct cgroups *cg, int (*fn)(void *ctx, uint64_t id, const char *path), void *ctx)
{
    int err;

    if ((err = walk_all(cg)))
        return err;
    /* every cgroup seen, recently removed ones included: their paths are
     * what samples taken before the removal are labelled with */
    for (size_t i = 0; i < cg->nentries; i++) {
        if (cg->entries[i].path && (err = fn(ctx, cg->entries[i].id, cg->entries[i].path)))
            return err;
    }
    return 0;
}

const char *cgroups_path(struct cgroups *cg, uint64_t id)
{
    uint64_t idx;

    /* A miss means a cgroup created since the last walk: walk again. Kernel
     * cgroup ids are never reused, so an id still missing after a fresh walk
     * belongs to a removed cgroup and is cached as such (for a while). */
    if (!htab_get(&cg->paths, &id, sizeof(id), &idx)) {
        if (walk_all(cg))
            return NULL;
        if (!htab_get(&cg->paths, &id, sizeof(id), &idx)) {
            remember(cg, id, NULL);
            return NULL;
        }
    }
    return cg->entries[idx].path;
}

size_t cgroups_cached(const struct cgroups *cg)
{
    return cg->nentries;
}

size_t cgroups_forgotten(const struct cgroups *cg)
{
    return cg->forgotten;
}

void cgroups_set_forget_after(struct cgroups *cg, int64_t ns)
{
    cg->forget_after_ns = ns;
}
