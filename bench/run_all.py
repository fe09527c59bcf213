"""Run every bench/bench_*.py in turn with this Python; extra arguments (e.g. --quick) go to each.

Exit status 1 if any benchmark failed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

failed = []
for script in sorted(Path(__file__).resolve().parent.glob("bench_*.py")):
    print(f"==> {script.name}", flush=True)
    if subprocess.run([sys.executable, str(script), *sys.argv[1:]]).returncode != 0:
        failed.append(script.name)
    print(flush=True)
print(f"failed: {', '.join(failed)}" if failed else "all benchmarks passed")
sys.exit(1 if failed else 0)
