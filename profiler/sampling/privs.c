#include "profiler/sampling/privs.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdio.h>
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
