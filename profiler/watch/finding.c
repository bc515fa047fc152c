#include "profiler/watch/finding.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "formats/buf.h"
#include "formats/escape.h"
#include "profiler/io/output.h"
#include "profiler/watch/hotspots.h"

/* The timeline's length in each file, in seconds. */
#define JSON_TIMELINE 120
#define MD_TIMELINE   60

static void iso(int64_t ns, char *out, size_t len)
{
    time_t t = (time_t)(ns / 1000000000LL);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void id_part(const char *in, char *out, size_t len)
{
    size_t i = 0;

    for (; *in && i + 1 < len; in++)
        out[i++] =
            (*in >= 'a' && *in <= 'z') || (*in >= '0' && *in <= '9') || *in == '-' || *in == '.'
                ? *in
                : '_';
    out[i] = '\0';
}

static const char *pod_display(const struct finding_pod *p, char *buf, size_t len)
{
    if (p->name[0])
        snprintf(buf, len, "%s/%s", p->ns, p->name);
    else
        snprintf(buf, len, "pod %s", p->cpu.uid);
    return buf;
}

struct text {
    const char *s;
};

/* A JSON string of text from outside (a frame name, a reason given to
 * /trigger): invalid UTF-8 becomes U+FFFD rather than jansson dropping it. */
static json_t *jtext_n(const char *s, size_t len)
{
    struct buf b = {0};
    json_t *j = escape_utf8(&b, s, len) ? NULL : json_stringn(b.d ? b.d : "", b.len);

    free(b.d);
    return j;
}

static json_t *jtext(const char *s)
{
    return jtext_n(s, strlen(s));
}

/* Markdown from text from outside: as text, or as a code span. */
static void md_text(FILE *m, const char *s)
{
    struct buf b = {0};

    if (!escape_md_text(&b, s, strlen(s)) && b.d)
        fputs(b.d, m);
    free(b.d);
}

static void md_code(FILE *m, const char *s, size_t len, bool table_cell)
{
    struct buf b = {0};

    if (!escape_md_code(&b, s, len, table_cell) && b.d)
        fputs(b.d, m);
    free(b.d);
}

static int write_text(FILE *f, void *ctx)
{
    const struct text *t = ctx;

    return fputs(t->s, f) < 0 ? -EIO : 0;
}

static const struct finding_pod *subject_pod(const struct finding *f)
{
    for (size_t i = 0; i < f->npods; i++) {
        if (!strcmp(f->pods[i].cpu.uid, f->ev.pod_uid))
            return &f->pods[i];
    }
    return NULL;
}

/* The frames of a folded path one by one: true with the next in
 * *frame[0..*len), false at the end. */
static bool next_frame(const char **s, const char **frame, size_t *len)
{
    if (!**s)
        return false;
    *frame = *s;
    *len = strcspn(*s, ";");
    *s += *len;
    if (**s)
        (*s)++;
    return true;
}

static void trigger_sentence(const struct finding *f, char *buf, size_t len)
{
    const struct finding_pod *sp = subject_pod(f);
    char who[600];

    if (sp)
        pod_display(sp, who, sizeof(who));
    else
        snprintf(who, sizeof(who), "pod %s", f->ev.pod_uid);
    switch (f->ev.rule) {
    case TRIGGER_NODE_CPU:
        snprintf(buf, len, "node CPU at %.0f%% (threshold %.0f%%)", f->ev.value, f->ev.threshold);
        break;
    case TRIGGER_PSI:
        snprintf(buf, len, "node CPU pressure some avg10 %.1f%% (threshold %.1f%%)", f->ev.value,
                 f->ev.threshold);
        break;
    case TRIGGER_POD_LIMIT:
        snprintf(buf, len, "%s at %.0f%% of its CPU limit (threshold %.0f%%)", who, f->ev.value,
                 f->ev.threshold);
        break;
    case TRIGGER_THROTTLE:
        snprintf(buf, len, "%s throttled in %.0f%% of its CFS periods (threshold %.0f%%)", who,
                 f->ev.value, f->ev.threshold);
        break;
    default:
        snprintf(buf, len, "capture asked for: %s", f->reason);
        break;
    }
}

/* ---- finding.json ---- */

static json_t *json_trigger(const struct finding *f)
{
    json_t *trig = json_object();
    char since[40], at[40], sentence[1024];

    iso(f->ev.since_ns, since, sizeof(since));
    iso(f->ev.at_ns, at, sizeof(at));
    trigger_sentence(f, sentence, sizeof(sentence));
    json_object_set_new(trig, "rule", json_string(trigger_rule_name(f->ev.rule)));
    json_object_set_new(trig, "summary", jtext(sentence));
    json_object_set_new(trig, "value", json_real(f->ev.value));
    json_object_set_new(trig, "threshold", json_real(f->ev.threshold));
    json_object_set_new(trig, "since", json_string(since));
    json_object_set_new(trig, "at", json_string(at));
    if (f->ev.pod_uid[0])
        json_object_set_new(trig, "pod_uid", jtext(f->ev.pod_uid));
    if (f->reason[0])
        json_object_set_new(trig, "reason", jtext(f->reason));
    return trig;
}

/* The node's CPU for the last JSON_TIMELINE seconds, with the times. */
static json_t *json_timeline(const struct finding *f)
{
    json_t *tl = json_array();
    size_t first = f->nnode > JSON_TIMELINE ? f->nnode - JSON_TIMELINE : 0;

    for (size_t i = first; i < f->nnode; i++) {
        char t[40];

        iso(f->node_newest_ns - (int64_t)(f->nnode - 1 - i) * 1000000000LL, t, sizeof(t));
        json_array_append_new(tl, json_pack("{s:s, s:f}", "t", t, "cpu_pct", f->node_cpu[i]));
    }
    return json_pack("{s:i, s:o}", "cpus", (int)f->ncpus, "timeline", tl);
}

static json_t *json_hotspots(const struct pod_hotspots *hs, json_t *jp)
{
    json_t *funcs = json_array(), *paths = json_array();

    for (size_t k = 0; k < hs->nfuncs; k++)
        json_array_append_new(funcs, json_pack("{s:o, s:f, s:f}", "name", jtext(hs->funcs[k].name),
                                               "self_pct", hs->funcs[k].self_pct, "total_pct",
                                               hs->funcs[k].total_pct));
    for (size_t k = 0; k < hs->npaths; k++) {
        json_t *frames = json_array();
        const char *s = hs->paths[k].frames, *frame;
        size_t len;

        while (next_frame(&s, &frame, &len))
            json_array_append_new(frames, jtext_n(frame, len));
        json_array_append_new(paths,
                              json_pack("{s:o, s:f}", "frames", frames, "pct", hs->paths[k].pct));
    }
    json_object_set_new(jp, "hot_functions", funcs);
    json_object_set_new(jp, "hot_paths", paths);
    return jp;
}

/* What a Pod's wall time says, in the seed's terms. */
enum verdict {
    VERDICT_NONE = 0,    /* no wall time: a CPU-only capture */
    VERDICT_CODE,        /* running dominates: the code is slow */
    VERDICT_ENVIRONMENT, /* throttled or queued: the environment is slow */
    VERDICT_WAITS,       /* blocked or sleeping: it waits on something */
};

static double wall_pct(const struct pod_wall *w, enum wall_state st)
{
    return w->total ? 100.0 * (double)w->ns[st] / (double)w->total : 0.0;
}

/* A quarter of the wall time throttled or queued is the environment's
 * doing whatever else the threads did: that much latency is the limit's
 * or the neighbours'. Otherwise the larger of running and waiting wins. */
static enum verdict wall_verdict(const struct pod_wall *w)
{
    double run = wall_pct(w, WALL_RUNNING);
    double env = wall_pct(w, WALL_THROTTLED) + wall_pct(w, WALL_RUNQUEUE);
    double wait = wall_pct(w, WALL_BLOCKED) + wall_pct(w, WALL_SLEEPING);

    if (!w->total)
        return VERDICT_NONE;
    if (env >= 25 || (env >= run && env >= wait))
        return VERDICT_ENVIRONMENT;
    return run >= wait ? VERDICT_CODE : VERDICT_WAITS;
}

static const char *verdict_name(enum verdict v)
{
    static const char *const names[] = {"none", "code", "environment", "waits"};

    return names[v];
}

/* "wall": each state's share; "waits": the heaviest path of each off-CPU
 * state that took at least 1% of it; "verdict". */
static void json_wall(const struct pod_wall *w, json_t *jp)
{
    json_t *shares = json_object(), *waits = json_array();

    for (int k = 0; k < WALL__MAX; k++)
        json_object_set_new(shares, wall_state_name((enum wall_state)k),
                            json_real(wall_pct(w, (enum wall_state)k)));
    for (int k = WALL_RUNQUEUE; k < WALL__MAX; k++) {
        json_t *frames = json_array();
        const char *s = w->waits[k].frames, *frame;
        size_t len;

        if (!s || w->waits[k].pct < 1) {
            json_decref(frames);
            continue;
        }
        while (next_frame(&s, &frame, &len))
            json_array_append_new(frames, jtext_n(frame, len));
        json_array_append_new(waits, json_pack("{s:s, s:f, s:o}", "state",
                                               wall_state_name((enum wall_state)k), "pct",
                                               w->waits[k].pct, "frames", frames));
    }
    json_object_set_new(jp, "wall", shares);
    json_object_set_new(jp, "waits", waits);
    json_object_set_new(jp, "verdict", json_string(verdict_name(wall_verdict(w))));
}

static json_t *json_pod(const struct finding_pod *p, const struct pod_hotspots *hs,
                        const struct pod_wall *w)
{
    json_t *jp = json_object();

    json_object_set_new(jp, "namespace", jtext(p->ns));
    json_object_set_new(jp, "pod", jtext(p->name));
    json_object_set_new(jp, "uid", jtext(p->cpu.uid));
    json_object_set_new(jp, "cgroup", jtext(p->cpu.path));
    json_object_set_new(jp, "cpu_pct", json_real(p->cpu.cpu_pct));
    json_object_set_new(jp, "limit_cpus", json_real(p->cpu.limit_cpus));
    json_object_set_new(jp, "throttled_pct", json_real(p->cpu.throttled_pct));
    json_object_set_new(jp, "samples", json_integer((json_int_t)hs->samples));
    if (w->total)
        json_wall(w, jp);
    return json_hotspots(hs, jp);
}

/* NULL when out of memory. */
static json_t *finding_json(const struct finding *f, const struct pod_hotspots *hs,
                            const struct pod_wall *wall, uint64_t capture_samples, const char *id)
{
    json_t *root = json_object(), *pods = json_array();

    for (size_t i = 0; i < f->npods; i++)
        json_array_append_new(pods, json_pod(&f->pods[i], &hs[i], &wall[i]));
    json_object_set_new(root, "id", json_string(id));
    json_object_set_new(root, "node", jtext(f->node ? f->node : ""));
    json_object_set_new(root, "trigger", json_trigger(f));
    json_object_set_new(root, "node_cpu", json_timeline(f));
    json_object_set_new(root, "pods", pods);
    json_object_set_new(root, "capture",
                        json_pack("{s:i, s:f, s:I, s:s, s:s}", "hz", (int)f->capture_hz, "seconds",
                                  f->capture_s, "samples", (json_int_t)capture_samples, "pprof",
                                  "capture.pb.gz", "svg", "capture.svg"));
    return root;
}

/* ---- finding.md ---- */

/* The innermost frame of a path that is the service's code: neither the
 * synthetic off-CPU leaf nor a kernel frame. */
static bool code_frame(const char *frames, const char **out, size_t *outlen)
{
    const char *s = frames, *frame;
    size_t len;
    bool found = false;

    while (next_frame(&s, &frame, &len)) {
        if ((len > 4 && !memcmp(frame + len - 4, "_[k]", 4)) || frame[0] == '[')
            continue;
        *out = frame;
        *outlen = len;
        found = true;
    }
    return found;
}

/* The verdict's line: which of code, environment or waiting makes the
 * subject Pod slow, with the numbers and what to do. */
static void md_verdict(FILE *m, const struct finding *f, const struct pod_hotspots *hs,
                       const struct pod_wall *wall)
{
    const struct finding_pod *sp = subject_pod(f);
    size_t i = sp ? (size_t)(sp - f->pods) : 0;
    const struct pod_wall *w = &wall[i];
    enum verdict v = f->npods ? wall_verdict(w) : VERDICT_NONE;
    enum wall_state worst =
        w->ns[WALL_BLOCKED] > w->ns[WALL_SLEEPING] ? WALL_BLOCKED : WALL_SLEEPING;
    char who[600];
    const char *frame;
    size_t len;

    if (v == VERDICT_NONE)
        return;
    pod_display(&f->pods[i], who, sizeof(who));
    if (v == VERDICT_CODE) {
        fputs("**The code is slow:** ", m);
        md_text(m, who);
        fprintf(m, "'s threads ran %.0f%% of their wall time", wall_pct(w, WALL_RUNNING));
    } else if (v == VERDICT_ENVIRONMENT) {
        fputs("**The environment is slow:** ", m);
        md_text(m, who);
        fprintf(m,
                "'s threads were throttled by its CPU limit %.0f%% and waited for a CPU %.0f%% "
                "of their wall time, and ran %.0f%%",
                wall_pct(w, WALL_THROTTLED), wall_pct(w, WALL_RUNQUEUE), wall_pct(w, WALL_RUNNING));
    } else {
        fputs("**It waits on something:** ", m);
        md_text(m, who);
        fprintf(m, "'s threads were blocked %.0f%% and sleeping %.0f%% of their wall time",
                wall_pct(w, WALL_BLOCKED), wall_pct(w, WALL_SLEEPING));
        if (w->waits[worst].frames && code_frame(w->waits[worst].frames, &frame, &len)) {
            fputs(", most in ", m);
            md_code(m, frame, len, false);
        }
    }
    if (v != VERDICT_WAITS && hs[i].nfuncs) {
        fputs(", mostly in ", m);
        md_code(m, hs[i].funcs[0].name, strlen(hs[i].funcs[0].name), false);
    }
    if (v == VERDICT_ENVIRONMENT && w->ns[WALL_THROTTLED] >= w->ns[WALL_RUNQUEUE]) {
        fputs(": raise its CPU limit or spread the work", m);
    } else if (v == VERDICT_ENVIRONMENT) {
        fputs(": move the Pod or its neighbours", m);
        for (size_t k = 0, named = 0; k < f->npods && named < 3; k++) {
            if (k == i)
                continue;
            fputs(named++ ? ", " : " (busiest: ", m);
            md_text(m, pod_display(&f->pods[k], who, sizeof(who)));
            fprintf(m, " at %.0f%% of one CPU", f->pods[k].cpu.cpu_pct);
        }
        if (f->npods > 1)
            fputc(')', m);
    }
    fputs(".\n\n", m);
}

/* The title and what fired, the hottest Pod, the capture's links. */
static void md_summary(FILE *m, const struct finding *f, const struct pod_hotspots *hs,
                       uint64_t capture_samples)
{
    char sentence[1024], since[40], at[40], who[600];

    trigger_sentence(f, sentence, sizeof(sentence));
    iso(f->ev.since_ns, since, sizeof(since));
    iso(f->ev.at_ns, at, sizeof(at));
    fputs("# CPU finding on ", m);
    md_text(m, f->node ? f->node : "this node");
    fputs(": ", m);
    md_text(m, sentence);
    fputs("\n\n", m);
    fprintf(m, "- **Trigger:** %s; it began at %s and fired at %s.\n",
            trigger_rule_name(f->ev.rule), since, at);
    if (f->npods) {
        fputs("- **Hottest Pod:** ", m);
        md_text(m, pod_display(&f->pods[0], who, sizeof(who)));
        fprintf(m, " at %.0f%% of one CPU", f->pods[0].cpu.cpu_pct);
        if (hs[0].nfuncs) {
            fputs(", mostly in ", m);
            md_code(m, hs[0].funcs[0].name, strlen(hs[0].funcs[0].name), false);
            fprintf(m, " (%.0f%% self)", hs[0].funcs[0].self_pct);
        }
        fprintf(m, ".\n");
    }
    fprintf(m,
            "- **Capture:** %u Hz for %.0f s on the %zu busiest Pods, %" PRIu64
            " samples: [capture.pb.gz](capture.pb.gz) (go tool pprof), "
            "[flame graph](capture.svg).\n\n",
            f->capture_hz, f->capture_s, f->npods, capture_samples);
}

/* The node's CPU for the last MD_TIMELINE seconds, as bars of 2.5%. */
static void md_timeline(FILE *m, const struct finding *f)
{
    size_t first = f->nnode > MD_TIMELINE ? f->nnode - MD_TIMELINE : 0;

    fprintf(m, "## Node CPU, last %zu s (%u CPUs, %% of all)\n\n```\n", f->nnode - first, f->ncpus);
    for (size_t i = first; i < f->nnode; i++) {
        int bars = (int)(f->node_cpu[i] / 2.5 + 0.5);

        fprintf(m, "%4lds %5.1f%% %.*s\n", -(long)(f->nnode - 1 - i), f->node_cpu[i],
                bars > 40  ? 40
                : bars < 0 ? 0
                           : bars,
                "########################################");
    }
    fputs("```\n\n", m);
}

static void md_pod_table(FILE *m, const struct finding *f, const struct pod_hotspots *hs)
{
    char who[600];

    fprintf(m, "## Pods\n\n| Pod | CPU (%% of one CPU) | limit (CPUs) | throttled | "
               "samples |\n|---|---:|---:|---:|---:|\n");
    for (size_t i = 0; i < f->npods; i++) {
        const struct finding_pod *p = &f->pods[i];
        char limit[32] = "none";

        if (p->cpu.limit_cpus > 0)
            snprintf(limit, sizeof(limit), "%.2f", p->cpu.limit_cpus);
        fputs("| ", m);
        md_text(m, pod_display(p, who, sizeof(who)));
        fprintf(m, " | %.1f | %s | %.0f%% | %" PRIu64 " |\n", p->cpu.cpu_pct, limit,
                p->cpu.throttled_pct, hs[i].samples);
    }
}

/* A Pod's wall time by state, and where it waited most in each. */
static void md_pod_wall(FILE *m, const struct pod_wall *w)
{
    fprintf(m,
            "Wall time: running %.0f%%, throttled %.0f%%, runqueue %.0f%%, blocked %.0f%%, "
            "sleeping %.0f%%.\n\n",
            wall_pct(w, WALL_RUNNING), wall_pct(w, WALL_THROTTLED), wall_pct(w, WALL_RUNQUEUE),
            wall_pct(w, WALL_BLOCKED), wall_pct(w, WALL_SLEEPING));
    for (int k = WALL_RUNQUEUE; k < WALL__MAX; k++) {
        const char *s = w->waits[k].frames, *frame;
        size_t len;

        if (!s || w->waits[k].pct < 5)
            continue;
        fprintf(m, "- %s, %.1f%% of the wall time, most on: ", wall_state_name((enum wall_state)k),
                w->waits[k].pct);
        for (bool first = true; next_frame(&s, &frame, &len); first = false) {
            if (!first)
                fputs(" → ", m);
            md_code(m, frame, len, false);
        }
        fputc('\n', m);
    }
    fputc('\n', m);
}

/* A Pod's section: its wall time, its hottest functions and heaviest paths. */
static void md_pod_hotspots(FILE *m, const struct finding_pod *p, const struct pod_hotspots *hs,
                            const struct pod_wall *w)
{
    char who[600];

    fputs("\n### ", m);
    md_text(m, pod_display(p, who, sizeof(who)));
    fputs("\n\n", m);
    if (w->total)
        md_pod_wall(m, w);
    if (!hs->samples) {
        fprintf(m, "No samples in the capture.\n");
        return;
    }
    fprintf(m, "| function | self | total |\n|---|---:|---:|\n");
    for (size_t k = 0; k < hs->nfuncs; k++) {
        if (hs->funcs[k].self_pct < 0.05)
            break; /* sorted by self time: the rest would read 0.0% */
        fputs("| ", m);
        md_code(m, hs->funcs[k].name, strlen(hs->funcs[k].name), true);
        fprintf(m, " | %.1f%% | %.1f%% |\n", hs->funcs[k].self_pct, hs->funcs[k].total_pct);
    }
    fprintf(m, "\nHeaviest code paths, root to leaf:\n\n");
    for (size_t k = 0; k < hs->npaths; k++) {
        const char *s = hs->paths[k].frames, *frame;
        size_t len;

        fprintf(m, "%zu. %.1f%%: ", k + 1, hs->paths[k].pct);
        for (bool first = true; next_frame(&s, &frame, &len); first = false) {
            if (!first)
                fputs(" → ", m);
            md_code(m, frame, len, false);
        }
        fputc('\n', m);
    }
}

/* NULL when out of memory. */
static char *finding_markdown(const struct finding *f, const struct pod_hotspots *hs,
                              const struct pod_wall *wall, uint64_t capture_samples)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);

    if (!m)
        return NULL;
    md_verdict(m, f, hs, wall);
    md_summary(m, f, hs, capture_samples);
    md_timeline(m, f);
    md_pod_table(m, f, hs);
    for (size_t i = 0; i < f->npods; i++)
        md_pod_hotspots(m, &f->pods[i], &hs[i], &wall[i]);
    if (fclose(m)) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- the directory ---- */

/* TIME-RULE-SUBJECT: the subject Pod's name, else its UID, else "node". */
static void finding_id(const struct finding *f, char *id, size_t idlen)
{
    const struct finding_pod *sp = subject_pod(f);
    time_t t = (time_t)(f->ev.at_ns / 1000000000LL);
    char stamp[32], subj[200];
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    id_part(sp && sp->name[0]  ? sp->name
            : f->ev.pod_uid[0] ? f->ev.pod_uid
                               : "node",
            subj, sizeof(subj));
    snprintf(id, idlen, "%s-%s-%s", stamp, trigger_rule_name(f->ev.rule), subj);
}

/* DIR/ID, for root's eyes: findings name Pods and their code (0700). */
static int make_dir(const char *dir, const char *id, char *err, size_t errlen)
{
    char path[1400];
    int rc;

    if ((rc = output_make_dirs_mode(dir, 0700))) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(-rc));
        return rc;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, id);
    if (mkdir(path, 0700) && errno != EEXIST) {
        rc = -errno;
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(-rc));
        return rc;
    }
    return 0;
}

/* capture.pb.gz and capture.svg (0600). */
static int write_capture(const struct pf_profile *capture, const char *dir, const char *id,
                         char *err, size_t errlen)
{
    struct output_opts oo = {.format = PF_FORMAT_PPROF, .group_by = PF_GROUP_POD};
    char path[1400];
    int rc;

    snprintf(path, sizeof(path), "%s/%s/capture.pb.gz", dir, id);
    if ((rc = output_write_mode(path, 0600, capture, &oo, err, errlen)))
        return rc;
    snprintf(path, sizeof(path), "%s/%s/capture.svg", dir, id);
    oo.format = PF_FORMAT_SVG;
    return output_write_mode(path, 0600, capture, &oo, err, errlen);
}

/* finding.json and finding.md (0600). */
static int write_report(const struct finding *f, const struct pod_hotspots *hs,
                        const struct pod_wall *wall, uint64_t samples, const char *dir,
                        const char *id, char *err, size_t errlen)
{
    json_t *j = finding_json(f, hs, wall, samples, id);
    char *md = finding_markdown(f, hs, wall, samples),
         *js = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    char path[1400];
    int rc = -ENOMEM;

    if (!js || !md) {
        snprintf(err, errlen, "out of memory for finding %s", id);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/%s/finding.json", dir, id);
    if ((rc = output_atomic_mode(path, 0600, write_text, &(struct text){js}, err, errlen)))
        goto out;
    snprintf(path, sizeof(path), "%s/%s/finding.md", dir, id);
    rc = output_atomic_mode(path, 0600, write_text, &(struct text){md}, err, errlen);
out:
    json_decref(j);
    free(js);
    free(md);
    return rc;
}

int finding_write(const struct finding *f, const struct pf_profile *capture, const char *dir,
                  char *id, size_t idlen, char *err, size_t errlen)
{
    struct pod_hotspots hs[FINDING_MAX_PODS];
    struct pod_wall wall[FINDING_MAX_PODS];
    uint64_t samples = 0;
    int rc = 0;

    memset(hs, 0, sizeof(hs));
    memset(wall, 0, sizeof(wall));
    finding_id(f, id, idlen);
    for (size_t i = 0; i < capture->nsamples; i++)
        samples += (uint64_t)capture->samples[i].values[0];
    for (size_t i = 0; i < f->npods && !rc; i++) {
        rc = pod_hotspots_find(capture, f->pods[i].cpu.uid, &hs[i], err, errlen);
        if (!rc)
            rc = pod_wall_find(capture, f->pods[i].cpu.uid, &wall[i], err, errlen);
    }
    if (!rc && !(rc = make_dir(dir, id, err, errlen)) &&
        !(rc = write_capture(capture, dir, id, err, errlen)))
        rc = write_report(f, hs, wall, samples, dir, id, err, errlen);
    for (size_t i = 0; i < f->npods; i++) {
        pod_hotspots_free(&hs[i]);
        pod_wall_free(&wall[i]);
    }
    return rc;
}
