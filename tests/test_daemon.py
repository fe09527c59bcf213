"""The daemon as a process: signals, reload, protect rules, the CLI, and the live end to end:
a job grows in a memory cgroup until the kernel kills it while the daemon records, and
`oomkit why --json` then shows its curve and the warning that came before the kill."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from oomkit import jobcgroup
from oomkit.recorder import settings
from tests import daemonrun
from tests.conftest import require_kmsg, require_memcg

FAST = "[daemon]\ninterval = 0.2\ninterval_short = 0.2\n"


def _oomkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "oomkit", *args], capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.mark.live
def test_sigterm_exits_cleanly_within_a_second(tmp_path: Path) -> None:
    run = daemonrun.start(tmp_path, FAST, cli=True)  # through `oomkit daemon`, which execs
    try:
        cmdline = Path(f"/proc/{run.pid}/cmdline").read_bytes().split(b"\0")
        assert b"oomkit.daemon" in cmdline  # the same pid now runs the lean entry point
        daemonrun.wait_for(lambda: daemonrun.reader(run.db).execute(
            "SELECT count(*) FROM system_samples").fetchone()[0] >= 3, 10, "samples")
        t = time.monotonic()
        run.proc.send_signal(signal.SIGTERM)
        rc = run.proc.wait(timeout=5)
        elapsed = time.monotonic() - t
    finally:
        run.stop(signal.SIGKILL)
    assert rc == 0
    assert elapsed < 1.0, f"took {elapsed:.2f} s"
    assert "stopped:" in run.text()
    assert daemonrun.integrity(run.db) == "ok"
    assert not Path(str(run.db) + "-wal").exists() or Path(str(run.db) + "-wal").stat().st_size == 0


@pytest.mark.live
def test_self_protection_is_logged_in_one_line(tmp_path: Path) -> None:
    run = daemonrun.start(tmp_path, FAST)
    try:
        adj = int(Path(f"/proc/{run.pid}/oom_score_adj").read_text())
    finally:
        run.stop()
    lines = [x for x in run.text().splitlines() if "oom_score_adj" in x and "own" in x]
    assert len(lines) >= 1
    if adj == -900:
        assert "set to -900" in run.text()
    else:  # this host: root without CAP_SYS_RESOURCE
        assert sum("needs CAP_SYS_RESOURCE" in x for x in lines) == 1


@pytest.mark.live
def test_sighup_reloads_and_rules_reach_new_processes(tmp_path: Path) -> None:
    run = daemonrun.start(tmp_path, FAST)
    sleeper = tmp_path / "h5hupsleep"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", sleeper)
    child = None
    try:
        run.config.write_text(FAST + '[[protect.rules]]\nname = "h5hupsleep"\nadj = 500\n')
        run.proc.send_signal(signal.SIGHUP)
        daemonrun.wait_for(lambda: "configuration reloaded" in run.text(), 5, "the reload")
        assert "1 protect rules" in run.text()
        child = subprocess.Popen([str(sleeper), "30"])
        adj_file = Path(f"/proc/{child.pid}/oom_score_adj")
        daemonrun.wait_for(lambda: adj_file.read_text().strip() == "500", 5,
                           "the rule to set oom_score_adj 500")
        assert f"oom_score_adj of h5hupsleep (pid {child.pid}) 0 -> 500" in run.text()
        # a broken file on SIGHUP: one error, the previous settings stay, the daemon lives
        run.config.write_text("[daemon]\ninterval = \"soon\"\n")
        run.proc.send_signal(signal.SIGHUP)
        daemonrun.wait_for(lambda: "reload failed" in run.text(), 5, "the failed reload")
        assert run.proc.poll() is None
    finally:
        if child is not None:
            child.kill()
            child.wait()
        assert run.stop() == 0


def test_cli_print_config_and_bad_config(tmp_path: Path) -> None:
    out = _oomkit("daemon", "--print-config")
    assert out.returncode == 0
    assert settings.parse(out.stdout, "sample") == settings.parse(settings.SAMPLE, "sample")
    bad = tmp_path / "bad.toml"
    bad.write_text("[daemon]\ninterval = 0\n")
    out = _oomkit("daemon", "--config", str(bad), "--db", str(tmp_path / "x.db"))
    assert out.returncode == 1
    assert out.stderr.strip() == f"oomkit: {bad}: daemon.interval: must be positive"
    out = _oomkit("daemon", "--config", str(tmp_path / "absent.toml"))
    assert out.returncode == 1 and "no such file" in out.stderr


def test_daemon_module_usage_errors() -> None:
    out = subprocess.run([sys.executable, "-m", "oomkit.daemon", "--bogus"], capture_output=True,
                         text=True, timeout=30, check=False)
    assert out.returncode == 2
    assert "unknown argument '--bogus'" in out.stderr and out.stderr.count("\n") == 1


def test_timeline_without_a_database(tmp_path: Path) -> None:
    out = _oomkit("timeline", "123", "--db", str(tmp_path / "none.db"))
    assert out.returncode == 1
    assert out.stderr.strip().endswith("no such database; is `oomkit daemon` running? (--db PATH)")


@pytest.mark.live
@pytest.mark.oom
def test_live_end_to_end_timeline_and_warning_before_the_kill(tmp_path: Path) -> None:
    """A job grows in a 64 MiB memory cgroup until the kernel kills it, while the daemon runs
    with its default settings except a 0.5 s interval (a short test)."""
    require_memcg()
    require_kmsg()
    run = daemonrun.start(tmp_path, "[daemon]\ninterval = 0.5\n")
    cg = jobcgroup.create(f"oomkit-e2e-{os.getpid()}", 64 << 20)
    try:
        job = daemonrun.grow_in(cg, "e2e-grower", step_mb=2, pause=0.2)
        rc = job.wait(timeout=60)
        died = time.time()
        assert rc == -signal.SIGKILL
        daemonrun.wait_for(lambda: daemonrun.kill_row(run.db, job.pid), 5, "the kill to be stored")
        ts, recorded, detected_by, proc_id = daemonrun.kill_row(run.db, job.pid)  # type: ignore[misc]
        assert detected_by == "kmsg" and proc_id is not None
        assert 0 <= int(recorded) - int(ts) <= 1000  # kernel stamp -> committed: within 1 s
        assert abs(int(ts) / 1000 - died) < 2
    finally:
        jobcgroup.remove(cg)
        run.stop()
    assert f"e2e-grower (pid {job.pid}) in {cg.rel}" in run.text()

    out = _oomkit("why", "--json", "--no-journal", "--db", str(run.db), str(job.pid))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["database"] == str(run.db)
    (event,) = [e for e in doc["events"] if e["victim"]["pid"] == job.pid]
    kill_at = int(ts) / 1000  # the kernel's stamp, in ms (the event's "wall" is to the second)
    timeline = event["timeline"]
    assert len(timeline) >= 5
    assert set(timeline[0]) >= {"wall", "anon_rss_kb", "file_rss_kb", "shmem_rss_kb", "swap_kb"}
    anon = [p["anon_rss_kb"] for p in timeline]
    assert anon[-1] - anon[0] >= 20 * 1024  # the growth is visible
    assert sum(b >= a for a, b in itertools.pairwise(anon)) >= len(anon) - 2
    assert all(datetime.fromisoformat(p["wall"]).timestamp() <= kill_at + 0.001 for p in timeline)
    warned = [w for w in event["warnings"] if w["kind"] == "warning"]
    assert warned, f"no warning before the kill: {event['warnings']}"
    first = warned[0]
    assert datetime.fromisoformat(first["wall"]).timestamp() < kill_at
    assert cg.rel in first["message"] and "will run out of memory" in first["message"]
    assert event["recorder"]["growth_kb_s"] > 1024
    assert event["recorder"]["process"]["name"] == "e2e-grower"

    text = _oomkit("why", "--no-journal", "--db", str(run.db), str(job.pid)).stdout
    assert "Recorded by the oomkit daemon: e2e-grower" in text
    assert "┤" in text and "Warning at" in text and "before the kill" in text

    tl = _oomkit("timeline", str(job.pid), "--db", str(run.db), "--json")
    assert tl.returncode == 0, tl.stderr
    doc = json.loads(tl.stdout)
    assert doc["process"]["name"] == "e2e-grower"
    assert len(doc["samples"]) == len(timeline) and doc["kills"][0]["detected_by"] == "kmsg"
    csv = _oomkit("timeline", "e2e-grower", "--db", str(run.db), "--csv").stdout.splitlines()
    assert csv[0] == "wall,anon_rss_kb,file_rss_kb,shmem_rss_kb,swap_kb,oom_score_adj,oom_score"
    assert len(csv) == len(timeline) + 1
    chart = _oomkit("timeline", cg.rel, "--db", str(run.db)).stdout
    assert f"cgroup {cg.rel}, limit 64.0 MiB" in chart and "kill at" in chart
    system = _oomkit("timeline", "--system", "--db", str(run.db), "--json")
    assert json.loads(system.stdout)["samples"]
