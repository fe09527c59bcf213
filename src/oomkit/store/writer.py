"""The daemon's single writer: one batched transaction per interval, kills in their own.

A kill is committed the moment it is parsed, in its own small transaction, so a
crash right after never loses it. Samples are batched: one transaction per
sampling interval, so a crash loses at most the interval in progress.

When the disk is full (SQLITE_FULL, or an I/O error while growing the file or
the WAL), the batch is dropped, one clear error is reported, and kills are kept
in memory and written, oldest first, as soon as a write succeeds again.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from oomkit.models import (
    CgroupSample,
    OomEvent,
    ProcessInfo,
    ProcessSample,
    SystemSample,
    WarningRecord,
)
from oomkit.procfs import StrPath
from oomkit.store import schema
from oomkit.store.codec import event_to_json

# level ("error", "warning", "info") and a one-line message
Report = Callable[[str, str], None]
MAX_PENDING_KILLS = 10_000


class Batch(NamedTuple):
    """Everything sampled in one interval."""

    system: SystemSample | None = None
    cgroups: tuple[CgroupSample, ...] = ()
    processes: tuple[ProcessSample, ...] = ()
    warnings: tuple[WarningRecord, ...] = ()

    @property
    def rows(self) -> int:
        """How many rows it writes (not ``len()``: that is the tuple's field count)."""
        return (self.system is not None) + len(self.cgroups) + len(self.processes) + len(
            self.warnings)


class KillObservation(NamedTuple):
    """A kill to store: the parsed (or counted) event and how the daemon learnt of it."""

    event: OomEvent
    detected_by: str  # "kmsg" (live), "kmsg-backlog" (in the ring buffer at start), "counter"
    boot_id: str


def ms(ts: float) -> int:
    """Unix seconds -> integer milliseconds, the database's time unit."""
    return round(ts * 1000)


def _kill_row(obs: KillObservation, boot: int, proc_id: int | None) -> tuple[object, ...]:
    e = obs.event
    v = e.victim
    wall = e.time.wall.timestamp() if e.time.wall is not None else time.time()
    uptime_us = round(e.time.uptime_s * 1e6) if e.time.uptime_s is not None else None
    return (ms(wall), boot, uptime_us, v.pid if v else None, v.name if v else None, proc_id,
            e.memcg, e.task_memcg, e.killer.value, e.kind.value, obs.detected_by,
            ms(time.time()), event_to_json(e))


class Writer:
    """Owns the one writer connection. Not thread-safe: the daemon's loop calls it."""

    def __init__(self, path: StrPath, boot_id: str, report: Report, *, busy_ms: int = 1000,
                 cache_kb: int = 128) -> None:
        self.path = path
        self._boot_id = boot_id
        self._report = report
        self._conn = schema.connect_writer(path, busy_ms=busy_ms, cache_kb=cache_kb)
        self._boot: int | None = None
        self._procs: dict[tuple[int, int], tuple[int, ProcessInfo]] = {}
        self._cgroups: dict[str, int] = {}
        self._kills: deque[KillObservation] = deque()
        self.failing: str | None = None  # the error while writes fail
        self.dropped_samples = 0  # samples lost while writes failed (since the last success)
        self.stored_kills = 0

    # --- the connection ---------------------------------------------------------------------

    @property
    def connection(self) -> sqlite3.Connection:
        """The writer connection (maintenance runs on it, between batches)."""
        return self._conn

    def close(self) -> None:
        """Write what is pending and close; a clean close also checkpoints the WAL."""
        self.flush_kills()
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()

    def _rollback(self) -> None:
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        # Rows inserted in the rolled-back transaction are gone: forget their ids.
        self._boot = None
        self._procs.clear()
        self._cgroups.clear()

    def _failed(self, exc: sqlite3.Error, what: str) -> None:
        self._rollback()
        code = schema.error_code(exc)
        if code in (schema.SQLITE_FULL, schema.SQLITE_IOERR):
            reason = (f"cannot write {self.path}: the disk is full ({exc}); samples are dropped"
                      " and kills kept in memory until space returns")
        elif code in (schema.SQLITE_BUSY, schema.SQLITE_LOCKED):
            reason = (f"cannot write {self.path}: the database is locked by another process ({exc});"
                      " is a second daemon running?")
        else:
            reason = f"cannot write {self.path} ({what}): {exc}"
        if self.failing is None:
            self._report("error", reason)
        self.failing = reason

    def _succeeded(self) -> None:
        if self.failing is not None:
            self._report("info", f"writing to {self.path} again; {self.dropped_samples} samples were"
                         f" dropped while it failed; {len(self._kills)} kills kept in memory are"
                         " being written")
            self.failing = None
            self.dropped_samples = 0

    # --- ids ---------------------------------------------------------------------------------

    def _boot_row(self) -> int:
        if self._boot is None:
            c = self._conn
            c.execute("INSERT OR IGNORE INTO boots(boot_id, first_ms) VALUES (?, ?)",
                      (self._boot_id, ms(time.time())))
            self._boot = int(c.execute("SELECT id FROM boots WHERE boot_id = ?",
                                       (self._boot_id,)).fetchone()[0])
        return self._boot

    def _proc_id(self, info: ProcessInfo, ts: float) -> int:
        key = (info.pid, info.start_ticks)
        cached = self._procs.get(key)
        if cached is not None:
            if cached[1] is info:
                return cached[0]
            if (cached[1].name, cached[1].cmdline, cached[1].cgroup) == (info.name, info.cmdline,
                                                                         info.cgroup):
                self._procs[key] = (cached[0], info)
                return cached[0]
        c = self._conn
        boot = self._boot_row()
        c.execute(
            "INSERT INTO procs(boot, pid, start_ticks, name, cmdline, uid, cgroup, first_ms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(boot, pid, start_ticks) DO UPDATE SET"
            " name = excluded.name, cmdline = excluded.cmdline, cgroup = excluded.cgroup",
            (boot, info.pid, info.start_ticks, info.name, info.cmdline, info.uid, info.cgroup,
             ms(ts)),
        )
        row = c.execute("SELECT id FROM procs WHERE boot = ? AND pid = ? AND start_ticks = ?",
                        (boot, info.pid, info.start_ticks)).fetchone()
        pid_id = int(row[0])
        self._procs[key] = (pid_id, info)
        return pid_id

    def forget(self, keys: Iterable[tuple[int, int]]) -> None:
        """Drop cached ids of processes that exited (bounds the cache)."""
        for key in keys:
            self._procs.pop(key, None)

    def _cgroup_id(self, path: str, version: int) -> int:
        found = self._cgroups.get(path)
        if found is None:
            c = self._conn
            c.execute("INSERT OR IGNORE INTO cgroups(path, version) VALUES (?, ?)", (path, version))
            found = int(c.execute("SELECT id FROM cgroups WHERE path = ?", (path,)).fetchone()[0])
            self._cgroups[path] = found
        return found

    # --- writes ------------------------------------------------------------------------------

    def write_batch(self, batch: Batch) -> bool:
        """One transaction with everything sampled in an interval; False if it was dropped."""
        self.flush_kills()
        if not batch.rows:
            return self.failing is None
        c = self._conn
        try:
            c.execute("BEGIN IMMEDIATE")
            s = batch.system
            if s is not None:
                c.execute(
                    "INSERT OR REPLACE INTO system_samples VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (ms(s.ts), s.mem_total_kb, s.mem_available_kb, s.swap_total_kb, s.swap_free_kb,
                     s.committed_as_kb, s.commit_limit_kb, s.psi_some_avg10, s.psi_full_avg10,
                     s.psi_some_total_us, s.psi_full_total_us),
                )
            if batch.cgroups:
                c.executemany(
                    "INSERT OR REPLACE INTO cgroup_samples VALUES (?,?,?,?,?,?,?,?)",
                    [(ms(g.ts), self._cgroup_id(g.path, g.version), g.usage_kb, g.limit_kb,
                      g.high_events, g.max_events, g.oom_events, g.oom_kills) for g in batch.cgroups],
                )
            if batch.processes:
                ids = [self._proc_id(p.info, p.ts) for p in batch.processes]
                c.executemany(  # a generator: no list of rows is built
                    "INSERT OR REPLACE INTO proc_samples VALUES (?,?,?,?,?,?,?,?)",
                    ((ms(p.ts), i, p.anon_rss_kb, p.file_rss_kb, p.shmem_rss_kb, p.swap_kb,
                      p.oom_score_adj, p.oom_score) for p, i in zip(batch.processes, ids, strict=True)),
                )
            if batch.warnings:
                c.executemany(
                    "INSERT INTO warnings(ts, subject, kind, seconds_left, message)"
                    " VALUES (?,?,?,?,?)",
                    [(ms(w.ts), w.subject, w.kind, w.seconds_left, w.message) for w in batch.warnings],
                )
            c.execute("COMMIT")
        except sqlite3.Error as exc:
            self.dropped_samples += batch.rows
            self._failed(exc, "samples")
            return False
        self._succeeded()
        return True

    def write_kill(self, obs: KillObservation) -> bool:
        """Store a kill now, in its own transaction; if that fails it is kept and retried."""
        if len(self._kills) >= MAX_PENDING_KILLS:
            self._kills.popleft()
            self._report("error", f"more than {MAX_PENDING_KILLS} kills wait for the disk; the"
                         " oldest is dropped")
        self._kills.append(obs)
        return self.flush_kills()

    def record_job_event(self, kind: str, name: str, data: dict[str, Any], wall: float) -> bool:
        """Store a supervised program's event (``spawned``, ``state``, ``exit``) at once."""
        import json  # here, not at the top: the daemon without programs never loads it

        try:
            with self._conn:
                self._conn.execute(
                    "INSERT INTO job_events(ts, name, kind, data) VALUES (?,?,?,?)",
                    (ms(wall), name, kind, json.dumps(data, separators=(",", ":"))),
                )
        except sqlite3.Error as exc:
            self._failed(exc, "job event")
            return False
        return True

    @property
    def pending_kills(self) -> int:
        """Kills kept in memory because the database could not be written."""
        return len(self._kills)

    def flush_kills(self) -> bool:
        """Write the kills kept in memory, oldest first; True when none is left."""
        c = self._conn
        while self._kills:
            obs = self._kills[0]
            try:
                c.execute("BEGIN IMMEDIATE")
                boot = self._boot_row()
                v = obs.event.victim
                proc_id = None
                if v is not None and v.pid is not None:
                    # the identity that held the pid at the kill: the latest started before it,
                    # the one with the victim's name if the pid was reused meanwhile
                    wall = obs.event.time.wall.timestamp() if obs.event.time.wall else time.time()
                    rows = c.execute(
                        "SELECT id, name FROM procs WHERE boot = ? AND pid = ? AND first_ms <= ?"
                        " ORDER BY first_ms DESC LIMIT 3", (boot, v.pid, ms(wall) + 2000),
                    ).fetchall()
                    named = [r for r in rows if v.name is None or r[1] == v.name[:15]]
                    if named or rows:
                        proc_id = int((named or rows)[0][0])
                c.execute(
                    "INSERT OR IGNORE INTO kills(ts, boot, uptime_us, victim_pid, victim_name, proc_id,"
                    " memcg, task_memcg, killer, kind, detected_by, recorded_ms, event)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", _kill_row(obs, boot, proc_id),
                )
                stored = c.execute("SELECT changes()").fetchone()[0]
                c.execute("COMMIT")
            except sqlite3.Error as exc:
                self._failed(exc, "kill")
                return False
            self._succeeded()  # before popleft: its message counts this kill too
            self._kills.popleft()
            self.stored_kills += int(stored)
        return True
