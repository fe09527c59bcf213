"""The process-control port: spawn, signal, reap, and the job's cgroup. Tests use a fake.

``ProcessControl`` is everything the state machine's effects need from the OS, as
Supervisor's ``options.fork/kill/waitpid`` (and its ``DummyOptions`` in tests).
``OsProcessControl`` is the real one:

* each job runs in its own memory cgroup (``oomkit-job-<name>``), joined by the child
  itself between fork and exec, so that everything the command allocates is charged
  there (memory.rst 8 "move_charge_at_immigrate": charges do not follow a task that
  moves later);
* the child calls setsid(2) (``start_new_session``), so the job's processes form one
  process group that ``killpg(2)`` reaches (Supervisor's stopasgroup/killasgroup);
* the command is an argv list, exec'd directly: no shell parses it;
* exits are seen through a pidfd (pidfd_open(2), Linux 5.3+) that polls readable when
  the child exits, then reaped with wait4(2) for the status and ``ru_maxrss``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from oomkit import jobcgroup
from oomkit.errors import OomkitError
from oomkit.jobcgroup import Hierarchy, JobCgroup, MemoryLimits
from oomkit.models import ProgramSpec

__all__ = [
    "Child", "MemoryNow", "OsProcessControl", "Placement", "ProcessControl", "Reaped", "SpawnError",
    "cgroup_name", "systemd_booted",
]


class SpawnError(OomkitError):
    """The command could not be started; ``permanent`` when a retry cannot help."""

    def __init__(self, reason: str, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a job's processes go: a memory cgroup, a systemd scope, or nowhere in particular."""

    cgroup: JobCgroup | None
    via: str  # "cgroup v1", "cgroup v2", "systemd-run --user --scope", "no cgroup"
    notes: tuple[str, ...] = ()  # settings not applied, and why
    wrapper: tuple[str, ...] = ()  # argv prefix (systemd-run ...) or empty


@dataclass(slots=True)
class Child:
    """One running main process."""

    pid: int
    started_mono: float
    started: datetime
    oom_kills_before: int | None
    pidfd: int | None = None  # readable once the process has exited
    stdout: int | None = None  # read ends of its output pipes (non-blocking)
    stderr: int | None = None
    handle: object | None = None  # the Popen, held so subprocess never reaps it behind our back
    pids_seen: set[int] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Reaped:
    """A reaped child: its raw wait status and peak RSS."""

    status: int
    maxrss_kb: int | None  # getrusage(2) ru_maxrss: kilobytes on Linux


@dataclass(frozen=True, slots=True)
class MemoryNow:
    """A job's memory now, in bytes (None = unknown or unlimited)."""

    usage: int | None
    peak: int | None
    limit: int | None


class ProcessControl(Protocol):
    """Every OS effect the supervisor has. Methods never block for long."""

    def place(self, spec: ProgramSpec) -> Placement:
        """Create (or reuse) the job's cgroup with its limits."""

    def spawn(self, spec: ProgramSpec, placement: Placement, *, capture: bool, now: float,
              wall: datetime) -> Child:
        """Start the command; raises SpawnError."""

    def signal(self, child: Child, sig: int, group: bool) -> None:
        """Send ``sig`` to the main process or its process group; a gone process is ignored."""

    def kill_all(self, placement: Placement, child: Child | None, group: bool) -> int:
        """SIGKILL the process group (when ``group``) and everything in the cgroup; how many."""

    def has_exited(self, child: Child) -> bool:
        """Whether ``child`` has exited, without reaping it (its pid stays reserved)."""

    def reap(self, child: Child) -> Reaped | None:
        """The exit of ``child`` if it has exited (never blocks), else None."""

    def oom_kills(self, placement: Placement) -> int | None:
        """The cgroup's oom_kill counter."""

    def pids(self, placement: Placement, child: Child | None) -> tuple[int, ...]:
        """Processes of the job now."""

    def memory(self, placement: Placement, child: Child | None) -> MemoryNow:
        """Usage, peak and limit."""

    def release(self, placement: Placement) -> None:
        """Kill what is left and remove the cgroup (shutdown)."""

    def close(self, child: Child) -> None:
        """Close the child's pidfd (after reaping)."""


def cgroup_name(program: str, prefix: str = jobcgroup.JOB_PREFIX) -> str:
    """The cgroup directory of a program: ``oomkit-job-<name>`` with unsafe characters replaced."""
    safe = "".join(c if c.isalnum() or c in "-_.@" else "_" for c in program)
    return prefix + safe


def systemd_booted(run: Path = Path("/run/systemd/system")) -> bool:
    """sd_booted(3): systemd is PID 1 when /run/systemd/system/ exists."""
    return run.is_dir()


# EACCES/ENOENT/ENOEXEC and friends from execve(2) or chdir(2): the configuration is wrong.
_PERMANENT = {errno.ENOENT, errno.EACCES, errno.ENOEXEC, errno.ENOTDIR, errno.EISDIR, errno.ELOOP,
              errno.ENAMETOOLONG, errno.EPERM, errno.EINVAL}


def _status_kb(text: str, key: str) -> int | None:
    for line in text.splitlines():
        if line.startswith(key + ":"):
            parts = line.split()
            return int(parts[1]) if len(parts) > 1 and parts[1].isdecimal() else None
    return None


class OsProcessControl:
    """The real port: cgroups under the memory hierarchy, fork/exec, pidfds, wait4."""

    def __init__(
        self, hierarchy: Hierarchy | None = None, *, parent: str = "",
        prefix: str = jobcgroup.JOB_PREFIX, use_cgroups: bool = True, use_pidfd: bool = True,
    ) -> None:
        self.parent = parent
        self.prefix = prefix
        self.use_pidfd = use_pidfd and hasattr(os, "pidfd_open")
        # How the manager learns of exits: pidfds, or SIGCHLD where pidfd_open is missing.
        self.watch_mode = "pidfd" if self.use_pidfd else "sigchld"
        self.is_root = os.geteuid() == 0
        self.hierarchy = (hierarchy or jobcgroup.find_memory_hierarchy()) if use_cgroups else None

    # --- placement ---------------------------------------------------------------------------

    def place(self, spec: ProgramSpec) -> Placement:
        """A cgroup as root; a delegated systemd user scope without root; else nothing, said."""
        limits = MemoryLimits(spec.memory_max, spec.memory_high, spec.swap_max)
        asked = any(v is not None for v in (spec.memory_max, spec.memory_high, spec.swap_max))
        if self.hierarchy is not None and self.is_root:
            cg, notes = jobcgroup.create_limited(
                cgroup_name(spec.name, self.prefix), limits, self.hierarchy, self.parent)
            return Placement(cg, f"cgroup v{cg.version}", notes)
        if not self.is_root and systemd_booted() and shutil.which("systemd-run"):
            # A transient scope under the user's systemd: memory limits without root
            # (systemd-run(1) --user --scope; systemd.resource-control(5) MemoryMax=...).
            props = []
            for key, value in (("MemoryMax", spec.memory_max), ("MemoryHigh", spec.memory_high),
                               ("MemorySwapMax", spec.swap_max)):
                if value is not None:
                    props += ["-p", f"{key}={value}"]
            wrapper = ("systemd-run", "--user", "--scope", "--quiet", *props, "--")
            return Placement(None, "systemd-run --user --scope", (
                "OOM kills are classified from the kernel log only (no cgroup counter read)",), wrapper)
        why = ("no memory cgroup controller is mounted" if self.hierarchy is None and self.is_root
               else "not root, and no systemd user manager to delegate a scope (systemd is not PID 1)"
               if not self.is_root else "cgroups are turned off")
        note = f"{why}: running without a memory limit" if asked else f"{why}: no job cgroup"
        return Placement(None, "no cgroup", (note,))

    # --- spawning ----------------------------------------------------------------------------

    def _argv(self, spec: ProgramSpec, placement: Placement, env: dict[str, str]) -> list[str]:
        if not spec.command:
            raise SpawnError("empty command", permanent=True)
        exe = spec.command[0]
        if "/" not in exe:
            found = shutil.which(exe, path=env.get("PATH", os.defpath))
            if found is None:
                raise SpawnError(f"command {exe!r} not found on PATH; give its full path or set PATH"
                                 " in the program's environment", permanent=True)
            exe = found
        else:
            path = Path(spec.directory or ".") / exe if not exe.startswith("/") else Path(exe)
            if not path.exists():
                raise SpawnError(f"command {exe!r}: no such file", permanent=True)
            if not os.access(path, os.X_OK) or path.is_dir():
                raise SpawnError(f"command {exe!r}: not an executable file", permanent=True)
        return [*placement.wrapper, exe, *spec.command[1:]]

    def _env(self, spec: ProgramSpec, user: pwd.struct_passwd | None) -> dict[str, str]:
        env = dict(os.environ)
        if user is not None:  # as login(1) would, unless the program's environment says otherwise
            env.update(HOME=user.pw_dir, USER=user.pw_name, LOGNAME=user.pw_name)
        env["OOMKIT_PROGRAM_NAME"] = spec.name
        env.update(dict(spec.environment))
        return env

    def spawn(self, spec: ProgramSpec, placement: Placement, *, capture: bool, now: float,
              wall: datetime) -> Child:
        """fork, join the cgroup, set oom_score_adj, drop privileges, exec. Raises SpawnError."""
        user: pwd.struct_passwd | None = None
        if spec.user is not None:
            try:
                user = pwd.getpwnam(spec.user)
            except KeyError:
                raise SpawnError(f"user {spec.user!r} does not exist", permanent=True) from None
            if not self.is_root and user.pw_uid != os.geteuid():
                raise SpawnError(f"user {spec.user!r}: switching users needs root", permanent=True)
        if spec.directory is not None and not Path(spec.directory).is_dir():
            raise SpawnError(f"directory {spec.directory!r} does not exist", permanent=True)
        env = self._env(spec, user)
        argv = self._argv(spec, placement, env)
        cg = placement.cgroup
        before = cg.oom_kills() if cg is not None else None
        if cg is not None:
            jobcgroup.reset_peak(cg)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        procs = str(cg.procs) if cg is not None else None
        adj = spec.oom_score_adj

        def in_child() -> None:  # between fork and exec: keep to plain syscalls (fork(2), one thread)
            step = ""
            try:
                if procs is not None:
                    step = f"joining cgroup {procs}"
                    fd = os.open(procs, os.O_WRONLY)
                    try:
                        os.write(fd, str(os.getpid()).encode())  # cgroups(7): moves the whole process
                    finally:
                        os.close(fd)
                if adj is not None:
                    step = f"setting oom_score_adj {adj}"
                    fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
                    try:
                        os.write(fd, str(adj).encode())
                    finally:
                        os.close(fd)
                if user is not None:
                    # preexec_fn runs after subprocess's own setuid step (CPython
                    # Modules/_posixsubprocess.c child_exec()), so switch here, after the root-only
                    # writes above: groups, then gid, then uid (initgroups(3), setgid(2), setuid(2)).
                    step = f"switching to user {user.pw_name}"
                    os.initgroups(user.pw_name, user.pw_gid)
                    os.setgid(user.pw_gid)
                    os.setuid(user.pw_uid)
            except OSError as exc:
                hint = ""
                if exc.errno == errno.EACCES and step.startswith("setting oom_score_adj"):
                    hint = " (lowering oom_score_adj needs CAP_SYS_RESOURCE, proc(5))"
                os.write(err_w, f"{step}: {exc.strerror}{hint}".encode())
                raise

        stdin = None if spec.stdin_inherit else subprocess.DEVNULL
        # Our own pipes, so the read ends are plain fds we own (no file objects to double-close).
        pipes = (*os.pipe2(os.O_CLOEXEC), *os.pipe2(os.O_CLOEXEC)) if capture else None
        out_w = pipes[1] if pipes is not None else None
        errout_w = pipes[3] if pipes is not None else None
        try:
            proc = subprocess.Popen(
                argv, cwd=spec.directory, env=env, stdin=stdin, stdout=out_w, stderr=errout_w,
                start_new_session=True, preexec_fn=in_child, pass_fds=(err_w,), close_fds=True,
                umask=spec.umask if spec.umask is not None else -1,
            )
        except subprocess.SubprocessError:
            close_fds(pipes or ())
            os.close(err_w)
            reason = os.read(err_r, 4096).decode("utf-8", "replace") or "setup before exec failed"
            os.close(err_r)
            raise SpawnError(reason, permanent=True) from None
        except OSError as exc:
            close_fds(pipes or ())
            os.close(err_w)
            os.close(err_r)
            what = exc.filename or argv[0]
            raise SpawnError(f"cannot execute {what!r}: {exc.strerror}",
                             permanent=exc.errno in _PERMANENT) from None
        os.close(err_w)
        os.close(err_r)
        if pipes is not None:
            close_fds((pipes[1], pipes[3]))  # the child has its copies as fds 1 and 2
        # Popen returned: the exec succeeded (subprocess waits for its CLOEXEC error pipe to close).
        child = Child(pid=proc.pid, started_mono=now, started=wall, oom_kills_before=before,
                      handle=proc)
        if self.use_pidfd:
            try:
                child.pidfd = os.pidfd_open(proc.pid)  # works on the zombie too: we have not reaped it
            except OSError:  # ENOSYS on Linux < 5.3: fall back to SIGCHLD for good
                child.pidfd = None
                self.use_pidfd = False
                self.watch_mode = "sigchld"
        if pipes is not None:
            child.stdout, child.stderr = pipes[0], pipes[2]
            os.set_blocking(child.stdout, False)
            os.set_blocking(child.stderr, False)
        child.pids_seen.add(proc.pid)
        return child

    # --- signals and reaping -----------------------------------------------------------------

    def signal(self, child: Child, sig: int, group: bool) -> None:
        """kill(2), or killpg(2) on the group setsid made (pgid == pid)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group:
                os.killpg(child.pid, sig)
            else:
                os.kill(child.pid, sig)

    def kill_all(self, placement: Placement, child: Child | None, group: bool) -> int:
        """SIGKILL the group and the cgroup's members; returns how many cgroup members were hit."""
        if child is not None and group:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
        elif child is not None:
            self.signal(child, signal.SIGKILL, False)
        if placement.cgroup is None:
            return 0
        return jobcgroup.kill_all(placement.cgroup, signal.SIGKILL)

    def has_exited(self, child: Child) -> bool:
        """waitid(P_PID, WEXITED | WNOHANG | WNOWAIT) (waitid(2)): peek, leaving the zombie.

        While the zombie is not reaped its pid, and so its process group id, cannot be
        reused: killpg() on it can only reach the job's own leftovers.
        """
        try:
            info = os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None and info.si_pid == child.pid

    def reap(self, child: Child) -> Reaped | None:
        """wait4(pid, WNOHANG) (wait4(2)): status and rusage of an exited child."""
        try:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        except ChildProcessError:  # ECHILD: reaped elsewhere, the status is lost; report exit 255
            self._mark_reaped(child, 0)
            return Reaped(status=255 << 8, maxrss_kb=None)
        if pid == 0:
            return None
        self._mark_reaped(child, status)
        return Reaped(status=status, maxrss_kb=int(usage.ru_maxrss) if usage is not None else None)

    @staticmethod
    def _mark_reaped(child: Child, status: int) -> None:
        proc = child.handle
        if isinstance(proc, subprocess.Popen):
            # Tell subprocess the child is gone so it never waits on a recycled pid.
            proc.returncode = os.waitstatus_to_exitcode(status) if status else 0

    def close(self, child: Child) -> None:
        """Close the pidfd and let go of the Popen (its pipes are closed by the output reader)."""
        if child.pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(child.pidfd)
            child.pidfd = None

    # --- reading the cgroup ------------------------------------------------------------------

    def oom_kills(self, placement: Placement) -> int | None:
        """memory.events / memory.oom_control ``oom_kill``."""
        return placement.cgroup.oom_kills() if placement.cgroup is not None else None

    def pids(self, placement: Placement, child: Child | None) -> tuple[int, ...]:
        """cgroup.procs, or just the main pid without a cgroup."""
        if placement.cgroup is not None:
            return tuple(placement.cgroup.pids())
        return (child.pid,) if child is not None else ()

    def memory(self, placement: Placement, child: Child | None) -> MemoryNow:
        """The cgroup's usage/peak/limit, or the main process's VmRSS/VmHWM (proc(5))."""
        cg = placement.cgroup
        if cg is not None:
            return MemoryNow(jobcgroup.memory_current(cg), jobcgroup.memory_peak(cg),
                             jobcgroup.memory_limit(cg))
        if child is None:
            return MemoryNow(None, None, None)
        try:
            text = Path(f"/proc/{child.pid}/status").read_text()
        except OSError:
            return MemoryNow(None, None, None)
        rss, hwm = _status_kb(text, "VmRSS"), _status_kb(text, "VmHWM")
        return MemoryNow(rss * 1024 if rss is not None else None,
                         hwm * 1024 if hwm is not None else None, None)

    def release(self, placement: Placement) -> None:
        """Remove the cgroup, killing anything still in it."""
        if placement.cgroup is not None:
            with contextlib.suppress(OomkitError):
                jobcgroup.remove(placement.cgroup)


def close_fds(fds: Sequence[int | None]) -> None:
    """Close each fd that is open; errors ignored."""
    for fd in fds:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
