/*
 * opts: every option of every command, in one table per option group.
 *
 * A group (sampling, selection, Pod names, symbols, output, watcher,
 * listener, agent, ...) lists its options once: long and short name,
 * argument kind and range, default, help text, whether it repeats. A
 * command (struct opt_command) names the groups it takes. From that one
 * description come getopt's long options, `--help`, the agent's config file
 * and PODFLAME_* environment, and `--check-config`; an option shared by two
 * commands is parsed by the same entry for both, so they cannot drift.
 *
 * Everything is parsed into one struct settings; a command reads the
 * fields of its groups and hands the subsystems their parts (ses to the
 * sampling session, watch to the watcher, agent to the agent). Strings in
 * settings borrow from argv, or from the settings' own copies of the config
 * file and environment (freed by opts_free), never from elsewhere.
 */
#ifndef PODFLAME_OPTS_H
#define PODFLAME_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "formats/folded.h"
#include "profiler/agent/agent.h"
#include "profiler/io/httpd.h"
#include "profiler/kube/kube.h"
#include "profiler/sampling/session.h"
#include "profiler/watch/watch.h"

#define OPTS_MAX_FILTERS  256 /* -p, --cgroup, --debug-dir */
#define OPTS_MAX_SELECT   64  /* each of query's selectors */
#define OPTS_MAX_OPERANDS 8   /* operands_anywhere */

/* query and compact: which windows and samples of a bucket */
struct query_settings {
    const char *since, *from, *until; /* as typed; range.h reads them */
    const char *nodes[OPTS_MAX_SELECT], *namespaces[OPTS_MAX_SELECT], *pods[OPTS_MAX_SELECT];
    const char *containers[OPTS_MAX_SELECT], *workloads[OPTS_MAX_SELECT];
    const char *labels[OPTS_MAX_SELECT];
    size_t nnodes, nnamespaces, npods, ncontainers, nworkloads, nlabels;
    const char *baseline;
    unsigned top, concurrency;
    bool list, no_rollups;
    const char *settle; /* compact */
    bool force;         /* compact */
};

/* What the command line, a config file and the environment set. */
struct settings {
    /* sampling, Pod names, symbols: the session's own options */
    struct session_opts ses;
    /* selection: lists the session borrows (ses.pids, ses.cgroups, ses.pods) */
    pid_t pids[OPTS_MAX_FILTERS];
    size_t npids;
    const char *cgroups[OPTS_MAX_FILTERS];
    size_t ncgroups;
    size_t nstates; /* --state given */
    struct kube_selector pods;
    const char *kube_cgroup_root;             /* the kubelet's --cgroup-root(s), ':'-separated */
    const char *debug_dirs[OPTS_MAX_FILTERS]; /* ses.sym.debug_dirs */
    /* output (record) */
    const char *output; /* record: a file; agent: file:///DIR or s3://BUCKET/PREFIX */
    const char *format;
    enum pf_group_by group_by;
    double duration; /* record: seconds, 0: until Ctrl-C or COMMAND's exit */
    /* watcher and its listener */
    struct watch_opts watch;
    struct httpd_opts http;
    const char *listen; /* watch: HOST:PORT or "off" */
    /* the bucket (agent: where windows go; query, compact: where they are read) */
    struct bucket_config bucket;
    /* agent */
    struct agent_settings agent;
    /* query, compact */
    struct query_settings query;
    bool check_config;
    /* top */
    unsigned window;
    unsigned long iterations; /* 0: until Ctrl-C */
    /* what follows the options (record's -- COMMAND) */
    char **operands;
    int noperands;
    char *operand_copy[OPTS_MAX_OPERANDS]; /* operands_anywhere: where they are */
    /* private to opts.c: strings made from the file and the environment */
    char **owned;
    size_t nowned;
};

enum opt_kind {
    OPT_FLAG,   /* bool: alone, or --name=BOOL (true/false, yes/no, on/off, 1/0) */
    OPT_UINT,   /* unsigned int from lo to hi */
    OPT_ULONG,  /* unsigned long from lo to hi */
    OPT_DOUBLE, /* a number from lo to hi */
    OPT_BYTES,  /* uint64_t bytes, K, M or G suffix, at least lo */
    OPT_STRING, /* const char *, not empty */
    OPT_LIST,   /* repeatable: const char *[max] at field, size_t count at count */
    OPT_CUSTOM, /* parse and print below */
    OPT_ACTION, /* --help, --config, --check-config: the parser's own */
};

struct opt {
    const char *name; /* the long name, the file's name, PODFLAME_NAME */
    char short_name;  /* 0: none */
    enum opt_kind kind;
    const char *metavar; /* the argument in --help: "HZ"; NULL for a flag */
    double lo, hi;       /* OPT_UINT, OPT_ULONG, OPT_DOUBLE; OPT_BYTES: lo */
    const char *unit;    /* "Hz", "seconds": the range's unit in messages */
    size_t field;        /* offsetof(struct settings, ...) */
    size_t count;        /* repeatable: offsetof the size_t count */
    unsigned max;        /* repeatable: how many at most */
    bool invert;         /* OPT_FLAG: the field holds the opposite (no-kernel) */
    bool repeat;         /* OPT_CUSTOM that repeats (count and max set) */
    /* OPT_CUSTOM: arg is never NULL; 0 or -EINVAL with "--NAME ..." in err */
    int (*parse)(struct settings *s, const char *arg, char *err, size_t errlen);
    void (*print)(const struct settings *s, FILE *out); /* "name = value" lines */
    const char *deflt;   /* parsed before anything else; NULL: none */
    const char *example; /* a valid value, for the tests */
    const char *help;    /* one paragraph, wrapped by --help */
};

struct opt_group {
    const char *title; /* --help's heading */
    const struct opt *opts;
    size_t n;
};

extern const struct opt_group opt_group_event, opt_group_offcpu, opt_group_sampling,
    opt_group_selection, opt_group_names, opt_group_symbols, opt_group_output, opt_group_record,
    opt_group_watcher, opt_group_listener, opt_group_watch, opt_group_agent, opt_group_top,
    opt_group_bucket, opt_group_range, opt_group_fleet_select, opt_group_query, opt_group_compact,
    opt_group_shape, opt_group_reading;

struct opt_default {
    const char *name, *value;
};

struct opt_command {
    const char *name;                      /* "record" */
    const char *usage;                     /* what follows "usage: podflame NAME" */
    const char *about;                     /* a paragraph after the usage line */
    const struct opt_group *const *groups; /* NULL-terminated */
    const struct opt_default *defaults;    /* this command's own; {NULL} ends */
    const char *epilog;                    /* examples and notes, printed as is */
    bool layered;           /* also --config FILE, PODFLAME_CONFIG and PODFLAME_NAME */
    bool operands;          /* takes arguments after the options */
    bool operands_anywhere; /* ... or before and between them (not a COMMAND) */
};

extern const struct opt_command opt_cmd_record, opt_cmd_agent, opt_cmd_watch, opt_cmd_top,
    opt_cmd_query, opt_cmd_compact;
extern const struct opt_command *const opt_commands[]; /* NULL-terminated */

/* Parses a command's options into s (which it initialises: defaults first,
 * then for a layered command the config file, the environment, then argv;
 * a list given by a later source replaces an earlier one's). Returns 0 to
 * run, 1 when --help was asked for, or a negative errno with one line in
 * err (-EINVAL: a usage error; -ENOENT: the config file; -E2BIG, -ENOMEM).
 * Free s with opts_free whatever it returns. */
int opts_parse(const struct opt_command *c, int argc, char **argv, struct settings *s, char *err,
               size_t errlen);
void opts_free(struct settings *s);

/* What a command does with opts_parse's result: prints the help (1) or
 * the error and a hint (< 0). Returns the exit status: 0 after help, 2. */
int opts_exit(const struct opt_command *c, int rc, const char *err);

/* --help: usage, about, every group's options, the epilog. */
void opts_help(const struct opt_command *c, FILE *out);

/* --check-config: the settings of every group, "name = value" a line, the
 * config file's own format (so the output can serve as one). */
void opts_print(const struct opt_command *c, const struct settings *s, FILE *out);

/* A decimal integer from lo to hi; unit ends the message ("seconds"). For
 * the few arguments that are no option (collapse's, the agent's). */
int opt_uint(const char *name, const char *s, unsigned long lo, unsigned long hi, const char *unit,
             unsigned long *out, char *err, size_t errlen);

#endif
