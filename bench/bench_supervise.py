#!/usr/bin/env python3
"""Supervision speed: restart latency after an OOM kill, and the cost of idle programs.

    python bench/bench_supervise.py [--quick] [--kills N] [--idle-seconds S] [--programs N]

1. Restart latency (target: <= 100 ms). This process hosts a Manager with one program: a
   memory hog in a 32 MiB cgroup, restarted on OOM with a fixed 0.3 s backoff. For each of
   N kernel OOM kills it measures the time from the backoff's expiry (the deadline the
   state machine set, on CLOCK_MONOTONIC) to the new child's exec (subprocess.Popen
   returns once the exec succeeded: it waits for its close-on-exec error pipe to close).
   Every exit must be classified ``oom_kill``. Prints p50 and max.
2. Idle cost (target: <= 1% of one core). Starts the standalone supervisor
   (``python -m oomkit.supervise``, which also serves the ctl socket) with 50 ``sleep``
   programs, each in its own memory cgroup; once all are RUNNING, reads the supervisor's
   utime + stime from /proc/PID/stat (proc(5), in clock ticks) over S seconds of wall time.

``--quick``: 5 kills and 10 s idle (instead of 20 kills and 30 s). Needs root and the memory
controller; exits 1 if a target is missed or an exit is misclassified.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from oomkit.demo import HOG
from oomkit.jobcgroup import find_memory_hierarchy
from oomkit.models import BackoffPolicy, ExitCause, JobExit, JobState, ProgramSpec, RestartPolicy
from oomkit.supervise.control import OsProcessControl
from oomkit.supervise.manager import Manager

BACKOFF = BackoffPolicy(initial_s=0.3, maximum_s=0.3, factor=1.0, jitter=0.0, reset_after_s=3600)
TICK = os.sysconf("SC_CLK_TCK")


class Exits:
    """A sink that keeps the exits."""

    def __init__(self) -> None:
        self.exits: list[JobExit] = []

    def spawned(self, name: str, pid: int, memcg: str | None) -> None:
        pass

    def state_changed(self, name: str, frm: JobState, to: JobState, label: str, reason: str | None) -> None:
        pass

    def exited(self, x: JobExit, restarted: bool) -> None:
        self.exits.append(x)


def restart_latency(kills: int, tmp: Path) -> tuple[list[float], list[JobExit]]:
    """Backoff expiry -> exec of the next child, in seconds, for ``kills`` OOM kills."""
    spec = ProgramSpec(name="hog", command=(sys.executable, "-c", HOG), memory_max=32 << 20,
                       autorestart=RestartPolicy.ON_OOM, startsecs=0, backoff=BACKOFF,
                       oom_max_in_row=None, max_restarts=kills)
    sink = Exits()
    m = Manager([spec], control=OsProcessControl(prefix=f"oomkit-bench-{os.getpid()}-"), sink=sink,
                log_dir=tmp / "logs", state_dir=tmp / "locks")
    latencies: list[float] = []
    try:
        m.start()
        job = m.jobs["hog"]
        deadline: float | None = None
        seen = len(job.spawn_times)
        end = time.monotonic() + 60 + kills * 5
        while len(latencies) < kills and time.monotonic() < end:
            m.poll(None)
            if job.record.state is JobState.BACKOFF:
                deadline = job.record.backoff_until
            if len(job.spawn_times) > seen:
                seen = len(job.spawn_times)
                if deadline is not None:
                    latencies.append(job.spawn_times[-1] - deadline)
                    deadline = None
            if job.record.state is JobState.FATAL:
                break
    finally:
        m.shutdown(timeout=5)
    return latencies, sink.exits


def cpu_ticks(pid: int) -> int:
    """utime + stime of ``pid`` (proc(5) /proc/PID/stat fields 14 and 15), in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_kb(pid: int) -> int:
    """VmRSS of ``pid``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def idle_cost(programs: int, seconds: float, tmp: Path) -> tuple[float, float, int, int]:
    """CPU seconds used, over how many wall seconds, RSS (kB) and programs RUNNING, when idle."""
    from oomkit.supervise.ctl_client import CtlClient

    conf = tmp / "idle.toml"
    conf.write_text("".join(f'[programs.idle{i}]\ncommand = ["sleep", "3600"]\nmemory_max = "16M"\n\n'
                            for i in range(programs)))
    sock = tmp / "ctl.sock"
    p = subprocess.Popen([sys.executable, "-m", "oomkit.supervise", "--config", str(conf),
                          "--socket", str(sock), "--log-dir", str(tmp / "idle-logs"),
                          "--state-dir", str(tmp / "idle-locks"), "--prefix", f"oomkit-bidle-{os.getpid()}-"])
    try:
        end = time.monotonic() + 120
        running = 0
        while time.monotonic() < end:
            time.sleep(0.5)
            try:
                with CtlClient(sock, timeout=5) as c:
                    running = sum(r["state"] == "RUNNING" for r in c.call("status", ["all"]))
            except Exception:  # not up yet
                continue
            if running == programs:
                break
        time.sleep(1.0)  # let the start-up settle
        t0, c0 = time.monotonic(), cpu_ticks(p.pid)
        time.sleep(seconds)
        t1, c1 = time.monotonic(), cpu_ticks(p.pid)
        return (c1 - c0) / TICK, t1 - t0, rss_kb(p.pid), running
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--kills", type=int)
    ap.add_argument("--idle-seconds", type=float)
    ap.add_argument("--programs", type=int, default=50)
    a = ap.parse_args()
    kills = a.kills or (5 if a.quick else 20)
    seconds = a.idle_seconds or (10.0 if a.quick else 30.0)
    if os.geteuid() != 0 or find_memory_hierarchy() is None:
        print("SKIP bench_supervise: needs root and the memory cgroup controller")
        return 0
    ok = True
    with tempfile.TemporaryDirectory(prefix="oomkit-bench-supervise-") as d:
        tmp = Path(d)
        lat, exits = restart_latency(kills, tmp)
        causes = sorted({x.cause.value for x in exits if not x.expected})  # not the final stop
        if len(lat) < kills or causes != [ExitCause.OOM_KILL.value]:
            print(f"FAIL restart: {len(lat)} restarts measured of {kills}; causes {causes}")
            ok = False
        if lat:
            p50, worst = statistics.median(lat) * 1000, max(lat) * 1000
            verdict = "PASS" if worst <= 100 else "FAIL"
            ok &= verdict == "PASS"
            print(f"{verdict} OOM-killed job running again after its backoff expired: p50 {p50:.1f} ms,"
                  f" max {worst:.1f} ms over {len(lat)} kernel OOM kills (target <= 100 ms)")
        cpu, wall, rss, running = idle_cost(a.programs, seconds, tmp)
        share = cpu / wall
        verdict = "PASS" if share <= 0.01 and running == a.programs else "FAIL"
        ok &= verdict == "PASS"
        print(f"{verdict} {running} idle supervised programs: {share * 100:.3f}% of one core"
              f" ({cpu * 1000:.0f} ms CPU in {wall:.1f} s, clock tick {1000 / TICK:.0f} ms; target <= 1%);"
              f" supervisor RSS {rss / 1024:.1f} MiB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
