/*
 * /proc/PID/maps: parse lines into mappings and read a process's executable
 * mappings. Parsing is separate from reading so it can be tested on text.
 */
#ifndef PODFLAME_PROCMAPS_H
#define PODFLAME_PROCMAPS_H

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

/* The mapping holding addr in a sorted array, or NULL. */
const struct vma *procmaps_find(const struct vma *v, size_t n, uint64_t addr);

#endif
