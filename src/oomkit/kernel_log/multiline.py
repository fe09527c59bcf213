"""Send each line of a log to the reader of its format: most formats hold a message on
one line (prefix.parse_line), three spread one over several (``dmesg --json``,
``journalctl -o verbose`` and ``-o json-pretty``), and their readers keep what earlier
lines of the record said.

``journalctl -o json-pretty`` prints an entry as ``{``, one ``<TAB>"NAME" : value,`` line
per field in no fixed order (MESSAGE before or after __REALTIME_TIMESTAMP: local-6.18-
memcg-v1-grower-exported-journal-json-pretty), and ``}``. Its field lines are gathered
and, at the ``}``, read as the one-line JSON entry journalctl's ``-o json`` prints.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from oomkit.kernel_log.dmesg_json import JsonRecords
from oomkit.kernel_log.journal_verbose import VerboseRecords
from oomkit.kernel_log.prefix import parse_line
from oomkit.models import LogLine

# An entry has a few dozen fields; lines that look like fields and never close are
# dropped past this many, so that such a file is not held in memory.
_MAX_FIELDS = 1024


class LineDecoder:
    """Decodes the lines of one source in order (a record's lines come one after another)."""

    __slots__ = ("_json", "_pretty", "_verbose")

    def __init__(self) -> None:
        self._json = JsonRecords()
        self._verbose = VerboseRecords()
        self._pretty: list[str] = []  # the field lines of a json-pretty entry so far

    def line(self, number: int, text: str, *, local: tzinfo,
             reference: datetime | None) -> LogLine | None:
        """The LogLine of a line, or None for one that carries no message (a field line
        remembered for the message of its record, a verbose header, an empty line)."""
        if text[:2] == '\t"':  # a json-pretty field
            if len(self._pretty) >= _MAX_FIELDS:  # no "}" came: not json-pretty after all
                self._pretty.clear()
            self._pretty.append(text.strip().rstrip(","))
            return None
        if self._pretty and text.rstrip("\r\n") == "}":
            fields, self._pretty = self._pretty, []
            return parse_line("{" + ",".join(fields) + "}", local=local, reference=reference)
        if JsonRecords.may_be(text):
            return self._json.feed(number, text)
        if VerboseRecords.may_be_field(text):
            taken, line = self._verbose.field(number, text)
            if taken:
                return line
        elif "[s=" in text and self._verbose.head(number, text, local):
            return None
        return parse_line(text, local=local, reference=reference)
