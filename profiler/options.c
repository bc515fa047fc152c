/*
 * options: the option groups and the commands that take them. Every option
 * of podflame's sampling commands is described here once; opts.c makes the
 * command line, --help, the config file, the environment and --check-config
 * out of these tables.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/types.h>

#include "bpf/profile.h"
#include "profiler/opts.h"
#include "profiler/query/range.h"
#include "profiler/watch/finding.h"

#define AT(member) offsetof(struct settings, member)
#define N(arr)     (sizeof(arr) / sizeof((arr)[0]))

/* ---- values that are no plain number or string ---- */

/* -p 1 -p 2, or -p 1,2 as perf takes it */
static int parse_pids(struct settings *s, const char *arg, char *err, size_t errlen)
{
    for (const char *tok = arg;; tok++) {
        size_t len = strcspn(tok, ",");
        char one[24];
        unsigned long v;
        int rc;

        snprintf(one, sizeof(one), "%.*s", (int)(len < sizeof(one) - 1 ? len : sizeof(one) - 1),
                 tok);
        if (len >= sizeof(one) - 1)
            one[0] = 'x'; /* too long for a pid: refused below */
        if ((rc = opt_uint("pid", one, 1, INT_MAX, "", &v, err, errlen)))
            return rc;
        if (s->npids == OPTS_MAX_FILTERS) {
            snprintf(err, errlen, "--pid: at most %d processes", OPTS_MAX_FILTERS);
            return -EINVAL;
        }
        s->pids[s->npids++] = (pid_t)v;
        tok += len;
        if (!*tok)
            return 0;
    }
}

static void print_pids(const struct settings *s, FILE *out)
{
    for (size_t i = 0; i < s->npids; i++)
        fprintf(out, "pid = %d\n", (int)s->pids[i]);
}

static const char *const unwind_names[] = {
    [PF_UNWIND_MODE_OFF] = "fp", [PF_UNWIND_MODE_ALL] = "dwarf", [PF_UNWIND_MODE_AUTO] = "auto"};

static int parse_unwind(struct settings *s, const char *arg, char *err, size_t errlen)
{
    for (size_t m = 0; m < N(unwind_names); m++) {
        if (!strcmp(arg, unwind_names[m])) {
            s->ses.unwind = (uint8_t)m;
            return 0;
        }
    }
    snprintf(err, errlen, "--unwind %s: use fp, dwarf or auto", arg);
    return -EINVAL;
}

static void print_unwind(const struct settings *s, FILE *out)
{
    fprintf(out, "unwind = %s\n", unwind_names[s->ses.unwind % N(unwind_names)]);
}

static const char *const event_names[] = {
    [SAMPLER_EVENT_CPU] = "cpu", [SAMPLER_EVENT_OFFCPU] = "offcpu", [SAMPLER_EVENT_WALL] = "wall"};

static int parse_event(struct settings *s, const char *arg, char *err, size_t errlen)
{
    for (size_t e = 0; e < N(event_names); e++) {
        if (!strcmp(arg, event_names[e])) {
            s->ses.event = (enum sampler_event)e;
            return 0;
        }
    }
    snprintf(err, errlen, "--event %s: use cpu, offcpu or wall", arg);
    return -EINVAL;
}

static void print_event(const struct settings *s, FILE *out)
{
    fprintf(out, "event = %s\n", event_names[s->ses.event % N(event_names)]);
}

/* A duration down to nanoseconds: 1ms, 500us, 500µs, 2s, 250000ns, 0. */
static int parse_min_block(struct settings *s, const char *arg, char *err, size_t errlen)
{
    static const struct {
        const char *unit;
        double ns;
    } units[] = {{"ns", 1}, {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"ms", 1e6}, {"s", 1e9}};
    char *end;
    double v = strtod(arg, &end);

    for (size_t u = 0; end != arg && v >= 0 && u < N(units); u++) {
        double ns = v * (*end ? units[u].ns : 1);

        if (strcmp(end, units[u].unit) != 0 && (v != 0 || *end))
            continue;
        if (ns > 3600e9) {
            snprintf(err, errlen, "--min-block %s: at most an hour", arg);
            return -EINVAL;
        }
        s->ses.min_block_ns = (uint64_t)(ns + 0.5);
        return 0;
    }
    snprintf(err, errlen, "--min-block %s: use a duration with its unit: 1ms, 500us, 2s, or 0",
             arg);
    return -EINVAL;
}

/* In the largest unit that says it exactly, so that it reads back. */
static void print_min_block(const struct settings *s, FILE *out)
{
    unsigned long long ns = s->ses.min_block_ns;

    if (ns && ns % 1000000000ULL == 0)
        fprintf(out, "min-block = %llus\n", ns / 1000000000ULL);
    else if (ns && ns % 1000000ULL == 0)
        fprintf(out, "min-block = %llums\n", ns / 1000000ULL);
    else if (ns && ns % 1000ULL == 0)
        fprintf(out, "min-block = %lluus\n", ns / 1000ULL);
    else
        fprintf(out, "min-block = %lluns\n", ns);
}

static int parse_state(struct settings *s, const char *arg, char *err, size_t errlen)
{
    if (!s->nstates)
        s->ses.state_mask = 0; /* the first --state of a source: only those */
    for (uint32_t st = PF_STATE_RUNQUEUE; st < PF_STATE__MAX; st++) {
        if (!strcmp(arg, collector_state_name(st))) {
            s->ses.state_mask |= 1u << st;
            s->nstates++;
            return 0;
        }
    }
    snprintf(err, errlen, "--state %s: use throttled, runqueue, blocked or sleeping", arg);
    return -EINVAL;
}

static void print_states(const struct settings *s, FILE *out)
{
    for (uint32_t st = PF_STATE_RUNQUEUE; st < PF_STATE__MAX; st++) {
        if (s->ses.state_mask & (1u << st))
            fprintf(out, "state = %s\n", collector_state_name(st));
    }
}

static int parse_group_by(struct settings *s, const char *arg, char *err, size_t errlen)
{
    if (pf_group_by_parse(arg, &s->group_by)) {
        snprintf(err, errlen, "--group-by %s: use pod, container, process, pid, thread or none",
                 arg);
        return -EINVAL;
    }
    return 0;
}

static int parse_debug_dir(struct settings *s, const char *arg, char *err, size_t errlen)
{
    if (strchr(arg, ':')) { /* debuginfod's and libdwfl's lists are ':'-separated */
        snprintf(err, errlen, "--debug-dir %s: no ':' in a directory", arg);
        return -EINVAL;
    }
    if (s->ses.sym.ndebug_dirs == OPTS_MAX_FILTERS) {
        snprintf(err, errlen, "--debug-dir: at most %d of them", OPTS_MAX_FILTERS);
        return -EINVAL;
    }
    s->debug_dirs[s->ses.sym.ndebug_dirs++] = arg;
    return 0;
}

static void print_debug_dirs(const struct settings *s, FILE *out)
{
    for (size_t i = 0; i < s->ses.sym.ndebug_dirs; i++)
        fprintf(out, "debug-dir = %s\n", s->debug_dirs[i]);
}

static int parse_label(struct settings *s, const char *arg, char *err, size_t errlen)
{
    const char *eq = strchr(arg, '=');

    if (!eq || eq == arg || strchr(arg, '\n')) {
        snprintf(err, errlen, "--label takes KEY=VALUE, not '%s'", arg);
        return -EINVAL;
    }
    if (s->agent.nlabels == AGENT_MAX_LABELS) {
        snprintf(err, errlen, "--label: at most %d of them", AGENT_MAX_LABELS);
        return -EINVAL;
    }
    s->agent.labels[s->agent.nlabels++] = arg;
    return 0;
}

static void print_labels(const struct settings *s, FILE *out)
{
    for (size_t i = 0; i < s->agent.nlabels; i++)
        fprintf(out, "label = %s\n", s->agent.labels[i]);
}

static int parse_addressing(struct settings *s, const char *arg, char *err, size_t errlen)
{
    if (!strcmp(arg, "path"))
        s->bucket.s3_path_style = 1;
    else if (!strcmp(arg, "virtual"))
        s->bucket.s3_path_style = 0;
    else if (!strcmp(arg, "auto"))
        s->bucket.s3_path_style = -1;
    else {
        snprintf(err, errlen, "--s3-addressing takes path, virtual or auto, not '%s'", arg);
        return -EINVAL;
    }
    return 0;
}

static void print_addressing(const struct settings *s, FILE *out)
{
    fprintf(out, "s3-addressing = %s\n",
            s->bucket.s3_path_style < 0 ? "auto"
            : s->bucket.s3_path_style   ? "path"
                                        : "virtual");
}

static int parse_split(struct settings *s, const char *arg, char *err, size_t errlen)
{
    if (strcmp(arg, "pod") != 0 && strcmp(arg, "none") != 0) {
        snprintf(err, errlen, "--split-by takes pod or none, not '%s'", arg);
        return -EINVAL;
    }
    s->agent.split_pods = !strcmp(arg, "pod");
    return 0;
}

static void print_split(const struct settings *s, FILE *out)
{
    fprintf(out, "split-by = %s\n", s->agent.split_pods ? "pod" : "none");
}

static int parse_timeout(struct settings *s, const char *arg, char *err, size_t errlen)
{
    unsigned long v;
    int rc;

    if ((rc = opt_uint("upload-timeout", arg, 1, 3600, "seconds", &v, err, errlen)))
        return rc;
    s->bucket.timeout_s = (long)v;
    return 0;
}

static void print_timeout(const struct settings *s, FILE *out)
{
    fprintf(out, "upload-timeout = %ld\n", s->bucket.timeout_s);
}

static int parse_debuginfod_timeout(struct settings *s, const char *arg, char *err, size_t errlen)
{
    unsigned long v;
    int rc;

    if ((rc = opt_uint("debuginfod-timeout", arg, 1, 3600, "seconds", &v, err, errlen)))
        return rc;
    s->ses.sym.debuginfod_timeout_s = (int)v;
    return 0;
}

static void print_debuginfod_timeout(const struct settings *s, FILE *out)
{
    fprintf(out, "debuginfod-timeout = %d\n", s->ses.sym.debuginfod_timeout_s);
}

/* ---- the groups ---- */

static const struct opt sampling[] = {
    {.name = "freq",
     .short_name = 'F',
     .kind = OPT_UINT,
     .metavar = "HZ",
     .lo = 1,
     .hi = 1000000,
     .unit = "Hz",
     .field = AT(ses.freq),
     .deflt = "99",
     .example = "49",
     .help = "samples per second per CPU; odd rates avoid lockstep with timers; the kernel's "
             "perf_event_max_sample_rate caps it"},
    {.name = "no-kernel",
     .kind = OPT_FLAG,
     .field = AT(ses.kernel),
     .invert = true,
     .deflt = "false",
     .example = "true",
     .help = "user stacks only"},
    {.name = "include-idle",
     .kind = OPT_FLAG,
     .field = AT(ses.include_idle),
     .deflt = "false",
     .example = "true",
     .help = "keep samples of idle CPUs (the swapper task)"},
    {.name = "unwind",
     .kind = OPT_CUSTOM,
     .metavar = "MODE",
     .parse = parse_unwind,
     .print = print_unwind,
     .deflt = "auto",
     .example = "dwarf",
     .help = "user stacks by fp (frame pointers, plus the caller of a frameless leaf from its "
             "CFI), dwarf (a copy of the top of every stack, unwound with the binaries' CFI, as "
             "perf --call-graph dwarf) or auto (a process's stacks are copied until its "
             "executable is judged, then only if that has no frame pointers)"},
    {.name = "stack-size",
     .kind = OPT_UINT,
     .metavar = "BYTES",
     .lo = 512,
     .hi = 65536,
     .unit = "bytes",
     .field = AT(ses.stack_size),
     .deflt = "16384",
     .example = "8192",
     .help = "user stack copied per sample in dwarf mode; deeper stacks are cut and counted"},
    {.name = "map-entries",
     .kind = OPT_UINT,
     .metavar = "N",
     .lo = 64,
     .hi = 1 << 22,
     .field = AT(ses.map_entries),
     .deflt = "16384",
     .example = "4096",
     .help = "distinct stacks kept per second in the kernel; raise it if 'count map full' "
             "losses show"},
};

static const struct opt event[] = {
    {.name = "event",
     .kind = OPT_CUSTOM,
     .metavar = "EVENT",
     .parse = parse_event,
     .print = print_event,
     .deflt = "cpu",
     .example = "wall",
     .help = "cpu: samples on the CPU, -F times a second; offcpu: the time each thread spent "
             "off the CPU, in nanoseconds, under its stacks when it left and a last frame "
             "naming why: [throttled] (its cgroup's CPU limit), [runqueue] (waiting for a "
             "CPU), [blocked] (D: disk, uninterruptible locks), [sleeping] (S: locks, "
             "sockets, timers); wall: both, so that a thread's flame graph covers its "
             "wall-clock time (from the first time it leaves the CPU in the recording)"},
};

static const struct opt offcpu[] = {
    {.name = "min-block",
     .kind = OPT_CUSTOM,
     .metavar = "DUR",
     .parse = parse_min_block,
     .print = print_min_block,
     .deflt = "1ms",
     .example = "500us",
     .help = "off the CPU: drop shorter intervals (counted in the summary); 0 keeps all"},
    {.name = "state",
     .kind = OPT_CUSTOM,
     .metavar = "STATE",
     .parse = parse_state,
     .print = print_states,
     .repeat = true,
     .count = AT(nstates),
     .max = PF_STATE__MAX,
     .example = "throttled",
     .help = "off the CPU: keep only these classes (throttled, runqueue, blocked, sleeping); "
             "repeatable"},
};

static const struct opt selection[] = {
    {.name = "pid",
     .short_name = 'p',
     .kind = OPT_CUSTOM,
     .metavar = "PID[,PID]",
     .parse = parse_pids,
     .print = print_pids,
     .repeat = true,
     .count = AT(npids),
     .max = OPTS_MAX_FILTERS,
     .example = "1",
     .help = "only these processes"},
    {.name = "cgroup",
     .kind = OPT_LIST,
     .metavar = "PATH",
     .field = AT(cgroups),
     .count = AT(ncgroups),
     .max = OPTS_MAX_FILTERS,
     .example = "/",
     .help = "only this cgroup v2 and its descendants; absolute, or relative to the cgroup2 "
             "mount"},
    {.name = "pod",
     .kind = OPT_LIST,
     .metavar = "NAME|UID",
     .field = AT(pods.pods),
     .count = AT(pods.npods),
     .max = KUBE_SELECTOR_MAX,
     .example = "checkout-1",
     .help = "only this Pod; Pods that start while sampling are picked up"},
    {.name = "namespace",
     .short_name = 'n',
     .kind = OPT_LIST,
     .metavar = "NS",
     .field = AT(pods.namespaces),
     .count = AT(pods.nnamespaces),
     .max = KUBE_SELECTOR_MAX,
     .example = "shop",
     .help = "only Pods in this namespace"},
    {.name = "container",
     .kind = OPT_LIST,
     .metavar = "NAME",
     .field = AT(pods.containers),
     .count = AT(pods.ncontainers),
     .max = KUBE_SELECTOR_MAX,
     .example = "app",
     .help = "only this container of the selected Pods"},
};

static const struct opt names[] = {
    {.name = "kubelet-log-dir",
     .kind = OPT_STRING,
     .metavar = "DIR",
     .field = AT(ses.kubelet_log_dir),
     .deflt = "/var/log",
     .example = "/tmp",
     .help = "where the kubelet keeps pods/ and containers/ logs, which name Pods and "
             "containers"},
    {.name = "kube-cgroup-root",
     .kind = OPT_STRING,
     .metavar = "PATH[:PATH]",
     .field = AT(kube_cgroup_root),
     .example = "/podflame-test",
     .help = "the kubelet's --cgroup-root, where its Pods' cgroups are when not at the top of "
             "the hierarchy (default: $PODFLAME_KUBE_CGROUP_ROOT); cgroups elsewhere are never "
             "taken for Pods, so a delegated cgroup cannot pose as one"},
    {.name = "kube-api",
     .kind = OPT_FLAG,
     .field = AT(ses.kube_api),
     .deflt = "false",
     .example = "false",
     .help = "in a cluster, also ask the API server for this node's Pods: their labels "
             "(k8s.pod.label.KEY), owners and names; needs the service account to list pods"},
};

static const struct opt symbols[] = {
    {.name = "debug-dir",
     .kind = OPT_CUSTOM,
     .metavar = "DIR",
     .parse = parse_debug_dir,
     .print = print_debug_dirs,
     .repeat = true,
     .count = AT(ses.sym.ndebug_dirs),
     .max = OPTS_MAX_FILTERS,
     .example = "/tmp",
     .help = "also look for debug files in DIR: by build ID (DIR/.build-id/xx/rest.debug) and "
             "by .gnu_debuglink; /usr/lib/debug and the binary's own directory always are"},
    {.name = "debuginfod",
     .kind = OPT_STRING,
     .metavar = "URL",
     .field = AT(ses.sym.debuginfod_urls),
     .example = "http://127.0.0.1:1",
     .help = "fetch missing debug info from these debuginfod servers (space-separated; "
             "default: $DEBUGINFOD_URLS), cached in $DEBUGINFOD_CACHE_PATH (default "
             "~/.cache/debuginfod_client)"},
    {.name = "debuginfod-timeout",
     .kind = OPT_CUSTOM,
     .metavar = "SECS",
     .parse = parse_debuginfod_timeout,
     .print = print_debuginfod_timeout,
     .deflt = "5",
     .example = "2",
     .help = "give up on a silent debuginfod server after SECS"},
    {.name = "no-demangle",
     .kind = OPT_FLAG,
     .field = AT(ses.sym.no_demangle),
     .deflt = "false",
     .example = "true",
     .help = "keep C++ and Rust names mangled"},
};

static const struct opt shape[] = {
    {.name = "format",
     .kind = OPT_STRING,
     .metavar = "FMT",
     .field = AT(format),
     .example = "folded",
     .help = "svg, folded, pprof or speedscope (default: by FILE's extension: .svg .folded "
             ".txt .pb.gz .pprof .speedscope.json; another extension is an error)"},
    {.name = "group-by",
     .kind = OPT_CUSTOM,
     .metavar = "KEY",
     .parse = parse_group_by,
     .deflt = "pod",
     .example = "thread",
     .help = "root frames: pod (namespace/pod, container, comm; process roots for samples "
             "without Pod labels), container (namespace/pod/container, comm), process (comm), "
             "pid (comm-PID), thread (comm-PID/TID) or none"},
};

static const struct opt output[] = {
    {.name = "output",
     .short_name = 'o',
     .kind = OPT_STRING,
     .metavar = "FILE",
     .field = AT(output),
     .deflt = "podflame.svg",
     .example = "x.folded",
     .help = "where to write (- = stdout); checked before sampling; a device or FIFO is "
             "written directly, a symlink's target atomically"},
};

static const struct opt record[] = {
    {.name = "duration",
     .short_name = 'd',
     .kind = OPT_DOUBLE,
     .metavar = "SECS",
     .lo = 0.001,
     .hi = 1e7,
     .unit = "seconds",
     .field = AT(duration),
     .example = "2.5",
     .help = "stop after SECS seconds (default: Ctrl-C, or COMMAND's exit)"},
};

static const struct opt watcher[] = {
    {.name = "node-cpu",
     .kind = OPT_DOUBLE,
     .metavar = "PCT",
     .lo = 0,
     .hi = 100,
     .field = AT(watch.rules.node_cpu),
     .deflt = "90",
     .example = "80",
     .help = "fire when the node's CPUs are PCT% busy (0: off)"},
    {.name = "pod-limit",
     .kind = OPT_DOUBLE,
     .metavar = "PCT",
     .lo = 0,
     .hi = 10000,
     .field = AT(watch.rules.pod_limit),
     .deflt = "90",
     .example = "80",
     .help = "... when a Pod uses PCT% of its CPU limit (0: off)"},
    {.name = "throttle",
     .kind = OPT_DOUBLE,
     .metavar = "PCT",
     .lo = 0,
     .hi = 100,
     .field = AT(watch.rules.throttle),
     .deflt = "25",
     .example = "10",
     .help = "... when a Pod is throttled in PCT% of its CFS periods (0: off)"},
    {.name = "psi",
     .kind = OPT_DOUBLE,
     .metavar = "PCT",
     .lo = 0,
     .hi = 100,
     .field = AT(watch.rules.psi),
     .deflt = "0",
     .example = "40",
     .help = "... when CPU pressure (some avg10) reaches PCT (0: off)"},
    {.name = "sustain",
     .kind = OPT_UINT,
     .metavar = "SECS",
     .lo = 1,
     .hi = 86400,
     .unit = "seconds",
     .field = AT(watch.rules.sustain),
     .deflt = "15",
     .example = "5",
     .help = "a rule must hold this long"},
    {.name = "cooldown",
     .kind = OPT_UINT,
     .metavar = "SECS",
     .lo = 0,
     .hi = 86400,
     .unit = "seconds",
     .field = AT(watch.rules.cooldown),
     .deflt = "300",
     .example = "60",
     .help = "the same rule and subject fire again after this"},
    {.name = "capture-hz",
     .kind = OPT_UINT,
     .metavar = "HZ",
     .lo = 1,
     .hi = 1000000,
     .unit = "Hz",
     .field = AT(watch.capture_hz),
     .deflt = "499",
     .example = "99",
     .help = "a capture's sampling rate"},
    {.name = "capture-seconds",
     .kind = OPT_UINT,
     .metavar = "SECS",
     .lo = 1,
     .hi = 86400,
     .unit = "seconds",
     .field = AT(watch.capture_s),
     .deflt = "20",
     .example = "5",
     .help = "a capture's length"},
    {.name = "top",
     .kind = OPT_UINT,
     .metavar = "N",
     .lo = 1,
     .hi = FINDING_MAX_PODS,
     .field = AT(watch.top),
     .deflt = "3",
     .example = "2",
     .help = "Pods captured on a node-wide rule, busiest first"},
    {.name = "findings-dir",
     .kind = OPT_STRING,
     .metavar = "DIR",
     .field = AT(watch.findings_dir),
     .deflt = "findings",
     .example = "/tmp/findings",
     .help = "where findings are written"},
};

static const struct opt listener[] = {
    {.name = "control-token-file",
     .kind = OPT_STRING,
     .metavar = "FILE",
     .field = AT(http.control_token_file),
     .example = "/tmp/token",
     .help = "POST /trigger and /alertmanager need 'Authorization: Bearer TOKEN', TOKEN this "
             "file's content (read again when it changes); without it they answer 403 unless "
             "the listener is loopback-only (127.0.0.0/8, ::1)"},
    {.name = "tls-cert",
     .kind = OPT_STRING,
     .metavar = "FILE",
     .field = AT(http.tls_cert),
     .help = "serve HTTPS with this PEM certificate (and --tls-key)"},
    {.name = "tls-key",
     .kind = OPT_STRING,
     .metavar = "FILE",
     .field = AT(http.tls_key),
     .help = "... and this PEM key"},
};

static const struct opt watch[] = {
    {.name = "listen",
     .kind = OPT_STRING,
     .metavar = "HOST:PORT",
     .field = AT(listen),
     .deflt = "127.0.0.1:9740",
     .example = "off",
     .help = "POST /trigger, /alertmanager and GET /healthz here ('off': none)"},
};

static const struct opt agent[] = {
    {.name = "interval",
     .kind = OPT_UINT,
     .metavar = "SECS",
     .lo = 1,
     .hi = 86400,
     .unit = "seconds",
     .field = AT(agent.interval),
     .deflt = "60",
     .example = "30",
     .help = "one profile every SECS, windows aligned to the clock"},
    {.name = "output",
     .kind = OPT_STRING,
     .metavar = "URL",
     .field = AT(output),
     .deflt = "file:///var/lib/podflame/profiles",
     .example = "file:///tmp/profiles",
     .help = "file:///DIR or s3://BUCKET/PREFIX"},
    {.name = "upload-concurrency",
     .kind = OPT_UINT,
     .metavar = "N",
     .lo = 1,
     .hi = 64,
     .field = AT(agent.concurrency),
     .deflt = "2",
     .example = "4",
     .help = "uploads at once"},
    {.name = "upload-timeout",
     .kind = OPT_CUSTOM,
     .metavar = "SECS",
     .parse = parse_timeout,
     .print = print_timeout,
     .deflt = "60",
     .example = "10",
     .help = "give up on one request after SECS"},
    {.name = "spool-dir",
     .kind = OPT_STRING,
     .metavar = "DIR",
     .field = AT(agent.spool_dir),
     .deflt = "/var/lib/podflame/spool",
     .example = "/tmp/spool",
     .help = "where windows wait for upload"},
    {.name = "spool-max-bytes",
     .kind = OPT_BYTES,
     .metavar = "N",
     .lo = 4096,
     .field = AT(agent.spool_max),
     .deflt = "256M",
     .example = "1G",
     .help = "spool limit; the oldest windows are dropped, counted and logged beyond it (K, M, "
             "G suffixes)"},
    {.name = "grace",
     .kind = OPT_UINT,
     .metavar = "SECS",
     .lo = 0,
     .hi = 3600,
     .unit = "seconds",
     .field = AT(agent.grace),
     .deflt = "20",
     .example = "5",
     .help = "on SIGTERM, keep uploading for SECS"},
    {.name = "metrics-addr",
     .kind = OPT_STRING,
     .metavar = "H:P",
     .field = AT(agent.metrics_addr),
     .deflt = "127.0.0.1:9740",
     .example = "off",
     .help = "Prometheus /metrics and /healthz ('off' for none); also POST /trigger and "
             "/alertmanager unless --control-addr is given"},
    {.name = "control-addr",
     .kind = OPT_STRING,
     .metavar = "H:P",
     .field = AT(http.control_addr),
     .example = "127.0.0.1:9741",
     .help = "POST /trigger and /alertmanager (and /healthz) on this listener only, e.g. "
             "127.0.0.1:9741 with metrics open"},
    {.name = "metrics-token-file",
     .kind = OPT_STRING,
     .metavar = "FILE",
     .field = AT(http.metrics_token_file),
     .example = "/tmp/token",
     .help = "GET /metrics needs this file's bearer token too (default: open); /healthz is "
             "always open"},
    {.name = "split-by",
     .kind = OPT_CUSTOM,
     .metavar = "pod",
     .parse = parse_split,
     .print = print_split,
     .deflt = "none",
     .example = "pod",
     .help = "also one profile per Pod, under <start>-<end>/NS/POD"},
    {.name = "label",
     .kind = OPT_CUSTOM,
     .metavar = "KEY=VALUE",
     .parse = parse_label,
     .print = print_labels,
     .repeat = true,
     .count = AT(agent.nlabels),
     .max = AGENT_MAX_LABELS,
     .example = "cluster=lab",
     .help = "add this label to every sample"},
    {.name = "no-watch",
     .kind = OPT_FLAG,
     .field = AT(agent.no_watch),
     .deflt = "false",
     .example = "true",
     .help = "no saturation watcher"},
    {.name = "off-cpu",
     .kind = OPT_FLAG,
     .field = AT(agent.off_cpu),
     .deflt = "false",
     .example = "true",
     .help = "windows of wall time, as record --event wall: the CPU samples plus each "
             "thread's time off the CPU (throttled, queued, blocked, sleeping) of 1 ms or "
             "more, in nanoseconds; off by default: it traces every context switch (see "
             "BENCHMARKS.md for the cost)"},
};

static const struct opt top[] = {
    {.name = "window",
     .kind = OPT_UINT,
     .metavar = "SECS",
     .lo = 1,
     .hi = 86400,
     .unit = "seconds",
     .field = AT(window),
     .deflt = "5",
     .example = "2",
     .help = "hottest functions over the last SECS"},
    {.name = "iterations",
     .kind = OPT_ULONG,
     .metavar = "N",
     .lo = 1,
     .hi = LONG_MAX,
     .field = AT(iterations),
     .example = "1",
     .help = "stop after N refreshes (default: Ctrl-C)"},
};

static const struct opt bucket[] = {
    {.name = "s3-endpoint",
     .kind = OPT_STRING,
     .metavar = "URL",
     .field = AT(bucket.s3_endpoint),
     .example = "http://127.0.0.1:9000",
     .help = "an S3-compatible server, e.g. http://minio:9000 (default: $AWS_ENDPOINT_URL_S3, "
             "else AWS)"},
    {.name = "s3-region",
     .kind = OPT_STRING,
     .metavar = "NAME",
     .field = AT(bucket.s3_region),
     .example = "eu-west-1",
     .help = "signing region (default $AWS_REGION, else us-east-1)"},
    {.name = "s3-addressing",
     .kind = OPT_CUSTOM,
     .metavar = "MODE",
     .parse = parse_addressing,
     .print = print_addressing,
     .deflt = "auto",
     .example = "path",
     .help = "path, virtual or auto (path-style for a custom endpoint, virtual-hosted for "
             "AWS)"},
    {.name = "ca-file",
     .kind = OPT_STRING,
     .metavar = "FILE",
     .field = AT(bucket.ca_file),
     .example = "/etc/ssl/certs/ca-certificates.crt",
     .help = "CA bundle for an HTTPS endpoint"},
};

/* -25h..-24h, or two RFC 3339 times */
static int parse_range(struct settings *s, const char *arg, char *err, size_t errlen)
{
    int64_t from, until;

    if (range_span(arg, 0, &from, &until, err, errlen))
        return -EINVAL;
    s->query.baseline = arg;
    return 0;
}

static void print_range(const struct settings *s, FILE *out)
{
    if (s->query.baseline)
        fprintf(out, "baseline = %s\n", s->query.baseline);
}

/* a time as range_instant reads it; checked here, read by the command */
static int check_instant(const char *name, const char *arg, char *err, size_t errlen)
{
    int64_t t;

    if (range_instant(arg, 0, &t, err, errlen)) {
        char why[400];

        snprintf(why, sizeof(why), "%s", err);
        snprintf(err, errlen, "--%s: %s", name, why);
        return -EINVAL;
    }
    return 0;
}

static int parse_from(struct settings *s, const char *arg, char *err, size_t errlen)
{
    s->query.from = arg;
    return check_instant("from", arg, err, errlen);
}

static void print_from(const struct settings *s, FILE *out)
{
    if (s->query.from)
        fprintf(out, "from = %s\n", s->query.from);
}

static int parse_until(struct settings *s, const char *arg, char *err, size_t errlen)
{
    s->query.until = arg;
    return check_instant("until", arg, err, errlen);
}

static void print_until(const struct settings *s, FILE *out)
{
    if (s->query.until)
        fprintf(out, "until = %s\n", s->query.until);
}

static int check_duration(const char *name, const char *arg, char *err, size_t errlen)
{
    int64_t ns;

    if (range_duration(arg, &ns, err, errlen)) {
        char why[400];

        snprintf(why, sizeof(why), "%s", err);
        snprintf(err, errlen, "--%s: %s", name, why);
        return -EINVAL;
    }
    return 0;
}

static int parse_since(struct settings *s, const char *arg, char *err, size_t errlen)
{
    s->query.since = arg;
    return check_duration("since", arg, err, errlen);
}

static void print_since(const struct settings *s, FILE *out)
{
    if (s->query.since)
        fprintf(out, "since = %s\n", s->query.since);
}

static int parse_settle(struct settings *s, const char *arg, char *err, size_t errlen)
{
    s->query.settle = arg;
    return check_duration("settle", arg, err, errlen);
}

static void print_settle(const struct settings *s, FILE *out)
{
    fprintf(out, "settle = %s\n", s->query.settle);
}

static const struct opt range[] = {
    {.name = "since",
     .kind = OPT_CUSTOM,
     .metavar = "DUR",
     .parse = parse_since,
     .print = print_since,
     .example = "1h",
     .help = "windows of the last DUR (90s, 10m, 1h30m, 2d); the default, 1h, unless --from "
             "is given"},
    {.name = "from",
     .kind = OPT_CUSTOM,
     .metavar = "TIME",
     .parse = parse_from,
     .print = print_from,
     .example = "2026-11-28T10:00Z",
     .help = "windows that start at TIME or later: RFC 3339 (2026-11-28T10:00Z, "
             "2026-11-28T11:00:00+01:00) or -DUR before now (-25h)"},
    {.name = "until",
     .kind = OPT_CUSTOM,
     .metavar = "TIME",
     .parse = parse_until,
     .print = print_until,
     .example = "-24h",
     .help = "windows that start before TIME (default: now)"},
};

static const struct opt fleet_select[] = {
    {.name = "node",
     .kind = OPT_LIST,
     .metavar = "NAME",
     .field = AT(query.nodes),
     .count = AT(query.nnodes),
     .max = OPTS_MAX_SELECT,
     .example = "node-1*",
     .help = "only this node (the agent's NODE_NAME; a glob)"},
    {.name = "namespace",
     .short_name = 'n',
     .kind = OPT_LIST,
     .metavar = "NS",
     .field = AT(query.namespaces),
     .count = AT(query.nnamespaces),
     .max = OPTS_MAX_SELECT,
     .example = "shop",
     .help = "only Pods in this namespace (a glob)"},
    {.name = "pod",
     .kind = OPT_LIST,
     .metavar = "NAME|UID",
     .field = AT(query.pods),
     .count = AT(query.npods),
     .max = OPTS_MAX_SELECT,
     .example = "checkout-*",
     .help = "only this Pod: a name, a glob of names, or a UID"},
    {.name = "container",
     .kind = OPT_LIST,
     .metavar = "NAME",
     .field = AT(query.containers),
     .count = AT(query.ncontainers),
     .max = OPTS_MAX_SELECT,
     .example = "app",
     .help = "only this container (a glob)"},
    {.name = "workload",
     .kind = OPT_LIST,
     .metavar = "NAME",
     .field = AT(query.workloads),
     .count = AT(query.nworkloads),
     .max = OPTS_MAX_SELECT,
     .example = "checkout",
     .help = "only Pods of this workload (Deployment, StatefulSet, ...; a glob)"},
    {.name = "label",
     .kind = OPT_LIST,
     .metavar = "KEY=VALUE",
     .field = AT(query.labels),
     .count = AT(query.nlabels),
     .max = OPTS_MAX_SELECT,
     .example = "app=checkout",
     .help = "only Pods with this label (as the agent's --kube-api saw it)"},
};

static const struct opt query[] = {
    {.name = "output",
     .short_name = 'o',
     .kind = OPT_STRING,
     .metavar = "FILE",
     .field = AT(output),
     .example = "x.folded",
     .help = "write the merged profile here (- = stdout; by extension: .svg .folded .pb.gz "
             ".speedscope.json); the default is query.svg unless --top or --list is given"},
    {.name = "top",
     .kind = OPT_UINT,
     .metavar = "N",
     .lo = 1,
     .hi = 10000,
     .field = AT(query.top),
     .example = "20",
     .help = "print the N hottest functions (self and total) and Pods"},
    {.name = "list",
     .kind = OPT_FLAG,
     .field = AT(query.list),
     .example = "true",
     .help = "print the windows in range, their nodes and Pods, and which matched; read "
             "index lines only"},
    {.name = "baseline",
     .kind = OPT_CUSTOM,
     .metavar = "RANGE",
     .parse = parse_range,
     .print = print_range,
     .example = "-25h..-24h",
     .help = "compare with the same selection over RANGE (FROM..UNTIL): a differential flame "
             "graph, red where the selection grew, and with --top the functions that grew most"},
    {.name = "no-rollups",
     .kind = OPT_FLAG,
     .field = AT(query.no_rollups),
     .example = "true",
     .help = "read every window even for hours that podflame compact rolled up"},
};

static const struct opt reading[] = {
    {.name = "concurrency",
     .kind = OPT_UINT,
     .metavar = "N",
     .lo = 1,
     .hi = 256,
     .field = AT(query.concurrency),
     .deflt = "16",
     .example = "4",
     .help = "requests at once"},
};

static const struct opt compact[] = {
    {.name = "settle",
     .kind = OPT_CUSTOM,
     .metavar = "DUR",
     .parse = parse_settle,
     .print = print_settle,
     .deflt = "15m",
     .example = "1h",
     .help = "roll up an hour only DUR after it ended, so that late uploads are in it"},
    {.name = "force",
     .kind = OPT_FLAG,
     .field = AT(query.force),
     .example = "true",
     .help = "roll up hours that have a rollup again (after late windows arrived)"},
};

#define GROUP(var, title, opts) const struct opt_group var = {title, opts, N(opts)}

GROUP(opt_group_sampling, "sampling", sampling);
GROUP(opt_group_event, "what is recorded", event);
GROUP(opt_group_offcpu, "off the CPU (--event offcpu or wall; agent --off-cpu)", offcpu);
GROUP(opt_group_selection, "what to sample (repeatable; none: the whole machine)", selection);
GROUP(opt_group_names, "Pod names", names);
GROUP(opt_group_symbols, "symbols", symbols);
GROUP(opt_group_output, "output", output);
GROUP(opt_group_shape, "format", shape);
GROUP(opt_group_reading, "reading", reading);
GROUP(opt_group_record, "recording", record);
GROUP(opt_group_watcher,
      "saturation watcher (node and Pod CPU from /proc/stat and the cgroups, every second)",
      watcher);
GROUP(opt_group_listener, "listener", listener);
GROUP(opt_group_watch, "watch", watch);
GROUP(opt_group_agent, "agent", agent);
GROUP(opt_group_top, "view", top);
GROUP(opt_group_bucket, "bucket", bucket);
GROUP(opt_group_range, "time range", range);
GROUP(opt_group_fleet_select, "what to read (repeatable; none: everything)", fleet_select);
GROUP(opt_group_query, "output", query);
GROUP(opt_group_compact, "compact", compact);

/* ---- the commands ---- */

static const struct opt_group *const record_groups[] = {&opt_group_record,    &opt_group_sampling,
                                                        &opt_group_event,     &opt_group_offcpu,
                                                        &opt_group_selection, &opt_group_names,
                                                        &opt_group_symbols,   &opt_group_output,
                                                        &opt_group_shape,     NULL};

const struct opt_command opt_cmd_record = {
    .name = "record",
    .usage = "[OPTIONS] [-- COMMAND [ARGS...]]",
    .about = "Samples user and kernel stacks on every CPU and writes a profile. With no\n"
             "filter it profiles the whole machine; with -- COMMAND it runs COMMAND and\n"
             "profiles it (and its children) until it exits. Ctrl-C stops early and still\n"
             "writes the output.",
    .groups = record_groups,
    .operands = true,
    .epilog = "examples:\n"
              "  podflame record -F 99 -d 10 -o cpu.svg           whole machine, 10 seconds\n"
              "  podflame record -d 30 -o cpu.pb.gz               pprof, for go tool pprof\n"
              "  podflame record -p 1234 -o app.folded            one process until Ctrl-C\n"
              "  podflame record -o make.folded -- make -j2       a command and its children\n"
              "  podflame record --event wall -n shop -d 10 -o shop.svg\n"
              "                                  where shop's threads spent their time, on the\n"
              "                                  CPU and off it (throttled, queued, blocked)\n"
              "\n"
              "Needs root (or CAP_BPF and CAP_PERFMON) and a kernel with BTF.\n",
};

static const struct opt_group *const agent_groups[] = {&opt_group_agent,     &opt_group_bucket,
                                                       &opt_group_sampling,  &opt_group_offcpu,
                                                       &opt_group_selection, &opt_group_names,
                                                       &opt_group_symbols,   &opt_group_watcher,
                                                       &opt_group_listener,  NULL};

static const struct opt_default agent_defaults[] = {
    {"freq", "19"},
    {"findings-dir", "/var/lib/podflame/findings"},
    {NULL, NULL},
};

const struct opt_command opt_cmd_agent = {
    .name = "agent",
    .usage = "[OPTIONS]",
    .about = "Profiles every CPU of this node all the time and writes one gzipped pprof per\n"
             "interval, with Pod labels on the samples, to a directory or an S3 bucket:\n"
             "  PREFIX/NODE/YYYY/MM/DD/HH/<start>-<end>.pb.gz   (times UTC, 20261125T174100Z)\n"
             "  PREFIX/NODE/YYYY/MM/DD/HH/<start>-<end>.json    its index line\n"
             "Windows are written to a spool directory before upload, retried until they\n"
             "are stored, and kept across restarts. SIGTERM writes the last window and\n"
             "uploads what is spooled for up to --grace seconds. The saturation watcher\n"
             "runs beside it and writes findings next to the windows:\n"
             "NODE/YYYY/MM/DD/HH/findings/ID/.\n"
             "\n"
             "Every option is also PODFLAME_NAME in the environment (PODFLAME_INTERVAL=30,\n"
             "PODFLAME_NO_WATCH=true) and 'name = value' in the --config file; the command\n"
             "line wins over the environment, which wins over the file. A flag takes\n"
             "--name=BOOL too.",
    .groups = agent_groups,
    .defaults = agent_defaults,
    .layered = true,
    .epilog = "S3 credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and\n"
              "AWS_SESSION_TOKEN), else the shared credentials file (AWS_SHARED_CREDENTIALS_FILE\n"
              "or ~/.aws/credentials, profile AWS_PROFILE or default).\n"
              "\n"
              "examples:\n"
              "  podflame agent                                   to /var/lib/podflame/profiles\n"
              "  podflame agent --output s3://profiles/prod --s3-region eu-west-1\n"
              "  podflame agent --output s3://prof --s3-endpoint http://127.0.0.1:9000 -F 49\n",
};

static const struct opt_group *const watch_groups[] = {&opt_group_watcher,  &opt_group_watch,
                                                       &opt_group_listener, &opt_group_names,
                                                       &opt_group_symbols,  NULL};

const struct opt_command opt_cmd_watch = {
    .name = "watch",
    .usage = "[OPTIONS]",
    .about = "Watches the node's and every Pod's CPU once a second; when a rule holds long\n"
             "enough, captures the Pods concerned at a higher rate and writes a finding:\n"
             "DIR/<time>-<rule>-<pod>/finding.md (for people), finding.json, capture.pb.gz and\n"
             "capture.svg. Alerts and people ask for captures over HTTP (POST /alertmanager:\n"
             "Alertmanager's webhook; POST /trigger: podflame trigger). podflame agent runs\n"
             "the same watcher.",
    .groups = watch_groups,
    .epilog = "example:\n"
              "  podflame watch --node-cpu 80 --sustain 10 --findings-dir /var/tmp/findings\n",
};

static const struct opt_group *const top_groups[] = {&opt_group_top,
                                                     &opt_group_sampling,
                                                     &opt_group_event,
                                                     &opt_group_selection,
                                                     &opt_group_names,
                                                     &opt_group_symbols,
                                                     NULL};

/* wall: each Pod's throttled and queued shares beside its CPU */
static const struct opt_default top_defaults[] = {
    {"event", "wall"},
    {NULL, NULL},
};

const struct opt_command opt_cmd_top = {
    .name = "top",
    .usage = "[OPTIONS]",
    .about = "A live view of the node's busiest Pods (CPU from their cgroups) and each Pod's\n"
             "hottest functions (sampled at HZ over the last SECS), refreshed every second,\n"
             "like top for code. THR% and RUNQ%: of the time a Pod's threads wanted a CPU,\n"
             "the share its CPU limit throttled them and the share they queued behind other\n"
             "threads (from the scheduler's switches: --event cpu leaves them out, and\n"
             "their cost on a node with many context switches). On a node without Pods:\n"
             "the busiest containers and processes.",
    .groups = top_groups,
    .defaults = top_defaults,
};

static const struct opt_group *const query_groups[] = {&opt_group_range,
                                                       &opt_group_fleet_select,
                                                       &opt_group_query,
                                                       &opt_group_shape,
                                                       &opt_group_reading,
                                                       &opt_group_bucket,
                                                       NULL};

const struct opt_command opt_cmd_query = {
    .name = "query",
    .usage = "[OPTIONS] URL",
    .about = "Reads the windows that podflame agents wrote to URL (s3://BUCKET/PREFIX or\n"
             "file:///DIR) over a time range, keeps the samples of the Pods selected, and\n"
             "merges them into one profile: one flame graph of a service across nodes and\n"
             "time, with no database. Only the hours of the range are listed; a window whose\n"
             "index line names no selected Pod is not fetched; whole hours that podflame\n"
             "compact rolled up are read from the rollup. A window that cannot be read is\n"
             "reported and the rest are merged.",
    .groups = query_groups,
    .operands = true,
    .operands_anywhere = true,
    .epilog = "S3 credentials: as the agent's (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, else\n"
              "the shared credentials file).\n"
              "\n"
              "examples:\n"
              "  podflame query s3://profiles/prod --since 1h -n shop --pod 'checkout-*' -o c.svg\n"
              "  podflame query s3://profiles/prod --from 2026-11-28T10:00Z --until "
              "2026-11-28T11:00Z \\\n"
              "      --workload checkout -o a.pb.gz\n"
              "  podflame query s3://profiles/prod --since 1h --workload checkout \\\n"
              "      --baseline -25h..-24h -o what-changed.svg\n"
              "  podflame query file:///var/lib/podflame/profiles --since 10m --top 20\n"
              "  podflame query s3://profiles/prod --since 1h --list\n",
};

static const struct opt_group *const compact_groups[] = {
    &opt_group_compact, &opt_group_range, &opt_group_reading, &opt_group_bucket, NULL};

const struct opt_command opt_cmd_compact = {
    .name = "compact",
    .usage = "[OPTIONS] URL",
    .about = "Rolls up each closed hour of the windows under URL into one profile per\n"
             "namespace and workload, _rollup/YYYY/MM/DD/HH/NS/WORKLOAD.pb.gz, with an index\n"
             "line each and the hour's _manifest.json (written last: an hour without it is\n"
             "not rolled up). podflame query then reads a whole hour of the fleet as a few\n"
             "objects and gives the same profile. Run it once for the whole bucket, as a\n"
             "CronJob (hourly), not on every node. Hours already rolled up are skipped\n"
             "unless --force.",
    .groups = compact_groups,
    .operands = true,
    .operands_anywhere = true,
    .epilog = "examples:\n"
              "  podflame compact s3://profiles/prod                       the last hour\n"
              "  podflame compact s3://profiles/prod --since 24h           a day's closed hours\n"
              "  podflame compact file:///var/lib/podflame/profiles --from 2026-11-28T10:00Z "
              "--until 2026-11-28T12:00Z\n",
};

const struct opt_command *const opt_commands[] = {&opt_cmd_record,
                                                  &opt_cmd_agent,
                                                  &opt_cmd_watch,
                                                  &opt_cmd_top,
                                                  &opt_cmd_query,
                                                  &opt_cmd_compact,
                                                  NULL};
