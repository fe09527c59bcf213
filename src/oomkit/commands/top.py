"""`oomkit top`: who the OOM killer picks next, in kill order."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import click

from oomkit import cgroups, procfs, scoring
from oomkit.errors import UsageError
from oomkit.procmodels import RankedProcess
from oomkit.top import Machine, TopResult, json_document, owner, take, top_by_oom_score, user_name


def _size(kb: int) -> str:
    if kb >= 10 * 1024 * 1024:
        return f"{kb / 1024 / 1024:.0f}G"
    if kb >= 1024 * 1024:
        return f"{kb / 1024 / 1024:.1f}G"
    if kb >= 10 * 1024:
        return f"{kb / 1024:.0f}M"
    return f"{kb / 1024:.1f}M"


def _flags(r: RankedProcess) -> str:
    if r.never_kill:
        flag = "never"
    elif r.protected:
        flag = "prot"
    elif r.process.oom_score_adj > 0:
        flag = "pref"
    else:
        flag = ""
    return flag + ("!" if r.huge_protected else "")


COLUMNS = ("#", "PID", "USER", "SCORE", "ADJ", "ANON", "FILE", "SHMEM", "SWAP", "GROWTH",
           "CGROUP#", "FLAGS", "OWNER", "NAME")


def rows(result: TopResult, limit: int | None, cmdline: bool) -> list[tuple[str, ...]]:
    """The table cells, one tuple per process, in kill order."""
    out: list[tuple[str, ...]] = []
    for r in result.processes[:limit]:
        p = r.process
        o = owner(p.cgroup)
        growth = "" if r.growth_kb_s is None else f"{r.growth_kb_s / 1024:+.1f}M/s"
        cg = f"{r.memcg.rank}/{r.memcg.of}" if r.memcg else ""
        out.append((
            str(r.rank) if r.rank is not None else "-", str(p.pid), user_name(p.uid),
            str(r.score), str(p.oom_score_adj), _size(p.anon_rss_kb), _size(p.file_rss_kb),
            _size(p.shmem_rss_kb), _size(p.swap_kb), growth, cg, _flags(r),
            o.name if o else (p.cgroup or ""),
            (p.cmdline or p.name) if cmdline else p.name,
        ))
    return out


def header(result: TopResult) -> str:
    """One line saying what the ranking is over."""
    mib = result.totalpages * result.page_size / 2**20
    scope = "system-wide OOM" if result.scope == "system" else f"an OOM in {result.scope}"
    return (f"Kill order for {scope} (totalpages {result.totalpages} = {mib:.0f} MiB; "
            f"score = /proc/PID/oom_score, kernel {result.era.value}+ formula)")


def format_table(result: TopResult, limit: int | None = 20, cmdline: bool = False) -> str:
    """Plain-text table: header, columns, rows, then the legend and notes."""
    cells = rows(result, limit, cmdline)
    show = [i for i, name in enumerate(COLUMNS)
            if name not in ("GROWTH", "CGROUP#") or any(row[i] for row in cells)]
    table = [tuple(COLUMNS[i] for i in show)] + [tuple(row[i] for i in show) for row in cells]
    widths = [max(len(row[i]) for row in table) for i in range(len(show) - 1)]
    lines = [header(result)]
    for row in table:
        lines.append("  ".join(c.rjust(w) if j not in (2, len(widths) - 1, len(widths) - 2)
                               else c.ljust(w) for j, (c, w) in enumerate(zip(row, widths, strict=False)))
                     + "  " + row[-1])
    hidden = len(result.processes) - len(cells)
    if hidden > 0:
        lines.append(f"... {hidden} more (--limit N)")
    risky = [r for r in result.processes if r.huge_protected]
    for r in risky[:3]:
        lines.append(f"risk: PID {r.process.pid} ({r.process.name}) is protected "
                     f"(oom_score_adj {r.process.oom_score_adj}) but holds "
                     f"{_size(r.process.rss_kb + r.process.swap_kb)}: smaller processes die first")
    lines.extend(f"note: {n}" for n in result.notes)
    return "\n".join(lines)


def _rich_table(result: TopResult, limit: int | None, cmdline: bool) -> Any:
    from rich.table import Table  # lazy: only --watch needs rich

    table = Table(title=header(result), expand=False)
    for name in COLUMNS:
        table.add_column(name, justify="left" if name in ("USER", "OWNER", "NAME") else "right",
                         no_wrap=name != "NAME")
    for row in rows(result, limit, cmdline):
        style = "bold red" if row[0] == "1" else ("yellow" if row[11].endswith("!") else None)
        table.add_row(*row, style=style)
    return table


def _watch(cgroup: str | None, cmdline: bool, interval: float, limit: int | None,
           as_json: bool, count: int | None, machine: Machine) -> None:
    result = take(cgroup=cgroup, with_cmdline=cmdline, machine=machine)
    if as_json:  # one JSON document per line and refresh
        for i in range(count or sys.maxsize):
            if i:
                time.sleep(interval)
                result = take(cgroup=cgroup, with_cmdline=cmdline, previous=result,
                              machine=machine)
            click.echo(json_document(result), nl=False)
        return
    from rich.live import Live

    with Live(_rich_table(result, limit, cmdline), auto_refresh=False) as live:
        for _ in range((count or sys.maxsize) - 1):
            time.sleep(interval)
            result = take(cgroup=cgroup, with_cmdline=cmdline, previous=result,
                          machine=machine)
            live.update(_rich_table(result, limit, cmdline), refresh=True)


@click.command("top")
@click.option("--cgroup", metavar="PATH",
              help="Rank one memory cgroup (and its children) with its limit as totalpages.")
@click.option("--cmdline", is_flag=True, help="Show the full command line instead of the name.")
@click.option("--interval", type=click.FloatRange(min=0.05), metavar="S",
              help="Sample twice, S seconds apart, and show growth rates (with --watch: refresh).")
@click.option("--watch", is_flag=True, help="Refresh in place until Ctrl-C.")
@click.option("--count", "-n", type=click.IntRange(min=1), metavar="N",
              help="With --watch: stop after N refreshes.")
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True,
              help="Rows in the text table (0 = all).")
@click.option("--explain", "explain_pid", type=int, metavar="PID",
              help="Explain where PID stands and why.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (docs/top.md).")
@click.option("--proc-root", type=click.Path(path_type=Path), default=procfs.PROC, hidden=True)
@click.option("--cgroup-root", type=click.Path(path_type=Path), default=cgroups.CGROUP_ROOT,
              hidden=True)
def command(cgroup: str | None, cmdline: bool, interval: float | None, watch: bool,
            count: int | None, limit: int, explain_pid: int | None, as_json: bool,
            proc_root: Path, cgroup_root: Path) -> int:
    """Rank processes the way the kernel's OOM killer would, next victim first."""
    if count is not None and not watch:
        raise UsageError("--count only makes sense with --watch")
    if cgroup is not None and not cgroup.strip():
        raise UsageError("--cgroup needs a path such as /system.slice/nginx.service (/ is the root)")
    rows_limit = limit or None
    machine = Machine(proc_root=proc_root, cgroup_root=cgroup_root)
    if watch:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends --watch normally
            _watch(cgroup, cmdline, interval or 2.0, rows_limit, as_json, count, machine)
        return 0
    result = top_by_oom_score(cgroup=cgroup, with_cmdline=cmdline, interval=interval,
                              machine=machine)
    if as_json:
        sys.stdout.write(json_document(result))
    else:
        click.echo(format_table(result, rows_limit, cmdline))
    if explain_pid is not None:
        lines = scoring.explain(result.processes, explain_pid, result.totalpages,
                                page_size=result.page_size, era=result.era)
        click.echo("\n".join(lines), err=as_json)
    return 0
