"""``journalctl -o verbose``: one entry spread over several lines.

Captured here from systemd 252 (tests/data/kernel_log/
local-6.18-memcg-v1-grower-exported-journal-verbose.log)::

    Thu 2026-11-26 14:35:19.549155 UTC [s=65eb...;i=a0e;b=7ebf...;m=c1a1dfe52;t=6612...;x=5c7a...]
        _BOOT_ID=7ebf94c742c84c75b545d083eda704bf
        _HOSTNAME=vm
        _TRANSPORT=kernel
        SYSLOG_IDENTIFIER=kernel
        _SOURCE_MONOTONIC_TIMESTAMP=51977776665
        MESSAGE=CPU: 1 UID: 0 PID: 9262 Comm: grower Not tainted 6.18.44-fc-v782 #1 ...

The header line holds the entry's wall time (what the short formats print, in the local
zone unless UTC), then its fields, indented by four spaces, in no fixed order: in the
same capture MESSAGE comes before _SOURCE_MONOTONIC_TIMESTAMP in one entry and after it
in the next. So a message takes the header's time and the identifier, host and boot id
seen before it in its entry; the monotonic stamp only when it came first. The line
selector (scan.py) keeps the header and those field lines near a report.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

from oomkit.kernel_log.prefix import full_match, full_time, valid_text
from oomkit.models import LogLine

_FIELD = re.compile(r"    (?P<name>[A-Z0-9_]+)=(?P<value>.*)$")
_CURSOR = re.compile(r" \[s=[0-9a-f]+;i=[0-9a-f]+;")
# An entry has a dozen fields from the kernel, some thirty from a service; a message
# further than this from the last header seen is not taken for that header's entry (the
# selector may have kept a message and not its header).
_NEAR = 64


class VerboseRecords:
    """Pairs each entry's MESSAGE line with its header and the fields before it."""

    __slots__ = ("_boot", "_head_line", "_host", "_ident", "_raw", "_uptime", "_wall")

    def __init__(self) -> None:
        self._head_line = -_NEAR - 1
        self._wall: datetime | None = None
        self._raw: str | None = None
        self._ident: str | None = None
        self._host: str | None = None
        self._boot: str | None = None
        self._uptime: float | None = None

    @staticmethod
    def may_be_field(text: str) -> bool:
        """Cheap test for a field line: four blanks, then a capital or an underscore."""
        return text[:4] == "    " and (text[4:5].isupper() or text[4:5] == "_")

    def head(self, number: int, text: str, local: tzinfo) -> bool:
        """Take a header line (its time starts a new entry); False if it is none.
        ``number`` is the line's number in its source."""
        m = full_match(text)
        if m is None or not _CURSOR.match(text, m.end()):
            return False
        self._head_line = number
        self._wall, self._raw = full_time(m, local), m.group(0)
        self._ident = self._host = self._boot = None
        self._uptime = None
        return True

    def field(self, number: int, text: str) -> tuple[bool, LogLine | None]:
        """(whether it is a field line, the LogLine of a MESSAGE line or None: another
        field is remembered or skipped)."""
        m = _FIELD.match(text.rstrip("\r\n"))
        if m is None:
            return False, None
        if number - self._head_line > _NEAR:  # its header was not seen: no entry to join
            return True, (LogLine(text=valid_text(m.group("value")))
                          if m.group("name") == "MESSAGE" else None)
        return True, self._take(m.group("name"), m.group("value"))

    def _take(self, name: str, value: str) -> LogLine | None:
        if name == "MESSAGE":
            return LogLine(
                text=valid_text(value), uptime_s=self._uptime, wall=self._wall,
                raw_time=self._raw, ident=self._ident, host=self._host, boot_id=self._boot,
                wall_kind="log" if self._wall else None,
            )
        if name == "SYSLOG_IDENTIFIER":
            self._ident = value
        elif name == "_HOSTNAME":
            self._host = value
        elif name == "_BOOT_ID":
            self._boot = value
        elif name == "_SOURCE_MONOTONIC_TIMESTAMP" and value.isdecimal():
            self._uptime = int(value) / 1e6
        return None
