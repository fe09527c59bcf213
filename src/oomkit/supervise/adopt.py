"""Job cgroups a dead supervisor left behind: found at start, and stopped (not re-adopted).

Ownership is a lock: a supervisor holds ``<state_dir>/<cgroup>.lock`` with flock(2)
for as long as it supervises that job. The kernel drops an flock lock when the last
descriptor of the open file closes, which includes the process dying by SIGKILL;
the descriptor is close-on-exec, so the job itself never inherits it. So at start:

* a job cgroup (``oomkit-job-*``) whose lock we can take has no living supervisor:
  it is an orphan, and it is stopped: its stop signal to every process, then
  SIGKILL after the grace period, then the cgroup is removed;
* a job cgroup whose lock is held belongs to a running supervisor: left alone.

Why stop instead of re-adopt (docs/supervise.md "Re-adoption"): the orphan is no
longer our child, so waitpid(2) cannot report its exit status (a pidfd can say
*that* it exited, not *how*; waitid(2) P_PIDFD also needs a child), and without a
status there is no classification and no restart policy. Its stdout/stderr pipes
lost their reader with the old supervisor, so its next write raises SIGPIPE
(signal(7): default action terminate) or EPIPE anyway.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from oomkit import jobcgroup
from oomkit.errors import OomkitError
from oomkit.jobcgroup import Hierarchy, JobCgroup

__all__ = ["JobLock", "Orphan", "default_state_dir", "stop_orphan", "sweep", "take_lock"]


def default_state_dir() -> Path:
    """``/run/oomkit/jobs`` as root, else ``$XDG_RUNTIME_DIR/oomkit/jobs`` (or /tmp/oomkit-UID/jobs)."""
    if os.geteuid() == 0:
        return Path("/run/oomkit/jobs")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return Path(runtime) / "oomkit" / "jobs" if runtime else Path(f"/tmp/oomkit-{os.getuid()}/jobs")


@dataclass(slots=True)
class JobLock:
    """A held lock on one job name; released by ``release()`` or by our death."""

    path: Path
    fd: int | None

    def release(self) -> None:
        """Remove the lock file, then unlock by closing (``take_lock`` re-checks the inode)."""
        if self.fd is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None


def take_lock(state_dir: Path, name: str) -> JobLock | int | None:
    """Lock ``name``: the JobLock, or the pid of the supervisor holding it (0 if unknown).

    flock(2) with LOCK_NB; the pid written inside is for messages only.
    """
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = state_dir / f"{name}.lock"
    for _ in range(10):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                try:
                    text = path.read_text().strip()
                except OSError:
                    text = ""
                return int(text) if text.isdecimal() else 0
            raise
        # The holder we waited for may have unlinked the file before unlocking: a lock on
        # an unlinked inode guards nothing, so check that the path is still our file.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return JobLock(path, fd)
        os.close(fd)
    return None


@dataclass(frozen=True, slots=True)
class Orphan:
    """A job cgroup found without a supervisor, and what was done about it."""

    cgroup: str
    pids: tuple[int, ...]
    outcome: str  # "stopped", "stopped with SIGKILL", "removed (empty)", "failed: ..."


def stop_orphan(cg: JobCgroup, sig: int = 15, grace_s: float = 10.0,
                sleep: Callable[[float], None] = time.sleep) -> str:
    """``sig`` to every process, SIGKILL after ``grace_s``, then remove the cgroup."""
    pids = cg.pids()
    outcome = "removed (empty)"
    if pids:
        jobcgroup.kill_all(cg, sig)
        deadline = time.monotonic() + grace_s
        while cg.pids() and time.monotonic() < deadline:
            sleep(0.05)
        outcome = "stopped"
        if cg.pids():
            outcome = "stopped with SIGKILL"
    try:
        jobcgroup.remove(cg)  # SIGKILLs whatever is left, then rmdir
    except OomkitError as exc:
        return f"failed: {exc}"
    return outcome


def sweep(
    hierarchy: Hierarchy, state_dir: Path, *, parent: str = "", prefix: str = jobcgroup.JOB_PREFIX,
    keep: Mapping[str, JobLock] | None = None, stop_signals: Mapping[str, tuple[int, float]] | None = None,
    default_grace_s: float = 10.0,
) -> list[Orphan]:
    """Stop every job cgroup no living supervisor holds.

    ``keep``: locks this supervisor already holds (its own programs: their cgroups are
    reused, after being emptied here). ``stop_signals``: cgroup name -> (signal, grace)
    from the configuration, for orphans of known programs; others get SIGTERM.
    """
    keep = keep or {}
    out: list[Orphan] = []
    for cg in jobcgroup.find_jobs(hierarchy, parent, prefix):
        name = cg.path.name
        lock: JobLock | int | None = keep.get(name)
        ours = lock is not None
        if lock is None:
            lock = take_lock(state_dir, name)
        if not isinstance(lock, JobLock):
            continue  # a living supervisor owns it
        pids = tuple(cg.pids())
        sig, grace = (stop_signals or {}).get(name, (15, default_grace_s))
        try:
            outcome = stop_orphan(cg, sig, grace)
        finally:
            if not ours:
                lock.release()
        out.append(Orphan(cg.rel, pids, outcome))
    return out
