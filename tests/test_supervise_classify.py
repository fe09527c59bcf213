"""Classification of exits from the wait status, the cgroup counter and real log lines. Pure."""

from __future__ import annotations

import signal
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from oomkit.kernel_log import parse_text
from oomkit.models import ExitCause, OomEvent
from oomkit.supervise.classify import ExitFacts, WaitStatus, classify, decode_wait_status, needs_logs
from tests.conftest import KERNEL_LOGS
from tests.supervise_fakes import exited, signalled

T0 = datetime(2026, 11, 26, 12, 0, 0, tzinfo=timezone.utc)
# victim 3901 in /oomkit-fixture-3tasks at uptime 4218.09
KERNEL_CASE = "local-6.18-memcg-v1-3tasks-adj500-dmesg.log"
EARLYOOM_CASE = "public-earlyoom-1.8-journal-oom-score-process-mrelease.log"
OOMD_CASE = "public-systemd-oomd-249-journal-killed-due-to-memory-pressure.log"


def facts(status: WaitStatus, before: int | None = 0, after: int | None = 0, pid: int = 3901,
          memcg: str | None = "/oomkit-fixture-3tasks", **kw: object) -> ExitFacts:
    base = ExitFacts(name="job", pid=pid, status=status, memcg=memcg, oom_kills_before=before,
                     oom_kills_after=after, peak_rss_kb=30000, memcg_peak_kb=32768,
                     started_mono=4210.0, ended_mono=4218.5, started=T0,
                     ended=T0 + timedelta(seconds=8.5))
    return replace(base, **kw)  # type: ignore[arg-type]


def kernel_events() -> list[OomEvent]:
    return parse_text((KERNEL_LOGS / KERNEL_CASE).read_text())


def earlyoom_log(pid: int, when: datetime) -> str:
    """The real earlyoom 1.8 lines, with the victim's pid and the time changed."""
    lines = (KERNEL_LOGS / EARLYOOM_CASE).read_text().splitlines()[:3]
    stamp = when.strftime("%b %d %H:%M:%S")
    return "\n".join(line.replace("Aug 04 23:41:26", stamp).replace("1024668", str(pid)) for line in lines)


def parse_text_at(text: str) -> list[OomEvent]:
    """Year-less syslog stamps read relative to T0 (as a file's mtime is used in real runs)."""
    return parse_text(text, reference=T0 + timedelta(minutes=1))


def test_decode_wait_status() -> None:
    assert decode_wait_status(exited(0)) == WaitStatus(0, None, False)
    assert decode_wait_status(exited(3)) == WaitStatus(3, None, False)
    assert decode_wait_status(signalled(9)) == WaitStatus(None, 9, False)
    assert decode_wait_status(signalled(6, core=True)) == WaitStatus(None, 6, True)


@pytest.mark.parametrize(("code", "cause"), [
    (0, ExitCause.EXIT), (1, ExitCause.EXIT), (137, ExitCause.EXIT),
])
def test_plain_exits(code: int, cause: ExitCause) -> None:
    x = classify(facts(WaitStatus(code, None)))
    assert (x.cause, x.exit_code, x.signal) == (cause, code, None)
    assert not needs_logs(facts(WaitStatus(code, None)))


def test_sigkill_with_the_counter_and_the_kernel_line_is_an_oom_kill() -> None:
    x = classify(facts(WaitStatus(None, 9), 0, 1), kernel_events())
    assert x.cause is ExitCause.OOM_KILL and x.killer == "kernel"
    assert x.event is not None and x.event.victim is not None and x.event.victim.pid == 3901
    assert any("hit its limit" in e for e in x.evidence)
    assert any("oom_kill counter: +1" in e for e in x.evidence)


def test_the_counter_alone_is_enough() -> None:
    x = classify(facts(WaitStatus(None, 9), 4, 5), [])
    assert x.cause is ExitCause.OOM_KILL and x.event is None


def test_a_global_oom_without_a_cgroup_is_found_by_pid() -> None:
    x = classify(facts(WaitStatus(None, 9), None, None, memcg=None), kernel_events())
    assert x.cause is ExitCause.OOM_KILL


def test_sigkill_without_counter_or_line_is_a_signal_from_outside() -> None:
    f = facts(WaitStatus(None, 9), 2, 2)
    assert needs_logs(f)
    x = classify(f, [])
    assert x.cause is ExitCause.SIGNAL and "from outside" in x.detail


def test_a_kernel_line_from_before_the_run_is_not_evidence() -> None:
    f = facts(WaitStatus(None, 9), 0, 0, started_mono=5000.0, ended_mono=5010.0)
    x = classify(f, kernel_events())
    assert x.cause is ExitCause.SIGNAL


def test_when_the_log_shows_only_a_child_was_oom_killed_the_main_sigkill_came_from_outside() -> None:
    x = classify(facts(WaitStatus(None, 9), 0, 1, pid=3900), kernel_events())
    assert x.cause is ExitCause.SIGNAL
    assert any("none was the main process" in e for e in x.evidence)


def test_a_child_oom_kill_then_a_failing_exit_is_an_oom_kill() -> None:
    x = classify(facts(WaitStatus(1, None), 0, 1, pid=3900), kernel_events())
    assert x.cause is ExitCause.OOM_KILL and "exited with code 1" in x.detail


def test_a_child_oom_kill_survived_is_still_a_clean_exit() -> None:
    x = classify(facts(WaitStatus(0, None), 0, 1, pid=3900))
    assert x.cause is ExitCause.EXIT and x.oom_kills == 1


@pytest.mark.parametrize(("sig", "core", "cause"), [
    (signal.SIGSEGV, False, ExitCause.CRASH), (signal.SIGABRT, True, ExitCause.CRASH),
    (signal.SIGBUS, False, ExitCause.CRASH), (signal.SIGFPE, False, ExitCause.CRASH),
    (signal.SIGQUIT, False, ExitCause.SIGNAL), (signal.SIGQUIT, True, ExitCause.CRASH),
    (signal.SIGTERM, False, ExitCause.SIGNAL), (signal.SIGINT, False, ExitCause.SIGNAL),
])
def test_crash_signals(sig: int, core: bool, cause: ExitCause) -> None:
    x = classify(facts(WaitStatus(None, int(sig), core)), [])
    assert x.cause is cause


def test_a_real_earlyoom_line_naming_the_job_is_a_userspace_kill() -> None:
    events = parse_text_at(earlyoom_log(3901, T0 + timedelta(seconds=8)))
    x = classify(facts(WaitStatus(None, 15), 0, 0), events)
    assert x.cause is ExitCause.USERSPACE_KILL and x.killer == "earlyoom"
    assert "killed by earlyoom (SIGTERM)" in x.detail
    assert any("low memory" in e for e in x.evidence)


def test_an_earlyoom_kill_of_another_pid_or_time_is_not_ours() -> None:
    other = parse_text_at(earlyoom_log(4000, T0 + timedelta(seconds=8)))
    assert classify(facts(WaitStatus(None, 15)), other).cause is ExitCause.SIGNAL
    stale = parse_text_at(earlyoom_log(3901, T0 - timedelta(hours=1)))
    assert classify(facts(WaitStatus(None, 15)), stale).cause is ExitCause.SIGNAL


def test_a_child_named_by_earlyoom_counts_when_it_was_seen_in_the_job() -> None:
    events = parse_text_at(earlyoom_log(3950, T0 + timedelta(seconds=8)))
    x = classify(facts(WaitStatus(None, 9), pids=frozenset({3950})), events)
    assert x.cause is ExitCause.USERSPACE_KILL


def test_systemd_oomd_kills_the_cgroup_the_job_is_in() -> None:
    events = parse_text((KERNEL_LOGS / OOMD_CASE).read_text())
    scope = events[0].memcg
    assert scope is not None and events[0].time.wall is not None
    at = events[0].time.wall
    f = facts(WaitStatus(None, 9), None, None, memcg=scope + "/oomkit-job-x",
              started=at - timedelta(seconds=60), ended=at + timedelta(seconds=1))
    x = classify(f, events)
    assert x.cause is ExitCause.USERSPACE_KILL and x.killer == "systemd-oomd"


def test_our_own_stop_is_a_signal_from_oomkit() -> None:
    x = classify(facts(WaitStatus(None, 15), expected=True), [])
    assert x.cause is ExitCause.SIGNAL and x.detail == "stopped by oomkit (SIGTERM)" and x.expected
