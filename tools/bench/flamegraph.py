#!/usr/bin/env python3
"""podflame collapse and flamegraph against stackcollapse-perf.pl and
flamegraph.pl, in the same run, on the same inputs.

Inputs, generated here: a perf script file of at least --mb MB (a shared
fixture repeated), and a folded file of --stacks distinct stacks. Reports
wall time, throughput and peak RSS (wait4) of each tool, the speedup, and
whether collapse's output is byte-identical to the script's.

The Perl scripts are not packaged by Debian: pass the directory that holds
them with --perl-dir (e.g. a checkout of brendangregg/FlameGraph); without
it, only podflame's own figures are printed.

usage: tools/bench/flamegraph.py BUILD_DIR [--perl-dir DIR] [--mb 100] [--stacks 100000]
"""
import argparse
import hashlib
import os
import random
import subprocess
import sys
import tempfile
import time


def run(cmd, stdin_path, stdout_path):
    """Wall time and peak RSS in MiB. The RSS comes from GNU time: a child
    of this Python process would report Python's own high-water mark, which
    Linux carries across fork and exec."""
    rss_file = stdout_path + ".rss"
    with open(stdin_path, "rb") as fin, open(stdout_path, "wb") as fout:
        start = time.monotonic()
        status = subprocess.call(["/usr/bin/time", "-f", "%M", "-o", rss_file] + cmd,
                                 stdin=fin, stdout=fout, stderr=subprocess.DEVNULL)
        elapsed = time.monotonic() - start
    if status != 0:
        sys.exit(f"{cmd[0]} failed with status {status}")
    with open(rss_file) as f:
        return elapsed, int(f.read().split()[-1]) / 1024


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_perf_script(path, fixtures, mb):
    # One event type throughout (mixing the fixtures would let both tools
    # skip most samples through the event filter): the iperf fixture,
    # cpu-clock samples with deep kernel stacks, repeated.
    blob = open(os.path.join(fixtures, "perf-iperf-stacks-pidtid-01.txt"), "rb").read()
    blob = blob.rstrip(b"\n") + b"\n\n"
    with open(path, "wb") as f:
        written = 0
        while written < mb * 1_000_000:
            f.write(blob)
            written += len(blob)
    return written


def make_folded(path, nstacks):
    rnd = random.Random(42)
    funcs = [f"mod{i % 97}::function_{i}_doing_work" for i in range(20000)]
    with open(path, "w") as f:
        for s in range(nstacks):
            depth = rnd.randint(8, 40)
            frames = [f"proc{s % 30}", "main", f"loop{rnd.randint(0, 2)}"]
            frames += [funcs[rnd.randrange(len(funcs))] for _ in range(depth - 3)]
            frames.append(f"leaf_{s}")  # every stack distinct
            f.write(";".join(frames) + f" {rnd.randint(1, 500)}\n")


def report(label, t_pf, rss_pf, t_perl, rss_perl, size_mb, unit):
    print(f"{label}:")
    print(f"  podflame  {t_pf:8.2f} s  {size_mb / t_pf:8.1f} {unit}  peak RSS {rss_pf:8.1f} MiB")
    if t_perl is not None:
        print(f"  perl      {t_perl:8.2f} s  {size_mb / t_perl:8.1f} {unit}  peak RSS {rss_perl:8.1f} MiB")
        print(f"  speedup   {t_perl / t_pf:8.1f}x")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("--perl-dir")
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--stacks", type=int, default=100000)
    ap.add_argument("--fixtures", default=os.path.join(os.path.dirname(__file__),
                                                       "../../../shared/fixtures/flamegraph-perf"))
    args = ap.parse_args()
    pf = os.path.abspath(os.path.join(args.build, "podflame"))
    perl = args.perl_dir
    tmp = tempfile.mkdtemp(prefix="podflame-fgbench.")
    try:
        script = os.path.join(tmp, "in.perf-script")
        size = make_perf_script(script, args.fixtures, args.mb) / 1e6
        t, rss = run([pf, "collapse"], script, os.path.join(tmp, "pf.folded"))
        tp = rp = None
        if perl:
            tp, rp = run(["perl", os.path.join(perl, "stackcollapse-perf.pl")], script,
                         os.path.join(tmp, "perl.folded"))
        report(f"collapse of a {size:.0f} MB perf script", t, rss, tp, rp, size, "MB/s")
        if perl:
            same = digest(os.path.join(tmp, "pf.folded")) == digest(os.path.join(tmp, "perl.folded"))
            print(f"  output byte-identical to stackcollapse-perf.pl: {'yes' if same else 'NO'}")
        # streaming: twice the input, same distinct stacks, about the same memory
        script2 = os.path.join(tmp, "in2.perf-script")
        make_perf_script(script2, args.fixtures, 2 * args.mb)
        t2, rss2 = run([pf, "collapse"], script2, os.path.join(tmp, "pf2.folded"))
        print(f"  podflame on {2 * size:.0f} MB: {t2:.2f} s, peak RSS {rss2:.1f} MiB "
              f"(memory follows distinct stacks, not input size)")
        os.unlink(script2)

        folded = os.path.join(tmp, "in.folded")
        make_folded(folded, args.stacks)
        t, rss = run([pf, "flamegraph"], folded, os.path.join(tmp, "pf.svg"))
        tp = rp = None
        if perl:
            tp, rp = run(["perl", os.path.join(perl, "flamegraph.pl")], folded,
                         os.path.join(tmp, "perl.svg"))
        report(f"flame graph of {args.stacks} distinct stacks", t, rss, tp, rp,
               args.stacks / 1000.0, "k stacks/s")
    finally:
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
