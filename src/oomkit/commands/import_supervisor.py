"""`oomkit import-supervisor`: convert supervisord.conf programs to [programs.NAME]."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click


@click.command("import-supervisor")
@click.argument("conf", type=click.Path(exists=True, dir_okay=False),
                default="/etc/supervisor/supervisord.conf", required=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the TOML here (default: stdout).")
@click.option("--json", "as_json", is_flag=True, help="Print the programs and what was not mapped as JSON.")
def command(conf: str, output: str | None, as_json: bool) -> int:
    """Convert CONF's [program:x] sections (and its [include] files) into oomkit programs.

    What has no oomkit equivalent is listed on stderr (and in the output as comments).
    The result is checked by parsing it as oomkit would.
    """
    from oomkit.config import parse
    from oomkit.supervise.import_supervisor import convert_file, to_toml

    converted = convert_file(Path(conf))
    text = to_toml(converted, conf)
    parse(text, f"{conf} (converted)")  # raises ConfigError if the result would not load
    if as_json:
        click.echo(json.dumps({"files": converted.files, "programs": converted.programs,
                               "unmapped": [asdict(u) for u in converted.unmapped]}, indent=2))
    elif output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"oomkit: wrote {len(converted.programs)} programs to {output}", err=True)
    else:
        click.echo(text, nl=False)
    if not as_json:
        for u in converted.unmapped:
            what = f"{u.key} = {u.value}" if u.key else "section"
            click.echo(f"oomkit: not converted: [{u.section}] {what}: {u.reason}", err=True)
    return 0
