"""`oomkit why` with the flight recorder's database, and the terminal chart. Databases are
built with the real writer; `why` runs as the CLI does."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from oomkit.chart import chart, columns
from oomkit.models import (
    EventKind,
    EventTime,
    Killer,
    OomEvent,
    ProcessInfo,
    ProcessSample,
    SourceRef,
    SystemSample,
    Victim,
    WarningRecord,
)
from oomkit.store.writer import Batch, KillObservation, Writer
from oomkit.units import human_kb
from tests.conftest import KERNEL_LOGS


def _why(*args: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-m", "oomkit", "why", "--json", "--no-journal", *args],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert isinstance(doc, dict)
    return doc


def test_a_kill_only_the_counters_saw_is_shown_with_its_timeline(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    w = Writer(db, "boot-x", lambda level, message: None)
    now = time.time() - 30
    pid = 3_999_999  # no such pid in any log of this machine
    info = ProcessInfo(pid, 123, "ghost", "ghost --serve", 0, "/ghosts")
    for i in range(8):
        t = now + i
        w.write_batch(Batch(
            system=SystemSample(t, 4_000_000, 3_000_000 - i * 1000, 0, 0, 0, 0),
            processes=(ProcessSample(t, info, 10_000 + i * 4096, 2000, 0, 0, 0, 700),),
            warnings=(WarningRecord(t, "/ghosts", "warning", 5.0, "cgroup /ghosts will run out of"
                                    " memory in ~5 s"),) if i == 5 else ()))
    event = OomEvent(
        killer=Killer.KERNEL, kind=EventKind.OOM_KILL, complete=False,
        time=EventTime(None, None, datetime.fromtimestamp(now + 8, timezone.utc), "daemon", "boot-x"),
        source=SourceRef("oomkit-daemon:counter", None), victim=Victim(pid, "ghost"),
        memcg="/ghosts", task_memcg="/ghosts", missing=("kernel log line",),
        notes=("no kernel log line: counted by /proc/vmstat oom_kill",))
    assert w.write_kill(KillObservation(event, "counter", "boot-x"))
    w.close()

    doc = _why("--db", str(db), str(pid))
    assert doc["database"] == str(db)
    (e,) = doc["events"]  # type: ignore[misc]
    assert e["victim"]["pid"] == pid and e["complete"] is False
    assert e["missing"] == ["kernel log line"]
    assert e["recorder"]["detected_by"] == "counter"
    assert [p["anon_rss_kb"] for p in e["timeline"]] == [10_000 + i * 4096 for i in range(8)]
    assert [x["message"] for x in e["warnings"]] == ["cgroup /ghosts will run out of memory in ~5 s"]
    assert e["recorder"]["growth_kb_s"] == 4096.0

    text = subprocess.run([sys.executable, "-m", "oomkit", "why", "--no-journal", "--db", str(db),
                           str(pid)], capture_output=True, text=True, timeout=60, check=False).stdout
    assert "The kernel printed no log line for this kill" in text
    assert "Recorded by the oomkit daemon: ghost" in text


def test_why_without_a_database_is_unchanged(tmp_path: Path) -> None:
    log = KERNEL_LOGS / "local-6.18-memcg-v1-two-ooms-kmsg.log"
    doc = _why("--file", str(log))
    assert "database" not in doc
    assert all("timeline" not in e and "warnings" not in e for e in doc["events"])  # type: ignore[union-attr]
    doc = _why("--file", str(log), "--db", str(tmp_path / "missing.db"))
    assert any("no such database" in n for n in doc["notes"])  # type: ignore[union-attr]


def test_chart_columns_take_the_peak_and_fill_gaps() -> None:
    pts = [(0.0, 1.0), (1.0, 5.0), (1.1, 2.0), (9.0, 3.0)]
    cols = columns(pts, 3)
    assert cols == [5.0, 5.0, 3.0]  # the middle slice had no sample: memory stayed
    lines = chart([(float(t), float(t * 1024)) for t in range(10)], width=10, height=2, floor=0)
    assert lines[0].startswith("9.0 MiB ┤") and lines[1].startswith("  0 KiB ┤")
    assert lines[1].endswith("█") and len(lines) == 3
    assert chart([]) == ["(no samples)"]
    assert human_kb(1536) == "1.5 MiB"
