#!/usr/bin/env python3
"""Time `oomkit top --json` against `ps aux` over 5,000 extra processes, in one run.

    python bench/bench_top.py [--procs 5000] [--runs 7] [--quick]

Starts N sleepers (posix_spawn of /bin/sleep), runs each command once to warm
caches, then alternates the two commands ``--runs`` times and prints the median
wall and CPU times and their ratio (target: top/ps <= 0.5 on wall time). The CPU
ratio is printed too because it is stable when other work shares the machine.
The sleepers are killed and reaped on the way out, whatever happens. oomkit
runs with its bytecode cached (PYTHONPYCACHEPREFIX=bench/out/pycache), as an
installed oomkit has its .pyc files. Correctness: every sleeper must appear in
the JSON, with rank 1 first. ``--quick``: 1,000 sleepers, 3 runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
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


def start_sleepers(n: int) -> list[int]:
    """Spawn n sleepers; return their pids."""
    pids = []
    for _ in range(n):
        pids.append(os.posix_spawn(SLEEP, [SLEEP, "3600"], os.environ))
    return pids


def stop(pids: list[int]) -> None:
    """Kill and reap every sleeper."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, bytes]:
    """Wall time and CPU time (user + sys) of one run, output captured as a pipe reader would."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                         check=True).stdout
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="1,000 sleepers, 3 runs")
    a = ap.parse_args()
    if a.quick:
        a.procs, a.runs = min(a.procs, 1000), min(a.runs, 3)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(Path(__file__).resolve().parent / "out" / "pycache")
    top = [sys.executable, "-m", "oomkit", "top", "--json"]
    ps = ["ps", "aux"]
    sleepers: list[int] = []
    load0 = f"{os.getloadavg()[0]:.2f}"
    try:
        t = time.perf_counter()
        sleepers = start_sleepers(a.procs)
        print(f"started {len(sleepers)} sleepers in {time.perf_counter() - t:.1f} s")
        timed(top, env)
        timed(ps, env)
        runs: dict[str, list[tuple[float, float]]] = {"top": [], "ps": []}
        out = b""
        for _ in range(a.runs):
            wall, cpu, out = timed(top, env)
            runs["top"].append((wall, cpu))
            wall, cpu, _ = timed(ps, env)
            runs["ps"].append((wall, cpu))
        procs = json.loads(out)["processes"]
        n = len(procs)
        missing = set(sleepers) - {p["pid"] for p in procs}
        if missing or procs[0]["rank"] != 1:
            print(f"FAIL: {len(missing)} sleepers missing from the JSON, first rank "
                  f"{procs[0]['rank']}")
            return 1
        print(f"load average before/after: {load0} / {os.getloadavg()[0]:.2f}")
        print(f"processes ranked by oomkit top: {n}")
        med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
               for k, v in runs.items()}
        for name, label in (("top", "oomkit top --json"), ("ps", "ps aux")):
            walls = [w for w, _ in runs[name]]
            print(f"{label:18s} wall median {med[name][0] * 1000:4.0f} ms (min {min(walls) * 1000:.0f},"
                  f" max {max(walls) * 1000:.0f}); cpu median {med[name][1] * 1000:4.0f} ms")
        ratio = med["top"][0] / med["ps"][0]
        cpu_ratio = med["top"][1] / med["ps"][1]
        print(f"ratio top/ps: wall {ratio:.2f}, cpu {cpu_ratio:.2f} (target <= 0.5) "
              f"{'OK' if ratio <= 0.5 else 'SLOW'}")
        return 0 if ratio <= 0.5 else 1
    finally:
        stop(sleepers)


if __name__ == "__main__":
    raise SystemExit(main())
