"""The ctl socket: a unix stream socket, root only, JSON lines (``ctl_protocol``).

Security (unix(7)): connecting to a pathname socket needs write permission on the
socket file, so the socket is created with mode 0600 (umask 0177 around bind(2), so
there is no window with wider permissions) in a root-owned directory. Each
connection's peer is also checked with SO_PEERCRED: only uid 0 and the server's own
uid are served, in case the file's mode is changed by hand. A stale socket left by
a supervisor that died is replaced; a live one is an error (one supervisor per socket).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct
from pathlib import Path
from typing import Any

from oomkit.errors import AccessDenied, OomkitError, UsageError
from oomkit.supervise import logs
from oomkit.supervise.ctl_protocol import MAX_LINE, VERBS, decode, encode, status_dict
from oomkit.supervise.manager import Manager
from oomkit.supervise.units import parse_signal

__all__ = ["DEFAULT_SOCKET", "CtlServer", "bind_socket", "handle_request"]

DEFAULT_SOCKET = Path("/run/oomkit/ctl.sock")


def bind_socket(path: Path) -> socket.socket:
    """A listening socket at ``path`` with mode 0600; replaces a stale one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    old = os.umask(0o177)
    try:
        try:
            sock.bind(str(path))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(path))
            except OSError:  # ECONNREFUSED: nobody listens; a supervisor died and left it
                path.unlink()
                sock.bind(str(path))
            else:
                sock.close()
                raise OomkitError(f"{path}: another supervisor is listening here") from None
            finally:
                probe.close()
    except PermissionError:
        sock.close()
        raise AccessDenied(f"{path}: permission denied; the ctl socket needs root") from None
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(16)
    sock.setblocking(False)
    return sock


def _peer_uid(conn: socket.socket) -> int:
    """SO_PEERCRED (unix(7)): the connecting process's struct ucred {pid, uid, gid}."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def handle_request(mgr: Manager, req: dict[str, Any]) -> dict[str, Any]:
    """One request -> one response; errors become ``{"ok": false, "error": ...}``."""
    verb = req.get("verb")
    if verb not in VERBS:
        return {"ok": False, "error": f"unknown verb {verb!r}; use {', '.join(VERBS)}"}
    if verb == "ping":
        return {"ok": True, "result": {"pid": os.getpid(), **mgr.describe()}}
    raw = req.get("names") or ["all"]
    if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
        return {"ok": False, "error": "names must be a list of program names"}
    try:
        names = mgr.resolve(raw)
        if verb == "status":
            return {"ok": True, "result": [status_dict(mgr.status(n)) for n in names]}
        if verb == "tail":
            if len(names) != 1:
                raise UsageError("tail takes one program name")
            path = mgr.log_path(names[0])
            if path is None:
                raise UsageError(f"{names[0]} has no log file")
            nbytes = int(req.get("bytes") or 4096)
            offset = req.get("offset")
            data, nxt = logs.tail(path, min(max(nbytes, 1), 1 << 20),
                                  int(offset) if offset is not None else None)
            return {"ok": True, "result": {"name": names[0], "data": data.decode("utf-8", "replace"),
                                           "offset": nxt, "path": str(path)}}
        out = []
        for n in names:
            if verb == "start":
                msg = mgr.start_program(n)
            elif verb == "stop":
                msg = mgr.stop_program(n)
            elif verb == "restart":
                msg = mgr.restart_program(n)
            else:
                msg = mgr.signal_program(n, parse_signal(req.get("signal") or "TERM"))
            out.append({"name": n, "message": msg, "state": mgr.status(n).state.value})
        return {"ok": True, "result": out}
    except (UsageError, ValueError) as exc:
        return {"ok": False, "error": str(exc)}


class CtlServer:
    """Serves ``ctl`` requests from inside the manager's loop (no threads)."""

    def __init__(self, mgr: Manager, path: Path = DEFAULT_SOCKET) -> None:
        self.mgr = mgr
        self.path = path
        self.sock = bind_socket(path)
        self.allowed = {0, os.geteuid()}
        self._conns: dict[int, tuple[socket.socket, bytearray]] = {}
        mgr.add_reader(self.sock.fileno(), self._accept)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if _peer_uid(conn) not in self.allowed:
                with contextlib.suppress(OSError):
                    conn.sendall(encode({"ok": False, "error": "permission denied: ctl is for root"}))
                conn.close()
                continue
            conn.setblocking(False)
            fd = conn.fileno()
            self._conns[fd] = (conn, bytearray())
            self.mgr.add_reader(fd, lambda fd=fd: self._read(fd))  # type: ignore[misc]

    def _drop(self, fd: int) -> None:
        conn, _ = self._conns.pop(fd)
        self.mgr.remove_reader(fd)
        conn.close()

    def _read(self, fd: int) -> None:
        conn, buf = self._conns[fd]
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(fd)
            return
        buf += data
        if len(buf) > MAX_LINE and b"\n" not in buf:
            self._send(fd, {"ok": False, "error": "request too long"})
            self._drop(fd)
            return
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            try:
                resp = handle_request(self.mgr, decode(line))
            except ValueError as exc:
                resp = {"ok": False, "error": f"bad request: {exc}"}
            if not self._send(fd, resp):
                self._drop(fd)
                return

    def _send(self, fd: int, resp: dict[str, Any]) -> bool:
        conn, _ = self._conns[fd]
        try:
            conn.settimeout(5.0)  # a client that does not read must not stall every job
            conn.sendall(encode(resp))
            conn.setblocking(False)
        except OSError:
            return False
        return True

    def close(self) -> None:
        """Close every connection and the socket, and remove the socket file."""
        for fd in list(self._conns):
            self._drop(fd)
        self.mgr.remove_reader(self.sock.fileno())
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
