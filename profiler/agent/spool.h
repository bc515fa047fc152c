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

/* One entry, loaded. */
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
 * reason in err. */
int spool_open(const char *dir, uint64_t max_bytes, struct spool **out, char *err, size_t errlen);
void spool_close(struct spool *sp);

/* Adds an entry, after dropping the oldest entries not being uploaded as
 * needed to stay under the limit (*dropped says how many). An entry larger
 * than the whole limit is refused with -EFBIG. Returns 0 or a negative
 * errno with the reason in err (a full disk: -ENOSPC, nothing left). */
int spool_add(struct spool *sp, const char *key, const char *index, const void *data, size_t len,
              unsigned *dropped, char *err, size_t errlen);

/* Takes the oldest entry nobody is uploading, loaded into it. Returns 0,
 * -ENOENT when there is none, or a negative errno with the reason in err
 * (an unreadable entry is removed, counted and skipped). */
int spool_take(struct spool *sp, struct spool_item *it, char *err, size_t errlen);

/* After a successful upload: deletes the entry. */
int spool_done(struct spool *sp, struct spool_item *it);
/* After a failed upload: the entry goes back to the queue. */
void spool_release(struct spool *sp, struct spool_item *it);

void spool_get_stats(struct spool *sp, struct spool_stats *out);

#endif
