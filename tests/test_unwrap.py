"""kernel_log.unwrap: a line a mail client or a terminal wrapped is read whole again, on
every path (the pure parser, the stream selector, the two-pass file selector)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from oomkit.kernel_log import parse_stream
from oomkit.kernel_log.filescan import FileSelector
from oomkit.kernel_log.prefix import parse_line
from oomkit.kernel_log.scan import LineSelector, _bytes_count, scanners
from oomkit.kernel_log.unwrap import unwrap
from oomkit.models import LogLine
from tests.conftest import KERNEL_LOGS
from tests.selecting import selected_by_every_path

MAIL = KERNEL_LOGS / "public-5.4-arm64-global-panic-unreclaimable-slab-kmemleak-mail-wrapped.log"


def _decoded(*raw: str) -> Iterator[tuple[int, str, LogLine | None]]:
    for number, text in enumerate(raw, start=1):
        yield number, text, parse_line(text)


def _texts(*raw: str) -> list[tuple[int, str]]:
    return [(n, line.text) for n, line in unwrap(_decoded(*raw))]


def test_a_line_ending_in_a_blank_goes_on_on_a_bare_next_line() -> None:
    got = _texts(
        "[330319.251380] Out of memory: Killed process 541 (dbus-broker) ",
        "total-vm:4400kB, anon-rss:892kB, file-rss:380kB, shmem-rss:0kB, UID:999 ",
        "pgtables:44kB oom_score_adj:-900",
        "[330319.267587] oom_reaper: reaped process 541 (dbus-broker), now ",
    )
    assert got == [
        (1, "Out of memory: Killed process 541 (dbus-broker) total-vm:4400kB, anon-rss:892kB,"
            " file-rss:380kB, shmem-rss:0kB, UID:999 pgtables:44kB oom_score_adj:-900"),
        (4, "oom_reaper: reaped process 541 (dbus-broker), now "),  # nothing came after
    ]


def test_a_timestamp_alone_takes_the_message_of_the_next_line() -> None:
    assert _texts("[330319.234959] ", "oom-kill:constraint=CONSTRAINT_NONE") == [
        (1, "oom-kill:constraint=CONSTRAINT_NONE")]


def test_a_next_line_with_a_prefix_of_its_own_is_a_message_of_its_own() -> None:
    raw = ("[   17.553604] CPU: 0 UID: 0 PID: 1003 Comm: grower Not tainted 6.18.44 #1 ",
           "[   17.553929] Tasks state (memory values in pages):")
    assert _texts(*raw) == [(1, "CPU: 0 UID: 0 PID: 1003 Comm: grower Not tainted 6.18.44 #1 "),
                            (2, "Tasks state (memory values in pages):")]


def test_nothing_joins_without_a_prefix_to_start_from() -> None:
    """In a paste without timestamps a line ending in a blank may just end there."""
    assert _texts("Killed process 5 (x) ", "total-vm:1kB") == [
        (1, "Killed process 5 (x) "), (2, "total-vm:1kB")]


def test_a_blank_line_or_a_gap_in_numbering_ends_the_line() -> None:
    assert _texts("[1.0] Killed process 5 (x) ", "   ", "total-vm:1kB") == [
        (1, "Killed process 5 (x) "), (2, "   "), (3, "total-vm:1kB")]
    decoded = [(1, "[1.0] a ", parse_line("[1.0] a ")), (3, "b", parse_line("b"))]
    assert [(n, line.text) for n, line in unwrap(decoded)] == [(1, "a "), (3, "b")]


def test_a_wrap_without_a_blank_is_not_joined() -> None:
    """A terminal's wrap leaves no sign on the first line (see unwrap's docstring)."""
    row = "[Sun Mar 30 08:24:00 2025] [   7899]     0  7899  6546210  3842522 39899136  1039052"
    assert _texts(row, " 0 python") == [
        (1, "[   7899]     0  7899  6546210  3842522 39899136  1039052"), (2, "0 python")]


def test_kmsg_dictionary_lines_are_never_joined() -> None:
    assert _texts("6,1,2,-;Out of memory: Killed process 5 (x) ", " SUBSYSTEM=mem") == [
        (1, "Out of memory: Killed process 5 (x) ")]


def test_the_line_waiting_is_yielded_before_a_read_error() -> None:
    def failing() -> Iterator[tuple[int, str, LogLine | None]]:
        yield 1, "[1.0] Killed process 5 (x) ", parse_line("[1.0] Killed process 5 (x) ")
        raise OSError(5, "Input/output error")

    lines = unwrap(failing())
    n, line = next(lines)
    assert (n, line.text) == (1, "Killed process 5 (x) ")
    with pytest.raises(OSError, match="Input/output error"):
        next(lines)


def test_the_mail_wrapped_splat_reads_whole() -> None:
    """Read apart, its victim line had no numbers and no task row a name."""
    with MAIL.open("rb") as f:
        events = list(parse_stream(f, MAIL.name))
    kill = next(e for e in events if e.victim is not None and e.victim.pid == 541)
    assert kill.victim is not None
    assert (kill.victim.anon_rss_kb, kill.victim.oom_score_adj) == (892, -900)
    assert kill.time.uptime_s == 330319.25138  # the timestamp before the wrap
    panic = next(e for e in events if e.kind.value == "panic")
    assert len(panic.tasks) == 55
    assert panic.tasks[0].name == "systemd-udevd" and panic.tasks[0].oom_score_adj == -1000


def _wrapped_log() -> bytes:
    """Noise, then reports whose every victim line is wrapped, densely enough that a cut
    between two reads falls between a line and its rest."""
    noise = b"".join(b"[%8d.000000] eth0: link is up %d\n" % (i, i) for i in range(4000))
    report = (b"[%8d.100000] Out of memory: Killed process %d (hog) \n"
              b"total-vm:4400kB, anon-rss:892kB, file-rss:380kB, shmem-rss:0kB, UID:0 \n"
              b"pgtables:44kB oom_score_adj:0\n")
    return noise + b"".join(report % (i, 1000 + i) for i in range(3000)) + noise


@pytest.mark.parametrize("fast", [True, False], ids=["hyperscan", "re"])
def test_every_path_selects_the_rest_of_a_wrapped_line(tmp_path: Path, fast: bool) -> None:
    data = _wrapped_log()
    path = tmp_path / "kern.log"
    whole = selected_by_every_path(data, path, fast=fast,
                                   reads=((4096, 300), (65_536, 4096), (300_000, 7)),
                                   items=(4096, 50_000))
    rests = [line for _n, _o, line in whole if line.startswith((b"total-vm:", b"pgtables:"))]
    assert len(rests) == 2 * 3000
    with path.open("rb") as f:
        events = list(parse_stream(f, path.name, use_hyperscan=fast))
    assert len(events) == 3000
    assert all(e.victim is not None and e.victim.oom_score_adj == 0 for e in events)


def test_a_last_line_ending_in_a_blank_selects_nothing_after_it(tmp_path: Path) -> None:
    """The rest of a wrapped last line would begin at the end of the file: no line there."""
    data = _wrapped_log() + b"[99999999.0] Out of memory: Killed process 9 (z) \n"
    stream = LineSelector(io.BytesIO(data))
    want = list(stream)
    assert want[-1][2].endswith(b"(z) ")
    path = tmp_path / "kern.log"
    path.write_bytes(data)
    anchor, full, _hs = scanners(True)
    fd = os.open(path, os.O_RDONLY)
    try:
        sel = FileSelector(fd, 0, anchor_scan=anchor, full_scan=full, count=_bytes_count,
                           threads=2, segment=16 << 10, piece=512, chunk=4096)
        assert (list(sel), sel.lines) == (want, stream.lines)
    finally:
        os.close(fd)


def test_a_next_line_that_starts_alike_is_neither_joined_nor_selected() -> None:
    """The lines of a log start alike: a kernel message that ends in blanks (this one is
    real boot output) followed by the next message is no wrap, and costs the selector
    nothing. A wrap whose rest starts like a prefix is therefore not joined, on any path."""
    noise = b"Nov 19 00:00:05 vm kernel: [    5.9] xor: automatically using best checksumming" \
            b" function   avx       \nNov 19 00:00:05 vm kernel: [    6.0] NET: Registered\n"
    data = noise + b"[    7.0] Out of memory: Killed process 5 (x) \n" \
                   b"[  pid  ] is not how a rest begins\n"
    for fast in (True, False):
        got = [line for _n, _o, line in LineSelector(io.BytesIO(data), use_hyperscan=fast)]
        assert got == [b"[    7.0] Out of memory: Killed process 5 (x) "], fast
    assert _texts(*data.decode().splitlines()[2:]) == [
        (1, "Out of memory: Killed process 5 (x) "), (2, "[  pid  ] is not how a rest begins")]
