"""What a job does next: ``decide(spec, record, event, now, u) -> Decision``. Pure.

``JobRecord`` is everything the state machine remembers about one job; an event
(a request, a spawn result, an exit, the clock) produces a new record, the states
it passes through (each one an edge of ``states.EDGES``) and the effects to carry
out (``Action``). Nothing here does I/O or reads a clock: ``now`` is a monotonic
time and ``u`` a random draw in [0, 1) for the backoff jitter, both passed in.

Supervisor semantics (supervisord's ``[program:x]``), kept on purpose:

* a process that exits before ``startsecs`` failed to start: STARTING -> BACKOFF,
  and after ``startretries`` failures in a row, FATAL (whatever ``autorestart`` says);
* ``autorestart`` decides what follows an exit from RUNNING: ``false`` never
  restarts, ``unexpected`` restarts unless the exit code is in ``exitcodes``,
  ``true`` always restarts.

Differences, on purpose (docs/supervise.md): the restart delay is exponential with
jitter (Supervisor: +1 s per failed start); an exit from RUNNING also waits in
BACKOFF; OOM kills have their own bound (``oom_max_in_row``); a bad command (not
found, not executable) is FATAL at once, since retrying cannot help.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from oomkit.models import ExitCause, JobExit, JobState, ProgramSpec, RestartPolicy
from oomkit.supervise import backoff

S = JobState

__all__ = [
    "Action", "Decision", "Event", "Exited", "JobRecord", "KillAll", "Restart", "SendSignal",
    "Spawn", "SpawnFailed", "Spawned", "Start", "Stop", "Tick", "decide", "next_deadline",
    "wants_restart",
]


@dataclass(frozen=True, slots=True)
class JobRecord:
    """What the state machine knows about one job. Times are monotonic seconds."""

    state: JobState = S.STOPPED
    pid: int | None = None
    started_at: float | None = None
    failed_starts: int = 0  # exits before startsecs, in a row (Supervisor's "backoff" count)
    restarts_in_row: int = 0  # restarts since the job last stayed up reset_after seconds
    oom_in_row: int = 0  # OOM kills (kernel or userspace) in a row
    restarts_total: int = 0
    backoff_until: float | None = None
    stop_deadline: float | None = None  # STOPPING: when SIGKILL follows the stop signal
    kill_sent: bool = False
    start_after_stop: bool = False  # a restart was asked for while it was running
    reason: str | None = None  # why it is in BACKOFF, EXITED or FATAL, in words
    last_exit: JobExit | None = None


# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """``ctl start``, autostart, or `oomkit run` itself."""


@dataclass(frozen=True, slots=True)
class Stop:
    """``ctl stop`` or shutdown."""


@dataclass(frozen=True, slots=True)
class Restart:
    """``ctl restart``: stop, then start once it has stopped."""


@dataclass(frozen=True, slots=True)
class Spawned:
    """The exec succeeded; ``pid`` is running in the job's cgroup."""

    pid: int


@dataclass(frozen=True, slots=True)
class SpawnFailed:
    """The exec (or the setup before it) failed; ``permanent`` when retrying cannot help."""

    reason: str
    permanent: bool


@dataclass(frozen=True, slots=True)
class Exited:
    """The main process was reaped and its exit classified."""

    exit: JobExit


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed: a deadline (startsecs, backoff, stopwaitsecs) may be due."""


Event = Start | Stop | Restart | Spawned | SpawnFailed | Exited | Tick


# --- actions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spawn:
    """Start the command in the job's cgroup."""


@dataclass(frozen=True, slots=True)
class SendSignal:
    """Signal the main process, or its process group when ``group``."""

    sig: int
    group: bool


@dataclass(frozen=True, slots=True)
class KillAll:
    """SIGKILL the whole job: its process group (when ``group``) and everything in its cgroup."""

    group: bool


Action = Spawn | SendSignal | KillAll


@dataclass(frozen=True, slots=True)
class Decision:
    """The new record, the states entered on the way (in order), and the effects."""

    record: JobRecord
    path: tuple[JobState, ...] = ()
    actions: tuple[Action, ...] = ()
    note: str | None = None  # for requests that change nothing ("already running")


def _go(rec: JobRecord, *path: JobState, actions: tuple[Action, ...] = (), **changes: Any) -> Decision:
    new = replace(rec, state=path[-1], **changes)
    return Decision(new, tuple(path), actions)


def _stay(rec: JobRecord, note: str | None = None, **changes: Any) -> Decision:
    return Decision(replace(rec, **changes) if changes else rec, (), (), note)


def wants_restart(spec: ProgramSpec, x: JobExit) -> bool:
    """Whether ``autorestart`` restarts the job after this exit from RUNNING."""
    policy = spec.autorestart
    if policy is RestartPolicy.NEVER:
        return False
    if policy is RestartPolicy.ALWAYS:
        return True
    if policy is RestartPolicy.ON_OOM:
        return x.cause in (ExitCause.OOM_KILL, ExitCause.USERSPACE_KILL)
    # UNEXPECTED: Supervisor restarts unless it exited with one of exitcodes; a signal is unexpected.
    return not (x.cause is ExitCause.EXIT and x.exit_code in spec.exitcodes)


def _is_oom(x: JobExit) -> bool:
    return x.cause in (ExitCause.OOM_KILL, ExitCause.USERSPACE_KILL)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _start(rec: JobRecord) -> Decision:
    # STOPPED/EXITED/FATAL/BACKOFF -> STARTING: a request starts counting afresh.
    return _go(rec, S.STARTING, actions=(Spawn(),), failed_starts=0, restarts_in_row=0,
               oom_in_row=0, backoff_until=None, reason=None, start_after_stop=False, pid=None)


def _stop(spec: ProgramSpec, rec: JobRecord, now: float, then_start: bool) -> Decision:
    # STARTING/RUNNING -> STOPPING
    return _go(rec, S.STOPPING, actions=(SendSignal(spec.stopsignal, spec.stopasgroup),),
               stop_deadline=now + spec.stopwaitsecs, kill_sent=False, start_after_stop=then_start)


def decide(spec: ProgramSpec, rec: JobRecord, event: Event, now: float, u: float = 0.5) -> Decision:
    """The next step of one job (see the module docstring and docs/supervise.md)."""
    st = rec.state
    if isinstance(event, Start):
        if st in (S.STOPPED, S.EXITED, S.FATAL, S.BACKOFF):
            return _start(rec)  # * -> STARTING
        if st is S.STOPPING:
            return _stay(rec, "stopping; it will start once stopped", start_after_stop=True)
        return _stay(rec, f"already {st.value}")

    if isinstance(event, Stop):
        if st in (S.STARTING, S.RUNNING):
            return _stop(spec, rec, now, then_start=False)
        if st is S.BACKOFF:
            # BACKOFF -> STOPPED: cancel the pending restart
            return _go(rec, S.STOPPED, backoff_until=None, reason="stopped during backoff")
        if st is S.STOPPING:
            return _stay(rec, "already stopping", start_after_stop=False)
        return _stay(rec, f"not running ({st.value})")

    if isinstance(event, Restart):
        if st in (S.STARTING, S.RUNNING):
            return _stop(spec, rec, now, then_start=True)
        if st is S.STOPPING:
            return _stay(rec, "stopping; it will start once stopped", start_after_stop=True)
        return _start(rec)

    if isinstance(event, Spawned):
        if st is not S.STARTING:
            return _stay(rec, f"spawned while {st.value}")
        if spec.startsecs <= 0:
            # STARTING -> RUNNING at once: startsecs = 0 means "started" as soon as exec succeeds
            return _go(rec, S.RUNNING, pid=event.pid, started_at=now, failed_starts=0)
        return _stay(rec, pid=event.pid, started_at=now)

    if isinstance(event, SpawnFailed):
        if st is not S.STARTING:
            return _stay(rec, f"spawn failed while {st.value}")
        if event.permanent:
            # STARTING -> FATAL: the command cannot run as configured
            return _go(rec, S.FATAL, pid=None, reason=event.reason)
        return _failed_start(spec, rec, now, u, event.reason, None)

    if isinstance(event, Exited):
        return _exited(spec, rec, event.exit, now, u)

    # Tick: deadlines.
    if st is S.STARTING and rec.pid is not None and rec.started_at is not None \
            and now >= rec.started_at + spec.startsecs:
        # STARTING -> RUNNING: up for startsecs
        return _go(rec, S.RUNNING, failed_starts=0)
    if st is S.BACKOFF and rec.backoff_until is not None and now >= rec.backoff_until:
        # BACKOFF -> STARTING: the delay is over
        return _go(rec, S.STARTING, actions=(Spawn(),), backoff_until=None, pid=None)
    if st is S.STOPPING and not rec.kill_sent and rec.stop_deadline is not None \
            and now >= rec.stop_deadline:
        # STOPPING: stopwaitsecs passed; SIGKILL (no state change)
        return Decision(replace(rec, kill_sent=True), (), (KillAll(spec.killasgroup),),
                        "stopwaitsecs passed: SIGKILL")
    return _stay(rec)


def _failed_start(
    spec: ProgramSpec, rec: JobRecord, now: float, u: float, reason: str, x: JobExit | None
) -> Decision:
    failures = rec.failed_starts + 1
    oom_in_row = rec.oom_in_row + 1 if x is not None and _is_oom(x) else 0
    common: dict[str, Any] = {
        "pid": None, "failed_starts": failures, "oom_in_row": oom_in_row, "last_exit": x or rec.last_exit,
    }
    if failures > spec.startretries:
        # STARTING -> FATAL: startretries exhausted
        why = f"could not start: {reason} ({_plural(failures, 'attempt')})"
        return _go(rec, S.FATAL, reason=why, **common)
    if x is not None and _is_oom(x) and spec.oom_max_in_row is not None and oom_in_row >= spec.oom_max_in_row:
        return _go(rec, S.FATAL, reason=_oom_reason(spec, oom_in_row), **common)
    policy = spec.oom_backoff if (x is not None and _is_oom(x) and spec.oom_backoff) else spec.backoff
    wait = backoff.delay(policy, failures, u)
    # STARTING -> BACKOFF: retry after the delay
    return _go(rec, S.BACKOFF, backoff_until=now + wait,
               reason=f"{reason}; retry {failures} of {spec.startretries} in {wait:.1f}s", **common)


def _oom_reason(spec: ProgramSpec, n: int) -> str:
    limit = f" (memory_max {spec.memory_max} bytes)" if spec.memory_max else ""
    return (f"OOM-killed {_plural(n, 'time')} in a row; not restarting{limit}: raise memory_max or"
            " fix the leak, then `oomkit ctl start`")


def _exited(spec: ProgramSpec, rec: JobRecord, x: JobExit, now: float, u: float) -> Decision:
    st = rec.state
    if st is S.STOPPING:
        if rec.start_after_stop:
            # STOPPING -> STOPPED -> STARTING: a restart
            d = _start(replace(rec, state=S.STOPPED))
            return Decision(replace(d.record, last_exit=x), (S.STOPPED, S.STARTING), d.actions)
        # STOPPING -> STOPPED
        return _go(rec, S.STOPPED, pid=None, last_exit=x, reason=None, kill_sent=False,
                   stop_deadline=None)
    if st is S.STARTING:
        # STARTING -> BACKOFF/FATAL: exited before startsecs
        return _failed_start(spec, rec, now, u, f"exited too quickly ({x.detail})", x)
    if st is not S.RUNNING:
        return _stay(rec, f"exit while {st.value}", last_exit=x)

    uptime = now - rec.started_at if rec.started_at is not None else 0.0
    policy = spec.oom_backoff if (_is_oom(x) and spec.oom_backoff) else spec.backoff
    healthy = backoff.should_reset(policy, uptime)
    restarts = 0 if healthy else rec.restarts_in_row
    oom_in_row = (0 if healthy else rec.oom_in_row) + 1 if _is_oom(x) else 0
    common: dict[str, Any] = {
        "pid": None, "last_exit": x, "oom_in_row": oom_in_row, "restarts_in_row": restarts,
    }
    if not wants_restart(spec, x):
        # RUNNING -> EXITED
        why = f"{x.detail}; autorestart={spec.autorestart.value} does not restart it"
        return _go(rec, S.EXITED, reason=why, **common)
    if _is_oom(x) and spec.oom_max_in_row is not None and oom_in_row >= spec.oom_max_in_row:
        # RUNNING -> EXITED -> FATAL: the OOM policy's bound
        return _go(rec, S.EXITED, S.FATAL, reason=_oom_reason(spec, oom_in_row), **common)
    if spec.max_restarts is not None and restarts >= spec.max_restarts:
        # RUNNING -> EXITED -> FATAL: max_restarts in a row
        why = f"{x.detail}; gave up after {_plural(restarts, 'restart')} in a row (max_restarts)"
        return _go(rec, S.EXITED, S.FATAL, reason=why, **common)
    n = restarts + 1
    wait = backoff.delay(policy, n, u)
    # RUNNING -> EXITED -> BACKOFF
    return _go(rec, S.EXITED, S.BACKOFF, backoff_until=now + wait, restarts_total=rec.restarts_total + 1,
               reason=f"{x.detail}; restart {n} in {wait:.1f}s", **{**common, "restarts_in_row": n})


def next_deadline(spec: ProgramSpec, rec: JobRecord) -> float | None:
    """When this job next needs a Tick (monotonic), or None."""
    if rec.state is S.STARTING and rec.pid is not None and rec.started_at is not None:
        return rec.started_at + spec.startsecs
    if rec.state is S.BACKOFF:
        return rec.backoff_until
    if rec.state is S.STOPPING and not rec.kill_sent:
        return rec.stop_deadline
    return None
