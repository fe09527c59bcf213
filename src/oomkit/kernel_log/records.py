"""Classify one message (prefix already removed) into a typed record.

Each pattern reproduces a printk format of mm/oom_kill.c or mm/memcontrol.c
(quoted in docs/kernel-oom.md sections 1.2-1.8, with the kernel versions that
printed them). Patterns search the message rather than anchor at its start,
because syslog daemons and journald sometimes leave a ``kernel: `` or a second
timestamp in front of it.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from oomkit.models import MemcgCounters, Victim

# "%s invoked oom-killer: gfp_mask=%#x(%pGg), order=%d, oom_score_adj=%hd" (>=5.0);
# 4.9-4.19 add "nodemask=%*pbl," followed by two spaces; 2.6.36-3.6 print oom_adj too;
# 2.6.2x print "oomkilladj=". %*pbl nodemasks may contain commas ("0,2-3").
_HEADER = re.compile(
    r"(?P<comm>.*?) invoked oom-killer: gfp_mask=(?P<gfp>[^,(\s]+)(?:\((?P<flags>[^)]*)\))?,"
    r"(?: nodemask=(?P<nodemask>.*?),)? +order=(?P<order>-?\d+),"
    r"(?: oom_adj=-?\d+,)? (?:oom_score_adj|oomkilladj)=(?P<adj>-?\d+)"
)
# dump_stack(): "CPU: 1 UID: 0 PID: 2078 Comm: python3 Not tainted 6.18..." (UID: since 6.12)
_CPU = re.compile(
    r"CPU: \d+ (?:UID: \d+ )?PID: (?P<pid>\d+) Comm: (?P<comm>.{1,16}?) (?:Not tainted|Tainted)"
    # <=2.6.3x dump_stack(): "Pid: 1234, comm: ntpd Tainted: ..." / "Not tainted"
    r"|Pid: (?P<pid_old>\d+), comm: (?P<comm_old>.{1,16}?) (?:Not tainted|Tainted)"
)
# mem_cgroup_print_oom_meminfo(): "memory: usage %llukB, limit %llukB, failcnt %lu"
_COUNTER = re.compile(
    r"(?P<kind>memory|swap|memory\+swap|kmem): usage (?P<usage>\d+)kB, limit (?P<limit>\d+)kB,"
    r" failcnt (?P<failcnt>\d+)"
)
_STATS_FOR = re.compile(r"Memory cgroup stats for (?P<path>[^:]*)(?::|$)")
# <=4.19 mem_cgroup_print_oom_info(): "Task in %s killed as a result of limit of %s"
_TASK_IN = re.compile(r"Task in (?P<task>\S+) killed as a result of limit of (?P<memcg>\S+)")
_LIMIT_OF = re.compile(r"Memory limit reached of cgroup (?P<memcg>\S+)")
# dump_tasks() header, every era: "[ pid ]   uid  tgid total_vm      rss ... name"
_TABLE = re.compile(r"\[\s*pid\s*\]\s+uid\s+tgid\s+(?P<cols>.*?)\s*name\s*$")
_ROW = re.compile(r"\[\s*(?P<pid>\d+)\]\s+(?P<rest>-?\d+\s.*)$")
# dump_oom_summary() (>=5.0): one pr_info plus pr_cont pieces.
_SUMMARY = re.compile(
    r"oom-kill:constraint=(?P<constraint>[A-Z_]+)(?:,nodemask=(?P<nodemask>.*?))?"
    r"(?:,cpuset=(?P<cpuset>.*?),mems_allowed=(?P<mems>.*?))?"
    r"(?:,(?P<global>global_oom)|,oom_memcg=(?P<oom_memcg>.*?))?"
    r"(?:,task_memcg=(?P<task_memcg>.*?))?"
    r",task=(?P<task>.*),pid=(?P<pid>-?\d+),uid=(?P<uid>-?\d+)\s*$"
)
# __oom_kill_process(): every era of the victim line (sections 1.5 of kernel-oom.md).
# The numbers nest, in the order printed, so that a line cut short (a pager's or a
# terminal's width) keeps the ones before the cut; what follows them says it was cut.
_KILLED_HEAD = (
    r"(?:(?P<msg>[A-Za-z][A-Za-z ()_]*?): )?Killed process (?P<pid>\d+)(?:, UID (?P<uid0>\d+),)?"
)
_KILLED = re.compile(
    _KILLED_HEAD + r" \((?P<name>.*?)\)(?=$| total-vm:| vsz:|\.|,| sharing)"
    r"(?: (?:total-vm|vsz):(?P<vm>\d[\d,]*)kB(?:, anon-rss:(?P<anon>\d[\d,]*)kB"
    r"(?:, file-rss:(?P<file>\d[\d,]*)kB(?:, shmem-rss:(?P<shmem>\d[\d,]*)kB)?"
    r"(?:,? UID:(?P<uid>\d+))?(?: pgtables:(?P<pgt>\d[\d,]*)kB)?"
    r"(?: oom_score_adj:(?P<adj>-?\d+))?)?)?)?"
)
# A line cut before its numbers' first field is whole: the name up to the first ")";
# one cut inside the name (nothing after "(") keeps the pid, and no half name.
_KILLED_CUT = re.compile(_KILLED_HEAD + r" \((?:(?P<name>[^)]*)\)|(?P<cut_name>[^)]*)$)")
# The kernel prints these numbers as bare digits (%lu); ',' inside one was put there by
# a person or a tool that grouped digits (public-5.x-dmesg-T-comma-grouped-victim-
# wrapped-rows-issue), often not in threes: the digits are still the kernel's.
_KB_GROUPS = ("vm", "anon", "file", "shmem", "pgt")
# 2.6.36-5.0: "%s: Kill process %d (%s) score %d or sacrifice child";
# 2.6.2x: "Out of Memory: Kill process %d (%s) score %li and children."
_KILL = re.compile(
    r"(?:(?P<msg>[A-Za-z][A-Za-z ()_]*?): )?[Kk]ill process (?P<pid>\d+) \((?P<name>.*?)\)"
    r" score (?P<score>-?\d+) (?:or sacrifice child|or a child|and children)"
)
_SHARING = re.compile(r"Kill(?:ed)? process (?P<pid>\d+) \((?P<name>.*?)\) sharing same memory")
_UNREAPED = re.compile(r"oom_reaper: unable to reap pid:(?P<pid>\d+) \((?P<name>.*)\)")
_REAPED = re.compile(
    r"oom_reaper: reaped process (?P<pid>\d+) \((?P<name>.*?)\), now anon-rss:(?P<anon>\d+)kB,"
    r" file-rss:(?P<file>\d+)kB, shmem-rss:(?P<shmem>\d+)kB"
)
_GROUP = re.compile(r"Tasks in (?P<path>.*) are going to be killed due to memory\.oom\.group set")
_SUPPRESSED = re.compile(r"oom_kill_process: (?P<n>\d+) callbacks suppressed")
_NO_KILLABLE = re.compile(r"Out of memory and no killable processes")
_PANIC = re.compile(
    r"Kernel panic - not syncing: (?P<msg>.*(?:[Oo]ut of memory|deadlocked on memory|"
    r"panic_on_oom).*)"
)
_EXITING = re.compile(r"OOM victim (?P<pid>\d+) \((?P<name>.*?)\) is already exiting")
_PAGES = re.compile(r"^(?P<n>\d+) pages (?P<what>RAM|reserved)\s*$")
# show_free_areas() (mm/show_mem.c; mm/page_alloc.c before 6.1) prints the machine-wide
# counters in pages as one printk with embedded newlines, so they come as lines of their
# own (dmesg, syslog) or as one kmsg record: searched anywhere in the text. The per-node
# lines print the same names in kB ("shmem:108036kB"), which the lookahead skips.
_MEM_PAGES = re.compile(r"(?<![\w-])(?P<key>slab_unreclaimable|shmem):(?P<n>\d+)(?![\dkK])")
# hugetlb_show_meminfo_node(), one line per node and huge page size.
_SLAB_ROW = re.compile(r"(?P<name>\S+)\s+(?P<used>\d+)KB\s+(?P<total>\d+)KB$")
_HUGEPAGES = re.compile(r"hugepages_total=(?P<n>\d+) .*hugepages_size=(?P<kb>\d+)kB")
_SWAP = re.compile(r"(?P<what>Total|Free) swap\s*=\s*(?P<kb>\d+)kB")
# show_free_areas() (mm/page_alloc.c, mm/show_mem.c): per zone, the free blocks of every
# order from 0, "%lu*%lukB " with K(1UL) << order: the first size is the page size
# ("Node 0 DMA32: 12*64kB (UM) 10*128kB ..." on an arm64 kernel of 64 KiB pages).
_FREE_AREA = re.compile(r"Node (?P<node>\d+) (?P<zone>\S+): (?P<first>\d+)\*(?P<kb>\d+)kB")
_FREE_BLOCKS = re.compile(r"(\d+)\*\d+kB")
_PAGE_SIZES = frozenset((4, 8, 16, 32, 64, 256))

# Beyond this many kB a memcg limit is PAGE_COUNTER_MAX, i.e. "no limit"
# (e.g. 9007199254740988kB on x86-64; mm/page_counter.c).
UNLIMITED_KB = 1 << 50


class Header(NamedTuple):
    comm: str
    gfp_mask: str
    gfp_flags: str | None
    nodemask: str | None
    order: int
    oom_score_adj: int


class CpuLine(NamedTuple):
    pid: int
    comm: str


class Counter(NamedTuple):
    kind: str
    counters: MemcgCounters


class StatsFor(NamedTuple):
    path: str


class TaskIn(NamedTuple):
    task_memcg: str | None
    memcg: str


class TableHeader(NamedTuple):
    columns: tuple[str, ...]  # the numeric columns after "[ pid ]", uid, tgid excluded


class Row(NamedTuple):
    pid: int
    rest: str  # numbers and name, split once the header's columns are known


class Summary(NamedTuple):
    constraint: str
    nodemask: str | None
    cpuset: str | None
    mems_allowed: str | None
    global_oom: bool
    oom_memcg: str | None
    task_memcg: str | None
    task: str
    pid: int
    uid: int


class Killed(NamedTuple):
    message: str | None
    victim: Victim
    has_numbers: bool
    digit_separators: bool = False  # its kB numbers had ',' in them (see _KB_GROUPS)
    cut: bool = False  # the line ends inside its numbers


class KillScore(NamedTuple):
    message: str | None
    pid: int
    name: str
    score: int
    # "... or a child" (before 2.6.36): a victim of another pid is a child (another mm);
    # "... or sacrifice child" (2.6.36-5.0): it may also be the scored thread's process
    or_a_child: bool = False


class Sharing(NamedTuple):
    pid: int
    name: str


class Unreaped(NamedTuple):
    """"oom_reaper: unable to reap pid:%d (%s)" (mm/oom_kill.c, oom_reap_task): for about a
    second (MAX_OOM_REAP_RETRIES tries, HZ/10 apart) the reaper could not take the victim's
    mmap lock, gave up and set MMF_OOM_SKIP, so the next OOM may choose another victim."""

    pid: int
    name: str


class Reaped(NamedTuple):
    victim: Victim


class Group(NamedTuple):
    path: str


class Suppressed(NamedTuple):
    n: int


class AllocatorFrame(NamedTuple):
    """A call-trace frame of the page allocator's OOM path (__alloc_pages_slowpath ->
    __alloc_pages_may_oom -> out_of_memory): a memcg's OOM comes from its charge path
    (try_charge, mem_cgroup_oom_synchronize) instead, so this one was not a cgroup's."""


class MemcgFrame(NamedTuple):
    """A call-trace frame of the memory controller's OOM path (mem_cgroup_out_of_memory,
    mem_cgroup_oom_synchronize): the OOM was a cgroup's, even where the report looks global
    (with panic_on_oom=2, 3.10's check_panic_on_oom() dumps the machine's Mem-Info and no
    memcg lines before it panics)."""


class NoKillable(NamedTuple):
    pass


class Panic(NamedTuple):
    message: str


class Exiting(NamedTuple):
    pid: int
    name: str


class MemInfo(NamedTuple):
    what: str  # "RAM", "reserved", "Total swap", "Free swap", "Mem-Info", "page_kb"
    value: int  # pages for RAM/reserved, kB for swap and page_kb, 0 for the Mem-Info marker


class FreeArea(NamedTuple):
    """A zone's free blocks by order (show_free_areas): "Node 0 Normal: 32272*4kB (UMEH)
    941*8kB (UMEH) 0*16kB ..."; the first block size is the page size."""

    zone: str  # "Node 0 Normal"
    page_kb: int
    counts: tuple[int, ...]  # free blocks of order 0, 1, 2, ...


class MemPages(NamedTuple):
    """show_free_areas()'s machine-wide counters found in one line or record."""

    values: tuple[tuple[str, int], ...]  # ("slab_unreclaimable" | "shmem", pages)


class HugePages(NamedTuple):
    kb: int  # one node's huge pages of one size: hugepages_total x hugepages_size


class SlabCache(NamedTuple):
    """A row of "Unreclaimable slab info:" (mm/slab_common.c, dump_unreclaimable_slab:
    "%-17s %10luKB %10luKB", name, used, total), printed when unreclaimable slab
    outgrows the LRU pages (mm/oom_kill.c, is_dump_unreclaim_slabs)."""

    name: str
    total_kb: int


Record = (
    Header | CpuLine | Counter | StatsFor | TaskIn | TableHeader | Row | Summary | Killed
    | KillScore | Sharing | Reaped | Unreaped | MemcgFrame | AllocatorFrame | Group | Suppressed
    | NoKillable | Panic
    | Exiting | MemInfo
    | FreeArea | MemPages | HugePages | SlabCache
)


def _int(value: str | None) -> int | None:
    return int(value) if value is not None else None


def _counter(m: re.Match[str]) -> Counter:
    limit = int(m.group("limit"))
    return Counter(
        kind=m.group("kind"),
        counters=MemcgCounters(
            usage_kb=int(m.group("usage")),
            limit_kb=None if limit >= UNLIMITED_KB else limit,
            failcnt=int(m.group("failcnt")),
        ),
    )


_LABELS = ("total-vm:", "vsz:", "anon-rss:", "file-rss:", "shmem-rss:", "UID:", "pgtables:",
           "oom_score_adj:")


def _cut_in_numbers(rest: str) -> bool:
    """Whether the text after the last field read begins another field, cut: "anon-rss:12",
    " pgt", a pager's ">" (other text after a complete line is not the kernel's)."""
    r = rest.lstrip(", ").rstrip(">")
    if not r:
        return bool(rest.strip())
    head = r.split(None, 1)[0]
    return any(head.startswith(label) or label.startswith(head) for label in _LABELS)


def _killed(m: re.Match[str]) -> Killed:
    d = m.groupdict()  # _KILLED_CUT has no number groups
    uid = d.get("uid") or d.get("uid0")
    kb = {g: d.get(g) for g in _KB_GROUPS}
    separators = any(v is not None and "," in v for v in kb.values())
    if separators:
        kb = {g: None if v is None else v.replace(",", "") for g, v in kb.items()}
    victim = Victim(
        pid=int(m.group("pid")),
        name=d.get("name"),
        uid=_int(uid),
        total_vm_kb=_int(kb["vm"]),
        anon_rss_kb=_int(kb["anon"]),
        file_rss_kb=_int(kb["file"]),
        shmem_rss_kb=_int(kb["shmem"]),
        pgtables_kb=_int(kb["pgt"]),
        oom_score_adj=_int(d.get("adj")),
    )
    # A complete line of any era ends at its last field; one cut short goes on into the
    # next ("anon-rss:1234>", " pgt").
    cut = d.get("cut_name") is not None or (
        d.get("adj") is None and _cut_in_numbers(m.string[m.end():]))
    return Killed(message=m.group("msg"), victim=victim, has_numbers=kb["vm"] is not None,
                  digit_separators=separators, cut=cut)


def _summary(m: re.Match[str]) -> Summary:
    return Summary(
        constraint=m.group("constraint"),
        nodemask=m.group("nodemask"),
        cpuset=m.group("cpuset"),
        mems_allowed=m.group("mems"),
        global_oom=m.group("global") is not None,
        oom_memcg=m.group("oom_memcg"),
        task_memcg=m.group("task_memcg"),
        task=m.group("task"),
        pid=int(m.group("pid")),
        uid=int(m.group("uid")),
    )


def classify(text: str) -> Record | None:
    """The record this message is, or None for lines no OOM report needs.

    Cheap substring tests come first so that the common case (noise, stack
    traces, Mem-Info zone lines) costs a few ``in`` checks.
    """
    if "oom" in text:
        if "invoked oom-killer" in text:
            m = _HEADER.search(text)
            if m:
                return Header(
                    comm=m.group("comm"), gfp_mask=m.group("gfp"), gfp_flags=m.group("flags"),
                    nodemask=m.group("nodemask"), order=int(m.group("order")),
                    oom_score_adj=int(m.group("adj")),
                )
            return None
        if "oom-kill:" in text:
            m = _SUMMARY.search(text)
            return _summary(m) if m else None
        if "oom_reaper" in text:
            m = _REAPED.search(text)
            if m:
                return Reaped(
                    Victim(
                        pid=int(m.group("pid")), name=m.group("name"),
                        anon_rss_kb=int(m.group("anon")), file_rss_kb=int(m.group("file")),
                        shmem_rss_kb=int(m.group("shmem")),
                    )
                )
            m = _UNREAPED.search(text)
            return Unreaped(int(m.group("pid")), m.group("name")) if m else None
        if "oom_kill_process" in text:
            m = _SUPPRESSED.search(text)
            return Suppressed(int(m.group("n"))) if m else None
        if "mem_cgroup_oom_synchronize+" in text:
            return MemcgFrame()
        if "oom.group" in text:
            m = _GROUP.search(text)
            return Group(m.group("path")) if m else None
    if "mem_cgroup_out_of_memory+" in text:
        return MemcgFrame()
    if "__alloc_pages_slowpath" in text:
        return AllocatorFrame()
    if "Kernel panic" in text:
        m = _PANIC.search(text)
        if m:
            return Panic(m.group("msg").strip())
    if "process" in text:
        if "Killed process" in text:
            if "sharing same memory" in text:
                m = _SHARING.search(text)
                return Sharing(int(m.group("pid")), m.group("name")) if m else None
            m = _KILLED.search(text) or _KILLED_CUT.search(text)
            return _killed(m) if m else None
        if "ill process" in text:
            m = _KILL.search(text)
            if m:
                return KillScore(
                    message=m.group("msg"), pid=int(m.group("pid")), name=m.group("name"),
                    score=int(m.group("score")), or_a_child=text.rstrip().endswith("or a child"),
                )
            m = _SHARING.search(text)
            return Sharing(int(m.group("pid")), m.group("name")) if m else None
        if "no killable processes" in text:
            return NoKillable()
    if "usage " in text:
        m = _COUNTER.search(text)
        return _counter(m) if m else None
    stripped = text.lstrip()
    if stripped.startswith("["):
        m = _ROW.match(stripped)
        if m:
            return Row(int(m.group("pid")), m.group("rest"))
        m = _TABLE.match(stripped)
        if m:
            return TableHeader(tuple(m.group("cols").split()))
        return None
    if "omm:" in text:
        m = _CPU.search(text)
        if m:
            return CpuLine(int(m.group("pid") or m.group("pid_old")),
                           m.group("comm") or m.group("comm_old"))
        return None
    if "Task in " in text:
        m = _TASK_IN.search(text)
        return TaskIn(m.group("task"), m.group("memcg")) if m else None
    if "Mem-Info:" in text or "Mem-info:" in text:
        return MemInfo("Mem-Info", 0)
    if "cgroup" in text:
        m = _STATS_FOR.search(text)
        if m:
            return StatsFor(m.group("path"))
        m = _LIMIT_OF.search(text)
        if m:
            return TaskIn(None, m.group("memcg"))
        return None
    if "OOM victim" in text:
        m = _EXITING.search(text)
        return Exiting(int(m.group("pid")), m.group("name")) if m else None
    if "slab_unreclaimable:" in text or "shmem:" in text:
        found = tuple((m.group("key"), int(m.group("n"))) for m in _MEM_PAGES.finditer(text))
        return MemPages(found) if found else None
    if "hugepages_total=" in text:
        m = _HUGEPAGES.search(text)
        return HugePages(int(m.group("n")) * int(m.group("kb"))) if m else None
    if "*" in text:
        m = _FREE_AREA.search(text)
        if m is None or int(m.group("kb")) not in _PAGE_SIZES:
            return None
        counts = tuple(int(n) for n in _FREE_BLOCKS.findall(text, m.start("first")))
        return FreeArea(f"Node {m.group('node')} {m.group('zone')}", int(m.group("kb")), counts)
    if text.endswith("KB"):
        m = _SLAB_ROW.match(stripped)
        return SlabCache(m.group("name"), int(m.group("total"))) if m else None
    if "pages " in text:
        m = _PAGES.search(stripped)
        return MemInfo(m.group("what"), int(m.group("n"))) if m else None
    if " swap" in text:
        m = _SWAP.search(text)
        return MemInfo(f"{m.group('what')} swap", int(m.group("kb"))) if m else None
    return None
