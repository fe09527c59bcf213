"""A program's output: kept in a log file with size-based rotation, optionally passed through.

Rotation follows Supervisor's ``stdout_logfile_maxbytes`` / ``stdout_logfile_backups``:
when the file would grow past ``maxbytes`` it becomes ``NAME.1`` (``.1`` becomes ``.2``,
and so on up to ``backups``); ``maxbytes = 0`` never rotates, ``backups = 0`` keeps
no old file. Output is written as it arrives, bytes unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

__all__ = ["RotatingLog", "default_log_dir", "tail", "write_all"]


def default_log_dir(kind: str = "programs") -> Path:
    """``/var/log/oomkit/<kind>`` as root; ``$XDG_STATE_HOME/oomkit/<kind>`` otherwise."""
    if os.geteuid() == 0:
        return Path("/var/log/oomkit") / kind
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "oomkit" / kind


class RotatingLog:
    """Append-only log file that rotates by size. Not thread-safe; one writer per file."""

    def __init__(self, path: Path, maxbytes: int = 50 << 20, backups: int = 10) -> None:
        self.path = path
        self.maxbytes = maxbytes
        self.backups = backups
        self._fd: int | None = None
        self._size = 0

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # O_APPEND: a concurrent `logrotate copytruncate` cannot leave a hole (open(2)).
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
            self._size = os.fstat(self._fd).st_size
        return self._fd

    def write(self, data: bytes) -> None:
        """Append ``data``, rotating first if it would pass ``maxbytes``."""
        if not data:
            return
        fd = self._open()
        if self.maxbytes and self._size and self._size + len(data) > self.maxbytes:
            self.rotate()
            fd = self._open()
        write_all(fd, data)
        self._size += len(data)

    def rotate(self) -> None:
        """NAME -> NAME.1 -> ... -> NAME.<backups>; the oldest is dropped."""
        self.close()
        if self.backups <= 0:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        for i in range(self.backups - 1, 0, -1):
            src = self.path.with_name(f"{self.path.name}.{i}")
            if src.exists():
                os.replace(src, self.path.with_name(f"{self.path.name}.{i + 1}"))
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))

    def close(self) -> None:
        """Close the file (it is reopened on the next write)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def write_all(fd: int, data: bytes) -> None:
    """Write every byte; a full non-blocking pipe or terminal is waited for (write(2) EAGAIN)."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            import select

            select.select([], [fd], [], 1.0)
            continue
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # the reader went away (`| head`): drop the output
                return
            raise
        view = view[n:]


def tail(path: Path, nbytes: int = 4096, offset: int | None = None) -> tuple[bytes, int]:
    """The last ``nbytes`` of the log (or what follows ``offset``), and the offset to ask for next.

    When the file was rotated since ``offset`` (it is now shorter), reading restarts at 0.
    """
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            if offset is None or offset > size:
                start = max(0, size - nbytes) if offset is None else 0
            else:
                start = offset
            f.seek(start)
            data = f.read(max(0, min(size - start, 1 << 20)))
            return data, start + len(data)
    except FileNotFoundError:
        return b"", 0
