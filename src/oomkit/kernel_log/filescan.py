"""Select a regular file's report lines in two passes, the first on several threads.

scan.LineSelector reads a stream once, on two threads: one reads and counts
newlines while the other searches for anchors. On a 1 GB log that takes ~0.6 s
here, the Hyperscan pass plus the hand-offs, and it cannot use a third CPU. A
regular file can be read at any offset, so this selector:

1. splits the file into segments that several threads each read, count and
   search for anchors, with a Hyperscan scratch of their own and without the GIL
   (~0.25 s/GB on 2 CPUs); each keeps its newline count at every piece start and
   the byte ranges within WINDOW of its anchors;
2. reads back only those ranges, cut at line starts into items that the threads
   search for every line shape a report has, a few items ahead of the one being
   handed on, and yields the lines LineSelector would yield, in order, numbered
   from the first pass's counts.

It reads with pread, not mmap: a log truncated while mapped (logrotate's
copytruncate) would kill the process with SIGBUS, where a short read is an
ordinary end of file. Lines longer than MAX_LINE are cut, as LineSelector cuts
them, though not at the same places.
"""

from __future__ import annotations

import itertools
import mmap
import os
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

from oomkit.kernel_log.scan import (
    ANCHOR_OVERLAP,
    CHUNK,
    MAX_LINE,
    PIECE,
    WINDOW,
    Counter,
    Scanner,
    windows,
)

# Each thread takes the next segment when done with one: small enough that the threads
# end together, large enough that taking one costs nothing (next() on a counter).
SEGMENT = 4 << 20
# Bytes read beyond each side of a range, to find the lines its matches are in.
LOOK = 64 << 10
# More anchors than this in a segment (one per 4 KiB: an OOM storm) and the rest is
# read on one thread. python-hyperscan calls back into Python, under the GIL, for
# every match; two threads matching that often queue for the GIL at each match and
# took twice as long as one (a 200 MB storm: 0.53-0.61 s against 0.29 s for the
# first pass, 2.1-2.3 s against 1.2 s for the second).
DENSE = 1024

Pread = Callable[[int, Sequence[memoryview], int], int]


def default_threads() -> int:
    """The CPUs this process may run on, at most 4, as for fanout's processes (only
    2 CPUs were there to measure on)."""
    return max(1, min(4, len(os.sched_getaffinity(0))))


class _Segment(NamedTuple):
    """What the first pass learned of one segment: offsets count from the start.
    (A NamedTuple: `why --json` does not import dataclasses, see quick.py.)"""

    stop: int  # where its data ended: short of the plan at the end of the file or an error
    marks: list[tuple[int, int]]  # (offset, newlines from the segment start) per piece
    newlines: int
    anchors: int
    ranges: list[tuple[int, int]]  # merged byte ranges within WINDOW of its anchors
    failure: OSError | None = None


def _read_at(pread: Pread, fd: int, view: memoryview, offset: int) -> int:
    """Fill ``view`` from ``offset``; fewer bytes only at the end of the file."""
    got = 0
    while got < len(view):
        # Slices are released at once: a traceback holding one would keep the buffer
        # from being closed (BufferError).
        with view[got:] as rest:
            n = pread(fd, [rest], offset + got)
        if n <= 0:
            break
        got += n
    return got


class FileSelector:
    """``(line_number, byte_offset, line_bytes)`` for the lines a report may need,
    from ``fd`` between ``start`` and the end of the file, as scan.LineSelector yields
    them. Raises the first read error after the lines before it."""

    def __init__(
        self, fd: int, start: int, *, anchor_scan: Scanner, full_scan: Scanner,
        count: Counter, threads: int, first_line: int = 1, first_offset: int = 0,
        segment: int = SEGMENT, piece: int = PIECE, chunk: int = CHUNK,
        window: int = WINDOW, pread: Pread = os.preadv,
    ) -> None:
        self._fd, self._start = fd, start
        self._anchor_scan, self._full_scan, self._count = anchor_scan, full_scan, count
        self._threads = max(1, threads)
        self._first_line, self._first_offset = first_line, first_offset
        self._segment, self._piece = max(1, segment), max(1, min(piece, segment))
        # Second-pass items are no larger than a segment: a buffer of that size per thread.
        self._chunk = max(1, min(chunk, self._segment))
        self._window, self._pread = window, pread
        self.lines = 0

    # -- first pass ---------------------------------------------------------

    def _survey(self, lo: int, hi: int, size: int, scan: Scanner, buf: mmap.mmap) -> _Segment:
        """Read ``[lo, hi)`` a piece at a time, each with the ANCHOR_OVERLAP bytes
        before it, so that an anchor straddling two pieces is found in the second."""
        view = memoryview(buf)
        count, piece, base = self._count, self._piece, self._start
        marks: list[tuple[int, int]] = []
        anchors: list[int] = []
        lines, pos = 0, lo
        try:
            while pos < hi:
                back = min(ANCHOR_OVERLAP, pos)
                want = min(piece, hi - pos) + back
                with view[:want] as part:
                    n = _read_at(self._pread, self._fd, part, base + pos - back)
                if n <= back:
                    break
                marks.append((pos, lines))
                lines += count(view, back, n)
                # A match ending at or before ``back`` was found with the previous piece.
                anchors.extend(pos - back + h for h in scan(view, 0, n) if h > back)
                pos += n - back
                if n < want:
                    break
        except OSError as exc:
            return _Segment(pos, marks, lines, len(anchors), windows(anchors, size, self._window),
                            exc)
        finally:
            view.release()
        # Dense anchors (a storm) collapse into a range here, so memory stays small.
        return _Segment(pos, marks, lines, len(anchors), windows(anchors, size, self._window))

    def _first_pass(self, size: int) -> list[_Segment]:
        """Segments in order, up to and including the first that ended short."""
        bounds = [(lo, min(size, lo + self._segment)) for lo in range(0, size, self._segment)]
        found: list[_Segment | None] = [None] * len(bounds)
        order = itertools.count()  # next() is atomic under the GIL
        errors: list[BaseException] = []
        dense = threading.Event()

        def work(scan: Scanner, helper: bool) -> None:
            buf = mmap.mmap(-1, self._piece + ANCHOR_OVERLAP)  # page-aligned (scan.ALIGN)
            try:
                while not errors and not (helper and dense.is_set()):
                    if (i := next(order)) >= len(bounds):
                        break
                    found[i] = seg = self._survey(*bounds[i], size, scan, buf)
                    if seg.anchors > DENSE:
                        dense.set()
            except BaseException as exc:  # raised on the calling thread
                errors.append(exc)
            finally:
                buf.close()

        threads = [
            threading.Thread(target=work, args=(self._anchor_scan.clone(), True),
                             name="oomkit-survey", daemon=True)
            for _ in range(min(self._threads, len(bounds)) - 1)
        ]
        for t in threads:
            t.start()
        try:
            work(self._anchor_scan.clone(), False)
        finally:
            for t in threads:
                t.join()
        if errors:
            raise errors[0]
        out: list[_Segment] = []
        for (_lo, hi), seg in zip(bounds, found, strict=True):
            assert seg is not None  # every index below len(bounds) was taken
            out.append(seg)
            if seg.stop < hi:
                break
        return out

    # -- second pass ----------------------------------------------------------

    def __iter__(self) -> Iterator[tuple[int, int, bytes]]:
        size = os.fstat(self._fd).st_size - self._start
        segments = self._first_pass(max(0, size))
        end = segments[-1].stop if segments else 0
        starts: list[int] = []
        before: list[int] = []  # newlines from the start to each of ``starts``
        total = 0
        ranges: list[tuple[int, int]] = []
        for seg in segments:
            for offset, lines in seg.marks:
                starts.append(offset)
                before.append(total + lines)
            total += seg.newlines
            for lo, hi in seg.ranges:
                if ranges and lo <= ranges[-1][1]:
                    ranges[-1] = (ranges[-1][0], max(ranges[-1][1], min(hi, end)))
                elif lo < end:
                    ranges.append((lo, min(hi, end)))
        self._starts, self._before = starts, before
        dense = any(seg.anchors > DENSE for seg in segments)
        yield from self._second_pass(ranges, end, 1 if dense else self._threads)
        last = bytearray(1)
        if end and _read_at(self._pread, self._fd, memoryview(last), self._start + end - 1):
            total += last != b"\n"  # the last line has no newline
        self.lines = total
        failure = segments[-1].failure if segments else None
        if failure is not None:
            raise failure

    def _count_between(self, lo: int, hi: int) -> int:
        data = self._read(lo, hi)
        return self._count(memoryview(data), 0, len(data))

    def _read(self, lo: int, hi: int) -> bytearray:
        data = bytearray(max(0, hi - lo))
        n = _read_at(self._pread, self._fd, memoryview(data), self._start + lo)
        del data[n:]
        return data

    def _newlines_before(self, offset: int) -> int:
        k = bisect_right(self._starts, offset) - 1
        if k < 0:
            return self._count_between(0, offset)
        return self._before[k] + self._count_between(self._starts[k], offset)

    def _mark_at_or_before(self, offset: int) -> int:
        k = bisect_right(self._starts, offset) - 1
        return self._starts[k] if k >= 0 else 0

    def _second_pass(
        self, ranges: list[tuple[int, int]], end: int, threads: int,
    ) -> Iterator[tuple[int, int, bytes]]:
        """Each range is cut into items of at most ``chunk`` bytes, which the threads
        search in parallel, a few items ahead of the one whose lines are yielded."""
        step = self._chunk
        items = [(x, min(hi, x + step), x == lo, x + step >= hi)
                 for lo, hi in ranges for x in range(lo, hi, step)]
        last_start = -1
        for lines in self._in_order(items, end, threads):
            for number, start, data in lines:
                if start > last_start:  # a line across two ranges holds hits in both
                    last_start = start
                    yield self._first_line + number, self._first_offset + start, data

    def _in_order(
        self, items: list[tuple[int, int, bool, bool]], end: int, threads: int,
    ) -> Iterator[list[tuple[int, int, bytes]]]:
        """The lines of each item, in order. A worker's error is raised when its item's
        turn comes, after the lines before it."""
        size = self._chunk + 2 * LOOK + self._piece
        workers = min(threads, len(items))
        if workers <= 1:
            scan = self._full_scan.clone()
            buf = mmap.mmap(-1, size)
            try:
                for item in items:
                    yield self._item_lines(buf, item, end, scan)
            finally:
                buf.close()
            return
        done: dict[int, list[tuple[int, int, bytes]] | BaseException] = {}
        order = itertools.count()
        ahead = 2 * workers  # items searched and not yet yielded, at most
        turn = 0  # the item whose lines are yielded next
        stop = False
        cond = threading.Condition()

        def work(scan: Scanner, buf: mmap.mmap) -> None:
            while (i := next(order)) < len(items):
                with cond:
                    while i >= turn + ahead and not stop:
                        cond.wait()
                    if stop:
                        return
                try:
                    result: list[tuple[int, int, bytes]] | BaseException = (
                        self._item_lines(buf, items[i], end, scan))
                except BaseException as exc:  # raised on the calling thread, in turn
                    result = exc
                with cond:
                    done[i] = result
                    cond.notify_all()

        # Allocated here, so that a worker can fail only on an item, whose turn raises it.
        bufs = [mmap.mmap(-1, size) for _ in range(workers)]
        pool = [threading.Thread(target=work, args=(self._full_scan.clone(), buf),
                                 name="oomkit-search", daemon=True) for buf in bufs]
        for t in pool:
            t.start()
        try:
            for turn_ in range(len(items)):
                with cond:
                    while turn_ not in done:
                        cond.wait()
                    got = done.pop(turn_)
                    turn = turn_ + 1
                    cond.notify_all()
                if isinstance(got, BaseException):
                    raise got
                yield got
        finally:
            with cond:
                stop = True
                cond.notify_all()
            for t in pool:
                t.join()
            for buf in bufs:
                buf.close()

    def _boundary(self, buf: mmap.mmap, rs: int, x: int, limit: int) -> int | None:
        """The first line start at or after ``x``, where two items of a range meet, or
        None in a line too long to find one. Both items find it from the same bytes,
        ``[x - 1, x + LOOK)``, read into their buffers."""
        at = buf.find(b"\n", x - 1 - rs, min(limit, x + LOOK) - rs)
        return None if at < 0 else at + 1 + rs

    def _item_lines(
        self, buf: mmap.mmap, item: tuple[int, int, bool, bool], end: int, scan: Scanner,
    ) -> list[tuple[int, int, bytes]]:
        """(newlines before, offset, bytes) of each line with a match in the item, in
        order. An item that does not begin or end its range begins or ends at a line
        start, so that no line is searched in halves."""
        x, y, first, last = item
        rs = self._mark_at_or_before(max(0, x - LOOK))
        re_ = min(end, y + LOOK)
        view = memoryview(buf)
        try:
            with view[: re_ - rs] as part:
                n = _read_at(self._pread, self._fd, part, self._start + rs)
            if n < re_ - rs:  # the file shrank since the first pass
                end = re_ = rs + n
            a = x if first else self._boundary(buf, rs, x, re_)
            b = y if last else self._boundary(buf, rs, y, re_)
            b = min(y if b is None else b, re_)
            if a is None:  # cut in a long line: search from before the cut, as _survey does
                a = x
                hits = [h for h in scan(view, max(0, a - rs - ANCHOR_OVERLAP), b - rs, re_ - rs)
                        if h > a - rs]
            else:
                hits = scan(view, a - rs, b - rs, re_ - rs) if a < b else []
            return list(self._lines(buf, view, rs, re_, end, hits))
        finally:
            view.release()

    def _lines(
        self, buf: mmap.mmap, view: memoryview, rs: int, re_: int, end: int, hits: list[int],
    ) -> Iterator[tuple[int, int, bytes]]:
        """(newlines before, offset, bytes) of each line holding a hit, once, in order;
        ``buf`` holds the file's ``[rs, re_)`` and hits are offsets in it."""
        count = self._count
        pos = rs  # newlines before ``pos`` are ``lines``
        lines = self._before[bisect_right(self._starts, rs) - 1] if self._starts else 0
        last_start = -1
        for hit in sorted(hits):
            if rs + hit >= end:  # scan.WRAP's second hit, past the file's last newline
                break
            at = buf.rfind(b"\n", 0, hit)
            if at >= 0 or rs == 0:
                start = rs + at + 1
            else:  # the line began before the buffer
                start = self._line_start(rs, rs + hit)
            if start <= last_start:
                continue
            stop_in = buf.find(b"\n", hit, re_ - rs)
            stop = stop_in + rs if stop_in >= 0 else (
                re_ if re_ == end else self._line_stop(re_, end, rs + hit))
            if start >= pos:
                lines += count(view, pos - rs, start - rs)
                pos, number = start, lines
            else:
                number = self._newlines_before(start)
            if start >= rs and stop <= re_:
                data = bytes(view[start - rs : stop - rs])
            else:
                data = bytes(self._read(start, stop))
            last_start = start
            yield number, start, data

    def _line_start(self, rs: int, hit: int) -> int:
        """The start of a line that began before the buffer: searched back from ``rs``
        at most MAX_LINE bytes before the hit."""
        floor = max(0, hit - MAX_LINE)
        hi = rs
        while hi > floor:
            lo = max(floor, hi - LOOK)
            at = self._read(lo, hi).rfind(b"\n")
            if at >= 0:
                return lo + at + 1
            hi = lo
        return floor

    def _line_stop(self, re_: int, end: int, hit: int) -> int:
        """The end of a line that goes on past the buffer: at most MAX_LINE past the hit."""
        ceiling = min(end, hit + MAX_LINE)
        lo = re_
        while lo < ceiling:
            hi = min(ceiling, lo + LOOK)
            at = self._read(lo, hi).find(b"\n")
            if at >= 0:
                return lo + at
            lo = hi
        return ceiling
