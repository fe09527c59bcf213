"""/metrics: the exposition is a pure function of a snapshot (golden file); counters only
grow; the Grafana dashboard and the alert rules use only metrics oomkit exports.

Regenerate the golden file after a reviewed change with
``python -m tests.test_metrics`` (it prints the new text).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from oomkit.web.metrics import (
    ForecastStats,
    KillCounter,
    ProgramStats,
    Snapshot,
    exposition,
)
from oomkit.web.queries import MemoryNow, RecorderHealth
from tests.webdata import at, sample_events

ROOT = Path(__file__).parent.parent
GOLDEN = Path(__file__).parent / "data" / "web" / "metrics.golden.txt"
RULES = ROOT / "contrib" / "prometheus" / "oomkit-rules.yml"
RULES_TEST = ROOT / "contrib" / "prometheus" / "oomkit-rules.test.yml"
DASHBOARD = ROOT / "contrib" / "grafana" / "oomkit.json"
DOCS = ROOT / "docs" / "web.md"


def snapshot() -> Snapshot:
    """A fixed snapshot: kills from real reports, two programs, a forecast."""
    counter = KillCounter()
    for i, e in enumerate(sample_events()):
        counter.add(1_790_000_000.0 + i * 60, at(e, 1_790_000_000.0 + i * 60, 100 + i))
    return Snapshot(
        memory=MemoryNow(8 << 20, 1 << 20, 2 << 20, 1 << 19, 12.5, 3.25, 12_345_678, 2_345_678),
        recorder=RecorderHealth("/var/lib/oomkit/oomkit.db", True, None, 1_790_000_300.5, 0.5, True,
                                42 << 20, 4),
        kills=counter.stats(),
        forecast=ForecastStats(420.0, 2048.0 * 1024, float(1 << 30)),
        programs=(
            ProgramStats("worker", "backoff", None, 130e6, 128 * 2.0**20, (("oom_kill", 3), ("crash", 1))),
            ProgramStats("api", "running", 52e6, 80e6, None, ()),
        ),
        version="0.1.0",
    )


def test_exposition_golden() -> None:
    assert exposition(snapshot()).decode() == GOLDEN.read_text()


def test_no_unbounded_labels() -> None:
    text = exposition(snapshot()).decode()
    labels = set(re.findall(r'[{,]([a-z_]+)="', text))
    assert labels <= {"killer", "reason", "owner_kind", "kind", "subject", "program", "state", "cause",
                      "version", "le"}
    assert "pid" not in labels and "100" not in re.findall(r'="([^"]*)"', text)


def test_not_running_out_is_plus_inf_and_absent_parts_are_absent() -> None:
    s = Snapshot(memory=None, recorder=RecorderHealth("x", False, "no db", None, None, False, None, 0),
                 forecast=ForecastStats(float("inf"), 0.0, 1.0))
    text = exposition(s).decode()
    assert 'oomkit_forecast_seconds_to_exhaustion{subject="system"} +Inf' in text
    assert "oomkit_recorder_up 0.0" in text and "oomkit_supervision_up 0.0" in text
    assert "oomkit_memory_available_bytes" not in text and "oomkit_program_state" not in text


def test_kill_counter_counts_each_kill_once() -> None:
    class Data:
        def __init__(self) -> None:
            self.rows: list[tuple[int, float, object]] = []

        def kill_totals(self, after: int) -> tuple[int, list[tuple[int, float, object]]]:
            new = [r for r in self.rows if r[0] > after]
            return (new[-1][0] if new else after), new

    e = sample_events()[0]
    d = Data()
    c = KillCounter()
    d.rows = [(1, 10.0, at(e, 10.0, 1)), (2, 20.0, at(e, 20.0, 2))]
    assert sum(n for _, n in c.update(d).counts) == 2  # type: ignore[arg-type]
    assert sum(n for _, n in c.update(d).counts) == 2  # type: ignore[arg-type]
    d.rows = [(3, 30.0, at(e, 30.0, 3))]  # retention deleted 1 and 2: the counter does not go down
    stats = c.update(d)  # type: ignore[arg-type]
    assert sum(n for _, n in stats.counts) == 3 and dict(stats.last_by_killer)["kernel"] == 30.0


def exported_names() -> set[str]:
    """Every series name the exposition can contain (with histogram and counter suffixes)."""
    text = exposition(snapshot()).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and line[0] != "#"}


def test_dashboard_uses_only_exported_metrics() -> None:
    dash = json.loads(DASHBOARD.read_text())
    exprs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("expr", "query", "definition") and isinstance(v, str):
                    exprs.append(v)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(dash)
    used = {m for e in exprs for m in re.findall(r"\boomkit_[a-z_]+", e)}
    assert used and used <= exported_names(), used - exported_names()
    assert dash["title"] == "oomkit" and all("gridPos" in p for p in dash["panels"])


def test_rules_use_only_exported_metrics_and_docs_list_every_metric() -> None:
    used = set(re.findall(r"\boomkit_[a-z_]+", RULES.read_text()))
    names = exported_names()
    assert used <= names, used - names
    documented = set(re.findall(r"`(oomkit_[a-z_]+)", DOCS.read_text()))
    families = {re.sub(r"_(bucket|sum|count)$", "", n) if "victim_rss_bytes" in n else n for n in names}
    assert families <= documented, families - documented


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool not installed (Debian package prometheus; .ci/run installs it)")
    return found


def test_rules_pass_promtool() -> None:
    tool = promtool()
    check = subprocess.run([tool, "check", "rules", str(RULES)], capture_output=True, text=True,
                           timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    run = subprocess.run([tool, "test", "rules", RULES_TEST.name], capture_output=True, text=True,
                         cwd=RULES_TEST.parent, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_exposition_passes_promtool_check_metrics() -> None:
    tool = promtool()
    r = subprocess.run([tool, "check", "metrics"], input=exposition(snapshot()), capture_output=True,
                       timeout=120)
    assert r.returncode == 0, (r.stdout + r.stderr).decode()


if __name__ == "__main__":
    print(exposition(snapshot()).decode(), end="")
