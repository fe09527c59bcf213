"""The manager and the ctl protocol over a fake ProcessControl and a fake clock: no processes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from oomkit.errors import UsageError
from oomkit.models import BackoffPolicy, ExitCause, JobState, ProgramSpec, RestartPolicy
from oomkit.supervise.control import Reaped, SpawnError
from oomkit.supervise.ctl_protocol import decode, encode, status_lines
from oomkit.supervise.ctl_server import handle_request
from oomkit.supervise.evidence import FileEvidence, NoEvidence
from oomkit.supervise.manager import Manager
from tests.supervise_fakes import SIGKILL, SIGTERM, FakeClock, FakeControl, RecordingSink, exited, signalled

S = JobState
FAST = BackoffPolicy(initial_s=1.0, maximum_s=4.0, factor=2.0, jitter=0.0, reset_after_s=60.0)


def spec(name: str = "a", **kw: object) -> ProgramSpec:
    base = ProgramSpec(name=name, command=(name,), startsecs=1.0, backoff=FAST, stopwaitsecs=5.0)
    return base._replace(**kw)  # type: ignore[arg-type]


def manager(tmp_path: Path, *specs: ProgramSpec, evidence: object = None
            ) -> tuple[Manager, FakeControl, FakeClock, RecordingSink]:
    control, clock, sink = FakeControl(), FakeClock(), RecordingSink()
    m = Manager(list(specs), clock=clock, control=control, sink=sink,
                evidence=evidence or NoEvidence(), state_dir=tmp_path / "locks")  # type: ignore[arg-type]
    m.start()
    return m, control, clock, sink


def step(m: Manager, clock: FakeClock, seconds: float) -> None:
    clock.advance(seconds)
    m.run_once()


def states(m: Manager, name: str = "a") -> list[tuple[str, str]]:
    return [(f.value, t.value) for _, f, t, _ in m.jobs[name].history]


def test_autostart_runs_after_startsecs_and_not_autostart_waits(tmp_path: Path) -> None:
    m, control, clock, _ = manager(tmp_path, spec("a"), spec("b", autostart=False))
    assert m.status("a").state is S.STARTING and m.status("b").state is S.STOPPED
    step(m, clock, 1.0)
    st = m.status("a")
    assert st.state is S.RUNNING and st.pid == control.pid_of("a") and st.uptime_s == 1.0
    assert st.rss_kb == 4096 and st.peak_kb == 8192


def test_a_restart_loop_is_bounded_and_reported(tmp_path: Path) -> None:
    m, control, clock, sink = manager(
        tmp_path, spec("a", autorestart=RestartPolicy.ALWAYS, max_restarts=2, startsecs=0))
    for _ in range(3):
        control.exit("a", exited(1))
        step(m, clock, 0.1)
        if m.status("a").state is S.BACKOFF:
            step(m, clock, m.status("a").backoff_left_s or 0)
    assert m.status("a").state is S.FATAL
    assert [(x.cause, r) for x, r in sink.exits] == [(ExitCause.EXIT, True)] * 2 + [(ExitCause.EXIT, False)]
    assert len(control.spawned) == 3
    assert "gave up after 2 restarts" in (m.status("a").reason or "")


def test_stop_while_in_backoff(tmp_path: Path) -> None:
    m, control, clock, _ = manager(tmp_path, spec("a", autorestart=RestartPolicy.ALWAYS, startsecs=0))
    control.exit("a", signalled(11))
    step(m, clock, 0.1)
    assert m.status("a").state is S.BACKOFF
    assert m.stop_program("a") == "a: STOPPED"
    step(m, clock, 30)
    assert m.status("a").state is S.STOPPED and len(control.spawned) == 1
    assert m.next_deadline() is None


def test_stop_signals_the_group_then_kills_the_cgroup(tmp_path: Path) -> None:
    m, control, clock, _ = manager(tmp_path, spec("a"))
    step(m, clock, 1)
    pid = control.pid_of("a")
    m.stop_program("a")
    assert control.signals == [(pid, SIGTERM, True)]
    step(m, clock, 5)
    assert control.killed_all == ["/oomkit-job-a"]
    control.exit("a", signalled(SIGKILL))
    step(m, clock, 0.1)
    assert m.status("a").state is S.STOPPED
    assert m.status("a").last_exit.detail == "stopped by oomkit (SIGKILL)"  # type: ignore[union-attr]


def test_a_bad_command_goes_fatal_with_the_reason(tmp_path: Path) -> None:
    control, clock = FakeControl(), FakeClock()
    control.fail_spawn["a"] = SpawnError("command 'nope' not found on PATH", permanent=True)
    m = Manager([spec("a")], clock=clock, control=control, evidence=NoEvidence(),
                state_dir=tmp_path / "locks")
    m.start()
    st = m.status("a")
    assert st.state is S.FATAL and st.reason == "command 'nope' not found on PATH"
    assert not m.busy()


def test_oom_kills_counted_by_the_cgroup(tmp_path: Path) -> None:
    m, control, clock, sink = manager(tmp_path, spec("a", autorestart=RestartPolicy.ON_OOM, startsecs=0,
                                                     oom_max_in_row=2))
    control.exit("a", signalled(SIGKILL), oom=True)
    step(m, clock, 0.1)
    assert sink.exits[-1][0].cause is ExitCause.OOM_KILL and sink.exits[-1][1]
    step(m, clock, 1.0)
    control.exit("a", signalled(SIGKILL), oom=True)
    step(m, clock, 0.1)
    assert m.status("a").state is S.FATAL
    assert "OOM-killed 2 times in a row" in (m.status("a").reason or "")


def test_a_userspace_killer_line_in_a_killer_log(tmp_path: Path) -> None:
    log = tmp_path / "earlyoom.log"
    m, control, clock, sink = manager(
        tmp_path, spec("a", startsecs=0, autorestart=RestartPolicy.NEVER, killer_logs=(str(log),)),
        evidence=FileEvidence())
    pid = control.pid_of("a")
    when = (clock.wall() + timedelta(seconds=1)).astimezone()
    log.write_text(f"{when:%b %d %H:%M:%S} host earlyoom[5]: low memory! at or below SIGTERM limits: mem"
                   f" 10.00%, swap 10.00%\n{when:%b %d %H:%M:%S} host earlyoom[5]: sending SIGTERM to"
                   f' process {pid} uid 0 "a": oom_score 800, VmRSS 79 MiB, cmdline "a"\n')
    control.exit("a", signalled(SIGTERM))
    step(m, clock, 1.0)
    x = sink.exits[-1][0]
    assert x.cause is ExitCause.USERSPACE_KILL and x.killer == "earlyoom"


def test_a_second_supervisor_of_the_same_job_is_refused(tmp_path: Path) -> None:
    m, *_ = manager(tmp_path, spec("a"))
    other = Manager([spec("a")], clock=FakeClock(), control=FakeControl(), evidence=NoEvidence(),
                    state_dir=tmp_path / "locks")
    other.start()
    assert "already supervised by pid" in other.blocked["a"]
    assert "cannot run" in other.start_program("a")
    m.close()
    third = Manager([spec("a")], clock=FakeClock(), control=FakeControl(), evidence=NoEvidence(),
                    state_dir=tmp_path / "locks")
    third.start()
    assert "a" not in third.blocked


def test_shutdown_stops_everything_and_releases(tmp_path: Path) -> None:
    m, control, clock, _ = manager(tmp_path, spec("a"), spec("b"))

    def poll(timeout: float | None = None) -> None:  # each poll, whatever was signalled dies
        for pid, _sig, _g in control.signals:
            if pid in control.alive and pid not in control.exits:
                control.exits[pid] = Reaped(signalled(SIGTERM), 1)
        clock.advance(0.2)
        m.run_once()

    m.poll = poll  # type: ignore[method-assign]
    m.shutdown()
    assert sorted(control.released) == ["/oomkit-job-a", "/oomkit-job-b"]
    assert all(m.status(n).state is S.STOPPED for n in ("a", "b"))


def test_duplicate_or_reserved_names_are_refused() -> None:
    with pytest.raises(UsageError):
        Manager([spec("a"), spec("a")], control=FakeControl())
    with pytest.raises(UsageError):
        Manager([spec("all")], control=FakeControl())


def test_ctl_requests(tmp_path: Path) -> None:
    m, control, clock, _ = manager(tmp_path, spec("a"), spec("b", autostart=False))
    step(m, clock, 1)
    r = handle_request(m, decode(encode({"verb": "status", "names": ["all"]})))
    assert r["ok"] and [x["state"] for x in r["result"]] == ["RUNNING", "STOPPED"]
    assert r["result"][0]["limit_bytes"] is None and r["result"][0]["rss_kb"] == 4096
    lines = status_lines(r["result"])
    assert lines[0].split()[:3] == ["NAME", "STATE", "PID"] and "RUNNING" in lines[1]
    r = handle_request(m, {"verb": "start", "names": ["b"]})
    assert r["result"] == [{"name": "b", "message": "b: STARTING", "state": "STARTING"}]
    r = handle_request(m, {"verb": "signal", "names": ["a"], "signal": "HUP"})
    assert r["ok"] and control.signals[-1][1] == 1
    assert handle_request(m, {"verb": "stop", "names": ["nope"]}) == {
        "ok": False, "error": "no program named 'nope' (programs: a, b)"}
    assert not handle_request(m, {"verb": "reboot"})["ok"]
    assert not handle_request(m, {"verb": "signal", "names": ["a"], "signal": "NOPE"})["ok"]
    assert "has no log file" in handle_request(m, {"verb": "tail", "names": ["a"]})["error"]
    assert handle_request(m, {"verb": "ping"})["result"]["programs"] == ["a", "b"]


def test_update_adds_removes_and_restarts_changed_programs(tmp_path: Path) -> None:
    m, control, clock, _ = manager(tmp_path, spec("keep"), spec("gone"), spec("edit"))
    step(m, clock, 1)
    keep_pid = control.pid_of("keep")
    out = m.update([spec("keep"), spec("edit", memory_max=64 << 20), spec("new")])
    assert out == {"added": ["new"], "removed": ["gone"], "changed": ["edit"]}
    assert m.status("keep").pid == keep_pid and m.status("keep").state is S.RUNNING
    assert m.status("gone").state is S.STOPPING and m.status("edit").state is S.STOPPING
    assert m.status("new").state is S.STARTING
    control.exit("gone", signalled(SIGTERM))
    control.exit("edit", signalled(SIGTERM))
    step(m, clock, 0.1)
    assert "gone" not in m.jobs and "/oomkit-job-gone" in control.released
    assert m.jobs["edit"].spec.memory_max == 64 << 20
    assert m.status("edit").state is S.STARTING  # restarted with the new settings
    with pytest.raises(UsageError, match="no program named 'gone'"):
        m.resolve(["gone"])
