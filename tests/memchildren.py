"""Child processes of known size and oom_score_adj for the live tests, always reaped.

A child is ``python -c CHILD`` that optionally moves itself into a cgroup
(writes its pid to ``cgroup.procs`` *before* allocating, so the memory is
charged there), sets its oom_score_adj, touches ``mib`` MiB of anonymous
memory, reports "ready" on a pipe and sleeps until killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

CHILD = r"""
import os, sys, time
procs, mib, adj, step, fd = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
stop = sys.argv[7]  # "-" or a memory.events / memory.oom_control file: stop after a kill


def kills():
    with open(stop) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("oom_kill "))


before = kills() if stop != "-" else 0
if procs != "-":
    with open(procs, "w") as f:
        f.write(str(os.getpid()))
if adj != "-":
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write(adj)
keep = []
done = 0
while done < mib:
    n = min(step or mib, mib - done)
    keep.append(b"\x01" * (n << 20))  # bytes filled with 1s: every page is touched
    done += n
    if stop != "-" and kills() > before:
        break  # the kernel has killed someone: stop pushing
try:
    os.write(fd, b"r")
except BrokenPipeError:
    pass  # started with wait=False: nobody listens
while True:
    time.sleep(3600)
"""


def has_cap_sys_resource() -> bool:
    """Whether this process may lower oom_score_adj below 0 (CAP_SYS_RESOURCE = bit 24)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) & (1 << 24))
    return False


@dataclass
class Children:
    """Started children; ``reap()`` kills and waits for all of them."""

    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, mib: int, adj: int | None = None, cgroup_procs: str | None = None,
              step: int = 0, wait: bool = True, timeout: float = 60,
              tag: str = "oomkit-test-child",
              stop_after_kill: str | None = None) -> subprocess.Popen[bytes]:
        """Start one child; with ``wait``, return once its memory is touched. ``tag`` is an
        extra, ignored argument that tests can match on in the command line. With
        ``stop_after_kill`` (a cgroup's memory.events or memory.oom_control), the child stops
        allocating after each ``step`` MiB once that cgroup's oom_kill count has risen."""
        r, w = os.pipe()
        try:
            p = subprocess.Popen(
                [sys.executable, "-c", CHILD, cgroup_procs or "-", str(mib),
                 "-" if adj is None else str(adj), str(step), str(w), tag,
                 stop_after_kill or "-"],
                pass_fds=(w,), stdin=subprocess.DEVNULL,
            )
        finally:
            os.close(w)
        self.procs.append(p)
        if wait:
            self._ready(r, p, timeout)
        else:
            os.close(r)
        return p

    @staticmethod
    def _ready(r: int, p: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        try:
            os.set_blocking(r, False)
            while time.monotonic() < deadline:
                try:
                    if os.read(r, 1):
                        return
                except BlockingIOError:
                    pass
                if p.poll() is not None:
                    raise RuntimeError(f"child {p.pid} exited with {p.returncode} before ready")
                time.sleep(0.01)
            raise RuntimeError(f"child {p.pid} not ready after {timeout} s")
        finally:
            os.close(r)

    def reap(self) -> None:
        """Kill and wait for every child."""
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(signal.SIGKILL)
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=10)


@pytest.fixture
def children() -> Iterator[Children]:
    """Children that are killed and reaped after the test, whatever happens."""
    c = Children()
    try:
        yield c
    finally:
        c.reap()
