/* Unit tests: profiler/access.c, what the listener lets in: bearer tokens
 * and their files (rotation as a Kubernetes Secret volume does it), the
 * constant-time compare, the per-source rate limiter, loopback addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/unit/testdir.h"
#include "profiler/io/access.h"

#define SEC 1000000000LL

static void put(const char *dir, const char *name, const char *data)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, strlen(data), f), strlen(data));
    fclose(f);
}

static void test_bearer_token(void **state)
{
    const char *t;
    size_t n;

    (void)state;
    assert_true(bearer_token("Bearer abc.def", &t, &n));
    assert_int_equal(n, 7);
    assert_memory_equal(t, "abc.def", 7);
    assert_true(bearer_token("bearer   xyz  ", &t, &n)); /* the scheme in any case */
    assert_int_equal(n, 3);
    assert_memory_equal(t, "xyz", 3);
    assert_false(bearer_token(NULL, &t, &n));
    assert_false(bearer_token("Basic dXNlcjpwYXNz", &t, &n));
    assert_false(bearer_token("Bearer", &t, &n));
    assert_false(bearer_token("Bearer    ", &t, &n));
    assert_false(bearer_token("Bearerabc", &t, &n));
}

static void test_token_equal(void **state)
{
    (void)state;
    assert_true(token_equal("s3cret", 6, "s3cret", 6));
    assert_false(token_equal("s3cret", 6, "s3creT", 6));
    assert_false(token_equal("s3cret", 6, "s3cret!", 7)); /* a prefix is not the token */
    assert_false(token_equal("s3cret", 6, "", 0));
}

static void test_token_read(void **state)
{
    char *dir = test_dir_new("access"), path[512], *tok, err[256];
    size_t n;
    char big[TOKEN_MAX + 2];

    (void)state;
    put(dir, "nl", "tok-123\n");
    snprintf(path, sizeof(path), "%s/nl", dir);
    assert_int_equal(token_read(path, &tok, &n, err, sizeof(err)), 0);
    assert_string_equal(tok, "tok-123");
    assert_int_equal(n, 7);
    free(tok);
    put(dir, "crlf", "tok-456 \r\n\n");
    snprintf(path, sizeof(path), "%s/crlf", dir);
    assert_int_equal(token_read(path, &tok, &n, err, sizeof(err)), 0);
    assert_string_equal(tok, "tok-456");
    free(tok);
    /* refused: empty, two lines, too big, not a regular file, missing */
    put(dir, "empty", " \n");
    snprintf(path, sizeof(path), "%s/empty", dir);
    assert_int_equal(token_read(path, &tok, &n, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "empty"));
    put(dir, "two", "a\nb\n");
    snprintf(path, sizeof(path), "%s/two", dir);
    assert_int_equal(token_read(path, &tok, &n, err, sizeof(err)), -EINVAL);
    assert_null(strstr(err, "a\nb")); /* the content is never in a message */
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    put(dir, "big", big);
    snprintf(path, sizeof(path), "%s/big", dir);
    assert_int_equal(token_read(path, &tok, &n, err, sizeof(err)), -EFBIG);
    /* a FIFO would block a reader without O_NONBLOCK; it is refused at once */
    snprintf(path, sizeof(path), "%s/fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(token_read(path, &tok, &n, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "not a regular file"));
    snprintf(path, sizeof(path), "%s/missing", dir);
    assert_int_equal(token_read(path, &tok, &n, err, sizeof(err)), -ENOENT);
    test_dir_remove(dir);
    free(dir);
}

/* A Secret volume: token -> ..data/token, ..data -> ..v1; a rotation writes
 * ..v2 and swaps ..data. */
static void test_token_file_rotation(void **state)
{
    char *dir = test_dir_new("access"), p[512], q[512], err[256];
    struct token_file *tf = NULL;

    (void)state;
    snprintf(p, sizeof(p), "%s/..v1", dir);
    assert_int_equal(mkdir(p, 0700), 0);
    put(dir, "..v1/token", "first\n");
    snprintf(p, sizeof(p), "%s/..data", dir);
    assert_int_equal(symlink("..v1", p), 0);
    snprintf(p, sizeof(p), "%s/token", dir);
    assert_int_equal(symlink("..data/token", p), 0);
    assert_int_equal(token_file_open(p, &tf, err, sizeof(err)), 0);
    assert_int_equal(token_file_check(tf, "Bearer first", err, sizeof(err)), TOKEN_OK);
    assert_int_equal(token_file_check(tf, "Bearer second", err, sizeof(err)), TOKEN_WRONG);
    assert_int_equal(token_file_check(tf, NULL, err, sizeof(err)), TOKEN_MISSING);
    assert_int_equal(token_file_check(tf, "Basic Zmlyc3Q=", err, sizeof(err)), TOKEN_MISSING);

    /* rotated: the old token refused, the new one taken, no reopening */
    snprintf(q, sizeof(q), "%s/..v2", dir);
    assert_int_equal(mkdir(q, 0700), 0);
    put(dir, "..v2/token", "second\n");
    snprintf(q, sizeof(q), "%s/..data_tmp", dir);
    assert_int_equal(symlink("..v2", q), 0);
    snprintf(p, sizeof(p), "%s/..data", dir);
    assert_int_equal(rename(q, p), 0);
    snprintf(p, sizeof(p), "%s/token", dir);
    assert_int_equal(token_file_check(tf, "Bearer first", err, sizeof(err)), TOKEN_WRONG);
    assert_int_equal(token_file_check(tf, "Bearer second", err, sizeof(err)), TOKEN_OK);

    /* gone: everything refused; back: taken again */
    snprintf(q, sizeof(q), "%s/..v2/token", dir);
    assert_int_equal(unlink(q), 0);
    assert_int_equal(token_file_check(tf, "Bearer second", err, sizeof(err)), TOKEN_UNREADABLE);
    assert_non_null(strstr(err, "token"));
    put(dir, "..v2/token", "third");
    assert_int_equal(token_file_check(tf, "Bearer second", err, sizeof(err)), TOKEN_WRONG);
    assert_int_equal(token_file_check(tf, "Bearer third", err, sizeof(err)), TOKEN_OK);
    token_file_free(tf);

    /* a file that cannot be read at start is an error there */
    snprintf(p, sizeof(p), "%s/none", dir);
    assert_int_equal(token_file_open(p, &tf, err, sizeof(err)), -ENOENT);
    test_dir_remove(dir);
    free(dir);
}

static void test_rate_limiter(void **state)
{
    struct rate_limiter *rl;
    unsigned wait = 0;
    int64_t t = 100 * SEC;

    (void)state;
    assert_int_equal(rate_limiter_new(5, 6, 4, &rl), 0);
    for (int i = 0; i < 5; i++)
        assert_true(rate_limiter_take(rl, "10.0.0.1", t, &wait));
    assert_false(rate_limiter_take(rl, "10.0.0.1", t, &wait));
    assert_int_equal(wait, 10); /* 6 a minute: one every 10 s */
    /* another source has its own bucket */
    assert_true(rate_limiter_take(rl, "10.0.0.2", t, &wait));
    /* 5 s later still refused, 10 s later one more, and only one */
    assert_false(rate_limiter_take(rl, "10.0.0.1", t + 5 * SEC, &wait));
    assert_int_equal(wait, 5);
    assert_true(rate_limiter_take(rl, "10.0.0.1", t + 10 * SEC, &wait));
    assert_false(rate_limiter_take(rl, "10.0.0.1", t + 10 * SEC, &wait));
    /* a minute of quiet refills the burst, no more */
    t += 100 * SEC;
    for (int i = 0; i < 5; i++)
        assert_true(rate_limiter_take(rl, "10.0.0.1", t, &wait));
    assert_false(rate_limiter_take(rl, "10.0.0.1", t, &wait));
    rate_limiter_free(rl);
}

/* The table is bounded: once every slot is busy, newcomers share one bucket,
 * and a slot whose bucket refilled is free again. */
static void test_rate_limiter_bounded(void **state)
{
    struct rate_limiter *rl;
    unsigned wait;
    char src[32];
    int64_t t = 10 * SEC;

    (void)state;
    assert_int_equal(rate_limiter_new(2, 6, 2, &rl), 0);
    assert_true(rate_limiter_take(rl, "a", t, &wait));
    assert_true(rate_limiter_take(rl, "b", t, &wait));
    for (int i = 0; i < 2; i++) {
        snprintf(src, sizeof(src), "new-%d", i);
        assert_true(rate_limiter_take(rl, src, t, &wait));
    }
    /* the shared bucket is empty: a thousand new addresses do not get through */
    for (int i = 2; i < 1000; i++) {
        snprintf(src, sizeof(src), "new-%d", i);
        assert_false(rate_limiter_take(rl, src, t, &wait));
    }
    /* "a" and "b" kept theirs: one request left each */
    assert_true(rate_limiter_take(rl, "a", t, &wait));
    assert_false(rate_limiter_take(rl, "a", t, &wait));
    /* once a's bucket is full again its slot goes to a newcomer */
    t += 60 * SEC;
    assert_true(rate_limiter_take(rl, "c", t, &wait));
    assert_true(rate_limiter_take(rl, "c", t, &wait));
    assert_false(rate_limiter_take(rl, "c", t, &wait));
    rate_limiter_free(rl);
    assert_int_equal(rate_limiter_new(0, 6, 2, &rl), -EINVAL);
}

static void test_loopback(void **state)
{
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};

    (void)state;
    inet_pton(AF_INET, "127.0.0.1", &v4.sin_addr);
    assert_true(sockaddr_is_loopback((struct sockaddr *)&v4));
    inet_pton(AF_INET, "127.8.9.10", &v4.sin_addr);
    assert_true(sockaddr_is_loopback((struct sockaddr *)&v4));
    inet_pton(AF_INET, "0.0.0.0", &v4.sin_addr);
    assert_false(sockaddr_is_loopback((struct sockaddr *)&v4));
    inet_pton(AF_INET, "10.1.2.3", &v4.sin_addr);
    assert_false(sockaddr_is_loopback((struct sockaddr *)&v4));
    inet_pton(AF_INET, "128.0.0.1", &v4.sin_addr);
    assert_false(sockaddr_is_loopback((struct sockaddr *)&v4));
    inet_pton(AF_INET6, "::1", &v6.sin6_addr);
    assert_true(sockaddr_is_loopback((struct sockaddr *)&v6));
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &v6.sin6_addr);
    assert_true(sockaddr_is_loopback((struct sockaddr *)&v6));
    inet_pton(AF_INET6, "::", &v6.sin6_addr);
    assert_false(sockaddr_is_loopback((struct sockaddr *)&v6));
    inet_pton(AF_INET6, "fe80::1", &v6.sin6_addr);
    assert_false(sockaddr_is_loopback((struct sockaddr *)&v6));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bearer_token), cmocka_unit_test(test_token_equal),
        cmocka_unit_test(test_token_read),   cmocka_unit_test(test_token_file_rotation),
        cmocka_unit_test(test_rate_limiter), cmocka_unit_test(test_rate_limiter_bounded),
        cmocka_unit_test(test_loopback),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
