#include "formats/escape.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/utf8.h"

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

/* What escape_chars does beyond making the text valid UTF-8. */
enum esc_mode {
    ESC_UTF8,     /* nothing more */
    ESC_TERMINAL, /* control characters as \xHH */
    ESC_TABLE,    /* ... and '|' as "\|" */
    ESC_MD_TEXT,  /* ... and Markdown's punctuation backslash-escaped */
};

/* Appends the sequence at p (valid UTF-8 of n bytes, or a bad byte when n
 * is 0) as mode has it. */
static int put_char(struct buf *out, const unsigned char *p, size_t n, enum esc_mode mode)
{
    char hex[8];

    if (!n)
        return buf_put(out, replacement, 3);
    if (mode == ESC_UTF8)
        return buf_put(out, (const char *)p, n);
    if ((n == 1 && (p[0] < 0x20 || p[0] == 0x7f)) || (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
        snprintf(hex, sizeof(hex), "\\x%02x", n == 1 ? p[0] : p[1]);
        return buf_put(out, hex, 4);
    }
    if (mode >= ESC_TABLE && p[0] == '|')
        return buf_put(out, "\\|", 2);
    if (mode == ESC_MD_TEXT && n == 1 && strchr("\\`*_[]<>!~&", p[0]))
        return buf_put(out, "\\", 1) ? -ENOMEM : buf_put(out, (const char *)p, 1);
    return buf_put(out, (const char *)p, n);
}

static int escape_chars(struct buf *out, const char *s, size_t len, enum esc_mode mode)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    int err = 0;

    while (!err && i < len) {
        size_t n = utf8_seq_len(p + i, len - i);

        err = put_char(out, p + i, n, mode);
        i += n ? n : 1;
    }
    return err;
}

int escape_utf8(struct buf *out, const char *s, size_t len)
{
    return escape_chars(out, s, len, ESC_UTF8);
}

int escape_terminal(struct buf *out, const char *s, size_t len)
{
    return escape_chars(out, s, len, ESC_TERMINAL);
}

int escape_md_text(struct buf *out, const char *s, size_t len)
{
    return escape_chars(out, s, len, ESC_MD_TEXT);
}

int escape_md_code(struct buf *out, const char *s, size_t len, bool table_cell)
{
    size_t run = 0, longest = 0;
    char fence[64];
    int err;

    for (size_t i = 0; i < len; i++) {
        run = s[i] == '`' ? run + 1 : 0;
        if (run > longest)
            longest = run;
    }
    if (longest + 1 >= sizeof(fence)) /* a name of 63 backticks: no code span */
        return escape_md_text(out, s, len);
    memset(fence, '`', longest + 1);
    /* a space inside the fence when the text starts or ends with a
     * backtick, which would otherwise join the fence (CommonMark 6.1) */
    err = buf_put(out, fence, longest + 1);
    if (!err && longest)
        err = buf_put(out, " ", 1);
    if (!err)
        err = escape_chars(out, s, len, table_cell ? ESC_TABLE : ESC_TERMINAL);
    if (!err && longest)
        err = buf_put(out, " ", 1);
    return err ? err : buf_put(out, fence, longest + 1);
}

char *escaped(int (*how)(struct buf *, const char *, size_t), const char *s)
{
    struct buf b = {0};

    if (!s)
        s = "";
    if (how(&b, s, strlen(s)) || buf_put(&b, "", 1)) {
        free(b.d);
        return NULL;
    }
    return b.d;
}
