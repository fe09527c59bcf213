"""util-linux ``dmesg --json`` (``-J``): one record spread over several lines.

Captured here from util-linux 2.38.1
(tests/data/kernel_log/local-6.18-memcg-v1-json-quoted-dmesg-json.log)::

    {
       "dmesg": [
          {
             "pri": 4,
             "time": 41480.997315,
             "msg": "grower invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, ..."
          },{

``-x`` adds ``"fac": "kern"`` and prints ``"pri"`` as a name. ``time`` is seconds since
boot (the printk clock, as in plain ``dmesg``); ``msg`` is a JSON string, so a comm
with a quote or a backslash comes escaped (``say \\"hi\\"``) and must be decoded.

Every other format is one line per message, so ``prefix.parse_line`` reads it alone.
Here the time is on the line before the message: ``JsonRecords`` keeps the last
``"time"`` it was given and puts it on the ``"msg"`` line that follows in the same
record. The line selector (scan.py) keeps ``"time": `` lines for this.
"""

from __future__ import annotations

import json
import re

from oomkit.kernel_log.prefix import valid_text
from oomkit.models import LogLine

_TIME = re.compile(r'\s*"time":\s*(\d+(?:\.\d+)?),?\s*$')
_MSG = re.compile(r'\s*"msg":\s*("(?:[^"\\]|\\.)*")\s*,?\s*$')
_FAC = re.compile(r'\s*"fac":\s*"([a-z0-9]+)",?\s*$')
# A record's fields come in this order: pri (or fac, pri), time, [caller,] msg. The
# time is taken for a msg at most this many lines after it.
_NEAR = 3


class JsonRecords:
    """Pairs each record's ``"msg"`` line with its ``"time"`` (and ``"fac"``) line."""

    __slots__ = ("_fac", "_fac_line", "_time", "_time_line")

    def __init__(self) -> None:
        self._time: str | None = None
        self._time_line = -_NEAR - 1
        self._fac: str | None = None
        self._fac_line = -_NEAR - 1

    @staticmethod
    def may_be(text: str) -> bool:
        """Cheap test for a line this reader may take: indented, then a double quote."""
        return text[:1] == " " and text.lstrip(" ")[:1] == '"'

    def feed(self, number: int, text: str) -> LogLine | None:
        """The LogLine of a ``"msg"`` line, or None (a time, facility or other field
        line is remembered or skipped). ``number`` is the line's number in its source."""
        m = _TIME.match(text)
        if m:
            self._time, self._time_line = m.group(1), number
            return None
        m = _MSG.match(text)
        if m:
            try:
                msg = valid_text(json.loads(m.group(1)))
            except ValueError:
                return None  # a cut or hand-edited string: not a message we can read
            near = number - self._time_line <= _NEAR
            fac = self._fac if number - self._fac_line <= _NEAR + 1 else None
            return LogLine(
                text=msg,
                uptime_s=float(self._time) if near and self._time else None,
                raw_time=self._time if near else None,
                # -x names the facility: a userspace record written to /dev/kmsg is not
                # the kernel's (the assembler takes kernel report lines from "kernel").
                ident="kernel" if fac in (None, "kern") else fac,
            )
        m = _FAC.match(text)
        if m:
            self._fac, self._fac_line = m.group(1), number
        return None
