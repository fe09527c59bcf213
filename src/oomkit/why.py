"""The `why` query: find, merge and explain OOM kills. Used by the CLI, web UI and metrics.

No printing and no exits here: the result is data, errors per source are
data too (a source that cannot be read is reported, the others still are).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import NamedTuple

from oomkit.errors import OomkitError, SourceUnavailable
from oomkit.explain import Explanation, explain
from oomkit.kernel_log import parse_stream
from oomkit.kernel_log.systemd_units import noted_only
from oomkit.log_sources import (
    Source,
    default_sources,
    file_source,
    mtime,
    open_source,
)
from oomkit.models import EventKind, JobEvent, Killer, KillRecord, OomEvent
from oomkit.owner import owner_of, slurm_step
from oomkit.procmodels import CgroupNow, Owner
from oomkit.timeconv import boot_offset, fill_wall, local_tz


class WhyOptions(NamedTuple):
    """What to search and how to filter."""

    files: tuple[str, ...] = ()
    journal_file: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    boot: str | None = None  # journalctl -b value; None = every boot
    target: str | None = None  # a pid, a process name, a cgroup path or a unit
    use_journal: bool = True
    this_boot: bool = False  # stamps in --file logs are of the running boot
    # flight recorder (oomkit daemon): None = its default database when it exists
    db: str | None = None
    use_db: bool = True
    # CPUs to use: logs read at once (fanout), and threads reading a large file
    # (kernel_log/filescan.py); None = the CPUs, at most 4
    jobs: int | None = None


class Machine(NamedTuple):
    """Where this machine's state is read from (overridable in tests)."""

    kmsg: Path = Path("/dev/kmsg")
    log_dir: Path = Path("/var/log")
    proc_root: Path = Path("/proc")
    cgroup_root: Path = Path("/sys/fs/cgroup")
    tz: tzinfo | None = None


class SourceReport(NamedTuple):
    """How reading one source went."""

    name: str
    status: str  # "read", "unavailable", "error", "skipped" (written before the window)
    reason: str | None
    events: int


class KillReport(NamedTuple):
    """One event with everything `why` says about it."""

    event: OomEvent
    explanation: Explanation
    owner: Owner | None
    task_owner: Owner | None
    cgroup_now: CgroupNow | None
    record: KillRecord | None = None  # the daemon's recorded timeline and warnings (recorded.py)


class WhyResult(NamedTuple):
    """Every kill found, newest first, and how the search went."""

    kills: tuple[KillReport, ...]
    sources: tuple[SourceReport, ...]
    since: datetime | None
    until: datetime | None
    vmstat_oom_kill: int | None  # the kernel's own count of kills since boot
    boot_time: datetime | None
    kernel_kills_this_boot: int  # kernel kills found in the logs since boot
    undated: int = 0  # events left out of a --since/--until window for lack of a wall time
    machine_logs: bool = True  # the logs of this machine were searched (not just --file)
    notes: tuple[str, ...] = ()
    database: str | None = None  # the flight recorder's database that was read
    jobs: tuple[JobEvent, ...] = ()  # a supervised program's recorded history (why NAME)
    target: str | None = None  # the TARGET the kills were filtered by
    not_target: int = 0  # kills in the window that TARGET did not match


def read_source(
    source: Source, *, tz: tzinfo, offset: float, threads: int | None = None,
) -> tuple[list[OomEvent], SourceReport]:
    """Events from one source; unreadable sources become a report, not an exception. A
    large file is read on up to ``threads`` threads (default: the CPUs, at most 4)."""
    try:
        stream = open_source(source)
    except SourceUnavailable as exc:
        return [], SourceReport(source.name, "unavailable", str(exc), 0)
    events: list[OomEvent] = []
    try:
        with stream:
            for event in parse_stream(stream, source.name, local=tz,
                                      reference=mtime(source.path), threads=threads):
                if source.this_boot:
                    event = fill_wall(event, offset, tz)
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
    replaces one computed from the boot offset. Candidates are looked up by
    (killer, victim pid, victim name), so a storm of distinct kills stays linear.
    """
    ordered = sorted(events, key=_sort_key)
    out: list[OomEvent] = []
    by_key: dict[tuple[object, ...], list[int]] = {}
    for e in ordered:
        v = e.victim
        # systemd's notes name no victim: their unit tells one kill from another
        key = (e.killer, e.kind, v.pid if v else None, v.name if v else None,
               e.units[0] if noted_only(e) else None, e.slurm[:2] if e.slurm else None)
        seen = by_key.setdefault(key, [])
        for i in reversed(seen[-8:]):
            kept = out[i]
            if _same(kept, e):
                best, other = (e, kept) if _richness(e) > _richness(kept) else (kept, e)
                t = best.time
                if (not (t.wall_from or "").startswith("log")
                        and (other.time.wall_from or "").startswith("log")):
                    t = t._replace(wall=other.time.wall, wall_from=other.time.wall_from)
                if t.uptime_s is None and other.time.uptime_s is not None:
                    t = t._replace(uptime_s=other.time.uptime_s)
                out[i] = best._replace(time=t,
                    also_seen_in=(*best.also_seen_in, other.source, *other.also_seen_in),
                )
                break
        else:
            seen.append(len(out))
            out.append(e)
    return out


# systemd notes a kill within a few milliseconds of the kernel's report (it reads
# memory.events when the counter moves); logs written by two daemons may skew a little.
_NOTE_SLACK_S = 5


def absorb_unit_notes(events: list[OomEvent]) -> list[OomEvent]:
    """A kernel report and systemd's note of the same kill are one kill: the note's units
    go on the report; systemd-oomd's line and systemd's note of its kill likewise. A note
    stays only if no report near it in time has its unit in its cgroup paths
    (systemd_units.py)."""
    if not any(noted_only(e) for e in events):
        return events
    buckets: dict[int | None, list[int]] = {}
    for i, e in enumerate(events):
        if (e.victim is not None and e.killer is Killer.KERNEL) or (
                e.killer is Killer.SYSTEMD_OOMD and e.memcg is not None):
            sec = int(e.time.wall.timestamp()) if e.time.wall is not None else None
            buckets.setdefault(sec, []).append(i)
    out = list(events)
    gone: set[int] = set()
    for n, note in enumerate(events):
        if not noted_only(note):
            continue
        wall = note.time.wall
        keys: list[int | None] = [None] if wall is None else [
            int(wall.timestamp()) + d for d in range(-_NOTE_SLACK_S, _NOTE_SLACK_S + 1)]
        if wall is not None:
            keys.append(None)  # a report without a wall time cannot contradict it
        for i in (i for k in keys for i in buckets.get(k, ()) if i != n):
            e = out[i]
            parts = {c for p in (e.memcg, e.task_memcg) if p for c in p.split("/")}
            if note.killer is e.killer and note.units[0] in parts:
                units = tuple(dict.fromkeys((*e.units, *note.units)))
                out[i] = e._replace(units=units, also_seen_in=(*e.also_seen_in, note.source),
                                    notes=(*e.notes, *note.notes))
                gone.add(n)
                break
    return [e for n, e in enumerate(out) if n not in gone]


def _sort_key(e: OomEvent) -> tuple[float, float]:
    wall = e.time.wall.timestamp() if e.time.wall is not None else float("inf")
    return (wall, e.time.uptime_s if e.time.uptime_s is not None else 0.0)


def _matches(e: OomEvent, target: str) -> bool:
    v = e.victim
    if target.isdecimal():
        pid = int(target)
        return (v is not None and v.pid == pid) or any(x.pid == pid for x in e.extra_victims)
    if v is not None and v.name is not None and (v.name == target or v.name == target[:15]):
        return True
    if e.slurm is not None and target in (f"{e.slurm.job}.{e.slurm.step}", f"job_{e.slurm.job}"):
        return True  # a Slurm step by its StepId ("191.batch"), or its job ("job_191")
    paths = [p for p in (e.memcg, e.task_memcg) if p]
    return any(target in p for p in paths) or any(target in u for u in e.units)


def victims_killed(events: Iterable[OomEvent]) -> int:
    """How many processes the kernel killed: /proc/vmstat oom_kill counts every victim,
    memory.oom.group members included (mm/oom_kill.c __oom_kill_process)."""
    return sum(
        1 + len(e.extra_victims) for e in events
        if e.killer is Killer.KERNEL and e.kind is EventKind.OOM_KILL
    )


def kmsg_kills(machine: Machine | None = None) -> int | None:
    """Kernel OOM victims in this boot's ring buffer, or None if /dev/kmsg is unreadable."""
    machine = machine or Machine()
    source = Source(name="kmsg", kind="kmsg", path=machine.kmsg, this_boot=True)
    found, rep = read_source(source, tz=timezone.utc, offset=0.0)
    return victims_killed(found) if rep.status == "read" else None


def read_vmstat_oom_kill(proc_root: Path) -> int | None:
    """/proc/vmstat oom_kill: every OOM kill since boot, memcg ones included (Linux 4.13+)."""
    from oomkit import procfs

    try:
        return procfs.read_vmstat(proc_root).get("oom_kill")
    except OomkitError:
        return None


def boot_time() -> datetime:
    """When this boot started, on CLOCK_BOOTTIME (suspend included)."""
    now = time.clock_gettime(time.CLOCK_REALTIME)
    up = time.clock_gettime(time.CLOCK_BOOTTIME)
    return datetime.fromtimestamp(now - up, tz=timezone.utc)


class Enricher:
    """Owner, current cgroup state and explanation per event, cached per cgroup path.

    A storm repeats the same cgroup thousands of times; its state is read once.
    """

    def __init__(self, machine: Machine) -> None:
        from oomkit import cgroups

        self._hierarchy = cgroups.find_memory(machine.proc_root, machine.cgroup_root)
        self._now: dict[str, CgroupNow | None] = {}
        self._owners: dict[str | None, Owner | None] = {}

    def owner(self, path: str | None) -> Owner | None:
        if path not in self._owners:
            self._owners[path] = owner_of(path)
        return self._owners[path]

    def cgroup_now(self, path: str | None) -> CgroupNow | None:
        if not path or self._hierarchy is None:
            return None
        if path not in self._now:
            from oomkit import cgroups

            try:
                cg = cgroups.read_memory(self._hierarchy, path)
            except OSError:  # vanished or unreadable: treat as gone
                cg = None
            self._now[path] = None if cg is None else CgroupNow(
                path=path,
                limit_kb=cg.limit_bytes // 1024 if cg.limit_bytes is not None else None,
                usage_kb=cg.usage_bytes // 1024 if cg.usage_bytes is not None else None,
                version=cg.version,
            )
        return self._now[path]

    def report(self, event: OomEvent) -> KillReport:
        owner = self.owner(event.memcg)
        if owner is None and event.slurm is not None:  # Slurm's note names its job step
            owner = slurm_step(event.slurm.job, event.slurm.step)
        task_owner = self.owner(event.task_memcg)
        now = self.cgroup_now(event.memcg)
        version = self._hierarchy.version if self._hierarchy is not None else None
        return KillReport(
            event=event,
            explanation=explain(event, owner=owner or task_owner, now=now, cgroup_version=version),
            owner=owner,
            task_owner=task_owner,
            cgroup_now=now,
        )


def report(event: OomEvent, machine: Machine | None = None) -> KillReport:
    """Attach owner, current cgroup state and the explanation to one event."""
    return Enricher(machine or Machine()).report(event)


def _this_boot(boot: str) -> bool:
    """--boot 0 (or -0, or nothing): the running boot, in journalctl's numbering."""
    return boot.strip() in ("0", "", "-0")


def _boot_window(
    boot: str, booted: datetime
) -> tuple[datetime | None, datetime | None, str | None]:
    """The wall-clock span of a boot: this one from the clock, older ones from journald."""
    if _this_boot(boot):
        return booted - timedelta(seconds=5), None, None
    from oomkit.log_sources import list_boots

    for b in list_boots():
        if str(b.offset) == boot.strip() or b.boot_id == boot.strip():
            return b.first - timedelta(seconds=5), b.last + timedelta(seconds=5), None
    return None, None, (
        f"boot {boot} is not in the journal's boot list (`journalctl --list-boots`), so its"
        " time span is unknown and only the journal's own entries for it are shown; for the"
        " kernel log of an earlier boot, pass its rotated syslog (--file /var/log/kern.log.1)"
        " or a time window (--since/--until)"
    )


def _sources(opts: WhyOptions, machine: Machine) -> Iterator[Source]:
    if opts.files or opts.journal_file:
        for f in opts.files:
            s = file_source(f)
            yield s._replace(this_boot=opts.this_boot)
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


def _weight(source: Source, machine: Machine) -> int:
    """About how many bytes a source holds: what decides whether to read in parallel."""
    paths: list[Path] = []
    if source.kind == "file" and source.path is not None:
        paths = [source.path]
    elif source.kind == "journal":
        if "--file" in source.journal_args:
            import glob  # here: only a --journal-file is a pattern

            pattern = source.journal_args[source.journal_args.index("--file") + 1]
            paths = [Path(p) for p in glob.glob(pattern)]
        else:
            paths = [f for d in (machine.log_dir / "journal", Path("/run/log/journal"))
                     for f in d.glob("*/*.journal")]
    total = 0
    for path in paths:
        try:
            size = path.stat().st_size
        except OSError:
            continue
        total += size * 8 if path.suffix in (".gz", ".xz", ".bz2") else size
    return total


# How much earlier than --since a log's last write may be and still be read: a line is
# written after the time it carries, but clocks are stepped (NTP) and skewed.
_MTIME_SLACK = timedelta(hours=1)


def _written_before(sources: list[Source], since: datetime,
                    ) -> tuple[list[Source], list[tuple[Source, datetime]]]:
    """(sources to read, machine logs last written before ``since`` with that time).

    Every line of a log was written before the log's modification time, which rotation
    keeps (rename) and so does gzip, so such a log holds nothing inside the window. On
    a machine with weeks of rotated logs, `why --since 2h` reads only the recent ones."""
    keep: list[Source] = []
    old: list[tuple[Source, datetime]] = []
    for s in sources:
        if s.kind == "file":
            written = mtime(s.path)  # None when it cannot be read: read_source says why
            if written is not None and written < since - _MTIME_SLACK:
                old.append((s, written))
                continue
        keep.append(s)
    return keep, old


def _read_sources(sources: list[Source], opts: WhyOptions, machine: Machine, tz: tzinfo,
                  ) -> list[tuple[list[OomEvent], SourceReport]]:
    """read_source() of each source, several at once when they are large (fanout)."""
    offset = boot_offset()
    from oomkit import fanout

    jobs = opts.jobs if opts.jobs is not None else min(4, fanout.cpus())

    def read(source: Source) -> tuple[list[OomEvent], SourceReport]:
        return read_source(source, tz=tz, offset=offset, threads=jobs)

    if any(s.kind == "stdin" for s in sources):
        return [read(s) for s in sources]  # stdin can be read once, by one process
    weights = [_weight(s, machine) for s in sources]
    return fanout.read_all(sources, read, weights, jobs=jobs, shared=(tz,))


def find_kills(opts: WhyOptions, machine: Machine | None = None) -> WhyResult:
    """Every OOM kill the sources hold, merged, filtered and explained, newest first."""
    machine = machine or Machine()
    tz = machine.tz or local_tz()
    events: list[OomEvent] = []
    reports: list[SourceReport] = []
    notes: list[str] = []
    sources = list(_sources(opts, machine))
    machine_logs = not (opts.files or opts.journal_file)
    booted = boot_time()
    boot_window = _boot_window(opts.boot, booted) if opts.boot is not None and machine_logs else None
    earlier_boot = opts.boot is not None and not _this_boot(opts.boot)
    starts = [t for t in (opts.since, boot_window[0] if boot_window else None) if t is not None]
    if starts and machine_logs:
        sources, old = _written_before(sources, max(starts))
        for s, written in old:
            reports.append(SourceReport(
                s.name, "skipped", f"{s.name}: last written {written.isoformat(timespec='seconds')},"
                " before the window: not read", 0))
        if old:
            notes.append(f"{len(old)} rotated or old log(s) last written before the window"
                         f" (--since, --boot) were not read: {', '.join(s.name for s, _ in old)}")
    for found, rep in _read_sources(sources, opts, machine, tz):
        events.extend(found)
        reports.append(rep)
    merged = absorb_unit_notes(merge_duplicates(events))
    if not machine_logs and any(e.time.wall_from == "log-year-assumed" for e in merged):
        # A machine's own logs keep their modification time through rotation; a copy
        # or a paste is as new as the copy.
        notes.append("syslog times print no year: the year shown is the one that puts each"
                     " line before its file's last change, which may be wrong for a copied"
                     " or pasted log")
    this_boot = victims_killed(
        e for e in merged if e.time.wall is not None and e.time.wall >= booted - timedelta(seconds=5)
    )
    since, until = opts.since, opts.until
    if boot_window is not None:
        first, last, note = boot_window
        if note:
            notes.append(note)
            merged = [e for e in merged if e.source.path == "journal"]
        since = max(since, first) if since and first else (since or first)
        until = min(until, last) if until and last else (until or last)
    undated = 0
    if since is not None or until is not None:
        kept = []
        for e in merged:
            if e.time.wall is None:
                undated += 1
                continue
            if since is not None and e.time.wall < since:
                continue
            if until is not None and e.time.wall > until:
                continue
            kept.append(e)
        merged = kept
    not_target = 0
    if opts.target:
        matching = [e for e in merged if _matches(e, opts.target)]
        not_target = len(merged) - len(matching)
        merged = matching
    merged.reverse()
    enrich = Enricher(machine)
    result = WhyResult(
        kills=tuple(enrich.report(e) for e in merged),
        sources=tuple(reports),
        since=since,
        until=until,
        # The counter is this boot's: beside an earlier boot's kills it would mislead.
        vmstat_oom_kill=None if earlier_boot else read_vmstat_oom_kill(machine.proc_root),
        boot_time=booted,
        kernel_kills_this_boot=this_boot,
        undated=undated,
        notes=tuple(notes),
        machine_logs=machine_logs,
        target=opts.target,
        not_target=not_target,
    )
    # --- flight recorder: timelines and warnings from the daemon's database ---
    from oomkit.recorded import attach

    return attach(result, opts, machine)
