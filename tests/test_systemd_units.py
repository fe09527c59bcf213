"""systemd's notes of kernel OOM kills in its units (kernel_log/systemd_units.py), and how
`why` joins them to the kernel's report of the same kill."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from oomkit.explain import explain
from oomkit.kernel_log import parse_stream
from oomkit.kernel_log.systemd_units import UnitNotes, leaves
from oomkit.models import LogLine, OomEvent, SourceRef
from oomkit.why import absorb_unit_notes, merge_duplicates
from tests.conftest import KERNEL_LOGS


def events(name: str) -> list[OomEvent]:
    with (KERNEL_LOGS / name).open("rb") as f:
        return list(parse_stream(f, name))


def test_one_moment_of_notes_is_one_kill_per_unit_no_other_noted_unit_lies_in() -> None:
    """Five units noted in 0.3 ms: user@1021.service (in user-1021.slice, in user.slice)
    and system-postgresql.slice (in system.slice) each had a kill."""
    got = {e.units[0]: e.units for e in events("public-systemd-unit-oom-killer-rsyslog-rfc3339.log")}
    assert got == {
        "user@1021.service": ("user@1021.service", "user-1021.slice", "user.slice"),
        "system-postgresql.slice": ("system-postgresql.slice", "system.slice"),
    }


def test_leaves_by_systemd_naming() -> None:
    assert leaves(("user-1000.slice", "user@1000.service", "user.slice")) == ("user@1000.service",)
    assert leaves(("system-getty.slice", "getty@tty1.service", "system.slice")) == (
        "getty@tty1.service",)
    assert leaves(("system.slice", "nginx.service")) == ("nginx.service",)
    assert leaves(("system.slice",)) == ("system.slice",)


def test_a_systemctl_status_paste_gives_the_unit_and_says_where_the_report_is() -> None:
    """Only systemd's notes (journalctl -u, systemctl status); the second paste is cut by
    the pager mid-line and gives nothing."""
    (e,) = events("public-systemd-252-status-failed-oom-kill-unit-only.log")
    assert e.units == ("highload-stress-test.service",) and e.victim is None
    assert not e.complete and e.missing and "kernel's report" in e.missing[0]
    x = explain(e)
    assert x.headline == "OOM kill noted by systemd: highload-stress-test.service"
    # syslog prints no year: it comes from the file's age, so only the rest is fixed
    # (read in UTC here; journalctl takes the zone written after the time)
    assert re.search(r"journalctl -k --since '\d{4}-10-04 20:45:05 UTC' --until '\d{4}-10-04"
                     r" 20:47:05 UTC'", x.remedies[0])
    assert any("systemctl set-property highload-stress-test.service MemoryMax=" in r
               for r in x.remedies)


def _note(text: str, at: float, n: int) -> tuple[LogLine, SourceRef]:
    wall = datetime.fromtimestamp(at, tz=timezone.utc)
    return LogLine(text=text, wall=wall, ident="systemd"), SourceRef("j", n)


def test_a_failure_alone_is_not_a_kernel_kill_and_far_notes_are_two_kills() -> None:
    """'Failed with result oom-kill' also follows systemd-oomd's kills: alone, no event."""
    notes = UnitNotes()
    assert notes.feed(*_note("a.service: Failed with result 'oom-kill'.", 100.0, 1)) == []
    assert notes.close() == []
    assert notes.feed(*_note("a.service: A process of this unit has been killed by the OOM killer.",
                             100.0, 2)) == []
    assert notes.feed(*_note("a.service: Failed with result 'oom-kill'.", 101.0, 3)) == []
    later = notes.feed(*_note("a.service: A process of this unit has been killed by the OOM killer.",
                              200.0, 4))
    assert [(e.units, e.source.line) for e in later] == [(("a.service",), 2)]
    assert [e.source.line for e in notes.close()] == [4]


def test_a_kernel_report_absorbs_systemds_note_of_the_same_kill() -> None:
    """Three public logs hold both: the scope in the victim's cgroup path, the same second."""
    for name in ("public-5.15-aks-cgroupv2-k8s-burstable-pod-syslog.log",
                 "public-5.15-aks-cgroupv2-node-allocatable-oom-group-npd-syslog.log",
                 "public-5.15-ubuntu-arm64-docker-cgroupv2-journal-multiline-stats.log"):
        parsed = events(name)
        assert any(e.victim is None and e.units for e in parsed), name
        (kill,) = absorb_unit_notes(merge_duplicates(parsed))
        assert kill.victim is not None and kill.units, name
        assert kill.task_memcg is not None and kill.units[0] in kill.task_memcg.split("/"), name
        assert kill.also_seen_in, name


def test_a_note_of_another_unit_stays() -> None:
    (kill,) = [e for e in events("public-5.15-ubuntu-arm64-docker-cgroupv2-journal-multiline-stats.log")
               if e.victim is not None]
    other = kill._replace(victim=None, units=("other.service",), source=SourceRef("j", 1))
    assert len(absorb_unit_notes([kill, other])) == 2


def test_why_unit_finds_a_kill_known_only_from_systemds_notes() -> None:
    from oomkit.why import Machine, WhyOptions, find_kills

    log = str(KERNEL_LOGS / "public-systemd-252-status-failed-oom-kill-unit-only.log")
    machine = Machine(kmsg=KERNEL_LOGS / "no-such-kmsg")
    for target, found in (("highload-stress-test", 1), ("postgresql", 0)):
        result = find_kills(WhyOptions(files=(log,), target=target, use_journal=False,
                                       use_db=False), machine)
        assert len(result.kills) == found, target
