"""`oomkit daemon`: run the flight recorder in the foreground (docs/daemon.md).

click parses and checks the options here; then this process execs
``python -m oomkit.daemon``, so the long-running daemon never holds click or the
CLI in memory (the same pid: systemd's Type=simple and `kill` see no change).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from oomkit.recorder import settings


@click.command("daemon")
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path),
              help=f"Configuration file (default {settings.DEFAULT_CONFIG}, if it exists).")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path),
              help=f"SQLite database (default {settings.DEFAULT_DB}, or daemon.db in the config).")
@click.option("--no-backlog", is_flag=True,
              help="Do not store the kills already in the kernel ring buffer at start.")
@click.option("--debug", is_flag=True, help="Log more.")
@click.option("--print-config", is_flag=True, help="Print an annotated sample configuration and exit.")
def command(config: Path | None, db: Path | None, no_backlog: bool, debug: bool,
            print_config: bool) -> int:
    """Record memory and every OOM kill to SQLite, warn before memory runs out."""
    if print_config:
        click.echo(settings.SAMPLE, nl=False)
        return 0
    settings.load(config, required=config is not None)  # a bad file fails here, with one line
    argv = [sys.executable, "-m", "oomkit.daemon"]
    if config is not None:
        argv += ["--config", str(config)]
    if db is not None:
        argv += ["--db", str(db)]
    if no_backlog:
        argv.append("--no-backlog")
    if debug:
        argv.append("--debug")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # noqa: S606 - our own interpreter, no shell
