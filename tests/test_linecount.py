"""The optional C newline counter (oomkit._linecount) against bytes.count."""

from __future__ import annotations

import mmap
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import native_module


@given(st.binary(max_size=3000), st.integers(-10, 3100), st.integers(-10, 3100))
def test_counts_like_bytes_count(data: bytes, lo: int, hi: int) -> None:
    lc = native_module("_linecount")
    want = data[max(lo, 0):max(hi, 0)].count(b"\n") if hi > lo else 0
    assert lc.count(data, lo, hi) == want
    assert lc.count(memoryview(bytearray(data)), lo, hi) == want


def test_long_runs_of_newlines_do_not_overflow() -> None:
    lc = native_module("_linecount")
    # the C loop sums bytes in blocks of 255: runs longer than that must still add up
    for n in (254, 255, 256, 511, 100_000):
        assert lc.count(b"\n" * n, 0, n) == n


def test_counts_an_mmap_while_another_thread_runs() -> None:
    lc = native_module("_linecount")
    m = mmap.mmap(-1, 1 << 20)
    m[0:1 << 20] = b"x\n" * (1 << 19)
    view = memoryview(m)
    results: list[int] = []
    others = [threading.Thread(target=lambda: results.append(lc.count(view, 0, 1 << 20)))
              for _ in range(4)]
    for t in others:
        t.start()
    for t in others:
        t.join()
    assert results == [1 << 19] * 4
    with pytest.raises(TypeError):
        lc.count("text", 0, 1)
