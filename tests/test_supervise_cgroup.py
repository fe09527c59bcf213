"""Job cgroups on fake v1 and v2 trees; output logs with rotation; orphan locks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from oomkit import jobcgroup
from oomkit.jobcgroup import Hierarchy, MemoryLimits
from oomkit.supervise import adopt
from oomkit.supervise.logs import RotatingLog, tail


def v2_tree(tmp_path: Path) -> Hierarchy:
    root = tmp_path / "cgroup2"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu io memory pids\n")
    (root / "cgroup.subtree_control").write_text("cpu\n")
    return Hierarchy(root, 2)


def v1_tree(tmp_path: Path) -> Hierarchy:
    root = tmp_path / "memory"
    root.mkdir()
    return Hierarchy(root, 1)


def test_v2_limits_and_subtree_control(tmp_path: Path) -> None:
    h = v2_tree(tmp_path)
    cg, notes = jobcgroup.create_limited(
        "oomkit-job-web", MemoryLimits(512 << 20, 400 << 20, 0), h, parent="oomkit.slice")
    assert cg.rel == "/oomkit.slice/oomkit-job-web" and cg.version == 2
    assert (h.mount / "cgroup.subtree_control").read_text() == "+memory"
    assert (cg.path / "memory.max").read_text() == str(512 << 20)
    assert (cg.path / "memory.high").read_text() == str(400 << 20)
    assert (cg.path / "memory.swap.max").read_text() == "0"
    assert notes == ()
    # reused with no limits: every setting goes back to "max"
    cg2, _ = jobcgroup.create_limited("oomkit-job-web", MemoryLimits(), h, parent="oomkit.slice")
    assert cg2 == cg and (cg.path / "memory.max").read_text() == "max"
    assert (cg.path / "memory.swap.max").read_text() == "max"


def test_v2_readers(tmp_path: Path) -> None:
    h = v2_tree(tmp_path)
    cg, _ = jobcgroup.create_limited("oomkit-job-a", MemoryLimits(64 << 20), h)
    (cg.path / "memory.current").write_text("1048576\n")
    (cg.path / "memory.peak").write_text("2097152\n")
    (cg.path / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n")
    (cg.path / "cgroup.procs").write_text("")
    assert jobcgroup.memory_current(cg) == 1 << 20 and jobcgroup.memory_peak(cg) == 2 << 20
    assert jobcgroup.memory_limit(cg) == 64 << 20 and cg.oom_kills() == 1
    assert not jobcgroup.reset_peak(cg)  # v2: per-fd reset only
    assert jobcgroup.kill_all(cg) == 0
    assert [j.rel for j in jobcgroup.find_jobs(h)] == ["/oomkit-job-a"]


def test_v1_limits_memsw_and_what_it_cannot_do(tmp_path: Path) -> None:
    h = v1_tree(tmp_path)
    d = h.mount / "oomkit-job-a"
    d.mkdir()
    (d / "memory.memsw.limit_in_bytes").write_text("9223372036854771712\n")
    cg, notes = jobcgroup.create_limited("oomkit-job-a", MemoryLimits(256 << 20, 200 << 20, 64 << 20), h)
    assert (d / "memory.limit_in_bytes").read_text() == str(256 << 20)
    assert (d / "memory.memsw.limit_in_bytes").read_text() == str(320 << 20)
    assert any("memory.high is a cgroup v2 setting" in n for n in notes)
    (d / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert jobcgroup.memory_limit(cg) is None  # PAGE_COUNTER_MAX: unlimited
    (d / "memory.max_usage_in_bytes").write_text("123\n")
    assert jobcgroup.reset_peak(cg) and (d / "memory.max_usage_in_bytes").read_text() == "0"


def test_v1_swap_limit_without_swap_accounting_is_a_note(tmp_path: Path) -> None:
    h = v1_tree(tmp_path)
    _, notes = jobcgroup.create_limited("oomkit-job-b", MemoryLimits(1 << 20, None, 1 << 20), h)
    assert any("no swap accounting" in n for n in notes)


def test_rotating_log_and_tail(tmp_path: Path) -> None:
    log = RotatingLog(tmp_path / "a.log", maxbytes=10, backups=2)
    for chunk in (b"12345\n", b"67890\n", b"abcde\n", b"fghij\n"):
        log.write(chunk)
    log.close()
    assert (tmp_path / "a.log").read_bytes() == b"fghij\n"
    assert (tmp_path / "a.log.1").read_bytes() == b"abcde\n"
    assert (tmp_path / "a.log.2").read_bytes() == b"67890\n"
    assert not (tmp_path / "a.log.3").exists()
    data, offset = tail(tmp_path / "a.log", 3)
    assert data == b"ij\n" and offset == 6
    assert tail(tmp_path / "a.log", 100, offset=6) == (b"", 6)
    assert tail(tmp_path / "a.log", 100, offset=600) == (b"fghij\n", 6)  # rotated: from the start
    assert tail(tmp_path / "none.log") == (b"", 0)


def test_job_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    first = adopt.take_lock(tmp_path, "oomkit-job-a")
    assert isinstance(first, adopt.JobLock)
    assert adopt.take_lock(tmp_path, "oomkit-job-a") == os.getpid()
    first.release()
    assert not (tmp_path / "oomkit-job-a.lock").exists()
    again = adopt.take_lock(tmp_path, "oomkit-job-a")
    assert isinstance(again, adopt.JobLock)
    again.release()


@pytest.mark.parametrize("held", [True, False])
def test_sweep_leaves_held_jobs_and_removes_orphans(
    tmp_path: Path, held: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = v2_tree(tmp_path)
    cg, _ = jobcgroup.create_limited("oomkit-job-x", MemoryLimits(), h)
    (cg.path / "cgroup.procs").write_text("")
    lock = adopt.take_lock(tmp_path / "locks", "oomkit-job-x") if held else None
    removed: list[Path] = []
    monkeypatch.setattr(jobcgroup, "remove", lambda c, timeout=5.0: removed.append(c.path))
    try:
        out = adopt.sweep(h, tmp_path / "locks")
    finally:
        if isinstance(lock, adopt.JobLock):
            lock.release()
    if held:
        assert out == [] and removed == []
    else:
        assert [(o.cgroup, o.outcome) for o in out] == [("/oomkit-job-x", "removed (empty)")]
        assert removed == [cg.path]


def test_placement_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    from oomkit.models import ProgramSpec
    from oomkit.supervise import control

    spec = ProgramSpec(name="a", command=("x",), memory_max=1 << 30, memory_high=3 << 28)
    c = control.OsProcessControl(use_cgroups=False)
    c.is_root = False
    monkeypatch.setattr(control, "systemd_booted", lambda: True)
    monkeypatch.setattr(control.shutil, "which", lambda name, path=None: f"/usr/bin/{name}")
    p = c.place(spec)
    assert p.cgroup is None and p.via == "systemd-run --user --scope"
    assert p.wrapper == ("systemd-run", "--user", "--scope", "--quiet", "-p", f"MemoryMax={1 << 30}",
                         "-p", f"MemoryHigh={3 << 28}", "--")
    monkeypatch.setattr(control, "systemd_booted", lambda: False)
    p = c.place(spec)
    assert p.wrapper == () and p.via == "no cgroup"
    assert p.notes == ("not root, and no systemd user manager to delegate a scope (systemd is not PID 1):"
                       " running without a memory limit",)
