/*
 * podflame collapse: `perf script` output to folded stacks, byte-identical
 * to stackcollapse-perf.pl. Reads the input once, streaming; memory grows
 * with the number of distinct stacks only.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/perfscript.h"
#include "formats/stackcount.h"
#include "profiler/cmd.h"

static int remember(void *ctx, const char *stack, size_t len, uint64_t count)
{
    return stackcount_add(ctx, stack, len, count);
}

static void collapse_usage(FILE *f)
{
    fprintf(f, "usage: podflame collapse [OPTIONS] [FILE]\n"
               "\n"
               "Turns `perf script` output (FILE, or stdin) into folded stacks on stdout,\n"
               "byte for byte what FlameGraph's stackcollapse-perf.pl prints, much faster.\n"
               "\n"
               "options:\n"
               "      --pid              root frame comm-PID\n"
               "      --tid              root frame comm-PID/TID\n"
               "      --kernel           mark kernel frames _[k]\n"
               "      --jit              mark JIT frames (from /tmp/perf-PID.map) _[j]\n"
               "      --all              both --kernel and --jit\n"
               "      --addrs            write [module <addr>] for frames without a symbol\n"
               "      --event-filter EV  keep only samples of event EV (default: the first seen)\n"
               "  -h, --help             this help\n"
               "\n"
               "example:\n"
               "  perf record -a -g -F 99 -- sleep 10 && perf script | podflame collapse --all\n");
}

/* Parses the options into o and *path (NULL: stdin). Returns -1 to run,
 * else the exit status: 0 after --help, 2 on a usage error. */
static int collapse_args(int argc, char **argv, struct perfscript_opts *o, const char **path)
{
    enum { OPT_PID = 256, OPT_TID, OPT_KERNEL, OPT_JIT, OPT_ALL, OPT_ADDRS, OPT_EVENT };
    static const struct option longopts[] = {
        {"pid", no_argument, NULL, OPT_PID},
        {"tid", no_argument, NULL, OPT_TID},
        {"kernel", no_argument, NULL, OPT_KERNEL},
        {"jit", no_argument, NULL, OPT_JIT},
        {"all", no_argument, NULL, OPT_ALL},
        {"addrs", no_argument, NULL, OPT_ADDRS},
        {"event-filter", required_argument, NULL, OPT_EVENT},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_PID:
            o->pid = true;
            break;
        case OPT_TID:
            o->tid = true;
            break;
        case OPT_KERNEL:
            o->kernel = true;
            break;
        case OPT_JIT:
            o->jit = true;
            break;
        case OPT_ALL:
            o->kernel = o->jit = true;
            break;
        case OPT_ADDRS:
            o->addrs = true;
            break;
        case OPT_EVENT:
            o->event = optarg;
            break;
        case 'h':
            collapse_usage(stdout);
            return 0;
        default:
            fprintf(stderr, "(try 'podflame collapse --help')\n");
            return 2;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "podflame collapse: give at most one input file\n");
        return 2;
    }
    *path = optind < argc && strcmp(argv[optind], "-") != 0 ? argv[optind] : NULL;
    return -1;
}

/* Collapses in to stdout and reports on stderr what was skipped. Returns
 * the exit status. */
static int collapse_stream(FILE *in, const struct perfscript_opts *o)
{
    struct perfscript_report rep;
    struct stackcount c;
    int err, ret = 1;

    stackcount_init(&c);
    err = perfscript_collapse(in, o, remember, &c, &rep);
    if (err) {
        fprintf(stderr, "podflame collapse: %s\n",
                err == -EIO      ? "read error"
                : err == -EINVAL ? "internal pattern error"
                                 : strerror(-err));
        goto out;
    }
    stackcount_sort(&c);
    for (size_t i = 0; i < c.n; i++)
        printf("%s %" PRIu64 "\n", c.items[i].stack, c.items[i].count);
    if (fflush(stdout) || ferror(stdout)) {
        fprintf(stderr, "podflame collapse: cannot write: %s\n", strerror(errno));
        goto out;
    }
    if (rep.filtered && !o->event)
        fprintf(stderr,
                "podflame collapse: kept events of type %s only (%" PRIu64
                " samples of other events skipped; choose with --event-filter)\n",
                rep.filter_event, rep.filtered);
    if (rep.unrecognized)
        fprintf(stderr,
                "podflame collapse: skipped %" PRIu64 " unrecognized line%s (first: "
                "line %" PRIu64 ")\n",
                rep.unrecognized, rep.unrecognized == 1 ? "" : "s", rep.first_unrecognized);
    ret = 0;
out:
    stackcount_free(&c);
    return ret;
}

int cmd_collapse(int argc, char **argv)
{
    struct perfscript_opts o = {0};
    const char *path = NULL;
    FILE *in = stdin;
    int ret = collapse_args(argc, argv, &o, &path);

    if (ret >= 0)
        return ret;
    if (path && !(in = fopen(path, "re"))) {
        fprintf(stderr, "podflame collapse: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    ret = collapse_stream(in, &o);
    if (in != stdin)
        fclose(in);
    return ret;
}
