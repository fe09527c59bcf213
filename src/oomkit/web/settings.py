"""`oomkit web`'s settings: the ``[web]`` table of /etc/oomkit/oomkit.toml and the flags. Pure.

Every key, its default and its meaning are in docs/web.md. The one rule that
makes this module matter: an address other than loopback is refused unless a
token or a user with a password hash is configured (``check_exposure``).
Standard library only, so ``oomkit.config`` can parse the section without the
``web`` extra installed.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from oomkit.errors import ConfigError

DEFAULT_PORT = 9731
DEFAULT_LISTEN = f"127.0.0.1:{DEFAULT_PORT}"
CONTROL_MODES = ("auth", "open", "off")  # who may start/stop/restart programs
_USER = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9.-]{1,253}$|^\[[0-9A-Fa-f:.]+\]$")


@dataclass(frozen=True, slots=True)
class Listen:
    """An address and port to listen on."""

    host: str  # an IP address (IPv6 without brackets) or "localhost"
    port: int

    @property
    def loopback(self) -> bool:
        """True for 127.0.0.0/8, ::1 and localhost: reachable only from this machine."""
        return is_loopback(self.host)

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address, or localhost) is on the loopback interface."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_listen(text: str) -> Listen:
    """``ADDR:PORT``, ``[V6]:PORT`` or a bare ``PORT`` (on 127.0.0.1); ValueError says what is wrong."""
    text = text.strip()
    if text.isdecimal():
        host, port_s = "127.0.0.1", text
    elif text.startswith("["):
        host, sep, port_s = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"{text!r}: expected [ADDRESS]:PORT, e.g. [::1]:{DEFAULT_PORT}")
    else:
        host, sep, port_s = text.rpartition(":")
        if not sep or not host or ":" in host:
            raise ValueError(f"{text!r}: expected ADDRESS:PORT, e.g. {DEFAULT_LISTEN}"
                             " (IPv6 in brackets)")
    if host.lower() != "localhost":
        try:
            host = str(ipaddress.ip_address(host))
        except ValueError:
            raise ValueError(f"{text!r}: {host!r} is not an IP address (or localhost)") from None
    if not port_s.isdecimal() or not 0 <= int(port_s) <= 65535:
        raise ValueError(f"{text!r}: the port must be a number from 0 to 65535")
    return Listen(host, int(port_s))


@dataclass(frozen=True, slots=True)
class WebSettings:
    """Everything `oomkit web` is configured with (file, then flags)."""

    path: str | None = None
    listen: Listen = Listen("127.0.0.1", DEFAULT_PORT)
    db: Path | None = None  # None: the daemon's database ([daemon] db, or its default)
    token_file: Path | None = None  # a file holding the bearer token (read at start)
    token: str | None = None  # the token itself, read from token_file (never from the TOML)
    user: str | None = None  # HTTP basic auth user...
    password_hash: str | None = None  # ...and its hash (`oomkit web --hash-password`)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    allowed_hosts: tuple[str, ...] = ()  # Host names the server is reached as (DNS rebinding)
    control: str = "auth"  # "auth": programs are controlled only with credentials
    public_metrics: bool = False  # /metrics without credentials (it carries no pids or names)
    ctl_socket: Path | None = None  # `oomkit supervise`'s control socket; None = its default

    @property
    def auth_configured(self) -> bool:
        """A token or a user with a password hash is set."""
        return bool(self.token) or (self.user is not None and self.password_hash is not None)

    @property
    def tls(self) -> bool:
        """Served over HTTPS."""
        return self.tls_cert is not None and self.tls_key is not None


def _path(value: Any, where: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: expected a path")
    return Path(value)


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: expected a non-empty string")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false")
    return value


def parse_section(section: Any, where: str = "web", path: str = "<config>") -> WebSettings:
    """``[web]`` -> WebSettings (the token file is not read here: see ``load_token``)."""
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: must be a table")
    out: dict[str, Any] = {"path": path}
    for key, value in section.items():
        w = f"{where}.{key}"
        if key == "listen":
            try:
                out[key] = parse_listen(_string(value, w))
            except ValueError as exc:
                raise ConfigError(f"{w}: {exc}") from None
        elif key in ("db", "token_file", "tls_cert", "tls_key", "ctl_socket"):
            out[key] = _path(value, w)
        elif key == "user":
            if not isinstance(value, str) or not _USER.match(value):
                raise ConfigError(f"{w}: letters, digits, '.', '_' or '-', at most 64")
            out[key] = value
        elif key == "password_hash":
            from oomkit.web.auth import check_hash_format

            try:
                check_hash_format(_string(value, w))
            except ValueError as exc:
                raise ConfigError(f"{w}: {exc}") from None
            out[key] = value
        elif key == "allowed_hosts":
            if not isinstance(value, list) or not all(
                    isinstance(h, str) and _HOSTNAME.match(h) for h in value):
                raise ConfigError(f"{w}: expected a list of host names, e.g. [\"oomkit.example.com\"]")
            out[key] = tuple(h.lower() for h in value)
        elif key == "control":
            if value not in CONTROL_MODES:
                raise ConfigError(f"{w}: one of {', '.join(CONTROL_MODES)}")
            out[key] = value
        elif key == "public_metrics":
            out[key] = _bool(value, w)
        elif key == "token":
            raise ConfigError(f"{w}: put the token in a file readable only by root and set"
                              " token_file = \"/etc/oomkit/web.token\"")
        else:
            raise ConfigError(f"{w}: unknown key; see docs/web.md")
    if ("tls_cert" in out) != ("tls_key" in out):
        raise ConfigError(f"{where}: give both tls_cert and tls_key, or neither")
    if ("user" in out) != ("password_hash" in out):
        raise ConfigError(f"{where}: give both user and password_hash, or neither")
    return WebSettings(**out)


def load_token(path: Path) -> str:
    """The token in ``path`` (first line, stripped); at least 16 characters."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such token file") from None
    except PermissionError:
        raise ConfigError(f"{path}: permission denied reading the token file; run as root") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the token file: {exc}") from None
    token = text.strip().splitlines()[0].strip() if text.strip() else ""
    if len(token) < 16:
        raise ConfigError(f"{path}: the token must be at least 16 characters"
                          " (e.g. `head -c 24 /dev/urandom | base64`)")
    return token


def with_token(s: WebSettings) -> WebSettings:
    """The settings with ``token`` read from ``token_file`` (when one is set)."""
    if s.token_file is None or s.token:
        return s
    return replace(s, token=load_token(s.token_file))


def check_exposure(s: WebSettings) -> None:
    """Refuse, in one line, what would expose the machine: a non-loopback address without
    credentials, an "open" control mode off loopback, half a TLS pair."""
    if not s.listen.loopback and not s.auth_configured:
        raise ConfigError(
            f"refusing to listen on {s.listen} without authentication: set token_file (or user and"
            " password_hash) in [web] or pass --token-file; see docs/web.md")
    if s.control == "open" and not s.listen.loopback:
        raise ConfigError(f"control = \"open\" is only allowed on a loopback address, not {s.listen}")
    if (s.tls_cert is None) != (s.tls_key is None):
        raise ConfigError("TLS needs both a certificate and a key (--tls-cert and --tls-key)")
    for p in (s.tls_cert, s.tls_key):
        if p is not None and not p.is_file():
            raise ConfigError(f"{p}: no such TLS file")
