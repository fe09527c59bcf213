"""The optional C modules are built where CI requires them.

Each has a Python twin it is tested against (test_procscan_native, test_linecount,
test_journal_export); those tests skip when a module is missing. CI sets
OOMKIT_REQUIRE_NATIVE=1 (Makefile), so a module that failed to build fails here
instead of silently leaving oomkit on its slower paths.
"""

from __future__ import annotations

import importlib
import os

import pytest

from tests.conftest import NATIVE_MODULES


@pytest.mark.parametrize("name", NATIVE_MODULES)
def test_native_module_is_built_when_required(name: str) -> None:
    if os.environ.get("OOMKIT_REQUIRE_NATIVE") != "1":
        pytest.skip("OOMKIT_REQUIRE_NATIVE is not set (make test sets it)")
    try:
        importlib.import_module(f"oomkit.{name}")
    except ImportError as exc:
        pytest.fail(f"oomkit.{name} failed to build ({exc}): see the pip install output")
