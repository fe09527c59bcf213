"""A real OOM kill on demand: a memory hog in a small memory cgroup. Used by `oomkit demo` and tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from oomkit import jobcgroup
from oomkit.errors import AccessDenied, OomkitError

# Allocates 1 MiB at a time and touches every page, so the memory is really
# charged (an untouched malloc only grows total-vm).
HOG = (
    "import sys\n"
    "b = []\n"
    "while True:\n"
    "    b.append(bytearray(1 << 20))\n"
)


@dataclass(frozen=True, slots=True)
class DemoKill:
    """The outcome of one hog run."""

    pid: int
    returncode: int
    cgroup: str  # as the kernel prints it
    oom_kills: int | None  # the cgroup's oom_kill counter afterwards
    started: float  # time.time() at start
    ended: float


def run_hog(
    name: str | None = None, limit_mb: int = 32, comm: str = "oomkit-hog", timeout: float = 30.0,
) -> DemoKill:
    """Run a hog in a fresh memory cgroup until the kernel kills it; remove the cgroup."""
    if os.geteuid() != 0:
        raise AccessDenied("oomkit demo needs root: it creates a memory cgroup (sudo oomkit demo)")
    cg = jobcgroup.create(name or f"oomkit-demo-{os.getpid()}", limit_mb << 20)

    def enter() -> None:  # runs in the child before exec: join the cgroup
        with open(cg.procs, "w") as f:
            f.write(str(os.getpid()))

    started = time.time()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", f"import ctypes;ctypes.CDLL(None).prctl(15, b'{comm}');" + HOG],
            preexec_fn=enter,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise OomkitError(f"the hog was not killed within {timeout:.0f} s") from None
        return DemoKill(
            pid=proc.pid, returncode=rc, cgroup=cg.rel, oom_kills=cg.oom_kills(),
            started=started, ended=time.time(),
        )
    finally:
        jobcgroup.remove(cg)


def was_oom_killed(result: DemoKill) -> bool:
    """SIGKILL plus the cgroup's oom_kill counter moving: the kernel OOM killer did it."""
    return result.returncode == -signal.SIGKILL and bool(result.oom_kills)
