"""systemd's own notes of kernel OOM kills in its units.

PID 1, or a user's manager, logs (systemd src/core/unit.c, unit_check_oom(); 243+)::

    <unit>: A process of this unit has been killed by the OOM killer.
    <unit>: Failed with result 'oom-kill'.

the first when the ``oom_kill`` counter of the unit's memory.events rises, for the unit and
each slice above it, all within a millisecond (tests/data/kernel_log/public-systemd-unit-
oom-killer-rsyslog-rfc3339.log: one moment, five units); the second when a service stops
for it. ``journalctl -u UNIT`` shows these and not the kernel's report, so they are often
the only trace of a kill in what a user pastes.

"Failed with result 'oom-kill'" alone is not a kernel kill: systemd gives a unit that
result for systemd-oomd's kills too, which it logs as (src/core/unit.c, 249+)::

    <unit>: systemd-oomd killed %"PRIu64" process(es) in this unit.

That line is a kill of systemd-oomd's (oomd_note below): `journalctl -u UNIT` shows it and
not systemd-oomd's own line, so it may be all a paste has. Here "Failed with result" only
joins a note of the first kind.
"""

from __future__ import annotations

import re

from oomkit.models import EventKind, EventTime, Killer, LogLine, OomEvent, SourceRef

_UNIT = r"(?P<unit>[^\s:/]+\.(?:service|scope|slice|socket|mount|swap))"
_NOTICE = re.compile(_UNIT + r": A process of this unit has been killed by the OOM killer\.")
_FAILED = re.compile(_UNIT + r": Failed with result 'oom-kill'\.")
_OOMD_KILLED = re.compile(_UNIT + r": systemd-oomd killed (?P<n>\d+) process\(es\) in this unit")
# A note and its slices' notes come within a millisecond; the service's failure up to a
# second or so later, once its main process is gone.
_WINDOW_S = 3.0
_MISSING = ("the kernel's report of the kill (only systemd's note of it is in this log):"
            " victim, sizes and limit",)


def is_unit_note(line: LogLine) -> bool:
    """Cheap test: could this be one of systemd's OOM notes?"""
    text = line.text
    return line.ident == "systemd" and ("by the OOM killer" in text or "'oom-kill'" in text
                                        or "systemd-oomd killed" in text)


def oomd_note(line: LogLine, ref: SourceRef) -> OomEvent | None:
    """systemd's note of a kill of systemd-oomd's in one of its units, as that kill."""
    m = _OOMD_KILLED.search(line.text)
    if m is None:
        return None
    n = int(m.group("n"))
    return OomEvent(
        killer=Killer.SYSTEMD_OOMD,
        kind=EventKind.USERSPACE_KILL,
        complete=False,
        time=EventTime(raw=line.raw_time, uptime_s=line.uptime_s, wall=line.wall,
                       wall_from=line.wall_kind, boot_id=line.boot_id),
        source=ref,
        units=(m.group("unit"),),
        message="systemd: systemd-oomd killed N process(es) in this unit",
        host=line.host,
        missing=("systemd-oomd's own line (the cgroup path and its reason)",),
        notes=(f"systemd counted {n} process{'' if n == 1 else 'es'} killed in the unit",),
    )


def noted_only(event: OomEvent) -> bool:
    """A kill known only from systemd's notes: units, and neither a victim nor a cgroup
    path (no report of the killer's own, which would name one of them)."""
    return bool(event.units) and event.victim is None and event.memcg is None


def _seconds(line: LogLine) -> float | None:
    if line.wall is not None:
        return line.wall.timestamp()
    return line.uptime_s


def _slice_of(unit: str) -> str | None:
    """The slice systemd puts a unit in by its name: a-b.slice in a.slice, user@N.service
    in user-N.slice, a template instance name@x.service in system-name.slice."""
    stem, _, kind = unit.rpartition(".")
    if kind == "slice":
        return f"{stem.rsplit('-', 1)[0]}.slice" if "-" in stem else None
    if stem.startswith("user@") and stem[5:].isdecimal():
        return f"user-{stem[5:]}.slice"
    if "@" in stem:
        return f"system-{stem.split('@', 1)[0]}.slice"
    return None


def _above(unit: str) -> list[str]:
    out = []
    parent = _slice_of(unit)
    while parent is not None:
        out.append(parent)
        parent = _slice_of(parent)
    return out


def leaves(units: tuple[str, ...]) -> tuple[str, ...]:
    """The units of a group that no other unit of it lies in: where the kills were."""
    above = {parent for unit in units for parent in _above(unit)}
    # A plain service's slice cannot be told from its name; a slice that holds any
    # other unit of the group by name is above it, and system.slice/user.slice hold all.
    found = tuple(u for u in units if u not in above)
    rest = tuple(u for u in found if u not in ("system.slice", "user.slice", "-.slice"))
    return rest or found


class UnitNotes:
    """Groups systemd's notes of one moment into one event."""

    __slots__ = ("_first", "_last_s", "_ref", "_units")

    def __init__(self) -> None:
        self._first: LogLine | None = None
        self._ref: SourceRef | None = None
        self._units: list[str] = []
        self._last_s: float | None = None

    def feed(self, line: LogLine, ref: SourceRef) -> list[OomEvent]:
        """The previous moment's events when this line starts another, else []."""
        m = _NOTICE.search(line.text)
        failed = None if m else _FAILED.search(line.text)
        if m is None and failed is None:
            return []
        now = _seconds(line)
        near = self._first is not None and (
            now is None or self._last_s is None or abs(now - self._last_s) <= _WINDOW_S)
        if failed is not None:
            if near and failed.group("unit") not in self._units:
                self._units.append(failed.group("unit"))
            return []  # alone it may be systemd-oomd's kill (module docstring)
        assert m is not None
        out: list[OomEvent] = []
        if not near:
            out = self.close()
            self._first, self._ref = line, ref
        if m.group("unit") not in self._units:
            self._units.append(m.group("unit"))
        self._last_s = now if now is not None else self._last_s
        return out

    def close(self) -> list[OomEvent]:
        """The pending moment's events: one per unit no other noted unit lies in (each had
        at least one kill), with the noted slices above it."""
        first, ref = self._first, self._ref
        units = tuple(self._units)
        self._first, self._ref, self._units, self._last_s = None, None, [], None
        if first is None or ref is None:
            return []
        time = EventTime(raw=first.raw_time, uptime_s=first.uptime_s, wall=first.wall,
                         wall_from=first.wall_kind, boot_id=first.boot_id)
        out = []
        for leaf in leaves(units):
            up = set(_above(leaf))
            out.append(OomEvent(
                killer=Killer.KERNEL,
                kind=EventKind.OOM_KILL,
                complete=False,
                time=time,
                source=ref,
                units=(leaf, *(u for u in units if u != leaf and u in up)),
                message="systemd: A process of this unit has been killed by the OOM killer",
                host=first.host,
                missing=_MISSING,
            ))
        return out
