"""From samples and their recent series to what the warning state machine looks at. Pure.

``system_observation``/``cgroup_observation`` turn a sample and its series (time,
memory used) into an ``alerts.Observation`` with its forecast and the words of
the message; ``growers`` names the fastest-growing process of each domain (a
limited cgroup, or the system) for the warnings' "biggest grower".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from oomkit.models import CgroupSample, SystemSample
from oomkit.recorder import forecast
from oomkit.recorder.alerts import Observation
from oomkit.units import human_kb


class Series(NamedTuple):
    """A process's recent RSS + swap on the fast tier, for the growers."""

    label: str  # "train.py (pid 4242)"
    domain: str | None  # its nearest limited cgroup
    points: Sequence[tuple[float, float]]


def system_observation(s: SystemSample, series: Sequence[tuple[float, float]], *, now: float,
                       window: float, min_pct: float, min_mb: float, grower: str | None
                       ) -> Observation:
    """The system: used = RAM + swap - MemAvailable - SwapFree, against RAM + swap."""
    capacity = s.mem_total_kb + s.swap_total_kb
    headroom = s.mem_available_kb + s.swap_free_kb
    floor = max(capacity * min_pct / 100, min_mb * 1024)
    swap = f", swap free {human_kb(s.swap_free_kb)}" if s.swap_total_kb else ""
    return Observation(
        "system", "the system",
        forecast.forecast("system", "system", series, headroom, capacity, now=now, window=window),
        below_floor=headroom < floor, near_floor=headroom < floor * 1.2,
        detail=f"MemAvailable {human_kb(s.mem_available_kb)} of {human_kb(s.mem_total_kb)}{swap}",
        grower=grower,
    )


def cgroup_observation(g: CgroupSample, series: Sequence[tuple[float, float]], *, now: float,
                       window: float, grower: str | None) -> Observation | None:
    """A limited cgroup: usage against its limit (None without both)."""
    if g.usage_kb is None or not g.limit_kb:
        return None
    return Observation(
        g.path, f"cgroup {g.path}",
        forecast.forecast(g.path, "cgroup", series, g.limit_kb - g.usage_kb, g.limit_kb, now=now,
                          window=window),
        detail=f"usage {human_kb(g.usage_kb)} of limit {human_kb(g.limit_kb)}",
        grower=grower,
    )


def growers(processes: Iterable[Series], cgroups: Mapping[str, CgroupSample], headroom_kb: int,
            capacity_kb: int, *, now: float, window: float) -> dict[str, str]:
    """The fastest-growing process of each domain ("system" included), as a label."""
    best: dict[str, tuple[float, str]] = {}
    for p in processes:
        h = p.points
        if len(h) < forecast.MIN_POINTS or h[-1][1] - h[0][1] < forecast.MIN_MOVE_KB:
            continue
        g = cgroups.get(p.domain) if p.domain else None
        if g is not None and g.limit_kb and g.usage_kb is not None:
            f = forecast.process_forecast(p.label, h, g.limit_kb - g.usage_kb, g.limit_kb, now=now,
                                          window=window)
        else:
            f = forecast.process_forecast(p.label, h, headroom_kb, capacity_kb, now=now,
                                          window=window)
        if f.rate_kb_s <= 0:
            continue
        label = f"{p.label} +{human_kb(f.rate_kb_s)}/s"
        for domain in {p.domain or "system", "system"}:
            if domain not in best or f.rate_kb_s > best[domain][0]:
                best[domain] = (f.rate_kb_s, label)
    return {d: label for d, (_rate, label) in best.items()}


def in_danger(observations: Iterable[Observation], forecast_seconds: float) -> bool:
    """Whether any subject is under the floor or forecast to run out within the threshold."""
    return any(o.below_floor or (o.forecast.seconds_left is not None
                                 and o.forecast.seconds_left <= forecast_seconds)
               for o in observations)
