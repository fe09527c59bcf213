"""Run the app with uvicorn: the settings checked first, TLS when configured."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from oomkit.web.programs import CtlPrograms, Programs
from oomkit.web.queries import Data
from oomkit.web.settings import WebSettings, check_exposure, with_token


def build(settings: WebSettings, db: Path, programs: Programs | None = None) -> Any:
    """The checked settings' ASGI app (ConfigError in one line when they are unsafe)."""
    from oomkit.web.app import create_app

    settings = with_token(settings)
    check_exposure(settings)
    progs = programs if programs is not None else CtlPrograms(settings.ctl_socket)
    return create_app(settings, Data(db), progs)


def uvicorn_server(app: Any, settings: WebSettings, *, access_log: bool = False) -> Any:
    """A uvicorn.Server for ``app`` on the settings' address (``run(sockets=[...])`` to pass
    an already bound socket)."""
    import uvicorn

    kwargs: dict[str, Any] = {}
    if settings.tls:
        kwargs.update(ssl_certfile=str(settings.tls_cert), ssl_keyfile=str(settings.tls_key))
    config = uvicorn.Config(
        app, host=settings.listen.host, port=settings.listen.port, log_level="warning",
        access_log=access_log, proxy_headers=False, server_header=False, lifespan="off",
        timeout_keep_alive=30, limit_concurrency=200, **kwargs)
    return uvicorn.Server(config)


def serve(settings: WebSettings, db: Path, *, access_log: bool = False,
          on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted (uvicorn handles SIGINT/SIGTERM)."""
    app = build(settings, db)
    server = uvicorn_server(app, settings, access_log=access_log)
    if on_ready is not None:
        scheme = "https" if settings.tls else "http"
        on_ready(f"{scheme}://{settings.listen}/")
    server.run()
