"""Property tests: garbage, truncation and shuffling of real reports never crash the parser,
and a cut report never shows numbers its text does not hold."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oomkit.kernel_log import parse_stream, parse_text
from tests.conftest import KERNEL_LOGS

REPORTS = [
    p.read_text("utf-8", "replace")
    for p in sorted(KERNEL_LOGS.glob("*.log"))
    if p.stat().st_size < 200_000
]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.binary(max_size=4096))
def test_random_bytes_never_crash(data: bytes) -> None:
    parse_text(data.decode("utf-8", "replace"))
    list(parse_stream(io.BytesIO(data), "x"))
    list(parse_stream(io.BytesIO(data), "x", use_hyperscan=False))


@SETTINGS
@given(st.sampled_from(REPORTS), st.integers(min_value=0, max_value=10**6))
def test_truncated_reports_are_partial_not_guessed(text: str, cut: int) -> None:
    lines = text.splitlines()
    cut %= len(lines) + 1
    head = "\n".join(lines[:cut])
    for e in parse_text(head):
        v = e.victim
        if e.killer.value == "kernel" and v is not None and v.anon_rss_kb is not None:
            # numbers only come from a victim line that is in the text (where a person
            # grouped its digits with ',', from the digits: see records._KB_GROUPS)
            assert f"anon-rss:{v.anon_rss_kb}kB" in head.replace(",", "")
        if e.complete and e.kind.value == "oom_kill" and e.killer.value == "kernel":
            assert "Killed process" in head or "Kill process" in head


@SETTINGS
@given(st.sampled_from(REPORTS), st.randoms(use_true_random=False))
def test_shuffled_lines_never_crash(text: str, rnd: object) -> None:
    lines = text.splitlines()
    rnd.shuffle(lines)  # type: ignore[attr-defined]
    events = parse_text("\n".join(lines))
    for e in events:
        assert e.victim is None or e.victim.pid is None or e.victim.pid >= 0


@SETTINGS
@given(st.sampled_from(REPORTS), st.integers(min_value=1, max_value=4096),
       st.integers(min_value=1, max_value=300), st.booleans())
def test_chunk_boundaries_do_not_matter(text: str, chunk: int, piece: int, fast: bool) -> None:
    from oomkit.kernel_log.scan import select_lines

    data = text.encode()
    small = list(select_lines(io.BytesIO(data), chunk=chunk, piece=piece, use_hyperscan=fast))
    big = list(select_lines(io.BytesIO(data)))
    assert small == big


@SETTINGS
@given(
    st.sampled_from(REPORTS),
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=10**6),
    st.sampled_from(["x", "99999999999999999999999", "-1", "", "\xff"]),
)
def test_hand_edited_numbers(text: str, line_pick: int, digit_pick: int, junk: str) -> None:
    """A digit replaced by a letter or a huge number never crashes and never invents a value."""
    lines = text.splitlines()
    i = line_pick % len(lines)
    digits = [k for k, c in enumerate(lines[i]) if c.isdigit()]
    if digits:
        k = digits[digit_pick % len(digits)]
        lines[i] = lines[i][:k] + junk + lines[i][k + 1 :]
    parse_text("\n".join(lines))


assert REPORTS, Path(KERNEL_LOGS)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(REPORTS), st.integers(min_value=256, max_value=8192),
       st.integers(min_value=1, max_value=300))
def test_reading_on_a_second_thread_changes_nothing(text: str, chunk: int, piece: int) -> None:
    """A stream is read on a second thread (scan.LineSelector._fill_beside); a real file
    stands for one here (a regular file is read by filescan, see test_filescan.py)."""
    import tempfile

    from oomkit.kernel_log.scan import LineSelector, select_lines

    data = ("noise line\n" * 50 + text + "\n") * 3
    with tempfile.TemporaryFile() as f:
        f.write(data.encode())
        f.flush()
        f.seek(0)
        with open(f.fileno(), "rb", buffering=0, closefd=False) as raw:
            selector = LineSelector(raw, chunk=chunk, piece=piece, two_pass=False)
            assert selector._threaded
            threaded = [(n, line) for n, _off, line in selector]
    assert threaded == list(select_lines(io.BytesIO(data.encode())))
    assert selector.lines == data.count("\n")


def test_a_read_error_on_the_reading_thread_reaches_the_caller(tmp_path: Path) -> None:
    """Lines before a failing read are still yielded; then the error is raised."""
    import io as _io

    from oomkit.kernel_log.scan import LineSelector

    report = REPORTS[0]
    path = tmp_path / "kern.log"
    path.write_text(report + "\n" + "noise\n" * 200_000 + report + "\n")

    class Failing(_io.FileIO):
        reads = 0

        def readinto(self, b: object) -> int | None:
            self.reads += 1
            if self.reads > 3:
                raise OSError(5, "Input/output error")
            return super().readinto(b)  # type: ignore[arg-type]

    got: list[tuple[int, int, bytes]] = []
    with Failing(path, "r") as raw:
        selector = LineSelector(raw, chunk=1 << 16, piece=1 << 14, two_pass=False)
        assert selector._threaded
        with pytest.raises(OSError, match="Input/output error"):
            got.extend(selector)
    want = list(LineSelector(_io.BytesIO(report.encode() + b"\n")))
    assert got[: len(want)] == want and want  # the first report's lines came through
