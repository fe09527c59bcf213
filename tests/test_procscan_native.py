"""The optional C scan (oomkit._procscan) against the Python one it replaces.

Both read /proc/PID/status and /proc/PID/oom_score_adj and must return the same
records: on every fake tree, on edge-case files, and on every live PID (where
the C parser is checked against procfs on the very bytes it read). test_native.py
fails when CI requires the module and it was not built.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from oomkit import procfs, procscan
from tests.conftest import native_module

DATA = Path(__file__).parent / "data"
TREES = [DATA / "proc" / "v2-zram", DATA / "proc" / "mode2-nopsi"]
NO_MM = {"v2-zram": [2000, 2100], "mode2-nopsi": []}  # a kernel thread and a zombie: no Rss lines
native = procscan._procscan


def needs_native() -> None:
    native_module("_procscan")


@pytest.fixture(params=["native", "python"])
def impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test once through the C scan and once with it switched off."""
    if request.param == "native":
        needs_native()
    else:
        monkeypatch.setattr(procscan, "_procscan", None)
    return str(request.param)


@pytest.mark.parametrize("tree", TREES, ids=lambda p: p.name)
def test_fake_trees_give_the_same_records(tree: Path) -> None:
    needs_native()
    c = procscan.read_records(tree)
    py = procscan.read_records(tree, native=False)
    assert c == py
    assert [r[0] for r in c] == sorted(r[0] for r in c)  # listed ascending, like list_pids
    assert [r[0] for r in c if r[2] is None and r[3] is not None] == NO_MM[tree.name]


@pytest.mark.parametrize("tree", TREES, ids=lambda p: p.name)
def test_scan_processes_is_the_same_either_way(tree: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    needs_native()

    def scan() -> list[object]:
        return list(procscan.scan_processes(tree, cgroup_from_file=lambda lines: lines[0].path))

    native_scan = scan()
    monkeypatch.setattr(procscan, "_procscan", None)
    assert native_scan == scan() and native_scan


def _fake(root: Path, pid: int, status: str | bytes, adj: bytes = b"0\n") -> None:
    (root / str(pid)).mkdir(parents=True)
    data = status.encode() if isinstance(status, str) else status
    (root / str(pid) / "status").write_bytes(data)
    (root / str(pid) / "oom_score_adj").write_bytes(adj)


def test_edge_cases_match(tmp_path: Path, impl: str) -> None:
    base = (TREES[0] / "1700" / "status").read_text()
    # larger than the C module's first 4 KiB read and Python's first 16 KiB read
    groups = " ".join(str(g) for g in range(4000))
    _fake(tmp_path, 10, base.replace("Groups:\t", f"Groups:\t{groups} "))
    _fake(tmp_path, 11, base.replace("Name:\tpostgres", "Name:\tweb\\\\n\\n(x)"))
    _fake(tmp_path, 12, base, adj=b"")  # half-written by an exiting task: skipped
    _fake(tmp_path, 13, base, adj=b"-1000\n")
    _fake(tmp_path, 14, base.replace("RssFile:", "RssFyle:"))  # unfamiliar layout: raw kept
    _fake(tmp_path, 15, base.encode() + b"\xff\xfe junk \x00\n")
    (tmp_path / "16").mkdir()  # vanished between listdir and open
    (tmp_path / "self").mkdir()  # not a PID
    got = procscan.read_records(tmp_path)
    assert [r[0] for r in got] == [10, 11, 13, 14, 15]
    by_pid = {r[0]: r for r in got}
    assert by_pid[10][2] is not None and by_pid[10][2][2:] == by_pid[13][2][2:]  # type: ignore[index]
    assert by_pid[11][2] is not None and by_pid[11][2][0] == b"web\\\\n\\n(x)"
    assert by_pid[13][1] == -1000
    assert by_pid[14][2] is None and by_pid[14][3] is not None
    procs = {p.pid: p for p in procscan.scan_processes(tmp_path)}
    assert procs[11].name == "web\\n\n(x)"
    assert procs[14].file_rss_kb == 0 and procs[14].anon_rss_kb == procs[13].anon_rss_kb


@pytest.mark.live
def test_live_parse_equals_procfs_on_the_same_bytes() -> None:
    needs_native()
    assert native is not None
    records = native.scan("/proc", keep_raw=True)
    checked = 0
    for pid, _adj, fields, raw in records:
        assert raw is not None
        st = procfs.parse_status(raw)
        if fields is None:
            assert not st.has_mm or procfs.status_fields(raw) is None, pid
            continue
        name, state, uid, anon, file_, shmem, swap, pte = fields
        assert (procfs.unescape_comm(name), state.decode(), uid) == (st.name, st.state, st.uid)
        assert (anon, file_, shmem, swap, pte) == (st.anon_kb, st.file_kb, st.shmem_kb,
                                                   st.swap_kb, st.pte_kb), pid
        checked += 1
    assert checked >= 3  # pytest, its parent shell, init at least


@pytest.mark.live
def test_live_sleepers_seen_with_any_thread_count() -> None:
    needs_native()
    assert native is not None
    sleep = shutil.which("sleep") or "/bin/sleep"
    kids = [subprocess.Popen([sleep, "60"]) for _ in range(40)]
    try:
        pids = sorted(k.pid for k in kids)
        # Popen returns when the child's exec has replaced its memory (a vfork parent is
        # released in exec_mmap), a moment before exec sets its name (begin_new_exec in
        # fs/exec.c): wait until every child is named "sleep", or the scan may see "python".
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}/comm").read_text().strip() != "sleep" for pid in pids):
            assert time.monotonic() < deadline, "the sleep children never got their name"
            time.sleep(0.01)
        for threads in (1, 3, 16):
            got = native.scan("/proc", pids, threads=threads)
            assert [r[0] for r in got] == pids
            assert all(r[2] is not None and r[2][0] == b"sleep" for r in got)
        want = procscan.read_records("/proc", pids, native=False)
        assert [(r[0], r[1], r[2][0] if r[2] else None) for r in want] == [
            (r[0], r[1], r[2][0] if r[2] else None) for r in got]
    finally:
        for k in kids:
            k.kill()
            k.wait()


def test_start_then_result_once(tmp_path: Path) -> None:
    needs_native()
    assert native is not None
    pending = native.start(TREES[0])
    got = pending.result()
    assert got == native.scan(TREES[0])
    with pytest.raises(RuntimeError, match="already taken"):
        pending.result()
    unfinished = native.start(TREES[0])
    del unfinished  # dropped before result(): its threads are joined, nothing leaks or crashes
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "gone")):
        native.scan(tmp_path / "gone")
    with pytest.raises(ValueError, match="not a PID"):
        native.scan(TREES[0], [-1])
    with pytest.raises(TypeError):
        native.scan(TREES[0], 5)  # type: ignore[arg-type]
