"""Live: real OOM kills in a memory cgroup, found by `oomkit why` with its defaults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime

import pytest

from oomkit.demo import run_hog, was_oom_killed
from tests.conftest import require_kmsg, require_memcg

pytestmark = [pytest.mark.live, pytest.mark.oom]


def _why(*args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "oomkit", "why", "--json", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert isinstance(doc, dict)
    return doc


def test_why_finds_a_real_memcg_kill_by_default() -> None:
    require_memcg()
    require_kmsg()
    kill = run_hog(name=f"oomkit-live-why-{os.getpid()}", limit_mb=24, comm="live-hog")
    assert kill.returncode == -signal.SIGKILL
    assert was_oom_killed(kill)

    doc = _why()
    events = [e for e in doc["events"] if e["victim"] and e["victim"]["pid"] == kill.pid]  # type: ignore[index,union-attr]
    assert len(events) == 1, "the same kill must appear once even if kmsg and logs both hold it"
    event = events[0]
    assert event["killer"] == "kernel"
    assert event["kind"] == "oom_kill"
    assert event["complete"] is True
    assert event["memcg"] == kill.cgroup
    assert event["task_memcg"] == kill.cgroup
    assert event["victim"]["name"] == "live-hog"
    assert event["cgroup_limit_kb"] == 24 * 1024
    # the hog really held about the limit in anonymous memory
    assert 16 * 1024 <= event["victim"]["anon_rss_kb"] <= 24 * 1024
    wall = datetime.fromisoformat(event["time"]["wall"])
    assert abs(wall.timestamp() - kill.ended) < 2.0
    assert event["time"]["uptime_s"] > 0
    assert "limit" in event["explanation"]["verdict"]
    assert doc["vmstat_oom_kill"] >= 1


def test_why_target_pid_filters_to_that_kill() -> None:
    require_memcg()
    require_kmsg()
    first = run_hog(name=f"oomkit-live-a-{os.getpid()}", limit_mb=16, comm="hog-a")
    second = run_hog(name=f"oomkit-live-b-{os.getpid()}", limit_mb=16, comm="hog-b")
    doc = _why(str(first.pid))
    pids = {e["victim"]["pid"] for e in doc["events"]}  # type: ignore[index,union-attr]
    assert pids == {first.pid}
    doc = _why("hog-b", "--since", "10m")
    assert second.pid in {e["victim"]["pid"] for e in doc["events"]}  # type: ignore[index,union-attr]
    assert first.pid not in {e["victim"]["pid"] for e in doc["events"]}  # type: ignore[index,union-attr]


def test_demo_command_explains_its_kill() -> None:
    require_memcg()
    require_kmsg()
    out = subprocess.run(
        [sys.executable, "-m", "oomkit", "demo", "--limit-mb", "16"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "reached its limit of 16.0 MiB" in out.stdout
    assert "demo cgroup has been removed" in out.stdout
