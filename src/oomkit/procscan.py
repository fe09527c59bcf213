"""The whole-system process scan behind `oomkit top`, `protect --list` and `--match`.

Per PID it reads two files with os.open/os.read: /proc/PID/status (name, uid
and every memory counter the badness needs, in one read) and
/proc/PID/oom_score_adj. Cgroup paths come from the caller, prefetched from
each cgroup's cgroup.procs (one read per cgroup instead of one per PID).
Vanished PIDs are skipped silently; kernel threads and zombies are left out
because the kernel never scores them (no mm: mm/oom_kill.c find_lock_task_mm).
The reading is kept to the minimum because it dominates the run time: status
costs ~20 us of kernel time per process (fs/proc/array.c proc_pid_status).
When the optional C module oomkit._procscan is built, it does these reads and
the parse on every CPU with the GIL released (2,000+ processes: ~2x faster on
two CPUs); otherwise the same reads run here in Python, with the same results.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence

from oomkit.errors import OomkitError, ParseError
from oomkit.procfs import (
    PROC,
    CgroupLine,
    ProcStatus,
    StatusFields,
    StrPath,
    list_pids,
    parse_status,
    read_bytes,
    read_cgroup,
    read_cmdline,
    status_fields,
    unescape_comm,
)
from oomkit.procmodels import ProcessSnapshot

try:  # optional C module (setup.py); without it the same reads run in Python
    from oomkit import _procscan
except ImportError:  # pragma: no cover - depends on the build
    _procscan = None  # type: ignore[assignment]

_RDONLY = os.O_RDONLY | os.O_CLOEXEC


def _thread_with_mm(base: str, status: ProcStatus) -> ProcStatus | None:
    """A zombie thread-group leader whose other threads still run: the kernel's
    find_lock_task_mm() scores the mm of any live thread, so read one of theirs."""
    try:
        tids = sorted(os.listdir(base + "task"), key=int)
    except OSError:
        return None
    for tid in tids:
        try:
            found = parse_status(read_bytes(f"{base}task/{tid}/status"))
        except OomkitError:
            continue
        if found.has_mm:
            return ProcStatus(status.name, status.state, status.uid, status.threads, True,
                              found.anon_kb, found.file_kb, found.shmem_kb, found.swap_kb,
                              found.pte_kb)
    return None


# (pid, oom_score_adj, status_fields() or None, the status bytes when those are None)
Record = tuple[int, int, StatusFields | None, bytes | None]


def _read_python(root: str, pids: Iterable[int]) -> list[Record]:
    """What _procscan.scan returns, read in Python: (pid, oom_score_adj, status_fields
    or None, the status bytes when the fields are None) for each PID still there."""
    out: list[Record] = []
    opn, read, close = os.open, os.read, os.close
    for pid in pids:
        base = f"{root}/{pid}/"
        try:
            fd = opn(base + "status", _RDONLY)
            try:
                raw = read(fd, 16384)
                if len(raw) == 16384:  # e.g. thousands of supplementary groups: read on
                    while chunk := read(fd, 65536):
                        raw += chunk
            finally:
                close(fd)
            fd = opn(base + "oom_score_adj", _RDONLY)
            try:
                adj = int(read(fd, 32))
            finally:
                close(fd)
        except (OSError, ValueError):
            continue  # vanished between listdir and open, unreadable, or half-written
        fields = status_fields(raw)
        out.append((pid, adj, fields, None if fields is not None else raw))
    return out


def read_records(root: StrPath, pids: Sequence[int] | None = None, *,
                 native: bool = True) -> list[Record]:
    """The two files of each PID (None: every PID in root, ascending), parsed: in C
    on every CPU when oomkit._procscan is built (``native``), else in Python; the
    same records either way."""
    if native and _procscan is not None:
        return _procscan.scan(root, pids)
    return _read_python(os.fspath(root), list_pids(root) if pids is None else pids)


def scan_processes(
    proc_root: StrPath = PROC,
    *,
    pids: Iterable[int] | None = None,
    records: Sequence[Record] | None = None,
    cgroups: Mapping[int, str] | None = None,
    cgroup_from_file: Callable[[tuple[CgroupLine, ...]], str | None] | None = None,
    with_cmdline: bool = False,
) -> list[ProcessSnapshot]:
    """Every process that has memory (kernel threads and zombies excluded), in PID order.

    Per PID this reads two files: ``status`` (name, uid and every memory counter
    in one read) and ``oom_score_adj``. The cgroup comes from ``cgroups``
    (pid -> path, prefetched from cgroup.procs files by the caller) and only for
    PIDs missing there from ``/proc/PID/cgroup`` through ``cgroup_from_file``.
    PIDs that vanish or cannot be read are skipped silently. ``records``: what
    read_records() (or a _procscan.start() begun earlier) returned, instead of
    reading now.
    """
    root = str(proc_root)
    if records is None:
        records = read_records(root, None if pids is None else sorted(set(pids)))
    out: list[ProcessSnapshot] = []
    known = cgroups if cgroups is not None else {}
    comms: dict[bytes, str] = {}  # thousands of processes share a few names and states
    states: dict[bytes, str] = {}
    for pid, adj, fast, raw in records:
        if fast is None:
            try:
                st = parse_status(raw or b"")
            except (ValueError, ParseError):
                continue  # half-written by an exiting task
            if not st.has_mm:
                if st.state != "Z" or st.threads < 2:
                    continue  # kernel thread or zombie: no mm, never scored
                found = _thread_with_mm(f"{root}/{pid}/", st)
                if found is None:
                    continue
                st = found
            name, state, uid = st.name, st.state, st.uid
            anon, file_, shmem, swap, pte = (st.anon_kb, st.file_kb, st.shmem_kb,
                                             st.swap_kb, st.pte_kb)
        else:
            raw_name, raw_state, uid, anon, file_, shmem, swap, pte = fast
            name = comms.get(raw_name) or comms.setdefault(raw_name, unescape_comm(raw_name))
            state = states.get(raw_state) or states.setdefault(raw_state, raw_state.decode())
        cgroup = known.get(pid)
        if cgroup is None and cgroup_from_file is not None:
            try:
                cgroup = cgroup_from_file(read_cgroup(pid, proc_root))
            except OomkitError:
                cgroup = None
        cmdline = None
        if with_cmdline:
            try:
                cmdline = read_cmdline(pid, proc_root)
            except OomkitError:
                cmdline = ""
        out.append(ProcessSnapshot(pid, name, uid, state, anon, file_, shmem, swap, pte, adj,
                                   cgroup, cmdline, len(out)))
    return out
