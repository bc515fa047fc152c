/* Unit tests: profiler/spool.c, the file target of profiler/upload.c, its
 * credentials, and pf_profile_subset (the agent's per-Pod split). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <dirent.h>
#include <sys/stat.h>

#include "tests/unit/testdir.h"
#include "formats/pprof.h"
#include "formats/profile.h"
#include "profiler/agent/spool.h"
#include "profiler/io/bucket.h"

static void write_file(const char *dir, const char *name, const char *data, size_t len)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static int count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)))
        n += !strncmp(de->d_name, prefix, strlen(prefix));
    closedir(d);
    return n;
}

static void test_spool_order_release_done(void **state)
{
    char *dir = test_dir_new("agent"), err[256];
    struct spool *sp;
    struct spool_item a, b, none;
    struct spool_stats st;
    unsigned dropped;

    (void)state;
    assert_int_equal(spool_open(dir, 1 << 20, &sp, err, sizeof(err)), 0);
    assert_int_equal(spool_add(sp, "n/w1.pb.gz", "{\"w\":1}", "one", 3, &dropped, err, sizeof(err)),
                     0);
    assert_int_equal(
        spool_add(sp, "n/w2.pb.gz", "{\"w\":2}", "two!", 4, &dropped, err, sizeof(err)), 0);
    assert_int_equal(dropped, 0);

    /* oldest first; a taken entry is not handed out twice */
    assert_int_equal(spool_take(sp, &a, err, sizeof(err)), 0);
    assert_string_equal(a.key, "n/w1.pb.gz");
    assert_string_equal(a.index, "{\"w\":1}");
    assert_int_equal(a.len, 3);
    assert_memory_equal(a.data, "one", 3);
    assert_int_equal(spool_take(sp, &b, err, sizeof(err)), 0);
    assert_string_equal(b.key, "n/w2.pb.gz");
    assert_int_equal(spool_take(sp, &none, err, sizeof(err)), -ENOENT);

    /* a failed upload puts it back; a done one is gone from disk */
    spool_release(sp, &a);
    spool_done(sp, &b);
    assert_int_equal(spool_take(sp, &a, err, sizeof(err)), 0);
    assert_string_equal(a.key, "n/w1.pb.gz");
    spool_release(sp, &a);
    spool_get_stats(sp, &st);
    assert_int_equal(st.entries, 1);
    spool_close(sp);

    /* a restart finds what was left */
    assert_int_equal(spool_open(dir, 1 << 20, &sp, err, sizeof(err)), 0);
    spool_get_stats(sp, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(spool_take(sp, &a, err, sizeof(err)), 0);
    assert_string_equal(a.key, "n/w1.pb.gz");
    spool_done(sp, &a);
    assert_int_equal(count_entries(dir, "0"), 0);
    spool_close(sp);
    test_dir_remove(dir);
    free(dir);
}

static void test_spool_bound(void **state)
{
    char *dir = test_dir_new("agent"), err[256], data[1000];
    struct spool *sp;
    struct spool_item it;
    struct spool_stats st;
    unsigned dropped, total = 0;

    (void)state;
    memset(data, 'x', sizeof(data));
    assert_int_equal(spool_open(dir, 4096, &sp, err, sizeof(err)), 0);
    for (int i = 0; i < 10; i++) {
        char key[32];

        snprintf(key, sizeof(key), "w%d.pb.gz", i);
        assert_int_equal(spool_add(sp, key, "{}", data, sizeof(data), &dropped, err, sizeof(err)),
                         0);
        total += dropped;
    }
    spool_get_stats(sp, &st);
    assert_true(st.bytes <= 4096);
    assert_int_equal(st.dropped, total);
    assert_int_equal(st.entries + total, 10);
    /* the newest survive */
    assert_int_equal(spool_take(sp, &it, err, sizeof(err)), 0);
    assert_int_equal(strcmp(it.key, "w5.pb.gz") >= 0, 1);
    spool_release(sp, &it);
    /* a window larger than the whole spool is refused, not half-kept */
    {
        char *big = calloc(1, 8192);

        assert_int_equal(spool_add(sp, "big", "{}", big, 8192, &dropped, err, sizeof(err)), -EFBIG);
        assert_non_null(strstr(err, "--spool-max-bytes"));
        free(big);
    }
    spool_close(sp);
    test_dir_remove(dir);
    free(dir);
}

static void test_spool_crash_leftovers(void **state)
{
    static const char good[] = "PFSPOOL1\nk/a.pb.gz\n{}\n5\nhello";
    static const char truncated[] = "PFSPOOL1\nk/b.pb.gz\n{}\n500\nhel";
    static const char garbage[] = "\x1f\x8b not a spool entry";
    char *dir = test_dir_new("agent"), err[256];
    struct spool *sp;
    struct spool_item it;
    struct spool_stats st;

    (void)state;
    write_file(dir, ".tmp-00000000000000000009.entry", "half", 4); /* a crash mid-write */
    write_file(dir, "00000000000000000001.entry", truncated, sizeof(truncated) - 1);
    write_file(dir, "00000000000000000002.entry", garbage, sizeof(garbage) - 1);
    write_file(dir, "00000000000000000003.entry", good, sizeof(good) - 1);
    write_file(dir, "unrelated.txt", "x", 1);
    assert_int_equal(spool_open(dir, 1 << 20, &sp, err, sizeof(err)), 0);
    assert_int_equal(count_entries(dir, ".tmp-"), 0);
    /* the two unreadable entries are skipped, removed and counted */
    assert_int_equal(spool_take(sp, &it, err, sizeof(err)), 0);
    assert_string_equal(it.key, "k/a.pb.gz");
    assert_int_equal(it.len, 5);
    assert_memory_equal(it.data, "hello", 5);
    spool_done(sp, &it);
    spool_get_stats(sp, &st);
    assert_int_equal(st.corrupt, 2);
    assert_int_equal(st.entries, 0);
    assert_int_equal(count_entries(dir, "0"), 0);
    assert_int_equal(count_entries(dir, "unrelated"), 1);
    spool_close(sp);
    test_dir_remove(dir);
    free(dir);
}

static void test_file_target(void **state)
{
    char *dir = test_dir_new("agent"), url[600], err[512], path[700], buf[16];
    struct bucket_config c = {.s3_path_style = -1};
    struct bucket *t;
    FILE *f;

    (void)state;
    snprintf(url, sizeof(url), "file://%s/out", dir);
    c.url = url;
    assert_int_equal(bucket_open(&c, &t, err, sizeof(err)), 0);
    assert_int_equal(bucket_put(t, "node/2026/11/25/w.pb.gz", "abc", 3, "x", err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "%s/out/node/2026/11/25/w.pb.gz", dir);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fread(buf, 1, sizeof(buf), f), 3);
    fclose(f);
    /* keys never leave the target */
    assert_int_equal(bucket_put(t, "../escape", "x", 1, "x", err, sizeof(err)), -EINVAL);
    assert_int_equal(bucket_put(t, "/abs", "x", 1, "x", err, sizeof(err)), -EINVAL);
    assert_int_equal(bucket_put(t, "a/../../b", "x", 1, "x", err, sizeof(err)), -EINVAL);
    assert_int_equal(bucket_put(t, "a//b", "x", 1, "x", err, sizeof(err)), -EINVAL);
    assert_int_equal(bucket_put(t, "", "x", 1, "x", err, sizeof(err)), -EINVAL);
    bucket_close(t);

    c.url = "file://relative/dir";
    assert_int_equal(bucket_open(&c, &t, err, sizeof(err)), -EINVAL);
    c.url = "gs://bucket";
    assert_int_equal(bucket_open(&c, &t, err, sizeof(err)), -EINVAL);
    c.url = "s3:///nobucket";
    assert_int_equal(bucket_open(&c, &t, err, sizeof(err)), -EINVAL);
    test_dir_remove(dir);
    free(dir);
}

static void test_s3_credentials(void **state)
{
    char *dir = test_dir_new("agent"), err[512], path[600];
    struct bucket_config c = {
        .url = "s3://bucket/prefix/", .s3_path_style = -1, .s3_endpoint = "http://127.0.0.1:9"};
    struct bucket *t;
    static const char creds[] =
        "[default]\naws_access_key_id = AKDEFAULT\n"
        "aws_secret_access_key = s3cr3t-default\n"
        "[ci]\n aws_access_key_id=AKCI \naws_secret_access_key= s3cr3t-ci\n";

    (void)state;
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    snprintf(path, sizeof(path), "%s/missing", dir);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    assert_int_equal(bucket_open(&c, &t, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "no S3 credentials"));

    write_file(dir, "credentials", creds, sizeof(creds) - 1);
    snprintf(path, sizeof(path), "%s/credentials", dir);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    setenv("AWS_PROFILE", "ci", 1);
    assert_int_equal(bucket_open(&c, &t, err, sizeof(err)), 0);
    /* the description names bucket, prefix and endpoint, never a key */
    assert_non_null(strstr(bucket_where(t), "s3://bucket/prefix at http://127.0.0.1:9"));
    assert_non_null(strstr(bucket_where(t), "path-style"));
    assert_null(strstr(bucket_where(t), "AKCI"));
    bucket_close(t);
    setenv("AWS_PROFILE", "nosuch", 1);
    assert_int_equal(bucket_open(&c, &t, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "[nosuch]"));
    assert_null(strstr(err, "s3cr3t"));
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    test_dir_remove(dir);
    free(dir);
}

static bool keep_pod(void *ctx, const struct pf_profile *p, const struct pf_sample *s)
{
    const char *pod = pf_sample_label(p, s, "pod");

    return pod && !strcmp(pod, ctx);
}

static void add_sample(struct pf_profile *p, const char *func, const char *pod, int64_t n)
{
    int64_t name = pf_profile_cstring(p, func), key = pf_profile_cstring(p, "pod");
    int64_t fid = pf_profile_function(p, name, name, 0, 0);
    struct pf_line line = {.function_id = (uint64_t)fid};
    int64_t lid = pf_profile_add_location(p, 0, 0x1000 + (uint64_t)fid, &line, 1);
    uint64_t loc = (uint64_t)lid;
    int64_t values[2] = {n, n * 10};
    struct pf_label label = {.key = key, .str = pf_profile_cstring(p, pod)};

    assert_int_equal(pf_profile_add_sample(p, &loc, 1, values, &label, 1), 0);
}

static void test_profile_subset(void **state)
{
    struct pf_profile *p, *sub, *back;
    uint8_t *buf;
    size_t len;
    char err[256];

    (void)state;
    assert_int_equal(pf_profile_new(&p), 0);
    assert_int_equal(pf_profile_set_cpu_types(p, 10), 0);
    p->time_nanos = 1234;
    p->duration_nanos = 60;
    add_sample(p, "hot_a", "pod-a", 5);
    add_sample(p, "hot_b", "pod-b", 7);
    add_sample(p, "shared", "pod-a", 2);
    assert_int_equal(pf_profile_label_all(p, "cluster", "lab"), 0);

    assert_int_equal(pf_profile_new(&sub), 0);
    assert_int_equal(pf_profile_subset(p, keep_pod, "pod-a", sub), 0);
    assert_int_equal(sub->nsamples, 2);
    assert_int_equal(sub->nfunctions, 2);
    assert_int_equal(sub->time_nanos, 1234);
    assert_int_equal(sub->duration_nanos, 60);
    assert_string_equal(pf_sample_label(sub, &sub->samples[0], "cluster"), "lab");
    /* what it refers to survives an encode and a decode */
    assert_int_equal(pprof_encode(sub, &buf, &len), 0);
    assert_int_equal(pf_profile_new(&back), 0);
    assert_int_equal(pprof_decode(back, buf, len, err, sizeof(err)), 0);
    assert_int_equal(back->nsamples, 2);
    assert_string_equal(
        pf_profile_str(
            back,
            pf_profile_func(
                back,
                pf_profile_location(back, back->samples[1].location_ids[0])->lines[0].function_id)
                ->name),
        "shared");
    free(buf);
    pf_profile_free(back);
    pf_profile_free(sub);
    pf_profile_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spool_order_release_done), cmocka_unit_test(test_spool_bound),
        cmocka_unit_test(test_spool_crash_leftovers),    cmocka_unit_test(test_file_target),
        cmocka_unit_test(test_s3_credentials),           cmocka_unit_test(test_profile_subset),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
