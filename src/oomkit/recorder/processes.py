"""Every process, tracked by identity (pid + start time), read in tiers.

* ``poll_new``: when /proc/loadavg's last-pid field moved (something forked),
  probe the pids allocated since (or list /proc when there were many) and adopt
  the new processes (status, oom_score_adj, stat for the start time, cmdline,
  cgroup: once per process).
* ``read``: the fast tier, one /proc/PID/status read each.
* ``full_scan``: every process (status + oom_score_adj), growth since the last
  full scan, renames (exec changes comm), cgroup moves.

The scan streams: each status buffer is parsed and dropped before the next is
read (``procscan.scan_processes`` holds them all, which the daemon cannot
afford), and a process is one small object (``Proc``) holding its identity
(``ProcessInfo``, shared with the writer) and its last numbers; a
``ProcessSample`` is built only for a row to write.

A pid reused by a new process between two looks is told apart by its start
time when its name changed; a reuse by the same program within one look goes
unnoticed (pids are allocated round-robin up to pid_max, so that takes a
wrap-around of the whole pid space). A zombie thread-group leader whose other
threads still run (``procscan`` reads their memory) is skipped until it exits.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator

from oomkit import cgroups, procfs, scoring
from oomkit.errors import OomkitError
from oomkit.models import ProcessInfo, ProcessSample
from oomkit.procfs import read_quiet

MAX_CMDLINE = 4096
HISTORY = 128  # fast-tier samples kept per process for the growth forecast
MAX_PROBE = 128  # new pids probed one by one; more than this and /proc is listed
MAX_PROBING = 64  # new processes on the fast tier at once (a burst of forks is not all watched)
Written = tuple[float, int, int, int, int, int]  # ts, anon, file, shmem, swap, adj of the last row


class Proc:
    """One tracked process (internal, mutable; ``info`` is the frozen identity)."""

    __slots__ = ("adj", "anon", "born", "domain", "file", "growth", "hist", "info", "new_until",
                 "pte", "scan_t", "scan_total", "shmem", "swap", "ts", "written")

    def __init__(self, info: ProcessInfo, adj: int, seen: float, probation: float = 0.0) -> None:
        self.info = info
        self.adj = adj
        self.born = seen  # monotonic time it was first seen
        self.anon = self.file = self.shmem = self.swap = self.pte = 0
        self.ts = 0.0  # when the numbers were read (0: never)
        self.written: Written | None = None
        self.scan_t = 0.0
        self.scan_total = -1
        self.growth = 0.0
        self.new_until = seen + probation
        self.hist: deque[tuple[float, float]] | None = None
        self.domain: str | None = None

    @property
    def key(self) -> tuple[int, int]:
        """(pid, start_ticks)."""
        return (self.info.pid, self.info.start_ticks)

    @property
    def total_kb(self) -> int:
        """RSS + swap of the last reading."""
        return self.anon + self.file + self.shmem + self.swap

    def set(self, ts: float, anon: int, file_: int, shmem: int, swap: int, pte: int) -> None:
        """Record a reading."""
        self.ts, self.anon, self.file, self.shmem, self.swap, self.pte = (ts, anon, file_, shmem,
                                                                          swap, pte)



def memory_of(data: bytes) -> tuple[bytes, int, int, int, int, int, int] | None:
    """(comm, uid, anon, file, shmem, swap, pte) kB from a status file; None without an mm
    (kernel thread, zombie) or when unreadable."""
    fast = procfs.status_fields(data)
    if fast is not None:
        name, _state, uid, anon, file_, shmem, swap, pte = fast
        return name, uid, anon, file_, shmem, swap, pte
    try:
        st = procfs.parse_status(data)
    except (OomkitError, ValueError):
        return None
    if not st.has_mm:
        return None
    return (st.name.encode("utf-8", "surrogateescape"), st.uid, st.anon_kb, st.file_kb,
            st.shmem_kb, st.swap_kb, st.pte_kb)


class ProcessTracker:
    """The processes of one /proc, with the hierarchy that names their cgroups."""

    def __init__(self, proc_root: procfs.StrPath = procfs.PROC, hierarchy: cgroups.Hierarchy | None = None,
                 *, page_size: int = procfs.PAGE_SIZE, probation: float = 30.0) -> None:
        self.root = str(proc_root)
        self.proc_root = proc_root
        self.hierarchy = hierarchy
        self.page_size = page_size
        self.probation = probation
        self.procs: dict[int, Proc] = {}
        self.probing: set[int] = set()  # pids on probation (new)
        self.totalpages = 1
        self._no_mm: set[int] = set()  # kernel threads (and zombies) seen in /proc
        self._last_pid: int | None = None
        self._pid_max: int | None = None
        self._names: dict[bytes, str] = {}
        self.self_pid = os.getpid()

    # --- scoring -----------------------------------------------------------------------------

    def score(self, pid: int, mem_kb: int, pte_kb: int, adj: int) -> tuple[int, int]:
        """(badness in pages, /proc/PID/oom_score) by the kernel's >= 5.9 formula."""
        if pid == 1 or adj == scoring.OOM_SCORE_ADJ_MIN:
            return scoring.LONG_MIN, 0
        page_kb = self.page_size // 1024
        bad = mem_kb // page_kb + pte_kb * 1024 // self.page_size + adj * (self.totalpages // 1000)
        return bad, scoring.oom_score(bad, self.totalpages)

    def sample(self, p: Proc) -> ProcessSample:
        """The row of ``p``'s last reading."""
        _, score = self.score(p.info.pid, p.total_kb, p.pte, p.adj)
        return ProcessSample(p.ts, p.info, p.anon, p.file, p.shmem, p.swap, p.adj, score)

    # --- identity ----------------------------------------------------------------------------

    def _name(self, raw: bytes) -> str:
        name = self._names.get(raw)
        if name is None:
            if len(self._names) > 4096:
                self._names.clear()
            name = self._names[raw] = sys.intern(procfs.unescape_comm(raw))
        return name

    def _cgroup(self, pid: int) -> str | None:
        if self.hierarchy is None:
            return None
        data = read_quiet(f"{self.root}/{pid}/cgroup", 4096)
        if not data:
            return None
        path = cgroups.path_of(self.hierarchy, procfs.parse_cgroup(data.decode("utf-8", "replace")))
        return sys.intern(path) if path is not None else None

    def _identity(self, pid: int, name: str, uid: int, cgroup: str | None) -> ProcessInfo | None:
        stat = read_quiet(f"{self.root}/{pid}/stat", 4096)
        if not stat:
            return None
        try:
            start = procfs.parse_stat(stat.decode("utf-8", "replace")).starttime
        except (OomkitError, ValueError):
            return None
        raw = read_quiet(f"{self.root}/{pid}/cmdline", MAX_CMDLINE)
        cmdline = procfs.parse_cmdline(raw[:MAX_CMDLINE]) if raw else ""
        return ProcessInfo(pid, start, name, cmdline, uid, cgroup)

    def _stream(self, pids: Iterable[int]) -> Iterator[tuple[int, str, int, int, int, int, int, int, int]]:
        """(pid, name, uid, anon, file, shmem, swap, pte, adj) per pid with an mm, one at a time."""
        root = self.root
        for pid in pids:
            data = read_quiet(f"{root}/{pid}/status")
            if data is None:
                continue
            mem = memory_of(data)
            if mem is None:
                self._no_mm.add(pid)
                continue
            adj_raw = read_quiet(f"{root}/{pid}/oom_score_adj", 32)
            try:
                adj = int(adj_raw) if adj_raw else 0
            except ValueError:
                continue
            name, uid, anon, file_, shmem, swap, pte = mem
            yield pid, self._name(name), uid, anon, file_, shmem, swap, pte, adj

    def adopt(self, pids: Iterable[int], now: float, ts: float) -> list[Proc]:
        """Start tracking ``pids`` (status, oom_score_adj, stat, cmdline, cgroup)."""
        out = []
        for pid, name, uid, anon, file_, shmem, swap, pte, adj in self._stream(sorted(set(pids))):
            info = self._identity(pid, name, uid, self._cgroup(pid))
            if info is None:
                continue
            p = Proc(info, adj, now, self.probation)
            p.set(ts, anon, file_, shmem, swap, pte)
            p.scan_t, p.scan_total = ts, p.total_kb
            self.procs[pid] = p
            if self.probation > 0 and len(self.probing) < MAX_PROBING:
                self.probing.add(pid)
            out.append(p)
        return out

    def _renamed(self, p: Proc, name: str, cgroup: str | None) -> bool:
        """comm changed: an exec (same start time: new cmdline, maybe a new cgroup; True)
        or a reused pid (False: the caller drops ``p``)."""
        info = self._identity(p.info.pid, name, p.info.uid, cgroup or self._cgroup(p.info.pid))
        if info is None or info.start_ticks != p.info.start_ticks:
            return False
        p.info = info
        return True

    def _drop(self, pid: int) -> Proc:
        self.probing.discard(pid)
        return self.procs.pop(pid)

    # --- the tiers ---------------------------------------------------------------------------

    def last_pid(self) -> int | None:
        """The pid the kernel allocated last (/proc/loadavg's fifth field), threads included."""
        data = read_quiet(f"{self.root}/loadavg", 256)
        try:
            return int(data.rsplit(b" ", 1)[-1]) if data else None
        except ValueError:
            return None

    def forked(self) -> bool:
        """Whether a task was created since the last call; remembers the last pid."""
        last = self.last_pid()
        moved = last is None or last != self._last_pid
        self._last_pid = last
        return moved

    def _candidates(self, prev: int | None, last: int | None) -> list[int] | None:
        """Pids allocated in (prev, last], wrapping at pid_max; None when too many to probe."""
        if prev is None or last is None:
            return None
        if last >= prev:
            count = last - prev
            return list(range(prev + 1, last + 1)) if count <= MAX_PROBE else None
        if self._pid_max is None:
            text = read_quiet(f"{self.root}/sys/kernel/pid_max", 64)
            self._pid_max = int(text) if text and text.strip().isdigit() else procfs.PID_MAX_LIMIT
        count = self._pid_max - prev + last
        if count > MAX_PROBE:
            return None
        return [*range(prev + 1, self._pid_max), *range(1, last + 1)]

    def poll_new(self, now: float, ts: float) -> tuple[list[Proc], list[Proc]]:
        """(new processes, processes gone) since the last look.

        The kernel hands out pids in order, so the processes created since the last look
        have pids between the previous and the current last pid: those few are probed
        (a thread's /proc/TID exists too, but its Tgid is another pid). Only when more
        than ``MAX_PROBE`` pids were allocated is /proc listed, which also finds the
        processes that exited; otherwise those are noticed by the fast tier or the next
        full scan.
        """
        for pid in [x for x in self.probing if self.procs[x].new_until <= now]:
            self.probing.discard(pid)
        prev, last = self._last_pid, self.last_pid()
        self._last_pid = last
        if last is not None and last == prev:
            return [], []
        probe = self._candidates(prev, last)
        if probe is not None:
            new = [pid for pid in probe if pid not in self.procs and self._is_process(pid)]
            return (self.adopt(new, now, ts) if new else []), []
        try:
            listed = {int(n) for n in os.listdir(self.root) if n.isdecimal()}
        except OSError:
            return [], []
        self._no_mm &= listed
        gone = [self._drop(pid) for pid in [p for p in self.procs if p not in listed]]
        new = [pid for pid in listed if pid not in self.procs and pid not in self._no_mm]
        return (self.adopt(new, now, ts) if new else []), gone

    def _is_process(self, pid: int) -> bool:
        """A thread-group leader (not a thread, not gone)."""
        data = read_quiet(f"{self.root}/{pid}/status", 1024)
        if not data:
            return False
        i = data.find(b"\nTgid:\t")
        return i >= 0 and data[i + 7 : data.find(b"\n", i + 7)].strip() == str(pid).encode()

    def read(self, pids: Iterable[int], ts: float) -> tuple[list[Proc], list[Proc], list[Proc]]:
        """The fast tier: (read, gone, renamed); one status read per process."""
        read, gone, renamed = [], [], []
        root = self.root
        for pid in pids:
            p = self.procs.get(pid)
            if p is None:
                continue
            data = read_quiet(f"{root}/{pid}/status")
            mem = memory_of(data) if data else None
            if mem is None:  # exited (or a zombie: no mm any more)
                gone.append(self._drop(pid))
                continue
            raw, _uid, anon, file_, shmem, swap, pte = mem
            name = self._name(raw)
            if name != p.info.name:
                if not self._renamed(p, name, None):
                    gone.append(self._drop(pid))
                    continue
                renamed.append(p)
            p.set(ts, anon, file_, shmem, swap, pte)
            read.append(p)
        return read, gone, renamed

    def full_scan(self, ts: float, now: float
                  ) -> tuple[list[Proc], list[Proc], list[Proc], list[Proc]]:
        """Every process: (all tracked, new, gone, renamed); growth since the last full scan."""
        by_pid = cgroups.pids_by_cgroup(self.hierarchy) if self.hierarchy is not None else {}
        try:
            listed = sorted(int(n) for n in os.listdir(self.root) if n.isdecimal())
        except OSError:
            return list(self.procs.values()), [], [], []
        self._no_mm.clear()
        seen: set[int] = set()
        fresh: list[int] = []
        renamed: list[Proc] = []
        gone: list[Proc] = []
        for pid, name, _uid, anon, file_, shmem, swap, pte, adj in self._stream(listed):
            p = self.procs.get(pid)
            if p is None:
                fresh.append(pid)
                continue
            seen.add(pid)
            cgroup = by_pid.get(pid)
            if name != p.info.name:
                if not self._renamed(p, name, cgroup):
                    gone.append(self._drop(pid))
                    seen.discard(pid)
                    fresh.append(pid)
                    continue
                renamed.append(p)
            elif cgroup is not None and cgroup != p.info.cgroup:
                i = p.info
                p.info = ProcessInfo(i.pid, i.start_ticks, i.name, i.cmdline, i.uid,
                                     sys.intern(cgroup))
                renamed.append(p)
            p.adj = adj
            p.set(ts, anon, file_, shmem, swap, pte)
            total = p.total_kb
            if p.scan_total >= 0 and ts > p.scan_t:
                p.growth = (total - p.scan_total) / (ts - p.scan_t)
            p.scan_t, p.scan_total = ts, total
        gone.extend(self._drop(pid) for pid in [x for x in self.procs if x not in seen])
        new = self.adopt(fresh, now, ts) if fresh else []
        return list(self.procs.values()), new, gone, renamed
