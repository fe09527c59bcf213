"""The daemon hosts [programs.NAME]: a program OOM-killed in its cgroup is classified,
recorded in the database, visible through `oomkit ctl`, and told by `oomkit why NAME`."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_memcg
from tests.daemonrun import start, wait_for

pytestmark = [pytest.mark.live, pytest.mark.oom, pytest.mark.e2e]

HOG = "b = []\nwhile True:\n    b.append(bytearray(1 << 20))\n"


def _exits(db: Path, name: str) -> list[dict[str, object]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute("SELECT data FROM job_events WHERE name = ? AND kind = 'exit'"
                            " ORDER BY ts", (name,)).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()
    return [json.loads(r[0]) for r in rows]


def test_daemon_supervises_records_and_explains_an_oom_killed_program(tmp_path: Path) -> None:
    require_memcg()
    name = f"hog{os.getpid()}"
    sock = tmp_path / "ctl.sock"
    config = f"""
[daemon]
ctl_socket = "{sock}"

[programs.{name}]
command = ["{sys.executable}", "-c", {json.dumps(HOG)}]
memory_max = "24M"
autorestart = false
startsecs = 0
"""
    d = start(tmp_path, config)
    try:
        exits = wait_for(lambda: _exits(d.db, name), 60, "the program's exit in the database")
        assert isinstance(exits, list)
        first = exits[0]
        assert first["cause"] == "oom_kill"
        assert first["signal_name"] == "SIGKILL"
        assert str(first["memcg"]).endswith(name)
        status = subprocess.run(
            [sys.executable, "-m", "oomkit", "ctl", "status", name, "--socket", str(sock),
             "--json"], capture_output=True, text=True, timeout=30, check=False,
        )
        assert status.returncode in (0, 3), status.stderr  # 3: a program not running
        assert name in status.stdout
        why = subprocess.run(
            [sys.executable, "-m", "oomkit", "why", name, "--db", str(d.db), "--json"],
            capture_output=True, text=True, timeout=60, check=False,
        )
        doc = json.loads(why.stdout)
        story = [e for e in doc.get("program_events", []) if e["kind"] == "exit"]
        assert story
        assert story[0]["data"]["cause"] == "oom_kill"
        text = subprocess.run(
            [sys.executable, "-m", "oomkit", "why", name, "--db", str(d.db)],
            capture_output=True, text=True, timeout=60, check=False,
        ).stdout
        assert f"Program {name}: 1 exit recorded by the supervisor" in text
        assert "oom_kill (SIGKILL)" in text
    finally:
        assert d.stop() == 0
