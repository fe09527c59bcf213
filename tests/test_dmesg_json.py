"""`dmesg --json`: a record's time sits on the line before its message (dmesg_json.py)."""

from __future__ import annotations

from oomkit.kernel_log import parse_text
from oomkit.kernel_log.dmesg_json import JsonRecords
from tests.conftest import KERNEL_LOGS

CAPTURED = KERNEL_LOGS / "local-6.18-memcg-v1-json-quoted-dmesg-json.log"


def test_a_message_takes_the_time_of_its_own_record_only() -> None:
    r = JsonRecords()
    assert r.feed(4, '         "time": 41480.997315,') is None
    line = r.feed(5, '         "msg": "grower invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL)"')
    assert line is not None and line.uptime_s == 41480.997315 and line.ident == "kernel"
    assert line.text.startswith("grower invoked oom-killer")
    far = r.feed(30, '         "msg": "Killed process 1 (x)"')  # no time of its own near it
    assert far is not None and far.uptime_s is None and far.raw_time is None


def test_escapes_are_decoded_and_a_cut_string_is_skipped() -> None:
    r = JsonRecords()
    line = r.feed(1, r'   "msg": "Killed process 7 (say \"hi\" \\\\x) \u00e9"')
    assert line is not None and line.text == 'Killed process 7 (say "hi" \\\\x) \u00e9'
    assert r.feed(2, '   "msg": "Killed process 7 (say \\"hi') is None  # cut mid-string


def test_dmesg_x_facility_keeps_userspace_records_apart() -> None:
    r = JsonRecords()
    r.feed(1, '         "fac": "user",')
    r.feed(2, '         "pri": "warn",')
    r.feed(3, '         "time": 12.5,')
    line = r.feed(4, '         "msg": "oomkit-fixture: begin x"')
    assert line is not None and line.ident == "user" and line.uptime_s == 12.5
    r.feed(5, '         "fac": "kern",')
    r.feed(6, '         "pri": "warn",')
    r.feed(7, '         "time": 13.0,')
    line = r.feed(8, '         "msg": "grower invoked oom-killer"')
    assert line is not None and line.ident == "kernel"


def test_lines_of_other_formats_are_not_taken() -> None:
    assert not JsonRecords.may_be("[41480.997680] Memory cgroup out of memory")
    assert not JsonRecords.may_be("{\"MESSAGE\": \"x\"}")  # journalctl -o json, one per line
    assert JsonRecords.may_be('         "msg": "x"')


def test_the_captured_document_gives_one_kill_with_its_uptime() -> None:
    (e,) = parse_text(CAPTURED.read_text(), CAPTURED.name)
    assert e.victim is not None and e.victim.name == 'say "hi" \\\\x'
    assert e.trigger is not None and e.trigger.name == "grower"
    assert e.time.uptime_s is not None and round(e.time.uptime_s) == 41481
    assert len(e.tasks) == 3 and e.complete
