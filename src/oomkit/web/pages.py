"""The HTML pages: overview, kills, one kill, processes, programs, doctor.

Server-rendered with Jinja2 (autoescaped); plots are drawn by uPlot (vendored in
static/uplot) from JSON embedded in the page as ``<script type="application/json">``
(never executed; the CSP forbids inline scripts), so a page is one request plus
cached static files. Pages call the same query functions as the API.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from oomkit import __version__
from oomkit.errors import OomkitError
from oomkit.timeconv import local_tz
from oomkit.units import human_kb
from oomkit.web import series
from oomkit.web.app import MAX_TS, State, detail_json, overview_json, program_json, state_of

TEMPLATES = Path(__file__).parent / "templates"
WINDOWS = {"1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400}
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(("html",)),
                   auto_reload=False)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz=local_tz()).strftime("%Y-%m-%d %H:%M:%S")


def _iso(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc).isoformat()


def _ago(ts: float | None) -> str:
    if ts is None:
        return "never"
    return _duration(max(0.0, time.time() - ts)) + " ago"


def _duration(s: float | None) -> str:
    if s is None:
        return "-"
    from oomkit.units import human_seconds

    return human_seconds(s)


def _pct(part: float | None, whole: float | None) -> float:
    if not part or not whole:
        return 0.0
    return max(0.0, min(100.0, 100.0 * part / whole))


_env.filters.update(kb=human_kb, when=_when, iso=_iso, ago=_ago, duration=_duration)
_env.globals.update(version=__version__, pct=_pct)


def render(name: str, request: Request, status: int = 200, **ctx: Any) -> HTMLResponse:
    """A template rendered with the common context."""
    st = state_of(request)
    html = _env.get_template(name).render(
        path=request.url.path, can_control=_can_control(st, request), **ctx)
    return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})


def _can_control(st: State, request: Request) -> bool:
    mode = st.settings.control
    if mode == "off":
        return False
    if mode == "open":
        return True
    return bool(request.scope.get("state", {}).get("authenticated"))


def _db_error(request: Request, exc: Exception, title: str) -> HTMLResponse:
    return render("error.html", request, status=503, title=title,
                  message=f"The flight recorder's database cannot be read: {exc}",
                  hint="Start `oomkit daemon` (or pass --db to `oomkit web`).")


def add_pages(app: FastAPI) -> None:
    """Register the page routes."""

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def overview(request: Request, window: Annotated[str, Query(pattern="^(1h|6h|24h|7d)$")] = "1h"
                 ) -> HTMLResponse:
        st = state_of(request)
        ov = overview_json(st)
        chart = None
        if ov["recorder"]["available"]:
            now = time.time()
            try:
                s = st.data.system_series(int((now - WINDOWS[window]) * 1000), int(now * 1000))
                chart = series.to_json(s)
            except (OomkitError, sqlite3.Error):
                chart = None
        return render("overview.html", request, title="Overview", ov=ov, chart=chart,
                      window=window, windows=list(WINDOWS))

    @app.get("/kills", response_class=HTMLResponse, include_in_schema=False)
    def kills(request: Request,
              before_id: Annotated[int | None, Query(ge=1, le=MAX_TS)] = None) -> HTMLResponse:
        st = state_of(request)
        try:
            found = st.data.kills(limit=100, before_id=before_id)
        except (OomkitError, sqlite3.Error) as exc:
            return _db_error(request, exc, "Kills")
        nxt = found[-1].id if len(found) == 100 else None
        return render("kills.html", request, title="Kills", kills=found, next_before_id=nxt)

    @app.get("/kills/{kill_id}", response_class=HTMLResponse, include_in_schema=False)
    def kill(request: Request, kill_id: Annotated[int, PathParam(ge=1, le=MAX_TS)]) -> HTMLResponse:
        st = state_of(request)
        try:
            found = st.data.kill(kill_id)
        except (OomkitError, sqlite3.Error) as exc:
            return _db_error(request, exc, "Kill")
        if found is None:
            return render("error.html", request, status=404, title="No such kill",
                          message=f"There is no kill {kill_id} in the database.", hint="")
        doc = detail_json(found)
        victim_pid = doc["kill"]["victim"]["pid"] if doc["kill"]["victim"] else None
        return render("kill.html", request, title=f"Kill {kill_id}", d=doc, s=found.summary,
                      victim_pid=victim_pid)

    @app.get("/processes", response_class=HTMLResponse, include_in_schema=False)
    def processes(request: Request,
                  limit: Annotated[int, Query(ge=1, le=5000)] = 200) -> HTMLResponse:
        from oomkit.top import to_json

        doc = to_json(state_of(request).data.top())
        total = len(doc["processes"])
        doc["processes"] = doc["processes"][:limit]
        return render("processes.html", request, title="Processes", top=doc, total=total)

    @app.get("/programs", response_class=HTMLResponse, include_in_schema=False)
    def programs(request: Request) -> HTMLResponse:
        st = state_of(request)
        progs: list[dict[str, Any]] | None = None
        problem = None
        if st.programs is None:
            problem = "Supervision is not configured for this server."
        else:
            try:
                progs = [program_json(p) for p in st.programs.status()]
            except OomkitError as exc:
                problem = str(exc)
        return render("programs.html", request, title="Programs", programs=progs, problem=problem)

    @app.get("/doctor", response_class=HTMLResponse, include_in_schema=False)
    def doctor(request: Request) -> HTMLResponse:
        findings = state_of(request).doctor()
        return render("doctor.html", request, title="Doctor", findings=findings)
