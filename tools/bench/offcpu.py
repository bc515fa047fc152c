#!/usr/bin/env python3
"""Off-CPU cost per context switch: a switch-heavy load (perf bench sched
pipe: two processes ping-ponging a byte over pipes, 100k+ switches a second)
run with no tracer, with podflame record --event offcpu system-wide (every
interval kept: --min-block 0, as the reference keeps them; and at its
default 1 ms), with podflame filtered to a cgroup the load is not in (what a
switch out of scope costs), with a bpftrace script doing what podflame does
(both stacks at the switch out, the time summed under them at the switch
in), and with an empty bpftrace program on sched_switch: what running any
BPF program on a switch costs here, kernel.bpf_stats_enabled on (it adds
two clock reads to every run). Rounds are interleaved so drift hits every
configuration alike.

Prints each configuration's median workload time and slowdown against no
tracer, with the spread, and the BPF programs' ns per context switch
(kernel.bpf_stats_enabled: run time of every program the tracer loaded,
over the runs of its sched_switch program).

usage: tools/bench/offcpu.py BUILD_DIR [--rounds N] [--loops N]
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

BPFTRACE = r"""
tracepoint:sched:sched_switch
{
    if (args->prev_pid != 0) {
        @start[args->prev_pid] = nsecs;
        @ks[args->prev_pid] = kstack;
        @us[args->prev_pid] = ustack;
    }
    $t = @start[args->next_pid];
    if ($t != 0) {
        @off[@ks[args->next_pid], @us[args->next_pid], args->next_comm] = sum(nsecs - $t);
        delete(@start[args->next_pid]);
    }
}
END { clear(@start); clear(@ks); clear(@us); }
"""


def workload(loops):
    out = subprocess.run(["perf", "bench", "sched", "pipe", "-l", str(loops)],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"Total time: ([0-9.]+)", out).group(1))


def tracer_cmd(kind, args, tmp):
    pf = [args.podflame, "record", "--event", "offcpu", "-o", f"{tmp}/off.folded"]
    if kind == "podflame":
        return pf + ["--min-block", "0"], "sampling"
    if kind == "podflame-1ms":
        return pf, "sampling"
    if kind == "podflame-out-of-scope":
        return pf + ["--min-block", "0", "--cgroup", args.cgroup], "sampling"
    if kind == "bpftrace":
        return ["bpftrace", "-e", BPFTRACE], "Attaching"
    if kind == "bpftrace-empty":
        return ["bpftrace", "-e", "tracepoint:sched:sched_switch { }"], "Attaching"
    raise ValueError(kind)


def start(kind, args, tmp):
    cmd, marker = tracer_cmd(kind, args, tmp)
    log = f"{tmp}/{kind}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{kind} exited early: {open(log).read()[-600:]}")
        if marker in open(log, errors="replace").read():
            time.sleep(0.3)
            return proc
        time.sleep(0.05)
    sys.exit(f"{kind} did not start")


def stop(proc):
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)


def progs():
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True)
    return {p["id"]: p for p in json.loads(out.stdout)} if out.returncode == 0 else {}


def measure(kind, args, tmp, stats):
    if kind == "none":
        return workload(args.loops), None
    before = progs()
    proc = start(kind, args, tmp)
    t = workload(args.loops)
    cost = None
    if stats:
        new = [p for i, p in progs().items() if i not in before]
        switch = [p for p in new if "switch" in p.get("name", "") or p.get("type") == "tracepoint"]
        runs = sum(p.get("run_cnt", 0) for p in switch)
        ns = sum(p.get("run_time_ns", 0) for p in new)
        cost = (ns / runs, runs) if runs else None
    stop(proc)
    return t, cost


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--loops", type=int, default=200000)
    args = ap.parse_args()
    args.podflame = os.path.abspath(os.path.join(args.build, "podflame"))
    if os.geteuid() != 0:
        sys.exit("needs root")
    kinds = ["none", "podflame", "podflame-1ms", "podflame-out-of-scope"]
    if shutil.which("bpftrace"):
        if not os.path.ismount("/sys/kernel/tracing"):
            subprocess.run(["mount", "-t", "tracefs", "none", "/sys/kernel/tracing"], check=False)
        kinds += ["bpftrace", "bpftrace-empty"]
    cg2 = next(line.split()[4] for line in open("/proc/self/mountinfo") if " - cgroup2 " in line)
    args.cgroup = os.path.join(cg2, f"podflame-bench-offcpu-{os.getpid()}")
    os.makedirs(args.cgroup, exist_ok=True)
    times = {k: [] for k in kinds}
    costs = {k: [] for k in kinds}
    with open("/proc/sys/kernel/bpf_stats_enabled") as f:
        stats_was = f.read().strip()
    try:
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write("1")
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                for k in kinds:
                    t, c = measure(k, args, tmp, stats=True)
                    times[k].append(t)
                    if c:
                        costs[k].append(c)
                print(f"round {r + 1}/{args.rounds}: " +
                      ", ".join(f"{k} {times[k][-1]:.3f} s" for k in kinds), flush=True)
    finally:
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write(stats_was)
        os.rmdir(args.cgroup)
    base = statistics.median(times["none"])
    print(f"\nperf bench sched pipe -l {args.loops}, {args.rounds} rounds interleaved "
          f"(median, min-max):")
    for k in kinds:
        med = statistics.median(times[k])
        line = (f"  {k:24s} {med:6.3f} s ({min(times[k]):.3f}-{max(times[k]):.3f})  "
                f"x{med / base:.3f}")
        if costs[k]:
            ns = statistics.median(c[0] for c in costs[k])
            runs = statistics.median(c[1] for c in costs[k])
            line += f"  BPF {ns:5.0f} ns per switch ({min(c[0] for c in costs[k]):.0f}-" \
                    f"{max(c[0] for c in costs[k]):.0f}; {runs / base / 1000:.0f}k switches/s)"
        print(line)
    if costs["podflame"] and costs.get("bpftrace"):
        a = statistics.median(c[0] for c in costs["podflame"])
        b = statistics.median(c[0] for c in costs["bpftrace"])
        print(f"  ratio podflame / bpftrace, ns per switch: {a / b:.2f}")


if __name__ == "__main__":
    main()
