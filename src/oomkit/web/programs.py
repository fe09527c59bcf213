"""Supervised programs as the web sees them, through the supervisor's own control API.

The programs page and its buttons call the same client that `oomkit ctl` uses
(``oomkit.supervise.ctl_client``, over the supervisor's unix socket), as
Supervisor's web UI calls the same RPC interface as supervisorctl. ``Programs``
is the port; ``CtlPrograms`` the real implementation; tests may pass another.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from oomkit.errors import OomkitError

NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")  # as programs_config.NAME
ACTIONS = ("start", "stop", "restart")
MAX_LOG_LINES = 2000


class ProgramsUnavailable(OomkitError):
    """The supervisor cannot be reached (not running, no permission on its socket)."""


class NoSuchProgram(OomkitError):
    """No program by that name."""


@dataclass(frozen=True, slots=True)
class ProgramView:
    """One program, as the page and the API show it."""

    name: str
    state: str  # lower case: stopped, starting, running, backoff, stopping, exited, fatal
    pid: int | None
    uptime_s: float | None
    memory_kb: int | None
    peak_kb: int | None
    limit_kb: int | None
    restarts: int
    restarts_by_cause: tuple[tuple[str, int], ...] = ()
    reason: str | None = None
    last_exit: str | None = None  # one line: the last exit, classified
    last_exit_cause: str | None = None
    memcg: str | None = None


class Programs(Protocol):
    """What the web needs from supervision."""

    def status(self) -> Sequence[ProgramView]:
        """Every program (ProgramsUnavailable if the supervisor cannot be reached)."""
        ...

    def control(self, name: str, action: str) -> str:
        """Start, stop or restart one program; a one-line result (NoSuchProgram, ...)."""
        ...

    def tail(self, name: str, lines: int) -> str:
        """The last ``lines`` lines of a program's output."""
        ...


def check_name(name: str) -> str:
    """``name`` if it is a valid program name, else ValueError."""
    if not NAME.match(name):
        raise ValueError("a program name is letters, digits, '_', '.', '@' or '-' (at most 64)")
    return name


def view_of(row: dict[str, Any], by_cause: tuple[tuple[str, int], ...] = ()) -> ProgramView:
    """One row of the ctl protocol's ``status`` (``ctl_protocol.status_dict``) -> ProgramView."""
    last = row.get("last_exit") or None
    limit = row.get("limit_bytes")
    detail = None
    cause = None
    if isinstance(last, dict):
        cause = last.get("cause")
        detail = last.get("detail") or None
        if detail is None and cause:
            code, sig = last.get("exit_code"), last.get("signal_name")
            detail = f"{cause}" + (f" {code}" if cause == "exit" else f" {sig}" if sig else "")
    given = row.get("restarts_by_cause")
    if isinstance(given, dict):
        by_cause = tuple(sorted((str(k), int(v)) for k, v in given.items()))
    return ProgramView(
        name=str(row["name"]), state=str(row.get("state", "unknown")).lower(), pid=row.get("pid"),
        uptime_s=row.get("uptime_s"), memory_kb=row.get("rss_kb"), peak_kb=row.get("peak_kb"),
        limit_kb=None if not isinstance(limit, int) else limit // 1024,
        restarts=int(row.get("restarts") or 0), restarts_by_cause=by_cause,
        reason=row.get("reason"), last_exit=detail, last_exit_cause=cause, memcg=row.get("memcg"),
    )


class CauseTally:
    """Restarts by cause, while the supervisor's status gives only the total: each increase
    of a program's ``restarts`` is put on the cause of its last exit. Exact when polled
    between restarts (every /metrics scrape and page view polls); a status that carries
    ``restarts_by_cause`` is used as it is."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[int, dict[str, int]]] = {}
        self._lock = threading.Lock()

    def update(self, row: dict[str, Any]) -> tuple[tuple[str, int], ...]:
        """The counts for one status row."""
        name = str(row.get("name"))
        total = int(row.get("restarts") or 0)
        last = row.get("last_exit")
        cause = str(last.get("cause")) if isinstance(last, dict) and last.get("cause") else "unknown"
        with self._lock:
            before, counts = self._seen.get(name, (0, {}))
            if total < before:  # the supervisor restarted: start again
                before, counts = 0, {}
            if total > before:
                counts = {**counts, cause: counts.get(cause, 0) + total - before}
            self._seen[name] = (total, counts)
            return tuple(sorted(counts.items()))


class CtlPrograms:
    """The supervisor's control socket (``oomkit.supervise.ctl_client``), one connection per call."""

    def __init__(self, socket: Path | None = None, timeout: float = 10.0) -> None:
        self.socket = socket
        self.timeout = timeout
        self.tally = CauseTally()

    def _path(self) -> Path:
        if self.socket is not None:
            return self.socket
        from oomkit.supervise.ctl_server import DEFAULT_SOCKET

        return DEFAULT_SOCKET

    def _call(self, verb: str, names: list[str], **args: Any) -> Any:
        try:
            from oomkit.supervise.ctl_client import CtlClient
        except ImportError as exc:  # pragma: no cover - supervision not installed
            raise ProgramsUnavailable(f"supervision is not available in this oomkit ({exc})") from None
        try:
            client = CtlClient(self._path(), timeout=self.timeout)
        except OomkitError as exc:
            raise ProgramsUnavailable(str(exc)) from None
        except OSError as exc:
            raise ProgramsUnavailable(f"{self._path()}: {exc.strerror or exc}") from None
        try:
            with client:
                return client.call(verb, names, **args)
        except OSError as exc:
            raise ProgramsUnavailable(f"{self._path()}: {exc.strerror or exc}") from None
        except OomkitError as exc:
            if str(exc).startswith("no program named"):
                raise NoSuchProgram(str(exc)) from None
            if isinstance(exc, ProgramsUnavailable):
                raise
            if "supervisor" in str(exc) and str(self._path()) in str(exc):
                raise ProgramsUnavailable(str(exc)) from None
            raise

    def status(self) -> Sequence[ProgramView]:
        """Every program, through the control socket."""
        rows = self._call("status", ["all"])
        if not isinstance(rows, list):
            raise ProgramsUnavailable("the supervisor's status answer is not a list")
        return [view_of(r, self.tally.update(r)) for r in rows if isinstance(r, dict)]

    def control(self, name: str, action: str) -> str:
        """Start, stop or restart one program; the supervisor's message."""
        check_name(name)
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        result = self._call(action, [name])
        if isinstance(result, list) and result and isinstance(result[0], dict):
            return str(result[0].get("message") or f"{action}: {name}")
        return f"{action}: {name}"

    def tail(self, name: str, lines: int) -> str:
        """The program's last ``lines`` output lines."""
        check_name(name)
        lines = max(1, min(lines, MAX_LOG_LINES))
        result = self._call("tail", [name], bytes=min(1 << 20, lines * 256), offset=None)
        data = str(result.get("data", "")) if isinstance(result, dict) else ""
        return "\n".join(data.splitlines()[-lines:]) + ("\n" if data else "")
