/*
 * opts: option values shared by the subcommands, parsed strictly, with the
 * message a user sees. Each returns 0, or -EINVAL with "--NAME ..." in err.
 */
#ifndef PODFLAME_OPTS_H
#define PODFLAME_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A decimal integer from lo to hi; unit ends the message ("seconds"). */
int opt_uint(const char *name, const char *s, unsigned long lo, unsigned long hi, const char *unit,
             unsigned long *out, char *err, size_t errlen);
/* fp, dwarf or auto: PF_UNWIND_MODE_OFF, _ALL or _AUTO. */
int opt_unwind(const char *s, uint8_t *mode, char *err, size_t errlen);
/* true/false, yes/no, on/off, 1/0; NULL (a flag given alone) is true. */
int opt_bool(const char *name, const char *s, bool *out, char *err, size_t errlen);
/* Bytes, with an optional K, M or G suffix (powers of 1024), at least min. */
int opt_size(const char *name, const char *s, uint64_t min, uint64_t *out, char *err,
             size_t errlen);

#endif
