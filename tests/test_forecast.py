"""The forecast is pure: a robust trend and the time until memory runs out."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oomkit.recorder.forecast import forecast, process_forecast, theil_sen, thin


def test_theil_sen_recovers_a_line() -> None:
    xs = [float(i) for i in range(20)]
    fit = theil_sen(xs, [3.0 * x + 7 for x in xs])
    assert fit is not None
    assert fit[0] == pytest.approx(3.0)
    assert fit[1] == pytest.approx(7.0)


def test_theil_sen_ignores_spikes() -> None:
    xs = [float(i) for i in range(30)]
    ys = [2.0 * x for x in xs]
    for i in (3, 11, 17, 25):  # four wild outliers (13 %): a least-squares fit would tilt
        ys[i] += 5000
    fit = theil_sen(xs, ys)
    assert fit is not None
    assert fit[0] == pytest.approx(2.0, abs=0.01)


def test_theil_sen_needs_two_times() -> None:
    assert theil_sen([1.0], [1.0]) is None
    assert theil_sen([1.0, 1.0], [1.0, 5.0]) is None


def test_thin_keeps_ends_and_bounds_the_work() -> None:
    xs, ys = thin(list(range(1000)), list(range(1000)), 24)
    assert len(xs) == 24 and xs[0] == 0 and xs[-1] == 999
    assert ys == xs


def _series(rate_kb_s: float, n: int = 30, dt: float = 1.0, start: float = 100_000.0,
            noise: float = 0.0, seed: int = 1) -> list[tuple[float, float]]:
    rnd = random.Random(seed)
    return [(i * dt, start + rate_kb_s * i * dt + rnd.uniform(-noise, noise)) for i in range(n)]


def test_time_left_from_steady_growth() -> None:
    pts = _series(1024.0)  # used grows 1 MiB/s
    f = forecast("/job", "cgroup", pts, headroom_kb=30 * 1024, capacity_kb=256 * 1024,
                 now=29.0, window=60)
    assert f.rate_kb_s == pytest.approx(1024.0)
    assert f.seconds_left == pytest.approx(30.0)
    assert f.points == 30


def test_noise_without_a_trend_gives_no_forecast() -> None:
    pts = _series(0.0, noise=800.0)  # +-800 kB of jitter (page cache) around a flat line
    f = forecast("system", "system", pts, headroom_kb=50_000, capacity_kb=1_000_000, now=29.0,
                 window=60)
    assert f.seconds_left is None


def test_shrinking_memory_gives_no_forecast() -> None:
    f = forecast("/job", "cgroup", _series(-2048.0), headroom_kb=10_000, capacity_kb=200_000,
                 now=29.0, window=60)
    assert f.seconds_left is None and f.rate_kb_s < 0


def test_too_few_points_or_too_short_a_span() -> None:
    f = forecast("/job", "cgroup", _series(4096.0, n=3), headroom_kb=10_000, capacity_kb=200_000,
                 now=2.0, window=60)
    assert f.seconds_left is None
    f = forecast("/job", "cgroup", _series(4096.0, n=10, dt=0.1), headroom_kb=10_000,
                 capacity_kb=200_000, now=0.9, window=60)
    assert f.seconds_left is None


def test_nothing_left_is_zero_seconds() -> None:
    f = forecast("/job", "cgroup", _series(0.0, n=2), headroom_kb=0, capacity_kb=1000, now=1.0,
                 window=60)
    assert f.seconds_left == 0.0


def test_only_the_window_counts() -> None:
    # fast growth long ago, flat now: no forecast
    old = [(float(t), 1000.0 * t) for t in range(0, 30)]
    flat = [(float(t), 30_000.0) for t in range(30, 100)]
    f = forecast("/job", "cgroup", old + flat, headroom_kb=5000, capacity_kb=100_000, now=99.0,
                 window=60)
    assert f.seconds_left is None and f.points == 61  # t = 39..99


def test_a_grower_against_its_domain() -> None:
    f = process_forecast("pid:1", _series(512.0), 10_240, 1_000_000, now=29.0, window=60)
    assert f.kind == "process"
    assert f.seconds_left == pytest.approx(20.0)


@settings(max_examples=60, deadline=None)
@given(rate=st.floats(min_value=200.0, max_value=50_000.0),
       noise=st.floats(min_value=0.0, max_value=0.2),
       headroom=st.integers(min_value=10_000, max_value=1_000_000))
def test_forecast_is_close_to_the_truth_under_noise(rate: float, noise: float, headroom: int) -> None:
    """Property: with jitter up to 20 % of one step, the rate is within 10 %."""
    pts = _series(rate, n=40, noise=rate * noise, seed=int(rate))
    f = forecast("/job", "cgroup", pts, headroom_kb=headroom, capacity_kb=1_000_000, now=39.0,
                 window=60)
    assert f.rate_kb_s == pytest.approx(rate, rel=0.1)
    if f.seconds_left is not None:
        assert f.seconds_left == pytest.approx(headroom / rate, rel=0.12)
