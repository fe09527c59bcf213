"""Kernel and userspace OOM-killer log parsing.

``parse_text`` is the pure entry point over text (tests, fixtures);
``parse_stream`` is the fast one over a byte stream: it lets ``scan`` pick the
lines a report can need, then runs the same prefix decoder, classifier and
assembler on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timezone, tzinfo
from typing import IO

from oomkit.kernel_log.assemble import Assembler, assemble
from oomkit.kernel_log.scan import LineSelector
from oomkit.models import LogLine, OomEvent, SourceRef

__all__ = ["Assembler", "parse_lines", "parse_stream", "parse_text"]


def decode(raw: bytes) -> str:
    """Bytes of one line as text: invalid UTF-8 becomes U+FFFD, never an error."""
    return raw.decode("utf-8", "replace")


def parse_lines(
    lines: Iterator[tuple[int, str]] | list[tuple[int, str]],
    path: str,
    *,
    local: tzinfo = timezone.utc,
    reference: datetime | None = None,
) -> Iterator[OomEvent]:
    """Events from ``(line_number, text)`` pairs."""
    # here, as in feed_selected: the daemon imports this package for the assembler only,
    # and never reads a saved log (docs/daemon.md, "Where the memory goes")
    from oomkit.kernel_log.multiline import LineDecoder
    from oomkit.kernel_log.unwrap import unwrap

    def decoded() -> Iterator[tuple[int, str, LogLine | None]]:
        records = LineDecoder()
        for number, text in lines:
            yield number, text, records.line(number, text, local=local, reference=reference)

    return assemble((line, SourceRef(path, number)) for number, line in unwrap(decoded()))


def parse_text(
    text: str,
    path: str = "-",
    *,
    local: tzinfo = timezone.utc,
    reference: datetime | None = None,
) -> list[OomEvent]:
    """Every event in ``text`` (a whole log), in log order. Pure."""
    numbered = list(enumerate(text.replace("\r\n", "\n").split("\n"), start=1))
    return list(parse_lines(numbered, path, local=local, reference=reference))


def feed_selected(
    asm: Assembler,
    selected: Iterable[tuple[int, int, bytes]],
    path: str,
    *,
    local: tzinfo,
    reference: datetime | None,
) -> Iterator[OomEvent]:
    """Decode and feed selected ``(line, offset, bytes)`` triples; yield finished events."""
    from oomkit.kernel_log.multiline import LineDecoder
    from oomkit.kernel_log.unwrap import unwrap

    records = LineDecoder()  # dmesg --json, journalctl -o verbose: records of lines

    def decoded() -> Iterator[tuple[int, str, LogLine | None]]:
        for number, _offset, raw in selected:
            text = decode(raw)
            yield number, text, records.line(number, text, local=local, reference=reference)

    for number, line in unwrap(decoded()):
        yield from asm.feed(line, SourceRef(path, number))


def parse_stream(
    stream: IO[bytes],
    path: str,
    *,
    local: tzinfo = timezone.utc,
    reference: datetime | None = None,
    use_hyperscan: bool = True,
    threads: int | None = None,
) -> Iterator[OomEvent]:
    """Every event in a byte stream, reading only the lines a report can need; a large
    file on up to ``threads`` threads (default: the CPUs, at most 4).

    If reading fails midway (a truncated .gz, an I/O error), the events read
    so far are yielded before the error is raised.
    """
    asm = Assembler()
    selected = LineSelector(stream, use_hyperscan=use_hyperscan, threads=threads)
    try:
        yield from feed_selected(asm, selected, path, local=local, reference=reference)
    except BaseException:
        yield from asm.close()
        raise
    yield from asm.close()
