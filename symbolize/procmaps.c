#include "procmaps.h"

#include "../formats/buf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int procmaps_parse_line(const char *line, struct vma *v)
{
    unsigned long long start, end, off, ino;
    unsigned int maj, min;
    char perms[5];
    int pos = 0;
    const char *path;
    size_t len;

    memset(v, 0, sizeof(*v));
    if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu%n", &start, &end, perms, &off, &maj, &min, &ino,
               &pos) != 7 ||
        strlen(perms) != 4 || end < start)
        return -EINVAL;
    path = line + pos;
    while (*path == ' ' || *path == '\t')
        path++;
    len = strcspn(path, "\n");
    if (len >= 10 && memcmp(path + len - 10, " (deleted)", 10) == 0) {
        v->deleted = true;
        len -= 10;
    }
    v->path = strndup(path, len);
    if (!v->path)
        return -ENOMEM;
    v->start = start;
    v->end = end;
    v->offset = off;
    v->dev_major = maj;
    v->dev_minor = min;
    v->inode = ino;
    memcpy(v->perms, perms, sizeof(perms));
    return 0;
}

int procmaps_read_stream(FILE *f, struct vma **out, size_t *n, size_t *bad_line)
{
    struct vma *arr = NULL;
    size_t cnt = 0, cap = 0, lineno = 0;
    char *line = NULL;
    size_t lcap = 0;
    int err = 0;

    while (getline(&line, &lcap, f) >= 0) {
        struct vma v;

        lineno++;
        err = procmaps_parse_line(line, &v);
        if (err) {
            if (bad_line)
                *bad_line = lineno;
            break;
        }
        if (v.perms[2] != 'x') {
            free(v.path);
            continue;
        }
        if (ARRAY_RESERVE_ONE(arr, cnt, cap)) {
            free(v.path);
            err = -ENOMEM;
            break;
        }
        arr[cnt++] = v;
    }
    free(line);
    if (err) {
        procmaps_free(arr, cnt);
        return err;
    }
    *out = arr;
    *n = cnt;
    return 0;
}

int procmaps_read(pid_t pid, struct vma **out, size_t *n)
{
    char path[64];
    FILE *f;
    int err;

    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? -ESRCH : -errno;
    err = procmaps_read_stream(f, out, n, NULL);
    /* A process that exits while we read leaves an empty or short file. */
    if (!err && ferror(f)) {
        procmaps_free(*out, *n);
        *out = NULL;
        *n = 0;
        err = -ESRCH;
    }
    fclose(f);
    return err;
}

void procmaps_free(struct vma *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].path);
    free(v);
}

const struct vma *procmaps_find(const struct vma *v, size_t n, uint64_t addr)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (addr < v[mid].start)
            hi = mid;
        else if (addr >= v[mid].end)
            lo = mid + 1;
        else
            return &v[mid];
    }
    return NULL;
}
