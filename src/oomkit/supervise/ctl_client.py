"""The ctl client: one request, one response, over the unix socket."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from oomkit.errors import AccessDenied, OomkitError
from oomkit.supervise.ctl_protocol import MAX_LINE, decode, encode

__all__ = ["CtlClient"]


class CtlClient:
    """A connection to the supervisor's ctl socket."""

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(str(path))
        except FileNotFoundError:
            self.sock.close()
            raise OomkitError(f"{path}: no supervisor is listening (is `oomkit daemon` running?)") from None
        except ConnectionRefusedError:
            self.sock.close()
            raise OomkitError(f"{path}: the supervisor is not running (stale socket)") from None
        except PermissionError:
            self.sock.close()
            raise AccessDenied(f"{path}: permission denied; ctl needs root (sudo oomkit ctl)") from None
        self._buf = b""

    def call(self, verb: str, names: list[str] | None = None, **args: Any) -> Any:
        """Send one request; return its ``result`` or raise OomkitError with its ``error``."""
        self.sock.sendall(encode({"verb": verb, "names": names or [], **args}))
        while b"\n" not in self._buf:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise OomkitError(f"{self.path}: no answer from the supervisor") from None
            if not chunk:
                raise OomkitError(f"{self.path}: the supervisor closed the connection")
            self._buf += chunk
            if len(self._buf) > MAX_LINE * 2:
                raise OomkitError(f"{self.path}: answer too long")
        line, _, self._buf = self._buf.partition(b"\n")
        resp = decode(line)
        if not resp.get("ok"):
            raise OomkitError(str(resp.get("error") or "the supervisor refused the request"))
        return resp.get("result")

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()

    def __enter__(self) -> CtlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
