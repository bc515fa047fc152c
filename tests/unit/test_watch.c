/* Unit tests: profiler/watch/cpustat.c's parsers and tick_reader.c on this
 * node, a Pod's hot spots (hotspots.c), findings (finding.c) and the
 * watcher's HTTP requests (watch.c). The rules are in test_rules.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <jansson.h>
#include <cmocka.h>

#include "formats/clock.h"
#include "formats/profile.h"
#include "profiler/watch/cpustat.h"
#include "profiler/watch/finding.h"
#include "profiler/watch/hotspots.h"
#include "profiler/watch/tick_reader.h"
#include "profiler/watch/watch.h"

static void test_proc_stat(void **state)
{
    static const char text[] = "cpu  100 0 50 800 50 0 0 0 0 0\n"
                               "cpu0 60 0 20 400 20 0 0 0 0 0\n"
                               "cpu1 40 0 30 400 30 0 0 0 0 0\n"
                               "intr 12345 0 0\nctxt 999\n";
    struct node_cpu *n = calloc(1, sizeof(*n));

    (void)state;
    assert_int_equal(cpustat_parse_proc_stat(text, n), 0);
    assert_int_equal(n->total, 1000);
    assert_int_equal(n->busy, 150); /* idle and iowait are not busy */
    assert_int_equal(n->ncpus, 2);
    assert_int_equal(n->cpu_busy[1], 70);
    assert_int_equal(cpustat_parse_proc_stat("intr 1\n", n), -EINVAL);
    assert_int_equal(cpustat_parse_proc_stat("cpu 1 2\n", n), -EINVAL);
    assert_int_equal(cpustat_parse_proc_stat("", n), -EINVAL);
    free(n);
}

static void test_cgroup_files(void **state)
{
    struct cgroup_cpu c = {0};
    double v;

    (void)state;
    assert_int_equal(cpustat_parse_cpu_stat("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n"
                                            "nr_periods 10\nnr_throttled 4\nthrottled_usec 900\n",
                                            &c),
                     0);
    assert_int_equal(c.usage_usec, 1500);
    assert_true(c.has_throttling);
    assert_int_equal(c.nr_throttled, 4);
    assert_int_equal(c.throttled_usec, 900);
    memset(&c, 0, sizeof(c));
    assert_int_equal(cpustat_parse_cpu_stat("usage_usec 7\n", &c), 0);
    assert_false(c.has_throttling);
    assert_int_equal(cpustat_parse_cpu_stat("user_usec 7\n", &c), -EINVAL);
    assert_int_equal(cpustat_parse_cpu_stat("usage_usecs 7\n", &c), -EINVAL);

    assert_int_equal(cpustat_parse_cpu_max("max 100000\n", &v), 0);
    assert_true(v == 0);
    assert_int_equal(cpustat_parse_cpu_max("50000 100000\n", &v), 0);
    assert_true(v == 0.5);
    assert_int_equal(cpustat_parse_cpu_max("250000 100000", &v), 0);
    assert_true(v == 2.5);
    assert_int_equal(cpustat_parse_cpu_max("50000 0", &v), -EINVAL);
    assert_int_equal(cpustat_parse_cpu_max("x y", &v), -EINVAL);
    assert_int_equal(cpustat_parse_cpu_max("", &v), -EINVAL);

    assert_int_equal(cpustat_parse_psi("some avg10=12.50 avg60=3.00 avg300=1.00 total=5\n"
                                       "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
                                       &v),
                     0);
    assert_true(v == 12.5);
    assert_int_equal(cpustat_parse_psi("full avg10=1.00\n", &v), -EINVAL);
    assert_int_equal(cpustat_parse_psi("some avg10=250\n", &v), -EINVAL);
}

static void test_gone_cgroup(void **state)
{
    struct cgroup_cpu c;
    char err[256] = "";

    (void)state;
    assert_int_equal(cpustat_read_cgroup("/nonexistent/kubepods/pod1", NULL, &c, err, sizeof(err)),
                     -ENOENT);
    assert_string_equal(err, "cgroup /nonexistent/kubepods/pod1 is gone");
}

/* PODFLAME_RECORD_TICKS=FILE PODFLAME_RECORD_SECONDS=N: records N ticks
 * of this node, one a second, in the format test_rules.c reads
 * (tests/fixtures/watch/, NAME.ticks). */
static void record_ticks(struct tick_reader *r, const char *path, long seconds)
{
    FILE *out = fopen(path, "w");
    char err[256];

    assert_non_null(out);
    fprintf(out, "# tick MONO_NS REAL_NS NODE_BUSY NODE_TOTAL NCPUS NODE_PSI\n"
                 "# pod UID USAGE_USEC NR_PERIODS NR_THROTTLED THROTTLED_USEC LIMIT_CPUS PSI "
                 "HAS_THROTTLING\n");
    for (long i = 0; i < seconds; i++) {
        struct watch_tick t;
        struct timespec next = {0};

        assert_int_equal(tick_reader_read(r, &t, err, sizeof(err)), 0);
        fprintf(out, "tick %lld %lld %llu %llu %u %.2f\n", (long long)t.mono_ns,
                (long long)t.real_ns, (unsigned long long)t.node_busy,
                (unsigned long long)t.node_total, t.ncpus, t.node_psi);
        for (size_t k = 0; k < t.npods; k++) {
            const struct cgroup_cpu *c = &t.pods[k].cpu;

            fprintf(out, "pod %s %llu %llu %llu %llu %g %.2f %d\n", t.pods[k].uid,
                    (unsigned long long)c->usage_usec, (unsigned long long)c->nr_periods,
                    (unsigned long long)c->nr_throttled, (unsigned long long)c->throttled_usec,
                    c->limit_cpus, c->psi_some_avg10, c->has_throttling);
        }
        /* on a grid, as the watcher ticks */
        next.tv_nsec = 1000000000L - (mono_ns() % 1000000000L);
        nanosleep(&next, NULL);
    }
    fclose(out);
}

/* The reader on this node: the node's counters go forward between two
 * ticks, and every Pod it lists has a UID and a cgroup. */
static void test_tick_reader(void **state)
{
    struct tick_reader *r;
    struct watch_tick a, b;
    char err[256] = "";
    int rc;

    (void)state;
    if ((rc = tick_reader_open(&r, err, sizeof(err)))) {
        assert_int_equal(rc, -ENOENT);
        assert_non_null(strstr(err, "cgroup2"));
        skip();
        return;
    }
    assert_int_equal(tick_reader_read(r, &a, err, sizeof(err)), 0);
    assert_int_equal(tick_reader_read(r, &b, err, sizeof(err)), 0);
    assert_true(b.mono_ns > a.mono_ns);
    assert_true(b.real_ns > 1600000000LL * 1000000000LL);
    assert_true(b.ncpus >= 1);
    assert_true(b.node_total >= a.node_total && b.node_busy >= a.node_busy);
    assert_true(b.node_total > 0 && b.node_busy <= b.node_total);
    assert_true(b.node_psi == -1 || (b.node_psi >= 0 && b.node_psi <= 100));
    for (size_t i = 0; i < b.npods; i++) {
        assert_true(b.pods[i].uid[0] && b.pods[i].path[0]);
        assert_true(b.pods[i].cgroup_id != 0);
    }
    if (getenv("PODFLAME_RECORD_TICKS"))
        record_ticks(
            r, getenv("PODFLAME_RECORD_TICKS"),
            strtol(getenv("PODFLAME_RECORD_SECONDS") ? getenv("PODFLAME_RECORD_SECONDS") : "30",
                   NULL, 10));
    tick_reader_close(r);
}

static void add(struct pf_profile *p, const char *uid, const char *const *frames, size_t n,
                int64_t count)
{
    uint64_t locs[16];
    int64_t values[2] = {count, count * 1000};
    struct pf_label l = {.key = pf_profile_cstring(p, "pod_uid"),
                         .str = pf_profile_cstring(p, uid)};

    /* frames root first here; samples are leaf first */
    for (size_t i = 0; i < n; i++) {
        int64_t name = pf_profile_cstring(p, frames[i]);
        struct pf_line line = {.function_id = (uint64_t)pf_profile_function(p, name, name, 0, 0)};

        locs[n - 1 - i] = (uint64_t)pf_profile_add_location(p, 0, 0x100 * (i + 1), &line, 1);
    }
    assert_int_equal(pf_profile_add_sample(p, locs, n, values, &l, 1), 0);
}

static void test_hotspots(void **state)
{
    static const char *const hot[] = {"main", "serve", "parse", "hash"};
    static const char *const warm[] = {"main", "serve", "render"};
    static const char *const other[] = {"main", "idle"};
    static const char *const deep[] = {"main", "walk", "walk", "walk"};
    struct pf_profile *p;
    struct pod_hotspots hs;
    struct pod_wall w;
    char err[256];

    (void)state;
    assert_int_equal(pf_profile_new(&p), 0);
    assert_int_equal(pf_profile_set_cpu_types(p, 1000), 0);
    add(p, "uid-a", hot, 4, 60);
    add(p, "uid-a", warm, 3, 30);
    add(p, "uid-a", other, 2, 10);
    add(p, "uid-b", other, 2, 500); /* another Pod: not counted */
    add(p, "uid-r", deep, 4, 8);
    assert_int_equal(pod_hotspots_find(p, "uid-a", &hs, err, sizeof(err)), 0);
    assert_int_equal(hs.samples, 100);
    assert_string_equal(hs.funcs[0].name, "hash");
    assert_true(hs.funcs[0].self_pct == 60);
    assert_true(hs.funcs[0].total_pct == 60);
    assert_string_equal(hs.funcs[1].name, "render");
    /* main: no self time, in every sample */
    for (size_t i = 0; i < hs.nfuncs; i++) {
        if (!strcmp(hs.funcs[i].name, "main")) {
            assert_true(hs.funcs[i].self_pct == 0);
            assert_true(hs.funcs[i].total_pct == 100);
        }
    }
    assert_int_equal(hs.npaths, 3);
    assert_string_equal(hs.paths[0].frames, "main;serve;parse;hash");
    assert_true(hs.paths[0].pct == 60);
    pod_hotspots_free(&hs);
    assert_int_equal(pod_hotspots_find(p, "uid-none", &hs, err, sizeof(err)), 0);
    assert_int_equal(hs.samples, 0);
    assert_int_equal(hs.nfuncs, 0);
    assert_int_equal(hs.npaths, 0);
    pod_hotspots_free(&hs);
    /* recursion: a function is in a sample's total once, however deep */
    assert_int_equal(pod_hotspots_find(p, "uid-r", &hs, err, sizeof(err)), 0);
    assert_int_equal(hs.samples, 8);
    assert_int_equal(hs.nfuncs, 2);
    assert_string_equal(hs.funcs[0].name, "walk");
    assert_true(hs.funcs[0].self_pct == 100 && hs.funcs[0].total_pct == 100);
    assert_true(hs.funcs[1].self_pct == 0 && hs.funcs[1].total_pct == 100);
    assert_int_equal(hs.npaths, 1);
    assert_string_equal(hs.paths[0].frames, "main;walk;walk;walk");
    pod_hotspots_free(&hs);
    /* by another label */
    assert_int_equal(pod_hotspots_find_label(p, "pod_uid", "uid-b", &hs, err, sizeof(err)), 0);
    assert_int_equal(hs.samples, 500);
    assert_string_equal(hs.funcs[0].name, "idle");
    pod_hotspots_free(&hs);
    /* a CPU profile has no wall time, and no verdict to draw from it */
    assert_int_equal(pod_wall_find(p, "uid-a", &w, err, sizeof(err)), 0);
    assert_int_equal(w.total, 0);
    assert_null(w.waits[WALL_SLEEPING].frames);
    pod_wall_free(&w);
    pf_profile_free(p);
}

static int post(struct watch *w, const char *path, const char *body)
{
    struct httpd_reply r = {0};

    assert_true(watch_http(w, "POST", path, body, strlen(body), &r));
    free(r.body);
    return r.status;
}

static void test_http_bad_requests(void **state)
{
    struct watch_opts o;
    struct watch *w;
    struct httpd_reply r = {0};
    char err[256];

    (void)state;
    watch_opts_default(&o, "/nonexistent");
    o.kubelet_log_dir = "/nonexistent";
    if (watch_new(&o, &w, err, sizeof(err))) {
        skip(); /* no cgroup2 mount here */
        return;
    }
    assert_false(watch_http(w, "POST", "/metrics", "", 0, &r));
    assert_true(watch_http(w, "GET", "/trigger", "", 0, &r));
    assert_int_equal(r.status, 405);
    free(r.body);
    assert_int_equal(post(w, "/trigger", "{not json"), 400);
    assert_int_equal(post(w, "/trigger", "[1, 2]"), 400);
    assert_int_equal(post(w, "/trigger", "{\"namespace\": \"x\"}"), 400);
    assert_int_equal(post(w, "/trigger", "{\"pod\": 7}"), 400);
    assert_int_equal(post(w, "/trigger", "{\"namespace\": \"shop\", \"pod\": \"nosuch-0\"}"), 404);
    assert_int_equal(post(w, "/alertmanager", "{}"), 400);
    assert_int_equal(post(w, "/alertmanager", "{\"alerts\": {}}"), 400);
    assert_int_equal(post(w, "/alertmanager", "{\"alerts\": []}"), 400);
    assert_int_equal(post(w, "/alertmanager",
                          "{\"alerts\": [{\"status\": \"firing\", \"labels\": "
                          "{\"namespace\": \"shop\", \"pod\": \"gone-1\"}}]}"),
                     404);
    assert_int_equal(post(w, "/alertmanager", "{\"alerts\": [7, null, {\"labels\": 3}]}"), 400);
    assert_int_equal(post(w, "/alertmanager", "{\"a\": 1, \"a\": 2}"), 400);
    watch_free(w);
}

/* A sample of wall time: ns of uid's threads in state, on frames (root
 * first), under the synthetic leaf an off-CPU state has. */
static void add_wall(struct pf_profile *p, const char *uid, const char *state,
                     const char *const *frames, size_t n, int64_t ns)
{
    const char *all[16];
    char leaf[32];
    uint64_t locs[16];
    bool running = !strcmp(state, "running");
    /* samples/count, cpu, off_cpu, wall */
    int64_t values[4] = {running ? ns / 10 : 0, running ? ns : 0, running ? 0 : ns, ns};
    struct pf_label l[2] = {
        {.key = pf_profile_cstring(p, "pod_uid"), .str = pf_profile_cstring(p, uid)},
        {.key = pf_profile_cstring(p, "state"), .str = pf_profile_cstring(p, state)}};
    size_t total = n;

    memcpy(all, frames, n * sizeof(*frames));
    if (!running) {
        snprintf(leaf, sizeof(leaf), "[%s]", state);
        all[total++] = leaf;
    }
    for (size_t i = 0; i < total; i++) {
        int64_t name = pf_profile_cstring(p, all[i]);
        struct pf_line line = {.function_id = (uint64_t)pf_profile_function(p, name, name, 0, 0)};

        locs[total - 1 - i] = (uint64_t)pf_profile_add_location(p, 0, 0x100 * (i + 1), &line, 1);
    }
    assert_int_equal(pf_profile_add_sample(p, locs, total, values, l, 2), 0);
}

/* The first line of DIR/ID/finding.md: the verdict. */
static void md_first_line(const char *dir, const char *id, char *line, size_t len)
{
    char path[512];
    FILE *in;

    snprintf(path, sizeof(path), "%s/%s/finding.md", dir, id);
    assert_non_null(in = fopen(path, "r"));
    assert_non_null(fgets(line, (int)len, in));
    fclose(in);
}

static const char *pod_verdict(json_t *j, size_t i)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(j, "pods"), i), "verdict"));
}

/* Three Pods of a wall-time capture: one that computes, one held by its
 * limit, one that waits on a lock. Each gets its shares, its heaviest wait
 * and its verdict; finding.md opens with the subject's. */
static void test_wall_verdicts(void **state)
{
    static const char *const work[] = {"main", "serve", "hash"};
    static const char *const lock[] = {"main", "serve", "take_lock", "futex_wait_[k]"};
    static const char *const disk[] = {"main", "flush", "fsync_[k]"};
    char tmp[] = "/tmp/podflame-verdict.XXXXXX", dir[64], id[256], err[256], path[512], line[1024];
    struct finding f = {.node = "node-1", .ncpus = 2, .npods = 3, .capture_hz = 99, .capture_s = 1};
    const char *uids[3] = {"uid-busy", "uid-held", "uid-wait"};
    struct pf_profile *p;
    struct pod_wall w;
    json_t *j;

    (void)state;
    assert_non_null(mkdtemp(tmp));
    assert_int_equal(pf_profile_new(&p), 0);
    assert_int_equal(pf_profile_set_wall_types(p, 10, false), 0);
    add_wall(p, "uid-busy", "running", work, 3, 800);
    add_wall(p, "uid-busy", "sleeping", lock, 4, 200);
    add_wall(p, "uid-held", "running", work, 3, 300);
    add_wall(p, "uid-held", "throttled", work, 3, 600);
    add_wall(p, "uid-held", "runqueue", work, 3, 100);
    add_wall(p, "uid-wait", "running", work, 3, 100);
    add_wall(p, "uid-wait", "sleeping", lock, 4, 700);
    add_wall(p, "uid-wait", "blocked", disk, 3, 200);

    assert_int_equal(pod_wall_find(p, "uid-held", &w, err, sizeof(err)), 0);
    assert_int_equal(w.total, 1000);
    assert_int_equal(w.ns[WALL_RUNNING], 300);
    assert_int_equal(w.ns[WALL_THROTTLED], 600);
    assert_int_equal(w.ns[WALL_RUNQUEUE], 100);
    assert_string_equal(w.waits[WALL_THROTTLED].frames, "main;serve;hash;[throttled]");
    assert_true(w.waits[WALL_THROTTLED].pct == 60);
    assert_null(w.waits[WALL_SLEEPING].frames);
    pod_wall_free(&w);
    /* a Pod without samples has no wall time */
    assert_int_equal(pod_wall_find(p, "uid-none", &w, err, sizeof(err)), 0);
    assert_int_equal(w.total, 0);
    pod_wall_free(&w);

    f.ev.rule = TRIGGER_THROTTLE;
    snprintf(f.ev.pod_uid, sizeof(f.ev.pod_uid), "uid-held");
    for (int i = 0; i < 3; i++) {
        snprintf(f.pods[i].cpu.uid, sizeof(f.pods[i].cpu.uid), "%s", uids[i]);
        snprintf(f.pods[i].ns, sizeof(f.pods[i].ns), "shop");
        snprintf(f.pods[i].name, sizeof(f.pods[i].name), "%s", uids[i] + 4);
    }
    snprintf(dir, sizeof(dir), "%s/findings", tmp);
    assert_int_equal(finding_write(&f, p, dir, id, sizeof(id), err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "%s/%s/finding.json", dir, id);
    assert_non_null(j = json_load_file(path, 0, NULL));
    assert_string_equal(pod_verdict(j, 0), "code");
    assert_string_equal(pod_verdict(j, 1), "environment");
    assert_string_equal(pod_verdict(j, 2), "waits");
    assert_true(json_real_value(json_object_get(
                    json_object_get(json_array_get(json_object_get(j, "pods"), 1), "wall"),
                    "throttled")) == 60);
    json_decref(j);
    md_first_line(dir, id, line, sizeof(line));
    assert_non_null(strstr(line, "**The environment is slow:** shop/held"));
    assert_non_null(strstr(line, "throttled by its CPU limit 60%"));
    assert_non_null(strstr(line, "`hash`"));
    assert_non_null(strstr(line, "raise its CPU limit"));

    /* the waiting Pod as the subject: where it waits, its code not the kernel's */
    snprintf(f.ev.pod_uid, sizeof(f.ev.pod_uid), "uid-wait");
    f.ev.at_ns += 1000000000;
    assert_int_equal(finding_write(&f, p, dir, id, sizeof(id), err, sizeof(err)), 0);
    md_first_line(dir, id, line, sizeof(line));
    assert_non_null(strstr(line, "**It waits on something:** shop/wait"));
    assert_non_null(strstr(line, "most in `take_lock`"));
    pf_profile_free(p);
    snprintf(path, sizeof(path), "rm -rf '%s'", tmp);
    assert_int_equal(system(path), 0);
}

/* Frame names are other people's bytes: a backtick, a '|', raw HTML,
 * terminal escapes and invalid UTF-8 in the hottest function must reach
 * finding.json whole (U+FFFD for the bad bytes, not dropped) and
 * finding.md inert; the files are root's alone. */
static void test_finding_hostile_names(void **state)
{
    static const char evil[] = "ev`il|<b>x</b>\x1b[2J\x07\xff\xfe";
    const char *const hot[] = {"main", evil};
    char tmp[] = "/tmp/podflame-finding.XXXXXX", dir[64], id[256], err[256], path[512], *md;
    struct finding f = {.node = "node-1", .ncpus = 2, .npods = 1, .capture_hz = 99, .capture_s = 1};
    struct pf_profile *p;
    json_t *j, *name;
    struct stat st;
    size_t mdlen;
    FILE *in;

    (void)state;
    assert_non_null(mkdtemp(tmp));
    assert_int_equal(pf_profile_new(&p), 0);
    assert_int_equal(pf_profile_set_cpu_types(p, 1000), 0);
    add(p, "uid-a", hot, 2, 90);
    f.ev.rule = TRIGGER_POD_LIMIT;
    snprintf(f.ev.pod_uid, sizeof(f.ev.pod_uid), "uid-a");
    snprintf(f.pods[0].cpu.uid, sizeof(f.pods[0].cpu.uid), "uid-a");
    snprintf(f.pods[0].ns, sizeof(f.pods[0].ns), "shop");
    snprintf(f.pods[0].name, sizeof(f.pods[0].name), "checkout-0");
    snprintf(dir, sizeof(dir), "%s/findings", tmp);
    assert_int_equal(finding_write(&f, p, dir, id, sizeof(id), err, sizeof(err)), 0);

    snprintf(path, sizeof(path), "%s/%s/finding.json", dir, id);
    assert_non_null(j = json_load_file(path, 0, NULL));
    name = json_object_get(
        json_array_get(
            json_object_get(json_array_get(json_object_get(j, "pods"), 0), "hot_functions"), 0),
        "name");
    assert_non_null(name);
    assert_string_equal(json_string_value(name),
                        "ev`il|<b>x</b>\x1b[2J\x07\xef\xbf\xbd\xef\xbf\xbd");
    json_decref(j);

    snprintf(path, sizeof(path), "%s/%s/finding.md", dir, id);
    assert_non_null(in = fopen(path, "r"));
    md = calloc(1, 65536);
    mdlen = fread(md, 1, 65535, in);
    fclose(in);
    assert_true(mdlen > 0);
    assert_null(memchr(md, 0x1b, mdlen));
    assert_null(memchr(md, 0x07, mdlen));
    /* in the table: a two-backtick span with the pipe escaped */
    assert_non_null(strstr(md, "| `` ev`il\\|<b>x</b>\\x1b[2J\\x07\xef\xbf\xbd\xef\xbf\xbd `` |"));
    free(md);

    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    snprintf(path, sizeof(path), "%s/%s", dir, id);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    for (int i = 0; i < 4; i++) {
        static const char *const files[] = {"finding.json", "finding.md", "capture.pb.gz",
                                            "capture.svg"};

        snprintf(path, sizeof(path), "%s/%s/%s", dir, id, files[i]);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
    }
    pf_profile_free(p);
    snprintf(path, sizeof(path), "rm -rf '%s'", tmp);
    assert_int_equal(system(path), 0);
}

/* The directory of the recorded data next to this file: tests/fixtures/watch. */
static void fixture_path(const char *name, char *out, size_t len)
{
    const char *src = __FILE__, *slash = strrchr(src, '/');

    snprintf(out, len, "%.*s/../fixtures/watch/%s", slash ? (int)(slash - src) : 1,
             slash ? src : ".", name);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *in = fopen(path, "r");
    char *s = calloc(1, 1 << 20);

    assert_non_null(in);
    assert_non_null(s);
    *len = fread(s, 1, (1 << 20) - 1, in);
    fclose(in);
    return s;
}

/* finding.json and finding.md of a fixed finding are what
 * tests/fixtures/watch/ holds, byte for byte: a throttled Pod with hot
 * spots, a second Pod the node does not name, without a limit or samples,
 * a timeline longer than either file shows. PODFLAME_WRITE_FIXTURES=1
 * rewrites the fixtures instead (review the diff). */
static void test_finding_golden(void **state)
{
    static const char *const hot[] = {"main", "serve", "parse", "hash"};
    static const char *const warm[] = {"main", "serve", "render"};
    static const char *const files[] = {"finding.json", "finding.md"};
    char tmp[] = "/tmp/podflame-golden.XXXXXX", id[256], err[256], path[1024], want[1024];
    struct finding *f = calloc(1, sizeof(*f));
    struct pf_profile *p;

    (void)state;
    assert_non_null(f);
    assert_non_null(mkdtemp(tmp));
    assert_int_equal(pf_profile_new(&p), 0);
    assert_int_equal(pf_profile_set_cpu_types(p, 1000), 0);
    add(p, "uid-a", hot, 4, 75);
    add(p, "uid-a", warm, 3, 25);
    f->ev = (struct trigger_event){.rule = TRIGGER_THROTTLE,
                                   .pod_uid = "uid-a",
                                   .value = 62.5,
                                   .threshold = 25,
                                   .since_ns = 1700000000LL * 1000000000LL,
                                   .at_ns = 1700000015LL * 1000000000LL};
    snprintf(f->reason, sizeof(f->reason), "%s", "");
    f->node = "node-7";
    f->nnode = 130;
    for (size_t i = 0; i < f->nnode; i++)
        f->node_cpu[i] = (double)(i * 7 % 101);
    f->node_newest_ns = f->ev.at_ns;
    f->ncpus = 4;
    f->npods = 2;
    f->pods[0].cpu = (struct pod_cpu){.uid = "uid-a",
                                      .path = "/kubepods.slice/pod-a",
                                      .cgroup_id = 11,
                                      .cpu_pct = 49.5,
                                      .limit_cpus = 0.5,
                                      .throttled_pct = 62.5,
                                      .psi = 3.25};
    snprintf(f->pods[0].ns, sizeof(f->pods[0].ns), "shop");
    snprintf(f->pods[0].name, sizeof(f->pods[0].name), "checkout-0");
    f->pods[1].cpu = (struct pod_cpu){
        .uid = "uid-b", .path = "/kubepods.slice/pod-b", .cpu_pct = 3.25, .psi = -1};
    f->capture_hz = 199;
    f->capture_s = 20.25;
    assert_int_equal(finding_write(f, p, tmp, id, sizeof(id), err, sizeof(err)), 0);
    assert_string_equal(id, "20231114T221335Z-throttle-checkout-0");
    for (size_t i = 0; i < 2; i++) {
        char *got, *exp;
        size_t glen, elen;

        snprintf(path, sizeof(path), "%s/%s/%s", tmp, id, files[i]);
        fixture_path(files[i], want, sizeof(want));
        got = slurp(path, &glen);
        if (getenv("PODFLAME_WRITE_FIXTURES")) {
            FILE *out = fopen(want, "w");

            assert_non_null(out);
            assert_int_equal(fwrite(got, 1, glen, out), glen);
            fclose(out);
        }
        exp = slurp(want, &elen);
        if (glen != elen || memcmp(got, exp, glen))
            fail_msg("%s differs from %s", path, want);
        free(got);
        free(exp);
    }
    pf_profile_free(p);
    free(f);
    snprintf(path, sizeof(path), "rm -rf '%s'", tmp);
    assert_int_equal(system(path), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proc_stat),
        cmocka_unit_test(test_cgroup_files),
        cmocka_unit_test(test_hotspots),
        cmocka_unit_test(test_http_bad_requests),
        cmocka_unit_test(test_finding_hostile_names),
        cmocka_unit_test(test_wall_verdicts),
        cmocka_unit_test(test_finding_golden),
        cmocka_unit_test(test_gone_cgroup),
        cmocka_unit_test(test_tick_reader),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
