/*
 * output: writes a profile to a file in a chosen format, atomically (a
 * temporary file in the same directory, fsync, rename), so a crash or a full
 * disk never leaves a partial profile where the user expects one.
 */
#ifndef PODFLAME_OUTPUT_H
#define PODFLAME_OUTPUT_H

#include <stddef.h>
#include <sys/types.h>

#include "../formats/folded.h"
#include "../formats/format.h"
#include "../formats/profile.h"

struct output_opts {
    enum pf_format format;
    enum pf_group_by group_by;
};

/* Calls write(f, ctx) on a temporary file beside path, then fsyncs and
 * renames it to path ("-": on stdout). On failure nothing is left at path
 * and err holds a one-line reason. write returns 0 or a negative errno. */
int output_atomic(const char *path, int (*write)(FILE *f, void *ctx), void *ctx, char *err,
                  size_t errlen);

/* As output_atomic, the file made with mode rather than 0644: 0600 for
 * what names a node's Pods and code (findings, the agent's file:// store). */
int output_atomic_mode(const char *path, mode_t mode, int (*write)(FILE *f, void *ctx), void *ctx,
                       char *err, size_t errlen);

/* mkdir -p dir (0755; with mode, the directories it makes get that).
 * Returns 0 or a negative errno. */
int output_make_dirs(const char *dir);
int output_make_dirs_mode(const char *dir, mode_t mode);

/* Writes p to path ("-" = stdout). Returns 0 or a negative errno with a
 * one-line reason in err. */
int output_write(const char *path, const struct pf_profile *p, const struct output_opts *opts,
                 char *err, size_t errlen);
/* ... made with mode (see output_atomic_mode). */
int output_write_mode(const char *path, mode_t mode, const struct pf_profile *p,
                      const struct output_opts *opts, char *err, size_t errlen);

/* The format for path when none was asked for; PF_FORMAT_UNKNOWN with a
 * reason in err when it cannot be written by this build. */
enum pf_format output_format_for(const char *path, const char *asked, char *err, size_t errlen);

/* Reads a profile from path ("-" = stdin) into p (fresh from pf_profile_new).
 * The format is asked (--from), else by extension, else sniffed (gzip or
 * protobuf is pprof, text is folded). Returns 0 or a negative errno with a
 * one-line reason in err; malformed folded lines are counted in *bad_lines. */
int input_read(const char *path, const char *asked, struct pf_profile *p, size_t *bad_lines,
               char *err, size_t errlen);

#endif
