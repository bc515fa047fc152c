/*
 * The parts of podflame query: times and ranges as people type them,
 * selectors, profiles merged sample by sample, the file bucket's listing
 * and reading, S3 listing pages, and the fleet reader over a directory of
 * windows (whole and with a corrupt one).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "formats/merge.h"
#include "formats/pprof.h"
#include "formats/profile.h"
#include "profiler/io/bucket.h"
#include "profiler/query/fleet.h"
#include "profiler/query/range.h"
#include "profiler/query/select.h"
#include "tests/unit/testdir.h"

#define S RANGE_NS_PER_S

static void test_durations(void **state)
{
    static const struct {
        const char *in;
        int64_t ns;
    } good[] = {{"90s", 90 * S},    {"10m", 600 * S},   {"1h30m", 5400 * S},
                {"2d", 172800 * S}, {"1.5h", 5400 * S}, {"30m1h", 5400 * S}};
    static const char *const bad[] = {"", "1", "h", "-1h", "1x", "1h 2m", "0s", "1e30d", "m1"};
    char err[256];
    int64_t ns;

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(range_duration(good[i].in, &ns, err, sizeof(err)), 0);
        assert_int_equal(ns, good[i].ns);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(range_duration(bad[i], &ns, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "no duration"));
    }
}

static void test_instants(void **state)
{
    const int64_t now = 1795600000LL * S; /* 2026-11-25T08:26:40Z */
    char err[256], out[32];
    int64_t t, u;

    (void)state;
    assert_int_equal(range_instant("2026-11-28T10:00Z", now, &t, err, sizeof(err)), 0);
    range_format(t, out, sizeof(out));
    assert_string_equal(out, "2026-11-28T10:00:00Z");
    assert_int_equal(range_instant("2026-11-28T11:00:00+01:00", now, &u, err, sizeof(err)), 0);
    assert_int_equal(u, t);
    assert_int_equal(range_instant("2026-11-28t09:30:00.5-00:30", now, &u, err, sizeof(err)), 0);
    assert_int_equal(u, t + S / 2);
    assert_int_equal(range_instant("now", now, &t, err, sizeof(err)), 0);
    assert_int_equal(t, now);
    assert_int_equal(range_instant("-25h", now, &t, err, sizeof(err)), 0);
    assert_int_equal(t, now - 25 * 3600 * S);
    static const char *const bad[] = {
        "2026-11-28",           "2026-13-01T00:00Z", "2026-11-28T24:00Z",  "2026-11-28T10:00",
        "2026-11-28T10:00Zx",   "yesterday",         "2026-11-28T10:00+1", "-",
        "2026-11-28T10:00:00.Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(range_instant(bad[i], now, &t, err, sizeof(err)), -EINVAL);
    assert_int_equal(range_span("-25h..-24h", now, &t, &u, err, sizeof(err)), 0);
    assert_int_equal(u - t, 3600 * S);
    assert_int_equal(range_span("-24h..-25h", now, &t, &u, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "ends before"));
    assert_int_equal(range_span("-24h", now, &t, &u, err, sizeof(err)), -EINVAL);
}

/* A profile of samples/count with one frame a sample and these labels. */
struct spec {
    const char *func, *ns, *pod, *uid, *workload, *container;
    int64_t count;
};

static struct pf_profile *make(const struct spec *sp, size_t n)
{
    struct pf_profile *p;

    assert_int_equal(pf_profile_new(&p), 0);
    assert_int_equal(pf_profile_set_cpu_types(p, 10000000), 0);
    for (size_t i = 0; i < n; i++) {
        struct pf_mapping m = {
            .start = 0x1000, .limit = 0x2000, .filename = pf_profile_cstring(p, "/bin/app")};
        int64_t mid = i ? 1 : pf_profile_add_mapping(p, &m);
        int64_t f = pf_profile_function(p, pf_profile_cstring(p, sp[i].func), 0, 0, 0);
        struct pf_line line = {(uint64_t)f, 7};
        int64_t loc = pf_profile_add_location(p, (uint64_t)mid, 0x1000 + 16 * i, &line, 1);
        int64_t values[2] = {sp[i].count, sp[i].count * 10000000};
        struct pf_label l[5];
        size_t nl = 0;
        const char *kv[5][2] = {{"namespace", sp[i].ns},
                                {"pod", sp[i].pod},
                                {"pod_uid", sp[i].uid},
                                {"workload", sp[i].workload},
                                {"container", sp[i].container}};
        uint64_t id = (uint64_t)loc;

        for (size_t k = 0; k < 5; k++)
            if (kv[k][1])
                l[nl++] = (struct pf_label){.key = pf_profile_cstring(p, kv[k][0]),
                                            .str = pf_profile_cstring(p, kv[k][1])};
        assert_int_equal(pf_profile_add_sample(p, &id, 1, values, l, nl), 0);
    }
    return p;
}

static const struct spec shop[] = {
    {"checkout_pay", "shop", "checkout-7d9f8-abcde", "6f1d2c3b-0000-4000-8000-000000000001",
     "deployment/checkout", "app", 30},
    {"cart_add", "shop", "cart-5c6d7-fghij", "6f1d2c3b-0000-4000-8000-000000000002", "cart", "app",
     20},
    {"dns_serve", "kube-system", "coredns-1", "6f1d2c3b-0000-4000-8000-000000000003", "coredns",
     "coredns", 5},
    {"host_work", NULL, NULL, NULL, NULL, NULL, 7},
};

static uint64_t kept(const struct query_select *sel, const struct pf_profile *p)
{
    uint64_t n = 0;

    for (size_t i = 0; i < p->nsamples; i++)
        if (select_sample((void *)sel, p, &p->samples[i]))
            n += (uint64_t)p->samples[i].values[0];
    return n;
}

static void test_selectors(void **state)
{
    static const char *const glob[] = {"checkout-*"},
                             *const uid[] = {"6f1d2c3b-0000-4000-8000-000000000002"},
                             *const ns[] = {"shop"}, *const wl[] = {"c*"},
                             *const cont[] = {"coredns"}, *const nodes[] = {"node-1*"};
    struct pf_profile *p = make(shop, 4);
    struct query_select all = {0}, by_glob = {.pods = glob, .npods = 1},
                        by_uid = {.pods = uid, .npods = 1},
                        by_ns_wl = {.namespaces = ns,
                                    .nnamespaces = 1,
                                    .workloads = wl,
                                    .nworkloads = 1},
                        by_container = {.containers = cont, .ncontainers = 1},
                        by_node = {.nodes = nodes, .nnodes = 1};

    (void)state;
    assert_int_equal(kept(&all, p), 62);
    assert_int_equal(kept(&by_glob, p), 30);
    assert_int_equal(kept(&by_uid, p), 20);
    assert_int_equal(kept(&by_ns_wl, p), 50); /* checkout and cart: both c* */
    assert_int_equal(kept(&by_container, p), 5);
    by_ns_wl.workloads = (const char *const[]){"deployment/checkout"};
    assert_int_equal(kept(&by_ns_wl, p), 30); /* the label whole, or by name (c*) */
    assert_true(select_node(&by_node, "node-12"));
    assert_false(select_node(&by_node, "node-2"));
    assert_int_equal(kept(&by_node, p), 62); /* no node label: the folder decided */
    /* index lines: a Pod of another namespace rules a window out; one
     * without uid or workload (an older agent) cannot */
    assert_false(select_by_pod(&all));
    assert_true(select_by_pod(&by_glob));
    assert_true(select_pod(&by_glob, "shop", "checkout-1", "u", NULL));
    assert_false(select_pod(&by_glob, "shop", "cart-1", "u", NULL));
    assert_true(select_pod(&by_uid, "shop", "cart-1", NULL, NULL)); /* may be that UID */
    assert_true(
        select_pod(&by_uid, "shop", "cart-1", "6f1d2c3b-0000-4000-8000-000000000002", NULL));
    assert_false(
        select_pod(&by_uid, "shop", "cart-1", "6f1d2c3b-0000-4000-8000-000000000009", NULL));
    assert_false(select_pod(&by_glob, "shop", "cart-1", NULL, NULL)); /* no UID selector */
    assert_false(select_pod(&by_ns_wl, "other", "checkout-1", NULL, NULL));
    assert_false(select_pod(&by_ns_wl, "shop", "x", NULL, "frontend"));
    assert_true(select_pod(&by_ns_wl, "shop", "x", NULL, NULL));
    pf_profile_free(p);
}

static void test_merge_sums_equal_samples(void **state)
{
    struct pf_profile *a = make(shop, 4), *b = make(shop, 2), *other;
    static const char *const extra[] = {"node", "n1"};
    static const char *const ns[] = {"shop"};
    struct query_select sel = {.namespaces = ns, .nnamespaces = 1};
    struct pf_merge *m;
    struct pf_profile *out;
    char err[256];

    (void)state;
    a->time_nanos = 100 * S;
    a->duration_nanos = 60 * S;
    b->time_nanos = 160 * S;
    b->duration_nanos = 60 * S;
    assert_int_equal(pf_merge_new(&m), 0);
    assert_int_equal(pf_merge_add(m, a, NULL, NULL, extra, 1, err, sizeof(err)), 0);
    assert_int_equal(pf_merge_add(m, b, select_sample, &sel, extra, 1, err, sizeof(err)), 0);
    assert_int_equal(pf_merge_add(m, a, select_sample, &sel, extra, 1, err, sizeof(err)), 0);
    out = pf_merge_profile(m);
    /* four distinct samples; checkout 30 three times, cart 20 three times */
    assert_int_equal(out->nsamples, 4);
    assert_int_equal(out->nlocations, 4);
    assert_int_equal(out->nmappings, 1);
    assert_int_equal(out->nfunctions, 4);
    assert_int_equal(out->samples[0].values[0], 90);
    assert_int_equal(out->samples[0].values[1], 900000000);
    assert_int_equal(out->samples[1].values[0], 60);
    assert_int_equal(out->samples[2].values[0], 5);
    assert_int_equal(out->samples[3].values[0], 7);
    assert_string_equal(pf_sample_label(out, &out->samples[3], "node"), "n1");
    assert_int_equal(out->time_nanos, 100 * S);
    assert_int_equal(out->duration_nanos, 120 * S);
    assert_int_equal(pf_merge_profiles(m), 3);
    /* other sample types are refused, and nothing of them is added */
    assert_int_equal(pf_profile_new(&other), 0);
    other->nsample_types = 1;
    other->sample_types[0].type = pf_profile_cstring(other, "alloc_space");
    other->sample_types[0].unit = pf_profile_cstring(other, "bytes");
    assert_int_equal(pf_merge_add(m, other, NULL, NULL, NULL, 0, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "sample types"));
    assert_int_equal(out->nsamples, 4);
    /* the merge survives a round trip through pprof */
    {
        uint8_t *buf;
        size_t len;
        struct pf_profile *back;

        assert_int_equal(pprof_encode(out, &buf, &len), 0);
        assert_int_equal(pf_profile_new(&back), 0);
        assert_int_equal(pprof_decode(back, buf, len, err, sizeof(err)), 0);
        assert_int_equal(back->nsamples, 4);
        assert_int_equal(back->samples[1].values[0], 60);
        pf_profile_free(back);
        free(buf);
    }
    pf_profile_free(other);
    pf_profile_free(a);
    pf_profile_free(b);
    pf_merge_free(m);
}

/* Taking the first profile (no copy) gives what adding it gives. */
static void test_merge_take_equals_add(void **state)
{
    static const char *const ns[] = {"shop"}, *const extra[] = {"node", "n1"};
    struct query_select sel = {.namespaces = ns, .nnamespaces = 1};
    struct pf_merge *by_add, *by_take;
    struct pf_profile *a, *b;
    char err[256];

    (void)state;
    assert_int_equal(pf_merge_new(&by_add), 0);
    assert_int_equal(pf_merge_new(&by_take), 0);
    for (int round = 0; round < 2; round++) {
        a = make(shop, 4);
        /* the same stack and labels twice in one profile: summed */
        b = make(shop, 1);
        assert_int_equal(pf_merge_add(by_add, a, select_sample, &sel, extra, 1, err, sizeof(err)),
                         0);
        assert_int_equal(pf_merge_add(by_add, b, NULL, NULL, extra, 1, err, sizeof(err)), 0);
        assert_int_equal(pf_merge_take(by_take, a, select_sample, &sel, extra, 1, err, sizeof(err)),
                         0);
        assert_int_equal(pf_merge_take(by_take, b, NULL, NULL, extra, 1, err, sizeof(err)), 0);
    }
    {
        struct pf_profile *x = pf_merge_profile(by_add), *y = pf_merge_profile(by_take);

        assert_int_equal(x->nsamples, 2);
        assert_int_equal(y->nsamples, 2);
        for (size_t i = 0; i < 2; i++) {
            assert_int_equal(x->samples[i].values[0], y->samples[i].values[0]);
            assert_string_equal(pf_sample_label(y, &y->samples[i], "node"), "n1");
        }
        assert_int_equal(y->samples[0].values[0], 4 * 30); /* checkout: twice a round */
        assert_int_equal(pf_merge_profiles(by_take), 4);
    }
    pf_merge_free(by_add);
    pf_merge_free(by_take);
}

static void test_pods_of_profile(void **state)
{
    struct pf_profile *p = make(shop, 4);
    struct pf_pod *pods;
    size_t n;

    (void)state;
    assert_int_equal(pf_profile_pods(p, &pods, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(pods[0].pod, "checkout-7d9f8-abcde");
    assert_string_equal(pods[0].uid, "6f1d2c3b-0000-4000-8000-000000000001");
    assert_string_equal(pods[0].workload, "deployment/checkout");
    assert_int_equal(pods[0].samples, 30);
    assert_string_equal(pods[2].ns, "kube-system");
    free(pods);
    pf_profile_free(p);
}

/* ---- buckets ---- */

struct names {
    char text[4096];
};

static int collect(void *ctx, const struct bucket_entry *e)
{
    struct names *n = ctx;
    size_t len = strlen(n->text);

    snprintf(n->text + len, sizeof(n->text) - len, "%s%s=%llu ", e->key, e->folder ? "(f)" : "",
             (unsigned long long)e->size);
    return 0;
}

static void put(struct bucket *b, const char *key, const void *data, size_t len)
{
    char err[256];

    assert_int_equal(bucket_put(b, key, data, len, "application/octet-stream", err, sizeof(err)),
                     0);
}

static void test_file_bucket(void **state)
{
    char *dir = test_dir_new("bucket"), url[300], err[256], *data, hidden[400];
    struct bucket_config c = {.url = url};
    struct bucket *b;
    struct names n = {""};
    size_t len;

    (void)state;
    snprintf(url, sizeof(url), "file://%s", dir);
    assert_int_equal(bucket_open(&c, &b, err, sizeof(err)), 0);
    put(b, "n2/2026/x.json", "{}", 2);
    put(b, "n1/2026/b.pb.gz", "abc", 3);
    put(b, "n1/2026/a.pb.gz", "ab", 2);
    put(b, "_rollup/m.json", "{}", 2);
    snprintf(hidden, sizeof(hidden), "%s/n1/2026/.a.pb.gz.tmp", dir);
    fclose(fopen(hidden, "w")); /* an atomic write in progress: not listed */
    assert_int_equal(bucket_list(b, "", true, collect, &n, err, sizeof(err)), 0);
    assert_string_equal(n.text, "_rollup/(f)=0 n1/(f)=0 n2/(f)=0 ");
    n.text[0] = '\0';
    assert_int_equal(bucket_list(b, "n1/", false, collect, &n, err, sizeof(err)), 0);
    assert_string_equal(n.text, "n1/2026/a.pb.gz=2 n1/2026/b.pb.gz=3 ");
    n.text[0] = '\0';
    assert_int_equal(bucket_list(b, "n1/2026/b", true, collect, &n, err, sizeof(err)), 0);
    assert_string_equal(n.text, "n1/2026/b.pb.gz=3 ");
    n.text[0] = '\0';
    assert_int_equal(bucket_list(b, "n9/", true, collect, &n, err, sizeof(err)), 0);
    assert_string_equal(n.text, "");
    assert_int_equal(bucket_list(b, "../", true, collect, &n, err, sizeof(err)), -EINVAL);
    assert_int_equal(bucket_get(b, "n1/2026/b.pb.gz", 16, &data, &len, err, sizeof(err)), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(data, "abc", 4);
    free(data);
    assert_int_equal(bucket_get(b, "n1/2026/b.pb.gz", 2, &data, &len, err, sizeof(err)), -EFBIG);
    assert_int_equal(bucket_get(b, "n1/none", 16, &data, &len, err, sizeof(err)), -ENOENT);
    assert_int_equal(bucket_get(b, "../etc/passwd", 16, &data, &len, err, sizeof(err)), -EINVAL);
    assert_int_equal(bucket_get(b, "n1/2026", 16, &data, &len, err, sizeof(err)), -EINVAL);
    bucket_close(b);
    test_dir_remove(dir);
    free(dir);
}

static void test_s3_listing_page(void **state)
{
    static const char page[] =
        "<?xml version=\"1.0\"?><ListBucketResult><Prefix>p/n1/</Prefix>"
        "<IsTruncated>false</IsTruncated>"
        "<Contents><Key>p/n1/a&amp;b.pb.gz</Key><Size>12</Size></Contents>"
        "<Contents><Key>p/n1/c&#47;d&#x41;.json</Key><Size>3</Size></Contents>"
        "<Contents><Key>p</Key><Size>1</Size></Contents>"
        "<CommonPrefixes><Prefix>p/n1/findings/</Prefix></CommonPrefixes>"
        "</ListBucketResult>";
    struct names n = {""};
    char err[256];

    (void)state;
    assert_int_equal(bucket_parse_listing(page, 2, collect, &n, err, sizeof(err)), 0);
    /* the key no longer than the prefix is left out */
    assert_string_equal(n.text, "n1/a&b.pb.gz=12 n1/c/dA.json=3 n1/findings/(f)=0 ");
    assert_int_equal(
        bucket_parse_listing("<Contents><Key>x</Key>", 0, collect, &n, err, sizeof(err)), -EIO);
}

/* ---- the fleet reader over a file bucket ---- */

static void put_window(struct bucket *b, const char *node, const char *hour, const char *stem,
                       const struct pf_profile *p, const char *index)
{
    char key[256], *buf;
    size_t len;

    assert_int_equal(pprof_write_buffer(p, &buf, &len), 0);
    snprintf(key, sizeof(key), "%s/2026/11/28/%s/%s.pb.gz", node, hour, stem);
    put(b, key, buf, len);
    free(buf);
    if (index) {
        snprintf(key, sizeof(key), "%s/2026/11/28/%s/%s.json", node, hour, stem);
        put(b, key, index, strlen(index));
    }
}

static void test_fleet_reads_windows(void **state)
{
    static const char *const glob[] = {"checkout-*"};
    static const char shop_index[] =
        "{\"pods\":[{\"namespace\":\"shop\",\"pod\":\"checkout-7d9f8-abcde\"}]}";
    static const char dns_index[] =
        "{\"pods\":[{\"namespace\":\"kube-system\",\"pod\":\"coredns-1\"}]}";
    char *dir = test_dir_new("fleet"), url[300], err[256];
    struct bucket_config c = {.url = url};
    struct query_select sel = {.pods = glob, .npods = 1}, all = {0};
    struct fleet_query q = {.sel = &sel, .concurrency = 3};
    struct fleet_result r;
    struct pf_profile *p = make(shop, 4), *dns = make(shop + 2, 1);
    struct pf_merge *m;
    int64_t start, end;

    (void)state;
    snprintf(url, sizeof(url), "file://%s", dir);
    assert_int_equal(bucket_open(&c, &q.bucket, err, sizeof(err)), 0);
    assert_int_equal(fleet_window_times("20261128T100000Z-20261128T100100Z.pb.gz", &start, &end),
                     0);
    assert_int_equal(end - start, 60 * S);
    assert_int_equal(fleet_window_times("20261128T100000Z-20261128T100100Z.json", &start, &end),
                     -EINVAL);
    q.from_ns = start;
    q.until_ns = start + 3600 * S;
    /* two nodes, hour 10: windows at 10:00 and 10:01; one at 11:00 (out of range) */
    put_window(q.bucket, "n1", "10", "20261128T100000Z-20261128T100100Z", p, shop_index);
    put_window(q.bucket, "n1", "10", "20261128T100100Z-20261128T100200Z", p, NULL);
    put_window(q.bucket, "n2", "10", "20261128T100000Z-20261128T100100Z", dns, dns_index);
    put_window(q.bucket, "n2", "11", "20261128T110000Z-20261128T110100Z", p, shop_index);
    pf_merge_new(&m);
    assert_int_equal(fleet_run(&q, m, &r, NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(atomic_load(&r.stats.windows), 3);
    assert_int_equal(atomic_load(&r.stats.skipped), 1); /* n2's index names only coredns */
    assert_int_equal(atomic_load(&r.stats.merged), 2);
    assert_int_equal(atomic_load(&r.stats.unreadable), 0);
    assert_int_equal(pf_merge_profile(m)->nsamples, 1);
    assert_int_equal(pf_merge_profile(m)->samples[0].values[0], 60);
    fleet_result_free(&r);
    pf_merge_free(m);
    /* a corrupt window is reported and the rest still merged */
    put(q.bucket, "n1/2026/11/28/10/20261128T100200Z-20261128T100300Z.pb.gz", "garbage", 7);
    q.sel = &all;
    pf_merge_new(&m);
    assert_int_equal(fleet_run(&q, m, &r, NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(atomic_load(&r.stats.windows), 4);
    assert_int_equal(atomic_load(&r.stats.unreadable), 1);
    assert_int_equal(r.nproblems, 1);
    assert_non_null(strstr(r.problems[0], "20261128T100200Z-20261128T100300Z.pb.gz: "));
    assert_int_equal(atomic_load(&r.stats.merged), 3);
    fleet_result_free(&r);
    pf_merge_free(m);
    /* a bucket that cannot be listed is an error */
    bucket_close(q.bucket);
    test_dir_remove(dir);
    free(dir);
    pf_profile_free(p);
    pf_profile_free(dns);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_instants),
        cmocka_unit_test(test_selectors),
        cmocka_unit_test(test_merge_sums_equal_samples),
        cmocka_unit_test(test_merge_take_equals_add),
        cmocka_unit_test(test_pods_of_profile),
        cmocka_unit_test(test_file_bucket),
        cmocka_unit_test(test_s3_listing_page),
        cmocka_unit_test(test_fleet_reads_windows),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
