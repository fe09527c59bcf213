"""Slurm's notes of kernel OOM kills in a job step. Pure.

slurmstepd counts the OOM kills in a step's memory cgroup and logs them to the job's
output file (``slurm-<id>.out``) and to slurmd's log; on a cluster that is often all a
user can read, the node's kernel log being closed to them. Three wordings (SchedMD
slurm, src/plugins/task/cgroup/task_cgroup_memory.c over the years)::

    Detected %"PRIu64" oom-kill event(s) in step %s cgroup.
    Detected %"PRIu64" oom-kill event(s) in %ps cgroup. Some of your processes may have been
        killed by the cgroup out-of-memory handler.
    Detected %"PRIu64" oom_kill event%s in %ps. Some of the step tasks have been OOM Killed.

``%ps`` prints ``StepId=<job>.<step>``, the step ``batch``, ``extern``, ``interactive`` or
a number. The count is that of the step's cgroup (memory.events ``oom_kill`` on cgroup
v2, memory.oom_control on v1), which counts the processes of the cgroup that any OOM kill
took: its own limit, most often, or the node's memory as a whole. A later note of the same
step repeats the count so far (3, then 4, then 5): one event per step, the largest count.

A batch script's bash reports a child killed by a signal on stderr, the same file (bash
jobs.c, notify_of_job_status: "<script>: line N: <pid> Killed <command>"). SIGKILL is what
the OOM killer sends, so such a line just before Slurm's count is told with it, as what
the log says: not taken for the victim, which only the kernel's report names.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from oomkit.models import EventKind, EventTime, Killer, LogLine, OomEvent, SlurmStep, SourceRef

_DETECTED = re.compile(
    r"Detected (?P<n>\d+) oom[-_]kill event(?:\(s\)|s)? in (?:step |StepId=)"
    r"(?P<job>\d+(?:\+\d+)?)\.(?P<step>[A-Za-z0-9_]+)"
)
# slurmd's and slurmstepd's own log files: "[2026-09-14T17:14:38.784] error: ...", the
# node's local time without its zone (src/common/log.c): kept as printed, no wall time.
_STAMP = re.compile(r"^\[(?P<t>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)\] ")
# srun's word on a task the step's OOM ended (src/srun: "srun: error: %s: task%s %s: %s",
# node, ranks, "Out Of Memory"): names the node the kill happened on.
_SRUN_OOM = re.compile(r"srun: error: (?P<node>[^\s:]+): tasks? (?P<ranks>[\d,-]+): Out Of Memory")
_BASH_KILLED = re.compile(r": line \d+: +(?P<pid>\d+) Killed +(?P<cmd>\S.*?)\s*$")
# How many selected lines before Slurm's count a bash "Killed" line may be.
BASH_NEAR = 8
_MISSING = (
    "the kernel's report of the kill (only Slurm's count of it is in this log): victim,"
    " sizes and limit; they are in the compute node's kernel log",
)


class SlurmNote(NamedTuple):
    step: SlurmStep
    raw_time: str | None


def is_slurm_note(line: LogLine) -> bool:
    """Cheap test: could this be slurmstepd's count of OOM kills?"""
    return "Detected " in line.text and "kill event" in line.text


def read_note(line: LogLine) -> SlurmNote | None:
    m = _DETECTED.search(line.text)
    if m is None:
        return None
    stamp = _STAMP.match(line.text)
    return SlurmNote(SlurmStep(job=m.group("job"), step=m.group("step"),
                               oom_kills=int(m.group("n"))),
                     stamp.group("t") if stamp else None)


def bash_killed(line: LogLine) -> str | None:
    """A bash "Killed" line as a note for the Slurm count after it, or None."""
    m = _BASH_KILLED.search(line.text) if "Killed" in line.text else None
    if m is None:
        return None
    return (f"bash reported pid {m.group('pid')} Killed (by SIGKILL, as the OOM killer kills)"
            f" just before: {m.group('cmd')[:200]}")


def srun_oom(line: LogLine) -> tuple[str, str] | None:
    """(node, ranks) from srun's "task N: Out Of Memory", or None."""
    m = _SRUN_OOM.search(line.text) if "Out Of Memory" in line.text else None
    return (m.group("node"), m.group("ranks")) if m else None


def note_event(line: LogLine, note: SlurmNote, ref: SourceRef,
               bash: str | None = None) -> OomEvent:
    """The kills a note counts, as one event: the kernel killed, Slurm only counted."""
    time = EventTime(raw=line.raw_time or note.raw_time, uptime_s=line.uptime_s,
                     wall=line.wall, wall_from=line.wall_kind, boot_id=line.boot_id)
    return OomEvent(
        killer=Killer.KERNEL,
        kind=EventKind.OOM_KILL,
        complete=False,
        time=time,
        source=ref,
        slurm=note.step,
        message="slurmstepd: Detected oom-kill event(s)",
        host=line.host,
        missing=_MISSING,
        notes=(bash,) if bash else (),
    )


def same_step(a: OomEvent, b: OomEvent) -> bool:
    """Two notes of one step: the later repeats the count so far."""
    return (a.slurm is not None and b.slurm is not None and a.victim is None
            and (a.slurm.job, a.slurm.step) == (b.slurm.job, b.slurm.step))
