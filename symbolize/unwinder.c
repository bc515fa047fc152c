#include "symbolize/unwinder.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <gelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <elfutils/libdwfl.h>

#include "formats/buf.h"
#include "formats/htab.h"
#include "symbolize/procmaps.h"
#include "symbolize/residency.h"
#include "symbolize/symbolizer.h"

/* Processes whose unwinding state is kept: a Dwfl maps each module of its
 * process, a few MiB, so few are kept, and exited ones go at once. */
#define MAX_PROCS 16

struct proc_unwind {
    pid_t pid;
    Dwfl *dwfl; /* made on the first frame the fast path cannot do */
    bool dwfl_failed;
    bool exit_seen; /* gone at the last sweep: freed at the next */
    uint64_t last_use;
    /* the sample being unwound */
    const uint64_t *regs;
    uint64_t stack_start;
    const uint8_t *stack;
    size_t len;
    bool short_read; /* a read beyond the copy, inside the stack */
};

struct unwinder {
    struct htab exes;  /* executable (dev, inode) -> frame pointers 0/1 */
    struct htab index; /* pid -> slot in procs */
    struct proc_unwind *procs[MAX_PROCS];
    size_t nprocs;
    uint64_t tick;
};

/* libdwfl's find_elf callback has no argument of ours: the process whose
 * modules are being opened (podflame unwinds on one thread). */
static pid_t opening_pid;

/* Opens a module's file inside the process's root, so that binaries in
 * containers are found and no symlink planted there leads out of it. A
 * process that is gone has no root to look in: its file is not guessed
 * from the host's, which may be another binary of that name. */
static int find_elf(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr base,
                    char **file_name, Elf **elfp)
{
    int fd;

    if (name[0] == '/' && opening_pid > 0) {
        Elf *elf;
        bool sane;

        if ((fd = procmaps_open_in_root(opening_pid, name)) < 0)
            return -1;
        /* libdwfl loads a module's DWARF for .debug_frame when .eh_frame
         * has no entry, inflating compressed sections whole: a file that
         * would inflate past the bounds is not unwound through at all */
        elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
        sane = elf && debuginfo_sections_sane(elf);
        elf_end(elf);
        if (!sane) {
            close(fd);
            return -1;
        }
        *file_name = strdup(name);
        return fd;
    }
    return dwfl_linux_proc_find_elf(mod, userdata, name, base, file_name, elfp);
}

/* Unwinding needs .eh_frame, which is in the binary: no separate debug
 * files, so no debuginfod round trips on the sample path. */
static int no_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                        const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
                        char **debuginfo_file_name)
{
    (void)mod, (void)userdata, (void)modname, (void)base, (void)file_name;
    (void)debuglink_file, (void)debuglink_crc, (void)debuginfo_file_name;
    return -1;
}

static char *debuginfo_path;
static const Dwfl_Callbacks proc_callbacks = {
    .find_elf = find_elf,
    .find_debuginfo = no_debuginfo,
    .debuginfo_path = &debuginfo_path,
};

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
    (void)dwfl;
    if (*thread_argp)
        return 0; /* one thread: the sampled one */
    *thread_argp = arg;
    return ((struct proc_unwind *)arg)->pid;
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
    (void)dwfl, (void)tid;
    *thread_argp = arg;
    return true;
}

static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
    struct proc_unwind *pu = arg;

    (void)dwfl;
    /* Offsets, not sums: a wild address near 2^64 must not wrap into the
     * copy (CFI applied to garbage registers yields such addresses). */
    uint64_t off = addr - pu->stack_start;

    if (addr >= pu->stack_start && pu->len >= sizeof(*result) && off <= pu->len - sizeof(*result)) {
        memcpy(result, pu->stack + off, sizeof(*result));
        return true;
    }
    /* just above the copy: the stack went on, the copy was too small */
    if (addr >= pu->stack_start && off >= pu->len && off - pu->len < (8u << 20))
        pu->short_read = true;
    return false;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *arg)
{
    const struct proc_unwind *pu = arg;
    Dwarf_Word regs[17];

    for (int i = 0; i < 17; i++)
        regs[i] = pu->regs[i];
    dwfl_thread_state_register_pc(thread, regs[16]);
    return dwfl_thread_state_registers(thread, 0, 17, regs);
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
    .next_thread = next_thread,
    .get_thread = get_thread,
    .memory_read = memory_read,
    .set_initial_registers = set_initial_registers,
};

int unwinder_new(struct unwinder **out)
{
    struct unwinder *u = calloc(1, sizeof(*u));

    if (!u)
        return -ENOMEM;
    htab_init(&u->index);
    htab_init(&u->exes);
    *out = u;
    return 0;
}

static void proc_free(struct proc_unwind *pu)
{
    if (!pu)
        return;
    if (pu->dwfl)
        dwfl_end(pu->dwfl);
    free(pu);
}

void unwinder_free(struct unwinder *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->nprocs; i++)
        proc_free(u->procs[i]);
    htab_free(&u->index);
    htab_free(&u->exes);
    free(u);
}

/* The table maps pids to slots; a forgotten slot is marked with pid 0 and
 * its pid key points at MAX_PROCS (no slot). */
static struct proc_unwind *lookup(struct unwinder *u, pid_t pid)
{
    uint32_t key = (uint32_t)pid;
    uint64_t slot;

    if (!htab_get(&u->index, &key, sizeof(key), &slot) || slot >= MAX_PROCS)
        return NULL;
    return u->procs[slot];
}

void unwinder_forget(struct unwinder *u, pid_t pid)
{
    uint32_t key = (uint32_t)pid;
    uint64_t slot;

    if (!htab_get(&u->index, &key, sizeof(key), &slot) || slot >= MAX_PROCS)
        return;
    proc_free(u->procs[slot]);
    u->procs[slot] = u->procs[--u->nprocs];
    u->procs[u->nprocs] = NULL;
    htab_put(&u->index, &key, sizeof(key), MAX_PROCS);
    if (slot < u->nprocs) {
        key = (uint32_t)u->procs[slot]->pid;
        htab_put(&u->index, &key, sizeof(key), slot);
    }
}

/* The pid table keeps a key for every process ever seen; rebuilt from the
 * live slots when it has grown far beyond them. */
static void compact_index(struct unwinder *u)
{
    struct htab index;

    if (u->index.count < (size_t)4 * MAX_PROCS)
        return;
    htab_init(&index);
    for (size_t i = 0; i < u->nprocs; i++) {
        uint32_t key = (uint32_t)u->procs[i]->pid;

        if (htab_put(&index, &key, sizeof(key), i)) {
            htab_free(&index);
            return; /* out of memory: keep the old one */
        }
    }
    htab_free(&u->index);
    u->index = index;
}

void unwinder_forget_exited(struct unwinder *u)
{
    for (size_t i = 0; i < u->nprocs;) {
        struct proc_unwind *pu = u->procs[i];

        if (kill(pu->pid, 0) == 0 || errno != ESRCH) {
            pu->exit_seen = false;
            i++;
        } else if (!pu->exit_seen) {
            pu->exit_seen = true; /* its last samples may still be on their way */
            i++;
        } else {
            unwinder_forget(u, pu->pid); /* moves the last slot here */
        }
    }
    compact_index(u);
}

static int release_module_pages(Dwfl_Module *mod, void **userdata, const char *name,
                                Dwarf_Addr start, void *arg)
{
    const char *mainfile = NULL;
    Dwarf_Addr bias;

    (void)userdata, (void)name, (void)start, (void)arg;
    /* only files already opened: asking for the others would open them */
    dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, &mainfile, NULL);
    if (mainfile)
        residency_release_elf(dwfl_module_getelf(mod, &bias));
    return DWARF_CB_OK;
}

void unwinder_release_pages(struct unwinder *u)
{
    for (size_t i = 0; i < u->nprocs; i++) {
        if (u->procs[i]->dwfl)
            dwfl_getmodules(u->procs[i]->dwfl, release_module_pages, NULL, 0);
    }
}

/* A Dwfl with the process's modules, attached to our callbacks: from its
 * maps, or from the symbolizer's snapshot when it has exited (samples of a
 * process outlive it by up to a drain). */
static Dwfl *make_dwfl(struct symbolizer *sym, struct proc_unwind *pu)
{
    Dwfl *dwfl = dwfl_begin(&proc_callbacks);
    char *text = NULL;
    size_t len;
    FILE *f;
    int err;

    if (!dwfl)
        return NULL;
    opening_pid = pu->pid;
    dwfl_report_begin(dwfl);
    err = dwfl_linux_proc_report(dwfl, pu->pid);
    if (err && symbolizer_maps_text(sym, pu->pid, &text, &len) == 0 &&
        (f = fmemopen(text, len, "r"))) {
        err = dwfl_linux_proc_maps_report(dwfl, f);
        fclose(f);
    }
    free(text);
    if (err != 0 || dwfl_report_end(dwfl, NULL, NULL) != 0 ||
        !dwfl_attach_state(dwfl, NULL, pu->pid, &thread_callbacks, pu)) {
        dwfl_end(dwfl);
        dwfl = NULL;
    }
    opening_pid = 0;
    return dwfl;
}

static struct proc_unwind *proc_for(struct unwinder *u, pid_t pid)
{
    struct proc_unwind *pu = lookup(u, pid);
    uint32_t key = (uint32_t)pid;

    if (pu)
        return pu;
    if (u->nprocs == MAX_PROCS) {
        size_t lru = 0;

        for (size_t i = 1; i < u->nprocs; i++) {
            if (u->procs[i]->last_use < u->procs[lru]->last_use)
                lru = i;
        }
        unwinder_forget(u, u->procs[lru]->pid);
    }
    if (!(pu = calloc(1, sizeof(*pu))))
        return NULL;
    pu->pid = pid;
    if (htab_put(&u->index, &key, sizeof(key), u->nprocs)) {
        proc_free(pu);
        return NULL;
    }
    u->procs[u->nprocs++] = pu;
    return pu;
}

struct walk {
    uint64_t *ips;
    size_t n, max;
};

static int on_frame(Dwfl_Frame *frame, void *arg)
{
    struct walk *w = arg;
    Dwarf_Addr pc;
    bool activation;

    if (!dwfl_frame_pc(frame, &pc, &activation))
        return DWARF_CB_ABORT;
    if (w->n == w->max)
        return DWARF_CB_ABORT;
    w->ips[w->n++] = pc; /* return addresses as they are, like the kernel's */
    return DWARF_CB_OK;
}

static bool read_word(struct proc_unwind *pu, uint64_t addr, uint64_t *out)
{
    return memory_read(NULL, addr, out, pu);
}

/* The fast path: cached simple rules, no libdwfl state. Returns the
 * number of frames, or -1 when a frame needs libdwfl's full CFI machine. */
static int unwind_simple(struct symbolizer *sym, struct proc_unwind *pu, uint64_t *ips, size_t max,
                         enum unwind_end *why)
{
    uint64_t ip = pu->regs[16], sp = pu->regs[7], bp = pu->regs[6];
    bool bp_known = true;
    size_t n = 0;

    while (n < max) {
        struct frame_rule rule, *r = &rule;
        uint64_t cfa, ra;

        ips[n] = ip;
        /* a return address: the call is the instruction before it */
        if (symbolizer_frame_rule(sym, pu->pid, n ? ip - 1 : ip, r))
            return -ENOMEM;
        n++;
        if (r->kind == FRAME_RULE_OUTERMOST) {
            *why = UNWIND_COMPLETE;
            return (int)n;
        }
        /* No CFI at a caller (ld.so's _dl_start_user, a binary's own
         * startup stubs): libdwfl could go no further either, and making
         * its state costs far more than the stack it would not find. */
        if (r->kind == FRAME_RULE_NONE && n > 1) {
            *why = UNWIND_FAILED;
            return (int)n;
        }
        if (r->kind != FRAME_RULE_SIMPLE)
            return -1;
        if (r->cfa_reg == 6 && !bp_known)
            return -1;
        cfa = (r->cfa_reg == 7 ? sp : bp) + (uint64_t)(int64_t)r->cfa_off;
        if (!read_word(pu, cfa - 8, &ra))
            return pu->short_read ? (*why = UNWIND_COPY_SHORT, (int)n) : -1;
        if (r->rbp_saved && !read_word(pu, cfa + (uint64_t)(int64_t)r->rbp_off, &bp))
            return pu->short_read ? (*why = UNWIND_COPY_SHORT, (int)n) : -1;
        if (r->rbp_saved)
            bp_known = true;
        else if (r->rbp_lost)
            bp_known = false;
        if (!ra) {
            *why = UNWIND_COMPLETE;
            return (int)n;
        }
        sp = cfa;
        ip = ra;
    }
    *why = UNWIND_MAX_DEPTH;
    return (int)n;
}

int unwinder_unwind(struct unwinder *u, struct symbolizer *sym, pid_t pid, const uint64_t regs[17],
                    uint64_t stack_start, const uint8_t *stack, size_t len, uint64_t *ips,
                    size_t max, enum unwind_end *why)
{
    struct proc_unwind *pu;
    struct walk w = {.ips = ips, .max = max};
    int ret;

    *why = UNWIND_FAILED;
    if (!max)
        return 0;
    if (!(pu = proc_for(u, pid)))
        return -ENOMEM;
    pu->last_use = ++u->tick;
    pu->regs = regs;
    pu->stack_start = stack_start;
    pu->stack = stack;
    pu->len = len;
    pu->short_read = false;
    ret = unwind_simple(sym, pu, ips, max, why);
    if (ret >= 0 || ret == -ENOMEM)
        return ret;
    /* a frame the fast path cannot do: libdwfl, from the start */
    if (!pu->dwfl && !pu->dwfl_failed) {
        pu->dwfl = make_dwfl(sym, pu);
        pu->dwfl_failed = !pu->dwfl;
    }
    if (pu->dwfl) {
        pu->short_read = false;
        opening_pid = pid;
        ret = dwfl_getthread_frames(pu->dwfl, pid, on_frame, &w);
        opening_pid = 0;
        /* libdwfl ends a walk quietly when a read fails: a read just past
         * the copy is what says the copy was too small */
        if (pu->short_read)
            *why = UNWIND_COPY_SHORT;
        else if (w.n == max)
            *why = UNWIND_MAX_DEPTH;
        else if (ret == 0)
            *why = UNWIND_COMPLETE;
    }
    if (!w.n)
        ips[w.n++] = regs[16]; /* the leaf is known even when nothing else is */
    return (int)w.n;
}

/* push %rbp (after an endbr64), then mov %rsp,%rbp within a few bytes */
static bool frame_prologue(const uint8_t *b, size_t n)
{
    size_t i = 0;

    if (n >= 4 && b[0] == 0xf3 && b[1] == 0x0f && b[2] == 0x1e && b[3] == 0xfa)
        i = 4;
    if (i >= n || b[i] != 0x55)
        return false;
    for (size_t j = i + 1; j + 3 <= n; j++) {
        if (b[j] == 0x48 && b[j + 1] == 0x89 && b[j + 2] == 0xe5)
            return true;
    }
    return false;
}

/* Functions of at least this size are the ones judged: leaves, which GCC
 * builds without a frame either way, are mostly small. */
#define JUDGED_MIN_SIZE 32

int unwinder_file_has_frame_pointers(int fd)
{
    Elf *elf;
    Elf_Scn *scn = NULL;
    GElf_Shdr sh;
    size_t judged = 0, with_fp = 0, symsize;

    elf_version(EV_CURRENT);
    if (!(elf = elf_begin(fd, ELF_C_READ_MMAP, NULL)))
        return -ENOEXEC;
    /* an archive or any other file libelf opens: gelf_fsize needs an ELF */
    if (elf_kind(elf) != ELF_K_ELF || !(symsize = gelf_fsize(elf, ELF_T_SYM, 1, EV_CURRENT))) {
        elf_end(elf);
        return -ENOEXEC;
    }
    while ((scn = elf_nextscn(elf, scn))) {
        Elf_Data *syms;

        if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !(syms = elf_getdata(scn, NULL)))
            continue;
        /* the symbols the section holds, not what its header claims: a
         * crafted sh_size must not make this loop run for ever */
        for (size_t i = 0; i < syms->d_size / symsize; i++) {
            GElf_Sym sym;
            Elf_Scn *text;
            GElf_Shdr tsh;
            Elf_Data *code;
            uint64_t off;

            if (!gelf_getsym(syms, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
                sym.st_size < JUDGED_MIN_SIZE || sym.st_shndx == SHN_UNDEF ||
                !(text = elf_getscn(elf, sym.st_shndx)) || !gelf_getshdr(text, &tsh) ||
                tsh.sh_type != SHT_PROGBITS || !(code = elf_getdata(text, NULL)))
                continue;
            /* no wrap-around: a crafted symbol may lie outside its section */
            off = sym.st_value - tsh.sh_addr;
            if (sym.st_value < tsh.sh_addr || off > code->d_size || code->d_size - off < 16)
                continue;
            judged++;
            with_fp += frame_prologue((const uint8_t *)code->d_buf + off, 16);
        }
    }
    elf_end(elf);
    /* no symbols to judge (a stripped binary): distributions strip what
     * they build without frame pointers */
    return judged ? 3 * with_fp >= judged : 0;
}

int unwinder_exe_has_frame_pointers(struct unwinder *u, pid_t pid)
{
    char path[64];
    struct stat st = {0};
    uint64_t key[2], val;
    int fd, ret;

    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -errno;
    /* once per executable, however many processes run it */
    if (fstat(fd, &st) == 0) {
        key[0] = (uint64_t)st.st_dev;
        key[1] = (uint64_t)st.st_ino;
        if (htab_get(&u->exes, key, sizeof(key), &val)) {
            close(fd);
            return (int)val;
        }
    }
    ret = unwinder_file_has_frame_pointers(fd);
    close(fd);
    if (ret >= 0 && st.st_ino && htab_put(&u->exes, key, sizeof(key), (uint64_t)ret))
        return -ENOMEM;
    return ret;
}
