"""Benchmark `oomkit why` on a storm held twice, as kern.log and syslog are on Debian/Ubuntu.

rsyslog writes every kernel line to both /var/log/kern.log and /var/log/syslog, so after
an OOM storm `oomkit why` parses it twice (three times with the journal). The sources are
parsed in parallel processes (oomkit.fanout); this times

    oomkit why --json --file STORM --file STORM            (default --jobs)
    oomkit why --json --file STORM --file STORM --jobs 1   (one after the other)

alternating, 3 runs each (median), on gen_kernlog.py's 200 MB storm (--quick: 20 MB),
and checks that both print the same bytes. No issue sets a target; the ratio is printed
for the record, with the CPU count (the gain is bounded by it).

    python bench/bench_sources.py [--quick] [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_kernlog as gen
from bench_why import OOMKIT_ENV, cases, run

from oomkit.fanout import cpus

OUT = gen.OUT


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="oomkit why on two copies of a storm")
    ap.add_argument("--quick", action="store_true", help="the 20 MB storm")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per command (median)")
    args = ap.parse_args(argv)
    storm = next(c for c in cases(args.quick) if c.name.startswith("storm"))
    gen.ensure(storm.spec, storm.path)
    base = [sys.executable, "-m", "oomkit", "why", "--json", "--no-db",
            "--file", str(storm.path), "--file", str(storm.path)]
    parallel, serial = [], []
    for _ in range(args.runs):
        parallel.append(run(base, OUT / "stdout-sources-parallel.json", OOMKIT_ENV))
        serial.append(run([*base, "--jobs", "1"], OUT / "stdout-sources-serial.json", OOMKIT_ENV))
    t_par = statistics.median(r.seconds for r in parallel)
    t_ser = statistics.median(r.seconds for r in serial)
    same = ((OUT / "stdout-sources-parallel.json").read_bytes()
            == (OUT / "stdout-sources-serial.json").read_bytes())
    print(f"oomkit why on {storm.name} twice (kern.log + syslog), {cpus()} CPUs,"
          f" {args.runs} runs each, median:")
    print(f"  parallel {t_par:.2f} s, --jobs 1 {t_ser:.2f} s: {t_par / t_ser:.2f}x;"
          f" peak RSS {max(r.maxrss_kb for r in parallel) / 1024:.0f} MB"
          f" (--jobs 1: {max(r.maxrss_kb for r in serial) / 1024:.0f} MB)")
    if not same or any(r.status for r in parallel + serial):
        print("FAIL: the two runs differ, or one failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
