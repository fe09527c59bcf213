"""`oomkit run`: one job in the foreground, in its own memory cgroup, OOM-aware restarts."""

from __future__ import annotations

import os
import shlex
import signal
import sys
from pathlib import Path

import click

from oomkit.errors import UsageError
from oomkit.models import BackoffPolicy, JobExit, JobState, ProgramSpec
from oomkit.supervise.backoff import parse_backoff
from oomkit.supervise.units import parse_duration, parse_signal, parse_size

_RESTART = ("no", "on-failure", "on-oom", "always")


def _size(_ctx: click.Context, _p: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


class _Printer:
    """What `oomkit run` says on stderr: each exit, each restart, and the `why` of an OOM kill."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def spawned(self, name: str, pid: int, memcg: str | None) -> None:
        """Nothing: the first line already said where the job runs."""

    def state_changed(self, name: str, frm: JobState, to: JobState, label: str, reason: str | None) -> None:
        """Restarts and giving up."""
        loud = to is JobState.FATAL or (to is JobState.BACKOFF and not self.quiet)
        if loud and reason:
            _say(f"{name}: {reason}")

    def exited(self, x: JobExit, restarted: bool) -> None:
        """One line per exit; the why explanation for an OOM kill."""
        from oomkit.supervise.units import format_duration

        peak = f", peak {x.peak_rss_kb / 1024:.1f} MiB" if x.peak_rss_kb is not None else ""
        if not self.quiet or x.cause.value != "exit":
            _say(f"{x.name} (pid {x.pid}): {x.detail} after {format_duration(x.wall_s)}{peak}")
        if x.cause.value in ("oom_kill", "userspace_kill"):
            _explain(x)


def _say(text: str) -> None:
    click.echo(f"oomkit: {text}", err=True)


def _explain(x: JobExit) -> None:
    """Print `oomkit why`'s explanation of the kill this exit matched, or the evidence."""
    from oomkit.render import explanation_text
    from oomkit.timeconv import local_tz
    from oomkit.why import report

    if x.event is None:
        for line in x.evidence:
            click.echo(f"  - {line}", err=True)
        click.echo("  (no kernel log line found: is /dev/kmsg readable? run as root)", err=True)
        return
    click.echo("", err=True)
    for line in explanation_text(report(x.event), local_tz()):
        click.echo(line, err=True)
    click.echo("", err=True)


def exit_status(x: JobExit | None, reason: str | None) -> int:
    """The job's own status as a shell reports it: the code, or 128 + signal (bash(1))."""
    if x is None:
        return 127 if reason and "not found" in reason else 126
    if x.exit_code is not None:
        return x.exit_code
    return 128 + (x.signal or 0)


@click.command("run", context_settings={"allow_interspersed_args": False})
@click.option("--name", help="Job name (its cgroup is oomkit-job-NAME); default: command-PID.")
@click.option("--memory-max", callback=_size, metavar="SIZE",
              help="Hard limit (memory.max / limit_in_bytes).")
@click.option("--memory-high", callback=_size, metavar="SIZE", help="Throttle limit (cgroup v2 memory.high).")
@click.option("--swap-max", callback=_size, metavar="SIZE", help="Swap limit (v2 memory.swap.max, v1 memsw).")
@click.option("--adj", type=click.IntRange(-1000, 1000), help="oom_score_adj of the job.")
@click.option("--restart", type=click.Choice(_RESTART), default="no", show_default=True,
              help="When to restart after an exit.")
@click.option("--max-restarts", type=click.IntRange(0), help="Give up after N restarts in a row.")
@click.option("--backoff", default="1s..5m", show_default=True, metavar="MIN..MAX",
              help="Restart delay: doubles from MIN up to MAX, with jitter.")
@click.option("--oom-max-in-row", type=click.IntRange(0), default=3, show_default=True,
              help="Stop restarting after N OOM kills in a row (0 = no bound).")
@click.option("--oom-backoff", metavar="MIN..MAX",
              help="Restart delay after an OOM kill (default: --backoff).")
@click.option("--reset-after", default="60s", show_default=True, metavar="DURATION",
              help="A run this long resets the restart count and delay.")
@click.option("--startsecs", default="0", show_default=True, metavar="DURATION",
              help="A run shorter than this counts as a failed start (Supervisor's startsecs).")
@click.option("--stop-signal", default="TERM", show_default=True, help="Signal used to stop the job.")
@click.option("--stop-wait", default="10s", show_default=True, metavar="DURATION",
              help="SIGKILL this long after the stop signal.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="Append one JSON line per exit to FILE.")
@click.option("--log", "log_file", type=click.Path(dir_okay=False), help="Keep the output here (rotated).")
@click.option("--log-dir", type=click.Path(file_okay=False), help="Directory for NAME.log.")
@click.option("--no-log", is_flag=True, help="Only pass the output through; keep no log.")
@click.option("--killer-log", "killer_logs", multiple=True, type=click.Path(dir_okay=False),
              help="A file where a userspace OOM killer logs (repeatable; the journal is read anyway).")
@click.option("-q", "--quiet", is_flag=True, help="Say nothing on stderr unless the job dies abnormally.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def command(
    name: str | None, memory_max: int | None, memory_high: int | None, swap_max: int | None,
    adj: int | None, restart: str, max_restarts: int | None, backoff: str, oom_max_in_row: int,
    oom_backoff: str | None, reset_after: str, startsecs: str, stop_signal: str, stop_wait: str,
    report_path: str | None, log_file: str | None, log_dir: str | None, no_log: bool,
    killer_logs: tuple[str, ...], quiet: bool, command: tuple[str, ...],
) -> int:
    """Run COMMAND in a memory cgroup, classify every exit, restart per policy.

    Exits with the job's own last status (128 + N when signal N ended it).
    """
    from oomkit.programs_config import restart_policy
    from oomkit.supervise.logs import default_log_dir
    from oomkit.supervise.manager import Manager
    from oomkit.supervise.sinks import MultiSink, ReportWriter

    try:
        policy = parse_backoff(backoff, BackoffPolicy(reset_after_s=parse_duration(reset_after)))
        spec = ProgramSpec(
            name=name or f"{Path(command[0]).name}-{os.getpid()}", command=tuple(command),
            autostart=True, autorestart=restart_policy(restart), startsecs=parse_duration(startsecs),
            stopsignal=parse_signal(stop_signal), stopwaitsecs=parse_duration(stop_wait),
            memory_max=memory_max, memory_high=memory_high, swap_max=swap_max, oom_score_adj=adj,
            backoff=policy, oom_backoff=parse_backoff(oom_backoff, policy) if oom_backoff else None,
            oom_max_in_row=oom_max_in_row or None, max_restarts=max_restarts,
            log_file=log_file, killer_logs=killer_logs, stdin_inherit=True,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    from oomkit.programs_config import NAME

    if not NAME.match(spec.name):
        raise UsageError(f"--name {spec.name!r}: use letters, digits and '_.@-'")
    sink = MultiSink(_Printer(quiet))
    report = ReportWriter(report_path) if report_path else None
    if report is not None:
        sink.add(report)
    logs = None if no_log or log_file else Path(log_dir) if log_dir else default_log_dir("run")
    mgr = Manager([spec], sink=sink, log_dir=logs, passthrough={"stdout": 1, "stderr": 2})
    stops: list[int] = []

    def on_stop(sig: int) -> None:
        stops.append(sig)
        job = mgr.jobs.get(spec.name)
        if job is None:
            return
        if len(stops) == 1:
            if not quiet:
                _say(f"{signal.Signals(sig).name}: stopping {spec.name}")
            mgr.stop_program(spec.name)
        else:  # asked twice: no more waiting
            mgr.control.kill_all(job.placement, job.child, True)

    mgr.on_signals(dict.fromkeys((signal.SIGINT, signal.SIGTERM, signal.SIGHUP), on_stop))
    try:
        mgr.start()
        if spec.name in mgr.blocked:
            raise UsageError(f"{spec.name}: {mgr.blocked[spec.name]}")
        job = mgr.jobs[spec.name]
        if not quiet:
            where = job.placement.cgroup.rel if job.placement.cgroup is not None else None
            limit = f", memory.max {memory_max} bytes" if memory_max and where else ""
            log = f"; output kept in {job.log.path}" if job.log is not None else ""
            shown = shlex.join(command)
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            _say(f"{spec.name}: running {shown} in "
                 f"{where + ' (' + job.placement.via + limit + ')' if where else 'no cgroup'}{log}")
            for o in mgr.orphans:
                _say(f"orphaned job cgroup {o.cgroup} ({len(o.pids)} processes) left by a dead"
                     f" supervisor: {o.outcome}")
        for note in job.placement.notes:
            _say(f"{spec.name}: {note}")
        while mgr.busy():
            mgr.poll(None)
        last = job.record.last_exit
        return exit_status(last, job.record.reason)
    finally:
        mgr.shutdown(timeout=spec.stopwaitsecs + 5)
        if report is not None:
            report.close()
        sys.stdout.flush()
