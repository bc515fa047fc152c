#include "symbolize/perfmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "formats/buf.h"

struct jit_sym {
    uint64_t start, end;
    uint32_t name; /* offset into names (at most PERFMAP_MAX_NAME_BYTES) */
    uint32_t seq;  /* entry number: the later line wins at one address */
};

struct perfmap {
    struct jit_sym *syms;
    size_t n, cap;
    struct buf names;
    size_t bad;
    bool truncated;
};

void perfmap_free(struct perfmap *pm)
{
    if (!pm)
        return;
    free(pm->syms);
    free(pm->names.d);
    free(pm);
}

static int parse_hex(const char **p, uint64_t *out)
{
    const char *s = *p;
    char *end;

    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2;
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')))
        return -EINVAL;
    errno = 0;
    *out = strtoull(s, &end, 16);
    if (errno || *end != ' ')
        return -EINVAL;
    *p = end + 1;
    return 0;
}

static int by_start(const void *a, const void *b)
{
    const struct jit_sym *x = a, *y = b;

    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Reads one line of at most PERFMAP_MAX_LINE - 1 bytes into line, without
 * its newline. A longer line is consumed whole and reported as too long
 * (*too_long), never buffered; so is one with a NUL in it. Returns the
 * bytes consumed, every one counted, 0 at the end. */
static size_t read_line(FILE *f, char line[PERFMAP_MAX_LINE], bool *too_long)
{
    size_t consumed = 0, len = 0;
    int c;

    *too_long = false;
    while ((c = getc_unlocked(f)) != EOF) {
        consumed++;
        if (c == '\n')
            break;
        if (!c || len == PERFMAP_MAX_LINE - 1)
            *too_long = true;
        else if (!*too_long)
            line[len++] = (char)c;
        if (consumed > PERFMAP_MAX_BYTES)
            break;
    }
    line[len] = '\0';
    return consumed;
}

/* Drops the older half of the entries read so far, and their names: a JIT
 * appends to its map for as long as it runs, and the newest code is the
 * code running now. Returns 0 or -ENOMEM. */
static int drop_oldest(struct perfmap *pm)
{
    size_t keep = pm->n / 2, from = pm->n - keep;
    struct buf names = {0};

    for (size_t i = 0; i < keep; i++) {
        struct jit_sym s = pm->syms[from + i];
        const char *name = pm->names.d + s.name;

        s.name = (uint32_t)names.len;
        if (buf_put(&names, name, strlen(name) + 1)) {
            free(names.d);
            return -ENOMEM;
        }
        pm->syms[i] = s;
    }
    free(pm->names.d);
    pm->names = names;
    pm->n = keep;
    pm->truncated = true;
    return 0;
}

int perfmap_read(FILE *f, struct perfmap **out)
{
    struct perfmap *pm = calloc(1, sizeof(*pm));
    char *line = malloc(PERFMAP_MAX_LINE);
    size_t total = 0, w = 0, len, seq = 0;
    bool too_long;
    int err = 0;

    if (!pm || !line) {
        free(pm);
        free(line);
        return -ENOMEM;
    }
    while (!err && (len = read_line(f, line, &too_long)) > 0) {
        const char *p = line;
        uint64_t start, size;
        size_t name_len;

        total += len;
        if (total > PERFMAP_MAX_BYTES) {
            err = -EFBIG;
            break;
        }
        if (too_long) {
            pm->bad++;
            continue;
        }
        len = strlen(line);
        while (len && line[len - 1] == '\r')
            line[--len] = '\0';
        if (parse_hex(&p, &start) || parse_hex(&p, &size) || !size || !*p || start + size < start) {
            pm->bad++;
            continue;
        }
        name_len = strlen(p) + 1;
        if ((pm->n == PERFMAP_MAX_ENTRIES || pm->names.len + name_len > PERFMAP_MAX_NAME_BYTES) &&
            (err = drop_oldest(pm)))
            break;
        if (ARRAY_RESERVE_ONE(pm->syms, pm->n, pm->cap)) {
            err = -ENOMEM;
            break;
        }
        pm->syms[pm->n] =
            (struct jit_sym){start, start + size, (uint32_t)pm->names.len, (uint32_t)seq++};
        pm->n++;
        err = buf_put(&pm->names, p, name_len);
    }
    free(line);
    if (err) {
        perfmap_free(pm);
        return err;
    }
    if (pm->n)
        qsort(pm->syms, pm->n, sizeof(*pm->syms), by_start);
    /* one entry per start address: the last written */
    for (size_t i = 0; i < pm->n; i++) {
        if (w && pm->syms[w - 1].start == pm->syms[i].start)
            w--;
        pm->syms[w++] = pm->syms[i];
    }
    pm->n = w;
    *out = pm;
    return 0;
}

const char *perfmap_lookup(const struct perfmap *pm, uint64_t addr)
{
    size_t lo = 0, hi = pm ? pm->n : 0;

    /* the last entry starting at or below addr */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (pm->syms[mid].start <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (!lo || addr >= pm->syms[lo - 1].end)
        return NULL;
    return pm->names.d + pm->syms[lo - 1].name;
}

size_t perfmap_count(const struct perfmap *pm)
{
    return pm->n;
}

size_t perfmap_bad_lines(const struct perfmap *pm)
{
    return pm->bad;
}

bool perfmap_truncated(const struct perfmap *pm)
{
    return pm->truncated;
}
