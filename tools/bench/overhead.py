#!/usr/bin/env python3
"""Profiling overhead: how much slower a fixed-work CPU workload on all cores
runs while a profiler samples the whole machine.

Runs, interleaved round by round so drift hits every configuration alike:
no profiler, podflame record, perf record -a -g and bpftrace's profile probe,
each at 99 and 999 Hz. Prints each configuration's median workload time, its
slowdown against the unprofiled median, and the profiler's own CPU time and
peak RSS (from wait4, so everything it did up to exit counts).

usage: tools/bench/overhead.py BUILD_DIR [--rounds N] [--work ROUNDS]
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time


def run_workload(cpuwork, ncpu, work):
    """Returns (wall seconds, CPU seconds the workload processes used)."""
    start = time.monotonic()
    procs = [subprocess.Popen([cpuwork, "--rounds", str(work)]) for _ in range(ncpu)]
    cpu = 0.0
    for p in procs:
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = status
        if status != 0:
            sys.exit("workload failed")
        cpu += ru.ru_utime + ru.ru_stime
    return time.monotonic() - start, cpu


def wait_ready(proc, marker_file, marker, timeout=20.0):
    """Waits until the profiler says it is sampling (or a fixed settle time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"profiler exited early: {open(marker_file).read()[-500:]}")
        if marker is None:
            time.sleep(1.0)
            return
        with open(marker_file, errors="replace") as f:
            if marker in f.read():
                time.sleep(0.3)
                return
        time.sleep(0.05)
    sys.exit("profiler did not start in time")


def profiler_cmd(kind, hz, podflame, tmp):
    if kind == "podflame":
        return [podflame, "record", "-F", str(hz), "-o", f"{tmp}/pf.folded"], "sampling"
    if kind == "perf":
        return ["perf", "record", "-a", "-g", "-F", str(hz), "-o", f"{tmp}/perf.data"], None
    if kind == "bpftrace":
        prog = f"profile:hz:{hz} {{ @[ustack, kstack] = count(); }}"
        return ["bpftrace", "-e", prog], "Attaching"
    raise ValueError(kind)


def measure(kind, hz, args, tmp):
    if kind == "none":
        return run_workload(args.cpuwork, args.ncpu, args.work) + (0.0, 0)
    cmd, marker = profiler_cmd(kind, hz, args.podflame, tmp)
    log = f"{tmp}/{kind}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    wait_ready(proc, log, marker)
    elapsed, wl_cpu = run_workload(args.cpuwork, args.ncpu, args.work)
    proc.send_signal(signal.SIGINT)
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = status
    # perf re-raises SIGINT to end itself: that is a normal finish
    sigint_exit = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGINT
    if not sigint_exit and (not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0):
        sys.exit(f"{kind} failed with status {status}: {open(log).read()[-800:]}")
    return elapsed, wl_cpu, ru.ru_utime + ru.ru_stime, ru.ru_maxrss // 1024


def perf_event_progs():
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True)
    if out.returncode != 0:
        return {}
    return {p["id"]: p for p in json.loads(out.stdout) if p.get("type") == "perf_event"}


def per_sample_cost(kind, hz, args, tmp):
    """ns per run of the profiler's perf_event BPF program (kernel.bpf_stats_enabled)."""
    before = perf_event_progs()
    cmd, marker = profiler_cmd(kind, hz, args.podflame, tmp)
    log = f"{tmp}/{kind}.stats.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    wait_ready(proc, log, marker)
    run_workload(args.cpuwork, args.ncpu, args.work // 2)
    progs = [p for i, p in perf_event_progs().items() if i not in before]
    proc.send_signal(signal.SIGINT)
    proc.wait()
    runs = sum(p.get("run_cnt", 0) for p in progs)
    ns = sum(p.get("run_time_ns", 0) for p in progs)
    return (ns / runs, runs) if runs else (float("nan"), 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--work", type=int, default=2500, help="cpuwork rounds per process")
    args = ap.parse_args()
    args.podflame = os.path.abspath(f"{args.build}/podflame")
    args.cpuwork = os.path.abspath(f"{args.build}/tests/cpuwork")
    args.ncpu = os.cpu_count()
    if os.geteuid() != 0:
        sys.exit("run as root: every profiler here loads BPF or opens system-wide events")

    configs = [("none", 0)]
    for hz in (99, 999):
        configs.append(("podflame", hz))
        if shutil.which("perf"):
            configs.append(("perf", hz))
        if shutil.which("bpftrace"):
            configs.append(("bpftrace", hz))
    results = {c: [] for c in configs}
    tmp = tempfile.mkdtemp(prefix="podflame-bench.")
    run_workload(args.cpuwork, args.ncpu, args.work // 4)  # warm caches and clocks
    for r in range(args.rounds):
        for c in configs:
            results[c].append(measure(c[0], c[1], args, tmp))
            print(f"round {r + 1}/{args.rounds} {c[0]:>8} {c[1]:>4} Hz: "
                  f"{results[c][-1][0]:.3f} s", file=sys.stderr, flush=True)
            time.sleep(0.5)  # let the previous profiler's exit work finish
    costs = {}
    if shutil.which("bpftool"):
        with open("/proc/sys/kernel/bpf_stats_enabled") as f:
            old = f.read().strip()
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write("1")
        try:
            for kind in ("podflame", "bpftrace"):
                if kind == "podflame" or shutil.which(kind):
                    costs[kind] = per_sample_cost(kind, 999, args, tmp)
        finally:
            with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
                f.write(old)
    shutil.rmtree(tmp, ignore_errors=True)

    def med(c, i):
        return statistics.median(x[i] for x in results[c])

    base, base_cpu = med(("none", 0), 0), med(("none", 0), 1)
    spread = max(x[0] for x in results[("none", 0)]) / min(x[0] for x in results[("none", 0)])
    print(f"\nworkload: {args.ncpu} x cpuwork --rounds {args.work} "
          f"(all {args.ncpu} CPUs busy), {args.rounds} interleaved rounds, medians; "
          f"unprofiled runs vary by {100 * (spread - 1):.1f}% max/min")
    print(f"{'profiler':<10} {'Hz':>5} {'wall s':>7} {'slowdown':>9} {'workload CPU':>13} "
          f"{'profiler CPU s':>15} {'peak RSS MiB':>13}")
    for c in configs:
        name = c[0] if c[0] != "none" else "(none)"
        hz = str(c[1]) if c[1] else "-"
        print(f"{name:<10} {hz:>5} {med(c, 0):>7.3f} {100 * (med(c, 0) / base - 1):>8.2f}% "
              f"{100 * (med(c, 1) / base_cpu - 1):>12.2f}% {med(c, 2):>15.2f} "
              f"{max(x[3] for x in results[c]):>13}")
    print("\nwall-clock slowdown ratios, podflame / other (below 1: podflame costs less):")
    for hz in (99, 999):
        pf = med(("podflame", hz), 0) / base - 1
        for other in ("perf", "bpftrace"):
            if (other, hz) in results:
                o = med((other, hz), 0) / base - 1
                ratio = f"{pf / o:.2f}" if o > 0.0005 else "n/a (other's slowdown ~0)"
                print(f"  {hz:>4} Hz vs {other:<8}: podflame {100 * pf:+.2f}%, "
                      f"{other} {100 * o:+.2f}%, ratio {ratio}")
    if costs:
        print("\nBPF program cost per sample at 999 Hz (kernel.bpf_stats_enabled, all CPUs busy):")
        for kind, (ns, runs) in costs.items():
            print(f"  {kind:<9} {ns:7.0f} ns per sample over {runs} samples")
        if "bpftrace" in costs and costs["bpftrace"][1]:
            print(f"  ratio podflame / bpftrace: {costs['podflame'][0] / costs['bpftrace'][0]:.2f}")


if __name__ == "__main__":
    main()
