"""System memory each tick: /proc/meminfo, /proc/pressure/memory, /proc/vmstat oom_kill.

Lean on purpose (this runs every second): each file is one read(), and only
the fields the recorder keeps are picked out of it.
"""

from __future__ import annotations

import re

from oomkit import procfs
from oomkit.errors import OomkitError
from oomkit.models import SystemSample
from oomkit.procfs import read_quiet

_MEMINFO = re.compile(rb"^(MemTotal|MemAvailable|SwapTotal|SwapFree|Committed_AS|CommitLimit):"
                      rb"\s+(\d+)", re.M)



def parse_meminfo(data: bytes) -> dict[bytes, int]:
    """The six /proc/meminfo fields the recorder keeps (kB). Pure."""
    return {k: int(v) for k, v in _MEMINFO.findall(data)}


def parse_oom_kill(vmstat: bytes) -> int | None:
    """``oom_kill`` from /proc/vmstat text (Linux 4.13+), or None. Pure."""
    i = vmstat.find(b"\noom_kill ")
    if i < 0:
        return None
    j = vmstat.find(b"\n", i + 10)
    return int(vmstat[i + 10 : j if j >= 0 else None])


class SystemReader:
    """Reads the system sample and the global OOM kill counter."""

    def __init__(self, proc_root: procfs.StrPath = procfs.PROC) -> None:
        root = str(proc_root)
        self._meminfo = f"{root}/meminfo"
        self._vmstat = f"{root}/vmstat"
        self._psi = f"{root}/pressure/memory"
        self.has_psi = read_quiet(self._psi, 65536) is not None

    def sample(self, ts: float) -> SystemSample:
        """System memory now; OomkitError if /proc/meminfo cannot be read."""
        data = read_quiet(self._meminfo, 65536)
        if data is None:
            raise OomkitError(f"cannot read {self._meminfo}")
        m = parse_meminfo(data)
        some = full = None
        if self.has_psi:
            text = read_quiet(self._psi, 65536)
            if text:
                try:
                    psi = procfs.parse_psi(text.decode())
                    some, full = psi.some, psi.full
                except OomkitError:
                    pass
        total = m.get(b"MemTotal", 0)
        return SystemSample(
            ts=ts,
            mem_total_kb=total,
            # MemAvailable exists since 3.14; before that MemFree is the best lower bound.
            mem_available_kb=m.get(b"MemAvailable", 0),
            swap_total_kb=m.get(b"SwapTotal", 0),
            swap_free_kb=m.get(b"SwapFree", 0),
            committed_as_kb=m.get(b"Committed_AS", 0),
            commit_limit_kb=m.get(b"CommitLimit", 0),
            psi_some_avg10=some.avg10 if some else None,
            psi_full_avg10=full.avg10 if full else None,
            psi_some_total_us=some.total_us if some else None,
            psi_full_total_us=full.total_us if full else None,
        )

    def oom_kills(self) -> int | None:
        """/proc/vmstat oom_kill: every OOM kill since boot, memcg kills included (4.13+)."""
        data = read_quiet(self._vmstat, 65536)
        return None if data is None else parse_oom_kill(data)
