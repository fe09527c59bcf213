"""One supervised program: the one place where its state changes, and its effects.

``Job.handle(event, now)`` asks the pure ``decide()`` what to do, walks the states
it names through ``change_state()`` (which refuses any edge not in
``states.EDGES``, like Supervisor's ``_assertInState``) and carries out the actions
through the ``ProcessControl`` port. ``Job.reap(now)`` turns a dead child into a
classified ``JobExit`` and feeds it back as an ``Exited`` event.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace

from oomkit.models import JobExit, JobState, JobStatus, OomEvent, ProgramSpec
from oomkit.supervise import states
from oomkit.supervise.classify import ExitFacts, classify, decode_wait_status, kernel_events_for, needs_logs
from oomkit.supervise.clock import Clock
from oomkit.supervise.control import Child, Placement, ProcessControl, SpawnError, close_fds
from oomkit.supervise.decide import (
    Action,
    Decision,
    Event,
    Exited,
    JobRecord,
    KillAll,
    SendSignal,
    Spawn,
    Spawned,
    SpawnFailed,
    decide,
    next_deadline,
)
from oomkit.supervise.evidence import EvidenceSource
from oomkit.supervise.logs import RotatingLog, write_all
from oomkit.supervise.sinks import EventSink

__all__ = ["Job"]

S = JobState
KMSG_RETRIES = 3  # the kernel prints "Killed process" just after the SIGKILL: allow it to land
KMSG_RETRY_S = 0.03


class Job:
    """A program's record, child, cgroup and output."""

    def __init__(
        self, spec: ProgramSpec, *, control: ProcessControl, clock: Clock, sink: EventSink,
        evidence: EvidenceSource, placement: Placement, rng: random.Random | None = None,
        log: RotatingLog | None = None, passthrough: dict[str, int] | None = None,
        on_close: Callable[[int], None] | None = None,
    ) -> None:
        self.spec = spec
        self.control = control
        self.clock = clock
        self.sink = sink
        self.evidence = evidence
        self.placement = placement
        self.rng = rng or random.Random()  # noqa: S311 - backoff jitter, not a secret
        self.log = log
        self.passthrough = passthrough  # {"stdout": 1, "stderr": 2} for `oomkit run`
        self.on_close = on_close or (lambda fd: None)  # told before one of our fds is closed
        self.record = JobRecord()
        self.child: Child | None = None
        self.outputs: dict[int, str] = {}  # open read ends -> "stdout" / "stderr"
        self.history: deque[tuple[float, JobState, JobState, str]] = deque(maxlen=64)
        self.spawn_times: deque[float] = deque(maxlen=64)  # monotonic time each exec returned
        self.restarts: dict[str, int] = {}  # restarts by the policy, by the cause of the exit

    # --- the state machine ------------------------------------------------------------------

    def change_state(self, to: JobState, now: float, reason: str | None = None) -> None:
        """Take edge ``state -> to``; the only writer of ``record.state``."""
        frm = self.record.state
        label = states.check(frm, to)  # raises InvalidTransition for an edge not in the diagram
        self.record = replace(self.record, state=to)
        self.history.append((now, frm, to, label))
        self.sink.state_changed(self.spec.name, frm, to, label, reason)

    def handle(self, event: Event, now: float) -> Decision:
        """Decide, move through the states, then act."""
        return self.apply(decide(self.spec, self.record, event, now, self.rng.random()), now)

    def apply(self, d: Decision, now: float) -> Decision:
        """Move through the decision's states, then carry out its actions."""
        for i, to in enumerate(d.path):
            self.change_state(to, now, d.record.reason if i == len(d.path) - 1 else None)
        self.record = d.record
        for action in d.actions:
            self._act(action, now)
        return d

    def deadline(self) -> float | None:
        """When this job next needs a Tick."""
        return next_deadline(self.spec, self.record)

    # --- effects ---------------------------------------------------------------------------

    def _act(self, action: Action, now: float) -> None:
        if isinstance(action, Spawn):
            self._spawn(now)
        elif isinstance(action, SendSignal):
            if self.child is not None:
                self.control.signal(self.child, action.sig, action.group)
        elif isinstance(action, KillAll):
            self.control.kill_all(self.placement, self.child, action.group)

    def _spawn(self, now: float) -> None:
        try:
            child = self.control.spawn(self.spec, self.placement, capture=True, now=now,
                                       wall=self.clock.wall())
        except SpawnError as exc:
            self.handle(SpawnFailed(exc.reason, exc.permanent), now)
            return
        self.spawn_times.append(self.clock.monotonic())
        self.child = child
        for fd, stream in ((child.stdout, "stdout"), (child.stderr, "stderr")):
            if fd is not None:
                self.outputs[fd] = stream
        memcg = self.placement.cgroup.rel if self.placement.cgroup is not None else None
        self.sink.spawned(self.spec.name, child.pid, memcg)
        self.handle(Spawned(child.pid), now)

    # --- output ----------------------------------------------------------------------------

    def read_output(self, fd: int) -> bool:
        """Copy what is waiting on ``fd`` to the log (and terminal); False once it hit EOF."""
        stream = self.outputs.get(fd)
        if stream is None:
            return False
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return True
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                data = b""
            if not data:
                del self.outputs[fd]
                self.on_close(fd)
                close_fds([fd])
                return False
            if self.log is not None:
                try:
                    self.log.write(data)
                except OSError:
                    self.log = None  # a full or vanished disk must not stop the job
            if self.passthrough is not None and stream in self.passthrough:
                write_all(self.passthrough[stream], data)

    def drain_output(self) -> None:
        """Read whatever is buffered on every output pipe, without waiting."""
        for fd in list(self.outputs):
            self.read_output(fd)

    # --- exits -----------------------------------------------------------------------------

    def sample(self) -> None:
        """Remember the pids in the job now (children a userspace killer may name later)."""
        if self.child is not None:
            self.child.pids_seen.update(self.control.pids(self.placement, self.child))

    def reap(self, now: float) -> JobExit | None:
        """If the main process has exited: classify the exit and feed it to the state machine."""
        child = self.child
        if child is None or not self.control.has_exited(child):
            return None
        self.sample()
        cg = self.placement.cgroup
        after = self.control.oom_kills(self.placement)
        peak = self.control.memory(self.placement, child).peak
        # Whatever the main process left behind goes too (systemd's KillMode=control-group);
        # the zombie still holds the pid, so killpg() cannot reach a stranger (waitid(2) WNOWAIT).
        self.control.kill_all(self.placement, child, self.spec.killasgroup)
        reaped = self.control.reap(child)
        if reaped is None:  # cannot happen after has_exited(); try again next round
            return None
        if child.pidfd is not None:
            self.on_close(child.pidfd)
        self.control.close(child)
        self.child = None
        self.drain_output()
        ended_mono = self.clock.monotonic()
        facts = ExitFacts(
            name=self.spec.name, pid=child.pid, status=decode_wait_status(reaped.status),
            memcg=cg.rel if cg is not None else None,
            oom_kills_before=child.oom_kills_before, oom_kills_after=after,
            # ru_maxrss is polluted by our own RSS at fork time (fs/exec.c exec_mmap() keeps the
            # old mm's high-water mark), so the cgroup's high-water mark is preferred.
            peak_rss_kb=peak // 1024 if peak is not None else reaped.maxrss_kb,
            memcg_peak_kb=peak // 1024 if peak is not None else None,
            started_mono=child.started_mono, ended_mono=ended_mono,
            started=child.started, ended=self.clock.wall(),
            pids=frozenset(child.pids_seen), expected=self.record.state is S.STOPPING,
        )
        x = classify(facts, self._evidence(facts))
        # Decide first (pure), report the exit with what follows it, then take the edges.
        d = decide(self.spec, self.record, Exited(x), now, self.rng.random())
        restarted = S.BACKOFF in d.path or S.STARTING in d.path
        if S.BACKOFF in d.path:
            self.restarts[x.cause.value] = self.restarts.get(x.cause.value, 0) + 1
        self.sink.exited(x, restarted=restarted)
        self.apply(d, now)
        return x

    def _evidence(self, facts: ExitFacts) -> list[OomEvent]:
        if not needs_logs(facts):
            return []
        events: list[OomEvent] = []
        for attempt in range(KMSG_RETRIES):
            try:
                events = self.evidence.events(facts.started, self.spec.killer_logs)
            except Exception:  # evidence is best effort: never let a log reader stop supervision
                return []
            if not facts.oom_delta or kernel_events_for(facts, events):
                break
            if attempt + 1 < KMSG_RETRIES:
                time.sleep(KMSG_RETRY_S)
        return events

    # --- status ----------------------------------------------------------------------------

    def status(self, now: float) -> JobStatus:
        """What ``ctl status`` shows."""
        rec = self.record
        mem = self.control.memory(self.placement, self.child)
        up = now - rec.started_at if rec.state in (S.STARTING, S.RUNNING, S.STOPPING) \
            and rec.started_at is not None else None
        left = max(0.0, rec.backoff_until - now) if rec.state is S.BACKOFF and rec.backoff_until else None
        return JobStatus(
            name=self.spec.name, state=rec.state, pid=rec.pid, uptime_s=up,
            rss_kb=mem.usage // 1024 if mem.usage is not None else None,
            peak_kb=mem.peak // 1024 if mem.peak is not None else None,
            limit_bytes=mem.limit if mem.limit is not None else self.spec.memory_max,
            restarts=sum(self.restarts.values()), last_exit=rec.last_exit, reason=rec.reason,
            memcg=self.placement.cgroup.rel if self.placement.cgroup is not None else None,
            backoff_left_s=left, restarts_by_cause=tuple(sorted(self.restarts.items())),
        )

    def close(self) -> None:
        """Close pipes and the log (shutdown)."""
        for fd in self.outputs:
            self.on_close(fd)
        close_fds(list(self.outputs))
        self.outputs.clear()
        if self.child is not None:
            if self.child.pidfd is not None:
                self.on_close(self.child.pidfd)
            with contextlib.suppress(Exception):
                self.control.close(self.child)
        if self.log is not None:
            self.log.close()
