/*
 * The option tables: every command takes every option of its groups, the
 * same way; the drifts issue 17 found cannot come back; the agent's
 * layering (file < environment < command line) and --check-config.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "profiler/opts.h"

#define MAX_ARGV 400

struct argv_buf {
    char *v[MAX_ARGV];
    int n;
};

static void push(struct argv_buf *a, const char *fmt, ...)
{
    va_list ap;
    char *s;

    assert_true(a->n < MAX_ARGV - 1);
    va_start(ap, fmt);
    assert_true(vasprintf(&s, fmt, ap) >= 0);
    va_end(ap);
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

static void argv_free(struct argv_buf *a)
{
    for (int i = 0; i < a->n; i++)
        free(a->v[i]);
    a->n = 0;
}

/* What parse() gave opts_parse: settings borrow it until the test ends. */
static struct argv_buf held[64];
static int nheld;

static int release(void **state)
{
    (void)state;
    for (int i = 0; i < nheld; i++)
        argv_free(&held[i]);
    nheld = 0;
    return 0;
}

/* Parses NULL-terminated arguments for c; returns opts_parse's result. */
static int parse(const struct opt_command *c, struct settings *s, char *err, size_t errlen, ...)
{
    struct argv_buf *a = &held[nheld++];
    va_list ap;
    const char *arg;

    assert_true(nheld <= 64);
    push(a, "podflame %s", c->name);
    va_start(ap, errlen);
    while ((arg = va_arg(ap, const char *)))
        push(a, "%s", arg);
    va_end(ap);
    err[0] = '\0';
    return opts_parse(c, a->n, a->v, s, err, errlen);
}

static char *print_to_string(const struct opt_command *c, const struct settings *s)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    assert_non_null(f);
    opts_print(c, s, f);
    fclose(f);
    return text;
}

/* Every option of every group a command takes, given at once with its
 * example value, is accepted; and each appears in its --help. */
static void test_every_command_takes_its_groups(void **state)
{
    (void)state;
    for (const struct opt_command *const *c = opt_commands; *c; c++) {
        struct argv_buf a = {0};
        struct settings *s = calloc(1, sizeof(*s));
        char err[512] = "", *help = NULL;
        size_t hlen = 0;
        FILE *hf = open_memstream(&help, &hlen);
        size_t count = 0;

        assert_non_null(s);
        opts_help(*c, hf);
        fclose(hf);
        push(&a, "podflame %s", (*c)->name);
        for (const struct opt_group *const *g = (*c)->groups; *g; g++) {
            for (size_t i = 0; i < (*g)->n; i++) {
                const struct opt *o = &(*g)->opts[i];
                char needle[80];

                snprintf(needle, sizeof(needle), "--%s", o->name);
                if (!strstr(help, needle))
                    fail_msg("podflame %s --help does not mention %s", (*c)->name, needle);
                if (!strcmp(o->name, "tls-cert") || !strcmp(o->name, "tls-key"))
                    push(&a, "--%s=/tmp/%s.pem", o->name, o->name);
                else if (!o->example)
                    fail_msg("--%s has no example value", o->name);
                else if (o->short_name && i % 2)
                    push(&a, "-%c%s", o->short_name, o->example); /* -F49 */
                else
                    push(&a, "--%s=%s", o->name, o->example);
                count++;
            }
        }
        if (opts_parse(*c, a.n, a.v, s, err, sizeof(err)) != 0)
            fail_msg("podflame %s with every option of its groups: %s", (*c)->name, err);
        assert_true(count > 3);
        opts_free(s);
        free(s);
        free(help);
        argv_free(&a);
    }
}

static bool takes_group(const struct opt_command *c, const struct opt_group *g)
{
    for (const struct opt_group *const *p = c->groups; *p; p++)
        if (*p == g)
            return true;
    return false;
}

/* An option shared by two commands is one entry of one group: the drift
 * of issue 17 (ranges, optional values, limits differing between record
 * and agent) cannot happen. The agent's --output (a URL) is record's -o
 * (a file) only in name. */
static bool same_name_only(const char *name)
{
    /* query's selectors are globs over the labels stored in windows, not
     * live filters of what is sampled; the agent's --label adds a label;
     * query's --top is a table's length, the watcher's the Pods captured */
    static const char *const names[] = {"output", "namespace", "pod", "container", "label", "top"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(name, names[i]))
            return true;
    return false;
}

static void test_one_entry_per_name(void **state)
{
    const struct opt *seen[512];
    size_t nseen = 0;

    (void)state;
    for (const struct opt_command *const *c = opt_commands; *c; c++)
        for (const struct opt_group *const *g = (*c)->groups; *g; g++)
            for (size_t i = 0; i < (*g)->n; i++) {
                const struct opt *o = &(*g)->opts[i];
                size_t j;

                for (j = 0; j < nseen && strcmp(seen[j]->name, o->name) != 0; j++)
                    ;
                if (j == nseen) {
                    assert_true(nseen < 512);
                    seen[nseen++] = o;
                } else if (seen[j] != o && !same_name_only(o->name)) {
                    fail_msg("--%s is described twice", o->name);
                }
            }
    assert_true(nseen > 40);
}

static void test_drifts_of_issue_17(void **state)
{
    const struct opt_command *sampling[] = {&opt_cmd_record, &opt_cmd_agent, &opt_cmd_top};
    struct settings s;
    char err[512];

    (void)state;
    /* the agent takes --debuginfod-timeout */
    assert_int_equal(parse(&opt_cmd_agent, &s, err, sizeof(err), "--debuginfod-timeout", "7", NULL),
                     0);
    assert_int_equal(s.ses.sym.debuginfod_timeout_s, 7);
    opts_free(&s);
    for (size_t i = 0; i < 3; i++) {
        /* -F: one range everywhere */
        assert_int_equal(parse(sampling[i], &s, err, sizeof(err), "-F", "1000000", NULL), 0);
        assert_int_equal(s.ses.freq, 1000000);
        opts_free(&s);
        assert_int_equal(parse(sampling[i], &s, err, sizeof(err), "-F", "1000001", NULL), -EINVAL);
        assert_non_null(strstr(err, "--freq takes 1 to 1000000 Hz"));
        opts_free(&s);
        /* flags take an optional value everywhere */
        assert_int_equal(parse(sampling[i], &s, err, sizeof(err), "--kube-api=false",
                               "--no-kernel=yes", "--no-demangle=1", NULL),
                         0);
        assert_false(s.ses.kube_api);
        assert_false(s.ses.kernel);
        assert_true(s.ses.sym.no_demangle);
        opts_free(&s);
        assert_int_equal(parse(sampling[i], &s, err, sizeof(err), "--no-kernel=maybe", NULL),
                         -EINVAL);
        opts_free(&s);
    }
}

/* The agent used to drop the 65th --pod silently; every command says so. */
static void test_list_limits_are_errors(void **state)
{
    struct argv_buf a = {0};
    struct settings s;
    char err[512];

    (void)state;
    push(&a, "podflame agent");
    for (int i = 0; i <= KUBE_SELECTOR_MAX; i++)
        push(&a, "--pod=p%d", i);
    assert_int_equal(opts_parse(&opt_cmd_agent, a.n, a.v, &s, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "--pod: at most 64"));
    opts_free(&s);
    argv_free(&a);
    assert_int_equal(parse(&opt_cmd_agent, &s, err, sizeof(err), "--label", "novalue", NULL),
                     -EINVAL);
    assert_non_null(strstr(err, "KEY=VALUE"));
    opts_free(&s);
    assert_int_equal(parse(&opt_cmd_record, &s, err, sizeof(err), "-p", "1,2,x", NULL), -EINVAL);
    opts_free(&s);
    assert_int_equal(parse(&opt_cmd_record, &s, err, sizeof(err), "-p", "1,2", "-p", "3", NULL), 0);
    assert_int_equal(s.npids, 3);
    assert_int_equal(s.ses.npids, 3);
    assert_int_equal(s.ses.pids[2], 3);
    opts_free(&s);
}

static void test_defaults_per_command(void **state)
{
    struct settings s;
    char err[512];

    (void)state;
    assert_int_equal(parse(&opt_cmd_record, &s, err, sizeof(err), NULL), 0);
    assert_int_equal(s.ses.freq, 99);
    assert_true(s.ses.kernel);
    assert_string_equal(s.output, "podflame.svg");
    assert_int_equal(s.ses.unwind, PF_UNWIND_MODE_AUTO);
    opts_free(&s);
    assert_int_equal(parse(&opt_cmd_agent, &s, err, sizeof(err), NULL), 0);
    assert_int_equal(s.ses.freq, 19);
    assert_string_equal(s.output, "file:///var/lib/podflame/profiles");
    assert_string_equal(s.agent.up.url, s.output);
    assert_string_equal(s.watch.findings_dir, "/var/lib/podflame/findings");
    assert_int_equal(s.agent.spool_max, 256ULL << 20);
    assert_int_equal(s.agent.up.s3_path_style, -1);
    opts_free(&s);
    assert_int_equal(parse(&opt_cmd_watch, &s, err, sizeof(err), NULL), 0);
    assert_string_equal(s.watch.findings_dir, "findings");
    assert_string_equal(s.listen, "127.0.0.1:9740");
    opts_free(&s);
    /* an option of a group the command does not take is refused */
    assert_int_equal(parse(&opt_cmd_watch, &s, err, sizeof(err), "-F", "99", NULL), -EINVAL);
    assert_non_null(strstr(err, "unrecognized option"));
    opts_free(&s);
    assert_int_equal(parse(&opt_cmd_record, &s, err, sizeof(err), "--interval=5", NULL), -EINVAL);
    opts_free(&s);
    assert_int_equal(parse(&opt_cmd_record, &s, err, sizeof(err), "--help", NULL), 1);
    opts_free(&s);
}

static char *write_temp(const char *text)
{
    static char path[] = "/tmp/podflame-opts-XXXXXX";
    char *p = strdup(path);
    int fd = mkstemp(p);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return p;
}

/* file < environment < command line, a list from a later source replacing
 * an earlier one's; --check-config's output read back gives itself. */
static void test_agent_layering(void **state)
{
    char *conf = write_temp("# a comment\n"
                            "interval = 30\n"
                            "freq = 29\n"
                            "label = from=file\n"
                            "label = also=file\n"
                            "pod = \"quoted-pod\"\n"
                            "no-kernel\n"
                            "spool-max-bytes = 1G\n");
    struct settings s;
    char err[512], cfg[300], *printed, *again, *copy;

    (void)state;
    snprintf(cfg, sizeof(cfg), "--config=%s", conf);
    setenv("PODFLAME_FREQ", "39", 1);
    setenv("PODFLAME_KUBE_CGROUP_ROOT", "/not-a-setting", 1);
    assert_int_equal(parse(&opt_cmd_agent, &s, err, sizeof(err), cfg, "--label", "from=argv", NULL),
                     0);
    assert_int_equal(s.agent.interval, 30); /* the file */
    assert_int_equal(s.ses.freq, 39);       /* the environment over the file */
    assert_int_equal(s.agent.nlabels, 1);   /* argv's list replaces the file's */
    assert_string_equal(s.agent.labels[0], "from=argv");
    assert_int_equal(s.pods.npods, 1);
    assert_string_equal(s.pods.pods[0], "quoted-pod");
    assert_false(s.ses.kernel);
    assert_int_equal(s.agent.spool_max, 1ULL << 30);
    printed = print_to_string(&opt_cmd_agent, &s);
    opts_free(&s);
    unsetenv("PODFLAME_FREQ");
    unsetenv("PODFLAME_KUBE_CGROUP_ROOT");
    /* the printed settings, read back as a file, print the same */
    copy = write_temp(printed);
    snprintf(cfg, sizeof(cfg), "--config=%s", copy);
    assert_int_equal(parse(&opt_cmd_agent, &s, err, sizeof(err), cfg, NULL), 0);
    again = print_to_string(&opt_cmd_agent, &s);
    assert_string_equal(printed, again);
    assert_non_null(strstr(printed, "freq = 39\n"));
    assert_non_null(strstr(printed, "no-kernel = true\n"));
    opts_free(&s);
    unlink(copy);
    unlink(conf);
    free(copy);
    free(conf);
    free(printed);
    free(again);
}

static void test_config_errors(void **state)
{
    char *conf = write_temp("interval = 30\nintervall = 5\n");
    struct settings s;
    char err[512], cfg[300];

    (void)state;
    snprintf(cfg, sizeof(cfg), "--config=%s", conf);
    assert_int_equal(parse(&opt_cmd_agent, &s, err, sizeof(err), cfg, NULL), -EINVAL);
    assert_non_null(strstr(err, ":2: unknown setting 'intervall'"));
    opts_free(&s);
    unlink(conf);
    free(conf);
    /* help and check-config are no settings */
    conf = write_temp("help\n");
    snprintf(cfg, sizeof(cfg), "--config=%s", conf);
    assert_int_equal(parse(&opt_cmd_agent, &s, err, sizeof(err), cfg, NULL), -EINVAL);
    opts_free(&s);
    unlink(conf);
    free(conf);
    assert_int_equal(parse(&opt_cmd_agent, &s, err, sizeof(err), "--config=/nonexistent/x", NULL),
                     -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/x"));
    opts_free(&s);
    assert_int_equal(parse(&opt_cmd_agent, &s, err, sizeof(err), "--tls-cert=/a", NULL), -EINVAL);
    assert_non_null(strstr(err, "--tls-key"));
    opts_free(&s);
    assert_int_equal(parse(&opt_cmd_agent, &s, err, sizeof(err), "--interval", NULL), -EINVAL);
    assert_non_null(strstr(err, "needs a value"));
    opts_free(&s);
    assert_int_equal(parse(&opt_cmd_agent, &s, err, sizeof(err), "stray", NULL), -EINVAL);
    assert_non_null(strstr(err, "unexpected argument 'stray'"));
    opts_free(&s);
}

/* The watcher's rules, the same in watch and agent. */
static void test_watcher_options(void **state)
{
    const struct opt_command *cmds[] = {&opt_cmd_watch, &opt_cmd_agent};
    struct settings s;
    char err[512];

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(parse(cmds[i], &s, err, sizeof(err), "--node-cpu=85", "--pod-limit=150",
                               "--cooldown=0", "--top=5", NULL),
                         0);
        assert_true(s.watch.rules.node_cpu == 85);
        assert_true(s.watch.rules.pod_limit == 150);
        assert_int_equal(s.watch.rules.cooldown, 0);
        assert_int_equal(s.watch.top, 5);
        opts_free(&s);
        assert_int_equal(parse(cmds[i], &s, err, sizeof(err), "--throttle=101", NULL), -EINVAL);
        opts_free(&s);
        assert_int_equal(parse(cmds[i], &s, err, sizeof(err), "--sustain=0", NULL), -EINVAL);
        opts_free(&s);
        assert_int_equal(parse(cmds[i], &s, err, sizeof(err), "--capture-hz=abc", NULL), -EINVAL);
        opts_free(&s);
        assert_int_equal(parse(cmds[i], &s, err, sizeof(err), "--top=17", NULL), -EINVAL);
        opts_free(&s);
    }
}

/* The kubelet's --cgroup-root as an option, in every command that names
 * Pods: cgroups under it are Pods', as at the top of the hierarchy. */
static void test_kube_cgroup_root(void **state)
{
    const char *path = "/node-a/kubepods.slice/kubepods-besteffort.slice/"
                       "kubepods-besteffort-pod2ca4a155_3599_498d_bb9d_4446693fa3ea.slice";
    struct cgroup_identity id;
    struct settings s;
    char err[512];

    (void)state;
    kube_set_cgroup_roots("");
    kube_parse_cgroup(path, &id);
    assert_false(id.is_pod);
    for (const struct opt_command *const *c = opt_commands; *c; c++) {
        if (!takes_group(*c, &opt_group_names))
            continue; /* query, compact: no Pods of this node */
        kube_set_cgroup_roots("");
        assert_int_equal(parse(*c, &s, err, sizeof(err), "--kube-cgroup-root=/node-a", NULL), 0);
        kube_parse_cgroup(path, &id);
        assert_true(id.is_pod);
        assert_string_equal(id.pod_uid, "2ca4a155-3599-498d-bb9d-4446693fa3ea");
        opts_free(&s);
    }
    kube_set_cgroup_roots("");
}

static void test_record_operands(void **state)
{
    struct settings s;
    char err[512];

    (void)state;
    assert_int_equal(
        parse(&opt_cmd_record, &s, err, sizeof(err), "-d", "2", "--", "make", "-j2", NULL), 0);
    assert_int_equal(s.noperands, 2);
    assert_string_equal(s.operands[0], "make");
    assert_string_equal(s.operands[1], "-j2");
    assert_true(s.duration > 1.99 && s.duration < 2.01);
    opts_free(&s);
    assert_int_equal(parse(&opt_cmd_record, &s, err, sizeof(err), "-d", "0", NULL), -EINVAL);
    opts_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_every_command_takes_its_groups, release),
        cmocka_unit_test_teardown(test_one_entry_per_name, release),
        cmocka_unit_test_teardown(test_drifts_of_issue_17, release),
        cmocka_unit_test_teardown(test_list_limits_are_errors, release),
        cmocka_unit_test_teardown(test_defaults_per_command, release),
        cmocka_unit_test_teardown(test_agent_layering, release),
        cmocka_unit_test_teardown(test_config_errors, release),
        cmocka_unit_test_teardown(test_watcher_options, release),
        cmocka_unit_test_teardown(test_kube_cgroup_root, release),
        cmocka_unit_test_teardown(test_record_operands, release),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
