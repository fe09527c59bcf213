"""Follow /dev/kmsg and turn OOM reports into events as they arrive, with `why`'s parser.

/dev/kmsg (Documentation/ABI/testing/dev-kmsg) hands out one record per read();
opened O_NONBLOCK, a read with nothing new fails with EAGAIN, and poll() says
when a record arrived. A fresh open starts at the oldest record still in the ring
buffer: the daemon reads that backlog once at start (kills it holds that the
database lacks are stored; the rest are duplicates and ignored), or seeks to the
end when told not to. EPIPE means records were overwritten before we read them.

The kernel prints a report in one burst. A report stays open in the assembler
until the next report starts, so when kmsg goes quiet for ``QUIET`` seconds after
a victim line, the report is closed and its event emitted; that stores a kill
well within a second. During a storm (no quiet) finished events are flushed
every ``MAX_DELAY`` seconds. The kmsg sequence number is the event's source line.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

from oomkit.devkmsg import records
from oomkit.models import OomEvent, SourceRef
from oomkit.timeconv import fill_wall

if TYPE_CHECKING:
    from oomkit.kernel_log.assemble import Assembler
    from oomkit.procfs import StrPath

QUIET = 0.2
MAX_DELAY = 0.5
CLOSE_ANYWAY = 2.0
# A report is over once one of these was printed (the victim line, nothing to kill, a panic).
_TERMINAL = ("illed process", "ill process", "no killable", "Kernel panic", "reaped process")
# Every line of an OOM report contains one of these (the header "invoked oom-killer",
# "oom-kill:", "Killed process", "Memory cgroup out of memory", ...). Until one arrives
# the parser is not even imported: most machines never have an OOM, and the parser's
# patterns cost ~1 MiB of the daemon's memory.
_ANY_OOM = (b"oom", b"illed process", b"ill process", b"Out of memory", b"out of memory",
            b"no killable", b"Kernel panic")


class KmsgFollower:
    """Reads /dev/kmsg without blocking and assembles events. ``fd`` is for poll()."""

    def __init__(self, path: StrPath = "/dev/kmsg", *, boot_id: str | None = None,
                 offset: float = 0.0) -> None:
        self.path = path
        self.fd: int | None = None
        self.boot_id = boot_id
        self.offset = offset  # CLOCK_REALTIME - CLOCK_MONOTONIC: printk stamp -> wall time
        self.lost = 0  # records overwritten before we read them
        self.records = 0
        self._asm: Assembler | None = None  # created at the first OOM line
        self._ready: list[OomEvent] = []  # completed by feed(), not yet taken
        self._fed_at: float | None = None  # last record fed (monotonic) not yet closed
        self._flushed_at = 0.0
        self._terminal = False

    def open(self, *, backlog: bool) -> list[OomEvent]:
        """Open the device; with ``backlog``, return the events already in the ring buffer.

        Raises OSError (EACCES without CAP_SYSLOG when kernel.dmesg_restrict=1).
        """
        self.fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        if not backlog:
            with contextlib.suppress(OSError):  # a pipe in tests cannot seek: read it all
                os.lseek(self.fd, 0, os.SEEK_END)
            return []
        self.read_available(0.0)
        events = self._ready + (self._asm.close() if self._asm is not None else [])
        self._ready = []
        self._fed_at = None
        self._terminal = False
        return [self._dated(e) for e in events]

    def close(self) -> None:
        """Close the device."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _dated(self, e: OomEvent) -> OomEvent:
        e = fill_wall(e, self.offset)
        t = e.time
        if t.boot_id is None and self.boot_id is not None:
            t = t._replace(boot_id=self.boot_id)
        return e if t is e.time else e._replace(time=t)

    def read_available(self, now: float) -> int:
        """Feed every record waiting (until EAGAIN); return how many were OOM report lines."""
        if self.fd is None:
            return 0
        n = 0
        for rec in records(self.fd):
            if rec is None:  # overwritten in the ring buffer before we read it
                self.lost += 1
                continue
            # One record per read from the device (continuation lines " KEY=value" follow
            # it); several lines per read from a plain file or a pipe in tests.
            for raw in rec.split(b"\n"):
                if raw and raw[0:1] != b" ":
                    self.records += 1
                    if self._feed(raw):
                        n += 1
        if n:
            self._fed_at = now
        return n

    def _parser(self) -> Assembler:
        if self._asm is None:
            from oomkit.kernel_log.assemble import Assembler

            self._asm = Assembler()
        return self._asm

    def _feed(self, raw: bytes) -> bool:
        """Feed one record; False when it is not part of an OOM report (and no report is open)."""
        if self._asm is None and not any(k in raw for k in _ANY_OOM):
            return False
        asm = self._parser()
        from oomkit.kernel_log.prefix import parse_line

        text = raw.decode("utf-8", "replace")
        line = parse_line(text)
        if line is None:
            return True
        head, _, _ = text.partition(";")
        parts = head.split(",", 2)
        seq = int(parts[1]) if len(parts) > 1 and parts[1].isdecimal() else None
        self._ready.extend(asm.feed(line, SourceRef("kmsg", seq)))
        if not self._terminal and any(t in line.text for t in _TERMINAL):
            self._terminal = True
        return True

    def deadline(self) -> float | None:
        """When ``take`` should next be called (monotonic), or None when nothing is pending."""
        if self._fed_at is None:
            return None
        return self._fed_at + (QUIET if self._terminal else CLOSE_ANYWAY)

    def take(self, now: float) -> list[OomEvent]:
        """Events that are complete now: after a quiet spell, or every MAX_DELAY in a storm."""
        events, self._ready = self._ready, []
        if self._fed_at is None:
            return [self._dated(e) for e in events]
        quiet = now - self._fed_at
        asm = self._parser()
        if (self._terminal and quiet >= QUIET) or quiet >= CLOSE_ANYWAY:
            events += asm.close()
            self._fed_at = None
            self._terminal = False
        elif now - self._flushed_at >= MAX_DELAY:
            events += asm.flush()
        if events:
            self._flushed_at = now
        return [self._dated(e) for e in events]
