"""Saved journalctl outputs that are not one line per message: `-o export` (read through
the journal source's converter), `-o verbose` (kernel_log/journal_verbose.py) and
`-o json-pretty` (kernel_log/multiline.py). One real OOM captured in each, against the
same OOM in `-o short` and plain dmesg."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
import zstandard

from oomkit.kernel_log import parse_stream, parse_text
from oomkit.kernel_log.journal_verbose import VerboseRecords
from oomkit.kernel_log.multiline import _MAX_FIELDS, LineDecoder
from oomkit.log_sources import open_any
from oomkit.models import EventTime, OomEvent, SourceRef
from tests.conftest import KERNEL_LOGS
from tests.selecting import selected_by_every_path

CASE = "local-6.18-memcg-v1-grower-exported"
EXPORT = KERNEL_LOGS / f"{CASE}-journal-export.export"
VERBOSE = KERNEL_LOGS / f"{CASE}-journal-verbose.log"
SHORT = KERNEL_LOGS / f"{CASE}-journal-short.log"
PRETTY = KERNEL_LOGS / f"{CASE}-journal-json-pretty.log"
# the victim line's entry in the export: __REALTIME_TIMESTAMP=1795703719550351,
# _SOURCE_MONOTONIC_TIMESTAMP=51977776963
_COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress, "xz": lzma.compress, "bz2": bz2.compress,
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
}
WHEN = datetime.fromtimestamp(1795703719550351 / 1e6, tz=timezone.utc)


def _stream(path: Path) -> list[OomEvent]:
    with path.open("rb", buffering=0) as f, open_any(f) as stream:
        return list(parse_stream(stream, path.name))


def _shape(e: OomEvent) -> OomEvent:
    return e._replace(time=EventTime(None, None, None, None), source=SourceRef("", None),
                      host=None, also_seen_in=())


def test_a_saved_export_reads_as_the_journal_does() -> None:
    (e,) = _stream(EXPORT)
    assert [_shape(e)] == [_shape(x) for x in _stream(SHORT)]
    assert e.time.wall == WHEN and e.time.uptime_s == 51977.776963
    assert e.host == "vm" and e.time.boot_id == "7ebf94c742c84c75b545d083eda704bf"
    # from a pipe too: `journalctl -o export | oomkit why --file -`
    piped = list(parse_stream(open_any(io.BytesIO(EXPORT.read_bytes())), "-"))
    assert [_shape(x) for x in piped] == [_shape(e)]


@pytest.mark.parametrize("compress", ["gzip", "xz", "bz2", "zstd"])
def test_a_compressed_export_is_an_export(compress: str, tmp_path: Path) -> None:
    # `journalctl -o export | gzip > boot.export.gz`, as exports are shared
    data = EXPORT.read_bytes()
    packed = tmp_path / f"boot.export.{compress}"
    packed.write_bytes(_COMPRESS[compress](data))
    (e,) = _stream(packed)
    assert _shape(e) == _shape(_stream(EXPORT)[0]) and e.time.wall == WHEN
    piped = list(parse_stream(open_any(io.BytesIO(packed.read_bytes())), "-"))
    assert [_shape(x) for x in piped] == [_shape(e)]
    raw = packed.open("rb", buffering=0)
    open_any(raw).close()
    assert raw.closed  # lzma.open and bz2.open alone leave their file open


def test_a_compressed_log_shorter_than_the_export_cursor_reads_as_text(tmp_path: Path) -> None:
    packed = tmp_path / "tiny.gz"
    packed.write_bytes(gzip.compress(b"__CUR"))
    with packed.open("rb", buffering=0) as f:
        assert open_any(f).read() == b"__CUR"
    # cut inside its first bytes: those bytes, then the decompressor's error
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(EXPORT.read_bytes())[:12])
    with cut.open("rb", buffering=0) as f, pytest.raises(EOFError):
        open_any(f).read()


def test_verbose_entries_give_each_message_its_own_time_on_every_path() -> None:
    fast = _stream(VERBOSE)
    pure = parse_text(VERBOSE.read_text(), VERBOSE.name)
    assert fast == pure
    (e,) = fast
    assert [_shape(e)] == [_shape(x) for x in _stream(SHORT)]
    assert e.time.wall == WHEN  # the victim line's entry, to the microsecond
    assert e.time.uptime_s == 51977.776963  # its monotonic stamp came before MESSAGE
    assert e.host == "vm" and len(e.tasks) == 3


def test_a_message_far_from_any_header_takes_no_time() -> None:
    r = VerboseRecords()
    assert r.head(1, "Thu 2026-11-26 14:35:19.549155 UTC [s=65eb;i=a0e;b=7e;m=c1;t=66;x=5c]",
                  timezone.utc)
    assert r.field(2, "    SYSLOG_IDENTIFIER=kernel") == (True, None)
    taken, line = r.field(3, "    MESSAGE=Killed process 1 (x)")
    assert taken and line is not None and line.ident == "kernel" and line.wall is not None
    taken, far = r.field(500, "    MESSAGE=Killed process 2 (y)")
    assert taken and far is not None and far.wall is None and far.ident is None
    # an indented line of another format is not a field: it goes to the line decoder
    assert r.field(501, "        Path: /user.slice/user-1000.slice") == (False, None)


def test_json_pretty_entries_are_read_whole_whatever_their_field_order() -> None:
    fast = _stream(PRETTY)
    assert fast == parse_text(PRETTY.read_text(), PRETTY.name)
    (e,) = fast
    assert [_shape(e)] == [_shape(x) for x in _stream(SHORT)]
    assert e.time.wall == WHEN and e.time.uptime_s == 51977.776963 and e.host == "vm"


def test_every_path_selects_the_braces_that_end_entries(tmp_path: Path) -> None:
    """The "}" line is matched with its newline, never with the newline before it: a cut
    between two reads or two items of the file selector falls right before it."""
    data = PRETTY.read_bytes() * 40  # ~1.6 MB: large enough for the two-pass selector
    for fast in (True, False):
        whole = selected_by_every_path(data, tmp_path / "journal.txt", fast=fast)
        braces = [line for _n, _o, line in whole if line == b"}"]
        assert len(braces) == data.count(b"\n}\n") + data.startswith(b"}\n")


def test_field_like_lines_that_never_close_are_not_held() -> None:
    d = LineDecoder()
    for i in range(3 * _MAX_FIELDS):
        assert d.line(i, f'\t"K{i}" : "v",', local=timezone.utc, reference=None) is None
    assert len(d._pretty) <= _MAX_FIELDS
    d.line(0, '\t"MESSAGE" : "Killed process 1 (x)",', local=timezone.utc, reference=None)
    line = d.line(1, "}", local=timezone.utc, reference=None)
    assert line is not None and line.text == "Killed process 1 (x)"
