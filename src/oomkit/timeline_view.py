"""Views of recorded data: the JSON, CSV and text of `oomkit timeline` and of the records
`oomkit why` attaches to kills. Pure: records in, strings and dicts out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime, timezone, tzinfo
from typing import Any

from oomkit.chart import chart
from oomkit.models import (
    CgroupPoint,
    KillRecord,
    OomEvent,
    RecordedProcess,
    SystemPoint,
    TimelinePoint,
    WarningRecord,
)
from oomkit.units import human_kb

SCHEMA_VERSION = 1


def iso(when: datetime, tz: tzinfo | None) -> str:
    """ISO 8601 with offset and milliseconds, in ``tz``."""
    return when.astimezone(tz).isoformat(timespec="milliseconds")


def point_dict(p: TimelinePoint, tz: tzinfo | None) -> dict[str, Any]:
    """One process sample as JSON (docs/timeline.md)."""
    return {"wall": iso(p.wall, tz), "anon_rss_kb": p.anon_rss_kb, "file_rss_kb": p.file_rss_kb,
            "shmem_rss_kb": p.shmem_rss_kb, "swap_kb": p.swap_kb,
            "oom_score_adj": p.oom_score_adj, "oom_score": p.oom_score}


def system_dict(p: SystemPoint, tz: tzinfo | None) -> dict[str, Any]:
    """One system sample as JSON."""
    return {"wall": iso(p.wall, tz), "mem_total_kb": p.mem_total_kb,
            "mem_available_kb": p.mem_available_kb, "swap_free_kb": p.swap_free_kb,
            "psi_some_avg10": p.psi_some_avg10, "psi_full_avg10": p.psi_full_avg10}


def cgroup_dict(p: CgroupPoint, tz: tzinfo | None) -> dict[str, Any]:
    """One cgroup sample as JSON."""
    return {"wall": iso(p.wall, tz), "usage_kb": p.usage_kb, "limit_kb": p.limit_kb,
            "oom_kills": p.oom_kills}


def warning_dict(w: WarningRecord, tz: tzinfo | None) -> dict[str, Any]:
    """One warning as JSON."""
    return {"wall": iso(datetime.fromtimestamp(w.ts, timezone.utc), tz), "message": w.message,
            "kind": w.kind, "subject": w.subject, "seconds_left": w.seconds_left}


def process_dict(p: RecordedProcess, tz: tzinfo | None) -> dict[str, Any]:
    """A recorded process identity as JSON."""
    return {"pid": p.pid, "start_ticks": p.start_ticks, "name": p.name, "cmdline": p.cmdline,
            "uid": p.uid, "cgroup": p.cgroup, "first_seen": iso(p.first_seen, tz),
            "last_seen": iso(p.last_seen, tz) if p.last_seen else None}


def record_dict(r: KillRecord, tz: tzinfo | None) -> dict[str, Any]:
    """The keys a kill event gains in `oomkit why --json` when the database has it."""
    return {
        "timeline": [point_dict(p, tz) for p in r.timeline],
        "warnings": [warning_dict(w, tz) for w in r.warnings],
        "recorder": {
            "detected_by": r.detected_by,
            "process": process_dict(r.process, tz) if r.process else None,
            "growth_kb_s": None if r.growth_kb_s is None else round(r.growth_kb_s, 1),
            "system": [system_dict(s, tz) for s in r.system],
        },
    }


CSV_FIELDS = ("wall", "anon_rss_kb", "file_rss_kb", "shmem_rss_kb", "swap_kb", "oom_score_adj",
              "oom_score")


def process_csv(points: Sequence[TimelinePoint], tz: tzinfo | None) -> str:
    """A process timeline as CSV with a header line."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for p in points:
        d = point_dict(p, tz)
        w.writerow([d[f] for f in CSV_FIELDS])
    return buf.getvalue()


def cgroup_csv(points: Sequence[CgroupPoint], tz: tzinfo | None) -> str:
    """A cgroup timeline as CSV."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("wall", "usage_kb", "limit_kb", "oom_kills"))
    for p in points:
        w.writerow((iso(p.wall, tz), p.usage_kb, p.limit_kb, p.oom_kills))
    return buf.getvalue()


def system_csv(points: Sequence[SystemPoint], tz: tzinfo | None) -> str:
    """The system timeline as CSV."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("wall", "mem_total_kb", "mem_available_kb", "swap_free_kb", "psi_some_avg10",
                "psi_full_avg10"))
    for p in points:
        w.writerow((iso(p.wall, tz), p.mem_total_kb, p.mem_available_kb, p.swap_free_kb,
                    p.psi_some_avg10, p.psi_full_avg10))
    return buf.getvalue()


def record_lines(record: KillRecord, event: OomEvent, tz: tzinfo | None, width: int = 60
                 ) -> list[str]:
    """What the flight recorder saw before a kill, for `oomkit why`."""
    out: list[str] = []
    kill_t = event.time.wall.timestamp() if event.time.wall is not None else None
    p = record.process
    if record.detected_by == "counter":
        out.append("The kernel printed no log line for this kill; the oomkit daemon counted it"
                   " from the OOM counters.")
    if p is not None and record.timeline:
        pts = [(x.wall.timestamp(), float(x.total_kb)) for x in record.timeline]
        span = pts[-1][0] - pts[0][0]
        peak = max(v for _, v in pts)
        growth = (f", growing {human_kb(record.growth_kb_s)}/s at the end"
                  if record.growth_kb_s is not None and record.growth_kb_s > 0 else "")
        ago = (f", last sample {kill_t - pts[-1][0]:.1f} s before the kill"
               if kill_t is not None else "")
        out.append(f"Recorded by the oomkit daemon: {p.name} (pid {p.pid}), RSS + swap over the"
                   f" {span:.0f} s before the kill (peak {human_kb(peak)}{growth}{ago}):")
        out.extend("  " + line for line in chart(pts, width=width, height=5, tz=tz, floor=0))
    elif p is not None:
        out.append(f"The oomkit daemon knew {p.name} (pid {p.pid}) but has no sample of it before"
                   " the kill.")
    else:
        out.append("The oomkit daemon has no sample of the victim (it lived less than one"
                   " sampling interval, or the daemon was not running).")
    if record.system:
        first, last = record.system[0], record.system[-1]
        low = min(record.system, key=lambda s: s.mem_available_kb)
        out.append(f"MemAvailable: {human_kb(first.mem_available_kb)} -> {human_kb(last.mem_available_kb)}"
                   f" (lowest {human_kb(low.mem_available_kb)} at"
                   f" {low.wall.astimezone(tz).strftime('%H:%M:%S')}) of"
                   f" {human_kb(last.mem_total_kb)}, scaled to its own range:")
        out.extend("  " + line for line in chart(
            [(x.wall.timestamp(), float(x.mem_available_kb)) for x in record.system],
            width=width, height=3, tz=tz))
    warned = [w for w in record.warnings if w.kind != "recovered"
              and (kill_t is None or w.ts <= kill_t)]
    if warned:
        for w in warned:
            before = f" ({kill_t - w.ts:.0f} s before the kill)" if kill_t is not None else ""
            when = datetime.fromtimestamp(w.ts, tz).strftime("%H:%M:%S")
            out.append(f"Warning at {when}{before}: {w.message}")
    else:
        out.append("No warning was raised before this kill.")
    return out
