#!/usr/bin/env python3
"""podflame query over a generated fleet, from a directory and from S3.

Generates a fleet's bucket with tools/bench/fleet_gen (--nodes x --windows
one-minute windows, written as the agent writes them) into file:// and
into s3rver on loopback (tests/integration/s3-server.mjs: s3rver behind a
SigV4-checking front), then times, interleaved over --rounds rounds:

  selective, small   --workload redis-cart   one small workload, one hour
  selective, large   --workload checkout     the fleet's largest workload
  broad                                      everything, one hour

each read from the windows (--no-rollups) and, after `podflame compact`,
from the rollups. Reports wall time (median, min-max), podflame's own CPU
time (against wall time it tells whether podflame or the server is the
bottleneck: s3rver serves every request from one Node.js process), peak
RSS, listings, objects read and bytes. The reference, measured in the same run: what a
user does without podflame query, `go tool pprof -proto` merging the
windows of the first --ref-nodes nodes, against podflame query --node on
the same windows.

usage: tools/bench/query.py BUILD_DIR [--nodes 200] [--windows 60] [--rounds 3]
       [--no-s3] [--ref-nodes 10]
"""
import argparse
import glob
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

START = "2026-11-28T10:00:00Z"
RANGE = ["--from", "2026-11-28T10:00Z", "--until", "2026-11-28T11:00Z"]
QUERIES = [
    ("selective, small (--workload redis-cart)", ["--workload", "redis-cart"]),
    ("selective, large (--workload checkout)", ["--workload", "checkout"]),
    ("broad (everything)", []),
]
SUMMARY = re.compile(r"(\d+) listings \((\d+) keys\), (\d+) windows \((\d+) ruled out.*?"
                     r"(\d+) rollups of (\d+) hours; (\d+) objects read \(([\d.]+) MB\)")


def run(cmd, env=None):
    """Runs cmd; returns (seconds, peak RSS MiB, stderr, CPU seconds)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    err = p.stderr.read().decode()
    _, status, ru = os.wait4(p.pid, 0)
    secs = time.monotonic() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"query.py: {' '.join(cmd)} failed:\n{err}")
    return secs, ru.ru_maxrss / 1024, err, ru.ru_utime + ru.ru_stime


def start_s3(top, tmp, env):
    os.makedirs(f"{tmp}/s3data")
    port_file = f"{tmp}/s3.port"
    p = subprocess.Popen(["node", f"{top}/tests/integration/s3-server.mjs", f"{tmp}/s3data",
                          "profiles", env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                          port_file, f"{tmp}/s3.log"], env=env, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(port_file) and open(port_file).read().strip():
            return p, open(port_file).read().strip()
        time.sleep(0.2)
    sys.exit("query.py: the S3 server did not start")


def spread(xs):
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}-{max(xs):.2f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--windows", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ref-nodes", type=int, default=10)
    ap.add_argument("--no-s3", action="store_true")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    pf, gen = f"{build}/podflame", f"{build}/tools/fleet_gen"
    tmp = tempfile.mkdtemp(prefix="podflame-bench-query.")
    env = dict(os.environ, AWS_ACCESS_KEY_ID="S3RVER", AWS_SECRET_ACCESS_KEY="podflame-test-secret",
               PODFLAME_NODE_TOOLS=f"{top}/tools/node", GOCACHE=f"{tmp}/gocache")
    s3 = None
    try:
        backends = [("file://", [f"file://{tmp}/fleet"])]
        gen_args = ["--nodes", str(a.nodes), "--windows", str(a.windows), "--start", START]
        secs, rss, _, _ = run([gen, "--output", f"file://{tmp}/fleet"] + gen_args, env)
        print(f"fleet: {a.nodes} nodes x {a.windows} windows = {2 * a.nodes * a.windows} objects, "
              f"{sum(os.path.getsize(f) for f in glob.glob(f'{tmp}/fleet/**/*', recursive=True) if os.path.isfile(f)) / 1e6:.0f} MB, "
              f"generated in {secs:.0f} s", flush=True)
        if not a.no_s3:
            s3, port = start_s3(top, tmp, env)
            ep = ["--s3-endpoint", f"http://127.0.0.1:{port}"]
            secs, _, _, _ = run([gen, "--output", "s3://profiles/fleet"] + ep + gen_args, env)
            print(f"the same fleet put to s3rver in {secs:.0f} s", flush=True)
            backends.append(("s3rver", ["s3://profiles/fleet"] + ep))

        results = {}  # (backend, query, rollups) -> [(secs, rss, err)]
        for rollups in (False, True):
            if rollups:
                for name, url in backends:
                    secs, rss, err, _ = run([pf, "compact"] + url + RANGE, env)
                    print(f"compact ({name}): {secs:.1f} s, peak RSS {rss:.0f} MiB: "
                          f"{err.strip().splitlines()[0]}", flush=True)
            for r in range(a.rounds):
                for name, url in backends:
                    for qname, sel in QUERIES:
                        cmd = [pf, "query"] + url + RANGE + sel + ["-o", f"{tmp}/out.pb.gz"]
                        if not rollups:
                            cmd.append("--no-rollups")
                        results.setdefault((name, qname, rollups), []).append(run(cmd, env))
                print(f"round {r + 1} of {a.rounds} ({'rollups' if rollups else 'windows'})",
                      flush=True)

        print()
        print("| store | query | read from | time, s (median, min-max) | podflame CPU, s | "
              "peak RSS, MiB | listings (keys) | windows ruled out | objects read (MB) |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for (name, qname, rollups), runs in results.items():
            m = SUMMARY.search(runs[-1][2])
            lst, keys, win, out, robj, rh, objs, mb = m.groups() if m else ("?",) * 8
            src = f"rollups ({robj} of {rh} h)" if rollups else f"windows ({win})"
            print(f"| {name} | {qname} | {src} | {spread([x[0] for x in runs])} | "
                  f"{statistics.median(x[3] for x in runs):.2f} | "
                  f"{max(x[1] for x in runs):.0f} | {lst} ({keys}) | {out} | {objs} ({mb}) |")

        # the reference: go tool pprof -proto merging one hour of ref-nodes nodes' windows
        files = sorted(glob.glob(f"{tmp}/fleet/node-0[0-9][0-9]/2026/11/28/10/*.pb.gz"))
        nodes = sorted({f.split("/fleet/")[1].split("/")[0] for f in files})[: a.ref_nodes]
        files = [f for f in files if f.split("/fleet/")[1].split("/")[0] in nodes]
        go, pfq = [], []
        for _ in range(a.rounds):
            go.append(run(["go", "tool", "pprof", "-proto", "-output", f"{tmp}/go.pb.gz"] + files,
                          env))
            cmd = [pf, "query", f"file://{tmp}/fleet"] + RANGE + ["--no-rollups", "-o", f"{tmp}/pf.pb.gz"]
            for n in nodes:
                cmd += ["--node", n]
            pfq.append(run(cmd, env))
        g, q = statistics.median(x[0] for x in go), statistics.median(x[0] for x in pfq)
        print()
        print(f"reference: {len(files)} windows of {len(nodes)} nodes merged by "
              f"`go tool pprof -proto`: {spread([x[0] for x in go])} s, "
              f"{max(x[1] for x in go):.0f} MiB; by podflame query --node: "
              f"{spread([x[0] for x in pfq])} s, {max(x[1] for x in pfq):.0f} MiB "
              f"({g / q:.1f}x faster)")
    finally:
        if s3:
            s3.terminate()
            s3.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
