#include "formats/pprof.h"

#include "formats/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* profile.proto field numbers */
enum {
    PROFILE_SAMPLE_TYPE = 1,
    PROFILE_SAMPLE,
    PROFILE_MAPPING,
    PROFILE_LOCATION,
    PROFILE_FUNCTION,
    PROFILE_STRING_TABLE,
    PROFILE_DROP_FRAMES,
    PROFILE_KEEP_FRAMES,
    PROFILE_TIME_NANOS,
    PROFILE_DURATION_NANOS,
    PROFILE_PERIOD_TYPE,
    PROFILE_PERIOD,
    PROFILE_COMMENT,
    PROFILE_DEFAULT_SAMPLE_TYPE,
};
enum { VT_TYPE = 1, VT_UNIT };
enum { SAMPLE_LOCATION_ID = 1, SAMPLE_VALUE, SAMPLE_LABEL };
enum { LABEL_KEY = 1, LABEL_STR, LABEL_NUM, LABEL_NUM_UNIT };
enum {
    MAPPING_ID = 1,
    MAPPING_START,
    MAPPING_LIMIT,
    MAPPING_OFFSET,
    MAPPING_FILENAME,
    MAPPING_BUILD_ID,
    MAPPING_HAS_FUNCTIONS,
    MAPPING_HAS_FILENAMES,
    MAPPING_HAS_LINE_NUMBERS,
    MAPPING_HAS_INLINE_FRAMES,
};
enum { LOCATION_ID = 1, LOCATION_MAPPING_ID, LOCATION_ADDRESS, LOCATION_LINE, LOCATION_IS_FOLDED };
enum { LINE_FUNCTION_ID = 1, LINE_LINE };
enum {
    FUNCTION_ID = 1,
    FUNCTION_NAME,
    FUNCTION_SYSTEM_NAME,
    FUNCTION_FILENAME,
    FUNCTION_START_LINE
};

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* ---------------- encoding ---------------- */

struct pbuf {
    uint8_t *d;
    size_t len, cap;
    bool oom;
};

static void put_bytes(struct pbuf *b, const void *src, size_t n)
{
    /* out of memory is sticky: the encoder checks once, at the end */
    if (b->oom || array_reserve((void **)&b->d, &b->cap, b->len + n, 1)) {
        b->oom = true;
        return;
    }
    if (n)
        memcpy(b->d + b->len, src, n);
    b->len += n;
}

static void put_varint(struct pbuf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;

    do {
        tmp[n] = v & 0x7f;
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    put_bytes(b, tmp, n);
}

static void put_tag(struct pbuf *b, unsigned field, unsigned wt)
{
    put_varint(b, (uint64_t)field << 3 | wt);
}

/* proto3 scalars: zero is the default and is not written */
static void put_u64(struct pbuf *b, unsigned field, uint64_t v)
{
    if (v) {
        put_tag(b, field, WT_VARINT);
        put_varint(b, v);
    }
}

static void put_i64(struct pbuf *b, unsigned field, int64_t v)
{
    put_u64(b, field, (uint64_t)v); /* int64: two's complement varint */
}

static void put_len(struct pbuf *b, unsigned field, const void *data, size_t n)
{
    put_tag(b, field, WT_LEN);
    put_varint(b, n);
    put_bytes(b, data, n);
}

static void put_msg(struct pbuf *b, unsigned field, struct pbuf *sub)
{
    put_len(b, field, sub->d, sub->len);
    b->oom |= sub->oom;
    sub->len = 0;
}

static void put_packed(struct pbuf *b, unsigned field, const uint64_t *v, size_t n,
                       struct pbuf *scratch)
{
    if (!n)
        return;
    for (size_t i = 0; i < n; i++)
        put_varint(scratch, v[i]);
    put_msg(b, field, scratch);
}

static void put_value_type(struct pbuf *b, unsigned field, const struct pf_value_type *vt,
                           struct pbuf *sub)
{
    put_i64(sub, VT_TYPE, vt->type);
    put_i64(sub, VT_UNIT, vt->unit);
    put_msg(b, field, sub);
}

/* Whether a mapping is an executable rather than a library or a pseudo
 * mapping ([kernel.kallsyms], [jit], [vdso]). */
static bool executable_like(const struct pf_profile *p, const struct pf_mapping *m)
{
    const char *name = pf_profile_str(p, m->filename);
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;

    return *base && *name != '[' && !strstr(base, ".so") && strncmp(base, "ld-linux", 8) != 0;
}

/* The mapping pprof should call the profile's binary ("File:"): the
 * executable in the most samples (for one process, its own; for a whole
 * machine, the busiest program's); the first mapping when none is one. */
static size_t main_mapping(const struct pf_profile *p)
{
    uint64_t *in = calloc(p->nmappings ? p->nmappings : 1, sizeof(*in));
    uint64_t *seen = calloc(p->nmappings ? p->nmappings : 1, sizeof(*seen));
    size_t best = 0;

    if (!in || !seen) {
        free(in);
        free(seen);
        return 0;
    }
    for (size_t i = 0; i < p->nsamples; i++) {
        const struct pf_sample *s = &p->samples[i];

        for (size_t j = 0; j < s->nlocations; j++) {
            const struct pf_location *l = pf_profile_location(p, s->location_ids[j]);
            size_t mi;

            if (!l || !l->mapping_id || l->mapping_id > p->nmappings)
                continue;
            mi = l->mapping_id - 1;
            if (seen[mi] == i + 1) /* once per sample */
                continue;
            seen[mi] = i + 1;
            in[mi] += p->nsample_types ? (uint64_t)(s->values[0] > 0 ? s->values[0] : 0) : 1;
        }
    }
    for (size_t i = 0; i < p->nmappings; i++) {
        if (executable_like(p, &p->mappings[i]) &&
            (!executable_like(p, &p->mappings[best]) || in[i] > in[best]))
            best = i;
    }
    free(in);
    free(seen);
    return best;
}

int pprof_encode(const struct pf_profile *p, uint8_t **out, size_t *len)
{
    size_t main_index;
    struct pbuf b = {0}, m = {0}, s = {0};

    for (size_t i = 0; i < p->nsample_types; i++)
        put_value_type(&b, PROFILE_SAMPLE_TYPE, &p->sample_types[i], &m);
    for (size_t i = 0; i < p->nsamples; i++) {
        const struct pf_sample *sm = &p->samples[i];

        put_packed(&m, SAMPLE_LOCATION_ID, sm->location_ids, sm->nlocations, &s);
        put_packed(&m, SAMPLE_VALUE, (const uint64_t *)sm->values, p->nsample_types, &s);
        for (size_t j = 0; j < sm->nlabels; j++) {
            const struct pf_label *l = &sm->labels[j];

            put_i64(&s, LABEL_KEY, l->key);
            put_i64(&s, LABEL_STR, l->str);
            put_i64(&s, LABEL_NUM, l->num);
            put_i64(&s, LABEL_NUM_UNIT, l->num_unit);
            put_msg(&m, SAMPLE_LABEL, &s);
        }
        put_msg(&b, PROFILE_SAMPLE, &m);
    }
    main_index = main_mapping(p);
    for (size_t k = 0; k < p->nmappings; k++) {
        /* the main binary first: pprof's "File:" is the first mapping */
        size_t i = k == 0 ? main_index : k <= main_index ? k - 1 : k;
        const struct pf_mapping *mp = &p->mappings[i];

        put_u64(&m, MAPPING_ID, i + 1);
        put_u64(&m, MAPPING_START, mp->start);
        put_u64(&m, MAPPING_LIMIT, mp->limit);
        put_u64(&m, MAPPING_OFFSET, mp->offset);
        put_i64(&m, MAPPING_FILENAME, mp->filename);
        put_i64(&m, MAPPING_BUILD_ID, mp->build_id);
        put_u64(&m, MAPPING_HAS_FUNCTIONS, mp->has_functions);
        put_u64(&m, MAPPING_HAS_FILENAMES, mp->has_filenames);
        put_u64(&m, MAPPING_HAS_LINE_NUMBERS, mp->has_line_numbers);
        put_u64(&m, MAPPING_HAS_INLINE_FRAMES, mp->has_inline_frames);
        put_msg(&b, PROFILE_MAPPING, &m);
    }
    for (size_t i = 0; i < p->nlocations; i++) {
        const struct pf_location *loc = &p->locations[i];

        put_u64(&m, LOCATION_ID, i + 1);
        put_u64(&m, LOCATION_MAPPING_ID, loc->mapping_id);
        put_u64(&m, LOCATION_ADDRESS, loc->address);
        for (size_t j = 0; j < loc->nlines; j++) {
            put_u64(&s, LINE_FUNCTION_ID, loc->lines[j].function_id);
            put_i64(&s, LINE_LINE, loc->lines[j].line);
            put_msg(&m, LOCATION_LINE, &s);
        }
        put_u64(&m, LOCATION_IS_FOLDED, loc->is_folded);
        put_msg(&b, PROFILE_LOCATION, &m);
    }
    for (size_t i = 0; i < p->nfunctions; i++) {
        const struct pf_function *fn = &p->functions[i];

        put_u64(&m, FUNCTION_ID, i + 1);
        put_i64(&m, FUNCTION_NAME, fn->name);
        put_i64(&m, FUNCTION_SYSTEM_NAME, fn->system_name);
        put_i64(&m, FUNCTION_FILENAME, fn->filename);
        put_i64(&m, FUNCTION_START_LINE, fn->start_line);
        put_msg(&b, PROFILE_FUNCTION, &m);
    }
    for (size_t i = 0; i < p->nstrings; i++) /* every entry, "" at 0 included */
        put_len(&b, PROFILE_STRING_TABLE, p->strings[i], strlen(p->strings[i]));
    put_i64(&b, PROFILE_DROP_FRAMES, p->drop_frames);
    put_i64(&b, PROFILE_KEEP_FRAMES, p->keep_frames);
    put_i64(&b, PROFILE_TIME_NANOS, p->time_nanos);
    put_i64(&b, PROFILE_DURATION_NANOS, p->duration_nanos);
    if (p->period_type.type || p->period_type.unit)
        put_value_type(&b, PROFILE_PERIOD_TYPE, &p->period_type, &m);
    put_i64(&b, PROFILE_PERIOD, p->period);
    for (size_t i = 0; i < p->ncomments; i++) { /* repeated int64: each one, even 0 */
        put_tag(&b, PROFILE_COMMENT, WT_VARINT);
        put_varint(&b, (uint64_t)p->comments[i]);
    }
    put_i64(&b, PROFILE_DEFAULT_SAMPLE_TYPE, p->default_sample_type);

    free(m.d);
    free(s.d);
    if (b.oom || m.oom || s.oom) {
        free(b.d);
        return -ENOMEM;
    }
    *out = b.d;
    *len = b.len;
    return 0;
}

int pprof_write(const struct pf_profile *p, FILE *out)
{
    uint8_t *raw, chunk[64 * 1024];
    size_t len;
    z_stream zs = {0};
    int err = pprof_encode(p, &raw, &len), zret;

    if (err)
        return err;
    /* windowBits 15 + 16: a gzip wrapper, as pprof files are */
    if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(raw);
        return -ENOMEM;
    }
    zs.next_in = raw;
    zs.avail_in = (uInt)len; /* encoded profiles stay under 4 GiB: PPROF_MAX_BYTES */
    do {
        zs.next_out = chunk;
        zs.avail_out = sizeof(chunk);
        zret = deflate(&zs, Z_FINISH);
        if (zret == Z_STREAM_ERROR) {
            err = -EIO;
            break;
        }
        if (fwrite(chunk, 1, sizeof(chunk) - zs.avail_out, out) != sizeof(chunk) - zs.avail_out) {
            err = -EIO;
            break;
        }
    } while (zret != Z_STREAM_END);
    deflateEnd(&zs);
    free(raw);
    if (!err && (fflush(out) || ferror(out)))
        err = -EIO;
    return err;
}

/* ---------------- decoding ---------------- */

struct pdec {
    const uint8_t *p, *end;
};

struct field {
    unsigned num, wt;
    uint64_t v;          /* varint and fixed values */
    const uint8_t *data; /* WT_LEN payload */
    size_t len;
};

struct decoder {
    struct pf_profile *prof;
    int64_t *strmap; /* file string index -> ours */
    size_t nstrings;
    struct htab mapping_ids, function_ids, location_ids; /* file id -> ours */
    uint64_t *loc_scratch;
    size_t loc_scratch_cap;
    char *err;
    size_t errlen;
};

static int fail(struct decoder *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct decoder *d, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is just above
    vsnprintf(d->err, d->errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static int get_varint(struct pdec *in, uint64_t *v)
{
    uint64_t x = 0;

    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t byte;

        if (in->p >= in->end)
            return -EINVAL;
        byte = *in->p++;
        x |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -EINVAL; /* more than 10 bytes */
}

/* Reads one field. Returns 1 on success, 0 at the end, -EINVAL if malformed. */
static int next_field(struct pdec *in, struct field *f)
{
    uint64_t key;

    if (in->p >= in->end)
        return 0;
    if (get_varint(in, &key) || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
        return -EINVAL;
    f->num = (unsigned)(key >> 3);
    f->wt = key & 7;
    switch (f->wt) {
    case WT_VARINT:
        return get_varint(in, &f->v) ? -EINVAL : 1;
    case WT_I64:
        if (in->end - in->p < 8)
            return -EINVAL;
        memcpy(&f->v, in->p, 8);
        in->p += 8;
        return 1;
    case WT_I32: {
        uint32_t v32;

        if (in->end - in->p < 4)
            return -EINVAL;
        memcpy(&v32, in->p, 4);
        f->v = v32;
        in->p += 4;
        return 1;
    }
    case WT_LEN:
        if (get_varint(in, &f->v) || f->v > (uint64_t)(in->end - in->p))
            return -EINVAL;
        f->data = in->p;
        f->len = (size_t)f->v;
        in->p += f->len;
        return 1;
    default: /* groups (3, 4) are not used by profile.proto */
        return -EINVAL;
    }
}

static int string_ref(struct decoder *d, uint64_t idx, const char *what, int64_t *out)
{
    if (idx >= d->nstrings)
        return fail(d, "%s: string index %lld out of range (string table has %zu entries)", what,
                    (long long)idx, d->nstrings);
    *out = d->strmap[idx];
    return 0;
}

/* Calls fn for each element of a repeated scalar, packed or not. */
static int each_scalar(const struct field *f, int (*fn)(void *, uint64_t), void *ctx)
{
    struct pdec in;
    uint64_t v;
    int err;

    if (f->wt == WT_VARINT)
        return fn(ctx, f->v);
    if (f->wt != WT_LEN)
        return -EINVAL;
    in = (struct pdec){f->data, f->data + f->len};
    while (in.p < in.end) {
        if (get_varint(&in, &v))
            return -EINVAL;
        if ((err = fn(ctx, v)))
            return err;
    }
    return 0;
}

static int decode_value_type(struct decoder *d, const struct field *f, struct pf_value_type *vt)
{
    struct pdec in = {f->data, f->data + f->len};
    struct field g;
    int r, err;

    *vt = (struct pf_value_type){0};
    while ((r = next_field(&in, &g)) > 0) {
        if (g.wt != WT_VARINT)
            continue;
        if (g.num == VT_TYPE && (err = string_ref(d, g.v, "sample type", &vt->type)))
            return err;
        if (g.num == VT_UNIT && (err = string_ref(d, g.v, "sample unit", &vt->unit)))
            return err;
    }
    return r < 0 ? fail(d, "malformed value type") : 0;
}

/* The checks every message with an id needs: it parsed, its id is set and
 * not seen before in table. */
static int check_message(struct decoder *d, int r, uint64_t id, const struct htab *table,
                         const char *what)
{
    if (r < 0)
        return fail(d, "malformed %s", what);
    if (!id)
        return fail(d, "a %s has id 0", what);
    if (htab_get(table, &id, sizeof(id), NULL))
        return fail(d, "%s id %llu appears twice", what, (unsigned long long)id);
    return 0;
}

static int decode_mapping(struct decoder *d, const struct field *f)
{
    struct pdec in = {f->data, f->data + f->len};
    struct pf_mapping m = {0};
    uint64_t id = 0;
    struct field g;
    const char *name;
    int64_t ours;
    int r, err = 0;

    while ((r = next_field(&in, &g)) > 0) {
        if (g.wt != WT_VARINT)
            continue;
        switch (g.num) {
        case MAPPING_ID:
            id = g.v;
            break;
        case MAPPING_START:
            m.start = g.v;
            break;
        case MAPPING_LIMIT:
            m.limit = g.v;
            break;
        case MAPPING_OFFSET:
            m.offset = g.v;
            break;
        case MAPPING_FILENAME:
            err = string_ref(d, g.v, "mapping file name", &m.filename);
            break;
        case MAPPING_BUILD_ID:
            err = string_ref(d, g.v, "mapping build id", &m.build_id);
            break;
        case MAPPING_HAS_FUNCTIONS:
            m.has_functions = g.v != 0;
            break;
        case MAPPING_HAS_FILENAMES:
            m.has_filenames = g.v != 0;
            break;
        case MAPPING_HAS_LINE_NUMBERS:
            m.has_line_numbers = g.v != 0;
            break;
        case MAPPING_HAS_INLINE_FRAMES:
            m.has_inline_frames = g.v != 0;
            break;
        default:
            break;
        }
        if (err)
            return err;
    }
    if ((err = check_message(d, r, id, &d->mapping_ids, "mapping")))
        return err;
    name = pf_profile_str(d->prof, m.filename);
    if (!strcmp(name, PF_KERNEL_MAPPING) || !strncmp(name, "[kernel", 7) ||
        !strcmp(name, "[vmlinux]"))
        m.kind = PF_FRAME_KERNEL;
    else if (!strcmp(name, PF_JIT_MAPPING) ||
             (!strncmp(name, "/tmp/perf-", 10) && strstr(name, ".map")))
        m.kind = PF_FRAME_JIT;
    ours = pf_profile_add_mapping(d->prof, &m);
    if (ours < 0)
        return (int)ours;
    return htab_put(&d->mapping_ids, &id, sizeof(id), (uint64_t)ours);
}

static int decode_function(struct decoder *d, const struct field *f)
{
    struct pdec in = {f->data, f->data + f->len};
    int64_t name = 0, sys = 0, file = 0, start = 0, ours;
    uint64_t id = 0;
    struct field g;
    int r, err = 0;

    while ((r = next_field(&in, &g)) > 0) {
        if (g.wt != WT_VARINT)
            continue;
        switch (g.num) {
        case FUNCTION_ID:
            id = g.v;
            break;
        case FUNCTION_NAME:
            err = string_ref(d, g.v, "function name", &name);
            break;
        case FUNCTION_SYSTEM_NAME:
            err = string_ref(d, g.v, "function system name", &sys);
            break;
        case FUNCTION_FILENAME:
            err = string_ref(d, g.v, "function file name", &file);
            break;
        case FUNCTION_START_LINE:
            start = (int64_t)g.v;
            break;
        default:
            break;
        }
        if (err)
            return err;
    }
    if ((err = check_message(d, r, id, &d->function_ids, "function")))
        return err;
    /* Two file functions with equal fields become one of ours: harmless,
     * both ids map to it. */
    ours = pf_profile_function(d->prof, name, sys, file, start);
    if (ours < 0)
        return (int)ours;
    return htab_put(&d->function_ids, &id, sizeof(id), (uint64_t)ours);
}

static int decode_location(struct decoder *d, const struct field *f)
{
    struct pdec in = {f->data, f->data + f->len};
    struct pf_line *lines = NULL;
    size_t nlines = 0, cap = 0;
    uint64_t id = 0, mapping = 0, address = 0, ours_m = 0;
    bool folded = false;
    struct field g;
    int64_t ours;
    int r, err = 0;

    while ((r = next_field(&in, &g)) > 0) {
        if (g.num == LOCATION_LINE && g.wt == WT_LEN) {
            struct pdec lin = {g.data, g.data + g.len};
            struct pf_line line = {0};
            uint64_t fid = 0, fv;
            struct field h;
            int rr;

            while ((rr = next_field(&lin, &h)) > 0) {
                if (h.wt == WT_VARINT && h.num == LINE_FUNCTION_ID)
                    fid = h.v;
                else if (h.wt == WT_VARINT && h.num == LINE_LINE)
                    line.line = (int64_t)h.v;
            }
            if (rr < 0) {
                err = fail(d, "malformed line in location %llu", (unsigned long long)id);
                break;
            }
            if (!htab_get(&d->function_ids, &fid, sizeof(fid), &fv)) {
                err = fail(d, "a location's line names unknown function id %llu",
                           (unsigned long long)fid);
                break;
            }
            line.function_id = fv;
            if (ARRAY_RESERVE_ONE(lines, nlines, cap)) {
                err = -ENOMEM;
                break;
            }
            lines[nlines++] = line;
            continue;
        }
        if (g.wt != WT_VARINT)
            continue;
        if (g.num == LOCATION_ID)
            id = g.v;
        else if (g.num == LOCATION_MAPPING_ID)
            mapping = g.v;
        else if (g.num == LOCATION_ADDRESS)
            address = g.v;
        else if (g.num == LOCATION_IS_FOLDED)
            folded = g.v != 0;
    }
    if (!err)
        err = check_message(d, r, id, &d->location_ids, "location");
    if (!err && mapping && !htab_get(&d->mapping_ids, &mapping, sizeof(mapping), &ours_m))
        err = fail(d, "location %llu names unknown mapping id %llu", (unsigned long long)id,
                   (unsigned long long)mapping);
    if (err) {
        free(lines);
        return err;
    }
    ours = pf_profile_add_location(d->prof, ours_m, address, lines, nlines);
    free(lines);
    if (ours < 0)
        return (int)ours;
    d->prof->locations[ours - 1].is_folded = folded;
    return htab_put(&d->location_ids, &id, sizeof(id), (uint64_t)ours);
}

struct sample_build {
    struct decoder *d;
    uint64_t *locs;
    size_t nlocs, locs_cap;
    int64_t values[PF_MAX_SAMPLE_TYPES];
    size_t nvalues;
    bool too_many_values;
};

static int add_location_id(void *ctx, uint64_t id)
{
    struct sample_build *sb = ctx;
    uint64_t ours;

    if (!htab_get(&sb->d->location_ids, &id, sizeof(id), &ours))
        return fail(sb->d, "a sample names unknown location id %llu", (unsigned long long)id);
    if (ARRAY_RESERVE_ONE(sb->locs, sb->nlocs, sb->locs_cap))
        return -ENOMEM;
    sb->locs[sb->nlocs++] = ours;
    return 0;
}

static int add_value(void *ctx, uint64_t v)
{
    struct sample_build *sb = ctx;

    if (sb->nvalues == PF_MAX_SAMPLE_TYPES) {
        sb->too_many_values = true;
        return 0;
    }
    sb->values[sb->nvalues++] = (int64_t)v;
    return 0;
}

static int decode_sample(struct decoder *d, const struct field *f, struct sample_build *sb,
                         size_t index)
{
    struct pdec in = {f->data, f->data + f->len};
    struct pf_label *labels = NULL;
    size_t nlabels = 0, cap = 0;
    struct field g;
    int r, err = 0;

    sb->nlocs = sb->nvalues = 0;
    sb->too_many_values = false;
    while (!err && (r = next_field(&in, &g)) > 0) {
        if (g.num == SAMPLE_LOCATION_ID)
            err = each_scalar(&g, add_location_id, sb);
        else if (g.num == SAMPLE_VALUE)
            err = each_scalar(&g, add_value, sb);
        else if (g.num == SAMPLE_LABEL && g.wt == WT_LEN) {
            struct pdec lin = {g.data, g.data + g.len};
            struct pf_label l = {0};
            struct field h;
            int rr;

            while (!err && (rr = next_field(&lin, &h)) > 0) {
                if (h.wt != WT_VARINT)
                    continue;
                if (h.num == LABEL_KEY)
                    err = string_ref(d, h.v, "label key", &l.key);
                else if (h.num == LABEL_STR)
                    err = string_ref(d, h.v, "label value", &l.str);
                else if (h.num == LABEL_NUM)
                    l.num = (int64_t)h.v;
                else if (h.num == LABEL_NUM_UNIT)
                    err = string_ref(d, h.v, "label unit", &l.num_unit);
            }
            if (!err && rr < 0)
                err = fail(d, "malformed label in sample %zu", index);
            if (!err && ARRAY_RESERVE_ONE(labels, nlabels, cap))
                err = -ENOMEM;
            if (!err)
                labels[nlabels++] = l;
        }
        if (err == -EINVAL && !d->err[0])
            err = fail(d, "malformed sample %zu", index);
    }
    if (!err && r < 0)
        err = fail(d, "malformed sample %zu", index);
    if (!err && (sb->too_many_values || sb->nvalues != d->prof->nsample_types))
        err = fail(d, "sample %zu has %zu values for %zu sample types", index, sb->nvalues,
                   d->prof->nsample_types);
    for (size_t i = 0; !err && i < sb->nvalues; i++) {
        const char *unit = pf_profile_str(d->prof, d->prof->sample_types[i].unit);

        if (sb->values[i] < 0 && !strcmp(unit, "count"))
            err =
                fail(d, "sample %zu has a negative count (%lld)", index, (long long)sb->values[i]);
    }
    if (!err)
        err = pf_profile_add_sample(d->prof, sb->locs, sb->nlocs, sb->values, labels, nlabels);
    free(labels);
    return err;
}

static int add_comment(void *ctx, uint64_t idx)
{
    struct decoder *d = ctx;
    int64_t ours = 0;
    int err = string_ref(d, idx, "comment", &ours);

    if (err)
        return err;
    return pf_profile_add_comment(d->prof, pf_profile_str(d->prof, ours));
}

/* Decodes one top-level field of the given pass. */
static int decode_top(struct decoder *d, int pass, const struct field *f, struct sample_build *sb,
                      size_t *nsamples)
{
    struct pf_profile *p = d->prof;
    int64_t *dst = NULL;
    int err;

    switch (pass) {
    case 1:
        if (f->num == PROFILE_MAPPING && f->wt == WT_LEN)
            return decode_mapping(d, f);
        if (f->num == PROFILE_FUNCTION && f->wt == WT_LEN)
            return decode_function(d, f);
        return 0;
    case 2:
        return f->num == PROFILE_LOCATION && f->wt == WT_LEN ? decode_location(d, f) : 0;
    case 3:
        if (f->num != PROFILE_SAMPLE_TYPE || f->wt != WT_LEN)
            return 0;
        if (p->nsample_types == PF_MAX_SAMPLE_TYPES)
            return fail(d, "more than %d sample types", PF_MAX_SAMPLE_TYPES);
        return decode_value_type(d, f, &p->sample_types[p->nsample_types++]);
    default:
        break;
    }
    switch (f->num) {
    case PROFILE_SAMPLE:
        return f->wt == WT_LEN ? decode_sample(d, f, sb, (*nsamples)++) : 0;
    case PROFILE_PERIOD_TYPE:
        return f->wt == WT_LEN ? decode_value_type(d, f, &p->period_type) : 0;
    case PROFILE_COMMENT:
        return each_scalar(f, add_comment, d);
    case PROFILE_DROP_FRAMES:
        dst = &p->drop_frames;
        break;
    case PROFILE_KEEP_FRAMES:
        dst = &p->keep_frames;
        break;
    case PROFILE_DEFAULT_SAMPLE_TYPE:
        dst = &p->default_sample_type;
        break;
    case PROFILE_TIME_NANOS:
        p->time_nanos = (int64_t)f->v;
        return 0;
    case PROFILE_DURATION_NANOS:
        p->duration_nanos = (int64_t)f->v;
        return 0;
    case PROFILE_PERIOD:
        p->period = (int64_t)f->v;
        return 0;
    default:
        return 0;
    }
    if (f->wt != WT_VARINT)
        return 0;
    err = string_ref(d, f->v, "profile field", dst);
    return err;
}

static int decode_raw(struct decoder *d, const uint8_t *data, size_t len)
{
    struct sample_build sb = {.d = d};
    struct pdec in;
    struct field f;
    size_t nsamples = 0, ns = 0;
    int r, err = 0;

    /* pass 0: the string table, which every other message refers to */
    in = (struct pdec){data, data + len};
    while ((r = next_field(&in, &f)) > 0) {
        if (f.num == PROFILE_STRING_TABLE && f.wt == WT_LEN)
            ns++;
    }
    if (r < 0)
        return fail(d, "not a pprof profile: malformed protobuf at byte %zu",
                    (size_t)(in.p - data));
    d->strmap = calloc(ns ? ns : 1, sizeof(*d->strmap));
    if (!d->strmap)
        return -ENOMEM;
    in = (struct pdec){data, data + len};
    while (next_field(&in, &f) > 0) {
        int64_t idx;

        if (f.num != PROFILE_STRING_TABLE || f.wt != WT_LEN)
            continue;
        if (d->nstrings == 0 && f.len != 0)
            return fail(d, "string_table[0] must be the empty string");
        if (memchr(f.data, '\0', f.len))
            return fail(d, "string_table[%zu] holds a NUL byte", d->nstrings);
        idx = pf_profile_string(d->prof, (const char *)f.data, f.len);
        if (idx < 0)
            return (int)idx;
        d->strmap[d->nstrings++] = idx;
    }
    if (!d->nstrings && len)
        return fail(d, "not a pprof profile: no string table");
    /* Later passes depend on earlier ones: mappings and functions, then
     * locations, then sample types, then samples and the rest. */
    for (int pass = 1; pass <= 4 && !err; pass++) {
        in = (struct pdec){data, data + len};
        while (!err && next_field(&in, &f) > 0)
            err = decode_top(d, pass, &f, &sb, &nsamples);
    }
    free(sb.locs);
    return err;
}

static int gunzip(const uint8_t *in, size_t len, uint8_t **out, size_t *olen, char *err,
                  size_t errlen)
{
    z_stream zs = {0};
    size_t cap = len * 4 > 65536 ? len * 4 : 65536, used = 0;
    uint8_t *buf = malloc(cap);
    int zret;

    if (!buf)
        return -ENOMEM;
    if (inflateInit2(&zs, 15 + 32) != Z_OK) { /* gzip or zlib, detected */
        free(buf);
        return -ENOMEM;
    }
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    for (;;) {
        if (used == cap) {
            uint8_t *nb;

            if (cap >= PPROF_MAX_BYTES) {
                snprintf(err, errlen, "decompressed profile is larger than %zu MiB",
                         PPROF_MAX_BYTES >> 20);
                zret = Z_MEM_ERROR;
                break;
            }
            cap *= 2;
            nb = realloc(buf, cap);
            if (!nb) {
                zret = Z_MEM_ERROR;
                break;
            }
            buf = nb;
        }
        zs.next_out = buf + used;
        zs.avail_out = (uInt)(cap - used);
        zret = inflate(&zs, Z_NO_FLUSH);
        used = cap - zs.avail_out;
        if (zret == Z_STREAM_END)
            break;
        if (zret == Z_BUF_ERROR && zs.avail_in == 0) {
            snprintf(err, errlen, "truncated gzip stream (%zu bytes in)", len);
            break;
        }
        if (zret != Z_OK && zret != Z_BUF_ERROR) {
            snprintf(err, errlen, "corrupt gzip data: %s", zs.msg ? zs.msg : "inflate failed");
            break;
        }
    }
    inflateEnd(&zs);
    if (zret != Z_STREAM_END) {
        free(buf);
        return zret == Z_MEM_ERROR && !err[0] ? -ENOMEM : -EINVAL;
    }
    *out = buf;
    *olen = used;
    return 0;
}

int pprof_decode(struct pf_profile *p, const uint8_t *data, size_t len, char *err, size_t errlen)
{
    struct decoder d = {.prof = p, .err = err, .errlen = errlen};
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    int ret;

    err[0] = '\0';
    if (len >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
        if ((ret = gunzip(data, len, &raw, &rawlen, err, errlen)))
            return ret;
        data = raw;
        len = rawlen;
    }
    htab_init(&d.mapping_ids);
    htab_init(&d.function_ids);
    htab_init(&d.location_ids);
    ret = decode_raw(&d, data, len);
    free(d.strmap);
    htab_free(&d.mapping_ids);
    htab_free(&d.function_ids);
    htab_free(&d.location_ids);
    free(raw);
    if (ret == -ENOMEM && !err[0])
        snprintf(err, errlen, "out of memory");
    return ret;
}

int pprof_read(struct pf_profile *p, FILE *in, char *err, size_t errlen)
{
    size_t cap = 1 << 16, len = 0, n;
    uint8_t *buf = malloc(cap);
    int ret;

    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    while ((n = fread(buf + len, 1, cap - len, in)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *nb;

            if (cap >= PPROF_MAX_BYTES) {
                free(buf);
                snprintf(err, errlen, "profile is larger than %zu MiB", PPROF_MAX_BYTES >> 20);
                return -EFBIG;
            }
            nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                snprintf(err, errlen, "out of memory reading %zu MiB of profile", cap >> 19);
                return -ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (ferror(in)) {
        free(buf);
        snprintf(err, errlen, "read error");
        return -EIO;
    }
    ret = pprof_decode(p, buf, len, err, errlen);
    free(buf);
    return ret;
}

int pprof_write_buffer(const struct pf_profile *p, char **buf, size_t *len)
{
    FILE *f = open_memstream(buf, len);
    int rc;

    if (!f)
        return -ENOMEM;
    rc = pprof_write(p, f);
    if (fclose(f) && !rc)
        rc = -ENOMEM;
    if (rc) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}
