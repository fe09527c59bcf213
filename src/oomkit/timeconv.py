"""Clocks: turning the kernel's printk time into wall-clock time, and parsing --since.

printk stamps come from local_clock() (sched_clock), which, like
CLOCK_MONOTONIC, does not advance while the machine is suspended
(kernel/printk/printk.c; util-linux dmesg(1) warns that ``-T`` is wrong after
a suspend for this reason). ``btime`` in /proc/stat and /proc/uptime count
CLOCK_BOOTTIME, which *does* include suspend, so "boot time + stamp" is early
by the total time suspended.

oomkit therefore relies on CLOCK_REALTIME - CLOCK_MONOTONIC, read now: it
already includes every suspend that happened before now, so a message
stamped after the last suspend converts exactly (up to sched_clock drift).
A wall time printed on the line by syslog or journald (their receive time)
always wins over this conversion.
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime, timedelta, timezone, tzinfo

from oomkit.errors import UsageError
from oomkit.models import OomEvent


def boot_offset() -> float:
    """Seconds to add to a printk/monotonic stamp of this boot to get Unix time."""
    return time.clock_gettime(time.CLOCK_REALTIME) - time.clock_gettime(time.CLOCK_MONOTONIC)


def fill_wall(event: OomEvent, offset: float, tz: tzinfo = timezone.utc) -> OomEvent:
    """``event`` with a wall time from its printk stamp and ``boot_offset()``, when it has
    a stamp but no wall time of its own (a printed wall time always wins)."""
    t = event.time
    if t.wall is not None or t.uptime_s is None:
        return event
    try:
        wall = datetime.fromtimestamp(offset + t.uptime_s, tz=tz)
    except (OverflowError, OSError, ValueError):
        return event  # a hand-edited uptime no clock can reach: leave the wall time unknown
    return event._replace(time=t._replace(wall=wall, wall_from="boot-offset"))


def local_tz(localtime: str = "/etc/localtime", tz_env: str | None = None) -> tzinfo:
    """This machine's time zone with its DST rules (syslog RFC 3164 times are local).

    The TZ environment variable wins over /etc/localtime, as for every program (tzset(3)):
    a container may have no /etc/localtime, and TZ=Europe/Berlin reads a log written
    there. ``tz_env`` stands for TZ in tests; None reads the environment.
    """
    env = os.environ.get("TZ") if tz_env is None else tz_env
    if env is not None:
        zone = _from_tz_variable(env)
        if zone is not None:
            return zone
    try:
        from zoneinfo import ZoneInfo

        with open(localtime, "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except (OSError, ValueError, ImportError):
        tz = datetime.now().astimezone().tzinfo
        return tz if tz is not None else timezone.utc


def _from_tz_variable(value: str) -> tzinfo | None:
    """TZ as tzset(3) reads it: empty is UTC; ":name" or "name" a zoneinfo name, or a path
    when it starts with "/". A POSIX rule string ("CET-1CEST,M3.5.0,...") that names no
    zone file is left to the C library: its offset now, without the rule (None to say
    nothing could be read)."""
    name = value[1:] if value.startswith(":") else value
    if not name:
        return timezone.utc
    try:
        from zoneinfo import ZoneInfo

        if name.startswith("/"):
            with open(name, "rb") as f:
                return ZoneInfo.from_file(f, key=name)
        return ZoneInfo(name)
    except (OSError, ValueError, ImportError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        return datetime.now().astimezone().tzinfo


_RELATIVE = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hour|hours|d|day|days|w|week|weeks)\s*(?:ago)?\s*$"
)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "hours": 3600,
          "d": 86400, "day": 86400, "days": 86400, "w": 604800, "week": 604800, "weeks": 604800}


def parse_when(text: str, now: datetime, tz: tzinfo) -> datetime:
    """``2h``, ``30m``, ``1d``, ``today``, ``yesterday``, ``2026-11-25 10:00``, ISO 8601."""
    t = text.strip().lower()
    m = _RELATIVE.match(t)
    if m:
        try:
            return now - timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
        except OverflowError:  # more days than timedelta holds, or before year 1
            raise UsageError(f"cannot go back {text.strip()!r}: that is before year 1") from None
    if t in ("now",):
        return now
    if t in ("today", "yesterday"):
        day = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
        return day - timedelta(days=1) if t == "yesterday" else day
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"cannot read the time {text!r}: use e.g. 2h, 30m, 1d, yesterday or '2026-11-25 10:00'"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)
