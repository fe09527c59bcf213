"""journalctl's export format, turned into the JSON lines the log parser reads.

`journalctl -o json` spends about three times as long as `-o export` printing the same
entries (JSON-escaping every field of every entry), and on a machine that went through
an OOM storm the journal has millions of kernel entries: journalctl was most of
`oomkit why`'s time. So the journal is read in export form and each entry becomes one
line shaped like journalctl's JSON, holding only the fields prefix.parse_line uses.

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


def _binary_entry(data: bytes, pos: int) -> tuple[dict[bytes, bytes], int] | None:
    """The entry at ``pos`` read field by field (it has a binary field, whose value may
    hold any byte): its fields and where the next entry starts; None if it is cut off."""
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

    The Python twin of oomkit._journalexport.to_json_lines (~40 times slower), used
    where that is not built; the two are tested to give the same bytes."""
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        if data[pos] == 0x0A:  # an empty entry: only its blank line
            pos += 1
            continue
        end = data.find(b"\n\n", pos)
        if end < 0:
            break
        fields: dict[bytes, bytes] = {}
        for field in data[pos:end].split(b"\n"):
            name, eq, value = field.partition(b"=")
            if not eq:  # a binary field: its value may hold "\n\n", so read it by length
                entry = _binary_entry(data, pos)
                if entry is None:
                    return b"".join(out), pos
                fields, end = entry[0], entry[1] - 2
                break
            if name in _KEYS:
                fields[name] = value
        if fields:
            out.append(_line(fields))
        pos = end + 2
    return b"".join(out), pos


try:
    from oomkit._journalexport import to_json_lines
except ImportError:  # pragma: no cover - depends on the build
    to_json_lines = to_json_lines_py


class ExportAsJson(io.RawIOBase):
    """A readable stream of JSON lines over a stream of journal export entries.

    Closing it closes the export stream. An entry cut off at the end of the input
    (journalctl killed by a timeout) is dropped: it is not a whole entry.
    """

    def __init__(self, raw: IO[bytes], chunk: int = 1 << 20) -> None:
        self._raw = raw
        self._chunk = chunk
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
            self._ready, used = to_json_lines(data)
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
