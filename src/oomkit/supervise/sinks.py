"""Where supervision events go: the --report file, the daemon's store, the terminal.

``EventSink`` is what ``Job`` calls; every method must return quickly and never
raise into the loop (a sink that fails is reported once on stderr and dropped).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import IO, Any, Protocol

from oomkit.models import JobExit, JobState
from oomkit.supervise.units import signal_name

__all__ = ["EventSink", "MultiSink", "ReportWriter", "exit_dict", "store_sink"]


class EventSink(Protocol):
    """Receives each start, state change and classified exit."""

    def spawned(self, name: str, pid: int, memcg: str | None) -> None:
        """The command was exec'd."""

    def state_changed(self, name: str, frm: JobState, to: JobState, label: str, reason: str | None) -> None:
        """An edge of the state diagram was taken."""

    def exited(self, x: JobExit, restarted: bool) -> None:
        """The main process ended; ``restarted``: the policy will start it again."""


def exit_dict(x: JobExit, restarted: bool) -> dict[str, Any]:
    """One ``--report`` JSON line (docs/supervise.md "Report")."""
    return {
        "name": x.name,
        "pid": x.pid,
        "cause": x.cause.value,
        "exit_code": x.exit_code,
        "signal": x.signal,
        "signal_name": signal_name(x.signal) if x.signal is not None else None,
        "core_dumped": x.core_dumped,
        "memcg": x.memcg,
        "peak_rss_kb": x.peak_rss_kb,
        "memcg_peak_kb": x.memcg_peak_kb,
        "oom_kills": x.oom_kills,
        "wall": round(x.wall_s, 3),
        "started": x.started.isoformat(timespec="milliseconds"),
        "ended": x.ended.isoformat(timespec="milliseconds"),
        "restarted": restarted,
        "killer": x.killer,
        "detail": x.detail,
        "evidence": list(x.evidence),
        "expected": x.expected,
    }


class ReportWriter:
    """``oomkit run --report FILE``: one JSON line per exit, flushed at once."""

    def __init__(self, path: str) -> None:
        self._f: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def spawned(self, name: str, pid: int, memcg: str | None) -> None:
        """Not reported."""

    def state_changed(self, name: str, frm: JobState, to: JobState, label: str, reason: str | None) -> None:
        """Not reported."""

    def exited(self, x: JobExit, restarted: bool) -> None:
        """Append the exit's line."""
        self._f.write(json.dumps(exit_dict(x, restarted)) + "\n")
        self._f.flush()

    def close(self) -> None:
        """Close the file."""
        self._f.close()


class MultiSink:
    """Fans events out; a sink that raises is dropped with one line on stderr."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks: list[EventSink] = list(sinks)

    def add(self, sink: EventSink) -> None:
        """Add another sink."""
        self.sinks.append(sink)

    def _each(self, call: Callable[[EventSink], None]) -> None:
        for sink in list(self.sinks):
            try:
                call(sink)
            except Exception as exc:  # a broken sink must not stop supervision (style.md 7.7)
                self.sinks.remove(sink)
                print(f"oomkit: event sink {type(sink).__name__} failed and was dropped: {exc}",
                      file=sys.stderr)

    def spawned(self, name: str, pid: int, memcg: str | None) -> None:
        """Fan out."""
        self._each(lambda s: s.spawned(name, pid, memcg))

    def state_changed(self, name: str, frm: JobState, to: JobState, label: str, reason: str | None) -> None:
        """Fan out."""
        self._each(lambda s: s.state_changed(name, frm, to, label, reason))

    def exited(self, x: JobExit, restarted: bool) -> None:
        """Fan out."""
        self._each(lambda s: s.exited(x, restarted))


def store_sink(store: object | None = None) -> EventSink | None:
    """A sink over issue 4's store when it is installed, else None.

    The store is imported lazily so supervision works without it. It is used when it
    offers ``record_job_event(kind: str, name: str, data: dict, wall: float)``; the
    kinds are ``spawned``, ``state``, ``exit``.
    """
    if store is None:
        try:
            import importlib

            store = importlib.import_module("oomkit.store")
        except ImportError:
            return None
    record = getattr(store, "record_job_event", None)
    if not callable(record):
        return None
    return _StoreSink(record)


class _StoreSink:
    def __init__(self, record: Callable[..., object]) -> None:
        self._record = record

    def spawned(self, name: str, pid: int, memcg: str | None) -> None:
        import time

        self._record("spawned", name, {"pid": pid, "memcg": memcg}, time.time())

    def state_changed(self, name: str, frm: JobState, to: JobState, label: str, reason: str | None) -> None:
        import time

        self._record("state", name, {"from": frm.value, "to": to.value, "label": label,
                                     "reason": reason}, time.time())

    def exited(self, x: JobExit, restarted: bool) -> None:
        self._record("exit", x.name, exit_dict(x, restarted), x.ended.timestamp())
