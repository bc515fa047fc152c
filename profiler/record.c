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

/* Returns 0 to run, or the exit status after --help (0) or a usage error (2). */
static int parse_args(int argc, char **argv, struct settings *o, int *exit_status)
{
    char err[256];
    int rc = opts_parse(&opt_cmd_record, argc, argv, o, err, sizeof(err));

    if (!rc && o->noperands && o->npids) {
        snprintf(err, sizeof(err), "give -p PID or -- COMMAND, not both");
        rc = -EINVAL;
    }
    if (rc) {
        *exit_status = opts_exit(&opt_cmd_record, rc, err);
        return -1;
    }
    o->ses.who = "podflame record";
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
static void print_delivered_rate(const struct settings *o, uint64_t events, double busy)
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

/* How user stacks were unwound, and how many were cut short. */
static void print_unwinding(const struct settings *o, struct session *ses, uint64_t copies_failed)
{
    uint64_t dwarf_procs = session_dwarf_processes(ses);
    uint64_t u[COLLECTOR_UNWIND__MAX];

    collector_unwind_stats(session_collector(ses), u);
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
            u[COLLECTOR_UNWIND_DWARF_SHORT], u[COLLECTOR_UNWIND_DWARF_FAILED], copies_failed);
    if (o->ses.unwind == PF_UNWIND_MODE_AUTO)
        fprintf(stderr, "; %" PRIu64 " process%s without frame pointers", dwarf_procs,
                dwarf_procs == 1 ? "" : "es");
    fputc('\n', stderr);
}

/* Where names came from, and the inputs refused for their size. */
static void print_symbolization(const struct symbolizer_stats *ss)
{
    if (ss->binaries)
        fprintf(stderr,
                "podflame: %" PRIu64 " binaries, %" PRIu64 " with DWARF: %" PRIu64
                " embedded, %" PRIu64 " from debug files, %" PRIu64 " from debuginfod\n",
                ss->binaries, ss->debug_embedded + ss->debug_separate + ss->debug_debuginfod,
                ss->debug_embedded, ss->debug_separate, ss->debug_debuginfod);
    if (ss->binaries_too_large || ss->debug_refused || ss->jit_too_large || ss->jit_truncated ||
        ss->lines_dropped)
        fprintf(stderr,
                "podflame: inputs over podflame's bounds: %" PRIu64
                " symbol tables (those binaries unnamed), %" PRIu64
                " debug files that would inflate too far (no lines), %" PRIu64
                " perf maps over 256 MiB (not read), %" PRIu64
                " perf maps whose oldest entries went (512k entries or 32 MiB of names "
                "kept); %" PRIu64 " binaries' lines dropped past the parsed-binaries limit\n",
                ss->binaries_too_large, ss->debug_refused, ss->jit_too_large, ss->jit_truncated,
                ss->lines_dropped);
}

/* What off-CPU time was kept, and what was dropped and why. */
static void print_offcpu(const struct settings *o, const uint64_t *c, uint64_t ns)
{
    fprintf(stderr,
            "podflame: off the CPU: %.3f s in %" PRIu64
            " intervals of %.3g ms or more; dropped %" PRIu64 " shorter, %" PRIu64
            " not remembered (map full, no task storage), %" PRIu64
            " stale (thread id reused, clock), %" PRIu64 " of threads that exited away\n",
            ns / 1e9, c[PF_STAT_OFFCPU_INTERVALS], o->ses.min_block_ns / 1e6,
            c[PF_STAT_OFFCPU_SHORT], c[PF_STAT_OFFCPU_PENDING_FULL], c[PF_STAT_OFFCPU_STALE],
            c[PF_STAT_OFFCPU_EXITED]);
}

static void print_summary(const struct settings *o, struct session *ses, double wall, double busy,
                          const char *written)
{
    struct sampler *s = session_sampler(ses);
    struct collector *col = session_collector(ses);
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
    if (sampler_event_on_cpu(o->ses.event))
        fprintf(stderr,
                "podflame: %" PRIu64 " samples, %zu processes, %.1f s, %s at %u Hz on %u CPU%s; ",
                collector_samples(col), collector_processes(col), wall, sampler_event_name(s),
                o->ses.freq, st.cpus, st.cpus == 1 ? "" : "s");
    else
        fprintf(stderr, "podflame: %.3f s off the CPU, %zu processes, %.1f s; ",
                collector_offcpu_ns(col) / 1e9, collector_processes(col), wall);
    fprintf(stderr,
            "lost %" PRIu64 " (count map full %" PRIu64 ", stack collisions %" PRIu64
            " user/%" PRIu64 " kernel, stack errors %" PRIu64 "); podflame used %.2f s CPU "
            "(%.2f%% of one CPU), %ld MiB peak RSS; wrote %s\n",
            lost, c[PF_STAT_LOST_COUNTS_FULL], c[PF_STAT_LOST_USTACK_COLL],
            c[PF_STAT_LOST_KSTACK_COLL], c[PF_STAT_LOST_STACK_ERR], cpu,
            wall > 0 ? 100.0 * cpu / wall : 0.0, rss_kb / 1024, written);
    if (c[PF_STAT_LOST_COUNTS_FULL])
        fprintf(stderr, "podflame: the count map filled up: raise --map-entries (now %u)\n",
                o->ses.map_entries);
    if (sampler_event_on_cpu(o->ses.event))
        print_delivered_rate(o, c[PF_STAT_EVENTS], busy);
    if (sampler_event_off_cpu(o->ses.event))
        print_offcpu(o, c, collector_offcpu_ns(col));
    if (ss.maps_failed)
        fprintf(stderr,
                "podflame: %" PRIu64 " processes exited before their maps could be read; "
                "their frames show as [unknown]\n",
                ss.maps_failed);
    if (c[PF_STAT_LOST_PROC_EVENTS])
        fprintf(stderr, "podflame: %" PRIu64 " new-process events were dropped\n",
                c[PF_STAT_LOST_PROC_EVENTS]);
    if (sampler_event_on_cpu(o->ses.event))
        print_unwinding(o, ses, c[PF_STAT_STACK_COPY_FAILED]);
    print_symbolization(&ss);
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

/* One recording, from the parsed options to the written profile. */
struct recording {
    struct settings o;
    char **command; /* -- COMMAND ARGS..., or NULL */
    struct output_opts oo;
    struct output_target out;
    struct session *ses;
    struct pf_profile *p;
    pid_t child;
    int go_fd, child_err_fd, status;
    bool child_done, pids_gone;
    double wall, busy;
    char err[512];
};

/* Where the profile goes is settled before anything is sampled: a wrong
 * path fails now, not after the recording. Returns an exit status, or -1
 * to go on. */
static int record_prepare(struct recording *r, int argc, char **argv)
{
    r->oo.group_by = r->o.group_by;
    r->oo.format = output_format_for(r->o.output, r->o.format, r->err, sizeof(r->err));
    if (r->oo.format == PF_FORMAT_UNKNOWN) {
        fprintf(stderr, "podflame record: %s\n", r->err);
        return 2;
    }
    if (output_open(r->o.output, 0644, &r->out, r->err, sizeof(r->err))) {
        fprintf(stderr, "podflame record: %s\n", r->err);
        return 1;
    }
    if (geteuid() != 0)
        fprintf(stderr, "podflame: not running as root: this needs CAP_BPF and CAP_PERFMON\n");
    if (pf_profile_new(&r->p) || session_set_sample_types(&r->o.ses, r->p) ||
        add_command_comment(r->p, argc, argv)) {
        fprintf(stderr, "podflame record: out of memory\n");
        return 1;
    }
    return -1;
}

/* Opens the session, starts COMMAND stopped, starts sampling, then lets
 * COMMAND run: its first instruction is sampled. Returns 0 or -1. */
static int record_start(struct recording *r)
{
    struct sampler_stats st;
    struct session_opts so = r->o.ses;
    int rc;

    so.follow_forks = r->command != NULL;
    so.log = stderr;
    if (session_open(&so, r->p, &r->ses, r->err, sizeof(r->err)))
        return -1;
    cmd_catch_stop_signals();
    if (r->command) {
        r->child = spawn_stopped(r->command, &r->go_fd, &r->child_err_fd);
        if (r->child < 0) {
            snprintf(r->err, sizeof(r->err), "cannot start %s: %s", r->command[0],
                     strerror((int)-r->child));
            r->child = 0;
            return -1;
        }
        if ((rc = session_add_pid_at_exec(r->ses, r->child))) {
            snprintf(r->err, sizeof(r->err), "cannot filter the command: %s", strerror(-rc));
            return -1;
        }
    }
    if (session_start(r->ses, r->err, sizeof(r->err)))
        return -1;
    if (r->child) {
        int e = 0;

        if (write(r->go_fd, "g", 1) != 1 || read(r->child_err_fd, &e, sizeof(e)) == sizeof(e)) {
            snprintf(r->err, sizeof(r->err), "cannot run %s: %s", r->command[0],
                     strerror(e ? e : EPIPE));
            waitpid(r->child, NULL, 0);
            r->child = 0;
            return -1;
        }
    }
    sampler_get_stats(session_sampler(r->ses), &st);
    if (r->o.ses.event == SAMPLER_EVENT_OFFCPU)
        fprintf(stderr, "podflame: sampling time off the CPU (sched_switch)%s; %s\n",
                r->command ? ", running the command" : "",
                r->o.duration > 0 ? "stops by itself or on Ctrl-C" : "Ctrl-C to stop");
    else
        fprintf(stderr, "podflame: sampling %u CPU%s at %u Hz (%s)%s%s; %s\n", st.cpus,
                st.cpus == 1 ? "" : "s", r->o.ses.freq, sampler_event_name(session_sampler(r->ses)),
                r->o.ses.event == SAMPLER_EVENT_WALL ? " and time off the CPU" : "",
                r->command ? ", running the command" : "",
                r->o.duration > 0 ? "stops by itself or on Ctrl-C" : "Ctrl-C to stop");
    return 0;
}

/* Samples until -d runs out, Ctrl-C, COMMAND's exit or the -p processes'. */
static int record_loop(struct recording *r)
{
    bool tty = isatty(STDERR_FILENO);
    struct timespec rt;
    int64_t start, next_progress;
    double busy0;

    clock_gettime(CLOCK_REALTIME, &rt);
    r->p->time_nanos = rt.tv_sec * 1000000000LL + rt.tv_nsec;
    start = mono_ns();
    next_progress = start + 1000000000LL;
    busy0 = busy_cpu_seconds();
    while (!cmd_stop_signal) {
        int64_t t;

        if (session_poll(r->ses, 100, r->err, sizeof(r->err)))
            return -1;
        t = mono_ns();
        if (tty && t >= next_progress) {
            next_progress += 1000000000LL;
            print_progress((t - start) / 1e9, collector_samples(session_collector(r->ses)),
                           session_lost(r->ses), collector_processes(session_collector(r->ses)));
        }
        if (r->o.duration > 0 && t - start >= (int64_t)(r->o.duration * 1e9))
            break;
        if (r->child && waitpid(r->child, &r->status, WNOHANG) == r->child) {
            r->child_done = true;
            break;
        }
        if (r->o.npids && !r->command && all_exited(r->o.pids, r->o.npids)) {
            r->pids_gone = true;
            break;
        }
    }
    r->wall = (mono_ns() - start) / 1e9;
    r->busy = busy_cpu_seconds() - busy0;
    r->p->duration_nanos = mono_ns() - start;
    if (tty)
        fprintf(stderr, "\r\033[K");
    return 0;
}

/* Writes the profile, then says what it cost and what it missed. */
static int record_finish(struct recording *r)
{
    const struct settings *o = &r->o;

    if (session_stop(r->ses, r->err, sizeof(r->err)) ||
        output_commit(&r->out, output_profile_writer, &(struct profile_write){r->p, &r->oo}, true,
                      r->err, sizeof(r->err)))
        return -1;
    print_summary(o, r->ses, r->wall, r->busy, strcmp(o->output, "-") ? o->output : "stdout");
    if (!kube_selector_empty(&o->pods))
        fprintf(stderr, "podflame: %zu cgroup%s matched the Pod filters\n",
                session_selected_cgroups(r->ses), session_selected_cgroups(r->ses) == 1 ? "" : "s");
    if (session_kubeapi(r->ses))
        print_kube_api(session_kubeapi(r->ses));
    if (r->pids_gone)
        fprintf(stderr, "podflame: the process%s given with -p exited; stopped after %.1f s\n",
                o->npids == 1 ? "" : "es", r->wall);
    if (cmd_stop_signal && !r->child_done)
        fprintf(stderr, "podflame: stopped by signal %d\n", (int)cmd_stop_signal);
    if (r->child_done && WIFEXITED(r->status) && WEXITSTATUS(r->status))
        fprintf(stderr, "podflame: %s exited with status %d\n", r->command[0],
                WEXITSTATUS(r->status));
    return 0;
}

int cmd_record(int argc, char **argv)
{
    struct recording *r = calloc(1, sizeof(*r));
    int ret = 1;

    if (!r) {
        fprintf(stderr, "podflame record: out of memory\n");
        return 1;
    }
    r->out = (struct output_target){.dirfd = -1, .fd = -1};
    r->go_fd = r->child_err_fd = -1;
    if (parse_args(argc, argv, &r->o, &ret) == 0) {
        r->command = r->o.noperands ? r->o.operands : NULL;
        ret = record_prepare(r, argc, argv);
        if (ret < 0) {
            ret = 1;
            if (record_start(r) || record_loop(r) || record_finish(r))
                fprintf(stderr, "podflame record: %s\n", r->err);
            else
                ret = 0;
        }
    }
    if (r->child && !r->child_done) {
        /* -d ran out, Ctrl-C, or an error: end the command, leave no zombie */
        kill(r->child, SIGTERM);
        waitpid(r->child, &r->status, 0);
    }
    if (r->go_fd >= 0)
        close(r->go_fd);
    if (r->child_err_fd >= 0)
        close(r->child_err_fd);
    session_close(r->ses);
    output_close(&r->out);
    pf_profile_free(r->p);
    opts_free(&r->o);
    free(r);
    return ret;
}
