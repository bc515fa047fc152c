/* Unit tests: formats/folded.c, formats/profile.c and formats/htab.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "formats/folded.h"
#include "formats/format.h"
#include "formats/htab.h"
#include "formats/profile.h"
#include "formats/utf8.h"

/* Reads text as folded, writes it back, returns the output (malloc'd). */
static char *round_trip(const char *in, struct folded_read_report *rep, enum pf_group_by g)
{
    struct pf_profile *p;
    struct folded_write_opts wo = {.group_by = g};
    FILE *f = fmemopen((void *)in, strlen(in), "r");
    char *out = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&out, &len);

    assert_non_null(f);
    assert_non_null(o);
    assert_int_equal(pf_profile_new(&p), 0);
    assert_int_equal(folded_read(p, f, rep), 0);
    assert_int_equal(folded_write(p, o, &wo), 0);
    fclose(o);
    fclose(f);
    pf_profile_free(p);
    return out;
}

static void test_round_trip_identical(void **state)
{
    const char *in =
        "bash;main;execute_command;[unknown] 3\n"
        "java;Interpreter_[j];call_stub_[j];entry_SYSCALL_64_[k];do_syscall_64_[k] 17\n"
        "prog;main;compute;square_[i];mul_[i] 5\n"
        "prog;main;compute;square_[i] 2\n"
        "x 1\n";
    struct folded_read_report rep;
    char *out;

    (void)state;
    out = round_trip(in, &rep, PF_GROUP_NONE);
    /* writer sorts lines; the input above is not sorted, compare as sorted */
    assert_string_equal(
        out, "bash;main;execute_command;[unknown] 3\n"
             "java;Interpreter_[j];call_stub_[j];entry_SYSCALL_64_[k];do_syscall_64_[k] 17\n"
             "prog;main;compute;square_[i] 2\n"
             "prog;main;compute;square_[i];mul_[i] 5\n"
             "x 1\n");
    assert_int_equal(rep.lines, 5);
    assert_int_equal(rep.bad_lines, 0);
    free(out);
}

static void test_identical_stacks_summed(void **state)
{
    char *out;

    (void)state;
    out = round_trip("a;b 2\n# a comment\n\na;b 3\na;c 1\n", NULL, PF_GROUP_NONE);
    assert_string_equal(out, "a;b 5\na;c 1\n");
    free(out);
}

static void test_malformed_lines_counted(void **state)
{
    struct folded_read_report rep;
    char *out;

    (void)state;
    out = round_trip("a;b 2\n"
                     "no-count-here\n"               /* line 2 */
                     "a;b -4\n"                      /* negative */
                     "a;;b 1\n"                      /* empty frame */
                     "a;b 12x\n"                     /* junk count */
                     "a;b 99999999999999999999999\n" /* overflow */
                     " 7\n"                          /* empty stack */
                     "c 1\r\n",                      /* CRLF is fine */
                     &rep, PF_GROUP_NONE);
    assert_string_equal(out, "a;b 2\nc 1\n");
    assert_int_equal(rep.lines, 8);
    assert_int_equal(rep.bad_lines, 6);
    assert_int_equal(rep.first_bad_line, 2);
    assert_string_equal(rep.first_bad_why, "no count after the stack");
    free(out);
}

static void test_inlined_model_shape(void **state)
{
    const char *in = "main;compute;square_[i];mul_[i] 5\n";
    FILE *f = fmemopen((void *)in, strlen(in), "r");
    struct pf_profile *p;
    const struct pf_location *loc;

    (void)state;
    assert_int_equal(pf_profile_new(&p), 0);
    assert_int_equal(folded_read(p, f, NULL), 0);
    fclose(f);
    assert_int_equal(p->nsamples, 1);
    /* leaf location holds compute with square and mul inlined, innermost first */
    assert_int_equal(p->samples[0].nlocations, 2);
    loc = pf_profile_location(p, p->samples[0].location_ids[0]);
    assert_non_null(loc);
    assert_int_equal(loc->nlines, 3);
    assert_string_equal(pf_profile_str(p, pf_profile_func(p, loc->lines[0].function_id)->name),
                        "mul");
    assert_string_equal(pf_profile_str(p, pf_profile_func(p, loc->lines[2].function_id)->name),
                        "compute");
    assert_int_equal(p->samples[0].values[0], 5);
    pf_profile_free(p);
}

static void test_group_by_roots(void **state)
{
    struct pf_profile *p;
    struct pf_line line;
    struct pf_label labels[3];
    uint64_t loc;
    int64_t vals[2] = {4, 4000};
    char *out = NULL;
    size_t len;
    FILE *o;
    struct folded_write_opts wo = {.group_by = PF_GROUP_THREAD};

    (void)state;
    assert_int_equal(pf_profile_new(&p), 0);
    assert_int_equal(pf_profile_set_cpu_types(p, 1000), 0);
    line.function_id = (uint64_t)pf_profile_function(p, pf_profile_cstring(p, "work"), 0, 0, 0);
    line.line = 0;
    loc = (uint64_t)pf_profile_add_location(p, 0, 0x1234, &line, 1);
    labels[0] = (struct pf_label){.key = pf_profile_cstring(p, "comm"),
                                  .str = pf_profile_cstring(p, "nginx")};
    labels[1] =
        (struct pf_label){.key = pf_profile_cstring(p, "pid"), .str = pf_profile_cstring(p, "42")};
    labels[2] =
        (struct pf_label){.key = pf_profile_cstring(p, "tid"), .str = pf_profile_cstring(p, "43")};
    assert_int_equal(pf_profile_add_sample(p, &loc, 1, vals, labels, 3), 0);

    o = open_memstream(&out, &len);
    assert_int_equal(folded_write(p, o, &wo), 0);
    wo.group_by = PF_GROUP_PID;
    assert_int_equal(folded_write(p, o, &wo), 0);
    wo.group_by = PF_GROUP_PROCESS;
    assert_int_equal(folded_write(p, o, &wo), 0);
    wo.value_index = 1;
    assert_int_equal(folded_write(p, o, &wo), 0);
    fclose(o);
    assert_string_equal(out,
                        "nginx-42/43;work 4\nnginx-42;work 4\nnginx;work 4\nnginx;work 4000\n");
    free(out);
    pf_profile_free(p);
}

static void test_group_by_pod(void **state)
{
    struct pf_profile *p;
    struct pf_line line = {0};
    struct pf_label l[5];
    uint64_t loc;
    int64_t v[2] = {3, 3};
    char *out = NULL;
    size_t len;
    FILE *o;
    struct folded_write_opts wo = {.group_by = PF_GROUP_POD};

    (void)state;
    assert_int_equal(pf_profile_new(&p), 0);
    assert_int_equal(pf_profile_set_cpu_types(p, 1), 0);
    line.function_id = (uint64_t)pf_profile_function(p, pf_profile_cstring(p, "work"), 0, 0, 0);
    loc = (uint64_t)pf_profile_add_location(p, 0, 0, &line, 1);
#define LABEL(i, k, v)                                                                             \
    l[i] = (struct pf_label){.key = pf_profile_cstring(p, k), .str = pf_profile_cstring(p, v)}
    LABEL(0, "comm", "java");
    LABEL(1, "pid", "7");
    LABEL(2, "namespace", "shop");
    LABEL(3, "pod", "checkout-7d9f");
    LABEL(4, "container", "app");
    assert_int_equal(pf_profile_add_sample(p, &loc, 1, v, l, 5), 0);
    LABEL(0, "comm", "sshd"); /* a host process: no Pod labels */
    assert_int_equal(pf_profile_add_sample(p, &loc, 1, v, l, 2), 0);
#undef LABEL
    o = open_memstream(&out, &len);
    assert_int_equal(folded_write(p, o, &wo), 0);
    wo.group_by = PF_GROUP_CONTAINER;
    assert_int_equal(folded_write(p, o, &wo), 0);
    fclose(o);
    assert_string_equal(out, "shop/checkout-7d9f;app;java;work 3\nsshd;work 3\n"
                             "shop/checkout-7d9f/app;java;work 3\nsshd;work 3\n");
    free(out);
    pf_profile_free(p);
}

static void test_group_by_parse(void **state)
{
    enum pf_group_by g;

    (void)state;
    assert_int_equal(pf_group_by_parse("thread", &g), 0);
    assert_int_equal(g, PF_GROUP_THREAD);
    assert_int_equal(pf_group_by_parse("bogus", &g), -EINVAL);
}

static void test_frame_names_sanitized(void **state)
{
    struct pf_profile *p;
    struct pf_line line = {0};
    uint64_t loc;
    int64_t v = 1;
    char *out = NULL;
    size_t len;
    FILE *o;

    (void)state;
    assert_int_equal(pf_profile_new(&p), 0);
    p->nsample_types = 1;
    line.function_id = (uint64_t)pf_profile_function(p, pf_profile_cstring(p, "a;b\nc"), 0, 0, 0);
    loc = (uint64_t)pf_profile_add_location(p, 0, 0, &line, 1);
    assert_int_equal(pf_profile_add_sample(p, &loc, 1, &v, NULL, 0), 0);
    o = open_memstream(&out, &len);
    assert_int_equal(folded_write(p, o, NULL), 0);
    fclose(o);
    assert_string_equal(out, "a_b_c 1\n");
    free(out);
    pf_profile_free(p);
}

static void test_strings_interned(void **state)
{
    struct pf_profile *p;

    (void)state;
    assert_int_equal(pf_profile_new(&p), 0);
    assert_int_equal(pf_profile_cstring(p, ""), 0);
    int64_t a = pf_profile_cstring(p, "alpha");
    assert_true(a > 0);
    assert_int_equal(pf_profile_cstring(p, "alpha"), a);
    assert_int_not_equal(pf_profile_cstring(p, "beta"), a);
    assert_string_equal(pf_profile_str(p, a), "alpha");
    assert_string_equal(pf_profile_str(p, 9999), "");
    assert_null(pf_profile_location(p, 0));
    assert_null(pf_profile_location(p, 5));
    pf_profile_free(p);
}

static void test_htab_many(void **state)
{
    struct htab h;
    uint64_t v;

    (void)state;
    htab_init(&h);
    for (uint64_t i = 0; i < 100000; i++)
        assert_int_equal(htab_put(&h, &i, sizeof(i), i * 3), 0);
    assert_int_equal(h.count, 100000);
    for (uint64_t i = 0; i < 100000; i++) {
        assert_true(htab_get(&h, &i, sizeof(i), &v));
        assert_int_equal(v, i * 3);
    }
    v = 100001;
    assert_false(htab_get(&h, &v, sizeof(v), NULL));
    assert_int_equal(htab_put(&h, "k", 1, 7), 0);
    assert_int_equal(htab_put(&h, "k", 1, 8), 0);
    assert_true(htab_get(&h, "k", 1, &v));
    assert_int_equal(v, 8);
    assert_true(htab_get(&h, "", 0, &v) == false);
    htab_free(&h);
}

static void test_utf8_validation(void **state)
{
    static const struct {
        const char *bytes;
        size_t len, want;
    } cases[] = {
        {"a", 1, 1},
        {"\xc3\xa9", 2, 2},
        {"\xe2\x82\xac", 3, 3},
        {"\xf0\x9f\x94\xa5", 4, 4},
        {"\xc0\xa7", 2, 0},         /* overlong */
        {"\xc1\xbf", 2, 0},         /* overlong */
        {"\xe0\x80\xaf", 3, 0},     /* overlong */
        {"\xed\xa0\x80", 3, 0},     /* surrogate */
        {"\xf4\x90\x80\x80", 4, 0}, /* past U+10FFFF */
        {"\xf5\x80\x80\x80", 4, 0},
        {"\xef\xbf\xbe", 3, 0}, /* U+FFFE */
        {"\xe2\x82", 2, 0},     /* truncated */
        {"\x80", 1, 0},         /* stray continuation */
        {"\xc3\x28", 2, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t got = utf8_seq_len((const unsigned char *)cases[i].bytes, cases[i].len);

        if (got != cases[i].want)
            fail_msg("case %zu: got %zu, want %zu", i, got, cases[i].want);
    }
}

static void test_format_from_path(void **state)
{
    (void)state;
    assert_int_equal(pf_format_from_path("x.folded"), PF_FORMAT_FOLDED);
    assert_int_equal(pf_format_from_path("x.txt"), PF_FORMAT_FOLDED);
    assert_int_equal(pf_format_from_path("cpu.pb.gz"), PF_FORMAT_PPROF);
    assert_int_equal(pf_format_from_path("a.speedscope.json"), PF_FORMAT_SPEEDSCOPE);
    assert_int_equal(pf_format_from_path("a.svg"), PF_FORMAT_SVG);
    assert_int_equal(pf_format_from_path("a.data"), PF_FORMAT_UNKNOWN);
    assert_int_equal(pf_format_from_path(".svg"), PF_FORMAT_UNKNOWN);
    assert_int_equal(pf_format_from_name("pprof"), PF_FORMAT_PPROF);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_identical),
        cmocka_unit_test(test_identical_stacks_summed),
        cmocka_unit_test(test_malformed_lines_counted),
        cmocka_unit_test(test_inlined_model_shape),
        cmocka_unit_test(test_group_by_roots),
        cmocka_unit_test(test_group_by_pod),
        cmocka_unit_test(test_group_by_parse),
        cmocka_unit_test(test_frame_names_sanitized),
        cmocka_unit_test(test_strings_interned),
        cmocka_unit_test(test_htab_many),
        cmocka_unit_test(test_utf8_validation),
        cmocka_unit_test(test_format_from_path),
    };

    return cmocka_run_group_tests_name("folded", tests, NULL, NULL);
}
