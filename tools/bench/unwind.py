#!/usr/bin/env python3
"""Unwinding cost and completeness on a build without frame pointers.

The workload: tests/workloads/chain.c built -O2 -fomit-frame-pointer
(chain-nofp), one process per CPU, a fixed number of rounds, its time
known by construction to go thread -> loop -> middle -> leaf. Each
configuration samples the whole machine while the workload runs:

  podflame record --unwind dwarf / --unwind auto
  perf record -a --call-graph dwarf / perf record -a -g

at 99 and 999 Hz, interleaved round by round so drift hits every
configuration alike. Prints the workload's median slowdown against no
profiler, the profiler's own CPU time in all (perf's unwinding happens in
`perf script`, whose CPU time is added) and while the workload ran (what
the workload competes with), and the share of the leaf samples that
carry the complete chain. Medians over the rounds (default 9: single
runs move by a few points on a small VM).

usage: tools/bench/unwind.py BUILD_DIR [--rounds N] [--work ROUNDS]
"""
import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time


def run_workload(chain, ncpu, work):
    start = time.monotonic()
    procs = [subprocess.Popen([chain, "--rounds", str(work)]) for _ in range(ncpu)]
    for p in procs:
        if p.wait() != 0:
            sys.exit("workload failed")
    return time.monotonic() - start


def complete_share(folded):
    """Per cent of samples in chain_leaf_a/b whose stack has the whole chain."""
    total = full = 0
    with open(folded, errors="replace") as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not count.isdigit():
                continue
            for leaf, mid in (("chain_leaf_a", "chain_middle_a"), ("chain_leaf_b", "chain_middle_b")):
                if stack.endswith(";" + leaf) or stack == leaf:
                    total += int(count)
                    if f"chain_thread;chain_loop;{mid};{leaf}" in stack:
                        full += int(count)
    return 100.0 * full / total if total else 0.0


def proc_cpu(pid):
    """CPU seconds pid has used so far (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_cpu(pid):
    _, status, ru = os.wait4(pid, 0)
    return ru.ru_utime + ru.ru_stime, status


def profile(kind, hz, build, chain, ncpu, work, tmp):
    """Runs the workload under one profiler. Returns (wall, profiler CPU s in
    all, profiler CPU s while the workload ran, complete %)."""
    podflame = os.path.join(build, "podflame")
    folded = os.path.join(tmp, f"{kind}-{hz}.folded")
    if kind.startswith("podflame"):
        mode = kind.split("-")[1]
        cmd = [podflame, "record", "-F", str(hz), "--unwind", mode, "--no-kernel",
               "--group-by", "none", "-o", folded]
        ready = "sampling"
    else:
        cg = ["--call-graph", "dwarf"] if kind == "perf-dwarf" else ["-g"]
        cmd = ["perf", "record", "-q", "-a", "-F", str(hz), *cg, "-o", f"{tmp}/perf.data"]
        ready = None
    log = open(os.path.join(tmp, "prof.log"), "w+")
    prof = subprocess.Popen(cmd, stderr=log, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        log.seek(0)
        if ready is None:
            time.sleep(1.0)
            break
        if ready in log.read():
            time.sleep(0.3)
            break
        time.sleep(0.05)
    before = proc_cpu(prof.pid)
    wall = run_workload(chain, ncpu, work)
    during = proc_cpu(prof.pid) - before
    prof.send_signal(signal.SIGINT)
    cpu, _ = child_cpu(prof.pid)
    if kind.startswith("perf"):
        # perf unwinds (and names) when the data is read: that is its cost too
        start = os.times()
        with open(f"{tmp}/perf.txt", "w") as out:
            subprocess.run(["perf", "script", "-i", f"{tmp}/perf.data"], stdout=out,
                           stderr=subprocess.DEVNULL, check=False)
        end = os.times()
        cpu += (end.children_user - start.children_user) + (end.children_system - start.children_system)
        with open(folded, "w") as out:
            subprocess.run([podflame, "collapse", f"{tmp}/perf.txt"], stdout=out,
                           stderr=subprocess.DEVNULL, check=False)
    return wall, cpu, during, complete_share(folded)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--work", type=int, default=60000)
    args = ap.parse_args()
    chain = os.path.join(args.build, "tests", "chain-nofp")
    ncpu = os.cpu_count() or 1
    kinds = ["podflame-dwarf", "podflame-auto", "perf-dwarf", "perf-g"]
    configs = [("none", 0)] + [(k, hz) for hz in (99, 999) for k in kinds]
    results = {c: [] for c in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for kind, hz in configs:
                if kind == "none":
                    results[(kind, hz)].append((run_workload(chain, ncpu, args.work), 0.0, 0.0, 0.0))
                else:
                    results[(kind, hz)].append(profile(kind, hz, args.build, chain, ncpu, args.work, tmp))
                print(f"round {r + 1}/{args.rounds}: {kind} {hz or ''}", file=sys.stderr)
    base = statistics.median(r[0] for r in results[("none", 0)])
    print(f"workload: {ncpu} x chain-nofp --rounds {args.work}, unprofiled median {base:.2f} s")
    print(f"{'profiler':<34} {'Hz':>4} {'slowdown':>9} {'profiler CPU s':>15} {'during run s':>13} "
          f"{'complete stacks':>16}")
    for kind, hz in configs[1:]:
        rs = results[(kind, hz)]
        wall, cpu, during, comp = (statistics.median(r[i] for r in rs) for i in range(4))
        name = {"podflame-dwarf": "podflame --unwind dwarf", "podflame-auto": "podflame --unwind auto",
                "perf-dwarf": "perf record --call-graph dwarf", "perf-g": "perf record -g"}[kind]
        print(f"{name:<34} {hz:>4} {100 * (wall / base - 1):>8.1f}% {cpu:>15.2f} {during:>13.2f} "
              f"{comp:>15.1f}%")


if __name__ == "__main__":
    main()
