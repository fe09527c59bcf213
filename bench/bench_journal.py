"""Benchmark `oomkit why --journal-file F --json` on a journal that went through an OOM storm.

The journal is a real one: systemd's own systemd-journal-remote writes it from the lines
of gen_kernlog.py's storm log (20 MB, 2,000 reports; --quick: 2 MB, 200), each as a
kernel-transport entry with the log's wall time and uptime. It is cached in bench/out/.

oomkit reads a journal through `journalctl -o export`, so the baseline is that command
alone, writing to a file: the time journalctl needs to print what oomkit parses. The
figures: oomkit's wall time against it, `journalctl -o json`'s (how oomkit read it before,
and what a script would), and oomkit's peak RSS (the journal is streamed: when the whole
output was held in memory it peaked at ~225 MB here for 20 MB of log lines).
No issue sets a target for these; they are printed for the record.

    python bench/bench_journal.py [--quick] [--runs N]

Exit status 1 if oomkit does not report exactly the planted kills.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_kernlog as gen
from bench_why import OOMKIT_ENV, check_events, run

OUT = gen.OUT
REMOTE = Path("/lib/systemd/systemd-journal-remote")
_LINE = re.compile(rb"^\w{3} [ \d]\d \d\d:\d\d:\d\d (\S+) kernel: \[\s*(\d+)\.(\d{6})\] (.*)$")


def export_stream(log: Path, out: Path) -> int:
    """The log's lines as journal export entries (kernel transport); returns how many."""
    n = 0
    with log.open("rb") as src, out.open("wb") as dst:
        for line in src:
            m = _LINE.match(line.rstrip(b"\n"))
            if m is None:
                continue
            up = int(m.group(2)) * 1_000_000 + int(m.group(3))
            wall = gen.BOOT_EPOCH * 1_000_000 + up
            dst.write(b"__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n"
                      b"_BOOT_ID=7ebf94c742c84c75b545d083eda704bf\n_TRANSPORT=kernel\n"
                      b"SYSLOG_IDENTIFIER=kernel\nPRIORITY=6\n_HOSTNAME=%s\n"
                      b"_SOURCE_MONOTONIC_TIMESTAMP=%d\nMESSAGE=%s\n\n"
                      % (wall, up, m.group(1), up, m.group(4)))
            n += 1
    return n


def ensure_journal(log: Path, key: str, quick: bool) -> tuple[Path, int]:
    """A journal directory holding the log's lines, and how many entries it has; made once
    per version of the log (``key``: gen_kernlog's, which sets the log's mtime to its last
    line's time), then reused."""
    target = OUT / f"journal-storm{'-quick' if quick else ''}"
    done = target / "complete"
    if done.exists():
        made_from, _, entries = done.read_text().partition(" ")
        if made_from == key:
            return target, int(entries)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    export = target / "entries.export"
    entries = export_stream(log, export)
    subprocess.run([str(REMOTE), f"--output={target / 'storm.journal'}", str(export)],
                   check=True, capture_output=True)
    export.unlink()
    done.write_text(f"{key} {entries}")
    return target, entries


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="oomkit why on a journal vs journalctl alone")
    ap.add_argument("--quick", action="store_true", help="2 MB / 200 reports")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per command (median)")
    args = ap.parse_args(argv)
    if not REMOTE.exists() or shutil.which("journalctl") is None:
        print("bench_journal: skipped: needs journalctl and systemd-journal-remote"
              " (apt install systemd-journal-remote)")
        return 0
    size, reports = (2_000_000, 200) if args.quick else (20_000_000, 2_000)
    log = OUT / f"kern-storm-{size // 10**6}mb.log"
    meta = gen.ensure(gen.Spec(size, reports, seed=2, span_s=86400.0), log)
    journal, entries = ensure_journal(log, str(meta["key"]), args.quick)
    files = str(journal / "*.journal")
    oomkit = [sys.executable, "-m", "oomkit", "why", "--journal-file", files, "--json"]
    journalctl = ["journalctl", "--file", files, "--no-pager", "-q", "_TRANSPORT=kernel", "-o"]
    mine, base, as_json = [], [], []
    for _ in range(args.runs):
        mine.append(run(oomkit, OUT / "stdout-journal.json", OOMKIT_ENV))
        base.append(run([*journalctl, "export"], OUT / "stdout-journalctl.export"))
        as_json.append(run([*journalctl, "json"], OUT / "stdout-journalctl.json"))
    t_mine = statistics.median(r.seconds for r in mine)
    t_base = statistics.median(r.seconds for r in base)
    t_json = statistics.median(r.seconds for r in as_json)
    print(f"oomkit why --journal-file, {entries:,} journal entries ({size // 10**6} MB of log,"
          f" {reports:,} reports), {args.runs} runs each, median:")
    print(f"  oomkit {t_mine:.2f} s; journalctl -o export alone {t_base:.2f} s:"
          f" {t_mine / t_base:.2f}x; journalctl -o json alone {t_json:.2f} s:"
          f" {t_mine / t_json:.2f}x")
    print(f"  oomkit peak RSS {max(r.maxrss_kb for r in mine) / 1024:.1f} MB")
    problem = check_events(OUT / "stdout-journal.json", list(meta["victims"]))
    if problem or any(r.status for r in mine):
        print(f"FAIL: {problem or 'oomkit exit status ' + str(mine[0].status)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
