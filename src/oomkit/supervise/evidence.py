"""Where the classifier's log evidence comes from: the kernel log and the killers' logs.

``EvidenceSource`` is a port (tests feed fixture lines through ``FileEvidence``);
``MachineEvidence`` reads this machine:

* /dev/kmsg, the whole ring buffer without blocking (Documentation/ABI/testing/dev-kmsg),
  for the kernel's report of an OOM kill;
* the journal, for earlyoom / systemd-oomd / nohang / oomd lines, only when journald
  runs (its socket exists) and only since the run started;
* the files in ``killer_logs`` (e.g. earlyoom's stdout redirected to a file), their
  last 1 MiB.

The same kill seen in two places becomes one event (``why.merge_duplicates``).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from oomkit.errors import SourceUnavailable
from oomkit.kernel_log import parse_stream
from oomkit.models import OomEvent

__all__ = ["EvidenceSource", "FileEvidence", "MachineEvidence", "NoEvidence", "read_tail"]

TAIL_BYTES = 1 << 20


class EvidenceSource(Protocol):
    """Log events that may explain an exit."""

    def events(self, since: datetime, killer_logs: Sequence[str] = ()) -> list[OomEvent]:
        """Kernel and userspace-killer events, from about ``since`` on (older ones may come too)."""


class NoEvidence:
    """No logs at all (the classifier then rests on the wait status and the counter)."""

    def events(self, since: datetime, killer_logs: Sequence[str] = ()) -> list[OomEvent]:
        """Nothing."""
        return []


def read_tail(path: Path, nbytes: int = TAIL_BYTES) -> bytes:
    """The last ``nbytes`` of a file, starting at a line boundary."""
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        start = max(0, size - nbytes)
        f.seek(start)
        data = f.read()
    if start:
        cut = data.find(b"\n")
        data = data[cut + 1:] if cut >= 0 else b""
    return data


def _parse(data: bytes, name: str, reference: datetime | None) -> list[OomEvent]:
    from oomkit.timeconv import local_tz

    return list(parse_stream(io.BytesIO(data), name, local=local_tz(), reference=reference))


def _files(paths: Iterable[str]) -> list[OomEvent]:
    from oomkit.log_sources import mtime

    out: list[OomEvent] = []
    for p in paths:
        path = Path(p)
        try:
            out.extend(_parse(read_tail(path), str(path), mtime(path)))
        except (OSError, ValueError, EOFError):
            continue  # a killer log that is missing or unreadable adds no evidence
    return out


def _with_wall(e: OomEvent) -> OomEvent:
    """A kmsg event's wall time from its printk stamp (this boot: CLOCK_REALTIME - MONOTONIC)."""

    from oomkit.timeconv import boot_offset

    t = e.time
    if t.wall is not None or t.uptime_s is None:
        return e
    wall = datetime.fromtimestamp(boot_offset() + t.uptime_s, tz=timezone.utc)
    return e._replace(time=t._replace(wall=wall, wall_from="boot-offset"))


class FileEvidence:
    """Events from named log files only (tests; or a machine whose killers log to files)."""

    def __init__(self, paths: Sequence[str | Path] = ()) -> None:
        self.paths = [str(p) for p in paths]

    def events(self, since: datetime, killer_logs: Sequence[str] = ()) -> list[OomEvent]:
        """Every event in the files (the classifier checks the times)."""
        return _files([*self.paths, *killer_logs])


class MachineEvidence:
    """This machine's kernel log, journal and the configured killer logs."""

    def __init__(self, kmsg: Path = Path("/dev/kmsg"),
                 journal_socket: Path = Path("/run/systemd/journal/socket")) -> None:
        self.kmsg = kmsg
        self.journal_socket = journal_socket
        self.notes: list[str] = []  # why a source was skipped, the last time

    def events(self, since: datetime, killer_logs: Sequence[str] = ()) -> list[OomEvent]:
        """kmsg + journal (if journald runs) + killer log files, merged."""
        from oomkit.log_sources import read_journal, read_kmsg
        from oomkit.why import merge_duplicates

        self.notes = []
        found: list[OomEvent] = []
        try:
            found.extend(_with_wall(e) for e in _parse(read_kmsg(self.kmsg), "kmsg", None))
        except SourceUnavailable as exc:
            self.notes.append(str(exc))
        if self.journal_socket.exists():
            try:
                data = read_journal(("--since", f"@{int(since.timestamp()) - 2}"))
                found.extend(_parse(data, "journal", None))
            except SourceUnavailable as exc:
                self.notes.append(str(exc))
        found.extend(_files(killer_logs))
        return merge_duplicates(found)
