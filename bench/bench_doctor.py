#!/usr/bin/env python3
"""Wall time of `oomkit doctor` (target: under 0.3 s), end to end as a user runs it.

    python bench/bench_doctor.py [--runs 9] [--procs 0] [--quick]

Runs ``python -m oomkit doctor`` and ``doctor --json`` ``--runs`` times each after one
warm-up and prints the medians. ``--procs N`` first starts N sleepers (doctor reads
every process's comm to find userspace OOM killers) and removes them afterwards.
Bytecode is cached in bench/out/pycache, as for an installed oomkit. ``--quick``: 3 runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

SLEEP = shutil.which("sleep") or "/bin/sleep"


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + sys) seconds of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--procs", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="3 runs")
    a = ap.parse_args()
    if a.quick:
        a.runs = min(a.runs, 3)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(Path(__file__).resolve().parent / "out" / "pycache")
    sleepers: list[int] = []
    try:
        sleepers = [os.posix_spawn(SLEEP, [SLEEP, "3600"], os.environ) for _ in range(a.procs)]
        print(f"load average {os.getloadavg()[0]:.2f}; extra sleepers: {len(sleepers)}")
        worst = 0.0
        for extra in ([], ["--json"]):
            argv = [sys.executable, "-m", "oomkit", "doctor", *extra]
            timed(argv, env)
            runs = [timed(argv, env) for _ in range(a.runs)]
            wall = statistics.median(w for w, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            worst = max(worst, wall)
            print(f"oomkit doctor {' '.join(extra):6s} wall median {wall * 1000:4.0f} ms "
                  f"(min {min(w for w, _ in runs) * 1000:.0f}, max "
                  f"{max(w for w, _ in runs) * 1000:.0f}); cpu median {cpu * 1000:.0f} ms")
        print(f"target < 300 ms: {'OK' if worst < 0.3 else 'SLOW'}")
        return 0 if worst < 0.3 else 1
    finally:
        for pid in sleepers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in sleepers:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


if __name__ == "__main__":
    raise SystemExit(main())
