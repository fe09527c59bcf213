"""What a report's numbers mean for memory accounting, in sentences explain() uses. Pure.

RSS is not what a cgroup was charged, a task table can add up to more than the RAM,
a limit can be written below the usage, and RAM can be held outside every process:
each helper here says one of these when the report shows it, and None (or []) when not.
"""

from __future__ import annotations

from oomkit.models import OomEvent, Trigger
from oomkit.units import human_kb


def report_version(event: OomEvent) -> int | None:
    """The cgroup version the report shows (mm/memcontrol.c, mem_cgroup_print_oom_meminfo):
    v2 prints a ``swap:`` line, v1 ``memory+swap:`` and ``kmem:``. It decides the remedy's
    file names: a log read here may come from a machine whose version is not this one's."""
    if event.swap is not None:
        return 2
    if event.memsw is not None or event.kmem is not None:
        return 1
    return None


def tasks_rss_kb(event: OomEvent) -> int | None:
    """What the task table's processes held in RAM, when the table can be trusted whole.

    For a memcg OOM the kernel lists every task of the cgroup (mem_cgroup_scan_tasks in
    mm/oom_kill.c:dump_tasks). Their RSS may hold file pages charged to another cgroup
    and pages shared between them, and swap is not in the cgroup's memory usage, so this
    is compared with usage only when far from it: well below (memory outside the
    processes) or well above (shared or uncharged pages). None when the page size was
    not seen (a guess of 4 KiB would understate 64 KiB-page machines 16 times) or rows
    are missing.
    """
    if not event.complete or not event.tasks or event.page_size_kb is None:
        return None
    if event.tasks_skipped or any(t.rss_pages is None for t in event.tasks):
        return None
    return sum(t.rss_pages or 0 for t in event.tasks) * event.page_size_kb


def rss_counts_shared(event: OomEvent) -> str | None:
    """When the task table's RSS adds up to more than the RAM: say why, or its numbers
    read as impossible. A shared page is counted in the RSS of every process that maps it
    (MM_SHMEMPAGES and MM_FILEPAGES are per mm, include/linux/mm_types_task.h)."""
    pk = event.page_size_kb
    if not (event.global_oom and event.ram_pages and pk and event.tasks):
        return None
    total = sum(t.rss_pages or 0 for t in event.tasks)
    if total <= event.ram_pages:
        return None
    return (f"The processes' RSS adds up to {human_kb(total * pk)}, more than the RAM: shared"
            " memory and shared file pages are counted again in every process that maps them.")


def rss_beyond_charge(event: OomEvent) -> str | None:
    """When a memcg report's task table holds more RSS than the cgroup was charged: say
    why, or the numbers read as impossible (a 64 MiB cgroup with 126 MiB of processes).

    RSS counts every page a process maps (MM_FILEPAGES, MM_ANONPAGES, MM_SHMEMPAGES,
    include/linux/mm_types_task.h), while a page cache page is charged to the cgroup
    of the task that first brought it in (Documentation/admin-guide/cgroup-v1/memory.rst,
    2.3 "Shared Page Accounting"), and a shared page is in the RSS of each process that
    maps it. oom_badness() ranks by get_mm_rss() all the same (mm/oom_kill.c).
    """
    pk = event.page_size_kb
    usage = event.memory.usage_kb if event.memory else None
    if event.global_oom is not False or not usage or not pk:
        return None
    held = tasks_rss_kb(event)
    if held is None or held <= usage * 1.1:  # a tenth over: not worth a paragraph
        return None
    text = (f"Together the cgroup's processes had {human_kb(held)} of RSS, more than the"
            f" {human_kb(usage)} charged to it: RSS counts every page a process maps: pages shared"
            " between processes (the same program and libraries) in each of them, and file"
            " pages another cgroup was charged for (the one that first read them into the page"
            " cache). The kernel ranks by RSS all the same.")
    files = [t for t in event.tasks if t.rss_file_pages is not None]
    if files:
        big = max(files, key=lambda t: t.rss_file_pages or 0)
        file_kb = (big.rss_file_pages or 0) * pk
        if file_kb >= usage / 4:
            text += (f" {big.name} (pid {big.pid}) had {human_kb(file_kb)} of file pages in its"
                     " RSS, which count in its score even where this cgroup did not pay for them.")
    return text


def outsider(event: OomEvent) -> Trigger | None:
    """The task that invoked a memcg OOM killer while not in the cgroup's task table."""
    t = event.trigger
    if t is None or t.pid is None or not event.tasks_listed:
        return None
    listed = {row.pid for row in event.tasks} | {row.tgid for row in event.tasks}
    return None if t.pid in listed else t


def limit_lowered(event: OomEvent) -> str | None:
    """A cgroup v2 report whose usage is well above its limit: the limit was just written
    below the usage. memory_max_write() (mm/memcontrol.c) then reclaims and, failing that,
    calls the OOM killer in the cgroup until the usage fits, from the writer's context; a
    charge never takes the usage that far past memory.max. v1's memory.limit_in_bytes
    refuses such a write with EBUSY instead (mem_cgroup_resize_max), so v1 is not read so.
    """
    m = event.memory
    if report_version(event) != 2 or m is None or m.limit_kb is None or m.usage_kb is None:
        return None
    if m.usage_kb <= m.limit_kb * 1.05:  # a forced (__GFP_NOFAIL) charge may overshoot a little
        return None
    t = outsider(event)
    by = f", here by {t.name} (pid {t.pid}), which is not in the cgroup" if t else ""
    return (f"Its usage ({human_kb(m.usage_kb)}) was above its limit ({human_kb(m.limit_kb)}):"
            f" the limit had just been lowered below what the cgroup held (a write to"
            f" memory.max{by}). The kernel then reclaims and kills in the cgroup until the"
            " usage fits under the new limit.")


def slab_caches_words(event: OomEvent, lead: str = ", its biggest caches ") -> str:
    """"<lead>kmemleak_object 2.3 GiB, ..." from the report's "Unreclaimable slab info:"
    block, or "" when it printed none."""
    if not event.slab_caches:
        return ""
    return lead + ", ".join(f"{name} {human_kb(kb)}" for name, kb in event.slab_caches[:3])


def slab_dump(event: OomEvent) -> list[str]:
    """[detail, remedy] when the report printed "Unreclaimable slab info:": the kernel does
    so only when its unreclaimable slab outgrows every page on the LRU lists, the pages of
    processes and the page cache (mm/oom_kill.c, is_dump_unreclaim_slabs). Said without
    the page size, which the caches' kB do not need."""
    if not event.slab_caches:
        return []
    return [
        "The kernel listed its unreclaimable slab caches, which it does only when they hold"
        " more than every page on its LRU lists (the processes' memory and the page cache"
        " together): the kernel's own memory took the RAM, not a process."
        + slab_caches_words(event, " Its biggest caches: ") + ".",
        _SLAB_REMEDY,
    ]


_SLAB_REMEDY = (
    "Find the kernel cache that holds the slab (`slabtop -s c` or /proc/slabinfo); one"
    " that keeps growing is a kernel or driver leak, which killing processes does not fix."
)


# A part of RAM is worth naming when it is this share of it or more.
NOTABLE = 0.10


def outside_processes(event: OomEvent) -> list[str]:
    """For a global OOM: the parts of RAM the report's Mem-Info shows outside the
    processes' own memory, when one is a tenth of RAM or more; [detail, remedies...].

    Killing a process gives back its private memory only. Unreclaimable slab is the
    kernel's; tmpfs files stay until deleted and shared segments until their last user
    goes; huge pages set aside with vm.nr_hugepages stay reserved whether used or not
    (Documentation/admin-guide/mm/hugetlbpage.rst).
    """
    pk = event.page_size_kb
    if not event.ram_pages or not pk:
        return slab_dump(event)
    ram_kb = event.ram_pages * pk
    parts: list[str] = []
    remedies: list[str] = []
    slab = (event.slab_unreclaimable_pages or 0) * pk
    if slab >= NOTABLE * ram_kb:
        parts.append(f"{human_kb(slab)} was unreclaimable kernel slab (slab_unreclaimable),"
                     " the kernel's own memory" + slab_caches_words(event))
        remedies.append(_SLAB_REMEDY)
    shmem = (event.shmem_pages or 0) * pk
    if shmem >= NOTABLE * ram_kb:
        parts.append(f"{human_kb(shmem)} was shared memory (shmem: tmpfs files such as /dev/shm,"
                     " shared memory segments and shared anonymous mappings, such as a database's"
                     " buffer cache)")
        remedies.append(
            "See what holds the shared memory: `df -h /dev/shm /run /tmp` (tmpfs files stay until"
            " deleted) and `ipcs -m` (System V segments stay until removed and unused); a"
            " database's shared buffers count here too."
        )
    huge = event.hugepages_kb or 0
    if huge >= NOTABLE * ram_kb:
        parts.append(f"{human_kb(huge)} was set aside as huge pages (hugepages_total), which"
                     " ordinary allocations cannot use")
        remedies.append(
            "Huge pages reserved with vm.nr_hugepages are held whether used or not: compare"
            " HugePages_Free in /proc/meminfo, and lower vm.nr_hugepages if they are not needed."
        )
    if not parts:
        return []
    detail = (f"Of the {human_kb(ram_kb)} of RAM, " + "; ".join(parts) + ". Killing a process"
              " gives back only its own memory, not these.")
    return [detail, *remedies]
