"""Plain-words verdicts and remedies for one OOM event. Pure functions.

Every sentence follows the kernel's documented behaviour (docs/kernel-oom.md):
total-vm is address space, not use; the victim is the task with the highest
badness (RSS + swap + page tables, shifted by oom_score_adj) within the
cgroup or machine that ran out, not the allocating task and not the fastest
grower; there is no root discount since Linux 4.17; overcommit mode 1 never
refuses, mode 2 refuses past CommitLimit; memory.high never OOM-kills.
"""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import NamedTuple

from oomkit.explain_accounting import (
    NOTABLE,
    limit_lowered,
    outside_processes,
    outsider,
    report_version,
    rss_beyond_charge,
    rss_counts_shared,
    tasks_rss_kb,
)
from oomkit.explain_memory import (
    constrained_nodes,
    fragmentation,
    fragmentation_remedies,
    machine_remedies,
    node_remedies,
    oomd_reason,
)
from oomkit.explain_remedies import limit_remedy, victim_name
from oomkit.kernel_log.systemd_units import noted_only
from oomkit.models import EventKind, Killer, OomEvent, TaskRow
from oomkit.owner import kube_qos, owner_of, slurm_step
from oomkit.procmodels import CgroupNow, Owner
from oomkit.units import human_kb


class Explanation(NamedTuple):
    """What happened (``verdict``), the supporting facts, and what to do."""

    headline: str
    verdict: str
    details: tuple[str, ...]
    remedies: tuple[str, ...]


def _owner_words(owner: Owner | None) -> str:
    if owner is None or owner.kind == "cgroup":
        return ""
    return f" ({owner.name})"


def _big_tasks(tasks: tuple[TaskRow, ...], victim_pid: int | None, page_kb: int) -> list[str]:
    ranked = sorted(
        (t for t in tasks if t.rss_pages is not None and (t.tgid or t.pid) != victim_pid),
        key=lambda t: (t.rss_pages or 0) + (t.swapents_pages or 0),
        reverse=True,
    )
    out = []
    for t in ranked[:3]:
        adj = f", oom_score_adj {t.oom_score_adj}" if t.oom_score_adj else ""
        swap = (
            f" + {human_kb(t.swapents_pages * page_kb)} swap" if t.swapents_pages else ""
        )
        out.append(
            f"{t.name} (pid {t.tgid or t.pid}): {human_kb((t.rss_pages or 0) * page_kb)} RSS"
            f"{swap}{adj}"
        )
    return out


def _victim_row(event: OomEvent) -> list[str]:
    """The victim's task-table row, when its own line gives no numbers (cut, ratelimited
    or from before 2.6.3x): the row is in pages, whose size only that line tells."""
    v = event.victim
    row = next((t for t in event.tasks if v is not None and v.pid in (t.tgid, t.pid)
                and t.rss_pages is not None), None)
    if v is None or row is None or row.rss_pages is None:
        return []
    pk = event.page_size_kb or 4
    swap = f" and {human_kb(row.swapents_pages * pk)} in swap" if row.swapents_pages else ""
    assumed = "" if event.page_size_kb else " (pages of 4 KiB assumed: the log does not say)"
    return [f"{v.name or 'The victim'}'s row in the task table: {human_kb(row.rss_pages * pk)}"
            f" resident{swap}{assumed}."]


def _victim_numbers(event: OomEvent) -> list[str]:
    v = event.victim
    if v is None or v.anon_rss_kb is None:
        return _victim_row(event)
    files = ("" if v.file_rss_kb is None else  # a victim line cut after anon-rss
             f", {human_kb(v.file_rss_kb)} of file pages (its program and mapped files)")
    lines = [
        f"{v.name or 'The victim'} held {human_kb(v.anon_rss_kb)} of anonymous memory (what it"
        f" allocated and touched: heap, stacks){files}"
        + (f" and {human_kb(v.shmem_rss_kb)} of shared memory (tmpfs, /dev/shm, shmem)"
           if v.shmem_rss_kb else "")
        + "."
        # Swapped-out pages count in the badness (get_mm_counter(MM_SWAPENTS), mm/oom_kill.c)
        # but not in any RSS figure: without them a victim can look smaller than the rest.
        + (f" Another {human_kb(v.swap_kb)} of its memory was in swap." if v.swap_kb else "")
    ]
    if v.total_vm_kb is not None:
        lines.append(
            f"Its total-vm of {human_kb(v.total_vm_kb)} is address space it had reserved, not"
            " memory in use; it plays no part in the choice."
        )
    if v.shmem_rss_kb and v.anon_rss_kb is not None and (
            v.shmem_rss_kb > v.anon_rss_kb + (v.file_rss_kb or 0)):
        lines.append(
            "Most of it was shared memory: killing the process frees it only if nothing"
            " else maps it and no tmpfs file keeps it (files in /dev/shm outlive the process)."
        )
    elif v.file_rss_kb and v.file_rss_kb >= 16 * 1024 and v.file_rss_kb > (
            (v.anon_rss_kb or 0) + (v.shmem_rss_kb or 0)):
        # MM_FILEPAGES is in get_mm_rss(), which oom_badness() ranks by (mm/oom_kill.c).
        lines.append(
            "Most of it was file pages (files it had mapped: its program, libraries, data"
            " files): they count in the badness like any other memory. Reclaim had"
            " not freed them (pages in use, dirty, or locked with mlock stay); once no process"
            " maps them they are page cache the kernel can drop."
        )
    return lines


def _cgroup_pages(event: OomEvent) -> int | None:
    """The cgroup limit in pages, when the report shows it (totalpages of a memcg OOM)."""
    if event.global_oom is not False or event.memory is None or event.memory.limit_kb is None:
        return None
    return event.memory.limit_kb // (event.page_size_kb or 4)


def _short(path: str) -> str:
    """A cgroup by its owner's name (a unit, a container, a pod) when it has one."""
    o = owner_of(path)
    return o.name if o is not None and o.kind != "cgroup" else path


# The victim line's message when vm.oom_kill_allocating_task is set (mm/oom_kill.c,
# out_of_memory(): "Out of memory (oom_kill_allocating_task)"; not for memcg OOMs).
_ALLOCATING = "Out of memory (oom_kill_allocating_task)"


def _allocating(event: OomEvent) -> bool:
    return (event.message or "").startswith(_ALLOCATING)


def _choice(event: OomEvent) -> list[str]:
    if _allocating(event):
        return []  # nothing was compared; the verdict says why this process
    v = event.victim
    out = []
    nodes = constrained_nodes(event)
    scope = ("that cgroup" if event.global_oom is False
             else f"the {nodes}, among the processes allowed there" if nodes is not None
             else "the machine" if event.global_oom
             else "the cgroup or machine that ran out")  # a cut report may not say which
    out.append(
        f"The kernel picks the process with the highest badness in {scope}: its RSS + swap +"
        " page tables, shifted by oom_score_adj; not the one that asked for memory, and not the"
        " fastest grower."
    )
    parent, own = event.memcg, event.task_memcg
    if (event.global_oom is False and parent and own and own.startswith(parent.rstrip("/") + "/")
            and _short(parent) != _short(own)):  # not a runtime's own sub-cgroup (".../container")
        # mem_cgroup_scan_tasks() walks the whole subtree of the cgroup that hit its limit.
        out.append(
            f"The limit was that of {_short(parent)}, above the victim's own cgroup"
            f" ({_short(own)}): every process under it counted against the limit, and the"
            " kernel chose among all of them."
        )
    pages = _cgroup_pages(event)
    if v is not None and v.oom_score_adj and pages is not None and pages < 1000:
        out.append(
            f"Its oom_score_adj of {v.oom_score_adj} had no effect: the kernel adds adj times"
            f" (total pages // 1000), and this cgroup's limit is only {pages} pages."
        )
    elif v is not None and v.oom_score_adj:
        if v.oom_score_adj > 0:
            out.append(
                f"Its oom_score_adj of {v.oom_score_adj} made it a preferred victim"
                f" ({v.oom_score_adj / 10:.0f}% of {scope}'s memory added to its score)."
            )
        else:
            out.append(
                f"It had oom_score_adj {v.oom_score_adj} (protected), and was still the worst"
                " candidate."
            )
    t = event.trigger
    if limit_lowered(event) and outsider(event):
        t = None  # it wrote the limit; it was not allocating (said with the limit)
    if t is not None and v is not None and t.name and v.name and (
        (t.pid is not None and t.pid != v.pid) or (t.pid is None and t.name != v.name)
    ):
        who = f"{t.name}" + (f" (pid {t.pid})" if t.pid is not None else "")
        out.append(f"The allocation that could not be satisfied was {who}'s; it was not the victim.")
    if t is not None and t.order == -1:
        out.append(
            "order=-1 means the OOM killer was forced from sysrq (Alt+SysRq+F or"
            " `echo f > /proc/sysrq-trigger`), not by a failed allocation."
        )
    if t is not None and t.order is not None and t.order > 0 and fragmentation(event) is None:
        out.append(
            f"The request was order {t.order} ({2 ** t.order} contiguous pages): such requests"
            " can fail from fragmentation even with free memory."
        )
    return out


def headline(event: OomEvent) -> str:
    """The one-line title of an event; cheap (lists show it without the full explanation)."""
    if event.kind is EventKind.USERSPACE_KILL:
        if event.victim_exited is False:
            return f"{event.killer.value} could not kill"
        return f"killed by {event.killer.value}"
    if event.kind is EventKind.PANIC:
        return "kernel panic on out-of-memory"
    if event.kind is EventKind.NO_VICTIM:
        return "out of memory, nothing killable"
    if event.trigger is not None and event.trigger.order == -1:
        return "OOM killer forced by sysrq"
    if event.global_oom is False:
        return f"cgroup limit hit: {event.memcg or 'a memory cgroup'}"
    nodes = constrained_nodes(event)
    if nodes is not None:
        return f"{nodes} out of memory"
    if event.global_oom:
        return "machine out of memory"
    if noted_only(event):
        return f"OOM kill noted by systemd: {event.units[0]}"
    if event.slurm is not None and event.victim is None:
        return f"OOM kill counted by Slurm: job {event.slurm.job} step {event.slurm.step}"
    return "killed by the OOM killer" if event.victim is not None else "OOM killer invoked"


def _no_victim(event: OomEvent, details: list[str], remedies: list[str]) -> Explanation:
    """Nothing was killed: say whether the cgroup had no process at all, or only
    unkillable ones (oom_score_adj -1000, exiting, kernel threads: oom_badness())."""
    where = f"the cgroup {event.memcg}" if event.memcg else "the machine"
    # A cut or grep-filtered report may have lost its rows: only a complete one tells.
    empty = (event.memcg is not None and event.complete and event.tasks_listed
             and not event.tasks)
    why = ("it held no process: its task table is empty" if empty else
           "every candidate had oom_score_adj -1000, was already exiting, or was a kernel thread")
    verdict = (f"{where[0].upper()}{where[1:]} ran out of memory but the kernel found no process"
               f" it was allowed to kill ({why}).")
    lowered = limit_lowered(event)
    if lowered:
        details.append(lowered)
    if empty:
        usage = event.memory.usage_kb if event.memory else None
        held = f"Its {human_kb(usage)} of usage" if usage is not None else "What it was charged"
        kmem = event.kmem.usage_kb if event.kmem else None  # v1 prints kernel memory apart
        of_it = (f", {human_kb(kmem)} of it kernel memory (the report's kmem line)"
                 if kmem and usage else "")
        details.append(
            f"{held} was memory no process in it held: files in a tmpfs or shared memory, page"
            f" cache, kernel memory{of_it}. No kill can give it back."
        )
        keys = "cache, shmem, dirty" if report_version(event) == 1 else "file, shmem, kernel"
        remedies.append(
            f"Find what holds it: the cgroup's memory.stat ({keys}) and the files in its tmpfs"
            " mounts; delete what is not needed, or give the cgroup a limit above that memory."
        )
    else:
        remedies.append("Do not give every process oom_score_adj -1000; leave something killable.")
    return Explanation(headline(event), verdict, tuple(details), tuple(remedies))


def explain(
    event: OomEvent,
    *,
    owner: Owner | None = None,
    now: CgroupNow | None = None,
    cgroup_version: int | None = None,
) -> Explanation:
    """The explanation of one event."""
    who = victim_name(event)
    details: list[str] = []
    remedies: list[str] = []
    page_kb = event.page_size_kb or 4
    if event.kind is EventKind.USERSPACE_KILL:
        return _userspace(event, who, owner)
    if noted_only(event):
        return _unit_notes(event)
    if event.slurm is not None and event.victim is None:
        return _slurm_note(event)
    if event.kind is EventKind.PANIC:
        msg = event.panic_message or ""
        if "no killable" in msg or "deadlocked" in msg:
            # oom_evaluate_task() skips -1000, kernel threads and victims already reaped
            # (MMF_OOM_SKIP): after a run of kills, only those may be left.
            verdict = (
                "The machine ran out of memory, found no process it was allowed to kill (every"
                " candidate had oom_score_adj -1000, was a kernel thread, or had been killed"
                f" already), and the kernel panicked: {msg}"
            )
            if not event.slab_caches:  # with them, the kernel's memory is the matter
                remedies.append(
                    "Leave killable processes: do not set oom_score_adj -1000 on everything.")
        elif "compulsory" in msg:
            # check_panic_on_oom() (mm/oom_kill.c): "compulsory" is panic_on_oom=2, which
            # panics on every OOM, a cgroup's limit included; "system-wide" is 1, which
            # panics only when the whole machine ran out.
            which = ("a memory cgroup reached its limit" if event.global_oom is False else
                     "the whole machine ran out of memory" if event.global_oom
                     else "an OOM occurred (a cgroup's limit or the machine's memory: the log"
                     " does not say which)")
            verdict = (
                f"{which[0].upper()}{which[1:]} and the kernel panicked instead of killing a"
                f" process, because vm.panic_on_oom=2 panics on every OOM, cgroup limits"
                f" included ({msg})."
            )
        else:
            verdict = (
                "The machine ran out of memory and the kernel panicked instead of killing a"
                " process, because vm.panic_on_oom is set" + (f" ({msg})" if msg else "") + "."
            )
            remedies.append(
                "If a panic is not wanted, set `sysctl vm.panic_on_oom=0` (1 panics only on"
                " whole-machine OOMs, 2 on every OOM including cgroup limits)."
            )
        outside = outside_processes(event)  # where the RAM went, when no process held it
        if outside:
            details.append(outside[0])
            remedies.extend(outside[1:])
        details.extend(f"Not in the log: {m}." for m in event.missing)
        return Explanation(headline(event), verdict, tuple(details), tuple(remedies))
    if event.kind is EventKind.NO_VICTIM:
        return _no_victim(event, details, remedies)
    if event.trigger is not None and event.trigger.order == -1:
        verdict = (
            f"The OOM killer was forced from sysrq (Alt+SysRq+F or `echo f >"
            f" /proc/sysrq-trigger`) and killed {who}, the process with the highest score."
            " Memory did not necessarily run out."
        )
        remedies.append(
            "If nobody meant to do this, find what writes to /proc/sysrq-trigger; `sysctl"
            " kernel.sysrq=0` disables the keyboard combination."
        )
    elif event.global_oom is False:
        limit = event.memory.limit_kb if event.memory else None
        usage = event.memory.usage_kb if event.memory else None
        where = (
            f"the memory cgroup {event.memcg}" if event.memcg else
            "a memory cgroup (the log does not say which: the lines that name it are not in it)"
        )
        verdict = (
            f"The kernel OOM killer killed {who} because {where}"
            f"{_owner_words(owner)} reached its limit"
            + (f" of {human_kb(limit)}" if limit is not None else "")
            + (f" (usage {human_kb(usage)})" if usage is not None else "")
            + ". The machine as a whole was not out of memory; only this cgroup was."
        )
        if event.memsw and event.memsw.limit_kb is not None:
            details.append(
                f"Its memory+swap limit was {human_kb(event.memsw.limit_kb)}"
                f" (usage {human_kb(event.memsw.usage_kb)})."
            )
        if event.swap and event.swap.limit_kb is not None:  # cgroup v2: memory.swap.max
            full = event.swap.usage_kb >= event.swap.limit_kb
            details.append(
                f"Its swap limit was {human_kb(event.swap.limit_kb)}"
                f" (usage {human_kb(event.swap.usage_kb)})"
                + (": full, so no more of its memory could be swapped out." if full else ".")
            )
        lowered = limit_lowered(event)
        if lowered:
            details.append(lowered)
        held = tasks_rss_kb(event)
        if held is not None and usage and held < usage / 2:
            details.append(
                f"Its processes held only {human_kb(held)} in RAM (their RSS in the task table) of"
                f" the {human_kb(usage)} charged to the cgroup. The other"
                f" {human_kb(usage - held)} was memory none of them mapped, which killing them"
                " does not give back: file pages (page cache the kernel could not reclaim in"
                " time, such as dirty data waiting for a slow disk), files in a tmpfs such as"
                " /dev/shm, or kernel memory (slab, sockets). The report's \"Memory cgroup"
                " stats\" lines say which."
            )
            keys = ("cache, shmem, dirty" if report_version(event) == 1
                    else "file, file_dirty, shmem, slab")
            remedies.append(
                f"Find what holds the cgroup's memory outside its processes: its memory.stat"
                f" ({keys}) and the files in its tmpfs mounts. A higher limit helps only if"
                " that memory is needed."
            )
        if now is not None and now.limit_kb is not None and limit is not None:
            if now.limit_kb != limit:
                details.append(f"The cgroup still exists; its limit is now {human_kb(now.limit_kb)}.")
            else:
                details.append(
                    f"The cgroup still exists with the same limit ({human_kb(now.limit_kb)}):"
                    " it will happen again if the job needs as much."
                )
        remedies.append(limit_remedy(event, owner, now, cgroup_version))
    elif event.global_oom:
        verdict = (
            f"The kernel OOM killer killed {who} because the whole machine ran out of memory:"
            " RAM and swap were exhausted and reclaim could not free enough."
        )
        total_swap, free_swap = event.total_swap_kb, event.free_swap_kb
        if total_swap and free_swap is not None and free_swap >= NOTABLE * total_swap:
            # The kernel gives up when reclaim makes no progress (mm/page_alloc.c,
            # should_reclaim_retry), not only when swap is full.
            verdict = (
                f"The kernel OOM killer killed {who} because the whole machine ran out of"
                " memory: RAM was full and reclaim could not free enough, although swap still"
                f" had {human_kb(free_swap)} free. What filled RAM could not be swapped out"
                " fast enough, or at all (kernel memory, locked or unevictable pages)."
            )
        if event.ram_pages and event.page_size_kb:
            reserved = event.reserved_pages or 0
            # "pages reserved" (show_mem(): totalram vs managed) is RAM the kernel set aside
            # at boot; a crashkernel= region, large huge page pools or firmware can make it big
            aside = (f"; {human_kb(reserved * event.page_size_kb)} of it ({reserved} pages"
                     " reserved) was set aside at boot (the kernel itself, crashkernel=, firmware)"
                     " and never usable" if reserved * 10 >= event.ram_pages else "")
            details.append(f"The machine had {human_kb(event.ram_pages * event.page_size_kb)} of RAM"
                           f" ({event.ram_pages} pages RAM in the report){aside}.")
        if event.total_swap_kb == 0:
            details.append("The machine had no swap, so every page of anonymous memory had to stay in RAM.")
        elif event.total_swap_kb is not None and event.free_swap_kb is not None:
            details.append(
                f"Swap: {human_kb(event.free_swap_kb)} free of {human_kb(event.total_swap_kb)}."
            )
        outside = outside_processes(event)
        if outside:
            details.append(outside[0])
            remedies.extend(outside[1:])
        own = event.task_memcg
        if own and own != "/":  # whose process it was: a container, an app, a job
            name = _short(own)
            details.append(f"{who} ran in {name} (cgroup {own})." if name != own
                           else f"{who} ran in the cgroup {own}.")
        if event.constraint is None and event.ram_pages is None and event.total_swap_kb is None:
            # Only the victim line's message ("Out of memory", not "Memory cgroup out of
            # memory") says so; a cpuset or memory policy OOM prints the same message.
            details.append(
                f"The kernel's message \"{event.message or 'Out of memory'}\" (not \"Memory"
                " cgroup out of memory\") says no cgroup limit was hit; the rest of the report"
                " is not in the log, so a cpuset or NUMA memory policy that ran out (rare) cannot"
                " be ruled out."
            )
        nodes = constrained_nodes(event)
        if nodes is not None:
            verdict = (
                f"The kernel OOM killer killed {who} because the memory of the {nodes} that"
                " this allocation was allowed to use ran out; not the whole machine's, whose"
                " other nodes may have had memory free."
            )
            remedies.extend(node_remedies(event))
        elif (frag := fragmentation(event)) is not None:
            verdict = (
                f"The kernel OOM killer killed {who} because a request for"
                f" {frag[0]} of contiguous memory could not be served: the free memory was in"
                " pieces too small (fragmented)."
            )
            details.insert(0, frag[1])
            remedies.extend(fragmentation_remedies())
            remedies.append("With less memory in use there is more to compact: add RAM, or"
                            " run fewer memory-hungry jobs at once.")
        else:
            remedies.extend(machine_remedies(event))
    else:
        t = event.trigger
        asker = ("" if t is None else f" when {t.name}" + (f" (pid {t.pid})" if t.pid else "")
                 + " asked for memory")
        verdict = (
            f"The kernel OOM killer killed {who}." if event.victim is not None else
            f"The kernel OOM killer was invoked{asker}; the log is cut before it names a"
            " victim."
        )
        if event.missing:
            details.append(
                "This log does not say whether a cgroup limit or the whole machine ran out"
                " (the report is incomplete)."
            )
    if _allocating(event):
        verdict = (
            f"The kernel killed {who}, the process that was asking for memory when it ran out:"
            " vm.oom_kill_allocating_task is set, so the kernel compared no processes and"
            " killed the one allocating. This was not a cgroup limit (the setting is ignored"
            " for those): the machine, or the NUMA nodes its cpuset or memory policy allows,"
            " ran out."
        )
        details = [d for d in details if not d.startswith("This log does not say whether")]
        remedies.insert(0, (
            "To have the kernel kill the process with the highest badness instead (usually the"
            " biggest), set `sysctl vm.oom_kill_allocating_task=0`, the default."))
    details.extend(_victim_numbers(event))
    details.extend(_choice(event))
    others = _big_tasks(event.tasks, event.victim.pid if event.victim else None, page_kb)
    if others:
        # Rows without their header are a paste of part of the table (task_rows.py): a
        # bigger process may be in the part that is not here.
        among = "" if event.tasks_listed else " (among the rows of the table in this log)"
        details.append(f"Also big at that moment{among}: " + "; ".join(others) + ".")
        shared = rss_counts_shared(event)
        if shared:
            details.append(shared)
    beyond = rss_beyond_charge(event)
    if beyond:
        details.append(beyond)
    if event.extra_victims:
        names = ", ".join(f"{v.name} ({v.pid})" for v in event.extra_victims)
        why = " (memory.oom.group)" if event.oom_group else " (they shared its memory)"
        details.append(f"Killed with it{why}: {names}.")
    if event.reaped is not None and event.reaped.anon_rss_kb is not None:
        details.append(
            f"The oom_reaper freed its memory right after (anon left: {human_kb(event.reaped.anon_rss_kb)})."
        )
    if event.suppressed_headers:
        details.append(
            f"The kernel suppressed {event.suppressed_headers} earlier report header(s) by"
            " ratelimit: there were more OOMs than full reports."
        )
    details.extend(event.notes)
    if event.missing:
        details.append("Not in the log: " + "; ".join(event.missing) + ".")
    v = event.victim
    if v is not None and v.name:
        remedies.append(
            f"Reduce what {v.name} needs (process smaller batches, cap its caches or heap, e.g."
            " -Xmx for Java), or find the growth with `oomkit timeline` from the recorder."
        )
    if kube_qos(event.task_memcg) is not None:
        # The kubelet sets every container's oom_score_adj from its pod's QoS class when
        # the container starts (Kubernetes docs, "Node-pressure Eviction", "Node out of
        # memory behavior").
        remedies.append(
            "To protect a pod, make it Guaranteed (memory requests equal to limits): the"
            " kubelet gives its processes oom_score_adj -997, where BestEffort pods get 1000"
            " and Burstable ones between 2 and 999; a value written by hand lasts until the"
            " container restarts."
        )
    elif _allocating(event):
        # out_of_memory() takes `current` only if its oom_score_adj is not -1000; any other
        # value plays no part, as nothing is scored.
        remedies.append(
            "In this mode oom_score_adj does not steer the choice, except -1000 (`oomkit"
            " protect PID --never-kill`): an allocation by such a process makes the kernel"
            " choose by badness instead."
        )
    elif _alone(event):
        # With nothing else in the cgroup to kill, a protected victim leaves the kernel
        # "no killable processes": the charge fails and the job stalls or gets ENOMEM.
        pass
    else:
        remedies.append(
            "Protect what must survive with a negative oom_score_adj (`oomkit protect PID"
            " --protect` or OOMScoreAdjust= in its unit); the next-highest process then dies"
            " instead."
        )
    return Explanation(headline(event), verdict, tuple(details), tuple(remedies))


def _unit_notes(event: OomEvent) -> Explanation:
    """A kill known only from systemd's notes (kernel_log/systemd_units.py)."""
    unit = event.units[0]  # the unit the kill was in; the rest are slices above it
    verdict = (
        f"systemd noted that the kernel OOM killer killed a process of {unit}. The kernel's"
        " own report of it is not in this log, so which process, how big it was and whose"
        " limit it hit are not known from here."
    )
    details = []
    if len(event.units) > 1:
        details.append(
            "systemd counts a kill in the unit and in every slice above it: "
            + ", ".join(event.units) + "."
        )
    wall = event.time.wall
    # The kernel's report comes just before systemd notices the counter move. journalctl
    # reads a bare time as local; "UTC" appended makes it mean the same on any machine
    # (systemd.time(7)).
    fmt = "%Y-%m-%d %H:%M:%S UTC"
    since = (f" --since '{(wall - timedelta(minutes=1)).astimezone(timezone.utc).strftime(fmt)}'"
             f" --until '{(wall + timedelta(minutes=1)).astimezone(timezone.utc).strftime(fmt)}'"
             if wall is not None else "")
    remedies = [
        "Read the kernel's report of it: `oomkit why` on that machine reads the kernel log and"
        f" the journal, or `journalctl -k{since}` (or /var/log/kern.log at that time); it"
        " names the victim, its memory and the limit that was hit.",
    ]
    if unit.endswith((".service", ".scope", ".slice")):
        remedies.append(
            f"If {unit} needs more memory: `systemctl set-property {unit} MemoryMax=SIZE`"
            " (MemoryMax= in the unit file), after reading the report."
        )
    return Explanation(headline(event), verdict, tuple(details), tuple(remedies))


def _slurm_note(event: OomEvent) -> Explanation:
    """A kill known only from slurmstepd's count (kernel_log/slurm.py)."""
    assert event.slurm is not None
    job, step, n = event.slurm
    kills = "an OOM kill" if n == 1 else f"{n} OOM kills"
    verdict = (
        f"Slurm counted {kills} in job {job}, step {step}: the kernel OOM killer killed"
        f" {'a process' if n == 1 else 'processes'} of the step, most often because the job"
        " reached the memory limit Slurm set on its cgroup from the job's request (--mem,"
        " --mem-per-cpu). The kernel's report is not in this log, so which process, how big"
        " it was and whose limit it hit are not known from here."
    )
    details = [
        "Slurm's count is that of the step's cgroup: a kill when the whole node ran out of"
        " memory counts too, though on a node shared by jobs that is rarer.",
        *event.notes,  # bash's "Killed" line, srun's "Out Of Memory"
    ]
    remedies = [
        limit_remedy(event, slurm_step(job, step), None, None),
        f"The kernel's report (victim, sizes, limit) is in the kernel log of the compute node"
        f"{f' {event.host}' if event.host else ''}: `oomkit why` run there, or ask the cluster's"
        " administrators for it.",
    ]
    return Explanation(headline(event), verdict, tuple(details), tuple(remedies))


def _alone(event: OomEvent) -> bool:
    """The victim was the only process in the cgroup whose limit was hit (a complete
    task table lists every process of it: mem_cgroup_scan_tasks)."""
    v = event.victim
    return (event.global_oom is False and event.complete and event.tasks_listed
            and v is not None and bool(event.tasks)
            and all(t.tgid == v.pid or t.pid == v.pid for t in event.tasks))


def _userspace(event: OomEvent, who: str, owner: Owner | None) -> Explanation:
    killer = event.killer.value
    details: list[str] = []
    remedies: list[str] = []
    if event.killer is Killer.SYSTEMD_OOMD:
        swap = (event.reason or "").startswith("memory used")  # oomd-manager.c: the swap kill
        where = (f"the cgroup {event.memcg}{_owner_words(owner)}" if event.memcg
                 else f"the unit {event.units[0]}" if event.units else "a cgroup")
        why = f" due to {oomd_reason(event.reason)}" if event.reason else ""
        verdict = (f"systemd-oomd killed every process of {where}{why}. The kernel OOM killer"
                   " was not involved.")
        details.extend(event.notes)
        remedies.append(
            "This was a swap kill (ManagedOOMSwap=kill on a slice above the cgroup): systemd-oomd"
            " kills the cgroup using the most swap once both memory and swap use pass"
            " SwapUsedLimit= of oomd.conf (90% by default). Add swap or memory, or exempt the unit with"
            " ManagedOOMPreference=avoid or omit, if the kill was not wanted."
            if swap else
            "systemd-oomd acts on ManagedOOMMemoryPressure=/ManagedOOMSwap= of the slice:"
            " exempt the unit with ManagedOOMPreference=avoid or omit, or raise"
            " ManagedOOMMemoryPressureLimit=, if the kill was not wanted."
        )
    elif event.killer is Killer.EARLYOOM and event.victim_exited is False:
        verdict = (
            f"earlyoom tried to kill {who}: available memory and free swap fell below its"
            f" thresholds, but the process did not exit within earlyoom's wait after the"
            " signal (earlyoom logged \"kill failed\"); it was still running then."
        )
        if event.reason:
            details.append(event.reason)
        remedies.append(
            "A process that outlives SIGTERM (it handles or ignores the signal, or is stuck in"
            " the kernel, state D in ps) goes only by SIGKILL: earlyoom sends SIGKILL once"
            " memory and swap fall below its SIGKILL limits (the second values of -m and -s,"
            " half the first by default); see why it did not exit before raising them."
        )
    elif event.killer is Killer.EARLYOOM:
        verdict = (
            f"earlyoom killed {who}: available memory and free swap fell below its thresholds,"
            " so it acted before the kernel OOM killer would have."
        )
        if event.reason:
            details.append(event.reason)
        if event.victim_exited:
            details.append(next((n[0].upper() + n[1:] + "." for n in event.notes
                                 if n.startswith("it exited")), "It exited."))
        remedies.append(
            "Steer earlyoom with --avoid/--prefer regexes or oom_score_adj (it follows"
            " /proc/PID/oom_score), or lower its -m/-s thresholds."
        )
    elif event.killer is Killer.ANDROID_LMK:
        verdict = f"Android's low memory killer killed {who} to free memory."
        if event.reason:
            details.append(event.reason)
    else:
        where = f" in the cgroup {event.memcg}" if event.memcg else ""
        verdict = f"{killer} killed {who}{where}" + (f": {event.reason}." if event.reason else ".")
        details.extend(_victim_numbers(event))
    if event.missing:
        details.append("Not in the log: " + "; ".join(event.missing) + ".")
    remedies.append("Give the machine more memory or swap, or limit the job that grew.")
    return Explanation(headline(event), verdict, tuple(details), tuple(remedies))
