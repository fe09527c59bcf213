"""Who dies next: the query behind `oomkit top` (and, later, the web UI and metrics).

``top_by_oom_score()`` reads every process once (procscan.scan_processes), ranks
them with the kernel's badness (scoring.rank) over the system's totalpages, and
ranks each process again inside the memory cgroup whose limit would kill it
(``cgroups.oom_totalpages``). ``to_json()`` is the documented ``--json`` shape
(docs/top.md). Nothing here prints.
"""

from __future__ import annotations

import os
import pwd
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from oomkit import cgroups, procfs, procscan, scoring
from oomkit.errors import UsageError
from oomkit.owner import owner_of
from oomkit.procmodels import CgroupMemory, CgroupRank, Owner, ProcessSnapshot, RankedProcess


class TopResult(NamedTuple):
    """A ranking: ``processes`` in kill order for ``scope`` ("system" or a cgroup path)."""

    processes: tuple[RankedProcess, ...]
    scope: str
    totalpages: int  # what the ranking used: RAM + swap, or the cgroup's mem_cgroup_get_max()
    system_totalpages: int  # what /proc/PID/oom_score uses
    page_size: int
    era: scoring.Era
    cgroup: CgroupMemory | None
    taken_at: float  # time.monotonic() of the read, for growth rates
    notes: tuple[str, ...] = ()


class Machine(NamedTuple):
    """Where to read from (fake trees in tests)."""

    proc_root: procfs.StrPath = procfs.PROC
    cgroup_root: procfs.StrPath = cgroups.CGROUP_ROOT
    release: str | None = None  # uname -r; None = this kernel
    page_size: int = procfs.PAGE_SIZE


def _era(machine: Machine) -> scoring.Era:
    return scoring.era_for(machine.release or os.uname().release)


def _domains(
    limited: Sequence[CgroupMemory], processes: Sequence[ProcessSnapshot], swap_pages: int,
    vm_swappiness: int, machine: Machine, era: scoring.Era,
) -> dict[int, CgroupRank]:
    """pid -> its rank inside the nearest ancestor cgroup that has a limit."""
    by_path = {cg.path: cg for cg in limited}
    nearest: dict[str | None, str | None] = {}
    members: dict[str, list[ProcessSnapshot]] = {}
    for p in processes:
        if p.cgroup not in nearest:  # one ancestry walk per distinct cgroup, not per process
            nearest[p.cgroup] = next((a for a in reversed(cgroups.ancestry(p.cgroup or "/"))
                                      if a in by_path), None)
        found = nearest[p.cgroup]
        if found is not None:
            members.setdefault(found, []).append(p)
    out: dict[int, CgroupRank] = {}
    for path, procs in members.items():
        cg = by_path[path]
        tp = cgroups.oom_totalpages(cg, swap_pages, vm_swappiness, machine.page_size)
        # every process in the subtree competes, not only those whose nearest limit this is
        inside = [p for p in processes if p.cgroup and _within(p.cgroup, path)]
        ranked = scoring.rank(inside, tp, era=era, page_size=machine.page_size)
        eligible = sum(1 for r in ranked if r.rank is not None)
        mine = {p.pid for p in procs}
        for r in ranked:
            if r.rank is not None and r.process.pid in mine:
                out[r.process.pid] = CgroupRank(path, tp, r.rank, eligible, r.score)
    return out


def _within(path: str, ancestor: str) -> bool:
    a = ancestor.rstrip("/")
    return not a or path == a or path.startswith(a + "/")


def _growth(now: Sequence[RankedProcess], before: TopResult | None, t: float) -> list[RankedProcess]:
    if before is None or t <= before.taken_at:
        return list(now)
    old = {r.process.pid: r.process for r in before.processes}
    dt = t - before.taken_at
    out = []
    for r in now:
        prev = old.get(r.process.pid)
        if prev is not None and prev.name == r.process.name:
            delta = (r.process.rss_kb + r.process.swap_kb) - (prev.rss_kb + prev.swap_kb)
            r = r._replace(growth_kb_s=delta / dt)
        out.append(r)
    return out


def _scope(
    memory: cgroups.Hierarchy | None, path: str, page_size: int
) -> tuple[CgroupMemory, CgroupMemory | None, str | None]:
    """The cgroup asked for, the cgroup whose limit would start its OOM (itself or the
    nearest limited ancestor, None if there is none), and a note when they differ."""
    if memory is None:
        raise UsageError("--cgroup needs the memory controller, and none is mounted here")
    cg = cgroups.read_memory(memory, path, page_size)
    if cg is None:
        raise UsageError(f"--cgroup {path}: no such memory cgroup under {memory.mount}")
    if cg.limit_bytes is not None:
        return cg, cg, None
    chain = [c for c in cgroups.chain(memory, path, page_size) if c.limit_bytes is not None]
    if chain:
        return cg, chain[-1], (f"{path} has no memory limit of its own; ranked with the limit "
                               f"of {chain[-1].path}, which would OOM first")
    return cg, None, (f"{path} has no memory limit of its own or above it: a cgroup OOM "
                      "cannot start there; ranked with RAM + swap")


def take(
    *, cgroup: str | None = None, with_cmdline: bool = False, machine: Machine | None = None,
    previous: TopResult | None = None, clock: Callable[[], float] = time.monotonic,
    records: Callable[[], Sequence[procscan.Record]] | None = None,
) -> TopResult:
    """One ranking now; growth rates are computed against ``previous`` when given.
    ``records``: the result of a scan of every PID begun earlier (quick.py)."""
    m = machine or Machine()
    era = _era(m)
    meminfo = procfs.read_meminfo(m.proc_root)
    swap_pages = meminfo.get("SwapTotal", 0) * 1024 // m.page_size
    system_tp = scoring.global_totalpages(meminfo["MemTotal"], meminfo.get("SwapTotal", 0),
                                          m.page_size)
    vm_swappiness = int(procfs.read_sysctl("vm.swappiness", m.proc_root) or 60)
    h = cgroups.find_display(m.proc_root, m.cgroup_root)
    memory = h if h is not None and h.has_memory else None
    scope_cg = domain = None
    note = None
    if cgroup is not None:
        scope_cg, domain, note = _scope(memory, cgroup, m.page_size)
    by_pid = cgroups.pids_by_cgroup(h, under=cgroup) if h is not None else {}
    t = clock()
    procs = procscan.scan_processes(
        m.proc_root, pids=list(by_pid) if cgroup is not None else None, cgroups=by_pid,
        records=records() if records is not None and cgroup is None else None,
        cgroup_from_file=(lambda lines: cgroups.path_of(h, lines)) if h is not None else None,
        with_cmdline=with_cmdline,
    )
    if domain is not None:  # a cgroup OOM: its limit is totalpages; scores stay on /proc's scale
        tp = cgroups.oom_totalpages(domain, swap_pages, vm_swappiness, m.page_size)
        ranked = scoring.rank(procs, tp, era=era, page_size=m.page_size)
        of = sum(1 for r in ranked if r.rank is not None)
        ranked = [r._replace(
            score=scoring.oom_score(scoring.badness(r.process, system_tp, era=era,
                                                       page_size=m.page_size), system_tp, era),
            memcg=CgroupRank(domain.path, tp, r.rank, of, r.score) if r.rank else None,
        ) for r in ranked]
    else:
        tp = system_tp
        ranked = scoring.rank(procs, tp, era=era, page_size=m.page_size)
        limited = cgroups.limited(memory, m.page_size) if memory is not None else []
        if limited:
            ranks = _domains(limited, procs, swap_pages, vm_swappiness, m, era)
            ranked = [r._replace(memcg=ranks[r.process.pid]) if r.process.pid in ranks else r
                      for r in ranked]
    return TopResult(
        processes=tuple(_growth(ranked, previous, t)), scope=cgroup or "system",
        totalpages=tp, system_totalpages=system_tp, page_size=m.page_size, era=era,
        cgroup=scope_cg, taken_at=t, notes=(note,) if note else (),
    )


def top_by_oom_score(
    *, cgroup: str | None = None, with_cmdline: bool = False, interval: float | None = None,
    machine: Machine | None = None, sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    records: Callable[[], Sequence[procscan.Record]] | None = None,
) -> TopResult:
    """The ranking now; with ``interval`` seconds, sampled twice so growth rates are known.
    ``records``: a scan of every PID begun earlier, used for the (first) sample."""
    first = None
    if interval:
        first = take(cgroup=cgroup, machine=machine, clock=clock, records=records)
        records = None
        sleep(interval)
    return take(cgroup=cgroup, with_cmdline=with_cmdline, machine=machine, previous=first,
                clock=clock, records=records)


_users: dict[int, str] = {}
_owners: dict[str | None, Owner | None] = {}


def user_name(uid: int) -> str:
    """The login name of ``uid`` (cached), or the number when it has none."""
    name = _users.get(uid)
    if name is None:
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = str(uid)
        _users[uid] = name
    return name


def owner(path: str | None) -> Owner | None:
    """owner_of(), cached per cgroup path."""
    if path not in _owners:
        _owners[path] = owner_of(path)
    return _owners[path]


_owner_docs: dict[str | None, dict[str, Any] | None] = {}


def _owner_json(path: str | None) -> dict[str, Any] | None:
    """The ``owner`` object of a cgroup path (cached: thousands of processes share a few)."""
    if path in _owner_docs:
        return _owner_docs[path]
    o = owner(path)
    doc = None if o is None else {
        k: v for k, v in (("kind", o.kind), ("name", o.name), ("unit", o.unit),
                          ("container_id", o.container_id), ("pod_uid", o.pod_uid))
        if v is not None}
    _owner_docs[path] = doc
    return doc


def process_json(r: RankedProcess) -> dict[str, Any]:
    """One entry of ``processes`` in `top --json` (docs/top.md)."""
    p = r.process
    d: dict[str, Any] = {
        "pid": p.pid, "name": p.name, "user": user_name(p.uid), "uid": p.uid,
        "score": r.score, "badness": r.badness, "rank": r.rank,
        "oom_score_adj": p.oom_score_adj,
        "anon_rss_kb": p.anon_rss_kb, "file_rss_kb": p.file_rss_kb,
        "shmem_rss_kb": p.shmem_rss_kb, "swap_kb": p.swap_kb, "pgtables_kb": p.pgtables_kb,
        "cgroup": p.cgroup, "owner": _owner_json(p.cgroup),
        "protected": r.protected, "never_kill": r.never_kill,
        "protected_but_huge": r.huge_protected,
        "cgroup_rank": None, "growth_kb_s": None if r.growth_kb_s is None
        else round(r.growth_kb_s, 1),
    }
    if r.memcg is not None:
        c = r.memcg
        d["cgroup_rank"] = {"cgroup": c.path, "totalpages": c.totalpages, "rank": c.rank,
                            "of": c.of, "score": c.score}
    if p.cmdline is not None:
        d["cmdline"] = p.cmdline
    return d


def json_document(result: TopResult) -> str:
    """`top --json` as printed: to_json(result) as one compact line, written directly.

    Monitoring scripts poll this at thousands of processes, where building a dict
    per process and encoding it with json.dumps took a quarter of the run; here
    each process is one format string with its text fields encoded once per
    distinct value. tests/test_quick.py checks it equals json.dumps(to_json())
    byte for byte, on the live machine and with every optional field set.
    """
    import json

    enc = json.JSONEncoder(separators=(",", ":")).encode
    # The text fields repeat across thousands of processes: encode each pair once.
    idents: dict[tuple[str, int], str] = {}  # (name, uid) -> "name":..,"user":..,"uid":..
    places: dict[str | None, str] = {}  # cgroup -> "cgroup":..,"owner":..

    def ident(p: ProcessSnapshot) -> str:
        found = idents[p.name, p.uid] = (f'"name":{enc(p.name)},"user":{enc(user_name(p.uid))},'
                                         f'"uid":{p.uid}')
        return found

    def place(path: str | None) -> str:
        found = places[path] = f'"cgroup":{enc(path)},"owner":{enc(_owner_json(path))}'
        return found

    head = enc({k: v for k, v in to_json(result._replace(processes=())).items()
                if k != "processes"})
    b = ("false", "true")
    lines = []
    for r in result.processes:
        p = r.process
        c = r.memcg
        rank = "null" if c is None else (
            f'{{"cgroup":{enc(c.path)},"totalpages":{c.totalpages},"rank":{c.rank},'
            f'"of":{c.of},"score":{c.score}}}')
        g = r.growth_kb_s
        tail = "" if p.cmdline is None else f',"cmdline":{enc(p.cmdline)}'
        lines.append(
            f'{{"pid":{p.pid},{idents.get((p.name, p.uid)) or ident(p)},"score":{r.score},'
            f'"badness":{"null" if r.badness is None else r.badness},'
            f'"rank":{"null" if r.rank is None else r.rank},'
            f'"oom_score_adj":{p.oom_score_adj},"anon_rss_kb":{p.anon_rss_kb},'
            f'"file_rss_kb":{p.file_rss_kb},"shmem_rss_kb":{p.shmem_rss_kb},'
            f'"swap_kb":{p.swap_kb},"pgtables_kb":{p.pgtables_kb},'
            f'{places.get(p.cgroup) or place(p.cgroup)},'
            f'"protected":{b[r.protected]},"never_kill":{b[r.never_kill]},'
            f'"protected_but_huge":{b[r.huge_protected]},"cgroup_rank":{rank},'
            f'"growth_kb_s":{"null" if g is None else enc(round(g, 1))}{tail}}}')
    return f'{head[:-1]},"processes":[{",".join(lines)}]}}\n'


def to_json(result: TopResult) -> dict[str, Any]:
    """The `top --json` document: ``processes`` in kill order, first = next victim."""
    cg = result.cgroup
    return {
        "scope": result.scope,
        "totalpages": result.totalpages,
        "system_totalpages": result.system_totalpages,
        "page_size": result.page_size,
        "kernel_era": result.era.value,
        "cgroup_limit_bytes": cg.limit_bytes if cg is not None else None,
        "notes": list(result.notes),
        "processes": [process_json(r) for r in result.processes],
    }
