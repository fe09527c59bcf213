"""`oomkit doctor`: read the machine's memory settings once, then judge them with pure checks.

``collect()`` is the only I/O: it reads a ``DoctorSnapshot`` through readers that
take ``proc_root`` and ``sys_root``, so tests run the same checks on fake trees
(tests/data/proc/<case>, tests/data/sys/<case>). ``diagnose()`` is pure and
returns ``Finding`` records (models.py); the checks live in doctor_checks.py.
Every explanation follows kernel-oom.md sections 3-5 and avoids the myths of
its section 7 (reversed overcommit modes, "ratio * RAM + swap", and so on).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from oomkit import cgroups, procfs
from oomkit.errors import OomkitError, ParseError
from oomkit.models import Finding
from oomkit.procmodels import CgroupMemory

SYS = Path("/sys")
SYSCTLS = (
    "vm.overcommit_memory", "vm.overcommit_ratio", "vm.overcommit_kbytes",
    "vm.panic_on_oom", "vm.oom_kill_allocating_task", "vm.oom_dump_tasks",
    "kernel.dmesg_restrict", "vm.swappiness", "vm.admin_reserve_kbytes",
)
# comm of each userspace killer's daemon (comm is at most 15 bytes).
KILLERS = {
    "earlyoom": "earlyoom",
    "nohang": "nohang",
    "systemd-oomd": "systemd-oomd",
    "oomd": "oomd",
    "oomd_bin": "oomd",
}
_INTERPRETERS = ("python", "python3", "perl")


class ZramDevice(NamedTuple):
    """A zram block device (Documentation/admin-guide/blockdev/zram.rst)."""

    name: str
    disksize_bytes: int
    algorithm: str | None  # the one in [brackets] of comp_algorithm
    orig_bytes: int | None  # mm_stat: data stored, before compression
    compr_bytes: int | None  # mm_stat: after compression
    mem_used_bytes: int | None  # mm_stat: RAM the device uses, allocator overhead included


@dataclass(frozen=True, slots=True)
class DoctorSnapshot:
    """Everything the checks look at, read at one moment."""

    meminfo: Mapping[str, int]
    vmstat: Mapping[str, int]
    sysctls: Mapping[str, str | None]
    swaps: tuple[procfs.SwapDevice, ...] = ()
    zram: tuple[ZramDevice, ...] = ()
    zswap: Mapping[str, str] | None = None  # /sys/module/zswap/parameters; None = not built
    psi: procfs.Pressure | None = None
    memory_version: int | None = None  # version of the hierarchy with the memory controller
    other_versions: tuple[int, ...] = ()  # versions of the other cgroup mounts
    cgroup_path: str | None = None  # this process's memory cgroup
    chain: tuple[CgroupMemory, ...] = ()  # root ... cgroup_path
    killers: tuple[tuple[str, int], ...] = ()  # (killer, pid)
    log_kills: int | None = None  # kernel OOM kills found in the logs this boot
    arc: Mapping[str, int] | None = None  # /proc/spl/kstat/zfs/arcstats; None = no ZFS
    page_size: int = 4096
    notes: tuple[str, ...] = field(default=())


def _zram(sys_root: Path, swaps: tuple[procfs.SwapDevice, ...]) -> tuple[ZramDevice, ...]:
    out = []
    for s in swaps:
        name = s.filename.rsplit("/", 1)[-1]
        if not name.startswith("zram"):
            continue
        d = sys_root / "block" / name
        size = procfs.read_optional(d / "disksize")
        algo_text = procfs.read_optional(d / "comp_algorithm") or ""
        algo = next((w.strip("[]") for w in algo_text.split() if w.startswith("[")), None)
        mm = (procfs.read_optional(d / "mm_stat") or "").split()
        nums = [int(x) for x in mm[:3]] if len(mm) >= 3 else [None, None, None]
        out.append(ZramDevice(name, int(size) if size and size.strip().isdecimal() else 0, algo,
                              nums[0], nums[1], nums[2]))
    return tuple(out)


def _zswap(sys_root: Path) -> dict[str, str] | None:
    d = sys_root / "module" / "zswap" / "parameters"
    try:
        names = sorted(os.listdir(d))
    except OSError:
        return None
    return {n: (procfs.read_optional(d / n) or "").strip() for n in names}


def _comm(path: str) -> bytes | None:
    # Raw os.open/os.read: this runs once per process, and is most of doctor's time
    # on a machine with thousands of them.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            return os.read(fd, 64)
        finally:
            os.close(fd)
    except OSError:
        return None


def _killers(proc_root: procfs.StrPath) -> tuple[tuple[str, int], ...]:
    found = []
    root = str(proc_root)
    for pid in procfs.list_pids(proc_root):
        raw = _comm(f"{root}/{pid}/comm")
        if raw is None:
            continue
        comm = raw.strip().decode("utf-8", "replace")
        killer = KILLERS.get(comm)
        if killer is None and comm.startswith(_INTERPRETERS):
            # `python3 /usr/sbin/nohang`: comm is the interpreter, the script is argv[1].
            argv = procfs.read_optional(f"{root}/{pid}/cmdline") or ""
            args = [a.rsplit("/", 1)[-1] for a in argv.split("\0")[1:3]]
            killer = next((KILLERS[a] for a in args if a in KILLERS), None)
        if killer is not None:
            found.append((killer, pid))
    return tuple(found)


def collect(
    proc_root: procfs.StrPath = procfs.PROC, sys_root: Path = SYS, *, log_kills: int | None = None,
    pid: str = "self",
) -> DoctorSnapshot:
    """Read everything the checks need. Absent files become None/empty, never errors."""
    cgroup_root = sys_root / "fs" / "cgroup"
    swaps = procfs.read_swaps(proc_root)
    hs = cgroups.hierarchies(proc_root, cgroup_root if sys_root != SYS else cgroups.CGROUP_ROOT)
    memory = next((h for h in hs if h.has_memory), None)
    path = None
    chain: list[CgroupMemory] = []
    if memory is not None:
        try:
            path = cgroups.path_of(memory, procfs.read_cgroup(pid, proc_root))
        except OomkitError:
            path = None
        if path is not None:
            chain = cgroups.chain(memory, path)
    try:
        vmstat = procfs.read_vmstat(proc_root)
    except OomkitError:
        vmstat = {}
    return DoctorSnapshot(
        meminfo=procfs.read_meminfo(proc_root),
        vmstat=vmstat,
        sysctls={name: procfs.read_sysctl(name, proc_root) for name in SYSCTLS},
        swaps=swaps,
        zram=_zram(sys_root, swaps),
        zswap=_zswap(sys_root),
        psi=_psi(proc_root),
        memory_version=memory.version if memory else None,
        other_versions=tuple(h.version for h in hs if h is not memory),
        cgroup_path=path,
        chain=tuple(chain),
        killers=_killers(proc_root),
        log_kills=log_kills,
        arc=procfs.read_arcstats(proc_root),
        page_size=procfs.PAGE_SIZE,
    )


def _psi(proc_root: procfs.StrPath) -> procfs.Pressure | None:
    try:
        return procfs.read_psi("memory", proc_root)
    except ParseError:
        return None


def diagnose(snap: DoctorSnapshot) -> list[Finding]:
    """Every finding, in a stable order. Pure."""
    from oomkit.doctor_checks import CHECKS

    out: list[Finding] = []
    for check in CHECKS:
        out.extend(check(snap))
    return out


def finding_json(f: Finding) -> dict[str, Any]:
    """One entry of ``findings`` in `doctor --json` (docs/doctor.md)."""
    return {"id": f.id, "status": f.status, "title": f.title, "evidence": f.evidence,
            "explanation": f.explanation, "fix": f.fix}


def to_json(findings: list[Finding]) -> dict[str, Any]:
    """The `doctor --json` document."""
    return {"findings": [finding_json(f) for f in findings]}
