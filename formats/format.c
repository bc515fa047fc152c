#include "formats/format.h"

#include <string.h>

static const struct {
    const char *name;
    enum pf_format f;
} names[] = {
    {"folded", PF_FORMAT_FOLDED},          {"pprof", PF_FORMAT_PPROF},
    {"speedscope", PF_FORMAT_SPEEDSCOPE},  {"svg", PF_FORMAT_SVG},
    {"perf-script", PF_FORMAT_PERFSCRIPT},
};

/* Longest suffixes first so ".speedscope.json" wins over ".json". */
static const struct {
    const char *ext;
    enum pf_format f;
} exts[] = {
    {".speedscope.json", PF_FORMAT_SPEEDSCOPE},
    {".perf-script", PF_FORMAT_PERFSCRIPT},
    {".perfscript", PF_FORMAT_PERFSCRIPT},
    {".pb.gz", PF_FORMAT_PPROF},
    {".folded", PF_FORMAT_FOLDED},
    {".pprof", PF_FORMAT_PPROF},
    {".json", PF_FORMAT_SPEEDSCOPE},
    {".txt", PF_FORMAT_FOLDED},
    {".svg", PF_FORMAT_SVG},
    {".pb", PF_FORMAT_PPROF},
};

enum pf_format pf_format_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i].name) == 0)
            return names[i].f;
    }
    return PF_FORMAT_UNKNOWN;
}

enum pf_format pf_format_from_path(const char *path)
{
    size_t len = strlen(path);

    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        size_t el = strlen(exts[i].ext);

        if (len > el && strcmp(path + len - el, exts[i].ext) == 0)
            return exts[i].f;
    }
    return PF_FORMAT_UNKNOWN;
}

const char *pf_format_name(enum pf_format f)
{
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].f == f)
            return names[i].name;
    }
    return "unknown";
}
