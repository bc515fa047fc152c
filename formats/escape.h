/*
 * escape: text from other people's programs (frame names from binaries and
 * perf maps, servers' error messages) made safe for where it is written.
 * A name may hold any bytes: invalid UTF-8, terminal control sequences
 * (ESC[2J clears a screen), a backtick that ends a Markdown code span, a '|'
 * that starts a table cell. Each function appends the escaped text to out
 * and returns 0 or -ENOMEM.
 */
#ifndef PODFLAME_ESCAPE_H
#define PODFLAME_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>

#include "formats/buf.h"

/* Valid UTF-8: a byte that does not start a valid sequence becomes U+FFFD
 * (as JSON and XML need; jansson refuses a string otherwise). */
int escape_utf8(struct buf *out, const char *s, size_t len);

/* For a terminal or a log line: valid UTF-8, and control characters (C0,
 * DEL, C1) written as \xHH, so that nothing in s moves the cursor, changes
 * colours or rings the bell. */
int escape_terminal(struct buf *out, const char *s, size_t len);

/* As a Markdown code span: fenced by one backtick more than the longest run
 * inside, control characters as in escape_terminal, and '|' as "\|" when
 * the span sits in a table cell. Raw HTML inside a code span is shown, not
 * interpreted. */
int escape_md_code(struct buf *out, const char *s, size_t len, bool table_cell);

/* As Markdown text inside a line (not at its start): the characters that
 * open emphasis, code, links, HTML or table cells (\ ` * _ [ ] < > ! ~ & |)
 * backslash-escaped, control characters as in escape_terminal. */
int escape_md_text(struct buf *out, const char *s, size_t len);

/* A NUL-terminated copy of s through escape_utf8, escape_terminal or
 * escape_md_text; NULL when out of memory. The caller frees it. */
char *escaped(int (*how)(struct buf *, const char *, size_t), const char *s);

#endif
