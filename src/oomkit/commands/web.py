"""`oomkit web`: the web UI, the JSON API and /metrics, beside the daemon (docs/web.md)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from oomkit.errors import ConfigError, UsageError

DEFAULT_DB = Path("/var/lib/oomkit/oomkit.db")


def load(config: Path | None) -> tuple[Any, Path]:
    """The [web] settings and the database path ([web] db, else [daemon] db, else the default).

    The whole file goes through ``oomkit.config``, so a mistake in any section is reported.
    """
    from oomkit import config as conf_file
    from oomkit.web.settings import WebSettings

    whole = conf_file.load(config, required=config is not None)
    settings = whole.web if whole.web is not None else WebSettings()
    daemon_db = whole.daemon.db if whole.daemon is not None else None
    return settings, settings.db or daemon_db or DEFAULT_DB


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
