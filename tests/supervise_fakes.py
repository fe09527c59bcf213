"""Test doubles for the supervisor: a fake clock, a fake ProcessControl, a recording sink.

As Supervisor's ``DummyOptions``: the state machine runs for real, the OS is faked.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from oomkit.jobcgroup import JobCgroup
from oomkit.models import JobExit, JobState, ProgramSpec
from oomkit.supervise.control import Child, MemoryNow, Placement, Reaped, SpawnError


class FakeClock:
    """Monotonic and wall time that move only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.epoch = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return self.epoch + timedelta(seconds=self.now)

    def advance(self, seconds: float) -> None:
        self.now += seconds


def exited(code: int) -> int:
    """A raw wait status for exit(code) (waitpid(2): code << 8)."""
    return (code & 0xFF) << 8


def signalled(sig: int, core: bool = False) -> int:
    """A raw wait status for death by ``sig``."""
    return sig | (0x80 if core else 0)


@dataclass
class FakeControl:
    """Spawns nothing; tests decide when children exit and how."""

    fail_spawn: dict[str, SpawnError] = field(default_factory=dict)
    next_pid: int = 100
    oom_counter: dict[str, int] = field(default_factory=dict)
    exits: dict[int, Reaped] = field(default_factory=dict)
    alive: dict[int, str] = field(default_factory=dict)
    signals: list[tuple[int, int, bool]] = field(default_factory=list)
    killed_all: list[str] = field(default_factory=list)
    spawned: list[tuple[str, int]] = field(default_factory=list)
    released: list[str] = field(default_factory=list)

    def place(self, spec: ProgramSpec) -> Placement:
        from pathlib import Path

        cg = JobCgroup(Path(f"/fake/oomkit-job-{spec.name}"), f"/oomkit-job-{spec.name}", 2)
        self.oom_counter.setdefault(spec.name, 0)
        return Placement(cg, "fake")

    def spawn(self, spec: ProgramSpec, placement: Placement, *, capture: bool, now: float,
              wall: datetime) -> Child:
        err = self.fail_spawn.get(spec.name)
        if err is not None:
            raise err
        self.next_pid += 1
        pid = self.next_pid
        self.alive[pid] = spec.name
        self.spawned.append((spec.name, pid))
        return Child(pid=pid, started_mono=now, started=wall,
                     oom_kills_before=self.oom_counter.get(spec.name))

    # test helpers ---------------------------------------------------------------------------
    def pid_of(self, name: str) -> int:
        return max(p for p, n in self.alive.items() if n == name)

    def exit(self, name: str, status: int, *, oom: bool = False, maxrss_kb: int = 1000) -> int:
        pid = self.pid_of(name)
        if oom:
            self.oom_counter[name] += 1
        self.exits[pid] = Reaped(status, maxrss_kb)
        return pid

    # the port -------------------------------------------------------------------------------
    def signal(self, child: Child, sig: int, group: bool) -> None:
        self.signals.append((child.pid, sig, group))

    def kill_all(self, placement: Placement, child: Child | None, group: bool) -> int:
        assert placement.cgroup is not None
        self.killed_all.append(placement.cgroup.rel)
        return 0

    def has_exited(self, child: Child) -> bool:
        return child.pid in self.exits

    def reap(self, child: Child) -> Reaped | None:
        r = self.exits.pop(child.pid, None)
        if r is not None:
            self.alive.pop(child.pid, None)
        return r

    def oom_kills(self, placement: Placement) -> int | None:
        assert placement.cgroup is not None
        return self.oom_counter[placement.cgroup.rel.removeprefix("/oomkit-job-")]

    def pids(self, placement: Placement, child: Child | None) -> tuple[int, ...]:
        return (child.pid,) if child is not None else ()

    def memory(self, placement: Placement, child: Child | None) -> MemoryNow:
        return MemoryNow(4 << 20, 8 << 20, None)

    def release(self, placement: Placement) -> None:
        assert placement.cgroup is not None
        self.released.append(placement.cgroup.rel)

    def close(self, child: Child) -> None:
        pass


@dataclass
class RecordingSink:
    """Keeps every event."""

    states: list[tuple[str, JobState, JobState, str]] = field(default_factory=list)
    exits: list[tuple[JobExit, bool]] = field(default_factory=list)
    spawns: list[tuple[str, int]] = field(default_factory=list)

    def spawned(self, name: str, pid: int, memcg: str | None) -> None:
        self.spawns.append((name, pid))

    def state_changed(self, name: str, frm: JobState, to: JobState, label: str, reason: str | None) -> None:
        self.states.append((name, frm, to, label))

    def exited(self, x: JobExit, restarted: bool) -> None:
        self.exits.append((x, restarted))


SIGKILL = int(signal.SIGKILL)
SIGTERM = int(signal.SIGTERM)
SIGSEGV = int(signal.SIGSEGV)
