"""`oomkit timeline PID|NAME|CGROUP`: what the flight recorder recorded, as a chart, JSON or CSV."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from oomkit.chart import chart
from oomkit.errors import OomkitError, UsageError
from oomkit.models import RecordedProcess
from oomkit.store import queries
from oomkit.timeconv import local_tz, parse_when
from oomkit.timeline_view import (
    SCHEMA_VERSION,
    cgroup_csv,
    cgroup_dict,
    iso,
    point_dict,
    process_csv,
    process_dict,
    system_csv,
    system_dict,
    warning_dict,
)
from oomkit.units import human_kb


@click.command("timeline")
@click.argument("target", required=False)
@click.option("--since", metavar="WHEN", help="From WHEN (2h, 1d, '2026-11-25 10:00').")
@click.option("--until", metavar="WHEN", help="Until WHEN.")
@click.option("--system", "system", is_flag=True, help="The system's MemAvailable instead.")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=queries.DEFAULT_DB,
              show_default=True, help="The oomkit daemon's database.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (docs/timeline.md).")
@click.option("--csv", "as_csv", is_flag=True, help="Print the samples as CSV.")
@click.option("--width", default=72, show_default=True, type=click.IntRange(10, 400),
              help="Chart width in columns.")
def command(target: str | None, since: str | None, until: str | None, system: bool, db: Path,
            as_json: bool, as_csv: bool, width: int) -> int:
    """Recorded memory history: TARGET is a pid, a process name or a cgroup path."""
    if as_json and as_csv:
        raise UsageError("--json and --csv: choose one")
    if not system and not target:
        raise UsageError("give a PID, a process name or a cgroup path (or --system)")
    tz = local_tz()
    now = datetime.now(tz)
    a = parse_when(since, now, tz) if since else None
    b = parse_when(until, now, tz) if until else None
    if system and a is None:
        a = parse_when("1h", now, tz)
    conn = queries.open_db(db)
    try:
        if system:
            return _system(conn, a, b, as_json, as_csv, width)
        assert target is not None
        if target.startswith("/"):
            return _cgroup(conn, target, a, b, as_json, as_csv, width)
        return _process(conn, target, a, b, as_json, as_csv, width)
    except sqlite3.Error as exc:
        raise OomkitError(f"{db}: cannot read the database: {exc}") from None
    finally:
        conn.close()


def _emit(doc: dict[str, Any]) -> None:
    click.echo(json.dumps(doc, ensure_ascii=False, indent=2))


def _process(conn: sqlite3.Connection, target: str, a: datetime | None, b: datetime | None,
             as_json: bool, as_csv: bool, width: int) -> int:
    tz = local_tz()
    found = queries.find_processes(conn, target, queries.to_ms(a), queries.to_ms(b))
    if not found:
        cgs = queries.cgroup_paths(conn, target)
        if cgs:
            return _cgroup(conn, cgs[0], a, b, as_json, as_csv, width)
        raise OomkitError(f"no recorded process or cgroup matches {target!r}"
                          + (" in that window" if a or b else ""))
    p: RecordedProcess = found[0]
    points = queries.process_timeline(conn, p.id, queries.to_ms(a), queries.to_ms(b))
    first = queries.to_ms(p.first_seen) or 0
    last = queries.to_ms(p.last_seen) or first
    killed = [k for k in queries.kills(conn, first, last + 3600 * 1000)
              if k.event.victim is not None and k.event.victim.pid == p.pid
              and (k.proc_id is None or k.proc_id == p.id)]
    subjects = queries.kill_subjects(killed[0].event, p.pid) if killed else (
        ["system", f"pid:{p.pid}", *([p.cgroup] if p.cgroup else [])])
    warned = queries.warnings(conn, first, last + 1000, subjects)
    if as_csv:
        click.echo(process_csv(points, tz), nl=False)
        return 0
    if as_json:
        _emit({
            "schema": SCHEMA_VERSION, "kind": "process", "process": process_dict(p, tz),
            "samples": [point_dict(x, tz) for x in points],
            "growth_kb_s": queries.growth_kb_s(points),
            "kills": [{"wall": iso(k.ts, tz), "detected_by": k.detected_by,
                       "memcg": k.event.memcg, "killer": k.event.killer.value} for k in killed],
            "warnings": [warning_dict(w, tz) for w in warned],
            "others": [{"pid": o.pid, "name": o.name, "first_seen": iso(o.first_seen, tz)}
                       for o in found[1:]],
        })
        return 0
    started = p.first_seen.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    click.echo(f"{p.name} (pid {p.pid}), first seen {started}"
               + (f", cgroup {p.cgroup}" if p.cgroup else ""))
    if p.cmdline:
        flat = " ".join(p.cmdline.split())  # a `python -c` script: one line
        click.echo(f"command: {flat[:200]}" + ("..." if len(flat) > 200 else ""))
    if points:
        peak = max(x.total_kb for x in points)
        click.echo(f"{len(points)} samples, RSS + swap last {human_kb(points[-1].total_kb)},"
                   f" peak {human_kb(peak)}:")
        for line in chart([(x.wall.timestamp(), float(x.total_kb)) for x in points], width=width,
                          height=8, tz=tz, floor=0):
            click.echo("  " + line)
    else:
        click.echo("no samples in that window")
    for k in killed:
        click.echo(f"killed at {k.ts.astimezone(tz).strftime('%Y-%m-%d %H:%M:%S')} by the"
                   f" {k.event.killer.value} OOM killer"
                   + (f" (cgroup {k.event.memcg})" if k.event.memcg else "")
                   + (" - no log line; counted" if k.detected_by == "counter" else ""))
    for w in warned:
        when = datetime.fromtimestamp(w.ts, tz).strftime("%H:%M:%S")
        click.echo(f"{w.kind} at {when}: {w.message}")
    if len(found) > 1:
        click.echo(f"({len(found) - 1} other recorded processes match {target!r}; give a pid:"
                   f" {', '.join(str(o.pid) for o in found[1:6])})")
    return 0


def _cgroup(conn: sqlite3.Connection, path: str, a: datetime | None, b: datetime | None,
            as_json: bool, as_csv: bool, width: int) -> int:
    tz = local_tz()
    points = queries.cgroup_timeline(conn, path, queries.to_ms(a), queries.to_ms(b))
    if not points and not queries.cgroup_paths(conn, path):
        raise OomkitError(f"no recorded memory cgroup {path} (only cgroups with a limit are"
                          " recorded)")
    killed = [k for k in queries.kills(conn, queries.to_ms(a), queries.to_ms(b))
              if path in (k.event.memcg, k.event.task_memcg)]
    warned = queries.warnings(conn, queries.to_ms(a), queries.to_ms(b), [path])
    if as_csv:
        click.echo(cgroup_csv(points, tz), nl=False)
        return 0
    if as_json:
        _emit({"schema": SCHEMA_VERSION, "kind": "cgroup", "cgroup": path,
               "samples": [cgroup_dict(x, tz) for x in points],
               "kills": [{"wall": iso(k.ts, tz), "victim": k.event.victim.name if k.event.victim
                          else None, "pid": k.event.victim.pid if k.event.victim else None,
                          "detected_by": k.detected_by} for k in killed],
               "warnings": [warning_dict(w, tz) for w in warned]})
        return 0
    limit = next((x.limit_kb for x in reversed(points) if x.limit_kb), None)
    click.echo(f"cgroup {path}" + (f", limit {human_kb(limit)}" if limit else "")
               + f": {len(points)} samples of its usage")
    usage = [(x.wall.timestamp(), float(x.usage_kb)) for x in points if x.usage_kb is not None]
    for line in chart(usage, width=width, height=8, tz=tz, floor=0):
        click.echo("  " + line)
    for k in killed:
        v = k.event.victim
        click.echo(f"kill at {k.ts.astimezone(tz).strftime('%Y-%m-%d %H:%M:%S')}:"
                   f" {v.name if v else '?'} (pid {v.pid if v else '?'})")
    for w in warned:
        when = datetime.fromtimestamp(w.ts, tz).strftime("%H:%M:%S")
        click.echo(f"{w.kind} at {when}: {w.message}")
    return 0


def _system(conn: sqlite3.Connection, a: datetime | None, b: datetime | None, as_json: bool,
            as_csv: bool, width: int) -> int:
    tz = local_tz()
    points = queries.system_timeline(conn, queries.to_ms(a), queries.to_ms(b))
    if as_csv:
        click.echo(system_csv(points, tz), nl=False)
        return 0
    warned = queries.warnings(conn, queries.to_ms(a), queries.to_ms(b), ["system"])
    if as_json:
        _emit({"schema": SCHEMA_VERSION, "kind": "system",
               "samples": [system_dict(x, tz) for x in points],
               "warnings": [warning_dict(w, tz) for w in warned]})
        return 0
    total = points[-1].mem_total_kb if points else 0
    click.echo(f"MemAvailable, {len(points)} samples" + (f" (RAM {human_kb(total)})" if total else ""))
    for line in chart([(x.wall.timestamp(), float(x.mem_available_kb)) for x in points],
                      width=width, height=8, tz=tz):  # scaled to its own range: see the labels
        click.echo("  " + line)
    for w in warned:
        when = datetime.fromtimestamp(w.ts, tz).strftime("%H:%M:%S")
        click.echo(f"{w.kind} at {when}: {w.message}")
    return 0
