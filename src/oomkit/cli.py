"""The command line: parse flags, call one query function, print, pick the exit code.

This is the only module that exits. Library code raises ``OomkitError``
subclasses with one-line messages; they are printed here without a traceback.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Sequence

import click

from oomkit import __version__
from oomkit.errors import AccessDenied, OomkitError, UsageError
from oomkit.quick import reader_gone

# Exit codes (documented in docs/cli.md).
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_DENIED = 4

COMMANDS = ("why", "demo", "top", "protect", "doctor", "daemon", "timeline", "web", "run", "ctl",
            "import-supervisor")


class _Group(click.Group):
    """Loads each subcommand's module only when it is run, to keep startup fast."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in COMMANDS:
            return found
        import importlib

        module = importlib.import_module(f"oomkit.commands.{cmd_name.replace('-', '_')}")
        command = getattr(module, "command", None)
        return command if isinstance(command, click.Command) else None

    def invoke(self, ctx: click.Context) -> object:
        # The reader (e.g. `| head`) went away: not an error. Caught here, below
        # click's own EPIPE handling, which would exit with status 1.
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            reader_gone()
            return EXIT_OK


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="oomkit")
def cli() -> None:
    """Explain, predict and prevent Linux OOM kills."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = cli.main(args=args, prog_name="oomkit", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE
    except click.exceptions.Abort:
        click.echo("oomkit: aborted", err=True)
        return 130
    except AccessDenied as exc:
        click.echo(f"oomkit: {exc}", err=True)
        return EXIT_DENIED
    except UsageError as exc:
        click.echo(f"oomkit: {exc}", err=True)
        return EXIT_USAGE
    except OomkitError as exc:
        click.echo(f"oomkit: {exc}", err=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            click.echo(f"oomkit: permission denied: {exc.filename or exc}; run as root", err=True)
            return EXIT_DENIED
        click.echo(f"oomkit: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
        return EXIT_ERROR
    if isinstance(result, int):
        return result
    return EXIT_OK
