"""A real Prometheus server on loopback scrapes `oomkit web`; a real OOM kill triggered
here is found through Prometheus's own query API, and the alert rule fires on it."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import require_memcg
from tests.livestack import daemon, free_port, oom_kill
from tests.webserver import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.oom]
RULES = Path(__file__).parent.parent / "contrib" / "prometheus" / "oomkit-rules.yml"


@pytest.fixture
def prometheus_bin() -> str:
    found = shutil.which("prometheus")
    if found is None:
        pytest.skip("prometheus not installed (Debian package prometheus; .ci/run installs it)")
    return found


def query(base: str, expr: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{base}/api/v1/query", params={"query": expr}, timeout=10)
    r.raise_for_status()
    doc = r.json()
    assert doc["status"] == "success", doc
    return doc["data"]["result"]  # type: ignore[no-any-return]


def wait_for(base: str, expr: str, timeout: float = 45.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = query(base, expr)
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"no result for {expr} within {timeout:.0f} s")


@pytest.fixture
def prometheus(prometheus_bin: str, tmp_path: Path) -> Iterator[tuple[str, Path, LiveServer]]:
    require_memcg()
    with daemon(tmp_path) as db, LiveServer(db) as web:
        port = free_port()
        rules = tmp_path / "oomkit-rules.yml"
        rules.write_text(RULES.read_text())
        conf = tmp_path / "prometheus.yml"
        conf.write_text(f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["{rules}"]
scrape_configs:
  - job_name: oomkit
    static_configs:
      - targets: ["127.0.0.1:{web.port}"]
""")
        log = (tmp_path / "prometheus.log").open("wb")
        p = subprocess.Popen([prometheus_bin, f"--config.file={conf}",
                              f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                              f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                             stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if p.poll() is not None:
                    raise RuntimeError((tmp_path / "prometheus.log").read_text())
                try:
                    if httpx.get(f"{base}/-/ready", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.3)
            yield base, db, web
        finally:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            log.close()


def test_a_real_kill_is_found_through_prometheus(prometheus: tuple[str, Path, LiveServer]) -> None:
    base, _, _ = prometheus
    up = wait_for(base, 'up{job="oomkit"} == 1')
    assert up[0]["metric"]["instance"].startswith("127.0.0.1:")
    wait_for(base, "oomkit_recorder_up == 1")
    before = query(base, 'sum(oomkit_kills_total{killer="kernel"})')
    n0 = float(before[0]["value"][1]) if before else 0.0

    hog = oom_kill(slow=False)
    assert hog.returncode == -9

    found = wait_for(base, f'oomkit_last_kill_timestamp_seconds{{killer="kernel"}} >= {hog.started - 1}')
    assert float(found[0]["value"][1]) <= hog.ended + 5
    total = wait_for(base, f'sum(oomkit_kills_total{{killer="kernel",reason="cgroup_limit"}}) >= {n0 + 1}')
    assert float(total[0]["value"][1]) >= n0 + 1
    rss = wait_for(base, "oomkit_last_kill_victim_rss_bytes > 16 * 1024 * 1024")
    assert float(rss[0]["value"][1]) < 256 * 1024 * 1024  # its cgroup's limit was 64 MiB
    alert = wait_for(base, 'ALERTS{alertname="OomKillHappened", alertstate="firing", killer="kernel"}')
    assert alert[0]["metric"]["severity"] == "warning"
