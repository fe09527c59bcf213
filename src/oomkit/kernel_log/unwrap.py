"""Join a log line that a mail client wrapped back onto its start.

A report pasted into a mail or an issue often arrives wrapped at 72 to 80 columns: the
rest of a long line goes on, without a timestamp, on the next line (the linux-mm splat
in public-5.4-arm64-...-mail-wrapped). Read apart, the victim line loses its numbers and
a task-table row its name. A line goes on on the next one when it ends in a blank (a
mail client's soft line break keeps the space it broke at: RFC 3676, 4.2, "format=
flowed"), and the next line carries no log prefix of its own (no timestamp, no syslog
header: one that does is a message of its own), some text, and does not start with the
same byte as the line before (the lines of a log all start alike; the line selector,
scan._starts_alike, skips such a pair by that rule, so every path joins the same lines).
The first line must have a prefix: in a paste without any, nothing tells a wrapped line
from the next message.

A wrap that leaves no blank (a terminal's, as in public-5.x-...-comma-grouped-victim-
wrapped-rows-issue) is not joined: its rest begins with whatever came next, and which
lines to select for it would depend on where a large file is cut into reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from oomkit.models import LogLine


def _bare(line: LogLine) -> bool:
    """Whether the line had no prefix at all (parse_line found no time and no header)."""
    return (line.raw_time is None and line.ident is None and line.wall is None
            and line.uptime_s is None and line.host is None)


def _head(raw: str) -> bytes:
    """The first byte of the line as read (the selector compares bytes)."""
    return raw[:1].encode("utf-8", "replace")


def _goes_on(raw: str) -> bool:
    """Whether the raw line ends in a blank (its newline aside)."""
    end = raw.rstrip("\r\n")[-1:]
    return end == " " or end == "\t"


def unwrap(items: Iterable[tuple[int, str, LogLine | None]]) -> Iterator[tuple[int, LogLine]]:
    """``(number, line)`` for each decoded ``(number, raw text, line or None)``, a line
    and the lines that continue it as one, numbered by the first. Lines that cannot go
    on pass straight through; one that can waits for the next. If ``items`` raises, the
    line waiting is yielded first."""
    # first and last number, the first byte of the last raw line, the line so far
    held: tuple[int, int, bytes, LogLine] | None = None
    try:
        for number, raw, line in items:
            if held is not None:
                first, last, last_head, so_far = held
                held = None
                if (line is not None and number == last + 1 and _bare(line)
                        and line.text.strip() and _head(raw) != last_head):
                    head, tail = so_far.text.rstrip(), line.text.strip()
                    joined = so_far._replace(text=f"{head} {tail}" if head else tail)
                    if _goes_on(raw):
                        held = (first, number, _head(raw), joined)
                    else:
                        yield first, joined
                    continue
                yield first, so_far
            if line is None:
                continue
            if not _bare(line) and _goes_on(raw):
                held = (number, number, _head(raw), line)
            else:
                yield number, line
    except BaseException:
        if held is not None:
            yield held[0], held[3]
        raise
    if held is not None:
        yield held[0], held[3]
