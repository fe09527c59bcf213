"""The journal source through the real journalctl, on real journal files.

The files are written by systemd's own systemd-journal-remote from the export form of
a captured `journalctl -k -o json` (the corpus fixture), so journalctl reads a journal
as journald writes it; this machine runs no journald.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oomkit import log_sources
from oomkit.log_sources import Source, open_journal
from oomkit.timeconv import local_tz
from oomkit.why import read_source
from tests.conftest import KERNEL_LOGS, native_module
from tests.golden import golden

CAPTURED = KERNEL_LOGS / "local-6.18-memcg-v1-two-ooms-journal-json.log"
REMOTE = Path("/lib/systemd/systemd-journal-remote")


def field(name: bytes, value: bytes) -> bytes:
    """One field in export form: ``NAME=value``, or, for a value that is not printable
    UTF-8 on one line, ``NAME``, its length (64-bit little-endian) and its bytes."""
    if b"\n" in value or any(c < 0x20 or c == 0x7F for c in value) or not _utf8(value):
        return name + b"\n" + len(value).to_bytes(8, "little") + value + b"\n"
    return name + b"=" + value + b"\n"


def _utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def export_entries(json_lines: bytes, *, repeat: int = 1) -> bytes:
    """journalctl -o json lines in journal export form (systemd's JOURNAL_EXPORT_FORMATS),
    a blank line after each entry. Repeats are one hour apart."""
    out = bytearray()
    for n in range(repeat):
        for line in json_lines.splitlines():
            entry = json.loads(line)
            for key, value in entry.items():
                if key == "__CURSOR":  # the writer makes its own
                    continue
                data = bytes(value) if isinstance(value, list) else value.encode()
                if key == "__REALTIME_TIMESTAMP":
                    data = str(int(value) + n * 3_600_000_000).encode()
                out += field(key.encode(), data)
            out += b"\n"
    return bytes(out)


def journal_file(tmp_path: Path, *, repeat: int = 1, extra: bytes = b"") -> Path:
    """A journal file of the captured entries (``repeat`` times), then ``extra`` entries
    given in export form."""
    if not REMOTE.exists():
        pytest.skip("systemd-journal-remote not installed (apt install systemd-journal-remote)")
    if shutil.which("journalctl") is None:
        pytest.skip("journalctl not installed")
    export = tmp_path / "entries.export"
    export.write_bytes(export_entries(CAPTURED.read_bytes(), repeat=repeat) + extra)
    out = tmp_path / "saved.journal"
    subprocess.run([str(REMOTE), f"--output={out}", str(export)], check=True,
                   capture_output=True, timeout=120)
    return out


def why_json(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "oomkit", "why", "--no-db", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_journal_file_gives_the_events_of_the_captured_journal(tmp_path: Path) -> None:
    saved = journal_file(tmp_path)
    p = why_json("--journal-file", str(saved), "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["sources"] == [{"name": str(saved), "status": "read", "reason": None, "events": 2}]
    # Parsed straight from the captured JSON, the same kills with the same numbers and
    # times (newest first in the command's output; in log order in the golden list).
    want = golden(CAPTURED)
    got = list(reversed(doc["events"]))
    assert len(got) == len(want) == 2
    for g, w in zip(got, want, strict=True):
        for key in ("victim", "trigger", "memcg", "cgroup_limit_kb", "tasks", "constraint"):
            assert g[key] == w[key], key
        assert g["time"]["wall"] == w["time"]["wall"]
        assert g["time"]["uptime_s"] == w["time"]["uptime_s"]
        assert g["time"]["boot_id"] == w["time"]["boot_id"] is not None


def test_systemds_note_of_a_kill_is_read_by_its_message_id(tmp_path: Path) -> None:
    """journalctl is asked for the kernel's lines and for systemd's note of an OOM kill
    (MESSAGE_ID of SD_MESSAGE_UNIT_OUT_OF_MEMORY), not for PID 1's other messages. The
    note's words are those of the public fixtures (systemd_units.py)."""
    first = json.loads(CAPTURED.read_bytes().splitlines()[0])

    def entry(unit: str, message_id: bytes | None) -> bytes:
        text = f"{unit}: A process of this unit has been killed by the OOM killer."
        fields = [field(b"MESSAGE", text.encode()), field(b"SYSLOG_IDENTIFIER", b"systemd"),
                  field(b"_PID", b"1"), field(b"_TRANSPORT", b"journal"),
                  field(b"PRIORITY", b"5"), field(b"_BOOT_ID", first["_BOOT_ID"].encode()),
                  field(b"__REALTIME_TIMESTAMP", first["__REALTIME_TIMESTAMP"].encode()),
                  field(b"__MONOTONIC_TIMESTAMP", first["__MONOTONIC_TIMESTAMP"].encode())]
        if message_id is not None:
            fields.append(field(b"MESSAGE_ID", message_id))
        return b"".join(fields) + b"\n"

    extra = (entry("batch.service", b"fe6faa94e7774663a0da52717891d8ef")
             + entry("other.service", None))  # the same words without the id: not asked for
    saved = journal_file(tmp_path, extra=extra)
    p = why_json("--journal-file", str(saved), "--json")
    assert p.returncode == 0, p.stderr
    units = [e["units"] for e in json.loads(p.stdout)["events"] if e["victim"] is None]
    assert units == [["batch.service"]]


def test_a_journal_that_cannot_be_opened_is_one_line_and_status_1(tmp_path: Path) -> None:
    if shutil.which("journalctl") is None:
        pytest.skip("journalctl not installed")
    p = why_json("--journal-file", str(tmp_path / "missing.journal"))
    assert p.returncode == 1
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("oomkit: journalctl: ")


def test_closing_before_the_end_stops_journalctl_without_an_error(tmp_path: Path) -> None:
    saved = journal_file(tmp_path, repeat=50)  # ~8,000 entries, ~4 MB of JSON
    stream = open_journal(("--file", str(saved)))
    first = stream.read(4096)
    assert first.startswith(b"{")
    # the journalctl process: under the export converter, or the pipe itself (JSON form)
    pipe = stream.raw._raw if hasattr(stream, "raw") else stream  # type: ignore[attr-defined]
    proc = pipe._proc
    stream.close()  # journalctl was still writing: it gets EPIPE, and that is no error
    assert proc.returncode is not None


def test_a_journal_too_slow_keeps_what_was_read_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    saved = journal_file(tmp_path, repeat=200)  # ~33,000 entries, 400 kills
    # A third of the time journalctl takes to print them all, on this machine.
    start = time.perf_counter()
    with open_journal(("--file", str(saved))) as stream:
        assert stream.read().count(b"Killed process") == 400
    monkeypatch.setattr(log_sources, "JOURNAL_TIMEOUT_S", (time.perf_counter() - start) / 3)
    source = Source(name="journal", kind="journal", journal_args=("--file", str(saved)))

    events, report = read_source(source, tz=local_tz(), offset=0.0)
    assert report.status == "error"
    assert "; narrow with --since" in (report.reason or "")
    assert "events before that point are shown" in (report.reason or "")
    assert report.events == len(events)
    assert 0 < len(events) < 400  # some, not all, of the 200 x 2 kills


def test_no_room_for_journalctls_messages_is_a_reason_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A full /tmp: TemporaryFile fails before journalctl runs (not reproducible for real
    # here without filling the disk).
    import errno
    import tempfile

    if shutil.which("journalctl") is None:
        pytest.skip("journalctl not installed")

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "TemporaryFile", full)
    source = Source(name="journal", kind="journal", journal_args=("--file", str(tmp_path / "x")))
    events, report = read_source(source, tz=local_tz(), offset=0.0)
    assert events == []
    assert report.status == "unavailable"
    assert report.reason == (f"journalctl: cannot keep its messages (No space left on device;"
                             f" check {tempfile.gettempdir()})")


def test_without_the_c_module_journalctl_prints_json_and_the_events_are_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from oomkit import journal_export

    native_module("_journalexport")  # the export form is compared with the JSON one
    saved = journal_file(tmp_path)
    source = Source(name="journal", kind="journal", journal_args=("--file", str(saved)))
    with open_journal(source.journal_args) as stream:
        assert b"__CURSOR" not in stream.read()  # export form, turned into our JSON lines
    exported, _ = read_source(source, tz=local_tz(), offset=0.0)
    monkeypatch.setattr(journal_export, "native", None)
    with open_journal(source.journal_args) as stream:
        assert b'"__CURSOR"' in stream.read()  # journalctl's own JSON
    as_json, report = read_source(source, tz=local_tz(), offset=0.0)
    assert report.status == "read"
    assert len(as_json) == 2
    assert as_json == exported


def test_a_journal_file_given_as_a_log_is_read_as_a_journal(tmp_path: Path) -> None:
    """`--file system.journal`: read as text, its binary objects gave kills with wrong
    cgroups and no time; journalctl reads it, as with --journal-file."""
    saved = journal_file(tmp_path)
    as_log = why_json("--file", str(saved), "--json")
    as_journal = why_json("--journal-file", str(saved), "--json")
    assert as_log.returncode == 0, as_log.stderr
    got, want = json.loads(as_log.stdout)["events"], json.loads(as_journal.stdout)["events"]
    assert len(got) == len(want) == 2
    for g, w in zip(got, want, strict=True):
        assert (g["victim"], g["memcg"], g["time"]) == (w["victim"], w["memcg"], w["time"])
