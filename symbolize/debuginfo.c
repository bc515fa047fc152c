#include "symbolize/debuginfo.h"

#include <dwarf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <elfutils/debuginfod.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>

#include "formats/buf.h"
#include "formats/htab.h"
#include "symbolize/procmaps.h"
#include "symbolize/residency.h"

/* Cached results per binary; the table starts over when full, which keeps
 * memory bounded and the hot addresses (looked up again at once) cached. */
#define MAX_CACHED_ADDRS 262144

struct cached {
    uint32_t first; /* index into lines */
    uint32_t n;
};

struct cu_scopes;
static void cu_scopes_free(struct cu_scopes *cs);

struct debuginfo {
    Dwfl *dwfl;
    Dwfl_Module *mod;
    Dwfl_Callbacks cb;
    Dwarf_Addr bias;          /* module address - ELF virtual address */
    char *debug_path;         /* the host's debug directories, ':'-separated */
    char *name;               /* the binary's path inside its process's root */
    int rootfd;               /* that root (owned), or DEBUGINFO_HOST_ROOT or _UNKNOWN_ROOT */
    bool refused;             /* a debug file was over the inflation bounds */
    unsigned char alt_id[64]; /* the build ID .gnu_debugaltlink names */
    size_t alt_id_len;
    enum debuginfo_source source;
    struct demangler *dm;
    struct htab addrs; /* vaddr -> index into cache */
    struct cached *cache;
    size_t ncache, cache_cap;
    struct sym_line *lines;
    size_t nlines, lines_cap;
    bool dwarf_done;   /* debuginfo_load_dwarf ran: source is known */
    Dwarf_CFI *eh_cfi; /* the binary's .eh_frame, read on first use */
    bool eh_cfi_done;
    const uint8_t *fde_table; /* .eh_frame_hdr's sorted (start, FDE) pairs */
    size_t nfdes;
    uint64_t hdr_vaddr;
    bool fde_table_done;
    struct htab rule_index; /* vaddr -> index into rules */
    struct frame_rule *rules;
    size_t nrules, rules_cap;
    struct htab cu_index; /* CU DIE offset -> index into cus */
    struct cu_scopes **cus;
    size_t ncus, cus_cap;
};

/* ---- finding the debug file ----
 *
 * libdwfl's own search (dwfl_standard_find_debuginfo) opens a debuglink
 * relative to the binary's path as podflame's mount namespace sees it,
 * following whatever the link says: "../../etc/shadow" or a FIFO. Ours
 * looks only where a debug file of this binary may be, and opens every
 * candidate inside the process's root, without blocking, regular files
 * only, and checks it is the binary's own before libdw reads it. */

/* libdw inflates a compressed section whole when it opens the DWARF: a
 * zlib stream can grow a thousandfold, so sizes are checked first. */
#define MAX_INFLATED_SECTION ((uint64_t)512 << 20)
#define MAX_INFLATED_TOTAL   ((uint64_t)1 << 30)
#define MAX_INFLATE_RATIO    100

bool debuginfo_sections_sane(Elf *elf)
{
    uint64_t total = 0;
    Elf_Scn *scn = NULL;
    size_t shstrndx;

    if (!elf || elf_kind(elf) != ELF_K_ELF || elf_getshdrstrndx(elf, &shstrndx))
        return false;
    while ((scn = elf_nextscn(elf, scn))) {
        const unsigned char *raw;
        const char *name;
        Elf_Data *data;
        GElf_Shdr sh;
        GElf_Chdr ch;
        uint64_t size = 0;

        if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS)
            continue;
        if (sh.sh_flags & SHF_COMPRESSED) {
            if (!gelf_getchdr(scn, &ch))
                return false;
            size = ch.ch_size;
        } else if ((name = elf_strptr(elf, shstrndx, sh.sh_name)) &&
                   strncmp(name, ".zdebug", 7) == 0) {
            /* GNU style: "ZLIB" and the size, big-endian, then the stream */
            if (!(data = elf_rawdata(scn, NULL)) || data->d_size < 12 ||
                memcmp(data->d_buf, "ZLIB", 4) != 0)
                continue;
            raw = (const unsigned char *)data->d_buf + 4;
            for (int i = 0; i < 8; i++)
                size = size << 8 | raw[i];
        } else {
            continue;
        }
        if (size > MAX_INFLATED_SECTION || size / MAX_INFLATE_RATIO > sh.sh_size)
            return false;
        if ((total += size) > MAX_INFLATED_TOTAL)
            return false;
    }
    return true;
}

/* A build ID to look for: the binary's (its debug file) or the one its
 * debug information names in .gnu_debugaltlink (a dwz file). */
struct wanted {
    const unsigned char *id;
    size_t len;
    uint32_t crc; /* a debuglink's, when the binary has no build ID */
    bool check_crc;
};

/* A debuglink's CRC is of the whole file: no more than this is read for
 * it (a sparse file of a terabyte would hold the symbolizer for minutes). */
#define MAX_CRC_BYTES ((off_t)2 << 30)

/* Reads the build ID that .gnu_debugaltlink names (name, NUL, build ID)
 * into di, for the dwz file's search. */
static void read_altlink_id(struct debuginfo *di, Elf *elf)
{
    Elf_Scn *scn = NULL;
    size_t shstrndx;

    if (!elf || elf_getshdrstrndx(elf, &shstrndx))
        return;
    while ((scn = elf_nextscn(elf, scn))) {
        const char *name, *nul;
        Elf_Data *d;
        GElf_Shdr sh;
        size_t idlen;

        if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(elf, shstrndx, sh.sh_name)) ||
            strcmp(name, ".gnu_debugaltlink") != 0 || !(d = elf_getdata(scn, NULL)) || !d->d_buf ||
            !(nul = memchr(d->d_buf, '\0', d->d_size)))
            continue;
        idlen = d->d_size - (size_t)(nul + 1 - (const char *)d->d_buf);
        if (idlen && idlen <= sizeof(di->alt_id)) {
            memcpy(di->alt_id, nul + 1, idlen);
            di->alt_id_len = idlen;
        }
        return;
    }
}

/* Whether the candidate at fd is the debug file wanted: an ELF file whose
 * compressed sections are within bounds, with the wanted build ID, else
 * (a debuglink's, without one) the CRC the link names. The file's own
 * .gnu_debugaltlink is remembered when it is the binary's debug file. */
static bool candidate_matches(struct debuginfo *di, int fd, const struct wanted *w, bool is_alt)
{
    const void *have = NULL;
    ssize_t have_len;
    struct stat st;
    bool ok;
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);

    if (!elf)
        return false;
    ok = elf_kind(elf) == ELF_K_ELF;
    if (ok && !debuginfo_sections_sane(elf)) {
        di->refused = true;
        ok = false;
    }
    if (ok && w->len) {
        have_len = dwelf_elf_gnu_build_id(elf, &have);
        ok = have_len == (ssize_t)w->len && memcmp(have, w->id, w->len) == 0;
    } else if (ok && !w->check_crc) {
        ok = false; /* nothing to check it against */
    }
    if (ok && !is_alt)
        read_altlink_id(di, elf);
    elf_end(elf);
    if (ok && !w->len) {
        unsigned char buf[65536];
        uLong sum = crc32(0L, Z_NULL, 0);
        ssize_t n = -1;
        off_t at = 0;

        if (fstat(fd, &st) == 0 && st.st_size <= MAX_CRC_BYTES)
            while ((n = pread(fd, buf, sizeof(buf), at)) > 0 && at < MAX_CRC_BYTES) {
                sum = crc32(sum, buf, (uInt)n);
                at += n;
            }
        ok = n == 0 && (uint32_t)sum == w->crc;
    }
    return ok;
}

/* Opens path beneath the directory rootfd (DEBUGINFO_HOST_ROOT: the
 * host's "/"). */
static int open_candidate(int rootfd, const char *path)
{
    int dfd = rootfd, fd;

    if (rootfd < 0 && (dfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -errno;
    fd = procmaps_open_beneath(dfd, path);
    if (dfd != rootfd)
        close(dfd);
    return fd;
}

/* No "..": a link never walks up, even where the root would stop it. */
static bool no_dotdot(const char *link)
{
    const char *p = link;

    while ((p = strstr(p, ".."))) {
        if ((p == link || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
            return false;
        p += 2;
    }
    return true;
}

static int try_candidate(struct debuginfo *di, int rootfd, const char *path, const struct wanted *w,
                         bool is_alt, char **found)
{
    int fd = open_candidate(rootfd, path);

    if (fd < 0)
        return -1;
    if (!candidate_matches(di, fd, w, is_alt)) {
        close(fd);
        return -1;
    }
    *found = strdup(path);
    return fd;
}

/* DIR/.build-id/xx/rest.debug under each of the host's debug directories. */
static int find_by_build_id(struct debuginfo *di, const struct wanted *w, bool is_alt, char **found)
{
    char hex[2 * 64 + 1], path[PATH_MAX];
    int fd = -1;

    if (!w->len || w->len > 64)
        return -1;
    for (size_t i = 0; i < w->len; i++)
        snprintf(hex + 2 * i, 3, "%02x", w->id[i]);
    for (const char *d = di->debug_path; d && *d && fd < 0;) {
        const char *end = strchrnul(d, ':');

        if (*d == '/') {
            snprintf(path, sizeof(path), "%.*s/.build-id/%.2s/%s.debug", (int)(end - d), d, hex,
                     hex + 2);
            fd = try_candidate(di, DEBUGINFO_HOST_ROOT, path, w, is_alt, found);
        }
        d = *end ? end + 1 : end;
    }
    return fd;
}

/* The debuglink's places: beside the binary, in .debug/ beside it, and
 * under /usr/lib/debug, inside the process's root; then under the host's
 * own debug directories, the binary's directory resolved beneath each. A
 * link is a file name: one with a '/' is refused. */
static int find_by_link(struct debuginfo *di, const char *link, const struct wanted *w,
                        char **found)
{
    const char *slash = strrchr(di->name, '/');
    int dirlen = slash ? (int)(slash - di->name) : 0;
    char path[PATH_MAX];
    int fd = -1;

    if (!*link || strchr(link, '/') || !strcmp(link, ".") || !strcmp(link, ".."))
        return -1;
    if (di->rootfd != DEBUGINFO_UNKNOWN_ROOT) {
        snprintf(path, sizeof(path), "%.*s/%s", dirlen, di->name, link);
        if ((fd = try_candidate(di, di->rootfd, path, w, false, found)) >= 0)
            return fd;
        snprintf(path, sizeof(path), "%.*s/.debug/%s", dirlen, di->name, link);
        if ((fd = try_candidate(di, di->rootfd, path, w, false, found)) >= 0)
            return fd;
        snprintf(path, sizeof(path), "/usr/lib/debug%.*s/%s", dirlen, di->name, link);
        if ((fd = try_candidate(di, di->rootfd, path, w, false, found)) >= 0)
            return fd;
    }
    for (const char *d = di->debug_path; d && *d && fd < 0;) {
        const char *end = strchrnul(d, ':');
        char dir[PATH_MAX];
        int dirfd;

        snprintf(dir, sizeof(dir), "%.*s", (int)(end - d), d);
        d = *end ? end + 1 : end;
        if (dir[0] != '/' || (dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
            continue;
        snprintf(path, sizeof(path), "%.*s/%s", dirlen, di->name, link);
        fd = try_candidate(di, dirfd, path, w, false, found);
        if (fd >= 0 && *found) {
            char *full = NULL;

            if (asprintf(&full, "%s%s", dir, *found) > 0) {
                free(*found);
                *found = full;
            }
        }
        close(dirfd);
    }
    return fd;
}

/* A debuginfod server's copy, by build ID. libdebuginfod reads
 * DEBUGINFOD_URLS, the timeouts and its cache from the environment. */
static int find_by_debuginfod(struct debuginfo *di, const struct wanted *w, bool is_alt,
                              char **found)
{
    const char *urls = getenv("DEBUGINFOD_URLS");
    debuginfod_client *client;
    char *path = NULL;
    int fd;

    if (!w->len || !urls || !*urls || !(client = debuginfod_begin()))
        return -1;
    fd = debuginfod_find_debuginfo(client, w->id, (int)w->len, &path);
    debuginfod_end(client);
    if (fd >= 0 && (fd = procmaps_regular_fd(fd)) >= 0 && !candidate_matches(di, fd, w, is_alt)) {
        close(fd);
        fd = -1;
    }
    if (fd >= 0)
        *found = path;
    else
        free(path);
    return fd < 0 ? -1 : fd;
}

/* libdwfl asks for the binary's debug file, and then, when its DWARF names
 * one in .gnu_debugaltlink, for that dwz file, with the altlink's name. The
 * two are told apart by the binary's own .gnu_debuglink. libdwfl's own
 * search is not used at all (it follows links on the host, and keeps what
 * its build-ID lookup opened even when the caller refuses it). */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                          const char *file_name, const char *debuglink_file,
                          GElf_Word debuglink_crc, char **debuginfo_file_name)
{
    struct debuginfo *di = *userdata;
    const unsigned char *bid = NULL;
    Dwarf_Addr bias;
    GElf_Addr vaddr;
    GElf_Word crc = 0;
    Elf *elf = dwfl_module_getelf(mod, &bias);
    const char *own_link = elf ? dwelf_elf_gnu_debuglink(elf, &crc) : NULL;
    int bid_len = dwfl_module_build_id(mod, &bid, &vaddr), fd;
    bool is_alt = debuglink_file && (!own_link || strcmp(own_link, debuglink_file) != 0);
    struct wanted w = {.id = bid,
                       .len = bid_len > 0 ? (size_t)bid_len : 0,
                       .crc = debuglink_crc,
                       .check_crc = debuglink_file != NULL};

    (void)modname, (void)base, (void)file_name;
    if (is_alt) {
        /* the dwz file: by the build ID the debug information names, at
         * the altlink's absolute path inside the process's root */
        if (!di->alt_id_len)
            return -1;
        w = (struct wanted){.id = di->alt_id, .len = di->alt_id_len};
        if ((fd = find_by_build_id(di, &w, true, debuginfo_file_name)) >= 0)
            return fd;
        if (debuglink_file[0] == '/' && no_dotdot(debuglink_file) &&
            di->rootfd != DEBUGINFO_UNKNOWN_ROOT &&
            (fd = try_candidate(di, di->rootfd, debuglink_file, &w, true, debuginfo_file_name)) >=
                0)
            return fd;
        return find_by_debuginfod(di, &w, true, debuginfo_file_name);
    }
    if ((fd = find_by_build_id(di, &w, false, debuginfo_file_name)) >= 0)
        return fd;
    if (debuglink_file && (fd = find_by_link(di, debuglink_file, &w, debuginfo_file_name)) >= 0)
        return fd;
    return find_by_debuginfod(di, &w, false, debuginfo_file_name);
}

int debuginfo_open(int fd, int rootfd, const char *name, const char *debug_path,
                   struct demangler *dm, struct debuginfo **out)
{
    struct debuginfo *di = calloc(1, sizeof(*di));
    void **userdata = NULL;
    int dfd;

    if (!di)
        return -ENOMEM;
    di->dm = dm;
    htab_init(&di->addrs);
    htab_init(&di->cu_index);
    htab_init(&di->rule_index);
    if (!(di->debug_path = strdup(debug_path)) || !(di->name = strdup(name))) {
        free(di->debug_path);
        free(di);
        return -ENOMEM;
    }
    di->rootfd = rootfd;
    if (rootfd >= 0 && (di->rootfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0)) < 0)
        di->rootfd = DEBUGINFO_UNKNOWN_ROOT;
    di->cb = (Dwfl_Callbacks){.find_elf = dwfl_build_id_find_elf,
                              .find_debuginfo = find_debuginfo,
                              .section_address = dwfl_offline_section_address,
                              .debuginfo_path = &di->debug_path};
    *out = di;
    if ((dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
        return 0; /* no DWARF: symbol tables still name the frames */
    if (!(di->dwfl = dwfl_begin(&di->cb))) {
        close(dfd);
        return 0;
    }
    /* offline: one module at its ELF virtual addresses; libdwfl owns dfd */
    di->mod = dwfl_report_offline(di->dwfl, name, name, dfd);
    dwfl_report_end(di->dwfl, NULL, NULL);
    /* offline modules are placed above a red zone, not at their vaddrs */
    if (di->mod && !dwfl_module_getelf(di->mod, &di->bias))
        di->mod = NULL;
    /* the search callback finds its state through the module's slot */
    if (di->mod && dwfl_module_info(di->mod, &userdata, NULL, NULL, NULL, NULL, NULL, NULL))
        *userdata = di;
    return 0;
}

enum debuginfo_source debuginfo_load_dwarf(struct debuginfo *di)
{
    const char *debugfile = NULL;
    Dwarf_Addr bias;
    Dwarf *dw;

    if (di->dwarf_done)
        return di->source;
    di->dwarf_done = true;
    if (!di->mod)
        return di->source;
    /* the binary's own sections first: embedded DWARF is inflated too */
    if (!debuginfo_sections_sane(dwfl_module_getelf(di->mod, &bias))) {
        di->refused = true;
        return di->source;
    }
    /* embedded DWARF may name a dwz file too (a debug file found later
     * replaces this with its own) */
    read_altlink_id(di, dwfl_module_getelf(di->mod, &bias));
    /* the search (find_debuginfo): build-id directories, debuglink, then
     * debuginfod */
    if (!(dw = dwfl_module_getdwarf(di->mod, &bias)))
        return di->source;
    dwfl_module_info(di->mod, NULL, NULL, NULL, NULL, NULL, NULL, &debugfile);
    if (dwarf_getelf(dw) == dwfl_module_getelf(di->mod, &bias)) {
        di->source = DEBUGINFO_EMBEDDED;
    } else {
        /* a local file found by the search carries its name; a download by
         * libdebuginfod carries its cache's .../<build-id>/debuginfo */
        size_t n = debugfile ? strlen(debugfile) : 0;

        di->source = !n || (n > 10 && !strcmp(debugfile + n - 10, "/debuginfo"))
                         ? DEBUGINFO_DEBUGINFOD
                         : DEBUGINFO_SEPARATE;
    }
    return di->source;
}

bool debuginfo_refused(const struct debuginfo *di)
{
    return di->refused;
}

size_t debuginfo_cached(const struct debuginfo *di)
{
    return di->ncache + di->nrules + di->ncus;
}

void debuginfo_drop_cache(struct debuginfo *di)
{
    htab_free(&di->addrs);
    htab_free(&di->cu_index);
    htab_free(&di->rule_index);
    for (size_t i = 0; i < di->ncus; i++)
        cu_scopes_free(di->cus[i]);
    free(di->cus);
    free(di->rules);
    free(di->cache);
    free(di->lines);
    di->cus = NULL;
    di->rules = NULL;
    di->cache = NULL;
    di->lines = NULL;
    di->ncus = di->cus_cap = di->nrules = di->rules_cap = 0;
    di->ncache = di->cache_cap = di->nlines = di->lines_cap = 0;
}

void debuginfo_release_pages(struct debuginfo *di)
{
    Dwarf_Addr bias;
    Elf *main_elf;
    Dwarf *dw;

    if (!di->mod)
        return;
    main_elf = dwfl_module_getelf(di->mod, &bias);
    residency_release_elf(main_elf);
    /* a separate debug file is a second mapping; only a DWARF already
     * loaded is asked for, so this looks nothing up */
    dw = di->dwarf_done && di->source != DEBUGINFO_NONE ? dwfl_module_getdwarf(di->mod, &bias)
                                                        : NULL;
    if (dw && dwarf_getelf(dw) != main_elf)
        residency_release_elf(dwarf_getelf(dw));
}

void debuginfo_free(struct debuginfo *di)
{
    if (!di)
        return;
    if (di->dwfl)
        dwfl_end(di->dwfl);
    debuginfo_drop_cache(di);
    if (di->eh_cfi)
        dwarf_cfi_end(di->eh_cfi);
    if (di->rootfd >= 0)
        close(di->rootfd);
    free(di->name);
    free(di->debug_path);
    free(di);
}

/* A function's name: its linkage name (demangled) says which overload or
 * which class; the plain name is the fallback. Follows abstract origins. */
static const char *die_name(struct debuginfo *di, Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    const char *name = NULL;

    if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
        dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr))
        name = demangler_name(di->dm, dwarf_formstring(&attr));
    if (!name && dwarf_attr_integrate(die, DW_AT_name, &attr))
        name = dwarf_formstring(&attr);
    return name ? name : "[unknown]";
}

/* Where an inlined call was made: the caller's file and line. */
static void call_site(Dwarf_Die *inl, const char **file, int *line)
{
    Dwarf_Attribute attr;
    Dwarf_Word fileidx = 0, lineno = 0;
    Dwarf_Files *files;
    Dwarf_Die cu;
    size_t nfiles;
    const char *f;

    *file = "";
    *line = 0;
    if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_line, &attr), &lineno) == 0)
        *line = (int)lineno;
    if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_file, &attr), &fileidx) == 0 &&
        dwarf_diecu(inl, &cu, NULL, NULL) && dwarf_getsrcfiles(&cu, &files, &nfiles) == 0 &&
        fileidx < nfiles && (f = dwarf_filesrc(files, fileidx, NULL, NULL)))
        *file = f;
}

/* ---- a per-CU index of functions and inlined calls ----
 *
 * dwarf_getscopes walks a CU's DIE tree from its root for every address,
 * which costs a millisecond in a large CU. Instead each CU is walked once:
 * every concrete function and inlined call with code becomes a scope with
 * its address ranges and its inlined calls as children. A lookup finds the
 * function by binary search, then descends through the inlined calls that
 * contain the address. */

struct scope_range {
    uint64_t lo, hi;
};

struct scope {
    Dwarf_Off off;    /* its DIE */
    const char *name; /* resolved on first use */
    uint32_t range0, nranges;
    int32_t first_child, next_sibling; /* -1: none */
    bool inlined;
};

struct top_range {
    uint64_t lo, hi;
    uint32_t scope;
};

struct cu_scopes {
    struct scope *scopes;
    size_t n, cap;
    struct scope_range *ranges;
    size_t nranges, ranges_cap;
    struct top_range *tops; /* functions' ranges, sorted */
    size_t ntops, tops_cap;
};

static void cu_scopes_free(struct cu_scopes *cs)
{
    if (!cs)
        return;
    free(cs->scopes);
    free(cs->ranges);
    free(cs->tops);
    free(cs);
}

/* Adds die as a scope under parent (-1: a function) when it has code.
 * Returns its index, -1 when it has none, or -ENOMEM - 1. */
static int64_t add_scope(struct cu_scopes *cs, Dwarf_Die *die, int32_t parent, bool inlined)
{
    Dwarf_Addr base, lo, hi;
    ptrdiff_t off = 0;
    size_t first = cs->nranges;
    struct scope *sc;

    while ((off = dwarf_ranges(die, off, &base, &lo, &hi)) > 0) {
        if (hi <= lo)
            continue;
        if (ARRAY_RESERVE_ONE(cs->ranges, cs->nranges, cs->ranges_cap))
            return -ENOMEM - 1;
        cs->ranges[cs->nranges++] = (struct scope_range){lo, hi};
        if (parent < 0) {
            if (ARRAY_RESERVE_ONE(cs->tops, cs->ntops, cs->tops_cap))
                return -ENOMEM - 1;
            cs->tops[cs->ntops++] = (struct top_range){lo, hi, (uint32_t)cs->n};
        }
    }
    if (cs->nranges == first)
        return -1;
    if (ARRAY_RESERVE_ONE(cs->scopes, cs->n, cs->cap))
        return -ENOMEM - 1;
    sc = &cs->scopes[cs->n];
    *sc = (struct scope){.off = dwarf_dieoffset(die),
                         .range0 = (uint32_t)first,
                         .nranges = (uint32_t)(cs->nranges - first),
                         .first_child = -1,
                         .next_sibling = -1,
                         .inlined = inlined};
    if (parent >= 0) {
        sc->next_sibling = cs->scopes[parent].first_child;
        cs->scopes[parent].first_child = (int32_t)cs->n;
    }
    return (int64_t)cs->n++;
}

static int walk_scopes(struct cu_scopes *cs, Dwarf_Die *die, int32_t parent, int depth)
{
    Dwarf_Die child;

    if (depth > 64 || dwarf_child(die, &child) != 0)
        return 0;
    do {
        int tag = dwarf_tag(&child), err;
        int32_t under = parent;

        if (tag == DW_TAG_subprogram || tag == DW_TAG_entry_point ||
            tag == DW_TAG_inlined_subroutine) {
            /* a concrete function is never inlined into its lexical parent */
            int64_t me = add_scope(cs, &child, tag == DW_TAG_inlined_subroutine ? parent : -1,
                                   tag == DW_TAG_inlined_subroutine);

            if (me < -1)
                return -ENOMEM;
            if (me < 0 && tag == DW_TAG_subprogram)
                continue; /* a declaration or an abstract instance: no code */
            if (me >= 0)
                under = (int32_t)me;
        } else if (tag == DW_TAG_formal_parameter || tag == DW_TAG_variable ||
                   tag == DW_TAG_member || tag == DW_TAG_enumerator || tag == DW_TAG_typedef ||
                   tag == DW_TAG_base_type || tag == DW_TAG_pointer_type || tag == DW_TAG_label ||
                   tag == DW_TAG_GNU_call_site || tag == DW_TAG_call_site) {
            continue; /* leaves: nothing with code below */
        }
        if (dwarf_haschildren(&child) && (err = walk_scopes(cs, &child, under, depth + 1)))
            return err;
    } while (dwarf_siblingof(&child, &child) == 0);
    return 0;
}

static int cmp_top(const void *a, const void *b)
{
    const struct top_range *x = a, *y = b;

    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* The index of the CU at cu, built on first use. NULL on -ENOMEM. */
static struct cu_scopes *cu_scopes_of(struct debuginfo *di, Dwarf_Die *cu)
{
    Dwarf_Off off = dwarf_dieoffset(cu);
    struct cu_scopes *cs;
    uint64_t idx;

    if (htab_get(&di->cu_index, &off, sizeof(off), &idx))
        return di->cus[idx];
    if (!(cs = calloc(1, sizeof(*cs))) || walk_scopes(cs, cu, -1, 0) ||
        /* an array of pointers: sizeof(*di->cus) is meant */
        ARRAY_RESERVE_ONE(di->cus, di->ncus, di->cus_cap) || // NOLINT(bugprone-sizeof-expression)
        htab_put(&di->cu_index, &off, sizeof(off), di->ncus)) {
        cu_scopes_free(cs);
        return NULL;
    }
    if (cs->ntops)
        qsort(cs->tops, cs->ntops, sizeof(*cs->tops), cmp_top);
    di->cus[di->ncus++] = cs;
    return cs;
}

static bool scope_has(const struct cu_scopes *cs, const struct scope *sc, uint64_t a)
{
    for (uint32_t i = 0; i < sc->nranges; i++) {
        const struct scope_range *r = &cs->ranges[sc->range0 + i];

        if (a >= r->lo && a < r->hi)
            return true;
    }
    return false;
}

/* The function containing a, then the inlined calls containing it, outer
 * first, into chain. Returns the depth. */
static size_t scope_chain(const struct cu_scopes *cs, uint64_t a, int32_t *chain, size_t max)
{
    size_t lo = 0, hi = cs->ntops, n = 0;
    int32_t cur;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (cs->tops[mid].lo <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* ranges of functions do not overlap, but be lenient with odd DWARF */
    while (lo > 0 && a >= cs->tops[lo - 1].hi && lo > 1 && cs->tops[lo - 2].hi > a)
        lo--;
    if (!lo || a >= cs->tops[lo - 1].hi)
        return 0;
    cur = (int32_t)cs->tops[lo - 1].scope;
    while (cur >= 0 && n < max) {
        int32_t c;

        chain[n++] = cur;
        for (c = cs->scopes[cur].first_child; c >= 0; c = cs->scopes[c].next_sibling) {
            if (scope_has(cs, &cs->scopes[c], a))
                break;
        }
        cur = c;
    }
    return n;
}

/* The uncached lookup: the chain at the address, innermost first. */
static size_t lookup(struct debuginfo *di, uint64_t elf_vaddr, struct sym_line *lines, size_t max)
{
    Dwarf_Addr bias = 0, vaddr = elf_vaddr + di->bias;
    int32_t chain[SYM_MAX_INLINE];
    struct cu_scopes *cs;
    Dwarf_Die *cu, die;
    Dwfl_Line *dl;
    Dwarf *dw;
    const char *file = "";
    int line = 0;
    size_t depth, n = 0;

    if (!di->mod || debuginfo_load_dwarf(di) == DEBUGINFO_NONE ||
        !(cu = dwfl_module_addrdie(di->mod, vaddr, &bias)) ||
        !(dw = dwfl_module_getdwarf(di->mod, &bias)) || !(cs = cu_scopes_of(di, cu)))
        return 0;
    if ((dl = dwfl_module_getsrc(di->mod, vaddr))) {
        const char *f = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);

        file = f ? f : "";
    }
    depth = scope_chain(cs, vaddr - bias, chain, SYM_MAX_INLINE);
    /* innermost first: each inlined call's call site is its caller's line */
    for (size_t i = depth; i-- > 0 && n < max;) {
        struct scope *sc = &cs->scopes[chain[i]];

        if (!dwarf_offdie(dw, sc->off, &die))
            break;
        if (!sc->name)
            sc->name = die_name(di, &die);
        lines[n++] = (struct sym_line){.func = sc->name, .file = file, .line = line};
        if (sc->inlined)
            call_site(&die, &file, &line);
    }
    return n;
}

size_t debuginfo_lookup(struct debuginfo *di, uint64_t vaddr, struct sym_line *lines, size_t max)
{
    struct sym_line found[SYM_MAX_INLINE];
    uint64_t idx;
    size_t n;

    if (!di->mod || debuginfo_load_dwarf(di) == DEBUGINFO_NONE)
        return 0;
    if (htab_get(&di->addrs, &vaddr, sizeof(vaddr), &idx)) {
        const struct cached *c = &di->cache[idx];

        n = c->n < max ? c->n : max;
        memcpy(lines, di->lines + c->first, n * sizeof(*lines));
        return n;
    }
    n = lookup(di, vaddr, found, SYM_MAX_INLINE);
    if (di->ncache >= MAX_CACHED_ADDRS) {
        htab_free(&di->addrs);
        htab_init(&di->addrs);
        di->ncache = di->nlines = 0;
    }
    /* a failed cache insert costs only speed */
    if (!array_reserve((void **)&di->lines, &di->lines_cap, di->nlines + n, sizeof(*di->lines)) &&
        !ARRAY_RESERVE_ONE(di->cache, di->ncache, di->cache_cap) &&
        !htab_put(&di->addrs, &vaddr, sizeof(vaddr), di->ncache)) {
        memcpy(di->lines + di->nlines, found, n * sizeof(*found));
        di->cache[di->ncache++] = (struct cached){(uint32_t)di->nlines, (uint32_t)n};
        di->nlines += n;
    }
    if (n > max)
        n = max;
    memcpy(lines, found, n * sizeof(*lines));
    return n;
}

/* ---- frame rules for the unwinder's fast path ---- */

/* A register's rule as an offset from the CFA: true with *off when it is
 * saved at CFA + off; *same when it keeps its value. */
static bool saved_at(Dwarf_Frame *frame, int reg, int32_t *off, bool *same, bool *undefined)
{
    Dwarf_Op mem[3], *ops;
    size_t nops;

    *same = *undefined = false;
    if (dwarf_frame_register(frame, reg, mem, &ops, &nops) != 0)
        return false;
    if (nops == 0) {
        /* libdw.h: ops at ops_mem means "undefined", NULL "same value" */
        *undefined = ops != NULL;
        *same = ops == NULL;
        return false;
    }
    if (ops[0].atom != DW_OP_call_frame_cfa)
        return false;
    if (nops == 1) {
        *off = 0;
        return true;
    }
    if (nops == 2 && ops[1].atom == DW_OP_plus_uconst) {
        *off = (int32_t)ops[1].number;
        return true;
    }
    if (nops == 3 && ops[1].atom == DW_OP_consts && ops[2].atom == DW_OP_plus) {
        *off = (int32_t)(int64_t)ops[1].number;
        return true;
    }
    return false;
}

/* The binary's .eh_frame, read on first use: it needs no debug
 * information, so a debug-info lookup that failed (a silent debuginfod)
 * cannot take it away; its addresses are the ELF's own. */
static Dwarf_CFI *eh_cfi(struct debuginfo *di)
{
    Dwarf_Addr bias;

    if (!di->eh_cfi_done) {
        Elf *elf = di->mod ? dwfl_module_getelf(di->mod, &bias) : NULL;

        di->eh_cfi = elf ? dwarf_getcfi_elf(elf) : NULL;
        di->eh_cfi_done = true;
    }
    return di->eh_cfi;
}

/* .eh_frame_hdr's binary search table, as the linker writes it: pairs of
 * 4-byte offsets from the header (DW_EH_PE_datarel | DW_EH_PE_sdata4),
 * sorted by the FDEs' starting addresses. libdw finds an address's CFI row
 * but not where its FDE starts; this table says it. */
static void read_fde_table(struct debuginfo *di)
{
    Dwarf_Addr bias;
    Elf *elf = di->mod ? dwfl_module_getelf(di->mod, &bias) : NULL;
    Elf_Scn *scn = NULL;
    size_t shstrndx;

    di->fde_table_done = true;
    if (!elf || elf_getshdrstrndx(elf, &shstrndx))
        return;
    while ((scn = elf_nextscn(elf, scn))) {
        GElf_Shdr sh;
        const char *name;
        const uint8_t *h;
        Elf_Data *d;

        if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(elf, shstrndx, sh.sh_name)) ||
            strcmp(name, ".eh_frame_hdr") != 0)
            continue;
        /* version 1, eh_frame_ptr pcrel|sdata4, count udata4, table
         * datarel|sdata4: what GNU ld, gold and lld write */
        if (!(d = elf_getdata(scn, NULL)) || d->d_size < 12 || !(h = d->d_buf) || h[0] != 1 ||
            h[1] != 0x1b || h[2] != 0x03 || h[3] != 0x3b)
            return;
        di->nfdes = (size_t)(h[8] | h[9] << 8 | h[10] << 16 | (uint32_t)h[11] << 24);
        if (di->nfdes > (d->d_size - 12) / 8)
            di->nfdes = (d->d_size - 12) / 8;
        di->fde_table = h + 12;
        di->hdr_vaddr = sh.sh_addr;
        return;
    }
}

static uint64_t fde_entry_start(const struct debuginfo *di, size_t i)
{
    const uint8_t *e = di->fde_table + 8 * i;
    int32_t rel = (int32_t)(e[0] | e[1] << 8 | e[2] << 16 | (uint32_t)e[3] << 24);

    return di->hdr_vaddr + (uint64_t)(int64_t)rel;
}

int debuginfo_fde_start(struct debuginfo *di, uint64_t vaddr, uint64_t *start)
{
    Dwarf_Frame *frame = NULL;
    Dwarf_CFI *cfi = eh_cfi(di);
    size_t lo = 0, hi;
    bool covered;

    if (!di->fde_table_done)
        read_fde_table(di);
    /* an FDE covers vaddr (libdw says), and the table says where it starts */
    covered = cfi && di->nfdes && dwarf_cfi_addrframe(cfi, vaddr, &frame) == 0;
    free(frame);
    if (!covered)
        return -ENOENT;
    hi = di->nfdes;
    while (lo < hi) { /* the first entry starting past vaddr */
        size_t mid = lo + (hi - lo) / 2;

        if (fde_entry_start(di, mid) <= vaddr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (!lo)
        return -ENOENT;
    *start = fde_entry_start(di, lo - 1);
    return 0;
}

static struct frame_rule make_rule(struct debuginfo *di, uint64_t vaddr)
{
    struct frame_rule r = {.kind = FRAME_RULE_COMPLEX};
    Dwarf_Frame *frame = NULL;
    Dwarf_Addr bias;
    Dwarf_CFI *cfi;
    Dwarf_Op *ops;
    size_t nops;
    int32_t off;
    bool same, undefined;

    if (!eh_cfi(di) || dwarf_cfi_addrframe(di->eh_cfi, vaddr, &frame) != 0) {
        /* .debug_frame, which may be in the debug file: the DWARF is
         * loaded for it (rarely: .eh_frame covers nearly all code) */
        if (di->mod)
            debuginfo_load_dwarf(di);
        if (!di->mod || di->refused || !(cfi = dwfl_module_dwarf_cfi(di->mod, &bias)) ||
            dwarf_cfi_addrframe(cfi, vaddr + di->bias - bias, &frame) != 0) {
            if (di->eh_cfi || di->mod)
                r.kind = FRAME_RULE_NONE;
            return r;
        }
    }
    /* the return address (column 16): undefined marks the outermost frame;
     * else it must sit just below the CFA, where a call pushes it */
    if (!saved_at(frame, 16, &off, &same, &undefined)) {
        r.kind = undefined ? FRAME_RULE_OUTERMOST : FRAME_RULE_COMPLEX;
        free(frame);
        return r;
    }
    if (off != -8 || dwarf_frame_cfa(frame, &ops, &nops) != 0 || nops != 1)
        goto out;
    if (ops[0].atom == DW_OP_bregx && (ops[0].number == 7 || ops[0].number == 6)) {
        r.cfa_reg = (uint8_t)ops[0].number;
        r.cfa_off = (int32_t)ops[0].number2;
    } else if (ops[0].atom == DW_OP_breg7 || ops[0].atom == DW_OP_breg6) {
        r.cfa_reg = ops[0].atom == DW_OP_breg7 ? 7 : 6;
        r.cfa_off = (int32_t)ops[0].number;
    } else {
        goto out;
    }
    if (saved_at(frame, 6, &r.rbp_off, &same, &undefined))
        r.rbp_saved = true;
    else if (undefined)
        r.rbp_lost = true; /* the caller's %rbp is unknown from here on */
    else if (!same)
        goto out;
    r.kind = FRAME_RULE_SIMPLE;
out:
    free(frame);
    return r;
}

#define MAX_CACHED_RULES 65536 /* per binary; the table starts over when full */

void debuginfo_frame_rule(struct debuginfo *di, uint64_t vaddr, struct frame_rule *out)
{
    uint64_t idx;

    if (htab_get(&di->rule_index, &vaddr, sizeof(vaddr), &idx)) {
        *out = di->rules[idx];
        return;
    }
    *out = make_rule(di, vaddr);
    if (di->nrules >= MAX_CACHED_RULES) {
        htab_free(&di->rule_index);
        htab_init(&di->rule_index);
        di->nrules = 0;
    }
    /* a failed insert costs only speed */
    if (!ARRAY_RESERVE_ONE(di->rules, di->nrules, di->rules_cap) &&
        !htab_put(&di->rule_index, &vaddr, sizeof(vaddr), di->nrules))
        di->rules[di->nrules++] = *out;
}
