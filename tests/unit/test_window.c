/*
 * The agent's windows: aligned to the clock, named by UTC start and end,
 * under NODE/YYYY/MM/DD/HH of their start, with keys that no Pod or node
 * name can turn into a path of its own, and the index line beside them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "formats/pprof.h"
#include "formats/profile.h"
#include "profiler/agent/window.h"
#include "profiler/io/bucket.h"

#define S 1000000000LL

/* 2026-11-25T17:41:07.250Z */
static const int64_t T = 1795628467LL * S + 250000000LL;

static void test_window_alignment(void **state)
{
    struct window w;

    (void)state;
    window_begin(&w, "node-a", T, 60);
    assert_int_equal(w.start_ns, T);
    assert_int_equal(w.end_ns, 1795628520LL * S); /* 17:42:00, the next minute */
    assert_string_equal(w.dir, "node-a/2026/11/25/17");
    window_end(&w, 1795628520LL * S);
    assert_string_equal(w.stem, "20261125T174107Z-20261125T174200Z");
    /* an interval that does not divide the hour still lines nodes up */
    window_begin(&w, "node-a", T, 7);
    assert_int_equal(w.end_ns % (7 * S), 0);
    assert_true(w.end_ns > T && w.end_ns - T <= 7 * S);
    /* a window that starts at 23:59 is filed under its start's hour and day */
    window_begin(&w, "n", 1795651199LL * S, 60);
    assert_string_equal(w.dir, "n/2026/11/25/23");
    window_end(&w, 1795651200LL * S);
    assert_string_equal(w.stem, "20261125T235959Z-20261126T000000Z");
}

static void test_key_parts(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"checkout-6b7c", "checkout-6b7c"},
        {"../../etc", ".._.._etc"},
        {"..", "_"},
        {".", "_"},
        {"", "_"},
        {"a/b", "a_b"},
        {"ünï", "__n__"} /* byte by byte */,
        {"x y\nz", "x_y_z"},
        {"node_1.example", "node_1.example"},
    };
    struct window w;
    char out[64];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bucket_key_part(cases[i].in, out, sizeof(out));
        if (strcmp(out, cases[i].out) != 0)
            fail_msg("key part of '%s': '%s', not '%s'", cases[i].in, out, cases[i].out);
    }
    bucket_key_part("a-very-long-name", out, 5);
    assert_string_equal(out, "a-ve");
    /* the node's name too */
    window_begin(&w, "../x", T, 60);
    assert_string_equal(w.dir, ".._x/2026/11/25/17");
}

static struct pf_profile *profile_of_pods(void)
{
    struct pf_profile *p;
    static const struct {
        const char *ns, *pod;
        int64_t n;
    } rows[] = {{"shop", "checkout-1", 30},
                {"shop", "cart-1", 5},
                {NULL, NULL, 7},
                {"shop", "checkout-1", 12}};

    assert_int_equal(pf_profile_new(&p), 0);
    assert_int_equal(pf_profile_set_cpu_types(p, 10000000), 0);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int64_t id = pf_profile_add_location(p, 0, 0x1000 + i, NULL, 0);
        uint64_t loc = (uint64_t)id;
        int64_t values[2] = {rows[i].n, rows[i].n * 10000000};
        struct pf_label labels[2];
        size_t nlabels = 0;

        if (rows[i].pod) {
            labels[nlabels++] = (struct pf_label){.key = pf_profile_cstring(p, "namespace"),
                                                  .str = pf_profile_cstring(p, rows[i].ns)};
            labels[nlabels++] = (struct pf_label){.key = pf_profile_cstring(p, "pod"),
                                                  .str = pf_profile_cstring(p, rows[i].pod)};
        }
        assert_true(id > 0);
        assert_int_equal(pf_profile_add_sample(p, &loc, 1, values, labels, nlabels), 0);
    }
    return p;
}

static void test_pods_and_index_line(void **state)
{
    const char *labels[] = {"cluster=lab", "env=prod"};
    struct pf_profile *p = profile_of_pods();
    struct pf_pod *pods;
    struct window w;
    size_t n;
    char *line;
    json_t *j, *jp;
    json_error_t je;

    (void)state;
    assert_int_equal(window_samples(p), 54);
    assert_int_equal(pf_profile_pods(p, &pods, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(pods[0].pod, "checkout-1");
    assert_int_equal(pods[0].samples, 42);
    assert_string_equal(pods[1].pod, "cart-1");
    assert_int_equal(pods[1].samples, 5);
    free(pods);
    window_begin(&w, "node-a", T, 60);
    w.lost = 3;
    window_end(&w, 1795628520LL * S);
    assert_int_equal(
        window_index_line(&w, "node-a", "node-a/k.pb.gz", p, 1234, labels, 2, NULL, NULL, &line),
        0);
    assert_null(strchr(line, '\n'));
    j = json_loads(line, 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "node")), "node-a");
    assert_string_equal(json_string_value(json_object_get(j, "key")), "node-a/k.pb.gz");
    assert_string_equal(json_string_value(json_object_get(j, "start")), "2026-11-25T17:41:07.250Z");
    assert_string_equal(json_string_value(json_object_get(j, "end")), "2026-11-25T17:42:00.000Z");
    assert_int_equal(json_integer_value(json_object_get(j, "samples")), 54);
    assert_int_equal(json_integer_value(json_object_get(j, "lost")), 3);
    assert_int_equal(json_integer_value(json_object_get(j, "bytes")), 1234);
    assert_null(json_object_get(j, "pod")); /* the node's profile names no one Pod */
    jp = json_object_get(j, "pods");
    assert_int_equal(json_array_size(jp), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(jp, 0), "samples")), 42);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "labels"), "env")),
                        "prod");
    json_decref(j);
    free(line);
    /* a Pod's own profile says which */
    assert_int_equal(window_index_line(&w, "node-a", "k2", p, 1, NULL, 0, "shop", "cart-1", &line),
                     0);
    j = json_loads(line, 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "pod")), "cart-1");
    assert_string_equal(json_string_value(json_object_get(j, "namespace")), "shop");
    json_decref(j);
    free(line);
    pf_profile_free(p);
}

static void test_encode_reads_back(void **state)
{
    struct pf_profile *p = profile_of_pods(), *back;
    char *buf = NULL, err[256];
    size_t len = 0;
    FILE *f;

    (void)state;
    assert_int_equal(pprof_write_buffer(p, &buf, &len), 0);
    assert_true(len > 20);
    assert_int_equal((unsigned char)buf[0], 0x1f); /* gzip */
    f = fmemopen(buf, len, "r");
    assert_non_null(f);
    assert_int_equal(pf_profile_new(&back), 0);
    assert_int_equal(pprof_read(back, f, err, sizeof(err)), 0);
    fclose(f);
    assert_int_equal(window_samples(back), 54);
    pf_profile_free(back);
    pf_profile_free(p);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_alignment),
        cmocka_unit_test(test_key_parts),
        cmocka_unit_test(test_pods_and_index_line),
        cmocka_unit_test(test_encode_reads_back),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
