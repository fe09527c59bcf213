"""The one read layer over the flight recorder's database.

`oomkit why`, `oomkit timeline` (and later the web UI and the metrics endpoint)
call these functions and only format what they return. Every function takes an
open connection (``schema.connect_reader``: read-only, never blocks the daemon)
and returns frozen records from ``oomkit.models``. Times in and out: arguments
are Unix milliseconds, results carry aware UTC datetimes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from oomkit.models import (
    CgroupPoint,
    JobEvent,
    KillRecord,
    OomEvent,
    RecordedProcess,
    SystemPoint,
    TimelinePoint,
    WarningRecord,
)
from oomkit.procfs import PID_MAX_LIMIT
from oomkit.recorder.forecast import theil_sen
from oomkit.store import schema
from oomkit.store.codec import event_from_json

DEFAULT_DB = Path("/var/lib/oomkit/oomkit.db")
BEFORE_KILL_S = 600.0  # the victim's curve shown before its death
WARNINGS_BEFORE_KILL_S = 3600.0


def open_db(path: Path = DEFAULT_DB) -> sqlite3.Connection:
    """A read-only connection to the daemon's database (DatabaseError if unusable)."""
    return schema.connect_reader(path)


def wall(ts_ms: int) -> datetime:
    """Database milliseconds -> aware UTC datetime."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc)


def to_ms(when: datetime | None) -> int | None:
    """Aware datetime -> database milliseconds."""
    return None if when is None else round(when.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class StoredKill:
    """A kill row: the event as parsed (or counted) and how the daemon learnt of it."""

    id: int
    ts: datetime
    event: OomEvent
    detected_by: str
    proc_id: int | None
    recorded: datetime


_PROC_COLS = "p.id, p.pid, p.start_ticks, p.name, p.cmdline, p.uid, p.cgroup, p.first_ms"


def _proc(conn: sqlite3.Connection, row: Sequence[object]) -> RecordedProcess:
    last = conn.execute("SELECT MAX(ts) FROM proc_samples WHERE proc_id = ?", (row[0],)).fetchone()[0]
    return RecordedProcess(
        id=int(row[0]),  # type: ignore[call-overload]
        pid=int(row[1]),  # type: ignore[call-overload]
        start_ticks=int(row[2]),  # type: ignore[call-overload]
        name=str(row[3]), cmdline=str(row[4] or ""),
        uid=None if row[5] is None else int(row[5]),  # type: ignore[call-overload]
        cgroup=None if row[6] is None else str(row[6]),
        first_seen=wall(int(row[7])),  # type: ignore[call-overload]
        last_seen=None if last is None else wall(int(last)),
    )


def process(conn: sqlite3.Connection, proc_id: int) -> RecordedProcess | None:
    """One process identity by its id."""
    row = conn.execute(f"SELECT {_PROC_COLS} FROM procs p WHERE p.id = ?", (proc_id,)).fetchone()  # noqa: S608
    return None if row is None else _proc(conn, row)


def find_processes(
    conn: sqlite3.Connection, target: str, since_ms: int | None = None, until_ms: int | None = None,
    limit: int = 50,
) -> list[RecordedProcess]:
    """Processes recorded under ``target`` (a pid, or a name: comm or argv[0]'s basename),
    alive at some point in the window, most recently seen first."""
    if target.isdecimal():
        # Past PID_MAX_LIMIT no PID exists, nor would the number fit SQLite's integer.
        rows = conn.execute(f"SELECT {_PROC_COLS} FROM procs p WHERE p.pid = ?",  # noqa: S608
                            (int(target),)).fetchall() if int(target) < PID_MAX_LIMIT else []
    else:
        # GLOB, not LIKE: case-sensitive as process names are, and with its metacharacters
        # bracketed the name is matched literally (LIKE took _ and % as wildcards).
        lit = "".join(f"[{c}]" if c in "*?[" else c for c in target)
        rows = conn.execute(
            f"SELECT {_PROC_COLS} FROM procs p WHERE p.name = ? OR p.name = ?"  # noqa: S608
            " OR p.cmdline = ? OR p.cmdline GLOB ? OR p.cmdline GLOB ? OR p.cmdline GLOB ?",
            (target, target[:15], target, f"{lit} *", f"*/{lit}", f"*/{lit} *"),
        ).fetchall()
    found = []
    for row in rows:
        p = _proc(conn, row)
        if not target.isdecimal() and target not in (p.name, p.cmdline) and (
                target[:15] != p.name and _argv0_base(p.cmdline) != target):
            continue  # GLOB also matched "/NAME " in a later argument
        first = to_ms(p.first_seen) or 0
        last = to_ms(p.last_seen) or first
        if until_ms is not None and first > until_ms:
            continue
        if since_ms is not None and last < since_ms:
            continue
        found.append(p)
    found.sort(key=lambda p: p.last_seen or p.first_seen, reverse=True)
    return found[:limit]


def _argv0_base(cmdline: str) -> str:
    """The basename of a recorded command line's first word (arguments are joined by
    spaces there, so a path with a space in it is cut: rare for a program)."""
    return cmdline.split(" ", 1)[0].rsplit("/", 1)[-1]


def _window(since_ms: int | None, until_ms: int | None) -> tuple[int, int]:
    return (since_ms if since_ms is not None else 0,
            until_ms if until_ms is not None else 2**62)


def process_timeline(
    conn: sqlite3.Connection, proc_id: int, since_ms: int | None = None, until_ms: int | None = None,
) -> tuple[TimelinePoint, ...]:
    """Every stored sample of one process in the window, oldest first."""
    a, b = _window(since_ms, until_ms)
    return tuple(
        TimelinePoint(wall(ts), anon, file_, shmem, swap, adj, score)
        for ts, anon, file_, shmem, swap, adj, score in conn.execute(
            "SELECT ts, anon_kb, file_kb, shmem_kb, swap_kb, adj, score FROM proc_samples"
            " WHERE proc_id = ? AND ts >= ? AND ts <= ? ORDER BY ts", (proc_id, a, b))
    )


def system_timeline(
    conn: sqlite3.Connection, since_ms: int | None = None, until_ms: int | None = None,
) -> tuple[SystemPoint, ...]:
    """System samples in the window, oldest first."""
    a, b = _window(since_ms, until_ms)
    return tuple(
        SystemPoint(wall(ts), total or 0, avail or 0, swap_free or 0, some, full)
        for ts, total, avail, swap_free, some, full in conn.execute(
            "SELECT ts, mem_total_kb, mem_available_kb, swap_free_kb, psi_some_avg10,"
            " psi_full_avg10 FROM system_samples WHERE ts >= ? AND ts <= ? ORDER BY ts", (a, b))
    )


def cgroup_paths(conn: sqlite3.Connection, target: str) -> list[str]:
    """Recorded cgroups named ``target`` exactly, else those whose path contains it."""
    exact = conn.execute("SELECT path FROM cgroups WHERE path = ?", (target,)).fetchall()
    if exact:
        return [str(r[0]) for r in exact]
    return [str(r[0]) for r in conn.execute(
        "SELECT path FROM cgroups WHERE instr(path, ?) > 0 ORDER BY path", (target,))]


def cgroup_timeline(
    conn: sqlite3.Connection, path: str, since_ms: int | None = None, until_ms: int | None = None,
) -> tuple[CgroupPoint, ...]:
    """Samples of one limited cgroup in the window, oldest first."""
    a, b = _window(since_ms, until_ms)
    return tuple(
        CgroupPoint(wall(ts), usage, limit, kills)
        for ts, usage, limit, kills in conn.execute(
            "SELECT s.ts, s.usage_kb, s.limit_kb, s.oom_kills FROM cgroup_samples s"
            " JOIN cgroups c ON c.id = s.cgroup_id WHERE c.path = ? AND s.ts >= ? AND s.ts <= ?"
            " ORDER BY s.ts", (path, a, b))
    )


def kills(
    conn: sqlite3.Connection, since_ms: int | None = None, until_ms: int | None = None,
) -> list[StoredKill]:
    """Stored kills in the window, oldest first."""
    a, b = _window(since_ms, until_ms)
    out = []
    for i, ts, ev, by, pid, rec in conn.execute(
        "SELECT id, ts, event, detected_by, proc_id, recorded_ms FROM kills"
        " WHERE ts >= ? AND ts <= ? ORDER BY ts", (a, b),
    ):
        try:
            event = event_from_json(ev)
        except ValueError:
            continue  # written by a newer, incompatible oomkit: skipped, not fatal
        out.append(StoredKill(int(i), wall(ts), event, str(by), None if pid is None else int(pid),
                              wall(rec)))
    return out


def warnings(
    conn: sqlite3.Connection, since_ms: int | None = None, until_ms: int | None = None,
    subjects: Sequence[str] | None = None,
) -> tuple[WarningRecord, ...]:
    """Warnings (and "recovered" messages) in the window, oldest first; only ``subjects`` if given."""
    a, b = _window(since_ms, until_ms)
    rows = conn.execute("SELECT ts, subject, kind, seconds_left, message FROM warnings"
                        " WHERE ts >= ? AND ts <= ? ORDER BY ts", (a, b)).fetchall()
    keep = None if subjects is None else set(subjects)
    return tuple(WarningRecord(ts / 1000, str(s), str(k), left, str(m))
                 for ts, s, k, left, m in rows if keep is None or s in keep)


def victim_process(
    conn: sqlite3.Connection, pid: int, name: str | None, at_ms: int,
) -> RecordedProcess | None:
    """The recorded process a kill's victim was: that pid, started before the kill, the
    name matching when known (a reused pid has another start time and usually another name)."""
    rows = conn.execute(
        f"SELECT {_PROC_COLS} FROM procs p WHERE p.pid = ? AND p.first_ms <= ?"  # noqa: S608
        " ORDER BY p.first_ms DESC LIMIT 5", (pid, at_ms + 2000)).fetchall()
    for row in rows:
        if name is None or str(row[3]) == name[:15]:
            p = _proc(conn, row)
            # A process last seen long before the kill is an older holder of the pid.
            if p.last_seen is None or (to_ms(p.last_seen) or 0) >= at_ms - 3600 * 1000:
                return p
    return None


def growth_kb_s(points: Sequence[TimelinePoint], last_s: float = 120.0) -> float | None:
    """Robust trend (Theil-Sen) of RSS + swap over the last ``last_s`` seconds, kB/s."""
    if len(points) < 2:
        return None
    end = points[-1].wall.timestamp()
    recent = [p for p in points if p.wall.timestamp() >= end - last_s]
    if len(recent) < 2:
        recent = list(points[-2:])
    fit = theil_sen([p.wall.timestamp() - end for p in recent], [float(p.total_kb) for p in recent])
    return None if fit is None else fit[0]


def _ancestors(path: str) -> list[str]:
    parts = [x for x in path.split("/") if x]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def kill_subjects(event: OomEvent, pid: int | None) -> list[str]:
    """Warning subjects that concern a kill: the system, its cgroups and their ancestors, the victim."""
    subjects = ["system"]
    for path in (event.memcg, event.task_memcg):
        if path:
            subjects.extend(a for a in _ancestors(path) if a not in subjects)
    if pid is not None:
        subjects.append(f"pid:{pid}")
    return subjects


def kill_record(
    conn: sqlite3.Connection, event: OomEvent, *, before_s: float = BEFORE_KILL_S,
    detected_by: str | None = None, proc_id: int | None = None,
) -> KillRecord | None:
    """What the database holds about one kill; None when it was not recording then."""
    t = event.time.wall
    if t is None:
        return None
    at = to_ms(t) or 0
    v = event.victim
    proc = process(conn, proc_id) if proc_id is not None else None
    if proc is None and v is not None and v.pid is not None:
        proc = victim_process(conn, v.pid, v.name, at)
    start = at - int(before_s * 1000)
    # up to the kill: a sample read while the victim was being reaped is not "before death"
    timeline = process_timeline(conn, proc.id, start, at) if proc is not None else ()
    system = system_timeline(conn, start, at)
    warned = warnings(conn, at - int(WARNINGS_BEFORE_KILL_S * 1000), at + 1000,
                      kill_subjects(event, v.pid if v is not None else None))
    if not (timeline or system or warned or detected_by):
        return None
    return KillRecord(process=proc, timeline=timeline, system=system, warnings=warned,
                      growth_kb_s=growth_kb_s(timeline), detected_by=detected_by)


def latest_sample_ms(conn: sqlite3.Connection) -> int | None:
    """When the daemon last wrote a system sample."""
    row = conn.execute("SELECT MAX(ts) FROM system_samples").fetchone()
    return None if row[0] is None else int(row[0])


def job_events(conn: sqlite3.Connection, name: str, limit: int = 200) -> list[JobEvent]:
    """A supervised program's recorded starts and exits, oldest first (the newest ``limit``)."""
    try:
        rows = conn.execute(
            "SELECT ts, name, kind, data FROM job_events WHERE name = ? ORDER BY ts DESC LIMIT ?",
            (name, limit),
        ).fetchall()
    except sqlite3.OperationalError:  # a database from before migration 2
        return []
    return [JobEvent(wall(int(r[0])), str(r[1]), str(r[2]), str(r[3])) for r in reversed(rows)]
