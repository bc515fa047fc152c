#!/usr/bin/env python3
"""The node agent's own cost over a long run on a busy machine.

Keeps the machine busy with many processes: CPU workers (with and without
frame pointers, so auto unwinding copies stacks for some), and shell loops
that start short-lived commands all the time (process churn: new maps, new
binaries, exits). Runs `podflame agent` at its default frequency for
--seconds, uploading to a file:// target, and samples its CPU time and
RSS every 10 s (flat over time is the point). Times a fixed-work job
(cpuwork --rounds) again and again, first with no profiler, then under the
agent, then under `perf record -a -g` at the same frequency (a reference
whose cost is measured the same way), and prints the slowdowns.

usage: tools/bench/agent.py BUILD_DIR [--seconds 600] [--perf-seconds 120]
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HZ = 19  # podflame agent's default


def proc_cpu(pid):
    """CPU seconds (user + system) of pid so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mib(pid, key="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def start_load(build, tmp):
    """Background load: CPU workers and process churn on every core."""
    procs = []
    ncpu = os.cpu_count()
    for i in range(ncpu):
        procs.append(subprocess.Popen([f"{build}/tests/cpuwork", "100000", f"busy{i}"]))
        procs.append(subprocess.Popen([f"{build}/tests/chain-nofp", "100000"],
                                      stdout=subprocess.DEVNULL))
    churn = (f"while :; do ls / > /dev/null; date > /dev/null; cat /proc/loadavg > /dev/null; "
             f"sort {tmp}/words > /dev/null; sleep 0.05; done")
    with open(f"{tmp}/words", "w") as f:
        f.write("\n".join(str(i * 7919 % 10007) for i in range(20000)))
    for _ in range(4 * ncpu):
        procs.append(subprocess.Popen(["sh", "-c", churn]))
    return procs


def timed_job(build, work):
    start = time.monotonic()
    subprocess.run([f"{build}/tests/cpuwork", "--rounds", str(work)], check=True)
    return time.monotonic() - start


def measure_jobs(build, work, seconds):
    """Runs the fixed job back to back for about seconds; returns durations."""
    times = []
    end = time.monotonic() + seconds
    while time.monotonic() < end or len(times) < 3:
        times.append(timed_job(build, work))
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--perf-seconds", type=int, default=120)
    ap.add_argument("--baseline-seconds", type=int, default=120)
    ap.add_argument("--work", type=int, default=150)
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    tmp = tempfile.mkdtemp(prefix="podflame-bench-agent.")
    load = start_load(build, tmp)
    try:
        time.sleep(2)
        base = measure_jobs(build, args.work, args.baseline_seconds)

        log = open(f"{tmp}/agent.log", "w")
        agent = subprocess.Popen([f"{build}/podflame", "agent", "--output", f"file://{tmp}/out",
                                  "--spool-dir", f"{tmp}/spool", "--metrics-addr", "127.0.0.1:0"],
                                 stderr=log)
        time.sleep(3)
        t0, c0 = time.monotonic(), proc_cpu(agent.pid)
        trace = []
        under = []
        next_sample = t0
        while time.monotonic() - t0 < args.seconds:
            under.append(timed_job(build, args.work))
            if time.monotonic() >= next_sample:
                trace.append((time.monotonic() - t0, proc_cpu(agent.pid) - c0,
                              proc_rss_mib(agent.pid)))
                next_sample += 60
        wall = time.monotonic() - t0
        cpu = proc_cpu(agent.pid) - c0
        hwm = proc_rss_mib(agent.pid, "VmHWM")
        rss_end = proc_rss_mib(agent.pid)
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=60)
        windows = sum(1 for _, _, files in os.walk(f"{tmp}/out") for f in files
                      if f.endswith(".pb.gz"))

        perf_ok = shutil.which("perf") is not None
        if perf_ok:
            perf = subprocess.Popen(["perf", "record", "-a", "-g", "-F", str(HZ), "-o",
                                     f"{tmp}/perf.data"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            time.sleep(2)
            p0, pc0 = time.monotonic(), proc_cpu(perf.pid)
            under_perf = measure_jobs(build, args.work, args.perf_seconds)
            pwall = time.monotonic() - p0
            pcpu = proc_cpu(perf.pid) - pc0
            perf.send_signal(signal.SIGINT)
            perf.wait(timeout=120)
    finally:
        for p in load:
            p.kill()
        for p in load:
            p.wait()

    mb = statistics.median(base)
    print(f"load: {os.cpu_count()} CPU workers, {os.cpu_count()} without frame pointers, "
          f"{4 * os.cpu_count()} shells starting short commands; fixed job cpuwork --rounds "
          f"{args.work}")
    print(f"{'':28}{'job median':>11}{'slowdown':>10}{'CPU % one core':>16}{'peak RSS':>10}")
    print(f"{'no profiler':28}{mb:10.2f}s{'':>10}")
    print(f"{'podflame agent ' + str(HZ) + ' Hz':28}{statistics.median(under):10.2f}s"
          f"{100 * (statistics.median(under) / mb - 1):+9.1f}%{100 * cpu / wall:15.2f}%"
          f"{hwm:8.0f} MiB")
    if perf_ok:
        print(f"{'perf record -a -g ' + str(HZ) + ' Hz':28}{statistics.median(under_perf):10.2f}s"
              f"{100 * (statistics.median(under_perf) / mb - 1):+9.1f}%"
              f"{100 * pcpu / pwall:15.2f}%{'':>10}")
        if pcpu > 0:
            print(f"agent CPU / perf record CPU: {(cpu / wall) / (pcpu / pwall):.2f}")
        else:
            print("agent CPU / perf record CPU: perf record used no measurable CPU (10 ms ticks)")
    print(f"agent: {wall:.0f} s, {windows} windows written, RSS at the end {rss_end:.0f} MiB")
    print("agent over time (s, CPU s used, RSS MiB):")
    for t, c, r in trace:
        print(f"  {t:6.0f} {c:8.2f} {r:8.1f}")
    print(f"(work files in {tmp})")


if __name__ == "__main__":
    main()
