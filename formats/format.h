/*
 * Output and input format names: chosen by --format/--from/--to or by a
 * file's extension.
 */
#ifndef PODFLAME_FORMAT_H
#define PODFLAME_FORMAT_H

enum pf_format {
    PF_FORMAT_UNKNOWN = 0,
    PF_FORMAT_FOLDED,
    PF_FORMAT_PPROF,
    PF_FORMAT_SPEEDSCOPE,
    PF_FORMAT_SVG,
    PF_FORMAT_PERFSCRIPT, /* `perf script` text: read only */
};

/* "folded", "pprof", "speedscope", "svg", "perf-script"; UNKNOWN otherwise. */
enum pf_format pf_format_from_name(const char *name);
/* By extension: .folded .txt, .pb.gz .pprof .pb, .speedscope.json .json, .svg,
 * .perf-script .perfscript */
enum pf_format pf_format_from_path(const char *path);
const char *pf_format_name(enum pf_format f);

#endif
