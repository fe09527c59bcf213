"""Reading /dev/kmsg records without blocking (Documentation/ABI/testing/dev-kmsg).

Shared by ``why`` (log_sources.read_kmsg, one pass) and the daemon (recorder.kmsg, which
keeps the fd open and follows it). No imports beyond the stdlib: the daemon loads this.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator


def records(fd: int, size: int = 8192) -> Iterator[bytes | None]:
    """Each read() of a /dev/kmsg fd opened with O_NONBLOCK, until EAGAIN or end of file.

    One read returns one record with its continuation lines (dev-kmsg ABI; a plain file
    or a pipe in tests returns several lines). ``None`` marks records overwritten in the
    ring buffer before they were read: EPIPE, and the next read continues at the oldest
    record left. A record larger than ``size`` fails with EINVAL and is skipped (records
    are at most CONSOLE_EXT_LOG_MAX, 8 KiB). Other errors propagate.
    """
    while True:
        try:
            rec = os.read(fd, size)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                yield None
                continue
            if exc.errno == errno.EINVAL:
                continue
            raise
        if not rec:
            return
        yield rec
