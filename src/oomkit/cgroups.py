"""One small read-only interface over the cgroup v1 and v2 memory controllers.

Where things are (Documentation/admin-guide/cgroup-v2.rst "Memory",
Documentation/admin-guide/cgroup-v1/memory.rst):

=================  =====================  =================================================
what               v2 file                v1 file
=================  =====================  =================================================
hard limit         memory.max ("max")     memory.limit_in_bytes (PAGE_COUNTER_MAX pages)
usage              memory.current         memory.usage_in_bytes
swap limit         memory.swap.max        memory.memsw.limit_in_bytes (memory + swap)
OOM counters       memory.events          memory.oom_control (oom_kill since 4.13)
swappiness         vm.swappiness only     memory.swappiness
group kill         memory.oom.group       (none: mem_cgroup_get_oom_group() is v2 only)
=================  =====================  =================================================

Paths are what /proc/PID/cgroup and the kernel's OOM report print: relative to
the hierarchy's root. ``cgroup_root`` (default ``/sys/fs/cgroup``) lets tests
point everything at a fake tree under ``tests/data/sys/<case>/fs/cgroup``.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from oomkit import procfs
from oomkit.procmodels import CgroupMemory, CgroupNow

CGROUP_ROOT = "/sys/fs/cgroup"  # a str, like procfs.PROC: no pathlib in the daemon
_LIVE_PREFIX = "/sys/fs/cgroup"
LONG_MAX = 2**63 - 1
_V1_FLAGS = frozenset({"rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode",
                       "favordynmods", "nosuid", "nodev", "noexec", "relatime"})


class Hierarchy(NamedTuple):
    """A mounted cgroup hierarchy."""

    version: int  # 1 or 2
    mount: str  # the directory it is mounted on (under cgroup_root for fake trees)
    root: str  # mountinfo "root": the cgroup shown at the mount point ("/" normally)
    controller: str | None  # v1: the /proc/PID/cgroup controller to match ("memory", ...)
    has_memory: bool


def _local(mount_point: str, cgroup_root: str) -> str | None:
    if cgroup_root == CGROUP_ROOT:
        return mount_point
    if mount_point == _LIVE_PREFIX or mount_point.startswith(_LIVE_PREFIX + "/"):
        rel = mount_point[len(_LIVE_PREFIX) :].lstrip("/")
        return os.path.join(cgroup_root, rel) if rel else cgroup_root
    return None


def _controllers(directory: str) -> list[str]:
    text = procfs.read_optional(f"{directory}/cgroup.controllers")
    return text.split() if text else []


def hierarchies(proc_root: procfs.StrPath = procfs.PROC,
                cgroup_root: procfs.StrPath = CGROUP_ROOT) -> list[Hierarchy]:
    """Every cgroup mount in /proc/self/mountinfo; probes ``cgroup_root`` when that is unreadable."""
    found: list[Hierarchy] = []
    cgroup_root = os.fspath(cgroup_root)
    for m in procfs.read_mountinfo(proc_root):
        if m.fstype not in ("cgroup", "cgroup2"):
            continue
        local = _local(m.mount_point, cgroup_root)
        if local is None or not os.path.isdir(local):
            continue
        if m.fstype == "cgroup2":
            found.append(Hierarchy(2, local, m.root, None, "memory" in _controllers(local)))
        else:
            # v1 super options: rw/ro, flags, "name=..." and the bound controllers,
            # which are what /proc/PID/cgroup lists for this hierarchy.
            opts = [o for o in m.super_options if o not in _V1_FLAGS and "=" not in o]
            name = next((o for o in m.super_options if o.startswith("name=")), None)
            ctrl = "memory" if "memory" in opts else (name or (opts[0] if opts else None))
            found.append(Hierarchy(1, local, m.root, ctrl, "memory" in opts))
    if found:
        return found
    # No usable mountinfo (a fake tree, or a /proc without self): look at the layout.
    if os.path.isfile(f"{cgroup_root}/cgroup.controllers"):
        return [Hierarchy(2, cgroup_root, "/", None, "memory" in _controllers(cgroup_root))]
    if os.path.isfile(f"{cgroup_root}/memory/memory.limit_in_bytes"):
        found.append(Hierarchy(1, f"{cgroup_root}/memory", "/", "memory", True))
    if os.path.isfile(f"{cgroup_root}/unified/cgroup.controllers"):
        unified = f"{cgroup_root}/unified"
        found.append(Hierarchy(2, unified, "/", None, "memory" in _controllers(unified)))
    return found


def find_memory(proc_root: procfs.StrPath = procfs.PROC,
                cgroup_root: procfs.StrPath = CGROUP_ROOT) -> Hierarchy | None:
    """The hierarchy with the memory controller (a controller is bound to at most one)."""
    return next((h for h in hierarchies(proc_root, cgroup_root) if h.has_memory), None)


def find_display(proc_root: procfs.StrPath = procfs.PROC,
                 cgroup_root: procfs.StrPath = CGROUP_ROOT) -> Hierarchy | None:
    """The hierarchy whose paths `top` shows: memory, else the unified v2 tree, else any."""
    hs = hierarchies(proc_root, cgroup_root)
    for pick in (lambda h: h.has_memory, lambda h: h.version == 2,
                 lambda h: h.controller == "name=systemd", lambda h: True):
        for h in hs:
            if pick(h):
                return h
    return None


def path_of(h: Hierarchy, lines: tuple[procfs.CgroupLine, ...]) -> str | None:
    """The path of ``h`` in a parsed /proc/PID/cgroup (cgroups(7))."""
    for line in lines:
        if h.version == 2 and line.hierarchy_id == 0 and not line.controllers:
            return line.path
        if h.version == 1 and h.controller in line.controllers:
            return line.path
    return None


def directory(h: Hierarchy, path: str) -> str | None:
    """The directory of cgroup ``path``, or None when it is outside what is mounted here."""
    root = h.root.rstrip("/")
    if path == h.root or path == root:
        return h.mount
    if root and not path.startswith(root + "/"):
        return None
    rel = path[len(root) :].strip("/")
    return f"{h.mount}/{rel}" if rel else h.mount


def _join(h: Hierarchy, rel: str) -> str:
    root = h.root.rstrip("/")
    return f"{root}/{rel}" if rel else (h.root or "/")


def _walk(h: Hierarchy, under: str | None = None) -> list[tuple[str, str]]:
    """Every cgroup under the mount (or under ``under``), as (path, directory), parents first."""
    out: list[tuple[str, str]] = []
    start = directory(h, under) if under is not None else h.mount
    if start is None:
        return out
    rel0 = start[len(h.mount) :].strip("/")
    stack: list[tuple[str, str]] = [(rel0, start)]
    while stack:
        rel, d = stack.pop()
        out.append((_join(h, rel), d))
        try:
            with os.scandir(d) as it:
                subdirs = [e.name for e in it if e.is_dir(follow_symlinks=False)]
        except OSError:
            continue  # removed while walking
        for name in sorted(subdirs, reverse=True):
            stack.append((f"{rel}/{name}" if rel else name, f"{d}/{name}"))
    return out


def pids_by_cgroup(h: Hierarchy, under: str | None = None) -> dict[int, str]:
    """pid -> cgroup path, from each cgroup's cgroup.procs: one read per cgroup, not per pid.

    A process that moves while the tree is walked may be missing; callers fall
    back to /proc/PID/cgroup for those.
    """
    out: dict[int, str] = {}
    # Children first, so that a PID seen twice while it moves keeps the first-walked
    # (parent) path, as before; dict.fromkeys keeps this at C speed for 5,000 PIDs.
    for path, d in reversed(_walk(h, under)):
        text = procfs.read_optional(f"{d}/cgroup.procs")
        if text:
            out.update(dict.fromkeys(map(int, text.split()), path))
    return out


def _bytes(text: str | None, page_size: int) -> int | None:
    """A limit in bytes; None for "max" or PAGE_COUNTER_MAX (LONG_MAX / PAGE_SIZE pages)."""
    if text is None:
        return None
    text = text.strip()
    if text == "max" or not text:
        return None
    value = int(text)
    return None if value >= (LONG_MAX // page_size) * page_size else value


def _keyed(text: str | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdecimal():
            out[key] = int(value)
    return out


def read_memory(h: Hierarchy, path: str, page_size: int = procfs.PAGE_SIZE) -> CgroupMemory | None:
    """The memory settings of cgroup ``path``, or None when it does not exist (any more)."""
    d = directory(h, path)
    if d is None or not os.path.isdir(d):
        return None

    def get(name: str) -> str | None:
        return procfs.read_optional(f"{d}/{name}")

    def num(name: str) -> int | None:
        text = get(name)
        return int(text) if text and text.strip().isdecimal() else None

    if h.version == 2:
        events = _keyed(get("memory.events"))
        group = get("memory.oom.group")
        return CgroupMemory(
            path=path, version=2,
            limit_bytes=_bytes(get("memory.max"), page_size),
            usage_bytes=num("memory.current"),
            swap_limit_bytes=_bytes(get("memory.swap.max"), page_size),
            high_bytes=_bytes(get("memory.high"), page_size),
            oom_events=events.get("oom"), oom_kills=events.get("oom_kill"),
            oom_group=group.strip() == "1" if group is not None else None,
        )
    limit = _bytes(get("memory.limit_in_bytes"), page_size)
    memsw_text = get("memory.memsw.limit_in_bytes")
    memsw = _bytes(memsw_text, page_size)
    swap = None if memsw is None or limit is None else memsw - limit
    control = _keyed(get("memory.oom_control"))
    is_root = directory(h, h.root) == d
    return CgroupMemory(
        path=path, version=1, limit_bytes=limit, usage_bytes=num("memory.usage_in_bytes"),
        swap_limit_bytes=swap, memsw_limit_bytes=memsw, memsw_accounting=memsw_text is not None,
        # mem_cgroup_swappiness(): the root memcg follows vm.swappiness.
        swappiness=None if is_root else num("memory.swappiness"),
        oom_kills=control.get("oom_kill"),
        oom_kill_disable=bool(control["oom_kill_disable"]) if "oom_kill_disable" in control
        else None,
    )


def oom_totalpages(
    cg: CgroupMemory, total_swap_pages: int, vm_swappiness: int, page_size: int = procfs.PAGE_SIZE
) -> int:
    """``totalpages`` of a memcg OOM in ``cg``: mm/memcontrol.c ``mem_cgroup_get_max() ?: 1``.

    v1 with memsw accounting adds the memsw headroom, v2 (or v1 without memsw)
    adds memory.swap.max; both are capped at the swap that exists, and nothing is
    added when the cgroup's swappiness is 0 (v2: vm.swappiness).
    """
    counter_max = LONG_MAX // page_size
    limit = cg.limit_bytes // page_size if cg.limit_bytes is not None else counter_max
    swappiness = cg.swappiness if cg.swappiness is not None else vm_swappiness
    if swappiness:
        if cg.memsw_accounting:  # do_memsw_account(): v1 with swap accounting
            memsw = (cg.memsw_limit_bytes // page_size if cg.memsw_limit_bytes is not None
                     else counter_max)
            limit += min(max(memsw - limit, 0), total_swap_pages)
        else:
            swap = (cg.swap_limit_bytes // page_size if cg.swap_limit_bytes is not None
                    else counter_max)
            limit += min(swap, total_swap_pages)
    return limit or 1


def ancestry(path: str) -> list[str]:
    """``/a/b/c`` -> ``["/", "/a", "/a/b", "/a/b/c"]``."""
    parts = [p for p in path.split("/") if p]
    return ["/"] + ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def chain(h: Hierarchy, path: str, page_size: int = procfs.PAGE_SIZE) -> list[CgroupMemory]:
    """The memory settings of ``path`` and every ancestor that is visible, root first."""
    out = []
    for p in ancestry(path):
        cg = read_memory(h, p, page_size)
        if cg is not None:
            out.append(cg)
    return out


def limited(h: Hierarchy, page_size: int = procfs.PAGE_SIZE) -> list[CgroupMemory]:
    """Every cgroup in the hierarchy with a memory limit of its own, parents first."""
    name = "memory.max" if h.version == 2 else "memory.limit_in_bytes"
    out = []
    for path, d in _walk(h):
        if _bytes(procfs.read_optional(f"{d}/{name}"), page_size) is None:
            continue  # read the other files only for the few cgroups with a limit
        cg = read_memory(h, path, page_size)
        if cg is not None and cg.limit_bytes is not None:
            out.append(cg)
    return out


def current(
    path: str, *, root: procfs.StrPath = CGROUP_ROOT, proc_root: procfs.StrPath = procfs.PROC
) -> CgroupNow | None:
    """A still-existing memory cgroup's limit and usage now, or None if it is gone."""
    h = find_memory(proc_root, root)
    if h is None:
        return None
    cg = read_memory(h, path)
    if cg is None:
        return None
    return CgroupNow(
        path=path,
        limit_kb=cg.limit_bytes // 1024 if cg.limit_bytes is not None else None,
        usage_kb=cg.usage_bytes // 1024 if cg.usage_bytes is not None else None,
        version=cg.version,
    )
