"""Flight-recorder databases for the web's tests and benchmark, written through the
store's own writer (``store.writer.Writer``), with kills parsed from real reports."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from oomkit.kernel_log import parse_text
from oomkit.models import OomEvent, ProcessInfo, ProcessSample, SystemSample, WarningRecord
from oomkit.store.writer import Batch, KillObservation, Writer

KERNEL_LOGS = Path(__file__).parent / "data" / "kernel_log"
SOURCES = (
    "local-6.18-memcg-v1-3tasks-adj500-kmsg.log",  # memcg limit, task table
    "public-3.10-rhel7-global-rsyslog-012-oomanalyser.log",  # global OOM, 85 tasks
    "public-6.x-docker-cgroupv2-scope-oom-kill-line.log",  # a container
    "public-earlyoom-1.8-journal-oom-score-process-mrelease.log",  # a userspace killer
)
BOOT_ID = "00000000-0000-4000-8000-00000000b007"


def sample_events() -> list[OomEvent]:
    """One real event from each source (parsed, victim present)."""
    out = []
    for name in SOURCES:
        events = [e for e in parse_text((KERNEL_LOGS / name).read_text(errors="replace"), name)
                  if e.victim is not None]
        out.append(events[-1])
    return out


def at(event: OomEvent, ts: float, pid: int, name: str | None = None) -> OomEvent:
    """``event`` moved to ``ts`` with victim ``pid`` (and name)."""
    v = event.victim
    assert v is not None
    victim = v._replace(pid=pid, name=name or v.name)
    when = datetime.fromtimestamp(ts, tz=timezone.utc)
    t = event.time._replace(wall=when, wall_from="log", uptime_s=ts - 1_000_000_000)
    return event._replace(victim=victim, time=t)


def _quiet(level: str, message: str) -> None:
    if level == "error":
        raise RuntimeError(message)


def make_db(
    path: Path, *, seconds: int = 600, kills: int = 3, processes: int = 3, end: float | None = None,
    step: float = 1.0, victim_name: str = "leaky",
) -> dict[str, object]:
    """A database with ``seconds`` of samples every ``step`` s ending at ``end``: the system,
    ``processes`` processes (process 0, named ``victim_name``, grows until the last kill),
    and ``kills`` kills spread evenly over the window (the last at ``end``)."""
    end = time.time() if end is None else end
    start = end - seconds
    w = Writer(path, BOOT_ID, _quiet)
    infos = [ProcessInfo(pid=4000 + i, start_ticks=100 + i, name=victim_name if i == 0 else f"worker{i}",
                         cmdline=f"/usr/bin/{victim_name if i == 0 else f'worker{i}'} --serve",
                         uid=1000, cgroup="/oomkit-test")
             for i in range(processes)]
    total = 8 << 20  # kB: 8 GiB of RAM
    n = int(seconds / step)
    for i in range(n + 1):
        ts = start + i * step
        frac = i / max(1, n)
        system = SystemSample(ts=ts, mem_total_kb=total, mem_available_kb=int(total * (0.8 - 0.6 * frac)),
                              swap_total_kb=1 << 20, swap_free_kb=(1 << 20) - i % 1000,
                              committed_as_kb=total // 2, commit_limit_kb=total,
                              psi_some_avg10=(i % 100) / 10.0, psi_full_avg10=(i % 50) / 20.0,
                              psi_some_total_us=i * 1000, psi_full_total_us=i * 100)
        procs = tuple(ProcessSample(ts=ts, info=info, anon_rss_kb=(50_000 + int(900_000 * frac)) if k == 0
                                    else 20_000 + (i * 7 + k * 13) % 5000,
                                    file_rss_kb=1000 + k, shmem_rss_kb=10, swap_kb=0,
                                    oom_score_adj=0 if k else 500, oom_score=500 + k)
                      for k, info in enumerate(infos))
        if not w.write_batch(Batch(system=system, processes=procs)):
            raise RuntimeError(w.failing)
    events = sample_events()
    victim = infos[0] if infos else None
    if victim is not None and kills:  # the warning the daemon raised a minute before the last kill
        warned = WarningRecord(end - 60, f"pid:{victim.pid}", "warning", 60.0,
                               f"{victim.name} ({victim.pid}) runs out of memory in about 1 min")
        if not w.write_batch(Batch(warnings=(warned,))):
            raise RuntimeError(w.failing)
    for j in range(kills):
        ts = end - (kills - 1 - j) * (seconds / max(1, kills))
        base = events[0] if j == kills - 1 else events[j % len(events)]
        if j == kills - 1 and victim is not None:
            e = at(base, ts, victim.pid, victim.name)
        else:
            e = at(base, ts, 90000 + j)
        w.write_kill(KillObservation(e, "kmsg", BOOT_ID))
    w.close()
    return {"start": start, "end": end, "victim_pid": victim.pid if victim else None}


def kill_events(count: int, start: float, span: float, bases: Sequence[OomEvent]) -> list[OomEvent]:
    """``count`` distinct kills evenly over [start, start + span)."""
    return [at(bases[i % len(bases)], start + span * i / count, 100_000 + i) for i in range(count)]
