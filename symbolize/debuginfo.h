/*
 * debuginfo: source-level names of one binary from its DWARF, through
 * libdwfl: the function, file and line of an address, with the functions
 * inlined there expanded innermost first. The DWARF is found wherever it
 * lives: in the binary itself; by build ID under each of the host's debug
 * directories (DIR/.build-id/xx/rest.debug); through .gnu_debuglink (beside
 * the binary, in .debug/, under /usr/lib/debug, inside the process's root,
 * then under the host's debug directories); and from debuginfod servers
 * (DEBUGINFOD_URLS, with libdebuginfod's local cache).
 *
 * Results are cached per address, in a table of bounded size.
 */
#ifndef PODFLAME_DEBUGINFO_H
#define PODFLAME_DEBUGINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libelf.h>

#include "symbolize/demangle.h"

#define SYM_MAX_INLINE 16

/* One source line of a frame: lines[0] is where the address is, inside the
 * innermost inlined function; the last is the function that contains them. */
struct sym_line {
    const char *func; /* demangled when the demangler is on */
    const char *file; /* "" when unknown */
    int line;         /* 0 when unknown */
};

enum debuginfo_source {
    DEBUGINFO_NONE = 0,  /* no DWARF found */
    DEBUGINFO_EMBEDDED,  /* in the binary */
    DEBUGINFO_SEPARATE,  /* a local file: debuglink or build-id directory */
    DEBUGINFO_DEBUGINFOD /* downloaded by libdebuginfod */
};

struct debuginfo;

/* Opens the ELF file at fd (the descriptor is duplicated; the caller keeps
 * its own). Its DWARF is looked for on first need (debuginfo_load_dwarf):
 * frame rules come from the binary's own .eh_frame, so unwinding a binary
 * does not wait for its debug file, or for a debuginfod download.
 * rootfd: the root directory of the process that maps the binary (its
 * container's; duplicated, so the search works after the process is gone),
 * DEBUGINFO_HOST_ROOT for the host's, or DEBUGINFO_UNKNOWN_ROOT when it
 * could not be told (the process went): then nothing beside the binary is
 * looked at. name: the binary's path inside that root. Debug
 * files named by the binary (.gnu_debuglink, .gnu_debugaltlink) are opened
 * only inside rootfd, never through "..", regular files only and without
 * blocking, and used only when they carry the binary's build ID (else the
 * link's CRC). debug_path: the host's own debug directories,
 * ':'-separated ("DIR...:/usr/lib/debug"), searched by build ID and for
 * debuglinks. dm (borrowed, may be NULL) demangles names. Returns 0 (also
 * when the file is no ELF: lookups then find nothing) or -ENOMEM. */
#define DEBUGINFO_HOST_ROOT    (-1)
#define DEBUGINFO_UNKNOWN_ROOT (-2)
int debuginfo_open(int fd, int rootfd, const char *name, const char *debug_path,
                   struct demangler *dm, struct debuginfo **out);
void debuginfo_free(struct debuginfo *di);

/* Finds and reads the DWARF, once; returns where it was found
 * (DEBUGINFO_NONE: nowhere). debuginfo_lookup calls it itself. A file
 * whose compressed sections would inflate past the bounds (a section over
 * 512 MiB or 100 times its compressed size, 1 GiB in all) is not read. */
enum debuginfo_source debuginfo_load_dwarf(struct debuginfo *di);

/* Whether a debug file (or the binary's own DWARF) was refused as too
 * large to inflate. */
bool debuginfo_refused(const struct debuginfo *di);

/* Whether inflating elf's compressed sections stays within the bounds
 * above. */
bool debuginfo_sections_sane(Elf *elf);

/* Fills lines for ELF virtual address vaddr; returns how many (0 when the
 * DWARF does not cover it). Strings live as long as di. */
size_t debuginfo_lookup(struct debuginfo *di, uint64_t vaddr, struct sym_line *lines, size_t max);

/* How to find a frame's caller at one address when its CFI is as simple as
 * almost all compiled code's: CFA = %rsp or %rbp + offset, the return
 * address just below the CFA, %rbp unchanged or saved at CFA + offset. */
struct frame_rule {
    uint8_t kind;    /* FRAME_RULE_* */
    uint8_t cfa_reg; /* 7 %rsp, 6 %rbp */
    bool rbp_saved;
    bool rbp_lost; /* the CFI marks %rbp undefined: the caller's is unknown */
    int32_t cfa_off, rbp_off;
};

enum {
    FRAME_RULE_COMPLEX = 0, /* needs the full CFI machine (or there is no CFI) */
    FRAME_RULE_SIMPLE,
    FRAME_RULE_OUTERMOST, /* the return address is undefined: the stack ends */
    FRAME_RULE_NONE,      /* no CFI covers the address (startup code, stubs) */
};

/* How many lookups, frame rules and CU indexes are cached, and dropping
 * them all: the symbolizer keeps the sum over binaries under a budget. */
size_t debuginfo_cached(const struct debuginfo *di);
void debuginfo_drop_cache(struct debuginfo *di);

/* Gives back the resident pages of the binary's and its debug file's
 * mappings (see residency.h). */
void debuginfo_release_pages(struct debuginfo *di);

/* Where the code at vaddr starts by the binary's .eh_frame (its FDE's
 * range): for code no symbol names, a function's start all the same.
 * Returns 0, or -ENOENT when no FDE covers vaddr. */
int debuginfo_fde_start(struct debuginfo *di, uint64_t vaddr, uint64_t *start);

/* The rule at vaddr from .eh_frame (else .debug_frame), cached per binary
 * (bounded). */
void debuginfo_frame_rule(struct debuginfo *di, uint64_t vaddr, struct frame_rule *out);

#endif
