"""What the flight recorder adds to `oomkit why`: each kill's recorded curve and warnings.

``attach`` is called at the end of ``why.find_kills``. When the daemon's database
exists (or ``--db PATH`` names one), every kill found in the logs gets a
``KillRecord`` (the victim's samples over the minutes before death, the system's
MemAvailable curve, the warnings raised before it), and the kills the database
holds that no log shows any more (the ring buffer rotated, or the kill left no
log line and only the counters saw it) are added as events of their own.
With ``--file`` logs (another machine's, maybe) the database is read only when
named explicitly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from oomkit.errors import OomkitError
from oomkit.models import OomEvent
from oomkit.why import Enricher, KillReport, Machine, WhyOptions, WhyResult, _matches

if TYPE_CHECKING:
    import sqlite3

DEFAULT_DB = Path("/var/lib/oomkit/oomkit.db")  # = store.queries.DEFAULT_DB, without importing sqlite3
RECORDS_MAX = 500


def _same_kill(a: OomEvent, b: OomEvent) -> bool:
    va, vb = a.victim, b.victim
    if va is None or vb is None or va.pid != vb.pid:
        return False
    if a.time.uptime_s is not None and b.time.uptime_s is not None:
        return abs(a.time.uptime_s - b.time.uptime_s) < 0.5
    if a.time.wall is not None and b.time.wall is not None:
        return abs((a.time.wall - b.time.wall).total_seconds()) < 10
    return False


def _stored_only(conn: sqlite3.Connection, result: WhyResult, opts: WhyOptions,
                 machine: Machine) -> list[KillReport]:
    """Kills in the database that the logs did not show, as reports with their records."""
    from oomkit.store import queries

    by_pid: dict[int | None, list[OomEvent]] = {}
    for k in result.kills:
        by_pid.setdefault(k.event.victim.pid if k.event.victim else None, []).append(k.event)
    out = []
    enrich = Enricher(machine)  # one per call: it caches cgroup states and owners
    for stored in queries.kills(conn, queries.to_ms(result.since), queries.to_ms(result.until)):
        e = stored.event
        pid = e.victim.pid if e.victim else None
        if any(_same_kill(e, f) for f in by_pid.get(pid, ())):
            continue
        if opts.target and not _matches(e, opts.target):
            continue
        if stored.detected_by != "counter":
            e = e._replace(notes=(*e.notes, "from the oomkit daemon's database: no log read now"
                                  " still holds this kill"))
        rec = queries.kill_record(conn, e, detected_by=stored.detected_by, proc_id=stored.proc_id)
        out.append(enrich.report(e)._replace(record=rec))
    return out


def attach(result: WhyResult, opts: WhyOptions, machine: Machine) -> WhyResult:
    """``result`` with the database's records attached (unchanged when there is no database)."""
    explicit = opts.db is not None
    if not opts.use_db or not (explicit or result.machine_logs):
        return result
    path = Path(opts.db) if opts.db is not None else DEFAULT_DB
    if not explicit and not path.exists():
        return result
    import sqlite3

    from oomkit.store import queries

    try:
        conn = queries.open_db(path)
    except OomkitError as exc:
        return result._replace(notes=(*result.notes, str(exc)))
    notes = result.notes
    try:
        # newest first; an OOM storm of thousands keeps the records of the newest only
        kills = [k._replace(record=queries.kill_record(conn, k.event)) if i < RECORDS_MAX else k
                 for i, k in enumerate(result.kills)]
        if len(kills) > RECORDS_MAX:
            notes = (*notes, f"the recorder's timelines are attached to the {RECORDS_MAX} newest"
                     " kills only; narrow with --since or a target")
        extra = _stored_only(conn, result, opts, machine)
        jobs = tuple(queries.job_events(conn, opts.target)) if opts.target else ()
    except sqlite3.Error as exc:
        return result._replace(notes=(*result.notes, f"{path}: cannot read the database: {exc}"))
    finally:
        conn.close()
    if extra:  # newest first, as `why` lists them
        kills.extend(extra)
        kills.sort(key=lambda k: k.event.time.wall.timestamp() if k.event.time.wall else 0.0,
                   reverse=True)
    return result._replace(kills=tuple(kills), database=str(path), notes=notes, jobs=jobs)
