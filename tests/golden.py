"""Golden JSON for the kernel log corpus: ``<case>.log`` -> ``<case>.expected.json``.

Regenerate after a reviewed parser change with ``python -m tests.golden``;
review the diff before committing it.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from oomkit.explain import explain
from oomkit.kernel_log import parse_stream
from oomkit.owner import owner_of
from oomkit.render import event_dict
from oomkit.why import KillReport

# Year-less syslog dates are placed before this instant (the corpus was built
# in November 2026; public reports carry their own years where they have one).
REFERENCE = datetime(2026, 11, 27, tzinfo=timezone.utc)
DROP = ("explanation", "cgroup_now")


def golden(path: Path) -> list[dict[str, Any]]:
    """The parsed events of one fixture, as JSON-ready dicts."""
    out = []
    with path.open("rb") as f:
        for e in parse_stream(f, path.name, local=timezone.utc, reference=REFERENCE):
            owner = owner_of(e.memcg)
            k = KillReport(e, explain(e), owner, owner_of(e.task_memcg), None)
            d = event_dict(k, timezone.utc)
            for key in DROP:
                d.pop(key)
            out.append(d)
    return out


def expected_path(path: Path) -> Path:
    """Where the golden file of a fixture lives."""
    return path.with_suffix(".expected.json")


def main(argv: list[str]) -> int:
    """Rewrite the golden files (all, or the fixtures named)."""
    root = Path(__file__).parent / "data" / "kernel_log"
    paths = [Path(a) for a in argv] or sorted(root.glob("*.log"))
    for p in paths:
        expected_path(p).write_text(json.dumps(golden(p), indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {expected_path(p).name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
