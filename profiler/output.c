#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../formats/flamegraph.h"
#include "../formats/perfscript.h"
#include "../formats/stackcount.h"
#include "../formats/pprof.h"
#include "../formats/speedscope.h"
#include "cmd.h"

static bool writable(enum pf_format f)
{
    return f == PF_FORMAT_FOLDED || f == PF_FORMAT_PPROF || f == PF_FORMAT_SPEEDSCOPE ||
           f == PF_FORMAT_SVG;
}

enum pf_format output_format_for(const char *path, const char *asked, char *err, size_t errlen)
{
    enum pf_format f;

    if (asked) {
        f = pf_format_from_name(asked);
        if (f == PF_FORMAT_UNKNOWN) {
            snprintf(err, errlen, "unknown format '%s': use folded, pprof, speedscope or svg",
                     asked);
            return f;
        }
    } else {
        f = pf_format_from_path(path);
        if (f == PF_FORMAT_UNKNOWN) /* stdout and unknown extensions: folded */
            f = PF_FORMAT_FOLDED;
    }
    if (!writable(f)) {
        snprintf(err, errlen,
                 "podflame cannot write %s: write .svg, .folded, .pb.gz or "
                 ".speedscope.json",
                 pf_format_name(f));
        return PF_FORMAT_UNKNOWN;
    }
    return f;
}

/* A flame graph of the profile's folded stacks, with the default options. */
static int write_svg(FILE *f, const struct pf_profile *p, const struct output_opts *opts)
{
    struct folded_write_opts fo = {.group_by = opts->group_by};
    struct stackcount sc;
    struct fg_stack *fs = NULL;
    struct fg_opts fg;
    char err[256];
    int ret;

    stackcount_init(&sc);
    ret = folded_stacks(p, &fo, &sc);
    if (!ret && !(fs = malloc((sc.n ? sc.n : 1) * sizeof(*fs))))
        ret = -ENOMEM;
    for (size_t i = 0; !ret && i < sc.n; i++)
        fs[i] = (struct fg_stack){sc.items[i].stack, (int64_t)sc.items[i].count, -1};
    fg_opts_default(&fg);
    if (!ret)
        ret = flamegraph_write(f, fs, sc.n, &fg, err, sizeof(err));
    free(fs);
    stackcount_free(&sc);
    return ret;
}

static int write_stream(FILE *f, const struct pf_profile *p, const struct output_opts *opts)
{
    struct folded_write_opts fo = {.group_by = opts->group_by};
    /* speedscope shows one profile per group: per process means per PID */
    struct speedscope_opts so = {.group_by = opts->group_by == PF_GROUP_PROCESS ? PF_GROUP_PID
                                                                                : opts->group_by,
                                 .exporter = "podflame " PODFLAME_VERSION};

    switch (opts->format) {
    case PF_FORMAT_FOLDED:
        return folded_write(p, f, &fo);
    case PF_FORMAT_PPROF:
        return pprof_write(p, f);
    case PF_FORMAT_SPEEDSCOPE:
        return speedscope_write(p, f, &so);
    case PF_FORMAT_SVG:
        return write_svg(f, p, opts);
    default:
        return -ENOTSUP;
    }
}

/* A file stream that remembers why a write failed: stdio keeps only an
 * error flag. */
struct sink {
    int fd;
    int err; /* errno of the first failed write */
};

static ssize_t sink_write(void *cookie, const char *buf, size_t len)
{
    struct sink *sk = cookie;
    size_t done = 0;

    while (done < len) {
        ssize_t n = write(sk->fd, buf + done, len - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (!sk->err)
                sk->err = n < 0 ? errno : EIO;
            return done ? (ssize_t)done : -1;
        }
        done += (size_t)n;
    }
    return (ssize_t)done;
}

int output_atomic(const char *path, int (*write)(FILE *f, void *ctx), void *ctx, char *err,
                  size_t errlen)
{
    return output_atomic_mode(path, 0644, write, ctx, err, errlen);
}

int output_atomic_mode(const char *path, mode_t mode, int (*write)(FILE *f, void *ctx), void *ctx,
                       char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    struct sink sink = {-1, 0};
    FILE *f;
    int fd, ret;

    err[0] = '\0';
    if (strcmp(path, "-") == 0) {
        ret = write(stdout, ctx);
        if (ret && !err[0])
            snprintf(err, errlen, "cannot write to stdout: %s", strerror(-ret));
        return ret;
    }
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp)) {
        snprintf(err, errlen, "output path too long: %s", path);
        return -ENAMETOOLONG;
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        ret = -errno;
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return ret;
    }
    fchmod(fd, mode);
    sink.fd = fd;
    f = fopencookie(&sink, "w", (cookie_io_functions_t){.write = sink_write});
    if (!f) {
        ret = -errno;
        close(fd);
        unlink(tmp);
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(-ret));
        return ret;
    }
    ret = write(f, ctx);
    if (!ret && fflush(f))
        ret = -EIO;
    if (fclose(f) && !ret)
        ret = -EIO;
    /* the writers see a stream error; the disk's own reason (ENOSPC,
     * EDQUOT, ...) is the one to report */
    if (sink.err && (!ret || ret == -EIO))
        ret = -sink.err;
    if (!ret && fsync(fd))
        ret = -errno;
    if (close(fd) && !ret)
        ret = -errno;
    if (!ret && rename(tmp, path))
        ret = -errno;
    if (ret) {
        unlink(tmp);
        if (!err[0])
            snprintf(err, errlen, "cannot write %s: %s", path, strerror(-ret));
    }
    return ret;
}

struct profile_write {
    const struct pf_profile *p;
    const struct output_opts *opts;
};

static int write_profile(FILE *f, void *ctx)
{
    struct profile_write *pw = ctx;

    return write_stream(f, pw->p, pw->opts);
}

int output_write(const char *path, const struct pf_profile *p, const struct output_opts *opts,
                 char *err, size_t errlen)
{
    return output_write_mode(path, 0644, p, opts, err, errlen);
}

int output_write_mode(const char *path, mode_t mode, const struct pf_profile *p,
                      const struct output_opts *opts, char *err, size_t errlen)
{
    struct profile_write pw = {p, opts};

    return output_atomic_mode(path, mode, write_profile, &pw, err, errlen);
}

/* pprof files start with a gzip header or, raw, with field 1 (sample_type)
 * as a length-delimited message: byte 0x0a. Folded text starts otherwise. */
static enum pf_format sniff(const unsigned char *head, size_t n)
{
    if (n >= 2 && head[0] == 0x1f && head[1] == 0x8b)
        return PF_FORMAT_PPROF;
    if (n >= 1 && head[0] == 0x0a)
        return PF_FORMAT_PPROF;
    return PF_FORMAT_FOLDED;
}

int input_read(const char *path, const char *asked, struct pf_profile *p, size_t *bad_lines,
               char *err, size_t errlen)
{
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "re");
    enum pf_format fmt = PF_FORMAT_UNKNOWN;
    int ret, c;

    if (!f) {
        ret = -errno;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return ret;
    }
    if (asked) {
        fmt = pf_format_from_name(asked);
    } else if (!is_stdin) {
        fmt = pf_format_from_path(path);
    }
    if (!asked && fmt == PF_FORMAT_UNKNOWN) {
        unsigned char head[2] = {0};
        size_t n = 0;

        while (n < sizeof(head) && (c = fgetc(f)) != EOF)
            head[n++] = (unsigned char)c;
        for (size_t i = n; i-- > 0;)
            ungetc(head[i], f); /* glibc keeps two bytes of pushback */
        fmt = sniff(head, n);
    }
    switch (fmt) {
    case PF_FORMAT_FOLDED: {
        struct folded_read_report rep;

        ret = folded_read(p, f, &rep);
        if (ret)
            snprintf(err, errlen, "reading %s: %s", path, strerror(-ret));
        if (bad_lines)
            *bad_lines = rep.bad_lines;
        if (!ret && rep.bad_lines)
            snprintf(err, errlen, "%s: skipped %zu malformed line%s (first: line %zu: %s)", path,
                     rep.bad_lines, rep.bad_lines == 1 ? "" : "s", rep.first_bad_line,
                     rep.first_bad_why);
        break;
    }
    case PF_FORMAT_PPROF: {
        char why[256];

        ret = pprof_read(p, f, why, sizeof(why));
        if (ret)
            snprintf(err, errlen, "%s: %s", path, why[0] ? why : strerror(-ret));
        break;
    }
    case PF_FORMAT_PERFSCRIPT: {
        struct perfscript_report rep;

        ret = perfscript_read(p, f, &rep);
        if (ret)
            snprintf(err, errlen, "reading %s: %s", path, strerror(-ret));
        if (bad_lines)
            *bad_lines = rep.unrecognized;
        if (!ret && rep.unrecognized)
            snprintf(err, errlen, "%s: skipped %llu unrecognized line%s (first: line %llu)", path,
                     (unsigned long long)rep.unrecognized, rep.unrecognized == 1 ? "" : "s",
                     (unsigned long long)rep.first_unrecognized);
        break;
    }
    default:
        ret = -ENOTSUP;
        snprintf(err, errlen,
                 "%s: reading %s is not supported: give folded, pprof or perf-script%s", path,
                 asked ? asked : pf_format_name(fmt),
                 asked ? "" : " (or name the format with --from)");
    }
    if (!is_stdin)
        fclose(f);
    return ret;
}

int output_make_dirs(const char *dir)
{
    return output_make_dirs_mode(dir, 0755);
}

int output_make_dirs_mode(const char *dir, mode_t mode)
{
    char path[4096];

    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    for (char *p = strchr(path + 1, '/');; p = strchr(p + 1, '/')) {
        if (p)
            *p = '\0';
        if (mkdir(path, mode) && errno != EEXIST)
            return -errno;
        if (!p)
            return 0;
        *p = '/';
    }
}
