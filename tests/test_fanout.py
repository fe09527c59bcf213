"""Reading logs in forked children (oomkit.fanout) gives what reading them here gives."""

from __future__ import annotations

import os
import signal
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oomkit import fanout, why
from oomkit.log_sources import Source
from oomkit.timeconv import local_tz
from oomkit.why import WhyOptions, find_kills
from tests.conftest import KERNEL_LOGS

BIG = [fanout.MIN_PARALLEL_BYTES] * 4  # weights that make read_all fork


@given(st.lists(st.integers(0, 10**9), max_size=30), st.integers(1, 8))
def test_groups_hold_every_index_once_and_balance_the_weights(weights: list[int], n: int) -> None:
    parts = fanout.groups(weights, n)
    assert sorted(i for part in parts for i in part) == list(range(len(weights)))
    assert len(parts) <= n
    assert all(part == sorted(part) for part in parts)
    if parts:
        loads = [sum(weights[i] for i in part) for part in parts]
        # greedy onto the lightest group: no group exceeds another by more than one item
        assert max(loads) - min(loads) <= max(weights)


def test_children_read_in_parallel_and_results_keep_their_order() -> None:
    me = os.getpid()
    out = fanout.read_all([0, 1, 2, 3], lambda i: (i * 10, os.getpid()), BIG, jobs=3)
    assert [value for value, _ in out] == [0, 10, 20, 30]
    pids = {pid for _, pid in out}
    assert me in pids and len(pids) == 3  # this process and two children


def test_small_inputs_are_read_here() -> None:
    me = os.getpid()
    out = fanout.read_all([0, 1, 2], lambda i: os.getpid(), [1, 1, 1], jobs=4)
    assert out == [me, me, me]


@pytest.mark.parametrize("how", ["raise", "sigkill"])
def test_a_failed_child_is_read_again_here(how: str) -> None:
    me = os.getpid()

    def read(i: int) -> tuple[int, int]:
        if os.getpid() != me:
            if how == "raise":
                raise RuntimeError("a child that fails")
            os.kill(os.getpid(), signal.SIGKILL)
        return i, os.getpid()

    assert fanout.read_all([0, 1, 2, 3], read, BIG, jobs=4) == [(i, me) for i in range(4)]


def test_shared_objects_come_back_as_themselves() -> None:
    tz = local_tz()  # a ZoneInfo read from a file, which pickle refuses to copy
    me = os.getpid()
    out = fanout.read_all([0, 1], lambda i: (datetime(2026, 11, 26, i, tzinfo=tz), os.getpid()),
                          BIG[:2], jobs=2, shared=(tz,))
    assert {pid for _, pid in out} != {me}
    assert [when.hour for when, _ in out] == [0, 1]
    assert all(when.tzinfo is tz for when, _ in out)


def test_why_reads_the_same_in_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    files = tuple(str(p) for p in sorted(KERNEL_LOGS.glob("*-dmesg-iso.log")))
    files += (str(KERNEL_LOGS / "missing.log"),)  # a failing source, reported the same way
    one = find_kills(WhyOptions(files=files, jobs=1, use_db=False))
    monkeypatch.setattr(fanout, "MIN_PARALLEL_BYTES", 0)
    forked: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            forked.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    read_here: list[str] = []  # the children's calls are not seen here
    real_read = why.read_source

    def read_source(source: Source, **kw: Any) -> Any:
        read_here.append(source.name)
        return real_read(source, **kw)

    monkeypatch.setattr(why, "read_source", read_source)
    many = find_kills(WhyOptions(files=files, jobs=4, use_db=False))
    assert len(forked) == 3
    assert 0 < len(read_here) < len(files)  # the children's parts came from them
    assert many.sources == one.sources
    assert [k.event for k in many.kills] == [k.event for k in one.kills]
    assert [k.explanation for k in many.kills] == [k.explanation for k in one.kills]
    assert len(one.kills) > 10


def test_jobs_must_be_a_positive_number(tmp_path: Path) -> None:
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "oomkit", "why", "--jobs", "0", "--file",
                        str(KERNEL_LOGS / "local-6.18-memcg-v1-two-ooms-dmesg.log")],
                       capture_output=True, text=True, check=False)
    assert p.returncode == 2
    assert "--jobs" in p.stderr and "Traceback" not in p.stderr


def test_nothing_is_forked_while_another_thread_runs() -> None:
    import threading

    me = os.getpid()
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        out = fanout.read_all([0, 1, 2], lambda i: os.getpid(), BIG[:3], jobs=3)
    finally:
        stop.set()
        other.join()
    assert out == [me, me, me]
