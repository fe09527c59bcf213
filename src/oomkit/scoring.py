"""The kernel's OOM badness and /proc/PID/oom_score, per kernel era. Pure: no I/O.

≥5.9 (mm/oom_kill.c ``oom_badness`` after 9066e5cfb73c "mm, oom: make the
calculation of oom badness more accurate")::

    if unkillable (global init, kthread) or no mm:          return LONG_MIN
    if adj == -1000 or MMF_OOM_SKIP or in_vfork:             return LONG_MIN
    points = get_mm_rss(mm) + MM_SWAPENTS + mm_pgtables_bytes(mm) / PAGE_SIZE
    points += adj * (totalpages / 1000)                      # integer-divide first
    return points                                            # signed, may be < 0

and fs/proc/base.c ``proc_oom_score``::

    totalpages = totalram_pages() + total_swap_pages
    points = badness == LONG_MIN ? 0 : (1000 + badness * 1000 / totalpages) * 2 / 3

with C division (truncation toward zero, see ``c_div``). ``totalram_pages()``
is MemTotal (fs/proc/meminfo.c prints ``si_meminfo()``'s ``totalram`` =
``totalram_pages()``) and ``total_swap_pages`` is SwapTotal, both in pages.
Older eras are kept selectable (``era_for(release)``); see docs/top.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import Enum

from oomkit.procmodels import ProcessSnapshot, RankedProcess

LONG_MIN = -(2**63)
OOM_SCORE_ADJ_MIN = -1000  # include/uapi/linux/oom.h
OOM_SCORE_ADJ_MAX = 1000
HUGE_FRACTION = 0.10  # "protected but huge": rss + swap >= 10% of totalpages


class Era(str, Enum):
    """How a kernel version computes badness and oom_score (kernel-oom.md section 2)."""

    V2_6_36 = "2.6.36"  # 2.6.36-3.4: badness normalised to 0..1000, -30 for CAP_SYS_ADMIN
    V3_5 = "3.5"  # 3.5-4.16: pages, minimum 1, 3% off for CAP_SYS_ADMIN; score = b*1000/tp
    V4_17 = "4.17"  # 4.17-5.8: as 3.5 without the discount
    V5_9 = "5.9"  # >= 5.9: signed, LONG_MIN for "never"; score = (1000 + b*1000/tp)*2/3


def era_for(release: str) -> Era:
    """The era of a kernel release string such as ``6.18.44-fc`` (``uname -r``)."""
    m = re.match(r"(\d+)\.(\d+)", release)
    if not m:
        return Era.V5_9
    version = (int(m.group(1)), int(m.group(2)))
    if version >= (5, 9):
        return Era.V5_9
    if version >= (4, 17):
        return Era.V4_17
    if version >= (3, 5):
        return Era.V3_5
    return Era.V2_6_36


def c_div(a: int, b: int) -> int:
    """C's ``a / b`` on signed integers: truncates toward zero (Python's ``//`` floors)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def global_totalpages(mem_total_kb: int, swap_total_kb: int, page_size: int) -> int:
    """``totalram_pages() + total_swap_pages`` from /proc/meminfo MemTotal and SwapTotal."""
    page_kb = page_size // 1024
    return mem_total_kb // page_kb + swap_total_kb // page_kb


def memory_pages(p: ProcessSnapshot, page_size: int) -> int:
    """rss + swap entries + page-table pages: the memory part of the badness."""
    page_kb = page_size // 1024
    # Each counter is pages << (PAGE_SHIFT - 10) in status, so the kB sums divide exactly.
    return (p.rss_kb + p.swap_kb) // page_kb + p.pgtables_kb * 1024 // page_size


def killable(p: ProcessSnapshot, init_pid: int = 1) -> bool:
    """False for what oom_badness() never picks: global init and oom_score_adj -1000.

    Kernel threads and zombies (no mm) are not in the snapshot at all.
    """
    return p.pid != init_pid and p.oom_score_adj != OOM_SCORE_ADJ_MIN


def badness(
    p: ProcessSnapshot,
    totalpages: int,
    *,
    era: Era = Era.V5_9,
    page_size: int = 4096,
    init_pid: int = 1,
    cap_sys_admin: bool = False,
) -> int | None:
    """The kernel's badness in pages, or None where the kernel never picks the task
    (LONG_MIN in >=5.9, 0 before). ``cap_sys_admin`` matters only before 4.17."""
    if not killable(p, init_pid):
        return None
    points = memory_pages(p, page_size)
    if era is Era.V2_6_36:
        points = points * 1000 // max(totalpages, 1)
        if cap_sys_admin:
            points -= 30
        points += p.oom_score_adj
        return 1 if points <= 0 else min(points, 1000)
    if era is Era.V3_5 and cap_sys_admin:
        points -= points * 3 // 100
    points += p.oom_score_adj * (totalpages // 1000)
    if era is Era.V5_9:
        return points
    return points if points > 0 else 1


def oom_score(bad: int | None, totalpages: int, era: Era = Era.V5_9) -> int:
    """/proc/PID/oom_score for a badness (fs/proc/base.c ``proc_oom_score`` of that era)."""
    if bad is None:
        return 0
    if era is Era.V5_9:
        return c_div((1000 + c_div(bad * 1000, totalpages)) * 2, 3)
    if era is Era.V2_6_36:
        return bad
    return bad * 1000 // totalpages


def rank(
    processes: Sequence[ProcessSnapshot],
    totalpages: int,
    *,
    era: Era = Era.V5_9,
    page_size: int = 4096,
    init_pid: int = 1,
    huge_fraction: float = HUGE_FRACTION,
) -> list[RankedProcess]:
    """Processes in kill order: first = the task ``select_bad_process()`` picks now.

    Ties: since 5.9 ``oom_evaluate_task`` replaces its choice on an equal score,
    so the task scanned *last* wins; older kernels kept the earlier one. Tasks the
    kernel never picks come last, largest first, with ``rank`` None.
    """
    page_kb = page_size // 1024
    step = totalpages // 1000
    huge_pages = totalpages * huge_fraction
    modern = era is Era.V5_9
    eligible: list[tuple[int, int, ProcessSnapshot, int]] = []
    never: list[tuple[int, ProcessSnapshot]] = []
    for p in processes:
        # memory_pages() inlined: this loop runs once per process on every refresh.
        mem = (p.anon_rss_kb + p.file_rss_kb + p.shmem_rss_kb + p.swap_kb) // page_kb \
            + p.pgtables_kb * 1024 // page_size
        if p.pid == init_pid or p.oom_score_adj == OOM_SCORE_ADJ_MIN:
            never.append((mem, p))
        elif modern:
            eligible.append((mem + p.oom_score_adj * step, p.scan_index, p, mem))
        else:
            b = badness(p, totalpages, era=era, page_size=page_size, init_pid=init_pid)
            eligible.append((b or 0, -p.scan_index, p, mem))
    # >= 5.9: an equal score replaces the choice, so the later-scanned task ranks first.
    # (scan_index is unique, so tuple order never reaches the snapshot itself.)
    eligible.sort(reverse=True)
    never.sort(key=lambda x: x[0], reverse=True)
    out = []
    for i, (b, _order, p, mem) in enumerate(eligible, 1):
        adj = p.oom_score_adj
        if modern:  # oom_score() inlined, as above; c_div by hand for a negative badness.
            # b >= -999 * (totalpages // 1000), so q >= -999 and the outer c_div's
            # dividend stays positive, where // is C's division.
            q = b * 1000 // totalpages if b >= 0 else -(-b * 1000 // totalpages)
            score = (2000 + 2 * q) // 3
        else:
            score = oom_score(b, totalpages, era)
        out.append(RankedProcess(p, b, score, i, adj < 0, False, adj < 0 and mem >= huge_pages))
    for mem, p in never:
        adj = p.oom_score_adj
        out.append(RankedProcess(p, None, 0, None, adj < 0, adj == OOM_SCORE_ADJ_MIN,
                                 adj < 0 and mem >= huge_pages))
    return out


def _mib(pages: int, page_size: int) -> str:
    return f"{pages * page_size / 2**20:.1f} MiB"


def explain(
    ranked: Sequence[RankedProcess],
    pid: int,
    totalpages: int,
    *,
    page_size: int = 4096,
    era: Era = Era.V5_9,
    init_pid: int = 1,
) -> list[str]:
    """Why ``pid`` stands where it does, as sentences with the kernel's own arithmetic."""
    index = next((i for i, r in enumerate(ranked) if r.process.pid == pid), None)
    if index is None:
        return [f"PID {pid} is not in this ranking (gone, a kernel thread, or a zombie)."]
    r = ranked[index]
    p = r.process
    page_kb = page_size // 1024
    head = f"PID {p.pid} ({p.name})"
    if p.pid == init_pid:
        return [f"{head} is init: the kernel never kills global init (oom_unkillable_task)."]
    if r.never_kill:
        return [f"{head} has oom_score_adj -1000: oom_badness() returns LONG_MIN, so the OOM "
                "killer never picks it and /proc/PID/oom_score reads 0.",
                *(["It holds a large share of memory: if it is the one growing, the kernel "
                   "kills everything else first."] if r.huge_protected else [])]
    rss = p.rss_kb // page_kb
    swap = p.swap_kb // page_kb
    pte = p.pgtables_kb * 1024 // page_size
    step = totalpages // 1000
    lines = [
        f"{head}: badness {r.badness} pages = rss {rss} (anon {p.anon_rss_kb // page_kb} + "
        f"file {p.file_rss_kb // page_kb} + shmem {p.shmem_rss_kb // page_kb}) + swap {swap} "
        f"+ page tables {pte} + oom_score_adj {p.oom_score_adj} x {step} "
        f"(totalpages {totalpages} // 1000).",
    ]
    if era is Era.V5_9 and r.badness is not None:
        lines.append(f"oom_score = (1000 + {r.badness} * 1000 / {totalpages}) * 2 / 3 = {r.score}.")
    if step == 0 and p.oom_score_adj:
        lines.append("totalpages is under 1000, so oom_score_adj has no effect here.")
    if r.rank == 1:
        nxt = ranked[1] if len(ranked) > 1 else None
        lead = ""
        if nxt is not None and nxt.badness is not None and r.badness is not None:
            lead = (f", {_mib(r.badness - nxt.badness, page_size)} ahead of PID "
                    f"{nxt.process.pid} ({nxt.process.name})")
        lines.append(f"Rank 1: the next victim{lead}.")
    else:
        above = ranked[index - 1]
        gap = (above.badness or 0) - (r.badness or 0)
        lines.append(f"Rank {r.rank}: {_mib(gap, page_size)} of badness behind PID "
                     f"{above.process.pid} ({above.process.name}).")
    if r.protected:
        lines.append(f"oom_score_adj {p.oom_score_adj} lowers its badness by "
                     f"{_mib(-p.oom_score_adj * step, page_size)}.")
    elif p.oom_score_adj > 0:
        lines.append(f"oom_score_adj {p.oom_score_adj} adds "
                     f"{_mib(p.oom_score_adj * step, page_size)} to its badness.")
    if r.huge_protected:
        lines.append("Protected but huge: it holds at least 10% of memory, so smaller "
                     "processes die first if it grows.")
    return lines
