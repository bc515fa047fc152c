#include "cgroups.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include "../formats/buf.h"
#include "../formats/htab.h"

#define MAX_WALK_DEPTH 32
#define GONE           UINT64_MAX /* cached miss: the id did not exist at the last walk */

struct cgroups {
    char mount[PATH_MAX];
    struct htab paths; /* id -> index into names */
    char **names;
    size_t nnames, cap;
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
    *out = cg;
    return 0;
}

void cgroups_close(struct cgroups *cg)
{
    if (!cg)
        return;
    for (size_t i = 0; i < cg->nnames; i++)
        free(cg->names[i]);
    free(cg->names);
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

static int remember(struct cgroups *cg, uint64_t id, const char *rel)
{
    char *copy;

    if (htab_get(&cg->paths, &id, sizeof(id), NULL))
        return 0;
    if (ARRAY_RESERVE_ONE(cg->names, cg->nnames, cg->cap))
        return -ENOMEM;
    copy = strdup(rel);
    if (!copy)
        return -ENOMEM;
    if (htab_put(&cg->paths, &id, sizeof(id), cg->nnames)) {
        free(copy);
        return -ENOMEM;
    }
    cg->names[cg->nnames++] = copy;
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
    err = remember(cg, st.st_ino, len > base_len ? full + base_len : "/");
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

int cgroups_walk(struct cgroups *cg, int (*fn)(void *ctx, uint64_t id, const char *path), void *ctx)
{
    char full[PATH_MAX];
    int err;

    snprintf(full, sizeof(full), "%s", cg->mount);
    if ((err = walk(cg, full, strlen(cg->mount), 0)))
        return err;
    /* every cgroup seen so far, removed ones included: their paths are what
     * samples taken before the removal were labelled with */
    for (size_t i = 0; i < cg->paths.cap; i++) {
        const struct htab_slot *s = &cg->paths.slots[i];
        uint64_t id;

        if (!s->hash || s->val == GONE)
            continue;
        memcpy(&id, s->key, sizeof(id));
        if ((err = fn(ctx, id, cg->names[s->val])))
            return err;
    }
    return 0;
}

const char *cgroups_path(struct cgroups *cg, uint64_t id)
{
    char full[PATH_MAX];
    uint64_t idx;

    /* A miss means a cgroup created since the last walk: walk again. Kernel
     * cgroup ids are never reused, so an id still missing after a fresh walk
     * belongs to a removed cgroup and is cached as such. */
    if (!htab_get(&cg->paths, &id, sizeof(id), &idx)) {
        snprintf(full, sizeof(full), "%s", cg->mount);
        if (walk(cg, full, strlen(cg->mount), 0))
            return NULL;
        if (!htab_get(&cg->paths, &id, sizeof(id), &idx)) {
            htab_put(&cg->paths, &id, sizeof(id), GONE);
            return NULL;
        }
    }
    return idx == GONE ? NULL : cg->names[idx];
}
