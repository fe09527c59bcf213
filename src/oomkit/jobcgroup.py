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

from oomkit import cgroups, procfs
from oomkit.errors import AccessDenied, OomkitError
from oomkit.owner import JOB_PREFIX as JOB_PREFIX  # re-exported: the supervisor names it here


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """A mounted hierarchy that has the memory controller."""

    mount: Path
    version: int  # 1 or 2


def find_memory_hierarchy(proc_root: procfs.StrPath = procfs.PROC) -> Hierarchy | None:
    """Where the memory controller is mounted (cgroups.find_memory reads mountinfo)."""
    h = cgroups.find_memory(proc_root)
    return None if h is None else Hierarchy(Path(h.mount), h.version)


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


# --- job supervision: limits beyond memory.max, reading back, finding and killing ---------------
#
# Added for `oomkit run` and `[programs.NAME]` (oomkit.supervise). The files, per version
# (Documentation/admin-guide/cgroup-v2.rst "Memory Interface Files",
# Documentation/admin-guide/cgroup-v1/memory.rst section 2.5 and 5):
#
#   setting      v2                      v1
#   hard limit   memory.max              memory.limit_in_bytes
#   throttle     memory.high             (none; soft_limit_in_bytes only steers global reclaim)
#   swap         memory.swap.max (swap)  memory.memsw.limit_in_bytes (memory + swap, >= limit)
#   peak         memory.peak (5.19+)     memory.max_usage_in_bytes
#   kill all     cgroup.kill (5.14+)     (none: signal every pid until empty)

_UNLIMITED_V1 = "-1"  # memory.limit_in_bytes accepts -1 for "no limit" (memory.rst 2.5)


@dataclass(frozen=True, slots=True)
class MemoryLimits:
    """The limits a job asks for, in bytes; None leaves the setting unlimited."""

    max_bytes: int | None = None
    high_bytes: int | None = None
    swap_max_bytes: int | None = None


def _try_write(path: Path, value: str, notes: list[str]) -> bool:
    """Write a control file; a missing file becomes a note, a refusal an error."""
    try:
        path.write_text(value)
    except FileNotFoundError:
        notes.append(f"{path.name} does not exist here; not applied")
        return False
    except PermissionError:
        raise AccessDenied(f"{path}: permission denied; memory cgroups need root") from None
    except OSError as exc:  # EINVAL: e.g. memsw below the memory limit (memory.rst 2.5)
        raise OomkitError(f"{path}: cannot write {value!r} ({exc.strerror})") from None
    return True


def _enable_memory_v2(mount: Path, parent: str) -> None:
    """Make the memory controller available down to ``parent`` (cgroup-v2.rst "Enabling and
    Disabling": a controller must be in the parent's cgroup.subtree_control)."""
    d = mount
    for part in [p for p in parent.split("/") if p]:
        _enable_in(d)
        d = d / part
        with contextlib.suppress(FileExistsError):
            d.mkdir()
    _enable_in(d)


def _enable_in(d: Path) -> None:
    ctl = d / "cgroup.subtree_control"
    try:
        enabled = ctl.read_text().split()
    except OSError:
        return
    if "memory" not in enabled:
        _write(ctl, "+memory")


def job_cgroup(name: str, hierarchy: Hierarchy, parent: str = "") -> JobCgroup:
    """The JobCgroup object for ``parent/name`` (which may not exist)."""
    rel = "/" + "/".join(p for p in (*parent.split("/"), name) if p)
    return JobCgroup(path=hierarchy.mount / rel.lstrip("/"), rel=rel, version=hierarchy.version)


def create_limited(
    name: str, limits: MemoryLimits, hierarchy: Hierarchy | None = None, parent: str = ""
) -> tuple[JobCgroup, tuple[str, ...]]:
    """Create (or reuse) cgroup ``parent/name`` and set every limit, resetting unset ones.

    Returns the cgroup and notes on settings this hierarchy cannot apply (memory.high
    on v1, swap without swap accounting).
    """
    h = hierarchy or find_memory_hierarchy()
    if h is None:
        raise OomkitError("no memory cgroup controller is mounted; cannot limit memory here")
    notes: list[str] = []
    if h.version == 2:
        _enable_memory_v2(h.mount, parent)
    cg = job_cgroup(name, h, parent)
    try:
        cg.path.mkdir(parents=h.version == 1)
    except FileExistsError:
        pass
    except PermissionError:
        raise AccessDenied(f"{cg.path}: permission denied; creating memory cgroups needs root") from None
    if h.version == 2:
        _try_write(cg.path / "memory.max", _v2(limits.max_bytes), notes)
        _try_write(cg.path / "memory.high", _v2(limits.high_bytes), notes)
        if limits.swap_max_bytes is not None or (cg.path / "memory.swap.max").exists():
            _try_write(cg.path / "memory.swap.max", _v2(limits.swap_max_bytes), notes)
        return cg, tuple(notes)
    memsw = cg.path / "memory.memsw.limit_in_bytes"
    has_memsw = memsw.exists()
    if has_memsw:  # lift memsw first: it may never be below limit_in_bytes (EINVAL)
        _try_write(memsw, _UNLIMITED_V1, notes)
    _try_write(cg.path / "memory.limit_in_bytes",
               str(limits.max_bytes) if limits.max_bytes is not None else _UNLIMITED_V1, notes)
    if limits.high_bytes is not None:
        notes.append("memory.high is a cgroup v2 setting; cgroup v1 has no throttle limit, not applied")
    if limits.swap_max_bytes is not None:
        if not has_memsw:
            notes.append("no swap accounting (memory.memsw.* missing: swapaccount=0 or no swap);"
                         " swap limit not applied")
        elif limits.max_bytes is None:
            notes.append("on cgroup v1 a swap limit needs memory_max (memsw counts memory + swap);"
                         " not applied")
        else:
            _try_write(memsw, str(limits.max_bytes + limits.swap_max_bytes), notes)
    return cg, tuple(notes)


def _v2(value: int | None) -> str:
    return "max" if value is None else str(value)


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdecimal() else None


def memory_current(cg: JobCgroup) -> int | None:
    """Bytes charged to the cgroup now (v2 memory.current, v1 memory.usage_in_bytes)."""
    return _read_int(cg.path / ("memory.current" if cg.version == 2 else "memory.usage_in_bytes"))


def memory_peak(cg: JobCgroup) -> int | None:
    """The cgroup's high-water mark (v2 memory.peak since 5.19, v1 memory.max_usage_in_bytes)."""
    return _read_int(cg.path / ("memory.peak" if cg.version == 2 else "memory.max_usage_in_bytes"))


def memory_limit(cg: JobCgroup) -> int | None:
    """The hard limit in bytes; None when unlimited (v2 "max", v1 PAGE_COUNTER_MAX pages)."""
    value = _read_int(cg.path / ("memory.max" if cg.version == 2 else "memory.limit_in_bytes"))
    if value is None or value >= (1 << 62):  # v1 prints PAGE_COUNTER_MAX * PAGE_SIZE
        return None
    return value


def kill_all(cg: JobCgroup, sig: int = 9) -> int:
    """Send ``sig`` to every process in the cgroup; returns how many were signalled.

    SIGKILL on v2 uses cgroup.kill (5.14+), which also catches processes forking
    while we kill; otherwise each pid in cgroup.procs is signalled (call again until
    ``pids()`` is empty: a child forked in between is caught on the next round).
    """
    pids = cg.pids()
    if sig == 9 and cg.version == 2 and (cg.path / "cgroup.kill").exists():
        with contextlib.suppress(OSError):
            (cg.path / "cgroup.kill").write_text("1")
            return len(pids)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    return len(pids)


def find_jobs(hierarchy: Hierarchy, parent: str = "", prefix: str = JOB_PREFIX) -> list[JobCgroup]:
    """Existing job cgroups (``parent/<prefix>*``): what a dead supervisor left behind."""
    base = hierarchy.mount / parent.strip("/") if parent.strip("/") else hierarchy.mount
    try:
        names = sorted(e.name for e in os.scandir(base) if e.is_dir() and e.name.startswith(prefix))
    except OSError:
        return []
    return [job_cgroup(n, hierarchy, parent) for n in names]


def reset_peak(cg: JobCgroup) -> bool:
    """Start the high-water mark afresh for a new run: v1 takes a write of 0 to
    memory.max_usage_in_bytes (memory.rst 5.5); v2's memory.peak can only be reset per
    open file (6.12+), so there it keeps counting from the cgroup's creation."""
    if cg.version != 1:
        return False
    try:
        (cg.path / "memory.max_usage_in_bytes").write_text("0")
    except OSError:
        return False
    return True
