#include "profiler/sampling/sampler.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "formats/clock.h"
#include "formats/htab.h"
#include "profiler/sampling/privs.h"
#include "profile.skel.h"

/* After flipping the active slot, programs that already picked the old one
 * may still be running. perf_event BPF programs run with interrupts off and
 * take microseconds; this grace period is orders of magnitude longer. */
#define SLOT_GRACE_NS (2 * 1000000L)

/* The most user stack a sample copies (bpf/profile.h: PF_STACK_PAGES_MAX). */
#define STACK_SIZE_MAX 65536

/* Threads remembered off the CPU at once (more are counted, not kept). */
#define MAX_PENDING 65536

/* Off-CPU intervals that came back after their slot's drain, between two
 * drains (a second): each is a sleep that spanned a drain. */
#define LATE_MAX 16384

/* A PID given to the filter before the program is loaded: sampler_start
 * writes it to the program's map. */
struct pending_pid {
    uint32_t pid;
    uint8_t state; /* PF_FILTER_* */
};

struct sampler {
    struct profile_bpf *skel;
    bool loaded;
    struct ring_buffer *procs_rb;
    sampler_proc_fn proc_fn;
    void *proc_ctx;
    sampler_stack_fn stack_fn;
    int64_t consume_until; /* a poll's deadline for handling ring events */
    void *stack_ctx;
    /* filters until the load; which ones are on is configuration */
    struct pending_pid *pids;
    size_t npids;
    uint64_t *cgroups;
    size_t ncgroups;
    bool filter_pids, filter_cgroups;
    /* per possible CPU: NULL / -1 while it is not sampled */
    struct bpf_link **links;
    int *pfds;
    bool *online; /* scratch for the online list */
    int ncpus;
    unsigned int nevents; /* CPUs sampled now */
    unsigned int cpus_at_stop;
    unsigned int cpus_failed;
    unsigned int cpus_added, cpus_removed; /* hotplug followed since the start */
    int open_errno;                        /* the last perf_event_open failure */
    bool started, hw;
    bool intervals_closed; /* the threads off the CPU at the stop were reported */
    int64_t stop_ns;       /* CLOCK_MONOTONIC, the BPF clock */
    struct sampler_opts opts;
    const char *event_name;
    /* drain scratch */
    struct htab kept_stacks; /* stack ids of threads still off the CPU */
    struct pf_key *keys;
    uint64_t ustack[PF_MAX_STACK_DEPTH], kstack[PF_MAX_STACK_DEPTH];
};

/* libbpf's log (the verifier's included) only with PODFLAME_DEBUG set: its
 * failures reach the user as our own one-line errors. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    (void)level;
    return getenv("PODFLAME_DEBUG") ? vfprintf(stderr, fmt, ap) : 0;
}

static void seterr(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is just above
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

static long read_long(const char *path, long dflt)
{
    FILE *f = fopen(path, "re");
    long v = dflt;

    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = dflt;
        fclose(f);
    }
    return v;
}

/* libbpf consumes for as long as the kernel produces: at a rate userspace
 * cannot keep up with (-F 100000 with stack copies) a poll would never
 * return, and neither -d nor Ctrl-C would end the recording. A poll handles
 * events for CONSUME_BUDGET_NS at most; the rest wait for the next, and
 * what the full ring cannot take is counted by the program as lost copies.
 * Returning a negative value is how a callback stops libbpf's loop. */
#define CONSUME_BUDGET_NS (200 * 1000000LL)
#define STOP_CONSUMING    (-EINPROGRESS)

static int over_budget(const struct sampler *s)
{
    return mono_ns() > s->consume_until ? STOP_CONSUMING : 0;
}

static int on_proc_event(void *ctx, void *data, size_t len)
{
    struct sampler *s = ctx;
    const struct pf_proc_event *ev = data;

    if (len >= sizeof(*ev) && s->proc_fn)
        s->proc_fn(s->proc_ctx, (pid_t)ev->tgid, ev->cgroup_id);
    return over_budget(s);
}

static int on_stack_event(void *ctx, void *data, size_t len)
{
    struct sampler *s = ctx;
    const struct pf_stack_sample *ss = data;

    if (len >= sizeof(*ss) - sizeof(ss->stack) && s->stack_fn)
        s->stack_fn(s->stack_ctx, ss, len);
    return over_budget(s);
}

void sampler_set_stack_handler(struct sampler *s, sampler_stack_fn fn, void *ctx)
{
    s->stack_fn = fn;
    s->stack_ctx = ctx;
}

int sampler_set_unwind(struct sampler *s, pid_t pid, bool dwarf)
{
    uint32_t key = (uint32_t)pid;
    uint8_t mode = dwarf ? PF_PROC_UNWIND_DWARF : PF_PROC_UNWIND_FP;

    if (!s->loaded)
        return -EINVAL;
    if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.unwind_modes), &key, &mode, BPF_ANY))
        return -errno;
    return 0;
}

/* The options and what the kernel must have, before anything is allocated. */
static int check_opts(const struct sampler_opts *opts, char *err, size_t errlen)
{
    long max_rate = read_long("/proc/sys/kernel/perf_event_max_sample_rate", 100000);

    if (opts->freq < 1 || opts->freq > (unsigned long)max_rate) {
        seterr(err, errlen,
               "frequency %u Hz is out of range: 1 to %ld (kernel.perf_event_max_sample_rate): "
               "sample less often, or raise that sysctl",
               opts->freq, max_rate);
        return -EINVAL;
    }
    if (!opts->max_keys || !opts->max_stacks) {
        seterr(err, errlen, "the count and stack maps need at least one entry each (got %u, %u)",
               opts->max_keys, opts->max_stacks);
        return -EINVAL;
    }
    if (access("/sys/kernel/btf/vmlinux", R_OK)) {
        seterr(err, errlen,
               "this kernel has no BTF (/sys/kernel/btf/vmlinux): podflame needs a kernel "
               "built with CONFIG_DEBUG_INFO_BTF=y (5.15 or later)");
        return -ENOTSUP;
    }
    return 0;
}

/* What the program is built with: bpf/profile.bpf.c reads it as const
 * volatile, so it is written before the load and never again. Which
 * filters are on is written by load_program, once they are all known. */
static void set_config(struct sampler *s)
{
    struct profile_bpf__rodata *cfg = s->skel->rodata;

    cfg->self_tgid = (uint32_t)getpid();
    cfg->include_idle = s->opts.include_idle;
    cfg->kernel_stacks = s->opts.kernel_stacks;
    cfg->follow_forks = s->opts.follow_forks;
    cfg->leaf_fix = s->opts.leaf_fix;
    cfg->unwind_mode = s->opts.unwind_mode;
    cfg->stack_size = s->opts.stack_size < STACK_SIZE_MAX ? s->opts.stack_size : STACK_SIZE_MAX;
    cfg->min_block_ns = s->opts.min_block_ns;
    cfg->state_mask = s->opts.state_mask;
}

/* The scheduler's programs load only for off-CPU time, and attach in
 * sampler_start (again after a stop); the perf events' program always
 * loads (small), and attaches to nothing off the CPU only. */
static void choose_programs(struct sampler *s)
{
    struct bpf_program *sched[] = {s->skel->progs.offcpu_switch, s->skel->progs.offcpu_exit};

    for (size_t i = 0; i < sizeof(sched) / sizeof(sched[0]); i++) {
        bpf_program__set_autoload(sched[i], sampler_event_off_cpu(s->opts.event));
        bpf_program__set_autoattach(sched[i], false);
    }
}

/* The stack ring: 100 ms of copies from every CPU (userspace drains it
 * every 100 ms; a fuller ring wakes it early), 256 KiB to 64 MiB, a power
 * of two; one page without copies. Its pages count in podflame's RSS once
 * written, so a low rate keeps it small: 256 KiB at the agent's 19 Hz,
 * 4 MiB at 999 Hz on 2 CPUs. */
static uint32_t stack_ring_size(const struct sampler_opts *o, unsigned int cpus,
                                uint32_t stack_size)
{
    uint64_t copy = offsetof(struct pf_stack_sample, stack) + stack_size;
    uint64_t want = (uint64_t)cpus * o->freq * copy / 10;
    uint32_t ring = 256u << 10;
    long page = sysconf(_SC_PAGESIZE);

    if (o->unwind_mode == PF_UNWIND_MODE_OFF)
        return page > 0 ? (uint32_t)page : PF_PAGE_SIZE;
    while (ring < want && ring < (64u << 20))
        ring <<= 1;
    return ring;
}

/* Map sizes, which are fixed at load too. */
static int size_maps(struct sampler *s, char *err, size_t errlen)
{
    struct profile_bpf *k = s->skel;
    int ncpus = libbpf_num_possible_cpus();
    uint32_t cpus = ncpus > 0 ? (uint32_t)ncpus : 1;
    uint32_t ring = stack_ring_size(&s->opts, cpus, k->rodata->stack_size);
    const struct {
        struct bpf_map *map;
        uint32_t entries;
    } sizes[] = {
        {k->maps.counts0, s->opts.max_keys},
        {k->maps.counts1, s->opts.max_keys},
        {k->maps.stacks0, s->opts.max_stacks},
        {k->maps.stacks1, s->opts.max_stacks},
        /* one stack-copy buffer per CPU, none used without copies */
        {k->maps.stack_scratch, s->opts.unwind_mode != PF_UNWIND_MODE_OFF ? cpus : 1},
        {k->maps.stack_events, ring},
        {k->maps.offcpu_late, sampler_event_off_cpu(s->opts.event) ? LATE_MAX : 1},
        {k->maps.offcpu_pending, sampler_event_off_cpu(s->opts.event) ? MAX_PENDING : 1},
    };

    k->rodata->stack_ring_wake = ring / 4;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        int ret = bpf_map__set_max_entries(sizes[i].map, sizes[i].entries);

        if (ret) {
            seterr(err, errlen, "cannot size the BPF map %s to %u entries: %s",
                   bpf_map__name(sizes[i].map), sizes[i].entries, strerror(-ret));
            return ret;
        }
    }
    return 0;
}

int sampler_open(const struct sampler_opts *opts, struct sampler **out, char *err, size_t errlen)
{
    struct sampler *s;
    int ret;

    if ((ret = check_opts(opts, err, errlen)))
        return ret;
    libbpf_set_print(libbpf_print);
    s = calloc(1, sizeof(*s));
    if (!s) {
        seterr(err, errlen, "out of memory for the sampler");
        return -ENOMEM;
    }
    s->opts = *opts;
    if (!s->opts.state_mask)
        s->opts.state_mask = ~0u; /* 0: every class */
    s->keys = calloc(opts->max_keys, sizeof(*s->keys));
    if (!s->keys) {
        ret = -ENOMEM;
        seterr(err, errlen, "out of memory for %u count-map keys: use fewer map entries",
               opts->max_keys);
        goto fail;
    }
    s->skel = profile_bpf__open();
    if (!s->skel) {
        ret = errno ? -errno : -ENOMEM;
        seterr(err, errlen,
               "cannot open the BPF object: %s (set PODFLAME_DEBUG=1 for libbpf's log)",
               strerror(-ret));
        goto fail;
    }
    htab_init(&s->kept_stacks);
    set_config(s);
    choose_programs(s);
    if ((ret = size_maps(s, err, errlen)))
        goto fail;
    *out = s;
    return 0;
fail:
    sampler_close(s);
    return ret;
}

int sampler_poll_processes(struct sampler *s, int timeout_ms, sampler_proc_fn fn, void *ctx)
{
    int ret;

    if (!s->procs_rb)
        return 0; /* not started: nothing can arrive */
    s->proc_fn = fn;
    s->proc_ctx = ctx;
    s->consume_until = mono_ns() + timeout_ms * 1000000LL + CONSUME_BUDGET_NS;
    ret = ring_buffer__poll(s->procs_rb, timeout_ms);
    if (ret < 0 && ret != -EINTR && ret != STOP_CONSUMING)
        return ret;
    /* stack copies do not wake the poller up (see copy_stack): take what
     * is there whether or not epoll said so */
    s->consume_until = mono_ns() + CONSUME_BUDGET_NS;
    ret = ring_buffer__consume(s->procs_rb);
    return ret < 0 && ret != -EINTR && ret != STOP_CONSUMING ? ret : 0;
}

/* A PID for the filter: kept until the load, or written to the map of a
 * program that has the filter. */
static int add_pid(struct sampler *s, pid_t pid, uint8_t state)
{
    uint32_t key = (uint32_t)pid;
    struct pending_pid *grown;

    if (s->loaded) {
        if (!s->filter_pids)
            return -EINVAL; /* built without the filter */
        if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.pid_filter), &key, &state, BPF_ANY))
            return -errno;
        /* the program's cached verdicts predate this process */
        __atomic_add_fetch(&s->skel->bss->filter_gen, 1, __ATOMIC_SEQ_CST);
        return 0;
    }
    for (size_t i = 0; i < s->npids; i++) {
        if (s->pids[i].pid == key) {
            s->pids[i].state = state;
            return 0;
        }
    }
    if (s->npids == bpf_map__max_entries(s->skel->maps.pid_filter))
        return -E2BIG; /* what the map would say */
    grown = realloc(s->pids, (s->npids + 1) * sizeof(*s->pids));
    if (!grown)
        return -ENOMEM;
    s->pids = grown;
    s->pids[s->npids++] = (struct pending_pid){.pid = key, .state = state};
    s->filter_pids = true;
    return 0;
}

int sampler_add_pid(struct sampler *s, pid_t pid)
{
    return add_pid(s, pid, PF_FILTER_ACTIVE);
}

int sampler_add_pid_at_exec(struct sampler *s, pid_t pid)
{
    return add_pid(s, pid, PF_FILTER_AWAIT_EXEC);
}

int sampler_enable_cgroup_filter(struct sampler *s)
{
    if (s->loaded)
        return s->filter_cgroups ? 0 : -EINVAL;
    s->filter_cgroups = true;
    return 0;
}

int sampler_add_cgroup(struct sampler *s, uint64_t cgroup_id)
{
    uint8_t one = 1;
    uint64_t *grown;

    if (s->loaded) {
        if (!s->filter_cgroups)
            return -EINVAL; /* built without the filter */
        if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.cgroup_filter), &cgroup_id, &one,
                                BPF_ANY))
            return -errno;
        /* the program's cached verdicts predate this cgroup */
        __atomic_add_fetch(&s->skel->bss->filter_gen, 1, __ATOMIC_SEQ_CST);
        return 0;
    }
    for (size_t i = 0; i < s->ncgroups; i++) {
        if (s->cgroups[i] == cgroup_id)
            return 0;
    }
    if (s->ncgroups == bpf_map__max_entries(s->skel->maps.cgroup_filter))
        return -E2BIG; /* what the map would say */
    grown = realloc(s->cgroups, (s->ncgroups + 1) * sizeof(*s->cgroups));
    if (!grown)
        return -ENOMEM;
    s->cgroups = grown;
    s->cgroups[s->ncgroups++] = cgroup_id;
    s->filter_cgroups = true;
    return 0;
}

/* Writes the filters given before the load to the program's maps. */
static int write_filters(struct sampler *s, char *err, size_t errlen)
{
    int pfd = bpf_map__fd(s->skel->maps.pid_filter);
    int cfd = bpf_map__fd(s->skel->maps.cgroup_filter);
    uint8_t one = 1;
    int ret;

    for (size_t i = 0; i < s->npids; i++) {
        if (bpf_map_update_elem(pfd, &s->pids[i].pid, &s->pids[i].state, BPF_ANY)) {
            ret = -errno;
            seterr(err, errlen, "cannot add PID %u to the BPF filter: %s", s->pids[i].pid,
                   strerror(-ret));
            return ret;
        }
    }
    for (size_t i = 0; i < s->ncgroups; i++) {
        if (bpf_map_update_elem(cfd, &s->cgroups[i], &one, BPF_ANY)) {
            ret = -errno;
            seterr(err, errlen, "cannot add cgroup %llu to the BPF filter: %s",
                   (unsigned long long)s->cgroups[i], strerror(-ret));
            return ret;
        }
    }
    return 0;
}

/* The process and stack ring buffers, read by sampler_poll_processes. */
static int open_rings(struct sampler *s, char *err, size_t errlen)
{
    int ret;

    s->procs_rb = ring_buffer__new(bpf_map__fd(s->skel->maps.proc_events), on_proc_event, s, NULL);
    if (!s->procs_rb) {
        ret = -errno;
        seterr(err, errlen,
               "cannot open the process ring buffer: %s (set PODFLAME_DEBUG=1 for libbpf's log)",
               strerror(-ret));
        return ret;
    }
    ret = ring_buffer__add(s->procs_rb, bpf_map__fd(s->skel->maps.stack_events), on_stack_event, s);
    if (ret) {
        seterr(err, errlen,
               "cannot open the stack ring buffer: %s (set PODFLAME_DEBUG=1 for libbpf's log)",
               strerror(-ret));
        return ret;
    }
    return 0;
}

/* Which filters are on completes the configuration; then the program is
 * loaded, its filters filled, and the exec and fork tracepoints attached
 * (the perf events come after: nothing is sampled before the filters are
 * in place). */
static int load_program(struct sampler *s, char *err, size_t errlen)
{
    int ret;

    s->skel->rodata->filter_pids = s->filter_pids;
    s->skel->rodata->filter_cgroups = s->filter_cgroups;
    ret = profile_bpf__load(s->skel);
    if (ret == -EPERM || ret == -EACCES) {
        char missing[64];

        privs_missing_for_bpf(missing, sizeof(missing));
        if (missing[0])
            seterr(err, errlen,
                   "loading the BPF program was refused (%s): missing %s (podflame needs root, or "
                   "CAP_BPF and CAP_PERFMON: add them to the container's capabilities)",
                   strerror(-ret), missing);
        else if (privs_seccomp_filtered())
            seterr(err, errlen,
                   "loading the BPF program was refused (%s) although CAP_BPF and CAP_PERFMON are "
                   "held: a seccomp filter refuses bpf() (a container runtime's default profile "
                   "does; run the container with seccompProfile Unconfined)",
                   strerror(-ret));
        else
            seterr(err, errlen,
                   "loading the BPF program was refused (%s): podflame needs root, or CAP_BPF and "
                   "CAP_PERFMON (an LSM such as AppArmor or SELinux may refuse it too)",
                   strerror(-ret));
        return ret;
    }
    if (ret) {
        seterr(err, errlen,
               "cannot load the BPF program: %s (set PODFLAME_DEBUG=1 for libbpf's log)",
               strerror(-ret));
        return ret;
    }
    s->loaded = true;
    if ((ret = write_filters(s, err, errlen)))
        return ret;
    ret = profile_bpf__attach(s->skel);
    if (ret) {
        seterr(err, errlen,
               "cannot attach the process tracepoints: %s (set PODFLAME_DEBUG=1 for libbpf's log)",
               strerror(-ret));
        return ret;
    }
    return open_rings(s, err, errlen);
}

/* Parses a CPU list such as "0-3,5" into a bitmap of up to max CPUs. */
static int online_cpus(bool *online, int max)
{
    FILE *f = fopen("/sys/devices/system/cpu/online", "re");
    char buf[4096], *p, *tok, *save = NULL;
    int n = 0;

    if (!f)
        return -errno;
    p = fgets(buf, sizeof(buf), f);
    fclose(f);
    if (!p)
        return -EIO;
    for (tok = strtok_r(buf, ",\n", &save); tok; tok = strtok_r(NULL, ",\n", &save)) {
        int a, b;

        if (sscanf(tok, "%d-%d", &a, &b) == 2)
            ;
        else if (sscanf(tok, "%d", &a) == 1)
            b = a;
        else
            return -EINVAL;
        for (int c = a; c <= b && c < max; c++) {
            online[c] = true;
            n++;
        }
    }
    return n;
}

/* Fills s->online with the CPUs online now. */
static int read_online(struct sampler *s, char *err, size_t errlen)
{
    int ret;

    memset(s->online, 0, (size_t)s->ncpus * sizeof(*s->online));
    ret = online_cpus(s->online, s->ncpus);
    if (ret < 0) {
        seterr(err, errlen, "cannot read /sys/devices/system/cpu/online: %s (is /sys mounted?)",
               strerror(-ret));
        return ret;
    }
    return 0;
}

static int open_event(unsigned int freq, bool hw, int cpu)
{
    struct perf_event_attr attr = {
        .size = sizeof(attr),
        .type = hw ? PERF_TYPE_HARDWARE : PERF_TYPE_SOFTWARE,
        .config = hw ? PERF_COUNT_HW_CPU_CYCLES : PERF_COUNT_SW_CPU_CLOCK,
        .sample_freq = freq,
        .freq = 1,
    };
    int fd = (int)syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);

    return fd < 0 ? -errno : fd;
}

/* Samples one more CPU. Returns 0, or a negative errno with err set when
 * the failure is one no other CPU would escape (no permission, a program
 * that does not attach); an event that cannot be opened on this CPU alone
 * (it went offline meanwhile) is counted in cpus_failed and returns 1. */
static int attach_cpu(struct sampler *s, int cpu, char *err, size_t errlen)
{
    struct bpf_link *link;
    int fd = open_event(s->opts.freq, s->hw, cpu), ret;

    /* No PMU (VMs, some containers): fall back to the CPU clock timer. */
    if (fd < 0 && s->hw && (fd == -ENOENT || fd == -EOPNOTSUPP || fd == -ENODEV)) {
        s->hw = false;
        fd = open_event(s->opts.freq, s->hw, cpu);
    }
    if (fd == -EACCES || fd == -EPERM) {
        seterr(err, errlen,
               "perf_event_open refused (%s; kernel.perf_event_paranoid=%ld): run as root "
               "or with CAP_PERFMON",
               strerror(-fd), read_long("/proc/sys/kernel/perf_event_paranoid", -99));
        return fd;
    }
    if (fd < 0) {
        s->open_errno = -fd;
        s->cpus_failed++;
        return 1;
    }
    link = bpf_program__attach_perf_event(s->skel->progs.profile_sample, fd);
    if (!link) {
        ret = -errno;
        close(fd);
        seterr(err, errlen, "cannot attach the BPF program to CPU %d: %s", cpu, strerror(-ret));
        return ret;
    }
    s->pfds[cpu] = fd;
    s->links[cpu] = link;
    s->nevents++;
    return 0;
}

static void detach_cpu(struct sampler *s, int cpu)
{
    if (!s->links[cpu])
        return;
    bpf_link__destroy(s->links[cpu]);
    close(s->pfds[cpu]);
    s->links[cpu] = NULL;
    s->pfds[cpu] = -1;
    s->nevents--;
}

/* Per possible CPU: the link and perf fd of its event, and the scratch
 * online_cpus fills. Allocated once, on the first start. */
static int alloc_cpu_tables(struct sampler *s, char *err, size_t errlen)
{
    if (s->links)
        return 0;
    s->ncpus = libbpf_num_possible_cpus();
    if (s->ncpus <= 0)
        s->ncpus = 1;
    s->online = calloc((size_t)s->ncpus, sizeof(*s->online));
    s->links = calloc((size_t)s->ncpus, sizeof(struct bpf_link *));
    s->pfds = malloc((size_t)s->ncpus * sizeof(*s->pfds));
    if (!s->online || !s->links || !s->pfds) {
        free(s->online);
        free(s->links);
        free(s->pfds);
        s->online = NULL;
        s->links = NULL;
        s->pfds = NULL;
        seterr(err, errlen, "out of memory for the tables of %d CPUs", s->ncpus);
        return -ENOMEM;
    }
    for (int cpu = 0; cpu < s->ncpus; cpu++)
        s->pfds[cpu] = -1;
    return 0;
}

/* The scheduler's tracepoints, for off-CPU time. */
static int attach_sched(struct sampler *s, char *err, size_t errlen)
{
    struct profile_bpf *k = s->skel;
    struct {
        struct bpf_program *prog;
        struct bpf_link **link;
    } progs[] = {
        {k->progs.offcpu_exit, &k->links.offcpu_exit},
        {k->progs.offcpu_switch, &k->links.offcpu_switch},
    };

    for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
        if (*progs[i].link)
            continue;
        *progs[i].link = bpf_program__attach(progs[i].prog);
        if (!*progs[i].link) {
            int ret = -errno;

            seterr(err, errlen,
                   "cannot attach to the scheduler's tracepoint for %s: %s (off-CPU time needs "
                   "BTF tracepoints, 5.15 or later)",
                   bpf_program__name(progs[i].prog), strerror(-ret));
            return ret;
        }
    }
    s->intervals_closed = false;
    return 0;
}

static void detach_sched(struct sampler *s)
{
    struct bpf_link **links[] = {&s->skel->links.offcpu_switch, &s->skel->links.offcpu_exit};

    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        bpf_link__destroy(*links[i]);
        *links[i] = NULL;
    }
}

int sampler_start(struct sampler *s, char *err, size_t errlen)
{
    int ret;

    if (s->started)
        return 0;
    if (!s->loaded && (ret = load_program(s, err, errlen)))
        return ret;
    if (sampler_event_off_cpu(s->opts.event) && (ret = attach_sched(s, err, errlen)))
        return ret;
    if (!sampler_event_on_cpu(s->opts.event)) {
        s->event_name = "sched_switch";
        s->started = true;
        return 0;
    }
    if ((ret = alloc_cpu_tables(s, err, errlen)))
        return ret;
    if ((ret = read_online(s, err, errlen)))
        return ret;
    s->hw = true;
    for (int cpu = 0; cpu < s->ncpus; cpu++) {
        if (s->online[cpu] && (ret = attach_cpu(s, cpu, err, errlen)) < 0)
            return ret;
    }
    s->event_name = s->hw ? "cycles" : "cpu-clock";
    if (!s->nevents) {
        seterr(err, errlen,
               "could not open a perf event on any CPU (%s): the kernel needs "
               "CONFIG_PERF_EVENTS, and the rate must stay under "
               "kernel.perf_event_max_sample_rate (%ld now)",
               strerror(s->open_errno ? s->open_errno : ENODEV), sampler_max_sample_rate());
        return -ENODEV;
    }
    s->started = true;
    return 0;
}

int sampler_follow_cpus(struct sampler *s, char *err, size_t errlen)
{
    int ret;

    if (!s->started || !sampler_event_on_cpu(s->opts.event))
        return 0;
    if ((ret = read_online(s, err, errlen)))
        return ret;
    for (int cpu = 0; cpu < s->ncpus; cpu++) {
        /* an event whose CPU went offline samples nothing when it returns:
         * it is closed, and a new one opened once the CPU is back */
        if (!s->online[cpu] && s->links[cpu]) {
            detach_cpu(s, cpu);
            s->cpus_removed++;
        } else if (s->online[cpu] && !s->links[cpu]) {
            if ((ret = attach_cpu(s, cpu, err, errlen)) < 0)
                return ret;
            if (ret == 0)
                s->cpus_added++;
        }
    }
    return 0;
}

void sampler_stop(struct sampler *s)
{
    if (s->started) {
        s->cpus_at_stop = s->nevents;
        s->stop_ns = mono_ns();
    }
    for (int cpu = 0; s->links && cpu < s->ncpus; cpu++)
        detach_cpu(s, cpu);
    if (s->skel)
        detach_sched(s);
    s->started = false;
}

void sampler_close(struct sampler *s)
{
    if (!s)
        return;
    sampler_stop(s);
    free(s->links);
    free(s->pfds);
    free(s->online);
    ring_buffer__free(s->procs_rb);
    profile_bpf__destroy(s->skel);
    free(s->pids);
    free(s->cgroups);
    free(s->keys);
    htab_free(&s->kept_stacks);
    free(s);
}

const char *sampler_event_name(const struct sampler *s)
{
    return s->event_name ? s->event_name : "none";
}

static size_t read_stack(int fd, int32_t id, uint64_t *ips)
{
    size_t n = 0;

    if (id < 0 || bpf_map_lookup_elem(fd, &id, ips))
        return 0;
    while (n < PF_MAX_STACK_DEPTH && ips[n])
        n++;
    return n;
}

/* Off-CPU maps are read in batches, in bucket order: entries that come
 * and go meanwhile neither restart the walk nor show twice, as a walk by
 * keys would. */
#define BATCH 256

struct batch {
    uint32_t cursor;
    bool started, done;
};

/* The next batch of fd's entries, up to *count of them, into keys and
 * vals (deleted from the map too with and_delete); *count says how many
 * came. Returns 1 while more may follow, 0 after the last, or a negative
 * errno. */
static int next_batch(int fd, bool and_delete, struct batch *b, void *keys, void *vals,
                      uint32_t *count)
{
    int err;

    if (b->done) {
        *count = 0;
        return 0;
    }
    err = (and_delete ? bpf_map_lookup_and_delete_batch : bpf_map_lookup_batch)(
        fd, b->started ? &b->cursor : NULL, &b->cursor, keys, vals, count, NULL);
    b->started = true;
    if (err == -ENOENT) { /* the last batch: *count says what it holds */
        b->done = true;
        return 0;
    }
    return err ? err : 1;
}

static int stack_map_fd(const struct sampler *s, uint32_t slot)
{
    return bpf_map__fd(slot ? s->skel->maps.stacks1 : s->skel->maps.stacks0);
}

/* Hands fn a key with its stacks, read from slot's stack map. */
static int report_key(struct sampler *s, uint32_t slot, const struct pf_key *key, uint64_t count,
                      sampler_sample_fn fn, void *ctx)
{
    int sfd = stack_map_fd(s, slot);
    size_t nu = read_stack(sfd, key->user_stack_id, s->ustack);
    size_t nk = read_stack(sfd, key->kern_stack_id, s->kstack);

    return fn(ctx, key, count, s->ustack, nu, s->kstack, nk);
}

static int keep_stack(struct htab *kept, int32_t id)
{
    return id < 0 || htab_get(kept, &id, sizeof(id), NULL) ? 0 : htab_put(kept, &id, sizeof(id), 1);
}

/* The threads still off the CPU: with stop (after sampler_stop), each is
 * reported as if it had come back at the stop, and forgotten; without, the
 * stack ids of those whose stacks are in slot are kept, for the key added
 * when they come back. Read before the counts: a thread that came back
 * before this had its time added already, and one that comes back after is
 * kept. */
static int each_waiting(struct sampler *s, uint32_t slot, bool stop, sampler_sample_fn fn,
                        void *ctx)
{
    int fd = bpf_map__fd(s->skel->maps.offcpu_pending), more = 1, ret = 0;
    struct pf_offcpu_pending *vals = malloc(BATCH * sizeof(*vals));
    uint64_t stop_ns = (uint64_t)s->stop_ns;
    uint32_t tids[BATCH], count;
    struct batch b = {0};

    if (!vals)
        return -ENOMEM;
    while (more > 0 && !ret) {
        count = BATCH;
        if ((more = next_batch(fd, stop, &b, tids, vals, &count)) < 0)
            ret = more;
        for (uint32_t i = 0; i < count && !ret; i++) {
            const struct pf_offcpu_pending *p = &vals[i];

            if (!stop && p->slot == slot) {
                ret = keep_stack(&s->kept_stacks, p->key.user_stack_id);
                if (!ret)
                    ret = keep_stack(&s->kept_stacks, p->key.kern_stack_id);
            } else if (stop && fn && p->start_ns <= stop_ns &&
                       stop_ns - p->start_ns >= s->opts.min_block_ns &&
                       (s->opts.state_mask & (1u << p->key.state))) {
                ret = report_key(s, p->slot, &p->key, stop_ns - p->start_ns, fn, ctx);
            }
        }
    }
    free(vals);
    return ret;
}

/* Reads and deletes the late off-CPU intervals (bpf/profile.h: struct
 * pf_late_key); fn NULL only deletes them. */
static int drain_late(struct sampler *s, sampler_sample_fn fn, void *ctx)
{
    int fd = bpf_map__fd(s->skel->maps.offcpu_late), more = 1, ret = 0;
    struct pf_late_key *keys = malloc(BATCH * sizeof(*keys));
    uint64_t ns[BATCH];
    uint32_t count;
    struct batch b = {0};

    if (!keys)
        return -ENOMEM;
    while (more > 0) {
        count = BATCH;
        if ((more = next_batch(fd, true, &b, keys, ns, &count)) < 0 && !ret)
            ret = more;
        for (uint32_t i = 0; i < count && fn && !ret; i++)
            ret = report_key(s, keys[i].key_slot, &keys[i].key, ns[i], fn, ctx);
    }
    free(keys);
    return ret;
}

int sampler_drain(struct sampler *s, sampler_sample_fn fn, void *ctx)
{
    uint32_t old = s->skel->bss->active_slot;
    struct bpf_map *cmap = old ? s->skel->maps.counts1 : s->skel->maps.counts0;
    int cfd = bpf_map__fd(cmap), sfd = stack_map_fd(s, old);
    struct timespec grace = {0, SLOT_GRACE_NS};
    size_t nkeys = 0;
    bool off_cpu = sampler_event_off_cpu(s->opts.event);
    uint32_t sid, next_sid;
    void *prev = NULL;
    int ret = 0, err;

    if (!s->loaded)
        return 0; /* not started: nothing was sampled */
    __atomic_store_n(&s->skel->bss->active_slot, !old, __ATOMIC_SEQ_CST);
    nanosleep(&grace, NULL);

    if (off_cpu && !s->started && !s->intervals_closed) {
        ret = each_waiting(s, old, true, fn, ctx);
        s->intervals_closed = true;
    }
    /* without the waiting threads' stack ids, clearing the slot's stack
     * map could give them to other stacks: leave the slot for its next
     * drain */
    htab_free(&s->kept_stacks);
    htab_init(&s->kept_stacks);
    if (off_cpu && (err = each_waiting(s, old, false, NULL, NULL)))
        return ret ? ret : err;
    /* late intervals before the stacks are cleared: a late one's thread
     * was waiting, its stacks kept, until its time was written */
    if (off_cpu && (err = drain_late(s, ret ? NULL : fn, ctx)) && !ret)
        ret = err;

    while (nkeys < s->opts.max_keys && bpf_map_get_next_key(cfd, prev, &s->keys[nkeys]) == 0) {
        prev = &s->keys[nkeys];
        nkeys++;
    }
    /* After the flip and its grace period nothing adds to this slot (late
     * off-CPU time goes to offcpu_late): each key is read and deleted. */
    for (size_t i = 0; i < nkeys; i++) {
        uint64_t count;

        if (bpf_map_lookup_and_delete_elem(cfd, &s->keys[i], &count) || ret)
            continue;
        ret = report_key(s, old, &s->keys[i], count, fn, ctx);
    }
    /* clear the whole stack map, including stacks of samples lost to a full
     * count map, so the next round starts with every bucket free; but the
     * stacks of threads still off the CPU stay */
    if (bpf_map_get_next_key(sfd, NULL, &sid) == 0) {
        for (;;) {
            int more = bpf_map_get_next_key(sfd, &sid, &next_sid) == 0;

            if (!htab_get(&s->kept_stacks, &sid, sizeof(sid), NULL))
                bpf_map_delete_elem(sfd, &sid);
            if (!more)
                break;
            sid = next_sid;
        }
    }
    return ret;
}

int sampler_get_stats(const struct sampler *s, struct sampler_stats *out)
{
    int ncpus = libbpf_num_possible_cpus();
    int fd = bpf_map__fd(s->skel->maps.stats);
    uint64_t *vals;

    memset(out, 0, sizeof(*out));
    if (!s->loaded)
        return 0;
    if (ncpus <= 0)
        return ncpus ? ncpus : -EINVAL;
    vals = calloc((size_t)ncpus, sizeof(*vals));
    if (!vals)
        return -ENOMEM;
    for (uint32_t i = 0; i < PF_STAT__MAX; i++) {
        if (bpf_map_lookup_elem(fd, &i, vals))
            continue;
        for (int c = 0; c < ncpus; c++)
            out->counters[i] += vals[c];
    }
    free(vals);
    out->cpus = s->started ? s->nevents : s->cpus_at_stop;
    out->cpus_failed = s->cpus_failed;
    out->cpus_added = s->cpus_added;
    out->cpus_removed = s->cpus_removed;
    return 0;
}

long sampler_max_sample_rate(void)
{
    return read_long("/proc/sys/kernel/perf_event_max_sample_rate", -1);
}
