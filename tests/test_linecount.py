"""The optional C newline counter (oomkit._linecount) against bytes.count."""

from __future__ import annotations

import mmap
import os
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

try:
    from oomkit import _linecount
except ImportError:  # not built: scan.py uses StringZilla or bytes.count
    _linecount = None  # type: ignore[assignment]


def native() -> object:
    if _linecount is None:
        pytest.skip("oomkit._linecount is not built (no C compiler at install time)")
    return _linecount


def test_native_module_is_built_when_required() -> None:
    if os.environ.get("OOMKIT_REQUIRE_NATIVE") != "1":
        pytest.skip("OOMKIT_REQUIRE_NATIVE is not set (make test sets it)")
    assert _linecount is not None, "oomkit._linecount failed to build: see the pip output"


@given(st.binary(max_size=3000), st.integers(-10, 3100), st.integers(-10, 3100))
def test_counts_like_bytes_count(data: bytes, lo: int, hi: int) -> None:
    native()
    want = data[max(lo, 0):max(hi, 0)].count(b"\n") if hi > lo else 0
    assert _linecount.count(data, lo, hi) == want
    assert _linecount.count(memoryview(bytearray(data)), lo, hi) == want


def test_long_runs_of_newlines_do_not_overflow() -> None:
    native()
    # the C loop sums bytes in blocks of 255: runs longer than that must still add up
    for n in (254, 255, 256, 511, 100_000):
        assert _linecount.count(b"\n" * n, 0, n) == n


def test_counts_an_mmap_while_another_thread_runs() -> None:
    native()
    m = mmap.mmap(-1, 1 << 20)
    m[0:1 << 20] = b"x\n" * (1 << 19)
    view = memoryview(m)
    results: list[int] = []
    others = [threading.Thread(target=lambda: results.append(_linecount.count(view, 0, 1 << 20)))
              for _ in range(4)]
    for t in others:
        t.start()
    for t in others:
        t.join()
    assert results == [1 << 19] * 4
    with pytest.raises(TypeError):
        _linecount.count("text", 0, 1)  # type: ignore[arg-type]
