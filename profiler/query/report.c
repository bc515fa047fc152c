#include "profiler/query/report.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/flamegraph.h"
#include "formats/format.h"
#include "formats/htab.h"
#include "formats/stackcount.h"
#include "profiler/io/output.h"

/* Per function name: self and total of one value. */
struct func_stat {
    const char *name; /* the profile's string */
    int64_t self, total;
    uint64_t seen; /* the last sample that counted it in total */
};

struct func_table {
    struct htab index; /* name -> position in items */
    struct func_stat *items;
    size_t n, cap;
    int64_t sum;
};

static void table_free(struct func_table *t)
{
    htab_free(&t->index);
    free(t->items);
}

static struct func_stat *table_get(struct func_table *t, const char *name)
{
    uint64_t at = t->n;
    bool found;

    if (htab_get_or_put(&t->index, name, strlen(name), &at, &found, NULL))
        return NULL;
    if (!found) {
        if (t->n == t->cap) {
            size_t cap = t->cap ? 2 * t->cap : 256;
            struct func_stat *g = realloc(t->items, cap * sizeof(*g));

            if (!g)
                return NULL;
            t->items = g;
            t->cap = cap;
        }
        t->items[t->n++] = (struct func_stat){name, 0, 0, UINT64_MAX};
    }
    return &t->items[at];
}

/* The function names of a location, innermost first, as folded shows them. */
static const char *line_name(const struct pf_profile *p, const struct pf_location *loc, size_t i)
{
    const struct pf_function *f = pf_profile_func(p, loc->lines[i].function_id);

    return f ? pf_profile_str(p, f->name) : "[unknown]";
}

/* Self time to each sample's leaf, total once per sample to every
 * function on its stack. */
static int table_fill(struct func_table *t, const struct pf_profile *p, size_t vi)
{
    htab_init(&t->index);
    for (size_t i = 0; i < p->nsamples; i++) {
        const struct pf_sample *s = &p->samples[i];
        int64_t v = vi < p->nsample_types ? s->values[vi] : 0;
        bool leaf = true;

        t->sum += v;
        for (size_t j = 0; j < s->nlocations; j++) {
            const struct pf_location *loc = pf_profile_location(p, s->location_ids[j]);

            for (size_t k = 0; loc && k < (loc->nlines ? loc->nlines : 1); k++) {
                struct func_stat *f =
                    table_get(t, loc->nlines ? line_name(p, loc, k) : "[unknown]");

                if (!f)
                    return -ENOMEM;
                if (leaf)
                    f->self += v;
                leaf = false;
                if (f->seen != i) { /* recursion counts once */
                    f->total += v;
                    f->seen = i;
                }
            }
        }
    }
    return 0;
}

static int by_self(const void *a, const void *b)
{
    const struct func_stat *x = a, *y = b;

    return x->self != y->self ? (x->self < y->self ? 1 : -1) : strcmp(x->name, y->name);
}

static double pct(int64_t v, int64_t sum)
{
    return sum ? 100.0 * (double)v / (double)sum : 0;
}

static int by_samples(const void *a, const void *b)
{
    const struct pf_pod *x = a, *y = b;

    return x->samples != y->samples ? (x->samples < y->samples ? 1 : -1) : strcmp(x->pod, y->pod);
}

int report_top(FILE *out, const struct pf_profile *p, size_t vi, unsigned n)
{
    struct func_table t = {0};
    struct pf_pod *pods = NULL;
    size_t npods = 0;
    int rc = table_fill(&t, p, vi);

    if (!rc)
        rc = pf_profile_pods(p, &pods, &npods);
    if (rc) {
        table_free(&t);
        return rc;
    }
    if (t.n)
        qsort(t.items, t.n, sizeof(*t.items), by_self);
    fprintf(out, "%7s %7s  %-s\n", "SELF%", "TOTAL%", "FUNCTION");
    for (size_t i = 0; i < t.n && i < n; i++)
        fprintf(out, "%6.2f%% %6.2f%%  %s\n", pct(t.items[i].self, t.sum),
                pct(t.items[i].total, t.sum), t.items[i].name);
    if (npods) {
        uint64_t all = 0;

        for (size_t i = 0; i < p->nsamples; i++)
            all += p->nsample_types ? (uint64_t)p->samples[i].values[0] : 0;
        qsort(pods, npods, sizeof(*pods), by_samples);
        fprintf(out, "\n%7s %10s  %-s\n", "SHARE", "SAMPLES", "POD");
        for (size_t i = 0; i < npods && i < n; i++)
            fprintf(out, "%6.2f%% %10" PRIu64 "  %s/%s\n",
                    pct((int64_t)pods[i].samples, (int64_t)all), pods[i].samples, pods[i].ns,
                    pods[i].pod);
    }
    free(pods);
    table_free(&t);
    return ferror(out) ? -EIO : 0;
}

struct growth {
    const char *name;
    double before, after; /* shares of self time, % */
};

static int by_delta(const void *a, const void *b)
{
    const struct growth *x = a, *y = b;
    double dx = x->after - x->before, dy = y->after - y->before;

    return dx != dy ? (dx < dy ? 1 : -1) : strcmp(x->name, y->name);
}

int report_growth(FILE *out, const struct pf_profile *before, size_t vi_before,
                  const struct pf_profile *after, size_t vi_after, unsigned n)
{
    struct func_table tb = {0}, ta = {0};
    struct growth *g = NULL;
    size_t ng = 0;
    int rc = table_fill(&tb, before, vi_before);

    if (!rc)
        rc = table_fill(&ta, after, vi_after);
    if (!rc && !(g = calloc(tb.n + ta.n + 1, sizeof(*g))))
        rc = -ENOMEM;
    /* every function of after, then those only before had */
    for (size_t i = 0; !rc && i < ta.n; i++) {
        uint64_t at;

        g[ng] = (struct growth){ta.items[i].name, 0, pct(ta.items[i].self, ta.sum)};
        if (htab_get(&tb.index, ta.items[i].name, strlen(ta.items[i].name), &at))
            g[ng].before = pct(tb.items[at].self, tb.sum);
        ng++;
    }
    for (size_t i = 0; !rc && i < tb.n; i++)
        if (!htab_get(&ta.index, tb.items[i].name, strlen(tb.items[i].name), &(uint64_t){0}))
            g[ng++] = (struct growth){tb.items[i].name, pct(tb.items[i].self, tb.sum), 0};
    if (!rc) {
        if (ng)
            qsort(g, ng, sizeof(*g), by_delta);
        fprintf(out, "%8s %8s %8s  %-s\n", "BEFORE%", "AFTER%", "DELTA", "FUNCTION (self)");
        for (size_t i = 0; i < ng && i < n && g[i].after > g[i].before; i++)
            fprintf(out, "%7.2f%% %7.2f%% %+7.2f  %s\n", g[i].before, g[i].after,
                    g[i].after - g[i].before, g[i].name);
        for (size_t i = 0; i < n && i < ng && g[ng - 1 - i].after < g[ng - 1 - i].before; i++) {
            const struct growth *s = &g[ng - 1 - i];

            fprintf(out, "%7.2f%% %7.2f%% %+7.2f  %s\n", s->before, s->after, s->after - s->before,
                    s->name);
        }
        rc = ferror(out) ? -EIO : 0;
    }
    free(g);
    table_free(&tb);
    table_free(&ta);
    return rc;
}

/* Both sides' folded stacks, paired: count is before's (scaled to after's
 * total), count2 after's. */
struct diff_stacks {
    struct stackcount before, after, all; /* all: every stack of either */
    struct fg_stack *fs;
    size_t n;
    uint64_t total_before, total_after;
    const struct fg_opts *fg;
    int fg_rc;
    char fg_err[256];
};

static int pair_stacks(struct diff_stacks *d)
{
    struct htab pos; /* stack -> index in fs */
    int rc = 0;

    for (size_t i = 0; i < d->before.n; i++)
        d->total_before += d->before.items[i].count;
    for (size_t i = 0; i < d->after.n; i++)
        d->total_after += d->after.items[i].count;
    if (!(d->fs = calloc(d->before.n + d->after.n + 1, sizeof(*d->fs))))
        return -ENOMEM;
    htab_init(&pos);
    for (int side = 0; !rc && side < 2; side++) {
        const struct stackcount *sc = side ? &d->after : &d->before;

        for (size_t i = 0; !rc && i < sc->n; i++) {
            const char *st = sc->items[i].stack;
            uint64_t at = d->n, c = sc->items[i].count;
            bool found;

            if ((rc = htab_get_or_put(&pos, st, strlen(st), &at, &found, NULL)))
                break;
            if (!found)
                d->fs[d->n++] = (struct fg_stack){st, 0, 0};
            if (side)
                d->fs[at].count2 += (int64_t)c;
            else if (d->total_before)
                d->fs[at].count +=
                    llround((double)c * (double)d->total_after / (double)d->total_before);
        }
    }
    htab_free(&pos);
    return rc;
}

static int write_diff_svg(FILE *f, void *ctx)
{
    struct diff_stacks *d = ctx;

    d->fg_rc = flamegraph_write(f, d->fs, d->n, d->fg, d->fg_err, sizeof(d->fg_err));
    return d->fg_rc;
}

static int write_diff_folded(FILE *f, void *ctx)
{
    struct diff_stacks *d = ctx;

    for (size_t i = 0; i < d->n; i++)
        if (fprintf(f, "%s %" PRId64 " %" PRId64 "\n", d->fs[i].stack, d->fs[i].count,
                    d->fs[i].count2) < 0)
            return -EIO;
    return 0;
}

int report_diff(const char *path, const struct pf_profile *before, size_t vi_before,
                const struct pf_profile *after, size_t vi_after, enum pf_group_by group_by,
                const char *subtitle, char *err, size_t errlen)
{
    struct folded_write_opts fb = {group_by, vi_before}, fa = {group_by, vi_after};
    struct diff_stacks d = {0};
    struct fg_opts fg;
    bool folded = pf_format_from_path(path) == PF_FORMAT_FOLDED;
    int rc;

    fg_opts_default(&fg);
    fg.title = "Differential Flame Graph";
    fg.subtitle = subtitle;
    d.fg = &fg;
    stackcount_init(&d.before);
    stackcount_init(&d.after);
    rc = folded_stacks(before, &fb, &d.before);
    if (!rc)
        rc = folded_stacks(after, &fa, &d.after);
    if (!rc)
        rc = pair_stacks(&d);
    if (rc) {
        snprintf(err, errlen, "out of memory");
    } else if ((rc = output_atomic(path, folded ? write_diff_folded : write_diff_svg, &d, err,
                                   errlen)) &&
               d.fg_rc && d.fg_rc != -EIO) {
        snprintf(err, errlen, "%s", d.fg_err);
    }
    free(d.fs);
    stackcount_free(&d.before);
    stackcount_free(&d.after);
    return rc;
}
