"""`oomkit top`: the query on fake trees, the CLI in-process and as a subprocess, and the real
prediction test: rank a memory cgroup, push it over its limit, check whom the kernel killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from oomkit import cgroups, jobcgroup, procfs, top
from oomkit.cli import main
from oomkit.commands.top import format_table
from tests.conftest import require_memcg
from tests.memchildren import Children, children

__all__ = ["children"]

DATA = Path(__file__).parent / "data"
V2 = top.Machine(proc_root=DATA / "proc" / "v2-zram",
                 cgroup_root=DATA / "sys" / "v2-zram" / "fs" / "cgroup",
                 release="6.8.0", page_size=4096)
FAKE_ARGS = ["--proc-root", str(V2.proc_root), "--cgroup-root", str(V2.cgroup_root)]
PG = "/system.slice/postgresql.service"
REQUIRED = {"pid", "name", "score", "oom_score_adj", "anon_rss_kb", "file_rss_kb",
            "shmem_rss_kb", "swap_kb", "cgroup", "owner"}


def test_fake_tree_system_ranking() -> None:
    r = top.take(machine=V2)
    assert r.totalpages == r.system_totalpages == 1000000 + 2097151
    order = [(p.process.pid, p.rank) for p in r.processes]
    assert order == [(2300, 1), (1500, 2), (1701, 3), (2200, 4), (1700, 5), (612, 6), (1, None)]
    web = r.processes[0]
    # (300000 + 10000) / 4 + 800 / 4 + 500 x 3097 = 77700 + 1548500
    assert web.badness == 1626200 and web.score == 1016
    pg = next(p for p in r.processes if p.process.pid == 1700)
    assert pg.protected and pg.huge_protected and not pg.never_kill
    # each process is also ranked inside the nearest cgroup with a limit
    assert web.memcg is not None and (web.memcg.path, web.memcg.rank, web.memcg.of) == (
        "/system.slice/web.service", 1, 1)
    assert pg.memcg is not None and (pg.memcg.path, pg.memcg.rank, pg.memcg.of) == (PG, 2, 2)
    assert pg.memcg.totalpages == 524288 + 65536
    ff = next(p for p in r.processes if p.process.pid == 1500)
    assert ff.memcg is not None and ff.memcg.path.endswith("/app.slice") and ff.memcg.of == 2


def test_fake_tree_cgroup_ranking_uses_the_limit() -> None:
    r = top.take(machine=V2, cgroup=PG)
    assert r.scope == PG and r.totalpages == 589824 and r.cgroup is not None
    # in the cgroup, -900 x (589824 // 1000) outweighs 1.3 GiB: the small postgres dies first
    assert [p.process.pid for p in r.processes] == [1701, 1700]
    assert r.processes[1].badness == 342500 + 1000 - 900 * 589
    # the score column stays on the /proc/PID/oom_score scale (system totalpages)
    assert r.processes[0].score == 682
    assert r.processes[0].memcg is not None and r.processes[0].memcg.rank == 1


def test_fake_tree_unlimited_cgroup_note() -> None:
    r = top.take(machine=V2, cgroup="/system.slice")
    assert r.totalpages == r.system_totalpages
    assert "no memory limit" in r.notes[0]
    ff = top.take(machine=V2, cgroup="/user.slice/user-1000.slice/user@1000.service/app.slice/"
                                     "app-firefox-1500.scope")
    assert ff.totalpages == 3145728 + 2097151 and "app.slice" in ff.notes[0]


def test_unknown_cgroup_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["top", "--cgroup", "/nope.service", *FAKE_ARGS]) == 2
    assert "no such memory cgroup" in capsys.readouterr().err
    assert main(["top", "--cgroup", "", *FAKE_ARGS]) == 2  # it read as the root, unnamed
    assert "--cgroup needs a path" in capsys.readouterr().err


def test_json_schema_on_fake_tree(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["top", "--json", "--cmdline", *FAKE_ARGS]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["scope"] == "system" and doc["page_size"] == 4096
    procs = doc["processes"]
    assert [p["pid"] for p in procs][:2] == [2300, 1500]
    for p in procs:
        assert set(p) >= REQUIRED
    pg = next(p for p in procs if p["pid"] == 1700)
    assert pg["protected"] and pg["protected_but_huge"] and pg["owner"] == {
        "kind": "systemd-unit", "name": "postgresql.service", "unit": "postgresql.service"}
    assert pg["cgroup_rank"] == {"cgroup": PG, "totalpages": 589824, "rank": 2, "of": 2,
                                 "score": 456}  # (1000 + -186600 * 1000 / 589824) * 2 / 3
    assert pg["cmdline"] == "/usr/bin/postgres -D /var/lib/pgsql/data"
    assert procs[-1]["pid"] == 1 and procs[-1]["rank"] is None and procs[-1]["score"] == 0


def test_text_table_and_explain(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["top", "--limit", "2", "--explain", "1700", *FAKE_ARGS]) == 0
    out = capsys.readouterr().out
    assert "web (worker)" in out and "... 5 more" in out
    assert "risk: PID 1700 (postgres) is protected" in out
    assert "PID 1700 (postgres): badness" in out


def test_growth_rate_from_two_samples() -> None:
    clock = iter([100.0, 102.0])
    r = top.top_by_oom_score(machine=V2, interval=2, sleep=lambda s: None,
                             clock=lambda: next(clock))
    assert all(p.growth_kb_s == 0.0 for p in r.processes)
    assert "GROWTH" in format_table(r)


def test_count_needs_watch(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["top", "--count", "2"]) == 2
    assert "--watch" in capsys.readouterr().err


@pytest.mark.live
def test_live_json_in_rank_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["top", "--json"]) == 0
    procs = json.loads(capsys.readouterr().out)["processes"]
    mine = next(p for p in procs if p["pid"] == os.getpid())
    assert set(mine) >= REQUIRED and mine["anon_rss_kb"] > 0
    ranked = [p for p in procs if p["rank"] is not None]
    assert [p["rank"] for p in ranked] == list(range(1, len(ranked) + 1))
    assert [p["badness"] for p in ranked] == sorted((p["badness"] for p in ranked), reverse=True)


@pytest.mark.live
def test_live_watch_refreshes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["top", "--watch", "--json", "--count", "2", "--interval", "0.1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    second = json.loads(lines[1])["processes"]
    assert any(p["growth_kb_s"] is not None for p in second)
    assert main(["top", "--watch", "--count", "2", "--interval", "0.1", "--limit", "3"]) == 0
    assert "Kill order" in capsys.readouterr().out


@pytest.mark.live
@pytest.mark.e2e
def test_python_m_oomkit_top_subprocess() -> None:
    out = subprocess.run([sys.executable, "-m", "oomkit", "top", "--json"], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    procs = json.loads(out)["processes"]
    assert procs and set(procs[0]) >= REQUIRED and procs[0]["rank"] == 1


@pytest.fixture
def memcg_256() -> Iterator[jobcgroup.JobCgroup]:
    """A fresh 256 MiB memory cgroup (no swap), removed with whatever is left in it."""
    require_memcg()
    cg = jobcgroup.create(f"oomkit-test-top-{uuid.uuid4().hex[:8]}", 256 << 20)
    try:
        yield cg
    finally:
        jobcgroup.remove(cg)


def _usage(cg: jobcgroup.JobCgroup) -> int:
    name = "memory.current" if cg.version == 2 else "memory.usage_in_bytes"
    return int((cg.path / name).read_text())


@pytest.mark.live
@pytest.mark.oom
@pytest.mark.parametrize("sizes", [
    # the smallest dies: +600 x (65536 // 1000) pages = 152 MiB of badness puts it first
    ((60, 0), (24, 600), (90, 0)),
    # the largest dies: +100 x 65 pages (25 MiB) does not lift 70 MiB past 110 MiB
    ((40, 0), (110, 0), (70, 100)),
], ids=["adj-wins", "size-wins"])
def test_prediction_matches_the_kernels_choice(
    sizes: tuple[tuple[int, int], ...], memcg_256: jobcgroup.JobCgroup, children: Children,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Three processes of different sizes and adjustments in a 256 MiB cgroup: oomkit names
    the victim, then a fourth process pushes the cgroup over its limit and the kernel kills."""
    cg = memcg_256
    procs = str(cg.procs)
    a, b, c = (children.start(mib, adj, procs) for mib, adj in sizes)
    assert main(["top", "--cgroup", cg.rel, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    ranked = [p["pid"] for p in doc["processes"]]
    assert sorted(ranked) == sorted([a.pid, b.pid, c.pid])
    assert doc["totalpages"] == (256 << 20) // procfs.PAGE_SIZE + _swap_pages(cg)
    victim = ranked[0]
    assert victim == b.pid
    kills_before = cg.oom_kills() or 0
    # The pusher grows in 1 MiB steps to 1 MiB past the headroom (and stops as soon as the
    # cgroup counts a kill): one OOM, and it holds about the headroom, far less
    # badness than the predicted victim.
    headroom = max((256 << 20) - _usage(cg), 0) >> 20
    counter = cg.path / ("memory.events" if cg.version == 2 else "memory.oom_control")
    pusher = children.start(headroom + 1, 0, procs, step=1, wait=False,
                            stop_after_kill=str(counter))
    deadline = time.monotonic() + 60
    while b.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert b.returncode == -signal.SIGKILL, "the predicted victim was not killed"
    time.sleep(0.5)
    # The kernel's first choice, from its own report of this cgroup (read with oomkit's parser).
    from oomkit.why import WhyOptions, find_kills

    kills = find_kills(WhyOptions(target=cg.rel, use_journal=False)).kills
    first = min(kills, key=lambda k: k.event.time.uptime_s or 0.0).event
    assert first.victim is not None
    assert first.victim.pid == b.pid, "the kernel chose another process first"
    if (cg.oom_kills() or 0) - kills_before == 1:
        for survivor in (a, c, pusher):
            assert survivor.poll() is None, f"{survivor.pid} died too"
    # else: a second kill can follow before the first victim's pages are uncharged
    # (the memcg per-CPU charge cache); the prediction was about the first choice.


def _swap_pages(cg: jobcgroup.JobCgroup) -> int:
    """What mem_cgroup_get_max() adds for swap in this live cgroup."""
    h = cgroups.find_memory()
    assert h is not None
    mem = cgroups.read_memory(h, cg.rel)
    assert mem is not None
    swap = procfs.read_meminfo()["SwapTotal"] * 1024 // procfs.PAGE_SIZE
    vm = int(procfs.read_sysctl("vm.swappiness") or 60)
    return cgroups.oom_totalpages(mem, swap, vm) - (256 << 20) // procfs.PAGE_SIZE
