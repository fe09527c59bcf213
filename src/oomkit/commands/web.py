"""`oomkit web`: the web UI, the JSON API and /metrics, beside the daemon (docs/web.md)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from oomkit.errors import ConfigError, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

DEFAULT_CONFIG = Path("/etc/oomkit/oomkit.toml")
DEFAULT_DB = Path("/var/lib/oomkit/oomkit.db")


def load(config: Path | None) -> tuple[Any, Path]:
    """The [web] settings and the database path ([web] db, else [daemon] db, else the default)."""
    from oomkit.web.settings import WebSettings, parse_section

    path = config or DEFAULT_CONFIG
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if config is not None:
            raise ConfigError(f"{path}: no such file; create it or leave out --config") from None
        return WebSettings(), DEFAULT_DB
    except PermissionError:
        raise ConfigError(f"{path}: permission denied; run as root") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        settings = parse_section(data.get("web", {}), "web", str(path))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    daemon = data.get("daemon", {})
    db = settings.db or (Path(daemon["db"]) if isinstance(daemon, dict)
                         and isinstance(daemon.get("db"), str) else DEFAULT_DB)
    return settings, db


@click.command("web")
@click.option("--listen", metavar="ADDR:PORT",
              help="Address to listen on (default 127.0.0.1:9731; others need a token or user).")
@click.option("--db", type=click.Path(path_type=Path), help="The daemon's database.")
@click.option("--config", type=click.Path(path_type=Path), help="Configuration file ([web]).")
@click.option("--token-file", type=click.Path(path_type=Path),
              help="File holding the bearer token (Authorization: Bearer, or basic auth password).")
@click.option("--tls-cert", type=click.Path(path_type=Path), help="Serve HTTPS with this certificate…")
@click.option("--tls-key", type=click.Path(path_type=Path), help="…and this key.")
@click.option("--ctl-socket", type=click.Path(path_type=Path), help="The supervisor's control socket.")
@click.option("--access-log", is_flag=True, help="Log every request.")
@click.option("--hash-password", is_flag=True,
              help="Read a password (prompt or stdin) and print its password_hash for [web].")
def command(listen: str | None, db: Path | None, config: Path | None, token_file: Path | None,
            tls_cert: Path | None, tls_key: Path | None, ctl_socket: Path | None, access_log: bool,
            hash_password: bool) -> int:
    """Serve the web UI, the JSON API and Prometheus /metrics (docs/web.md)."""
    if hash_password:
        from oomkit.web.auth import hash_password as make_hash

        if sys.stdin.isatty():
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        else:
            password = sys.stdin.readline().rstrip("\n")
        if len(password) < 8:
            raise UsageError("the password must be at least 8 characters")
        click.echo(make_hash(password))
        return 0
    try:
        from oomkit.web import server
        from oomkit.web.settings import parse_listen
    except ImportError as exc:  # pragma: no cover - the extra is missing
        raise ConfigError(f"oomkit web needs the web extra: pip install 'oomkit[web]' ({exc.name})"
                          ) from None
    settings, db_path = load(config)
    changes: dict[str, Any] = {}
    if listen is not None:
        try:
            changes["listen"] = parse_listen(listen)
        except ValueError as exc:
            raise UsageError(f"--listen {exc}") from None
    if token_file is not None:
        changes["token_file"] = token_file
        changes["token"] = None
    if (tls_cert is None) != (tls_key is None):
        raise UsageError("give both --tls-cert and --tls-key")
    if tls_cert is not None:
        changes.update(tls_cert=tls_cert, tls_key=tls_key)
    if ctl_socket is not None:
        changes["ctl_socket"] = ctl_socket
    settings = replace(settings, **changes)
    server.serve(settings, db or db_path, access_log=access_log,
                 on_ready=lambda url: click.echo(f"oomkit web: serving {url} (database {db or db_path})",
                                                 err=True))
    return 0
