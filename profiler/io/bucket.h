/*
 * bucket: the object store where the agent's profiles go and where query
 * and compact read them. A bucket is a directory (file:///DIR) or an
 * S3-compatible bucket (s3://BUCKET/PREFIX) reached through libcurl, which
 * signs requests with AWS Signature V4; keys are relative to the prefix.
 * Credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and
 * AWS_SESSION_TOKEN), else from the shared credentials file
 * (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile AWS_PROFILE
 * or "default"); they are read again at every put, so rotated keys are
 * picked up, and they never appear in an error message.
 *
 * A target is safe to use from several threads at once. Each thread keeps
 * one libcurl handle (and its open connections) between requests, freed
 * when the thread exits.
 */
#ifndef PODFLAME_IO_BUCKET_H
#define PODFLAME_IO_BUCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bucket;

struct bucket_config {
    const char *url;         /* file:///DIR or s3://BUCKET[/PREFIX] */
    const char *s3_endpoint; /* NULL: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS */
    const char *s3_region;   /* NULL: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1 */
    int s3_path_style;       /* 1 path-style, 0 virtual-hosted, -1: path-style only for a
                                custom endpoint */
    const char *ca_file;     /* NULL: the system's CAs */
    long timeout_s;          /* a whole request; 0: 60 */
};

/* Checks the URL and, for S3, that credentials exist. Returns 0 or a
 * negative errno (-ENOMEM, -EINVAL: a bad URL or endpoint, -ENOENT: no
 * credentials) with a one-line reason in err, whatever failed. c and its
 * strings are copied: they need not outlive the call. */
int bucket_open(const struct bucket_config *c, struct bucket **out, char *err, size_t errlen);
/* Frees t (NULL: nothing). */
void bucket_close(struct bucket *t);

/* Stores data under key (a relative path: a/b/c.pb.gz). A file target
 * writes a temporary file, fsyncs and renames it, so readers never see a
 * partial object. Returns 0, or a negative errno with a one-line reason in
 * err on every failure: -EINVAL (a key that would leave the target),
 * -EACCES (refused credentials), -EIO (the server answered with an error),
 * -ECOMM (no answer), -ENOMEM, or the file target's errno. Every failure
 * but a bad key is worth a retry. */
int bucket_put(struct bucket *t, const char *key, const void *data, size_t len,
               const char *content_type, char *err, size_t errlen);

/* Where objects go, for messages: "s3://bucket/prefix at https://host".
 * Valid until bucket_close. */
const char *bucket_where(const struct bucket *t);

/* Largest listing answer read (S3 pages hold at most 1,000 keys). */
#define BUCKET_MAX_LIST_PAGE ((size_t)16 << 20)

/* Reads the object key into *data (malloc'd, with a NUL after the len
 * bytes, the caller's to free). Returns 0, or a negative errno with a
 * one-line reason in err: -ENOENT (no such object), -EFBIG (over max
 * bytes), -EINVAL (a bad key), -EACCES, -EIO, -ECOMM, -ENOMEM. */
int bucket_get(struct bucket *t, const char *key, size_t max, char **data, size_t *len, char *err,
               size_t errlen);

struct bucket_entry {
    const char *key; /* relative to the bucket's prefix; a folder ends in '/' */
    uint64_t size;
    bool folder; /* one_level only: keys below key, not listed one by one */
};

/* Lists the keys that start with prefix ("" for all; "a/b/" for a folder),
 * a folder's names sorted, calling fn for each (entries are valid during the call).
 * one_level lists a folder's own objects and its sub-folders (S3's
 * delimiter "/"), else every key below it. fn returns 0 to go on, else
 * listing stops and that value is returned. A prefix that matches nothing
 * lists nothing. Returns 0, fn's value, or a negative errno with err set
 * (as bucket_get's; S3 pages are followed by their continuation tokens). */
int bucket_list(struct bucket *t, const char *prefix, bool one_level,
                int (*fn)(void *ctx, const struct bucket_entry *e), void *ctx, char *err,
                size_t errlen);

/* The entries of one S3 ListObjectsV2 answer (NUL-terminated XML, from
 * the server: any bytes), keys made relative to a prefix of plen bytes;
 * fn as bucket_list's. Returns 0, fn's value, or -EIO for XML cut short.
 * Exposed for the fuzzer. */
int bucket_parse_listing(const char *xml, size_t plen,
                         int (*fn)(void *ctx, const struct bucket_entry *e), void *ctx, char *err,
                         size_t errlen);

/* A name safe in an object key: letters, digits, '.', '-' and '_' kept,
 * anything else '_'; never empty, "." or "..". */
void bucket_key_part(const char *in, char *out, size_t len);

#endif
