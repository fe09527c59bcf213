"""`oomkit doctor`: the machine's memory settings, explained correctly."""

from __future__ import annotations

import json
from pathlib import Path

import click

from oomkit.doctor import collect, diagnose, to_json
from oomkit.models import Finding

MARK = {"ok": "ok  ", "warn": "WARN", "info": "info"}


def format_findings(findings: list[Finding]) -> str:
    """Plain text: one block per finding, then a one-line summary."""
    lines = []
    for f in findings:
        lines.append(f"[{MARK.get(f.status, f.status)}] {f.id}: {f.title}")
        lines.append(f"       evidence: {f.evidence}")
        lines.append(f"       {f.explanation}")
        if f.fix:
            lines.append(f"       fix: {f.fix}")
    warn = sum(1 for f in findings if f.status == "warn")
    lines.append(f"{len(findings)} checks, {warn} warning{'s' if warn != 1 else ''}.")
    return "\n".join(lines)


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (docs/doctor.md).")
@click.option("--proc-root", type=click.Path(path_type=Path), default=Path("/proc"),
              hidden=True, help="Read another /proc (a saved tree).")
@click.option("--sys-root", type=click.Path(path_type=Path), default=Path("/sys"),
              hidden=True, help="Read another /sys (a saved tree).")
def command(as_json: bool, proc_root: Path, sys_root: Path) -> int:
    """Check overcommit, swap, PSI, OOM sysctls, cgroup limits and userspace killers."""
    log_kills = None
    if proc_root == Path("/proc"):
        # Only the ring buffer: it covers this boot and reads in milliseconds.
        from oomkit.why import kmsg_kills

        log_kills = kmsg_kills()
    findings = diagnose(collect(proc_root, sys_root, log_kills=log_kills))
    if as_json:
        click.echo(json.dumps(to_json(findings), indent=2))
    else:
        click.echo(format_findings(findings))
    return 0
