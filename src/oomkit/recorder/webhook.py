"""POST one warning as JSON: ``python -m oomkit.recorder.webhook URL TIMEOUT BODY``.

Run as a short-lived child of the daemon, so the daemon itself never imports
urllib (and ssl) nor waits on the network. Exit status 0 on a 2xx answer.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request


def post(url: str, body: bytes, timeout: float) -> int:
    """POST ``body`` as application/json; return the HTTP status (or raise URLError)."""
    request = urllib.request.Request(url, data=body, method="POST",  # noqa: S310 - URL checked
                                     headers={"Content-Type": "application/json",
                                              "User-Agent": "oomkit"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return int(response.status)


def main(argv: list[str]) -> int:
    """Entry point; one line on stderr on failure."""
    if len(argv) != 3 or not argv[0].startswith(("http://", "https://")):
        print("usage: python -m oomkit.recorder.webhook URL TIMEOUT JSON", file=sys.stderr)
        return 2
    try:
        status = post(argv[0], argv[2].encode(), float(argv[1]))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"oomkit webhook: {argv[0]}: {exc}", file=sys.stderr)
        return 1
    if not 200 <= status < 300:
        print(f"oomkit webhook: {argv[0]}: HTTP {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
