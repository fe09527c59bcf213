"""A Programs port in memory, for API tests that need no supervisor (the browser test
uses the real one)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from oomkit.web.programs import NoSuchProgram, ProgramView, check_name


class FakePrograms:
    """Two programs; restart bumps the pid and the restart count."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str]] = []
        self.rows = {
            "api": ProgramView("api", "running", 1234, 60.0, 50_000, 80_000, 262_144, 0),
            "worker": ProgramView("worker", "backoff", None, None, None, 120_000, 131_072, 4,
                                  (("oom_kill", 3), ("crash", 1)), "restarting in 8 s",
                                  "oom_kill: killed by the kernel in its cgroup", "oom_kill"),
        }

    def status(self) -> Sequence[ProgramView]:
        with self.lock:
            return list(self.rows.values())

    def control(self, name: str, action: str) -> str:
        check_name(name)
        with self.lock:
            if name not in self.rows:
                raise NoSuchProgram(f"no program named {name!r} (programs: api, worker)")
            self.calls.append((name, action))
            r = self.rows[name]
            if action == "stop":
                self.rows[name] = ProgramView(name, "stopped", None, None, None, r.peak_kb, r.limit_kb,
                                              r.restarts, r.restarts_by_cause)
            else:
                self.rows[name] = ProgramView(name, "running", (r.pid or 2000) + 1, 0.0, 1000,
                                              r.peak_kb, r.limit_kb, r.restarts, r.restarts_by_cause)
            return f"{name}: {action}ed"

    def tail(self, name: str, lines: int) -> str:
        check_name(name)
        if name not in self.rows:
            raise NoSuchProgram(f"no program named {name!r}")
        return "".join(f"line {i}\n" for i in range(lines))
