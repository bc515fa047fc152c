/* Unit tests: profiler/sampling/sampler.c, its error convention (every
 * failure writes a one-line reason to err) and its life cycle: the program
 * is loaded by sampler_start with the filters given before it, and a filter
 * that was off then cannot be turned on later. The tests that load the BPF
 * program need root and are skipped without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "profiler/sampling/sampler.h"

#define UNWRITTEN '\x7f' /* what err holds until a function writes it */

static struct sampler_opts opts(void)
{
    return (struct sampler_opts){.freq = 99,
                                 .kernel_stacks = true,
                                 .leaf_fix = true,
                                 .unwind_mode = PF_UNWIND_MODE_OFF,
                                 .stack_size = 4096,
                                 .max_keys = 256,
                                 .max_stacks = 512};
}

/* err was written with one line of text that contains what. */
static void assert_reason(const char *err, const char *what)
{
    assert_int_not_equal(err[0], UNWRITTEN);
    assert_int_not_equal(err[0], '\0');
    assert_null(strchr(err, '\n'));
    assert_non_null(strstr(err, what));
}

static void test_open_errors_are_written(void **state)
{
    struct sampler_opts o = opts();
    struct sampler *s = NULL;
    char err[256];

    (void)state;
    memset(err, UNWRITTEN, sizeof(err));
    o.freq = 0;
    assert_int_equal(sampler_open(&o, &s, err, sizeof(err)), -EINVAL);
    assert_reason(err, "perf_event_max_sample_rate");
    assert_null(s);

    o = opts();
    o.freq = 100000000; /* above any kernel's ceiling */
    memset(err, UNWRITTEN, sizeof(err));
    assert_int_equal(sampler_open(&o, &s, err, sizeof(err)), -EINVAL);
    assert_reason(err, "out of range");

    o = opts();
    o.max_keys = 0;
    memset(err, UNWRITTEN, sizeof(err));
    assert_int_equal(sampler_open(&o, &s, err, sizeof(err)), -EINVAL);
    assert_reason(err, "at least one entry");
    assert_null(s);
}

/* Opening loads nothing, so it needs no privilege; the calls that read
 * the program's state answer "nothing yet" until it is started. */
static void test_before_start(void **state)
{
    struct sampler_opts o = opts();
    struct sampler_stats st;
    struct sampler *s = NULL;
    char err[256];

    (void)state;
    if (access("/sys/kernel/btf/vmlinux", R_OK))
        skip();
    assert_int_equal(sampler_open(&o, &s, err, sizeof(err)), 0);
    assert_string_equal(sampler_event_name(s), "none");
    assert_int_equal(sampler_poll_processes(s, 0, NULL, NULL), 0);
    assert_int_equal(sampler_drain(s, NULL, NULL), 0);
    assert_int_equal(sampler_get_stats(s, &st), 0);
    assert_int_equal(st.counters[PF_STAT_EVENTS], 0);
    assert_int_equal(sampler_set_unwind(s, getpid(), true), -EINVAL);
    assert_int_equal(sampler_add_pid(s, getpid()), 0);
    assert_int_equal(sampler_add_pid(s, getpid()), 0); /* again: one entry */
    assert_int_equal(sampler_add_cgroup(s, 1), 0);
    sampler_close(s);
}

/* Without CAP_BPF the load, now in sampler_start, fails with a reason. */
static void test_start_refused_is_written(void **state)
{
    int status;
    pid_t child;

    (void)state;
    if (geteuid() != 0)
        skip();
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct sampler_opts o = opts();
        struct sampler *s;
        char err[256];
        int rc;

        memset(err, UNWRITTEN, sizeof(err));
        if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
            _exit(2);
        if (sampler_open(&o, &s, err, sizeof(err)))
            _exit(3);
        rc = sampler_start(s, err, sizeof(err));
        sampler_close(s);
        _exit(rc < 0 && err[0] != UNWRITTEN && strstr(err, "CAP_BPF") ? 0 : 1);
    }
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

struct counted {
    pid_t only;      /* the process every key must be of */
    uint64_t n;      /* its samples */
    uint64_t others; /* samples of any other process */
};

static int count_key(void *ctx, const struct pf_key *key, uint64_t count, const uint64_t *ustack,
                     size_t nu, const uint64_t *kstack, size_t nk)
{
    struct counted *c = ctx;

    (void)ustack, (void)nu, (void)kstack, (void)nk;
    if (key->tgid == (uint32_t)c->only)
        c->n += count;
    else
        c->others += count;
    return 0;
}

/* A child that burns CPU for ms milliseconds once it reads a byte. */
static pid_t spinner(int *go, long ms)
{
    int fds[2];
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct timespec t0, t;
        volatile unsigned long x = 0;
        char c;

        close(fds[1]);
        if (read(fds[0], &c, 1) != 1)
            _exit(1);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do {
            for (int i = 0; i < 100000; i++)
                x = x + (unsigned long)i;
            clock_gettime(CLOCK_MONOTONIC, &t);
        } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
        _exit(0);
    }
    close(fds[0]);
    *go = fds[1];
    return pid;
}

/* A filter given before the start is built into the program and takes
 * more PIDs while sampling; one that was off cannot be turned on. */
static void test_filters_fixed_at_start(void **state)
{
    struct sampler_opts o = opts();
    struct counted c = {0};
    struct sampler *s;
    char err[256];
    int go, status;

    (void)state;
    if (geteuid() != 0)
        skip();
    assert_int_equal(sampler_open(&o, &s, err, sizeof(err)), 0);
    /* a process that cannot exist: the filter is on, nothing matches yet */
    assert_int_equal(sampler_add_pid(s, 0x3ffffff), 0);
    if (sampler_start(s, err, sizeof(err)))
        fail_msg("sampler_start: %s", err);
    assert_int_equal(sampler_add_cgroup(s, 1), -EINVAL);
    assert_int_equal(sampler_enable_cgroup_filter(s), -EINVAL);
    c.only = spinner(&go, 500);
    assert_int_equal(sampler_add_pid(s, c.only), 0);
    assert_int_equal(write(go, "g", 1), 1);
    close(go);
    assert_int_equal(waitpid(c.only, &status, 0), c.only);
    sampler_stop(s);
    assert_int_equal(sampler_drain(s, count_key, &c), 0);
    assert_int_equal(sampler_drain(s, count_key, &c), 0);
    sampler_close(s);
    assert_true(c.n > 0);
    assert_int_equal(c.others, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_errors_are_written),
        cmocka_unit_test(test_before_start),
        cmocka_unit_test(test_start_refused_is_written),
        cmocka_unit_test(test_filters_fixed_at_start),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
