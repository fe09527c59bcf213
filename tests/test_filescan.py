"""kernel_log.filescan: a regular file's lines, selected in two passes on several threads,
must be exactly the lines scan.LineSelector selects from the same bytes as a stream."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from oomkit.kernel_log import filescan
from oomkit.kernel_log.filescan import FileSelector
from oomkit.kernel_log.scan import LineSelector, _bytes_count, scanners
from tests.conftest import KERNEL_LOGS

REPO = Path(__file__).resolve().parent.parent
# Real kernel messages of a VM (bench/gen_kernlog.py's noise), none of them an anchor.
NOISE = (REPO / "bench" / "data" / "dmesg-noise.txt").read_bytes()
REPORTS = [p.read_bytes() for p in sorted(KERNEL_LOGS.glob("*.log")) if p.stat().st_size < 60_000]
# A report line the full pattern set matches (" pages RAM") that is no anchor: copied
# from tests/data/kernel_log, where it is part of a real report.
LONELY = next(
    line for p in sorted(KERNEL_LOGS.glob("*.log")) for line in p.read_bytes().splitlines()
    if line.endswith(b" pages RAM")
)


def _noise(size: int) -> bytes:
    return (NOISE * (size // len(NOISE) + 1))[:size].rsplit(b"\n", 1)[0] + b"\n"


def _log_and_lonely(reports: Sequence[bytes], gap: int) -> tuple[bytes, set[int]]:
    """Reports ``gap`` bytes of noise apart, a LONELY line alone in the middle of each
    gap (more than WINDOW from any anchor when the gap is wide enough), and the offsets
    of those LONELY lines (a report may hold the same line)."""
    half = _noise(gap // 2)
    parts = [half, LONELY + b"\n", half]
    lonely = {len(half)}
    for r in reports:
        parts.append(r.rstrip(b"\n") + b"\n")
        lonely.add(sum(map(len, parts)) + len(half))
        parts += [half, LONELY + b"\n", half]
    return b"".join(parts), lonely


def _log(reports: Sequence[bytes], gap: int) -> bytes:
    return _log_and_lonely(reports, gap)[0]


def _stream(data: bytes, *, fast: bool = True) -> tuple[list[tuple[int, int, bytes]], int]:
    sel = LineSelector(io.BytesIO(data), use_hyperscan=fast)
    return list(sel), sel.lines


def _file(path: Path, *, fast: bool = True, **kw: object) -> tuple[list[tuple[int, int, bytes]],
                                                                   int]:
    anchor, full, _hs = scanners(fast)
    fd = os.open(path, os.O_RDONLY)
    try:
        sel = FileSelector(fd, 0, anchor_scan=anchor, full_scan=full, count=_bytes_count,
                           threads=2, **kw)  # type: ignore[arg-type]
        return list(sel), sel.lines
    finally:
        os.close(fd)


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@SETTINGS
@given(
    st.lists(st.sampled_from(REPORTS), min_size=1, max_size=3),
    st.sampled_from([2_000, 600_000]),  # reports within one window, or far apart
    st.integers(min_value=1 << 10, max_value=256 << 10),  # segment
    st.integers(min_value=256, max_value=8 << 10),  # piece
    st.integers(min_value=256, max_value=256 << 10),  # second-pass item
    st.integers(min_value=1, max_value=3),  # threads
    st.booleans(),  # unterminated last line
)
# The report the LONELY line was taken from holds it too: only the inserted copies count.
@example([next(r for r in REPORTS if LONELY in r)], 600_000, 4 << 10, 512, 4 << 10, 2, False)
def test_same_lines_as_the_stream_whatever_the_cuts(
    tmp_path: Path, reports: list[bytes], gap: int, segment: int, piece: int, chunk: int,
    threads: int, cut_last: bool,
) -> None:
    data, lonely = _log_and_lonely(reports, gap)
    if cut_last:
        data = data[:-1]
    path = tmp_path / "kern.log"
    path.write_bytes(data)
    want = _stream(data)
    anchor, full, _hs = scanners(True)
    fd = os.open(path, os.O_RDONLY)
    try:
        sel = FileSelector(fd, 0, anchor_scan=anchor, full_scan=full, count=_bytes_count,
                           threads=threads, segment=segment, piece=piece, chunk=chunk)
        got = (list(sel), sel.lines)
    finally:
        os.close(fd)
    assert got == want
    assert got[1] == data.count(b"\n") + cut_last
    far = [offset for _n, offset, _line in got[0] if offset in lonely]
    assert all(got[0][i][2] == LONELY for i, (_n, o, _l) in enumerate(got[0]) if o in lonely)
    # The LONELY line is selected only near a report (one with an anchor: some excerpts
    # have none, and then nothing is selected).
    assert not far if gap > 2 * filescan.WINDOW else (far or not got[0])


def test_python_re_scanners_give_the_same_lines(tmp_path: Path) -> None:
    """Without Hyperscan the same selector runs on Python's re (thread-safe, slower)."""
    data = _log(REPORTS[:4], 600_000)
    path = tmp_path / "kern.log"
    path.write_bytes(data)
    assert _file(path, fast=False, segment=64 << 10) == _stream(data, fast=False)
    assert _file(path, fast=False) == _stream(data)


def _started_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads filescan starts from now on, in order."""
    started: list[str] = []
    real_start = filescan.threading.Thread.start

    def start(self: filescan.threading.Thread) -> None:
        started.append(self.name)
        real_start(self)

    monkeypatch.setattr(filescan.threading.Thread, "start", start)
    return started


def test_a_storm_reads_on_one_thread_and_gives_the_same_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past DENSE anchors in a segment the helpers stop; the lines do not change."""
    data = _log(REPORTS * 3, 200)
    path = tmp_path / "storm.log"
    path.write_bytes(data)
    started = _started_threads(monkeypatch)
    monkeypatch.setattr(filescan, "DENSE", 4)
    assert _file(path, segment=8 << 10, chunk=8 << 10) == _stream(data)
    assert "oomkit-survey" in started and "oomkit-search" not in started
    started.clear()
    monkeypatch.setattr(filescan, "DENSE", 1 << 30)
    assert _file(path, segment=8 << 10, chunk=8 << 10) == _stream(data)
    assert "oomkit-search" in started


def _failing_at(limit: int) -> filescan.Pread:
    def pread(fd: int, buffers: Sequence[memoryview], offset: int) -> int:
        if offset + len(buffers[0]) > limit:
            raise OSError(5, "Input/output error")
        return os.preadv(fd, buffers, offset)

    return pread


def test_a_read_error_comes_after_the_lines_before_it(tmp_path: Path) -> None:
    data = _log(REPORTS[:3], 600_000)
    path = tmp_path / "kern.log"
    path.write_bytes(data)
    want, _lines = _stream(data)
    fail_at = len(data) * 2 // 3
    got: list[tuple[int, int, bytes]] = []
    anchor, full, _hs = scanners(True)
    fd = os.open(path, os.O_RDONLY)
    try:
        sel = FileSelector(fd, 0, anchor_scan=anchor, full_scan=full, count=_bytes_count,
                           threads=2, segment=32 << 10, piece=4 << 10, chunk=16 << 10,
                           pread=_failing_at(fail_at))
        with pytest.raises(OSError, match="Input/output error"):
            got.extend(sel)
    finally:
        os.close(fd)
    # An item reads LOOK bytes past its end: the first item to fail may begin this far
    # before the failing offset, and its lines are not yielded.
    before = [w for w in want if w[1] + len(w[2]) < fail_at - filescan.LOOK - (16 << 10)]
    assert before and got[: len(before)] == before
    assert all(g in want for g in got if g[1] + len(g[2]) < fail_at)


def test_a_file_truncated_while_read_ends_there(tmp_path: Path) -> None:
    """logrotate's copytruncate empties a log while it is read: pread then returns
    short, where a mapping would have killed oomkit with SIGBUS."""
    data = _log(REPORTS[:4], 600_000)
    path = tmp_path / "kern.log"
    path.write_bytes(data)
    want, _lines = _stream(data)
    anchor, full, _hs = scanners(True)
    fd = os.open(path, os.O_RDONLY)
    try:
        lines: Iterator[tuple[int, int, bytes]] = iter(FileSelector(
            fd, 0, anchor_scan=anchor, full_scan=full, count=_bytes_count, threads=1,
            chunk=64 << 10))
        got = [next(lines)]
        os.truncate(path, len(data) // 2)
        got.extend(lines)
    finally:
        os.close(fd)
    assert got[0] == want[0]
    assert len(got) < len(want)
    assert all(g in want for g in got if g[1] + len(g[2]) < len(data) // 2)


def test_line_selector_reads_regular_files_in_two_passes_and_streams_the_rest(
    tmp_path: Path,
) -> None:
    data = _log(REPORTS[:2], 600_000)
    path = tmp_path / "kern.log"
    path.write_bytes(data)
    with open(path, "rb", buffering=0) as raw:
        raw.seek(len(NOISE))  # from where the stream stands, as for a stream
        sel = LineSelector(raw)
        assert sel._two_pass
        got = list(sel)
    tail = data[len(NOISE):]
    assert got == list(LineSelector(io.BytesIO(tail))) and got
    r, w = os.pipe()
    with open(r, "rb", buffering=0) as pipe, open(w, "wb") as writer:
        assert not LineSelector(pipe)._two_pass
        writer.write(b"x")
    # A small file is streamed: procfs and sysfs files report sizes that are not theirs.
    small = tmp_path / "small.log"
    small.write_bytes(REPORTS[0])
    with open(small, "rb", buffering=0) as raw:
        assert not LineSelector(raw)._two_pass


def test_lines_longer_than_the_look_around_are_whole(tmp_path: Path) -> None:
    """A line longer than the bytes read around a range is read on its own."""
    long = b"x" * (3 * filescan.LOOK) + b" oom-kill: " + b"y" * (3 * filescan.LOOK)
    data = _noise(300_000) + long + b"\n" + _noise(300_000) + REPORTS[0]
    path = tmp_path / "kern.log"
    path.write_bytes(data)
    got = _file(path, segment=16 << 10, chunk=16 << 10)
    assert got == _stream(data)
    assert long in [line for _n, _o, line in got[0]]


def test_why_jobs_caps_the_reading_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`why --jobs 1` uses one CPU: the large file is read on one thread."""
    from oomkit.why import WhyOptions, find_kills

    path = tmp_path / "kern.log"
    path.write_bytes(_log(REPORTS[:2], 600_000))
    seen: list[int] = []
    real_init = FileSelector.__init__

    def init(self: FileSelector, *args: object, **kw: object) -> None:
        seen.append(kw["threads"])  # type: ignore[arg-type]
        real_init(self, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(FileSelector, "__init__", init)
    started = _started_threads(monkeypatch)
    one = find_kills(WhyOptions(files=(str(path),), jobs=1, use_db=False))
    assert seen == [1] and not started
    two = find_kills(WhyOptions(files=(str(path),), jobs=2, use_db=False))
    assert seen == [1, 2] and started  # one 4 MiB segment: the second pass has threads
    assert [k.event for k in one.kills] == [k.event for k in two.kills] and one.kills
