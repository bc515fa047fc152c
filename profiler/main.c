/*
 * podflame: a continuous CPU profiler and flame-graph generator.
 * This file only dispatches to the subcommands in cmd.h.
 */
#include <stdio.h>
#include <string.h>

#include "formats/version.h"
#include "profiler/cmd.h"

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"record", cmd_record, "sample stacks on every CPU and write a profile"},
    {"agent", cmd_agent, "profile this node all the time, one profile an interval to storage"},
    {"watch", cmd_watch, "capture hot Pods by itself and write findings"},
    {"trigger", cmd_trigger, "ask the agent or watcher to capture a Pod now"},
    {"top", cmd_top, "live view of the busiest Pods and their hottest functions"},
    {"collapse", cmd_collapse, "turn `perf script` output into folded stacks"},
    {"flamegraph", cmd_flamegraph, "draw an interactive SVG flame graph"},
    {"diff", cmd_diff, "draw a differential flame graph of two profiles"},
    {"convert", cmd_convert, "convert a profile between folded, pprof and speedscope"},
    {"query", cmd_query, "one profile of a service across nodes and time, from the bucket"},
    {"compact", cmd_compact, "roll up closed hours of the bucket for fast queries"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: podflame COMMAND [OPTIONS]\n\n"
               "podflame samples user and kernel stacks with a BPF program on every CPU,\n"
               "names them, and writes pprof, folded stacks, speedscope or SVG flame graphs;\n"
               "as an agent it profiles a node all the time and captures hot Pods by itself.\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'podflame COMMAND --help' explains a command.\n"
               "Example: podflame record -F 99 -d 10 -o cpu.folded\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("podflame %s\n", PODFLAME_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (!strcmp(argv[1], commands[i].name)) {
            /* getopt names argv[0] in its messages: "podflame record:" */
            char name[64];

            snprintf(name, sizeof(name), "podflame %s", commands[i].name);
            argv[1] = name;
            return commands[i].fn(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "podflame: unknown command '%s' (try 'podflame --help')\n", argv[1]);
    return 2;
}
