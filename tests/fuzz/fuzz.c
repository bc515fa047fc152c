/*
 * libFuzzer harnesses for podflame's parsers of untrusted input: one
 * source, one binary per parser (built with -DFUZZ_<NAME>, see the
 * Makefile's fuzz target). Each feeds the bytes to the parser the way
 * podflame does and, where a parser produced a profile, writes it back out,
 * so that what a reader accepted is also safe to write.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "formats/folded.h"
#include "formats/merge.h"
#include "formats/perfscript.h"
#include "formats/pprof.h"
#include "formats/profile.h"
#include "profiler/cmd.h"
#include "profiler/io/bucket.h"
#include "profiler/query/select.h"
#include "profiler/watch/cpustat.h"
#include "profiler/kube/kube.h"
#include "profiler/kube/kubeapi.h"
#include "profiler/watch/watch.h"
#include "symbolize/debuginfo.h"
#include "symbolize/elfsyms.h"
#include "symbolize/perfmap.h"
#include "symbolize/procmaps.h"
#include "symbolize/symbolizer.h"
#include "symbolize/unwinder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

/* The profile a reader filled goes through the pprof writer. */
static void write_back(struct pf_profile *p)
{
    uint8_t *buf;
    size_t n;

    if (pprof_encode(p, &buf, &n) == 0)
        free(buf);
}

#if defined(FUZZ_LISTING)
static int count_entry(void *ctx, const struct bucket_entry *e)
{
    *(size_t *)ctx += strlen(e->key) + (size_t)e->folder;
    return 0;
}
#endif

/* A NUL-terminated copy, for the text parsers. */
static char *text(const uint8_t *data, size_t len)
{
    char *s = malloc(len + 1);

    if (s) {
        memcpy(s, data, len);
        s[len] = '\0';
    }
    return s;
}

/* One function of many #if branches, not one function a target: each
 * fuzz binary is built with one FUZZ_<NAME> and compiles one short branch. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
#if defined(FUZZ_PPROF)
    struct pf_profile *p;
    char err[256];

    if (pf_profile_new(&p))
        return 0;
    if (pprof_decode(p, data, len, err, sizeof(err)) == 0)
        write_back(p);
    pf_profile_free(p);
#elif defined(FUZZ_FOLDED) || defined(FUZZ_PERFSCRIPT)
    struct pf_profile *p;
    FILE *f = fmemopen((void *)data, len ? len : 1, "r");

    if (!f)
        return 0;
    if (pf_profile_new(&p) == 0) {
#if defined(FUZZ_FOLDED)
        struct folded_read_report r;

        if (len && folded_read(p, f, &r) == 0)
            write_back(p);
#else
        struct perfscript_report r;

        if (len && perfscript_read(p, f, &r) == 0)
            write_back(p);
#endif
        pf_profile_free(p);
    }
    fclose(f);
#elif defined(FUZZ_PROCMAPS)
    FILE *f = fmemopen((void *)data, len ? len : 1, "r");
    struct vma *v;
    size_t n, bad;

    if (!f)
        return 0;
    if (len && procmaps_read_stream(f, &v, &n, &bad) == 0) {
        procmaps_find(v, n, 0x400000);
        procmaps_free(v, n);
    }
    fclose(f);
#elif defined(FUZZ_PERFMAP)
    FILE *f = fmemopen((void *)data, len ? len : 1, "r");
    struct perfmap *pm;

    if (!f)
        return 0;
    if (len && perfmap_read(f, &pm) == 0) {
        perfmap_lookup(pm, 0x7f0000001000);
        perfmap_free(pm);
    }
    fclose(f);
#elif defined(FUZZ_CGROUP_PATH)
    char *s = text(data, len);
    struct cgroup_identity id;

    if (s) {
        kube_parse_cgroup(s, &id);
        free(s);
    }
#elif defined(FUZZ_CPUSTAT)
    char *s = text(data, len);

    if (s) {
        struct node_cpu *n = malloc(sizeof(*n));
        struct cgroup_cpu c = {0};
        double v;

        if (n) {
            cpustat_parse_proc_stat(s, n);
            free(n);
        }
        cpustat_parse_cpu_stat(s, &c);
        cpustat_parse_cpu_max(s, &v);
        cpustat_parse_psi(s, &v);
        free(s);
    }
#elif defined(FUZZ_PODLIST)
    struct kube_pods *pods = NULL;
    char cont[256];

    kube_pods_parse(&pods, (const char *)data, len, cont, sizeof(cont));
    kube_pods_free(pods);
#elif defined(FUZZ_WEBHOOK)
    /* Alertmanager's webhook and /trigger, as the HTTP thread hands them on */
    static struct watch *w;
    struct httpd_reply r = {0};
    char *s = text(data, len);

    if (!w) {
        struct watch_opts o;
        char err[256];

        watch_opts_default(&o, "/nonexistent");
        o.kubelet_log_dir = "/nonexistent";
        if (watch_new(&o, &w, err, sizeof(err)))
            abort(); /* the harness needs a cgroup2 mount */
    }
    if (s) {
        watch_http(w, "POST", "/alertmanager", s, len, &r);
        free(r.body);
        r = (struct httpd_reply){0};
        watch_http(w, "POST", "/trigger", s, len, &r);
        free(r.body);
        free(s);
    }
#elif defined(FUZZ_ELF)
    /* An ELF file (symbols, DWARF, CFI) as podflame meets a binary: mapped
     * by a process (this one), found through its maps, opened through
     * /proc/self/map_files, then named and unwound through. */
    int fd = memfd_create("fuzz-elf", MFD_CLOEXEC);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    struct symbolizer *sym;
    uint8_t *map;

    if (fd < 0 || !len || write(fd, data, len) != (ssize_t)len) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    /* the --unwind auto judgement reads the same file */
    unwinder_file_has_frame_pointers(fd);
    map = mmap(NULL, (len + page - 1) / page * page, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map != MAP_FAILED && symbolizer_new(&sym) == 0) {
        struct symbolizer_opts so = {.debuginfod_urls = "", .no_demangle = len & 1};
        struct sym_frame fr;
        struct frame_rule rule;
        pid_t self = getpid();

        if (symbolizer_configure(sym, &so) == 0 && symbolizer_add_process(sym, self) == 0) {
            /* addresses spread over the mapping, and some the input picks */
            for (size_t i = 0; i < 16; i++) {
                uint64_t off = i < 8 ? i * len / 8 : (len >= 8 * i ? data[i * 4 % len] * 64 : 0);
                uint64_t addr = (uint64_t)(uintptr_t)map + (off < len ? off : 0);

                symbolizer_user(sym, self, addr, i & 1, &fr);
                symbolizer_frame_rule(sym, self, addr, &rule);
                symbolizer_frameless_slot(sym, self, addr);
            }
        }
        symbolizer_free(sym);
    }
    if (map != MAP_FAILED)
        munmap(map, (len + page - 1) / page * page);
    close(fd);
#elif defined(FUZZ_LISTING)
    /* an S3 ListObjectsV2 answer: the server's bytes */
    char *xml = text(data, len), err[256];
    size_t n = 0;

    if (xml)
        bucket_parse_listing(xml, len % 7, count_entry, &n, err, sizeof(err));
    free(xml);
#elif defined(FUZZ_MERGE)
    /* a window someone with write access to the bucket made: decoded, kept
     * by query's selectors, merged twice (equal stacks summed) */
    static const char *const ns[] = {"shop*"}, *const pods[] = {"a*", "0000"};
    static const char *const labels[] = {"app=x"}, *const extra[] = {"node", "n1"};
    struct query_select sel = {.namespaces = ns, .nnamespaces = 1, .pods = pods, .npods = 2};
    struct pf_profile *p;
    struct pf_merge *m;
    char err[256];

    if (len && (data[0] & 1)) {
        sel.labels = labels;
        sel.nlabels = 1;
    }
    if (pf_profile_new(&p))
        return 0;
    if (!pprof_decode(p, data, len, err, sizeof(err)) && !pf_merge_new(&m)) {
        pf_merge_add(m, p, NULL, NULL, extra, 1, err, sizeof(err));
        pf_merge_add(m, p, select_sample, &sel, extra, 1, err, sizeof(err));
        write_back(pf_merge_profile(m));
        pf_merge_free(m);
    }
    pf_profile_free(p);
#elif defined(FUZZ_CONFIG)
    /* the agent's --config file, read and checked as the agent does */
    char path[] = "/tmp/podflame-fuzz-config.XXXXXX";
    int fd = mkstemp(path);
    char *argv[] = {"agent", "--config", path, "--check-config", NULL};

    if (fd < 0)
        return 0;
    if (write(fd, data, len) == (ssize_t)len)
        cmd_agent(4, argv);
    close(fd);
    unlink(path);
#else
#error "build with -DFUZZ_<NAME>"
#endif
    return 0;
}
