"""A standalone host for ``[programs.NAME]``: the manager plus the ctl socket, one loop.

``oomkit daemon`` is meant to host the manager inside its own loop (see
``manager.py``); until it does, and for tests, ``python -m oomkit.supervise
--config FILE`` runs the programs of a config file on its own. SIGTERM and
SIGINT stop every program (stopsignal, then SIGKILL after stopwaitsecs) and exit;
SIGHUP re-reads the file (``Manager.update``).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from oomkit.errors import OomkitError
from oomkit.jobcgroup import JOB_PREFIX
from oomkit.supervise.control import OsProcessControl
from oomkit.supervise.ctl_server import DEFAULT_SOCKET, CtlServer
from oomkit.supervise.logs import default_log_dir
from oomkit.supervise.manager import Manager

__all__ = ["main", "serve"]


def serve(config: Path, socket_path: Path = DEFAULT_SOCKET, log_dir: Path | None = None,
          state_dir: Path | None = None, prefix: str = JOB_PREFIX) -> int:
    """Run the config's programs until a stop signal; 0 on a clean stop."""
    from oomkit.config import load

    conf = load(config)
    if not conf.programs:
        raise OomkitError(f"{config}: no [programs.NAME] section; nothing to supervise")
    mgr = Manager(conf.programs, log_dir=log_dir or default_log_dir("programs"), state_dir=state_dir,
                  control=OsProcessControl(prefix=prefix))
    stop: list[int] = []

    def reload(_sig: int) -> None:  # SIGHUP: re-read the file, as `supervisorctl update`
        try:
            changes = mgr.update(load(config).programs)
        except OomkitError as exc:
            print(f"oomkit: reload failed, keeping the running configuration: {exc}",
                  file=sys.stderr, flush=True)
            return
        said = "; ".join(f"{k} {', '.join(v)}" for k, v in changes.items() if v) or "no changes"
        print(f"oomkit: reloaded {config}: {said}", file=sys.stderr, flush=True)

    mgr.on_signals(dict.fromkeys((signal.SIGTERM, signal.SIGINT), stop.append))
    mgr.on_signals({signal.SIGHUP: reload})
    server = CtlServer(mgr, socket_path)
    try:
        mgr.start()
        for o in mgr.orphans:
            print(f"oomkit: orphaned job cgroup {o.cgroup} ({len(o.pids)} processes): {o.outcome}",
                  file=sys.stderr, flush=True)
        for name, why in mgr.blocked.items():
            print(f"oomkit: {name}: {why}", file=sys.stderr, flush=True)
        while not stop:
            mgr.poll(None)
    finally:
        server.close()
        mgr.shutdown()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m oomkit.supervise --config FILE [--socket PATH] [--log-dir DIR] [--state-dir DIR]``."""
    p = argparse.ArgumentParser(prog="python -m oomkit.supervise", description=__doc__)
    p.add_argument("--config", type=Path, default=Path("/etc/oomkit/oomkit.toml"))
    p.add_argument("--socket", type=Path, default=DEFAULT_SOCKET)
    p.add_argument("--log-dir", type=Path, default=None)
    p.add_argument("--state-dir", type=Path, default=None,
                   help="job locks; every supervisor on the machine must share it (default /run/oomkit/jobs)")
    p.add_argument("--prefix", default=JOB_PREFIX, help="job cgroup name prefix (tests)")
    a = p.parse_args(argv)
    try:
        return serve(a.config, a.socket, a.log_dir, a.state_dir, a.prefix)
    except OomkitError as exc:
        print(f"oomkit: {exc}", file=sys.stderr)
        return 1
