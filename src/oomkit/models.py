"""Frozen, typed records shared across modules.

Nothing here does I/O. Sizes are named for their unit (``_kb``, ``_pages``,
``_bytes``) because the kernel mixes all three in one report
(see ``docs/kernel-oom.md`` section 8 and mm/oom_kill.c ``dump_task``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum


class Killer(str, Enum):
    """Who killed the process."""

    KERNEL = "kernel"
    SYSTEMD_OOMD = "systemd-oomd"
    EARLYOOM = "earlyoom"
    NOHANG = "nohang"
    OOMD = "oomd"
    ANDROID_LMK = "android-lmk"


class EventKind(str, Enum):
    """What happened."""

    OOM_KILL = "oom_kill"  # the kernel OOM killer killed a process
    NO_VICTIM = "no_victim"  # "Out of memory and no killable processes..."
    PANIC = "panic"  # panic_on_oom / "Kernel panic - not syncing: Out of memory"
    USERSPACE_KILL = "userspace_kill"  # earlyoom, nohang, systemd-oomd, oomd, lmkd


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a record was read: a file path (or ``kmsg``/``journal``) and a 1-based line."""

    path: str
    line: int | None


@dataclass(frozen=True, slots=True)
class LogLine:
    """One log line with its prefix decoded.

    ``text`` is the message with every prefix removed (syslog header, dmesg
    timestamp, printk caller id, kmsg record header, journald JSON).
    """

    text: str
    uptime_s: float | None = None  # printk timestamp (local_clock, seconds since boot)
    wall: datetime | None = None  # wall-clock time printed on the line (syslog/journal/dmesg -T)
    raw_time: str | None = None  # the timestamp as printed
    ident: str | None = None  # syslog identifier ("kernel", "earlyoom", "systemd-oomd", ...)
    host: str | None = None
    boot_id: str | None = None
    wall_kind: str | None = None  # how ``wall`` was obtained, see timeconv.WallKind


@dataclass(frozen=True, slots=True)
class EventTime:
    """When an event happened.

    ``wall_from`` says which clock the wall time comes from: ``log`` (a wall
    time printed on the line by syslog or journald), ``dmesg-ctime`` (a
    ``dmesg -T`` time, early by the total suspend time), ``boot-offset``
    (uptime + this boot's CLOCK_REALTIME - CLOCK_MONOTONIC offset), or ``None``.
    """

    raw: str | None
    uptime_s: float | None
    wall: datetime | None
    wall_from: str | None
    boot_id: str | None = None


@dataclass(frozen=True, slots=True)
class Victim:
    """The killed process, with the numbers of the ``Killed process`` line (kB)."""

    pid: int | None
    name: str | None
    uid: int | None = None
    total_vm_kb: int | None = None
    anon_rss_kb: int | None = None
    file_rss_kb: int | None = None
    shmem_rss_kb: int | None = None
    pgtables_kb: int | None = None
    oom_score_adj: int | None = None
    score: int | None = None  # pre-5.1 "Kill process ... score N or sacrifice child"
    swap_kb: int | None = None  # from the task table (swapents), when present


@dataclass(frozen=True, slots=True)
class Trigger:
    """The task whose allocation invoked the OOM killer (often not the victim)."""

    name: str | None
    pid: int | None
    gfp_mask: str | None  # as printed, before any parenthesis, e.g. "0xcc0"
    gfp_flags: str | None  # the symbolic part, e.g. "GFP_KERNEL"
    order: int | None
    oom_score_adj: int | None
    nodemask: str | None = None


@dataclass(frozen=True, slots=True)
class TaskRow:
    """One row of the ``dump_tasks`` table. Memory columns are pages unless named bytes."""

    pid: int
    uid: int | None
    tgid: int | None
    total_vm_pages: int | None
    rss_pages: int | None
    rss_anon_pages: int | None
    rss_file_pages: int | None
    rss_shmem_pages: int | None
    pgtables_bytes: int | None
    pgtable_pages: int | None  # nr_ptes (+ nr_pmds, nr_puds) on kernels before 4.15
    swapents_pages: int | None
    oom_score_adj: int | None
    name: str


@dataclass(frozen=True, slots=True)
class MemcgCounters:
    """A ``memory: usage ...kB, limit ...kB, failcnt N`` line (and swap/memsw/kmem)."""

    usage_kb: int
    limit_kb: int | None  # None when the limit printed is PAGE_COUNTER_MAX ("unlimited")
    failcnt: int


@dataclass(frozen=True, slots=True)
class Owner:
    """Who a cgroup path belongs to: a systemd unit, a container, a pod."""

    kind: str  # "systemd-unit", "user-session", "docker", "podman", "containerd",
    # "kubernetes", "lxc", "machine", "cgroup"
    name: str
    unit: str | None = None
    container_id: str | None = None
    pod_uid: str | None = None
    container: str | None = None
    user: int | None = None


@dataclass(frozen=True, slots=True)
class CgroupNow:
    """The state of a cgroup that still exists."""

    path: str
    limit_kb: int | None
    usage_kb: int | None
    version: int


@dataclass(frozen=True, slots=True)
class OomEvent:
    """One OOM event (a kernel report, or a userspace killer's kill)."""

    killer: Killer
    kind: EventKind
    complete: bool
    time: EventTime
    source: SourceRef
    victim: Victim | None = None
    trigger: Trigger | None = None
    constraint: str | None = None
    memcg: str | None = None  # the cgroup whose limit was hit (oom_memcg)
    task_memcg: str | None = None  # the victim's own cgroup
    global_oom: bool | None = None  # True: whole machine (RAM+swap) was out of memory
    memory: MemcgCounters | None = None
    swap: MemcgCounters | None = None
    memsw: MemcgCounters | None = None
    kmem: MemcgCounters | None = None
    tasks: tuple[TaskRow, ...] = ()
    extra_victims: tuple[Victim, ...] = ()  # memory.oom.group members
    oom_group: str | None = None
    reaped: Victim | None = None  # numbers after oom_reaper: reaped process
    ram_pages: int | None = None  # "N pages RAM" (global Mem-Info)
    reserved_pages: int | None = None
    total_swap_kb: int | None = None  # "Total swap = NkB"
    free_swap_kb: int | None = None
    page_size_kb: int | None = None  # derived from the victim row vs the Killed line
    message: str | None = None  # the victim line prefix: "Out of memory", "Memory cgroup out of memory"
    panic_message: str | None = None
    reason: str | None = None  # userspace killers: why they acted, as they printed it
    suppressed_headers: int | None = None  # "oom_kill_process: N callbacks suppressed"
    missing: tuple[str, ...] = ()  # what a partial report lacks, in words
    notes: tuple[str, ...] = ()  # facts about the record (e.g. early-5.4 pgtables unit bug)
    host: str | None = None
    also_seen_in: tuple[SourceRef, ...] = field(default=())
