/*
 * symbolize_bench: podflame's DWARF symbolization of a list of addresses in
 * one binary, timed cold (a fresh open: parsing included) and warm (the same
 * addresses again), with each address's inline chain (func:line, innermost
 * first) printed to a file so that tools/bench/symbolize.sh can compare it
 * with addr2line's.
 *
 * usage: symbolize_bench BINARY ADDRESSES OUT_NAMES
 * ADDRESSES: one hex ELF virtual address per line.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "symbolize/debuginfo.h"
#include "symbolize/demangle.h"
#include "symbolize/elfsyms.h"

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One pass; names of the innermost frame go to out when it is not NULL. */
static size_t from_dwarf, frames;

static size_t pass(struct debuginfo *di, struct elfsyms *es, const uint64_t *addrs, size_t n,
                   FILE *out)
{
    struct sym_line lines[SYM_MAX_INLINE];
    size_t named = 0;

    from_dwarf = frames = 0;
    for (size_t i = 0; i < n; i++) {
        size_t nl = debuginfo_lookup(di, addrs[i], lines, SYM_MAX_INLINE);
        const char *name = nl ? lines[0].func : elfsyms_lookup(es, addrs[i], NULL);

        named += name != NULL;
        from_dwarf += nl > 0;
        frames += nl ? nl : name != NULL;
        if (!out)
            continue;
        /* the chain as addr2line -i prints it: innermost first, func:line */
        if (!nl)
            fprintf(out, "%s:0", name ? name : "??");
        for (size_t j = 0; j < nl; j++)
            fprintf(out, "%s%s:%d", j ? ";" : "", lines[j].func, lines[j].line);
        fputc('\n', out);
    }
    return named;
}

int main(int argc, char **argv)
{
    struct elfsyms *es = NULL;
    struct debuginfo *di = NULL;
    struct demangler *dm = NULL;
    uint64_t *addrs = NULL;
    size_t n = 0, cap = 0, named;
    struct rusage ru;
    char line[64];
    double t0, t1, t2;
    FILE *f, *out;
    int fd;

    if (argc != 4) {
        fprintf(stderr, "usage: symbolize_bench BINARY ADDRESSES OUT_NAMES\n");
        return 2;
    }
    if (!(f = fopen(argv[2], "r")) || !(out = fopen(argv[3], "w"))) {
        fprintf(stderr, "symbolize_bench: %s\n", strerror(errno));
        return 1;
    }
    while (fgets(line, sizeof(line), f)) {
        if (n == cap && !(addrs = realloc(addrs, (cap = cap ? 2 * cap : 1024) * sizeof(*addrs))))
            return 1;
        addrs[n++] = strtoull(line, NULL, 16);
    }
    fclose(f);
    t0 = now();
    if ((fd = open(argv[1], O_RDONLY)) < 0 || elfsyms_load_fd(fd, &es) || demangler_new(false, &dm) ||
        debuginfo_open(fd, -1, argv[1], "/usr/lib/debug", dm, &di)) {
        fprintf(stderr, "symbolize_bench: cannot read %s\n", argv[1]);
        return 1;
    }
    close(fd);
    named = pass(di, es, addrs, n, out);
    t1 = now();
    fprintf(stderr, "symbolize_bench: %zu of %zu addresses named from DWARF, %zu frames\n",
            from_dwarf, n, frames);
    pass(di, es, addrs, n, NULL);
    t2 = now();
    fclose(out);
    getrusage(RUSAGE_SELF, &ru);
    /* one line for the script: addresses named cold warm maxrss_kib */
    printf("%zu %zu %.6f %.6f %ld\n", n, named, t1 - t0, t2 - t1, ru.ru_maxrss);
    debuginfo_free(di);
    demangler_free(dm);
    elfsyms_free(es);
    free(addrs);
    return 0;
}
