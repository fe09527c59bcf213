"""Where `oomkit why --file F --json` spends its time, stage by stage, in one process.

    python bench/why_stages.py FILE

Prints one JSON object: seconds for the imports, then for each stage run alone over
the whole file (each stage includes the ones before it, except "json", which renders
the result of "why"):

* ``select``: read (and decompress) the file and pick the lines a report may need (kernel_log.scan);
* ``parse``: ``select`` plus decoding, classifying and assembling them into events;
* ``why``: ``parse`` plus each event's explanation, owner, de-duplication and sorting
  (why.find_kills, what the command runs);
* ``json``: rendering that result as the command prints it.

bench_why.py --stages runs this for the cases that missed their target and prints each
stage against the baseline, so the cost floor of a stage is visible: no speed-up of the
stages before it can bring the command below the time of the stages after it.
"""

from __future__ import annotations

import json
import sys
import time

t0 = time.perf_counter()
from oomkit.kernel_log import parse_stream  # noqa: E402
from oomkit.kernel_log.scan import LineSelector  # noqa: E402
from oomkit.log_sources import open_any  # noqa: E402
from oomkit.render import why_json_chunks  # noqa: E402
from oomkit.timeconv import local_tz  # noqa: E402
from oomkit.why import WhyOptions, find_kills  # noqa: E402

IMPORTS = time.perf_counter() - t0


def main(path: str) -> dict[str, float]:
    tz = local_tz()
    out: dict[str, float] = {"imports": IMPORTS}
    start = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal start
        now = time.perf_counter()
        out[stage] = now - start
        start = now

    with open(path, "rb", buffering=0) as f:
        out["lines_selected"] = sum(1 for _ in LineSelector(open_any(f)))
    lap("select")
    with open(path, "rb", buffering=0) as f:
        out["events_parsed"] = sum(1 for _ in parse_stream(open_any(f), path))
    lap("parse")
    result = find_kills(WhyOptions(files=(path,)))
    lap("why")
    out["json_chars"] = sum(len(chunk) for chunk in why_json_chunks(result, tz))
    lap("json")
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
