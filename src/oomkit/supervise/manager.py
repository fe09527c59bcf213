"""Runs N programs in one poll loop: the entry point the daemon hosts and `oomkit run` uses.

One thread, no busy waiting. The loop sleeps in epoll_wait(2) until one of:

* a child exits: its pidfd polls readable (pidfd_open(2), Linux 5.3+). Without
  pidfds, SIGCHLD wakes the loop through a self-pipe (``signal.set_wakeup_fd``: the
  handler itself does nothing, as signal handlers should only record, style.md 7.7);
  off the main thread, where signal handlers cannot be installed, the loop checks
  every half second instead;
* a program writes output (its pipe polls readable);
* a deadline is due (startsecs, backoff, stopwaitsecs, pid sampling), from the
  monotonic clock;
* a reader registered with ``add_reader`` (the ctl socket) has something.

Idle programs therefore cost nothing between events. Hosting, for the daemon (whose
loop already polls its own fds): the manager's epoll descriptor is itself pollable
(epoll(7)), so one registration is enough::

    mgr = Manager(programs, log_dir=Path("/var/log/oomkit/programs"), sink=my_sink)
    mgr.start()
    poller.register(mgr.fileno(), select.POLLIN)
    ...                                    # in the loop:
    t = mgr.timeout()                      # seconds until its next deadline, or None
    timeout = timeout if t is None else min(timeout, t)
    if mgr.fileno() is ready or a deadline passed:
        mgr.poll(0)                        # handle what is ready, fire due deadlines
    ...
    mgr.shutdown()                         # on SIGTERM
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import signal
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oomkit.errors import OomkitError, UsageError
from oomkit.jobcgroup import JOB_PREFIX
from oomkit.models import JobState, JobStatus, ProgramSpec
from oomkit.supervise import adopt
from oomkit.supervise.clock import Clock, SystemClock
from oomkit.supervise.control import OsProcessControl, Placement, ProcessControl, cgroup_name
from oomkit.supervise.decide import Restart, Start, Stop, Tick
from oomkit.supervise.evidence import EvidenceSource, MachineEvidence
from oomkit.supervise.job import Job
from oomkit.supervise.logs import RotatingLog
from oomkit.supervise.sinks import EventSink, MultiSink
from oomkit.supervise.states import TERMINAL

__all__ = ["Manager", "Orphans"]

S = JobState
NO_WATCH_POLL_S = 0.5


@dataclass(frozen=True, slots=True)
class Orphans:
    """What the start-up sweep found."""

    stopped: tuple[adopt.Orphan, ...]


class Manager:
    """Supervises a set of programs. Not thread-safe: call it from one thread."""

    def __init__(
        self, programs: Sequence[ProgramSpec], *, clock: Clock | None = None,
        control: ProcessControl | None = None, sink: EventSink | None = None,
        evidence: EvidenceSource | None = None, rng: random.Random | None = None,
        log_dir: Path | None = None, passthrough: dict[str, int] | None = None,
        state_dir: Path | None = None, sweep_orphans: bool = True, sample_every_s: float = 30.0,
    ) -> None:
        names = [p.name for p in programs]
        dup = {n for n in names if names.count(n) > 1}
        if dup or "all" in names:
            raise UsageError(f"program names must be unique and not 'all': {', '.join(sorted(dup)) or 'all'}")
        self.programs = list(programs)
        self.clock = clock or SystemClock()
        self.control: ProcessControl = control or OsProcessControl()
        self.sink = MultiSink(*([sink] if sink is not None else []))
        self.evidence = evidence or MachineEvidence()
        self.rng = rng or random.Random()  # noqa: S311 - backoff jitter, not a secret
        self.log_dir = log_dir
        self.passthrough = passthrough
        self.state_dir = state_dir or adopt.default_state_dir()
        self.sweep_orphans = sweep_orphans
        self.sample_every_s = sample_every_s
        self.jobs: dict[str, Job] = {}
        self.blocked: dict[str, str] = {}  # programs that cannot run at all, and why
        self._retiring: set[str] = set()  # removed from the configuration, stopping
        self.locks: dict[str, adopt.JobLock] = {}
        self.orphans: tuple[adopt.Orphan, ...] = ()
        self.notes: list[str] = []
        self._readers: dict[int, Callable[[], None]] = {}
        self._ep = select.epoll(sizehint=64)  # O_CLOEXEC (epoll_create1(2))
        self._registered: set[int] = set()
        self._wakeup: tuple[int, int] | None = None
        self._old_wakeup: int | None = None
        self._next_sample: float | None = None
        self._watch = "none"
        self._signal_callbacks: dict[int, Callable[[int], None]] = {}

    # --- start-up ---------------------------------------------------------------------------

    @property
    def prefix(self) -> str:
        """The job cgroups' name prefix (the control's; ``oomkit-job-`` normally)."""
        return str(getattr(self.control, "prefix", JOB_PREFIX))

    def _lock(self, spec: ProgramSpec) -> str | None:
        name = cgroup_name(spec.name, self.prefix)
        try:
            got = adopt.take_lock(self.state_dir, name)
        except OSError as exc:
            self.notes.append(f"{self.state_dir}: cannot keep job locks ({exc.strerror}); orphans of"
                              " this supervisor will not be recognised")
            return None
        if isinstance(got, adopt.JobLock):
            self.locks[name] = got
            return None
        who = f"pid {got}" if got else "another process"
        return f"already supervised by {who} ({self.state_dir / (name + '.lock')})"

    def _sweep(self) -> None:
        hierarchy = getattr(self.control, "hierarchy", None)
        if not self.sweep_orphans or hierarchy is None or os.geteuid() != 0:
            return
        signals = {cgroup_name(p.name, self.prefix): (p.stopsignal, p.stopwaitsecs) for p in self.programs}
        try:
            parent = str(getattr(self.control, "parent", ""))
            self.orphans = tuple(adopt.sweep(hierarchy, self.state_dir, parent=parent, prefix=self.prefix,
                                             keep=self.locks, stop_signals=signals))
        except OSError as exc:
            self.notes.append(f"could not look for orphaned job cgroups: {exc}")

    def _add(self, spec: ProgramSpec) -> bool:
        """Set up a program's cgroup and job; False (and a reason in ``blocked``) if it fails."""
        try:
            placement = self.control.place(spec)
        except OomkitError as exc:
            self.blocked[spec.name] = f"cannot set up its cgroup: {exc}"
            return False
        self.jobs[spec.name] = self._job(spec, placement)
        return True

    def start(self, autostart: bool = True) -> None:
        """Lock each program, stop orphans, create cgroups, start the autostart programs."""
        for spec in self.programs:
            why = self._lock(spec)
            if why is not None:
                self.blocked[spec.name] = why
        self._sweep()
        for spec in self.programs:
            if spec.name not in self.blocked:
                self._add(spec)
        self._install_watch()
        now = self.clock.monotonic()
        self._next_sample = now + self.sample_every_s
        if autostart:
            for spec in self.programs:
                if spec.autostart and spec.name in self.jobs:
                    self.jobs[spec.name].handle(Start(), now)

    def _job(self, spec: ProgramSpec, placement: Placement) -> Job:
        log = None
        if spec.log_file or self.log_dir is not None:
            path = Path(spec.log_file) if spec.log_file else Path(self.log_dir or ".") / f"{spec.name}.log"
            log = RotatingLog(path, spec.log_maxbytes, spec.log_backups)
        return Job(spec, control=self.control, clock=self.clock, sink=self.sink, evidence=self.evidence,
                   placement=placement, rng=self.rng, log=log, passthrough=self.passthrough,
                   on_close=self._forget)

    def _install_watch(self) -> None:
        mode = getattr(self.control, "watch_mode", "none")  # a fake control is driven by run_once()
        if mode != "sigchld":
            self._watch = mode
            return
        if not self.on_signals({signal.SIGCHLD: lambda _: None}):
            self._watch = "poll"  # not the main thread: no handlers; check every half second
            return
        self._watch = "sigchld"

    def on_signals(self, callbacks: dict[int, Callable[[int], None]]) -> bool:
        """Run ``callbacks[sig](sig)`` from the loop when ``sig`` arrives; False off the main thread.

        The Python-level handler does nothing; the C-level one writes the signal number to
        a self-pipe (``signal.set_wakeup_fd``), poll() wakes, and ``on_readable`` dispatches
        by the bytes read: the handler only records, the loop acts (style.md 7.7).
        """
        if threading.current_thread() is not threading.main_thread():
            return False
        if self._wakeup is None:
            r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            self._wakeup = (r, w)
            self._old_wakeup = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        for sig, cb in callbacks.items():
            self._signal_callbacks[sig] = cb
            signal.signal(sig, lambda *_: None)
        return True

    # --- the loop ---------------------------------------------------------------------------

    def add_reader(self, fd: int, callback: Callable[[], None]) -> None:
        """Also wait for ``fd`` (e.g. the ctl socket); ``callback`` runs when it is readable."""
        self._readers[fd] = callback
        self._sync()

    def remove_reader(self, fd: int) -> None:
        """Stop waiting for ``fd`` (call before closing it)."""
        self._readers.pop(fd, None)
        self._forget(fd)

    def fileno(self) -> int:
        """The epoll descriptor: readable when any fd of the manager is (epoll(7))."""
        return self._ep.fileno()

    def timeout(self) -> float | None:
        """Seconds until the next deadline (0 when overdue), or None when nothing is due."""
        deadline = self.next_deadline()
        if self._watch == "poll" and any(j.child is not None for j in self.jobs.values()):
            deadline = min(deadline or float("inf"), self.clock.monotonic() + NO_WATCH_POLL_S)
        return None if deadline is None else max(0.0, deadline - self.clock.monotonic())

    def _forget(self, fd: int) -> None:
        """Unregister ``fd`` before it is closed: a closed fd leaves the epoll set by itself,
        and a reused number must not look registered already."""
        if fd in self._registered:
            self._registered.discard(fd)
            with contextlib.suppress(OSError):
                self._ep.unregister(fd)

    def _sync(self) -> None:
        for fd in set(self.fds()) - self._registered:
            try:
                self._ep.register(fd, select.EPOLLIN)
            except FileExistsError:
                self._ep.modify(fd, select.EPOLLIN)
            self._registered.add(fd)

    def fds(self) -> list[int]:
        """Every fd the loop waits on (for a host with its own loop)."""
        out = list(self._readers)
        if self._wakeup is not None:
            out.append(self._wakeup[0])
        for job in self.jobs.values():
            out.extend(job.outputs)
            if job.child is not None and job.child.pidfd is not None:
                out.append(job.child.pidfd)
        return out

    def on_readable(self, fd: int) -> None:
        """Handle one readable fd from ``fds()``."""
        if fd in self._readers:
            self._readers[fd]()
            return
        if self._wakeup is not None and fd == self._wakeup[0]:
            data = b""
            with contextlib.suppress(BlockingIOError):
                while chunk := os.read(fd, 512):
                    data += chunk
            for signum in dict.fromkeys(data):  # each byte is one signal number
                cb = self._signal_callbacks.get(signum)
                if cb is not None:
                    cb(signum)
            return
        for job in self.jobs.values():
            if fd in job.outputs:
                job.read_output(fd)
                return
        # a pidfd: run_once() reaps

    def next_deadline(self) -> float | None:
        """The earliest monotonic time something is due."""
        due = [d for d in (j.deadline() for j in self.jobs.values()) if d is not None]
        if self._next_sample is not None and any(j.child is not None for j in self.jobs.values()):
            due.append(self._next_sample)
        return min(due) if due else None

    def run_once(self, now: float | None = None) -> float | None:
        """Reap exits, fire due deadlines, sample; returns the next deadline."""
        now = self.clock.monotonic() if now is None else now
        for job in self.jobs.values():
            if job.child is not None:
                job.reap(now)
        for job in self.jobs.values():
            d = job.deadline()
            if d is not None and d <= now:
                job.handle(Tick(), now)
        if self._retiring:
            self._retire()
        if self._next_sample is not None and now >= self._next_sample:
            self._next_sample = now + self.sample_every_s
            for job in self.jobs.values():
                job.sample()
        return self.next_deadline()

    def poll(self, timeout: float | None = None) -> None:
        """Wait until something happens (at most ``timeout`` s, None = until the next event)."""
        if self._watch == "pidfd" and getattr(self.control, "watch_mode", "none") == "sigchld":
            self._install_watch()  # pidfd_open failed at a spawn (ENOSYS): switch to SIGCHLD
        self._sync()
        due = self.timeout()
        wait = due if timeout is None else (timeout if due is None else min(timeout, due))
        # epoll_wait(2) counts milliseconds; Python rounds the timeout up (ceil), so the loop
        # never wakes just before a deadline and spins.
        try:
            ready = self._ep.poll(-1 if wait is None else wait)
        except InterruptedError:  # PEP 475 retries EINTR, unless a handler raised
            ready = []
        for fd, _ in ready:
            self.on_readable(fd)
        self.run_once()
        self._sync()

    # --- requests (ctl verbs) ---------------------------------------------------------------

    def resolve(self, names: Iterable[str]) -> list[str]:
        """``["all"]`` -> every program; unknown names raise UsageError."""
        out: list[str] = []
        for n in names:
            if n == "all":
                out.extend(p.name for p in self.programs)
            elif n in self.jobs or n in self.blocked:
                out.append(n)
            else:
                known = ", ".join(p.name for p in self.programs) or "none"
                raise UsageError(f"no program named {n!r} (programs: {known})")
        return list(dict.fromkeys(out))

    def _request(self, name: str, event: Start | Stop | Restart) -> str:
        if name in self.blocked:
            return f"{name}: cannot run: {self.blocked[name]}"
        job = self.jobs[name]
        d = job.handle(event, self.clock.monotonic())
        if d.note:
            return f"{name}: {d.note}"
        return f"{name}: {job.record.state.value}"

    def start_program(self, name: str) -> str:
        """``ctl start NAME``."""
        return self._request(name, Start())

    def stop_program(self, name: str) -> str:
        """``ctl stop NAME``."""
        return self._request(name, Stop())

    def restart_program(self, name: str) -> str:
        """``ctl restart NAME``."""
        return self._request(name, Restart())

    def signal_program(self, name: str, sig: int) -> str:
        """``ctl signal SIG NAME``: to the main process (its group when stopasgroup)."""
        if name in self.blocked:
            return f"{name}: cannot run: {self.blocked[name]}"
        job = self.jobs[name]
        if job.child is None:
            return f"{name}: not running ({job.record.state.value})"
        self.control.signal(job.child, sig, job.spec.stopasgroup)
        return f"{name}: signalled"

    def status(self, name: str) -> JobStatus:
        """``ctl status NAME``."""
        now = self.clock.monotonic()
        if name in self.blocked:
            return JobStatus(name=name, state=S.STOPPED, pid=None, uptime_s=None, rss_kb=None,
                             peak_kb=None, limit_bytes=None, restarts=0, last_exit=None,
                             reason=self.blocked[name], memcg=None)
        return self.jobs[name].status(now)

    def log_path(self, name: str) -> Path | None:
        """The program's log file, if it has one."""
        job = self.jobs.get(name)
        return job.log.path if job is not None and job.log is not None else None

    # --- configuration reload ---------------------------------------------------------------

    def update(self, programs: Sequence[ProgramSpec]) -> dict[str, list[str]]:
        """Apply a new configuration (SIGHUP), as ``supervisorctl update`` does.

        Removed programs are stopped, then their cgroups removed; new ones are set up
        (and started if autostart); changed ones get the new settings (limits apply at
        once to the running job's cgroup) and are restarted if they were running.
        Unchanged programs are not touched. Returns the names per outcome.
        """
        names = [p.name for p in programs]
        if len(set(names)) != len(names) or "all" in names:
            raise UsageError("program names must be unique and not 'all'")
        now = self.clock.monotonic()
        new = {p.name: p for p in programs}
        out: dict[str, list[str]] = {"added": [], "removed": [], "changed": []}
        for name in [n for n in self.jobs if n not in new]:
            self.jobs[name].handle(Stop(), now)
            self._retiring.add(name)
            out["removed"].append(name)
        for name in [n for n in self.blocked if n not in new]:
            del self.blocked[name]
        for spec in programs:
            job = self.jobs.get(spec.name)
            if job is None or spec.name in self._retiring:
                if job is not None:  # removed and added back before it stopped: keep it
                    self._retiring.discard(spec.name)
                    job.spec = spec
                    continue
                why = self._lock(spec)
                if why is not None:
                    self.blocked[spec.name] = why
                    continue
                if not self._add(spec):
                    continue
                if spec.autostart:
                    self.jobs[spec.name].handle(Start(), now)
                out["added"].append(spec.name)
            elif spec != job.spec:
                was_up = job.record.state in (S.STARTING, S.RUNNING)
                job.spec = spec
                try:
                    job.placement = self.control.place(spec)
                except OomkitError as exc:
                    self.notes.append(f"{spec.name}: new limits not applied: {exc}")
                if was_up:
                    job.handle(Restart(), now)
                out["changed"].append(spec.name)
        self.programs = [*programs]
        self._sync()
        return out

    def _retire(self) -> None:
        """Finish removing programs whose process has ended."""
        for name in list(self._retiring):
            job = self.jobs[name]
            if job.child is None and job.record.state in TERMINAL:
                job.drain_output()
                job.close()
                self.control.release(job.placement)
                lock = self.locks.pop(cgroup_name(name, self.prefix), None)
                if lock is not None:
                    lock.release()
                del self.jobs[name]
                self._retiring.discard(name)

    # --- shutdown ---------------------------------------------------------------------------

    def busy(self) -> bool:
        """Whether any program still has a process, a pending restart or unread output."""
        return any(j.record.state not in TERMINAL or j.child is not None or j.outputs
                   for j in self.jobs.values())

    def stop_all(self) -> None:
        """Send every program its stop signal (BACKOFF ones just stop)."""
        now = self.clock.monotonic()
        for job in self.jobs.values():
            job.handle(Stop(), now)

    def shutdown(self, timeout: float | None = None) -> None:
        """Stop everything, wait for the exits (SIGKILL after stopwaitsecs), remove the cgroups."""
        self.stop_all()
        limit = timeout if timeout is not None else max(
            [j.spec.stopwaitsecs for j in self.jobs.values()] + [0.0]) + 5.0
        end = self.clock.monotonic() + limit
        while any(j.child is not None for j in self.jobs.values()) and self.clock.monotonic() < end:
            self.poll(0.2)
        for job in self.jobs.values():
            if job.child is not None:  # would not die: SIGKILL everything, reap what we can
                self.control.kill_all(job.placement, job.child, True)
            job.drain_output()
            job.close()
            self.control.release(job.placement)
        self.close()

    def close(self) -> None:
        """Release the locks and the SIGCHLD pipe (the cgroups stay, see ``shutdown``)."""
        for lock in self.locks.values():
            lock.release()
        self.locks.clear()
        if self._wakeup is not None:
            with contextlib.suppress(ValueError):
                signal.set_wakeup_fd(self._old_wakeup if self._old_wakeup is not None else -1)
                for sig in self._signal_callbacks:
                    signal.signal(sig, signal.SIG_DFL)
            self._signal_callbacks.clear()
            for fd in self._wakeup:
                self._forget(fd)
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._wakeup = None
        self._ep.close()

    def describe(self) -> dict[str, Any]:
        """How this manager watches children and where its state lives (for `doctor`, logs)."""
        return {"watch": self._watch, "state_dir": str(self.state_dir),
                "log_dir": str(self.log_dir) if self.log_dir else None,
                "programs": [p.name for p in self.programs], "blocked": dict(self.blocked)}
