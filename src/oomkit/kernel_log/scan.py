"""Pick the lines an OOM report needs out of a large byte stream, fast.

A kern.log is mostly noise. Looping over every line in Python costs about a
microsecond a line, slower than ``grep``, so the stream is read in large
chunks and searched for every line shape a report has at once, with
Hyperscan (a multi-pattern matcher made for this: it scans at several GB/s).
Only the lines it hits are decoded and classified. Where Hyperscan is not
installed, a pure-Python filter with the same result is used instead.

A large regular file is read at offsets instead, in two passes on every CPU
(filescan.py); LineSelector hands it over.

Nothing here opens files: the functions take binary file objects or bytes.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any, Union

# mmap, queue, threading and bisect are imported where LineSelector uses them: the
# daemon imports this package for the assembler only, and each of those modules is
# ~100 KB of its resident memory (docs/daemon.md, "Where the memory goes").
if TYPE_CHECKING:
    import mmap

CHUNK = 16 << 20
# Each read fills this much of the buffer: small enough to stay in the CPU's cache
# while it is scanned and counted (L2 is 512 KiB to 2 MiB on current x86 and Arm).
PIECE = 128 << 10
# The kernel copies a read() into a buffer that is not 64-byte aligned three times
# slower on this AMD EPYC (0.47 against 0.15 s/GB: its rep movsb); a bytearray's
# data starts 16 bytes into its allocation, so reads go into a page-aligned
# anonymous mapping, at 64-byte aligned offsets.
ALIGN = 64
# Longer lines than this are cut (kmsg records are at most ~1 KiB; a JSON
# journal line with a long message is a few KiB).
MAX_LINE = 1 << 20

# One pattern per line shape (records.classify decides what each line is).
_LITERALS = [
    b"invoked oom-killer",
    b"oom-kill:",
    b"oom_reaper",
    b"oom_kill_process",
    b"mem_cgroup_out_of_memory+",  # a memcg OOM's call trace (records.MemcgFrame)
    b"mem_cgroup_oom_synchronize+",
    b"__alloc_pages_slowpath",  # the page allocator's OOM path (records.AllocatorFrame)
    b"oom.group",
    b"Killed process",
    b"no killable",
    b"kB, limit ",
    b"Comm: ",
    b", comm: ",  # <=2.6.3x "Pid: 1234, comm: ntpd"
    b"Mem-Info:",
    b"Mem-info:",  # 2.6.18
    b"Task in ",
    b"ill process",  # "Kill process" / "kill process"
    b"illing process",  # earlyoom 1.1/1.2 "Killing process" / "killing process"
    b"Memory cgroup stats for",
    b"killed as a result of limit",
    b"Memory limit reached",
    b"Kernel panic",
    b"OOM victim",
    b" pages RAM",
    b" pages reserved",
    b"slab_unreclaimable:",  # show_free_areas()'s counters
    b"shmem:",
    b"hugepages_total=",
    b"uid  tgid",
    b"by the OOM killer",  # systemd: "<unit>: A process of this unit has been killed by ..."
    b"'oom-kill'",  # systemd: "<unit>: Failed with result 'oom-kill'."
    b"systemd-oomd killed",  # systemd: "<unit>: systemd-oomd killed N process(es) in this unit."
    b"oom-kill event",  # slurmstepd: "Detected 1 oom-kill event(s) in StepId=191.batch"
    b"oom_kill event",
    b": Out Of Memory",  # srun: "srun: error: node7: task 0: Out Of Memory"
    b'"time": ',  # dmesg --json: a record's time is on the line before its message
    b'"fac": ',  # dmesg --json -x: the facility, two lines before
    # journalctl -o verbose: an entry's header (its time) and the fields a message takes
    # from its entry (journal_verbose.py)
    b" [s=",
    b"    SYSLOG_IDENTIFIER=",
    b"    _HOSTNAME=",
    b"    _BOOT_ID=",
    b"    _SOURCE_MONOTONIC_TIMESTAMP=",
    # journalctl -o json-pretty: the fields a message takes from its entry (multiline.py)
    b'\t"__REALTIME_TIMESTAMP" : ',
    b'\t"_SOURCE_MONOTONIC_TIMESTAMP" : ',
    b'\t"SYSLOG_IDENTIFIER" : ',
    b'\t"_HOSTNAME" : ',
    b'\t"_BOOT_ID" : ',
    # userspace killers
    b"sending SIG",
    b"due to memory",
    b"oomd kill:",
    b"lowmemorykiller",
    b"nohang",
    b"ow memory!",  # earlyoom "low memory!"
    b"ow Memory!",  # earlyoom 1.1 "Low Memory!"
    b"did not exit",  # earlyoom: "process N did not exit", "process N exited after S seconds"
    b" exited after ",
    b"Trying to kill",  # facebook oomd
    b"Killed /",  # systemd-oomd, also when a paste wrapped "due to" onto the next line
    b"Marked /",
    b"Killed 0:",
]
_REGEXES = [
    rb"(?:Total|Free) swap\s+=",
    rb"\d+KB +\d+KB",  # "Unreclaimable slab info:" rows: "kmalloc-512  87024KB  94124KB"
    rb"\[\s*\d+\]\s+-?\d+\s+\d+\s+\d+\s+\d+",  # dump_tasks() rows
    rb": line \d+: +\d+ Killed ",  # bash: a batch script's child killed (kernel_log/slurm.py)
    rb"Node \d+ \S+: \d+\*\d+kB",  # show_free_areas(): its first block size is the page size
]
# A line that ends in a blank: a mail client's soft line break (RFC 3676 "format=flowed":
# a wrapped line keeps its trailing space), the rest of the line comes next, without a
# timestamp. Both lines are selected: each hit selects the line holding it, and this one
# is reported twice, on its newline (the first line) and just after it (the second);
# not when the next line starts with the same byte (see _starts_alike).
WRAP = rb"[ \t]\r?\n"


# The "}" line that ends a json-pretty entry (kernel_log/multiline.py): matched with its
# newline, so that the match never spans two lines (a cut between reads or between two
# items of filescan falls at a line start), and kept only when the brace begins its line.
BRACE = rb"\}\r?\n"


def _lone_brace(buf: Any, nl: int) -> bool:
    """Whether the line that the newline at ``nl`` ends is "}" alone ("}\r" too)."""
    brace = nl - 2 if nl >= 1 and buf[nl - 1] == 0x0D else nl - 1
    return brace == 0 or buf[brace - 1] == 0x0A


# Matched through a line's newline, after the other patterns: what each match selects is
# decided by the bytes around that newline, for both scanners alike (_line_end_hits).
_LINE_ENDS = (WRAP, BRACE)


def _line_end_hits(buf: Any, kind: int, nl: int, limit: int) -> tuple[int, ...]:
    """The hits of a match of _LINE_ENDS[kind] whose newline is at ``nl``: WRAP's selects
    its line and the next (unless they start alike), BRACE's its line if "}" alone."""
    if kind == 0:
        return () if _starts_alike(buf, nl, limit) else (nl, nl + 1)
    return (nl,) if _lone_brace(buf, nl) else ()


def _starts_alike(buf: Any, nl: int, limit: int) -> bool:
    """Whether the line after the newline at ``nl`` starts with the same byte as the line
    that newline ends, or there is none before ``limit``. Every line of a log starts alike
    (a timestamp, a month, a priority): such a next line has a prefix of its own, and the
    blank before it is no wrap (a kernel message may end in one: "xor: ... avx       ").
    unwrap.py applies the same rule, so every path joins the same lines."""
    nxt = nl + 1
    if nxt >= limit:
        return True
    src: Any = buf.obj if isinstance(buf, memoryview) else buf  # an mmap or bytes: rfind
    return bool(buf[src.rfind(b"\n", 0, nl) + 1] == buf[nxt])


# Every kill record has a line with one of these. A report's other lines (stack,
# counters, task table) lie between its header and its victim line, both
# anchors, so the full pattern set only needs to run near anchors: in a
# kern.log that is mostly noise, that is a small part of the file. The anchor
# set is five literals, which Hyperscan matches in one SIMD pass (~0.3 s/GB here,
# against ~0.4 s/GB for the earlier set with "oom" and alternations; "(?i)kill"
# alone is ~0.15 s/GB, but misses earlyoom's, nohang's and excerpted lines).
_ANCHORS = [
    # The kernel: "invoked oom-killer", "Killed process"/"Kill process", "oom-kill:",
    # "no killable processes", "killed as a result of limit". systemd-oomd ("Killed /x",
    # "Marked /x for killing"), facebook oomd ("oomd kill:"), Android ("lowmemorykiller:
    # Killing"), earlyoom 1.1/1.2 ("Killing process").
    rb"(?i)kill",
    # Lines that can stand alone in a pasted excerpt: the task table's column header
    # (every layout ends "oom_score_adj name"), "oom_reaper: reaped process", and
    # "Kernel panic - not syncing: Out of memory: system-wide panic_on_oom is enabled".
    rb"oom_",
    rb"Kernel panic",
    rb"sending SIG",  # earlyoom 1.3+ "sending SIGTERM to process"
    rb"corrective action",  # nohang
]
# Anchors are scanned read by read; a match may straddle two reads, so each read
# is scanned from this many bytes before it (the longest anchor is 17 bytes).
ANCHOR_OVERLAP = 64
# How far from an anchor the other lines of a record can be: a task table of
# about 2,000 processes, or the victim block nohang prints before its action.
WINDOW = 256 << 10

Scanner = Union["_HyperscanScanner", "_ReScanner"]
Counter = Callable[[Any, int, int], int]


def _bytes_count(view: memoryview, lo: int, hi: int) -> int:
    return bytes(view[lo:hi]).count(b"\n")


def _newline_counter() -> Counter:
    """``count(view, lo, hi)``: newlines in ``view[lo:hi]``, for ``source.line``.

    Every byte of the file is counted, so this is a third of the work on a large
    log. oomkit's own C loop (_linecount.c) counts ~0.1 s/GB here and releases the
    GIL, so it runs beside the Hyperscan pass on the other thread; StringZilla's
    SIMD count (~0.2 s/GB, holding the GIL) where that module is not built, and
    bytearray.count (~0.7 s/GB) where neither is installed.
    """
    try:
        from oomkit._linecount import count as native
    except ImportError:  # pragma: no cover - depends on the build
        pass
    else:
        return native
    try:
        import stringzilla
    except ImportError:  # not installed, or no wheel for this machine
        return _bytes_count
    count = stringzilla.count
    return lambda view, lo, hi: int(count(view, "\n", lo, hi))


class _HyperscanScanner:
    """``scan(buf, start, end)``: the end offsets of matches in ``buf[start:end]``.

    Hyperscan scans without the GIL, but a scratch space serves one scan at a
    time: a thread of its own scans with a ``clone()``.
    """

    def __init__(self, db: Any, scratch: Any, ends_id: int) -> None:
        # the id of _LINE_ENDS[0], the others following it (-1: a scanner without them)
        self._db, self._scratch, self._ends_id = db, scratch, ends_id

    def __call__(self, buf: Any, start: int, end: int, limit: int | None = None) -> list[int]:
        """``limit``: where the data in ``buf`` ends (WRAP looks at the byte after ``end``)."""
        hits: list[int] = []
        append = hits.append
        ends_id = self._ends_id
        last = len(buf) if limit is None else limit

        def on_match(id_: int, _start: int, to: int, _flags: int, _ctx: object) -> None:
            if id_ >= ends_id >= 0:
                hits.extend(_line_end_hits(buf, id_ - ends_id, start + to - 1, last))
            else:
                append(start + to)

        part = buf if start == 0 and end == len(buf) else buf[start:end]
        try:
            self._db.scan(part, match_event_handler=on_match, scratch=self._scratch)
        finally:
            if part is not buf and isinstance(part, memoryview):
                part.release()  # else a traceback holding it keeps buf from closing
        return hits

    def clone(self) -> _HyperscanScanner:
        return _HyperscanScanner(self._db, self._scratch.clone(), self._ends_id)


def _compile_hyperscan(expressions: list[bytes], ends: bool) -> _HyperscanScanner | None:
    """A scanner for ``expressions``, and _LINE_ENDS after them if ``ends``."""
    try:
        import hyperscan
    except ImportError:  # not installed, or no wheel for this machine
        return None
    ends_id = len(expressions) if ends else -1
    expressions = [*expressions, *_LINE_ENDS] if ends else expressions
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(
        expressions=expressions, ids=list(range(len(expressions))), elements=len(expressions),
    )
    return _HyperscanScanner(db, hyperscan.Scratch(db), ends_id)


class _ReScanner:
    """The same as _HyperscanScanner with Python's re, which is thread-safe. Each of
    _LINE_ENDS is a pattern of its own: in one alternation, a match of one would hide the
    others' on its line."""

    def __init__(self, expressions: list[bytes], ends: bool) -> None:
        self._pattern = re.compile(b"|".join(expressions))
        self._ends = [re.compile(e) for e in _LINE_ENDS] if ends else []

    def __call__(self, buf: Any, start: int, end: int, limit: int | None = None) -> list[int]:
        hits = [m.end() for m in self._pattern.finditer(buf, start, end)]
        last = len(buf) if limit is None else limit
        for kind, pattern in enumerate(self._ends):
            for m in pattern.finditer(buf, start, end):
                hits += _line_end_hits(buf, kind, m.end() - 1, last)
        return hits

    def clone(self) -> _ReScanner:
        return self


_FULL = [re.escape(lit) for lit in _LITERALS] + list(_REGEXES)
_SCANNERS: dict[bool, tuple[Scanner, Scanner, bool]] = {}


def scanners(use_hyperscan: bool = True) -> tuple[Scanner, Scanner, bool]:
    """(anchor scanner, full scanner, whether they are Hyperscan's): Hyperscan where
    available, else Python regexes."""
    if use_hyperscan not in _SCANNERS:
        anchor = _compile_hyperscan(_ANCHORS, ends=False) if use_hyperscan else None
        full = _compile_hyperscan(_FULL, ends=True) if use_hyperscan else None
        if anchor is None or full is None:
            _SCANNERS[use_hyperscan] = (
                _ReScanner(_ANCHORS, ends=False), _ReScanner(_FULL, ends=True), False)
        else:
            _SCANNERS[use_hyperscan] = (anchor, full, True)
    return _SCANNERS[use_hyperscan]


def windows(anchors: list[int], end: int, window: int = WINDOW) -> list[tuple[int, int]]:
    """Merged ``[start, stop)`` byte ranges within ``window`` of any anchor. Pure."""
    out: list[tuple[int, int]] = []
    for a in sorted(anchors):  # an anchor may lie before 0: one already passed
        lo, hi = max(0, a - window), min(end, a + window)
        if hi <= lo:
            continue
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _lines_at(buf: mmap.mmap, end: int, hits: list[int]) -> list[tuple[int, int]]:
    """Distinct (start, stop) line spans that contain the hit offsets, in order."""
    spans: list[tuple[int, int]] = []
    last_start = -1
    rfind = buf.rfind
    find = buf.find
    for hit in sorted(hits):
        if hit >= end:  # WRAP's second hit, on the line after ``end``
            break
        start = rfind(b"\n", 0, hit) + 1
        if start == last_start:
            continue
        stop = find(b"\n", hit, end)
        if stop < 0:
            stop = end
        spans.append((start, stop))
        last_start = start
    return spans


# Smaller files are streamed: the two passes pay only on large ones, and a file of
# procfs, sysfs or debugfs reports a size (often 0 or 4096) that is not its length.
TWO_PASS_MIN = 1 << 20


def _large_regular(stream: IO[bytes]) -> bool:
    import stat

    try:
        st = os.fstat(stream.fileno())
        return (stream.seekable() and stat.S_ISREG(st.st_mode)
                and st.st_size - stream.tell() >= TWO_PASS_MIN)
    except (OSError, ValueError):
        return False


class LineSelector:
    """Iterate ``(line_number, byte_offset, line_bytes)`` over the lines a report may need.

    Line numbers are 1-based and byte offsets count from the start of the
    stream, plus ``first_line - 1`` and ``first_offset`` when the stream was
    opened in the middle of a file. After iteration, ``lines`` holds how many
    lines were read. The stream is read into one reused buffer of about
    ``chunk`` bytes; peak memory is about that whatever the input size.

    The buffer fills ``piece`` bytes at a time, and each piece is searched for
    anchors and its newlines counted right after it is read, while it is still
    in the CPU's cache: a 1 GB log reads, scans and counts in ~0.5 s here that
    way, against ~1 s when a 16 MB read is scanned and counted from memory.
    """

    def __init__(
        self, stream: IO[bytes], *, use_hyperscan: bool = True, chunk: int = CHUNK,
        piece: int = PIECE, first_line: int = 1, first_offset: int = 0,
        two_pass: bool = True, threads: int | None = None,
    ) -> None:
        self._stream = stream
        self._anchor_scan, self._full_scan, hyperscan = scanners(use_hyperscan)
        self._count = _newline_counter() if use_hyperscan else _bytes_count
        self._chunk = chunk
        self._piece = max(1, min(piece, chunk))
        # Reading on a second thread pays where a read is a system call (a file, a pipe)
        # and the scan runs without the GIL (Hyperscan; Python's re holds it).
        self._threaded = hyperscan and isinstance(stream, (io.FileIO, io.BufferedReader))
        # A large regular file is read at offsets instead, on more threads (filescan.py).
        self._two_pass = self._threaded and two_pass and _large_regular(stream)
        self._threads = threads  # for the two passes; None: filescan.default_threads()
        self._eof = False
        self._failure: BaseException | None = None
        self.lines = 0
        self._first_line = first_line
        self._first_offset = first_offset

    def __iter__(self) -> Iterator[tuple[int, int, bytes]]:
        if self._two_pass:
            from oomkit.kernel_log.filescan import FileSelector, default_threads

            selector = FileSelector(
                self._stream.fileno(), self._stream.tell(), anchor_scan=self._anchor_scan,
                full_scan=self._full_scan, count=self._count,
                threads=self._threads or default_threads(),
                first_line=self._first_line, first_offset=self._first_offset,
                chunk=self._chunk, piece=self._piece,
            )
            yield from selector
            self.lines = selector.lines
            return
        # An anonymous mapping, for its page alignment (see ALIGN).
        import mmap

        buf = mmap.mmap(-1, self._chunk + WINDOW + MAX_LINE)
        yield from self._select(buf, memoryview(buf))

    def _select(self, buf: mmap.mmap, view: memoryview) -> Iterator[tuple[int, int, bytes]]:
        # The buffer holds [tail of the previous fill | new data]. A line is only
        # emitted once every anchor within WINDOW of it has been seen, so the last
        # WINDOW bytes of each fill wait for the next one: the result does not
        # depend on where reads end.
        chunk = self._chunk
        anchor_scan, full_scan, count = self._anchor_scan, self._full_scan, self._count
        carry = 0
        carry_lines = 0  # newlines in buf[0:carry]
        anchors: list[int] = []  # buffer offsets of anchor matches (their end)
        lineno = self._first_line  # number of the line at buf[0]
        base = self._first_offset  # stream offset of buf[0]
        last_anchor: int | None = None  # stream offset of the last anchor already emitted past
        wrapped = False  # the last line emitted ends in a blank: the first one left goes too
        fill = self._fill_beside if self._threaded else self._fill
        while True:
            # Fill, a piece at a time; (offset, newlines before it) at each piece start.
            marks = [(0, 0), (carry, carry_lines)]
            end, lines_to_end = carry, carry_lines
            for lo, end, lines in fill(buf, view, carry, carry + min(chunk, len(buf) - carry)):
                anchors.extend(h for h in anchor_scan(view, max(0, lo - ANCHOR_OVERLAP), end)
                               if h > lo)  # a match ending at or before lo was found already
                lines_to_end += lines
                marks.append((end, lines_to_end))
            final = end == carry
            if final:
                if carry == 0:
                    break
                cut = end  # the last line has no newline
            else:
                cut = buf.rfind(b"\n", 0, end) + 1
                if cut == 0:
                    if end < MAX_LINE and not self._eof:
                        carry, carry_lines = end, lines_to_end
                        continue
                    cut = end  # a line longer than MAX_LINE: cut it here
            # Emit up to the first line start at least WINDOW before the data's end.
            if final or (end + MAX_LINE >= len(buf) and cut <= WINDOW):
                emit = cut  # nothing more is coming, or a giant line filled the buffer
            elif cut > WINDOW:
                emit = buf.find(b"\n", cut - WINDOW - 1, cut) + 1
            else:
                emit = 0  # wait for more data before deciding about these lines
            known = anchors
            if last_anchor is not None and base - last_anchor < WINDOW:
                known = [*anchors, last_anchor - base]
            hits: list[int] = []
            if emit:
                if wrapped:
                    hits.append(0)
                for lo, hi in windows(known, emit):
                    hits.extend(full_scan(view, lo, hi, end))
                wrapped = emit in hits
            passed = [a for a in known if a < emit]
            if passed:  # anchors at or after emit stay with the carried bytes
                last_anchor = max(passed) + base
            yield from self._emit(buf, view, emit, hits, marks, lineno, base)
            rest = end - emit
            rest_lines = count(view, emit, end)
            lineno += lines_to_end - rest_lines
            if final:
                if buf[emit - 1 : emit] != b"\n":
                    lineno += 1  # count the unterminated last line
                break
            buf.move(0, emit, rest)
            anchors = [a - emit for a in anchors if a >= emit]
            base += emit
            carry, carry_lines = rest, rest_lines
        self.lines = lineno - self._first_line
        if self._failure is not None:
            raise self._failure

    def _fill(
        self, buf: mmap.mmap, view: memoryview, end: int, limit: int,
    ) -> Iterator[tuple[int, int, int]]:
        """Read pieces into ``buf[end:limit]``; yield each piece's ``(start, stop,
        newlines)`` as it is read. Stops early at the end of the stream."""
        piece, count = self._piece, self._count
        readinto = getattr(self._stream, "readinto", None)
        while end < limit and not self._eof:
            # Reads start on an ALIGN boundary: after a carried tail, the first one is
            # shortened to reach one.
            want = min(piece - end % ALIGN if piece >= ALIGN else piece, limit - end)
            try:
                if readinto is not None:
                    n = readinto(view[end : end + want]) or 0
                else:
                    data = self._stream.read(want)
                    n = len(data)
                    buf[end : end + n] = data
            except (OSError, EOFError, ValueError) as exc:
                # A truncated .gz or an I/O error: finish what was read, then report it.
                self._failure, n = exc, 0
            if n == 0:
                self._eof = True
                return
            lo, end = end, end + n
            yield lo, end, count(view, lo, end)

    def _fill_beside(
        self, buf: mmap.mmap, view: memoryview, end: int, limit: int,
    ) -> Iterator[tuple[int, int, int]]:
        """_fill() on a second thread, so that this one scans each piece for anchors
        while the next is read and counted: reads and Hyperscan release the GIL. The
        stream and the buffer past ``end`` belong to that thread until it is joined."""
        import queue
        import threading

        ready: queue.SimpleQueue[tuple[int, int, int] | None] = queue.SimpleQueue()

        def work() -> None:
            try:
                for span in self._fill(buf, view, end, limit):
                    ready.put(span)
            except BaseException as exc:  # handed to the reading thread, raised there
                self._failure = exc
            finally:
                ready.put(None)

        worker = threading.Thread(target=work, name="oomkit-read", daemon=True)
        worker.start()
        try:
            while (span := ready.get()) is not None:
                yield span
        finally:
            worker.join()

    def _emit(
        self, buf: mmap.mmap, view: memoryview, emit: int, hits: list[int],
        marks: list[tuple[int, int]], lineno: int, base: int,
    ) -> Iterator[tuple[int, int, bytes]]:
        """The lines holding ``hits`` (below ``emit``), numbered from ``marks``: newlines
        are counted only from the nearest piece start before each line."""
        if not hits:
            return
        from bisect import bisect_right

        count = self._count
        starts = [m[0] for m in marks]
        pos, before = 0, 0  # newlines in buf[0:pos]
        for start, stop in _lines_at(buf, emit, hits):
            k = bisect_right(starts, start) - 1
            if marks[k][0] > pos:
                pos, before = marks[k]
            before += count(view, pos, start)
            pos = start
            yield lineno + before, base + start, bytes(view[start:stop])


def select_lines(
    stream: IO[bytes], *, use_hyperscan: bool = True, chunk: int = CHUNK, piece: int = PIECE,
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, line_bytes)`` for the lines a report may need (1-based)."""
    selector = LineSelector(stream, use_hyperscan=use_hyperscan, chunk=chunk, piece=piece)
    for number, _offset, raw in selector:
        yield number, raw
