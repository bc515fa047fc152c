#include "debuginfo.h"

#include <dwarf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <elfutils/libdwfl.h>

#include "../formats/buf.h"
#include "../formats/htab.h"

/* Cached results per binary; the table starts over when full, which keeps
 * memory bounded and the hot addresses (looked up again at once) cached. */
#define MAX_CACHED_ADDRS 65536

struct cached {
    uint32_t first; /* index into lines */
    uint32_t n;
};

struct debuginfo {
    Dwfl *dwfl;
    Dwfl_Module *mod;
    Dwfl_Callbacks cb;
    Dwarf_Addr bias; /* module address - ELF virtual address */
    char *debug_path;
    enum debuginfo_source source;
    const char *file;
    struct demangler *dm;
    struct htab addrs; /* vaddr -> index into cache */
    struct cached *cache;
    size_t ncache, cache_cap;
    struct sym_line *lines;
    size_t nlines, lines_cap;
};

int debuginfo_open(int fd, const char *name, const char *debug_path, struct demangler *dm,
                   struct debuginfo **out)
{
    struct debuginfo *di = calloc(1, sizeof(*di));
    const char *mainfile = NULL, *debugfile = NULL;
    Dwarf_Addr bias;
    Dwarf *dw;
    int dfd;

    if (!di)
        return -ENOMEM;
    di->dm = dm;
    di->file = "";
    htab_init(&di->addrs);
    if (!(di->debug_path = strdup(debug_path))) {
        free(di);
        return -ENOMEM;
    }
    di->cb = (Dwfl_Callbacks){.find_elf = dwfl_build_id_find_elf,
                              .find_debuginfo = dwfl_standard_find_debuginfo,
                              .section_address = dwfl_offline_section_address,
                              .debuginfo_path = &di->debug_path};
    *out = di;
    if ((dfd = dup(fd)) < 0)
        return 0; /* no DWARF: symbol tables still name the frames */
    if (!(di->dwfl = dwfl_begin(&di->cb))) {
        close(dfd);
        return 0;
    }
    /* offline: one module at its ELF virtual addresses; libdwfl owns dfd */
    di->mod = dwfl_report_offline(di->dwfl, name, name, dfd);
    dwfl_report_end(di->dwfl, NULL, NULL);
    /* offline modules are placed above a red zone, not at their vaddrs */
    if (!di->mod || !dwfl_module_getelf(di->mod, &di->bias) ||
        !dwfl_module_getdwarf(di->mod, &bias))
        return 0;
    dwfl_module_info(di->mod, NULL, NULL, NULL, NULL, NULL, &mainfile, &debugfile);
    dw = dwfl_module_getdwarf(di->mod, &bias);
    if (dwarf_getelf(dw) == dwfl_module_getelf(di->mod, &bias)) {
        di->source = DEBUGINFO_EMBEDDED;
        di->file = mainfile ? mainfile : name;
    } else {
        /* a local file found by libdwfl carries its name; a download by
         * libdebuginfod carries none, or its cache's .../<build-id>/debuginfo */
        size_t n = debugfile ? strlen(debugfile) : 0;

        di->source = !n || (n > 10 && !strcmp(debugfile + n - 10, "/debuginfo"))
                         ? DEBUGINFO_DEBUGINFOD
                         : DEBUGINFO_SEPARATE;
        di->file = debugfile ? debugfile : "";
    }
    return 0;
}

void debuginfo_free(struct debuginfo *di)
{
    if (!di)
        return;
    if (di->dwfl)
        dwfl_end(di->dwfl);
    htab_free(&di->addrs);
    free(di->cache);
    free(di->lines);
    free(di->debug_path);
    free(di);
}

enum debuginfo_source debuginfo_source(const struct debuginfo *di)
{
    return di->source;
}

const char *debuginfo_file(const struct debuginfo *di)
{
    return di->file;
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

/* The uncached lookup: the scopes at the address, innermost first. */
static size_t lookup(struct debuginfo *di, uint64_t elf_vaddr, struct sym_line *lines, size_t max)
{
    Dwarf_Addr bias = 0, vaddr = elf_vaddr + di->bias;
    Dwarf_Die *cu, *scopes = NULL;
    Dwfl_Line *dl;
    const char *file = "";
    int line = 0, nscopes;
    size_t n = 0;

    if (!di->mod || !(cu = dwfl_module_addrdie(di->mod, vaddr, &bias)))
        return 0;
    if ((dl = dwfl_module_getsrc(di->mod, vaddr))) {
        const char *f = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);

        file = f ? f : "";
    }
    /* the innermost scope at the address, then its parents in the concrete
     * tree (dwarf_getscopes itself turns to abstract origins at inlines) */
    nscopes = dwarf_getscopes(cu, vaddr - bias, &scopes);
    if (nscopes > 0) {
        Dwarf_Die inner = scopes[0];

        free(scopes);
        scopes = NULL;
        nscopes = dwarf_getscopes_die(&inner, &scopes);
    }
    for (int i = 0; i < nscopes && n < max; i++) {
        int tag = dwarf_tag(&scopes[i]);

        if (tag != DW_TAG_subprogram && tag != DW_TAG_inlined_subroutine &&
            tag != DW_TAG_entry_point)
            continue;
        lines[n++] =
            (struct sym_line){.func = die_name(di, &scopes[i]), .file = file, .line = line};
        if (tag != DW_TAG_inlined_subroutine)
            break;
        call_site(&scopes[i], &file, &line);
    }
    free(scopes);
    return n;
}

size_t debuginfo_lookup(struct debuginfo *di, uint64_t vaddr, struct sym_line *lines, size_t max)
{
    struct sym_line found[SYM_MAX_INLINE];
    uint64_t idx;
    size_t n;

    if (!di->mod || di->source == DEBUGINFO_NONE)
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
