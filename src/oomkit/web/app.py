"""The FastAPI application: the JSON API (``/api/v1``, documented at ``/openapi.json``),
``/metrics``, ``/healthz``, the pages (``web.pages``) and their static files.

Routes only validate, call ``web.queries`` / ``web.programs`` / ``web.metrics`` and
render. Errors of the layers below become one-line JSON errors: no database ->
503, bad input -> 400/422, unknown kill or program -> 404.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse as _StarletteJSON
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict

from oomkit import __version__
from oomkit.errors import AccessDenied, OomkitError, UsageError
from oomkit.render import event_dict
from oomkit.store.schema import DatabaseError
from oomkit.web import metrics as metrics_mod
from oomkit.web import series
from oomkit.web.auth import Authenticator
from oomkit.web.guard import Guard
from oomkit.web.programs import (
    ACTIONS,
    MAX_LOG_LINES,
    NAME,
    NoSuchProgram,
    Programs,
    ProgramsUnavailable,
)
from oomkit.web.queries import Data, KillDetail
from oomkit.web.settings import WebSettings

STATIC = Path(__file__).parent / "static"
MAX_TS = 2**62
DOCTOR_TTL_S = 5.0
API = "/api/v1"

KillId = Annotated[int, PathParam(ge=1, le=MAX_TS, description="A kill's id (from /api/v1/kills)")]
ProcId = Annotated[int, PathParam(ge=1, le=MAX_TS, description="A recorded process's id")]
ProgramName = Annotated[str, PathParam(pattern=NAME.pattern, max_length=64,
                                       description="A supervised program's name")]
Since = Annotated[datetime | None, Query(description="ISO 8601 time or Unix seconds; naive = UTC")]
Until = Annotated[datetime | None, Query(description="ISO 8601 time or Unix seconds; naive = UTC")]
Points = Annotated[int, Query(ge=10, le=5000, description="At most this many points (downsampled)")]


class Loose(BaseModel):
    """A JSON object documented in docs/web.md (and docs/why-json.md for kills)."""

    model_config = ConfigDict(extra="allow")


class KillSummaryModel(BaseModel):
    """One kill in a list."""

    id: int
    ts: float
    killer: str
    kind: str
    reason: str
    victim_pid: int | None
    victim_name: str | None
    rss_kb: int | None
    memcg: str | None
    owner: str | None
    owner_kind: str
    headline: str
    detected_by: str


class KillsModel(BaseModel):
    """A page of kills, newest first."""

    kills: list[KillSummaryModel]
    next_before_id: int | None


class SeriesModel(BaseModel):
    """Aligned columns for a plot: ``t`` in Unix seconds, one list per series."""

    t: list[float]
    series: dict[str, list[float | None]]
    bucket_s: float
    points: int
    since: float
    until: float


class KillDetailModel(BaseModel):
    """One kill: its report (docs/why-json.md), what the recorder saw, the curves."""

    summary: KillSummaryModel
    kill: Loose
    recorded: Loose | None
    victim: SeriesModel | None
    system: SeriesModel | None
    cgroup: SeriesModel | None


class ProgramModel(BaseModel):
    """One supervised program."""

    name: str
    state: str
    pid: int | None
    uptime_s: float | None
    memory_kb: int | None
    peak_kb: int | None
    limit_kb: int | None
    restarts: int
    restarts_by_cause: dict[str, int]
    reason: str | None
    last_exit: str | None
    last_exit_cause: str | None
    memcg: str | None


class ProgramsModel(BaseModel):
    """Every supervised program."""

    programs: list[ProgramModel]


class ActionModel(BaseModel):
    """The result of start, stop or restart."""

    program: str
    action: str
    result: str


class ErrorModel(BaseModel):
    """An error, in one line."""

    error: str


def ms(when: datetime | None, default: float) -> int:
    """A query time -> database milliseconds (naive times are UTC), clamped to a sane range."""
    if when is None:
        return int(default * 1000)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    try:
        value = when.timestamp()
    except (OverflowError, OSError, ValueError):
        value = 0.0
    return max(0, min(MAX_TS, int(value * 1000)))


class JSONResponse(_StarletteJSON):
    """JSON with the C encoder's fast path (ASCII output, compact separators): about twice
    as fast as Starlette's default on a 1,000-point series."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":")).encode("ascii")


def error(status: int, message: str) -> JSONResponse:
    """A one-line JSON error."""
    return JSONResponse({"error": message}, status_code=status, headers={"cache-control": "no-store"})


def summary_json(s: Any) -> dict[str, Any]:
    """A KillSummary as JSON."""
    return asdict(s)


def program_json(p: Any) -> dict[str, Any]:
    """A ProgramView as JSON."""
    d = asdict(p)
    d["restarts_by_cause"] = dict(p.restarts_by_cause)
    return d


def detail_json(d: KillDetail) -> dict[str, Any]:
    """A KillDetail as JSON."""
    r = d.record
    recorded = None
    if r is not None:
        p = r.process
        recorded = {
            "process": None if p is None else {
                "id": p.id, "pid": p.pid, "name": p.name, "cmdline": p.cmdline, "uid": p.uid,
                "cgroup": p.cgroup, "first_seen": p.first_seen.timestamp(),
                "last_seen": None if p.last_seen is None else p.last_seen.timestamp()},
            "growth_kb_s": r.growth_kb_s,
            "detected_by": r.detected_by,
            "warnings": [w._asdict() for w in r.warnings],
        }
    return {
        "summary": summary_json(d.summary),
        "kill": event_dict(d.report),
        "recorded": recorded,
        "victim": None if d.victim is None else series.to_json(d.victim),
        "system": None if d.system is None else series.to_json(d.system),
        "cgroup": None if d.cgroup is None else series.to_json(d.cgroup),
    }


class State:
    """What the routes share: settings, the query layer, programs, caches."""

    def __init__(self, settings: WebSettings, data: Data, programs: Programs | None) -> None:
        self.settings = settings
        self.data = data
        self.programs = programs
        self.kill_counter = metrics_mod.KillCounter()
        self._doctor: tuple[float, Any] | None = None
        self._doctor_lock = threading.Lock()

    def doctor(self) -> Any:
        """The doctor's findings, at most DOCTOR_TTL_S old."""
        with self._doctor_lock:
            if self._doctor is None or time.monotonic() - self._doctor[0] > DOCTOR_TTL_S:
                from oomkit.doctor import collect, diagnose

                self._doctor = (time.monotonic(), diagnose(collect()))
            return self._doctor[1]

    def snapshot(self) -> metrics_mod.Snapshot:
        """What /metrics says now."""
        data = self.data
        health = data.health()
        kills = metrics_mod.KillStats()
        forecast = None
        if health.available:
            try:
                kills = self.kill_counter.update(data)
                f = data.forecast()
            except (OomkitError, sqlite3.Error):
                f = None
            if f is not None:
                forecast = metrics_mod.ForecastStats(
                    float("inf") if f.seconds_left is None else f.seconds_left,
                    f.rate_kb_s * 1024, f.headroom_kb * 1024.0)
        try:
            memory = data.memory_now()
        except OomkitError:
            memory = None
        programs = None
        if self.programs is not None:
            try:
                programs = tuple(
                    metrics_mod.ProgramStats(
                        p.name, p.state,
                        None if p.memory_kb is None else p.memory_kb * 1024.0,
                        None if p.peak_kb is None else p.peak_kb * 1024.0,
                        None if p.limit_kb is None else p.limit_kb * 1024.0,
                        p.restarts_by_cause or ((("unknown", p.restarts),) if p.restarts else ()))
                    for p in self.programs.status())
            except OomkitError:
                programs = None
        return metrics_mod.Snapshot(memory=memory, recorder=health, kills=kills, forecast=forecast,
                                    programs=programs)


def state_of(request: Request) -> State:
    """The app's shared state."""
    s: State = request.app.state.oomkit
    return s


def create_app(settings: WebSettings, data: Data, programs: Programs | None = None) -> Any:
    """The ASGI application (FastAPI wrapped in the Guard middleware)."""
    app = FastAPI(
        title="oomkit", version=__version__,
        description="oomkit's HTTP API: kills with their explanations and curves, the process"
                    " ranking, the doctor, recorded timelines and supervised programs."
                    " See docs/web.md.",
        docs_url=None, redoc_url=None,  # Swagger UI would load from a CDN: this must work offline
    )
    st = State(settings, data, programs)
    app.state.oomkit = st

    @app.exception_handler(DatabaseError)
    async def _no_db(request: Request, exc: DatabaseError) -> JSONResponse:
        return error(503, str(exc))

    @app.exception_handler(sqlite3.Error)
    async def _db_error(request: Request, exc: sqlite3.Error) -> JSONResponse:
        return error(503, f"database error: {exc}")

    @app.exception_handler(ProgramsUnavailable)
    async def _no_programs(request: Request, exc: ProgramsUnavailable) -> JSONResponse:
        return error(503, str(exc))

    @app.exception_handler(NoSuchProgram)
    async def _no_program(request: Request, exc: NoSuchProgram) -> JSONResponse:
        return error(404, str(exc))

    @app.exception_handler(UsageError)
    async def _usage(request: Request, exc: UsageError) -> JSONResponse:
        return error(400, str(exc))

    @app.exception_handler(AccessDenied)
    async def _denied(request: Request, exc: AccessDenied) -> JSONResponse:
        return error(403, str(exc))

    errors: dict[int | str, dict[str, Any]] = {
        400: {"model": ErrorModel}, 503: {"model": ErrorModel, "description": "no database"}}

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> Response:
        return Response("ok\n", media_type="text/plain")

    @app.get("/metrics", response_class=Response, tags=["metrics"],
             responses={200: {"content": {"text/plain": {}}}})
    def metrics(request: Request) -> Response:
        """Prometheus text exposition (docs/web.md lists every metric)."""
        body = metrics_mod.exposition(state_of(request).snapshot())
        return Response(body, media_type=metrics_mod.CONTENT_TYPE)

    @app.get(f"{API}/overview", response_model=Loose, tags=["overview"], responses=errors)
    def overview(request: Request) -> JSONResponse:
        """Memory now, the forecast, the recorder's health and the latest kills."""
        return JSONResponse(overview_json(state_of(request)))

    @app.get(f"{API}/kills", response_model=KillsModel, tags=["kills"], responses=errors)
    def kills(request: Request, since: Since = None, until: Until = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 50,
              before_id: Annotated[int | None, Query(ge=1, le=MAX_TS)] = None) -> JSONResponse:
        """Stored kills, newest first, explained; page back with ``before_id``."""
        d = state_of(request).data
        found = d.kills(since_ms=None if since is None else ms(since, 0),
                        until_ms=None if until is None else ms(until, 0), limit=limit,
                        before_id=before_id)
        nxt = found[-1].id if len(found) == limit else None
        return JSONResponse({"kills": [summary_json(k) for k in found], "next_before_id": nxt})

    @app.get(f"{API}/kills/{{kill_id}}", response_model=KillDetailModel, tags=["kills"],
             responses={404: {"model": ErrorModel}, **errors})
    def kill(request: Request, kill_id: KillId,
             points: Points = series.MAX_POINTS) -> JSONResponse:
        """One kill: explanation (docs/why-json.md), the victim's curve before death."""
        found = state_of(request).data.kill(kill_id, max_points=points)
        if found is None:
            return error(404, f"no kill {kill_id}")
        return JSONResponse(detail_json(found))

    @app.get(f"{API}/top", response_model=Loose, tags=["processes"], responses=errors)
    def top(request: Request, limit: Annotated[int, Query(ge=1, le=100000)] = 100) -> JSONResponse:
        """Who the kernel would kill next (docs/top.md), first = next victim."""
        from oomkit.top import to_json

        doc = to_json(state_of(request).data.top())
        doc["processes"] = doc["processes"][:limit]
        return JSONResponse(doc)

    @app.get(f"{API}/doctor", response_model=Loose, tags=["doctor"], responses=errors)
    def doctor(request: Request) -> JSONResponse:
        """The machine's memory settings, explained (docs/doctor.md)."""
        from oomkit.doctor import to_json

        return JSONResponse(to_json(state_of(request).doctor()))

    @app.get(f"{API}/timeline/system", response_model=SeriesModel, tags=["timelines"],
             responses=errors)
    def timeline_system(request: Request, since: Since = None, until: Until = None,
                        points: Points = series.MAX_POINTS) -> JSONResponse:
        """MemAvailable, MemTotal, swap and PSI over the window (default: the last hour)."""
        now = time.time()
        a, b = ms(since, now - 3600), ms(until, now)
        if a > b:
            return error(400, "since is after until")
        return JSONResponse(series.to_json(state_of(request).data.system_series(a, b, points)))

    @app.get(f"{API}/timeline/process/{{proc_id}}", response_model=SeriesModel,
             tags=["timelines"], responses=errors)
    def timeline_process(request: Request, proc_id: ProcId, since: Since = None,
                         until: Until = None, points: Points = series.MAX_POINTS) -> JSONResponse:
        """One recorded process's RSS, anon RSS and swap (default: the last hour)."""
        now = time.time()
        a, b = ms(since, now - 3600), ms(until, now)
        if a > b:
            return error(400, "since is after until")
        return JSONResponse(series.to_json(
            state_of(request).data.process_series(proc_id, a, b, points)))

    @app.get(f"{API}/timeline/cgroup", response_model=SeriesModel, tags=["timelines"],
             responses={404: {"model": ErrorModel}, **errors})
    def timeline_cgroup(request: Request,
                        path: Annotated[str, Query(min_length=1, max_length=4096,
                                                   pattern=r"^/[^\x00]*$")],
                        since: Since = None, until: Until = None,
                        points: Points = series.MAX_POINTS) -> JSONResponse:
        """One recorded memory cgroup's usage and limit (default: the last hour)."""
        now = time.time()
        a, b = ms(since, now - 3600), ms(until, now)
        if a > b:
            return error(400, "since is after until")
        s = state_of(request).data.cgroup_series(path, a, b, points)
        if s is None:
            return error(404, f"cgroup {path} was never recorded")
        return JSONResponse(series.to_json(s))

    @app.get(f"{API}/processes", response_model=Loose, tags=["timelines"], responses=errors)
    def processes(request: Request,
                  target: Annotated[str, Query(min_length=1, max_length=256,
                                               pattern=r"^[^\x00/][^\x00]*$")],
                  limit: Annotated[int, Query(ge=1, le=500)] = 50) -> JSONResponse:
        """Recorded processes with this pid or name, most recently seen first."""
        found = state_of(request).data.processes(target, limit)
        return JSONResponse({"processes": [{
            "id": p.id, "pid": p.pid, "name": p.name, "cmdline": p.cmdline, "uid": p.uid,
            "cgroup": p.cgroup, "first_seen": p.first_seen.timestamp(),
            "last_seen": None if p.last_seen is None else p.last_seen.timestamp()} for p in found]})

    @app.get(f"{API}/programs", response_model=ProgramsModel, tags=["programs"],
             responses={503: {"model": ErrorModel, "description": "supervisor not reachable"}})
    def programs_list(request: Request) -> JSONResponse:
        """Every supervised program: state, memory now/peak/limit, restarts."""
        progs = state_of(request).programs
        if progs is None:
            return error(503, "supervision is not configured for this server")
        return JSONResponse({"programs": [program_json(p) for p in progs.status()]})

    @app.get(f"{API}/programs/{{name}}/log", response_class=Response, tags=["programs"],
             responses={200: {"content": {"text/plain": {}}}, 404: {"model": ErrorModel},
                        503: {"model": ErrorModel}})
    def program_log(request: Request, name: ProgramName,
                    lines: Annotated[int, Query(ge=1, le=MAX_LOG_LINES)] = 100) -> Response:
        """The program's last output lines."""
        progs = state_of(request).programs
        if progs is None:
            return error(503, "supervision is not configured for this server")
        return Response(progs.tail(name, lines), media_type="text/plain; charset=utf-8")

    for action in ACTIONS:
        _add_action(app, action)

    from oomkit.web.pages import add_pages

    add_pages(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    authenticator = Authenticator(settings)
    return Guard(app, settings, authenticator)


def _add_action(app: FastAPI, action: str) -> None:
    @app.post(f"{API}/programs/{{name}}/{action}", response_model=ActionModel, tags=["programs"],
              name=f"program_{action}",
              responses={403: {"model": ErrorModel}, 404: {"model": ErrorModel},
                         503: {"model": ErrorModel}},
              description=f"{action.capitalize()} a program. Needs the X-Oomkit-Request: 1"
                          " header (cross-site protection) and, unless [web] control = \"open\","
                          " credentials.")
    def control(request: Request, name: ProgramName) -> JSONResponse:
        progs = state_of(request).programs
        if progs is None:
            return error(503, "supervision is not configured for this server")
        result = progs.control(name, action)
        return JSONResponse({"program": name, "action": action, "result": result})


def overview_json(st: State) -> dict[str, Any]:
    """The overview: memory now, forecast, recorder health, recent kills."""
    d = st.data
    m = d.memory_now()
    health = d.health()
    recent: list[dict[str, Any]] = []
    forecast = None
    if health.available:
        recent = [summary_json(k) for k in d.kills(limit=10)]
        f = d.forecast()
        if f is not None:
            forecast = {"seconds_left": f.seconds_left, "rate_kb_s": f.rate_kb_s,
                        "headroom_kb": f.headroom_kb, "capacity_kb": f.capacity_kb,
                        "points": f.points}
    return {"memory": asdict(m), "forecast": forecast, "recorder": asdict(health),
            "recent_kills": recent, "time": time.time()}
