"""Records of processes and cgroups as `top`, `protect` and `doctor` read them.

Split from models.py so that `top --json` (polled by scripts) builds six record
classes at start-up instead of all thirty: each typed NamedTuple class costs
~0.3 ms to create. Same rules as models.py: immutable, typed, no I/O; sizes
named for their unit.
"""


# Annotations are evaluated (no `from __future__ import annotations`): typing.NamedTuple
# compiles every string annotation into a ForwardRef, and this module has hundreds;
# evaluated, models and procmodels import ~10 ms faster.
from typing import NamedTuple


class Owner(NamedTuple):
    """Who a cgroup path belongs to: a systemd unit, a container, a pod."""

    kind: str  # "systemd-unit", "user-session", "docker", "podman", "containerd",
    # "kubernetes", "kubernetes-pods" (the kubelet's cgroup of all pods, or of a QoS
    # class), "lxc" (``unit``: a unit inside it), "machine", "ecs" (an Amazon ECS task,
    # ``unit`` its id), "slurm" (``unit`` the job id, ``container`` the step), "nomad"
    # (``unit`` the task, ``container`` the allocation or cgroup id), "cgroup"
    name: str
    unit: str | None = None
    container_id: str | None = None
    pod_uid: str | None = None
    container: str | None = None
    user: int | None = None


class CgroupNow(NamedTuple):
    """The state of a cgroup that still exists."""

    path: str
    limit_kb: int | None
    usage_kb: int | None
    version: int


class ProcessSnapshot(NamedTuple):
    """One process as read from /proc, with the numbers the kernel's badness uses.

    A NamedTuple, not a dataclass: `top` builds one per process on every refresh.

    Memory is in kB as /proc/PID/status prints it (RssAnon, RssFile, RssShmem,
    VmSwap, VmPTE: fs/proc/task_mmu.c ``task_mem``). ``scan_index`` is the order
    the process was read in: the kernel breaks score ties in favour of the task
    scanned last (mm/oom_kill.c ``oom_evaluate_task``).
    """

    pid: int
    name: str  # task->comm (at most 15 bytes), unescaped
    uid: int  # real uid
    state: str  # one letter: R, S, D, Z, T, ...
    anon_rss_kb: int
    file_rss_kb: int
    shmem_rss_kb: int
    swap_kb: int
    pgtables_kb: int
    oom_score_adj: int
    cgroup: str | None  # memory cgroup path (the unified path when no memory controller)
    cmdline: str | None = None
    scan_index: int = 0

    @property
    def rss_kb(self) -> int:
        """Resident memory: anon + file + shmem (get_mm_rss)."""
        return self.anon_rss_kb + self.file_rss_kb + self.shmem_rss_kb


class CgroupMemory(NamedTuple):
    """The memory settings and OOM counters of one cgroup (v1 or v2). Bytes; None = unlimited."""

    path: str  # as the kernel prints it, relative to the hierarchy root
    version: int  # 1 or 2
    limit_bytes: int | None  # v2 memory.max, v1 memory.limit_in_bytes
    usage_bytes: int | None  # v2 memory.current, v1 memory.usage_in_bytes
    swap_limit_bytes: int | None  # v2 memory.swap.max; v1 memsw limit - memory limit
    memsw_limit_bytes: int | None = None  # v1 memory.memsw.limit_in_bytes (memory + swap)
    memsw_accounting: bool = False  # v1 with memory.memsw.* files (do_memsw_account())
    swappiness: int | None = None  # v1 memory.swappiness (v2 uses vm.swappiness)
    high_bytes: int | None = None  # v2 memory.high (throttles; never invokes the OOM killer)
    oom_events: int | None = None  # v2 memory.events "oom"
    oom_kills: int | None = None  # v2 memory.events / v1 memory.oom_control "oom_kill"
    oom_group: bool | None = None  # v2 memory.oom.group
    oom_kill_disable: bool | None = None  # v1 memory.oom_control


class CgroupRank(NamedTuple):
    """Where a process stands inside the memory cgroup whose limit would kill it."""

    path: str
    totalpages: int  # mem_cgroup_get_max(): limit (+ swap) in pages
    rank: int  # 1 = the victim if this cgroup hits its limit now
    of: int  # killable processes in the cgroup (and its descendants)
    score: int  # 0..2000, the oom_score formula with the cgroup's totalpages


class RankedProcess(NamedTuple):
    """A process with its badness, its /proc/PID/oom_score and its place in the kill order
    (a NamedTuple for the same reason as ProcessSnapshot)."""

    process: ProcessSnapshot
    badness: int | None  # pages; None when the kernel never picks it (LONG_MIN)
    score: int  # /proc/PID/oom_score as this kernel computes it
    rank: int | None  # 1 = next victim of a system-wide OOM; None = never picked
    protected: bool  # oom_score_adj < 0
    never_kill: bool  # oom_score_adj == -1000
    huge_protected: bool  # protected but holding a large share of memory: a risk
    memcg: CgroupRank | None = None
    growth_kb_s: float | None = None  # rss + swap change per second between two samples
