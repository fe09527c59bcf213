"""Helpers for tests that run the real daemon (``python -m oomkit.daemon``) and real jobs."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from oomkit import jobcgroup


@dataclass
class Running:
    """A daemon started by a test."""

    proc: subprocess.Popen[bytes]
    db: Path
    config: Path
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        """Everything the daemon logged so far."""
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Signal it and wait; returns the exit status."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


def wait_for(check: Callable[[], object], timeout: float, what: str, step: float = 0.05) -> object:
    """Poll ``check`` until it returns something truthy; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def start(tmp: Path, config: str = "", *, backlog: bool = False, name: str = "d",
          db: Path | None = None, cli: bool = False) -> Running:
    """Start the daemon with ``config`` (TOML text) and wait until it records."""
    tmp.mkdir(parents=True, exist_ok=True)
    conf = tmp / f"{name}.toml"
    conf.write_text(config)
    db = db or tmp / f"{name}.db"
    log = tmp / f"{name}.log"
    argv = ([sys.executable, "-m", "oomkit", "daemon"] if cli
            else [sys.executable, "-m", "oomkit.daemon"])
    argv += ["--config", str(conf), "--db", str(db)]
    if not backlog:
        argv.append("--no-backlog")
    with log.open("ab") as f:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=f)
    run = Running(proc, db, conf, log)

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited with {proc.returncode}: {run.text()}")
        return "recording to" in run.text()

    wait_for(ready, 30, "the daemon to start")
    return run


def reader(db: Path) -> sqlite3.Connection:
    """A read-only connection, as `oomkit why` opens it."""
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5, isolation_level=None)


def integrity(db: Path) -> str:
    """PRAGMA integrity_check of the database."""
    conn = reader(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def kill_row(db: Path, pid: int) -> tuple[object, ...] | None:
    """The kills row of victim ``pid``: (ts, recorded_ms, detected_by, proc_id), or None."""
    conn = reader(db)
    try:
        row = conn.execute("SELECT ts, recorded_ms, detected_by, proc_id FROM kills"
                           " WHERE victim_pid = ? ORDER BY id DESC LIMIT 1", (pid,)).fetchone()
        return None if row is None else tuple(row)
    finally:
        conn.close()


GROWER = (
    "import ctypes, sys, time\n"
    "ctypes.CDLL(None).prctl(15, sys.argv[1].encode())\n"
    "step, pause = int(sys.argv[2]) << 20, float(sys.argv[3])\n"
    "held = []\n"
    "while True:\n"
    "    held.append(bytearray(step))  # bytearray(n) is zeroed: every page is touched\n"
    "    time.sleep(pause)\n"
)


def grow_in(cg: jobcgroup.JobCgroup, comm: str, step_mb: int = 2, pause: float = 0.2
            ) -> subprocess.Popen[bytes]:
    """A job in ``cg`` that allocates ``step_mb`` MiB every ``pause`` s until it is killed."""

    def enter() -> None:
        with open(cg.procs, "w") as f:
            f.write(str(os.getpid()))

    return subprocess.Popen([sys.executable, "-c", GROWER, comm, str(step_mb), str(pause)],
                            preexec_fn=enter, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
