"""A real `oomkit web` server on a loopback address and an ephemeral port, in a thread."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

from oomkit.web.app import create_app
from oomkit.web.programs import Programs
from oomkit.web.queries import Data
from oomkit.web.server import uvicorn_server
from oomkit.web.settings import Listen, WebSettings


class LiveServer:
    """uvicorn serving the app until ``stop()``; ``url`` is http://HOST:PORT."""

    def __init__(self, db: Path, settings: WebSettings | None = None, programs: Programs | None = None,
                 host: str = "127.0.0.1", data: Data | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.settings = replace(settings or WebSettings(), listen=Listen(host, self.port))
        self.data = data or Data(db)
        self.app: Any = create_app(self.settings, self.data, programs)
        self.server = uvicorn_server(self.app, self.settings)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)
        scheme = "https" if self.settings.tls else "http"
        self.url = f"{scheme}://{host}:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the web server did not start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
