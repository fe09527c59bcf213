"""The `why` query: find, merge and explain OOM kills. Used by the CLI, web UI and metrics.

No printing and no exits here: the result is data, errors per source are
data too (a source that cannot be read is reported, the others still are).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path

from oomkit.errors import SourceUnavailable
from oomkit.explain import Explanation, explain
from oomkit.kernel_log import parse_stream
from oomkit.log_sources import Source, default_sources, file_source, mtime, open_source
from oomkit.models import CgroupNow, EventKind, EventTime, Killer, OomEvent, Owner
from oomkit.owner import owner_of
from oomkit.timeconv import boot_offset, local_tz


@dataclass(frozen=True, slots=True)
class WhyOptions:
    """What to search and how to filter."""

    files: tuple[str, ...] = ()
    journal_file: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    boot: str | None = None  # journalctl -b value; None = every boot
    target: str | None = None  # a pid, a process name, a cgroup path or a unit
    use_journal: bool = True
    this_boot: bool = False  # stamps in --file logs are of the running boot


@dataclass(frozen=True, slots=True)
class Machine:
    """Where this machine's state is read from (overridable in tests)."""

    kmsg: Path = Path("/dev/kmsg")
    log_dir: Path = Path("/var/log")
    proc_root: Path = Path("/proc")
    cgroup_root: Path = Path("/sys/fs/cgroup")
    tz: tzinfo | None = None


@dataclass(frozen=True, slots=True)
class SourceReport:
    """How reading one source went."""

    name: str
    status: str  # "read", "unavailable", "error"
    reason: str | None
    events: int


@dataclass(frozen=True, slots=True)
class KillReport:
    """One event with everything `why` says about it."""

    event: OomEvent
    explanation: Explanation
    owner: Owner | None
    task_owner: Owner | None
    cgroup_now: CgroupNow | None


@dataclass(frozen=True, slots=True)
class WhyResult:
    """Every kill found, newest first, and how the search went."""

    kills: tuple[KillReport, ...]
    sources: tuple[SourceReport, ...]
    since: datetime | None
    until: datetime | None
    vmstat_oom_kill: int | None  # the kernel's own count of kills since boot
    boot_time: datetime | None
    kernel_kills_this_boot: int  # kernel kills found in the logs since boot
    undated: int = 0  # events left out of a --since/--until window for lack of a wall time
    notes: tuple[str, ...] = field(default=())


def _fill_wall(event: OomEvent, offset: float, tz: tzinfo) -> OomEvent:
    t = event.time
    if t.wall is not None or t.uptime_s is None:
        return event
    wall = datetime.fromtimestamp(offset + t.uptime_s, tz=tz)
    return replace(event, time=replace(t, wall=wall, wall_from="boot-offset"))


def read_source(
    source: Source, *, tz: tzinfo, offset: float
) -> tuple[list[OomEvent], SourceReport]:
    """Events from one source; unreadable sources become a report, not an exception."""
    try:
        stream = open_source(source)
    except SourceUnavailable as exc:
        return [], SourceReport(source.name, "unavailable", str(exc), 0)
    events: list[OomEvent] = []
    try:
        with stream:
            for event in parse_stream(stream, source.name, local=tz, reference=mtime(source.path)):
                if source.this_boot:
                    event = _fill_wall(event, offset, tz)
                events.append(event)
    except (OSError, EOFError, ValueError) as exc:  # truncated .gz, I/O error mid-file
        reason = f"{source.name}: read stopped early ({exc}); events before that point are shown"
        return events, SourceReport(source.name, "error", reason, len(events))
    except SourceUnavailable as exc:
        return events, SourceReport(source.name, "unavailable", str(exc), len(events))
    return events, SourceReport(source.name, "read", None, len(events))


def _richness(e: OomEvent) -> tuple[int, int, int, int]:
    return (int(e.complete), len(e.tasks), int(e.victim is not None and e.victim.anon_rss_kb is not None),
            int(e.trigger is not None))


def _same(a: OomEvent, b: OomEvent) -> bool:
    if a.killer is not b.killer or a.kind is not b.kind:
        return False
    va, vb = a.victim, b.victim
    if (va is None) != (vb is None):
        return False
    if va is not None and vb is not None and (va.pid != vb.pid or va.name != vb.name):
        return False
    if a.memcg != b.memcg and a.memcg is not None and b.memcg is not None:
        return False
    ta, tb = a.time, b.time
    if ta.uptime_s is not None and tb.uptime_s is not None:
        return abs(ta.uptime_s - tb.uptime_s) < 0.5
    if ta.wall is not None and tb.wall is not None:
        return abs((ta.wall - tb.wall).total_seconds()) < 10
    return False


def merge_duplicates(events: Iterable[OomEvent]) -> list[OomEvent]:
    """One event per kill: the same kill in kmsg, the journal and kern.log is kept once.

    The richest record is kept; a wall time printed on a line (syslog, journal)
    replaces one computed from the boot offset.
    """
    ordered = sorted(events, key=_sort_key)
    out: list[OomEvent] = []
    for e in ordered:
        for i in range(len(out) - 1, max(-1, len(out) - 50), -1):
            kept = out[i]
            if _same(kept, e):
                best, other = (e, kept) if _richness(e) > _richness(kept) else (kept, e)
                t = best.time
                if t.wall_from != "log" and other.time.wall_from == "log":
                    t = replace(t, wall=other.time.wall, wall_from="log")
                if t.uptime_s is None and other.time.uptime_s is not None:
                    t = replace(t, uptime_s=other.time.uptime_s)
                out[i] = replace(
                    best, time=t,
                    also_seen_in=(*best.also_seen_in, other.source, *other.also_seen_in),
                )
                break
        else:
            out.append(e)
    return out


def _sort_key(e: OomEvent) -> tuple[float, float]:
    wall = e.time.wall.timestamp() if e.time.wall is not None else float("inf")
    return (wall, e.time.uptime_s if e.time.uptime_s is not None else 0.0)


def _matches(e: OomEvent, target: str) -> bool:
    v = e.victim
    if target.isdigit():
        pid = int(target)
        return (v is not None and v.pid == pid) or any(x.pid == pid for x in e.extra_victims)
    if v is not None and v.name is not None and (v.name == target or v.name == target[:15]):
        return True
    paths = [p for p in (e.memcg, e.task_memcg) if p]
    return any(target in p for p in paths)


def read_vmstat_oom_kill(proc_root: Path) -> int | None:
    """/proc/vmstat oom_kill: every OOM kill since boot, memcg ones included (Linux 4.13+)."""
    try:
        text = (proc_root / "vmstat").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("oom_kill "):
            return int(line.split()[1])
    return None


def boot_time() -> datetime:
    """When this boot started, on CLOCK_BOOTTIME (suspend included)."""
    now = time.clock_gettime(time.CLOCK_REALTIME)
    up = time.clock_gettime(time.CLOCK_BOOTTIME)
    return datetime.fromtimestamp(now - up, tz=timezone.utc)


def _cgroup_now(path: str | None, machine: Machine) -> CgroupNow | None:
    if not path:
        return None
    try:
        from oomkit import cgroups
    except ImportError:
        return None
    try:
        return cgroups.current(path, root=machine.cgroup_root)
    except Exception:
        return None


@functools.lru_cache(maxsize=4)
def _hierarchy_version(machine: Machine) -> int | None:
    from oomkit.jobcgroup import find_memory_hierarchy

    h = find_memory_hierarchy(machine.proc_root / "self" / "mountinfo")
    return h.version if h is not None else None


def report(event: OomEvent, machine: Machine) -> KillReport:
    """Attach owner, current cgroup state and the explanation to an event."""
    owner = owner_of(event.memcg)
    task_owner = owner_of(event.task_memcg)
    now = _cgroup_now(event.memcg, machine)
    return KillReport(
        event=event,
        explanation=explain(
            event, owner=owner or task_owner, now=now, cgroup_version=_hierarchy_version(machine)
        ),
        owner=owner,
        task_owner=task_owner,
        cgroup_now=now,
    )


def _sources(opts: WhyOptions, machine: Machine) -> Iterator[Source]:
    if opts.files or opts.journal_file:
        for f in opts.files:
            s = file_source(f)
            yield replace(s, this_boot=opts.this_boot)
        if opts.journal_file:
            yield Source(name=opts.journal_file, kind="journal",
                         journal_args=("--file", opts.journal_file))
        return
    args: list[str] = []
    if opts.boot is not None:
        args += ["-b", opts.boot]
    if opts.since is not None:
        args += ["--since", f"@{int(opts.since.timestamp())}"]
    yield from default_sources(
        kmsg=machine.kmsg, log_dir=machine.log_dir, journal_args=tuple(args),
        use_journal=opts.use_journal,
    )


def find_kills(opts: WhyOptions, machine: Machine | None = None) -> WhyResult:
    """Every OOM kill the sources hold, merged, filtered and explained, newest first."""
    machine = machine or Machine()
    tz = machine.tz or local_tz()
    offset = boot_offset()
    events: list[OomEvent] = []
    reports: list[SourceReport] = []
    for source in _sources(opts, machine):
        found, rep = read_source(source, tz=tz, offset=offset)
        events.extend(found)
        reports.append(rep)
    merged = merge_duplicates(events)
    booted = boot_time()
    this_boot = sum(
        1 for e in merged
        if e.killer is Killer.KERNEL and e.kind is EventKind.OOM_KILL
        and e.time.wall is not None and e.time.wall >= booted - timedelta(seconds=5)
    )
    undated = 0
    if opts.since is not None or opts.until is not None:
        kept = []
        for e in merged:
            if e.time.wall is None:
                undated += 1
                continue
            if opts.since is not None and e.time.wall < opts.since:
                continue
            if opts.until is not None and e.time.wall > opts.until:
                continue
            kept.append(e)
        merged = kept
    if opts.target:
        merged = [e for e in merged if _matches(e, opts.target)]
    merged.reverse()
    return WhyResult(
        kills=tuple(report(e, machine) for e in merged),
        sources=tuple(reports),
        since=opts.since,
        until=opts.until,
        vmstat_oom_kill=read_vmstat_oom_kill(machine.proc_root),
        boot_time=booted,
        kernel_kills_this_boot=this_boot,
        undated=undated,
    )


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


def running_as_root() -> bool:
    """Whether we run with uid 0."""
    return os.geteuid() == 0
