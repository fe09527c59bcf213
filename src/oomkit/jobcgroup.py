"""Create a memory cgroup for a job, move processes into it, remove it: v1 or v2.

One small interface over the two hierarchies (Documentation/admin-guide/
cgroup-v2.rst "memory.max", cgroup-v1/memory.rst "memory.limit_in_bytes"):
used by `oomkit demo`, the tests, and job supervision.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from dataclasses import dataclass
from pathlib import Path

from oomkit.errors import AccessDenied, OomkitError


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """A mounted hierarchy that has the memory controller."""

    mount: Path
    version: int  # 1 or 2


def find_memory_hierarchy(mountinfo: Path = Path("/proc/self/mountinfo")) -> Hierarchy | None:
    """Where the memory controller is mounted; v2 preferred when it has the controller."""
    try:
        text = mountinfo.read_text()
    except OSError:
        return None
    v1: Hierarchy | None = None
    v2: Hierarchy | None = None
    for line in text.splitlines():
        # proc(5) mountinfo: fields ... " - " fstype source superoptions
        left, _, right = line.partition(" - ")
        fields = left.split()
        rfields = right.split()
        if len(fields) < 5 or len(rfields) < 3:
            continue
        mount = Path(fields[4].replace("\\040", " "))
        fstype, opts = rfields[0], rfields[2].split(",")
        if fstype == "cgroup2" and v2 is None:
            try:
                controllers = (mount / "cgroup.controllers").read_text().split()
            except OSError:
                controllers = []
            if "memory" in controllers:
                v2 = Hierarchy(mount, 2)
        elif fstype == "cgroup" and "memory" in opts and v1 is None:
            v1 = Hierarchy(mount, 1)
    return v2 or v1


@dataclass(frozen=True, slots=True)
class JobCgroup:
    """A memory cgroup made for one job."""

    path: Path  # absolute directory
    rel: str  # the path as the kernel prints it (relative to the hierarchy root)
    version: int

    @property
    def procs(self) -> Path:
        """The file a pid is written to, to move it in."""
        return self.path / "cgroup.procs"

    def oom_kills(self) -> int | None:
        """Processes of this cgroup killed by the OOM killer (v2 memory.events, v1 oom_control)."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            text = (self.path / name).read_text()
        except OSError:
            return None
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return None

    def pids(self) -> list[int]:
        """Processes now in the cgroup."""
        try:
            return [int(p) for p in self.procs.read_text().split()]
        except OSError:
            return []


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except PermissionError:
        raise AccessDenied(f"{path}: permission denied; creating memory cgroups needs root") from None


def create(name: str, memory_max: int, hierarchy: Hierarchy | None = None) -> JobCgroup:
    """Create ``name`` under the memory hierarchy's root with a hard limit in bytes."""
    h = hierarchy or find_memory_hierarchy()
    if h is None:
        raise OomkitError("no memory cgroup controller is mounted; cannot limit memory here")
    path = h.mount / name
    try:
        path.mkdir()
    except FileExistsError:
        pass
    except PermissionError:
        raise AccessDenied(f"{path}: permission denied; creating memory cgroups needs root") from None
    cg = JobCgroup(path=path, rel="/" + name, version=h.version)
    if h.version == 2:
        _write(path / "memory.max", str(memory_max))
        swap = path / "memory.swap.max"
        if swap.exists():
            _write(swap, "0")
    else:
        _write(path / "memory.limit_in_bytes", str(memory_max))
    return cg


def remove(cg: JobCgroup, timeout: float = 5.0) -> None:
    """Kill what is left in the cgroup and remove it."""
    deadline = time.monotonic() + timeout
    while True:
        pids = cg.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        try:
            cg.path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                raise OomkitError(f"{cg.path}: cannot remove ({exc.strerror})") from None
            time.sleep(0.05)
