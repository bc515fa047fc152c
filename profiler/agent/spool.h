/*
 * spool: the agent's on-disk queue of objects waiting for upload. An entry
 * is one file holding the object's key, its index line and its bytes,
 * written to a temporary name, fsynced and renamed: a crash at any moment
 * leaves a whole entry or none, so a restart resumes where the last run
 * stopped. Entries are named by sequence, so the oldest goes first; the
 * spool is bounded in bytes and drops its oldest entries to stay under it.
 *
 * Safe to use from several threads: the agent adds, uploaders take.
 */
#ifndef PODFLAME_SPOOL_H
#define PODFLAME_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spool;

/* One entry, loaded: its strings and bytes are its own (malloc'd) until
 * spool_done or spool_release frees them. */
struct spool_item {
    char name[64]; /* the entry's file name */
    char *key;     /* object key */
    char *index;   /* its index line (JSON, no newline) */
    uint8_t *data;
    size_t len;
};

struct spool_stats {
    uint64_t bytes;   /* now on disk */
    uint64_t entries; /* now on disk */
    uint64_t dropped; /* entries dropped to stay under the limit, since open */
    uint64_t corrupt; /* unreadable entries removed, since open */
};

/* Opens (creating) dir, removes temporary files a crash left behind and
 * queues the entries found. Returns 0 or a negative errno with a one-line
 * reason in err. dir is copied. */
int spool_open(const char *dir, uint64_t max_bytes, struct spool **out, char *err, size_t errlen);
/* Frees sp (NULL: nothing); the entries stay on disk for the next run. */
void spool_close(struct spool *sp);

/* Adds an entry, after dropping the oldest entries not being uploaded as
 * needed to stay under the limit (*dropped says how many). An entry larger
 * than the whole limit is refused with -EFBIG. Returns 0 or a negative
 * errno with a one-line reason in err (-EINVAL: a key or index line with a
 * newline; a full disk: -ENOSPC, nothing left). Copies key, index and
 * data. */
int spool_add(struct spool *sp, const char *key, const char *index, const void *data, size_t len,
              unsigned *dropped, char *err, size_t errlen);

/* Takes the oldest entry nobody is uploading, loaded into it. Returns 0,
 * -ENOENT when there is none, or a negative errno (out of memory or of
 * file descriptors: the entry stays queued); err says which. An entry that
 * is not one (malformed, truncated, a symlink) is removed, counted in
 * corrupt and skipped. */
int spool_take(struct spool *sp, struct spool_item *it, char *err, size_t errlen);

/* After a successful upload: deletes the entry and frees what it holds.
 * Cannot fail: an entry whose file could not be unlinked is uploaded again
 * after a restart, which puts the same object twice. */
void spool_done(struct spool *sp, struct spool_item *it);
/* After a failed upload: the entry goes back to the queue; frees what it
 * holds. */
void spool_release(struct spool *sp, struct spool_item *it);

void spool_get_stats(struct spool *sp, struct spool_stats *out);

#endif
