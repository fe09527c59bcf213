"""Send each line of a log to the reader of its format: most formats hold a message on
one line (prefix.parse_line), two spread one over several (``dmesg --json``,
``journalctl -o verbose``), and their readers keep what earlier lines of the record said.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from oomkit.kernel_log.dmesg_json import JsonRecords
from oomkit.kernel_log.journal_verbose import VerboseRecords
from oomkit.kernel_log.prefix import parse_line
from oomkit.models import LogLine


class LineDecoder:
    """Decodes the lines of one source in order (a record's lines come one after another)."""

    __slots__ = ("_json", "_verbose")

    def __init__(self) -> None:
        self._json = JsonRecords()
        self._verbose = VerboseRecords()

    def line(self, number: int, text: str, *, local: tzinfo,
             reference: datetime | None) -> LogLine | None:
        """The LogLine of a line, or None for one that carries no message (a field line
        remembered for the message of its record, a verbose header, an empty line)."""
        if JsonRecords.may_be(text):
            return self._json.feed(number, text)
        if VerboseRecords.may_be_field(text):
            taken, line = self._verbose.field(number, text)
            if taken:
                return line
        elif "[s=" in text and self._verbose.head(number, text, local):
            return None
        return parse_line(text, local=local, reference=reference)
