"""Time until memory runs out, from recent growth. Pure.

The trend is the Theil-Sen estimator: the median of the slopes between every
pair of points (a single spike moves it not at all; up to ~29% of the points can
be outliers). The series is thinned to at most ``MAX_POINTS`` evenly spaced
points first, which keeps each fit to a few hundred slopes. A fit is used only
when the window holds enough points, spans enough time, and the memory moved by
more than noise; otherwise there is no forecast (``seconds_left`` is None).
"""

from __future__ import annotations

from collections.abc import Sequence

from oomkit.models import Forecast

MAX_POINTS = 24
MIN_POINTS = 4
MIN_SPAN_S = 2.5
MIN_MOVE_KB = 1024  # the fitted change over the window must exceed this...
MIN_MOVE_FRACTION = 0.002  # ...and this fraction of the capacity


def _median(values: list[float]) -> float:
    values.sort()
    n = len(values)
    mid = n // 2
    return values[mid] if n % 2 else (values[mid - 1] + values[mid]) / 2


def thin(xs: Sequence[float], ys: Sequence[float], max_points: int = MAX_POINTS
         ) -> tuple[list[float], list[float]]:
    """At most ``max_points`` evenly spaced points, the first and the last included."""
    n = len(xs)
    if n <= max_points:
        return list(xs), list(ys)
    step = (n - 1) / (max_points - 1)
    idx = [round(i * step) for i in range(max_points)]
    return [xs[i] for i in idx], [ys[i] for i in idx]


def theil_sen(xs: Sequence[float], ys: Sequence[float], max_points: int = MAX_POINTS
              ) -> tuple[float, float] | None:
    """(slope, intercept) of the Theil-Sen line through the points, or None if under 2 x values."""
    px, py = thin(xs, ys, max_points)
    slopes = []
    for i in range(len(px)):
        xi, yi = px[i], py[i]
        for j in range(i + 1, len(px)):
            dx = px[j] - xi
            if dx > 0:
                slopes.append((py[j] - yi) / dx)
            elif dx < 0:
                slopes.append((yi - py[j]) / -dx)
    if not slopes:
        return None
    slope = _median(slopes)
    intercept = _median([y - slope * x for x, y in zip(px, py, strict=True)])
    return slope, intercept


def forecast(
    subject: str,
    kind: str,
    points: Sequence[tuple[float, float]],
    headroom_kb: int,
    capacity_kb: int,
    *,
    now: float,
    window: float,
    min_points: int = MIN_POINTS,
) -> Forecast:
    """Forecast from ``points`` = (time s, memory used kB); ``headroom_kb`` is what is left now.

    ``seconds_left`` = headroom / growth rate, when memory grew significantly over
    the window; 0 when nothing is left.
    """
    recent = []
    start = now - window
    for t, y in reversed(points):  # newest first: stop at the window's start
        if t < start:
            break
        if t <= now:
            recent.append((t, y))
    recent.reverse()
    if len(recent) < min_points or recent[-1][0] - recent[0][0] < MIN_SPAN_S:
        return Forecast(subject, kind, 0.0 if headroom_kb <= 0 else None, 0.0, headroom_kb,
                        capacity_kb, len(recent))
    ys = [y for _, y in recent]
    noise = max(MIN_MOVE_KB, capacity_kb * MIN_MOVE_FRACTION)
    if max(ys) - min(ys) < noise:  # flat: the common case, no fit needed
        return Forecast(subject, kind, 0.0 if headroom_kb <= 0 else None, 0.0, headroom_kb,
                        capacity_kb, len(recent))
    t_end = recent[-1][0]
    fit = theil_sen([t - t_end for t, _ in recent], ys)
    rate = fit[0] if fit is not None else 0.0
    span = t_end - recent[0][0]
    left: float | None = None
    if headroom_kb <= 0:
        left = 0.0
    elif rate > 0 and rate * span >= noise:
        left = headroom_kb / rate
    return Forecast(subject, kind, left, rate, headroom_kb, capacity_kb, len(recent))


def process_forecast(
    subject: str,
    points: Sequence[tuple[float, float]],
    domain_headroom_kb: int,
    domain_capacity_kb: int,
    *,
    now: float,
    window: float,
) -> Forecast:
    """A growing process: how long until *its* growth alone uses up its domain's headroom."""
    return forecast(subject, "process", points, domain_headroom_kb, domain_capacity_kb, now=now,
                    window=window)
