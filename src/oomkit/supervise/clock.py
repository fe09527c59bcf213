"""The clock port: monotonic time for every duration, wall time only for reports.

Durations never use ``time.time()``: Supervisor had to add a workaround for the
system clock going backwards (its ``process.py`` "clock rollback" checks).
CLOCK_MONOTONIC also stops during suspend, like the printk stamps of the kernel
log, so the two can be compared (clock_gettime(2)).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """What the supervisor needs to know about time."""

    def monotonic(self) -> float:
        """Seconds on CLOCK_MONOTONIC."""

    def wall(self) -> datetime:
        """The wall-clock time now, timezone-aware."""


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        """``time.monotonic()`` (CLOCK_MONOTONIC on Linux)."""
        return time.monotonic()

    def wall(self) -> datetime:
        """``datetime.now(timezone.utc)``."""
        return datetime.now(timezone.utc)
