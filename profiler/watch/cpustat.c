#include "profiler/watch/cpustat.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_TEXT 65536

int cpustat_parse_proc_stat(const char *text, struct node_cpu *out)
{
    const char *line = text;
    bool seen = false;

    memset(out, 0, sizeof(*out));
    while (line && *line) {
        const char *nl = strchr(line, '\n');

        if (!strncmp(line, "cpu", 3)) {
            unsigned long long v[10] = {0};
            char name[16];
            int n = sscanf(line, "%15s %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", name,
                           &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
            uint64_t total = 0, idle;

            if (n < 5)
                return -EINVAL;
            /* guest and guest_nice are already in user and nice */
            for (int i = 0; i < 8 && i < n - 1; i++)
                total += v[i];
            idle = v[3] + v[4]; /* idle + iowait */
            if (!strcmp(name, "cpu")) {
                out->total = total;
                out->busy = total - idle;
                seen = true;
            } else if (out->ncpus < CPUSTAT_MAX_CPUS) {
                out->cpu_total[out->ncpus] = total;
                out->cpu_busy[out->ncpus] = total - idle;
                out->ncpus++;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    return seen ? 0 : -EINVAL;
}

int cpustat_parse_psi(const char *text, double *some_avg10)
{
    const char *p = strstr(text, "some avg10=");

    if (!p || (p != text && p[-1] != '\n'))
        return -EINVAL;
    *some_avg10 = strtod(p + strlen("some avg10="), NULL);
    return *some_avg10 >= 0 && *some_avg10 <= 100 ? 0 : -EINVAL;
}

/* The value of "key N" among lines; false when absent. */
static bool keyed(const char *text, const char *key, uint64_t *out)
{
    size_t klen = strlen(key);

    for (const char *l = text; l && *l;) {
        if (!strncmp(l, key, klen) && l[klen] == ' ') {
            char *end;

            errno = 0;
            *out = strtoull(l + klen + 1, &end, 10);
            return !errno && end != l + klen + 1;
        }
        l = strchr(l, '\n');
        if (l)
            l++;
    }
    return false;
}

int cpustat_parse_cpu_stat(const char *text, struct cgroup_cpu *out)
{
    if (!keyed(text, "usage_usec", &out->usage_usec))
        return -EINVAL;
    if (keyed(text, "nr_periods", &out->nr_periods)) {
        out->has_throttling = true;
        keyed(text, "nr_throttled", &out->nr_throttled);
        keyed(text, "throttled_usec", &out->throttled_usec);
    }
    return 0;
}

int cpustat_parse_cpu_max(const char *text, double *cpus)
{
    char quota[32];
    unsigned long long period;

    if (sscanf(text, "%31s %llu", quota, &period) != 2 || !period)
        return -EINVAL;
    if (!strcmp(quota, "max")) {
        *cpus = 0;
        return 0;
    }
    {
        char *end;
        unsigned long long q = strtoull(quota, &end, 10);

        if (*end || !q)
            return -EINVAL;
        *cpus = (double)q / (double)period;
    }
    return 0;
}

/* Reads a small kernel file into buf. Returns its length or -errno. */
static ssize_t read_text(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -errno;
    n = read(fd, buf, len - 1);
    if (n < 0)
        n = -errno;
    close(fd);
    if (n >= 0)
        buf[n] = '\0';
    return n;
}

int cpustat_read_node(struct node_cpu *out, double *psi)
{
    char *buf = calloc(1, MAX_TEXT);
    ssize_t n;
    int rc;

    if (!buf)
        return -ENOMEM;
    n = read_text("/proc/stat", buf, MAX_TEXT);
    rc = n < 0 ? (int)n : cpustat_parse_proc_stat(buf, out);
    *psi = -1;
    if (read_text("/proc/pressure/cpu", buf, MAX_TEXT) > 0 && cpustat_parse_psi(buf, psi))
        *psi = -1;
    free(buf);
    return rc;
}

/* ---- v1 mounts, found once ---- */

static pthread_once_t v1_once = PTHREAD_ONCE_INIT;
static char v1_cpu[512], v1_cpuacct[512];

static void find_v1_mounts(void)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096];

    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS ... - FSTYPE SOURCE SUPEROPTS */
        char mnt[512], fstype[32], super[512];
        const char *dash = strstr(line, " - ");

        if (!dash || sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1 ||
            sscanf(dash + 3, "%31s %*s %511s", fstype, super) != 2 || strcmp(fstype, "cgroup") != 0)
            continue;
        char *save = NULL;

        for (char *tok = strtok_r(super, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (!strcmp(tok, "cpu") && !v1_cpu[0])
                snprintf(v1_cpu, sizeof(v1_cpu), "%s", mnt);
            if (!strcmp(tok, "cpuacct") && !v1_cpuacct[0])
                snprintf(v1_cpuacct, sizeof(v1_cpuacct), "%s", mnt);
        }
    }
    fclose(f);
}

const char *cpustat_v1_mount(const char *ctrl)
{
    pthread_once(&v1_once, find_v1_mounts);
    if (!strcmp(ctrl, "cpu"))
        return v1_cpu[0] ? v1_cpu : NULL;
    if (!strcmp(ctrl, "cpuacct"))
        return v1_cpuacct[0] ? v1_cpuacct : NULL;
    return NULL;
}

/* What only the v1 controllers say: the CFS quota and its throttling, and
 * the usage when v2 has none. */
static void read_v1(const char *rel, struct cgroup_cpu *out, bool need_usage)
{
    const char *cpu = cpustat_v1_mount("cpu"), *acct = cpustat_v1_mount("cpuacct");
    char path[1024], buf[4096] = "";
    long long quota = -1, period = 0;

    if (need_usage && acct) {
        snprintf(path, sizeof(path), "%s/%s/cpuacct.usage", acct, rel);
        if (read_text(path, buf, sizeof(buf)) > 0)
            out->usage_usec = strtoull(buf, NULL, 10) / 1000;
    }
    if (!cpu || out->has_throttling)
        return;
    snprintf(path, sizeof(path), "%s/%s/cpu.stat", cpu, rel);
    if (read_text(path, buf, sizeof(buf)) <= 0)
        return;
    /* v1 says nr_throttled and throttled_time (ns) */
    if (keyed(buf, "nr_periods", &out->nr_periods)) {
        uint64_t ns = 0;

        out->has_throttling = true;
        keyed(buf, "nr_throttled", &out->nr_throttled);
        if (keyed(buf, "throttled_time", &ns))
            out->throttled_usec = ns / 1000;
    }
    snprintf(path, sizeof(path), "%s/%s/cpu.cfs_quota_us", cpu, rel);
    if (read_text(path, buf, sizeof(buf)) > 0)
        quota = strtoll(buf, NULL, 10);
    snprintf(path, sizeof(path), "%s/%s/cpu.cfs_period_us", cpu, rel);
    if (read_text(path, buf, sizeof(buf)) > 0)
        period = strtoll(buf, NULL, 10);
    if (quota > 0 && period > 0 && out->limit_cpus == 0)
        out->limit_cpus = (double)quota / (double)period;
}

int cpustat_read_cgroup(const char *v2dir, const char *v1rel, struct cgroup_cpu *out, char *err,
                        size_t errlen)
{
    char path[1024], buf[4096] = "";
    bool have_usage = false;

    memset(out, 0, sizeof(*out));
    out->psi_some_avg10 = -1;
    if (v2dir) {
        snprintf(path, sizeof(path), "%s/cpu.stat", v2dir);
        if (read_text(path, buf, sizeof(buf)) > 0 && !cpustat_parse_cpu_stat(buf, out))
            have_usage = true;
        else if (access(v2dir, F_OK)) {
            snprintf(err, errlen, "cgroup %s is gone", v2dir);
            return -ENOENT;
        }
        snprintf(path, sizeof(path), "%s/cpu.max", v2dir);
        if (read_text(path, buf, sizeof(buf)) > 0)
            cpustat_parse_cpu_max(buf, &out->limit_cpus);
        snprintf(path, sizeof(path), "%s/cpu.pressure", v2dir);
        if (read_text(path, buf, sizeof(buf)) > 0 && cpustat_parse_psi(buf, &out->psi_some_avg10))
            out->psi_some_avg10 = -1;
    }
    if (v1rel)
        read_v1(v1rel, out, !have_usage);
    return 0;
}
