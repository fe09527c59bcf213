"""The real thing for end-to-end web tests: `oomkit daemon` recording to a temporary
database, the supervisor host with a program, and a memory hog the kernel kills."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from oomkit import jobcgroup

# Grows 2 MiB every 0.25 s, so it lives ~8 s and the recorder samples it (new processes
# are on its fast tier) before its 64 MiB cgroup's limit kills it. The recorder writes a
# process's rows once it has lived 2 s (storage.min_age): at 0.1 s a step the hog died
# after ~3 s, and under a loaded CI run its curve was sometimes missing.
SLOW_HOG = (
    "import ctypes, time\n"
    "ctypes.CDLL(None).prctl(15, b'{comm}')\n"
    "b = []\n"
    "while True:\n"
    "    b.append(bytearray(2 << 20))\n"
    "    time.sleep(0.25)\n"
)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@contextlib.contextmanager
def daemon(tmp: Path) -> Iterator[Path]:
    """`oomkit daemon` on a fresh database; yields the database once it has a sample."""
    db = tmp / "oomkit.db"
    conf = tmp / "daemon.toml"
    conf.write_text("")
    log = (tmp / "daemon.log").open("wb")
    p = subprocess.Popen([sys.executable, "-m", "oomkit", "daemon", "--db", str(db), "--config",
                          str(conf), "--no-backlog"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if p.poll() is not None:
                raise RuntimeError(f"oomkit daemon exited: {(tmp / 'daemon.log').read_text()}")
            if db.exists():
                try:
                    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as c:
                        if c.execute("SELECT COUNT(*) FROM system_samples").fetchone()[0] > 1:
                            break
                except sqlite3.Error:
                    pass
            time.sleep(0.2)
        else:
            raise RuntimeError("oomkit daemon wrote no sample in 30 s")
        yield db
    finally:
        _stop(p)
        log.close()


@contextlib.contextmanager
def supervisor(tmp: Path, programs: str) -> Iterator[Path]:
    """The supervisor host (``python -m oomkit.supervise``) with ``programs`` (TOML); yields
    its control socket once it answers."""
    conf = tmp / "programs.toml"
    conf.write_text(programs)
    sock = tmp / "ctl.sock"
    log = (tmp / "supervise.log").open("wb")
    p = subprocess.Popen([sys.executable, "-m", "oomkit.supervise", "--config", str(conf), "--socket",
                          str(sock), "--log-dir", str(tmp / "logs"), "--state-dir", str(tmp / "state")],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        from oomkit.supervise.ctl_client import CtlClient

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if p.poll() is not None:
                raise RuntimeError(f"the supervisor exited: {(tmp / 'supervise.log').read_text()}")
            try:
                with CtlClient(sock, timeout=2) as c:
                    rows = c.call("status", ["all"])
                    if rows and all(r["state"] == "RUNNING" for r in rows):
                        break
            except Exception:  # not up yet
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("the supervisor did not start its programs in 30 s")
        yield sock
    finally:
        _stop(p)
        log.close()


@dataclass(frozen=True)
class Hog:
    """A process the kernel OOM-killed."""

    pid: int
    comm: str
    returncode: int
    started: float
    ended: float


def oom_kill(comm: str = "oomkit-webhog", limit_mb: int = 64, slow: bool = True) -> Hog:
    """Run a hog in a fresh memory cgroup until the kernel kills it (root + memory controller)."""
    cg = jobcgroup.create(f"oomkit-webtest-{os.getpid()}-{time.monotonic_ns()}", limit_mb << 20)

    def enter() -> None:
        with open(cg.procs, "w") as f:
            f.write(str(os.getpid()))

    code = SLOW_HOG.format(comm=comm) if slow else SLOW_HOG.format(comm=comm).replace(
        "time.sleep(0.25)", "pass")
    started = time.time()
    try:
        p = subprocess.Popen([sys.executable, "-c", code], preexec_fn=enter,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            rc = p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise RuntimeError("the hog was not killed in 60 s") from None
        return Hog(p.pid, comm, rc, started, time.time())
    finally:
        jobcgroup.remove(cg)
