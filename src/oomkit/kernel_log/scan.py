"""Pick the lines an OOM report needs out of a large byte stream, fast.

A kern.log is mostly noise. Looping over every line in Python costs about a
microsecond a line, slower than ``grep``, so the stream is read in large
chunks and searched for every line shape a report has at once, with
Hyperscan (a multi-pattern matcher made for this: it scans at several GB/s).
Only the lines it hits are decoded and classified. Where Hyperscan is not
installed, a pure-Python filter with the same result is used instead.

Nothing here opens files: the functions take binary file objects or bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import IO, Any

CHUNK = 8 << 20
# Longer lines than this are cut (kmsg records are at most ~1 KiB; a JSON
# journal line with a long message is a few KiB).
MAX_LINE = 1 << 20

# One pattern per line shape (records.classify decides what each line is).
_LITERALS = [
    b"invoked oom-killer",
    b"oom-kill:",
    b"oom_reaper",
    b"oom_kill_process",
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
    b"uid  tgid",
    # userspace killers
    b"sending SIG",
    b"due to memory",
    b"oomd kill:",
    b"lowmemorykiller",
    b"nohang",
    b"ow memory!",  # earlyoom "low memory!"
    b"ow Memory!",  # earlyoom 1.1 "Low Memory!"
    b"Trying to kill",  # facebook oomd
    b"Killed /",  # systemd-oomd, also when a paste wrapped "due to" onto the next line
    b"Marked /",
    b"Killed 0:",
]
_REGEXES = [
    rb"(?:Total|Free) swap\s+=",
    rb"\[\s*\d+\]\s+-?\d+\s+\d+\s+\d+\s+\d+",  # dump_tasks() rows
]
_FALLBACK = re.compile(
    b"|".join([re.escape(lit) for lit in _LITERALS] + list(_REGEXES))
)

Scanner = Callable[[Any, int], list[int]]


def _hyperscan_scanner() -> Scanner | None:
    try:
        import hyperscan
    except ImportError:  # not installed, or no wheel for this machine
        return None
    expressions = [re.escape(lit) for lit in _LITERALS] + list(_REGEXES)
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(
        expressions=expressions,
        ids=list(range(len(expressions))),
        elements=len(expressions),
        flags=[hyperscan.HS_FLAG_SINGLEMATCH * 0] * len(expressions),
    )
    scratch = hyperscan.Scratch(db)
    db.scratch = scratch

    def scan(buf: Any, end: int) -> list[int]:
        hits: list[int] = []
        append = hits.append

        def on_match(_id: int, _start: int, to: int, _flags: int, _ctx: object) -> None:
            append(to)

        db.scan(buf[:end] if end != len(buf) else buf, match_event_handler=on_match)
        return hits

    return scan


def _fallback_scan(buf: Any, end: int) -> list[int]:
    return [m.end() for m in _FALLBACK.finditer(buf, 0, end)]


_SCANNER: Scanner | None = None


def scanner(use_hyperscan: bool = True) -> Scanner:
    """The fastest available scanner (Hyperscan, else a regex)."""
    global _SCANNER
    if not use_hyperscan:
        return _fallback_scan
    if _SCANNER is None:
        _SCANNER = _hyperscan_scanner() or _fallback_scan
    return _SCANNER


def _lines_at(buf: bytearray, end: int, hits: list[int]) -> list[tuple[int, int]]:
    """Distinct (start, stop) line spans that contain the hit offsets, in order."""
    spans: list[tuple[int, int]] = []
    last_start = -1
    rfind = buf.rfind
    find = buf.find
    for hit in sorted(hits):
        start = rfind(b"\n", 0, hit) + 1
        if start == last_start:
            continue
        stop = find(b"\n", hit, end)
        if stop < 0:
            stop = end
        spans.append((start, stop))
        last_start = start
    return spans


class LineSelector:
    """Iterate ``(line_number, byte_offset, line_bytes)`` over the lines a report may need.

    Line numbers are 1-based and byte offsets count from the start of the
    stream, plus ``first_line - 1`` and ``first_offset`` when the stream was
    opened in the middle of a file. After iteration, ``lines`` holds how many
    lines were read. The stream is read in ``chunk``-sized pieces into one
    reused buffer; peak memory is about two chunks whatever the input size.
    """

    def __init__(
        self, stream: IO[bytes], *, use_hyperscan: bool = True, chunk: int = CHUNK,
        first_line: int = 1, first_offset: int = 0,
    ) -> None:
        self._stream = stream
        self._scan = scanner(use_hyperscan)
        self._chunk = chunk
        self.lines = 0
        self._first_line = first_line
        self._first_offset = first_offset

    def __iter__(self) -> Iterator[tuple[int, int, bytes]]:
        chunk = self._chunk
        scan = self._scan
        stream = self._stream
        buf = bytearray(chunk + MAX_LINE)
        view = memoryview(buf)
        carry = 0
        lineno = self._first_line  # number of the line at buf[0]
        base = self._first_offset  # stream offset of buf[0]
        readinto = getattr(stream, "readinto", None)
        while True:
            if readinto is not None:
                n = readinto(view[carry : carry + chunk])
            else:
                data = stream.read(chunk)
                n = len(data)
                buf[carry : carry + n] = data
            n = n or 0
            end = carry + n
            final = n == 0
            if final:
                if carry == 0:
                    break
                cut = end  # the last line has no newline
            else:
                cut = buf.rfind(b"\n", 0, end) + 1
                if cut == 0:
                    if end < MAX_LINE:
                        carry = end
                        continue
                    cut = end  # a line longer than MAX_LINE: cut it here
            hits = scan(view, cut) if cut else []
            if hits:
                pos = 0
                for start, stop in _lines_at(buf, cut, hits):
                    lineno += buf.count(b"\n", pos, start)
                    yield lineno, base + start, bytes(view[start:stop])
                    pos = start
                lineno += buf.count(b"\n", pos, cut)
            else:
                lineno += buf.count(b"\n", 0, cut)
            if final:
                if buf[cut - 1 : cut] != b"\n":
                    lineno += 1  # count the unterminated last line
                break
            rest = end - cut
            buf[0:rest] = bytes(view[cut:end])
            base += cut
            carry = rest
        self.lines = lineno - self._first_line


def select_lines(
    stream: IO[bytes], *, use_hyperscan: bool = True, chunk: int = CHUNK
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, line_bytes)`` for the lines a report may need (1-based)."""
    for number, _offset, raw in LineSelector(stream, use_hyperscan=use_hyperscan, chunk=chunk):
        yield number, raw
