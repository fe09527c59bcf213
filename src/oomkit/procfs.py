"""/proc: pure parsers over file text and thin readers over a root path.

Parsers (``parse_*``) take the text (or bytes) of one file and never do I/O.
Readers take ``proc_root`` (default ``/proc``) so tests can point them at a
fake tree under ``tests/data/proc/<case>/``; they translate ``OSError`` into
``errors.ProcessGone`` / ``errors.AccessDenied`` once, here. The whole-system
scan is in procscan.py. Parse results are NamedTuples: cheap to build by the
thousand (a frozen dataclass costs several times more) and immutable.

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
import re
from typing import TYPE_CHECKING, Any, NamedTuple, Union

from oomkit.errors import AccessDenied, OomkitError, ParseError, ProcessGone

if TYPE_CHECKING:
    from oomkit.procmodels import ProcessSnapshot

# Paths are plain strings (a pathlib.Path is accepted wherever one is taken): pathlib
# and the urllib/ipaddress modules it imports would cost the daemon 0.6 MiB.
StrPath = Union[str, "os.PathLike[str]"]
PROC = "/proc"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
# The largest kernel.pid_max can be on 64-bit (include/linux/threads.h): every PID is
# below it, whatever this machine's pid_max says.
PID_MAX_LIMIT = 4 * 1024 * 1024
_RDONLY = os.O_RDONLY | os.O_CLOEXEC


# --- pure parsers -------------------------------------------------------------------------------


class ProcStatus(NamedTuple):
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


def unescape_comm(raw: bytes) -> str:
    """The Name: of a status file as text (the kernel escapes '\\n' and '\\\\')."""
    # proc_task_name() escapes only '\n' and '\\' in the Name: line
    # (seq_escape_str(..., ESCAPE_SPACE | ESCAPE_SPECIAL, "\n\\")). One pass, so
    # that an escaped backslash followed by the letter n stays a backslash and an n.
    if b"\\" in raw:
        raw = _COMM_ESCAPE.sub(_unescape_one, raw)
    return raw.decode("utf-8", "replace")


_COMM_ESCAPE = re.compile(rb"\\([n\\])")


def _unescape_one(m: re.Match[bytes]) -> bytes:
    return b"\n" if m.group(1) == b"n" else b"\\"


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


# The lines parse_status needs, in the order proc_pid_status() prints them: Name,
# (Umask since 4.7), State, Tgid, Ngid, Pid, PPid, TracerPid, Uid (task_state), then
# task_mem()'s block: ... RssAnon, RssFile, RssShmem (4.5+), VmData, VmStk, VmExe,
# VmLib, VmPTE, (VmPMD 4.0-4.14), VmSwap. Two anchored regexes read them in ~5 us;
# anything unexpected falls back to the key-by-key search.
_HEAD = re.compile(rb"Name:\t([^\n]*)\n(?:[^\n]*\n){0,2}?State:\t(\S)[^\n]*\n"
                   rb"(?:[^\n]*\n){0,6}?Uid:\t(\d+)")
_MEM = re.compile(rb"\nRssAnon:\t *(\d+) kB\nRssFile:\t *(\d+) kB\nRssShmem:\t *(\d+) kB\n"
                  rb"(?:[^\n]*\n){0,6}?VmPTE:\t *(\d+) kB\n(?:[^\n]*\n){0,2}?VmSwap:\t *(\d+) kB")


# status_fields(): (name, state, uid, anon, file, shmem, swap, pte), the kB figures as
# printed; name and state as the raw bytes. Also what oomkit._procscan returns.
StatusFields = tuple[bytes, bytes, int, int, int, int, int, int]


def status_fields(data: bytes) -> StatusFields | None:
    """Fast path of parse_status: (name, state, uid, anon, file, shmem, swap, pte) in kB,
    or None when the regexes do not fit (no mm, or an unfamiliar layout)."""
    head = _HEAD.match(data)
    if head is None:
        return None
    mem = _MEM.search(data, head.end())
    if mem is None:
        return None
    a, f, sh, pte, sw = mem.groups()
    return (head.group(1), head.group(2), int(head.group(3)), int(a), int(f), int(sh),
            int(sw), int(pte))


def parse_status(data: bytes | str) -> ProcStatus:
    """Parse /proc/PID/status: name, state, real uid, threads and the memory counters."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    if not data.startswith(b"Name:\t"):
        raise ParseError(f"status: expected 'Name:' first, got {data[:20]!r}")
    threads = _status_kb(data, b"\nThreads:\t") or 1
    fast = status_fields(data)
    if fast is not None:
        name, state, uid, anon, file_, shmem, swap, pte = fast
        return ProcStatus(unescape_comm(name), state.decode(), uid, threads, True, anon,
                          file_, shmem, swap, pte)
    end = data.find(b"\n")
    name_s = unescape_comm(data[6:end])
    i = data.find(b"\nState:\t")
    state_s = chr(data[i + 8]) if i >= 0 else "?"
    i = data.find(b"\nUid:\t")
    if i < 0:
        raise ParseError(f"status of {name_s!r}: no Uid: line")
    uid = int(data[i + 6 : data.find(b"\t", i + 6)])
    anon_kb = _status_kb(data, b"\nRssAnon:\t")
    if anon_kb is None:
        rss = _status_kb(data, b"\nVmRSS:\t")
        if rss is None:  # no mm: kernel thread or zombie
            return ProcStatus(name_s, state_s, uid, threads, False, 0, 0, 0, 0, 0)
        # Before 4.5 (no RssAnon/RssFile/RssShmem) only the total is known; the
        # badness needs only the total, so it is reported as anonymous memory.
        anon_kb, file_kb, shmem_kb = rss, 0, 0
    else:
        file_kb = _status_kb(data, b"\nRssFile:\t") or 0
        shmem_kb = _status_kb(data, b"\nRssShmem:\t") or 0
    swap_kb = _status_kb(data, b"\nVmSwap:\t") or 0
    # VmPTE = mm_pgtables_bytes(mm) >> 10 (task_mem). pgtables_bytes counts whole
    # page-table pages, so VmPTE * 1024 // PAGE_SIZE equals pgtables_bytes / PAGE_SIZE.
    # (4.0-4.14 printed PTE pages only and PMD pages as VmPMD, which their badness also
    # counted; those few pages are ignored here.)
    pte_kb = _status_kb(data, b"\nVmPTE:\t") or 0
    return ProcStatus(name_s, state_s, uid, threads, True, anon_kb, file_kb, shmem_kb, swap_kb,
                      pte_kb)


class ProcStat(NamedTuple):
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


class PsiLine(NamedTuple):
    """One PSI line: % of wall time stalled over 10/60/300 s, and total stall in microseconds."""

    avg10: float
    avg60: float
    avg300: float
    total_us: int


class Pressure(NamedTuple):
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
        if field[i] == "\\" and field[i + 1 : i + 4].isdecimal():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


class SwapDevice(NamedTuple):
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


class Mount(NamedTuple):
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


class CgroupLine(NamedTuple):
    """A line of /proc/PID/cgroup: ``hierarchy-ID:controller-list:path`` (v2: ``0::path``)."""

    hierarchy_id: int
    controllers: tuple[str, ...]
    path: str


def parse_cgroup(text: str) -> tuple[CgroupLine, ...]:
    """Parse /proc/PID/cgroup (cgroups(7)); the path may itself contain ':'."""
    out = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and parts[0].isdecimal():
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


def read_bytes(path: StrPath, pid: int | None = None, size: int = 16384) -> bytes:
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


def read_quiet(path: str, size: int = 16384) -> bytes | None:
    """A small /proc, /sys or cgroupfs file, or None when it cannot be read (a pid that
    exited, a feature that is absent). For the recorder's hot path: one read() in the common
    case. A seq_file hands out at most a page per read when its records overflow the buffer
    (fs/seq_file.c), so a read that fills ``size`` or a whole page is read on to EOF.
    """
    try:
        fd = os.open(path, _RDONLY)
    except OSError:
        return None
    try:
        data = os.read(fd, size)
        if len(data) >= min(size, 4096):
            chunks = [data]
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
            data = b"".join(chunks)
        return data
    except OSError:
        return None
    finally:
        os.close(fd)


def read_text(path: StrPath, pid: int | None = None) -> str:
    """Like read_bytes, decoded (undecodable bytes replaced)."""
    return read_bytes(path, pid).decode("utf-8", "replace")


def read_optional(path: StrPath) -> str | None:
    """The file's text, or None when it does not exist or cannot be read (absent feature)."""
    try:
        return read_text(path)
    except OomkitError:
        return None


def parse_arcstats(text: str) -> dict[str, int]:
    """``/proc/spl/kstat/zfs/arcstats`` (ZFS on Linux, a kstat): a header line, ``name type
    data``, then one ``name type value`` row per counter (type 4 = uint64). Bad rows are
    skipped."""
    out: dict[str, int] = {}
    for line in text.splitlines()[2:]:
        parts = line.split()
        if len(parts) == 3 and parts[2].isdecimal():
            out[parts[0]] = int(parts[2])
    return out


def read_arcstats(proc_root: StrPath = PROC) -> dict[str, int] | None:
    """The ZFS ARC's counters, or None on a machine without ZFS."""
    text = read_optional(f"{proc_root}/spl/kstat/zfs/arcstats")
    return parse_arcstats(text) if text is not None else None


def read_status(pid: int, proc_root: StrPath = PROC) -> ProcStatus:
    """/proc/PID/status, parsed."""
    return parse_status(read_bytes(f"{proc_root}/{pid}/status", pid))


def read_stat(pid: int, proc_root: StrPath = PROC) -> ProcStat:
    """/proc/PID/stat, parsed."""
    return parse_stat(read_text(f"{proc_root}/{pid}/stat", pid))


def read_oom_score_adj(pid: int, proc_root: StrPath = PROC) -> int:
    """/proc/PID/oom_score_adj (-1000..1000)."""
    return int(read_bytes(f"{proc_root}/{pid}/oom_score_adj", pid))


def read_oom_score(pid: int, proc_root: StrPath = PROC) -> int:
    """/proc/PID/oom_score as the kernel computes it (fs/proc/base.c ``proc_oom_score``)."""
    return int(read_bytes(f"{proc_root}/{pid}/oom_score", pid))


def read_cmdline(pid: int, proc_root: StrPath = PROC) -> str:
    """/proc/PID/cmdline joined with spaces."""
    return parse_cmdline(read_bytes(f"{proc_root}/{pid}/cmdline", pid))


def read_cgroup(pid: int | str, proc_root: StrPath = PROC) -> tuple[CgroupLine, ...]:
    """/proc/PID/cgroup (``pid`` may be ``"self"``)."""
    num = pid if isinstance(pid, int) else None
    return parse_cgroup(read_text(f"{proc_root}/{pid}/cgroup", num))


def read_meminfo(proc_root: StrPath = PROC) -> dict[str, int]:
    """/proc/meminfo, parsed."""
    return parse_meminfo(read_text(f"{proc_root}/meminfo"))


def read_vmstat(proc_root: StrPath = PROC) -> dict[str, int]:
    """/proc/vmstat, parsed."""
    return parse_vmstat(read_text(f"{proc_root}/vmstat"))


def read_psi(resource: str = "memory", proc_root: StrPath = PROC) -> Pressure | None:
    """/proc/pressure/<resource>, or None when PSI is absent (no CONFIG_PSI, or psi=0)."""
    # With CONFIG_PSI but psi disabled at boot the file exists and reads fail with
    # EOPNOTSUPP; read_optional turns both cases into None.
    text = read_optional(f"{proc_root}/pressure/{resource}")
    return parse_psi(text) if text else None


def read_swaps(proc_root: StrPath = PROC) -> tuple[SwapDevice, ...]:
    """/proc/swaps, parsed (empty when there is no swap)."""
    text = read_optional(f"{proc_root}/swaps")
    return parse_swaps(text) if text else ()


def read_mountinfo(proc_root: StrPath = PROC) -> tuple[Mount, ...]:
    """/proc/self/mountinfo, parsed (empty when unreadable)."""
    text = read_optional(f"{proc_root}/self/mountinfo")
    return parse_mountinfo(text) if text else ()


def read_sysctl(name: str, proc_root: StrPath = PROC) -> str | None:
    """A sysctl by its dotted name (``vm.overcommit_memory``), stripped; None if absent."""
    text = read_optional(f"{proc_root}/sys/" + name.replace(".", "/"))
    return text.strip() if text is not None else None


def list_pids(proc_root: StrPath = PROC) -> list[int]:
    """Every PID in /proc, ascending (proc_pid_readdir walks PIDs in numeric order)."""
    try:
        names = os.listdir(proc_root)
    except OSError as exc:
        raise _translate(exc, str(proc_root), None) from exc
    return sorted(int(n) for n in names if n.isdecimal())


def scan_processes(proc_root: StrPath = PROC, **kwargs: Any) -> list[ProcessSnapshot]:
    """procscan.scan_processes (the scan moved there; kept here for existing callers)."""
    from oomkit.procscan import scan_processes as scan

    return scan(proc_root, **kwargs)
