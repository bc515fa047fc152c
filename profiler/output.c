#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool writable(enum pf_format f)
{
    return f == PF_FORMAT_FOLDED;
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
        snprintf(err, errlen, "writing %s is not in this build of podflame yet: write .folded",
                 pf_format_name(f));
        return PF_FORMAT_UNKNOWN;
    }
    return f;
}

static int write_stream(FILE *f, const struct pf_profile *p, const struct output_opts *opts)
{
    struct folded_write_opts fo = {.group_by = opts->group_by};

    switch (opts->format) {
    case PF_FORMAT_FOLDED:
        return folded_write(p, f, &fo);
    default:
        return -ENOTSUP;
    }
}

int output_write(const char *path, const struct pf_profile *p, const struct output_opts *opts,
                 char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    FILE *f;
    int fd, ret;

    if (strcmp(path, "-") == 0) {
        ret = write_stream(stdout, p, opts);
        if (ret)
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
    fchmod(fd, 0644);
    f = fdopen(fd, "w");
    if (!f) {
        ret = -errno;
        close(fd);
        unlink(tmp);
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(-ret));
        return ret;
    }
    ret = write_stream(f, p, opts);
    if (!ret && (fflush(f) || fsync(fileno(f))))
        ret = -errno;
    if (fclose(f) && !ret)
        ret = -errno;
    if (!ret && rename(tmp, path))
        ret = -errno;
    if (ret) {
        unlink(tmp);
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(-ret));
    }
    return ret;
}
