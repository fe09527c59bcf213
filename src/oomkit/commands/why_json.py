"""`oomkit why --json` output and exit status, without click.

Shared by the click command (commands/why.py) and the entry point's fast path
for `why --json --file F` (quick.py), so both print the same bytes.
"""

from __future__ import annotations

import sys
from datetime import tzinfo

from oomkit.render import sources_text, why_json_chunks
from oomkit.why import WhyResult


def write(result: WhyResult, tz: tzinfo, *, explicit: bool) -> int:
    """Print the JSON document (streamed, one event at a time) and the source notes
    on stderr; return the exit status."""
    for chunk in why_json_chunks(result, tz, pretty=sys.stdout.isatty()):
        sys.stdout.write(chunk)
    sys.stdout.write("\n")
    for line in sources_text(result, prefix="oomkit: "):
        sys.stderr.write(line + "\n")
    return status(result, explicit=explicit)


def status(result: WhyResult, *, explicit: bool) -> int:
    """1 when a log the user named could not be read (fully), or no source could be read."""
    failed = [s for s in result.sources if s.status not in ("read", "skipped")]
    if explicit and failed:
        return 1
    tried = [s for s in result.sources if s.status != "skipped"]
    return 1 if tried and len(failed) == len(tried) else 0
