/*
 * access: who may use the listener (httpd.c). A bearer token kept in a
 * file, read again whenever the file changes (a rotated Kubernetes Secret
 * takes effect without a restart) and compared in constant time; a
 * per-source rate limit (token buckets in a bounded table); whether an
 * address is loopback; and the bounded reader of small secret files (tokens,
 * TLS keys). No sockets and no printing: each owns only its own state.
 *
 * Errors follow the house rule (0 or a negative errno, a one-line reason in
 * err on every failure); rate_limiter_new has no err: its errno is the
 * whole reason. Messages about a secret file name the file, never its
 * content.
 */
#ifndef PODFLAME_ACCESS_H
#define PODFLAME_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define TOKEN_MAX 4096 /* bytes of a token file */

/* Reads a regular file of at most max bytes into a malloc'd, NUL-terminated
 * buffer (opened O_NONBLOCK|O_NOCTTY|O_CLOEXEC, so a FIFO or a device
 * planted there cannot hang or take over the reader). Returns 0 or a
 * negative errno with "PATH: why" in err. */
int secret_file_read(const char *path, size_t max, char **out, size_t *len, char *err,
                     size_t errlen);

/* A token file's content: one line, trailing whitespace (the newline an
 * editor adds) trimmed, non-empty; malloc'd. Returns 0 or a negative errno
 * with the reason in err (never the content). */
int token_read(const char *path, char **token, size_t *len, char *err, size_t errlen);

/* The token in an Authorization header value: "Bearer TOKEN" (the scheme in
 * any case). Returns false for NULL, another scheme or an empty token.
 * *token points into header (len bytes, not NUL-terminated where trailing
 * blanks follow): valid as long as header is. */
bool bearer_token(const char *header, const char **token, size_t *len);

/* a == b in a time that depends on neither their content nor their length
 * (both are hashed, then the digests compared with CRYPTO_memcmp). */
bool token_equal(const void *a, size_t alen, const void *b, size_t blen);

enum token_verdict {
    TOKEN_OK,
    TOKEN_MISSING,    /* no Authorization: Bearer header */
    TOKEN_WRONG,      /* a token that is not the file's */
    TOKEN_UNREADABLE, /* the file cannot be read now: everything is refused */
};

/* A token file: its content, trailing whitespace trimmed, non-empty. */
struct token_file;

/* Reads it a first time: an unreadable or empty file is an error here.
 * Returns 0 or a negative errno with a one-line reason in err; path is
 * copied. */
int token_file_open(const char *path, struct token_file **out, char *err, size_t errlen);
/* Frees tf (NULL: nothing), wiping the token from memory. */
void token_file_free(struct token_file *tf);
/* Checks an Authorization header value (NULL: none), reading the file
 * again first when its identity (device, inode, size, mtime) changed since
 * the last read. TOKEN_UNREADABLE fills err with why; the other verdicts
 * leave it alone. Thread-safe. */
enum token_verdict token_file_check(struct token_file *tf, const char *authorization, char *err,
                                    size_t errlen);

/* Per-source token buckets: burst requests at once, then per_minute; at
 * most max_sources sources are tracked (when all are busy, new ones share
 * one bucket). */
struct rate_limiter;

/* Returns 0, -EINVAL (a zero argument) or -ENOMEM. */
int rate_limiter_new(unsigned burst, unsigned per_minute, size_t max_sources,
                     struct rate_limiter **out);
/* Frees rl (NULL: nothing). */
void rate_limiter_free(struct rate_limiter *rl);
/* Counts one request from source (an address as text, copied; at most 47
 * bytes are told apart) at now_ns (monotonic). Returns false when it is
 * over the limit, with the seconds until the next is allowed in
 * *retry_after_s. Thread-safe. */
bool rate_limiter_take(struct rate_limiter *rl, const char *source, int64_t now_ns,
                       unsigned *retry_after_s);

/* 127.0.0.0/8, ::1 or an IPv4-mapped 127.x address. */
bool sockaddr_is_loopback(const struct sockaddr *sa);

#endif
