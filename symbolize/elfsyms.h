/*
 * elfsyms: the function symbols of one ELF file (.symtab, else .dynsym),
 * its loadable segments and its GNU build ID, read once through libelf.
 * Lookups take ELF virtual addresses; elfsyms_file_to_vaddr turns a file
 * offset (what /proc/PID/maps gives) into one, which handles PIE, non-PIE
 * and shared libraries alike.
 */
#ifndef PODFLAME_ELFSYMS_H
#define PODFLAME_ELFSYMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct elfsyms;

/* Loads symbols from an open file descriptor (not closed; may be closed
 * after return). Returns 0, -ENOEXEC for a non-ELF file, -ENOMEM, -EIO. */
int elfsyms_load_fd(int fd, struct elfsyms **out);
/* Reads only the GNU build ID of the ELF file at fd, as hex, cheaply.
 * Returns 0, -ENOEXEC (not ELF) or -ENOENT (no build ID). */
int elfsyms_build_id_fd(int fd, char hex[129]);
/* Loads from an in-memory ELF image (the vDSO); the image is copied. */
int elfsyms_load_mem(const void *image, size_t size, struct elfsyms **out);
void elfsyms_free(struct elfsyms *es);

/* Maps a file offset inside an executable PT_LOAD segment to its virtual
 * address. Returns 0 or -ENOENT when no segment covers it. */
int elfsyms_file_to_vaddr(const struct elfsyms *es, uint64_t file_off, uint64_t *vaddr);

/* The function containing vaddr and its start address; NULL if none. */
const char *elfsyms_lookup(const struct elfsyms *es, uint64_t vaddr, uint64_t *sym_start);

/* Hex build ID ("" when the file has none). */
const char *elfsyms_build_id(const struct elfsyms *es);
size_t elfsyms_count(const struct elfsyms *es);
/* Whether the symbol table was over elfsyms' bounds (2 M functions, 64 MiB
 * of distinct names, 256 MiB of names looked at; names are cut at 4 KiB)
 * and so not read: the file is then located but has no symbols. */
bool elfsyms_too_large(const struct elfsyms *es);

#endif
