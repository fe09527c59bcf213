"""devkmsg.records: the one non-blocking /dev/kmsg reader of `why` and the daemon."""

from __future__ import annotations

import os
import re

import pytest

from oomkit.devkmsg import records


def test_reads_every_record_of_the_real_ring_buffer_and_stops_at_eagain() -> None:
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        pytest.skip(f"/dev/kmsg not readable here: {exc.strerror}")
    try:
        got = [r for r in records(fd) if r is not None]
    finally:
        os.close(fd)
    assert got, "an empty ring buffer right after boot is impossible"
    # dev-kmsg ABI: "pri,seq,usec,flags[,...];message", one record per read
    assert all(re.match(rb"\d+,\d+,\d+,[^;]*;", r) for r in got)
    seqs = [int(r.split(b",", 2)[1]) for r in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_a_pipe_yields_what_is_written_then_stops_without_blocking() -> None:
    r, w = os.pipe()
    os.set_blocking(r, False)
    try:
        os.write(w, b"6,1,2,-;a\n")
        os.write(w, b"6,2,3,-;b\n")
        assert b"".join(x for x in records(r) if x is not None) == b"6,1,2,-;a\n6,2,3,-;b\n"
        os.close(w)
        w = -1
        assert list(records(r)) == []  # end of file
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
