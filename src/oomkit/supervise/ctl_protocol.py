"""The ctl protocol: JSON lines over a unix socket, and its text rendering. Pure.

One request per line, one response per line, on a connection that may carry many::

    -> {"verb": "status", "names": ["all"]}
    <- {"ok": true, "result": [{"name": "web", "state": "RUNNING", ...}]}
    -> {"verb": "signal", "names": ["web"], "signal": "HUP"}
    <- {"ok": true, "result": [{"name": "web", "message": "web: signalled", "state": "RUNNING"}]}
    -> {"verb": "tail", "names": ["web"], "bytes": 4096, "offset": null}
    <- {"ok": true, "result": {"name": "web", "data": "...", "offset": 81234}}
    <- {"ok": false, "error": "no program named 'x' (programs: web)"}

Verbs are supervisorctl's: status, start, stop, restart, signal, tail (plus ping).
"""

from __future__ import annotations

import json
from typing import Any

from oomkit.models import JobStatus
from oomkit.supervise.sinks import exit_dict
from oomkit.supervise.units import format_duration

__all__ = ["MAX_LINE", "VERBS", "decode", "encode", "status_dict", "status_lines"]

VERBS = ("status", "start", "stop", "restart", "signal", "tail", "ping")
MAX_LINE = 1 << 20  # a request or response line longer than this is refused


def encode(obj: Any) -> bytes:
    """One JSON line."""
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """One JSON object from a line; ValueError when it is not one."""
    obj = json.loads(line)
    if not isinstance(obj, dict):
        raise ValueError("a request is a JSON object")
    return obj


def status_dict(s: JobStatus) -> dict[str, Any]:
    """``ctl status --json``: one program."""
    last = exit_dict(s.last_exit, restarted=False) if s.last_exit is not None else None
    if last is not None:
        del last["restarted"]
    return {
        "name": s.name, "state": s.state.value, "pid": s.pid,
        "uptime_s": round(s.uptime_s, 3) if s.uptime_s is not None else None,
        "rss_kb": s.rss_kb, "peak_kb": s.peak_kb, "limit_bytes": s.limit_bytes,
        "restarts": s.restarts, "restarts_by_cause": dict(s.restarts_by_cause),
        "reason": s.reason, "memcg": s.memcg,
        "backoff_left_s": round(s.backoff_left_s, 3) if s.backoff_left_s is not None else None,
        "last_exit": last,
    }


def _mib(kb: int | None) -> str:
    return "-" if kb is None else f"{kb / 1024:.1f}M"


def status_lines(rows: list[dict[str, Any]]) -> list[str]:
    """``ctl status``: a table, then the reason for anything not RUNNING."""
    head = ("NAME", "STATE", "PID", "UPTIME", "RSS", "PEAK", "LIMIT", "RESTARTS", "LAST EXIT")
    table: list[tuple[str, ...]] = [head]
    notes = []
    for r in rows:
        last = r.get("last_exit") or {}
        cause = last.get("cause") or "-"
        if cause == "exit":
            cause = f"exit {last.get('exit_code')}"
        elif last.get("signal_name") and cause in ("signal", "crash"):
            cause = f"{cause} {last.get('signal_name')}"
        limit = r.get("limit_bytes")
        table.append((
            str(r["name"]), str(r["state"]), str(r.get("pid") or "-"),
            format_duration(r["uptime_s"]) if r.get("uptime_s") is not None else "-",
            _mib(r.get("rss_kb")), _mib(r.get("peak_kb")),
            _mib(limit // 1024) if isinstance(limit, int) else "-",
            str(r.get("restarts", 0)), cause,
        ))
        if r.get("reason") and r["state"] != "RUNNING":
            notes.append(f"  {r['name']}: {r['reason']}")
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table]
    return lines + notes
