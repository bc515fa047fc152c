/*
 * output: writes a profile to a file in a chosen format, atomically (a
 * temporary file in the same directory, fsync, rename), so a crash or a full
 * disk never leaves a partial profile where the user expects one; and reads
 * one back (input_read).
 *
 * Errors: 0 or a negative errno, with a one-line reason naming the path in
 * err on every failure. output_make_dirs has no err: its errno is the
 * reason, and the caller names the directory.
 */
#ifndef PODFLAME_OUTPUT_H
#define PODFLAME_OUTPUT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "formats/folded.h"
#include "formats/format.h"
#include "formats/profile.h"

struct output_opts {
    enum pf_format format;
    enum pf_group_by group_by;
    const char *sample_type; /* the value written by one-value formats; NULL:
                              * pf_profile_value_index's choice */
};

/* Checks that p has opts' sample type; else -ENOENT and err lists the
 * types it has. */
int output_check_sample_type(const struct pf_profile *p, const struct output_opts *opts, char *err,
                             size_t errlen);

/* Where a profile goes, decided and checked before any work is done, so
 * that a recording is not lost to a typo in its output path:
 * - "-": stdout;
 * - a new path or a regular file: a temporary file in the same directory,
 *   fsync, rename (a crash or a full disk never leaves a partial file);
 * - a symlink: the same for its target, in the target's directory; one
 *   made by someone else in a sticky directory anyone can write (/tmp) is
 *   not followed (fs.protected_symlinks' rule, kept where that sysctl is
 *   off);
 * - a character device, FIFO or socket (/dev/null, a pipe a reader waits
 *   on): written directly, never replaced;
 * - a directory where root can write only with CAP_DAC_OVERRIDE, which
 *   podflame gives up once sampling starts (another user's): the file is
 *   opened now and written in place at the end. */
enum output_kind { OUTPUT_STDOUT, OUTPUT_ATOMIC, OUTPUT_DIRECT, OUTPUT_IN_PLACE };

struct output_target {
    enum output_kind kind;
    char path[PATH_MAX]; /* as given, for messages */
    char file[PATH_MAX]; /* ATOMIC, IN_PLACE: the name in dirfd; DIRECT: the path */
    int dirfd;           /* ATOMIC, IN_PLACE: its directory */
    int fd;              /* IN_PLACE: the file */
    bool socket;         /* DIRECT: connect, not open */
    mode_t mode;
};

/* Decides and checks where path goes (see above); fails, naming path, when
 * it cannot be written. Returns 0 or a negative errno with a one-line
 * reason in err; output_close frees what it holds either way. */
int output_open(const char *path, mode_t mode, struct output_target *t, char *err, size_t errlen);

/* Calls write(f, ctx) on a stream to t. write returns 0 or a negative
 * errno and has no err of its own: a writer whose failure needs more words
 * than strerror keeps them in ctx, for its caller to print. When it
 * fails and keep_on_failure is set, the profile is written to $TMPDIR (else
 * /tmp) instead and err says where. Returns 0 or a negative errno with a
 * one-line reason in err ("cannot write PATH: why"). */
int output_commit(struct output_target *t, int (*write)(FILE *f, void *ctx), void *ctx,
                  bool keep_on_failure, char *err, size_t errlen);
void output_close(struct output_target *t);

/* output_open and output_commit at once, the file made 0644. */
int output_atomic(const char *path, int (*write)(FILE *f, void *ctx), void *ctx, char *err,
                  size_t errlen);

/* As output_atomic, the file made with mode rather than 0644: 0600 for
 * what names a node's Pods and code (findings, the agent's file:// store). */
int output_atomic_mode(const char *path, mode_t mode, int (*write)(FILE *f, void *ctx), void *ctx,
                       char *err, size_t errlen);

/* mkdir -p dir (0755; with mode, the directories it makes get that).
 * Returns 0 or a negative errno (-ENAMETOOLONG past 4095 bytes, else
 * mkdir's), which is the whole reason. */
int output_make_dirs(const char *dir);
int output_make_dirs_mode(const char *dir, mode_t mode);

/* Writes p to path ("-" = stdout) as output_atomic does. Returns 0 or a
 * negative errno with a one-line reason in err. */
int output_write(const char *path, const struct pf_profile *p, const struct output_opts *opts,
                 char *err, size_t errlen);
/* ... made with mode (see output_atomic_mode). */
int output_write_mode(const char *path, mode_t mode, const struct pf_profile *p,
                      const struct output_opts *opts, char *err, size_t errlen);

/* The stream writer for a profile, for output_commit: ctx is a struct
 * profile_write, whose pointers are borrowed for the call. Returns 0 or a
 * negative errno (-ENOENT: no such sample type). */
struct profile_write {
    const struct pf_profile *p;
    const struct output_opts *opts;
};
int output_profile_writer(FILE *f, void *ctx);

/* The format for path when none was asked for; PF_FORMAT_UNKNOWN with a
 * reason in err when it cannot be written by this build. */
enum pf_format output_format_for(const char *path, const char *asked, char *err, size_t errlen);

/* Reads a profile from path ("-" = stdin) into p (fresh from pf_profile_new).
 * The format is asked (--from), else by extension, else sniffed (gzip or
 * protobuf is pprof, text is folded). Returns 0 or a negative errno with a
 * one-line reason in err (-ENODATA: no samples in a text format). Lines a
 * text reader skipped are counted in *bad_lines (may be NULL); on success
 * err is then a warning that says how many and why, else "". */
int input_read(const char *path, const char *asked, struct pf_profile *p, size_t *bad_lines,
               char *err, size_t errlen);

#endif
