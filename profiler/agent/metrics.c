/*
 * The agent's /metrics and /healthz (the watcher answers its own POST
 * endpoints first), and the counts they report.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "formats/clock.h"
#include "profiler/agent/state.h"

#define HEALTHY_NS (10 * 1000000000LL)

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

static void reply_text(struct httpd_reply *reply, int status, const char *text)
{
    reply->status = status;
    reply->body = strdup(text);
    reply->len = reply->body ? strlen(reply->body) : 0;
}

/* Prometheus' text format. Returns 0, or -ENOMEM. */
static int metrics_text(struct agent *ag, char **out, size_t *outlen)
{
    struct agent_metrics *m = &ag->m;
    struct spool_stats ss;
    FILE *f;

    spool_get_stats(ag->spool, &ss);
    if (!(f = open_memstream(out, outlen)))
        return -ENOMEM;
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
        free(*out);
        *out = NULL;
        return -ENOMEM;
    }
    return 0;
}

void agent_http(void *ctx, const char *method, const char *path, const char *body, size_t len,
                struct httpd_reply *reply)
{
    struct agent *ag = ctx;
    char *out = NULL;
    size_t outlen = 0;

    if (ag->watch && watch_http(ag->watch, method, path, body, len, reply))
        return;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        reply_text(reply, 405, "only GET\n");
    else if (!strcmp(path, "/healthz")) {
        bool ok = mono_ns() - atomic_load(&ag->m.heartbeat_ns) < HEALTHY_NS;

        reply_text(reply, ok ? 200 : 503, ok ? "ok\n" : "the sampling loop is stuck\n");
    } else if (strcmp(path, "/metrics") != 0)
        reply_text(reply, 404, "not found: try /metrics or /healthz\n");
    else if (metrics_text(ag, &out, &outlen) != 0)
        reply_text(reply, 500, "out of memory\n");
    else {
        reply->status = 200;
        reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
        reply->body = out;
        reply->len = outlen;
    }
}

void agent_publish_stats(struct agent *ag, struct session *ses)
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
