"""Kills that left no log line: the kernel's counters against the kills read from kmsg.

``/proc/vmstat oom_kill`` counts every OOM kill (memcg kills too, each member of a
memory.oom.group kill too), and each memory cgroup counts the kills of its
tasks (v2 ``memory.events`` oom_kill, hierarchical; v1 ``memory.oom_control``
oom_kill, this cgroup only) (docs/kernel-oom.md 4.2, 4.3). The victim line is
printed for every kill even when the report is ratelimited, so a counter that
moved without a matching kmsg event, for longer than ``GRACE`` seconds (the time
the kmsg parser may still need), means a kill the log does not show: kmsg
unreadable, records overwritten, or printk dropped. Those are recorded as
such, attributed to the deepest watched cgroup whose counter moved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

from oomkit.models import EventKind, EventTime, Killer, OomEvent, ProcessInfo, SourceRef, Victim
from oomkit.recorder.tiers import within

GRACE = 3.0


class Unlogged(NamedTuple):
    """``kills`` kills with no log line, in ``cgroup`` (None: not in a watched cgroup)."""

    cgroup: str | None
    kills: int  # not ``count``: a NamedTuple would shadow tuple.count
    detected: float  # monotonic time they were counted


class KillCounter:
    """Running totals since the daemon started; ``update`` each tick."""

    def __init__(self, version: int) -> None:
        self.version = version  # the memory hierarchy's (1: counters are per cgroup only)
        self._base: int | None = None
        self._logged = 0
        self._unlogged = 0
        self._pending_since: float | None = None
        self._cg_base: dict[str, int] = {}
        self._cg_logged: dict[str, int] = {}
        self._cg_unlogged: dict[str, int] = {}

    def logged(self, event: OomEvent) -> None:
        """A kernel kill read from kmsg while running (not the backlog)."""
        if event.killer is not Killer.KERNEL or event.kind is not EventKind.OOM_KILL:
            return
        n = 1 + len(event.extra_victims) if event.victim is not None else 0
        self._logged += n
        path = event.task_memcg or event.memcg
        for cg in self._cg_base:
            counted = within(path, cg) if self.version == 2 else path == cg
            if counted:
                self._cg_logged[cg] = self._cg_logged.get(cg, 0) + n

    def update(self, now: float, vmstat: int | None, cgroups: Mapping[str, int]) -> list[Unlogged]:
        """Kills counted but not logged for ``GRACE`` seconds; each is reported once."""
        for cg, value in cgroups.items():
            if cg not in self._cg_base:
                self._cg_base[cg] = value
        for cg in [c for c in self._cg_base if c not in cgroups]:
            self._cg_base.pop(cg)
            self._cg_logged.pop(cg, None)
            self._cg_unlogged.pop(cg, None)
        if vmstat is None:
            return []
        if self._base is None:
            self._base = vmstat
            return []
        missing = (vmstat - self._base) - self._logged - self._unlogged
        if missing <= 0:
            self._pending_since = None
            return []
        if self._pending_since is None:
            self._pending_since = now
            return []
        if now - self._pending_since < GRACE:
            return []
        self._pending_since = None
        self._unlogged += missing
        out = []
        # deepest cgroups first: v2 counters are hierarchical
        for cg in sorted(cgroups, key=len, reverse=True):
            if missing <= 0:
                break
            lost = ((cgroups[cg] - self._cg_base[cg]) - self._cg_logged.get(cg, 0)
                    - self._cg_unlogged.get(cg, 0))
            n = min(lost, missing)
            if n > 0:
                out.append(Unlogged(cg, n, now))
                missing -= n
                if self.version == 2:  # the ancestors counted these too
                    for other in cgroups:
                        if other != cg and within(cg, other):
                            self._cg_unlogged[other] = self._cg_unlogged.get(other, 0) + n
                self._cg_unlogged[cg] = self._cg_unlogged.get(cg, 0) + n
        if missing > 0:
            out.append(Unlogged(None, missing, now))
        return out


def unlogged_events(u: Unlogged, gone: Sequence[tuple[ProcessInfo, Victim]], *, wall: datetime,
                    boot_id: str | None) -> list[OomEvent]:
    """The events of ``u.kills`` kills that left no log line. ``gone`` are the processes that
    exited around then in that cgroup (info, last numbers as a Victim), largest first: the
    first ones are named as the inferred victims, and the notes say so."""
    out = []
    for i in range(u.kills):
        notes = ["no kernel log line: counted by /proc/vmstat oom_kill"
                 + (f" and the oom_kill counter of {u.cgroup}" if u.cgroup else "")]
        info, victim = gone[i] if i < len(gone) else (None, None)
        if victim is not None:
            notes.append("victim inferred: the largest process of the cgroup that exited when"
                          " the counter moved; its numbers are its last sample")
        out.append(OomEvent(
            killer=Killer.KERNEL, kind=EventKind.OOM_KILL, complete=False,
            time=EventTime(raw=None, uptime_s=None, wall=wall, wall_from="daemon", boot_id=boot_id),
            source=SourceRef("oomkit-daemon:counter", None), victim=victim, memcg=u.cgroup,
            task_memcg=info.cgroup if info is not None else None, global_oom=None,
            missing=("kernel log line",), notes=tuple(notes),
        ))
    return out
