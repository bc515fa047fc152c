#include "profiler/io/output.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "formats/flamegraph.h"
#include "formats/perfscript.h"
#include "formats/stackcount.h"
#include "formats/pprof.h"
#include "formats/speedscope.h"
#include "formats/version.h"

static bool writable(enum pf_format f)
{
    return f == PF_FORMAT_FOLDED || f == PF_FORMAT_PPROF || f == PF_FORMAT_SPEEDSCOPE ||
           f == PF_FORMAT_SVG;
}

/* Whether the last component of path has a dot past its first byte. */
static bool has_extension(const char *path)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    const char *dot = strrchr(base, '.');

    return dot && dot != base && dot[1];
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
    } else if (!strcmp(path, "-") || !has_extension(path)) {
        /* stdout, /dev/null, a FIFO: text unless --format says otherwise;
         * a regular file without an extension is still a guess */
        struct stat st;

        if (strcmp(path, "-") != 0 && (stat(path, &st) ? true : S_ISREG(st.st_mode))) {
            snprintf(err, errlen,
                     "%s: name the format: end it in .svg, .folded, .pb.gz or "
                     ".speedscope.json, or give --format svg|folded|pprof|speedscope",
                     path);
            return PF_FORMAT_UNKNOWN;
        }
        f = PF_FORMAT_FOLDED;
    } else if ((f = pf_format_from_path(path)) == PF_FORMAT_UNKNOWN) {
        snprintf(err, errlen,
                 "%s: unknown extension: write .svg, .folded (.txt), .pb.gz (.pprof, .pb) or "
                 ".speedscope.json, or give --format",
                 path);
        return f;
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

int output_check_sample_type(const struct pf_profile *p, const struct output_opts *opts, char *err,
                             size_t errlen)
{
    size_t idx, n = 0;

    if (!pf_profile_value_index(p, opts->sample_type, &idx))
        return 0;
    n = (size_t)snprintf(err, errlen,
                         "no sample type '%s' in the profile; it has:", opts->sample_type);
    for (size_t i = 0; i < p->nsample_types && n < errlen; i++)
        n += (size_t)snprintf(err + n, errlen - n, " %s",
                              pf_profile_str(p, p->sample_types[i].type));
    return -ENOENT;
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
    ret = pf_profile_value_index(p, opts->sample_type, &fo.value_index);
    if (!ret)
        ret = folded_stacks(p, &fo, &sc);
    if (!ret && !(fs = malloc((sc.n ? sc.n : 1) * sizeof(*fs))))
        ret = -ENOMEM;
    for (size_t i = 0; !ret && i < sc.n; i++)
        fs[i] = (struct fg_stack){sc.items[i].stack, (int64_t)sc.items[i].count, -1};
    fg_opts_default(&fg);
    if (!ret && !strcmp(pf_profile_str(p, p->sample_types[fo.value_index].unit), "nanoseconds")) {
        /* time, not samples: off the CPU, or wall-clock */
        const char *type = pf_profile_str(p, p->sample_types[fo.value_index].type);

        fg.nanoseconds = true;
        fg.title = !strcmp(type, "wall")      ? "Wall Time Flame Graph"
                   : !strcmp(type, "off_cpu") ? "Off-CPU Time Flame Graph"
                                              : "CPU Time Flame Graph";
    }
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
                                 .exporter = "podflame " PODFLAME_VERSION,
                                 .sample_type = opts->sample_type};

    switch (opts->format) {
    case PF_FORMAT_FOLDED:
        if (pf_profile_value_index(p, opts->sample_type, &fo.value_index))
            return -ENOENT;
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

/* ---- where a profile goes ---- */

/* Whether root could still write in a directory once podflame has given up
 * CAP_DAC_OVERRIDE (privs.h): as its owner, its group, or anyone. */
static bool writable_without_override(const struct stat *dir)
{
    if (geteuid() != 0)
        return true; /* not root: the kernel's answer is the one that counts */
    return (dir->st_uid == 0 && (dir->st_mode & S_IWUSR)) ||
           (dir->st_gid == getegid() && (dir->st_mode & S_IWGRP)) || (dir->st_mode & S_IWOTH);
}

/* A symlink that root should not follow: one planted in a sticky directory
 * others can write (/tmp) by someone else, as fs.protected_symlinks has it. */
static bool untrusted_symlink(const char *path, const struct stat *link)
{
    char dir[PATH_MAX], *slash;
    struct stat st;

    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    return stat(dir, &st) == 0 && (st.st_mode & S_ISVTX) && (st.st_mode & S_IWOTH) &&
           link->st_uid != geteuid() && link->st_uid != st.st_uid;
}

/* A regular file or a new one (file, path as the user gave it): a
 * temporary file in its directory, then a rename; the directory is opened
 * now, before sampling starts. */
static int open_in_directory(struct output_target *t, const char *path, const char *file, char *err,
                             size_t errlen)
{
    const char *base = strrchr(file, '/');
    char dir[PATH_MAX];
    struct stat st, dst;
    int e;

    snprintf(dir, sizeof(dir), "%s", base ? file : ".");
    if (base)
        dir[base == file ? 1 : base - file] = '\0';
    base = base ? base + 1 : file;
    if (!*base || snprintf(t->file, sizeof(t->file), "%s", base) >= (int)sizeof(t->file)) {
        snprintf(err, errlen, "%s: not a file name", path);
        return -EINVAL;
    }
    if ((t->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fstat(t->dirfd, &dst)) {
        e = errno;
        snprintf(err, errlen, "cannot write %s: %s%s", path, e == ENOENT ? "no directory " : "",
                 e == ENOENT ? dir : strerror(e));
        return -e;
    }
    if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS)) {
        e = errno;
        snprintf(err, errlen, "cannot write %s: %s: %s", path, dir, strerror(e));
        return -e;
    }
    t->kind = OUTPUT_ATOMIC;
    if (writable_without_override(&dst))
        return 0;
    /* once root's powers are dropped, no file can be made or renamed here:
     * the file is opened now and written in place at the end */
    t->kind = OUTPUT_IN_PLACE;
    t->fd = openat(t->dirfd, t->file,
                   O_WRONLY | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, t->mode);
    if (t->fd < 0) {
        e = errno;
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(e));
        return -e;
    }
    /* the directory's owner may have put a FIFO or a hard link to another
     * file there: only a regular file of one name is written */
    if (fstat(t->fd, &st) || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
        snprintf(err, errlen, "cannot write %s: not a regular file of its own", path);
        return -EPERM;
    }
    return 0;
}

int output_open(const char *path, mode_t mode, struct output_target *t, char *err, size_t errlen)
{
    char real[PATH_MAX];
    const char *file = path;
    struct stat st;
    int rc;

    memset(t, 0, sizeof(*t));
    t->dirfd = t->fd = -1;
    t->mode = mode;
    if (snprintf(t->path, sizeof(t->path), "%s", path) >= (int)sizeof(t->path)) {
        snprintf(err, errlen, "output path too long: %s", path);
        return -ENAMETOOLONG;
    }
    if (!strcmp(path, "-")) {
        t->kind = OUTPUT_STDOUT;
        return 0;
    }
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        if (untrusted_symlink(path, &st)) {
            snprintf(err, errlen,
                     "%s is a symlink someone else made in a directory anyone can write: "
                     "podflame does not follow it; name its target",
                     path);
            return -EPERM;
        }
        if (stat(path, &st)) {
            snprintf(err, errlen, "%s is a symlink to nothing that exists: name its target", path);
            return -ENOENT;
        }
        /* a regular file's link: the target is written, atomically in its
         * own directory; a device or FIFO behind one (/dev/stdout, a
         * /dev/fd/63 magic link to a pipe) is written through the link */
        if (S_ISREG(st.st_mode)) {
            if (!realpath(path, real)) {
                rc = -errno;
                snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
                return rc;
            }
            file = real;
        }
    }
    if (stat(file, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "%s is a directory: name a file in it", path);
            return -EISDIR;
        }
        if (S_ISBLK(st.st_mode)) {
            snprintf(err, errlen, "%s is a block device: podflame does not write to disks", path);
            return -EINVAL;
        }
        if (!S_ISREG(st.st_mode)) {
            /* a terminal, /dev/null, a FIFO, a socket: written as it is */
            t->kind = OUTPUT_DIRECT;
            t->socket = S_ISSOCK(st.st_mode);
            snprintf(t->file, sizeof(t->file), "%s", file);
            return 0;
        }
    } else if (errno != ENOENT) {
        rc = -errno;
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
        return rc;
    }
    if ((rc = open_in_directory(t, path, file, err, errlen)))
        output_close(t);
    return rc;
}

void output_close(struct output_target *t)
{
    if (t->dirfd >= 0)
        close(t->dirfd);
    if (t->fd >= 0)
        close(t->fd);
    t->dirfd = t->fd = -1;
}

/* Runs write on a stream over fd; returns 0 or the first error (the
 * disk's own errno where the writers saw only a stream error). */
static int write_fd(int fd, int (*write)(FILE *f, void *ctx), void *ctx)
{
    struct sink sink = {fd, 0};
    FILE *f = fopencookie(&sink, "w", (cookie_io_functions_t){.write = sink_write});
    int ret;

    if (!f)
        return -errno;
    ret = write(f, ctx);
    if (!ret && fflush(f))
        ret = -EIO;
    if (fclose(f) && !ret)
        ret = -EIO;
    if (sink.err && (!ret || ret == -EIO))
        ret = -sink.err;
    return ret;
}

/* Opens a fresh temporary file beside t's: ".NAME.XXXXXX". */
static int open_temp(struct output_target *t, char *tmp, size_t len)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    struct timespec ts;

    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned long r;
        char suffix[7];
        int fd;

        clock_gettime(CLOCK_REALTIME, &ts);
        r = (unsigned long)ts.tv_nsec ^ ((unsigned long)getpid() << 16) ^ (unsigned long)attempt;
        for (int i = 0; i < 6; i++, r /= 62)
            suffix[i] = chars[r % 62];
        suffix[6] = '\0';
        if (snprintf(tmp, len, ".%s.%s", t->file, suffix) >= (int)len)
            return -ENAMETOOLONG;
        fd = openat(t->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, t->mode);
        if (fd >= 0 || errno != EEXIST)
            return fd >= 0 ? fd : -errno;
    }
    return -EEXIST;
}

static int commit_atomic(struct output_target *t, int (*write)(FILE *f, void *ctx), void *ctx)
{
    char tmp[NAME_MAX + 16];
    int fd = open_temp(t, tmp, sizeof(tmp)), ret;

    if (fd < 0)
        return fd;
    fchmod(fd, t->mode); /* whatever the umask */
    ret = write_fd(fd, write, ctx);
    if (!ret && fsync(fd))
        ret = -errno;
    if (close(fd) && !ret)
        ret = -errno;
    if (!ret && renameat(t->dirfd, tmp, t->dirfd, t->file))
        ret = -errno;
    if (ret)
        unlinkat(t->dirfd, tmp, 0);
    return ret;
}

static int commit_direct(struct output_target *t, int (*write)(FILE *f, void *ctx), void *ctx)
{
    int fd, ret;

    if (t->socket) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};

        if (strlen(t->file) >= sizeof(sa.sun_path))
            return -ENAMETOOLONG;
        memcpy(sa.sun_path, t->file, strlen(t->file) + 1);
        if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
            return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
            ret = -errno;
            close(fd);
            return ret;
        }
    } else if ((fd = open(t->file, O_WRONLY | O_NOCTTY | O_CLOEXEC)) < 0) {
        return -errno;
    } else {
        struct stat st;

        /* a device or FIFO when it was checked: a regular file now means
         * the path was swapped meanwhile */
        if (fstat(fd, &st) || S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
            close(fd);
            return -EPERM;
        }
    }
    ret = write_fd(fd, write, ctx);
    if (close(fd) && !ret)
        ret = -errno;
    return ret;
}

static int commit_in_place(struct output_target *t, int (*write)(FILE *f, void *ctx), void *ctx)
{
    int ret;

    if (ftruncate(t->fd, 0) || lseek(t->fd, 0, SEEK_SET) < 0)
        return -errno;
    ret = write_fd(t->fd, write, ctx);
    if (!ret && fsync(t->fd))
        ret = -errno;
    return ret;
}

/* The profile is kept where root can still write: $TMPDIR, else /tmp. */
static int keep_elsewhere(struct output_target *t, int (*write)(FILE *f, void *ctx), void *ctx,
                          char *kept, size_t len)
{
    const char *dir = getenv("TMPDIR");
    const char *base = strrchr(t->file, '/') ? strrchr(t->file, '/') + 1 : t->file;
    struct output_target k = {.dirfd = -1, .fd = -1, .mode = 0600};
    char name[NAME_MAX + 1];
    int ret;

    if (!dir || !*dir)
        dir = "/tmp";
    snprintf(name, sizeof(name), "podflame-%d-%.200s", (int)getpid(), base);
    if ((k.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -errno;
    snprintf(k.file, sizeof(k.file), "%s", name);
    k.kind = OUTPUT_ATOMIC;
    ret = commit_atomic(&k, write, ctx);
    output_close(&k);
    if (!ret)
        snprintf(kept, len, "%s/%s", dir, name);
    return ret;
}

int output_commit(struct output_target *t, int (*write)(FILE *f, void *ctx), void *ctx,
                  bool keep_on_failure, char *err, size_t errlen)
{
    char kept[PATH_MAX];
    int ret;

    err[0] = '\0';
    switch (t->kind) {
    case OUTPUT_STDOUT:
        ret = write(stdout, ctx);
        if (!ret && fflush(stdout))
            ret = -errno;
        if (ret)
            snprintf(err, errlen, "cannot write to stdout: %s", strerror(-ret));
        return ret;
    case OUTPUT_DIRECT:
        ret = commit_direct(t, write, ctx);
        break;
    case OUTPUT_IN_PLACE:
        ret = commit_in_place(t, write, ctx);
        break;
    default:
        ret = commit_atomic(t, write, ctx);
        break;
    }
    if (!ret)
        return 0;
    if (keep_on_failure && keep_elsewhere(t, write, ctx, kept, sizeof(kept)) == 0)
        snprintf(err, errlen, "cannot write %s: %s; the profile is kept in %s", t->path,
                 strerror(-ret), kept);
    else
        snprintf(err, errlen, "cannot write %s: %s", t->path, strerror(-ret));
    return ret;
}

int output_atomic(const char *path, int (*write)(FILE *f, void *ctx), void *ctx, char *err,
                  size_t errlen)
{
    return output_atomic_mode(path, 0644, write, ctx, err, errlen);
}

int output_atomic_mode(const char *path, mode_t mode, int (*write)(FILE *f, void *ctx), void *ctx,
                       char *err, size_t errlen)
{
    struct output_target t;
    int ret = output_open(path, mode, &t, err, errlen);

    if (ret)
        return ret;
    ret = output_commit(&t, write, ctx, false, err, errlen);
    output_close(&t);
    return ret;
}

int output_profile_writer(FILE *f, void *ctx)
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

    return output_atomic_mode(path, mode, output_profile_writer, &pw, err, errlen);
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

/* The format of f at path: asked (--from), else by extension, else sniffed
 * from its first bytes, which are pushed back. */
static enum pf_format input_format(FILE *f, const char *path, const char *asked, bool is_stdin)
{
    unsigned char head[2] = {0};
    enum pf_format fmt;
    size_t n = 0;
    int c;

    if (asked)
        return pf_format_from_name(asked);
    if (!is_stdin && (fmt = pf_format_from_path(path)) != PF_FORMAT_UNKNOWN)
        return fmt;
    while (n < sizeof(head) && (c = fgetc(f)) != EOF)
        head[n++] = (unsigned char)c;
    for (size_t i = n; i-- > 0;)
        ungetc(head[i], f); /* glibc keeps two bytes of pushback */
    return sniff(head, n);
}

/* A text reader's outcome in err: why it failed, or, having read, how many
 * lines it skipped (why: the first one's fault, when the reader says). */
static int text_read_result(int ret, const char *path, const char *what, uint64_t skipped,
                            uint64_t first, const char *why, size_t *bad_lines, char *err,
                            size_t errlen)
{
    if (bad_lines)
        *bad_lines = (size_t)skipped;
    if (ret)
        snprintf(err, errlen, "reading %s: %s", path, strerror(-ret));
    else if (skipped)
        snprintf(err, errlen, "%s: skipped %" PRIu64 " %s line%s (first: line %" PRIu64 "%s%s)",
                 path, skipped, what, skipped == 1 ? "" : "s", first, why ? ": " : "",
                 why ? why : "");
    return ret;
}

/* Reads f, in format fmt, into p (see input_read). */
static int read_format(FILE *f, enum pf_format fmt, const char *path, const char *asked,
                       struct pf_profile *p, size_t *bad_lines, char *err, size_t errlen)
{
    struct folded_read_report frep = {0};
    struct perfscript_report prep = {0};
    char why[256] = "";
    int ret;

    switch (fmt) {
    case PF_FORMAT_FOLDED:
        ret = folded_read(p, f, &frep);
        return text_read_result(ret, path, "malformed", frep.bad_lines, frep.first_bad_line,
                                frep.first_bad_why ? frep.first_bad_why : "", bad_lines, err,
                                errlen);
    case PF_FORMAT_PPROF:
        if ((ret = pprof_read(p, f, why, sizeof(why))))
            snprintf(err, errlen, "%s: %s", path, why[0] ? why : strerror(-ret));
        return ret;
    case PF_FORMAT_PERFSCRIPT:
        ret = perfscript_read(p, f, &prep);
        return text_read_result(ret, path, "unrecognized", prep.unrecognized,
                                prep.first_unrecognized, NULL, bad_lines, err, errlen);
    default:
        snprintf(err, errlen,
                 "%s: reading %s is not supported: give folded, pprof or perf-script%s", path,
                 asked ? asked : pf_format_name(fmt),
                 asked ? "" : " (or name the format with --from)");
        return -ENOTSUP;
    }
}

int input_read(const char *path, const char *asked, struct pf_profile *p, size_t *bad_lines,
               char *err, size_t errlen)
{
    static const char *const expected[] = {
        [PF_FORMAT_FOLDED] = "folded stacks: 'frame;frame;... COUNT' lines",
        [PF_FORMAT_PERFSCRIPT] = "'perf script' output: sample headers and their frames",
    };
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "re");
    enum pf_format fmt;
    char first[256] = "";
    int ret;

    err[0] = '\0';
    if (!f) {
        ret = -errno;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(-ret));
        return ret;
    }
    fmt = input_format(f, path, asked, is_stdin);
    ret = read_format(f, fmt, path, asked, p, bad_lines, err, errlen);
    if (!is_stdin)
        fclose(f);
    /* nothing usable is an error, not an empty profile written with status
     * 0: say what was expected (a pprof that parses is the right format
     * even when empty: an idle node's window) */
    if (ret || p->nsamples || fmt == PF_FORMAT_PPROF)
        return ret;
    if (err[0]) /* the readers' count of what they skipped */
        snprintf(first, sizeof(first), " (%.200s)", err);
    snprintf(err, errlen, "%s: no samples in it; expected %s%s%s", path,
             (size_t)fmt < sizeof(expected) / sizeof(expected[0]) && expected[fmt] ? expected[fmt]
                                                                                   : "samples",
             first, asked ? "" : "; give --from if it is another format");
    return -ENODATA;
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
