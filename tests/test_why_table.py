"""`oomkit why`'s text output when there are more kills than the table shows."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.conftest import KERNEL_LOGS


def why(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "oomkit", "why", "--no-db", *args],
                          capture_output=True, text=True, timeout=120, check=True)


def test_a_cut_table_counts_every_kill_by_where(tmp_path: Path) -> None:
    # Every local capture with wall times, one after another: 27 kills in 9 cgroups,
    # more than the table's 20 rows.
    log = tmp_path / "kern.log"
    log.write_bytes(b"".join(p.read_bytes()
                             for p in sorted(KERNEL_LOGS.glob("local-*-dmesg-iso.log"))))
    events = json.loads(why("--file", str(log), "--json").stdout)["events"]
    assert len(events) > 20
    text = why("--file", str(log)).stdout.splitlines()

    assert f"... {len(events) - 20} older; --all shows every one" in text
    start = next(i for i, line in enumerate(text) if line.startswith("All "))
    assert text[start].startswith(f"All {len(events)} kills, ")
    summary = []
    for line in text[start + 1:]:
        if not line.strip():
            break
        summary.append(line)
    counts = [int(re.match(r"\s*([\d,]+)\s", line).group(1).replace(",", ""))  # type: ignore[union-attr]
              for line in summary]
    assert sum(counts) == len(events)
    assert counts[:5] == sorted(counts[:5], reverse=True)
    memcgs = Counter(e["memcg"] for e in events)
    place, count = memcgs.most_common(1)[0]
    assert place is not None
    assert counts[0] == count
    assert f"cgroup {place} (" in summary[0]
    # The kills whose report lost the cgroup path are counted as such, not guessed.
    unknown = sum(1 for e in events if e["memcg"] is None and e["global_oom"] is False)
    assert any(line.split(None, 1)[0] == str(unknown) and "path not in log" in line
               for line in summary)
    # The victims most killed in the biggest place are named, each once.
    victims = Counter(e["victim"]["name"] for e in events if e["memcg"] == place)
    named = summary[0].split(": ", 1)[1]
    for name, _ in victims.most_common(3):
        assert name in named
    if len(victims) > 3:
        assert named.endswith(f"and {len(victims) - 3} others")
    if len(memcgs) > 5:
        assert summary[-1].strip().endswith("other places")


def test_a_full_table_has_no_summary() -> None:
    out = why("--file", str(KERNEL_LOGS / "local-6.18-memcg-v1-two-ooms-dmesg-iso.log")).stdout
    assert "older; --all" not in out
    assert not any(line.startswith("All ") for line in out.splitlines())


def test_a_userspace_killer_without_a_cgroup_acted_on_the_whole_machine() -> None:
    # earlyoom watches the machine's MemAvailable and SwapFree, not a cgroup's limit.
    log = KERNEL_LOGS / "public-earlyoom-1.7-journal-cmdline-coredump.log"
    row = why("--file", str(log)).stdout.splitlines()[1]
    assert row.split()[2:4] == ["earlyoom", "cellxgene"]
    assert "whole machine" in row


def test_a_userspace_killers_rss_is_in_the_table_and_the_json() -> None:
    log = KERNEL_LOGS / "public-earlyoom-1.7-journal-cmdline-coredump.log"
    victim = json.loads(why("--file", str(log), "--json").stdout)["events"][0]["victim"]
    # "sending SIGTERM to process 2595764 uid 0 "cellxgene": badness 711, VmRSS 52562 MiB"
    assert victim["rss_kb"] == 52562 * 1024
    assert victim["anon_rss_kb"] is None  # earlyoom logs no split; none is made up
    row = why("--file", str(log)).stdout.splitlines()[1]
    assert "51.3 GiB" in row


def test_where_says_when_all_pods_of_a_node_filled_their_cgroup() -> None:
    log = KERNEL_LOGS / "public-5.15-aks-cgroupv2-node-allocatable-oom-group-npd-syslog.log"
    rows = why("--file", str(log)).stdout.splitlines()
    assert rows[1].endswith("bash (7788)  6.8 GiB  all Kubernetes pods on the node,"
                            " /kubepods.slice (7.1 GiB)")


def test_source_names_a_second_print_in_the_same_log_by_its_line() -> None:
    """The kernel printed this 'no killable processes' report twice; the two merge into one
    kill, and its own log is named again by the second print's line, not as another log."""
    log = KERNEL_LOGS / "local-6.18-memcg-v1-no-killable-dmesg.log"
    last = why("--file", str(log)).stdout.splitlines()[-1]
    assert last == f"Source: {log}:2 (also in {log}:110)"


def test_a_dmesg_H_gap_is_not_shown_as_a_time() -> None:
    """dmesg --human prints "[  +0.000021]" after a line's first: a gap since the line
    before, not a time; the table said it under WHEN."""
    p = why("--file", str(KERNEL_LOGS / "local-6.18-memcg-v1-grower-colour-dmesg-H-color.log"))
    assert p.returncode == 0, p.stderr
    row = p.stdout.splitlines()[1]
    assert row.startswith("?") and "+0." not in row
