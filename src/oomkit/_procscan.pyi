# Types of the optional C module (src/oomkit/_procscan.c).
from collections.abc import Sequence

from oomkit.procfs import StrPath
from oomkit.procscan import Record

class Pending:
    def result(self) -> list[Record]: ...

def start(
    proc_root: StrPath, pids: Sequence[int] | None = None, threads: int = 0,
    keep_raw: bool = False,
) -> Pending: ...
def scan(
    proc_root: StrPath, pids: Sequence[int] | None = None, threads: int = 0,
    keep_raw: bool = False,
) -> list[Record]: ...
