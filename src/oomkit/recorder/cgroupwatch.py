"""Every memory cgroup with a limit: found by walking the hierarchy, sampled each tick.

Per tick and cgroup two small files are read: the usage and the OOM counters
(v2 ``memory.current`` + ``memory.events``; v1 ``memory.usage_in_bytes`` +
``memory.oom_control``). The limit (and v1 ``memory.failcnt``) is re-read on
each discovery walk. A cgroup is discovered by the walk (every
``cgroup_scan_interval``) or at once when a new process turns up in it (``check``).
"""

from __future__ import annotations

import os

from oomkit import cgroups, procfs
from oomkit.models import CgroupSample
from oomkit.procfs import read_quiet

LONG_MAX = 2**63 - 1



def parse_limit(data: bytes | None, page_size: int) -> int | None:
    """A limit in bytes; None for "max", absent, or v1's PAGE_COUNTER_MAX. Pure."""
    if data is None:
        return None
    text = data.strip()
    if not text or text == b"max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return None if value >= (LONG_MAX // page_size) * page_size else value


def parse_keyed(data: bytes | None) -> dict[bytes, int]:
    """``key value`` lines (memory.events, memory.oom_control) as a dict. Pure."""
    out: dict[bytes, int] = {}
    for line in (data or b"").splitlines():
        key, _, value = line.partition(b" ")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


class _Cgroup:
    """One watched cgroup; mutable (its last counters), private to CgroupWatch."""

    __slots__ = ("directory", "limit_kb", "max_events", "oom_kills", "path")

    def __init__(self, path: str, directory: str, limit_kb: int) -> None:
        self.path = path
        self.directory = directory
        self.limit_kb = limit_kb
        self.max_events: int | None = None  # v1 failcnt (re-read on discovery)
        self.oom_kills: int | None = None  # the last value read


class CgroupWatch:
    """The limited memory cgroups of one hierarchy (none when there is no memory controller)."""

    def __init__(self, hierarchy: cgroups.Hierarchy | None, page_size: int = procfs.PAGE_SIZE) -> None:
        self.hierarchy = hierarchy if hierarchy is not None and hierarchy.has_memory else None
        self.version = self.hierarchy.version if self.hierarchy is not None else 0
        self._page = page_size
        self.limited: dict[str, _Cgroup] = {}
        self._checked: set[str] = set()  # paths known to have no limit of their own

    def _files(self) -> tuple[str, str, str]:
        if self.version == 2:
            return "memory.max", "memory.current", "memory.events"
        return "memory.limit_in_bytes", "memory.usage_in_bytes", "memory.oom_control"

    def _path(self, rel: str) -> str:
        assert self.hierarchy is not None
        root = self.hierarchy.root.rstrip("/")
        return f"{root}/{rel}" if rel else (self.hierarchy.root or "/")

    def _limit(self, directory: str) -> int | None:
        return parse_limit(read_quiet(f"{directory}/{self._files()[0]}"), self._page)

    def _add(self, path: str, directory: str, limit: int) -> None:
        cg = _Cgroup(path, directory, limit // 1024)
        if self.version == 1:
            failcnt = read_quiet(f"{directory}/memory.failcnt")
            cg.max_events = int(failcnt) if failcnt and failcnt.strip().isdigit() else None
        self.limited[path] = cg

    def discover(self) -> tuple[list[str], list[str]]:
        """Walk the hierarchy: (cgroups newly limited, cgroups gone or no longer limited)."""
        if self.hierarchy is None:
            return [], []
        found: dict[str, tuple[str, int]] = {}
        stack = [("", str(self.hierarchy.mount))]
        while stack:
            rel, d = stack.pop()
            limit = self._limit(d)
            if limit is not None:
                found[self._path(rel)] = (d, limit)
            try:
                with os.scandir(d) as it:
                    subdirs = [e.name for e in it if e.is_dir(follow_symlinks=False)]
            except OSError:
                continue  # removed while walking
            stack.extend((f"{rel}/{n}" if rel else n, f"{d}/{n}") for n in subdirs)
        new = [p for p in found if p not in self.limited]
        gone = [p for p in self.limited if p not in found]
        for p in gone:
            del self.limited[p]
        for p, (d, limit) in found.items():
            if p in self.limited:
                self.limited[p].limit_kb = limit // 1024
                if self.version == 1:
                    failcnt = read_quiet(f"{d}/memory.failcnt")
                    self.limited[p].max_events = (int(failcnt) if failcnt and failcnt.strip().isdigit()
                                                  else None)
            else:
                self._add(p, d, limit)
        self._checked.clear()
        return new, gone

    def check(self, path: str | None) -> list[str]:
        """A process appeared in ``path``: start watching it and its ancestors if they have a
        limit; return the cgroups newly watched."""
        if self.hierarchy is None or not path:
            return []
        new = []
        for p in cgroups.ancestry(path):
            if p in self.limited or p in self._checked:
                continue
            self._checked.add(p)
            d = cgroups.directory(self.hierarchy, p)
            if d is None:
                continue
            limit = self._limit(str(d))
            if limit is not None:
                self._add(p, str(d), limit)
                new.append(p)
        return new

    def sample(self, ts: float) -> list[CgroupSample]:
        """Usage and OOM counters of every limited cgroup now (vanished ones are dropped)."""
        _, usage_file, events_file = self._files()
        out = []
        for path, cg in list(self.limited.items()):
            usage = read_quiet(f"{cg.directory}/{usage_file}")
            if usage is None:
                del self.limited[path]  # removed
                continue
            events = parse_keyed(read_quiet(f"{cg.directory}/{events_file}"))
            cg.oom_kills = events.get(b"oom_kill")
            if self.version == 2:
                out.append(CgroupSample(ts, path, 2, int(usage) // 1024, cg.limit_kb,
                                        events.get(b"high"), events.get(b"max"), events.get(b"oom"),
                                        cg.oom_kills))
            else:
                out.append(CgroupSample(ts, path, 1, int(usage) // 1024, cg.limit_kb, None,
                                        cg.max_events, None, cg.oom_kills))
        return out

    def counters(self) -> dict[str, int]:
        """The oom_kill counter of every limited cgroup, as last sampled."""
        return {p: cg.oom_kills for p, cg in self.limited.items() if cg.oom_kills is not None}

    def members(self, path: str) -> list[int]:
        """Pids in ``path`` and the cgroups below it (one cgroup.procs read per cgroup)."""
        cg = self.limited.get(path)
        if cg is None:
            return []
        pids: list[int] = []
        stack = [cg.directory]
        while stack:
            d = stack.pop()
            data = read_quiet(f"{d}/cgroup.procs")
            if data:
                pids.extend(int(x) for x in data.split())
            try:
                with os.scandir(d) as it:
                    stack.extend(f"{d}/{e.name}" for e in it if e.is_dir(follow_symlinks=False))
            except OSError:
                continue
        return pids


def find(proc_root: procfs.StrPath = procfs.PROC, cgroup_root: procfs.StrPath = cgroups.CGROUP_ROOT
         ) -> tuple[cgroups.Hierarchy | None, cgroups.Hierarchy | None]:
    """(the memory hierarchy, the hierarchy whose paths name processes' cgroups)."""
    memory = cgroups.find_memory(proc_root, cgroup_root)
    display = memory or cgroups.find_display(proc_root, cgroup_root)
    return memory, display
