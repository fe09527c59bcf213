"""One check for tests of the line selectors: every path selects the same lines."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

from oomkit.kernel_log.filescan import FileSelector
from oomkit.kernel_log.scan import LineSelector, _bytes_count, scanners

Selected = list[tuple[int, int, bytes]]


def selected_by_every_path(
    data: bytes, path: Path, *, fast: bool,
    reads: Sequence[tuple[int, int]] = ((4096, 300), (65_536, 4096)),
    items: Sequence[int] = (256, 4096),
) -> Selected:
    """The lines LineSelector selects from ``data`` read whole, after asserting that it
    selects the same with the small ``reads`` (chunk, piece), and the two-pass file
    selector the same from ``path`` (written with ``data``) with the small ``items``."""
    whole = list(LineSelector(io.BytesIO(data), use_hyperscan=fast))
    for chunk, piece in reads:
        got = list(LineSelector(io.BytesIO(data), use_hyperscan=fast, chunk=chunk, piece=piece))
        assert got == whole, (fast, chunk, piece)
    path.write_bytes(data)
    anchor, full, _hs = scanners(fast)
    fd = os.open(path, os.O_RDONLY)
    try:
        for item in items:
            sel = FileSelector(fd, 0, anchor_scan=anchor, full_scan=full, count=_bytes_count,
                               threads=2, segment=16 << 10, piece=512, chunk=item)
            assert list(sel) == whole, (fast, item)
    finally:
        os.close(fd)
    return whole
