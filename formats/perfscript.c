#define PCRE2_CODE_UNIT_WIDTH 8
#include "formats/perfscript.h"

#include <errno.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "formats/buf.h"
#include "formats/folded.h"
#include "formats/stackcount.h"

/* Valgrind cannot see into JIT-compiled code, which reads its subject a
 * word at a time; under it, PCRE2's interpreter runs instead. */
#ifdef HAVE_VALGRIND_H /* set by the Makefile when the header is installed */
#include <valgrind/valgrind.h>
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/* The patterns of stackcollapse-perf.pl, verbatim in meaning. */
#define RE_HEADER "^(\\S.+?)\\s+(\\d+)\\/*(\\d+)*\\s+"
#define RE_EVENT  ":\\s*(\\d+)*\\s+(\\S+):\\s*$"
#define RE_FRAME  "^\\s*(\\w+)\\s*(.+) \\((.*)\\)"

/* Character classes, as a table: PCRE2's \s and \w without UTF/UCP
 * (ASCII only, locale-independent), and the characters tidying acts on. */
enum { C_SPACE = 1, C_WORD = 2, C_TIDY = 4 };
static unsigned char char_class[256];

static void char_class_init(void)
{
    for (int c = 0; c < 256; c++) {
        unsigned char k = 0;

        if (c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r')
            k |= C_SPACE;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')
            k |= C_WORD;
        if (c == ';' || c == '(' || c == '"' || c == '\'')
            k |= C_TIDY;
        char_class[c] = k;
    }
}

static bool re_space(char c)
{
    return char_class[(unsigned char)c] & C_SPACE;
}

static bool re_word(char c)
{
    return char_class[(unsigned char)c] & C_WORD;
}

struct regex {
    pcre2_code *code;
    pcre2_match_data *md;
};

struct state {
    const struct perfscript_opts *o;
    struct regex header, event, frame;
    bool have_pname;
    struct buf pname;
    uint64_t period;
    /* frames of the current sample, leaf first, as offsets into frames */
    struct buf frames;
    size_t *starts;
    size_t nstarts, starts_cap;
    struct buf out;  /* the joined stack */
    struct buf func; /* scratch for one frame */
    char event_filter[64];
    bool event_set;
};

static int regex_init(struct regex *r, const char *pattern)
{
    int errcode;
    PCRE2_SIZE erroff;

    r->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &errcode, &erroff, NULL);
    if (!r->code)
        return -EINVAL;
    if (!RUNNING_ON_VALGRIND)
        pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE); /* interpreted if JIT is unavailable */
    r->md = pcre2_match_data_create_from_pattern(r->code, NULL);
    return r->md ? 0 : -ENOMEM;
}

static void regex_free(struct regex *r)
{
    pcre2_match_data_free(r->md);
    pcre2_code_free(r->code);
}

static bool regex_match(struct regex *r, const char *s, size_t len)
{
    return pcre2_match(r->code, (PCRE2_SPTR)s, len, 0, 0, r->md, NULL) >= 0;
}

/* Group n of the last match: start and length; false when unset. */
static bool group(const struct regex *r, size_t n, size_t *start, size_t *len)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(r->md);

    if (ov[2 * n] == PCRE2_UNSET)
        return false;
    *start = ov[2 * n];
    *len = ov[2 * n + 1] - ov[2 * n];
    return true;
}

/* Perl truthiness of a captured string: unset, "" and "0" are false. */
static bool perl_true(const char *s, size_t len)
{
    return len && !(len == 1 && s[0] == '0');
}

static int push_frame(struct state *st, const char *f, size_t n)
{
    if (ARRAY_RESERVE_ONE(st->starts, st->nstarts, st->starts_cap))
        return -ENOMEM;
    st->starts[st->nstarts++] = st->frames.len;
    /* frames are NUL-separated in one buffer */
    if (buf_put(&st->frames, f, n))
        return -ENOMEM;
    st->frames.len++; /* keep the terminating NUL as separator */
    return 0;
}

static int on_header(struct state *st, const char *line, size_t len, struct perfscript_report *rep)
{
    size_t cs = 0, cl = 0, ps = 0, pl = 0, ts = 0, tl = 0;
    const char *pid, *tid;
    size_t pidl, tidl;
    uint64_t period = 0;
    int err;

    group(&st->header, 1, &cs, &cl);
    group(&st->header, 2, &ps, &pl);
    if (!group(&st->header, 3, &ts, &tl) || !perl_true(line + ts, tl)) {
        tid = line + ps; /* "comm TID ...": perf's default has no PID */
        tidl = pl;
        pid = "?";
        pidl = 1;
    } else {
        pid = line + ps;
        pidl = pl;
        tid = line + ts;
        tidl = tl;
    }
    if (regex_match(&st->event, line, len)) {
        size_t es = 0, el = 0, ns = 0, nl = 0;

        group(&st->event, 2, &es, &el);
        if (!st->event_set) {
            snprintf(st->event_filter, sizeof(st->event_filter), "%.*s", (int)el, line + es);
            st->event_set = true;
        } else if (strlen(st->event_filter) != el || memcmp(st->event_filter, line + es, el) != 0) {
            rep->filtered++;
            return 0; /* the previous sample's name stays, as in the script */
        }
        if (group(&st->event, 1, &ns, &nl)) {
            for (size_t i = 0; i < nl; i++)
                period = period * 10 + (uint64_t)(line[ns + i] - '0');
        }
    }
    st->period = period ? period : 1;
    st->pname.len = 0;
    err = buf_put(&st->pname, line + cs, cl);
    if (!err && (st->o->pid || st->o->tid)) {
        err = buf_put(&st->pname, "-", 1);
        err = err ? err : buf_put(&st->pname, pid, pidl);
        if (!err && st->o->tid) {
            err = buf_put(&st->pname, "/", 1);
            err = err ? err : buf_put(&st->pname, tid, tidl);
        }
    }
    if (err)
        return err;
    for (size_t i = 0; i < st->pname.len; i++) {
        if (st->pname.d[i] == ' ')
            st->pname.d[i] = '_';
    }
    /* a name that is "" or "0" counts as no sample in the script */
    st->have_pname = perl_true(st->pname.d, st->pname.len);
    return 0;
}

/* Go method names ("net/http.(*Client).Do") keep their parentheses:
 * m/\.\(.*\)\./ */
static bool looks_like_go_method(const char *s, size_t n)
{
    const char *open = NULL;

    for (size_t i = 0; i + 1 < n; i++) {
        if (!open && s[i] == '.' && s[i + 1] == '(')
            open = s + i;
        else if (open && s + i >= open + 2 && s[i] == ')' && s[i + 1] == '.')
            return true;
    }
    return false;
}

/* m:/tmp/perf-\d+\.map: -- a JIT symbol map written by the runtime */
static bool is_perf_map(const char *mod, size_t modl)
{
    const char *end = mod + modl;

    for (const char *p = mod; (p = memmem(p, (size_t)(end - p), "/tmp/perf-", 10)); p++) {
        const char *q = p + 10;

        while (q < end && *q >= '0' && *q <= '9')
            q++;
        if (q > p + 10 && end - q >= 4 && !memcmp(q, ".map", 4))
            return true;
    }
    return false;
}

/* One element of a "->" chain, tidied and annotated like the script does. */
static int add_func(struct state *st, const char *f, size_t n, const char *pc, size_t pcl,
                    const char *mod, size_t modl, bool inlined)
{
    struct buf *b = &st->func;
    int err;

    b->len = 0;
    if (n == 9 && !memcmp(f, "[unknown]", 9)) {
        const char *base = "unknown";
        size_t basel = 7;

        if (!(modl == 9 && !memcmp(mod, "[unknown]", 9))) {
            const char *slash = memrchr(mod, '/', modl);

            base = slash ? slash + 1 : mod;
            basel = modl - (size_t)(base - mod);
        }
        err = buf_put(b, "[", 1);
        err = err ? err : buf_put(b, base, basel);
        if (!err && st->o->addrs) {
            err = buf_put(b, " <", 2);
            err = err ? err : buf_put(b, pc, pcl);
            err = err ? err : buf_put(b, ">", 1);
        }
        err = err ? err : buf_put(b, "]", 1);
    } else {
        err = buf_put(b, f, n);
    }
    if (err)
        return err;
    /* tidy_generic: s/;/:/g, cut at the first '(' (unless a Go method, and
     * not at "(anonymous namespace)"), tr/"'//d. One scan finds which of
     * these can apply; most names need none. */
    bool paren = false, quote = false;

    for (size_t i = 0; i < b->len; i++) {
        char c = b->d[i];

        if (!(char_class[(unsigned char)c] & C_TIDY))
            continue;
        if (c == ';')
            b->d[i] = ':';
        else if (c == '(')
            paren = true;
        else
            quote = true;
    }
    if (paren && !looks_like_go_method(b->d, b->len)) {
        for (size_t i = 0; i < b->len; i++) {
            if (b->d[i] == '(' && strncmp(b->d + i + 1, "anonymous namespace)", 20) != 0) {
                b->len = i;
                break;
            }
        }
    }
    if (quote) {
        size_t w = 0;

        for (size_t i = 0; i < b->len; i++) {
            if (b->d[i] != '"' && b->d[i] != '\'')
                b->d[w++] = b->d[i];
        }
        b->len = w;
    }
    b->d[b->len] = '\0';
    /* tidy_java: Java signatures lose their leading L, when the process is
     * named exactly "java" (so not with --pid/--tid), as the reference
     * results in shared/fixtures/flamegraph-perf were made */
    if (st->pname.len == 4 && !memcmp(st->pname.d, "java", 4) && b->len && b->d[0] == 'L' &&
        memchr(b->d, '/', b->len)) {
        memmove(b->d, b->d + 1, b->len--);
    }
    if (inlined) {
        if (!memmem(b->d, b->len, "_[i]", 4))
            err = buf_put(b, "_[i]", 4);
    } else if (st->o->kernel && modl &&
               (mod[0] == '[' || (modl >= 7 && !memcmp(mod + modl - 7, "vmlinux", 7))) &&
               !memmem(mod, modl, "unknown", 7)) {
        err = buf_put(b, "_[k]", 4);
    } else if (st->o->jit && is_perf_map(mod, modl)) {
        if (!memmem(b->d, b->len, "_[j]", 4))
            err = buf_put(b, "_[j]", 4);
    }
    return err ? err : push_frame(st, b->d, b->len);
}

/* RE_FRAME without the regex engine, for the shape perf prints. A
 * backtracking matcher returns the first match in its search order, and
 * that order tries the greedy choices first: all leading space, the whole
 * word, all following space, then the longest (.+), i.e. the last " ("
 * with a ')' after it, and (.*) up to the last ')'. When that choice
 * matches, it is the regex's answer; when it does not, the caller asks
 * PCRE2, which explores the other choices. */
static bool frame_fast(const char *line, size_t len, size_t g[6])
{
    size_t i = 0, w0, w1, f0, close, p;

    while (i < len && re_space(line[i]))
        i++;
    w0 = i;
    while (i < len && re_word(line[i]))
        i++;
    w1 = i;
    while (i < len && re_space(line[i]))
        i++;
    f0 = i;
    if (w1 == w0 || f0 >= len)
        return false;
    for (close = len; close > f0 && line[close - 1] != ')'; close--)
        ;
    if (close == f0)
        return false;
    close--; /* index of the last ')' */
    /* the last '(' preceded by a space, before that ')' and after f0 */
    for (const char *q = line + close;;) {
        if (q <= line + f0 + 2)
            return false;
        q = memrchr(line + f0 + 2, '(', (size_t)(q - (line + f0 + 2)));
        if (!q)
            return false;
        if (q[-1] == ' ') {
            p = (size_t)(q - line) - 1;
            break;
        }
    }
    g[0] = w0, g[1] = w1 - w0, g[2] = f0, g[3] = p - f0, g[4] = p + 2, g[5] = close - (p + 2);
    return true;
}

/* The slow path: RE_FRAME through PCRE2, groups into g. */
static bool frame_regex(struct state *st, const char *line, size_t len, size_t g[6])
{
    if (!regex_match(&st->frame, line, len))
        return false;
    group(&st->frame, 1, &g[0], &g[1]);
    group(&st->frame, 2, &g[2], &g[3]);
    group(&st->frame, 3, &g[4], &g[5]);
    return true;
}

/* g: pc, function and module as start/length pairs into line. */
static int on_frame(struct state *st, const char *line, const size_t g[6])
{
    size_t pcl = g[1], fl = g[3], ml = g[5];
    const char *func, *pc, *mod;
    size_t first = st->nstarts;
    int err;

    pc = line + g[0];
    func = line + g[2];
    mod = line + g[4];
    /* s/\+0x[\da-f]+$// */
    {
        size_t i = fl;

        while (i > 0 && ((func[i - 1] >= '0' && func[i - 1] <= '9') ||
                         (func[i - 1] >= 'a' && func[i - 1] <= 'f')))
            i--;
        if (i < fl && i >= 3 && !memcmp(func + i - 3, "+0x", 3))
            fl = i - 3;
    }
    if (fl && func[0] == '(')
        return 0; /* process names */
    /* split /->/: empty trailing fields are dropped, leading ones kept */
    {
        size_t end = fl;
        size_t nparts = 0;
        size_t s = 0;

        while (end >= 2 && !memcmp(func + end - 2, "->", 2))
            end -= 2;
        if (end == 0)
            return 0;
        while (s <= end) {
            const char *arrow = NULL;

            for (const char *q = func + s; (q = memchr(q, '-', (size_t)(func + end - q))); q++) {
                if (q + 1 < func + end && q[1] == '>') {
                    arrow = q;
                    break;
                }
            }
            size_t e = arrow ? (size_t)(arrow - func) : end;

            if ((err = add_func(st, func + s, e - s, pc, pcl, mod, ml, nparts > 0)))
                return err;
            nparts++;
            if (!arrow)
                break;
            s = e + 2;
        }
    }
    /* The chain is unshifted as a group: keep its order within the leaf-first
     * list by reversing the frames just added. */
    for (size_t i = first, j = st->nstarts - 1; i < j; i++, j--) {
        size_t t = st->starts[i];

        st->starts[i] = st->starts[j];
        st->starts[j] = t;
    }
    return 0;
}

static int end_sample(struct state *st, perfscript_fn fn, void *ctx, struct perfscript_report *rep)
{
    int err;

    st->out.len = 0;
    err = buf_put(&st->out, st->pname.d, st->pname.len);
    for (size_t i = st->nstarts; !err && i-- > 0;) {
        const char *f = st->frames.d + st->starts[i];

        err = buf_put(&st->out, ";", 1);
        err = err ? err : buf_put(&st->out, f, strlen(f));
    }
    st->nstarts = 0;
    st->frames.len = 0;
    st->have_pname = false;
    if (err)
        return err;
    rep->stacks++;
    return fn(ctx, st->out.d, st->out.len, st->period);
}

int perfscript_collapse(FILE *in, const struct perfscript_opts *opts, perfscript_fn fn, void *ctx,
                        struct perfscript_report *report)
{
    struct perfscript_report rep = {0};
    struct state st = {.o = opts};
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int err;

    if ((err = regex_init(&st.header, RE_HEADER)) || (err = regex_init(&st.event, RE_EVENT)) ||
        (err = regex_init(&st.frame, RE_FRAME)))
        goto out;
    if (!char_class[' '])
        char_class_init();
    /* perf script files run to gigabytes: read them in large blocks */
    setvbuf(in, NULL, _IOFBF, 1 << 20);
    if (opts->event) {
        snprintf(st.event_filter, sizeof(st.event_filter), "%s", opts->event);
        st.event_set = true;
    }
    while ((n = getline(&line, &cap, in)) >= 0) {
        size_t len = (size_t)n, g[6] = {0};

        rep.lines++;
        if (len && line[0] == '#')
            continue;
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        if (len == 0) {
            if (st.have_pname && (err = end_sample(&st, fn, ctx, &rep)))
                break;
            continue;
        }
        /* RE_HEADER needs a non-space first character; frame lines start
         * with space, so most lines skip it */
        if (!re_space(line[0]) && regex_match(&st.header, line, len)) {
            if ((err = on_header(&st, line, len, &rep)))
                break;
        } else if ((!opts->regex_only && frame_fast(line, len, g)) ||
                   frame_regex(&st, line, len, g)) {
            if (st.have_pname && (err = on_frame(&st, line, g)))
                break;
        } else {
            if (!rep.unrecognized++)
                rep.first_unrecognized = rep.lines;
        }
    }
    if (!err && ferror(in))
        err = -EIO;
out:
    snprintf(rep.filter_event, sizeof(rep.filter_event), "%s", st.event_filter);
    if (report)
        *report = rep;
    free(line);
    free(st.pname.d);
    free(st.frames.d);
    free(st.starts);
    free(st.out.d);
    free(st.func.d);
    if (st.header.code)
        regex_free(&st.header);
    if (st.event.code)
        regex_free(&st.event);
    if (st.frame.code)
        regex_free(&st.frame);
    return err;
}

static int add_stack(void *ctx, const char *stack, size_t len, uint64_t count)
{
    return stackcount_add(ctx, stack, len, count);
}

int perfscript_read(struct pf_profile *p, FILE *in, struct perfscript_report *report)
{
    struct perfscript_opts o = {.kernel = true, .jit = true};
    struct folded_reader *r = NULL;
    struct stackcount sc;
    struct buf line = {0};
    int err;

    stackcount_init(&sc);
    err = perfscript_collapse(in, &o, add_stack, &sc, report);
    if (!err)
        err = folded_reader_new(p, &r);
    for (size_t i = 0; !err && i < sc.n; i++) {
        char num[24];
        const char *why;
        int n = snprintf(num, sizeof(num), " %llu", (unsigned long long)sc.items[i].count);

        line.len = 0;
        err = buf_put(&line, sc.items[i].stack, strlen(sc.items[i].stack));
        err = err ? err : buf_put(&line, num, (size_t)n);
        err = err ? err : folded_reader_line(r, line.d, line.len, &why);
        if (err == -EINVAL || err > 0)
            err = 0; /* a stack the folded grammar refuses (empty frame): dropped */
    }
    folded_reader_free(r);
    stackcount_free(&sc);
    free(line.d);
    return err;
}
