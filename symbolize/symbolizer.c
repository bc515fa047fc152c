#include "symbolize/symbolizer.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

#include "formats/clock.h"
#include "formats/buf.h"
#include "formats/htab.h"
#include "symbolize/debuginfo.h"
#include "symbolize/demangle.h"
#include "symbolize/elfsyms.h"
#include "symbolize/perfmap.h"
#include "symbolize/kallsyms.h"
#include "symbolize/procmaps.h"

/* Re-read a process's maps on a lookup miss at most this often (dlopen). */
#define MAPS_REFRESH_NS (200 * 1000000LL)
/* Re-read a JIT's perf map on a lookup miss at most this often. */
#define JIT_REFRESH_NS (1000 * 1000000LL)

struct binary {
    uint32_t id;   /* never reused: a stale id finds nothing */
    uint32_t refs; /* mappings of tracked processes that hold it */
    char *path;
    struct elfsyms *syms; /* NULL when it could not be read */
    struct debuginfo *di; /* NULL when it could not be read */
    bool di_tried;        /* di is opened on the first lookup that needs it */
    bool dwarf_counted;   /* its DWARF's source is in the stats */
    uint64_t lines_gen;   /* == symbolizer's: lines are still wanted, keep it */
    uint64_t last_use;    /* symbolizer tick of the last lookup */
    bool evicted;         /* parsed state dropped; parsed again on the next lookup */
};

struct process {
    struct vma *vmas;
    size_t nvmas;
    uint32_t *binary_ids; /* per vma; 0 = anonymous or unreadable */
    int64_t read_ns;
    bool gone;
    struct perfmap *jit; /* /tmp/perf-PID.map, read on the first JIT frame */
    int64_t jit_read_ns;
    off_t jit_size;
    pid_t pid;
    bool missed;    /* a lookup missed since the last read */
    bool exit_seen; /* gone at the last sweep: dropped at the next */
    bool dropped;   /* state freed; a new process with this PID starts over */
};

struct bin_key {
    uint32_t major, minor;
    uint64_t inode;
};

struct symbolizer {
    struct htab bin_index; /* bin_key -> binary id */
    struct htab bin_slots; /* binary id -> index into bins */
    struct binary *bins;
    size_t nbins, bins_cap;
    uint32_t last_id;
    struct htab proc_index; /* pid -> index into procs */
    struct process *procs;
    size_t nprocs, procs_cap;
    uint32_t vdso_id;
    struct kallsyms *kernel;
    bool kernel_loaded;
    struct demangler *dm;
    char *debug_path;      /* libdwfl's search path */
    struct htab build_ids; /* hex build ID -> binary id: one parse per image */
    size_t max_loaded, nloaded;
    size_t max_cached; /* debuginfo cache entries over all binaries */
    uint64_t tick;
    uint64_t lines_gen; /* bumped by symbolizer_lines_done */
    struct symbolizer_stats stats;
};

/* Binaries kept parsed at once, by default; the least recently used beyond
 * it are dropped and parsed again when needed. */
#define DEFAULT_MAX_BINARIES 512

#define DEFAULT_DEBUG_PATH "/usr/lib/debug"

int symbolizer_new(struct symbolizer **out)
{
    struct symbolizer *s = calloc(1, sizeof(*s));

    if (!s)
        return -ENOMEM;
    htab_init(&s->bin_index);
    htab_init(&s->bin_slots);
    htab_init(&s->proc_index);
    htab_init(&s->build_ids);
    s->max_loaded = DEFAULT_MAX_BINARIES;
    s->lines_gen = 1; /* no binary's 0 matches: nothing is kept for lines yet */
    if (demangler_new(true, &s->dm) || !(s->debug_path = strdup(DEFAULT_DEBUG_PATH))) {
        symbolizer_free(s);
        return -ENOMEM;
    }
    *out = s;
    return 0;
}

int symbolizer_configure(struct symbolizer *s, const struct symbolizer_opts *o)
{
    struct buf path = {0};
    char timeout[16];
    int err = 0;

    /* the host's directories only: what is beside a binary is looked for
     * inside its process's root (debuginfo.h) */
    for (size_t i = 0; !err && i < o->ndebug_dirs; i++) {
        err = buf_put(&path, o->debug_dirs[i], strlen(o->debug_dirs[i]));
        if (!err)
            err = buf_put(&path, ":", 1);
    }
    if (!err)
        err = buf_put(&path, "/usr/lib/debug", 14);
    if (err) {
        free(path.d);
        return -ENOMEM;
    }
    free(s->debug_path);
    s->debug_path = path.d;
    s->max_loaded = o->max_binaries ? o->max_binaries : DEFAULT_MAX_BINARIES;
    s->max_cached = o->max_cached ? o->max_cached : (size_t)4 << 20;
    demangler_free(s->dm);
    s->dm = NULL;
    if (demangler_new(!o->no_demangle, &s->dm))
        return -ENOMEM;
    /* libdwfl asks libdebuginfod, which reads its settings from the
     * environment: the server list, and a timeout far below its default
     * 90 s, so that a slow server holds up symbolization only briefly */
    if (o->debuginfod_urls && setenv("DEBUGINFOD_URLS", o->debuginfod_urls, 1))
        return -errno;
    snprintf(timeout, sizeof(timeout), "%d",
             o->debuginfod_timeout_s > 0 ? o->debuginfod_timeout_s : 5);
    if ((o->debuginfod_timeout_s > 0 || !getenv("DEBUGINFOD_TIMEOUT")) &&
        setenv("DEBUGINFOD_TIMEOUT", timeout, 1))
        return -errno;
    if (!getenv("DEBUGINFOD_MAXTIME") && setenv("DEBUGINFOD_MAXTIME", "60", 1))
        return -errno;
    /* a server (or whoever answers for it) sends no more than this */
    if (!getenv("DEBUGINFOD_MAXSIZE") && setenv("DEBUGINFOD_MAXSIZE", "2147483648", 1))
        return -errno;
    return 0;
}

static struct binary *bin_get(struct symbolizer *s, uint32_t id)
{
    uint64_t idx;

    return id && htab_get(&s->bin_slots, &id, sizeof(id), &idx) ? &s->bins[idx] : NULL;
}

static void process_clear_maps(struct symbolizer *s, struct process *p)
{
    for (size_t i = 0; p->binary_ids && i < p->nvmas; i++) {
        struct binary *b = bin_get(s, p->binary_ids[i]);

        if (b && b->refs)
            b->refs--;
    }
    procmaps_free(p->vmas, p->nvmas);
    free(p->binary_ids);
    p->vmas = NULL;
    p->binary_ids = NULL;
    p->nvmas = 0;
}

static void process_clear(struct symbolizer *s, struct process *p)
{
    process_clear_maps(s, p);
    perfmap_free(p->jit);
    p->jit = NULL;
    p->jit_read_ns = 0;
    p->jit_size = 0;
}

void symbolizer_free(struct symbolizer *s)
{
    if (!s)
        return;
    /* processes first: clearing one releases its binaries */
    for (size_t i = 0; i < s->nprocs; i++)
        process_clear(s, &s->procs[i]);
    free(s->procs);
    for (size_t i = 0; i < s->nbins; i++) {
        free(s->bins[i].path);
        elfsyms_free(s->bins[i].syms);
        debuginfo_free(s->bins[i].di);
    }
    free(s->bins);
    htab_free(&s->bin_index);
    htab_free(&s->bin_slots);
    htab_free(&s->proc_index);
    htab_free(&s->build_ids);
    kallsyms_free(s->kernel);
    demangler_free(s->dm);
    free(s->debug_path);
    free(s);
}

static int add_binary(struct symbolizer *s, const char *path, struct elfsyms *syms,
                      struct debuginfo *di, uint32_t *id)
{
    struct binary *nb;
    uint32_t new_id = s->last_id + 1;

    if (ARRAY_RESERVE_ONE(s->bins, s->nbins, s->bins_cap) ||
        htab_put(&s->bin_slots, &new_id, sizeof(new_id), s->nbins))
        return -ENOMEM;
    nb = &s->bins[s->nbins];
    *nb = (struct binary){.id = new_id,
                          .path = strdup(path),
                          .syms = syms,
                          .di = di,
                          .di_tried = di != NULL,
                          .last_use = ++s->tick};
    if (!nb->path)
        return -ENOMEM;
    s->nbins++;
    *id = s->last_id = new_id;
    s->nloaded++;
    s->stats.binaries++;
    if (!syms)
        s->stats.binaries_bad++;
    return 0;
}

/* The vDSO is the same image in every process: read our own copy once. */
static int vdso_binary(struct symbolizer *s, uint32_t *id)
{
    unsigned long base = getauxval(AT_SYSINFO_EHDR);
    struct elfsyms *syms = NULL;
    struct vma *self = NULL;
    size_t n = 0;
    int err;

    if (s->vdso_id) {
        *id = s->vdso_id;
        return 0;
    }
    if (base && procmaps_read(getpid(), &self, &n) == 0) {
        const struct vma *v = procmaps_find(self, n, base);

        if (v)
            elfsyms_load_mem((const void *)(uintptr_t)v->start, // NOLINT(performance-no-int-to-ptr)
                             v->end - v->start, &syms);
        procmaps_free(self, n);
    }
    err = add_binary(s, "[vdso]", syms, NULL, &s->vdso_id);
    if (err)
        elfsyms_free(syms);
    *id = s->vdso_id;
    return err;
}

/* Drops the parsed state of the least recently used binaries beyond the
 * limit, except keep (the one being used). The vDSO is never dropped: it
 * cannot be read again from a file. A binary whose lines are still to be
 * looked up stays (its processes may be gone, and with them the way to
 * reopen it), up to a hard limit half as large again (64 more at least):
 * past that, the
 * least recently used of those go too, and their frames keep the symbol
 * table's names without lines (counted). */
static void evict_binaries(struct symbolizer *s, uint32_t keep)
{
    size_t hard = s->max_loaded + (s->max_loaded / 2 > 64 ? s->max_loaded / 2 : 64);

    while (s->nloaded > s->max_loaded) {
        struct binary *lru = NULL, *lru_pinned = NULL;

        for (size_t i = 0; i < s->nbins; i++) {
            struct binary *b = &s->bins[i];

            if (b->evicted || b->id == keep || b->id == s->vdso_id)
                continue;
            if (b->lines_gen != s->lines_gen) {
                if (!lru || b->last_use < lru->last_use)
                    lru = b;
            } else if (!lru_pinned || b->last_use < lru_pinned->last_use) {
                lru_pinned = b;
            }
        }
        if (!lru && s->nloaded > hard && lru_pinned) {
            lru = lru_pinned;
            s->stats.lines_dropped++;
        }
        if (!lru)
            return;
        elfsyms_free(lru->syms);
        debuginfo_free(lru->di);
        lru->syms = NULL;
        lru->di = NULL;
        lru->di_tried = false;
        lru->evicted = true;
        s->nloaded--;
        s->stats.binaries_evicted++;
    }
}

/* Keeps the entries of a table whose value is a binary id still held. */
static int rebuild_ids(struct symbolizer *s, struct htab *h)
{
    struct htab fresh;

    htab_init(&fresh);
    for (size_t i = 0; i < h->cap; i++) {
        const struct htab_slot *sl = &h->slots[i];

        if (sl->hash && bin_get(s, (uint32_t)sl->val) &&
            htab_put(&fresh, sl->key, sl->len, sl->val)) {
            htab_free(&fresh);
            return -ENOMEM;
        }
    }
    htab_free(h);
    *h = fresh;
    return 0;
}

/* Evicted, mapped by no tracked process, its lines not wanted, not the
 * vDSO: nothing needs it any more. */
static bool unused_binary(const struct symbolizer *s, const struct binary *b)
{
    return b->evicted && !b->refs && b->lines_gen != s->lines_gen && b->id != s->vdso_id;
}

/* Forgets binaries that nothing needs any more: evicted, mapped by no
 * tracked process, their lines not wanted. Without this a node that runs
 * ever new binaries (each container image, each memfd) would keep an entry
 * for every one it ever saw. Their ids are never given again, so a caller
 * holding one finds nothing rather than another binary. */
static void forget_binaries(struct symbolizer *s)
{
    struct htab slots;
    size_t unused = 0, w = 0;

    for (size_t i = 0; i < s->nbins; i++) {
        const struct binary *b = &s->bins[i];

        unused += unused_binary(s, b);
    }
    if (unused < 256 || unused * 4 < s->nbins)
        return;
    /* the new index first: out of memory, nothing has changed */
    htab_init(&slots);
    for (size_t i = 0; i < s->nbins; i++) {
        const struct binary *b = &s->bins[i];

        if (unused_binary(s, b))
            continue;
        if (htab_put(&slots, &b->id, sizeof(b->id), w++)) {
            htab_free(&slots);
            return;
        }
    }
    w = 0;
    for (size_t i = 0; i < s->nbins; i++) {
        struct binary *b = &s->bins[i];

        if (unused_binary(s, b)) {
            free(b->path);
            s->stats.binaries_forgotten++;
            continue;
        }
        s->bins[w++] = *b;
    }
    s->nbins = w;
    htab_free(&s->bin_slots);
    s->bin_slots = slots;
    /* out of memory here leaves entries naming forgotten ids, which
     * lookups treat as absent */
    rebuild_ids(s, &s->bin_index);
    rebuild_ids(s, &s->build_ids);
}

/* Symbols of the file at fd; its DWARF waits for a lookup that needs it
 * (binary_debuginfo): most libraries a process maps are never sampled. A
 * file that cannot be parsed, for whatever reason, leaves *syms NULL: one
 * binary never makes symbolization fail. */
static void parse_binary(struct symbolizer *s, int fd, struct elfsyms **syms)
{
    *syms = NULL;
    elfsyms_load_fd(fd, syms);
    if (*syms && elfsyms_too_large(*syms))
        s->stats.binaries_too_large++;
}

/* pid's root directory, for the debug-file search: an fd when it is not
 * the host's (a container's), DEBUGINFO_HOST_ROOT when it is, and
 * DEBUGINFO_UNKNOWN_ROOT when the process is gone (never the host's in its
 * place: the paths are the container's). */
static int process_root(pid_t pid)
{
    struct stat mine, its;
    char path[64];
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
    if ((fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 || fstat(fd, &its) ||
        stat("/", &mine)) {
        if (fd >= 0)
            close(fd);
        return DEBUGINFO_UNKNOWN_ROOT;
    }
    if (its.st_dev == mine.st_dev && its.st_ino == mine.st_ino) {
        close(fd);
        return DEBUGINFO_HOST_ROOT;
    }
    return fd;
}

/* The binary's debuginfo handle, opened through the mapping at hand on the
 * first call: its CFI for unwinding, its DWARF on demand. NULL when the
 * file is gone or has no symbols. */
static struct debuginfo *binary_debuginfo(struct symbolizer *s, pid_t pid, const struct vma *v,
                                          struct binary *b)
{
    int fd, rootfd;

    if (b->di || b->di_tried || !b->syms)
        return b->di;
    b->di_tried = true;
    if ((fd = procmaps_open_file(pid, v)) < 0)
        return NULL;
    rootfd = process_root(pid);
    debuginfo_open(fd, rootfd, b->path, s->debug_path, s->dm, &b->di);
    if (rootfd >= 0)
        close(rootfd);
    close(fd);
    return b->di;
}

/* The DWARF of a binary whose handle is open; NULL when there is none. */
static struct debuginfo *loaded_dwarf(struct symbolizer *s, struct binary *b)
{
    enum debuginfo_source src;

    if (!b->di)
        return NULL;
    src = debuginfo_load_dwarf(b->di);
    if (!b->dwarf_counted) {
        b->dwarf_counted = true;
        s->stats.debug_refused += debuginfo_refused(b->di);
        s->stats.debug_embedded += src == DEBUGINFO_EMBEDDED;
        s->stats.debug_separate += src == DEBUGINFO_SEPARATE;
        s->stats.debug_debuginfod += src == DEBUGINFO_DEBUGINFOD;
    }
    return src == DEBUGINFO_NONE ? NULL : b->di;
}

static int binary_for_vma(struct symbolizer *s, pid_t pid, const struct vma *v, uint32_t *id)
{
    struct bin_key key = {v->dev_major, v->dev_minor, v->inode};
    struct elfsyms *syms = NULL;
    struct debuginfo *di = NULL;
    char build_id[129] = "";
    uint64_t val;
    int fd, err;

    *id = 0;
    if (strcmp(v->path, "[vdso]") == 0)
        return vdso_binary(s, id);
    if (!v->inode || v->path[0] != '/')
        return 0; /* anonymous: JIT code, [vsyscall], ... */
    if (htab_get(&s->bin_index, &key, sizeof(key), &val) && bin_get(s, (uint32_t)val)) {
        *id = (uint32_t)val;
        return 0;
    }
    fd = procmaps_open_file(pid, v);
    /* the same image under another inode (a copy, another container's
     * layer): its build ID finds the binary already parsed */
    if (fd >= 0 && elfsyms_build_id_fd(fd, build_id) == 0 &&
        htab_get(&s->build_ids, build_id, strlen(build_id), &val) && bin_get(s, (uint32_t)val)) {
        close(fd);
        *id = (uint32_t)val;
        s->stats.binaries_shared++;
        return htab_put(&s->bin_index, &key, sizeof(key), *id);
    }
    if (fd >= 0) {
        parse_binary(s, fd, &syms); /* an unreadable file still gets an id */
        close(fd);
    }
    if ((err = add_binary(s, v->path, syms, di, id))) {
        elfsyms_free(syms);
        debuginfo_free(di);
        return err;
    }
    if (build_id[0] && (err = htab_put(&s->build_ids, build_id, strlen(build_id), *id)))
        return err;
    evict_binaries(s, *id);
    return htab_put(&s->bin_index, &key, sizeof(key), *id);
}

/* Parses an evicted binary again, through the mapping at hand. */
static int reload_binary(struct symbolizer *s, pid_t pid, const struct vma *v, uint32_t id)
{
    struct binary *b = bin_get(s, id);
    int fd = procmaps_open_file(pid, v);

    if (fd < 0)
        return 0; /* gone: it stays unnamed */
    parse_binary(s, fd, &b->syms);
    close(fd);
    b->evicted = false;
    s->nloaded++;
    s->stats.binaries_reloaded++;
    evict_binaries(s, id);
    return 0;
}

static int read_process(struct symbolizer *s, pid_t pid, struct process *p)
{
    struct vma *vmas;
    size_t n;
    int err = procmaps_read(pid, &vmas, &n);

    p->read_ns = mono_ns();
    /* A read can fail while the process is in the middle of an exec: only
     * a process that no longer exists is gone; else the next lookup that
     * misses reads again. */
    if (err == -ESRCH && kill(pid, 0) == 0)
        err = -EAGAIN;
    if (err) {
        if (err == -ESRCH)
            p->gone = true;
        return err;
    }
    /* An exited process not yet reaped (a zombie) has empty maps: keep the
     * snapshot, which is what its samples need. */
    if (n == 0 && p->nvmas) {
        procmaps_free(vmas, n);
        p->gone = true;
        return -ESRCH;
    }
    process_clear_maps(s, p);
    p->vmas = vmas;
    p->nvmas = n;
    p->missed = false;
    p->binary_ids = calloc(n ? n : 1, sizeof(*p->binary_ids));
    if (!p->binary_ids)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct binary *b;

        if ((err = binary_for_vma(s, pid, &vmas[i], &p->binary_ids[i])))
            return err;
        if ((b = bin_get(s, p->binary_ids[i])))
            b->refs++;
    }
    return 0;
}

static struct process *find_process(struct symbolizer *s, pid_t pid)
{
    uint32_t key = (uint32_t)pid;
    uint64_t idx;

    return htab_get(&s->proc_index, &key, sizeof(key), &idx) ? &s->procs[idx] : NULL;
}

/* The PID the process has in its own PID namespace (the last NSpid field),
 * which names its perf map there. */
static pid_t namespaced_pid(pid_t pid)
{
    char path[64], *line = NULL;
    size_t cap = 0;
    pid_t ns = pid;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (!(f = fopen(path, "re")))
        return pid;
    while (getline(&line, &cap, f) >= 0) {
        if (strncmp(line, "NSpid:", 6) == 0) {
            char *last = strrchr(line, '\t');

            if (last)
                ns = (pid_t)atoi(last + 1);
            break;
        }
    }
    free(line);
    fclose(f);
    return ns > 0 ? ns : pid;
}

/* Reads the process's perf map when it has none yet, or when it grew and
 * the last read is old enough. A missing map is not an error. */
static int refresh_jit(struct symbolizer *s, pid_t pid, struct process *p)
{
    struct perfmap *pm;
    struct stat st;
    char path[64];
    int fd, err;
    FILE *f;

    if (p->jit && mono_ns() - p->jit_read_ns < JIT_REFRESH_NS)
        return 0;
    if (!p->jit && p->jit_read_ns && mono_ns() - p->jit_read_ns < JIT_REFRESH_NS)
        return 0;
    p->jit_read_ns = mono_ns();
    snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)namespaced_pid(pid));
    if ((fd = procmaps_open_in_root(pid, path)) < 0)
        return 0;
    if (fstat(fd, &st) || st.st_size == p->jit_size) {
        close(fd);
        return 0;
    }
    if ((uint64_t)st.st_size > PERFMAP_MAX_BYTES) {
        close(fd);
        p->jit_size = st.st_size; /* counted once, read again if it changes */
        s->stats.jit_too_large++;
        return 0;
    }
    if (!(f = fdopen(fd, "r"))) {
        close(fd);
        return 0;
    }
    err = perfmap_read(f, &pm);
    fclose(f);
    if (err == -ENOMEM)
        return err;
    if (err) {
        s->stats.jit_too_large += err == -EFBIG;
        return 0;
    }
    s->stats.jit_truncated += perfmap_truncated(pm);
    perfmap_free(p->jit);
    p->jit = pm;
    p->jit_size = st.st_size;
    s->stats.jit_maps++;
    s->stats.jit_bad_lines += perfmap_bad_lines(pm);
    return 0;
}

static int jit_name(struct symbolizer *s, pid_t pid, struct process *p, uint64_t addr,
                    struct sym_frame *out)
{
    const char *name = perfmap_lookup(p->jit, addr);
    int err;

    if (!name && !p->gone) {
        if ((err = refresh_jit(s, pid, p)))
            return err;
        name = perfmap_lookup(p->jit, addr);
    }
    if (name) {
        out->name = name;
        out->jit = true;
        out->module = "[jit]";
    }
    return 0;
}

/* The mapping of addr in pid. A miss means something was dlopen'ed or
 * mapped since the snapshot, or the snapshot was taken as the process
 * exec'd: the first miss after a read reads again at once (callers cache
 * what they get), later ones at most every MAPS_REFRESH_NS. NULL when
 * unmapped, with *err set to -ENOMEM when that is why. */
static const struct vma *find_vma(struct symbolizer *s, pid_t pid, struct process *p, uint64_t addr,
                                  int *err)
{
    const struct vma *v = procmaps_find(p->vmas, p->nvmas, addr);

    *err = 0;
    if (!v && !p->gone && (!p->missed || mono_ns() - p->read_ns > MAPS_REFRESH_NS)) {
        if (read_process(s, pid, p) == -ENOMEM)
            *err = -ENOMEM;
        p->missed = true;
        v = procmaps_find(p->vmas, p->nvmas, addr);
    }
    return v;
}

int symbolizer_add_process(struct symbolizer *s, pid_t pid)
{
    struct process *p = find_process(s, pid);
    uint32_t key = (uint32_t)pid;
    int err;

    if (!p) {
        if (ARRAY_RESERVE_ONE(s->procs, s->nprocs, s->procs_cap))
            return -ENOMEM;
        if ((err = htab_put(&s->proc_index, &key, sizeof(key), s->nprocs)))
            return err;
        p = &s->procs[s->nprocs++];
        memset(p, 0, sizeof(*p));
        p->pid = pid;
    }
    /* Seen again (after an exec): the address space is new. */
    process_clear(s, p);
    p->gone = false;
    p->exit_seen = false;
    p->dropped = false;
    err = read_process(s, pid, p);
    if (err == -ESRCH)
        s->stats.maps_failed++;
    else if (!err)
        s->stats.processes++;
    return err;
}

/* Where a user address is: the process, its mapping, the binary behind it
 * (parsed again if it was evicted) and the ELF virtual address. */
struct place {
    struct process *p;   /* NULL: the process is unknown and gone */
    const struct vma *v; /* NULL: no mapping holds the address */
    struct binary *b;    /* NULL: an anonymous mapping */
    uint32_t bid;
    bool has_vaddr; /* the binary's symbols map the address */
    uint64_t vaddr;
};

static int locate(struct symbolizer *s, pid_t pid, uint64_t addr, struct place *pl)
{
    int err;

    memset(pl, 0, sizeof(*pl));
    pl->p = find_process(s, pid);
    /* new, or dropped: a late sample, or a new process with a reused PID */
    if (!pl->p || pl->p->dropped) {
        if (symbolizer_add_process(s, pid) == -ENOMEM)
            return -ENOMEM;
        pl->p = find_process(s, pid);
    }
    if (!pl->p || !(pl->v = find_vma(s, pid, pl->p, addr, &err)))
        return pl->p ? err : 0;
    if (!(pl->bid = pl->p->binary_ids[pl->v - pl->p->vmas]))
        return 0;
    if (!(pl->b = bin_get(s, pl->bid)))
        return 0;
    pl->b->last_use = ++s->tick;
    if (pl->b->evicted && reload_binary(s, pid, pl->v, pl->bid))
        return -ENOMEM;
    pl->has_vaddr =
        pl->b->syms &&
        !elfsyms_file_to_vaddr(pl->b->syms, addr - pl->v->start + pl->v->offset, &pl->vaddr);
    return 0;
}

/* symbolizer_user, with the DWARF lines or without them (names_only:
 * the binary's handle is opened and kept for symbolizer_user_lines). */
static int user_frame(struct symbolizer *s, pid_t pid, uint64_t addr, bool is_return,
                      bool names_only, struct sym_frame *out)
{
    uint64_t lvaddr;
    struct place pl;
    int err;

    out->name = NULL;
    out->nlines = 0;
    out->binary_id = 0;
    out->kernel = false;
    out->jit = false;
    out->module = "";
    out->build_id = "";
    out->addr = out->func_start = addr;
    if ((err = locate(s, pid, addr, &pl)) || !pl.p)
        return err;
    if (!pl.b) {
        if (pl.v)
            out->module = pl.v->path;
        return jit_name(s, pid, pl.p, addr, out);
    }
    out->binary_id = pl.bid;
    out->module = pl.b->path;
    if (pl.b->syms)
        out->build_id = elfsyms_build_id(pl.b->syms);
    if (!pl.has_vaddr)
        return 0;
    out->addr = out->func_start = pl.vaddr;
    /* a return address: name the call before it */
    lvaddr = is_return && addr ? pl.vaddr - 1 : pl.vaddr;
    out->name = demangler_name(s->dm, elfsyms_lookup(pl.b->syms, lvaddr, NULL));
    /* no symbol (a stripped library's internal code): its function's start
     * by .eh_frame, so that every address in it is one frame, not one per
     * instruction */
    if (!out->name && binary_debuginfo(s, pid, pl.v, pl.b))
        debuginfo_fde_start(pl.b->di, lvaddr, &out->func_start);
    if (names_only) {
        if (binary_debuginfo(s, pid, pl.v, pl.b))
            pl.b->lines_gen = s->lines_gen;
    } else if (binary_debuginfo(s, pid, pl.v, pl.b) && loaded_dwarf(s, pl.b)) {
        out->nlines = debuginfo_lookup(pl.b->di, lvaddr, out->lines, SYM_MAX_INLINE);
    }
    return 0;
}

int symbolizer_user(struct symbolizer *s, pid_t pid, uint64_t addr, bool is_return,
                    struct sym_frame *out)
{
    return user_frame(s, pid, addr, is_return, false, out);
}

int symbolizer_user_name(struct symbolizer *s, pid_t pid, uint64_t addr, bool is_return,
                         struct sym_frame *out)
{
    return user_frame(s, pid, addr, is_return, true, out);
}

size_t symbolizer_user_lines(struct symbolizer *s, uint32_t binary_id, uint64_t vaddr,
                             bool is_return, struct sym_line *lines, size_t max)
{
    struct binary *b;

    if (!(b = bin_get(s, binary_id)) || b->evicted || !loaded_dwarf(s, b))
        return 0;
    b->last_use = ++s->tick;
    return debuginfo_lookup(b->di, is_return && vaddr ? vaddr - 1 : vaddr, lines, max);
}

void symbolizer_lines_done(struct symbolizer *s)
{
    s->lines_gen++;
}

int symbolizer_frame_rule(struct symbolizer *s, pid_t pid, uint64_t addr, struct frame_rule *out)
{
    struct place pl;
    int err;

    out->kind = FRAME_RULE_COMPLEX;
    if ((err = locate(s, pid, addr, &pl)))
        return err;
    if (pl.has_vaddr && binary_debuginfo(s, pid, pl.v, pl.b))
        debuginfo_frame_rule(pl.b->di, pl.vaddr, out);
    return 0;
}

int symbolizer_frameless_slot(struct symbolizer *s, pid_t pid, uint64_t addr)
{
    struct frame_rule r;

    /* no frame yet: the CFA is %rsp-based and the return address is the
     * word just below it */
    if (symbolizer_frame_rule(s, pid, addr, &r) || r.kind != FRAME_RULE_SIMPLE || r.cfa_reg != 7 ||
        r.cfa_off < 8 || r.cfa_off % 8)
        return -1;
    return (r.cfa_off - 8) / 8;
}

int symbolizer_maps_text(struct symbolizer *s, pid_t pid, char **text, size_t *len)
{
    const struct process *p = find_process(s, pid);
    struct buf b = {0};
    char line[4200];

    if (!p || !p->nvmas)
        return -ESRCH;
    for (size_t i = 0; i < p->nvmas; i++) {
        const struct vma *v = &p->vmas[i];
        int n = snprintf(line, sizeof(line), "%llx-%llx %s %llx %02x:%02x %llu %s\n",
                         (unsigned long long)v->start, (unsigned long long)v->end, v->perms,
                         (unsigned long long)v->offset, v->dev_major, v->dev_minor,
                         (unsigned long long)v->inode, v->path);

        if (n > 0 && (size_t)n < sizeof(line) && buf_put(&b, line, (size_t)n)) {
            free(b.d);
            return -ENOMEM;
        }
    }
    *text = b.d;
    *len = b.len;
    return b.d ? 0 : -ESRCH;
}

int symbolizer_load_kernel(struct symbolizer *s)
{
    int err;

    if (s->kernel_loaded)
        return 0;
    err = kallsyms_load(&s->kernel);
    if (err == -ENOMEM)
        return err;
    s->kernel_loaded = true;
    s->stats.kernel_missing = err != 0;
    s->stats.kernel_restricted = !err && kallsyms_restricted(s->kernel);
    return 0;
}

int symbolizer_kernel(struct symbolizer *s, uint64_t addr, struct sym_frame *out)
{
    const char *module = "";
    int err;

    out->name = NULL;
    out->nlines = 0;
    out->binary_id = 0;
    out->jit = false;
    out->module = "";
    out->build_id = "";
    out->addr = out->func_start = addr;
    out->kernel = true;
    if ((err = symbolizer_load_kernel(s)))
        return err;
    if (s->kernel)
        out->name = kallsyms_lookup(s->kernel, addr, &module, NULL);
    out->module = module;
    return 0;
}

/* A dropped process keeps its slot so that a late sample finds it; once
 * most slots are dropped ones (a node that runs many short processes), they
 * go, so that the table follows the live processes, not every PID seen. */
static void compact_processes(struct symbolizer *s)
{
    struct htab index;
    size_t live = 0, w = 0;

    for (size_t i = 0; i < s->nprocs; i++)
        live += !s->procs[i].dropped;
    if (s->nprocs - live < 4096 || (s->nprocs - live) * 2 < s->nprocs)
        return;
    htab_init(&index);
    for (size_t i = 0; i < s->nprocs; i++) {
        uint32_t key = (uint32_t)s->procs[i].pid;

        if (s->procs[i].dropped)
            continue;
        if (htab_put(&index, &key, sizeof(key), w++)) {
            htab_free(&index);
            return; /* out of memory: stay as we are */
        }
    }
    w = 0;
    for (size_t i = 0; i < s->nprocs; i++) {
        if (!s->procs[i].dropped)
            s->procs[w++] = s->procs[i];
    }
    s->nprocs = w;
    htab_free(&s->proc_index);
    s->proc_index = index;
}

/* Each binary's lookup and frame-rule caches are bounded on their own, but
 * many binaries times that is not: over the budget, all start over (the hot
 * entries come back within a second). */
static void bound_caches(struct symbolizer *s)
{
    size_t total = 0;

    for (size_t i = 0; i < s->nbins; i++) {
        if (s->bins[i].di)
            total += debuginfo_cached(s->bins[i].di);
    }
    if (total <= s->max_cached)
        return;
    for (size_t i = 0; i < s->nbins; i++) {
        if (s->bins[i].di)
            debuginfo_drop_cache(s->bins[i].di);
    }
    s->stats.cache_resets++;
}

int symbolizer_forget_exited(struct symbolizer *s)
{
    size_t dropped = 0;

    for (size_t i = 0; i < s->nprocs; i++) {
        struct process *p = &s->procs[i];

        if (p->dropped)
            continue;
        if (kill(p->pid, 0) == 0 || errno != ESRCH) {
            p->exit_seen = false;
            continue;
        }
        if (!p->exit_seen) {
            p->exit_seen = true; /* samples may still be on their way */
            continue;
        }
        process_clear(s, p);
        p->gone = p->dropped = true;
        s->stats.processes_dropped++;
        dropped++;
    }
    compact_processes(s);
    forget_binaries(s);
    bound_caches(s);
    return (int)dropped;
}

void symbolizer_release_pages(struct symbolizer *s)
{
    for (size_t i = 0; i < s->nbins; i++) {
        if (s->bins[i].di)
            debuginfo_release_pages(s->bins[i].di);
    }
}

void symbolizer_get_stats(const struct symbolizer *s, struct symbolizer_stats *out)
{
    *out = s->stats;
    out->binaries_loaded = s->nloaded;
    out->binaries_known = s->nbins;
    out->processes_tracked = 0;
    for (size_t i = 0; i < s->nprocs; i++)
        out->processes_tracked += !s->procs[i].dropped;
}
