"""Why a job's main process ended: exit, OOM kill, userspace killer, signal or crash. Pure.

Evidence, strongest first (docs/kernel-oom.md 4.4, "was PID X OOM-killed?"):

1. The wait status (waitpid(2): WIFEXITED/WEXITSTATUS, WIFSIGNALED/WTERMSIG,
   WCOREDUMP). An OOM kill is always SIGKILL, but SIGKILL alone is necessary, not
   sufficient.
2. The job cgroup's ``oom_kill`` counter, before and after the run (v2
   ``memory.events``, v1 ``memory.oom_control`` since 4.13). mm/oom_kill.c
   ``__oom_kill_process`` raises it *before* sending SIGKILL, so a reaped victim's
   counter has always moved already.
3. The kernel's report (``Killed process PID`` / ``oom-kill:...task_memcg=``), printed
   just *after* the SIGKILL: it names the victim, the limit hit and the numbers.
4. A userspace killer's own line (earlyoom, systemd-oomd, nohang, oomd) naming the
   job's pid or cgroup; these kill with SIGTERM and/or SIGKILL and move no kernel
   counter.

Crash signals are the "Core" actions of signal(7) that a process brings on itself
(SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS, SIGTRAP), or any core dump.
SIGQUIT, SIGXCPU and SIGXFSZ also dump core by default but come from outside or
from a resource limit, so they count as "signal" unless a core was written.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from oomkit.models import EventKind, ExitCause, JobExit, Killer, OomEvent
from oomkit.supervise.units import signal_name

__all__ = [
    "CRASH_SIGNALS",
    "ExitFacts",
    "WaitStatus",
    "classify",
    "decode_wait_status",
    "kernel_events_for",
    "needs_logs",
    "userspace_events_for",
]

CRASH_SIGNALS = frozenset({
    signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT, signal.SIGSYS,
    signal.SIGTRAP,
})
# Userspace killers log with a wall clock of one-second resolution (syslog), so allow slack.
WALL_SLACK = timedelta(seconds=2)
UPTIME_SLACK = 1.0


@dataclass(frozen=True, slots=True)
class WaitStatus:
    """A decoded wait status: exactly one of ``exit_code`` and ``signal`` is set."""

    exit_code: int | None
    signal: int | None
    core_dumped: bool = False


def decode_wait_status(status: int) -> WaitStatus:
    """waitpid(2) status -> WaitStatus (WIFEXITED/WEXITSTATUS, WIFSIGNALED/WTERMSIG/WCOREDUMP)."""
    if os.WIFSIGNALED(status):
        return WaitStatus(None, os.WTERMSIG(status), os.WCOREDUMP(status))
    if os.WIFEXITED(status):
        return WaitStatus(os.WEXITSTATUS(status), None, False)
    # Stopped/continued statuses are only reported with WUNTRACED/WCONTINUED, which we never pass.
    raise ValueError(f"wait status {status:#x} is neither an exit nor a signal")


@dataclass(frozen=True, slots=True)
class ExitFacts:
    """What the supervisor knows about one ended run, before reading any log."""

    name: str
    pid: int
    status: WaitStatus
    memcg: str | None
    oom_kills_before: int | None
    oom_kills_after: int | None
    peak_rss_kb: int | None
    memcg_peak_kb: int | None
    started_mono: float  # CLOCK_MONOTONIC, comparable with printk stamps (both stop in suspend)
    ended_mono: float
    started: datetime
    ended: datetime
    pids: frozenset[int] = frozenset()  # every pid seen in the job (main + sampled children)
    expected: bool = False  # oomkit sent the signal (stop, restart, shutdown)

    @property
    def oom_delta(self) -> int | None:
        """How many processes of the cgroup the OOM killer killed during the run."""
        if self.oom_kills_before is None or self.oom_kills_after is None:
            return None
        return max(0, self.oom_kills_after - self.oom_kills_before)

    @property
    def all_pids(self) -> frozenset[int]:
        """The main pid and every other pid seen in the job."""
        return self.pids | {self.pid}


def needs_logs(facts: ExitFacts) -> bool:
    """Whether the kernel/killer logs can change the verdict (plain exits with no OOM: no)."""
    if facts.status.signal is not None:
        return facts.status.signal not in CRASH_SIGNALS or bool(facts.oom_delta)
    return bool(facts.oom_delta)


def _in_window(e: OomEvent, f: ExitFacts) -> bool | None:
    """True/False when the event's time says in/out of the run; None when undated."""
    t = e.time
    if t.uptime_s is not None:
        return f.started_mono - UPTIME_SLACK <= t.uptime_s <= f.ended_mono + UPTIME_SLACK
    if t.wall is not None:
        wall = t.wall if t.wall.tzinfo is not None else t.wall.replace(tzinfo=f.started.tzinfo)
        return f.started - WALL_SLACK <= wall <= f.ended + WALL_SLACK
    return None


def _victim_pids(e: OomEvent) -> set[int]:
    pids = {v.pid for v in e.extra_victims if v.pid is not None}
    if e.victim is not None and e.victim.pid is not None:
        pids.add(e.victim.pid)
    return pids


def _in_cgroup(path: str | None, memcg: str | None) -> bool:
    if not path or not memcg:
        return False
    path = path.rstrip("/") or "/"
    return path == memcg or (memcg.startswith(path + "/") and path != "/")


def kernel_events_for(f: ExitFacts, events: Sequence[OomEvent]) -> list[OomEvent]:
    """The kernel OOM kills of this run: a job pid as victim, or the job's cgroup as task_memcg."""
    out = []
    for e in events:
        if e.killer is not Killer.KERNEL or e.kind is not EventKind.OOM_KILL:
            continue
        if _in_window(e, f) is False:
            continue
        if _victim_pids(e) & f.all_pids or (e.task_memcg is not None and e.task_memcg == f.memcg):
            out.append(e)
    return out


def userspace_events_for(f: ExitFacts, events: Sequence[OomEvent]) -> list[OomEvent]:
    """Userspace killers' kills of this job: its pid as victim, or a cgroup containing the job's."""
    out = []
    for e in events:
        if e.kind is not EventKind.USERSPACE_KILL or e.killer is Killer.KERNEL:
            continue
        when = _in_window(e, f)
        if when is False:
            continue
        by_pid = bool(_victim_pids(e) & f.all_pids)
        # A cgroup match needs a date: a cgroup name is reused by every run of the job.
        by_cgroup = when is True and (_in_cgroup(e.memcg, f.memcg) or _in_cgroup(e.task_memcg, f.memcg))
        if by_pid or by_cgroup:
            out.append(e)
    return out


def _main_first(events: list[OomEvent], pid: int) -> OomEvent | None:
    for e in events:
        if pid in _victim_pids(e):
            return e
    return events[-1] if events else None


def _describe_kernel(e: OomEvent) -> str:
    v = e.victim
    who = f"{v.name} (pid {v.pid})" if v is not None else "a process"
    rss = f", anon-rss {v.anon_rss_kb} kB" if v is not None and v.anon_rss_kb is not None else ""
    if e.global_oom:
        where = "the whole machine was out of memory"
    elif e.memcg:
        limit = f" ({e.memory.limit_kb} kB)" if e.memory is not None and e.memory.limit_kb else ""
        where = f"cgroup {e.memcg} hit its limit{limit}"
    else:
        where = "out of memory"
    return f"kernel log: Killed process {who}{rss}; {where}"


def classify(f: ExitFacts, events: Sequence[OomEvent] = ()) -> JobExit:
    """The cause of one exit, with the facts it rests on (docs/supervise.md "Classification")."""
    st = f.status
    delta = f.oom_delta
    kernel = kernel_events_for(f, events)
    evidence: list[str] = []
    if st.exit_code is not None:
        evidence.append(f"wait status: exited with code {st.exit_code}")
    else:
        assert st.signal is not None
        core = " (core dumped)" if st.core_dumped else ""
        evidence.append(f"wait status: killed by {signal_name(st.signal)}{core}")
    if delta is not None:
        evidence.append(f"cgroup {f.memcg} oom_kill counter: +{delta}")
    elif f.memcg is None:
        evidence.append("no memory cgroup: no oom_kill counter to read")
    ev = _main_first(kernel, f.pid)
    if ev is not None:
        evidence.append(_describe_kernel(ev))

    def done(cause: ExitCause, detail: str, killer: str | None = None,
             event: OomEvent | None = None) -> JobExit:
        return JobExit(
            name=f.name, pid=f.pid, cause=cause, exit_code=st.exit_code, signal=st.signal,
            core_dumped=st.core_dumped, memcg=f.memcg, peak_rss_kb=f.peak_rss_kb,
            memcg_peak_kb=f.memcg_peak_kb, oom_kills=delta, wall_s=max(0.0, f.ended_mono - f.started_mono),
            started=f.started, ended=f.ended, killer=killer, detail=detail,
            evidence=tuple(evidence), event=event, expected=f.expected,
        )

    if st.exit_code is not None:
        if delta and st.exit_code != 0:
            return done(ExitCause.OOM_KILL, (
                f"a process in its cgroup was OOM-killed ({delta}) and the job then exited with code"
                f" {st.exit_code}"), "kernel", ev)
        if delta:
            evidence.append("a process in the cgroup was OOM-killed, but the job exited with 0")
        return done(ExitCause.EXIT, f"exited with code {st.exit_code}")

    sig = st.signal
    assert sig is not None
    if sig == signal.SIGKILL:
        main_killed = any(f.pid in _victim_pids(e) for e in kernel)
        # Every kill the counter saw is in the log, and none was the main process: the
        # main process's SIGKILL came from somewhere else.
        others_only = bool(kernel) and not main_killed and delta is not None and len(kernel) >= delta
        if main_killed or (delta and not others_only):
            return done(ExitCause.OOM_KILL, "killed by the kernel OOM killer", "kernel", ev)
        if others_only:
            evidence.append("the kernel log accounts for every counted OOM kill; none was the main process")
    killers = userspace_events_for(f, events)
    if killers:
        k = killers[-1]
        evidence.append(f"{k.killer.value} log: {k.reason or 'killed it'}"
                        f" ({k.source.path}{':' + str(k.source.line) if k.source.line else ''})")
        return done(ExitCause.USERSPACE_KILL, f"killed by {k.killer.value} ({signal_name(sig)})",
                    k.killer.value, k)
    if f.expected:
        return done(ExitCause.SIGNAL, f"stopped by oomkit ({signal_name(sig)})")
    if sig in CRASH_SIGNALS or st.core_dumped:
        core = ", core dumped" if st.core_dumped else ""
        return done(ExitCause.CRASH, f"crashed: {signal_name(sig)}{core}")
    where = "" if delta is None else ", no OOM kill counted"
    return done(ExitCause.SIGNAL, f"killed by {signal_name(sig)} from outside{where}, no killer log line")
