#include "formats/folded.h"

#include "formats/buf.h"
#include "formats/stackcount.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define PF_MAX_INLINE_KEY 32

int pf_group_by_parse(const char *s, enum pf_group_by *out)
{
    static const struct {
        const char *name;
        enum pf_group_by v;
    } names[] = {{"none", PF_GROUP_NONE}, {"process", PF_GROUP_PROCESS},
                 {"pid", PF_GROUP_PID},   {"thread", PF_GROUP_THREAD},
                 {"pod", PF_GROUP_POD},   {"container", PF_GROUP_CONTAINER}};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].v;
            return 0;
        }
    }
    return -EINVAL;
}

/* Appends a frame name; ';' and line breaks would split the line. */
static int buf_add_frame(struct buf *b, const char *name, const char *suffix)
{
    size_t start = b->len;
    int err;

    if (start && (err = buf_put(b, ";", 1)))
        return err;
    start = b->len;
    if ((err = buf_put(b, name, strlen(name))))
        return err;
    for (size_t i = start; i < b->len; i++) {
        if (b->d[i] == ';' || b->d[i] == '\n' || b->d[i] == '\r')
            b->d[i] = '_';
    }
    return suffix ? buf_put(b, suffix, strlen(suffix)) : 0;
}

static int add_roots(const struct pf_profile *p, const struct pf_sample *s,
                     enum pf_group_by group_by, struct buf *b)
{
    const char *comm = pf_sample_label(p, s, "comm");
    const char *pid = pf_sample_label(p, s, "pid");
    const char *tid = pf_sample_label(p, s, "tid");
    const char *ns = pf_sample_label(p, s, "namespace");
    const char *pod = pf_sample_label(p, s, "pod");
    const char *uid = pf_sample_label(p, s, "pod_uid");
    const char *ctr = pf_sample_label(p, s, "container");
    char root[512];
    int err;

    /* profiles read from folded stacks have no labels: their first frame
     * already is the root */
    if (group_by == PF_GROUP_NONE || !comm)
        return 0;
    if (!pod && uid) /* a Pod the kubelet's directories do not name (yet) */
        pod = uid, ns = NULL;
    if ((group_by == PF_GROUP_POD || group_by == PF_GROUP_CONTAINER) && pod) {
        snprintf(root, sizeof(root), "%s%s%s%s%s", ns ? ns : "", ns ? "/" : "", pod,
                 group_by == PF_GROUP_CONTAINER && ctr ? "/" : "",
                 group_by == PF_GROUP_CONTAINER && ctr ? ctr : "");
        if ((err = buf_add_frame(b, root, NULL)))
            return err;
        if (group_by == PF_GROUP_POD && ctr && (err = buf_add_frame(b, ctr, NULL)))
            return err;
        return buf_add_frame(b, comm, NULL);
    }
    if (group_by == PF_GROUP_CONTAINER && ctr) { /* a container outside Kubernetes */
        if ((err = buf_add_frame(b, ctr, NULL)))
            return err;
        return buf_add_frame(b, comm, NULL);
    }
    if ((group_by != PF_GROUP_PID && group_by != PF_GROUP_THREAD) || !pid)
        snprintf(root, sizeof(root), "%s", comm);
    else if (group_by == PF_GROUP_PID || !tid)
        snprintf(root, sizeof(root), "%s-%s", comm, pid);
    else
        snprintf(root, sizeof(root), "%s-%s/%s", comm, pid, tid);
    return buf_add_frame(b, root, NULL);
}

static int add_frames(const struct pf_profile *p, const struct pf_sample *s, struct buf *b)
{
    static const char *kind_suffix[] = {
        [PF_FRAME_USER] = NULL, [PF_FRAME_KERNEL] = "_[k]", [PF_FRAME_JIT] = "_[j]"};
    int err;

    for (size_t i = s->nlocations; i-- > 0;) {
        const struct pf_location *loc = pf_profile_location(p, s->location_ids[i]);

        if (!loc)
            continue;
        if (!loc->nlines) {
            if ((err = buf_add_frame(b, "[unknown]", kind_suffix[pf_location_kind(p, loc)])))
                return err;
            continue;
        }
        for (size_t j = loc->nlines; j-- > 0;) {
            const struct pf_function *fn = pf_profile_func(p, loc->lines[j].function_id);
            const char *name = fn ? pf_profile_str(p, fn->name) : "";
            const char *suffix =
                j + 1 < loc->nlines ? "_[i]" : kind_suffix[pf_location_kind(p, loc)];

            if ((err = buf_add_frame(b, *name ? name : "[unknown]", suffix)))
                return err;
        }
    }
    return 0;
}

int folded_stacks(const struct pf_profile *p, const struct folded_write_opts *opts,
                  struct stackcount *sc)
{
    struct folded_write_opts defaults = {0};
    struct buf b = {0};
    int err = 0;

    if (!opts)
        opts = &defaults;
    for (size_t i = 0; i < p->nsamples; i++) {
        const struct pf_sample *s = &p->samples[i];
        int64_t v = opts->value_index < p->nsample_types ? s->values[opts->value_index] : 0;

        if (v <= 0)
            continue;
        b.len = 0;
        if ((err = add_roots(p, s, opts->group_by, &b)) || (err = add_frames(p, s, &b)))
            goto out;
        if (!b.len && (err = buf_add_frame(&b, "[unknown]", NULL)))
            goto out;
        if ((err = stackcount_add(sc, b.d, b.len, (uint64_t)v)))
            goto out;
    }
    stackcount_sort(sc);
out:
    free(b.d);
    return err;
}

int folded_write(const struct pf_profile *p, FILE *out, const struct folded_write_opts *opts)
{
    struct stackcount sc;
    int err;

    stackcount_init(&sc);
    err = folded_stacks(p, opts, &sc);
    for (size_t i = 0; !err && i < sc.n; i++)
        fprintf(out, "%s %" PRIu64 "\n", sc.items[i].stack, sc.items[i].count);
    if (!err && (fflush(out) || ferror(out)))
        err = -EIO;
    stackcount_free(&sc);
    return err;
}

/* ---- reading ---- */

/* One location under construction: function ids, outermost first. */
struct frame_loc {
    enum pf_frame_kind kind;
    size_t first, n; /* range in the reader's function-id array */
};

struct folded_reader {
    struct pf_profile *p;
    struct htab locations; /* kind + function ids -> location id */
    uint64_t mapping_ids[3];
    int64_t *fids;
    size_t nfids, fids_cap;
    struct frame_loc *locs;
    size_t nlocs, locs_cap;
    uint64_t *loc_ids;
    size_t loc_ids_cap;
};

static int64_t kind_mapping(struct folded_reader *r, enum pf_frame_kind kind)
{
    static const char *names[] = {
        [PF_FRAME_KERNEL] = PF_KERNEL_MAPPING, [PF_FRAME_JIT] = PF_JIT_MAPPING};
    struct pf_mapping m = {0};
    int64_t id;

    if (kind == PF_FRAME_USER)
        return 0;
    if (r->mapping_ids[kind])
        return (int64_t)r->mapping_ids[kind];
    m.filename = pf_profile_cstring(r->p, names[kind]);
    if (m.filename < 0)
        return m.filename;
    m.kind = kind;
    m.has_functions = true;
    id = pf_profile_add_mapping(r->p, &m);
    if (id > 0)
        r->mapping_ids[kind] = (uint64_t)id;
    return id;
}

static bool has_suffix(const char *s, size_t len, const char *suf)
{
    return len > 4 && memcmp(s + len - 4, suf, 4) == 0;
}

/* Adds one frame (name[0..len)) to the stack being built. */
static int add_frame(struct folded_reader *r, const char *name, size_t len)
{
    enum pf_frame_kind kind = PF_FRAME_USER;
    bool inlined = false;
    int64_t sidx, fid;
    int err;

    if (has_suffix(name, len, "_[k]"))
        kind = PF_FRAME_KERNEL, len -= 4;
    else if (has_suffix(name, len, "_[j]"))
        kind = PF_FRAME_JIT, len -= 4;
    else if (has_suffix(name, len, "_[i]") && r->nlocs)
        inlined = true, len -= 4;

    sidx = pf_profile_string(r->p, name, len);
    if (sidx < 0)
        return (int)sidx;
    fid = pf_profile_function(r->p, sidx, sidx, 0, 0);
    if (fid < 0)
        return (int)fid;
    if ((err = ARRAY_RESERVE_ONE(r->fids, r->nfids, r->fids_cap)))
        return err;
    r->fids[r->nfids++] = fid;
    if (inlined) {
        r->locs[r->nlocs - 1].n++;
        return 0;
    }
    if ((err = ARRAY_RESERVE_ONE(r->locs, r->nlocs, r->locs_cap)))
        return err;
    r->locs[r->nlocs++] = (struct frame_loc){kind, r->nfids - 1, 1};
    return 0;
}

/* Turns the frames built for one line into location ids, leaf first. */
static int finish_stack(struct folded_reader *r)
{
    int err = array_reserve((void **)&r->loc_ids, &r->loc_ids_cap, r->nlocs, sizeof(*r->loc_ids));

    if (err)
        return err;
    for (size_t i = 0; i < r->nlocs; i++) {
        struct frame_loc *fl = &r->locs[i];
        int64_t key[PF_MAX_INLINE_KEY];
        size_t nkey = 0;
        uint64_t id = 0;
        bool found;

        /* key: kind, then function ids; long inline chains just aren't cached */
        if (fl->n + 1 <= PF_MAX_INLINE_KEY) {
            key[nkey++] = fl->kind;
            for (size_t j = 0; j < fl->n; j++)
                key[nkey++] = r->fids[fl->first + j];
            if (htab_get(&r->locations, key, nkey * sizeof(key[0]), &id)) {
                r->loc_ids[r->nlocs - 1 - i] = id;
                continue;
            }
        }
        {
            struct pf_line *lines = calloc(fl->n ? fl->n : 1, sizeof(*lines));
            int64_t mid = kind_mapping(r, fl->kind), lid;

            if (!lines)
                return -ENOMEM;
            for (size_t j = 0; j < fl->n; j++) /* innermost first */
                lines[j] = (struct pf_line){(uint64_t)r->fids[fl->first + fl->n - 1 - j], 0};
            lid = mid < 0 ? mid : pf_profile_add_location(r->p, (uint64_t)mid, 0, lines, fl->n);
            free(lines);
            if (lid < 0)
                return (int)lid;
            id = (uint64_t)lid;
        }
        if (nkey &&
            (err = htab_get_or_put(&r->locations, key, nkey * sizeof(key[0]), &id, &found, NULL)))
            return err;
        r->loc_ids[r->nlocs - 1 - i] = id;
    }
    return 0;
}

int folded_reader_line(struct folded_reader *r, char *line, size_t len, const char **why)
{
    char *sp, *end;
    unsigned long long count;
    int64_t value;
    int err;

    while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        line[--len] = '\0';
    if (!len || line[0] == '#')
        return 0;
    sp = strrchr(line, ' ');
    if (!sp) {
        *why = "no count after the stack";
        return -EINVAL;
    }
    if (!isdigit((unsigned char)sp[1])) {
        *why = "count is not a non-negative integer";
        return -EINVAL;
    }
    errno = 0;
    count = strtoull(sp + 1, &end, 10);
    if (*end || errno || count > INT64_MAX) {
        *why = *end ? "count is not a non-negative integer" : "count out of range";
        return -EINVAL;
    }
    if (sp == line) {
        *why = "empty stack";
        return -EINVAL;
    }
    *sp = '\0';
    r->nfids = r->nlocs = 0;
    for (char *f = line, *semi;; f = semi + 1) {
        semi = strchr(f, ';');
        if (semi == f || (!semi && !*f)) {
            *why = "empty frame name";
            return -EINVAL;
        }
        if ((err = add_frame(r, f, semi ? (size_t)(semi - f) : strlen(f))))
            return err;
        if (!semi)
            break;
    }
    if ((err = finish_stack(r)))
        return err;
    value = (int64_t)count;
    err = pf_profile_add_sample(r->p, r->loc_ids, r->nlocs, &value, NULL, 0);
    return err ? err : 1;
}

int folded_reader_new(struct pf_profile *p, struct folded_reader **out)
{
    struct folded_reader *r = calloc(1, sizeof(*r));

    if (!r)
        return -ENOMEM;
    r->p = p;
    htab_init(&r->locations);
    if (!p->nsample_types) {
        int64_t t = pf_profile_cstring(p, "samples"), u = pf_profile_cstring(p, "count");

        if (t < 0 || u < 0) {
            folded_reader_free(r);
            return -ENOMEM;
        }
        p->sample_types[0] = (struct pf_value_type){t, u};
        p->nsample_types = 1;
    }
    *out = r;
    return 0;
}

void folded_reader_free(struct folded_reader *r)
{
    if (!r)
        return;
    free(r->fids);
    free(r->locs);
    free(r->loc_ids);
    htab_free(&r->locations);
    free(r);
}

int folded_read(struct pf_profile *p, FILE *in, struct folded_read_report *report)
{
    struct folded_read_report rep = {0};
    struct folded_reader *r;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int err = folded_reader_new(p, &r);

    if (err)
        return err;
    while ((n = getline(&line, &cap, in)) >= 0) {
        const char *why = NULL;

        rep.lines++;
        if (n && line[n - 1] == '\n')
            line[--n] = '\0';
        err = folded_reader_line(r, line, (size_t)n, &why);
        if (err == -EINVAL) {
            if (!rep.bad_lines++) {
                rep.first_bad_line = rep.lines;
                rep.first_bad_why = why;
            }
            err = 0;
        } else if (err < 0) {
            break;
        } else {
            err = 0;
        }
    }
    if (!err && ferror(in))
        err = -EIO;
    free(line);
    folded_reader_free(r);
    if (report)
        *report = rep;
    return err;
}
