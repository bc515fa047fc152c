/* Unit tests of the error convention: a function that takes err and errlen
 * fills err with one non-empty line on every failure. Memory is what fails
 * most quietly, so each call is made again and again with its first, second,
 * third... allocation failing (malloc, calloc and realloc are replaced
 * below), until it no longer allocates that many times; whenever it fails,
 * err must have been written. err starts as bytes without a NUL, so a path
 * that forgets it reads past the buffer (ASan) and fails here.
 *
 * Under ASan, the allocations ASan makes itself (strdup, ...) are not
 * counted: the paths behind them are covered in the plain build. Under
 * valgrind, whose allocator takes the place of these, nothing fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "formats/flamegraph.h"
#include "formats/profile.h"
#include "profiler/agent/spool.h"
#include "profiler/io/bucket.h"
#include "profiler/io/access.h"
#include "profiler/io/httpd.h"
#include "profiler/io/output.h"
#include "profiler/kube/kubeapi.h"

/* ---- failing allocations ---- */

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);

static bool armed;
static long countdown; /* allocations to let through before one fails */
static bool fired;     /* the failure was given */

/* What dlsym allocates while the real functions are being looked up. */
static _Alignas(16) char boot[8192];
static size_t boot_used;
static bool resolving;

static bool from_boot(const void *p)
{
    return (const char *)p >= boot && (const char *)p < boot + sizeof(boot);
}

static void *boot_alloc(size_t n)
{
    void *p;

    n = (n + 15) & ~(size_t)15;
    if (n > sizeof(boot) - boot_used)
        return NULL;
    p = boot + boot_used;
    boot_used += n;
    return p;
}

static bool resolve(void)
{
    if (real_free)
        return true;
    if (resolving)
        return false;
    resolving = true;
    real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    resolving = false;
    return real_free != NULL;
}

static bool fail_now(void)
{
    if (!__atomic_load_n(&armed, __ATOMIC_SEQ_CST) ||
        __atomic_fetch_sub(&countdown, 1, __ATOMIC_SEQ_CST) != 0)
        return false;
    __atomic_store_n(&fired, true, __ATOMIC_SEQ_CST);
    errno = ENOMEM; /* as the real ones do: glibc asserts it */
    return true;
}

void *malloc(size_t n)
{
    if (fail_now())
        return NULL;
    return resolve() ? real_malloc(n) : boot_alloc(n);
}

void *calloc(size_t n, size_t size)
{
    if (fail_now())
        return NULL;
    if (!resolve())
        return size && n > SIZE_MAX / size ? NULL : boot_alloc(n * size); /* boot is zeroed */
    return real_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    if (fail_now())
        return NULL;
    if (from_boot(p)) {
        void *q = malloc(n);

        size_t avail = (size_t)(boot + sizeof(boot) - (char *)p);

        if (q)
            memcpy(q, p, n < avail ? n : avail);
        return q;
    }
    return resolve() ? real_realloc(p, n) : boot_alloc(n);
}

void free(void *p)
{
    if (p && !from_boot(p) && resolve())
        real_free(p);
}

/* ---- the driver ---- */

struct attempt {
    const char *what;
    /* the call under test: 0 or a negative errno with err filled */
    int (*call)(void *ctx, char *err, size_t errlen);
    /* after a successful call, with allocations working again (may be NULL) */
    void (*undo)(void *ctx);
    void *ctx;
    bool always_fails; /* fails even when memory does not (no server) */
};

/* What is wrong with err after a failure, or NULL. */
static const char *err_problem(const char *err, size_t errlen)
{
    const char *nul = memchr(err, '\0', errlen);

    if (!nul)
        return "err not written";
    if (nul == err)
        return "err empty";
    if (strchr(err, '\n'))
        return "err is not one line";
    return NULL;
}

/* Runs the call with its k-th allocation failing, for k = 0, 1, ... until
 * it makes fewer than k + 1 allocations. Returns how many failed. */
static long every_allocation_fails(const struct attempt *a)
{
    long failures = 0;

    for (long k = 0; k < 20000; k++) {
        char err[512];
        bool hit;
        int rc;

        memset(err, 'Z', sizeof(err));
        __atomic_store_n(&fired, false, __ATOMIC_SEQ_CST);
        __atomic_store_n(&countdown, k, __ATOMIC_SEQ_CST);
        __atomic_store_n(&armed, true, __ATOMIC_SEQ_CST);
        rc = a->call(a->ctx, err, sizeof(err));
        __atomic_store_n(&armed, false, __ATOMIC_SEQ_CST);
        hit = __atomic_load_n(&fired, __ATOMIC_SEQ_CST);
        if (rc) {
            const char *problem = err_problem(err, sizeof(err));

            if (problem)
                fail_msg("%s, allocation %ld failing: returned %d, %s", a->what, k, rc, problem);
            failures++;
        } else if (a->undo) {
            a->undo(a->ctx);
        }
        if (!hit) {
            if (getenv("PODFLAME_TEST_VERBOSE"))
                print_message("%s: %ld allocations, %ld failures\n", a->what, k, failures);
            if (rc && !a->always_fails)
                fail_msg("%s: fails with every allocation granted: %s", a->what, err);
            if (!rc && a->always_fails)
                fail_msg("%s: succeeded where it cannot", a->what);
            return failures;
        }
    }
    fail_msg("%s: still allocating after 20000 allocations", a->what);
    return failures;
}

/* ---- fixtures ---- */

static char dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/podflame-unit-errors.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *name, const char *text)
{
    char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The driver itself: the armed allocation fails, and a call that returns
 * -ENOMEM without a word (bucket_open's calloc, once) is told apart. */
static void test_driver(void **state)
{
    char unwritten[16], empty[16] = "", two[16] = "a\nb", fine[16] = "out of memory";
    void *p, *q;

    (void)state;
    __atomic_store_n(&countdown, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&armed, true, __ATOMIC_SEQ_CST);
    p = malloc(1);
    q = calloc(1, 1);
    __atomic_store_n(&armed, false, __ATOMIC_SEQ_CST);
    if (!fired) { /* valgrind's allocator replaces this file's too */
        free(p);
        free(q);
        print_message("allocations cannot be made to fail here: nothing is injected\n");
        skip();
    }
    assert_non_null(p);
    assert_null(q);
    assert_true(fired);
    free(p);
    memset(unwritten, 'Z', sizeof(unwritten));
    assert_string_equal(err_problem(unwritten, sizeof(unwritten)), "err not written");
    assert_string_equal(err_problem(empty, sizeof(empty)), "err empty");
    assert_string_equal(err_problem(two, sizeof(two)), "err is not one line");
    assert_null(err_problem(fine, sizeof(fine)));
}

/* ---- upload ---- */

static struct bucket *target;

static void close_target(void *ctx)
{
    (void)ctx;
    bucket_close(target);
    target = NULL;
}

static int open_target(void *ctx, char *err, size_t errlen)
{
    return bucket_open(ctx, &target, err, errlen);
}

static void test_bucket_open(void **state)
{
    char url[128];
    struct bucket_config file = {.url = url, .ca_file = "/etc/ssl/certs/ca.pem"};
    struct bucket_config s3 = {.url = "s3://bucket/a/prefix/",
                               .s3_endpoint = "http://127.0.0.1:9",
                               .s3_path_style = -1,
                               .ca_file = "/etc/ssl/certs/ca.pem"};
    struct bucket_config s3_vhost = {.url = "s3://bucket", .s3_region = "eu-west-1"};
    struct bucket_config bad = {.url = "gs://bucket"};
    struct attempt a = {"bucket_open file://", open_target, close_target, &file, false};

    (void)state;
    snprintf(url, sizeof(url), "file://%s/store", dir);
    every_allocation_fails(&a);

    setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
    a = (struct attempt){"bucket_open s3:// (keys in the environment)", open_target, close_target,
                         &s3, false};
    every_allocation_fails(&a);
    a.ctx = &s3_vhost;
    every_allocation_fails(&a);

    /* from the shared credentials file: fopen allocates too */
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    write_file("credentials", "[default]\naws_access_key_id = AK\naws_secret_access_key = s\n");
    snprintf(url, sizeof(url), "%s/credentials", dir);
    setenv("AWS_SHARED_CREDENTIALS_FILE", url, 1);
    a.what = "bucket_open s3:// (credentials file)";
    a.ctx = &s3;
    every_allocation_fails(&a);
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");

    a = (struct attempt){"bucket_open gs://", open_target, close_target, &bad, true};
    every_allocation_fails(&a);
}

static int put_object(void *ctx, char *err, size_t errlen)
{
    (void)ctx;
    return bucket_put(target, "node/2026/w.pb.gz", "abc", 3, "application/octet-stream", err,
                      errlen);
}

static void test_bucket_put(void **state)
{
    char url[128], err[256];
    struct bucket_config file = {.url = url};
    struct attempt a = {"bucket_put file://", put_object, NULL, NULL, false};

    (void)state;
    snprintf(url, sizeof(url), "file://%s/puts", dir);
    assert_int_equal(bucket_open(&file, &target, err, sizeof(err)), 0);
    every_allocation_fails(&a);
    close_target(NULL);
}

/* ---- spool ---- */

static struct spool *sp;

static int open_spool(void *ctx, char *err, size_t errlen)
{
    char path[128];

    (void)ctx;
    snprintf(path, sizeof(path), "%s/spool", dir);
    return spool_open(path, 1 << 20, &sp, err, errlen);
}

static void close_spool(void *ctx)
{
    (void)ctx;
    spool_close(sp);
    sp = NULL;
}

static int add_entry(void *ctx, char *err, size_t errlen)
{
    unsigned dropped;

    (void)ctx;
    return spool_add(sp, "k/a.pb.gz", "{\"a\":1}", "hello", 5, &dropped, err, errlen);
}

static struct spool_item item;

static int take_entry(void *ctx, char *err, size_t errlen)
{
    (void)ctx;
    return spool_take(sp, &item, err, errlen);
}

static void release_entry(void *ctx)
{
    (void)ctx;
    spool_release(sp, &item);
}

static void test_spool(void **state)
{
    char err[256];
    struct attempt a = {"spool_open", open_spool, close_spool, NULL, false};

    (void)state;
    every_allocation_fails(&a);
    assert_int_equal(open_spool(NULL, err, sizeof(err)), 0);
    a = (struct attempt){"spool_add", add_entry, NULL, NULL, false};
    every_allocation_fails(&a);
    a = (struct attempt){"spool_take", take_entry, release_entry, NULL, false};
    every_allocation_fails(&a);
    /* an empty spool says so too */
    close_spool(NULL);
    snprintf(err, sizeof(err), "%s/empty", dir);
    assert_int_equal(spool_open(err, 1 << 20, &sp, err, sizeof(err)), 0);
    a = (struct attempt){"spool_take (empty)", take_entry, release_entry, NULL, true};
    every_allocation_fails(&a);
    close_spool(NULL);
}

/* ---- access, httpd ---- */

static struct token_file *tf;

static int open_token(void *ctx, char *err, size_t errlen)
{
    return token_file_open(ctx, &tf, err, errlen);
}

static void free_token(void *ctx)
{
    (void)ctx;
    token_file_free(tf);
    tf = NULL;
}

static struct httpd *server;

static void answer(void *ctx, const char *method, const char *path, const char *body, size_t len,
                   struct httpd_reply *reply)
{
    (void)ctx, (void)method, (void)path, (void)body, (void)len;
    reply->status = 204;
}

static int start_server(void *ctx, char *err, size_t errlen)
{
    struct httpd_listen l = {.addr = "127.0.0.1:0", .control = true, .metrics = true};

    return httpd_start(ctx, &l, answer, NULL, &server, err, errlen);
}

static void stop_server(void *ctx)
{
    (void)ctx;
    httpd_stop(server);
    server = NULL;
}

static void test_access_httpd(void **state)
{
    char path[128];
    struct httpd_opts o = {.control_token_file = path, .metrics_token_file = path};
    struct attempt a = {"token_file_open", open_token, free_token, path, false};

    (void)state;
    write_file("token", "s3cr3t\n");
    snprintf(path, sizeof(path), "%s/token", dir);
    every_allocation_fails(&a);
    a = (struct attempt){"httpd_start", start_server, stop_server, &o, false};
    every_allocation_fails(&a);
}

/* ---- reading and writing profiles ---- */

struct read_ctx {
    const char *path, *asked;
};

static int read_profile(void *ctx, char *err, size_t errlen)
{
    const struct read_ctx *rc = ctx;
    struct pf_profile *p;
    size_t bad = 0;
    int ret;

    if ((ret = pf_profile_new(&p))) {
        snprintf(err, errlen, "out of memory");
        return ret;
    }
    ret = input_read(rc->path, rc->asked, p, &bad, err, errlen);
    pf_profile_free(p);
    return ret;
}

static struct pf_profile *written;

static int write_profile(void *ctx, char *err, size_t errlen)
{
    struct output_opts oo = {.format = PF_FORMAT_PPROF};

    return output_write(ctx, written, &oo, err, errlen);
}

static void test_input_output(void **state)
{
    char folded[128], pprof[128], err[256];
    struct read_ctx rc = {folded, NULL};
    struct attempt a = {"input_read folded", read_profile, NULL, &rc, false};
    size_t bad;

    (void)state;
    write_file("in.folded", "main;a;b 3\nmain;c 2\nnot a line\n");
    snprintf(folded, sizeof(folded), "%s/in.folded", dir);
    every_allocation_fails(&a);

    assert_int_equal(pf_profile_new(&written), 0);
    assert_int_equal(input_read(folded, NULL, written, &bad, err, sizeof(err)), 0);
    snprintf(pprof, sizeof(pprof), "%s/out.pb.gz", dir);
    a = (struct attempt){"output_write pprof", write_profile, NULL, pprof, false};
    every_allocation_fails(&a);

    rc.path = pprof;
    a = (struct attempt){"input_read pprof", read_profile, NULL, &rc, false};
    every_allocation_fails(&a);
    pf_profile_free(written);
    written = NULL;
}

struct graph_ctx {
    FILE *f;
    struct fg_opts o;
};

static int draw(void *ctx, char *err, size_t errlen)
{
    struct graph_ctx *g = ctx;
    static const struct fg_stack stacks[] = {
        {"main;a;b", 30, -1}, {"main;a;c", 20, -1}, {"main;d", 40, -1}, {"other;b", 10, -1}};

    rewind(g->f);
    return flamegraph_write(g->f, stacks, 4, &g->o, err, errlen);
}

static void test_flamegraph(void **state)
{
    char palette[128];
    struct graph_ctx g;
    struct attempt a = {"flamegraph_write", draw, NULL, &g, false};

    (void)state;
    g.f = tmpfile();
    assert_non_null(g.f);
    fg_opts_default(&g.o);
    g.o.reverse = true;
    snprintf(palette, sizeof(palette), "%s/palette.map", dir);
    g.o.palette_file = palette;
    every_allocation_fails(&a);
    /* a palette file it cannot read says which line */
    write_file("palette.map", "main->rgb(1,2,3)\ngarbage\n");
    a.always_fails = true;
    every_allocation_fails(&a);
    fclose(g.f);
    /* a stream that cannot be written */
    g.o.palette_file = NULL;
    if ((g.f = fopen("/dev/full", "w"))) {
        a.what = "flamegraph_write to /dev/full";
        every_allocation_fails(&a);
        fclose(g.f);
    }
}

/* ---- the API server, which is not there ---- */

static struct kubeapi *api;

static int refresh(void *ctx, char *why, size_t len)
{
    (void)ctx;
    return kubeapi_refresh(api, why, len);
}

static void test_kubeapi_refresh(void **state)
{
    struct kubeapi_config cfg = {.url = "https://127.0.0.1:1"};
    struct attempt a = {"kubeapi_refresh (no server)", refresh, NULL, NULL, true};

    (void)state;
    write_file("sa-token", "eyJ.token\n");
    write_file("ca.crt", "not a certificate\n");
    snprintf(cfg.token_path, sizeof(cfg.token_path), "%s/sa-token", dir);
    snprintf(cfg.ca_path, sizeof(cfg.ca_path), "%s/ca.crt", dir);
    assert_int_equal(kubeapi_open(&cfg, "node-1", &api), 0);
    every_allocation_fails(&a);
    kubeapi_close(api);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_driver),       cmocka_unit_test(test_bucket_open),
        cmocka_unit_test(test_bucket_put),   cmocka_unit_test(test_spool),
        cmocka_unit_test(test_access_httpd), cmocka_unit_test(test_input_output),
        cmocka_unit_test(test_flamegraph),   cmocka_unit_test(test_kubeapi_refresh),
    };

    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
