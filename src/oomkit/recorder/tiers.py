"""Who is sampled every second, and which samples are worth a row. Pure.

Reading one /proc file per process costs ~25-50 us; at 1,000 processes every
second that alone is several % of a core. So the daemon reads every process
only on a *full scan* (every ``full_scan_interval``), and on the *fast tier*
(every ``interval``) only the processes that matter:

* the largest (``size // 3`` by RSS + swap) and the fastest-growing (``size // 3``
  with positive growth since the previous full scan);
* the likely victims: the top ``size // 3`` by the kernel's badness over the
  whole machine, and the top 2 by memory in every memory cgroup with a limit;
* every process of a limited cgroup that is more than ``near_limit`` full
  (those are the ones a cgroup OOM will pick from);
* new processes, for ``probation`` seconds after they appear, and processes
  that match a ``[[daemon.watch]]`` rule.

So a process on its way to an OOM kill is on the fast tier before it dies:
either it grew (growth), it is big (largest, victims), or its cgroup filled up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

Key = tuple[int, int]  # (pid, start_ticks)


class Candidate(NamedTuple):
    """What the tier choice looks at for one process."""

    key: Key
    mem_kb: int  # RSS + swap
    growth_kb_s: float
    badness: int  # the kernel's badness over the system (pages); very negative = never
    domain: str | None  # the nearest memory cgroup with a limit, if any
    pinned: bool = False  # new, watched, or in a cgroup near its limit


def choose_fast(candidates: Sequence[Candidate], size: int, per_cgroup: int = 2) -> frozenset[Key]:
    """The fast tier: pinned processes plus the largest, growers, likely victims."""
    chosen: set[Key] = {c.key for c in candidates if c.pinned}
    third = max(1, size // 3)
    by_mem = sorted(candidates, key=lambda c: c.mem_kb, reverse=True)
    chosen.update(c.key for c in by_mem[:third])
    growers = [c for c in candidates if c.growth_kb_s > 0]
    growers.sort(key=lambda c: c.growth_kb_s, reverse=True)
    chosen.update(c.key for c in growers[:third])
    victims = sorted(candidates, key=lambda c: c.badness, reverse=True)
    chosen.update(c.key for c in victims[:third])
    per: dict[str, int] = {}
    for c in by_mem:
        if c.domain is not None and per.get(c.domain, 0) < per_cgroup:
            per[c.domain] = per.get(c.domain, 0) + 1
            chosen.add(c.key)
    return frozenset(chosen)


def should_write(
    last: tuple[float, int, int, int, int, int] | None,
    ts: float, anon: int, file_: int, shmem: int, swap: int, adj: int,
    *, min_kb: int, min_pct: float, heartbeat: float,
) -> bool:
    """Whether a process sample changed meaningfully since the last row written
    (``last`` = ts, anon, file, shmem, swap, adj): a new adj, the heartbeat due, or
    anon / swap / file+shmem moved by at least ``min_kb`` *and* ``min_pct`` %."""
    if last is None:
        return True
    lt, la, lf, ls, lw, ladj = last
    if adj != ladj or ts - lt >= heartbeat:
        return True
    for now, before in ((anon, la), (swap, lw), (file_ + shmem, lf + ls)):
        d = abs(now - before)
        if d >= min_kb and d * 100 >= min_pct * max(before, 1):
            return True
    return False


def within(path: str | None, ancestor: str) -> bool:
    """``path`` is ``ancestor`` or below it."""
    if path is None:
        return False
    a = ancestor.rstrip("/")
    return not a or path == a or path.startswith(a + "/")


def nearest(path: str | None, limited: Iterable[str]) -> str | None:
    """The deepest of ``limited`` that contains ``path``."""
    best: str | None = None
    for cg in limited:
        if within(path, cg) and (best is None or len(cg) > len(best)):
            best = cg
    return best
