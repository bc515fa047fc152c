/*
 * flamegraph: renders folded stacks as an interactive SVG flame graph, in
 * the visual language of Brendan Gregg's flamegraph.pl (frames as boxes,
 * width proportional to samples, warm palette), with its options. The SVG
 * carries a small script: click to zoom, reset, search by regular
 * expression with the matched share, details on hover, Ctrl-F.
 *
 * Differential graphs: stacks with two counts (before, after) are drawn at
 * the "after" width and coloured red where they grew, blue where they shrank.
 */
#ifndef PODFLAME_FLAMEGRAPH_H
#define PODFLAME_FLAMEGRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum fg_palette {
    FG_HOT = 0,
    FG_MEM,
    FG_IO,
    FG_WAKEUP,
    FG_CHAIN,
    FG_JAVA,
    FG_JS,
    FG_PERL,
    FG_RED,
    FG_GREEN,
    FG_BLUE,
    FG_AQUA,
    FG_YELLOW,
    FG_PURPLE,
    FG_ORANGE,
};

struct fg_opts {
    const char *title;        /* NULL: "Flame Graph", "Icicle Graph" or "Flame Chart" */
    const char *subtitle;     /* NULL: none */
    const char *countname;    /* "samples" */
    const char *nametype;     /* "Function:" */
    const char *fonttype;     /* "Verdana" */
    const char *notes;        /* embedded as a comment-like <desc> */
    const char *palette_file; /* --cp: names to colours, read and extended */
    unsigned width;           /* 1200 */
    unsigned frame_height;    /* 16 */
    double fontsize;          /* 12 */
    double minwidth;          /* 0.1 px: narrower frames are omitted */
    enum fg_palette palette;
    bool random;      /* random colours instead of name hashes */
    bool inverted;    /* icicle: root at the top */
    bool flamechart;  /* keep input order (time), do not merge siblings */
    bool reverse;     /* reverse each stack: leaf becomes root */
    bool negate;      /* differential: swap red and blue */
    uint64_t total;   /* scale widths to this many samples if larger */
    bool nanoseconds; /* counts are nanoseconds: titles show durations */
};

/* One input stack: frames root first, ';'-separated. count2 < 0: none. */
struct fg_stack {
    const char *stack;
    int64_t count;
    int64_t count2; /* differential: the "after" count; -1 when not a diff */
};

/* Parses a palette name. Returns 0 or -EINVAL. */
int fg_palette_parse(const char *name, enum fg_palette *out);
void fg_opts_default(struct fg_opts *o);

/* Writes the SVG. Returns 0, -ENOMEM, -EIO, or -EINVAL with err set (a bad
 * palette file). */
int flamegraph_write(FILE *out, const struct fg_stack *stacks, size_t n, const struct fg_opts *o,
                     char *err, size_t errlen);

#endif
