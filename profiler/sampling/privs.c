#include "profiler/sampling/privs.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Numbers newer than some headers: CAP_PERFMON 38, CAP_BPF 39,
 * CAP_CHECKPOINT_RESTORE 40. */
#define PF_CAP_PERFMON            38
#define PF_CAP_BPF                39
#define PF_CAP_CHECKPOINT_RESTORE 40

static int last_cap(void)
{
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
    int last = CAP_LAST_CAP;

    if (f) {
        if (fscanf(f, "%d", &last) != 1)
            last = CAP_LAST_CAP;
        fclose(f);
    }
    return last < 63 ? last : 63;
}

static uint64_t wanted(int last)
{
    uint64_t keep = 1ULL << CAP_SYS_PTRACE | 1ULL << CAP_DAC_READ_SEARCH | 1ULL << CAP_SYSLOG;

    if (last >= PF_CAP_BPF)
        keep |= 1ULL << PF_CAP_BPF | 1ULL << PF_CAP_PERFMON;
    else /* before Linux 5.8, BPF and perf events are CAP_SYS_ADMIN's */
        keep |= 1ULL << CAP_SYS_ADMIN | 1ULL << CAP_SYS_RESOURCE;
    /* /proc/PID/map_files: CAP_CHECKPOINT_RESTORE since 5.9, else SYS_ADMIN */
    keep |= last >= PF_CAP_CHECKPOINT_RESTORE ? 1ULL << PF_CAP_CHECKPOINT_RESTORE
                                              : 1ULL << CAP_SYS_ADMIN;
    return keep;
}

int privs_drop(void)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    int last = last_cap();
    uint64_t keep = wanted(last), have;

    if (syscall(SYS_capget, &h, d))
        return -errno;
    have = (uint64_t)d[1].permitted << 32 | d[0].permitted;
    /* the bounding set first: it takes CAP_SETPCAP, which goes below */
    for (int c = 0; c <= last; c++) {
        if (!(keep & 1ULL << c) && prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1 &&
            prctl(PR_CAPBSET_DROP, c, 0, 0, 0) && errno != EPERM)
            return -errno;
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    keep &= have;
    d[0].effective = d[0].permitted = (uint32_t)keep;
    d[1].effective = d[1].permitted = (uint32_t)(keep >> 32);
    d[0].inheritable = d[1].inheritable = 0;
    if (syscall(SYS_capset, &h, d))
        return -errno;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
        return -errno;
    return 0;
}

static uint64_t effective(void)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];

    if (syscall(SYS_capget, &h, d))
        return 0;
    return (uint64_t)d[1].effective << 32 | d[0].effective;
}

/* appends NAME to buf, joined by ", " (and " and " before the last is
 * not known here: the caller words the list) */
static void add_name(char *buf, size_t len, const char *name)
{
    size_t used = strlen(buf);

    if (used < len)
        snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
}

void privs_missing_for_bpf(char *buf, size_t len)
{
    uint64_t eff = effective();

    if (len)
        buf[0] = '\0';
    if (last_cap() < PF_CAP_BPF) {
        if (!(eff & 1ULL << CAP_SYS_ADMIN))
            add_name(buf, len, "CAP_SYS_ADMIN");
        return;
    }
    if (!(eff & 1ULL << PF_CAP_BPF))
        add_name(buf, len, "CAP_BPF");
    if (!(eff & 1ULL << PF_CAP_PERFMON))
        add_name(buf, len, "CAP_PERFMON");
}

int privs_seccomp_filtered(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    int filtered = 0;

    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "Seccomp:", 8) == 0) {
            filtered = atoi(line + 8) == 2;
            break;
        }
    }
    fclose(f);
    return filtered;
}

void privs_degraded(char *buf, size_t len)
{
    uint64_t eff = effective();
    char names[128] = "";

    if (len)
        buf[0] = '\0';
    if (!(eff & 1ULL << CAP_SYS_PTRACE))
        add_name(names, sizeof(names), "CAP_SYS_PTRACE");
    if (!(eff & 1ULL << CAP_DAC_READ_SEARCH))
        add_name(names, sizeof(names), "CAP_DAC_READ_SEARCH");
    if (last_cap() >= PF_CAP_CHECKPOINT_RESTORE && !(eff & 1ULL << PF_CAP_CHECKPOINT_RESTORE))
        add_name(names, sizeof(names), "CAP_CHECKPOINT_RESTORE");
    if (!(eff & 1ULL << CAP_SYSLOG))
        add_name(names, sizeof(names), "CAP_SYSLOG");
    if (names[0] && len)
        snprintf(buf, len,
                 "without %s some frames stay unnamed (SYS_PTRACE reads other users' processes' "
                 "maps and roots, DAC_READ_SEARCH their files, CHECKPOINT_RESTORE deleted and "
                 "memfd binaries, SYSLOG kernel symbols when kptr_restrict=1): add them to the "
                 "container's capabilities",
                 names);
}
