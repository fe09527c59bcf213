"""Terminal charts of recorded memory: block characters, no dependencies. Pure.

``chart`` draws a series as columns of eighth blocks (``▁▂▃▄▅▆▇█``), each column
the peak of its slice of time, with the scale on the left and the time span
underneath.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo

from oomkit.units import human_kb

BLOCKS = "▁▂▃▄▅▆▇█"




def columns(points: Sequence[tuple[float, float]], width: int) -> list[float | None]:
    """The peak value of each of ``width`` equal slices of the time span (None: no sample,
    filled from the previous column: memory stays where it was between samples)."""
    if not points:
        return []
    t0, t1 = points[0][0], points[-1][0]
    span = t1 - t0
    cols: list[float | None] = [None] * width
    for t, v in points:
        i = min(width - 1, int((t - t0) / span * width)) if span > 0 else width - 1
        prev = cols[i]
        cols[i] = v if prev is None else max(prev, v)
    last: float | None = None
    for i, c in enumerate(cols):
        if c is None:
            cols[i] = last
        else:
            last = c
    return cols


def chart(points: Sequence[tuple[float, float]], *, width: int = 60, height: int = 6,
          fmt: Callable[[float], str] = human_kb, tz: tzinfo | None = None,
          floor: float | None = None) -> list[str]:
    """Lines of a block chart of (unix time, value) points, oldest first."""
    if not points:
        return ["(no samples)"]
    width = max(1, min(width, len(points) if len(points) > 1 else 1))
    cols = columns(points, width)
    values = [v for v in cols if v is not None]
    top = max(values)
    lo = min(values) if floor is None else min(floor, min(values))
    if top - lo < 1e-9:
        lo = 0.0 if top > 0 else top - 1
    rows: list[str] = []
    cells = height * 8
    levels = [None if v is None else round((v - lo) / (top - lo) * (cells - 1)) + 1 for v in cols]
    for r in range(height - 1, -1, -1):
        line = []
        for lv in levels:
            if lv is None:
                line.append(" ")
                continue
            fill = lv - r * 8
            line.append(" " if fill <= 0 else BLOCKS[min(fill, 8) - 1])
        rows.append("".join(line))
    top_label, lo_label = fmt(top), fmt(lo)
    pad = max(len(top_label), len(lo_label))
    out = []
    for i, row in enumerate(rows):
        label = top_label if i == 0 else (lo_label if i == height - 1 else "")
        out.append(f"{label:>{pad}} ┤{row}")
    start = datetime.fromtimestamp(points[0][0], tz).strftime("%H:%M:%S")
    end = datetime.fromtimestamp(points[-1][0], tz).strftime("%H:%M:%S")
    gap = max(1, width - len(start) - len(end))
    out.append(" " * (pad + 2) + start + " " * gap + end)
    return out
