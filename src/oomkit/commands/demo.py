"""`oomkit demo`: trigger a real, harmless OOM kill and explain it."""

from __future__ import annotations

import time

import click

from oomkit.demo import run_hog, was_oom_killed
from oomkit.errors import OomkitError
from oomkit.render import explanation_text
from oomkit.timeconv import local_tz
from oomkit.why import WhyOptions, find_kills


@click.command("demo")
@click.option("--limit-mb", default=32, show_default=True, type=click.IntRange(8, 1024),
              help="Memory limit of the demo cgroup.")
def command(limit_mb: int) -> int:
    """Run a memory hog in a small memory cgroup, let the kernel kill it, explain the kill."""
    click.echo(f"Creating a memory cgroup limited to {limit_mb} MiB and running a memory hog in it...")
    result = run_hog(limit_mb=limit_mb)
    if not was_oom_killed(result):
        raise OomkitError(
            f"the hog ended with status {result.returncode} but the cgroup counted no OOM kill"
        )
    click.echo(f"The kernel killed the hog (pid {result.pid}). oomkit why says:\n")
    tz = local_tz()
    deadline = time.monotonic() + 3
    while True:
        found = find_kills(WhyOptions(target=str(result.pid), use_journal=False))
        kills = [k for k in found.kills if k.event.victim and k.event.victim.pid == result.pid]
        if kills or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if not kills:
        raise OomkitError("the kill left no line in /dev/kmsg (is kernel.printk muted?)")
    for line in explanation_text(kills[0], tz):
        click.echo(line)
    click.echo("\nThe demo cgroup has been removed.")
    return 0
