"""Time series for plots, downsampled in the database to at most ~1000 points.

A day of 1 s samples is 86,400 rows; a plot needs a few hundred points. The
window is cut into buckets on a fixed grid (1 s ... 1 day, the finest that gives
at most ``max_points / 2`` buckets) and each bucket becomes its minimum and its
maximum at their own times, so a spike or a dip (the moment MemAvailable hit the
floor) survives the downsampling; a bucket with one sample stays one point.

Completed buckets never change, so they are computed once (SQLite's GROUP BY,
in C) and kept in a small LRU (``BucketCache``); a request then reads only the
rows of the last, still-open bucket. The cache is dropped every ``CACHE_TTL_S``
so the daemon's own downsampling and retention show through.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

GRID_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)
SETTLE_MS = 15_000  # a bucket that ended this long ago is final (the daemon writes within 1-2 s)
CACHE_TTL_S = 600.0
CACHE_KEYS = 256
MAX_POINTS = 1000


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """What to read: a table, its time column, the value expressions, a row filter."""

    table: str
    columns: tuple[tuple[str, str], ...]  # (name, SQL expression over the table's columns)
    where: str = ""  # extra condition with one "?" placeholder, or ""
    arg: object = None  # the value of that placeholder


SYSTEM = SeriesSpec("system_samples", (
    ("mem_available_kb", "mem_available_kb"),
    ("mem_total_kb", "mem_total_kb"),
    ("swap_free_kb", "swap_free_kb"),
    ("swap_total_kb", "swap_total_kb"),
    ("psi_some_avg10", "psi_some_avg10"),
    ("psi_full_avg10", "psi_full_avg10"),
))


def process_spec(proc_id: int) -> SeriesSpec:
    """One recorded process: RSS (anon + file + shmem), anon alone, swap (kB)."""
    return SeriesSpec("proc_samples", (
        ("rss_kb", "anon_kb + file_kb + shmem_kb"),
        ("anon_kb", "anon_kb"),
        ("swap_kb", "swap_kb"),
    ), "proc_id = ?", proc_id)


def cgroup_spec(cgroup_id: int) -> SeriesSpec:
    """One recorded cgroup: usage and limit (kB)."""
    return SeriesSpec("cgroup_samples", (
        ("usage_kb", "usage_kb"),
        ("limit_kb", "limit_kb"),
    ), "cgroup_id = ?", cgroup_id)


@dataclass(frozen=True, slots=True)
class Series:
    """Aligned columns ready for a plot: ``t`` in Unix seconds, one list per value."""

    t: tuple[float, ...]
    values: dict[str, tuple[float | None, ...]]
    bucket_s: float  # 0 = raw samples
    since_ms: int
    until_ms: int


# A bucket row: (bucket index, count, ts of the first row, ts of the last row, min1, max1, ...).
Row = tuple[int, ...]


def pick_grid(span_ms: int, max_points: int = MAX_POINTS) -> int:
    """The finest grid step (ms) giving at most max_points / 2 buckets over ``span_ms``."""
    want = max(1, max_points // 2)
    for g in GRID_S:
        if span_ms / (g * 1000) <= want:
            return g * 1000
    return GRID_S[-1] * 1000


def _bucket_sql(spec: SeriesSpec) -> str:
    aggs = ", ".join(f"MIN({expr}), MAX({expr})" for _, expr in spec.columns)
    extra = f" AND {spec.where}" if spec.where else ""
    return (f"SELECT ts / ? AS b, COUNT(*), MIN(ts), MAX(ts), {aggs} FROM {spec.table}"  # noqa: S608
            f" WHERE ts >= ? AND ts < ?{extra} GROUP BY b ORDER BY b")


def _raw_sql(spec: SeriesSpec) -> str:
    cols = ", ".join(expr for _, expr in spec.columns)
    extra = f" AND {spec.where}" if spec.where else ""
    return f"SELECT ts, {cols} FROM {spec.table} WHERE ts >= ? AND ts < ?{extra} ORDER BY ts"  # noqa: S608


def bucket_rows(conn: sqlite3.Connection, spec: SeriesSpec, grid_ms: int, a: int, b: int) -> list[Row]:
    """Aggregated rows of the buckets in [a, b) (a and b on the grid)."""
    args: list[object] = [grid_ms, a, b]
    if spec.where:
        args.append(spec.arg)
    return [tuple(r) for r in conn.execute(_bucket_sql(spec), args)]


@dataclass(slots=True)
class _Entry:
    lo: int  # first bucket start cached (ms)
    hi: int  # end of the cached range (ms, exclusive)
    rows: list[Row]
    made: float


class BucketCache:
    """Completed buckets per (series, grid), least recently used dropped first. Thread-safe."""

    def __init__(self, keys: int = CACHE_KEYS, ttl_s: float = CACHE_TTL_S) -> None:
        self._keys = keys
        self._ttl = ttl_s
        self._lock = threading.Lock()
        self._data: OrderedDict[tuple[object, ...], _Entry] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._data.clear()

    def rows(self, conn: sqlite3.Connection, spec: SeriesSpec, grid_ms: int, a: int, b: int,
             now_ms: int) -> list[Row]:
        """Bucket rows for [a, b): completed buckets from the cache, the open ones read now."""
        final = min(b, ((now_ms - SETTLE_MS) // grid_ms) * grid_ms)
        if final <= a:
            return bucket_rows(conn, spec, grid_ms, a, b)
        key = (spec.table, spec.where, spec.arg, tuple(spec.columns), grid_ms)
        with self._lock:
            entry = self._data.get(key)
            if entry is not None and (time.monotonic() - entry.made > self._ttl
                                      or a < entry.lo or a > entry.hi):
                entry = None
            if entry is not None:
                self._data.move_to_end(key)
                lo, hi = entry.lo, entry.hi
            else:
                lo = hi = a
        if hi < final:  # read the buckets completed since (outside the lock: SQLite is slow-ish)
            new = bucket_rows(conn, spec, grid_ms, hi, final)
            self.misses += 1
            with self._lock:
                current = self._data.get(key)
                if current is not None and current.lo == lo and current.hi == hi:
                    current.rows.extend(new)
                    current.hi = final
                    entry = current
                else:
                    base = list(entry.rows) if entry is not None else []
                    entry = _Entry(lo, final, base + new, time.monotonic())
                    self._data[key] = entry
                    self._data.move_to_end(key)
                    while len(self._data) > self._keys:
                        self._data.popitem(last=False)
                cached = list(entry.rows)
        else:
            self.hits += 1
            assert entry is not None
            cached = list(entry.rows)
        first = a // grid_ms
        last = final // grid_ms
        out = [r for r in cached if first <= r[0] < last] if cached and (
            cached[0][0] < first or cached[-1][0] >= last) else cached
        if final < b:
            out.extend(bucket_rows(conn, spec, grid_ms, final, b))
        return out


def _expand(rows: Sequence[Row], ncols: int) -> tuple[list[float], list[list[float | None]]]:
    """Bucket rows -> aligned points: one per single-sample bucket, else (min, max) at the
    bucket's first and last sample times."""
    t: list[float] = []
    cols: list[list[float | None]] = [[] for _ in range(ncols)]
    for r in rows:
        count, first_ts, last_ts = r[1], r[2], r[3]
        if count == 1 or first_ts == last_ts:
            t.append(first_ts / 1000)
            for i in range(ncols):
                cols[i].append(r[5 + 2 * i])
        else:
            t.append(first_ts / 1000)
            t.append(last_ts / 1000)
            for i in range(ncols):
                cols[i].append(r[4 + 2 * i])
                cols[i].append(r[5 + 2 * i])
    return t, cols


def read(
    conn: sqlite3.Connection, spec: SeriesSpec, since_ms: int, until_ms: int, *,
    max_points: int = MAX_POINTS, cache: BucketCache | None = None, now_ms: int | None = None,
) -> Series:
    """The series in [since_ms, until_ms], raw when short, else min/max buckets."""
    names = [n for n, _ in spec.columns]
    span = until_ms - since_ms
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    # Samples come at most every 0.5 s: a window of max_points / 2 seconds is never over budget.
    if span <= (max_points // 2) * 1000:
        args: list[object] = [since_ms, until_ms + 1]
        if spec.where:
            args.append(spec.arg)
        rows = conn.execute(_raw_sql(spec), args).fetchall()
        return Series(tuple(r[0] / 1000 for r in rows),
                      {n: tuple(r[i + 1] for r in rows) for i, n in enumerate(names)},
                      0.0, since_ms, until_ms)
    grid = pick_grid(span, max_points)
    a = (since_ms // grid) * grid
    b = until_ms + 1
    rows_b = (cache.rows(conn, spec, grid, a, b, now) if cache is not None
              else bucket_rows(conn, spec, grid, a, b))
    t, cols = _expand(rows_b, len(names))
    return Series(tuple(t), {n: tuple(cols[i]) for i, n in enumerate(names)}, grid / 1000,
                  since_ms, until_ms)


def to_json(s: Series) -> dict[str, object]:
    """The API shape: ``{"t": [...], "series": {name: [...]}, "bucket_s": N, ...}``."""
    return {"t": list(s.t), "series": {k: list(v) for k, v in s.values.items()},
            "bucket_s": s.bucket_s, "points": len(s.t),
            "since": s.since_ms / 1000, "until": s.until_ms / 1000}
