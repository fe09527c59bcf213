"""The web's read layer: thin functions over ``store.queries``, ``why``, ``top`` and ``doctor``.

Nothing here formats HTML or speaks HTTP; the API, the pages and ``/metrics``
call these and only render what they return. What the web needs that the
store does not offer (kills newest first with a limit, series downsampled for
a plot, a forecast from the recorded samples) is written here over the same
tables and the same pure functions (``recorder.forecast``, ``why.report``).

Kills are immutable once stored, so each one's explanation (``why.report``) is
computed once and kept (``Data.report``); the process ranking is read from
/proc at most once per ``TOP_TTL_S``, shared by concurrent requests.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oomkit import procfs
from oomkit.errors import OomkitError
from oomkit.explain import headline
from oomkit.models import EventKind, Forecast, KillRecord, OomEvent
from oomkit.owner import owner_of
from oomkit.procmodels import Owner
from oomkit.store import queries as store
from oomkit.store.codec import event_from_json
from oomkit.web import series
from oomkit.why import KillReport

TOP_TTL_S = 1.0
REPORTS_KEPT = 256  # full reports (task tables included): a few MB
SUMMARIES_KEPT = 50_000  # list entries: ~1 KB each
REPORTER_TTL_S = 10.0  # cgroup states ("limit today") are re-read after this
FORECAST_WINDOW_S = 60.0  # as the daemon's default [daemon.warnings] window
RECORDER_STALE_S = 15.0  # no sample for this long: the recorder is not recording


def kill_reason(e: OomEvent) -> str:
    """A bounded label for why a kill happened (metrics, filters)."""
    if e.kind is not EventKind.OOM_KILL:
        return str(e.kind.value)  # no_victim, panic, userspace_kill
    c = (e.constraint or "").upper()
    if "MEMCG" in c or (not c and e.memcg and e.global_oom is not True):
        return "cgroup_limit"
    if "CPUSET" in c:
        return "cpuset"
    if "MEMORY_POLICY" in c:
        return "mempolicy"
    if "NONE" in c or e.global_oom:
        return "out_of_memory"
    return "unknown"


def victim_rss_kb(e: OomEvent) -> int | None:
    """The victim's resident memory at death (Victim.resident_kb)."""
    return e.victim.resident_kb() if e.victim is not None else None


@dataclass(frozen=True, slots=True)
class KillSummary:
    """One kill in a list: what the table of kills shows."""

    id: int
    ts: float  # Unix seconds
    killer: str
    kind: str
    reason: str
    victim_pid: int | None
    victim_name: str | None
    rss_kb: int | None
    memcg: str | None
    owner: str | None  # the owner's name (unit, container, pod)
    owner_kind: str
    headline: str
    detected_by: str


@dataclass(frozen=True, slots=True)
class KillDetail:
    """One kill with everything known: the report and what the recorder saw before it."""

    summary: KillSummary
    report: KillReport
    record: KillRecord | None  # what the flight recorder saw before the kill
    cgroup: series.Series | None
    victim: series.Series | None
    system: series.Series | None


@dataclass(frozen=True, slots=True)
class MemoryNow:
    """Memory right now, read from /proc (not from the database: it works without the daemon)."""

    mem_total_kb: int
    mem_available_kb: int
    swap_total_kb: int
    swap_free_kb: int
    psi_some_avg10: float | None
    psi_full_avg10: float | None
    psi_some_total_us: int | None
    psi_full_total_us: int | None


@dataclass(frozen=True, slots=True)
class RecorderHealth:
    """Is the flight recorder recording? From its database."""

    db: str
    available: bool
    error: str | None
    last_sample: float | None  # Unix seconds
    age_s: float | None
    recording: bool
    db_bytes: int | None
    kills_stored: int


def memory_now(proc_root: procfs.StrPath = procfs.PROC) -> MemoryNow:
    """/proc/meminfo and /proc/pressure/memory now."""
    m = procfs.read_meminfo(proc_root)
    try:
        psi = procfs.read_psi("memory", proc_root)
    except OomkitError:
        psi = None
    full = psi.full if psi is not None else None
    return MemoryNow(
        mem_total_kb=m.get("MemTotal", 0), mem_available_kb=m.get("MemAvailable", m.get("MemFree", 0)),
        swap_total_kb=m.get("SwapTotal", 0), swap_free_kb=m.get("SwapFree", 0),
        psi_some_avg10=psi.some.avg10 if psi is not None else None,
        psi_full_avg10=full.avg10 if full is not None else None,
        psi_some_total_us=psi.some.total_us if psi is not None else None,
        psi_full_total_us=full.total_us if full is not None else None,
    )


def system_forecast(conn: sqlite3.Connection, now_s: float, window_s: float = FORECAST_WINDOW_S
                    ) -> Forecast | None:
    """The daemon's system forecast (``recorder.forecast``) over the recorded samples."""
    from oomkit.recorder.forecast import forecast

    a = int((now_s - window_s) * 1000)
    rows = conn.execute(
        "SELECT ts, mem_total_kb, mem_available_kb, swap_total_kb, swap_free_kb FROM system_samples"
        " WHERE ts >= ? ORDER BY ts", (a,)).fetchall()
    if not rows:
        return None
    pts = [(ts / 1000, float((tot or 0) - (av or 0) + (st or 0) - (sf or 0)))
           for ts, tot, av, st, sf in rows]
    last = rows[-1]
    headroom = int((last[2] or 0) + (last[4] or 0))
    capacity = int((last[1] or 0) + (last[3] or 0))
    return forecast("system", "system", pts, headroom, capacity, now=rows[-1][0] / 1000,
                    window=window_s)


@functools.lru_cache(maxsize=4096)
def _owner(path: str | None) -> Owner | None:
    return owner_of(path)


def _summary(kill_id: int, ts_ms: int, event: OomEvent, detected_by: str) -> KillSummary:
    """A list entry: no explanation is computed (about 1 ms a kill), only its headline."""
    v = event.victim
    owner = _owner(event.memcg) or _owner(event.task_memcg)
    return KillSummary(
        id=kill_id, ts=ts_ms / 1000, killer=event.killer.value, kind=event.kind.value,
        reason=kill_reason(event), victim_pid=v.pid if v else None,
        victim_name=v.name if v else None, rss_kb=victim_rss_kb(event),
        memcg=event.memcg or event.task_memcg, owner=owner.name if owner else None,
        owner_kind=owner.kind if owner else "none", headline=headline(event),
        detected_by=detected_by,
    )


class Data:
    """The database (read-only connections, one per thread) and the caches. Thread-safe."""

    def __init__(self, db: Path, *, proc_root: procfs.StrPath = procfs.PROC,
                 top: Callable[[], Any] | None = None) -> None:
        self.db = db
        self.proc_root = proc_root
        self._local = threading.local()
        self._reports: OrderedDict[int, tuple[KillSummary, KillReport]] = OrderedDict()
        self._summaries: OrderedDict[int, KillSummary] = OrderedDict()
        self._enricher: tuple[float, Callable[[OomEvent], KillReport]] | None = None
        self._lock = threading.Lock()
        self.buckets = series.BucketCache()
        self._top_fn = top
        self._top_lock = threading.Lock()
        self._top: tuple[float, Any] | None = None

    # --- connections ---------------------------------------------------------------------

    def conn(self) -> sqlite3.Connection:
        """This thread's read-only connection (store.schema.DatabaseError if unusable)."""
        c: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if c is None:
            c = store.open_db(self.db)
            self._local.conn = c
        return c

    def health(self, now_s: float | None = None) -> RecorderHealth:
        """Whether the database is there and fresh."""
        now = time.time() if now_s is None else now_s
        try:
            c = self.conn()
            last = store.latest_sample_ms(c)
            kills = int(c.execute("SELECT COUNT(*) FROM kills").fetchone()[0])
        except (OomkitError, sqlite3.Error) as exc:
            return RecorderHealth(str(self.db), False, str(exc), None, None, False, None, 0)
        size = None
        with contextlib.suppress(OSError):
            size = self.db.stat().st_size + sum(
                p.stat().st_size for p in (Path(f"{self.db}-wal"),) if p.exists())
        last_s = None if last is None else last / 1000
        age = None if last_s is None else max(0.0, now - last_s)
        return RecorderHealth(str(self.db), True, None, last_s, age,
                              age is not None and age <= RECORDER_STALE_S, size, kills)

    # --- kills ---------------------------------------------------------------------------

    def _reporter(self) -> Callable[[OomEvent], KillReport]:
        """``why``'s enricher, kept REPORTER_TTL_S: the cgroup hierarchy is found once and
        owners and cgroup states are cached, instead of once per kill (``why.report``)."""
        from oomkit.why import Enricher, Machine

        now = time.monotonic()
        with self._lock:
            if self._enricher is None or now - self._enricher[0] > REPORTER_TTL_S:
                self._enricher = (now, Enricher(Machine()).report)
            return self._enricher[1]

    def summary(self, kill_id: int, ts_ms: int, event_json: str, detected_by: str) -> KillSummary:
        """The list entry of a stored kill (computed once per id; the task table is not decoded:
        a list does not show it)."""
        with self._lock:
            found = self._summaries.get(kill_id)
            if found is not None:
                return found
        data = json.loads(event_json)
        data["tasks"] = []
        event = event_from_json(json.dumps(data))
        summary = _summary(kill_id, ts_ms, event, detected_by)
        with self._lock:
            self._summaries[kill_id] = summary
            while len(self._summaries) > SUMMARIES_KEPT:
                self._summaries.popitem(last=False)
        return summary

    def report(self, kill_id: int, ts_ms: int, event_json: str, detected_by: str
               ) -> tuple[KillSummary, KillReport]:
        """The summary and the explained report of a stored kill (the last REPORTS_KEPT kept)."""
        with self._lock:
            found = self._reports.get(kill_id)
            if found is not None:
                self._reports.move_to_end(kill_id)
                return found
        event = event_from_json(event_json)
        rep = self._reporter()(event)
        pair = (_summary(kill_id, ts_ms, event, detected_by), rep)
        with self._lock:
            self._reports[kill_id] = pair
            while len(self._reports) > REPORTS_KEPT:
                self._reports.popitem(last=False)
        return pair

    def kills(self, *, since_ms: int | None = None, until_ms: int | None = None, limit: int = 50,
              before_id: int | None = None) -> list[KillSummary]:
        """Stored kills, newest first; ``before_id`` pages back."""
        a, b = since_ms if since_ms is not None else 0, until_ms if until_ms is not None else 2**62
        sql = ("SELECT id, ts, event, detected_by FROM kills WHERE ts >= ? AND ts <= ?"  # noqa: S608
               + (" AND id < ?" if before_id is not None else "") + " ORDER BY ts DESC, id DESC LIMIT ?")
        args: list[object] = [a, b]
        if before_id is not None:
            args.append(before_id)
        args.append(limit)
        rows = self.conn().execute(sql, args).fetchall()
        return [self.summary(int(i), int(ts), str(ev), str(by)) for i, ts, ev, by in rows]

    def kill(self, kill_id: int, *, max_points: int = series.MAX_POINTS) -> KillDetail | None:
        """One stored kill, explained, with the victim's (and its cgroup's) curve before death."""
        c = self.conn()
        row = c.execute("SELECT id, ts, event, detected_by, proc_id FROM kills WHERE id = ?",
                        (kill_id,)).fetchone()
        if row is None:
            return None
        summary, rep = self.report(int(row[0]), int(row[1]), str(row[2]), str(row[3]))
        proc_id = None if row[4] is None else int(row[4])
        record = store.kill_record(c, rep.event, detected_by=str(row[3]), proc_id=proc_id)
        at = int(row[1])
        a, b = at - int(store.BEFORE_KILL_S * 1000), at + 1000
        victim = None
        if record is not None and record.process is not None:
            victim = series.read(c, series.process_spec(record.process.id), a, b,
                                 max_points=max_points)
        system = series.read(c, series.SYSTEM, a, b, max_points=max_points)
        cgroup = None
        path = rep.event.memcg or rep.event.task_memcg
        if path:
            cg = c.execute("SELECT id FROM cgroups WHERE path = ?", (path,)).fetchone()
            if cg is not None:
                cgroup = series.read(c, series.cgroup_spec(int(cg[0])), a, b, max_points=max_points)
        return KillDetail(summary, rep, record, cgroup, victim, system)

    def kill_totals(self, after_id: int = 0) -> tuple[int, list[tuple[int, float, OomEvent]]]:
        """Kills stored after ``after_id``, oldest first, and the largest id (for counters)."""
        rows = self.conn().execute("SELECT id, ts, event FROM kills WHERE id > ? ORDER BY id",
                                   (after_id,)).fetchall()
        out = [(int(i), ts / 1000, event_from_json(ev)) for i, ts, ev in rows]
        return (out[-1][0] if out else after_id), out

    # --- time series ----------------------------------------------------------------------

    def system_series(self, since_ms: int, until_ms: int, max_points: int = series.MAX_POINTS
                      ) -> series.Series:
        """MemAvailable, swap and PSI over the window, downsampled."""
        return series.read(self.conn(), series.SYSTEM, since_ms, until_ms, max_points=max_points,
                           cache=self.buckets)

    def process_series(self, proc_id: int, since_ms: int, until_ms: int,
                       max_points: int = series.MAX_POINTS) -> series.Series:
        """One recorded process's RSS and swap over the window, downsampled."""
        return series.read(self.conn(), series.process_spec(proc_id), since_ms, until_ms,
                           max_points=max_points, cache=self.buckets)

    def cgroup_series(self, path: str, since_ms: int, until_ms: int,
                      max_points: int = series.MAX_POINTS) -> series.Series | None:
        """One recorded cgroup's usage and limit over the window; None if never recorded."""
        row = self.conn().execute("SELECT id FROM cgroups WHERE path = ?", (path,)).fetchone()
        if row is None:
            return None
        return series.read(self.conn(), series.cgroup_spec(int(row[0])), since_ms, until_ms,
                           max_points=max_points, cache=self.buckets)

    def processes(self, target: str, limit: int = 50) -> list[Any]:
        """Recorded processes named ``target`` (a pid or a name), most recently seen first."""
        return store.find_processes(self.conn(), target, limit=limit)

    def forecast(self, now_s: float | None = None) -> Forecast | None:
        """The system forecast from the last minute of recorded samples."""
        return system_forecast(self.conn(), time.time() if now_s is None else now_s)

    # --- live readings --------------------------------------------------------------------

    def top(self) -> Any:
        """The process ranking (``top.top_by_oom_score``), at most TOP_TTL_S old."""
        now = time.monotonic()
        cached = self._top
        if cached is not None and now - cached[0] < TOP_TTL_S:
            return cached[1]
        with self._top_lock:  # one /proc walk for all the requests waiting on it
            cached = self._top
            if cached is not None and time.monotonic() - cached[0] < TOP_TTL_S:
                return cached[1]
            if self._top_fn is not None:
                result = self._top_fn()
            else:
                from oomkit.top import top_by_oom_score

                result = top_by_oom_score(with_cmdline=True)
            self._top = (time.monotonic(), result)
            return result

    def memory_now(self) -> MemoryNow:
        """Memory now, from /proc."""
        return memory_now(self.proc_root)
