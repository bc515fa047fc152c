#include "symbolize/procmaps.h"

#include "formats/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

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

/* Without openat2 (before Linux 5.6, or under valgrind): a walk one
 * component at a time from the root that follows no symlink at all and
 * takes no "..", so it cannot leave the root either. */
static int open_beneath_strict(int root, const char *path)
{
    char part[256];
    int dir = root, fd = -ENOENT;

    while (*path) {
        const char *slash;
        size_t len;

        while (*path == '/')
            path++;
        if (!*path)
            break;
        slash = strchr(path, '/');
        len = slash ? (size_t)(slash - path) : strlen(path);
        if (len >= sizeof(part) || (len == 2 && path[0] == '.' && path[1] == '.')) {
            fd = len >= sizeof(part) ? -ENAMETOOLONG : -EXDEV;
            break;
        }
        memcpy(part, path, len);
        part[len] = '\0';
        path += len;
        while (*path == '/')
            path++;
        fd = openat(dir, part, (*path ? O_PATH | O_DIRECTORY : UNTRUSTED_OPEN_FLAGS) | O_NOFOLLOW);
        fd = fd < 0 ? -errno : fd;
        if (dir != root)
            close(dir);
        dir = fd;
        if (fd < 0 || !*path)
            return fd;
    }
    if (dir != root && dir >= 0)
        close(dir);
    return fd < 0 ? fd : -ENOENT;
}

int procmaps_regular_fd(int fd)
{
    struct stat st;

    if (fd < 0)
        return fd;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    return fd;
}

int procmaps_open_beneath(int rootfd, const char *path)
{
    struct open_how how = {.flags = UNTRUSTED_OPEN_FLAGS,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));

    fd = fd < 0 ? -errno : fd;
    /* no openat2: an old kernel, valgrind, or a seccomp profile that
     * answers EPERM for syscalls it does not know (older Docker's) */
    if (fd == -ENOSYS || fd == -EPERM)
        fd = open_beneath_strict(rootfd, path);
    return procmaps_regular_fd(fd);
}

int procmaps_open_in_root(pid_t pid, const char *path)
{
    char root[64];
    int dfd, fd;

    snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);
    if ((dfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        return errno == ENOENT ? -ESRCH : -errno;
    fd = procmaps_open_beneath(dfd, path);
    close(dfd);
    return fd;
}

/* Whether fd is the inode v maps. The inode number alone: on overlayfs (a
 * container's root) the device a path reports is the overlay's while the
 * maps line has the layer's, and the inode numbers agree. */
static int check_inode(int fd, const struct vma *v)
{
    struct stat st;

    if (fstat(fd, &st) || (uint64_t)st.st_ino != v->inode) {
        close(fd);
        return -ESTALE;
    }
    return fd;
}

int procmaps_open_file(pid_t pid, const struct vma *v)
{
    char buf[96];
    int fd;

    /* the mapped file itself, even deleted or replaced since */
    snprintf(buf, sizeof(buf), "/proc/%d/map_files/%llx-%llx", (int)pid,
             (unsigned long long)v->start, (unsigned long long)v->end);
    if ((fd = procmaps_regular_fd(open(buf, UNTRUSTED_OPEN_FLAGS))) >= 0)
        return fd;
    if ((fd = procmaps_open_in_root(pid, v->path)) >= 0)
        return check_inode(fd, v);
    if (fd != -ESRCH)
        return fd; /* not there, or a symlink out of the root refused */
    /* the process is gone: as the host sees the path */
    if ((fd = open(v->path, UNTRUSTED_OPEN_FLAGS | O_NOFOLLOW)) < 0)
        return -errno;
    if ((fd = procmaps_regular_fd(fd)) < 0)
        return fd;
    return check_inode(fd, v);
}
