/*
 * podflame flamegraph and podflame diff: SVG flame graphs from folded stacks
 * (or any readable profile), and differential graphs of two profiles.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/flamegraph.h"
#include "formats/stackcount.h"
#include "profiler/cmd.h"
#include "profiler/io/output.h"

/* Options both commands share, as flamegraph.pl spells them. */
enum {
    OPT_TITLE = 256,
    OPT_SUBTITLE,
    OPT_WIDTH,
    OPT_HEIGHT,
    OPT_MINWIDTH,
    OPT_FONTTYPE,
    OPT_FONTSIZE,
    OPT_COUNTNAME,
    OPT_NAMETYPE,
    OPT_COLORS,
    OPT_HASH,
    OPT_RANDOM,
    OPT_CP,
    OPT_REVERSE,
    OPT_INVERTED,
    OPT_FLAMECHART,
    OPT_NEGATE,
    OPT_NOTES,
    OPT_TOTAL,
    OPT_GROUP_BY,
    OPT_NO_NORMALIZE,
    OPT_FROM,
    OPT_SAMPLE_TYPE,
};

#define GRAPH_LONGOPTS                                                                             \
    {"title", required_argument, NULL, OPT_TITLE},                                                 \
        {"subtitle", required_argument, NULL, OPT_SUBTITLE},                                       \
        {"width", required_argument, NULL, OPT_WIDTH},                                             \
        {"height", required_argument, NULL, OPT_HEIGHT},                                           \
        {"minwidth", required_argument, NULL, OPT_MINWIDTH},                                       \
        {"fonttype", required_argument, NULL, OPT_FONTTYPE},                                       \
        {"fontsize", required_argument, NULL, OPT_FONTSIZE},                                       \
        {"countname", required_argument, NULL, OPT_COUNTNAME},                                     \
        {"nametype", required_argument, NULL, OPT_NAMETYPE},                                       \
        {"colors", required_argument, NULL, OPT_COLORS}, {"hash", no_argument, NULL, OPT_HASH},    \
        {"random", no_argument, NULL, OPT_RANDOM}, {"cp", no_argument, NULL, OPT_CP},              \
        {"reverse", no_argument, NULL, OPT_REVERSE},                                               \
        {"inverted", no_argument, NULL, OPT_INVERTED},                                             \
        {"flamechart", no_argument, NULL, OPT_FLAMECHART},                                         \
        {"negate", no_argument, NULL, OPT_NEGATE}, {"notes", required_argument, NULL, OPT_NOTES},  \
        {"total", required_argument, NULL, OPT_TOTAL},                                             \
        {"group-by", required_argument, NULL, OPT_GROUP_BY},                                       \
        {"from", required_argument, NULL, OPT_FROM}, {"output", required_argument, NULL, 'o'},     \
        {"sample-type", required_argument, NULL, OPT_SAMPLE_TYPE},                                 \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }

static const char graph_options_help[] =
    "  -o, --output FILE      where to write (default stdout; .folded writes text)\n"
    "      --title TEXT       title (default \"Flame Graph\")\n"
    "      --subtitle TEXT    second title line\n"
    "      --width PX         image width (default 1200)\n"
    "      --height PX        frame height (default 16)\n"
    "      --minwidth PX      omit frames narrower than this (default 0.1)\n"
    "      --fonttype FONT    font family (default Verdana)\n"
    "      --fontsize PT      font size (default 12)\n"
    "      --countname NAME   what a count is (default samples)\n"
    "      --nametype TEXT    label of the details line (default \"Function:\")\n"
    "      --colors PALETTE   hot (default), mem, io, wakeup, chain, java, js, perl, red,\n"
    "                         green, blue, aqua, yellow, purple, orange; _[k] _[j] _[i]\n"
    "                         frames get kernel, JIT and inlined hues\n"
    "      --hash             colour by name hash (the default: stable across graphs)\n"
    "      --random           random colours\n"
    "      --cp               consistent palette: reuse and extend ./palette.map\n"
    "      --reverse          reverse stacks: leaf functions at the root\n"
    "      --inverted         icicle graph: root at the top\n"
    "      --flamechart       keep input order (time) instead of merging by name\n"
    "      --negate           differential: swap red and blue\n"
    "      --notes TEXT       embed notes in the SVG\n"
    "      --total N          scale widths to N samples (to compare graphs)\n"
    "      --group-by KEY     root frames for labelled profiles: pod, container, process,\n"
    "                         pid, thread, none\n"
    "      --from FMT         input format when not folded by extension\n"
    "      --sample-type T    which value of a pprof with several (default: its\n"
    "                         default_sample_type, else the last, as pprof does)\n"
    "  -h, --help             this help\n";

struct graph_args {
    struct fg_opts fg;
    enum pf_group_by group_by;
    const char *output;
    const char *from;
    const char *sample_type;
    bool normalize;
};

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(s, &end);
    return errno || end == s || *end || !(*out >= lo && *out <= hi) ? -EINVAL : 0;
}

/* Returns 0 if handled, 1 if not a graph option, 2 on a bad value. */
static int graph_option(const char *cmd, int c, struct graph_args *a)
{
    double v;

    switch (c) {
    case OPT_TITLE:
        a->fg.title = optarg;
        return 0;
    case OPT_SUBTITLE:
        a->fg.subtitle = optarg;
        return 0;
    case OPT_FONTTYPE:
        a->fg.fonttype = optarg;
        return 0;
    case OPT_COUNTNAME:
        a->fg.countname = optarg;
        return 0;
    case OPT_NAMETYPE:
        a->fg.nametype = optarg;
        return 0;
    case OPT_NOTES:
        a->fg.notes = optarg;
        return 0;
    case OPT_HASH:
        a->fg.random = false;
        return 0;
    case OPT_RANDOM:
        a->fg.random = true;
        return 0;
    case OPT_CP:
        a->fg.palette_file = "palette.map";
        return 0;
    case OPT_REVERSE:
        a->fg.reverse = true;
        return 0;
    case OPT_INVERTED:
        a->fg.inverted = true;
        return 0;
    case OPT_FLAMECHART:
        a->fg.flamechart = true;
        return 0;
    case OPT_NEGATE:
        a->fg.negate = true;
        return 0;
    case OPT_FROM:
        a->from = optarg;
        return 0;
    case OPT_SAMPLE_TYPE:
        a->sample_type = optarg;
        return 0;
    case 'o':
        a->output = optarg;
        return 0;
    case OPT_WIDTH:
        if (parse_double(optarg, 100, 100000, &v))
            break;
        a->fg.width = (unsigned)v;
        return 0;
    case OPT_HEIGHT:
        if (parse_double(optarg, 4, 200, &v))
            break;
        a->fg.frame_height = (unsigned)v;
        return 0;
    case OPT_MINWIDTH:
        if (parse_double(optarg, 0, 1000, &a->fg.minwidth))
            break;
        return 0;
    case OPT_FONTSIZE:
        if (parse_double(optarg, 1, 100, &a->fg.fontsize))
            break;
        return 0;
    case OPT_TOTAL:
        if (parse_double(optarg, 0, 9e18, &v))
            break;
        a->fg.total = (uint64_t)v;
        return 0;
    case OPT_COLORS:
        if (fg_palette_parse(optarg, &a->fg.palette))
            break;
        return 0;
    case OPT_GROUP_BY:
        if (pf_group_by_parse(optarg, &a->group_by))
            break;
        return 0;
    default:
        return 1;
    }
    fprintf(stderr, "podflame %s: bad value '%s' for --%s (try --help)\n", cmd, optarg,
            c == OPT_COLORS     ? "colors"
            : c == OPT_GROUP_BY ? "group-by"
                                : "option");
    return 2;
}

/* The getopt loop of both commands. Returns 0 to run, 1 after --help, or 2
 * on a usage error. */
static int parse_graph_args(const char *cmd, int argc, char **argv, const struct option *longopts,
                            void (*usage)(FILE *), struct graph_args *a)
{
    int c, r;

    fg_opts_default(&a->fg);
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 1;
        }
        if (c == OPT_NO_NORMALIZE) {
            a->normalize = false;
            continue;
        }
        r = graph_option(cmd, c, a);
        if (r == 1)
            fprintf(stderr, "(try 'podflame %s --help')\n", cmd);
        if (r)
            return 2;
    }
    return 0;
}

/* One input's stacks: folded text read as is (one or two counts per line,
 * as flamegraph.pl takes them), anything else through the profile model. */
struct stacks {
    struct stackcount sc;  /* first counts */
    struct stackcount sc2; /* second counts, differential input */
    bool two;
    size_t bad;
    size_t first_bad;
};

static int read_folded_lines(FILE *in, struct stacks *st)
{
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    int err = 0;

    while (!err && (n = getline(&line, &cap, in)) >= 0) {
        char *sp, *sp2 = NULL, *end;
        unsigned long long c1, c2 = 0;

        lineno++;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
            line[--n] = '\0';
        if (!n || line[0] == '#')
            continue;
        sp = strrchr(line, ' ');
        if (sp && sp > line) {
            *sp = '\0';
            sp2 = strrchr(line, ' ');
            *sp = ' ';
        }
        errno = 0;
        if (!sp || sp == line || sp[1] < '0' || sp[1] > '9' ||
            ((c1 = strtoull(sp + 1, &end, 10)), *end && *end != '.') || errno) {
            if (!st->bad++)
                st->first_bad = lineno;
            continue;
        }
        /* "stack before after": the last number is "after" */
        if (sp2 && sp2 > line && sp2[1] >= '0' && sp2[1] <= '9' &&
            strspn(sp2 + 1, "0123456789.") == (size_t)(sp - sp2 - 1)) {
            c2 = c1;
            c1 = strtoull(sp2 + 1, NULL, 10);
            st->two = true;
            *sp2 = '\0';
            err = stackcount_add(&st->sc, line, (size_t)(sp2 - line), c1);
            err = err ? err : stackcount_add(&st->sc2, line, (size_t)(sp2 - line), c2);
        } else {
            *sp = '\0';
            err = stackcount_add(&st->sc, line, (size_t)(sp - line), c1);
            err = err ? err : stackcount_add(&st->sc2, line, (size_t)(sp - line), c1);
        }
    }
    free(line);
    return err ? err : ferror(in) ? -EIO : 0;
}

static int read_input(const char *cmd, const char *path, const struct graph_args *a,
                      struct stacks *st)
{
    enum pf_format fmt = a->from             ? pf_format_from_name(a->from)
                         : strcmp(path, "-") ? pf_format_from_path(path)
                                             : PF_FORMAT_FOLDED;
    char err[512];
    int ret;

    if (fmt == PF_FORMAT_FOLDED || fmt == PF_FORMAT_UNKNOWN) {
        FILE *f = strcmp(path, "-") ? fopen(path, "re") : stdin;

        if (!f) {
            fprintf(stderr, "podflame %s: cannot open %s: %s\n", cmd, path, strerror(errno));
            return -errno;
        }
        ret = read_folded_lines(f, st);
        if (f != stdin)
            fclose(f);
        if (ret) {
            fprintf(stderr, "podflame %s: reading %s: %s\n", cmd, path, strerror(-ret));
        } else if (!st->sc.n) {
            /* nothing usable: an error, as flamegraph.pl's "No stack counts found" */
            fprintf(stderr,
                    "podflame %s: %s: no stacks in it; expected folded stacks ('frame;frame;... "
                    "COUNT' lines)%s%s\n",
                    cmd, path, st->bad ? ", and every line was malformed" : "",
                    a->from ? "" : "; give --from if it is another format");
            ret = -ENODATA;
        } else if (st->bad)
            fprintf(stderr,
                    "podflame %s: warning: %s: skipped %zu malformed line%s (first: line "
                    "%zu)\n",
                    cmd, path, st->bad, st->bad == 1 ? "" : "s", st->first_bad);
        return ret;
    } else {
        struct folded_write_opts fo = {.group_by = a->group_by};
        struct pf_profile *p;
        size_t bad = 0;

        if (pf_profile_new(&p))
            return -ENOMEM;
        ret = input_read(path, a->from, p, &bad, err, sizeof(err));
        if (ret)
            fprintf(stderr, "podflame %s: %s\n", cmd, err);
        else if (bad)
            fprintf(stderr, "podflame %s: warning: %s\n", cmd, err);
        if (!ret && pf_profile_value_index(p, a->sample_type, &fo.value_index)) {
            struct output_opts oo = {.sample_type = a->sample_type};

            output_check_sample_type(p, &oo, err, sizeof(err));
            fprintf(stderr, "podflame %s: %s: %s\n", cmd, path, err);
            ret = -ENOENT;
        }
        if (!ret) {
            struct stackcount tmp;

            stackcount_init(&tmp);
            ret = folded_stacks(p, &fo, &tmp);
            for (size_t i = 0; !ret && i < tmp.n; i++) {
                size_t len = strlen(tmp.items[i].stack);

                ret = stackcount_add(&st->sc, tmp.items[i].stack, len, tmp.items[i].count);
                ret = ret ? ret
                          : stackcount_add(&st->sc2, tmp.items[i].stack, len, tmp.items[i].count);
            }
            stackcount_free(&tmp);
        }
        pf_profile_free(p);
        return ret;
    }
}

struct render {
    const struct graph_args *a;
    const struct fg_stack *fs;
    size_t n;
    char *err;
    size_t errlen;
};

static int write_svg(FILE *f, void *ctx)
{
    struct render *r = ctx;

    return flamegraph_write(f, r->fs, r->n, &r->a->fg, r->err, r->errlen);
}

static int render(const char *cmd, const struct graph_args *a, struct fg_stack *fs, size_t n)
{
    char err[512];
    struct render r = {a, fs, n, err, sizeof(err)};

    if (output_atomic(a->output ? a->output : "-", write_svg, &r, err, sizeof(err))) {
        fprintf(stderr, "podflame %s: %s\n", cmd, err);
        return 1;
    }
    return 0;
}

static void flamegraph_usage(FILE *f)
{
    fprintf(f,
            "usage: podflame flamegraph [OPTIONS] [FILE...]\n"
            "\n"
            "Draws an interactive SVG flame graph (click to zoom, Ctrl-F to search) from\n"
            "folded stacks (FILE..., or stdin), like flamegraph.pl, or from any profile\n"
            "podflame reads (.pb.gz, .perf-script). Lines with two counts (before after)\n"
            "draw a differential graph.\n"
            "\n"
            "options:\n%s"
            "\n"
            "examples:\n"
            "  podflame flamegraph cpu.folded > cpu.svg\n"
            "  perf script | podflame collapse | podflame flamegraph --title CPU -o cpu.svg\n"
            "  podflame flamegraph --colors java --inverted -o icicle.svg cpu.pb.gz\n",
            graph_options_help);
}

static struct fg_stack *to_fg(const struct stacks *st, size_t *n, bool diff)
{
    struct fg_stack *fs = malloc((st->sc.n ? st->sc.n : 1) * sizeof(*fs));

    if (!fs)
        return NULL;
    /* sc and sc2 hold the same stacks in the same insertion order */
    for (size_t i = 0; i < st->sc.n; i++) {
        fs[i].stack = st->sc.items[i].stack;
        fs[i].count = (int64_t)st->sc.items[i].count;
        fs[i].count2 = diff ? (int64_t)st->sc2.items[i].count : -1;
    }
    *n = st->sc.n;
    return fs;
}

int cmd_flamegraph(int argc, char **argv)
{
    static const struct option longopts[] = {GRAPH_LONGOPTS, {0}};
    struct graph_args a = {.group_by = PF_GROUP_PROCESS};
    struct stacks st = {0};
    struct fg_stack *fs = NULL;
    size_t n = 0;
    int ret = 1, r = parse_graph_args("flamegraph", argc, argv, longopts, flamegraph_usage, &a);

    if (r)
        return r == 1 ? 0 : r;
    if (a.output && pf_format_from_path(a.output) == PF_FORMAT_FOLDED) {
        fprintf(stderr, "podflame flamegraph: writes SVG; use 'podflame convert' for folded\n");
        return 2;
    }
    stackcount_init(&st.sc);
    stackcount_init(&st.sc2);
    for (int i = optind; i < argc || (i == optind && optind == argc); i++) {
        if (read_input("flamegraph", i < argc ? argv[i] : "-", &a, &st))
            goto out;
    }
    fs = to_fg(&st, &n, st.two);
    if (!fs) {
        fprintf(stderr, "podflame flamegraph: out of memory\n");
        goto out;
    }
    if (!n)
        fprintf(stderr, "podflame flamegraph: warning: no stacks in the input\n");
    ret = render("flamegraph", &a, fs, n);
out:
    free(fs);
    stackcount_free(&st.sc);
    stackcount_free(&st.sc2);
    return ret;
}

/* 'stack before after' lines, as difffolded.pl writes them. */
struct two_column {
    const struct stackcount *before, *after;
    size_t n;
};

static int write_two_column(FILE *f, void *ctx)
{
    const struct two_column *tc = ctx;

    for (size_t i = 0; i < tc->n; i++)
        if (fprintf(f, "%s %" PRIu64 " %" PRIu64 "\n", tc->before->items[i].stack,
                    tc->before->items[i].count, tc->after->items[i].count) < 0)
            return -EIO;
    return 0;
}

static void diff_usage(FILE *f)
{
    fprintf(f,
            "usage: podflame diff [OPTIONS] BEFORE AFTER\n"
            "\n"
            "Differential flame graph: frames are as wide as in AFTER and coloured red where\n"
            "they grew, blue where they shrank, by how much. BEFORE's counts are scaled to\n"
            "AFTER's total first (--no-normalize to compare raw counts). Inputs are any\n"
            "format podflame reads. With -o FILE.folded writes 'stack before after' lines.\n"
            "\n"
            "options:\n"
            "      --no-normalize     do not scale BEFORE to AFTER's total\n%s",
            graph_options_help);
}

int cmd_diff(int argc, char **argv)
{
    static const struct option longopts[] = {
        GRAPH_LONGOPTS, {"no-normalize", no_argument, NULL, OPT_NO_NORMALIZE}, {0}};
    struct graph_args a = {.group_by = PF_GROUP_PROCESS, .normalize = true};
    struct stacks before = {0}, after = {0};
    struct stackcount merged_before, merged_after;
    struct fg_stack *fs = NULL;
    uint64_t tb = 0, ta = 0;
    size_t n = 0;
    int ret = 1, r = parse_graph_args("diff", argc, argv, longopts, diff_usage, &a);

    if (r)
        return r == 1 ? 0 : r;
    if (argc - optind != 2) {
        fprintf(stderr, "podflame diff: give BEFORE and AFTER (try --help)\n");
        return 2;
    }
    if (!a.fg.title)
        a.fg.title = "Differential Flame Graph";
    stackcount_init(&before.sc);
    stackcount_init(&before.sc2);
    stackcount_init(&after.sc);
    stackcount_init(&after.sc2);
    stackcount_init(&merged_before);
    stackcount_init(&merged_after);
    if (read_input("diff", argv[optind], &a, &before) ||
        read_input("diff", argv[optind + 1], &a, &after))
        goto out;
    for (size_t i = 0; i < before.sc.n; i++)
        tb += before.sc.items[i].count;
    for (size_t i = 0; i < after.sc.n; i++)
        ta += after.sc.items[i].count;
    /* every stack of either side, in both tables, in the same order */
    for (int side = 0; side < 2; side++) {
        const struct stackcount *src = side ? &after.sc : &before.sc;

        for (size_t i = 0; i < src->n; i++) {
            const char *s = src->items[i].stack;
            size_t len = strlen(s);
            uint64_t cnt = src->items[i].count;

            if (!side && a.normalize && tb)
                cnt = (uint64_t)llround((double)cnt * (double)ta / (double)tb);
            if (stackcount_add(&merged_before, s, len, side ? 0 : cnt) ||
                stackcount_add(&merged_after, s, len, side ? cnt : 0)) {
                fprintf(stderr, "podflame diff: out of memory\n");
                goto out;
            }
        }
    }
    n = merged_before.n;
    fs = malloc((n ? n : 1) * sizeof(*fs));
    if (!fs)
        goto out;
    for (size_t i = 0; i < n; i++) {
        fs[i].stack = merged_before.items[i].stack;
        fs[i].count = (int64_t)merged_before.items[i].count;
        fs[i].count2 = (int64_t)merged_after.items[i].count;
    }
    if (a.output && pf_format_from_path(a.output) == PF_FORMAT_FOLDED) {
        char err[512];

        stackcount_sort(&merged_before);
        stackcount_sort(&merged_after);
        ret =
            output_atomic(a.output, write_two_column,
                          &(struct two_column){&merged_before, &merged_after, n}, err, sizeof(err))
                ? 1
                : 0;
        if (ret)
            fprintf(stderr, "podflame diff: %s\n", err);
        goto out;
    }
    if (!a.output)
        a.output = "diff.svg";
    ret = render("diff", &a, fs, n);
    if (!ret)
        fprintf(stderr,
                "podflame diff: %" PRIu64 " samples before%s, %" PRIu64 " after; wrote %s\n", tb,
                a.normalize ? " (scaled to after's total)" : "", ta, a.output);
out:
    free(fs);
    stackcount_free(&before.sc);
    stackcount_free(&before.sc2);
    stackcount_free(&after.sc);
    stackcount_free(&after.sc2);
    stackcount_free(&merged_before);
    stackcount_free(&merged_after);
    return ret;
}
