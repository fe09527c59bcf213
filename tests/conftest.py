"""Shared fixtures: gates for root / memory cgroups, real OOM kills, paths to test data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from oomkit import jobcgroup

DATA = Path(__file__).parent / "data"
KERNEL_LOGS = DATA / "kernel_log"


def _memory_hierarchy() -> jobcgroup.Hierarchy | None:
    return jobcgroup.find_memory_hierarchy()


def require_root() -> None:
    """Skip unless running as root."""
    if os.geteuid() != 0:
        pytest.skip("needs root")


def require_memcg() -> jobcgroup.Hierarchy:
    """Skip unless root and a memory cgroup controller is mounted."""
    require_root()
    h = _memory_hierarchy()
    if h is None:
        pytest.skip("no memory cgroup controller mounted")
    return h


def require_kmsg() -> None:
    """Skip unless /dev/kmsg can be read."""
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        pytest.skip(f"/dev/kmsg not readable: {exc.strerror}")
    os.close(fd)


@pytest.fixture
def memcg(request: pytest.FixtureRequest) -> Iterator[jobcgroup.JobCgroup]:
    """A fresh 32 MiB memory cgroup, removed afterwards."""
    require_memcg()
    name = f"oomkit-test-{os.getpid()}-{request.node.name[:40]}".replace("[", "-").replace("]", "")
    cg = jobcgroup.create(name, 32 << 20)
    try:
        yield cg
    finally:
        jobcgroup.remove(cg)


def fixture_logs() -> list[Path]:
    """Every captured or public kernel log fixture."""
    return sorted(KERNEL_LOGS.glob("*.log"))
