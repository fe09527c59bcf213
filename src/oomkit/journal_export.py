"""journalctl's export format, turned into the JSON lines the log parser reads.

`journalctl -o json` spends about three times as long as `-o export` printing the same
entries (JSON-escaping every field of every entry), and on a machine that went through
an OOM storm the journal has millions of kernel entries: journalctl was most of
`oomkit why`'s time. So the journal is read in export form and each entry becomes one
line shaped like journalctl's JSON, holding only the fields prefix.parse_line uses. That
is done in C (oomkit._journalexport); where it is not built, journalctl prints JSON.

The export format (systemd's JOURNAL_EXPORT_FORMATS): an entry is a run of fields and
ends with an empty line. A field is ``NAME=value\\n`` when the value is printable UTF-8
without a newline, else ``NAME\\n``, the value's length as a little-endian 64-bit
integer, the value's bytes and ``\\n``. As in journalctl's JSON, a value that is not
valid UTF-8 becomes an array of byte values.

Pure functions over bytes, and a stream wrapper; nothing here runs journalctl.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import IO

# What prefix._json_line reads; every other field is dropped.
FIELDS = (b"MESSAGE", b"__REALTIME_TIMESTAMP", b"_SOURCE_MONOTONIC_TIMESTAMP",
          b"SYSLOG_IDENTIFIER", b"_HOSTNAME", b"_BOOT_ID")
_KEYS = {name: b'"' + name + b'":' for name in FIELDS}
_LEN = 8  # the binary form's length field
# Printable ASCII but the quote and the backslash: copied into JSON as it is.
_PLAIN = re.compile(rb'[ !#-\[\]-~]*')


def _json_value(value: bytes) -> bytes:
    if _PLAIN.fullmatch(value):
        return b'"' + value + b'"'  # the common case, which needs no escaping
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return json.dumps(list(value), separators=(",", ":")).encode()
    return json.dumps(text, ensure_ascii=False).encode()


def _line(fields: dict[bytes, bytes]) -> bytes:
    return b"{" + b",".join(_KEYS[k] + _json_value(v) for k, v in fields.items()) + b"}\n"


def _entry(data: bytes, pos: int) -> tuple[dict[bytes, bytes], int] | None:
    """The entry at ``pos``, read field by field (a binary value may hold any byte, blank
    lines included): its fields and where the next entry starts; None if it is cut off."""
    fields: dict[bytes, bytes] = {}
    end = len(data)
    while True:
        eol = data.find(b"\n", pos)
        if eol < 0:
            return None
        if eol == pos:  # the empty line that ends the entry
            return fields, pos + 1
        eq = data.find(b"=", pos, eol)
        if eq >= 0:
            name, value, pos = data[pos:eq], data[eq + 1 : eol], eol + 1
        else:
            name, start = data[pos:eol], eol + 1 + _LEN
            if start > end:
                return None
            size = int.from_bytes(data[eol + 1 : start], "little")
            if start + size + 1 > end:
                return None
            value, pos = data[start : start + size], start + size + 1
        if name in _KEYS:
            fields[name] = value


def to_json_lines_py(data: bytes) -> tuple[bytes, int]:
    """The whole entries at the start of ``data`` as JSON lines, and how many bytes of
    ``data`` they took; the rest (an entry cut off) waits for more input.

    The Python twin of oomkit._journalexport.to_json_lines, the same loop (~8 times
    slower): the reference the C module is tested against, byte for byte."""
    out: list[bytes] = []
    pos = 0
    while pos < len(data) and (entry := _entry(data, pos)) is not None:
        fields, pos = entry
        if fields:
            out.append(_line(fields))
    return b"".join(out), pos


Converter = Callable[[bytes], tuple[bytes, int]]
native: Converter | None
try:
    from oomkit import _journalexport
except ImportError:  # pragma: no cover - depends on the build
    # Not built: log_sources asks journalctl for JSON, which costs it less than this
    # module's Python twin would.
    native = None
else:
    native = _journalexport.to_json_lines


class ExportAsJson(io.RawIOBase):
    """A readable stream of JSON lines over a stream of journal export entries.

    Closing it closes the export stream. An entry cut off at the end of the input
    (journalctl killed by a timeout) is dropped: it is not a whole entry.
    """

    def __init__(self, raw: IO[bytes], chunk: int = 1 << 20,
                 convert: Converter | None = None) -> None:
        self._raw = raw
        self._chunk = chunk
        self._convert = convert or native or to_json_lines_py
        self._pending = b""  # input not yet a whole entry
        self._ready = b""  # output not yet read
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: memoryview | bytearray) -> int:  # type: ignore[override]
        while not self._ready and not self._done:
            data = self._raw.read(self._chunk)
            if not data:
                self._done = True
                break
            data = self._pending + data
            self._ready, used = self._convert(data)
            self._pending = data[used:]
        n = min(len(b), len(self._ready))
        memoryview(b).cast("B")[:n] = self._ready[:n]
        self._ready = self._ready[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            try:
                self._raw.close()
            finally:
                super().close()
