/*
 * formats_bench: write and read throughput of podflame's format code on a
 * synthetic profile: NSAMPLES samples over NSTACKS distinct stacks (depth
 * 8-40 over 20,000 functions in 50 mappings), each sample with pid, tid and
 * comm labels, no two samples alike (podflame merges identical ones). Writes OUT.pb.gz for a size comparison with `go tool pprof
 * -proto` (see formats.sh).
 *
 * usage: formats_bench OUT_PREFIX [NSAMPLES [NSTACKS]]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "formats/folded.h"
#include "formats/pprof.h"
#include "formats/speedscope.h"

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ULL;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static long file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) ? -1 : (long)st.st_size;
}

static void die(const char *what)
{
    fprintf(stderr, "formats_bench: %s failed\n", what);
    exit(1);
}

int main(int argc, char **argv)
{
    size_t nsamples = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;
    size_t nstacks = argc > 3 ? strtoul(argv[3], NULL, 10) : 100000;
    const size_t nfuncs = 20000, nmaps = 50;
    struct pf_profile *p, *q;
    uint64_t **stacks;
    size_t *depth;
    char path[4096], name[64], err[256];
    double t0, t;
    FILE *f;

    if (argc < 2) {
        fprintf(stderr, "usage: formats_bench OUT_PREFIX [NSAMPLES [NSTACKS]]\n");
        return 2;
    }
    if (pf_profile_new(&p) || pf_profile_set_cpu_types(p, 10101010))
        die("setup");
    for (size_t m = 0; m < nmaps; m++) {
        struct pf_mapping mp = {.limit = UINT64_MAX, .has_functions = true};

        snprintf(path, sizeof(path), "/usr/lib/libbench%zu.so", m);
        mp.filename = pf_profile_cstring(p, path);
        snprintf(name, sizeof(name), "%016zx%016zx", m * 7919, m);
        mp.build_id = pf_profile_cstring(p, name);
        pf_profile_add_mapping(p, &mp);
    }
    /* one location per function: an address inside it */
    for (size_t i = 0; i < nfuncs; i++) {
        struct pf_line line;

        snprintf(path, sizeof(path), "bench::module%zu::function_%zu_with_a_realistic_name",
                 i % 97, i);
        line.function_id = (uint64_t)pf_profile_function(p, pf_profile_cstring(p, path), 0, 0, 0);
        line.line = 0;
        pf_profile_add_location(p, 1 + i % nmaps, 0x1000 + i * 64, &line, 1);
    }
    stacks = calloc(nstacks, sizeof(*stacks));
    depth = calloc(nstacks, sizeof(*depth));
    for (size_t s = 0; s < nstacks; s++) {
        depth[s] = 8 + next() % 33;
        stacks[s] = malloc(depth[s] * sizeof(uint64_t));
        /* shared roots like real programs: the first frames from few choices */
        for (size_t d = 0; d < depth[s]; d++)
            stacks[s][depth[s] - 1 - d] = 1 + (d < 3 ? d * 10 + next() % 3 : next() % nfuncs);
    }
    for (size_t i = 0; i < nsamples; i++) {
        /* distinct samples, as podflame writes them: stack s in thread i / nstacks */
        size_t s = i % nstacks;
        unsigned pid = 1000 + (unsigned)(s % 300), tid = pid + (unsigned)(i / nstacks);
        struct pf_label labels[4];
        int64_t v[2] = {1, 10101010};
        char pb[16], tb[16], cb[24];

        snprintf(pb, sizeof(pb), "%u", pid);
        snprintf(tb, sizeof(tb), "%u", tid);
        snprintf(cb, sizeof(cb), "worker%u", pid % 40);
        labels[0] = (struct pf_label){.key = pf_profile_cstring(p, "pid"),
                                      .str = pf_profile_cstring(p, pb)};
        labels[1] = (struct pf_label){.key = pf_profile_cstring(p, "tid"),
                                      .str = pf_profile_cstring(p, tb)};
        labels[2] = (struct pf_label){.key = pf_profile_cstring(p, "comm"),
                                      .str = pf_profile_cstring(p, cb)};
        labels[3] = (struct pf_label){.key = pf_profile_cstring(p, "thread"),
                                      .str = pf_profile_cstring(p, cb)};
        if (pf_profile_add_sample(p, stacks[s], depth[s], v, labels, 4))
            die("building the profile");
    }
    printf("profile: %zu samples, %zu distinct stacks, %zu functions, %zu strings\n",
           p->nsamples, nstacks, p->nfunctions, p->nstrings);

    snprintf(path, sizeof(path), "%s.pb.gz", argv[1]);
    f = fopen(path, "w");
    t0 = now();
    if (!f || pprof_write(p, f) || fclose(f))
        die("pprof_write");
    t = now() - t0;
    printf("pprof write:      %6.3f s  %8.0f samples/s  %7.1f MB/s out  %ld bytes\n", t,
           nsamples / t, file_size(path) / t / 1e6, file_size(path));

    f = fopen(path, "r");
    if (pf_profile_new(&q))
        die("setup");
    t0 = now();
    if (!f || pprof_read(q, f, err, sizeof(err)))
        die(err);
    t = now() - t0;
    fclose(f);
    printf("pprof read:       %6.3f s  %8.0f samples/s  %7.1f MB/s in\n", t, nsamples / t,
           file_size(path) / t / 1e6);
    if (q->nsamples != p->nsamples)
        die("pprof round trip (sample count)");
    pf_profile_free(q);

    snprintf(path, sizeof(path), "%s.folded", argv[1]);
    f = fopen(path, "w");
    t0 = now();
    if (!f || folded_write(p, f, NULL) || fclose(f))
        die("folded_write");
    t = now() - t0;
    printf("folded write:     %6.3f s  %8.0f samples/s  %7.1f MB/s out  %ld bytes\n", t,
           nsamples / t, file_size(path) / t / 1e6, file_size(path));
    f = fopen(path, "r");
    if (pf_profile_new(&q))
        die("setup");
    t0 = now();
    if (!f || folded_read(q, f, NULL))
        die("folded_read");
    t = now() - t0;
    fclose(f);
    printf("folded read:      %6.3f s  %8.0f lines/s    %7.1f MB/s in\n", t, q->nsamples / t,
           file_size(path) / t / 1e6);
    pf_profile_free(q);

    snprintf(path, sizeof(path), "%s.speedscope.json", argv[1]);
    f = fopen(path, "w");
    t0 = now();
    if (!f || speedscope_write(p, f, NULL) || fclose(f))
        die("speedscope_write");
    t = now() - t0;
    printf("speedscope write: %6.3f s  %8.0f samples/s  %7.1f MB/s out  %ld bytes\n", t,
           nsamples / t, file_size(path) / t / 1e6, file_size(path));
    {
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        printf("peak RSS: %ld MiB\n", ru.ru_maxrss / 1024);
    }
    for (size_t s = 0; s < nstacks; s++)
        free(stacks[s]);
    free(stacks);
    free(depth);
    pf_profile_free(p);
    return 0;
}
