/*
 * upload: puts objects where the agent's profiles go. A target is a
 * directory (file:///DIR) or an S3-compatible bucket (s3://BUCKET/PREFIX)
 * reached through libcurl, which signs requests with AWS Signature V4.
 * Credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and
 * AWS_SESSION_TOKEN), else from the shared credentials file
 * (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile AWS_PROFILE
 * or "default"); they are read again at every put, so rotated keys are
 * picked up, and they never appear in an error message.
 *
 * A target is safe to use from several threads at once.
 */
#ifndef PODFLAME_UPLOAD_H
#define PODFLAME_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>

struct upload_target;

struct upload_config {
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
int upload_open(const struct upload_config *c, struct upload_target **out, char *err,
                size_t errlen);
/* Frees t (NULL: nothing). */
void upload_close(struct upload_target *t);

/* Stores data under key (a relative path: a/b/c.pb.gz). A file target
 * writes a temporary file, fsyncs and renames it, so readers never see a
 * partial object. Returns 0, or a negative errno with a one-line reason in
 * err on every failure: -EINVAL (a key that would leave the target),
 * -EACCES (refused credentials), -EIO (the server answered with an error),
 * -ECOMM (no answer), -ENOMEM, or the file target's errno. Every failure
 * but a bad key is worth a retry. */
int upload_put(struct upload_target *t, const char *key, const void *data, size_t len,
               const char *content_type, char *err, size_t errlen);

/* Where objects go, for messages: "s3://bucket/prefix at https://host".
 * Valid until upload_close. */
const char *upload_where(const struct upload_target *t);

#endif
