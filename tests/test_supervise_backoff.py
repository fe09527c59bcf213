"""Restart delays: exponential, capped, jittered from an injected draw, reset when healthy."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oomkit.models import BackoffPolicy
from oomkit.supervise.backoff import delay, parse_backoff, should_reset

P = BackoffPolicy(initial_s=1.0, maximum_s=60.0, factor=2.0, jitter=0.0, reset_after_s=30.0)


def test_doubles_from_initial_up_to_the_maximum() -> None:
    assert [delay(P, n, 0.0) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert delay(P, 0, 0.5) == 0.0
    assert delay(P, 10_000, 0.5) == 60.0  # no overflow


def test_jitter_removes_up_to_its_fraction() -> None:
    p = BackoffPolicy(initial_s=10.0, maximum_s=10.0, jitter=0.2)
    assert delay(p, 1, 0.0) == 10.0
    assert delay(p, 1, 0.5) == pytest.approx(9.0)
    assert delay(p, 1, 0.999999) == pytest.approx(8.0, abs=1e-4)


def test_reset_after_a_healthy_run() -> None:
    assert should_reset(P, 30.0)
    assert not should_reset(P, 29.9)


@given(st.integers(1, 200), st.floats(0, 1, exclude_max=True), st.floats(0, 1))
def test_delay_is_bounded_and_never_shrinks_with_n(n: int, u: float, jitter: float) -> None:
    p = BackoffPolicy(initial_s=0.5, maximum_s=300.0, factor=2.0, jitter=jitter)
    d = delay(p, n, u)
    assert 0.0 <= d <= p.maximum_s
    assert delay(p, n + 1, u) >= d


@pytest.mark.parametrize(("text", "initial", "maximum"), [
    ("1s..5m", 1.0, 300.0), ("500ms..2s", 0.5, 2.0), ("2", 2.0, 300.0), ("10m", 600.0, 600.0),
])
def test_parse_backoff(text: str, initial: float, maximum: float) -> None:
    p = parse_backoff(text)
    assert (p.initial_s, p.maximum_s) == (initial, maximum)


@pytest.mark.parametrize("text", ["5m..1s", "fast", "1s..", ""])
def test_parse_backoff_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"backoff|duration"):
        parse_backoff(text)
