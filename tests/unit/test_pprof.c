/* Unit tests: formats/pprof.c and formats/speedscope.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <cmocka.h>

#include "formats/folded.h"
#include "formats/pprof.h"
#include "formats/speedscope.h"

static struct pf_profile *from_folded(const char *text)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    struct pf_profile *p;

    assert_non_null(f);
    assert_int_equal(pf_profile_new(&p), 0);
    assert_int_equal(folded_read(p, f, NULL), 0);
    fclose(f);
    return p;
}

static char *to_folded(const struct pf_profile *p)
{
    char *out = NULL;
    size_t len;
    FILE *o = open_memstream(&out, &len);

    assert_int_equal(folded_write(p, o, NULL), 0);
    fclose(o);
    return out;
}

static struct pf_profile *decode(const uint8_t *buf, size_t len)
{
    struct pf_profile *p;
    char err[256];
    int ret;

    assert_int_equal(pf_profile_new(&p), 0);
    ret = pprof_decode(p, buf, len, err, sizeof(err));
    if (ret)
        fail_msg("decode failed: %s", err);
    return p;
}

/* folded -> model -> pprof (gzipped) -> model -> folded is identical */
static void test_folded_pprof_folded(void **state)
{
    const char *in = "bash;main;[unknown] 3\n"
                     "java;Interpreter_[j];entry_SYSCALL_64_[k];do_syscall_64_[k] 17\n"
                     "prog;main;compute;square_[i] 2\n"
                     "prog;main;compute;square_[i];mul_[i] 5\n";
    struct pf_profile *p = from_folded(in), *q;
    char *buf = NULL, *out;
    size_t len;
    FILE *o = open_memstream(&buf, &len);

    (void)state;
    assert_int_equal(pprof_write(p, o), 0);
    fclose(o);
    assert_true(len > 20 && (uint8_t)buf[0] == 0x1f && (uint8_t)buf[1] == 0x8b);
    q = decode((uint8_t *)buf, len);
    out = to_folded(q);
    assert_string_equal(out, in);
    free(out);
    free(buf);
    pf_profile_free(p);
    pf_profile_free(q);
}

/* A profile with every field podflame writes. */
static struct pf_profile *rich_profile(void)
{
    struct pf_profile *p;
    struct pf_mapping m = {
        .start = 0x400000, .limit = 0x500000, .offset = 0x1000, .has_functions = true};
    struct pf_line lines[2];
    struct pf_label labels[3];
    uint64_t locs[2];
    int64_t v[2] = {7, 7000000};

    assert_int_equal(pf_profile_new(&p), 0);
    assert_int_equal(pf_profile_set_cpu_types(p, 1000000), 0);
    p->time_nanos = 1700000000123456789LL;
    p->duration_nanos = 5000000000LL;
    assert_int_equal(pf_profile_add_comment(p, "podflame record -F 999"), 0);
    m.filename = pf_profile_cstring(p, "/usr/bin/app");
    m.build_id = pf_profile_cstring(p, "abcdef0123456789");
    assert_int_equal(pf_profile_add_mapping(p, &m), 1);
    lines[0] = (struct pf_line){(uint64_t)pf_profile_function(p, pf_profile_cstring(p, "inner"), 0,
                                                              pf_profile_cstring(p, "a.c"), 10),
                                12};
    lines[1] = (struct pf_line){(uint64_t)pf_profile_function(p, pf_profile_cstring(p, "outer"), 0,
                                                              pf_profile_cstring(p, "a.c"), 30),
                                33};
    locs[0] = (uint64_t)pf_profile_add_location(p, 1, 0x401234, lines, 2);
    locs[1] = (uint64_t)pf_profile_add_location(p, 1, 0x401000, &lines[1], 1);
    labels[0] = (struct pf_label){.key = pf_profile_cstring(p, "comm"),
                                  .str = pf_profile_cstring(p, "app")};
    labels[1] =
        (struct pf_label){.key = pf_profile_cstring(p, "pid"), .str = pf_profile_cstring(p, "42")};
    labels[2] = (struct pf_label){.key = pf_profile_cstring(p, "bytes"),
                                  .num = 4096,
                                  .num_unit = pf_profile_cstring(p, "bytes")};
    assert_int_equal(pf_profile_add_sample(p, locs, 2, v, labels, 3), 0);
    v[0] = 1;
    v[1] = 1000000;
    assert_int_equal(pf_profile_add_sample(p, locs + 1, 1, v, labels, 2), 0);
    return p;
}

/* pprof -> model -> pprof keeps every sample, label and location: the
 * second encoding is byte-identical to the first. */
static void test_pprof_round_trip_exact(void **state)
{
    struct pf_profile *p = rich_profile(), *q;
    uint8_t *a, *b;
    size_t alen, blen;
    const struct pf_location *loc;

    (void)state;
    assert_int_equal(pprof_encode(p, &a, &alen), 0);
    q = decode(a, alen);
    assert_int_equal(pprof_encode(q, &b, &blen), 0);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);
    assert_int_equal(q->nsamples, 2);
    assert_int_equal(q->samples[0].nlabels, 3);
    assert_int_equal(q->samples[0].labels[2].num, 4096);
    assert_string_equal(pf_sample_label(q, &q->samples[0], "comm"), "app");
    loc = pf_profile_location(q, q->samples[0].location_ids[0]);
    assert_int_equal(loc->address, 0x401234);
    assert_int_equal(loc->nlines, 2);
    assert_int_equal(loc->lines[0].line, 12);
    assert_int_equal(q->time_nanos, 1700000000123456789LL);
    assert_int_equal(q->ncomments, 1);
    assert_string_equal(pf_profile_str(q, q->comments[0]), "podflame record -F 999");
    assert_string_equal(pf_profile_str(q, pf_profile_mapping(q, 1)->build_id), "abcdef0123456789");
    assert_true(pf_profile_mapping(q, 1)->has_functions);
    free(a);
    free(b);
    pf_profile_free(p);
    pf_profile_free(q);
}

/* A wall profile: four sample types, wall the default, which pprof keeps
 * and the one-value formats weigh by; off_cpu the default off the CPU only. */
static void test_wall_types(void **state)
{
    struct pf_profile *p, *q;
    size_t idx;
    uint8_t *a;
    size_t alen;

    (void)state;
    assert_int_equal(pf_profile_new(&p), 0);
    assert_int_equal(pf_profile_set_wall_types(p, 1000000, false), 0);
    assert_int_equal(p->nsample_types, 4);
    assert_string_equal(pf_profile_str(p, p->sample_types[2].type), "off_cpu");
    assert_string_equal(pf_profile_str(p, p->sample_types[2].unit), "nanoseconds");
    assert_string_equal(pf_profile_str(p, p->default_sample_type), "wall");
    assert_int_equal(pf_profile_value_index(p, NULL, &idx), 0);
    assert_int_equal(idx, 3);
    assert_int_equal(pprof_encode(p, &a, &alen), 0);
    q = decode(a, alen);
    assert_int_equal(q->nsample_types, 4);
    assert_string_equal(pf_profile_str(q, q->default_sample_type), "wall");
    assert_int_equal(pf_profile_value_index(q, "off_cpu", &idx), 0);
    assert_int_equal(idx, 2);
    free(a);
    pf_profile_free(q);
    pf_profile_free(p);
    assert_int_equal(pf_profile_new(&p), 0);
    assert_int_equal(pf_profile_set_wall_types(p, 1000000, true), 0);
    assert_int_equal(pf_profile_value_index(p, NULL, &idx), 0);
    assert_int_equal(idx, 2);
    pf_profile_free(p);
}

static void expect_error(const uint8_t *buf, size_t len, const char *needle)
{
    struct pf_profile *p;
    char err[256];
    int ret;

    assert_int_equal(pf_profile_new(&p), 0);
    ret = pprof_decode(p, buf, len, err, sizeof(err));
    if (ret != -EINVAL || !strstr(err, needle))
        fail_msg("want -EINVAL with '%s', got %d '%s'", needle, ret, err);
    pf_profile_free(p);
}

static size_t gzip_bytes(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    z_stream zs = {0};

    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    deflateEnd(&zs);
    return cap - zs.avail_out;
}

static void test_corrupt_inputs(void **state)
{
    struct pf_profile *p = rich_profile();
    uint8_t *raw, gz[8192];
    size_t len, gzlen;
    /* sample_type {type: 5} with a string table of one entry */
    const uint8_t bad_index[] = {0x0a, 0x02, 0x08, 0x05, 0x32, 0x00};
    const uint8_t bad_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    const uint8_t first_not_empty[] = {0x32, 0x01, 'x'};
    /* sample_type samples/count, sample value -3 */
    const uint8_t negative[] = {0x0a, 0x04, 0x08, 0x01, 0x10, 0x02, 0x12, 0x0b, 0x10, 0xfd,
                                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x32,
                                0x00, 0x32, 0x07, 's',  'a',  'm',  'p',  'l',  'e',  's',
                                0x32, 0x05, 'c',  'o',  'u',  'n',  't'};
    /* a sample that names location 9, which does not exist */
    const uint8_t unknown_loc[] = {0x12, 0x02, 0x08, 0x09, 0x32, 0x00};

    (void)state;
    assert_int_equal(pprof_encode(p, &raw, &len), 0);
    gzlen = gzip_bytes(raw, len, gz, sizeof(gz));
    expect_error(gz, gzlen / 2, "truncated gzip");
    gz[12] ^= 0xff;
    gz[13] ^= 0xff;
    expect_error(gz, gzlen, "gzip");
    expect_error(raw, len - 3, "malformed protobuf");
    expect_error(bad_index, sizeof(bad_index), "string index 5 out of range");
    expect_error(bad_varint, sizeof(bad_varint), "malformed protobuf");
    expect_error(first_not_empty, sizeof(first_not_empty), "string_table[0]");
    expect_error(negative, sizeof(negative), "negative count");
    expect_error(unknown_loc, sizeof(unknown_loc), "unknown location id 9");
    expect_error((const uint8_t *)"hello, world", 12, "not a pprof profile");
    free(raw);
    pf_profile_free(p);
}

/* Flipped bytes anywhere must give an error or a profile, never a crash
 * (this runs under ASan and valgrind). */
static void test_mutations_never_crash(void **state)
{
    struct pf_profile *p = rich_profile();
    uint8_t *raw, *copy;
    size_t len;
    unsigned seed = 12345;
    char err[256];

    (void)state;
    assert_int_equal(pprof_encode(p, &raw, &len), 0);
    copy = malloc(len);
    for (int round = 0; round < 3000; round++) {
        struct pf_profile *q;

        memcpy(copy, raw, len);
        for (int k = 0; k < 1 + round % 4; k++) {
            seed = seed * 1103515245 + 12345;
            copy[(seed >> 8) % len] ^= (uint8_t)(1 + (seed >> 20) % 255);
        }
        assert_int_equal(pf_profile_new(&q), 0);
        (void)pprof_decode(q, copy, (seed >> 4) % 5 ? len : (seed >> 6) % len, err, sizeof(err));
        pf_profile_free(q);
    }
    free(copy);
    free(raw);
    pf_profile_free(p);
}

static void test_speedscope_document(void **state)
{
    struct pf_profile *p = rich_profile();
    struct speedscope_opts o = {.group_by = PF_GROUP_PID, .exporter = "podflame test"};
    char *out = NULL;
    size_t len;
    FILE *f = open_memstream(&out, &len);

    (void)state;
    assert_int_equal(pf_profile_add_comment(p, "x"), 0);
    assert_int_equal(speedscope_write(p, f, &o), 0);
    fclose(f);
    assert_non_null(
        strstr(out, "\"$schema\":\"https://www.speedscope.app/file-format-schema.json\""));
    /* frames root first: outer (file a.c line 33), then inner inlined in it */
    assert_non_null(strstr(out, "{\"name\":\"outer\",\"file\":\"a.c\",\"line\":33}"));
    assert_non_null(strstr(out, "\"name\":\"app (pid 42)\",\"unit\":\"nanoseconds\""));
    assert_non_null(strstr(out, "\"endValue\":8000000"));
    assert_non_null(strstr(out, "\"weights\":[7000000,1000000]"));
    assert_non_null(strstr(out, "\"exporter\":\"podflame test\""));
    free(out);
    pf_profile_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_folded_pprof_folded), cmocka_unit_test(test_pprof_round_trip_exact),
        cmocka_unit_test(test_corrupt_inputs),      cmocka_unit_test(test_mutations_never_crash),
        cmocka_unit_test(test_speedscope_document), cmocka_unit_test(test_wall_types),
    };

    return cmocka_run_group_tests_name("pprof", tests, NULL, NULL);
}
