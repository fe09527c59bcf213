"""The command line's entry point, with fast paths for two machine-read commands.

Scripts poll `oomkit top --json` every few seconds and feed logs to `oomkit why
--json --file F`. Importing click and the command modules costs 30-65 ms on a
small VM, a quarter of `top`'s run at 5,000 processes, so ``main()`` runs these
two without click when the arguments are exactly ones it knows:

* ``top --json`` with ``--cmdline``, ``--cgroup PATH`` and the hidden
  ``--proc-root``/``--cgroup-root``, in any order;
* ``why --json`` with one or more ``--file PATH`` (``-f``; not ``-``, stdin),
  nothing else.

Anything else, and any error on a fast path, goes to the click command line
(cli.main), which parses and reports it the one documented way: a fast path
never prints an error of its own, nor anything before it knows it will succeed.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence

_FLAGS = {"--json": "json", "--cmdline": "cmdline"}
_VALUES = {"--cgroup": "cgroup", "--proc-root": "proc_root", "--cgroup-root": "cgroup_root"}


def reader_gone() -> None:
    """After a BrokenPipeError: the reader (e.g. `| head`) went away, which is not an
    error worth a traceback; point stdout at /dev/null so the exit flush is quiet."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def top_json_args(args: Sequence[str]) -> dict[str, str | bool] | None:
    """The options of a `top --json` the fast path can run, or None to use click."""
    if not args or args[0] != "top":
        return None
    found: dict[str, str | bool] = {}
    rest = list(args[1:])
    while rest:
        arg = rest.pop(0)
        key, eq, value = arg.partition("=")
        if key in _FLAGS and not eq and _FLAGS[key] not in found:
            found[_FLAGS[key]] = True
        elif key in _VALUES and _VALUES[key] not in found:
            if not eq:
                if not rest or rest[0].startswith("-"):
                    return None  # let click say what is missing
                value = rest.pop(0)
            found[_VALUES[key]] = value
        else:
            return None
    return found if found.get("json") else None


def _top_json(opts: dict[str, str | bool]) -> bool:
    """Print `top --json`; False (nothing printed) on an error click should report."""
    proc_root = str(opts.get("proc_root", "/proc"))
    cgroup = opts.get("cgroup")
    pending = None
    if cgroup is None:
        # Start reading every PID's files now, on other threads: the imports below
        # run while the kernel generates them (~25 us of kernel time per process).
        try:
            from oomkit import _procscan
        except ImportError:  # not built: procscan reads them in Python
            pass
        else:
            pending = _procscan.start(proc_root)

    from oomkit import top
    from oomkit.errors import OomkitError

    m = top.Machine()
    machine = m._replace(proc_root=proc_root,
                         cgroup_root=str(opts.get("cgroup_root", m.cgroup_root)))
    try:
        result = top.top_by_oom_score(cgroup=cgroup if isinstance(cgroup, str) else None,
                                      with_cmdline=bool(opts.get("cmdline")), machine=machine,
                                      records=pending.result if pending is not None else None)
    except (OomkitError, OSError):
        return False
    try:
        sys.stdout.write(top.json_document(result))
        sys.stdout.flush()
    except BrokenPipeError:
        reader_gone()
    return True


def why_json_args(args: Sequence[str]) -> list[str] | None:
    """The files of a `why --json --file F...` the fast path can run, or None."""
    if not args or args[0] != "why":
        return None
    files: list[str] = []
    seen_json = False
    rest = list(args[1:])
    while rest:
        arg = rest.pop(0)
        key, eq, value = arg.partition("=")
        if arg == "--json" and not seen_json:
            seen_json = True
        elif key in ("--file", "-f"):
            if not eq:
                if not rest or rest[0].startswith("-"):
                    return None  # let click say what is missing
                value = rest.pop(0)
            if not value or value == "-":
                return None  # stdin can be read once only: click reads it
            files.append(value)
        else:
            return None
    return files if seen_json and files else None


def _why_json(files: list[str]) -> int | None:
    """Run `why --json` on ``files``; None (nothing printed) on an error click should report."""
    from oomkit.commands import why_json
    from oomkit.errors import OomkitError
    from oomkit.timeconv import local_tz
    from oomkit.why import WhyOptions, find_kills

    tz = local_tz()
    try:
        result = find_kills(WhyOptions(files=tuple(files)))
    except (OomkitError, OSError):
        return None
    try:
        return why_json.write(result, tz, explicit=True)
    except BrokenPipeError:
        reader_gone()
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    opts = top_json_args(args)
    if opts is not None:
        # This run builds ~100,000 objects (5,000 processes) and no reference cycles,
        # then exits: the cyclic GC would only rescan them (~5 % of the run).
        enabled = gc.isenabled()
        gc.disable()
        try:
            if _top_json(opts):
                return 0
        finally:
            if enabled:
                gc.enable()
    files = why_json_args(args)
    if files is not None:
        code = _why_json(files)
        if code is not None:
            return code
    from oomkit.cli import main as full

    return full(args)
