"""Assemble classified records into OOM events: a pure state machine.

A kernel report is a run of records (docs/kernel-oom.md 1.1): the
``invoked oom-killer`` header, the stack (``CPU: .. PID: .. Comm:``), memcg
counters or Mem-Info, the task table, the ``oom-kill:`` summary, then the
``Killed process`` line. Other messages may interleave, the header may be
ratelimited away (section 1.9: only the victim line is printed for every kill),
and a file may end mid-report. The assembler therefore keeps one open report,
closes it on the victim line, the next header or the end of input, and reports
what it lacks in ``missing`` rather than filling gaps.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator

from oomkit.kernel_log import records as r
from oomkit.kernel_log.slurm import (
    BASH_NEAR,
    bash_killed,
    is_slurm_note,
    note_event,
    read_note,
    same_step,
    srun_oom,
)
from oomkit.kernel_log.systemd_units import UnitNotes, is_unit_note, oomd_note
from oomkit.kernel_log.task_rows import read_headerless, read_row
from oomkit.kernel_log.userspace import UserspaceTracker, earlyoom_outcome, may_be_userspace
from oomkit.models import (
    EventKind,
    EventTime,
    Killer,
    LogLine,
    MemcgCounters,
    OomEvent,
    SourceRef,
    TaskRow,
    Trigger,
    Victim,
)

# A reaper line may follow its kill by 2 s (OOM_REAPER_DELAY) and other
# reports; events wait this many later records for it before being emitted.
_REAPER_WINDOW = 64
_REAPED_ONLY = ("the kill's report and victim line (only the oom_reaper's line is in the log: the"
                " kill happened, its report was cut, ratelimited or left out)",)
# The biggest of the "Unreclaimable slab info" caches an event keeps.
SLAB_TOP = 5


class _Report:
    """A report being assembled: mutable, private to the Assembler (a plain slotted class,
    so the daemon that feeds kmsg here never imports ``dataclasses``)."""

    __slots__ = (
        "alloc_frame",
        "bad_rows",
        "columns",
        "counters",
        "cpu",
        "exiting",
        "extra",
        "first",
        "first_line",
        "free_areas",
        "group",
        "header",
        "killed",
        "killed_line",
        "kind",
        "loose",
        "memcg_frame",
        "meminfo",
        "panic",
        "reaped",
        "rows",
        "score",
        "slab",
        "stats_for",
        "summary",
        "suppressed",
        "task_in",
        "unreaped",
    )

    def __init__(self, first: SourceRef, first_line: LogLine, suppressed: int | None) -> None:
        self.first = first
        self.first_line = first_line
        self.header: r.Header | None = None
        self.cpu: r.CpuLine | None = None
        self.counters: dict[str, MemcgCounters] = {}
        self.stats_for: str | None = None
        self.task_in: r.TaskIn | None = None
        self.columns: tuple[str, ...] | None = None
        self.rows: list[TaskRow] = []
        self.loose: list[r.Row] = []  # rows without a table header before them
        self.slab: list[tuple[str, int]] = []
        self.bad_rows = 0
        self.summary: r.Summary | None = None
        self.score: r.KillScore | None = None
        self.killed: r.Killed | None = None
        self.killed_line: LogLine | None = None
        self.group: str | None = None
        self.extra: list[Victim] = []
        self.meminfo: dict[str, int] = {}
        self.suppressed = suppressed
        self.kind = EventKind.OOM_KILL
        self.panic: str | None = None
        self.exiting: r.Exiting | None = None
        self.reaped: Victim | None = None
        self.unreaped: str | None = None  # the note of "oom_reaper: unable to reap"
        self.memcg_frame = False  # the call trace went through the memcg OOM path
        self.alloc_frame = False  # ... or through the page allocator's
        self.free_areas: list[r.FreeArea] = []


def _rows_only(rep: _Report) -> bool:
    """Whether a report holds nothing but task rows without their header: an excerpt of a
    table tells of no kill (a kill line after it would have closed it, not this)."""
    return (bool(rep.loose) and rep.killed is None and rep.header is None
            and rep.summary is None and rep.score is None and rep.columns is None
            and rep.kind is EventKind.OOM_KILL and rep.exiting is None and not rep.counters
            and not rep.meminfo and rep.stats_for is None and rep.task_in is None)


def _victim_is(event: OomEvent, pid: int | None) -> bool:
    return event.victim is not None and event.victim.pid == pid


def _time(line: LogLine) -> EventTime:
    return EventTime(
        raw=line.raw_time,
        uptime_s=line.uptime_s,
        wall=line.wall,
        wall_from=line.wall_kind,
        boot_id=line.boot_id,
    )


def _page_size_kb(victim: Victim, rows: list[TaskRow]) -> int | None:
    """Page size of the logging machine, from the victim's row (pages) vs its kB line."""
    if victim.anon_rss_kb is None or victim.file_rss_kb is None:
        return None
    kb = victim.anon_rss_kb + victim.file_rss_kb + (victim.shmem_rss_kb or 0)
    for row in rows:
        if (row.tgid == victim.pid or row.pid == victim.pid) and row.rss_pages:
            ratio = kb / row.rss_pages
            for size in (4, 8, 16, 64):
                if abs(ratio - size) <= size * 0.1:
                    return size
    return None


def _distinct(extra: list[Victim], victim: Victim | None) -> tuple[Victim, ...]:
    """Group members once each, without the victim (oom.group logs repeat them)."""
    seen = {victim.pid} if victim is not None else set()
    out = []
    for v in extra:
        if v.pid not in seen:
            seen.add(v.pid)
            out.append(v)
    return tuple(out)


def _thread_of_victim(rep: _Report, victim: Victim) -> bool:
    """Whether the task scored is a thread of the victim's process, not a parent that gave
    up a child. Older kernels scored threads (do_each_thread; a memcg's task list) and
    printed the thread's pid, while dump_tasks() lists processes. A parent is a process, in
    the table; a task that is not in a table holding the victim's row was one of its
    threads, whatever its name (threads name themselves: ClickHouse's "QueryPipelineEx";
    RHEL 7's 3.10: "Kill process 76756 (java) ... Killed process 76513 (java)", one row)."""
    assert rep.score is not None
    if rep.columns is None:
        return False
    pids = {r.pid for r in rep.rows} | {r.tgid for r in rep.rows}
    return victim.pid in pids and rep.score.pid not in pids


def _finish(rep: _Report) -> OomEvent:
    missing: list[str] = []
    notes: list[str] = []
    killed = rep.killed
    summary = rep.summary
    victim: Victim | None = None
    if killed is not None:
        victim = killed.victim
        if summary is not None and summary.pid == victim.pid:
            if victim.uid is None:
                victim = victim._replace(uid=summary.uid)
            if victim.name is None:  # the victim line was cut inside the name
                victim = victim._replace(name=summary.task)
        if killed.digit_separators:
            notes.append(
                "the victim line's numbers had ',' digit separators, which the kernel never"
                " prints (edited by a person or a tool); they are read as their digits"
            )
        if killed.cut and killed.has_numbers:
            missing.append(
                "the end of the victim line (cut short, as a pager or a terminal's width cuts"
                " a line; its numbers before the cut are read)")
        elif killed.cut and victim.name is not None:
            missing.append("victim memory numbers (the victim line was cut short before them)")
        elif killed.cut:
            missing.append(
                "victim name and memory numbers (the victim line was cut short inside the name)")
        elif not killed.has_numbers:
            missing.append(
                "victim memory numbers (not on the victim line: a kernel before 2.6.3x, or the"
                " line was cut or wrapped)"
            )
    elif summary is not None:
        victim = Victim(pid=summary.pid, name=summary.task, uid=summary.uid)
    elif rep.score is not None:
        victim = Victim(pid=rep.score.pid, name=rep.score.name)
    if rep.score is not None and victim is not None:
        if rep.score.pid == victim.pid:
            victim = victim._replace(score=rep.score.score)
        elif _thread_of_victim(rep, victim):
            victim = victim._replace(score=rep.score.score)
            notes.append(
                f"the kernel scored {rep.score.name} ({rep.score.pid}), a thread of"
                f" {victim.name} ({victim.pid}) (not in the table, which lists processes);"
                " the kill took the whole process"
            )
        elif (rep.columns is None and rep.score.name != victim.name
              and not rep.score.or_a_child):
            # No table to tell a parent (a process, listed) from a thread (not listed), and
            # a thread's name is its own: either may be.
            notes.append(
                f"the kernel scored {rep.score.name} ({rep.score.pid}) at {rep.score.score}"
                f" and killed {victim.name} ({victim.pid}): a child it gave up (child"
                " sacrifice, removed in Linux 5.1), or the process the scored thread belonged"
                " to (older kernels scored threads); without the task table the log does not"
                " tell which"
            )
        else:
            notes.append(
                f"the kernel scored {rep.score.name} ({rep.score.pid}) at {rep.score.score}"
                f" and killed its child {victim.name} ({victim.pid}) instead"
                " (child sacrifice, removed in Linux 5.1)"
            )
    if rep.columns is None and rep.loose:
        rows, skipped, how = read_headerless(rep.loose)
        rep.rows.extend(rows)
        rep.bad_rows += skipped
        if how:
            notes.append(how)
    if victim is not None and victim.uid is None:
        # Kernels before 4.19 print no UID on the victim line; its table row has it.
        row = next((r for r in rep.rows if victim.pid in (r.tgid, r.pid) and r.uid is not None),
                   None)
        if row is not None:
            victim = victim._replace(uid=row.uid)
    page_kb = _page_size_kb(victim, rep.rows) if victim is not None else None
    if page_kb is None and rep.free_areas:  # the free-area line's smallest block
        page_kb = rep.free_areas[0].page_kb
    if victim is not None and page_kb is not None:
        for row in rep.rows:
            if row.tgid == victim.pid and row.swapents_pages is not None:
                victim = victim._replace(swap_kb=row.swapents_pages * page_kb)
                break
    if killed is not None and killed.victim.pgtables_kb is not None:
        # Early 5.4.y printed mm_pgtables_bytes() under a kB label (fixed by
        # "mm/oom: fix pgtables units mismatch in Killed process message").
        for row in rep.rows:
            if (
                row.tgid == killed.victim.pid
                and row.pgtables_bytes is not None
                and row.pgtables_bytes == killed.victim.pgtables_kb
                and row.pgtables_bytes >= 4096
                and victim is not None
            ):
                victim = victim._replace(pgtables_kb=row.pgtables_bytes // 1024)
                notes.append(
                    "this kernel printed pgtables in bytes under a kB label (early 5.4 bug);"
                    " the value shown is converted"
                )
                break
    if rep.header is None:
        if rep.suppressed is None:
            missing.append(
                "report header (ratelimited by the kernel, or before the start of this log)"
            )
        else:
            missing.append("report header (ratelimited by the kernel)")
    if rep.kind is EventKind.OOM_KILL and killed is None:
        missing.append("victim line (log ends or was cut before the kill was printed)")
    if rep.columns is not None and not rep.rows and rep.kind is EventKind.OOM_KILL:
        missing.append("task table rows")
    if rep.bad_rows:
        notes.append(f"{rep.bad_rows} task table row(s) could not be read and were skipped")
    if rep.unreaped is not None:
        notes.append(rep.unreaped)
    if rep.exiting is not None:
        notes.append(
            f"the chosen victim {rep.exiting.name} ({rep.exiting.pid}) was already exiting,"
            " so nothing new was killed"
        )
    trigger = None
    if rep.header is not None:
        h = rep.header
        pid = rep.cpu.pid if rep.cpu is not None and rep.cpu.comm == h.comm[:15] else None
        trigger = Trigger(
            name=h.comm, pid=pid, gfp_mask=h.gfp_mask, gfp_flags=h.gfp_flags, order=h.order,
            oom_score_adj=h.oom_score_adj, nodemask=h.nodemask,
        )
    memcg = None
    task_memcg = None
    constraint = None
    global_oom: bool | None = None
    if summary is not None:
        constraint = summary.constraint
        memcg = summary.oom_memcg
        task_memcg = summary.task_memcg
        if summary.global_oom or constraint == "CONSTRAINT_NONE":
            global_oom = True
        elif constraint == "CONSTRAINT_MEMCG" or memcg is not None:
            global_oom = False
    if rep.task_in is not None:
        memcg = memcg or rep.task_in.memcg
        task_memcg = task_memcg or rep.task_in.task_memcg
    if memcg is None and rep.stats_for is not None and rep.counters:
        # The first "Memory cgroup stats for" of a report names the cgroup whose limit was
        # hit: mem_cgroup_print_oom_info() walked the tree from it (before 4.19), and
        # mem_cgroup_print_oom_meminfo() prints it alone (mm/memcontrol.c).
        memcg = rep.stats_for
    stats = rep.stats_for
    if (memcg is not None and stats is not None and len(stats) > len(memcg)
            and stats.startswith(memcg) and stats[len(memcg)] != "/"):
        # "... limit of /docke" and "r/3215..." on the next line: a terminal wrapped it; the
        # stats line names the same cgroup whole
        notes.append(f"the limit's cgroup path was cut at {memcg!r} (a wrapped line); the"
                     " report's \"Memory cgroup stats for\" line gives it whole")
        memcg = stats
    message = killed.message if killed is not None else None
    if message is None and rep.score is not None:
        message = rep.score.message
    if global_oom is None and (
        (message and message.startswith("Memory cgroup")) or "memory" in rep.counters
        or rep.task_in is not None
    ):
        global_oom = False
    if global_oom is None and rep.memcg_frame:
        global_oom = False  # the call trace says so (records.MemcgFrame)
    if global_oom is None and rep.alloc_frame and rep.header is not None:
        global_oom = True  # the page allocator's path, not a charge (records.AllocatorFrame)
    if global_oom is None and "Mem-Info" in rep.meminfo and rep.stats_for is None:
        # show_mem() runs only for OOMs outside a memory cgroup (dump_header()).
        global_oom = True
    if global_oom is None and message and message.lower().startswith("out of memory"):
        # out_of_memory() passes "Out of memory" (or "... (oom_kill_allocating_task)"),
        # mem_cgroup_out_of_memory() "Memory cgroup out of memory" (mm/oom_kill.c): the
        # same split the summary line prints as global_oom or oom_memcg=.
        global_oom = True
    if global_oom is False and "memory" not in rep.counters and rep.header is not None:
        missing.append("memory cgroup usage and limit lines")
    time_line = rep.killed_line or rep.first_line
    return OomEvent(
        killer=Killer.KERNEL,
        kind=rep.kind,
        complete=not missing,
        time=_time(time_line),
        source=rep.first,
        victim=victim,
        trigger=trigger,
        constraint=constraint,
        mems_allowed=summary.mems_allowed if summary is not None else None,
        free_areas=tuple((f.zone, f.counts) for f in rep.free_areas),
        memcg=memcg,
        task_memcg=task_memcg,
        global_oom=global_oom,
        memory=rep.counters.get("memory"),
        swap=rep.counters.get("swap"),
        memsw=rep.counters.get("memory+swap"),
        kmem=rep.counters.get("kmem"),
        tasks=tuple(rep.rows),
        tasks_listed=rep.columns is not None,
        tasks_skipped=rep.bad_rows,
        extra_victims=_distinct(rep.extra, victim),
        oom_group=rep.group,
        reaped=rep.reaped,
        ram_pages=rep.meminfo.get("RAM"),
        reserved_pages=rep.meminfo.get("reserved"),
        total_swap_kb=rep.meminfo.get("Total swap"),
        free_swap_kb=rep.meminfo.get("Free swap"),
        slab_unreclaimable_pages=rep.meminfo.get("slab_unreclaimable"),
        shmem_pages=rep.meminfo.get("shmem"),
        hugepages_kb=rep.meminfo.get("hugepages_kb"),
        slab_caches=tuple(sorted(rep.slab, key=lambda c: -c[1])[:SLAB_TOP]),
        page_size_kb=page_kb,
        message=message,
        panic_message=rep.panic,
        suppressed_headers=rep.suppressed,
        missing=tuple(missing),
        notes=tuple(notes),
        host=rep.first_line.host,
    )


class Assembler:
    """Feed ``(line, ref)`` pairs; collect finished events from ``feed`` and ``close``.

    Kept as a small class (not a generator) so the daemon can feed records as
    they arrive from /dev/kmsg and the batch reader can feed them from files.
    """

    def __init__(self) -> None:
        self._open: _Report | None = None
        # [event, record number after which it is emitted]; a list so that a
        # reaper line can still amend the event while it waits.
        self._pending: deque[list[object]] = deque()
        self._records = 0
        self._suppressed: int | None = None
        self._user = UserspaceTracker()
        self._units = UnitNotes()
        self._bash: tuple[int, str] | None = None  # (record number, note) of a bash "Killed"
        self._emitted: deque[int] = deque(maxlen=256)  # victims of events already out

    def _repeated(self, event: OomEvent) -> bool:
        """Fold another signal to the same victim into the pending kill; False if none."""
        def fold(kept: OomEvent) -> OomEvent:
            notes, tries = kept.notes, 2
            if notes and notes[0].startswith("signalled "):
                tries = int(notes[0].split()[1]) + 1
                notes = notes[1:]
            return kept._replace(notes=(f"signalled {tries} times; last: {event.reason}", *notes))

        if event.victim is None:
            return False
        pid = event.victim.pid
        return self._amend(lambda e: e.killer is event.killer and _victim_is(e, pid), fold)

    def _exited(self, pid: int, exited: bool, how: str) -> None:
        """earlyoom's word on whether its last victim went: the latest signal's counts."""
        def said(kept: OomEvent) -> OomEvent:
            notes = tuple(n for n in kept.notes if not n.startswith("it "))
            return kept._replace(victim_exited=exited, notes=(*notes, how))

        self._amend(lambda e: e.killer is Killer.EARLYOOM and _victim_is(e, pid), said)

    def _noted_by_systemd(self, note: OomEvent) -> bool:
        """systemd's note of a systemd-oomd kill that systemd-oomd's own line, pending, told:
        the note's unit and count go on that event (why.absorb_unit_notes does the same
        across sources)."""
        return self._amend(
            lambda e: (e.killer is Killer.SYSTEMD_OOMD and e.memcg is not None
                       and note.units[0] in e.memcg.split("/")),
            lambda e: e._replace(units=(*e.units, *note.units), notes=(*e.notes, *note.notes)))

    def _srun(self, node: str, ranks: str) -> None:
        """srun's "task N: Out Of Memory": the node of the latest Slurm count pending."""
        note = f"srun: task {ranks} on node {node} ended Out Of Memory"
        self._amend(lambda e: e.slurm is not None and e.victim is None,
                    lambda e: e if e.host is not None
                    else e._replace(host=node, notes=(*e.notes, note)))

    def _recounted(self, event: OomEvent) -> bool:
        """A later count of a step already pending: the largest count stays."""
        counted = event.slurm
        assert counted is not None
        return self._amend(
            lambda e: same_step(e, event),
            lambda e: e._replace(slurm=counted)
            if e.slurm is not None and counted.oom_kills > e.slurm.oom_kills else e)

    def _close(self) -> None:
        rep = self._open
        if rep is not None and not _rows_only(rep):
            self._pending.append([_finish(rep), self._records + _REAPER_WINDOW])
        self._open = None

    def _start(self, line: LogLine, ref: SourceRef) -> _Report:
        self._close()
        rep = _Report(ref, line, self._suppressed)
        self._suppressed = None
        self._open = rep
        return rep

    def _drain(self, final: bool) -> Iterator[OomEvent]:
        pending = self._pending
        while pending and (final or pending[0][1] <= self._records):  # type: ignore[operator]
            event = pending.popleft()[0]
            assert isinstance(event, OomEvent)
            if event.victim is not None and event.victim.pid is not None:
                self._emitted.append(event.victim.pid)
            yield event

    def _unreaped(self, rec: r.Unreaped) -> None:
        note = (f"the oom_reaper could not free {rec.name}'s memory (\"unable to reap\"): for"
                " about a second it could not take the victim's memory map lock, which the"
                " victim held, busy in the kernel; its memory came back only when it exited,"
                " and the next OOM could choose another victim")
        rep = self._open
        if rep is not None and rep.killed is not None and rep.killed.victim.pid == rec.pid:
            rep.unreaped = note
            return
        self._amend(lambda e: _victim_is(e, rec.pid), lambda e: e._replace(notes=(*e.notes, note)))

    def _reaped(self, victim: Victim, line: LogLine, ref: SourceRef) -> None:
        rep = self._open
        if rep is not None and rep.killed is not None and rep.killed.victim.pid == victim.pid:
            rep.reaped = victim
            return
        if self._amend(lambda e: _victim_is(e, victim.pid), lambda e: e._replace(reaped=victim)):
            return
        if victim.pid in self._emitted:
            return  # its event went out already (a live reader flushed it)
        # The reaper reaps only OOM victims (mm/oom_kill.c, oom_reap_task): a kill whose
        # report and victim line are not in the log (cut, ratelimited, or left out).
        self._pending.append([OomEvent(
            killer=Killer.KERNEL, kind=EventKind.OOM_KILL, complete=False, time=_time(line),
            source=ref, victim=Victim(pid=victim.pid, name=victim.name), reaped=victim,
            host=line.host, missing=_REAPED_ONLY,
        ), self._records + _REAPER_WINDOW])

    def _amend(self, match: Callable[[OomEvent], bool],
               change: Callable[[OomEvent], OomEvent]) -> bool:
        """Change the latest pending event ``match`` takes; False if none. Lines that add to
        a finished report come after it (the reaper's, a killer's outcome, another's note)."""
        for item in reversed(self._pending):
            event = item[0]
            assert isinstance(event, OomEvent)
            if match(event):
                item[0] = change(event)
                return True
        return False

    def feed(self, line: LogLine, ref: SourceRef) -> list[OomEvent]:
        """Consume one decoded line; return the events it completed (usually none)."""
        if self._user.holding:
            held = self._user.release(line)
            if held is not None:
                self._records += 1
                self._pending.append([held, self._records + _REAPER_WINDOW])
        if is_unit_note(line):
            oomd = oomd_note(line, ref)
            if oomd is not None:
                self._records += 1
                if not self._noted_by_systemd(oomd):
                    self._pending.append([oomd, self._records + _REAPER_WINDOW])
                return self._ready()
            noted = self._units.feed(line, ref)
            if noted:
                self._records += 1
                self._pending.extend([e, self._records + _REAPER_WINDOW] for e in noted)
                return self._ready()
            return []
        if is_slurm_note(line):
            note = read_note(line)
            if note is not None:
                bash = self._bash if self._bash and self._records - self._bash[0] <= BASH_NEAR else None
                event = note_event(line, note, ref, bash[1] if bash else None)
                self._bash = None
                self._records += 1
                if not self._recounted(event):
                    self._pending.append([event, self._records + _REAPER_WINDOW])
                return self._ready()
        if line.ident is None and "srun: " in line.text:
            ran = srun_oom(line)
            if ran is not None:
                self._srun(*ran)
                return []
        if line.ident is None and ": line " in line.text:
            said = bash_killed(line)
            if said is not None:
                self._bash = (self._records, said)
                return []
        if may_be_userspace(line):
            outcome = earlyoom_outcome(line)
            if outcome is not None:
                self._exited(*outcome)
                return []
            user, repeat = self._user.feed(line, ref)
            if user is not None:
                self._records += 1
                if not (repeat and self._repeated(user)):
                    self._pending.append([user, self._records + _REAPER_WINDOW])
                return self._ready()
        ident = line.ident
        if ident is not None and ident != "kernel" and ident.lower() != "kernel":
            # Another program's line that quotes the kernel's (node-problem-detector logs
            # "Memory cgroup out of memory: Killed process ..." as its own message).
            return []
        rec = r.classify(line.text)
        if rec is None:
            # Only records count towards the reaper window, so the result does not
            # depend on how much noise was filtered out before the assembler.
            return []
        self._records += 1
        self._apply(rec, line, ref)
        return self._ready()

    def _ready(self) -> list[OomEvent]:
        pending = self._pending
        if not pending or pending[0][1] > self._records:  # type: ignore[operator]
            return []
        return list(self._drain(False))

    def _apply(self, rec: r.Record, line: LogLine, ref: SourceRef) -> None:
        rep = self._open
        if type(rec) is r.Row and rep is not None and rep.killed is None:
            # the commonest record by far (one per task): decided first
            if rep.columns is not None:
                row = read_row(rep.columns, rec)
                if row is None:
                    rep.bad_rows += 1
                else:
                    rep.rows.append(row)
            else:
                rep.loose.append(rec)
            return
        if isinstance(rec, r.Header):
            rep = self._start(line, ref)
            rep.header = rec
            return
        if isinstance(rec, r.Suppressed):
            self._suppressed = rec.n
            return
        if isinstance(rec, r.Unreaped):
            self._unreaped(rec)
            return
        if isinstance(rec, r.Reaped):
            self._reaped(rec.victim, line, ref)
            return
        if isinstance(rec, r.Killed):
            if rep is not None and rep.killed is not None and rep.group is not None:
                rep.extra.append(rec.victim)  # memory.oom.group member
                return
            if rep is None or rep.killed is not None:
                rep = self._start(line, ref)
            rep.killed = rec
            rep.killed_line = line
            if rep.header is None and rep.summary is None and rep.score is None:
                self._close()  # a bare, ratelimited kill line is a report on its own
            return
        if isinstance(rec, r.Sharing):
            if rep is not None:
                rep.extra.append(Victim(pid=rec.pid, name=rec.name))
            return
        if isinstance(rec, r.Group):
            if rep is not None:
                rep.group = rec.path
            return
        if isinstance(rec, r.Panic):
            if rep is None or rep.killed is not None:
                rep = self._start(line, ref)
            rep.kind = EventKind.PANIC
            rep.panic = rec.message
            rep.killed_line = line  # the event happened when the kernel panicked
            self._close()
            return
        if isinstance(rec, r.NoKillable):
            if rep is None or rep.killed is not None:
                rep = self._start(line, ref)
            rep.kind = EventKind.NO_VICTIM
            return
        if isinstance(rec, r.Exiting):
            if rep is not None and rep.killed is None:
                rep.exiting = rec
                rep.kind = EventKind.NO_VICTIM
                self._close()
            return
        # The rest only make sense inside a report; a summary or kill-score line
        # without a header opens one (the header was cut off or ratelimited).
        if rep is None or rep.killed is not None:
            # A report whose header was cut off or ratelimited: these lines are only
            # printed inside one, so they open it.
            if not isinstance(
                rec, (r.Summary, r.KillScore, r.TaskIn, r.Counter, r.StatsFor, r.TableHeader,
                      r.Row)
            ):
                return
            rep = self._start(line, ref)
            if type(rec) is r.Row:  # the tail of a table whose header is cut off
                rep.loose.append(rec)
                return
        if isinstance(rec, r.MemcgFrame):
            rep.memcg_frame = True
        elif isinstance(rec, r.AllocatorFrame):
            rep.alloc_frame = True
        elif isinstance(rec, r.FreeArea):
            rep.free_areas.append(rec)
        elif isinstance(rec, r.CpuLine):
            if rep.cpu is None:
                rep.cpu = rec
        elif isinstance(rec, r.Counter):
            rep.counters.setdefault(rec.kind, rec.counters)
        elif isinstance(rec, r.StatsFor):
            if rep.stats_for is None:
                rep.stats_for = rec.path
        elif isinstance(rec, r.TaskIn):
            rep.task_in = rec
        elif isinstance(rec, r.TableHeader):
            rep.columns = rec.columns
        elif isinstance(rec, r.Summary):
            if rep.summary is not None:
                # A report prints one summary: another is the next kill's, its other lines
                # filtered out (`grep oom-kill:`) or ratelimited.
                rep = self._start(line, ref)
            rep.summary = rec
        elif isinstance(rec, r.KillScore):
            if rep.score is not None:
                rep = self._start(line, ref)
            rep.score = rec
        elif isinstance(rec, r.MemInfo):
            rep.meminfo.setdefault(rec.what, rec.value)
        elif isinstance(rec, r.MemPages):
            for key, pages in rec.values:
                rep.meminfo.setdefault(key, pages)
        elif isinstance(rec, r.HugePages):  # one line per node and size: their sum
            rep.meminfo["hugepages_kb"] = rep.meminfo.get("hugepages_kb", 0) + rec.kb
        elif isinstance(rec, r.SlabCache):
            rep.slab.append((rec.name, rec.total_kb))

    def flush(self) -> list[OomEvent]:
        """Emit finished events now (a live reader calls this when the log goes quiet)."""
        return list(self._drain(True))

    def close(self) -> list[OomEvent]:
        """End of input: finish the open report and flush everything."""
        self._close()
        held = self._user.release(None)
        if held is not None:
            self._pending.append([held, self._records])
        self._pending.extend([e, self._records] for e in self._units.close())
        return list(self._drain(True))


def assemble(items: Iterable[tuple[LogLine, SourceRef]]) -> Iterator[OomEvent]:
    """Events from decoded lines, in log order."""
    asm = Assembler()
    for line, ref in items:
        yield from asm.feed(line, ref)
    yield from asm.close()
