"""`oomkit ctl`: supervisorctl's verbs over the supervisor's unix socket."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from oomkit.errors import OomkitError

if TYPE_CHECKING:
    from oomkit.supervise.ctl_client import CtlClient

_SOCKET = "/run/oomkit/ctl.sock"
_settled = {"RUNNING", "STOPPED", "EXITED", "FATAL", "BACKOFF"}


def _client(socket_path: str) -> CtlClient:
    from oomkit.supervise.ctl_client import CtlClient

    return CtlClient(Path(socket_path))


def _wait(socket_path: str, names: list[str], until: set[str], timeout: float) -> list[dict[str, object]]:
    """Poll status until every program is in one of ``until`` (or the timeout)."""
    end = time.monotonic() + timeout
    with _client(socket_path) as c:
        while True:
            rows: list[dict[str, object]] = c.call("status", names)
            if all(r["state"] in until for r in rows) or time.monotonic() > end:
                return rows
            time.sleep(0.1)


def _emit(as_json: bool, obj: object, lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(obj, indent=2))
    else:
        for line in lines:
            click.echo(line)


_socket_opt = click.option("--socket", "socket_path", default=_SOCKET, show_default=True,
                           envvar="OOMKIT_CTL_SOCKET", help="The supervisor's ctl socket.")
_json_opt = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group("ctl")
def command() -> None:
    """Control supervised programs: status, start, stop, restart, signal, tail (NAME... or all)."""


@command.command("status")
@click.argument("names", nargs=-1)
@_socket_opt
@_json_opt
def status(names: tuple[str, ...], socket_path: str, as_json: bool) -> int:
    """State, pid, uptime, RSS now and peak, limit, restarts and the last exit's cause."""
    from oomkit.supervise.ctl_protocol import status_lines

    with _client(socket_path) as c:
        rows = c.call("status", list(names) or ["all"])
    _emit(as_json, rows, status_lines(rows))
    return 0


def _verb(verb: str, names: tuple[str, ...], socket_path: str, as_json: bool, wait: bool,
          **args: object) -> int:
    if not names:
        raise click.UsageError(f"name the programs to {verb} (or all)")
    with _client(socket_path) as c:
        result: list[dict[str, object]] = c.call(verb, list(names), **args)
    if wait and verb in ("start", "stop", "restart"):
        until = {"STOPPED", "EXITED", "FATAL"} if verb == "stop" else _settled
        rows = _wait(socket_path, [str(r["name"]) for r in result], until, 60.0)
        by = {r["name"]: r for r in rows}
        for r in result:
            r["state"] = by[r["name"]]["state"]
            r["reason"] = by[r["name"]].get("reason")
    lines = [f"{r['name']}: {r['state']}" + (f" ({r['reason']})" if r.get("reason") and
                                             r["state"] in ("FATAL", "BACKOFF", "EXITED") else "")
             if wait else str(r["message"]) for r in result]
    _emit(as_json, result, lines)
    bad = verb in ("start", "restart") and any(r["state"] in ("FATAL", "BACKOFF") for r in result)
    return 1 if bad else 0


for _name, _help in (("start", "Start programs (waits until RUNNING, BACKOFF or FATAL)."),
                     ("stop", "Stop programs (stop signal, SIGKILL after stopwaitsecs; waits)."),
                     ("restart", "Stop, then start again.")):
    def _make(verb: str, doc: str) -> click.Command:
        @click.argument("names", nargs=-1)
        @click.option("--no-wait", is_flag=True, help="Return at once.")
        @_socket_opt
        @_json_opt
        def run(names: tuple[str, ...], no_wait: bool, socket_path: str, as_json: bool) -> int:
            return _verb(verb, names, socket_path, as_json, not no_wait)

        run.__doc__ = doc
        return click.command(verb)(run)

    command.add_command(_make(_name, _help))


@command.command("signal")
@click.argument("sig")
@click.argument("names", nargs=-1)
@_socket_opt
@_json_opt
def signal_cmd(sig: str, names: tuple[str, ...], socket_path: str, as_json: bool) -> int:
    """Send signal SIG (HUP, USR1, 15, ...) to programs."""
    from oomkit.supervise.units import parse_signal

    try:
        parse_signal(sig)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return _verb("signal", names, socket_path, as_json, False, signal=sig)


@command.command("tail")
@click.argument("name")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new output.")
@click.option("-c", "--bytes", "nbytes", default=1600, show_default=True, help="How much to show.")
@_socket_opt
@_json_opt
def tail(name: str, follow: bool, nbytes: int, socket_path: str, as_json: bool) -> int:
    """The end of a program's output (its log file)."""
    if name == "all":
        raise click.UsageError("tail takes one program name")
    with _client(socket_path) as c:
        res = c.call("tail", [name], bytes=nbytes)
        if as_json and not follow:
            click.echo(json.dumps(res, indent=2))
            return 0
        click.echo(res["data"], nl=False)
        while follow:
            time.sleep(0.5)
            try:
                res = c.call("tail", [name], offset=res["offset"])
            except OomkitError:
                return 0
            if res["data"]:
                click.echo(res["data"], nl=False)
    return 0
