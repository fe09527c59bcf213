"""/proc: pure parsers over file text, thin readers over a root path, and a fast whole-system scan.

Parsers (``parse_*``) take the text (or bytes) of one file and never do I/O.
Readers take ``proc_root`` (default ``/proc``) so tests can point them at a
fake tree under ``tests/data/proc/<case>/``; they translate ``OSError`` into
``errors.ProcessGone`` / ``errors.AccessDenied`` once, here.

File formats are from proc(5) and the kernel functions that print them:
``/proc/PID/status`` (fs/proc/array.c ``proc_pid_status`` + fs/proc/task_mmu.c
``task_mem``), ``/proc/PID/stat`` (fs/proc/array.c ``do_task_stat``),
``/proc/meminfo`` (fs/proc/meminfo.c), ``/proc/vmstat`` (mm/vmstat.c),
``/proc/pressure/*`` (kernel/sched/psi.c), ``/proc/swaps`` (mm/swapfile.c
``swap_show``), ``/proc/PID/mountinfo`` (fs/proc_namespace.c ``show_mountinfo``).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from oomkit.errors import AccessDenied, OomkitError, ParseError, ProcessGone
from oomkit.models import ProcessSnapshot

PROC = Path("/proc")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_RDONLY = os.O_RDONLY | os.O_CLOEXEC


# --- pure parsers -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcStatus:
    """The fields of /proc/PID/status that OOM scoring needs. kB unless named otherwise.

    ``has_mm`` is False for kernel threads and zombies: ``proc_pid_status`` prints
    the Vm*/Rss* block only when ``get_task_mm()`` returns an mm, and it never does
    for PF_KTHREAD tasks. The kernel's badness is LONG_MIN for those.
    """

    name: str
    state: str
    uid: int
    threads: int
    has_mm: bool
    anon_kb: int
    file_kb: int
    shmem_kb: int
    swap_kb: int
    pte_kb: int


def _unescape_comm(raw: bytes) -> str:
    # proc_task_name() escapes only '\n' and '\\' in the Name: line
    # (seq_escape_str(..., ESCAPE_SPACE | ESCAPE_SPECIAL, "\n\\")).
    if b"\\" in raw:
        raw = raw.replace(b"\\n", b"\n").replace(b"\\\\", b"\\")
    return raw.decode("utf-8", "replace")


def _status_kb(data: bytes, key: bytes) -> int | None:
    """The number on the ``\\nKey:`` line of a status file (``"  1234 kB"`` or ``"3"``)."""
    i = data.find(key)
    if i < 0:
        return None
    i += len(key)
    j = data.find(b"\n", i)
    value = data[i:j] if j >= 0 else data[i:]
    if value.endswith(b" kB"):
        value = value[:-3]
    return int(value)


def parse_status(data: bytes | str) -> ProcStatus:
    """Parse /proc/PID/status. Finds only the lines it needs, so it is cheap on 5,000 PIDs."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    if not data.startswith(b"Name:\t"):
        raise ParseError(f"status: expected 'Name:' first, got {data[:20]!r}")
    end = data.find(b"\n")
    name = _unescape_comm(data[6:end])
    i = data.find(b"\nState:\t")
    state = chr(data[i + 8]) if i >= 0 else "?"
    i = data.find(b"\nUid:\t")
    if i < 0:
        raise ParseError(f"status of {name!r}: no Uid: line")
    uid = int(data[i + 6 : data.find(b"\t", i + 6)])
    threads = _status_kb(data, b"\nThreads:\t") or 1
    anon = _status_kb(data, b"\nRssAnon:\t")
    if anon is None:
        rss = _status_kb(data, b"\nVmRSS:\t")
        if rss is None:  # no mm: kernel thread or zombie
            return ProcStatus(name, state, uid, threads, False, 0, 0, 0, 0, 0)
        # Before 4.5 (no RssAnon/RssFile/RssShmem) only the total is known; the
        # badness needs only the total, so it is reported as anonymous memory.
        anon, file_, shmem = rss, 0, 0
    else:
        file_ = _status_kb(data, b"\nRssFile:\t") or 0
        shmem = _status_kb(data, b"\nRssShmem:\t") or 0
    swap = _status_kb(data, b"\nVmSwap:\t") or 0
    # VmPTE = mm_pgtables_bytes(mm) >> 10 (task_mem). pgtables_bytes counts whole
    # page-table pages, so VmPTE * 1024 // PAGE_SIZE equals pgtables_bytes / PAGE_SIZE.
    pte = _status_kb(data, b"\nVmPTE:\t") or 0
    return ProcStatus(name, state, uid, threads, True, anon, file_, shmem, swap, pte)


@dataclass(frozen=True, slots=True)
class ProcStat:
    """A few fields of /proc/PID/stat (proc(5) numbering in comments)."""

    pid: int  # (1)
    comm: str  # (2), without the parentheses
    state: str  # (3)
    ppid: int  # (4)
    flags: int  # (9) PF_* flags; PF_KTHREAD = 0x00200000
    num_threads: int  # (20)
    starttime: int  # (22) clock ticks after boot
    rss_pages: int  # (24) get_mm_rss()


PF_KTHREAD = 0x00200000  # include/linux/sched.h


def parse_stat(text: str) -> ProcStat:
    """Parse /proc/PID/stat. comm may contain spaces and ')' so it ends at the LAST ')'."""
    left = text.find("(")
    right = text.rfind(")")
    if left < 0 or right < left:
        raise ParseError(f"stat: no '(comm)' in {text[:40]!r}")
    rest = text[right + 2 :].split()
    if len(rest) < 22:
        raise ParseError(f"stat: {len(rest)} fields after comm, expected at least 22")
    # rest[0] is field (3); field (n) is rest[n - 3].
    return ProcStat(
        pid=int(text[:left]),
        comm=text[left + 1 : right],
        state=rest[0],
        ppid=int(rest[1]),
        flags=int(rest[6]),
        num_threads=int(rest[17]),
        starttime=int(rest[19]),
        rss_pages=int(rest[21]),
    )


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo as {key: value}; values in kB except the HugePages_* counts."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        parts = value.split()
        if parts:
            out[key.strip()] = int(parts[0])
    return out


def parse_vmstat(text: str) -> dict[str, int]:
    """/proc/vmstat as {counter: value} (e.g. ``oom_kill``, since 4.13)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value:
            out[key] = int(value)
    return out


@dataclass(frozen=True, slots=True)
class PsiLine:
    """One PSI line: % of wall time stalled over 10/60/300 s, and total stall in microseconds."""

    avg10: float
    avg60: float
    avg300: float
    total_us: int


@dataclass(frozen=True, slots=True)
class Pressure:
    """/proc/pressure/<resource> (Documentation/accounting/psi.rst). ``full`` may be absent (cpu)."""

    some: PsiLine
    full: PsiLine | None


def parse_psi(text: str) -> Pressure:
    """Parse ``some avg10=0.00 avg60=0.00 avg300=0.00 total=0`` (and the ``full`` line)."""
    lines: dict[str, PsiLine] = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        values = dict(item.split("=", 1) for item in rest.split())
        try:
            lines[kind] = PsiLine(
                float(values["avg10"]), float(values["avg60"]), float(values["avg300"]),
                int(values["total"]),
            )
        except (KeyError, ValueError) as exc:
            raise ParseError(f"pressure: bad line {line!r}") from exc
    if "some" not in lines:
        raise ParseError("pressure: no 'some' line")
    return Pressure(lines["some"], lines.get("full"))


def _unoctal(field: str) -> str:
    # mangle() in fs/proc_namespace.c writes space, tab, newline and backslash as \ooo.
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


@dataclass(frozen=True, slots=True)
class SwapDevice:
    """A line of /proc/swaps. Sizes in kB; a higher priority is used first."""

    filename: str
    type: str  # "partition" or "file"
    size_kb: int
    used_kb: int
    priority: int


def parse_swaps(text: str) -> tuple[SwapDevice, ...]:
    """Parse /proc/swaps (header line first; filename escaped like mountinfo)."""
    out = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 5:
            out.append(SwapDevice(_unoctal(parts[0]), parts[1], int(parts[2]), int(parts[3]),
                                  int(parts[4])))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Mount:
    """One line of /proc/PID/mountinfo."""

    root: str  # the path inside the filesystem that is mounted (e.g. a cgroup subtree)
    mount_point: str
    fstype: str
    source: str
    super_options: tuple[str, ...]


def parse_mountinfo(text: str) -> tuple[Mount, ...]:
    """Parse mountinfo: ``id parent maj:min root mountpoint opts [optional...] - fstype source superopts``."""
    out = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if not sep or len(fields) < 6 or len(rfields) < 2:
            continue
        supers = tuple(rfields[2].split(",")) if len(rfields) > 2 else ()
        out.append(Mount(_unoctal(fields[3]), _unoctal(fields[4]), rfields[0], rfields[1], supers))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class CgroupLine:
    """A line of /proc/PID/cgroup: ``hierarchy-ID:controller-list:path`` (v2: ``0::path``)."""

    hierarchy_id: int
    controllers: tuple[str, ...]
    path: str


def parse_cgroup(text: str) -> tuple[CgroupLine, ...]:
    """Parse /proc/PID/cgroup (cgroups(7)); the path may itself contain ':'."""
    out = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and parts[0].isdigit():
            ctrl = tuple(c for c in parts[1].split(",") if c)
            out.append(CgroupLine(int(parts[0]), ctrl, parts[2]))
    return tuple(out)


def parse_cmdline(data: bytes) -> str:
    """/proc/PID/cmdline: NUL-separated arguments, joined with spaces (empty for zombies)."""
    return data.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")


# --- readers ------------------------------------------------------------------------------------


def _translate(exc: OSError, path: str, pid: int | None) -> OomkitError:
    """Map an OSError from a /proc read to the domain error (psutil's wrap_exceptions idea)."""
    if exc.errno in (errno.ENOENT, errno.ESRCH) and pid is not None:
        return ProcessGone(f"process {pid} exited while reading {path}")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return AccessDenied(f"permission denied reading {path}; run as root")
    return OomkitError(f"cannot read {path}: {exc.strerror or exc}")


def read_bytes(path: str | Path, pid: int | None = None, size: int = 16384) -> bytes:
    """Read a whole (small) /proc or /sys file with os.open/os.read; errors translated."""
    spath = str(path)
    try:
        fd = os.open(spath, _RDONLY)
        try:
            # A seq_file may return less than asked before its end (cgroup.procs,
            # mountinfo: one buffer of records per read), so read until EOF.
            chunks = []
            while chunk := os.read(fd, size):
                chunks.append(chunk)
            data = b"".join(chunks)
        finally:
            os.close(fd)
    except OSError as exc:
        raise _translate(exc, spath, pid) from exc
    return data


def read_text(path: str | Path, pid: int | None = None) -> str:
    """Like read_bytes, decoded (undecodable bytes replaced)."""
    return read_bytes(path, pid).decode("utf-8", "replace")


def read_optional(path: str | Path) -> str | None:
    """The file's text, or None when it does not exist or cannot be read (absent feature)."""
    try:
        return read_text(path)
    except OomkitError:
        return None


def read_status(pid: int, proc_root: Path = PROC) -> ProcStatus:
    """/proc/PID/status, parsed."""
    return parse_status(read_bytes(proc_root / str(pid) / "status", pid))


def read_stat(pid: int, proc_root: Path = PROC) -> ProcStat:
    """/proc/PID/stat, parsed."""
    return parse_stat(read_text(proc_root / str(pid) / "stat", pid))


def read_oom_score_adj(pid: int, proc_root: Path = PROC) -> int:
    """/proc/PID/oom_score_adj (-1000..1000)."""
    return int(read_bytes(proc_root / str(pid) / "oom_score_adj", pid))


def read_oom_score(pid: int, proc_root: Path = PROC) -> int:
    """/proc/PID/oom_score as the kernel computes it (fs/proc/base.c ``proc_oom_score``)."""
    return int(read_bytes(proc_root / str(pid) / "oom_score", pid))


def read_cmdline(pid: int, proc_root: Path = PROC) -> str:
    """/proc/PID/cmdline joined with spaces."""
    return parse_cmdline(read_bytes(proc_root / str(pid) / "cmdline", pid))


def read_cgroup(pid: int | str, proc_root: Path = PROC) -> tuple[CgroupLine, ...]:
    """/proc/PID/cgroup (``pid`` may be ``"self"``)."""
    num = pid if isinstance(pid, int) else None
    return parse_cgroup(read_text(proc_root / str(pid) / "cgroup", num))


def read_meminfo(proc_root: Path = PROC) -> dict[str, int]:
    """/proc/meminfo, parsed."""
    return parse_meminfo(read_text(proc_root / "meminfo"))


def read_vmstat(proc_root: Path = PROC) -> dict[str, int]:
    """/proc/vmstat, parsed."""
    return parse_vmstat(read_text(proc_root / "vmstat"))


def read_psi(resource: str = "memory", proc_root: Path = PROC) -> Pressure | None:
    """/proc/pressure/<resource>, or None when PSI is absent (no CONFIG_PSI, or psi=0)."""
    # With CONFIG_PSI but psi disabled at boot the file exists and reads fail with
    # EOPNOTSUPP; read_optional turns both cases into None.
    text = read_optional(proc_root / "pressure" / resource)
    return parse_psi(text) if text else None


def read_swaps(proc_root: Path = PROC) -> tuple[SwapDevice, ...]:
    """/proc/swaps, parsed (empty when there is no swap)."""
    text = read_optional(proc_root / "swaps")
    return parse_swaps(text) if text else ()


def read_mountinfo(proc_root: Path = PROC) -> tuple[Mount, ...]:
    """/proc/self/mountinfo, parsed (empty when unreadable)."""
    text = read_optional(proc_root / "self" / "mountinfo")
    return parse_mountinfo(text) if text else ()


def read_sysctl(name: str, proc_root: Path = PROC) -> str | None:
    """A sysctl by its dotted name (``vm.overcommit_memory``), stripped; None if absent."""
    text = read_optional(proc_root / "sys" / name.replace(".", "/"))
    return text.strip() if text is not None else None


def list_pids(proc_root: Path = PROC) -> list[int]:
    """Every PID in /proc, ascending (proc_pid_readdir walks PIDs in numeric order)."""
    try:
        names = os.listdir(proc_root)
    except OSError as exc:
        raise _translate(exc, str(proc_root), None) from exc
    return sorted(int(n) for n in names if n.isdigit())


# --- the whole-system scan ----------------------------------------------------------------------


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


def scan_processes(
    proc_root: Path = PROC,
    *,
    pids: Iterable[int] | None = None,
    cgroups: Mapping[int, str] | None = None,
    cgroup_from_file: Callable[[tuple[CgroupLine, ...]], str | None] | None = None,
    with_cmdline: bool = False,
) -> list[ProcessSnapshot]:
    """Every process that has memory (kernel threads and zombies excluded), in PID order.

    Per PID this reads two files: ``status`` (name, uid and every memory counter
    in one read) and ``oom_score_adj``. The cgroup comes from ``cgroups``
    (pid -> path, prefetched from cgroup.procs files by the caller) and only for
    PIDs missing there from ``/proc/PID/cgroup`` through ``cgroup_from_file``.
    PIDs that vanish or cannot be read are skipped silently.
    """
    root = str(proc_root)
    numbers = list_pids(proc_root) if pids is None else sorted(set(pids))
    out: list[ProcessSnapshot] = []
    read = os.read
    for pid in numbers:
        base = f"{root}/{pid}/"
        try:
            fd = os.open(base + "status", _RDONLY)
            try:
                raw = read(fd, 16384)
            finally:
                os.close(fd)
            fd = os.open(base + "oom_score_adj", _RDONLY)
            try:
                adj = int(read(fd, 32))
            finally:
                os.close(fd)
            st = parse_status(raw)
        except (OSError, ValueError, ParseError):
            continue  # vanished, unreadable, or half-written by an exiting task
        if not st.has_mm:
            if st.state != "Z" or st.threads < 2:
                continue
            found = _thread_with_mm(base, st)
            if found is None:
                continue
            st = found
        cgroup = cgroups.get(pid) if cgroups is not None else None
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
        out.append(ProcessSnapshot(
            pid, st.name, st.uid, st.state, st.anon_kb, st.file_kb, st.shmem_kb, st.swap_kb,
            st.pte_kb, adj, cgroup, cmdline, len(out),
        ))
    return out
