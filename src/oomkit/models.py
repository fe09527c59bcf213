"""Frozen, typed records shared across modules: typed NamedTuples (immutable, checked by mypy).

Not dataclasses: a frozen slotted dataclass costs ~1 ms to create and importing
``dataclasses`` loads inspect, ast, dis and tokenize, 1.3 MB of the daemon's RSS and
~45 ms of every command's start-up (docs/daemon.md "Where the memory goes").

The records of processes and cgroups that `top`, `protect` and `doctor` read
(ProcessSnapshot, RankedProcess, CgroupMemory, CgroupRank, CgroupNow, Owner) are
in procmodels.py. Nothing here does I/O. Sizes are named for their unit (``_kb``, ``_pages``,
``_bytes``) because the kernel mixes all three in one report
(see ``docs/kernel-oom.md`` section 8 and mm/oom_kill.c ``dump_task``).
"""

# Annotations are evaluated (no `from __future__ import annotations`): typing.NamedTuple
# compiles every string annotation into a ForwardRef, and this module has hundreds;
# evaluated, models and procmodels import ~10 ms faster.
from datetime import datetime
from enum import Enum
from typing import NamedTuple


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


class SourceRef(NamedTuple):
    """Where a record was read: a file path (or ``kmsg``/``journal``) and a 1-based line."""

    path: str
    line: int | None


class LogLine(NamedTuple):
    """One log line with its prefix decoded.

    ``text`` is the message with every prefix removed (syslog header, dmesg
    timestamp, printk caller id, kmsg record header, journald JSON).
    A NamedTuple, not a dataclass: one is built per selected line, and a
    frozen dataclass costs four times as much to construct.
    """

    text: str
    uptime_s: float | None = None  # printk timestamp (local_clock, seconds since boot)
    wall: datetime | None = None  # wall-clock time printed on the line (syslog/journal/dmesg -T)
    raw_time: str | None = None  # the timestamp as printed
    ident: str | None = None  # syslog identifier ("kernel", "earlyoom", "systemd-oomd", ...)
    host: str | None = None
    boot_id: str | None = None
    wall_kind: str | None = None  # how ``wall`` was obtained, see timeconv.WallKind


class EventTime(NamedTuple):
    """When an event happened.

    ``wall_from`` says which clock the wall time comes from: ``log`` (a wall
    time printed on the line by syslog or journald), ``log-year-assumed`` (the same from
    an RFC 3164 stamp, which prints no year: the year puts the line at or before its
    file's modification time), ``dmesg-ctime`` (a
    ``dmesg -T`` time, early by the total suspend time), ``boot-offset``
    (uptime + this boot's CLOCK_REALTIME - CLOCK_MONOTONIC offset), or ``None``.
    """

    raw: str | None
    uptime_s: float | None
    wall: datetime | None
    wall_from: str | None
    boot_id: str | None = None


class Victim(NamedTuple):
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
    # The resident size as a userspace killer logs it, in one number (earlyoom's VmRSS,
    # lmkd's "to free N kB rss", nohang's VmRSS); None for the kernel, which gives the parts.
    rss_kb: int | None = None

    def resident_kb(self) -> int | None:
        """Its resident memory at death: anon + file + shmem from the kernel's line (when it
        gives both anon and file: a line cut between them would understate), else the one
        number a userspace killer logs."""
        if self.anon_rss_kb is not None and self.file_rss_kb is not None:
            return self.anon_rss_kb + self.file_rss_kb + (self.shmem_rss_kb or 0)
        return self.rss_kb


class Trigger(NamedTuple):
    """The task whose allocation invoked the OOM killer (often not the victim)."""

    name: str | None
    pid: int | None
    gfp_mask: str | None  # as printed, before any parenthesis, e.g. "0xcc0"
    gfp_flags: str | None  # the symbolic part, e.g. "GFP_KERNEL"
    order: int | None
    oom_score_adj: int | None
    nodemask: str | None = None


class TaskRow(NamedTuple):
    """One row of the ``dump_tasks`` table. Memory columns are pages unless named bytes.

    A NamedTuple (immutable, typed) because reports carry hundreds of rows and a
    frozen dataclass costs several times as much to build and to serialise.
    """

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


class MemcgCounters(NamedTuple):
    """A ``memory: usage ...kB, limit ...kB, failcnt N`` line (and swap/memsw/kmem)."""

    usage_kb: int
    limit_kb: int | None  # None when the limit printed is PAGE_COUNTER_MAX ("unlimited")
    failcnt: int


class SlurmStep(NamedTuple):
    """A Slurm job step whose OOM kills slurmstepd counted (kernel_log/slurm.py)."""

    job: str
    step: str  # "batch", "extern", "interactive" or a number
    oom_kills: int  # the step's count when it was logged


class OomEvent(NamedTuple):
    """One OOM event (a kernel report, or a userspace killer's kill)."""

    killer: Killer
    kind: EventKind
    complete: bool
    time: EventTime
    source: SourceRef
    victim: Victim | None = None
    trigger: Trigger | None = None
    constraint: str | None = None
    # The NUMA nodes the allocating task could use (the summary's mems_allowed=), which a
    # cpuset OOM ran out of; with a memory policy the header's nodemask= says them
    mems_allowed: str | None = None
    memcg: str | None = None  # the cgroup whose limit was hit (oom_memcg)
    task_memcg: str | None = None  # the victim's own cgroup
    global_oom: bool | None = None  # True: whole machine (RAM+swap) was out of memory
    memory: MemcgCounters | None = None
    swap: MemcgCounters | None = None
    memsw: MemcgCounters | None = None
    kmem: MemcgCounters | None = None
    tasks: tuple[TaskRow, ...] = ()
    # The report printed its "Tasks state" table (vm.oom_dump_tasks=1), even if with no
    # rows; False when no table header is in the log. Tells "no process in the cgroup"
    # from "no table printed".
    tasks_listed: bool = False
    tasks_skipped: int = 0  # rows of the table that could not be read (a note says so too)
    # systemd units that noted this kill ("A process of this unit has been killed by the
    # OOM killer"): the unit and the slices above it (kernel_log/systemd_units.py).
    units: tuple[str, ...] = ()
    # A kill known from slurmstepd's count ("Detected 1 oom_kill event in StepId=191.batch")
    slurm: SlurmStep | None = None
    extra_victims: tuple[Victim, ...] = ()  # memory.oom.group members
    oom_group: str | None = None
    reaped: Victim | None = None  # numbers after oom_reaper: reaped process
    ram_pages: int | None = None  # "N pages RAM" (global Mem-Info)
    reserved_pages: int | None = None
    total_swap_kb: int | None = None  # "Total swap = NkB"
    free_swap_kb: int | None = None
    # show_free_areas()'s counters (global Mem-Info): kernel memory that killing no
    # process gives back, shared memory, and RAM set aside as huge pages
    slab_unreclaimable_pages: int | None = None
    shmem_pages: int | None = None
    hugepages_kb: int | None = None  # every node's hugepages_total x hugepages_size
    # The biggest caches of "Unreclaimable slab info:", (name, total kB), largest first
    slab_caches: tuple[tuple[str, int], ...] = ()
    page_size_kb: int | None = None  # derived from the victim row vs the Killed line
    # Mem-Info's free blocks per zone and order ("Node 0 Normal", (order 0, 1, 2, ...))
    free_areas: tuple[tuple[str, tuple[int, ...]], ...] = ()
    message: str | None = None  # the victim line prefix: "Out of memory", "Memory cgroup out of memory"
    panic_message: str | None = None
    reason: str | None = None  # userspace killers: why they acted, as they printed it
    # Whether the victim exited after the signal, where the killer says (earlyoom:
    # "process N exited after S seconds" / "process N did not exit"); None: not said
    victim_exited: bool | None = None
    suppressed_headers: int | None = None  # "oom_kill_process: N callbacks suppressed"
    missing: tuple[str, ...] = ()  # what a partial report lacks, in words
    notes: tuple[str, ...] = ()  # facts about the record (e.g. early-5.4 pgtables unit bug)
    host: str | None = None
    also_seen_in: tuple[SourceRef, ...] = ()


# --- doctor (the process and cgroup records are in procmodels.py) ---------------------------


class Finding(NamedTuple):
    """One `oomkit doctor` result: what was read, what it means, how to fix it."""

    id: str
    status: str  # "ok", "warn", "info"
    title: str
    evidence: str
    explanation: str
    fix: str | None = None


# --- flight recorder: daemon samples, the database's records, forecasts ------------------------
# Sample times (``ts``) are Unix seconds (time.time()); query results carry aware datetimes.


class SystemSample(NamedTuple):
    """System memory at one moment: /proc/meminfo (kB) and /proc/pressure/memory."""

    ts: float
    mem_total_kb: int
    mem_available_kb: int
    swap_total_kb: int
    swap_free_kb: int
    committed_as_kb: int
    commit_limit_kb: int
    psi_some_avg10: float | None = None
    psi_full_avg10: float | None = None
    psi_some_total_us: int | None = None
    psi_full_total_us: int | None = None


class CgroupSample(NamedTuple):
    """One memory cgroup with a limit at one moment (kB; counters since the cgroup was made).

    v2: ``memory.events`` high/max/oom/oom_kill; v1: ``memory.failcnt`` as ``max_events``
    and ``memory.oom_control`` oom_kill (4.13+).
    """

    ts: float
    path: str
    version: int
    usage_kb: int | None
    limit_kb: int | None
    high_events: int | None = None
    max_events: int | None = None
    oom_events: int | None = None
    oom_kills: int | None = None


class ProcessInfo(NamedTuple):
    """Who a process is. ``(pid, start_ticks)`` names it: a reused pid has another start time.

    ``start_ticks`` is /proc/PID/stat field 22 (clock ticks after boot).
    """

    pid: int
    start_ticks: int
    name: str
    cmdline: str
    uid: int
    cgroup: str | None


class ProcessSample(NamedTuple):
    """A process's memory at one moment (kB, /proc/PID/status) and its OOM standing.

    ``oom_score`` is computed with the kernel's formula (scoring.oom_score), not read.
    """

    ts: float
    info: ProcessInfo
    anon_rss_kb: int
    file_rss_kb: int
    shmem_rss_kb: int
    swap_kb: int
    oom_score_adj: int
    oom_score: int


class Forecast(NamedTuple):
    """How long until memory runs out for one subject, from its recent growth.

    ``headroom_kb`` is what is left now (MemAvailable + SwapFree, or limit - usage);
    ``rate_kb_s`` is the robust (Theil-Sen) trend of the used memory, positive = growing;
    ``seconds_left`` is None when memory is not running out at a significant rate.
    """

    subject: str  # "system", a cgroup path, or "pid:N"
    kind: str  # "system", "cgroup", "process"
    seconds_left: float | None
    rate_kb_s: float
    headroom_kb: int
    capacity_kb: int
    points: int


class WarningRecord(NamedTuple):
    """A warning the daemon raised (or its "recovered" message), as stored."""

    ts: float
    subject: str
    kind: str  # "warning", "still", "recovered"
    seconds_left: float | None
    message: str


class RecordedProcess(NamedTuple):
    """A process identity in the database."""

    id: int
    pid: int
    start_ticks: int
    name: str
    cmdline: str
    uid: int | None
    cgroup: str | None
    first_seen: datetime
    last_seen: datetime | None


class TimelinePoint(NamedTuple):
    """One recorded sample of a process (kB)."""

    wall: datetime
    anon_rss_kb: int
    file_rss_kb: int
    shmem_rss_kb: int
    swap_kb: int
    oom_score_adj: int | None = None
    oom_score: int | None = None

    @property
    def total_kb(self) -> int:
        """RSS + swap."""
        return self.anon_rss_kb + self.file_rss_kb + self.shmem_rss_kb + self.swap_kb


class SystemPoint(NamedTuple):
    """One recorded system sample (kB)."""

    wall: datetime
    mem_total_kb: int
    mem_available_kb: int
    swap_free_kb: int
    psi_some_avg10: float | None = None
    psi_full_avg10: float | None = None


class CgroupPoint(NamedTuple):
    """One recorded sample of a memory cgroup (kB)."""

    wall: datetime
    usage_kb: int | None
    limit_kb: int | None
    oom_kills: int | None = None


class KillRecord(NamedTuple):
    """What the flight recorder knows about one kill: the victim's curve before death."""

    process: RecordedProcess | None
    timeline: tuple[TimelinePoint, ...]
    system: tuple[SystemPoint, ...]
    warnings: tuple[WarningRecord, ...]
    growth_kb_s: float | None  # robust trend of the victim's RSS + swap over the timeline
    detected_by: str | None = None  # "kmsg", "counter" (no log line), None = only in the logs


# --- job supervision (oomkit run, [programs.NAME], oomkit ctl) -----------------------------------


class JobState(str, Enum):
    """The states of a supervised job: Supervisor's ``ProcessStates`` without UNKNOWN.

    The allowed transitions and their labels are in ``oomkit.supervise.states``.
    """

    STOPPED = "STOPPED"  # not running, by request (or never started)
    STARTING = "STARTING"  # spawned; not yet up for ``startsecs``
    RUNNING = "RUNNING"  # up for at least ``startsecs``
    BACKOFF = "BACKOFF"  # waiting out a restart delay
    STOPPING = "STOPPING"  # stop signal sent; waiting for the exit (SIGKILL after stopwaitsecs)
    EXITED = "EXITED"  # exited from RUNNING and the policy does not restart it
    FATAL = "FATAL"  # gave up: cannot be started, or the restart policy's bound was reached


class RestartPolicy(str, Enum):
    """When an exit from RUNNING is followed by a restart.

    ``NEVER``/``UNEXPECTED``/``ALWAYS`` are Supervisor's ``autorestart``
    false/unexpected/true; ``ON_OOM`` restarts only after an OOM kill (kernel or
    userspace killer).
    """

    NEVER = "no"
    UNEXPECTED = "on-failure"
    ON_OOM = "on-oom"
    ALWAYS = "always"


class ExitCause(str, Enum):
    """Why a job's main process ended (see docs/supervise.md "Classification")."""

    EXIT = "exit"  # exit(2) with a code
    OOM_KILL = "oom_kill"  # the kernel OOM killer (memcg or global)
    USERSPACE_KILL = "userspace_kill"  # earlyoom, systemd-oomd, nohang, oomd
    SIGNAL = "signal"  # another signal from outside (or oomkit's own stop)
    CRASH = "crash"  # SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS, SIGTRAP, or a core dump


class BackoffPolicy(NamedTuple):
    """Restart delays: ``initial * factor**(n-1)``, capped at ``maximum``, minus up to ``jitter``.

    ``reset_after``: a job that stayed up this long before exiting starts
    counting from the first delay again.
    """

    initial_s: float = 1.0
    maximum_s: float = 300.0
    factor: float = 2.0
    jitter: float = 0.2  # fraction of the delay removed at random (0 = none)
    reset_after_s: float = 60.0


class ProgramSpec(NamedTuple):
    """One supervised program: ``[programs.NAME]`` or the flags of ``oomkit run``.

    Keys and defaults follow Supervisor's ``[program:x]`` where it has one
    (docs/supervise.md has the table); memory settings are in bytes, None = unset.
    """

    name: str
    command: tuple[str, ...]
    directory: str | None = None
    user: str | None = None
    environment: tuple[tuple[str, str], ...] = ()
    umask: int | None = None
    autostart: bool = True
    autorestart: RestartPolicy = RestartPolicy.UNEXPECTED
    exitcodes: tuple[int, ...] = (0,)
    startsecs: float = 1.0
    startretries: int = 3
    stopsignal: int = 15  # SIGTERM
    stopwaitsecs: float = 10.0
    stopasgroup: bool = True
    killasgroup: bool = True
    memory_max: int | None = None
    memory_high: int | None = None
    swap_max: int | None = None
    oom_score_adj: int | None = None
    backoff: BackoffPolicy = BackoffPolicy()
    oom_backoff: BackoffPolicy | None = None  # None: the same as ``backoff``
    oom_max_in_row: int | None = 3  # FATAL after this many OOM kills in a row; None = no bound
    max_restarts: int | None = None  # FATAL after this many restarts in a row; None = no bound
    log_file: str | None = None  # None: <log dir>/<name>.log
    log_maxbytes: int = 50 << 20
    log_backups: int = 10
    killer_logs: tuple[str, ...] = ()  # files where userspace OOM killers log (besides the journal)
    stdin_inherit: bool = False  # `oomkit run` passes its stdin through


class JobExit(NamedTuple):
    """One exit of a job's main process, classified, with its evidence."""

    name: str
    pid: int
    cause: ExitCause
    exit_code: int | None  # WEXITSTATUS, when it exited
    signal: int | None  # WTERMSIG, when a signal ended it
    core_dumped: bool
    memcg: str | None  # the job's cgroup as the kernel prints it
    peak_rss_kb: int | None  # the job's peak: its cgroup's high-water mark, else wait4 ru_maxrss (kB)
    memcg_peak_kb: int | None  # the cgroup's high-water mark (v1 max_usage_in_bytes, v2 memory.peak)
    oom_kills: int | None  # the cgroup's oom_kill counter delta over the run
    wall_s: float  # how long the run lasted (monotonic)
    started: datetime
    ended: datetime
    killer: str | None = None  # "kernel", "earlyoom", ... for oom_kill / userspace_kill
    detail: str = ""  # one line: what happened, in words
    evidence: tuple[str, ...] = ()  # the facts the cause rests on
    event: OomEvent | None = None  # the matching kernel or killer log event
    expected: bool = False  # oomkit stopped it (stop, restart, shutdown)


class JobStatus(NamedTuple):
    """What ``oomkit ctl status`` shows for one program."""

    name: str
    state: JobState
    pid: int | None
    uptime_s: float | None
    rss_kb: int | None  # the cgroup's usage now (or the main process's VmRSS without a cgroup)
    peak_kb: int | None  # the cgroup's high-water mark (or VmHWM)
    limit_bytes: int | None
    restarts: int  # restarts by the policy since the supervisor started
    last_exit: JobExit | None
    reason: str | None  # why it is in BACKOFF / FATAL / EXITED
    memcg: str | None
    backoff_left_s: float | None = None
    restarts_by_cause: tuple[tuple[str, int], ...] = ()  # ("oom_kill", 3), ... (sums to restarts)


class JobEvent(NamedTuple):
    """A supervised program's recorded event (spawned, state, exit), from the database."""

    wall: datetime
    name: str
    kind: str  # "spawned", "state", "exit"
    data: str  # the event as JSON (docs/supervise.md "Report" for exits)
