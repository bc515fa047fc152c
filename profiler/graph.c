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

static const struct option graph_longopts[] = {GRAPH_LONGOPTS, {0}};

/* The long name of option c, for messages. */
static const char *long_name(int c)
{
    for (const struct option *o = graph_longopts; o->name; o++) {
        if (o->val == c)
            return o->name;
    }
    return "?";
}

/* Where an option whose value is kept as given goes; NULL for the others. */
static const char **text_option(int c, struct graph_args *a)
{
    switch (c) {
    case OPT_TITLE:
        return &a->fg.title;
    case OPT_SUBTITLE:
        return &a->fg.subtitle;
    case OPT_FONTTYPE:
        return &a->fg.fonttype;
    case OPT_COUNTNAME:
        return &a->fg.countname;
    case OPT_NAMETYPE:
        return &a->fg.nametype;
    case OPT_NOTES:
        return &a->fg.notes;
    case OPT_FROM:
        return &a->from;
    case OPT_SAMPLE_TYPE:
        return &a->sample_type;
    case 'o':
        return &a->output;
    default:
        return NULL;
    }
}

/* The options without a value. Returns whether c is one. */
static bool flag_option(int c, struct graph_args *a)
{
    switch (c) {
    case OPT_HASH:
        a->fg.random = false;
        return true;
    case OPT_RANDOM:
        a->fg.random = true;
        return true;
    case OPT_CP:
        a->fg.palette_file = "palette.map";
        return true;
    case OPT_REVERSE:
        a->fg.reverse = true;
        return true;
    case OPT_INVERTED:
        a->fg.inverted = true;
        return true;
    case OPT_FLAMECHART:
        a->fg.flamechart = true;
        return true;
    case OPT_NEGATE:
        a->fg.negate = true;
        return true;
    default:
        return false;
    }
}

/* The options whose value is checked: numbers in a range, a palette, a
 * grouping. Returns 0, -ENOENT when c is not one, or -EINVAL with the
 * reason in err. */
static int value_option(int c, struct graph_args *a, char *err, size_t errlen)
{
    double v = 0;
    int bad;

    switch (c) {
    case OPT_WIDTH:
        if (!(bad = parse_double(optarg, 100, 100000, &v)))
            a->fg.width = (unsigned)v;
        break;
    case OPT_HEIGHT:
        if (!(bad = parse_double(optarg, 4, 200, &v)))
            a->fg.frame_height = (unsigned)v;
        break;
    case OPT_MINWIDTH:
        bad = parse_double(optarg, 0, 1000, &a->fg.minwidth);
        break;
    case OPT_FONTSIZE:
        bad = parse_double(optarg, 1, 100, &a->fg.fontsize);
        break;
    case OPT_TOTAL:
        if (!(bad = parse_double(optarg, 0, 9e18, &v)))
            a->fg.total = (uint64_t)v;
        break;
    case OPT_COLORS:
        bad = fg_palette_parse(optarg, &a->fg.palette);
        break;
    case OPT_GROUP_BY:
        bad = pf_group_by_parse(optarg, &a->group_by);
        break;
    default:
        return -ENOENT;
    }
    if (!bad)
        return 0;
    snprintf(err, errlen, "bad value '%s' for --%s (try --help)", optarg, long_name(c));
    return -EINVAL;
}

/* One option of both commands, c as getopt_long returns it (optarg its
 * value). Returns 0, -ENOENT when c is not one of them, or -EINVAL with
 * the reason in err. */
static int graph_option(int c, struct graph_args *a, char *err, size_t errlen)
{
    const char **text = text_option(c, a);

    if (text) {
        *text = optarg;
        return 0;
    }
    return flag_option(c, a) ? 0 : value_option(c, a, err, errlen);
}

/* The getopt loop of both commands. Returns 0 to run, 1 after --help, or 2
 * on a usage error. */
static int parse_graph_args(const char *cmd, int argc, char **argv, const struct option *longopts,
                            void (*usage)(FILE *), struct graph_args *a)
{
    char err[512];
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
        r = graph_option(c, a, err, sizeof(err));
        if (r == -ENOENT) /* getopt_long said what it was */
            fprintf(stderr, "(try 'podflame %s --help')\n", cmd);
        else if (r)
            fprintf(stderr, "podflame %s: %s\n", cmd, err);
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

static void stacks_init(struct stacks *st)
{
    memset(st, 0, sizeof(*st));
    stackcount_init(&st->sc);
    stackcount_init(&st->sc2);
}

static void stacks_free(struct stacks *st)
{
    stackcount_free(&st->sc);
    stackcount_free(&st->sc2);
}

/* Adds a stack with its counts: before and after, or one count twice. */
static int stacks_add(struct stacks *st, const char *stack, size_t len, uint64_t c1, uint64_t c2)
{
    int err = stackcount_add(&st->sc, stack, len, c1);

    return err ? err : stackcount_add(&st->sc2, stack, len, c2);
}

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
            err = stacks_add(st, line, (size_t)(sp2 - line), c1, c2);
        } else {
            *sp = '\0';
            err = stacks_add(st, line, (size_t)(sp - line), c1, c1);
        }
    }
    free(line);
    return err ? err : ferror(in) ? -EIO : 0;
}

/* Folded text at path ("-": stdin) into st. Returns 0 or a negative errno
 * with the reason in err; warn says what was skipped ("" if nothing). */
static int read_folded_file(const char *path, const struct graph_args *a, struct stacks *st,
                            char *err, size_t errlen, char *warn, size_t warnlen)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "re") : stdin;
    int ret;

    if (!f) {
        ret = -errno;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(-ret));
        return ret;
    }
    ret = read_folded_lines(f, st);
    if (f != stdin)
        fclose(f);
    if (ret) {
        snprintf(err, errlen, "reading %s: %s", path, strerror(-ret));
    } else if (!st->sc.n) {
        /* nothing usable: an error, as flamegraph.pl's "No stack counts found" */
        snprintf(err, errlen,
                 "%s: no stacks in it; expected folded stacks ('frame;frame;... COUNT' lines)%s%s",
                 path, st->bad ? ", and every line was malformed" : "",
                 a->from ? "" : "; give --from if it is another format");
        ret = -ENODATA;
    } else if (st->bad) {
        snprintf(warn, warnlen, "%s: skipped %zu malformed line%s (first: line %zu)", path, st->bad,
                 st->bad == 1 ? "" : "s", st->first_bad);
    }
    return ret;
}

/* Any other profile at path, through the model, into st (arguments as
 * read_folded_file's). */
static int read_profile_file(const char *path, const struct graph_args *a, struct stacks *st,
                             char *err, size_t errlen, char *warn, size_t warnlen)
{
    struct folded_write_opts fo = {.group_by = a->group_by};
    struct output_opts oo = {.sample_type = a->sample_type};
    struct stackcount tmp;
    struct pf_profile *p;
    size_t bad = 0;
    int ret;

    if (pf_profile_new(&p)) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if ((ret = input_read(path, a->from, p, &bad, err, errlen))) {
        pf_profile_free(p);
        return ret;
    }
    if (bad)
        snprintf(warn, warnlen, "%s", err);
    if (pf_profile_value_index(p, a->sample_type, &fo.value_index)) {
        char why[384];

        output_check_sample_type(p, &oo, why, sizeof(why));
        snprintf(err, errlen, "%s: %s", path, why);
        pf_profile_free(p);
        return -ENOENT;
    }
    stackcount_init(&tmp);
    ret = folded_stacks(p, &fo, &tmp);
    for (size_t i = 0; !ret && i < tmp.n; i++)
        ret = stacks_add(st, tmp.items[i].stack, strlen(tmp.items[i].stack), tmp.items[i].count,
                         tmp.items[i].count);
    if (ret)
        snprintf(err, errlen, "%s: %s", path, strerror(-ret));
    stackcount_free(&tmp);
    pf_profile_free(p);
    return ret;
}

/* Adds the stacks at path to st; says on stderr what failed or was
 * skipped. Returns 0 or a negative errno. */
static int read_input(const char *cmd, const char *path, const struct graph_args *a,
                      struct stacks *st)
{
    enum pf_format fmt = a->from             ? pf_format_from_name(a->from)
                         : strcmp(path, "-") ? pf_format_from_path(path)
                                             : PF_FORMAT_FOLDED;
    char err[512], warn[512] = "";
    int ret = fmt == PF_FORMAT_FOLDED || fmt == PF_FORMAT_UNKNOWN
                  ? read_folded_file(path, a, st, err, sizeof(err), warn, sizeof(warn))
                  : read_profile_file(path, a, st, err, sizeof(err), warn, sizeof(warn));

    if (warn[0])
        fprintf(stderr, "podflame %s: warning: %s\n", cmd, warn);
    if (ret)
        fprintf(stderr, "podflame %s: %s\n", cmd, err);
    return ret;
}

struct render {
    const struct graph_args *a;
    const struct fg_stack *fs;
    size_t n;
    int ret; /* flamegraph_write's */
    char err[512];
};

static int write_svg(FILE *f, void *ctx)
{
    struct render *r = ctx;

    r->ret = flamegraph_write(f, r->fs, r->n, &r->a->fg, r->err, sizeof(r->err));
    return r->ret;
}

static int render(const char *cmd, const struct graph_args *a, struct fg_stack *fs, size_t n)
{
    struct render r = {a, fs, n, 0, ""};
    char err[512];

    if (output_atomic(a->output ? a->output : "-", write_svg, &r, err, sizeof(err))) {
        /* the graph's own reason (a bad palette file), else the output's
         * (which knows the disk's errno when writing failed) */
        fprintf(stderr, "podflame %s: %s\n", cmd, r.ret && r.ret != -EIO ? r.err : err);
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

/* The graph's stacks: they point into st. */
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

/* Draws st, said to stderr when it fails; returns the exit status. */
static int render_stacks(const char *cmd, const struct graph_args *a, const struct stacks *st,
                         bool diff)
{
    size_t n = 0;
    struct fg_stack *fs = to_fg(st, &n, diff);
    int ret;

    if (!fs) {
        fprintf(stderr, "podflame %s: out of memory\n", cmd);
        return 1;
    }
    if (!n)
        fprintf(stderr, "podflame %s: warning: no stacks in the input\n", cmd);
    ret = render(cmd, a, fs, n);
    free(fs);
    return ret;
}

int cmd_flamegraph(int argc, char **argv)
{
    struct graph_args a = {.group_by = PF_GROUP_PROCESS};
    struct stacks st;
    int ret = 1,
        r = parse_graph_args("flamegraph", argc, argv, graph_longopts, flamegraph_usage, &a);

    if (r)
        return r == 1 ? 0 : r;
    if (a.output && pf_format_from_path(a.output) == PF_FORMAT_FOLDED) {
        fprintf(stderr, "podflame flamegraph: writes SVG; use 'podflame convert' for folded\n");
        return 2;
    }
    stacks_init(&st);
    for (int i = optind; i < argc || (i == optind && optind == argc); i++) {
        if (read_input("flamegraph", i < argc ? argv[i] : "-", &a, &st))
            goto out;
    }
    ret = render_stacks("flamegraph", &a, &st, st.two);
out:
    stacks_free(&st);
    return ret;
}

/* 'stack before after' lines, as difffolded.pl writes them. */
static int write_two_column(FILE *f, void *ctx)
{
    const struct stacks *m = ctx;

    for (size_t i = 0; i < m->sc.n; i++)
        if (fprintf(f, "%s %" PRIu64 " %" PRIu64 "\n", m->sc.items[i].stack, m->sc.items[i].count,
                    m->sc2.items[i].count) < 0)
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

static uint64_t stacks_total(const struct stackcount *sc)
{
    uint64_t t = 0;

    for (size_t i = 0; i < sc->n; i++)
        t += sc->items[i].count;
    return t;
}

/* Every stack of either side into m, before's counts in m->sc and after's
 * in m->sc2, in the same order; before's scaled to after's total *ta when
 * normalize. Returns 0 or -ENOMEM. */
static int merge_sides(const struct stacks *before, const struct stacks *after, bool normalize,
                       struct stacks *m, uint64_t *tb, uint64_t *ta)
{
    *tb = stacks_total(&before->sc);
    *ta = stacks_total(&after->sc);
    for (int side = 0; side < 2; side++) {
        const struct stackcount *src = side ? &after->sc : &before->sc;

        for (size_t i = 0; i < src->n; i++) {
            const char *s = src->items[i].stack;
            uint64_t cnt = src->items[i].count;

            if (!side && normalize && *tb)
                cnt = (uint64_t)llround((double)cnt * (double)*ta / (double)*tb);
            if (stacks_add(m, s, strlen(s), side ? 0 : cnt, side ? cnt : 0))
                return -ENOMEM;
        }
    }
    return 0;
}

/* The merged stacks as 'stack before after' lines, sorted. */
static int write_diff_folded(const char *path, struct stacks *m)
{
    char err[512];

    stackcount_sort(&m->sc);
    stackcount_sort(&m->sc2);
    if (output_atomic(path, write_two_column, m, err, sizeof(err))) {
        fprintf(stderr, "podflame diff: %s\n", err);
        return 1;
    }
    return 0;
}

int cmd_diff(int argc, char **argv)
{
    static const struct option longopts[] = {
        GRAPH_LONGOPTS, {"no-normalize", no_argument, NULL, OPT_NO_NORMALIZE}, {0}};
    struct graph_args a = {.group_by = PF_GROUP_PROCESS, .normalize = true};
    struct stacks before, after, merged;
    uint64_t tb = 0, ta = 0;
    int ret = 1, r = parse_graph_args("diff", argc, argv, longopts, diff_usage, &a);

    if (r)
        return r == 1 ? 0 : r;
    if (argc - optind != 2) {
        fprintf(stderr, "podflame diff: give BEFORE and AFTER (try --help)\n");
        return 2;
    }
    if (!a.fg.title)
        a.fg.title = "Differential Flame Graph";
    stacks_init(&before);
    stacks_init(&after);
    stacks_init(&merged);
    if (read_input("diff", argv[optind], &a, &before) ||
        read_input("diff", argv[optind + 1], &a, &after))
        goto out;
    if (merge_sides(&before, &after, a.normalize, &merged, &tb, &ta)) {
        fprintf(stderr, "podflame diff: out of memory\n");
        goto out;
    }
    if (a.output && pf_format_from_path(a.output) == PF_FORMAT_FOLDED) {
        ret = write_diff_folded(a.output, &merged);
        goto out;
    }
    if (!a.output)
        a.output = "diff.svg";
    ret = render_stacks("diff", &a, &merged, true);
    if (!ret)
        fprintf(stderr,
                "podflame diff: %" PRIu64 " samples before%s, %" PRIu64 " after; wrote %s\n", tb,
                a.normalize ? " (scaled to after's total)" : "", ta, a.output);
out:
    stacks_free(&before);
    stacks_free(&after);
    stacks_free(&merged);
    return ret;
}
