/*
 * podflame record: sample, symbolize, write one profile.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "formats/clock.h"
#include "formats/escape.h"
#include "profiler/cmd.h"
#include "profiler/stop.h"
#include "profiler/watch/cpustat.h"
#include "profiler/kube/kubeapi.h"
#include "profiler/opts.h"
#include "profiler/io/output.h"
#include "profiler/sampling/session.h"

#define MAX_FILTERS 256

struct record_opts {
    struct session_opts ses; /* what is sampled and how it is unwound and named */
    double duration;         /* seconds; 0 = until Ctrl-C or the command exits */
    pid_t pids[MAX_FILTERS];
    size_t npids;
    const char *cgroups[MAX_FILTERS];
    size_t ncgroups;
    enum pf_group_by group_by;
    const char *output;
    const char *format;
    const char *debug_dirs[MAX_FILTERS];
    struct kube_selector pods; /* --pod, -n, --container */
    char **command;
};

static void record_usage(FILE *f)
{
    fprintf(
        f, "usage: podflame record [OPTIONS] [-- COMMAND [ARGS...]]\n"
           "\n"
           "Samples user and kernel stacks on every CPU and writes a profile. With no\n"
           "filter it profiles the whole machine; with -- COMMAND it runs COMMAND and\n"
           "profiles it (and its children) until it exits. Ctrl-C stops early and still\n"
           "writes the output.\n"
           "\n"
           "options:\n"
           "  -F, --freq HZ          samples per second per CPU (default 99; odd rates avoid\n"
           "                         lockstep with timers)\n"
           "  -d, --duration SECS    stop after SECS seconds (default: Ctrl-C, or COMMAND's exit)\n"
           "  -p, --pid PID[,PID]    only these processes (repeatable)\n"
           "      --cgroup PATH      only this cgroup v2 and its descendants (repeatable);\n"
           "                         absolute, or relative to the cgroup2 mount\n"
           "      --no-kernel        user stacks only\n"
           "      --unwind MODE      user stacks by fp (frame pointers, plus the caller of a\n"
           "                         frameless leaf from its CFI), dwarf (a copy of the top of\n"
           "                         every stack, unwound with the binaries' CFI, as perf\n"
           "                         --call-graph dwarf) or auto (the default: a process's\n"
           "                         stacks are copied until its executable is judged, then\n"
           "                         only if that has no frame pointers)\n"
           "      --stack-size BYTES user stack copied per sample in dwarf mode (default\n"
           "                         16384, at most 65536); deeper stacks are cut and counted\n"
           "      --include-idle     keep samples of idle CPUs (the swapper task)\n"
           "      --group-by KEY     root frames: pod (the default: namespace/pod, container,\n"
           "                         comm; process roots for samples without Pod labels),\n"
           "                         container (namespace/pod/container, comm), process\n"
           "                         (comm), pid (comm-PID), thread (comm-PID/TID) or none\n"
           "  -o, --output FILE      where to write (default podflame.svg; - = stdout); checked\n"
           "                         before sampling; a device or FIFO is written directly,\n"
           "                         a symlink's target atomically\n"
           "      --format FMT       svg, folded, pprof or speedscope (default: by FILE's\n"
           "                         extension: .svg .folded .txt .pb.gz .pprof .speedscope.json;\n"
           "                         another extension is an error)\n"
           "      --map-entries N    distinct stacks kept per second in the kernel\n"
           "                         (default 16384); raise it if 'count map full' losses show\n"
           "      --pod NAME|UID     only this Pod (repeatable); Pods that start while\n"
           "                         recording are picked up\n"
           "  -n, --namespace NS     only Pods in this namespace (repeatable)\n"
           "      --container NAME   only this container of the selected Pods (repeatable)\n"
           "      --kubelet-log-dir DIR  where the kubelet keeps pods/ and containers/ logs,\n"
           "                         which name Pods and containers (default /var/log)\n"
           "      --kube-api         in a cluster, also ask the API server for this node's\n"
           "                         Pods: their labels (k8s.pod.label.KEY), owners and\n"
           "                         names; needs the service account to list pods\n"
           "      --debug-dir DIR    also look for debug files in DIR (repeatable): by build ID\n"
           "                         (DIR/.build-id/xx/rest.debug) and by .gnu_debuglink;\n"
           "                         /usr/lib/debug and the binary's own directory always are\n"
           "      --debuginfod URL   fetch missing debug info from these debuginfod servers\n"
           "                         (space-separated; default: $DEBUGINFOD_URLS), cached in\n"
           "                         $DEBUGINFOD_CACHE_PATH (default ~/.cache/debuginfod_client)\n"
           "      --debuginfod-timeout SECS  give up on a silent server after SECS (default 5)\n"
           "      --no-demangle      keep C++ and Rust names mangled\n"
           "  -h, --help             this help\n"
           "\n"
           "examples:\n"
           "  podflame record -F 99 -d 10 -o cpu.svg           whole machine, 10 seconds\n"
           "  podflame record -d 30 -o cpu.pb.gz               pprof, for go tool pprof\n"
           "  podflame record -p 1234 -o app.folded            one process until Ctrl-C\n"
           "  podflame record -o make.folded -- make -j2       a command and its children\n"
           "\n"
           "Needs root (or CAP_BPF and CAP_PERFMON) and a kernel with BTF.\n");
}

static int usage_error(const char *why)
{
    fprintf(stderr, "podflame record: %s\n", why);
    return 2;
}

/* Returns 0 to run, 1 when help was printed, 2 on a usage error. */
static int parse_args(int argc, char **argv, struct record_opts *o)
{
    enum {
        OPT_CGROUP = 256,
        OPT_NO_KERNEL,
        OPT_IDLE,
        OPT_GROUP_BY,
        OPT_FORMAT,
        OPT_MAP,
        OPT_KUBE,
        OPT_POD,
        OPT_CONTAINER,
        OPT_KUBE_API,
        OPT_DEBUG_DIR,
        OPT_DEBUGINFOD,
        OPT_DEBUGINFOD_TIMEOUT,
        OPT_NO_DEMANGLE,
        OPT_UNWIND,
        OPT_STACK_SIZE,
    };
    static const struct option longopts[] = {
        {"freq", required_argument, NULL, 'F'},
        {"duration", required_argument, NULL, 'd'},
        {"pid", required_argument, NULL, 'p'},
        {"cgroup", required_argument, NULL, OPT_CGROUP},
        {"no-kernel", no_argument, NULL, OPT_NO_KERNEL},
        {"include-idle", no_argument, NULL, OPT_IDLE},
        {"group-by", required_argument, NULL, OPT_GROUP_BY},
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"map-entries", required_argument, NULL, OPT_MAP},
        {"kubelet-log-dir", required_argument, NULL, OPT_KUBE},
        {"pod", required_argument, NULL, OPT_POD},
        {"namespace", required_argument, NULL, 'n'},
        {"container", required_argument, NULL, OPT_CONTAINER},
        {"kube-api", no_argument, NULL, OPT_KUBE_API},
        {"debug-dir", required_argument, NULL, OPT_DEBUG_DIR},
        {"debuginfod", required_argument, NULL, OPT_DEBUGINFOD},
        {"debuginfod-timeout", required_argument, NULL, OPT_DEBUGINFOD_TIMEOUT},
        {"no-demangle", no_argument, NULL, OPT_NO_DEMANGLE},
        {"unwind", required_argument, NULL, OPT_UNWIND},
        {"stack-size", required_argument, NULL, OPT_STACK_SIZE},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    unsigned long v;
    char *end, err[256];
    int c, li = -1, rc;

    *o = (struct record_opts){.group_by = PF_GROUP_POD, .output = "podflame.svg"};
    session_opts_default(&o->ses, 99, "podflame record");
    optind = 1;
    while ((c = getopt_long(argc, argv, "+F:d:p:o:n:h", longopts, &li)) != -1) {
        int idx = li; /* the long option's index; getopt_long sets it for those only */

        li = -1;
        /* the options every sampling command shares */
        if (idx >= 0 &&
            (rc = session_opt_set(&o->ses, longopts[idx].name, optarg, err, sizeof(err))) <= 0) {
            if (rc)
                return usage_error(err);
            continue;
        }
        switch (c) {
        case 'F':
            if (opt_uint("freq", optarg, 1, 1000000, "Hz", &v, err, sizeof(err))) {
                fprintf(stderr, "podflame record: bad frequency: %s\n", err);
                return 2;
            }
            o->ses.freq = (unsigned int)v;
            break;
        case 'd':
            errno = 0;
            o->duration = strtod(optarg, &end);
            if (errno || end == optarg || *end || o->duration <= 0 || o->duration > 1e7) {
                fprintf(stderr, "podflame record: bad duration '%s': give seconds, e.g. -d 10\n",
                        optarg);
                return 2;
            }
            break;
        case 'p': /* -p 1 -p 2, or -p 1,2 as perf takes it */
            for (char *tok = optarg, *next = NULL;; tok = next) {
                if ((next = strchr(tok, ',')))
                    *next++ = '\0';
                if (opt_uint("pid", tok, 1, INT_MAX, "", &v, err, sizeof(err)))
                    return usage_error(err);
                if (o->npids == MAX_FILTERS) {
                    fprintf(stderr, "podflame record: at most %d processes with -p\n", MAX_FILTERS);
                    return 2;
                }
                o->pids[o->npids++] = (pid_t)v;
                if (!next)
                    break;
            }
            break;
        case OPT_CGROUP:
            if (o->ncgroups == MAX_FILTERS) {
                fprintf(stderr, "podflame record: at most %d --cgroup options\n", MAX_FILTERS);
                return 2;
            }
            o->cgroups[o->ncgroups++] = optarg;
            break;
        case OPT_IDLE:
            o->ses.include_idle = true;
            break;
        case OPT_GROUP_BY:
            if (pf_group_by_parse(optarg, &o->group_by)) {
                fprintf(stderr,
                        "podflame record: --group-by %s: use pod, container, process, pid, "
                        "thread or none\n",
                        optarg);
                return 2;
            }
            break;
        case 'o':
            o->output = optarg;
            break;
        case OPT_FORMAT:
            o->format = optarg;
            break;
        case OPT_DEBUG_DIR:
            if (o->ses.sym.ndebug_dirs == MAX_FILTERS || strchr(optarg, ':')) {
                fprintf(stderr, "podflame record: --debug-dir: at most %d, without ':'\n",
                        MAX_FILTERS);
                return 2;
            }
            o->debug_dirs[o->ses.sym.ndebug_dirs++] = optarg;
            o->ses.sym.debug_dirs = o->debug_dirs;
            break;
        case OPT_POD:
        case 'n':
        case OPT_CONTAINER: {
            const char **arr = c == OPT_POD ? o->pods.pods
                               : c == 'n'   ? o->pods.namespaces
                                            : o->pods.containers;
            size_t *n = c == OPT_POD ? &o->pods.npods
                        : c == 'n'   ? &o->pods.nnamespaces
                                     : &o->pods.ncontainers;

            if (*n == KUBE_SELECTOR_MAX) {
                fprintf(stderr, "podflame record: at most %d of each Pod filter\n",
                        KUBE_SELECTOR_MAX);
                return 2;
            }
            arr[(*n)++] = optarg;
            break;
        }
        case 'h':
            record_usage(stdout);
            return 1;
        default:
            fprintf(stderr, "(try 'podflame record --help')\n");
            return 2;
        }
    }
    if (optind < argc)
        o->command = argv + optind;
    if (o->command && o->npids) {
        fprintf(stderr, "podflame record: give -p PID or -- COMMAND, not both\n");
        return 2;
    }
    return 0;
}

/* Forks COMMAND stopped on a pipe, so that sampling can start before it
 * runs. Returns the child pid and the write end that releases it. */
static pid_t spawn_stopped(char **argv, int *go_fd, int *err_fd)
{
    int go[2], errp[2];
    pid_t pid;

    if (pipe2(go, O_CLOEXEC) || pipe2(errp, O_CLOEXEC))
        return -errno;
    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        char c;
        int e;

        close(go[1]);
        close(errp[0]);
        /* an ignored signal stays ignored across execve */
        signal(SIGPIPE, SIG_DFL);
        if (read(go[0], &c, 1) != 1)
            _exit(127); /* podflame went away */
        execvp(argv[0], argv);
        e = errno;
        if (write(errp[1], &e, sizeof(e)) < 0)
            _exit(127);
        _exit(127);
    }
    close(go[0]);
    close(errp[1]);
    *go_fd = go[1];
    *err_fd = errp[0];
    return pid;
}

static void print_kube_api(struct kubeapi *api)
{
    unsigned ok, failed;
    size_t pods;
    char why[256];

    kubeapi_stats(api, &ok, &failed, &pods, why, sizeof(why));
    fprintf(stderr, "podflame: kube-api: %zu Pod%s on this node, %u list%s, %u failed%s%s\n", pods,
            pods == 1 ? "" : "s", ok, ok == 1 ? "" : "s", failed, *why ? ": " : "", why);
}

static double cpu_seconds(long *maxrss_kb)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    *maxrss_kb = ru.ru_maxrss;
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* The CPU time all CPUs were busy (not idle) so far: an idle CPU's
 * cpu-clock does not fire, so the rate delivered is per busy CPU second. */
static double busy_cpu_seconds(void)
{
    struct node_cpu node;
    double psi;

    return cpustat_read_node(&node, &psi) ? -1 : (double)node.busy / (double)sysconf(_SC_CLK_TCK);
}

/* The rate the kernel delivered, when it fell short of the one asked for
 * by more than 10%: it lowers kernel.perf_event_max_sample_rate by itself
 * when sampling interrupts take too long, and throttles events past it. */
static void print_delivered_rate(const struct record_opts *o, uint64_t events, double busy)
{
    double per_cpu = busy > 0 ? (double)events / busy : 0;
    long max_rate;

    if (busy < 0.5 || per_cpu >= 0.9 * o->ses.freq)
        return;
    max_rate = sampler_max_sample_rate();
    fprintf(stderr, "podflame: asked for %u Hz, the kernel delivered %.0f Hz a busy CPU (%.0f%%): ",
            o->ses.freq, per_cpu, 100.0 * per_cpu / o->ses.freq);
    if (max_rate > 0 && max_rate < (long)o->ses.freq)
        fprintf(stderr,
                "kernel.perf_event_max_sample_rate is %ld now (the kernel lowers it when "
                "sampling interrupts take too long; dmesg says so): ask for less, or raise it\n",
                max_rate);
    else
        fprintf(stderr, "the kernel throttled the sampling interrupts (kernel."
                        "perf_cpu_time_max_percent): ask for less\n");
}

/* Why a process's code has no names or its stacks stop, and what its
 * runtime needs for podflame to see through it. */
static void print_unnamed(void *ctx, const struct collector_unnamed *u)
{
    const char *comm = u->comm;
    const char *remedy =
        !strncmp(comm, "node", 4)
            ? "Node.js names its JIT code only when started with --perf-basic-prof "
              "(it then writes /tmp/perf-PID.map)"
        : !strncmp(comm, "java", 4)
            ? "the JVM needs -XX:+PreserveFramePointer for whole stacks, and "
              "'jcmd PID Compiler.perfmap' for names"
        : !strncmp(comm, "python", 6)
            ? "CPython 3.12 and later name Python functions when started with -X perf"
            : "a JIT names its code in /tmp/perf-PID.map (perf's convention); stacks through "
              "code without frame pointers or CFI stop there";

    char *safe = escaped(escape_terminal, comm); /* a process names itself */

    (void)ctx;
    fprintf(stderr,
            "podflame: %s (PID %u): %" PRIu64 " of %" PRIu64 " samples in code without a name, "
            "%" PRIu64 " cut short where there was no CFI: %s\n",
            safe ? safe : "?", u->pid, u->unnamed, u->samples, u->cut_short, remedy);
    free(safe);
}

static void print_summary(const struct record_opts *o, struct session *ses, double wall,
                          double busy, const char *written)
{
    struct sampler *s = session_sampler(ses);
    struct collector *col = session_collector(ses);
    uint64_t dwarf_procs = session_dwarf_processes(ses);
    struct sampler_stats st;
    struct symbolizer_stats ss;
    uint64_t *c = st.counters;
    uint64_t lost;
    long rss_kb;
    double cpu = cpu_seconds(&rss_kb);

    sampler_get_stats(s, &st);
    symbolizer_get_stats(session_symbolizer(ses), &ss);
    lost = c[PF_STAT_LOST_COUNTS_FULL] + c[PF_STAT_LOST_USTACK_COLL] + c[PF_STAT_LOST_KSTACK_COLL] +
           c[PF_STAT_LOST_STACK_ERR];
    fprintf(stderr,
            "podflame: %" PRIu64 " samples, %zu processes, %.1f s, %s at %u Hz on %u CPU%s; "
            "lost %" PRIu64 " (count map full %" PRIu64 ", stack collisions %" PRIu64
            " user/%" PRIu64 " kernel, stack errors %" PRIu64 "); podflame used %.2f s CPU "
            "(%.2f%% of one CPU), %ld MiB peak RSS; wrote %s\n",
            collector_samples(col), collector_processes(col), wall, sampler_event_name(s),
            o->ses.freq, st.cpus, st.cpus == 1 ? "" : "s", lost, c[PF_STAT_LOST_COUNTS_FULL],
            c[PF_STAT_LOST_USTACK_COLL], c[PF_STAT_LOST_KSTACK_COLL], c[PF_STAT_LOST_STACK_ERR],
            cpu, wall > 0 ? 100.0 * cpu / wall : 0.0, rss_kb / 1024, written);
    if (c[PF_STAT_LOST_COUNTS_FULL])
        fprintf(stderr, "podflame: the count map filled up: raise --map-entries (now %u)\n",
                o->ses.map_entries);
    print_delivered_rate(o, c[PF_STAT_EVENTS], busy);
    if (ss.maps_failed)
        fprintf(stderr,
                "podflame: %" PRIu64 " processes exited before their maps could be read; "
                "their frames show as [unknown]\n",
                ss.maps_failed);
    if (c[PF_STAT_LOST_PROC_EVENTS])
        fprintf(stderr, "podflame: %" PRIu64 " new-process events were dropped\n",
                c[PF_STAT_LOST_PROC_EVENTS]);
    {
        uint64_t u[COLLECTOR_UNWIND__MAX];

        collector_unwind_stats(col, u);
        fprintf(stderr,
                "podflame: user stacks: %" PRIu64 " by frame pointers (%" PRIu64
                " completed with a frameless leaf's caller, %" PRIu64 " missing it), %" PRIu64
                " from stack copies (%" PRIu64 " cut short: %" PRIu64 " copy too small, %" PRIu64
                " no CFI or process gone; %" PRIu64 " copies failed)",
                u[COLLECTOR_UNWIND_FP] + u[COLLECTOR_UNWIND_FP_LEAF_FIXED] +
                    u[COLLECTOR_UNWIND_FP_LEAF_LOST],
                u[COLLECTOR_UNWIND_FP_LEAF_FIXED], u[COLLECTOR_UNWIND_FP_LEAF_LOST],
                u[COLLECTOR_UNWIND_DWARF] + u[COLLECTOR_UNWIND_DWARF_SHORT] +
                    u[COLLECTOR_UNWIND_DWARF_FAILED],
                u[COLLECTOR_UNWIND_DWARF_SHORT] + u[COLLECTOR_UNWIND_DWARF_FAILED],
                u[COLLECTOR_UNWIND_DWARF_SHORT], u[COLLECTOR_UNWIND_DWARF_FAILED],
                c[PF_STAT_STACK_COPY_FAILED]);
        if (o->ses.unwind == PF_UNWIND_MODE_AUTO)
            fprintf(stderr, "; %" PRIu64 " process%s without frame pointers", dwarf_procs,
                    dwarf_procs == 1 ? "" : "es");
        fputc('\n', stderr);
    }
    if (ss.binaries)
        fprintf(stderr,
                "podflame: %" PRIu64 " binaries, %" PRIu64 " with DWARF: %" PRIu64
                " embedded, %" PRIu64 " from debug files, %" PRIu64 " from debuginfod\n",
                ss.binaries, ss.debug_embedded + ss.debug_separate + ss.debug_debuginfod,
                ss.debug_embedded, ss.debug_separate, ss.debug_debuginfod);
    if (ss.binaries_too_large || ss.debug_refused || ss.jit_too_large || ss.jit_truncated ||
        ss.lines_dropped)
        fprintf(stderr,
                "podflame: inputs over podflame's bounds: %" PRIu64
                " symbol tables (those binaries unnamed), %" PRIu64
                " debug files that would inflate too far (no lines), %" PRIu64
                " perf maps over 256 MiB (not read), %" PRIu64
                " perf maps whose oldest entries went (512k entries or 32 MiB of names "
                "kept); %" PRIu64 " binaries' lines dropped past the parsed-binaries limit\n",
                ss.binaries_too_large, ss.debug_refused, ss.jit_too_large, ss.jit_truncated,
                ss.lines_dropped);
    collector_unnamed_processes(col, 5, print_unnamed, NULL);
    if (ss.kernel_restricted)
        fprintf(stderr, "podflame: kernel addresses are hidden (kernel.kptr_restrict): kernel "
                        "frames show as [kernel]\n");
    if (st.cpus_failed)
        fprintf(stderr, "podflame: %u times a perf event could not be opened on an online CPU\n",
                st.cpus_failed);
    if (st.cpus_added || st.cpus_removed)
        fprintf(stderr,
                "podflame: CPUs went offline %u times and came online %u times; "
                "sampling followed them\n",
                st.cpus_removed, st.cpus_added);
}

/* Whether pid has exited: gone, or a zombie its parent has not reaped. */
static bool exited(pid_t pid)
{
    char path[64], buf[512], *paren;
    ssize_t n;
    int fd;

    if (kill(pid, 0) && errno == ESRCH)
        return true;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return errno == ENOENT;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    /* "pid (comm) S ...": the comm may hold parentheses, the last one ends it */
    paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

/* Whether every process of -p has exited (its samples are in: one more
 * drain follows at the stop). */
static bool all_exited(const pid_t *pids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!exited(pids[i]))
            return false;
    }
    return true;
}

static void print_progress(double elapsed, uint64_t samples, uint64_t lost, size_t procs)
{
    fprintf(stderr,
            "\r\033[Kpodflame: %.0f s, %" PRIu64 " samples, %" PRIu64
            " lost, %zu processes (Ctrl-C to stop)",
            elapsed, samples, lost, procs);
}

/* Records how the profile was made, as a pprof comment. */
static int add_command_comment(struct pf_profile *p, int argc, char **argv)
{
    char line[1024] = "podflame";
    size_t len = strlen(line);

    for (int i = 0; i < argc && len + 1 < sizeof(line); i++) {
        int n = snprintf(line + len, sizeof(line) - len, " %s", argv[i]);

        len = n < 0 || (size_t)n >= sizeof(line) - len ? sizeof(line) - 1 : len + (size_t)n;
    }
    return pf_profile_add_comment(p, line);
}

int cmd_record(int argc, char **argv)
{
    struct record_opts o;
    struct session_opts so;
    struct output_opts oo = {0};
    struct output_target out = {.dirfd = -1, .fd = -1};
    struct session *ses = NULL;
    struct pf_profile *p = NULL;
    char err[512];
    int go_fd = -1, child_err_fd = -1, status = 0, ret = 1, rc;
    pid_t child = 0;
    bool tty = isatty(STDERR_FILENO), child_done = false, pids_gone = false;
    int64_t start;
    double wall, busy = 0, busy0 = 0;

    rc = parse_args(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    oo.group_by = o.group_by;
    oo.format = output_format_for(o.output, o.format, err, sizeof(err));
    if (oo.format == PF_FORMAT_UNKNOWN) {
        fprintf(stderr, "podflame record: %s\n", err);
        return 2;
    }
    /* where the profile goes is settled before anything is sampled: a
     * wrong path fails now, not after the recording */
    if (output_open(o.output, 0644, &out, err, sizeof(err))) {
        fprintf(stderr, "podflame record: %s\n", err);
        return 1;
    }
    if (geteuid() != 0)
        fprintf(stderr, "podflame: not running as root: this needs CAP_BPF and CAP_PERFMON\n");

    if (pf_profile_new(&p) || pf_profile_set_cpu_types(p, 1000000000LL / o.ses.freq) ||
        add_command_comment(p, argc, argv)) {
        fprintf(stderr, "podflame record: out of memory\n");
        goto out;
    }
    so = o.ses;
    so.follow_forks = o.command != NULL;
    so.pids = o.pids;
    so.npids = o.npids;
    so.cgroups = o.cgroups;
    so.ncgroups = o.ncgroups;
    so.pods = &o.pods;
    so.log = stderr;
    if (session_open(&so, p, &ses, err, sizeof(err))) {
        fprintf(stderr, "podflame record: %s\n", err);
        goto out;
    }

    cmd_catch_stop_signals();
    if (o.command) {
        child = spawn_stopped(o.command, &go_fd, &child_err_fd);
        if (child < 0) {
            fprintf(stderr, "podflame record: cannot start %s: %s\n", o.command[0],
                    strerror((int)-child));
            child = 0;
            goto out;
        }
        if ((rc = session_add_pid_at_exec(ses, child))) {
            fprintf(stderr, "podflame record: cannot filter the command: %s\n", strerror(-rc));
            goto out;
        }
    }
    if (session_start(ses, err, sizeof(err))) {
        fprintf(stderr, "podflame record: %s\n", err);
        goto out;
    }
    if (child) {
        int e = 0;

        if (write(go_fd, "g", 1) != 1 || read(child_err_fd, &e, sizeof(e)) == sizeof(e)) {
            fprintf(stderr, "podflame record: cannot run %s: %s\n", o.command[0],
                    strerror(e ? e : EPIPE));
            waitpid(child, NULL, 0);
            child = 0;
            goto out;
        }
    }

    {
        struct sampler_stats st;

        sampler_get_stats(session_sampler(ses), &st);
        fprintf(stderr, "podflame: sampling %u CPU%s at %u Hz (%s)%s; %s\n", st.cpus,
                st.cpus == 1 ? "" : "s", o.ses.freq, sampler_event_name(session_sampler(ses)),
                o.command ? ", running the command" : "",
                o.duration > 0 ? "stops by itself or on Ctrl-C" : "Ctrl-C to stop");
    }
    {
        struct timespec rt;

        clock_gettime(CLOCK_REALTIME, &rt);
        p->time_nanos = rt.tv_sec * 1000000000LL + rt.tv_nsec;
    }
    start = mono_ns();
    busy0 = busy_cpu_seconds();
    {
        int64_t next_progress = start + 1000000000LL;

        while (!cmd_stop_signal) {
            int64_t t;

            if (session_poll(ses, 100, err, sizeof(err))) {
                fprintf(stderr, "podflame record: %s\n", err);
                goto out;
            }
            t = mono_ns();
            if (tty && t >= next_progress) {
                next_progress += 1000000000LL;
                print_progress((t - start) / 1e9, collector_samples(session_collector(ses)),
                               session_lost(ses), collector_processes(session_collector(ses)));
            }
            if (o.duration > 0 && t - start >= (int64_t)(o.duration * 1e9))
                break;
            if (child && waitpid(child, &status, WNOHANG) == child) {
                child_done = true;
                break;
            }
            if (o.npids && !o.command && all_exited(o.pids, o.npids)) {
                pids_gone = true;
                break;
            }
        }
    }
    wall = (mono_ns() - start) / 1e9;
    busy = busy_cpu_seconds() - busy0;
    p->duration_nanos = mono_ns() - start;
    if (tty)
        fprintf(stderr, "\r\033[K");

    if (session_stop(ses, err, sizeof(err))) {
        fprintf(stderr, "podflame record: %s\n", err);
        goto out;
    }
    if (output_commit(&out, output_profile_writer, &(struct profile_write){p, &oo}, true, err,
                      sizeof(err))) {
        fprintf(stderr, "podflame record: %s\n", err);
        goto out;
    }
    print_summary(&o, ses, wall, busy, strcmp(o.output, "-") ? o.output : "stdout");
    if (!kube_selector_empty(&o.pods))
        fprintf(stderr, "podflame: %zu cgroup%s matched the Pod filters\n",
                session_selected_cgroups(ses), session_selected_cgroups(ses) == 1 ? "" : "s");
    if (session_kubeapi(ses))
        print_kube_api(session_kubeapi(ses));
    if (pids_gone)
        fprintf(stderr, "podflame: the process%s given with -p exited; stopped after %.1f s\n",
                o.npids == 1 ? "" : "es", wall);
    if (cmd_stop_signal && !child_done)
        fprintf(stderr, "podflame: stopped by signal %d\n", (int)cmd_stop_signal);
    ret = 0;
    if (child_done && WIFEXITED(status) && WEXITSTATUS(status)) {
        fprintf(stderr, "podflame: %s exited with status %d\n", o.command[0], WEXITSTATUS(status));
    }
out:
    if (child && !child_done) {
        /* -d ran out, Ctrl-C, or an error: end the command, leave no zombie */
        kill(child, SIGTERM);
        waitpid(child, &status, 0);
    }
    if (go_fd >= 0)
        close(go_fd);
    if (child_err_fd >= 0)
        close(child_err_fd);
    session_close(ses);
    output_close(&out);
    pf_profile_free(p);
    return ret;
}
