/*
 * opts: the parser, --help and --check-config that every command's option
 * table drives (the tables are in options.c).
 */
#include "profiler/opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_OPTS   160  /* options of one command, over all its groups */
#define MAX_ARGS   1024 /* arguments from the file, the environment and argv */
#define HELP_WIDTH 80
#define HELP_COL   29 /* where the help text of an option starts */

/* The config actions every layered command takes, and help for all. */
static const struct opt action_help = {
    .name = "help", .short_name = 'h', .kind = OPT_ACTION, .help = "this help"};
static const struct opt action_config = {
    .name = "config",
    .kind = OPT_ACTION,
    .metavar = "FILE",
    .help = "settings file: one 'name = value' a line, names as the long options', "
            "# comments (also PODFLAME_CONFIG)"};
static const struct opt action_check = {
    .name = "check-config",
    .kind = OPT_ACTION,
    .help = "read the settings, print them in the config file's format, exit (0: valid)"};

/* ---- values ---- */

int opt_uint(const char *name, const char *s, unsigned long lo, unsigned long hi, const char *unit,
             unsigned long *out, char *err, size_t errlen)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || s[0] == '+' || v < lo || v > hi) {
        snprintf(err, errlen, "--%s takes %lu to %lu%s%s, not '%s'", name, lo, hi, *unit ? " " : "",
                 unit, s);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

static int parse_bool(const char *name, const char *s, bool *out, char *err, size_t errlen)
{
    if (!s || !strcmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes") ||
        !strcasecmp(s, "on"))
        *out = true;
    else if (!strcmp(s, "0") || !strcasecmp(s, "false") || !strcasecmp(s, "no") ||
             !strcasecmp(s, "off"))
        *out = false;
    else {
        snprintf(err, errlen, "--%s=%s: give true or false", name, s);
        return -EINVAL;
    }
    return 0;
}

static int parse_double(const struct opt *o, const char *s, double *out, char *err, size_t errlen)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= o->lo && v <= o->hi)) {
        snprintf(err, errlen, "--%s takes %g to %g%s%s, not '%s'", o->name, o->lo, o->hi,
                 o->unit ? " " : "", o->unit ? o->unit : "", s);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

static int parse_bytes(const struct opt *o, const char *s, uint64_t *out, char *err, size_t errlen)
{
    char *end;
    unsigned long long v;
    uint64_t mul = 1;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (!errno && end != s && s[0] != '-') {
        if (*end == 'K' || *end == 'k')
            mul = 1ULL << 10;
        else if (*end == 'M' || *end == 'm')
            mul = 1ULL << 20;
        else if (*end == 'G' || *end == 'g')
            mul = 1ULL << 30;
        if (mul > 1)
            end++;
        if (*end == 'i' && end[1] == 'B')
            end += 2;
        else if (*end == 'B')
            end++;
        if (!*end && v <= UINT64_MAX / mul && v * mul >= (uint64_t)o->lo) {
            *out = v * mul;
            return 0;
        }
    }
    snprintf(err, errlen, "--%s takes bytes (at least %llu), with K, M or G, e.g. 256M; not '%s'",
             o->name, (unsigned long long)o->lo, s);
    return -EINVAL;
}

static void *field(struct settings *s, size_t off)
{
    return (char *)s + off;
}

static const void *cfield(const struct settings *s, size_t off)
{
    return (const char *)s + off;
}

/* Sets one option from its argument (NULL: a flag given alone). */
static int set_value(const struct opt *o, struct settings *s, const char *arg, char *err,
                     size_t errlen)
{
    unsigned long v;
    bool b;
    int rc;

    if (o->kind == OPT_FLAG) {
        if ((rc = parse_bool(o->name, arg, &b, err, errlen)))
            return rc;
        *(bool *)field(s, o->field) = b != o->invert;
        return 0;
    }
    if (!arg || !*arg) {
        snprintf(err, errlen, "--%s needs a value", o->name);
        return -EINVAL;
    }
    switch (o->kind) {
    case OPT_UINT:
    case OPT_ULONG:
        if ((rc = opt_uint(o->name, arg, (unsigned long)o->lo, (unsigned long)o->hi,
                           o->unit ? o->unit : "", &v, err, errlen)))
            return rc;
        if (o->kind == OPT_UINT)
            *(unsigned *)field(s, o->field) = (unsigned)v;
        else
            *(unsigned long *)field(s, o->field) = v;
        return 0;
    case OPT_DOUBLE:
        return parse_double(o, arg, (double *)field(s, o->field), err, errlen);
    case OPT_BYTES:
        return parse_bytes(o, arg, (uint64_t *)field(s, o->field), err, errlen);
    case OPT_STRING:
        *(const char **)field(s, o->field) = arg;
        return 0;
    case OPT_LIST: {
        size_t *n = field(s, o->count);

        if (*n >= o->max) {
            snprintf(err, errlen, "--%s: at most %u of them", o->name, o->max);
            return -EINVAL;
        }
        ((const char **)field(s, o->field))[(*n)++] = arg;
        return 0;
    }
    case OPT_CUSTOM:
        return o->parse(s, arg, err, errlen);
    default:
        return 0;
    }
}

static bool repeats(const struct opt *o)
{
    return o->kind == OPT_LIST || (o->kind == OPT_CUSTOM && o->repeat);
}

/* ---- a command's options ---- */

struct table {
    const struct opt *opt[MAX_OPTS];
    struct option longopts[MAX_OPTS + 1];
    char shortopts[2 * MAX_OPTS + 3];
    int owner[MAX_OPTS]; /* repeatable: the source its values came from */
    size_t n;
};

static int table_add(struct table *t, const struct opt *o, char *err, size_t errlen)
{
    size_t len = strlen(t->shortopts);
    int has_arg = o->kind == OPT_FLAG                    ? optional_argument
                  : o->kind == OPT_ACTION && !o->metavar ? no_argument
                                                         : required_argument;

    for (size_t i = 0; i < t->n; i++) {
        if (!strcmp(t->opt[i]->name, o->name)) {
            snprintf(err, errlen, "option table: --%s twice", o->name);
            return -EINVAL;
        }
    }
    if (t->n == MAX_OPTS) {
        snprintf(err, errlen, "option table: more than %d options", MAX_OPTS);
        return -E2BIG;
    }
    t->opt[t->n] = o;
    t->owner[t->n] = -1;
    t->longopts[t->n] = (struct option){o->name, has_arg, NULL, 0};
    if (o->short_name) {
        t->shortopts[len++] = o->short_name;
        if (has_arg == required_argument)
            t->shortopts[len++] = ':';
        t->shortopts[len] = '\0';
    }
    t->n++;
    return 0;
}

static int table_build(const struct opt_command *c, struct table *t, char *err, size_t errlen)
{
    int rc;

    memset(t, 0, sizeof(*t));
    /* stop at the first operand (record's COMMAND has options of its own),
     * unless the operands are plain arguments (query's URL) that may come
     * first; ':' for a missing argument */
    strcpy(t->shortopts, c->operands_anywhere ? ":" : "+:");
    for (const struct opt_group *const *g = c->groups; *g; g++)
        for (size_t i = 0; i < (*g)->n; i++)
            if ((rc = table_add(t, &(*g)->opts[i], err, errlen)))
                return rc;
    if (c->layered && ((rc = table_add(t, &action_config, err, errlen)) ||
                       (rc = table_add(t, &action_check, err, errlen))))
        return rc;
    return table_add(t, &action_help, err, errlen);
}

static const struct opt *table_find(const struct table *t, const char *name, size_t len)
{
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->opt[i]->name) == len && !strncmp(t->opt[i]->name, name, len))
            return t->opt[i];
    return NULL;
}

static size_t table_index(const struct table *t, const struct opt *o)
{
    size_t i = 0;

    while (i < t->n && t->opt[i] != o)
        i++;
    return i;
}

/* ---- the sources: defaults, the config file, the environment, argv ---- */

struct args {
    char *argv[MAX_ARGS];
    int argc;
    int env_start, cmd_start; /* where each source begins */
};

static int keep(struct settings *s, char *str)
{
    char **grown = realloc(s->owned, (s->nowned + 1) * sizeof(*grown));

    if (!grown) {
        free(str);
        return -ENOMEM;
    }
    s->owned = grown;
    s->owned[s->nowned++] = str;
    return 0;
}

static int args_push(struct args *a, char *str, char *err, size_t errlen)
{
    if (a->argc >= MAX_ARGS - 1) {
        snprintf(err, errlen, "more than %d settings and arguments", MAX_ARGS);
        return -E2BIG;
    }
    a->argv[a->argc++] = str;
    return 0;
}

/* "--name=value", or "--name" for a flag given alone, owned by s */
static int args_push_opt(struct args *a, struct settings *s, const char *name, size_t nlen,
                         const char *value, char *err, size_t errlen)
{
    char *str;
    int rc;

    if ((value ? asprintf(&str, "--%.*s=%s", (int)nlen, name, value)
               : asprintf(&str, "--%.*s", (int)nlen, name)) < 0 ||
        keep(s, str)) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    rc = args_push(a, str, err, errlen);
    return rc;
}

static char *trim(char *str)
{
    char *end;

    while (*str == ' ' || *str == '\t')
        str++;
    end = str + strlen(str);
    while (end > str && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
        *--end = '\0';
    return str;
}

static bool file_setting(const struct opt *o)
{
    return o && o->kind != OPT_ACTION;
}

/* The config file: "name = value" lines, names as the long options. */
static int read_config(const struct table *t, const char *path, struct args *a, struct settings *s,
                       char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    char line[4096];
    int lineno = 0, rc = 0;

    if (!f) {
        snprintf(err, errlen, "--config %s: %s", path, strerror(errno));
        return -ENOENT;
    }
    while (!rc && fgets(line, sizeof(line), f)) {
        char *l = trim(line), *eq, *name, *value;

        lineno++;
        if (!*l || *l == '#')
            continue;
        if ((eq = strchr(l, '=')))
            *eq = '\0';
        name = trim(l);
        value = eq ? trim(eq + 1) : NULL;
        if (!file_setting(table_find(t, name, strlen(name)))) {
            snprintf(err, errlen, "%s:%d: unknown setting '%.64s' (see --help)", path, lineno,
                     name);
            rc = -EINVAL;
            break;
        }
        if (value && value[0] == '"' && value[1] && value[strlen(value) - 1] == '"') {
            value[strlen(value) - 1] = '\0';
            value++;
        }
        rc = args_push_opt(a, s, name, strlen(name), value, err, errlen);
    }
    fclose(f);
    return rc;
}

/* PODFLAME_SPOOL_MAX_BYTES=1G -> --spool-max-bytes=1G. Other PODFLAME_
 * variables (PODFLAME_KUBE_SA_DIR, PODFLAME_NODE_TOOLS, ...) are not settings: left alone. */
static int read_env(const struct table *t, struct args *a, struct settings *s, char *err,
                    size_t errlen)
{
    extern char **environ;

    for (char **e = environ; *e; e++) {
        char name[128];
        const char *eq = strchr(*e, '='), *k = *e + 9;
        size_t n;
        int rc;

        if (strncmp(*e, "PODFLAME_", 9) != 0 || !eq || (n = (size_t)(eq - k)) >= sizeof(name))
            continue;
        for (size_t i = 0; i < n; i++)
            name[i] = k[i] == '_' ? '-' : (char)(k[i] >= 'A' && k[i] <= 'Z' ? k[i] + 32 : k[i]);
        name[n] = '\0';
        if (!file_setting(table_find(t, name, n)))
            continue;
        if ((rc = args_push_opt(a, s, name, n, eq + 1, err, errlen)))
            return rc;
    }
    return 0;
}

/* --config and --help are looked for before anything is parsed: the file
 * comes first, and help is help even after a bad option. */
static void prescan(int argc, char **argv, const char **config, bool *help)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            *config = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9))
            *config = argv[i] + 9;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            *help = true;
    }
}

static int gather(const struct opt_command *c, const struct table *t, int argc, char **argv,
                  struct args *a, struct settings *s, char *err, size_t errlen)
{
    const char *config = c->layered ? getenv("PODFLAME_CONFIG") : NULL;
    bool help = false;
    int rc;

    prescan(argc, argv, &config, &help);
    if (help)
        return 1;
    if ((rc = args_push(a, argv[0], err, errlen)))
        return rc;
    if (c->layered && config && *config) {
        if ((rc = read_config(t, config, a, s, err, errlen)))
            return rc;
    }
    a->env_start = a->argc;
    if (c->layered && (rc = read_env(t, a, s, err, errlen)))
        return rc;
    a->cmd_start = a->argc;
    for (int i = 1; i < argc; i++)
        if ((rc = args_push(a, argv[i], err, errlen)))
            return rc;
    return 0;
}

/* ---- parsing ---- */

static int set_defaults(const struct opt_command *c, const struct table *t, struct settings *s,
                        char *err, size_t errlen)
{
    int rc;

    session_opts_default(&s->ses, 0, NULL);
    watch_opts_default(&s->watch, NULL);
    for (size_t i = 0; i < t->n; i++)
        if (t->opt[i]->deflt && (rc = set_value(t->opt[i], s, t->opt[i]->deflt, err, errlen)))
            return rc;
    for (const struct opt_default *d = c->defaults; d && d->name; d++) {
        const struct opt *o = table_find(t, d->name, strlen(d->name));

        if (!o) {
            snprintf(err, errlen, "option table: %s's default for --%s, which it does not take",
                     c->name, d->name);
            return -EINVAL;
        }
        if ((rc = set_value(o, s, d->value, err, errlen)))
            return rc;
    }
    return 0;
}

static int unknown(const struct args *a, int c, char *err, size_t errlen)
{
    const char *arg = a->argv[optind - 1];

    if (c == ':')
        snprintf(err, errlen, "option '%.64s' needs a value", arg);
    else if (optopt && arg[0] == '-' && arg[1] != '-')
        snprintf(err, errlen, "unrecognized option '-%c'", optopt);
    else
        snprintf(err, errlen, "unrecognized option '%.64s'", arg);
    return -EINVAL;
}

/* Parses the gathered arguments; t's owner[] follows which source each
 * list came from. */
static int parse_args(struct table *t, struct args *a, struct settings *s, char *err, size_t errlen)
{
    int c, li = -1, rc;

    optind = 0; /* 0: glibc starts over, whatever the last parse left */
    opterr = 0;
    while ((c = getopt_long(a->argc, a->argv, t->shortopts, t->longopts, &li)) != -1) {
        /* the source of the option just parsed: 0 file, 1 environment, 2 argv */
        int src = optind - 1 < a->env_start ? 0 : optind - 1 < a->cmd_start ? 1 : 2;
        const struct opt *o = NULL;

        if (c == '?' || c == ':')
            return unknown(a, c, err, errlen);
        if (li >= 0)
            o = t->opt[li];
        for (size_t i = 0; !o && i < t->n; i++)
            if (t->opt[i]->short_name == c)
                o = t->opt[i];
        li = -1;
        if (!o)
            return unknown(a, '?', err, errlen);
        if (o == &action_check)
            s->check_config = true;
        if (o->kind == OPT_ACTION)
            continue; /* --config was read first; --help never gets here */
        if (repeats(o)) {
            size_t i = table_index(t, o);

            if (t->owner[i] != src) /* a list from a later source replaces it */
                *(size_t *)field(s, o->count) = 0;
            t->owner[i] = src;
        }
        if ((rc = set_value(o, s, optarg, err, errlen)))
            return rc;
    }
    return 0;
}

/* What the session and the watcher borrow from the settings. */
static int finish(struct settings *s, char *err, size_t errlen)
{
    if (s->agent.off_cpu)
        s->ses.event = SAMPLER_EVENT_WALL; /* the agent's windows of wall time */
    if (s->nstates && s->ses.event == SAMPLER_EVENT_CPU) {
        snprintf(err, errlen,
                 "--state picks classes of time off the CPU: add --event offcpu "
                 "or --event wall (agent: --off-cpu)");
        return -EINVAL;
    }
    s->ses.pids = s->pids;
    s->ses.npids = s->npids;
    s->ses.cgroups = s->cgroups;
    s->ses.ncgroups = s->ncgroups;
    s->ses.pods = &s->pods;
    s->ses.sym.debug_dirs = s->debug_dirs;
    s->watch.kubelet_log_dir = s->ses.kubelet_log_dir;
    s->watch.unwind = s->ses.unwind;
    s->watch.kube_api = s->ses.kube_api;
    s->watch.sym = s->ses.sym;
    s->bucket.url = s->output;
    s->agent.up = s->bucket;
    /* process-wide, like the kubelet's own --cgroup-root */
    if (s->kube_cgroup_root)
        kube_set_cgroup_roots(s->kube_cgroup_root);
    if (!s->http.tls_cert != !s->http.tls_key) {
        snprintf(err, errlen, "give both --tls-cert and --tls-key, or neither");
        return -EINVAL;
    }
    return 0;
}

int opts_parse(const struct opt_command *c, int argc, char **argv, struct settings *s, char *err,
               size_t errlen)
{
    struct table *t = malloc(sizeof(*t));
    struct args *a = calloc(1, sizeof(*a));
    int rc;

    memset(s, 0, sizeof(*s));
    if (!t || !a) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
    } else if (!(rc = table_build(c, t, err, errlen)) &&
               !(rc = set_defaults(c, t, s, err, errlen)) &&
               !(rc = gather(c, t, argc, argv, a, s, err, errlen)) &&
               !(rc = parse_args(t, a, s, err, errlen))) {
        if (optind < a->argc && !c->operands) {
            snprintf(err, errlen, "unexpected argument '%.64s'", a->argv[optind]);
            rc = -EINVAL;
        } else {
            /* operands are argv's own: the file and environment give none */
            s->operands = argv + (argc - (a->argc - optind));
            s->noperands = a->argc - optind;
            if (c->operands_anywhere) {
                /* getopt moved them to the end of a->argv, which is freed */
                if (s->noperands > OPTS_MAX_OPERANDS) {
                    snprintf(err, errlen, "more than %d arguments", OPTS_MAX_OPERANDS);
                    rc = -EINVAL;
                } else {
                    memcpy(s->operand_copy, a->argv + optind,
                           (size_t)s->noperands * sizeof(*s->operand_copy));
                    s->operands = s->operand_copy;
                }
            }
            rc = rc ? rc : finish(s, err, errlen);
        }
    }
    free(t);
    free(a);
    return rc;
}

void opts_free(struct settings *s)
{
    for (size_t i = 0; i < s->nowned; i++)
        free(s->owned[i]);
    free(s->owned);
    s->owned = NULL;
    s->nowned = 0;
}

int opts_exit(const struct opt_command *c, int rc, const char *err)
{
    if (rc == 1) {
        opts_help(c, stdout);
        return 0;
    }
    fprintf(stderr, "podflame %s: %s\n", c->name, err);
    if (rc == -EINVAL)
        fprintf(stderr, "(try 'podflame %s --help')\n", c->name);
    return 2;
}

/* ---- --help ---- */

static const char *default_of(const struct opt_command *c, const struct opt *o)
{
    for (const struct opt_default *d = c->defaults; d && d->name; d++)
        if (!strcmp(d->name, o->name))
            return d->value;
    return o->deflt;
}

/* Words of text from column col to HELP_WIDTH, continued at HELP_COL. */
static void wrap(FILE *out, const char *text, size_t col)
{
    while (*text) {
        size_t word = strcspn(text, " ");

        if (col > HELP_COL && col + 1 + word > HELP_WIDTH) {
            fprintf(out, "\n%*s", HELP_COL, "");
            col = HELP_COL;
        } else if (col > HELP_COL) {
            fputc(' ', out);
            col++;
        }
        fwrite(text, 1, word, out);
        col += word;
        text += word;
        while (*text == ' ')
            text++;
    }
    fputc('\n', out);
}

static void help_opt(const struct opt_command *c, const struct opt *o, FILE *out)
{
    const char *deflt = default_of(c, o);
    char head[96], text[1024];
    int n;

    /* a flag's default is off; a help that states its own default keeps it */
    if (o->kind == OPT_FLAG || strstr(o->help, "(default"))
        deflt = NULL;

    n = snprintf(head, sizeof(head), "  %c%c%s--%s%s%s%s", o->short_name ? '-' : ' ',
                 o->short_name ? o->short_name : ' ', o->short_name ? ", " : "  ", o->name,
                 o->metavar ? " " : "", o->metavar ? o->metavar : "", repeats(o) ? "..." : "");
    fputs(head, out);
    /* the text starts at HELP_COL, on the next line when the head is long */
    if (n >= HELP_COL - 1)
        fprintf(out, "\n%*s", HELP_COL, "");
    else
        fprintf(out, "%*s", HELP_COL - n, "");
    snprintf(text, sizeof(text), "%s%s%s%s", o->help, deflt ? " (default " : "", deflt ? deflt : "",
             deflt ? ")" : "");
    wrap(out, text, HELP_COL);
}

void opts_help(const struct opt_command *c, FILE *out)
{
    fprintf(out, "usage: podflame %s %s\n\n%s\n", c->name, c->usage, c->about);
    for (const struct opt_group *const *g = c->groups; *g; g++) {
        fprintf(out, "\n%s:\n", (*g)->title);
        for (size_t i = 0; i < (*g)->n; i++)
            help_opt(c, &(*g)->opts[i], out);
    }
    fprintf(out, "\n");
    if (c->layered) {
        help_opt(c, &action_config, out);
        help_opt(c, &action_check, out);
    }
    help_opt(c, &action_help, out);
    if (c->epilog)
        fprintf(out, "\n%s", c->epilog);
}

/* ---- --check-config ---- */

static void print_opt(const struct opt *o, const struct settings *s, FILE *out)
{
    const void *f = cfield(s, o->field);

    switch (o->kind) {
    case OPT_FLAG:
        fprintf(out, "%s = %s\n", o->name, *(const bool *)f != o->invert ? "true" : "false");
        break;
    case OPT_UINT:
        fprintf(out, "%s = %u\n", o->name, *(const unsigned *)f);
        break;
    case OPT_ULONG:
        fprintf(out, "%s = %lu\n", o->name, *(const unsigned long *)f);
        break;
    case OPT_DOUBLE:
        fprintf(out, "%s = %g\n", o->name, *(const double *)f);
        break;
    case OPT_BYTES:
        fprintf(out, "%s = %llu\n", o->name, (unsigned long long)*(const uint64_t *)f);
        break;
    case OPT_STRING:
        if (*(const char *const *)f)
            fprintf(out, "%s = %s\n", o->name, *(const char *const *)f);
        break;
    case OPT_LIST:
        for (size_t i = 0; i < *(const size_t *)cfield(s, o->count); i++)
            fprintf(out, "%s = %s\n", o->name, ((const char *const *)f)[i]);
        break;
    case OPT_CUSTOM:
        if (o->print)
            o->print(s, out);
        break;
    default:
        break;
    }
}

void opts_print(const struct opt_command *c, const struct settings *s, FILE *out)
{
    for (const struct opt_group *const *g = c->groups; *g; g++)
        for (size_t i = 0; i < (*g)->n; i++)
            print_opt(&(*g)->opts[i], s, out);
}
