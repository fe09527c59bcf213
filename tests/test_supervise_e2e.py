"""End to end: `oomkit run`, and the standalone supervisor with `ctl` over its socket,
including a supervisor killed by SIGKILL and the orphan it leaves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from oomkit.demo import HOG
from oomkit.jobcgroup import find_memory_hierarchy
from oomkit.supervise.ctl_client import CtlClient
from tests.conftest import require_kmsg, require_memcg

pytestmark = [pytest.mark.live, pytest.mark.e2e]
PY = sys.executable


def oomkit_run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "oomkit", "run", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def report(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.oom
def test_run_an_oom_killed_job(tmp_path: Path) -> None:
    require_memcg()
    require_kmsg()
    name = f"e2e-oom-{os.getpid()}"
    out = oomkit_run("--name", name, "--memory-max", "32M", "--report", str(tmp_path / "r.jsonl"),
                     "--log-dir", str(tmp_path), "--", PY, "-c", "print('started', flush=True)\n" + HOG)
    assert out.returncode == 137, out.stderr
    assert out.stdout == "started\n"  # passed through
    assert (tmp_path / f"{name}.log").read_text() == "started\n"  # and kept
    (line,) = report(tmp_path / "r.jsonl")
    assert line["cause"] == "oom_kill" and line["signal"] == 9 and line["exit_code"] is None
    assert line["memcg"] == f"/oomkit-job-{name}" and line["restarted"] is False
    assert isinstance(line["peak_rss_kb"], int) and line["peak_rss_kb"] >= 24 * 1024
    assert isinstance(line["wall"], float) and line["wall"] > 0
    # the `why` explanation of that kill
    assert "== cgroup limit hit" in out.stderr and "32.0 MiB" in out.stderr
    assert "killed by the kernel OOM killer" in out.stderr


def test_run_exits_with_the_jobs_status_and_reports_each_exit(tmp_path: Path) -> None:
    require_memcg()
    r = tmp_path / "r.jsonl"
    out = oomkit_run("-q", "--report", str(r), "--log-dir", str(tmp_path), "--restart", "on-failure",
                     "--max-restarts", "2", "--backoff", "0.05s", "--", "sh", "-c", "echo err >&2; exit 3")
    assert out.returncode == 3, out.stderr
    assert out.stderr.count("err\n") == 3
    lines = report(r)
    assert [(x["cause"], x["exit_code"], x["restarted"]) for x in lines] == [
        ("exit", 3, True), ("exit", 3, True), ("exit", 3, False)]
    out = oomkit_run("-q", "--no-log", "--", PY, "-c", "import ctypes; ctypes.string_at(0)")
    assert out.returncode == 128 + signal.SIGSEGV
    out = oomkit_run("-q", "--no-log", "--", "no-such-command-oomkit")
    assert out.returncode == 127 and "not found on PATH" in out.stderr


def test_run_stops_the_job_on_sigterm(tmp_path: Path) -> None:
    require_memcg()
    r = tmp_path / "r.jsonl"
    p = subprocess.Popen([PY, "-m", "oomkit", "run", "--report", str(r), "--log-dir", str(tmp_path),
                          "--restart", "always", "--", "sh", "-c", "echo up; exec sleep 60"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout is not None
    assert p.stdout.readline() == "up\n"
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 128 + signal.SIGTERM, err
    (line,) = report(r)
    assert line["cause"] == "signal" and line["expected"] is True and line["restarted"] is False


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[tuple[list[subprocess.Popen[bytes]], Path, Path, str]]:
    """Paths for a standalone supervisor; every one started is stopped afterwards."""
    prefix = f"oomkit-tjob-e2e-{os.getpid()}-"
    conf = tmp_path / "oomkit.toml"
    conf.write_text(
        '[programs.kids]\ncommand = ["sh", "-c", "sleep 300 & sleep 301 & echo hello; wait"]\n'
        'startsecs = 0\nstopwaitsecs = 2\nmemory_max = "64M"\n'
        '[programs.idle]\ncommand = ["sleep", "300"]\nautostart = false\nstartsecs = "0.1s"\n')
    procs: list[subprocess.Popen[bytes]] = []
    yield procs, conf, tmp_path / "ctl.sock", prefix
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
        if p.stderr is not None:
            p.stderr.close()
    h = find_memory_hierarchy()
    if h is not None:
        from oomkit import jobcgroup

        for cg in jobcgroup.find_jobs(h, prefix=prefix):
            jobcgroup.remove(cg)


def _start(procs: list[subprocess.Popen[bytes]], conf: Path, sock: Path, prefix: str, tmp: Path
           ) -> subprocess.Popen[bytes]:
    p = subprocess.Popen([PY, "-m", "oomkit.supervise", "--config", str(conf), "--socket", str(sock),
                          "--log-dir", str(tmp / "logs"), "--state-dir", str(tmp / "locks"),
                          "--prefix", prefix], stderr=subprocess.PIPE)
    procs.append(p)
    end = time.monotonic() + 30
    while True:
        assert p.poll() is None, p.stderr.read() if p.stderr else ""
        try:
            with CtlClient(sock, timeout=5) as c:
                rows = c.call("status", ["kids"])
            if rows[0]["state"] == "RUNNING" and rows[0]["pid"]:
                return p
        except Exception:  # not listening yet
            pass
        assert time.monotonic() < end, "the supervisor did not come up"
        time.sleep(0.1)


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def alive(pid: int) -> bool:
    """Running, not a zombie (PID 1 here may be slow to reap the orphans it inherits)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _cgroup_pids(prefix: str, name: str) -> list[int]:
    h = find_memory_hierarchy()
    assert h is not None
    try:
        return [int(x) for x in (h.mount / f"{prefix}{name}" / "cgroup.procs").read_text().split()]
    except FileNotFoundError:
        return []


def test_ctl_and_a_supervisor_killed_by_sigkill(
        supervisor: tuple[list[subprocess.Popen[bytes]], Path, Path, str], tmp_path: Path) -> None:
    require_memcg()
    procs, conf, sock, prefix = supervisor
    first = _start(procs, conf, sock, prefix, tmp_path)
    assert oct(sock.stat().st_mode & 0o777) == "0o600"
    with CtlClient(sock) as c:
        rows = c.call("status", ["all"])
        assert [(r["name"], r["state"]) for r in rows] == [("kids", "RUNNING"), ("idle", "STOPPED")]
        assert rows[0]["limit_bytes"] == 64 << 20 and rows[0]["memcg"] == f"/{prefix}kids"
        wait_for(lambda: "hello" in c.call("tail", ["kids"])["data"])
        assert c.call("start", ["idle"])[0]["state"] == "STARTING"
        assert c.call("signal", ["idle"], signal="CONT")[0]["message"] == "idle: signalled"
    wait_for(lambda: len(_cgroup_pids(prefix, "kids")) == 3)  # sh forks its two sleeps
    old = _cgroup_pids(prefix, "kids")
    # the CLI, through the same socket
    cli = subprocess.run([PY, "-m", "oomkit", "ctl", "status", "--json", "--socket", str(sock)],
                         capture_output=True, text=True, timeout=30, check=False)
    assert cli.returncode == 0, cli.stderr
    assert {r["name"]: r["state"] for r in json.loads(cli.stdout)}["kids"] == "RUNNING"

    first.kill()  # SIGKILL: no cleanup at all
    first.wait()
    assert all(alive(pid) for pid in old), "the orphans outlive their supervisor"
    second = _start(procs, conf, sock, prefix, tmp_path)
    assert second.stderr is not None
    wait_for(lambda: len(_cgroup_pids(prefix, "kids")) == 3)
    new = _cgroup_pids(prefix, "kids")
    assert not set(new) & set(old)
    for pid in old:
        assert not alive(pid), f"orphan {pid} still runs"

    cli = subprocess.run([PY, "-m", "oomkit", "ctl", "stop", "kids", "--socket", str(sock)],
                         capture_output=True, text=True, timeout=30, check=False)
    assert cli.returncode == 0 and "kids: STOPPED" in cli.stdout, cli.stderr
    assert _cgroup_pids(prefix, "kids") == []
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0
    err = second.stderr.read().decode()
    assert f"orphaned job cgroup /{prefix}kids (3 processes): stopped" in err
    assert not sock.exists()
