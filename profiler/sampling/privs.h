/*
 * privs: the capabilities podflame keeps once its BPF program is loaded.
 *
 * podflame starts as root (or with the DaemonSet's named capabilities) to
 * load BPF and open perf events. After that it reads other processes'
 * files and answers HTTP requests for hours: everything else root could
 * do (write any file, load modules, change users, configure the network)
 * is dropped, from the bounding set too, and no exec can regain it.
 */
#ifndef PODFLAME_PRIVS_H
#define PODFLAME_PRIVS_H

#include <stddef.h>

/* Drops every capability but those podflame still uses: reading processes'
 * maps, roots and mapped files (SYS_PTRACE, DAC_READ_SEARCH,
 * CHECKPOINT_RESTORE), kernel symbols (SYSLOG) and, for the watcher's
 * captures and BPF map access, BPF and PERFMON (SYS_ADMIN instead on
 * kernels older than those, and SYS_RESOURCE for their locked-memory
 * limit). Sets no_new_privs. Applies to the calling thread and the threads
 * it starts afterwards: call it before starting any. Returns 0 (also when
 * there was nothing to drop) or a negative errno. */
int privs_drop(void);

/* Names, in buf, the capabilities loading the BPF program needs that this
 * process does not hold ("CAP_BPF and CAP_PERFMON", "CAP_BPF"; on kernels
 * before 5.8 "CAP_SYS_ADMIN"); buf is empty when none is missing. */
void privs_missing_for_bpf(char *buf, size_t len);

/* True when a seccomp filter is installed on this process (a container
 * runtime's default profile refuses bpf() and perf_event_open). */
int privs_seccomp_filtered(void);

/* Fills buf with one line saying what degrades without the capabilities
 * podflame reads other processes' files with (SYS_PTRACE, DAC_READ_SEARCH,
 * CHECKPOINT_RESTORE, SYSLOG) when it lacks some; buf is empty otherwise. */
void privs_degraded(char *buf, size_t len);

#endif
