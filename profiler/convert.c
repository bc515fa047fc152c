/*
 * podflame convert: any readable format to any writable one, through the
 * one profile model.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "profiler/cmd.h"
#include "profiler/io/output.h"

static void convert_usage(FILE *f)
{
    fprintf(f,
            "usage: podflame convert [OPTIONS] IN OUT\n"
            "\n"
            "Converts a profile between formats. Formats follow the file extensions\n"
            "(.folded/.txt, .pb.gz/.pprof, .speedscope.json, .svg) unless named; '-' is stdin or\n"
            "stdout (stdin's format is detected: gzip or protobuf is pprof, text is folded).\n"
            "\n"
            "reads:  folded, pprof (gzipped or not, from podflame, Go's runtime/pprof, ...),\n"
            "        perf-script (`perf script` text; .perf-script or --from perf-script)\n"
            "writes: folded, pprof, speedscope, svg (a flame graph with the default options;\n"
            "        podflame flamegraph has them all)\n"
            "\n"
            "options:\n"
            "      --from FMT        input format: folded, pprof or perf-script\n"
            "      --to FMT          output format: folded, pprof, speedscope or svg\n"
            "      --group-by KEY    root frames from sample labels: pod, container, process,\n"
            "                        pid, thread or none (default process; profiles without\n"
            "                        labels get none)\n"
            "      --sample-type T   which value of a profile with several (Go's heap:\n"
            "                        alloc_objects, alloc_space, inuse_objects, inuse_space)\n"
            "                        folded, SVG and speedscope show (default: the profile's\n"
            "                        default_sample_type, else the last, as pprof does;\n"
            "                        sample counts when they come first, as in CPU profiles)\n"
            "  -h, --help            this help\n"
            "\n"
            "examples:\n"
            "  podflame convert cpu.pb.gz cpu.folded\n"
            "  podflame convert cpu.folded cpu.speedscope.json\n"
            "  podflame convert cpu.pb.gz cpu.svg\n"
            "  perf script | podflame convert --from perf-script - perf.pb.gz\n"
            "  go tool pprof -proto ... | podflame convert - out.folded\n");
}

/* Parses the options and checks the formats. Returns -1 to run, else the
 * exit status: 0 after --help, 2 on a usage error. */
static int convert_args(int argc, char **argv, const char **from, struct output_opts *oo)
{
    enum { OPT_FROM = 256, OPT_TO, OPT_GROUP_BY, OPT_SAMPLE_TYPE };
    static const struct option longopts[] = {
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"group-by", required_argument, NULL, OPT_GROUP_BY},
        {"sample-type", required_argument, NULL, OPT_SAMPLE_TYPE},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *to = NULL;
    char err[512];
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_FROM:
            *from = optarg;
            break;
        case OPT_TO:
            to = optarg;
            break;
        case OPT_SAMPLE_TYPE:
            oo->sample_type = optarg;
            break;
        case OPT_GROUP_BY:
            if (pf_group_by_parse(optarg, &oo->group_by)) {
                fprintf(stderr,
                        "podflame convert: --group-by %s: use pod, container, process, pid, "
                        "thread or none\n",
                        optarg);
                return 2;
            }
            break;
        case 'h':
            convert_usage(stdout);
            return 0;
        default:
            fprintf(stderr, "(try 'podflame convert --help')\n");
            return 2;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "podflame convert: give an input and an output file (try --help)\n");
        return 2;
    }
    if (*from && pf_format_from_name(*from) == PF_FORMAT_UNKNOWN) {
        fprintf(stderr,
                "podflame convert: unknown input format '%s': use folded, pprof or perf-script\n",
                *from);
        return 2;
    }
    oo->format = output_format_for(argv[optind + 1], to, err, sizeof(err));
    if (oo->format == PF_FORMAT_UNKNOWN) {
        fprintf(stderr, "podflame convert: %s\n", err);
        return 2;
    }
    return -1;
}

int cmd_convert(int argc, char **argv)
{
    struct output_opts oo = {.group_by = PF_GROUP_PROCESS};
    const char *from = NULL;
    struct pf_profile *p = NULL;
    size_t bad = 0;
    char err[512];
    int ret = convert_args(argc, argv, &from, &oo);

    if (ret >= 0)
        return ret;
    if (pf_profile_new(&p)) {
        fprintf(stderr, "podflame convert: out of memory\n");
        return 1;
    }
    ret = 1;
    if (input_read(argv[optind], from, p, &bad, err, sizeof(err))) {
        fprintf(stderr, "podflame convert: %s\n", err);
        goto out;
    }
    if (bad)
        fprintf(stderr, "podflame convert: warning: %s\n", err);
    if (output_check_sample_type(p, &oo, err, sizeof(err)) ||
        output_write(argv[optind + 1], p, &oo, err, sizeof(err))) {
        fprintf(stderr, "podflame convert: %s\n", err);
        goto out;
    }
    ret = 0;
out:
    pf_profile_free(p);
    return ret;
}
