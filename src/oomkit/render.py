"""Text and JSON renderings of `why` results. Pure: data in, strings out.

The JSON shape is the contract documented in docs/why-json.md.
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime, tzinfo
from typing import Any

from oomkit.explain_memory import constrained_nodes
from oomkit.models import EventKind, EventTime, MemcgCounters, OomEvent, TaskRow, Victim
from oomkit.procmodels import Owner
from oomkit.timeconv import local_tz
from oomkit.units import human_kb
from oomkit.why import KillReport, WhyResult

SCHEMA_VERSION = 1


def local_time(when: datetime | None, tz: tzinfo | None = None) -> str | None:
    """ISO 8601 with offset, in the machine's zone."""
    if when is None:
        return None
    return when.astimezone(tz or local_tz()).isoformat(timespec="seconds")


def event_time_dict(t: EventTime, tz: tzinfo | None = None) -> dict[str, object]:
    """The JSON form of an event's time."""
    return {
        "raw": t.raw,
        "uptime_s": t.uptime_s,
        "wall": local_time(t.wall, tz),
        "wall_from": t.wall_from,
        "boot_id": t.boot_id,
    }


def _victim(v: Victim | None) -> dict[str, Any] | None:
    if v is None:
        return None
    return {
        "pid": v.pid, "name": v.name, "uid": v.uid, "total_vm_kb": v.total_vm_kb,
        "anon_rss_kb": v.anon_rss_kb, "file_rss_kb": v.file_rss_kb,
        "shmem_rss_kb": v.shmem_rss_kb, "pgtables_kb": v.pgtables_kb,
        "oom_score_adj": v.oom_score_adj, "swap_kb": v.swap_kb, "score": v.score,
        "rss_kb": v.rss_kb,
    }


def _counters(c: MemcgCounters | None) -> dict[str, Any] | None:
    return None if c is None else {"usage_kb": c.usage_kb, "limit_kb": c.limit_kb, "failcnt": c.failcnt}


def _task(t: TaskRow, page_kb: int | None) -> dict[str, Any]:
    d: dict[str, Any] = t._asdict()
    d["rss_kb"] = t.rss_pages * page_kb if t.rss_pages is not None and page_kb else None
    d["swap_kb"] = (
        t.swapents_pages * page_kb if t.swapents_pages is not None and page_kb else None
    )
    return d


_OWNER_FIELDS = Owner._fields


def _owner(o: Owner | None) -> dict[str, Any] | None:
    return None if o is None else {f: getattr(o, f) for f in _OWNER_FIELDS}


def event_dict(k: KillReport, tz: tzinfo | None = None) -> dict[str, Any]:
    """The JSON object of one kill (docs/why-json.md)."""
    e: OomEvent = k.event
    t = e.trigger
    d: dict[str, Any] = {
        "killer": e.killer.value,
        "kind": e.kind.value,
        "complete": e.complete,
        "missing": list(e.missing),
        "victim": _victim(e.victim),
        "extra_victims": [_victim(v) for v in e.extra_victims],
        "constraint": e.constraint,
        "global_oom": e.global_oom,
        "memcg": e.memcg,
        "task_memcg": e.task_memcg,
        "cgroup_limit_kb": e.memory.limit_kb if e.memory else None,
        "cgroup_usage_kb": e.memory.usage_kb if e.memory else None,
        "cgroup_failcnt": e.memory.failcnt if e.memory else None,
        "swap": _counters(e.swap),
        "memsw": _counters(e.memsw),
        "cgroup_now": None if k.cgroup_now is None else k.cgroup_now._asdict(),
        "trigger": None if t is None else {
            "name": t.name, "pid": t.pid, "gfp_mask": t.gfp_mask, "gfp_flags": t.gfp_flags,
            "order": t.order, "oom_score_adj": t.oom_score_adj, "nodemask": t.nodemask,
        },
        "time": event_time_dict(e.time, tz),
        "tasks": [_task(row, e.page_size_kb) for row in e.tasks],
        "tasks_listed": e.tasks_listed,
        "tasks_skipped": e.tasks_skipped,
        "units": list(e.units),
        "slurm": e.slurm._asdict() if e.slurm is not None else None,
        "victim_exited": e.victim_exited,
        "mems_allowed": e.mems_allowed,
        "free_areas": [{"zone": z, "free_blocks": list(c)} for z, c in e.free_areas],
        "page_size_kb": e.page_size_kb,
        "owner": _owner(k.owner or k.task_owner),
        "task_owner": _owner(k.task_owner),
        "reaped": _victim(e.reaped),
        "oom_group": e.oom_group,
        "message": e.message,
        "reason": e.reason,
        "suppressed_headers": e.suppressed_headers,
        "total_swap_kb": e.total_swap_kb,
        "free_swap_kb": e.free_swap_kb,
        "ram_pages": e.ram_pages,
        "ram_kb": e.ram_pages * e.page_size_kb if e.ram_pages and e.page_size_kb else None,
        "slab_unreclaimable_pages": e.slab_unreclaimable_pages,
        "shmem_pages": e.shmem_pages,
        "hugepages_kb": e.hugepages_kb,
        "slab_caches": [{"name": n, "total_kb": kb} for n, kb in e.slab_caches],
        "host": e.host,
        "source": {"path": e.source.path, "line": e.source.line},
        "also_seen_in": [{"path": s.path, "line": s.line} for s in e.also_seen_in],
        "notes": list(e.notes),
        "explanation": {
            "headline": k.explanation.headline,
            "verdict": k.explanation.verdict,
            "details": list(k.explanation.details),
            "remedies": list(k.explanation.remedies),
        },
    }
    if k.record is not None:  # flight recorder: the victim's timeline and the warnings before
        from oomkit.timeline_view import record_dict

        d.update(record_dict(k.record, tz))
    return d


def why_json_chunks(result: WhyResult, tz: tzinfo | None = None, *,
                    pretty: bool = False) -> Iterator[str]:
    """``{"events": [...]}`` plus the search context (compact unless ``pretty``), in pieces:
    compact, one event at a time, so an OOM storm's 20,000 events are never all held as
    dicts and as one string at once."""
    if pretty:
        yield json.dumps(_why_doc(result, tz, [event_dict(k, tz) for k in result.kills]),
                         indent=2, ensure_ascii=False)
        return
    # Without indent the C encoder is used: ~10x faster on an OOM storm.
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    doc = dumps(_why_doc(result, tz, []))  # '{"schema":1,"events":[],"sources":...}'
    cut = doc.index('"events":[]') + len('"events":[')
    yield doc[:cut]
    for i, k in enumerate(result.kills):
        yield ("," if i else "") + dumps(event_dict(k, tz))
    yield doc[cut:]


def _why_doc(result: WhyResult, tz: tzinfo | None, events: list[dict[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "events": events,
        "sources": [s._asdict() for s in result.sources],
        "window": {"since": local_time(result.since, tz), "until": local_time(result.until, tz)},
        "vmstat_oom_kill": result.vmstat_oom_kill,
        "kernel_kills_this_boot_in_logs": result.kernel_kills_this_boot,
        "undated_events_outside_window": result.undated,
        "target": result.target,
        "kills_not_matching_target": result.not_target,
        "notes": list(result.notes),
    }
    if result.database is not None:  # flight recorder
        doc["database"] = result.database
    if result.jobs:  # a supervised program's story (oomkit run / [programs.NAME])
        doc["program_events"] = [
            {"wall": local_time(j.wall, tz), "name": j.name, "kind": j.kind,
             "data": json.loads(j.data)} for j in result.jobs
        ]
    return doc


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 kill``, ``3 kills``."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def _when(k: KillReport, tz: tzinfo | None) -> str:
    t = k.event.time
    if t.wall is not None:
        return t.wall.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if tz else t.wall.strftime(
            "%Y-%m-%d %H:%M:%S")
    if t.uptime_s is not None:
        return f"uptime {t.uptime_s:.0f}s"
    return t.raw or "?"


def _where(k: KillReport) -> str:
    e = k.event
    if e.global_oom is False:
        if e.memcg is None:
            return "a cgroup limit (path not in log)"
        lim = f" ({human_kb(e.memory.limit_kb)})" if e.memory and e.memory.limit_kb else ""
        owner = k.owner or k.task_owner
        if owner is not None and owner.kind == "kubernetes-pods":  # the node's pods together
            return f"{owner.name}, {e.memcg}{lim}"
        name = owner.name if owner is not None and owner.kind != "cgroup" else e.memcg
        return f"cgroup {name}{lim}"
    nodes = constrained_nodes(e)
    if nodes is not None:
        return nodes
    if e.global_oom:
        return "whole machine"
    if e.memcg:
        return f"cgroup {e.memcg}"
    if e.units:  # known only from systemd's notes: the unit, then slices above it
        return f"unit {e.units[0]}"
    if e.slurm is not None:
        return f"Slurm job {e.slurm.job} step {e.slurm.step}"
    if e.kind is EventKind.USERSPACE_KILL:
        return "whole machine"  # earlyoom, nohang and lmkd act on the machine's free memory
    return "?"


def _rss(e: OomEvent) -> str:
    return human_kb(e.victim.resident_kb() if e.victim is not None else None)


def table(result: WhyResult, tz: tzinfo | None, limit: int | None) -> list[str]:
    """The short table of kills, newest first."""
    rows = [("WHEN", "KILLER", "VICTIM", "RSS", "WHERE", "")]
    shown = result.kills if limit is None else result.kills[:limit]
    for k in shown:
        e = k.event
        v = e.victim
        victim = "-" if v is None else (
            f"{v.name or '?'} ({v.pid})" if v.pid is not None else (v.name or "?")
        )
        flag = "" if e.complete else "partial"
        rows.append((_when(k, tz), e.killer.value, victim, _rss(e), _where(k), flag))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    if limit is not None and len(result.kills) > limit:
        lines.append(f"... {len(result.kills) - limit} older; --all shows every one")
        lines.extend(places_text(result.kills, tz))
    return lines


def places_text(kills: Sequence[KillReport], tz: tzinfo | None, places: int = 5,
                names: int = 3) -> list[str]:
    """Every kill counted by where the limit was hit, with who died there most: when the
    table is cut (an OOM storm), the storm's shape, without --all. ``kills`` newest first."""
    by_place: dict[str, Counter[str]] = {}
    for k in kills:
        v = k.event.victim
        by_place.setdefault(_where(k), Counter())[(v.name if v else None) or "?"] += 1
    ranked = sorted(by_place.items(), key=lambda item: -item[1].total())
    width = len(f"{len(kills):,}")
    out = ["", f"All {len(kills):,} kills, {_when(kills[-1], tz)} to {_when(kills[0], tz)},"
               " by WHERE:"]
    for where, victims in ranked[:places]:
        top = ", ".join(f"{name} x{n:,}" if n > 1 else name
                        for name, n in victims.most_common(names))
        more = f", and {plural(len(victims) - names, 'other')}" if len(victims) > names else ""
        out.append(f"  {victims.total():>{width},}  {where}: {top}{more}")
    rest = ranked[places:]
    if rest:
        n = sum(victims.total() for _, victims in rest)
        out.append(f"  {n:>{width},}  in {plural(len(rest), 'other place')}")
    return out


def explanation_text(k: KillReport, tz: tzinfo | None, width: int = 88) -> list[str]:
    """The full explanation of one kill."""
    e = k.event
    x = k.explanation
    out = [f"== {x.headline} — {_when(k, tz)}" + ("" if e.complete else " (partial report)")]
    wrap = textwrap.TextWrapper(
        width=width, subsequent_indent="  ", break_on_hyphens=False, break_long_words=False
    )
    out.extend(wrap.wrap(x.verdict))
    if x.details:
        out.append("")
        for d in x.details:
            out.extend(textwrap.wrap(d, width=width, initial_indent="  - ", subsequent_indent="    ",
                                     break_on_hyphens=False, break_long_words=False))
    if x.remedies:
        out.append("")
        out.append("What to do:")
        for r in x.remedies:
            out.extend(textwrap.wrap(r, width=width, initial_indent="  * ", subsequent_indent="    ",
                                     break_on_hyphens=False, break_long_words=False))
    src = f"{e.source.path}" + (f":{e.source.line}" if e.source.line else "")
    # Other logs that hold the same kill, each once; its own log again is a second
    # print of it there (the kernel printed it twice, or a line number differs).
    also = [f"{s.path}:{s.line}" if s.path == e.source.path and s.line else s.path
            for s in e.also_seen_in]
    also = list(dict.fromkeys(also))
    more = f" (also in {', '.join(also)})" if also else ""
    out.append("")
    out.append(f"Source: {src}{more}")
    if k.record is not None:  # flight recorder: the curve before the kill, the warnings
        from oomkit.timeline_view import record_lines

        out.append("")
        out.extend(record_lines(k.record, e, tz))
    return out


def no_kills_text(result: WhyResult, tz: tzinfo | None) -> list[str]:
    """What to say when nothing was found: the window, the counter, where else to look."""
    window = "in the logs searched"
    if result.since or result.until:
        window = (f"between {local_time(result.since, tz) or 'the start'} and "
                  f"{local_time(result.until, tz) or 'now'}")
    if result.target:
        lines = [f"No OOM kills of {result.target!r} found {window}."]
        if result.not_target:
            verb = "was" if result.not_target == 1 else "were"
            lines.append(f"{plural(result.not_target, 'other kill')} {verb}"
                         " found: `oomkit why` without TARGET lists them. TARGET is a pid, a"
                         " process name (as the kernel prints it, 15 characters at most), or part"
                         " of a cgroup path or unit.")
    else:
        lines = [f"No OOM kills found {window}."]
    read = [s.name for s in result.sources if s.status == "read"]
    if read:
        lines.append("Searched: " + ", ".join(read) + ".")
    counter = result.vmstat_oom_kill
    if counter is not None:
        lines.append(
            f"This machine's kernel counter (/proc/vmstat oom_kill) shows {plural(counter, 'kill')}"
            " since boot."
        )
        if result.machine_logs and counter > result.kernel_kills_this_boot:
            missing = counter - result.kernel_kills_this_boot
            lines.append(
                f"{plural(missing, 'kill')} left no line in the logs read: the kernel ring buffer"
                " may have rotated, the journal or syslog may not keep kernel messages, or the"
                " victim was already exiting (the kernel then prints nothing). Look in older"
                " rotated logs, `journalctl -k -b`, or run `oomkit daemon` to catch the next one."
            )
    return lines


def sources_text(result: WhyResult, prefix: str = "note: ") -> list[str]:
    """One line per source that could not be read, and notes about the search."""
    lines = [f"{prefix}{s.reason}" for s in result.sources
             if s.status not in ("read", "skipped") and s.reason]  # skipped: one note
    return lines + [f"note: {n}" for n in result.notes]


def program_text(result: WhyResult, tz: tzinfo | None) -> list[str]:
    """The recorded exits of a supervised program, one line each (``oomkit why NAME``)."""
    exits = [j for j in result.jobs if j.kind == "exit"]
    if not exits:
        return []
    name = exits[-1].name
    lines = [f"Program {name}: {plural(len(exits), 'exit')} recorded by the supervisor"]
    for j in exits:
        d = json.loads(j.data)
        how = d.get("cause", "?")
        if d.get("signal_name"):
            how += f" ({d['signal_name']})"
        elif d.get("exit_code") is not None:
            how += f" (exit {d['exit_code']})"
        peak = f", peak {human_kb(d['peak_rss_kb'])}" if d.get("peak_rss_kb") else ""
        again = ", restarted" if d.get("restarted") else ""
        when = j.wall.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(f"  {when}  {how}{peak}{again}")
    return lines
