"""Shared test helpers: gates for root, memory cgroups and kmsg; paths to test data."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import pytest

from oomkit import jobcgroup

DATA = Path(__file__).parent / "data"
KERNEL_LOGS = DATA / "kernel_log"


def require_root() -> None:
    """Skip unless running as root."""
    if os.geteuid() != 0:
        pytest.skip("needs root")


def require_memcg() -> jobcgroup.Hierarchy:
    """Skip unless root and a memory cgroup controller is mounted."""
    require_root()
    h = jobcgroup.find_memory_hierarchy()
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


def fixture_logs() -> list[Path]:
    """Every captured or public kernel log fixture."""
    return sorted(KERNEL_LOGS.glob("*.log"))


NATIVE_MODULES = ("_procscan", "_linecount", "_journalexport")


def native_module(name: str) -> Any:
    """oomkit.<name>, one of the optional C modules, or skip: it was not built (no C
    compiler at install time; `make test` requires them, see test_native.py)."""
    try:
        return importlib.import_module(f"oomkit.{name}")
    except ImportError:
        pytest.skip(f"oomkit.{name} is not built (no C compiler at install time)")
