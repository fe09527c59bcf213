"""journalctl's export format to JSON lines: the C module, its Python twin, and journalctl.

The reference is journalctl itself: on a real journal file, each line made from
`journalctl -o export` must read (json.loads) as the same values as the line
`journalctl -o json` prints for that entry, non-UTF-8 and multi-line messages included.
"""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from oomkit.journal_export import FIELDS, ExportAsJson, native, to_json_lines_py
from tests.conftest import native_module
from tests.test_journal_source import CAPTURED, field, journal_file

NAMES = [f.decode() for f in FIELDS]


names = st.sampled_from([*FIELDS, b"PRIORITY", b"_TRANSPORT", b"__CURSOR", b"X"])
values = st.one_of(st.binary(max_size=40), st.text(max_size=20).map(str.encode),
                   st.sampled_from([b"\n\n", b"a\nb", b'say "hi" \\', b"\xff\xfe", b"\xed\xa0\x80",
                                    b"caf\xc3\xa9", b"\xf4\x90\x80\x80", b"\x7f\x00\x1b"]))
entries = st.lists(st.lists(st.tuples(names, values), max_size=8), max_size=12)


def export(entries_: list[list[tuple[bytes, bytes]]]) -> bytes:
    return b"".join(b"".join(field(n, v) for n, v in e) + b"\n" for e in entries_)


@given(entries, st.integers(0, 400))
@settings(max_examples=300)
def test_native_and_python_give_the_same_bytes(entries_: list[list[tuple[bytes, bytes]]],
                                               cut: int) -> None:
    c = native_module("_journalexport")
    data = export(entries_)
    for chunk in (data, data[:cut]):  # whole, and cut anywhere (an entry left waiting)
        assert c.to_json_lines(chunk) == to_json_lines_py(chunk)


@given(entries)
@settings(max_examples=200)
def test_each_entry_keeps_its_fields_first_seen_first_with_their_last_values(
    entries_: list[list[tuple[bytes, bytes]]],
) -> None:
    data = export(entries_)
    out, used = to_json_lines_py(data)
    assert used == len(data)
    kept = [e for e in entries_ if any(n in FIELDS for n, _ in e)]
    got = [json.loads(line) for line in out.splitlines()]
    assert len(got) == len(kept)
    for e, g in zip(kept, got, strict=True):
        assert list(g) == list(dict.fromkeys(n.decode() for n, _ in e if n in FIELDS))
        for k, v in {n.decode(): v for n, v in e if n in FIELDS}.items():
            # journalctl's JSON: a string, or a list of byte values when not UTF-8
            assert (bytes(g[k]) if isinstance(g[k], list) else g[k].encode()) == v


@given(entries, st.integers(1, 64))
@settings(max_examples=100)
def test_the_stream_gives_the_same_lines_whatever_the_reads(
    entries_: list[list[tuple[bytes, bytes]]], chunk: int,
) -> None:
    data = export(entries_)
    stream = io.BufferedReader(ExportAsJson(io.BytesIO(data), chunk=chunk), buffer_size=7)
    assert stream.read() == to_json_lines_py(data)[0]


def test_real_journal_lines_read_as_journalctl_json(tmp_path: Path) -> None:
    # The captured journal plus entries journalctl prints in binary form: a message with a
    # newline, one that is not UTF-8, one with quotes and a backslash, one with a tab.
    odd = [b"two\nlines", b"bad \xff\xfe bytes", b'quote " and \\ back', b"tab\there"]
    extra = b"".join(
        b"__REALTIME_TIMESTAMP=%d\n_TRANSPORT=kernel\n_BOOT_ID=7ebf94c742c84c75b545d083eda704bf\n"
        % (1795656199000000 + i) + field(b"MESSAGE", m) + b"\n" for i, m in enumerate(odd))
    saved = journal_file(tmp_path, extra=extra)
    args = ["journalctl", "--file", str(saved), "--no-pager", "-q"]
    exported = subprocess.run([*args, "-o", "export"], capture_output=True, check=True).stdout
    as_json = subprocess.run([*args, "-o", "json"], capture_output=True, check=True).stdout
    assert b"MESSAGE\n" in exported  # journalctl did use the binary form
    ours, used = (native or to_json_lines_py)(exported)
    assert used == len(exported)
    mine = [json.loads(line) for line in ours.splitlines()]
    theirs = [json.loads(line) for line in as_json.splitlines()]
    assert len(mine) == len(theirs) == len(CAPTURED.read_bytes().splitlines()) + len(odd)
    for m, t in zip(mine, theirs, strict=True):
        assert m == {k: t[k] for k in NAMES if k in t}
