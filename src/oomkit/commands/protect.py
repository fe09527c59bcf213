"""`oomkit protect`: set oom_score_adj by PID, by match, from the config, or for a new command."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from oomkit import config, procscan, rules
from oomkit.errors import UsageError
from oomkit.procfs import PID_MAX_LIMIT
from oomkit.procmodels import Owner, ProcessSnapshot
from oomkit.protect import Change, Outcome, apply, exec_with_adj, facts, persistent_hints, plan
from oomkit.top import owner, user_name

_EXEC = "oomkit.protect.exec"


class _ProtectCommand(click.Command):
    """Remembers whether ``--`` was given: everything after it is a command to run."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[_EXEC] = "--" in args
        return super().parse_args(ctx, args)


def _snapshot(pids: Sequence[int] | None = None) -> list[tuple[ProcessSnapshot, rules.ProcessFacts]]:
    from oomkit import cgroups

    h = cgroups.find_display()
    procs = procscan.scan_processes(
        pids=pids, cgroups=cgroups.pids_by_cgroup(h) if h is not None else None,
        cgroup_from_file=(lambda lines: cgroups.path_of(h, lines)) if h is not None else None,
        with_cmdline=True,
    )
    return [(p, facts(p, user_name(p.uid), owner(p.cgroup))) for p in procs]


def _report(outcomes: Sequence[Outcome], owners: dict[int, Owner | None]) -> int:
    labels = {"set": "set", "unchanged": "already set", "dry-run": "dry run, not written"}
    code = 0
    for o in outcomes:
        c = o.change
        line = f"PID {c.pid} ({c.name}): oom_score_adj {c.old} -> {c.new}"
        if o.status in labels:
            click.echo(f"{line}  [{labels[o.status]}]  ({c.reason})")
        else:
            click.echo(f"oomkit: {o.error}", err=True)
            code = max(code, 4 if o.status == "denied" else 1)
    shown: set[tuple[int, str | None]] = set()
    for o in outcomes:
        own = owners.get(o.change.pid)
        key = (o.change.new, own.name if own else None)
        if key in shown or o.status in ("gone", "unchanged"):
            continue
        shown.add(key)
        where = f" for {own.name}" if own else ""
        click.echo(f"To keep oom_score_adj {o.change.new}{where} across restarts:")
        for hint in persistent_hints(o.change.new, own):
            click.echo(f"  {hint}")
    return code


def _list() -> int:
    adjusted = sorted((p for p, _f in _snapshot() if p.oom_score_adj != 0),
                      key=lambda p: (p.oom_score_adj, p.pid))
    if not adjusted:
        click.echo("No process has a non-zero oom_score_adj.")
        return 0
    rows = [("PID", "USER", "ADJ", "MEANING", "OWNER", "NAME")]
    for p in adjusted:
        o = owner(p.cgroup)
        meaning = ("never killed" if p.oom_score_adj == rules.OOM_SCORE_ADJ_MIN
                   else "protected" if p.oom_score_adj < 0 else "preferred victim")
        rows.append((str(p.pid), user_name(p.uid), str(p.oom_score_adj), meaning,
                     o.name if o else (p.cgroup or ""), p.name))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])
    return 0


def _value(adj: int | None, never_kill: bool, protect: bool, prefer: bool) -> int | None:
    chosen = [v for v, on in ((adj, adj is not None), (rules.PRESETS["never-kill"], never_kill),
                              (rules.PRESETS["protect"], protect),
                              (rules.PRESETS["prefer"], prefer)) if on]
    if len(chosen) > 1:
        raise UsageError("give only one of --adj, --never-kill, --protect, --prefer")
    return chosen[0] if chosen else None


@click.command("protect", cls=_ProtectCommand)
@click.argument("targets", nargs=-1, metavar="[PID]... [-- CMD ARGS...]")
@click.option("--adj", type=int, metavar="N", help="oom_score_adj to set, -1000..1000.")
@click.option("--never-kill", is_flag=True, help="Preset: -1000, the kernel never picks it.")
@click.option("--protect", "protect_", is_flag=True, help="Preset: -500, picked much later.")
@click.option("--prefer", is_flag=True, help="Preset: +500, picked first.")
@click.option("--match", "match_", multiple=True, metavar="KEY=VALUE",
              help="Select processes: name=GLOB, cmdline=REGEX, user=NAME, unit=GLOB, "
                   "cgroup=PATH (repeat: all must hold).")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--list", "list_", is_flag=True, help="List every process with a non-zero adjustment.")
@click.option("--apply", "apply_", is_flag=True, help="Apply the rules in the config file.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), metavar="PATH",
              help=f"Config file for --apply (default {config.DEFAULT_PATH}).")
@click.pass_context
def command(ctx: click.Context, targets: tuple[str, ...], adj: int | None, never_kill: bool,
            protect_: bool, prefer: bool, match_: tuple[str, ...], dry_run: bool, list_: bool,
            apply_: bool, config_path: Path | None) -> int:
    """Set oom_score_adj: lower protects a process from the OOM killer, higher offers it up."""
    value = _value(adj, never_kill, protect_, prefer)
    if value is not None:
        try:
            rules.check_adj(value)
        except ValueError as exc:
            raise UsageError(f"--adj: {exc}") from None
    modes = [name for name, on in (("--list", list_), ("--apply", apply_),
                                   ("-- CMD", bool(ctx.meta.get(_EXEC)))) if on]
    if len(modes) > 1:
        raise UsageError(f"{' and '.join(modes)} cannot be combined")
    if modes and (match_ or (targets and modes[0] != "-- CMD")):
        raise UsageError(f"{modes[0]} cannot be combined with PIDs or --match")
    if modes and modes[0] != "-- CMD" and value is not None:
        raise UsageError(f"{modes[0]} takes no --adj or preset"
                         + (" (the values come from the config file)" if apply_ else ""))
    if list_:
        return _list()
    if apply_:
        cfg = config.load(config_path)
        if not cfg.protect.rules:
            click.echo(f"{cfg.path}: no [[protect.rules]]; nothing to do")
            return 0
        procs = _snapshot()
        return _apply(plan(cfg.protect.rules, procs), dry_run, procs)
    if value is None:
        raise UsageError("say what to set: --adj N, --never-kill, --protect or --prefer")
    if ctx.meta.get(_EXEC):
        if dry_run:
            click.echo(f"would run {' '.join(targets)} with oom_score_adj {value}")
        if dry_run or sys.stderr.isatty():  # keep a piped command's stderr clean
            for hint in persistent_hints(value):
                click.echo(f"persistent equivalent: {hint}", err=not dry_run)
        if dry_run:
            return 0
        exec_with_adj(value, targets)
    return _set(targets, match_, value, dry_run)


def _set(targets: Sequence[str], match_: Sequence[str], value: int, dry_run: bool) -> int:
    bad = [t for t in targets if not t.isdecimal() or not 0 < int(t) < PID_MAX_LIMIT]
    if bad:
        raise UsageError(f"not a PID: {bad[0]} (to run a command, put it after --)")
    if not targets and not match_:
        raise UsageError("give PIDs, --match KEY=VALUE, or -- CMD ARGS")
    try:
        conditions = tuple(rules.parse_match(m) for m in match_)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    pids = [int(t) for t in targets]
    procs = _snapshot(pids if not conditions else None)
    changes: list[Change] = []
    if conditions:
        changes += plan([rules.Rule(conditions, value, "--match")], procs)
    found = {p.pid for p, _f in procs}
    for pid in pids:
        if pid not in found:
            raise UsageError(f"PID {pid}: no such process (or a kernel thread, which has no "
                             "oom_score_adj worth setting)")
    by_pid = {p.pid: p for p, _f in procs}
    changes += [Change(pid, by_pid[pid].name, by_pid[pid].oom_score_adj, value, "--adj")
                for pid in pids if all(c.pid != pid for c in changes)]
    if not changes:
        click.echo("No process matches " + " ".join(match_))
        return 1
    return _apply(changes, dry_run, procs)


def _apply(changes: Sequence[Change], dry_run: bool,
           procs: Sequence[tuple[ProcessSnapshot, rules.ProcessFacts]]) -> int:
    if not changes:
        click.echo("No running process matches the rules.")
        return 0
    owners = {p.pid: owner(p.cgroup) for p, _f in procs}
    return _report(apply(changes, dry_run=dry_run), owners)
