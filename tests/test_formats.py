"""Every format of the same captured report yields the same events.

The local fixtures were captured once per OOM in every format this machine
can produce (kmsg records, dmesg plain/-T/--time-format iso/-r/-x, rsyslog
traditional/RFC 3339/RFC 5424, journalctl outputs). Decoding the prefix is
right only if all of them give the same victims, numbers, cgroups and tasks.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import pytest

from oomkit.kernel_log import parse_stream, parse_text
from oomkit.kernel_log.prefix import parse_line
from oomkit.models import EventTime, OomEvent, SourceRef
from tests.conftest import KERNEL_LOGS, fixture_logs

_FORMAT = re.compile(
    r"^(?P<case>local-.+?)-(?P<fmt>kmsg|dmesg(?:-T|-iso|-r|-x|-json|-color|-H-color)?|rsyslog-.+"
    r"|journal-.+|busybox-.+)$"
)


def _groups() -> dict[str, list[Path]]:
    groups: dict[str, list[Path]] = defaultdict(list)
    for path in fixture_logs():
        m = _FORMAT.match(path.stem)
        if m:
            groups[m.group("case")].append(path)
    return {k: v for k, v in groups.items() if len(v) > 1}


def _shape(e: OomEvent) -> OomEvent:
    """The event without what legitimately differs between formats."""
    return e._replace(time=EventTime(None, None, None, None), source=SourceRef("", None), host=None,
        also_seen_in=(),
    )


def _events(path: Path) -> list[OomEvent]:
    with path.open("rb") as f:
        return list(parse_stream(f, path.name))


GROUPS = _groups()


@pytest.mark.parametrize("case", sorted(GROUPS))
def test_all_formats_agree(case: str) -> None:
    paths = GROUPS[case]
    reference = next((p for p in paths if p.stem.endswith("-dmesg")), paths[0])
    expected = [_shape(e) for e in _events(reference)]
    assert expected, f"{reference.name} holds no event"
    for path in paths:
        got = [_shape(e) for e in _events(path)]
        # journal/rsyslog captures may hold neighbouring OOMs of the same run
        assert all(e in got for e in expected), f"{path.name} differs from {reference.name}"


@pytest.mark.parametrize("path", fixture_logs(), ids=lambda p: p.name)
def test_fast_and_pure_paths_agree(path: Path) -> None:
    text = path.read_bytes().decode("utf-8", "replace")
    pure = parse_text(text, path.name)
    with path.open("rb") as f:
        fast = list(parse_stream(f, path.name))
    with path.open("rb") as f:
        fallback = list(parse_stream(f, path.name, use_hyperscan=False))
    assert fast == fallback
    assert [_shape(e) for e in fast] == [_shape(e) for e in pure]
    assert [e.source for e in fast] == [e.source for e in pure]


def test_times_per_format_are_decoded() -> None:
    """Each format's own clock ends up in the right field."""
    seen = 0
    for path in fixture_logs():
        m = _FORMAT.match(path.stem)
        if not m:
            continue
        fmt = m.group("fmt")
        for e in _events(path):
            t = e.time
            if fmt in ("kmsg", "dmesg", "dmesg-r", "dmesg-x", "dmesg-json"):
                assert t.uptime_s is not None and t.wall is None, path.name
            elif fmt in ("dmesg-T", "dmesg-iso"):
                assert t.wall is not None and t.wall_from == "dmesg-ctime", path.name
            elif fmt.startswith(("rsyslog", "busybox")) or fmt in (
                    "journal-json", "journal-short-iso-precise", "journal-short",
                    "journal-short-precise", "journal-short-full", "journal-short-unix",
                    "journal-with-unit", "journal-json-seq", "journal-json-sse"):
                # RFC 3164 stamps print no year: it is chosen from the file's age
                no_year = (fmt.endswith("-trad") or fmt.startswith("busybox")
                           or fmt in ("journal-short", "journal-short-precise"))
                assert t.wall is not None, path.name
                assert t.wall_from == ("log-year-assumed" if no_year else "log"), path.name
            elif fmt in ("journal-short-monotonic", "journal-short-delta"):
                assert t.uptime_s is not None, path.name
            seen += 1
    assert seen > 10


def test_kmsg_and_dmesg_stamps_are_the_same_clock() -> None:
    for case, paths in GROUPS.items():
        by = {p.stem.rsplit(case + "-", 1)[1]: p for p in paths}
        if "kmsg" in by and "dmesg" in by:
            a = [e.time.uptime_s for e in _events(by["kmsg"])]
            b = [e.time.uptime_s for e in _events(by["dmesg"])]
            assert a == b, case
            return
    pytest.skip("no case captured in both kmsg and dmesg form")


def test_dmesg_json_and_kmsg_escapes_decode_to_the_same_comm_and_clock() -> None:
    """The victim's comm is `say "hi" \\\\x`: a JSON string in `dmesg --json`, "\\x5c" escapes
    in /dev/kmsg, raw in plain dmesg. All three must read the same name and time."""
    case = "local-6.18-memcg-v1-json-quoted"
    got = {fmt: _events(KERNEL_LOGS / f"{case}-{fmt}.log") for fmt in ("dmesg-json", "kmsg", "dmesg")}
    for fmt, (e,) in got.items():
        assert e.victim is not None and e.victim.name == 'say "hi" \\\\x', fmt
        assert e.victim.pid == 26846 and e.memcg == "/oomkit-fixture-json-quoted", fmt
        assert [t.name for t in e.tasks][1] == 'say "hi" \\\\x', fmt
        assert e.time.uptime_s == 41480.99768, fmt  # the Killed process record's stamp


def test_every_journalctl_output_gives_the_same_wall_time_or_uptime() -> None:
    """One OOM exported in six more journalctl outputs: the kill at 11:49:01 UTC, printk
    41999.334453 s (the journal's own clocks, not a kernel stamp in the text)."""
    case = "local-6.18-memcg-v1-grower-idle-helper"
    for fmt in ("short-full", "short-unix", "with-unit", "json-seq", "json-sse", "short-delta"):
        (e,) = _events(KERNEL_LOGS / f"{case}-journal-{fmt}.log")
        assert e.victim is not None and e.victim.name == "grower" and len(e.tasks) == 3, fmt
        if fmt == "short-delta":
            assert e.time.uptime_s == 41999.334453 and e.time.wall is None
        else:
            assert e.time.wall is not None, fmt
            assert e.time.wall.isoformat()[:19] == "2026-11-26T11:49:01", fmt
            assert e.time.wall.utcoffset() is not None and not e.time.wall.utcoffset(), fmt


def test_busybox_and_openwrt_lines_keep_their_time_past_the_facility() -> None:
    """busybox syslogd and OpenWrt's logread print "kern.warn" between host and ident."""
    (e,) = _events(KERNEL_LOGS / "local-6.18-memcg-v1-grower-40m-busybox-syslogd.log")
    # no year in the line: it comes from the file's age, so only the rest is fixed
    assert e.time.wall is not None and e.time.wall.isoformat()[4:19] == "-11-26T11:52:02"
    assert e.time.uptime_s == 42180.964983 and e.host == "vm" and len(e.tasks) == 3
    line = (KERNEL_LOGS / "public-6.6-openwrt-logread-table-excerpt.log").read_text().splitlines()[0]
    assert parse_text(line + "\n") == []  # a table row alone is no event; its prefix:
    got = parse_line(line)
    assert got is not None and got.text.startswith("[   2786]") and got.uptime_s == 161775.410289
    assert got.wall is not None and got.wall.isoformat()[:19] == "2025-07-29T06:26:59"


@pytest.mark.parametrize("quote", ["> ", ">> ", "> > "])
def test_a_report_quoted_in_a_mail_reply_reads_as_the_report(quote: str) -> None:
    """linux-mm and LKML reports arrive quoted ("> ") in replies: every format of a captured
    OOM, quoted, gives the same events as the original."""
    for case in ("local-6.18-memcg-v1-3tasks-adj500-dmesg", "local-6.18-memcg-v1-3tasks-adj500-kmsg",
                 "local-6.18-memcg-v1-two-ooms-rsyslog-imklog-rfc3339"):
        text = (KERNEL_LOGS / f"{case}.log").read_text()
        quoted = "".join(quote + line for line in text.splitlines(keepends=True))
        assert parse_text(quoted, "q") == parse_text(text, "q"), (case, quote)


def _grep(text: str, style: str) -> str:
    """``text`` as grep prints it: with each line's file and/or number, matches (":") and,
    for every third line, a -C context line ("-")."""
    out = []
    for n, line in enumerate(text.splitlines(keepends=True), start=1):
        sep = "-" if n % 3 == 0 else ":"
        out.append({"H": f"/var/log/kern.log.1{sep}", "n": f"{n}{sep}",
                    "Hn": f"/var/log/kern.log.1:{n}{sep}", "name": f"kern.log.2.gz{sep}",
                    "rhel": f"messages-20241124{sep}"}[style] + line)
    return "".join(out)


@pytest.mark.parametrize("style", ["H", "n", "Hn", "name", "rhel"])
def test_grep_output_of_a_log_reads_as_the_log(style: str) -> None:
    """The seed's first step, `grep -i kill /var/log/kern.log*`, prefixes each line with
    its file when there are several (and -n its number): pasted, that must read as the
    log. An ISO date must not be taken for a line number."""
    for case in ("local-6.18-memcg-v1-3tasks-adj500-dmesg", "local-6.18-memcg-v1-3tasks-adj500-kmsg",
                 "local-6.18-memcg-v1-two-ooms-rsyslog-imklog-rfc3339",
                 "local-6.18-memcg-v1-two-ooms-rsyslog-imklog-trad"):
        text = (KERNEL_LOGS / f"{case}.log").read_text()
        assert parse_text(_grep(text, style), "g") == parse_text(text, "g"), (case, style)


def test_a_public_mail_quoted_report_keeps_its_table() -> None:
    (e,) = _events(KERNEL_LOGS / "public-5.2-memcg-v2-memory-stat-example-mail-quoted-linux-mm.log")
    assert e.memcg == "/foo" and e.memory is not None and e.memory.limit_kb == 1024
    assert [t.name for t in e.tasks] == ["bash", "stress", "stress"]
    assert e.victim is not None and e.victim.swap_kb == 56349 * 4  # its swapents row
    assert e.reaped is not None


assert KERNEL_LOGS.exists()


def test_talos_vmware_and_cloud_logging_prefixes_give_time_and_names() -> None:
    """Prefixes not of a syslog: their time was lost and glued onto the trigger's name
    ("10.1.1.2: kern: warning: [2022-...Z]: containerd-shim")."""
    talos = _events(KERNEL_LOGS / "public-5.x-talos-talosctl-dmesg-node-prefix-excerpt.log")
    kill = next(e for e in talos if e.victim)
    assert kill.time.wall == datetime(2022, 1, 25, 10, 30, 46, 464137, tzinfo=timezone.utc)
    assert kill.time.wall_from == "dmesg-ctime" and kill.host == "10.1.1.2"
    assert len(kill.tasks) == 4
    header = next(e for e in talos if e.trigger)
    assert header.trigger is not None and header.trigger.name == "containerd-shim"
    vm = _events(KERNEL_LOGS / "public-4.19-photon-vmware-log-guest-console-memcg-kill.log")
    kill = next(e for e in vm if e.victim)
    # VMware's stamp is when it wrote a batch of lines: not the kill's time
    assert kill.time.wall is None and kill.time.uptime_s == 39261111.880992
    assert len(kill.tasks) == 3 and kill.victim is not None and kill.victim.score == 1858
    header = next(e for e in vm if e.trigger)
    assert header.trigger is not None and header.trigger.name == "node"
    gke = _events(KERNEL_LOGS / "public-4.19-gke-cloud-logging-copy-headers-only.log")
    assert len(gke) == 8 and all(e.trigger and e.trigger.name == "containerd" for e in gke)
    assert gke[0].time.wall == datetime(2020, 6, 25, 9, 57, 22, 729902, tzinfo=timezone.utc)
    assert gke[0].time.wall_from == "log"
