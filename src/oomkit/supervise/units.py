"""Sizes ("512M", "1.5G") and durations ("500ms", "5m") as people write them. Pure."""

from __future__ import annotations

import re
import signal

__all__ = ["format_duration", "parse_duration", "parse_signal", "parse_size", "signal_name"]

_SIZE = re.compile(r"^\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>[kKmMgGtT]?)(?:i?[bB])?\s*$")
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_DUR = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h|d)?")
_DUR_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_size(text: str | int) -> int:
    """Bytes from ``"2G"``, ``"512MiB"``, ``"1.5g"``, ``"4096"`` or an int (binary units)."""
    if isinstance(text, bool):
        raise ValueError("a size must be a number of bytes or a string like \"512M\"")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"size {text} is negative")
        return _at_most_max(text, text)
    if not isinstance(text, str):  # a TOML float: 1.5 bytes means nothing
        raise ValueError(f"size {text!r} is not a whole number of bytes; write it like \"512M\"")
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"size {text!r} is not like 512M, 1.5G or 1048576")
    return _at_most_max(int(float(m.group("n")) * _SIZE_UNITS[m.group("unit").lower()]), text)


# The kernel parses a limit with memparse() into 64 bits without an overflow check
# (lib/cmdline.c), so a larger number would wrap around to a small limit.
_MAX_SIZE = (1 << 63) - 1


def _at_most_max(n: int, text: str | int) -> int:
    if n > _MAX_SIZE:
        raise ValueError(f"size {text!r} is more than 8 EiB")
    return n


def parse_duration(text: str | float) -> float:
    """Seconds from ``"500ms"``, ``"10s"``, ``"5m"``, ``"1h30m"``, ``"2"`` or a number."""
    if isinstance(text, bool):
        raise ValueError("a duration must be a number of seconds or a string like \"5s\"")
    if isinstance(text, (int, float)):
        if text < 0:
            raise ValueError(f"duration {text} is negative")
        return _at_most_a_century(float(text), text)
    s = text.strip().replace(" ", "")
    pos, total = 0, 0.0
    while pos < len(s):
        m = _DUR.match(s, pos)
        if not m or m.end() == pos:
            raise ValueError(f"duration {text!r} is not like 500ms, 10s, 5m or 1h")
        total += float(m.group("n")) * _DUR_UNITS[m.group("unit")]
        pos = m.end()
    if not s:
        raise ValueError("empty duration")
    return _at_most_a_century(total, text)


def _at_most_a_century(seconds: float, text: str | float) -> float:
    # TOML has nan and inf; timers and backoff arithmetic would fail on them later.
    if not 0 <= seconds <= 100 * 365 * 86400:
        raise ValueError(f"duration {text!r} is not a number of seconds under 100 years")
    return seconds


def format_duration(seconds: float) -> str:
    """``3725.0`` -> ``"1h2m5s"``; under a minute with one decimal."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    s = int(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    d, h = divmod(h, 24)
    parts = [f"{d}d" if d else "", f"{h}h" if h else "", f"{m}m" if m else "", f"{sec}s" if sec else ""]
    return "".join(parts) or "0s"


def parse_signal(value: str | int) -> int:
    """A signal number from ``"TERM"``, ``"SIGTERM"``, ``"15"`` or 15 (signal(7))."""
    if isinstance(value, bool):
        raise ValueError("a signal is a name like TERM or a number")
    if isinstance(value, int):
        number = value
    elif value.strip().isdecimal():
        number = int(value.strip())
    else:
        name = value.strip().upper()
        name = name if name.startswith("SIG") else "SIG" + name
        try:
            return int(signal.Signals[name])
        except KeyError:
            raise ValueError(f"unknown signal {value!r}; use a name like TERM, INT, HUP, KILL") from None
    try:
        return int(signal.Signals(number))
    except ValueError:
        raise ValueError(f"{number} is not a signal number on this system") from None


def signal_name(number: int) -> str:
    """``9`` -> ``"SIGKILL"``; unknown numbers as ``"signal 42"``."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
