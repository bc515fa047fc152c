/*
 * /proc/PID/maps: parse lines into mappings and read a process's executable
 * mappings. Parsing is separate from reading so it can be tested on text.
 */
#ifndef PODFLAME_PROCMAPS_H
#define PODFLAME_PROCMAPS_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct vma {
    uint64_t start, end, offset;
    unsigned int dev_major, dev_minor;
    uint64_t inode;
    char perms[5];
    bool deleted; /* the file was unlinked or replaced: "(deleted)" suffix */
    char *path;   /* owned; "" for anonymous mappings */
};

/* Parses one maps line (trailing newline allowed). On success fills *v and
 * allocates v->path. Returns 0, -EINVAL for a malformed line, or -ENOMEM. */
int procmaps_parse_line(const char *line, struct vma *v);

/* Reads the executable mappings of a stream of maps lines into a new array.
 * Returns 0, -EINVAL (with *bad_line the 1-based malformed line), -ENOMEM. */
int procmaps_read_stream(FILE *f, struct vma **out, size_t *n, size_t *bad_line);

/* Reads /proc/PID/maps. Returns 0, -ESRCH if the process is gone, or as above. */
int procmaps_read(pid_t pid, struct vma **out, size_t *n);

void procmaps_free(struct vma *v, size_t n);

/* How every file another user controls is opened: a FIFO or device planted
 * where a binary, perf map or debug file is expected must neither block the
 * open nor become podflame's terminal. */
#define UNTRUSTED_OPEN_FLAGS (O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)

/* Returns fd when it is a regular file's; else closes it and returns
 * -EINVAL (a negative fd is passed through). */
int procmaps_regular_fd(int fd);

/* Opens path read-only inside the directory rootfd as if it were "/":
 * symlinks and ".." cannot leave it; regular files only (UNTRUSTED_OPEN_FLAGS).
 * Returns an fd or a negative errno. */
int procmaps_open_beneath(int rootfd, const char *path);

/* Opens path inside pid's root directory (its container) read-only, never
 * following a symlink or ".." out of that root: podflame runs as root and
 * the files are the process's to plant; regular files only, opened without
 * blocking. Returns an fd, -ESRCH when the process is gone, or another
 * negative errno. */
int procmaps_open_in_root(pid_t pid, const char *path);

/* Opens the file v maps in pid: the mapping itself (/proc/PID/map_files),
 * else its path inside the process's root, else (the process gone) its
 * path on the host. A file opened by path must be the inode that was
 * mapped; a binary replaced since is refused with -ESTALE, so its symbols
 * are never put on the old code's addresses. Returns an fd or -errno. */
int procmaps_open_file(pid_t pid, const struct vma *v);

/* The mapping holding addr in a sorted array, or NULL. */
const struct vma *procmaps_find(const struct vma *v, size_t n, uint64_t addr);

#endif
