/*
 * residency: gives back the resident pages of read-only file views.
 *
 * libelf maps each ELF and debug file it opens whole, and every page that
 * symbolization or unwinding touches stays resident, counted in podflame's
 * RSS, for as long as the file stays open (hours, for libc). What podflame
 * needs from those pages is already parsed into its own indexes, so the
 * pages can go: the page cache keeps them, and touching one again costs a
 * minor fault. Only pages that are clean views of the file are released;
 * a page libelf wrote to (a private copy) is kept, since dropping it would
 * lose the write.
 */
#ifndef PODFLAME_RESIDENCY_H
#define PODFLAME_RESIDENCY_H

#include <stddef.h>

/* Releases the clean, file-backed resident pages in [addr, addr + len).
 * Anonymous memory (a file read into the heap) is never touched. Adds the
 * bytes released to *released. Returns 0 or a negative errno. */
int residency_release_file_pages(const void *addr, size_t len, size_t *released);

/* The same over the whole image of an ELF file libelf opened (NULL: none).
 * Best effort: a page that stays resident only costs memory. */
typedef struct Elf Elf;
void residency_release_elf(Elf *elf);

#endif
