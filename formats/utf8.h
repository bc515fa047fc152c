/*
 * UTF-8 validation for the writers whose formats must be valid text (JSON,
 * XML): frame names come from other people's binaries and may be anything.
 */
#ifndef PODFLAME_UTF8_H
#define PODFLAME_UTF8_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at p (at most avail bytes), or 0 when
 * the bytes there are not one (stray continuation, truncated sequence). */
static inline size_t utf8_seq_len(const unsigned char *p, size_t avail)
{
    size_t n = p[0] < 0x80         ? 1
               : (p[0] >> 5) == 6  ? 2
               : (p[0] >> 4) == 14 ? 3
               : (p[0] >> 3) == 30 ? 4
                                   : 0;

    if (n > avail)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    }
    return n;
}

#endif
