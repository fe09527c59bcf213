"""Keep the database small: downsample old samples, apply retention, enforce the size cap.

Tiers (defaults, see docs/daemon.md): every sample for ``full_resolution`` (1 h),
then one per 10 s for ``ten_second`` (1 day), then one per minute for
``one_minute`` (30 days), then nothing. Downsampling keeps the *peak* of each
bucket (most memory used, least MemAvailable), so the curve that led to a kill
keeps its top; the processes that were killed, and the system and cgroup samples
of the 15 minutes before each kill, are never downsampled. Kills and warnings are
kept for ``events`` (1 year), and are never deleted by the size cap.

Each call does a bounded amount of work (at most ``STEP_MS`` of time range per
tier) so the daemon's loop never stalls; ``run`` says when more is left.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

STEP_MS = 3600 * 1000  # time range handled per tier and call
KILL_CONTEXT_MS = 15 * 60 * 1000


class Retention(NamedTuple):
    """How long each resolution is kept (seconds) and the size cap (MiB)."""

    full_resolution: float = 3600.0
    ten_second: float = 86400.0
    one_minute: float = 30 * 86400.0
    events: float = 365 * 86400.0
    max_size_mb: float = 512.0


class Outcome(NamedTuple):
    """What one maintenance call did."""

    deleted: int
    more: bool  # work is left for the next call
    size_bytes: int
    capped: bool  # old samples were deleted to respect the size cap


def _meta(conn: sqlite3.Connection, key: str) -> int | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return int(row[0]) if row is not None else None


def _set_meta(conn: sqlite3.Connection, key: str, value: int) -> None:
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, str(value)))


def _oldest(conn: sqlite3.Connection) -> int | None:
    found = [r[0] for r in (
        conn.execute("SELECT MIN(ts) FROM system_samples").fetchone(),
        conn.execute("SELECT MIN(ts) FROM proc_samples").fetchone(),
        conn.execute("SELECT MIN(ts) FROM cgroup_samples").fetchone(),
    ) if r[0] is not None]
    return min(found) if found else None


def downsample(conn: sqlite3.Connection, a: int, b: int, bucket_ms: int) -> int:
    """Keep one sample (the peak) per ``bucket_ms`` in [a, b); return rows deleted."""
    p = {"a": a, "b": b, "bucket": bucket_ms, "ctx": KILL_CONTEXT_MS}
    deleted = 0
    deleted += conn.execute(
        "DELETE FROM proc_samples WHERE ts >= :a AND ts < :b"
        " AND proc_id NOT IN (SELECT proc_id FROM kills WHERE proc_id IS NOT NULL)"
        " AND (ts, proc_id) NOT IN (SELECT ts, proc_id FROM ("
        "   SELECT MAX(anon_kb + file_kb + shmem_kb + swap_kb), ts, proc_id FROM proc_samples"
        "   WHERE ts >= :a AND ts < :b GROUP BY proc_id, ts / :bucket))", p,
    ).rowcount
    deleted += conn.execute(
        "DELETE FROM system_samples WHERE ts >= :a AND ts < :b"
        " AND ts NOT IN (SELECT ts FROM ("
        "   SELECT MIN(mem_available_kb), ts FROM system_samples WHERE ts >= :a AND ts < :b"
        "   GROUP BY ts / :bucket))"
        " AND NOT EXISTS (SELECT 1 FROM kills k WHERE k.ts >= system_samples.ts"
        "   AND k.ts <= system_samples.ts + :ctx)", p,
    ).rowcount
    deleted += conn.execute(
        "DELETE FROM cgroup_samples WHERE ts >= :a AND ts < :b"
        " AND (ts, cgroup_id) NOT IN (SELECT ts, cgroup_id FROM ("
        "   SELECT MAX(usage_kb), ts, cgroup_id FROM cgroup_samples WHERE ts >= :a AND ts < :b"
        "   GROUP BY cgroup_id, ts / :bucket))"
        " AND NOT EXISTS (SELECT 1 FROM kills k WHERE k.ts >= cgroup_samples.ts"
        "   AND k.ts <= cgroup_samples.ts + :ctx)", p,
    ).rowcount
    return deleted


def expire(conn: sqlite3.Connection, samples_before: int, events_before: int) -> int:
    """Delete samples older than ``samples_before`` and kills/warnings older than ``events_before``."""
    deleted = 0
    for table in ("proc_samples", "system_samples", "cgroup_samples"):
        deleted += conn.execute(f"DELETE FROM {table} WHERE ts < ?", (samples_before,)).rowcount  # noqa: S608
    deleted += conn.execute("DELETE FROM kills WHERE ts < ?", (events_before,)).rowcount
    deleted += conn.execute("DELETE FROM warnings WHERE ts < ?", (events_before,)).rowcount
    deleted += conn.execute(
        "DELETE FROM procs WHERE first_ms < ?"
        " AND NOT EXISTS (SELECT 1 FROM proc_samples s WHERE s.proc_id = procs.id)"
        " AND id NOT IN (SELECT proc_id FROM kills WHERE proc_id IS NOT NULL)", (samples_before,),
    ).rowcount
    return deleted


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes of the database in use (pages minus free pages)."""
    page = int(conn.execute("PRAGMA page_size").fetchone()[0])
    count = int(conn.execute("PRAGMA page_count").fetchone()[0])
    free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    return (count - free) * page


def _tx(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")


def run(conn: sqlite3.Connection, now_ms: int, r: Retention) -> Outcome:
    """One bounded pass of downsampling, retention and the size cap."""
    deleted = 0
    more = False
    for key, bucket, older_than in (("downsampled_10s", 10_000, r.full_resolution),
                                    ("downsampled_60s", 60_000, r.ten_second)):
        cut = now_ms - int(older_than * 1000)
        _tx(conn)
        try:
            start = _meta(conn, key)
            if start is None:
                start = _oldest(conn) or cut
            start -= start % bucket
            end = min(cut - cut % bucket, start + STEP_MS)
            if end > start:
                deleted += downsample(conn, start, end, bucket)
                _set_meta(conn, key, end)
                more = more or end < cut - cut % bucket
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    _tx(conn)
    try:
        deleted += expire(conn, now_ms - int(r.one_minute * 1000), now_ms - int(r.events * 1000))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    capped = False
    cap = int(r.max_size_mb * 1024 * 1024)
    for _ in range(20):
        if used_bytes(conn) <= cap:
            break
        oldest = _oldest(conn)
        if oldest is None:
            break
        step = max(3600 * 1000, (now_ms - oldest) // 10)
        _tx(conn)
        try:
            for table in ("proc_samples", "system_samples", "cgroup_samples"):
                deleted += conn.execute(f"DELETE FROM {table} WHERE ts < ?",  # noqa: S608
                                        (oldest + step,)).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        capped = True
    if capped:
        conn.execute("PRAGMA incremental_vacuum")
    return Outcome(deleted, more, used_bytes(conn), capped)
