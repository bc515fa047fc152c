/*
 * podflame agent: profiles the node all the time and writes one pprof per
 * interval to object storage. Each window goes to the spool on disk first
 * (profiler/spool.c), then uploader threads put it to the target
 * (profiler/upload.c), retrying with backoff until it is there; /metrics and
 * /healthz tell how that goes (profiler/httpd.c).
 *
 * Settings come from, lowest to highest: defaults, the --config file,
 * PODFLAME_* environment variables, the command line.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "formats/buf.h"
#include "formats/clock.h"
#include "formats/pprof.h"
#include "profiler/cmd.h"
#include "profiler/stop.h"
#include "profiler/io/httpd.h"
#include "profiler/kube/kube.h"
#include "profiler/opts.h"
#include "profiler/sampling/session.h"
#include "profiler/agent/spool.h"
#include "profiler/agent/upload.h"
#include "profiler/watch/watch.h"

#define MAX_LIST       64
#define MAX_ARGS       1024
#define BACKOFF_MIN_NS 1000000000LL
#define BACKOFF_MAX_NS (60 * 1000000000LL)
#define HEALTHY_NS     (10 * 1000000000LL)

struct agent_opts {
    struct session_opts ses; /* what is sampled and how it is unwound and named */
    unsigned int interval;   /* seconds */
    const char *output;
    struct upload_config up;
    const char *spool_dir;
    uint64_t spool_max;
    const char *metrics_addr; /* "off": none */
    struct httpd_opts http;   /* tokens, TLS, --control-addr */
    unsigned int concurrency;
    unsigned int grace; /* seconds to drain the spool after SIGTERM */
    bool split_pods;
    const char *labels[MAX_LIST]; /* KEY=VALUE */
    size_t nlabels;
    struct kube_selector pods;
    const char *debug_dirs[MAX_LIST];
    bool watch;        /* the saturation watcher */
    bool check_config; /* print the settings and stop */
    struct watch_opts wo;
};

/* What /metrics reports; written by the main and uploader threads. */
struct agent_metrics {
    _Atomic uint64_t samples, lost, windows, windows_dropped, objects, upload_failures;
    _Atomic uint64_t upload_bytes, spool_errors;
    _Atomic uint64_t sym_binaries, sym_known, sym_refused, sym_processes, processes;
    _Atomic int64_t last_upload_s, heartbeat_ns, start_s;
};

struct agent {
    struct agent_opts o;
    struct agent_metrics m;
    struct spool *spool;
    struct upload_target *target;
    char node[256];
    /* uploaders */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;         /* no new windows: drain until the deadline */
    int64_t deadline_ns;   /* when draining must end */
    int64_t next_try_ns;   /* backoff: no upload before this */
    unsigned failures_run; /* consecutive failed uploads */
    unsigned in_flight;
    char last_error[1024];
    struct watch *watch; /* the saturation watcher; NULL with --no-watch */
    uint64_t lost_mark;  /* lost samples when the last window closed */
};

/* ---- options ---- */

static void agent_usage_head(FILE *f);

static void agent_usage(FILE *f)
{
    agent_usage_head(f);
    fputs(watch_opts_help, f);
    fprintf(f,
            "                             (default /var/lib/podflame/findings)\n"
            "\n"
            "Findings go to the output next to the windows: NODE/YYYY/MM/DD/HH/findings/ID/.\n"
            "POST /trigger and /alertmanager on the metrics listener (or --control-addr) ask for\n"
            "captures; see --control-token-file.\n");
    fprintf(f, "\n"
               "S3 credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and\n"
               "AWS_SESSION_TOKEN), else the shared credentials file (AWS_SHARED_CREDENTIALS_FILE\n"
               "or ~/.aws/credentials, profile AWS_PROFILE or default).\n"
               "\n"
               "examples:\n"
               "  podflame agent                                   to /var/lib/podflame/profiles\n"
               "  podflame agent --output s3://profiles/prod --s3-region eu-west-1\n"
               "  podflame agent --output s3://prof --s3-endpoint http://127.0.0.1:9000 -F 49\n");
}

static void agent_usage_head(FILE *f)
{
    fprintf(f,
            "usage: podflame agent [OPTIONS]\n"
            "\n"
            "Profiles every CPU of this node all the time and writes one gzipped pprof per\n"
            "interval, with Pod labels on the samples, to a directory or an S3 bucket:\n"
            "  PREFIX/NODE/YYYY/MM/DD/HH/<start>-<end>.pb.gz   (times UTC, 20261125T174100Z)\n"
            "  PREFIX/NODE/YYYY/MM/DD/HH/<start>-<end>.json    its index line\n"
            "Windows are written to a spool directory before upload, retried until they\n"
            "are stored, and kept across restarts. SIGTERM writes the last window and\n"
            "uploads what is spooled for up to --grace seconds.\n"
            "\n"
            "options (each also PODFLAME_NAME in the environment, e.g. PODFLAME_INTERVAL=30,\n"
            "or 'name = value' in the --config file; the command line wins over the\n"
            "environment, which wins over the file):\n"
            "  -F, --freq HZ              samples per second per CPU (default 19)\n"
            "      --interval SECS        one profile every SECS, windows aligned to the clock\n"
            "                             (default 60)\n"
            "      --output URL           file:///DIR or s3://BUCKET/PREFIX\n"
            "                             (default file:///var/lib/podflame/profiles)\n"
            "      --s3-endpoint URL      an S3-compatible server, e.g. http://minio:9000\n"
            "                             (default: $AWS_ENDPOINT_URL_S3, else AWS)\n"
            "      --s3-region NAME       signing region (default $AWS_REGION, else us-east-1)\n"
            "      --s3-addressing MODE   path, virtual or auto (the default: path-style for a\n"
            "                             custom endpoint, virtual-hosted for AWS)\n"
            "      --ca-file FILE         CA bundle for an HTTPS endpoint\n"
            "      --upload-concurrency N uploads at once (default 2)\n"
            "      --upload-timeout SECS  give up on one request after SECS (default 60)\n"
            "      --spool-dir DIR        where windows wait for upload\n"
            "                             (default /var/lib/podflame/spool)\n"
            "      --spool-max-bytes N    spool limit; oldest windows are dropped, counted and\n"
            "                             logged beyond it (default 256M; K, M, G suffixes)\n"
            "      --grace SECS           on SIGTERM, keep uploading for SECS (default 20)\n"
            "      --metrics-addr H:P     Prometheus /metrics and /healthz (default\n"
            "                             127.0.0.1:9740; 'off' for none); also POST /trigger\n"
            "                             and /alertmanager unless --control-addr is given\n"
            "      --control-addr H:P     POST /trigger and /alertmanager (and /healthz) on this\n"
            "                             listener only, e.g. 127.0.0.1:9741 with metrics open\n"
            "      --control-token-file FILE  the control endpoints need 'Authorization: Bearer\n"
            "                             TOKEN', TOKEN this file's content (read again when it\n"
            "                             changes); without it they answer 403 on a listener\n"
            "                             that is not loopback-only (127.0.0.0/8, ::1)\n"
            "      --metrics-token-file FILE  GET /metrics needs this file's bearer token too\n"
            "                             (default: open); /healthz is always open\n"
            "      --tls-cert FILE, --tls-key FILE   HTTPS on the listeners (PEM)\n"
            "      --split-by pod         also one profile per Pod, under <start>-<end>/NS/POD\n"
            "      --label KEY=VALUE      add this label to every sample (repeatable)\n"
            "      --pod NAME|UID, -n/--namespace NS, --container NAME\n"
            "                             only these Pods (repeatable, as in record)\n"
            "      --kubelet-log-dir DIR  names of Pods and containers (default /var/log)\n"
            "      --kube-api[=BOOL]      Pod labels and owners from the API server\n"
            "      --no-kernel[=BOOL]     user stacks only\n"
            "      --unwind MODE          fp, dwarf or auto (default auto), as in record\n"
            "      --stack-size BYTES     stack copied per sample in dwarf mode (default 16384)\n"
            "      --map-entries N        distinct stacks kept per second (default 16384)\n"
            "      --debug-dir DIR, --debuginfod URL, --no-demangle[=BOOL]   as in record\n"
            "      --no-watch[=BOOL]      no saturation watcher (below)\n"
            "      --config FILE          settings file: one 'name = value' a line, # comments\n"
            "                             (also PODFLAME_CONFIG)\n"
            "      --check-config         read the settings, print the result, exit (0: valid)\n"
            "  -h, --help                 this help\n"
            "");
}

enum {
    OPT_INTERVAL = 256,
    OPT_OUTPUT,
    OPT_S3_ENDPOINT,
    OPT_S3_REGION,
    OPT_S3_ADDRESSING,
    OPT_CA_FILE,
    OPT_CONCURRENCY,
    OPT_UPLOAD_TIMEOUT,
    OPT_SPOOL_DIR,
    OPT_SPOOL_MAX,
    OPT_GRACE,
    OPT_METRICS,
    OPT_SPLIT,
    OPT_LABEL,
    OPT_POD,
    OPT_CONTAINER,
    OPT_KUBE,
    OPT_KUBE_API,
    OPT_NO_KERNEL,
    OPT_UNWIND,
    OPT_STACK_SIZE,
    OPT_MAP,
    OPT_DEBUG_DIR,
    OPT_DEBUGINFOD,
    OPT_NO_DEMANGLE,
    OPT_CONFIG,
    OPT_CHECK_CONFIG,
    OPT_NO_WATCH,
    OPT_WATCH, /* one of the watcher's options: watch_opts_set parses it */
    OPT_HTTPD, /* one of the listener's options: httpd_opts_set parses it */
};

static const struct option longopts[] = {
    {"freq", required_argument, NULL, 'F'},
    {"interval", required_argument, NULL, OPT_INTERVAL},
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"s3-endpoint", required_argument, NULL, OPT_S3_ENDPOINT},
    {"s3-region", required_argument, NULL, OPT_S3_REGION},
    {"s3-addressing", required_argument, NULL, OPT_S3_ADDRESSING},
    {"ca-file", required_argument, NULL, OPT_CA_FILE},
    {"upload-concurrency", required_argument, NULL, OPT_CONCURRENCY},
    {"upload-timeout", required_argument, NULL, OPT_UPLOAD_TIMEOUT},
    {"spool-dir", required_argument, NULL, OPT_SPOOL_DIR},
    {"spool-max-bytes", required_argument, NULL, OPT_SPOOL_MAX},
    {"grace", required_argument, NULL, OPT_GRACE},
    {"metrics-addr", required_argument, NULL, OPT_METRICS},
    {"control-addr", required_argument, NULL, OPT_HTTPD},
    {"control-token-file", required_argument, NULL, OPT_HTTPD},
    {"metrics-token-file", required_argument, NULL, OPT_HTTPD},
    {"tls-cert", required_argument, NULL, OPT_HTTPD},
    {"tls-key", required_argument, NULL, OPT_HTTPD},
    {"split-by", required_argument, NULL, OPT_SPLIT},
    {"label", required_argument, NULL, OPT_LABEL},
    {"pod", required_argument, NULL, OPT_POD},
    {"namespace", required_argument, NULL, 'n'},
    {"container", required_argument, NULL, OPT_CONTAINER},
    {"kubelet-log-dir", required_argument, NULL, OPT_KUBE},
    {"kube-api", optional_argument, NULL, OPT_KUBE_API},
    {"no-kernel", optional_argument, NULL, OPT_NO_KERNEL},
    {"unwind", required_argument, NULL, OPT_UNWIND},
    {"stack-size", required_argument, NULL, OPT_STACK_SIZE},
    {"map-entries", required_argument, NULL, OPT_MAP},
    {"debug-dir", required_argument, NULL, OPT_DEBUG_DIR},
    {"debuginfod", required_argument, NULL, OPT_DEBUGINFOD},
    {"no-demangle", optional_argument, NULL, OPT_NO_DEMANGLE},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"check-config", no_argument, NULL, OPT_CHECK_CONFIG},
    {"no-watch", optional_argument, NULL, OPT_NO_WATCH},
    {"node-cpu", required_argument, NULL, OPT_WATCH},
    {"pod-limit", required_argument, NULL, OPT_WATCH},
    {"throttle", required_argument, NULL, OPT_WATCH},
    {"psi", required_argument, NULL, OPT_WATCH},
    {"sustain", required_argument, NULL, OPT_WATCH},
    {"cooldown", required_argument, NULL, OPT_WATCH},
    {"capture-hz", required_argument, NULL, OPT_WATCH},
    {"capture-seconds", required_argument, NULL, OPT_WATCH},
    {"top", required_argument, NULL, OPT_WATCH},
    {"findings-dir", required_argument, NULL, OPT_WATCH},
    {"help", no_argument, NULL, 'h'},
    {0},
};

/* Arguments gathered from the file, the environment and the command line,
 * in that order; strings it makes are owned here. */
struct arglist {
    char *argv[MAX_ARGS];
    int argc;
    int env_start, cmd_start; /* where each source begins */
    char *owned[MAX_ARGS];
    int nowned;
};

static int arg_push(struct arglist *a, char *s, bool owned)
{
    if (a->argc >= MAX_ARGS - 1) {
        if (owned)
            free(s);
        return -E2BIG;
    }
    a->argv[a->argc++] = s;
    if (owned)
        a->owned[a->nowned++] = s;
    return 0;
}

static int arg_push_opt(struct arglist *a, const char *name, size_t nlen, const char *value)
{
    char *s;

    if (value && asprintf(&s, "--%.*s=%s", (int)nlen, name, value) < 0)
        return -ENOMEM;
    if (!value && asprintf(&s, "--%.*s", (int)nlen, name) < 0)
        return -ENOMEM;
    return arg_push(a, s, true);
}

static void arglist_free(struct arglist *a)
{
    for (int i = 0; i < a->nowned; i++)
        free(a->owned[i]);
}

static char *trim(char *s)
{
    char *end;

    while (*s == ' ' || *s == '\t')
        s++;
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
        *--end = '\0';
    return s;
}

static bool known_option(const char *name, size_t len)
{
    for (const struct option *o = longopts; o->name; o++) {
        if (strlen(o->name) == len && !strncmp(o->name, name, len) &&
            strcmp(o->name, "config") != 0 && strcmp(o->name, "help") != 0)
            return true;
    }
    return false;
}

/* The config file: "name = value" lines; names are the long options. */
static int read_config(const char *path, struct arglist *a)
{
    FILE *f = fopen(path, "re");
    char line[4096];
    int lineno = 0, rc = 0;

    if (!f) {
        fprintf(stderr, "podflame agent: --config %s: %s\n", path, strerror(errno));
        return -errno;
    }
    while (!rc && fgets(line, sizeof(line), f)) {
        char *l = trim(line), *eq, *name, *value;

        lineno++;
        if (!*l || *l == '#')
            continue;
        eq = strchr(l, '=');
        if (eq)
            *eq = '\0';
        name = trim(l);
        value = eq ? trim(eq + 1) : NULL;
        if (!known_option(name, strlen(name))) {
            fprintf(stderr, "podflame agent: %s:%d: unknown setting '%s' (see --help)\n", path,
                    lineno, name);
            rc = -EINVAL;
            break;
        }
        if (value && value[0] == '"' && value[1] && value[strlen(value) - 1] == '"') {
            value[strlen(value) - 1] = '\0';
            value++;
        }
        rc = arg_push_opt(a, name, strlen(name), value);
    }
    fclose(f);
    return rc;
}

/* PODFLAME_SPOOL_MAX_BYTES=1G -> --spool-max-bytes=1G */
static int read_env(struct arglist *a)
{
    extern char **environ;

    for (char **e = environ; *e; e++) {
        char name[128];
        const char *eq = strchr(*e, '='), *k = *e + 9;
        size_t n;

        if (strncmp(*e, "PODFLAME_", 9) != 0 || !eq || (n = (size_t)(eq - k)) >= sizeof(name))
            continue;
        for (size_t i = 0; i < n; i++)
            name[i] = k[i] == '_' ? '-' : (char)(k[i] >= 'A' && k[i] <= 'Z' ? k[i] + 32 : k[i]);
        name[n] = '\0';
        if (!strcmp(name, "config") || !known_option(name, n))
            continue; /* PODFLAME_KUBE_SA_DIR and such belong to others */
        if (arg_push_opt(a, name, n, eq + 1))
            return -ENOMEM;
    }
    return 0;
}

/* A list option given by a higher source replaces what a lower one gave. */
static void list_add(const char **arr, size_t *n, int *owner, int src, const char *v)
{
    if (*owner != src) {
        *n = 0;
        *owner = src;
    }
    if (*n < MAX_LIST)
        arr[(*n)++] = v;
}

static int usage_error(const char *why)
{
    fprintf(stderr, "podflame agent: %s\n", why);
    return 2;
}

/* Returns 0 to run, 1 when help was printed, 2 on a usage error. */
static int parse_args(int argc, char **argv, struct agent_opts *o, struct arglist *a)
{
    const char *config = getenv("PODFLAME_CONFIG");
    int owner[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
    unsigned long v;
    char err[256];
    int c, li, rc;

    *o = (struct agent_opts){.watch = true,
                             .interval = 60,
                             .output = "file:///var/lib/podflame/profiles",
                             .up = {.s3_path_style = -1},
                             .spool_dir = "/var/lib/podflame/spool",
                             .spool_max = 256ULL << 20,
                             .metrics_addr = "127.0.0.1:9740",
                             .concurrency = 2,
                             .grace = 20};
    session_opts_default(&o->ses, 19, "podflame agent");
    watch_opts_default(&o->wo, "/var/lib/podflame/findings");
    /* a node agent keeps fewer binaries parsed than record's default 512:
     * its memory must stay flat whatever the node runs */
    o->ses.sym.max_binaries = 128;
    o->ses.sym.max_cached = 65536;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            config = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9))
            config = argv[i] + 9;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            agent_usage(stdout);
            return 1;
        }
    }
    arg_push(a, argv[0], false);
    if (config && *config && read_config(config, a))
        return 2;
    a->env_start = a->argc;
    if (read_env(a)) {
        fprintf(stderr, "podflame agent: out of memory\n");
        return 2;
    }
    a->cmd_start = a->argc;
    for (int i = 1; i < argc; i++) {
        if (arg_push(a, argv[i], false)) {
            fprintf(stderr, "podflame agent: too many arguments\n");
            return 2;
        }
    }
    optind = 1;
    opterr = 1;
    li = -1;
    while ((c = getopt_long(a->argc, a->argv, "+F:n:h", longopts, &li)) != -1) {
        /* the source of the option just parsed: 0 file, 1 environment, 2 command line */
        int src = optind - 1 < a->env_start ? 0 : optind - 1 < a->cmd_start ? 1 : 2;
        int idx = li; /* the long option's index; getopt_long sets it for those only */
        bool b;

        li = -1;
        /* the options every sampling command shares */
        if (idx >= 0 &&
            (rc = session_opt_set(&o->ses, longopts[idx].name, optarg, err, sizeof(err))) <= 0) {
            if (rc)
                return usage_error(err);
            continue;
        }
        switch (c) {
        case 'F':
            if (opt_uint("freq", optarg, 1, 100000, "Hz", &v, err, sizeof(err)))
                return usage_error(err);
            o->ses.freq = (unsigned)v;
            break;
        case OPT_INTERVAL:
            if (opt_uint("interval", optarg, 1, 86400, "seconds", &v, err, sizeof(err)))
                return usage_error(err);
            o->interval = (unsigned)v;
            break;
        case OPT_OUTPUT:
            o->output = optarg;
            break;
        case OPT_S3_ENDPOINT:
            o->up.s3_endpoint = optarg;
            break;
        case OPT_S3_REGION:
            o->up.s3_region = optarg;
            break;
        case OPT_S3_ADDRESSING:
            if (!strcmp(optarg, "path"))
                o->up.s3_path_style = 1;
            else if (!strcmp(optarg, "virtual"))
                o->up.s3_path_style = 0;
            else if (!strcmp(optarg, "auto"))
                o->up.s3_path_style = -1;
            else {
                fprintf(stderr, "podflame agent: --s3-addressing takes path, virtual or auto\n");
                return 2;
            }
            break;
        case OPT_CA_FILE:
            o->up.ca_file = optarg;
            break;
        case OPT_CONCURRENCY:
            if (opt_uint("upload-concurrency", optarg, 1, 64, "", &v, err, sizeof(err)))
                return usage_error(err);
            o->concurrency = (unsigned)v;
            break;
        case OPT_UPLOAD_TIMEOUT:
            if (opt_uint("upload-timeout", optarg, 1, 3600, "seconds", &v, err, sizeof(err)))
                return usage_error(err);
            o->up.timeout_s = (long)v;
            break;
        case OPT_SPOOL_DIR:
            o->spool_dir = optarg;
            break;
        case OPT_SPOOL_MAX:
            if (opt_size("spool-max-bytes", optarg, 4096, &o->spool_max, err, sizeof(err)))
                return usage_error(err);
            break;
        case OPT_GRACE:
            if (opt_uint("grace", optarg, 0, 3600, "seconds", &v, err, sizeof(err)))
                return usage_error(err);
            o->grace = (unsigned)v;
            break;
        case OPT_METRICS:
            o->metrics_addr = optarg;
            break;
        case OPT_SPLIT:
            if (strcmp(optarg, "pod") != 0 && strcmp(optarg, "none") != 0) {
                fprintf(stderr, "podflame agent: --split-by takes pod or none\n");
                return 2;
            }
            o->split_pods = !strcmp(optarg, "pod");
            break;
        case OPT_LABEL: {
            const char *eq = strchr(optarg, '=');

            if (!eq || eq == optarg || strchr(optarg, '\n')) {
                fprintf(stderr, "podflame agent: --label takes KEY=VALUE, not '%s'\n", optarg);
                return 2;
            }
            list_add(o->labels, &o->nlabels, &owner[0], src, optarg);
            break;
        }
        case OPT_POD:
            list_add(o->pods.pods, &o->pods.npods, &owner[1], src, optarg);
            break;
        case 'n':
            list_add(o->pods.namespaces, &o->pods.nnamespaces, &owner[2], src, optarg);
            break;
        case OPT_CONTAINER:
            list_add(o->pods.containers, &o->pods.ncontainers, &owner[3], src, optarg);
            break;
        case OPT_DEBUG_DIR:
            if (strchr(optarg, ':')) {
                fprintf(stderr, "podflame agent: --debug-dir: no ':' in a directory\n");
                return 2;
            }
            list_add(o->debug_dirs, &o->ses.sym.ndebug_dirs, &owner[4], src, optarg);
            o->ses.sym.debug_dirs = o->debug_dirs;
            break;
        case OPT_CONFIG:
            break; /* read first */
        case OPT_CHECK_CONFIG:
            o->check_config = true;
            break;
        case OPT_NO_WATCH:
            if (opt_bool(longopts[idx].name, optarg, &b, err, sizeof(err)))
                return usage_error(err);
            o->watch = !b;
            break;
        case OPT_WATCH:
            if (watch_opts_set(&o->wo, longopts[idx].name, optarg, err, sizeof(err)))
                return usage_error(err);
            break;
        case OPT_HTTPD:
            if (httpd_opts_set(&o->http, longopts[idx].name, optarg, err, sizeof(err)))
                return usage_error(err);
            break;
        case 'h':
            agent_usage(stdout);
            return 1;
        default:
            fprintf(stderr, "(try 'podflame agent --help')\n");
            return 2;
        }
    }
    if (optind < a->argc) {
        fprintf(stderr, "podflame agent: unexpected argument '%s'\n", a->argv[optind]);
        return 2;
    }
    if (!o->http.tls_cert != !o->http.tls_key)
        return usage_error("give both --tls-cert and --tls-key, or neither");
    o->up.url = o->output;
    return 0;
}

/* The settings in effect, one "name = value" a line: the config file's own
 * format, so the output of --check-config can serve as a file. */
static void print_settings(const struct agent_opts *o, FILE *out)
{
    fprintf(out, "freq = %u\ninterval = %u\noutput = %s\n", o->ses.freq, o->interval, o->output);
    if (o->up.s3_endpoint)
        fprintf(out, "s3-endpoint = %s\n", o->up.s3_endpoint);
    if (o->up.s3_region)
        fprintf(out, "s3-region = %s\n", o->up.s3_region);
    fprintf(out, "s3-addressing = %s\n",
            o->up.s3_path_style < 0 ? "auto"
            : o->up.s3_path_style   ? "path"
                                    : "virtual");
    if (o->up.ca_file)
        fprintf(out, "ca-file = %s\n", o->up.ca_file);
    if (o->up.timeout_s > 0)
        fprintf(out, "upload-timeout = %ld\n", o->up.timeout_s);
    fprintf(out, "upload-concurrency = %u\nspool-dir = %s\nspool-max-bytes = %llu\n",
            o->concurrency, o->spool_dir, (unsigned long long)o->spool_max);
    fprintf(out, "grace = %u\nmetrics-addr = %s\n", o->grace, o->metrics_addr);
    httpd_opts_print(&o->http, out);
    fprintf(out, "split-by = %s\n", o->split_pods ? "pod" : "none");
    for (size_t i = 0; i < o->nlabels; i++)
        fprintf(out, "label = %s\n", o->labels[i]);
    for (size_t i = 0; i < o->pods.npods; i++)
        fprintf(out, "pod = %s\n", o->pods.pods[i]);
    for (size_t i = 0; i < o->pods.nnamespaces; i++)
        fprintf(out, "namespace = %s\n", o->pods.namespaces[i]);
    for (size_t i = 0; i < o->pods.ncontainers; i++)
        fprintf(out, "container = %s\n", o->pods.containers[i]);
    fprintf(out, "kubelet-log-dir = %s\nkube-api = %s\nno-kernel = %s\n", o->ses.kubelet_log_dir,
            o->ses.kube_api ? "true" : "false", o->ses.kernel ? "false" : "true");
    fprintf(out, "unwind = %s\nstack-size = %u\nmap-entries = %u\n",
            o->ses.unwind == PF_UNWIND_MODE_OFF   ? "fp"
            : o->ses.unwind == PF_UNWIND_MODE_ALL ? "dwarf"
                                                  : "auto",
            o->ses.stack_size, o->ses.map_entries);
    for (size_t i = 0; i < o->ses.sym.ndebug_dirs; i++)
        fprintf(out, "debug-dir = %s\n", o->debug_dirs[i]);
    if (o->ses.sym.debuginfod_urls)
        fprintf(out, "debuginfod = %s\n", o->ses.sym.debuginfod_urls);
    fprintf(out, "no-demangle = %s\nno-watch = %s\n", o->ses.sym.no_demangle ? "true" : "false",
            o->watch ? "false" : "true");
    watch_opts_print(&o->wo, out);
}

/* ---- windows ---- */

static void utc_stamp(int64_t ns, char *out, size_t len)
{
    time_t t = (time_t)(ns / 1000000000LL);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, len, "%Y%m%dT%H%M%SZ", &tm);
}

static void rfc3339(int64_t ns, char *out, size_t len)
{
    time_t t = (time_t)(ns / 1000000000LL);
    struct tm tm;
    char base[32];

    gmtime_r(&t, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%s.%03dZ", base, (int)(ns / 1000000 % 1000));
}

/* A name safe in an object key: letters, digits, '.', '-', '_'. */
static void key_part(const char *in, char *out, size_t len)
{
    size_t i = 0;

    for (; *in && i + 1 < len; in++)
        out[i++] = (*in >= 'a' && *in <= 'z') || (*in >= 'A' && *in <= 'Z') ||
                           (*in >= '0' && *in <= '9') || *in == '.' || *in == '-' || *in == '_'
                       ? *in
                       : '_';
    out[i] = '\0';
    if (!i || !strcmp(out, ".") || !strcmp(out, ".."))
        snprintf(out, len, "_");
}

struct pod_count {
    const char *ns, *pod;
    uint64_t samples;
};

/* Samples per Pod of a profile, for the index line. */
static int count_pods(const struct pf_profile *p, struct pod_count **out, size_t *n)
{
    struct pod_count *pc = NULL;
    size_t np = 0, cap = 0;

    for (size_t i = 0; i < p->nsamples; i++) {
        const char *pod = pf_sample_label(p, &p->samples[i], "pod");
        const char *ns = pf_sample_label(p, &p->samples[i], "namespace");
        size_t j;

        if (!pod)
            continue;
        if (!ns)
            ns = "";
        for (j = 0; j < np && (strcmp(pc[j].pod, pod) != 0 || strcmp(pc[j].ns, ns) != 0); j++)
            ;
        if (j == np) {
            if (ARRAY_RESERVE_ONE(pc, np, cap)) {
                free(pc);
                return -ENOMEM;
            }
            pc[np++] = (struct pod_count){ns, pod, 0};
        }
        pc[j].samples += (uint64_t)p->samples[i].values[0];
    }
    *out = pc;
    *n = np;
    return 0;
}

static uint64_t total_samples(const struct pf_profile *p)
{
    uint64_t n = 0;

    for (size_t i = 0; i < p->nsamples; i++)
        n += (uint64_t)p->samples[i].values[0];
    return n;
}

static int gzip_pprof(const struct pf_profile *p, char **buf, size_t *len)
{
    FILE *f = open_memstream(buf, len);
    int rc;

    if (!f)
        return -ENOMEM;
    rc = pprof_write(p, f);
    if (fclose(f) && !rc)
        rc = -ENOMEM;
    if (rc) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}

struct window {
    int64_t start_ns, end_ns; /* realtime */
    uint64_t lost;
    char dir[512]; /* NODE/YYYY/MM/DD/HH */
    char stem[64]; /* <start>-<end> */
};

/* Writes one object and its index line to the spool. */
static int spool_object(struct agent *ag, const struct window *w, const struct pf_profile *p,
                        const char *key_stem, const char *pod_ns, const char *pod, char *err,
                        size_t errlen)
{
    char key[1500], start[40], end[40], *data = NULL, *line = NULL;
    size_t len = 0, npods = 0;
    struct pod_count *pods = NULL;
    json_t *idx = json_object(), *jp = json_array(), *jl = json_object();
    unsigned dropped = 0;
    int rc;

    rfc3339(w->start_ns, start, sizeof(start));
    rfc3339(w->end_ns, end, sizeof(end));
    snprintf(key, sizeof(key), "%s.pb.gz", key_stem);
    if (!idx || !jp || !jl || gzip_pprof(p, &data, &len) || count_pods(p, &pods, &npods)) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < npods; i++) {
        json_t *o = json_pack("{s:s, s:s, s:I}", "namespace", pods[i].ns, "pod", pods[i].pod,
                              "samples", (json_int_t)pods[i].samples);

        if (!o || json_array_append_new(jp, o)) {
            rc = -ENOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < ag->o.nlabels; i++) {
        const char *eq = strchr(ag->o.labels[i], '=');
        char k[256];

        snprintf(k, sizeof(k), "%.*s", (int)(eq - ag->o.labels[i]), ag->o.labels[i]);
        json_object_set_new(jl, k, json_string(eq + 1));
    }
    json_object_set_new(idx, "node", json_string(ag->node));
    json_object_set_new(idx, "key", json_string(key));
    json_object_set_new(idx, "start", json_string(start));
    json_object_set_new(idx, "end", json_string(end));
    json_object_set_new(idx, "duration_s", json_real((w->end_ns - w->start_ns) / 1e9));
    json_object_set_new(idx, "samples", json_integer((json_int_t)total_samples(p)));
    json_object_set_new(idx, "lost", json_integer((json_int_t)w->lost));
    json_object_set_new(idx, "bytes", json_integer((json_int_t)len));
    if (pod) {
        json_object_set_new(idx, "namespace", json_string(pod_ns));
        json_object_set_new(idx, "pod", json_string(pod));
    }
    json_object_set_new(idx, "pods", jp);
    jp = NULL;
    json_object_set_new(idx, "labels", jl);
    jl = NULL;
    if (!(line = json_dumps(idx, JSON_COMPACT))) {
        rc = -ENOMEM;
        goto out;
    }
    rc = spool_add(ag->spool, key, line, data, len, &dropped, err, errlen);
    if (dropped) {
        atomic_fetch_add(&ag->m.windows_dropped, dropped);
        fprintf(stderr,
                "podflame: spool over %" PRIu64 " bytes: dropped the %u oldest window%s not yet "
                "uploaded\n",
                ag->o.spool_max, dropped, dropped == 1 ? "" : "s");
    }
out:
    if (rc == -ENOMEM)
        snprintf(err, errlen, "out of memory");
    json_decref(idx);
    json_decref(jp);
    json_decref(jl);
    free(line);
    free(data);
    free(pods);
    return rc;
}

struct pod_filter {
    const char *ns, *pod;
};

static bool sample_of_pod(void *ctx, const struct pf_profile *p, const struct pf_sample *s)
{
    const struct pod_filter *f = ctx;
    const char *pod = pf_sample_label(p, s, "pod"), *ns = pf_sample_label(p, s, "namespace");

    return pod && !strcmp(pod, f->pod) && !strcmp(ns ? ns : "", f->ns);
}

/* The window's node profile, then one per Pod with --split-by pod. */
static int write_window(struct agent *ag, const struct window *w, struct pf_profile *p, char *err,
                        size_t errlen)
{
    char stem[1400];
    struct pod_count *pods = NULL;
    size_t npods = 0;
    int rc = 0;

    for (size_t i = 0; !rc && i < ag->o.nlabels; i++) {
        const char *eq = strchr(ag->o.labels[i], '=');
        char k[256];

        snprintf(k, sizeof(k), "%.*s", (int)(eq - ag->o.labels[i]), ag->o.labels[i]);
        rc = pf_profile_label_all(p, k, eq + 1);
    }
    if (rc) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    snprintf(stem, sizeof(stem), "%s/%s", w->dir, w->stem);
    if ((rc = spool_object(ag, w, p, stem, NULL, NULL, err, errlen)))
        return rc;
    atomic_fetch_add(&ag->m.windows, 1);
    if (!ag->o.split_pods)
        return 0;
    if ((rc = count_pods(p, &pods, &npods))) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    for (size_t i = 0; !rc && i < npods; i++) {
        struct pod_filter f = {pods[i].ns, pods[i].pod};
        struct pf_profile *sub = NULL;
        char ns[256], pod[256];

        key_part(pods[i].ns, ns, sizeof(ns));
        key_part(pods[i].pod, pod, sizeof(pod));
        snprintf(stem, sizeof(stem), "%s/%s/%s/%s", w->dir, w->stem, ns, pod);
        if ((rc = pf_profile_new(&sub)) || (rc = pf_profile_subset(p, sample_of_pod, &f, sub)))
            snprintf(err, errlen, "splitting the window by Pod: %s", strerror(-rc));
        else
            rc = spool_object(ag, w, sub, stem, pods[i].ns, pods[i].pod, err, errlen);
        pf_profile_free(sub);
    }
    free(pods);
    return rc;
}

static void window_begin(struct agent *ag, struct window *w, int64_t start_ns, unsigned interval)
{
    int64_t step = (int64_t)interval * 1000000000LL;
    time_t t = (time_t)(start_ns / 1000000000LL);
    char node[256];
    struct tm tm;

    w->start_ns = start_ns;
    /* aligned to the clock, so that every node's windows line up */
    w->end_ns = (start_ns / step + 1) * step;
    gmtime_r(&t, &tm);
    key_part(ag->node, node, sizeof(node));
    snprintf(w->dir, sizeof(w->dir), "%s/%04d/%02d/%02d/%02d", node, tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);
}

static int new_window_profile(const struct agent *ag, struct pf_profile **out, int64_t start_ns)
{
    struct pf_profile *p;
    char comment[300];

    if (pf_profile_new(&p))
        return -ENOMEM;
    snprintf(comment, sizeof(comment), "podflame agent on %s", ag->node);
    if (pf_profile_set_cpu_types(p, 1000000000LL / ag->o.ses.freq) ||
        pf_profile_add_comment(p, comment)) {
        pf_profile_free(p);
        return -ENOMEM;
    }
    p->time_nanos = start_ns;
    *out = p;
    return 0;
}

/* ---- uploads ---- */

/* Sleeps until t or a wake-up; with the lock held. */
static void wait_until(struct agent *ag, int64_t t)
{
    struct timespec ts;
    int64_t now = mono_ns();

    if (t <= now)
        return;
    if (t > now + 500000000LL)
        t = now + 500000000LL; /* a second SIGTERM must not wait for a long backoff */
    /* the condition variable runs on CLOCK_MONOTONIC (see agent_init) */
    ts.tv_sec = t / 1000000000LL;
    ts.tv_nsec = t % 1000000000LL;
    pthread_cond_timedwait(&ag->wake, &ag->lock, &ts);
}

static int upload_item(struct agent *ag, const struct spool_item *it, char *err, size_t errlen)
{
    char ikey[1600];
    size_t klen = strlen(it->key);
    int rc;

    rc =
        upload_put(ag->target, it->key, it->data, it->len, "application/octet-stream", err, errlen);
    if (rc || !*it->index)
        return rc; /* a finding's files have no index line */
    /* the index line next to its object: KEY.pb.gz -> KEY.json */
    snprintf(ikey, sizeof(ikey), "%.*s.json",
             (int)(klen > 6 && !strcmp(it->key + klen - 6, ".pb.gz") ? klen - 6 : klen), it->key);
    {
        size_t ilen = strlen(it->index);
        char *body = malloc(ilen + 2);

        if (!body)
            return -ENOMEM;
        memcpy(body, it->index, ilen);
        body[ilen] = '\n';
        rc = upload_put(ag->target, ikey, body, ilen + 1, "application/json", err, errlen);
        free(body);
    }
    return rc;
}

static void *uploader(void *arg)
{
    struct agent *ag = arg;
    char err[1024];

    pthread_mutex_lock(&ag->lock);
    for (;;) {
        struct spool_item it;
        int64_t now = mono_ns();
        int rc;

        if (ag->stopping && (now >= ag->deadline_ns || cmd_stop_count > 1))
            break; /* out of time, or told twice */
        if (now < ag->next_try_ns) {
            wait_until(ag, ag->stopping && ag->deadline_ns < ag->next_try_ns ? ag->deadline_ns
                                                                             : ag->next_try_ns);
            continue;
        }
        rc = spool_take(ag->spool, &it, err, sizeof(err));
        if (rc == -ENOENT) {
            if (ag->stopping && !ag->in_flight)
                break; /* drained */
            wait_until(ag, ag->stopping ? ag->deadline_ns : now + 1000000000LL);
            continue;
        }
        if (rc) {
            wait_until(ag, now + 1000000000LL);
            continue;
        }
        ag->in_flight++;
        pthread_mutex_unlock(&ag->lock);

        rc = upload_item(ag, &it, err, sizeof(err));
        if (!rc) {
            atomic_fetch_add(&ag->m.objects, 1);
            atomic_fetch_add(&ag->m.upload_bytes, it.len);
            atomic_store(&ag->m.last_upload_s, realtime_ns() / 1000000000LL);
            spool_done(ag->spool, &it);
        } else {
            atomic_fetch_add(&ag->m.upload_failures, 1);
            spool_release(ag->spool, &it);
        }

        pthread_mutex_lock(&ag->lock);
        ag->in_flight--;
        if (!rc) {
            if (ag->failures_run)
                fprintf(stderr, "podflame: uploads work again after %u failure%s\n",
                        ag->failures_run, ag->failures_run == 1 ? "" : "s");
            ag->failures_run = 0;
            ag->next_try_ns = 0;
        } else {
            /* exponential backoff with jitter: many nodes must not retry in step */
            unsigned shift = ag->failures_run < 6 ? ag->failures_run : 6;
            int64_t delay = BACKOFF_MIN_NS << shift;

            if (delay > BACKOFF_MAX_NS)
                delay = BACKOFF_MAX_NS;
            delay = delay / 2 + (int64_t)((double)rand() / RAND_MAX * ((double)delay / 2));
            ag->failures_run++;
            ag->next_try_ns = mono_ns() + delay;
            fprintf(stderr, "podflame: upload failed (%u in a row): %s; retrying in %.1f s\n",
                    ag->failures_run, err, delay / 1e9);
            snprintf(ag->last_error, sizeof(ag->last_error), "%s", err);
        }
        pthread_cond_broadcast(&ag->wake);
    }
    pthread_mutex_unlock(&ag->lock);
    return NULL;
}

/* ---- /metrics, /healthz ---- */

static double self_cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static uint64_t self_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "re");
    unsigned long size = 0, rss = 0;

    if (f) {
        if (fscanf(f, "%lu %lu", &size, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void on_http(void *ctx, const char *method, const char *path, const char *body, size_t len,
                    struct httpd_reply *reply)
{
    struct agent *ag = ctx;
    struct agent_metrics *m = &ag->m;
    struct spool_stats ss;
    char *out = NULL;
    size_t outlen = 0;
    FILE *f;

    if (ag->watch && watch_http(ag->watch, method, path, body, len, reply))
        return;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        reply->status = 405;
        reply->body = strdup("only GET\n");
        reply->len = reply->body ? strlen(reply->body) : 0;
        return;
    }
    if (!strcmp(path, "/healthz")) {
        bool ok = mono_ns() - atomic_load(&m->heartbeat_ns) < HEALTHY_NS;

        reply->status = ok ? 200 : 503;
        reply->body = strdup(ok ? "ok\n" : "the sampling loop is stuck\n");
        reply->len = reply->body ? strlen(reply->body) : 0;
        return;
    }
    if (strcmp(path, "/metrics") != 0) {
        reply->status = 404;
        reply->body = strdup("not found: try /metrics or /healthz\n");
        reply->len = reply->body ? strlen(reply->body) : 0;
        return;
    }
    spool_get_stats(ag->spool, &ss);
    if (!(f = open_memstream(&out, &outlen)))
        return;
#define METRIC(name, type, help, fmt, value)                                                       \
    fprintf(f, "# HELP " name " " help "\n# TYPE " name " " type "\n" name " " fmt "\n", value)
    METRIC("podflame_samples_total", "counter", "Stack samples collected.", "%" PRIu64,
           atomic_load(&m->samples));
    METRIC("podflame_lost_samples_total", "counter",
           "Samples lost in the kernel (full maps, stack collisions, stack errors).", "%" PRIu64,
           atomic_load(&m->lost));
    METRIC("podflame_windows_written_total", "counter", "Profiles written to the spool.",
           "%" PRIu64, atomic_load(&m->windows));
    METRIC("podflame_windows_dropped_total", "counter",
           "Profiles dropped from a full spool before upload.", "%" PRIu64,
           atomic_load(&m->windows_dropped) + ss.corrupt);
    METRIC("podflame_uploads_total", "counter", "Objects uploaded.", "%" PRIu64,
           atomic_load(&m->objects));
    METRIC("podflame_upload_bytes_total", "counter", "Profile bytes uploaded.", "%" PRIu64,
           atomic_load(&m->upload_bytes));
    METRIC("podflame_upload_failures_total", "counter", "Failed upload attempts.", "%" PRIu64,
           atomic_load(&m->upload_failures));
    METRIC("podflame_last_upload_timestamp_seconds", "gauge", "When the last upload succeeded.",
           "%" PRId64, atomic_load(&m->last_upload_s));
    METRIC("podflame_spool_bytes", "gauge", "Bytes waiting in the spool.", "%" PRIu64, ss.bytes);
    METRIC("podflame_spool_windows", "gauge", "Objects waiting in the spool.", "%" PRIu64,
           ss.entries);
    METRIC("podflame_symbolizer_binaries", "gauge", "Binaries parsed and cached.", "%" PRIu64,
           atomic_load(&m->sym_binaries));
    METRIC("podflame_symbolizer_binaries_known", "gauge",
           "Binaries the symbolizer holds an entry for, parsed or not.", "%" PRIu64,
           atomic_load(&m->sym_known));
    METRIC("podflame_symbolizer_refused_total", "counter",
           "Inputs over podflame's bounds: symbol tables, debug files, perf maps.", "%" PRIu64,
           atomic_load(&m->sym_refused));
    METRIC("podflame_symbolizer_processes", "gauge", "Processes whose maps are cached.", "%" PRIu64,
           atomic_load(&m->sym_processes));
    METRIC("process_cpu_seconds_total", "counter", "CPU time podflame used (user and system).",
           "%.3f", self_cpu_seconds());
    METRIC("process_resident_memory_bytes", "gauge", "podflame's resident memory.", "%" PRIu64,
           self_rss_bytes());
    METRIC("process_start_time_seconds", "gauge", "When podflame started (Unix time).", "%" PRId64,
           atomic_load(&m->start_s));
#undef METRIC
    if (fclose(f)) {
        free(out);
        return;
    }
    reply->status = 200;
    reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
    reply->body = out;
    reply->len = outlen;
}

/* ---- the watcher's thread ---- */

/* Spools a finding's files for upload, beside the windows of its hour. */
static void on_finding(void *ctx, const char *id, const char *dir)
{
    static const char *files[] = {"finding.json", "finding.md", "capture.pb.gz", "capture.svg"};
    struct agent *ag = ctx;
    struct window w;
    char key[1600], path[1600], err[512];

    window_begin(ag, &w, realtime_ns(), ag->o.interval);
    for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
        FILE *f;
        char *data = NULL;
        size_t len = 0;
        unsigned dropped = 0;
        long size;

        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        snprintf(key, sizeof(key), "%s/findings/%s/%s", w.dir, id, files[i]);
        if (!(f = fopen(path, "re"))) {
            fprintf(stderr, "podflame: finding %s: cannot read %s for upload: %s\n", id, path,
                    strerror(errno));
            continue;
        }
        if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
            (data = malloc((size_t)size)) && fread(data, 1, (size_t)size, f) == (size_t)size)
            len = (size_t)size;
        fclose(f);
        if (!len)
            fprintf(stderr, "podflame: finding %s: cannot read %s for upload\n", id, path);
        else if (spool_add(ag->spool, key, "", data, len, &dropped, err, sizeof(err)))
            fprintf(stderr, "podflame: finding %s: %s\n", id, err);
        if (dropped)
            atomic_fetch_add(&ag->m.windows_dropped, dropped);
        free(data);
    }
    pthread_mutex_lock(&ag->lock);
    pthread_cond_broadcast(&ag->wake);
    pthread_mutex_unlock(&ag->lock);
}

static void *watcher_thread(void *arg)
{
    struct agent *ag = arg;
    char err[1024];

    while (!cmd_stop_signal) {
        if (watch_step(ag->watch, &cmd_stop_signal, on_finding, ag, err, sizeof(err))) {
            fprintf(stderr, "podflame: the watcher stopped: %s\n", err);
            break;
        }
    }
    return NULL;
}

/* ---- main ---- */

/* --metrics-addr, and --control-addr when given; prints why one fails. */
static int start_listeners(struct agent *ag, struct httpd **http, struct httpd **control)
{
    struct httpd_listen metrics = {.addr = ag->o.metrics_addr,
                                   .control = !ag->o.http.control_addr,
                                   .metrics = true,
                                   .log = stderr};
    struct httpd_listen ctl = {.addr = ag->o.http.control_addr, .control = true, .log = stderr};
    char err[1024];

    if (strcmp(ag->o.metrics_addr, "off") != 0 &&
        httpd_start(&ag->o.http, &metrics, on_http, ag, http, err, sizeof(err))) {
        fprintf(stderr, "podflame agent: --metrics-addr %s\n", err);
        return -1;
    }
    if (ag->o.http.control_addr &&
        httpd_start(&ag->o.http, &ctl, on_http, ag, control, err, sizeof(err))) {
        fprintf(stderr, "podflame agent: --control-addr %s\n", err);
        return -1;
    }
    return 0;
}

/* The control endpoints of a listener that is not loopback-only and has no
 * token are refused: say so, and how to open them, at start. */
static void say_if_locked(const struct httpd *h, const char *addr)
{
    if (h && httpd_control_locked(h))
        fprintf(stderr,
                "podflame: POST /trigger and /alertmanager answer 403 on %s: it is not "
                "loopback-only and no --control-token-file is given (give one, or "
                "--control-addr 127.0.0.1:PORT to keep them on loopback)\n",
                addr);
}

static int agent_init(struct agent *ag)
{
    pthread_condattr_t ca;

    pthread_mutex_init(&ag->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ag->wake, &ca);
    pthread_condattr_destroy(&ca);
    {
        char host[256];

        snprintf(ag->node, sizeof(ag->node), "%s", kube_node_name(host, sizeof(host)));
    }
    atomic_store(&ag->m.start_s, realtime_ns() / 1000000000LL);
    atomic_store(&ag->m.heartbeat_ns, mono_ns());
    srand((unsigned)(realtime_ns() ^ getpid()));
    return 0;
}

static void publish_stats(struct agent *ag, struct session *ses)
{
    struct symbolizer_stats ss;

    symbolizer_get_stats(session_symbolizer(ses), &ss);
    atomic_store(&ag->m.sym_binaries, ss.binaries_loaded);
    atomic_store(&ag->m.sym_known, ss.binaries_known);
    atomic_store(&ag->m.sym_refused,
                 ss.binaries_too_large + ss.debug_refused + ss.jit_too_large + ss.jit_truncated);
    atomic_store(&ag->m.sym_processes, ss.processes_tracked);
    atomic_store(&ag->m.lost, session_lost(ses));
    atomic_store(&ag->m.heartbeat_ns, mono_ns());
}

/* Closes the current window into the spool. */
static int close_window(struct agent *ag, struct session *ses, struct window *w,
                        struct pf_profile **cur, int64_t now_real, bool last, char *err,
                        size_t errlen)
{
    struct pf_profile *next = NULL, *done = *cur;
    uint64_t samples;
    int rc;

    if (!last && (rc = new_window_profile(ag, &next, now_real))) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    rc = last ? session_stop(ses, err, errlen) : session_rotate(ses, next, err, errlen);
    if (rc) {
        pf_profile_free(next);
        return rc;
    }
    *cur = next;
    publish_stats(ag, ses);
    w->end_ns = now_real;
    /* the kernel's loss counters add up from the start: a window's own is the
     * rise since the last window closed */
    w->lost = atomic_load(&ag->m.lost) - ag->lost_mark;
    ag->lost_mark = atomic_load(&ag->m.lost);
    done->duration_nanos = w->end_ns - w->start_ns;
    utc_stamp(w->start_ns, w->stem, sizeof(w->stem));
    {
        size_t n = strlen(w->stem);

        w->stem[n++] = '-';
        utc_stamp(w->end_ns, w->stem + n, sizeof(w->stem) - n);
    }
    samples = total_samples(done);
    atomic_fetch_add(&ag->m.samples, samples);
    rc = write_window(ag, w, done, err, errlen);
    if (!rc)
        fprintf(stderr, "podflame: window %s: %" PRIu64 " samples, %" PRIu64 " lost; spooled\n",
                w->stem, samples, w->lost);
    pf_profile_free(done);
    /* the window and its encodings are gone: give their pages back, so the
     * agent's RSS is its caches, not its largest window so far */
    malloc_trim(0);
    pthread_mutex_lock(&ag->lock);
    pthread_cond_broadcast(&ag->wake);
    pthread_mutex_unlock(&ag->lock);
    return rc;
}

int cmd_agent(int argc, char **argv)
{
    struct agent *ag = calloc(1, sizeof(*ag));
    struct arglist *args = calloc(1, sizeof(*args));
    struct session_opts so;
    struct session *ses = NULL;
    struct pf_profile *cur = NULL;
    struct httpd *http = NULL, *control_http = NULL;
    pthread_t threads[64], watch_thread;
    unsigned nthreads = 0;
    bool watching = false;
    struct window w = {0};
    char err[1024];
    int ret = 1, rc;

    if (!ag || !args) {
        free(ag);
        free(args);
        fprintf(stderr, "podflame agent: out of memory\n");
        return 1;
    }
    rc = parse_args(argc, argv, &ag->o, args);
    if (rc) {
        ret = rc == 1 ? 0 : 2;
        goto out_args;
    }
    if (ag->o.check_config) {
        print_settings(&ag->o, stdout);
        ret = 0;
        goto out_args;
    }
    /* few arenas: the agent's threads allocate little, and each arena
     * would keep its own free pages */
    mallopt(M_ARENA_MAX, 2);
    agent_init(ag);
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
        fprintf(stderr, "podflame agent: cannot initialize libcurl\n");
        goto out_args;
    }
    if (upload_open(&ag->o.up, &ag->target, err, sizeof(err))) {
        fprintf(stderr, "podflame agent: --output %s\n", err);
        goto out;
    }
    if (spool_open(ag->o.spool_dir, ag->o.spool_max, &ag->spool, err, sizeof(err))) {
        fprintf(stderr, "podflame agent: %s\n", err);
        goto out;
    }
    if (ag->o.watch) {
        ag->o.wo.node = ag->node;
        ag->o.wo.kubelet_log_dir = ag->o.ses.kubelet_log_dir;
        ag->o.wo.unwind = ag->o.ses.unwind;
        ag->o.wo.log = stderr;
        if (watch_new(&ag->o.wo, &ag->watch, err, sizeof(err))) {
            fprintf(stderr, "podflame agent: %s (--no-watch runs without it)\n", err);
            goto out;
        }
    }
    if (geteuid() != 0)
        fprintf(stderr, "podflame: not running as root: this needs CAP_BPF and CAP_PERFMON\n");

    {
        int64_t now = realtime_ns();

        window_begin(ag, &w, now, ag->o.interval);
        if (new_window_profile(ag, &cur, now)) {
            fprintf(stderr, "podflame agent: out of memory\n");
            goto out;
        }
    }
    so = ag->o.ses;
    so.pods = &ag->o.pods;
    so.log = stderr;
    if (session_open(&so, cur, &ses, err, sizeof(err))) {
        fprintf(stderr, "podflame agent: %s\n", err);
        goto out;
    }
    cmd_catch_stop_signals();
    if (session_start(ses, err, sizeof(err))) {
        fprintf(stderr, "podflame agent: %s\n", err);
        goto out;
    }
    /* session_start dropped root's other powers: every thread started from
     * here on (the HTTP listener's included) has only what is left */
    if (start_listeners(ag, &http, &control_http))
        goto out;
    if (ag->watch && pthread_create(&watch_thread, NULL, watcher_thread, ag) == 0)
        watching = true;
    for (; nthreads < ag->o.concurrency; nthreads++) {
        if (pthread_create(&threads[nthreads], NULL, uploader, ag)) {
            fprintf(stderr, "podflame agent: cannot start an upload thread\n");
            break;
        }
    }
    {
        struct spool_stats st;

        spool_get_stats(ag->spool, &st);
        fprintf(stderr,
                "podflame: agent on node %s: %u Hz (%s), a profile every %u s to %s; spool %s "
                "(%" PRIu64 " waiting from before)%s%s%s%s%s%s\n",
                ag->node, ag->o.ses.freq, sampler_event_name(session_sampler(ses)), ag->o.interval,
                upload_where(ag->target), ag->o.spool_dir, st.entries, http ? "; metrics on " : "",
                http ? httpd_scheme(http) : "", http ? "://" : "", http ? ag->o.metrics_addr : "",
                control_http ? "; control on " : "", control_http ? ag->o.http.control_addr : "");
        say_if_locked(http, ag->o.metrics_addr);
        say_if_locked(control_http, ag->o.http.control_addr);
    }

    while (!cmd_stop_signal) {
        int64_t now;

        if (session_poll(ses, 100, err, sizeof(err))) {
            fprintf(stderr, "podflame agent: %s\n", err);
            goto out;
        }
        if (mono_ns() - atomic_load(&ag->m.heartbeat_ns) >= 1000000000LL)
            publish_stats(ag, ses); /* also the heartbeat /healthz reads */
        now = realtime_ns();
        if (now >= w.end_ns || now < w.start_ns) { /* the end, or the clock went back */
            struct pf_profile *before = cur;

            if (close_window(ag, ses, &w, &cur, now, false, err, sizeof(err))) {
                fprintf(stderr, "podflame agent: %s\n", err);
                if (cur == before)
                    goto out; /* no new window: sampling cannot go on */
            }
            window_begin(ag, &w, now, ag->o.interval);
        }
    }
    /* SIGTERM: the watcher stops (a capture in progress ends early and is
     * written), then the partial window, then the spool for up to --grace s */
    if (watching) {
        pthread_join(watch_thread, NULL);
        watching = false;
    }
    fprintf(stderr, "podflame: stopping (signal %d): writing the last window\n",
            (int)cmd_stop_signal);
    if (close_window(ag, ses, &w, &cur, realtime_ns(), true, err, sizeof(err)))
        fprintf(stderr, "podflame agent: %s\n", err);
    ret = 0;
out:
    if (watching) {
        cmd_stop_signal = SIGTERM;
        pthread_join(watch_thread, NULL);
    }
    pthread_mutex_lock(&ag->lock);
    ag->stopping = true;
    ag->deadline_ns = mono_ns() + (ret == 0 ? (int64_t)ag->o.grace * 1000000000LL : 0);
    pthread_cond_broadcast(&ag->wake);
    pthread_mutex_unlock(&ag->lock);
    for (unsigned i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    if (ag->spool) {
        struct spool_stats st;

        spool_get_stats(ag->spool, &st);
        fprintf(stderr,
                "podflame: %" PRIu64 " objects uploaded, %" PRIu64 " failed attempts; %" PRIu64
                " left in the spool for the next start%s%s\n",
                atomic_load(&ag->m.objects), atomic_load(&ag->m.upload_failures), st.entries,
                st.entries && ag->last_error[0] ? "; last error: " : "",
                st.entries && ag->last_error[0] ? ag->last_error : "");
    }
    httpd_stop(http);
    httpd_stop(control_http);
    watch_free(ag->watch);
    session_close(ses);
    pf_profile_free(cur);
    spool_close(ag->spool);
    upload_close(ag->target);
    curl_global_cleanup();
out_args:
    arglist_free(args);
    free(args);
    free(ag);
    return ret;
}
