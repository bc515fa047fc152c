/*
 * UTF-8 validation for the writers whose formats must be valid text (JSON,
 * XML): frame names come from other people's binaries and may be anything.
 */
#ifndef PODFLAME_UTF8_H
#define PODFLAME_UTF8_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at p (at most avail bytes), or 0 when
 * the bytes there are not one: a stray continuation byte, a truncated or
 * overlong sequence, a surrogate, a code point past U+10FFFF, or U+FFFE and
 * U+FFFF, which XML does not allow (RFC 3629's table, plus that). */
static inline size_t utf8_seq_len(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xbf;
    size_t n;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (n > avail || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    }
    if (c == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf))
        return 0;
    return n;
}

#endif
