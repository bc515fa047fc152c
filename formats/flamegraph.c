#include "formats/flamegraph.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/buf.h"
#include "formats/htab.h"
#include "formats/utf8.h"

#define XPAD 10.0

static const char *const palette_names[] = {
    [FG_HOT] = "hot",       [FG_MEM] = "mem",       [FG_IO] = "io",         [FG_WAKEUP] = "wakeup",
    [FG_CHAIN] = "chain",   [FG_JAVA] = "java",     [FG_JS] = "js",         [FG_PERL] = "perl",
    [FG_RED] = "red",       [FG_GREEN] = "green",   [FG_BLUE] = "blue",     [FG_AQUA] = "aqua",
    [FG_YELLOW] = "yellow", [FG_PURPLE] = "purple", [FG_ORANGE] = "orange",
};

int fg_palette_parse(const char *name, enum fg_palette *out)
{
    for (size_t i = 0; i < sizeof(palette_names) / sizeof(palette_names[0]); i++) {
        if (!strcmp(name, palette_names[i])) {
            *out = (enum fg_palette)i;
            return 0;
        }
    }
    return -EINVAL;
}

void fg_opts_default(struct fg_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->countname = "samples";
    o->nametype = "Function:";
    o->fonttype = "Verdana";
    o->width = 1200;
    o->frame_height = 16;
    o->fontsize = 12;
    o->minwidth = 0.1;
}

/* ---- layout ---- */

struct node {
    const char *name; /* into the stack string */
    size_t len;
    unsigned depth;
    uint64_t start, end; /* in samples */
    int64_t delta;       /* differential: after - before, summed */
};

struct layout {
    struct node *nodes;
    size_t n, cap;
    size_t *open; /* node index per depth of the current path */
    size_t open_cap;
    unsigned max_depth;
    int64_t max_delta;
};

static int add_node(struct layout *l, const char *name, size_t len, unsigned depth, uint64_t x,
                    size_t *idx)
{
    if (ARRAY_RESERVE_ONE(l->nodes, l->n, l->cap) ||
        array_reserve((void **)&l->open, &l->open_cap, (size_t)depth + 1, sizeof(*l->open)))
        return -ENOMEM;
    l->nodes[l->n] = (struct node){name, len, depth, x, x, 0};
    l->open[depth] = l->n;
    *idx = l->n++;
    if (depth > l->max_depth)
        l->max_depth = depth;
    return 0;
}

/* Frames of sorted stacks that share a prefix with the previous stack
 * extend its boxes; the rest open new ones. Depth 0 is the root "all". */
static int build(struct layout *l, const struct fg_stack *const *stacks, size_t n, bool diff,
                 uint64_t *total)
{
    const char **fr = NULL;
    size_t *frl = NULL, nfr = 0, cap = 0, capl = 0;
    unsigned open_depth = 0; /* deepest open frame depth */
    uint64_t x = 0;
    size_t idx;
    int err = add_node(l, "all", 3, 0, 0, &idx);

    if (err)
        return err;
    for (size_t i = 0; !err && i < n; i++) {
        const struct fg_stack *s = stacks[i];
        int64_t w = diff ? s->count2 : s->count;
        unsigned common = 0, nf = 0;
        const char *p = s->stack;

        if (w <= 0 && !(diff && s->count > 0))
            continue;
        /* split into frames, comparing with the open path as we go */
        for (;;) {
            const char *semi = strchr(p, ';');
            size_t len = semi ? (size_t)(semi - p) : strlen(p);

            if (ARRAY_RESERVE_ONE(fr, nf, cap) || ARRAY_RESERVE_ONE(frl, nf, capl)) {
                err = -ENOMEM;
                break;
            }
            fr[nf] = p;
            frl[nf++] = len;
            if (!semi)
                break;
            p = semi + 1;
        }
        if (err)
            break;
        while (common < nf && common < nfr && common + 1 <= open_depth) {
            const struct node *o = &l->nodes[l->open[common + 1]];

            if (o->len != frl[common] || memcmp(o->name, fr[common], frl[common]) != 0)
                break;
            common++;
        }
        for (unsigned d = open_depth; d > common; d--)
            l->nodes[l->open[d]].end = x;
        for (unsigned d = common; !err && d < nf; d++)
            err = add_node(l, fr[d], frl[d], d + 1, x, &idx);
        open_depth = nf;
        nfr = nf;
        if (diff) {
            int64_t delta = s->count2 - s->count;

            for (unsigned d = 0; d <= open_depth; d++)
                l->nodes[l->open[d]].delta += delta;
        }
        x += (uint64_t)(w > 0 ? w : 0);
    }
    for (unsigned d = open_depth; d > 0; d--)
        l->nodes[l->open[d]].end = x;
    l->nodes[0].end = x;
    for (size_t i = 0; diff && i < l->n; i++) {
        int64_t a = l->nodes[i].delta < 0 ? -l->nodes[i].delta : l->nodes[i].delta;

        if (i && a > l->max_delta)
            l->max_delta = a;
    }
    *total = x;
    free(fr);
    free(frl);
    return err;
}

/* ---- colours ---- */

/* A stable value in [0, 1) from a name, so a function keeps its colour
 * across graphs (flamegraph.pl --hash). */
static double name_hash(const char *s, size_t len, bool reversed)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[reversed ? len - 1 - i : i]) * 0x100000001b3ULL;
    h ^= h >> 29;
    return (double)(h >> 11) / 9007199254740992.0;
}

static bool has_annotation(const char *s, size_t len, char kind)
{
    return len >= 4 && s[len - 4] == '_' && s[len - 3] == '[' && s[len - 2] == kind &&
           s[len - 1] == ']';
}

static bool contains(const char *s, size_t len, const char *needle)
{
    return memmem(s, len, needle, strlen(needle)) != NULL;
}

static void hue(enum fg_palette pal, double v1, double v2, double v3, int rgb[3])
{
    switch (pal) {
    case FG_MEM:
        rgb[0] = 0, rgb[1] = 190 + (int)(50 * v2), rgb[2] = 210 * v1;
        break;
    case FG_IO:
    case FG_BLUE:
        rgb[0] = 80 + (int)(60 * v1), rgb[1] = rgb[0], rgb[2] = 190 + (int)(55 * v2);
        break;
    case FG_RED:
        rgb[0] = 200 + (int)(55 * v1), rgb[1] = 50 + (int)(80 * v1), rgb[2] = rgb[1];
        break;
    case FG_GREEN:
        rgb[1] = 200 + (int)(55 * v1), rgb[0] = 50 + (int)(60 * v1), rgb[2] = rgb[0];
        break;
    case FG_AQUA:
    case FG_WAKEUP:
        rgb[0] = 50 + (int)(60 * v1), rgb[1] = 165 + (int)(55 * v1), rgb[2] = rgb[1];
        break;
    case FG_YELLOW:
        rgb[0] = 175 + (int)(55 * v1), rgb[1] = rgb[0], rgb[2] = 50 + (int)(20 * v1);
        break;
    case FG_PURPLE:
        rgb[0] = 190 + (int)(65 * v1), rgb[1] = 80 + (int)(60 * v1), rgb[2] = rgb[0];
        break;
    case FG_ORANGE:
        rgb[0] = 190 + (int)(65 * v1), rgb[1] = 90 + (int)(65 * v1), rgb[2] = 0;
        break;
    default: /* hot */
        rgb[0] = 205 + (int)(50 * v3), rgb[1] = (int)(230 * v1), rgb[2] = (int)(55 * v2);
        break;
    }
}

/* The palette a frame is drawn in: annotations pick kernel, JIT and inlined
 * hues in the warm palettes; the language palettes look at the name. */
static enum fg_palette frame_palette(enum fg_palette pal, const char *s, size_t len)
{
    if (pal >= FG_RED)
        return pal;
    if (pal == FG_CHAIN)
        return has_annotation(s, len, 'w') ? FG_AQUA : FG_BLUE;
    if (has_annotation(s, len, 'k'))
        return FG_ORANGE;
    if (has_annotation(s, len, 'j'))
        return FG_GREEN;
    if (has_annotation(s, len, 'i'))
        return FG_AQUA;
    if (has_annotation(s, len, 'w'))
        return FG_AQUA;
    switch (pal) {
    case FG_JAVA:
        if (contains(s, len, "::"))
            return FG_YELLOW; /* C++ in the JVM */
        return memchr(s, '/', len) || (len && s[0] == 'L') ? FG_GREEN : FG_RED;
    case FG_JS:
        if (contains(s, len, "::"))
            return FG_YELLOW;
        return contains(s, len, ".js") || contains(s, len, " ") ? FG_GREEN : FG_RED;
    case FG_PERL:
        if (contains(s, len, "::"))
            return FG_YELLOW;
        return contains(s, len, "Perl") || contains(s, len, ".pl") ? FG_GREEN : FG_RED;
    default:
        return pal;
    }
}

struct palette_map {
    struct htab index; /* name -> packed rgb */
    char *file;
    FILE *append; /* new names are appended to the file */
};

static int palette_load(struct palette_map *pm, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    int ret = 0;

    htab_init(&pm->index);
    if (f) {
        while ((n = getline(&line, &cap, f)) >= 0) {
            char *arrow = strstr(line, "->");
            unsigned r, g, b;

            lineno++;
            if (n && line[n - 1] == '\n')
                line[--n] = '\0';
            if (!n)
                continue;
            if (!arrow || sscanf(arrow + 2, "rgb(%u,%u,%u)", &r, &g, &b) != 3 || r > 255 ||
                g > 255 || b > 255) {
                snprintf(err, errlen, "%s:%zu: not a 'name->rgb(r,g,b)' line", path, lineno);
                ret = -EINVAL;
                break;
            }
            if (htab_put(&pm->index, line, (size_t)(arrow - line), r << 16 | g << 8 | b)) {
                ret = -ENOMEM;
                break;
            }
        }
        if (!ret && !feof(f)) { /* getline ran out of memory, or reading failed */
            ret = ferror(f) ? -EIO : -ENOMEM;
            if (ret == -EIO)
                snprintf(err, errlen, "cannot read palette file %s", path);
        }
        fclose(f);
        free(line);
    }
    if (!ret) {
        pm->append = fopen(path, "ae");
        if (!pm->append) {
            snprintf(err, errlen, "cannot write palette file %s: %s", path, strerror(errno));
            ret = -EINVAL;
        }
    }
    return ret;
}

static void frame_colour(const struct fg_opts *o, struct palette_map *pm, const struct node *nd,
                         bool diff, int64_t max_delta, int rgb[3])
{
    uint64_t packed;

    if (diff) {
        int64_t d = o->negate ? -nd->delta : nd->delta;
        double f = max_delta ? (double)(d < 0 ? -d : d) / (double)max_delta : 0;
        int c = 210 - (int)(210 * f);

        if (d > 0)
            rgb[0] = 255, rgb[1] = c, rgb[2] = c;
        else if (d < 0)
            rgb[0] = c, rgb[1] = c, rgb[2] = 255;
        else
            rgb[0] = rgb[1] = rgb[2] = 250;
        return;
    }
    if (pm && htab_get(&pm->index, nd->name, nd->len, &packed)) {
        rgb[0] = (int)(packed >> 16 & 255), rgb[1] = (int)(packed >> 8 & 255),
        rgb[2] = (int)(packed & 255);
        return;
    }
    if (o->random)
        hue(frame_palette(o->palette, nd->name, nd->len), drand48(), drand48(), drand48(), rgb);
    else
        hue(frame_palette(o->palette, nd->name, nd->len), name_hash(nd->name, nd->len, false),
            name_hash(nd->name, nd->len, true), name_hash(nd->name, nd->len, true), rgb);
    if (pm && pm->append &&
        !htab_put(&pm->index, nd->name, nd->len, (uint64_t)(rgb[0] << 16 | rgb[1] << 8 | rgb[2])))
        fprintf(pm->append, "%.*s->rgb(%d,%d,%d)\n", (int)nd->len, nd->name, rgb[0], rgb[1],
                rgb[2]);
}

/* ---- output ---- */

/* Escapes s[0..len) for XML; invalid UTF-8 (from the input, or from cutting
 * a label short) becomes U+FFFD so that the document always parses. */
static void xml_text(FILE *f, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        size_t n = utf8_seq_len((const unsigned char *)s + i, len - i);

        if (n > 1) {
            fwrite(s + i, 1, n, f);
            i += n - 1;
            continue;
        }
        if (!n) {
            fputs("&#xfffd;", f);
            continue;
        }
        switch (c) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&apos;", f);
            break;
        default:
            if (c < 0x20 && c != '\t')
                fputc('?', f); /* not allowed in XML 1.0 */
            else
                fputc(c, f);
        }
    }
}

static size_t display_len(const char *s, size_t len)
{
    /* annotations choose colours; they are not shown */
    if (has_annotation(s, len, 'k') || has_annotation(s, len, 'j') || has_annotation(s, len, 'i') ||
        has_annotation(s, len, 'w'))
        return len - 4;
    return len;
}

/* The script: zoom, search, details. Frames are <g> in #frames, each with
 * a <title>, a <rect> and a <text>; their unzoomed geometry is read once. */
static const char script[] =
    "'use strict';\n"
    "var svg, frames, details, matched, unzoom, searchbtn, geo = [], searching = null;\n"
    "var W, PAD = 10, FS, INVERTED;\n"
    "function init(evt) {\n"
    "  svg = document.documentElement;\n"
    "  W = +svg.getAttribute('width'); FS = +svg.getAttribute('data-fontsize');\n"
    "  INVERTED = svg.getAttribute('data-inverted') === '1';\n"
    "  details = document.getElementById('details').firstChild;\n"
    "  matched = document.getElementById('matched');\n"
    "  unzoom = document.getElementById('unzoom');\n"
    "  searchbtn = document.getElementById('search');\n"
    "  frames = Array.prototype.slice.call(document.querySelectorAll('#frames > g'));\n"
    "  frames.forEach(function (g, i) {\n"
    "    var r = g.querySelector('rect');\n"
    "    geo.push({x: +r.getAttribute('x'), w: +r.getAttribute('width'),\n"
    "              y: +r.getAttribute('y'), name: g.querySelector('title').textContent,\n"
    "              label: g.getAttribute('data-name'), fill: r.getAttribute('fill')});\n"
    "    g.addEventListener('click', function () { zoom(i); });\n"
    "    g.addEventListener('mouseover', function () { details.nodeValue = "
    "svg.getAttribute('data-nametype') + ' ' + geo[i].name; });\n"
    "    g.addEventListener('mouseout', function () { details.nodeValue = ' '; });\n"
    "  });\n"
    "  unzoom.addEventListener('click', reset);\n"
    "  searchbtn.addEventListener('click', function () { searching ? clearSearch() : askSearch(); "
    "});\n"
    "  window.addEventListener('keydown', function (e) {\n"
    "    if (e.keyCode === 114 || ((e.ctrlKey || e.metaKey) && e.keyCode === 70)) { "
    "e.preventDefault(); askSearch(); }\n"
    "    else if (e.keyCode === 27) { clearSearch(); reset(); }\n"
    "  });\n"
    "}\n"
    "function fit(i, x, w) {\n"
    "  var g = frames[i], r = g.querySelector('rect'), t = g.querySelector('text');\n"
    "  r.setAttribute('x', x); r.setAttribute('width', w); t.setAttribute('x', x + 3);\n"
    "  var chars = Math.floor((w - 6) / (FS * 0.59)), s = geo[i].label;\n"
    "  t.textContent = chars < 3 ? '' : s.length <= chars ? s : s.substring(0, chars - 2) + '..';\n"
    "}\n"
    "function below(a, b) { return INVERTED ? geo[a].y > geo[b].y : geo[a].y < geo[b].y; }\n"
    "function zoom(i) {\n"
    "  var z = geo[i], ratio = (W - 2 * PAD) / z.w;\n"
    "  frames.forEach(function (g, j) {\n"
    "    var f = geo[j], inside = f.x >= z.x - 1e-6 && f.x + f.w <= z.x + z.w + 1e-6;\n"
    "    g.classList.remove('hide'); g.classList.remove('parent');\n"
    "    if (f.x <= z.x + 1e-6 && f.x + f.w >= z.x + z.w - 1e-6 && below(i, j)) {\n"
    "      g.classList.add('parent'); fit(j, PAD, W - 2 * PAD);\n"
    "    } else if (inside && (j === i || below(j, i))) {\n"
    "      fit(j, PAD + (f.x - z.x) * ratio, f.w * ratio);\n"
    "    } else { g.classList.add('hide'); }\n"
    "  });\n"
    "  unzoom.classList.remove('hide');\n"
    "  if (searching) search(searching);\n"
    "}\n"
    "function reset() {\n"
    "  frames.forEach(function (g, j) { g.classList.remove('hide'); g.classList.remove('parent'); "
    "fit(j, geo[j].x, geo[j].w); });\n"
    "  unzoom.classList.add('hide');\n"
    "  if (searching) search(searching);\n"
    "}\n"
    "function askSearch() {\n"
    "  var term = prompt('Search for (regular expression):', '');\n"
    "  if (term) search(term);\n"
    "}\n"
    "function search(term) {\n"
    "  var re; try { re = new RegExp(term); } catch (e) { matched.textContent = 'bad regular "
    "expression'; return; }\n"
    "  searching = term; var spans = [];\n"
    "  frames.forEach(function (g, j) {\n"
    "    var r = g.querySelector('rect');\n"
    "    if (re.test(geo[j].label) && !g.classList.contains('hide')) {\n"
    "      r.setAttribute('fill', 'rgb(230,0,230)'); spans.push([+r.getAttribute('x'), "
    "+r.getAttribute('width')]);\n"
    "    } else { r.setAttribute('fill', geo[j].fill); }\n"
    "  });\n"
    "  spans.sort(function (a, b) { return a[0] - b[0]; });\n"
    "  var covered = 0, end = -Infinity;\n"
    "  spans.forEach(function (s) { var a = Math.max(s[0], end), b = s[0] + s[1]; if (b > a) { "
    "covered += b - a; end = b; } });\n"
    "  var pct = 100 * covered / (W - 2 * PAD);\n"
    "  matched.textContent = 'Matched: ' + (pct > 99.95 ? '100' : pct.toFixed(1)) + '%';\n"
    "  matched.setAttribute('data-matched', pct.toFixed(3));\n"
    "  searchbtn.textContent = 'Reset Search';\n"
    "}\n"
    "function clearSearch() {\n"
    "  searching = null;\n"
    "  frames.forEach(function (g, j) { g.querySelector('rect').setAttribute('fill', geo[j].fill); "
    "});\n"
    "  matched.textContent = ' '; searchbtn.textContent = 'Search';\n"
    "}\n";

static void write_text(FILE *f, const char *id, double x, double y, const char *anchor, double size,
                       const char *s, const char *cls)
{
    fprintf(f, "<text id=\"%s\"%s%s%s x=\"%.2f\" y=\"%.2f\" text-anchor=\"%s\" font-size=\"%.1f\">",
            id, cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "", x, y, anchor, size);
    xml_text(f, s, strlen(s));
    fputs("</text>\n", f);
}

static int cmp_stack_ptr(const void *a, const void *b)
{
    return strcmp((*(const struct fg_stack *const *)a)->stack,
                  (*(const struct fg_stack *const *)b)->stack);
}

/* --reverse: each stack's frames in the opposite order. */
static int reverse_stacks(const struct fg_stack *in, size_t n, struct fg_stack **out, char **pool)
{
    size_t total = 0, used = 0;
    struct fg_stack *r;
    char *p;

    for (size_t i = 0; i < n; i++)
        total += strlen(in[i].stack) + 1;
    r = malloc((n ? n : 1) * sizeof(*r));
    p = malloc(total ? total : 1);
    if (!r || !p) {
        free(r);
        free(p);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const char *s = in[i].stack, *end = s + strlen(s);
        char *dst = p + used;

        r[i] = in[i];
        r[i].stack = dst;
        while (end > s) {
            const char *semi = end;

            while (semi > s && semi[-1] != ';')
                semi--;
            memcpy(dst, semi, (size_t)(end - semi));
            dst += end - semi;
            end = semi > s ? semi - 1 : s;
            if (semi > s)
                *dst++ = ';';
        }
        *dst++ = '\0';
        used = (size_t)(dst - p);
    }
    *out = r;
    *pool = p;
    return 0;
}

/* The stacks in drawing order, in *order: reversed first with --reverse
 * (*rev and *rev_pool then hold the copies), merged siblings sorted by
 * name unless a flame chart keeps the input's (time) order. */
static int order_stacks(const struct fg_stack *in, size_t n, const struct fg_opts *o,
                        const struct fg_stack ***order, struct fg_stack **rev, char **rev_pool)
{
    const struct fg_stack *stacks = in;
    int ret;

    if (o->reverse) {
        if ((ret = reverse_stacks(in, n, rev, rev_pool)))
            return ret;
        stacks = *rev;
    }
    if (!(*order = malloc((n ? n : 1) * sizeof(const struct fg_stack *))))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        (*order)[i] = &stacks[i];
    if (!o->flamechart && n > 1)
        qsort(*order, n, sizeof(const struct fg_stack *), cmp_stack_ptr);
    return 0;
}

/* What drawing the graph needs beside its frames. */
struct geometry {
    bool diff;          /* differential: coloured by delta */
    uint64_t total;     /* samples in the graph */
    double width_per;   /* pixels a sample */
    double min_samples; /* frames narrower than this are omitted */
    double height, fh, ypad1, ypad2;
};

static void geometry_of(const struct fg_opts *o, const struct layout *l, struct geometry *g)
{
    uint64_t scale_total = o->total > g->total ? o->total : g->total;

    g->fh = o->frame_height;
    g->width_per = scale_total ? (o->width - 2 * XPAD) / (double)scale_total : 0;
    g->min_samples = g->width_per > 0 ? o->minwidth / g->width_per : 0;
    g->ypad1 = o->fontsize * 3 + (o->subtitle ? o->fontsize * 2 : 0);
    g->ypad2 = o->fontsize * 2 + 10;
    g->height = g->ypad1 + g->ypad2 + (l->max_depth + 1) * g->fh;
}

/* Everything before the frames: the document, its style and script, the
 * background, titles, and the details, zoom and search controls. */
static void write_head(FILE *f, const struct fg_opts *o, const struct geometry *g)
{
    const char *title = o->title        ? o->title
                        : o->flamechart ? "Flame Chart"
                        : o->inverted   ? "Icicle Graph"
                                        : "Flame Graph";

    fprintf(f, "<?xml version=\"1.0\" standalone=\"no\"?>\n"
               "<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" "
               "\"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n");
    fprintf(f,
            "<svg version=\"1.1\" width=\"%u\" height=\"%.0f\" onload=\"init(evt)\" "
            "viewBox=\"0 0 %u %.0f\" xmlns=\"http://www.w3.org/2000/svg\" "
            "xmlns:xlink=\"http://www.w3.org/1999/xlink\" data-fontsize=\"%.1f\" "
            "data-inverted=\"%d\" data-total=\"%" PRIu64 "\" data-nametype=\"",
            o->width, g->height, o->width, g->height, o->fontsize, o->inverted, g->total);
    xml_text(f, o->nametype, strlen(o->nametype));
    fputs("\">\n", f);
    fputs("<!-- Flame graph by podflame; the visual language of Brendan Gregg's flame graphs "
          "(http://www.brendangregg.com/flamegraphs.html) -->\n",
          f);
    if (o->notes) {
        fputs("<desc>", f);
        xml_text(f, o->notes, strlen(o->notes));
        fputs("</desc>\n", f);
    }
    fprintf(f,
            "<defs><linearGradient id=\"background\" y1=\"0\" y2=\"1\" x1=\"0\" x2=\"0\">"
            "<stop stop-color=\"#eeeeee\" offset=\"5%%\"/><stop stop-color=\"%s\" offset=\"95%%\"/>"
            "</linearGradient></defs>\n",
            g->diff ? "#e0e0ff" : "#eeeeb0");
    fprintf(f, "<style type=\"text/css\">\ntext { font-family: ");
    xml_text(f, o->fonttype, strlen(o->fonttype));
    fprintf(f,
            "; font-size: %.1fpx; fill: rgb(0,0,0); }\n#title { font-size: %.1fpx; }\n"
            "#frames > g:hover rect { stroke: black; stroke-width: 0.5; cursor: pointer; }\n"
            "#unzoom, #search { cursor: pointer; }\n.hide { display: none; }\n"
            ".parent { opacity: 0.5; }\n</style>\n",
            o->fontsize, o->fontsize + 5);
    fprintf(f, "<script type=\"text/ecmascript\"><![CDATA[\n%s]]></script>\n", script);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%u\" height=\"%.0f\" fill=\"url(#background)\"/>\n",
            o->width, g->height);
    write_text(f, "title", o->width / 2.0, o->fontsize * 2, "middle", o->fontsize + 5, title, NULL);
    if (o->subtitle)
        write_text(f, "subtitle", o->width / 2.0, o->fontsize * 4, "middle", o->fontsize,
                   o->subtitle, NULL);
    write_text(f, "details", XPAD, g->height - g->ypad2 / 2, "left", o->fontsize, " ", NULL);
    write_text(f, "unzoom", XPAD, o->fontsize * 2, "left", o->fontsize, "Reset Zoom", "hide");
    write_text(f, "search", o->width - XPAD - 100, o->fontsize * 2, "left", o->fontsize, "Search",
               NULL);
    write_text(f, "matched", o->width - XPAD - 100, g->height - g->ypad2 / 2, "left", o->fontsize,
               " ", NULL);
}

/* ns as people read a duration: 1.25 s, 830 ms, 45.2 µs, 120 ns. */
static const char *format_duration(uint64_t ns, char *buf, size_t len)
{
    if (ns >= 1000000000000ULL)
        snprintf(buf, len, "%.0f s", ns / 1e9); /* %g would write 1.2e+03 */
    else if (ns >= 1000000000ULL)
        snprintf(buf, len, "%.3g s", ns / 1e9);
    else if (ns >= 1000000ULL)
        snprintf(buf, len, "%.3g ms", ns / 1e6);
    else if (ns >= 1000ULL)
        snprintf(buf, len, "%.3g \xc2\xb5s", ns / 1e3);
    else
        snprintf(buf, len, "%" PRIu64 " ns", ns);
    return buf;
}

/* One frame's box: its name (cut to fit, ".." after), a title with its
 * samples, and a rect coloured rgb, w samples wide. */
static void write_frame(FILE *f, const struct fg_opts *o, const struct geometry *g,
                        const struct node *nd, uint64_t w, const int rgb[3])
{
    double x = XPAD + nd->start * g->width_per, wpx = w * g->width_per;
    double y =
        o->inverted ? g->ypad1 + nd->depth * g->fh : g->height - g->ypad2 - (nd->depth + 1) * g->fh;
    size_t dl = display_len(nd->name, nd->len);
    size_t chars = wpx > 6 ? (size_t)((wpx - 6) / (o->fontsize * 0.59)) : 0;

    fputs("<g data-name=\"", f);
    xml_text(f, nd->name, dl);
    fputs("\"><title>", f);
    xml_text(f, nd->name, dl);
    if (o->nanoseconds) {
        char d[32];

        fprintf(f, " (%s, %.2f%%)", format_duration(w, d, sizeof(d)),
                g->total ? 100.0 * w / g->total : 0.0);
    } else if (g->diff)
        fprintf(f, " (%" PRIu64 " %s, %.2f%%; %+.2f%%)", w, o->countname,
                g->total ? 100.0 * w / g->total : 0.0,
                g->total ? 100.0 * nd->delta / g->total : 0.0);
    else
        fprintf(f, " (%" PRIu64 " %s, %.2f%%)", w, o->countname,
                g->total ? 100.0 * w / g->total : 0.0);
    fprintf(f,
            "</title><rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" "
            "fill=\"rgb(%d,%d,%d)\" rx=\"2\" ry=\"2\"/><text x=\"%.2f\" y=\"%.1f\">",
            x, y, wpx, g->fh - 1, rgb[0], rgb[1], rgb[2], x + 3, y + g->fh * 0.7);
    if (chars >= 3) {
        if (dl <= chars) {
            xml_text(f, nd->name, dl);
        } else {
            xml_text(f, nd->name, chars - 2);
            fputs("..", f);
        }
    }
    fputs("</text></g>\n", f);
}

/* The frames wide enough to draw, then the end of the document. pm: the
 * --cp palette, NULL without one. */
static void write_frames(FILE *f, const struct fg_opts *o, const struct geometry *g,
                         const struct layout *l, struct palette_map *pm)
{
    size_t drawn = 0, omitted = 0;

    fputs("<g id=\"frames\">\n", f);
    for (size_t i = 0; i < l->n; i++) {
        const struct node *nd = &l->nodes[i];
        uint64_t w = nd->end - nd->start;
        int rgb[3];

        if ((double)w < g->min_samples || w == 0) {
            omitted++;
            continue;
        }
        frame_colour(o, pm, nd, g->diff, l->max_delta, rgb);
        write_frame(f, o, g, nd, w, rgb);
        drawn++;
    }
    fprintf(f, "</g>\n<!-- %zu frames drawn, %zu narrower than %.2f px omitted -->\n</svg>\n",
            drawn, omitted, o->minwidth);
}

int flamegraph_write(FILE *f, const struct fg_stack *stacks, size_t n, const struct fg_opts *o,
                     char *err, size_t errlen)
{
    struct layout l = {0};
    struct palette_map pm = {0};
    const struct fg_stack **order = NULL;
    struct fg_stack *rev = NULL;
    char *rev_pool = NULL;
    struct geometry g = {0};
    int ret;

    err[0] = '\0';
    for (size_t i = 0; i < n; i++)
        g.diff |= stacks[i].count2 >= 0;
    ret = order_stacks(stacks, n, o, &order, &rev, &rev_pool);
    if (!ret)
        ret = build(&l, order, n, g.diff, &g.total);
    if (!ret && o->palette_file)
        ret = palette_load(&pm, o->palette_file, err, errlen);
    if (!ret) {
        geometry_of(o, &l, &g);
        write_head(f, o, &g);
        write_frames(f, o, &g, &l, pm.append ? &pm : NULL);
        if (fflush(f) || ferror(f))
            ret = -EIO;
    }
    if (pm.append)
        fclose(pm.append);
    if (o->palette_file)
        htab_free(&pm.index);
    free(l.nodes);
    free(l.open);
    free(order);
    free(rev);
    free(rev_pool);
    if (ret && !err[0])
        snprintf(err, errlen, "%s", ret == -ENOMEM ? "out of memory" : "cannot write the SVG");
    return ret;
}
