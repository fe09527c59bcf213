"""scoring: the badness and oom_score formulas per era, ranking, and the live cross-check
against /proc/PID/oom_score for every process on the machine."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oomkit import procfs, procscan, scoring
from oomkit.errors import OomkitError
from oomkit.procmodels import ProcessSnapshot
from oomkit.scoring import Era
from tests.memchildren import Children, children, has_cap_sys_resource

__all__ = ["children"]  # the fixture, re-exported for pytest

TP = 6170914  # this machine: MemTotal 24683656 kB / 4 + no swap


def proc(pid: int = 100, anon: int = 0, file: int = 0, shmem: int = 0, swap: int = 0,
         pte: int = 0, adj: int = 0, index: int = 0, name: str = "p") -> ProcessSnapshot:
    return ProcessSnapshot(pid, name, 0, "S", anon, file, shmem, swap, pte, adj, None, None,
                           index)


def test_c_div_truncates_toward_zero() -> None:
    assert scoring.c_div(-7, 2) == -3 and -7 // 2 == -4
    assert scoring.c_div(7, 2) == 3 and scoring.c_div(7, -2) == -3 and scoring.c_div(0, 5) == 0


def test_global_totalpages_is_memtotal_plus_swaptotal_in_pages() -> None:
    assert scoring.global_totalpages(24683656, 0, 4096) == TP
    assert scoring.global_totalpages(4000000, 8388604, 4096) == 1000000 + 2097151


def test_badness_5_9_worked_example() -> None:
    # rss (40000 + 4000 + 1000 kB) / 4 = 11250, swap 800 kB = 200, VmPTE 120 kB = 30 pages,
    # adj 300 x (6170914 // 1000 = 6170) = 1851000
    p = proc(anon=40000, file=4000, shmem=1000, swap=800, pte=120, adj=300)
    assert scoring.badness(p, TP) == 11250 + 200 + 30 + 1851000
    # (1000 + 1862480 * 1000 / 6170914) * 2 / 3 = (1000 + 301) * 2 / 3 = 867
    assert scoring.oom_score(scoring.badness(p, TP), TP) == 867


def test_oom_score_landmarks() -> None:
    tiny = proc(anon=4, adj=0)
    assert scoring.oom_score(scoring.badness(tiny, TP), TP) == 666  # not 0: kernel-oom.md 7.5
    everything = proc(anon=TP * 4)
    assert scoring.oom_score(scoring.badness(everything, TP), TP) == 1333
    assert scoring.oom_score(scoring.badness(everything._replace(oom_score_adj=1000), TP),
                             TP) == 1999  # adj steps of totalpages // 1000 lose the remainder
    assert scoring.badness(proc(adj=-1000), TP) is None
    assert scoring.oom_score(None, TP) == 0
    assert scoring.badness(proc(pid=1, anon=5000), TP) is None  # global init


def test_negative_badness_truncates_like_c() -> None:
    p = proc(anon=400, adj=-999)  # badness -6164330 + 100 pages
    b = scoring.badness(p, TP)
    assert b is not None and b < 0
    # C truncation: -6163730000 / 6170914 = -998 (Python's // would floor to -999 and give 0)
    assert scoring.oom_score(b, TP) == 1
    assert (1000 + b * 1000 // TP) * 2 // 3 == 0


def test_adj_has_no_effect_below_1000_totalpages() -> None:
    p = proc(anon=400, adj=1000)
    assert scoring.badness(p, 999) == 100  # 999 // 1000 == 0: kernel-oom.md 7.15


def test_older_eras() -> None:
    p = proc(anon=40000, pte=120, adj=-500)  # 10000 + 30 pages, adj -500 x 6170
    assert scoring.badness(p, TP, era=Era.V4_17) == 1  # never below 1 before 5.9
    q = proc(anon=4000000, adj=0)  # 1,000,000 pages
    assert scoring.badness(q, TP, era=Era.V4_17) == 1000000
    assert scoring.oom_score(1000000, TP, Era.V4_17) == 162  # badness * 1000 / totalpages
    assert scoring.badness(q, TP, era=Era.V3_5, cap_sys_admin=True) == 970000  # 3% off
    assert scoring.badness(q, TP, era=Era.V2_6_36) == 162  # already normalised to 0..1000
    assert scoring.badness(q._replace(oom_score_adj=1000), TP, era=Era.V2_6_36) == 1000
    assert scoring.badness(proc(adj=-1000), TP, era=Era.V4_17) is None


@pytest.mark.parametrize(("release", "era"), [
    ("6.18.44-fc-v782", Era.V5_9), ("5.9.0", Era.V5_9), ("5.8.18", Era.V4_17),
    ("4.18.0-477.el8.x86_64", Era.V4_17), ("4.14.1", Era.V3_5), ("3.10.0-1160.el7", Era.V3_5),
    ("3.4.0", Era.V2_6_36), ("weird", Era.V5_9),
])
def test_era_for(release: str, era: Era) -> None:
    assert scoring.era_for(release) is era


def test_rank_ties_go_to_the_later_scanned_task() -> None:
    a, b = proc(pid=10, anon=4000, index=0), proc(pid=11, anon=4000, index=1)
    assert [r.process.pid for r in scoring.rank([a, b], TP)] == [11, 10]
    assert [r.process.pid for r in scoring.rank([a, b], TP, era=Era.V4_17)] == [10, 11]


def test_rank_flags_and_never() -> None:
    big_protected = proc(pid=5, anon=TP * 16 // 5, adj=-500, index=0)  # 80% of memory
    never = proc(pid=6, anon=400, adj=-1000, index=1)
    init = proc(pid=1, anon=40000, index=2)
    normal = proc(pid=7, anon=400, index=3)
    ranked = scoring.rank([big_protected, never, init, normal], TP)
    assert [(r.process.pid, r.rank) for r in ranked] == [(5, 1), (7, 2), (1, None), (6, None)]
    assert ranked[0].protected and ranked[0].huge_protected and not ranked[0].never_kill
    assert ranked[3].never_kill and ranked[3].score == 0


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(0, 10**7), st.integers(-1000, 1000)), min_size=2,
                max_size=12),
       st.data())
def test_raising_adj_never_lowers_rank(rows: list[tuple[int, int]], data: st.DataObject) -> None:
    procs = [proc(pid=i + 2, anon=kb, adj=adj, index=i) for i, (kb, adj) in enumerate(rows)]
    i = data.draw(st.integers(0, len(procs) - 1))
    raised = data.draw(st.integers(procs[i].oom_score_adj, 1000))
    before = {r.process.pid: r.rank for r in scoring.rank(procs, TP)}
    after_procs = list(procs)
    after_procs[i] = procs[i]._replace(oom_score_adj=raised)
    after = {r.process.pid: r.rank for r in scoring.rank(after_procs, TP)}
    pid = procs[i].pid
    if before[pid] is not None and after[pid] is not None:
        assert after[pid] <= before[pid]
    ranked = scoring.rank(after_procs, TP)
    bad = [r.badness for r in ranked if r.badness is not None]
    assert bad == sorted(bad, reverse=True)


def test_explain_shows_the_arithmetic() -> None:
    a = proc(pid=10, anon=40000, file=4000, shmem=1000, swap=800, pte=120, adj=300, name="java")
    b = proc(pid=11, anon=400, name="sh", index=1)
    ranked = scoring.rank([a, b], TP)
    text = "\n".join(scoring.explain(ranked, 10, TP))
    assert "badness 1862480 pages = rss 11250 (anon 10000 + file 1000 + shmem 250)" in text
    assert "oom_score_adj 300 x 6170" in text and "= 867" in text and "Rank 1" in text
    assert "Rank 2" in "\n".join(scoring.explain(ranked, 11, TP))
    never = scoring.rank([proc(pid=12, adj=-1000)], TP)
    assert "never picks it" in scoring.explain(never, 12, TP)[0]
    assert "not in this ranking" in scoring.explain(ranked, 99, TP)[0]


def _score_now(pid: int, tp: int) -> tuple[int | None, tuple[int, int] | None]:
    """(oomkit's score, the kernel's oom_score read just before and just after) for one
    pid, or Nones if it vanished: a process whose memory moves while it is read is still
    checked, its score must fall between the kernel's two."""
    try:
        before = procfs.read_oom_score(pid)
        found = procscan.scan_processes(pids=[pid])
        after = procfs.read_oom_score(pid)
    except OomkitError:
        return None, None
    ours = scoring.oom_score(scoring.badness(found[0], tp, page_size=procfs.PAGE_SIZE), tp) \
        if found else 0  # not in the scan: kernel thread or zombie, which the kernel scores 0
    return ours, (min(before, after), max(before, after))


def _agrees(ours: int | None, kernel: tuple[int, int] | None) -> bool:
    return ours is not None and kernel is not None and kernel[0] <= ours <= kernel[1]


@pytest.mark.live
def test_live_every_pid_matches_proc_oom_score() -> None:
    """The score must equal /proc/PID/oom_score for every readable process; a mismatch is
    tolerated only when the process's memory moved between the reads: a re-read agrees."""
    if scoring.era_for(os.uname().release) is not Era.V5_9:
        pytest.skip("the live comparison is written for the >= 5.9 formula")
    mi = procfs.read_meminfo()
    tp = scoring.global_totalpages(mi["MemTotal"], mi["SwapTotal"], procfs.PAGE_SIZE)
    checked, moved, wrong = 0, [], []
    for pid in procfs.list_pids():
        ours, kernel = _score_now(pid, tp)
        if kernel is None:
            continue  # exited
        checked += 1
        if _agrees(ours, kernel):
            continue
        # A formula error disagrees every time; memory that moved agrees on a re-read.
        again = any(_agrees(*_score_now(pid, tp)) for _ in range(5))
        (moved if again else wrong).append((pid, ours, kernel))
    assert checked > 10
    assert not wrong, f"score differs from /proc/PID/oom_score: {wrong}"
    assert len(moved) <= max(2, checked // 20), moved


@pytest.mark.live
def test_live_children_of_known_size_and_adjustment(children: Children) -> None:
    sizes = [(48, 0), (16, 700), (96, 0), (8, 1000)]
    started = [children.start(mib, adj) for mib, adj in sizes]
    mi = procfs.read_meminfo()
    tp = scoring.global_totalpages(mi["MemTotal"], mi["SwapTotal"], procfs.PAGE_SIZE)
    snaps = {p.pid: p for p in procscan.scan_processes(pids=[c.pid for c in started])}
    for child, (mib, adj) in zip(started, sizes, strict=True):
        s = snaps[child.pid]
        assert s.oom_score_adj == adj
        assert mib * 1024 <= s.anon_rss_kb <= mib * 1024 + 16 * 1024
        assert scoring.oom_score(scoring.badness(s, tp), tp) == procfs.read_oom_score(child.pid)
    order = [r.process.pid for r in scoring.rank(list(snaps.values()), tp)]
    assert order == [started[3].pid, started[1].pid, started[2].pid, started[0].pid]


@pytest.mark.live
def test_live_negative_adjustment(children: Children) -> None:
    if not has_cap_sys_resource():
        pytest.skip("lowering oom_score_adj below 0 needs CAP_SYS_RESOURCE, which we lack")
    c = children.start(32, -500)
    mi = procfs.read_meminfo()
    tp = scoring.global_totalpages(mi["MemTotal"], mi["SwapTotal"], procfs.PAGE_SIZE)
    s = procscan.scan_processes(pids=[c.pid])[0]
    assert scoring.oom_score(scoring.badness(s, tp), tp) == procfs.read_oom_score(c.pid)


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(0, 10**7), st.integers(-999, 1000)), min_size=1,
                max_size=30),
       st.integers(1, 10**8), st.sampled_from(list(Era)))
def test_rank_scores_are_oom_score_of_the_badness(rows: list[tuple[int, int]], tp: int,
                                                  era: Era) -> None:
    # rank() computes the 5.9+ score inline; it must stay oom_score() of the same badness,
    # negative badness (adj < 0 on a small total) included.
    procs = [proc(pid=i + 2, anon=kb, adj=adj, index=i) for i, (kb, adj) in enumerate(rows)]
    for r in scoring.rank(procs, tp, era=era):
        assert r.score == scoring.oom_score(r.badness, tp, era)
