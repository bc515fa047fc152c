/*
 * Unit tests: symbolize/elfsyms.c, symbolize/symbolizer.c, symbolize/kallsyms.c.
 * ELF lookups are checked against real runtime addresses: the fixture
 * programs print where their functions were loaded, and the symbolizer must
 * map those back through /proc/PID/maps and the ELF file to the names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dlfcn.h>
#include <inttypes.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <gelf.h>
#include <libelf.h>
#include <cmocka.h>

#include "symbolize/demangle.h"
#include "symbolize/elfsyms.h"
#include "symbolize/kallsyms.h"
#include "symbolize/residency.h"
#include "symbolize/perfmap.h"
#include "symbolize/procmaps.h"
#include "symbolize/symbolizer.h"
#include "symbolize/unwinder.h"

static const char *fixture(const char *name)
{
    static char buf[4096];
    const char *dir = getenv("PODFLAME_TEST_DIR");

    snprintf(buf, sizeof(buf), "%s/%s", dir ? dir : "build/tests", name);
    return buf;
}

struct child {
    pid_t pid;
    int in_fd; /* write a line to let it exit */
    uint64_t alpha, beta;
};

static void start_fixture(const char *name, struct child *c)
{
    int to[2], from[2];
    char buf[256];
    FILE *f;

    assert_int_equal(pipe(to), 0);
    assert_int_equal(pipe(from), 0);
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[1]);
        close(from[0]);
        execl(name, name, (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    c->in_fd = to[1];
    f = fdopen(from[0], "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    assert_int_equal(sscanf(buf, "symtarget_alpha %" SCNx64, &c->alpha), 1);
    assert_non_null(fgets(buf, sizeof(buf), f));
    assert_int_equal(sscanf(buf, "symtarget_beta %" SCNx64, &c->beta), 1);
    fclose(f);
}

static bool is_zombie(pid_t pid)
{
    char path[64], buf[512], *paren;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (!(f = fopen(path, "r")))
        return false;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && paren[2] == 'Z';
}

static void stop_fixture(struct child *c)
{
    int status;

    /* a newline lets it exit; after it did, the write fails (EPIPE: main
     * ignores SIGPIPE), which is fine */
    (void)!write(c->in_fd, "\n", 1);
    close(c->in_fd);
    assert_int_equal(waitpid(c->pid, &status, 0), c->pid);
}

static void check_program(const char *name, bool pie)
{
    struct symbolizer *s;
    struct sym_frame f;
    struct child c;

    start_fixture(fixture(name), &c);
    assert_int_equal(symbolizer_new(&s), 0);
    assert_int_equal(symbolizer_add_process(s, c.pid), 0);

    assert_int_equal(symbolizer_user(s, c.pid, c.alpha, false, &f), 0);
    assert_non_null(f.name);
    assert_string_equal(f.name, "symtarget_alpha");
    assert_true(strstr(f.module, name) != NULL);
    assert_int_not_equal(f.binary_id, 0);
    assert_true(strlen(f.build_id) >= 16); /* Debian's gcc links --build-id */
    if (pie)                               /* ELF address, not the randomized runtime one */
        assert_true(f.addr < 0x100000 && f.addr != c.alpha);
    else
        assert_int_equal(f.addr, c.alpha);

    assert_int_equal(symbolizer_user(s, c.pid, c.beta + 2, false, &f), 0);
    assert_string_equal(f.name, "symtarget_beta");
    /* a return address at a function's first byte belongs to the caller
     * before it: the call was the previous function's last instruction */
    assert_int_equal(symbolizer_user(s, c.pid, c.beta, true, &f), 0);
    assert_true(f.name == NULL || strcmp(f.name, "symtarget_beta") != 0);

    /* the process exits but is not reaped yet: a zombie's maps are empty,
     * and a lookup that misses (and so reads them again) must keep the
     * snapshot */
    assert_int_equal(write(c.in_fd, "\n", 1), 1);
    for (int i = 0; i < 200 && !is_zombie(c.pid); i++)
        usleep(10000);
    assert_true(is_zombie(c.pid));
    assert_int_equal(symbolizer_user(s, c.pid, 8, false, &f), 0);
    assert_int_equal(symbolizer_user(s, c.pid, c.alpha + 1, false, &f), 0);
    assert_non_null(f.name);
    assert_string_equal(f.name, "symtarget_alpha");
    /* reaped: the snapshot still names its frames */
    stop_fixture(&c);
    assert_int_equal(symbolizer_user(s, c.pid, c.alpha + 1, false, &f), 0);
    assert_non_null(f.name);
    assert_string_equal(f.name, "symtarget_alpha");
    /* an address in no mapping is unknown, not an error */
    assert_int_equal(symbolizer_user(s, c.pid, 8, false, &f), 0);
    assert_null(f.name);
    assert_string_equal(f.module, "");
    symbolizer_free(s);
}

static void test_pie_program(void **state)
{
    (void)state;
    check_program("symtarget-pie", true);
}

static void test_nonpie_program(void **state)
{
    (void)state;
    check_program("symtarget-nopie", false);
}

static void test_shared_library(void **state)
{
    void *h = dlopen(fixture("libsymtarget.so"), RTLD_NOW);
    struct symbolizer *s;
    struct sym_frame f;
    void *beta;

    (void)state;
    assert_non_null(h);
    beta = dlsym(h, "symtarget_beta");
    assert_non_null(beta);
    assert_int_equal(symbolizer_new(&s), 0);
    /* no snapshot yet: the first lookup takes one */
    assert_int_equal(symbolizer_user(s, getpid(), (uint64_t)(uintptr_t)beta + 1, false, &f), 0);
    assert_non_null(f.name);
    assert_string_equal(f.name, "symtarget_beta");
    assert_true(strstr(f.module, "libsymtarget.so") != NULL);
    symbolizer_free(s);
    dlclose(h);
}

static void test_stripped_binary_falls_back(void **state)
{
    struct symbolizer *s;
    struct sym_frame f;
    struct child c;

    (void)state;
    start_fixture(fixture("symtarget-stripped"), &c);
    assert_int_equal(symbolizer_new(&s), 0);
    assert_int_equal(symbolizer_user(s, c.pid, c.alpha, false, &f), 0);
    /* no .symtab and the function is not exported: named by module only */
    assert_null(f.name);
    assert_true(strstr(f.module, "symtarget-stripped") != NULL);
    assert_int_not_equal(f.binary_id, 0);
    /* ... and every address in it by the start of its code (.eh_frame) */
    assert_true(f.func_start == f.addr);
    {
        struct sym_frame in;

        assert_int_equal(symbolizer_user(s, c.pid, c.alpha + 3, false, &in), 0);
        assert_null(in.name);
        assert_true(in.addr == f.addr + 3);
        assert_true(in.func_start == f.addr);
    }
    stop_fixture(&c);
    symbolizer_free(s);
}

/* PLT entries are named after what they call, "printf@plt", from the
 * relocations, as perf and objdump show them. */
static void test_plt_names(void **state)
{
    int fd = open(fixture("symtarget-pie"), O_RDONLY);
    struct elfsyms *es = NULL;
    Elf_Scn *scn = NULL;
    size_t shstrndx;
    uint64_t plt = 0, size = 0;
    bool sec = false;
    Elf *elf;
    int named = 0;

    (void)state;
    assert_true(fd >= 0);
    elf_version(EV_CURRENT);
    assert_non_null(elf = elf_begin(fd, ELF_C_READ, NULL));
    assert_int_equal(elf_getshdrstrndx(elf, &shstrndx), 0);
    while ((scn = elf_nextscn(elf, scn))) {
        GElf_Shdr sh;
        const char *name;

        if (gelf_getshdr(scn, &sh) && (name = elf_strptr(elf, shstrndx, sh.sh_name)) &&
            (!strcmp(name, ".plt.sec") || (!sec && !strcmp(name, ".plt")))) {
            sec = !strcmp(name, ".plt.sec");
            plt = sh.sh_addr + (sec ? 0 : 16);
            size = sh.sh_size - (sec ? 0 : 16);
        }
    }
    elf_end(elf);
    assert_true(plt && size >= 16);
    assert_int_equal(elfsyms_load_fd(fd, &es), 0);
    close(fd);
    for (uint64_t a = plt; a < plt + size; a += 16) {
        const char *n = elfsyms_lookup(es, a + 4, NULL);

        assert_non_null(n);
        assert_true(strlen(n) > 4 && !strcmp(n + strlen(n) - 4, "@plt"));
        named += !strcmp(n, "printf@plt");
    }
    assert_int_equal(named, 1);
    elfsyms_free(es);
}

static void test_vdso(void **state)
{
    uint64_t base = getauxval(AT_SYSINFO_EHDR);
    struct symbolizer *s;
    struct sym_frame f;
    bool named = false;

    (void)state;
    if (getenv("PODFLAME_UNDER_VALGRIND")) {
        /* valgrind maps no vDSO of the kernel's; the ASan run checks this */
        skip();
    }
    assert_true(base != 0);
    assert_int_equal(symbolizer_new(&s), 0);
    for (uint64_t a = base; a < base + 0x2000 && !named; a += 16) {
        assert_int_equal(symbolizer_user(s, getpid(), a, false, &f), 0);
        assert_string_equal(f.module, "[vdso]");
        named = f.name != NULL;
    }
    assert_true(named);
    symbolizer_free(s);
}

static void test_not_elf(void **state)
{
    struct elfsyms *es = NULL;
    int fd = open("/proc/self/status", O_RDONLY);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(elfsyms_load_fd(fd, &es), -ENOEXEC);
    assert_null(es);
    close(fd);
    assert_int_equal(elfsyms_load_mem("\177ELF garbage", 12, &es), -ENOEXEC);
}

static void test_kallsyms_text(void **state)
{
    const char *text = "ffffffff81000000 T _stext\n"
                       "ffffffff81000100 t helper\n"
                       "ffffffff81000200 D some_data\n"
                       "ffffffff81000300 T schedule\n"
                       "not a line\n"
                       "ffffffffc0100000 t nf_hook\t[nf_tables]\n"
                       "ffffffffc0100100 t nf_other\t[nf_tables]\n"
                       "ffffffffc0200000 t xt_match\t[x_tables]\n"
                       "ffffffff81000400 T tail_fn\n";
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    struct kallsyms *ks;
    const char *mod;
    uint64_t start;
    size_t bad;

    (void)state;
    assert_int_equal(kallsyms_parse(f, &ks, &bad), 0);
    fclose(f);
    assert_int_equal(bad, 1);
    assert_int_equal(kallsyms_count(ks), 7); /* data symbol skipped */
    assert_false(kallsyms_restricted(ks));
    assert_string_equal(kallsyms_lookup(ks, 0xffffffff81000150, &mod, &start), "helper");
    assert_string_equal(mod, "");
    assert_int_equal(start, 0xffffffff81000100ULL);
    /* data symbols are not functions: the text symbol before them wins */
    assert_string_equal(kallsyms_lookup(ks, 0xffffffff81000250, &mod, NULL), "helper");
    assert_string_equal(kallsyms_lookup(ks, 0xffffffffc0100180, &mod, NULL), "nf_other");
    assert_string_equal(mod, "nf_tables");
    assert_string_equal(kallsyms_lookup(ks, 0xffffffffc0200010, &mod, NULL), "xt_match");
    assert_string_equal(mod, "x_tables");
    /* the kernel image again after modules' lines */
    assert_string_equal(kallsyms_lookup(ks, 0xffffffff81000410, &mod, NULL), "tail_fn");
    assert_string_equal(mod, "");
    assert_null(kallsyms_lookup(ks, 0x1000, &mod, NULL));
    kallsyms_free(ks);
}

/* Whether the page at p is resident in this process (pagemap bit 63). */
static bool page_present(const void *p)
{
    uint64_t ent = 0;
    int fd = open("/proc/self/pagemap", O_RDONLY);

    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &ent, sizeof(ent), (off_t)((uintptr_t)p / 4096 * 8)), 8);
    close(fd);
    return ent >> 63;
}

static void test_residency_releases_clean_file_pages_only(void **state)
{
    char path[] = "/tmp/podflame-residency.XXXXXX";
    int fd = mkstemp(path);
    size_t page = 4096, released = 0;
    char buf[4096];
    volatile char sum = 0;
    char *m;

    (void)state;
    assert_true(fd >= 0);
    for (int i = 0; i < 4; i++) {
        memset(buf, 'a' + i, sizeof(buf));
        assert_int_equal(write(fd, buf, sizeof(buf)), sizeof(buf));
    }
    /* as libelf maps a file it may write to: private, writable */
    m = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    assert_true(m != MAP_FAILED);
    for (int i = 0; i < 4; i++)
        sum += m[i * page];
    m[page + 7] = 'X'; /* page 1 is now a private copy */
    assert_true(page_present(m) && page_present(m + page));
    assert_int_equal(residency_release_file_pages(m, 4 * page, &released), 0);
    assert_int_equal(released, 3 * page);
    assert_false(page_present(m));
    assert_false(page_present(m + 2 * page));
    assert_true(page_present(m + page)); /* the written page stays, write kept */
    assert_int_equal(m[page + 7], 'X');
    /* released pages read back from the file */
    assert_int_equal(m[0], 'a');
    assert_int_equal(m[3 * page + 5], 'd');
    /* heap memory is never touched */
    {
        char *heap = malloc(8 * page);

        memset(heap, 'h', 8 * page);
        released = 0;
        assert_int_equal(residency_release_file_pages(heap, 8 * page, &released), 0);
        assert_int_equal(released, 0);
        assert_int_equal(heap[5 * page], 'h');
        free(heap);
    }
    munmap(m, 4 * page);
    close(fd);
    unlink(path);
    (void)sum;
}

/* Found by the ELF fuzzer: a file that is not ELF at all (one newline)
 * crashed the frame-pointer judgement inside gelf_fsize. */
static void test_judge_not_elf(void **state)
{
    char path[] = "/tmp/podflame-notelf.XXXXXX";
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "\n", 1), 1);
    assert_int_equal(unwinder_file_has_frame_pointers(fd), -ENOEXEC);
    close(fd);
    unlink(path);
}

static void test_kallsyms_restricted(void **state)
{
    const char *text = "0000000000000000 T _stext\n0000000000000000 T schedule\n";
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    struct kallsyms *ks;

    (void)state;
    assert_int_equal(kallsyms_parse(f, &ks, NULL), 0);
    fclose(f);
    assert_true(kallsyms_restricted(ks));
    assert_null(kallsyms_lookup(ks, 0xffffffff81000000, NULL, NULL));
    kallsyms_free(ks);
}

static void test_kallsyms_real(void **state)
{
    FILE *f = fopen("/proc/kallsyms", "r");
    struct kallsyms *ks;
    unsigned long long addr = 0;
    char line[512], type, name[256];

    (void)state;
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%llx %c %255s", &addr, &type, name) == 3 && !strcmp(name, "schedule"))
            break;
    }
    fclose(f);
    assert_int_not_equal(addr, 0); /* tests run as root */
    assert_int_equal(kallsyms_load(&ks), 0);
    assert_true(kallsyms_count(ks) > 10000);
    assert_string_equal(kallsyms_lookup(ks, addr + 4, NULL, NULL), "schedule");
    kallsyms_free(ks);
}

static struct perfmap *perfmap_of(const char *text)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    struct perfmap *pm = NULL;

    assert_non_null(f);
    assert_int_equal(perfmap_read(f, &pm), 0);
    fclose(f);
    return pm;
}

static void test_perfmap(void **state)
{
    /* as Node.js, Java and hand-written tools write them, with garbage */
    struct perfmap *pm = perfmap_of("7f0000001000 100 JS:*hotLoop /tmp/hot.js:1:17\n"
                                    "0x7f0000002000 0x20 long Hot.hotMethod(long, int)\n"
                                    "7f0000001080 10 Stub:inner\r\n"
                                    "7f0000003000 40 first\n"
                                    "7f0000003000 40 recompiled\n"
                                    "zzzz 10 bad-start\n"
                                    "7f0000004000 0 empty\n"
                                    "7f0000005000 10\n"
                                    "ffffffffffffffff 10 wraps\n"
                                    "\n");

    (void)state;
    assert_int_equal(perfmap_count(pm), 4);
    assert_int_equal(perfmap_bad_lines(pm), 5);
    assert_string_equal(perfmap_lookup(pm, 0x7f0000001000), "JS:*hotLoop /tmp/hot.js:1:17");
    assert_string_equal(perfmap_lookup(pm, 0x7f0000001085), "Stub:inner");
    /* past Stub:inner's end but inside hotLoop's range: only the nearest
     * start below counts (JITs do not nest code) */
    assert_null(perfmap_lookup(pm, 0x7f0000001095));
    assert_string_equal(perfmap_lookup(pm, 0x7f000000201f), "long Hot.hotMethod(long, int)");
    assert_null(perfmap_lookup(pm, 0x7f0000002020));
    assert_string_equal(perfmap_lookup(pm, 0x7f0000003010), "recompiled");
    assert_null(perfmap_lookup(pm, 0x1000));
    assert_null(perfmap_lookup(NULL, 0x7f0000001000));
    perfmap_free(pm);
}

/* A perf map is the profiled process's to write: a line too long to be a
 * name is skipped without being buffered, and names past the cap end the
 * read (the map kept so far, marked truncated). */
static void test_perfmap_bounds(void **state)
{
    size_t n = (PERFMAP_MAX_NAME_BYTES / PERFMAP_MAX_LINE) * 2, cap = n * PERFMAP_MAX_LINE + 65536;
    char *text = malloc(cap), *p = text;
    struct perfmap *pm;
    FILE *f;

    (void)state;
    assert_non_null(text);
    p += sprintf(p, "1000 10 before\n");
    memset(p, 'x', 3 * PERFMAP_MAX_LINE); /* one line of 12 KiB */
    p += 3 * PERFMAP_MAX_LINE;
    p += sprintf(p, "\n2000 10 after\n");
    pm = NULL;
    assert_non_null(f = fmemopen(text, (size_t)(p - text), "r"));
    assert_int_equal(perfmap_read(f, &pm), 0);
    fclose(f);
    assert_int_equal(perfmap_count(pm), 2);
    assert_int_equal(perfmap_bad_lines(pm), 1);
    assert_false(perfmap_truncated(pm));
    assert_string_equal(perfmap_lookup(pm, 0x2005), "after");
    perfmap_free(pm);

    /* names of 4000 bytes, twice as many as the name cap holds */
    p = text;
    for (size_t i = 0; i < n; i++) {
        p += sprintf(p, "%zx 1 ", 0x10000 + i);
        memset(p, 'a' + (int)(i % 26), 4000);
        p += 4000;
        *p++ = '\n';
    }
    assert_non_null(f = fmemopen(text, (size_t)(p - text), "r"));
    assert_int_equal(perfmap_read(f, &pm), 0);
    fclose(f);
    /* the older halves went, the newest entries stay */
    assert_true(perfmap_truncated(pm));
    assert_true(perfmap_count(pm) >= PERFMAP_MAX_NAME_BYTES / 4001 / 2);
    assert_true(perfmap_count(pm) <= PERFMAP_MAX_NAME_BYTES / 4001);
    assert_null(perfmap_lookup(pm, 0x10000));
    assert_non_null(perfmap_lookup(pm, 0x10000 + n - 1));
    perfmap_free(pm);
    free(text);
}

static void test_demangle(void **state)
{
    struct demangler *on, *off;
    const char *a, *b;

    (void)state;
    assert_int_equal(demangler_new(true, &on), 0);
    assert_int_equal(demangler_new(false, &off), 0);
    assert_string_equal(demangler_name(on, "_ZN4shop5priceEmd"),
                        "shop::price(unsigned long, double)");
    assert_string_equal(demangler_name(on, "_ZN4shop4CartImE8checkoutEmi"),
                        "shop::Cart<unsigned long>::checkout(unsigned long, int)");
    /* Rust: legacy names lose their hash, v0 names their crate id */
    assert_string_equal(demangler_name(on, "_ZN7mycrate7example17h0123456789abcdefE"),
                        "mycrate::example");
    assert_string_equal(demangler_name(on, "_RNvCs15kBYyAo9fc_7mycrate7example"),
                        "mycrate::example");
    /* C names, garbage and NULL pass through */
    assert_string_equal(demangler_name(on, "main"), "main");
    assert_string_equal(demangler_name(on, "_Zgarbage"), "_Zgarbage");
    assert_string_equal(demangler_name(on, "_R"), "_R");
    assert_null(demangler_name(on, NULL));
    /* once per name: the same pointer again */
    a = demangler_name(on, "_ZN4shop5priceEmd");
    b = demangler_name(on, "_ZN4shop5priceEmd");
    assert_ptr_equal(a, b);
    assert_string_equal(demangler_name(off, "_ZN4shop5priceEmd"), "_ZN4shop5priceEmd");
    demangler_free(on);
    demangler_free(off);
}

/* Two copies of one image (two inodes, one build ID) are parsed once; with
 * room for one parsed binary, the others are dropped and parsed again when
 * needed, and names stay right throughout. */
static void test_bounded_and_shared_binaries(void **state)
{
    const struct symbolizer_opts o = {.max_binaries = 1};
    char copy[2][64];
    struct symbolizer *s;
    struct symbolizer_stats st;
    struct sym_frame f;
    struct child c[2];

    (void)state;
    for (int i = 0; i < 2; i++) {
        char cmd[4200];

        snprintf(copy[i], sizeof(copy[i]), "/tmp/podflame-symcopy-%d-%d", (int)getpid(), i);
        snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", fixture("symtarget-pie"), copy[i]);
        assert_int_equal(system(cmd), 0);
        start_fixture(copy[i], &c[i]);
    }
    assert_int_equal(symbolizer_new(&s), 0);
    assert_int_equal(symbolizer_configure(s, &o), 0);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 2; i++) {
            assert_int_equal(symbolizer_add_process(s, c[i].pid), 0);
            assert_int_equal(symbolizer_user(s, c[i].pid, c[i].alpha, false, &f), 0);
            assert_non_null(f.name);
            assert_string_equal(f.name, "symtarget_alpha");
            assert_int_equal(f.nlines, 1); /* -g: DWARF names it too */
            assert_string_equal(f.lines[0].func, "symtarget_alpha");
            assert_true(strstr(f.lines[0].file, "symtarget.c") != NULL);
        }
    }
    symbolizer_get_stats(s, &st);
    assert_int_equal(st.binaries_shared, 1);
    assert_true(st.binaries_evicted > 0);
    assert_true(st.binaries_reloaded > 0);
    for (int i = 0; i < 2; i++) {
        stop_fixture(&c[i]);
        unlink(copy[i]);
    }
    /* exited: noted at one sweep, dropped at the next */
    assert_int_equal(symbolizer_forget_exited(s), 0);
    assert_int_equal(symbolizer_forget_exited(s), 2);
    symbolizer_get_stats(s, &st);
    assert_int_equal(st.processes_dropped, 2);
    symbolizer_free(s);
}

/* A stack copy with garbage registers: CFI applied to a stack pointer near
 * 2^64 gives addresses whose "address + 8" wraps around. Reading them must
 * fail, not reach far outside the copy (a crash the agent benchmark hit). */
/* The collector names frames from the symbol table while sampling and asks
 * for DWARF lines when the profile is finished: by then the process may be
 * gone, and other binaries may have pushed its binary past the limit. */
static void test_lines_after_exit_and_eviction(void **state)
{
    const struct symbolizer_opts o = {.max_binaries = 1};
    const char *prog[2] = {"symtarget-pie", "symtarget-nopie"};
    struct symbolizer *s;
    struct symbolizer_stats st;
    struct sym_frame f[2];
    struct sym_line lines[SYM_MAX_INLINE];
    struct child c[2];
    uint64_t evicted;

    (void)state;
    assert_int_equal(symbolizer_new(&s), 0);
    assert_int_equal(symbolizer_configure(s, &o), 0);
    for (int i = 0; i < 2; i++) {
        start_fixture(fixture(prog[i]), &c[i]);
        assert_int_equal(symbolizer_add_process(s, c[i].pid), 0);
        assert_int_equal(symbolizer_user_name(s, c[i].pid, c[i].alpha, false, &f[i]), 0);
        assert_string_equal(f[i].name, "symtarget_alpha");
        assert_int_equal(f[i].nlines, 0);
        stop_fixture(&c[i]);
    }
    /* two programs and their libraries over a limit of one binary: the
     * libraries went, the two programs whose lines are wanted stayed */
    assert_int_not_equal(f[0].binary_id, f[1].binary_id);
    symbolizer_get_stats(s, &st);
    assert_true(st.binaries_evicted > 0);
    evicted = st.binaries_evicted;
    assert_int_equal(symbolizer_forget_exited(s), 0);
    assert_int_equal(symbolizer_forget_exited(s), 2);
    for (int i = 0; i < 2; i++) {
        size_t n =
            symbolizer_user_lines(s, f[i].binary_id, f[i].addr, false, lines, SYM_MAX_INLINE);

        assert_int_equal(n, 1);
        assert_string_equal(lines[0].func, "symtarget_alpha");
        assert_true(strstr(lines[0].file, "symtarget.c") != NULL);
        assert_true(lines[0].line > 0);
    }
    symbolizer_get_stats(s, &st);
    assert_int_equal(st.debug_embedded, 2);
    assert_int_equal(st.binaries_evicted, evicted);
    /* asked for: the limit applies to them again at the next binary */
    symbolizer_lines_done(s);
    assert_int_equal(symbolizer_add_process(s, getpid()), 0);
    symbolizer_get_stats(s, &st);
    assert_true(st.binaries_evicted >= evicted + 2);
    for (int i = 0; i < 2; i++)
        assert_int_equal(symbolizer_user_lines(s, f[i].binary_id, f[i].addr, false, lines, 1), 0);
    symbolizer_free(s);
}

static void test_unwind_wild_stack_pointer(void **state)
{
    struct symbolizer *sym;
    struct unwinder *u;
    uint64_t regs[17] = {0}, ips[64];
    uint8_t stack[256] = {0};
    enum unwind_end why;
    static const uint64_t sps[] = {0xfffffffffffffff0ULL, 0xfffffffffffffff8ULL,
                                   0xffffffffffffffffULL, 0x7ffd00000000ULL - 8};

    (void)state;
    assert_int_equal(symbolizer_new(&sym), 0);
    assert_int_equal(unwinder_new(&u), 0);
    assert_int_equal(symbolizer_add_process(sym, getpid()), 0);
    for (size_t i = 0; i < sizeof(sps) / sizeof(*sps); i++) {
        int n;

        regs[16] = (uint64_t)(uintptr_t)&test_unwind_wild_stack_pointer + 8; /* rip */
        regs[7] = sps[i];                                                    /* rsp */
        regs[6] = sps[i];                                                    /* rbp */
        n = unwinder_unwind(u, sym, getpid(), regs, 0x7ffd00000000ULL, stack, sizeof(stack), ips,
                            64, &why);
        assert_true(n >= 1);
        assert_int_equal(ips[0], regs[16]);
    }
    unwinder_free(u);
    symbolizer_free(sym);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* see stop_fixture */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounded_and_shared_binaries),
        cmocka_unit_test(test_lines_after_exit_and_eviction),
        cmocka_unit_test(test_plt_names),
        cmocka_unit_test(test_perfmap),
        cmocka_unit_test(test_perfmap_bounds),
        cmocka_unit_test(test_unwind_wild_stack_pointer),
        cmocka_unit_test(test_demangle),
        cmocka_unit_test(test_pie_program),
        cmocka_unit_test(test_nonpie_program),
        cmocka_unit_test(test_shared_library),
        cmocka_unit_test(test_stripped_binary_falls_back),
        cmocka_unit_test(test_vdso),
        cmocka_unit_test(test_not_elf),
        cmocka_unit_test(test_kallsyms_text),
        cmocka_unit_test(test_kallsyms_restricted),
        cmocka_unit_test(test_residency_releases_clean_file_pages_only),
        cmocka_unit_test(test_judge_not_elf),
        cmocka_unit_test(test_kallsyms_real),
    };

    return cmocka_run_group_tests_name("symbolize", tests, NULL, NULL);
}
