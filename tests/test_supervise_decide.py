"""The pure decisions: Supervisor's semantics, restart policies, OOM bound, backoff. No OS."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from oomkit.models import BackoffPolicy, ExitCause, JobExit, JobState, ProgramSpec, RestartPolicy
from oomkit.supervise.decide import (
    Decision,
    Event,
    Exited,
    JobRecord,
    KillAll,
    Restart,
    SendSignal,
    Spawn,
    Spawned,
    SpawnFailed,
    Start,
    Stop,
    Tick,
    decide,
    next_deadline,
    wants_restart,
)

S = JobState
NOW = datetime(2026, 11, 26, tzinfo=timezone.utc)
FLAT = BackoffPolicy(initial_s=1.0, maximum_s=8.0, factor=2.0, jitter=0.0, reset_after_s=60.0)
SPEC = ProgramSpec(name="j", command=("j",), startsecs=1.0, startretries=3, backoff=FLAT,
                   oom_max_in_row=2)


def ex(cause: ExitCause, code: int | None = None, sig: int | None = None) -> JobExit:
    return JobExit(name="j", pid=1, cause=cause, exit_code=code, signal=sig, core_dumped=False,
                   memcg=None, peak_rss_kb=None, memcg_peak_kb=None, oom_kills=None, wall_s=1.0,
                   started=NOW, ended=NOW, detail=f"{cause.value}")


EXIT0, EXIT1 = ex(ExitCause.EXIT, 0), ex(ExitCause.EXIT, 1)
OOM = ex(ExitCause.OOM_KILL, sig=9)
USER_OOM = ex(ExitCause.USERSPACE_KILL, sig=15)
CRASH = ex(ExitCause.CRASH, sig=11)


def run(spec: ProgramSpec, events: list[tuple[float, Event]], rec: JobRecord | None = None) -> list[Decision]:
    """Feed events in order; return every decision."""
    rec = rec or JobRecord()
    out = []
    for now, e in events:
        d = decide(spec, rec, e, now, 0.5)
        rec = d.record
        out.append(d)
    return out


def running(spec: ProgramSpec = SPEC, at: float = 0.0) -> JobRecord:
    ds = run(spec, [(at, Start()), (at, Spawned(10)), (at + spec.startsecs, Tick())])
    assert ds[-1].record.state is S.RUNNING
    return ds[-1].record


def test_start_spawns_and_startsecs_makes_it_running() -> None:
    d1, d2, d3, d4 = run(SPEC, [(0, Start()), (0, Spawned(10)), (0.5, Tick()), (1.0, Tick())])
    assert d1.path == (S.STARTING,) and d1.actions == (Spawn(),)
    assert d2.record.pid == 10 and d2.path == ()
    assert d3.path == ()  # not yet
    assert d4.path == (S.RUNNING,)
    assert next_deadline(SPEC, d2.record) == 1.0


def test_startsecs_zero_is_running_at_once() -> None:
    spec = SPEC._replace(startsecs=0)
    _, d = run(spec, [(0, Start()), (0, Spawned(10))])
    assert d.path == (S.RUNNING,)


def test_exit_before_startsecs_backs_off_then_goes_fatal_after_startretries() -> None:
    rec = JobRecord()
    waits = []
    for attempt in range(1, 5):
        start = Start() if attempt == 1 else Tick()
        t = 100.0 * attempt
        (d,) = run(SPEC, [(t, start)], rec)
        assert d.path == (S.STARTING,)
        (d,) = run(SPEC, [(t, Spawned(attempt))], d.record)
        (d,) = run(SPEC, [(t + 0.1, Exited(EXIT1))], d.record)
        rec = d.record
        if attempt <= SPEC.startretries:
            assert d.path == (S.BACKOFF,)
            waits.append(rec.backoff_until - (t + 0.1))  # type: ignore[operator]
            rec = replace(rec, backoff_until=100.0 * (attempt + 1))
        else:
            assert d.path == (S.FATAL,)
            assert "4 attempts" in (rec.reason or "")
    assert waits == pytest.approx([1.0, 2.0, 4.0])  # Supervisor: 1, 2, 3 s; here doubling


def test_permanent_spawn_failure_is_fatal_at_once_with_the_reason() -> None:
    _, d2 = run(SPEC, [(0, Start()), (0, SpawnFailed("command 'nope' not found on PATH", True))])
    assert d2.path == (S.FATAL,)
    assert d2.record.reason == "command 'nope' not found on PATH"


def test_transient_spawn_failure_backs_off() -> None:
    _, d = run(SPEC, [(0, Start()), (0, SpawnFailed("fork: EAGAIN", False))])
    assert d.path == (S.BACKOFF,)
    assert d.record.backoff_until == 1.0


@pytest.mark.parametrize(("policy", "x", "restarts"), [
    (RestartPolicy.NEVER, EXIT1, False), (RestartPolicy.NEVER, OOM, False),
    (RestartPolicy.UNEXPECTED, EXIT0, False), (RestartPolicy.UNEXPECTED, EXIT1, True),
    (RestartPolicy.UNEXPECTED, CRASH, True), (RestartPolicy.UNEXPECTED, OOM, True),
    (RestartPolicy.ON_OOM, EXIT1, False), (RestartPolicy.ON_OOM, CRASH, False),
    (RestartPolicy.ON_OOM, OOM, True), (RestartPolicy.ON_OOM, USER_OOM, True),
    (RestartPolicy.ALWAYS, EXIT0, True),
])
def test_autorestart_semantics(policy: RestartPolicy, x: JobExit, restarts: bool) -> None:
    spec = SPEC._replace(autorestart=policy)
    assert wants_restart(spec, x) is restarts
    (d,) = run(spec, [(10, Exited(x))], running(spec))
    assert d.path == ((S.EXITED, S.BACKOFF) if restarts else (S.EXITED,))


def test_exitcodes_say_what_is_expected() -> None:
    spec = SPEC._replace(exitcodes=(0, 2))
    assert not wants_restart(spec, ex(ExitCause.EXIT, 2))
    assert wants_restart(spec, ex(ExitCause.EXIT, 1))


def test_restart_loop_is_bounded_by_max_restarts() -> None:
    spec = SPEC._replace(autorestart=RestartPolicy.ALWAYS, max_restarts=3)
    rec, t, paths, delays = running(spec), 10.0, [], []
    for _ in range(4):
        (d,) = run(spec, [(t, Exited(EXIT1))], rec)
        paths.append(d.path)
        if d.record.state is S.FATAL:
            break
        delays.append(d.record.backoff_until - t)  # type: ignore[operator]
        t = d.record.backoff_until  # type: ignore[assignment]
        rec = run(spec, [(t, Tick()), (t, Spawned(5)), (t + 1, Tick())], d.record)[-1].record
        t += 2
    assert paths == [(S.EXITED, S.BACKOFF)] * 3 + [(S.EXITED, S.FATAL)]
    assert delays == [1.0, 2.0, 4.0]
    assert "gave up after 3 restarts" in (d.record.reason or "")


def test_oom_kills_in_a_row_go_fatal_and_a_healthy_run_resets_the_count() -> None:
    spec = SPEC._replace(autorestart=RestartPolicy.ALWAYS, oom_max_in_row=2)
    (d,) = run(spec, [(10, Exited(OOM))], running(spec))
    assert d.path == (S.EXITED, S.BACKOFF) and d.record.oom_in_row == 1
    # restarted, ran 61 s (longer than reset_after), OOM again: counts as the first in a row
    rec = run(spec, [(20, Tick()), (20, Spawned(2)), (21, Tick())], d.record)[-1].record
    (d,) = run(spec, [(82, Exited(OOM))], rec)
    assert d.path == (S.EXITED, S.BACKOFF) and d.record.oom_in_row == 1
    assert d.record.backoff_until == 83.0  # first delay again
    rec = run(spec, [(90, Tick()), (90, Spawned(3)), (91, Tick())], d.record)[-1].record
    (d,) = run(spec, [(92, Exited(OOM))], rec)
    assert d.path == (S.EXITED, S.FATAL)
    assert "OOM-killed 2 times in a row" in (d.record.reason or "")


def test_an_ordinary_exit_breaks_an_oom_streak() -> None:
    spec = SPEC._replace(autorestart=RestartPolicy.ALWAYS, oom_max_in_row=2)
    rec = replace(running(spec), oom_in_row=1)
    (d,) = run(spec, [(10, Exited(EXIT1))], rec)
    assert d.record.oom_in_row == 0


def test_oom_backoff_is_used_for_oom_kills() -> None:
    slow = BackoffPolicy(initial_s=30.0, maximum_s=600.0, jitter=0.0)
    spec = SPEC._replace(autorestart=RestartPolicy.ALWAYS, oom_backoff=slow)
    (d,) = run(spec, [(10, Exited(OOM))], running(spec))
    assert d.record.backoff_until == 40.0
    (d,) = run(spec, [(10, Exited(EXIT1))], running(spec))
    assert d.record.backoff_until == 11.0


def test_stop_sends_stopsignal_then_sigkill_after_stopwaitsecs() -> None:
    spec = SPEC._replace(stopsignal=2, stopwaitsecs=5.0, stopasgroup=True, killasgroup=True)
    d1, d2, d3, d4 = run(spec, [(10, Stop()), (14, Tick()), (15, Tick()), (16, Tick())], running(spec))
    assert d1.path == (S.STOPPING,) and d1.actions == (SendSignal(2, True),)
    assert d2.actions == ()
    assert d3.actions == (KillAll(True),)
    assert d4.actions == ()  # SIGKILL once
    (d5,) = run(spec, [(16, Exited(ex(ExitCause.SIGNAL, sig=9)))], d4.record)
    assert d5.path == (S.STOPPED,)


def test_stop_while_in_backoff_cancels_the_restart() -> None:
    spec = SPEC._replace(autorestart=RestartPolicy.ALWAYS)
    (d,) = run(spec, [(10, Exited(CRASH))], running(spec))
    assert d.record.state is S.BACKOFF
    d1, d2 = run(spec, [(10.5, Stop()), (30, Tick())], d.record)
    assert d1.path == (S.STOPPED,) and d1.record.backoff_until is None
    assert d2.path == () and d2.actions == ()
    assert next_deadline(spec, d1.record) is None


def test_restart_stops_then_starts() -> None:
    d1, d2 = run(SPEC, [(10, Restart()), (11, Exited(ex(ExitCause.SIGNAL, sig=15)))], running(SPEC))
    assert d1.path == (S.STOPPING,)
    assert d2.path == (S.STOPPED, S.STARTING) and d2.actions == (Spawn(),)


def test_start_from_fatal_starts_counting_afresh() -> None:
    rec = replace(JobRecord(), state=S.FATAL, failed_starts=4, oom_in_row=2, reason="x")
    (d,) = run(SPEC, [(0, Start())], rec)
    assert d.path == (S.STARTING,)
    assert (d.record.failed_starts, d.record.oom_in_row, d.record.reason) == (0, 0, None)


@pytest.mark.parametrize(("state", "event", "note"), [
    (S.RUNNING, Start(), "already RUNNING"), (S.STOPPED, Stop(), "not running (STOPPED)"),
    (S.FATAL, Stop(), "not running (FATAL)"),
])
def test_requests_that_change_nothing_say_why(state: JobState, event: Event, note: str) -> None:
    (d,) = run(SPEC, [(0, event)], replace(JobRecord(), state=state, pid=1, started_at=0.0))
    assert d.path == () and d.note == note
