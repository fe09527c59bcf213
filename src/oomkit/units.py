"""Sizes and durations in words. Pure, and imported by the daemon: no dependencies."""

from __future__ import annotations


def human_kb(kb: float | None) -> str:
    """``20480`` -> ``20.0 MiB``; None -> ``?``."""
    if kb is None:
        return "?"
    value = float(kb)
    for unit in ("KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "KiB" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def human_seconds(s: float) -> str:
    """``75`` -> ``1 min``; ``7200`` -> ``2.0 h``."""
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"
