"""The daemon's log: one line per message on stderr, without the logging module.

Under systemd (``JOURNAL_STREAM`` set) each line starts with a ``<N>`` syslog
priority, which journald reads (sd-daemon(3)); on a terminal it starts with the
time. ``once`` keeps a recurring problem to one line until it is ``clear``\\ ed.
"""

from __future__ import annotations

import contextlib
import os
import time

_PRIORITY = {"error": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7}


class Log:
    """Writes to a file descriptor (stderr by default)."""

    def __init__(self, fd: int = 2, *, journal: bool | None = None, debug: bool = False) -> None:
        self._fd = fd
        self._journal = ("JOURNAL_STREAM" in os.environ) if journal is None else journal
        self._debug = debug
        self._once: set[str] = set()
        self.lines = 0

    def __call__(self, level: str, message: str) -> None:
        """Write one line at ``level`` ("error", "warning", "notice", "info", "debug")."""
        if level == "debug" and not self._debug:
            return
        if self._journal:
            line = f"<{_PRIORITY.get(level, 6)}>{message}\n"
        else:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            line = f"{stamp} oomkit[{os.getpid()}] {level}: {message}\n"
        with contextlib.suppress(OSError):  # stderr gone (closed terminal): nothing better to do
            os.write(self._fd, line.encode("utf-8", "replace"))
        self.lines += 1

    def once(self, key: str, level: str, message: str) -> None:
        """Write ``message`` only the first time ``key`` is seen (until ``clear(key)``)."""
        if key not in self._once:
            self._once.add(key)
            self(level, message)

    def clear(self, key: str) -> bool:
        """Forget ``key``; True if it had been logged."""
        if key in self._once:
            self._once.discard(key)
            return True
        return False
