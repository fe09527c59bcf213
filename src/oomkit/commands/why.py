"""`oomkit why`: what killed my job, when, why, and what to do."""

from __future__ import annotations

from datetime import datetime

import click

from oomkit.commands import why_json
from oomkit.errors import UsageError
from oomkit.render import explanation_text, no_kills_text, program_text, sources_text, table
from oomkit.timeconv import local_tz, parse_when
from oomkit.why import WhyOptions, find_kills


@click.command("why")
@click.argument("target", required=False)
@click.option("--file", "-f", "files", multiple=True, metavar="PATH",
              help="Read this log instead of the machine's (repeatable; - is stdin; .gz/.xz ok).")
@click.option("--journal-file", metavar="PATH", help="Read a saved journal file.")
@click.option("--since", metavar="WHEN", help="Only kills after WHEN (2h, 1d, '2026-11-25 10:00').")
@click.option("--until", metavar="WHEN", help="Only kills before WHEN.")
@click.option("--boot", metavar="N", help="Journal boot to read (0 = this boot, -1 = previous).")
@click.option("--all", "show_all", is_flag=True, help="List every kill and explain each one.")
@click.option("--no-journal", is_flag=True, help="Do not read journald.")
@click.option("--this-boot", is_flag=True,
              help="The --file logs are from the running boot: convert their uptime stamps.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (docs/why-json.md).")
@click.option("--db", metavar="PATH",
              help="The oomkit daemon's database to read timelines from (default: the daemon's,"
                   " /var/lib/oomkit/oomkit.db, when it exists).")
@click.option("--no-db", is_flag=True, help="Do not read the daemon's database.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), metavar="N",
              help="Use up to N CPUs: large logs are parsed at once in separate processes,"
                   " and a large file is read on N threads (default: the CPUs, at most 4;"
                   " 1 = one after another, on one thread).")
def command(
    target: str | None, files: tuple[str, ...], journal_file: str | None, since: str | None,
    until: str | None, boot: str | None, show_all: bool, no_journal: bool, this_boot: bool,
    as_json: bool, db: str | None, no_db: bool, jobs: int | None,
) -> int:
    """Explain OOM kills: TARGET may be a pid, a process name, a cgroup or a unit."""
    if target is not None and (not target.strip() or (target.lstrip("-").isdecimal()
                               and target.startswith("-"))):
        # "-1" would match any cgroup path with "-1" in it, "" every kill
        raise UsageError(f"TARGET {target!r} is not a pid, process name, cgroup or unit:"
                         " `oomkit why` alone explains the latest kill, --all every one")
    if "" in files or journal_file == "":
        # An empty path would read "." (Path("")) or, for the journal, this machine's logs.
        raise UsageError("--file and --journal-file need a path, not an empty string")
    tz = local_tz()
    now = datetime.now(tz)
    opts = WhyOptions(
        files=files,
        journal_file=journal_file,
        since=parse_when(since, now, tz) if since else None,
        until=parse_when(until, now, tz) if until else None,
        boot=boot,
        target=target,
        use_journal=not no_journal,
        this_boot=this_boot,
        db=db,
        use_db=not no_db,
        jobs=jobs,
    )
    if opts.since and opts.until and opts.since > opts.until:
        raise UsageError("--since is after --until; swap them")
    result = find_kills(opts)
    explicit = bool(files or journal_file)
    if as_json:
        return why_json.write(result, tz, explicit=explicit)
    for line in sources_text(result, prefix="oomkit: " if explicit else "note: "):
        click.echo(line, err=True)
    if not result.kills:
        if result.sources and all(s.status != "read" for s in result.sources):
            if not explicit:
                click.echo("oomkit: no log could be read (see the notes above); run as root or"
                           " pass --file", err=True)
            return 1
        for line in no_kills_text(result, tz):
            click.echo(line)
        return why_json.status(result, explicit=explicit)
    for line in program_text(result, tz):
        click.echo(line)
    if result.jobs:
        click.echo("")
    for line in table(result, tz, None if show_all else 20):
        click.echo(line)
    for k in result.kills if show_all else result.kills[:1]:
        click.echo("")
        for line in explanation_text(k, tz):
            click.echo(line)
    return why_json.status(result, explicit=explicit)
