"""Read several logs at once, one forked process per group of them.

After an OOM storm a Debian or Ubuntu machine holds it three times: in kern.log,
in syslog (rsyslog writes kernel lines to both) and in the journal; each copy of a
200 MB storm takes `why` ~10 s to parse in Python. The copies are independent until
they are merged, so each group is parsed in a child process on its own CPU, and the
events come back pickled through a pipe. Small inputs (the usual case) are read in
this process: a fork and the pickling cost more than they save there.

If a child fails (it dies, or its result cannot be read), its logs are read again in
this process, so the result never depends on the fan-out. On KeyboardInterrupt the
children are killed and reaped. Nothing is forked while other threads run (the
command line has none when it reads its logs).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Below this much input in all, everything is read in this process.
MIN_PARALLEL_BYTES = 32 << 20


def cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - Linux has it
        return os.cpu_count() or 1


def _threads() -> bool:
    """Whether other threads run here: a fork copies only this one, and a lock another
    held at that moment stays locked in the child, so then nothing is forked."""
    import threading

    return threading.active_count() > 1


def groups(weights: Sequence[int], n: int) -> list[list[int]]:
    """Indices of ``weights`` in at most ``n`` groups of about equal total weight: the
    heaviest first, each to the lightest group so far. Pure."""
    out: list[list[int]] = [[] for _ in range(max(1, min(n, len(weights))))]
    load = [0] * len(out)
    for i in sorted(range(len(weights)), key=lambda i: -weights[i]):
        g = load.index(min(load))
        out[g].append(i)
        load[g] += weights[i]
    return [sorted(g) for g in out if g]


# Objects the children's results refer to but pickle cannot copy (a ZoneInfo read from
# /etc/localtime): sent as their index here, since parent and child hold the same ones.
_SHARED: list[object] = []


def _shared(index: int) -> object:
    return _SHARED[index]


def _dumps(value: object) -> bytes:
    import copyreg
    import io
    import pickle

    def reduce(obj: object) -> Any:
        for i, known in enumerate(_SHARED):
            if obj is known:
                return _shared, (i,)
        return obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL)

    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    # A per-type table (looked up in C), not persistent_id (a Python call per object,
    # which doubled the cost of pickling 20,000 events).
    pickler.dispatch_table = {**copyreg.dispatch_table, **{type(o): reduce for o in _SHARED}}
    pickler.dump(value)
    return out.getvalue()


def read_all(items: Sequence[T], read: Callable[[T], R], weights: Sequence[int],
             *, jobs: int, shared: Sequence[object] = ()) -> list[R]:
    """``[read(item) for item in items]``, in up to ``jobs`` processes at once when the
    ``weights`` (bytes to read) add up to MIN_PARALLEL_BYTES or more. The results may
    refer to the ``shared`` objects, which are passed by reference, not copied."""
    if jobs < 2 or len(items) < 2 or sum(weights) < MIN_PARALLEL_BYTES or _threads():
        return [read(item) for item in items]
    import pickle

    _SHARED[:] = shared
    parts = groups(weights, jobs)
    children: list[tuple[int, int, list[int]]] = []
    results: dict[int, R] = {}
    try:
        for part in parts[1:]:
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child; its result is what is tested
                _child(r, w, [(i, items[i]) for i in part], read)
            os.close(w)
            children.append((pid, r, part))
        for i in parts[0]:
            results[i] = read(items[i])
        while children:
            pid, r, part = children[0]
            with os.fdopen(r, "rb") as f:
                children[0] = (pid, -1, part)  # closed by the with
                data = f.read()
            _, status = os.waitpid(pid, 0)
            children.pop(0)
            try:
                if status != 0:
                    raise ValueError(f"exit status {status}")
                # From our own child, through a pipe only it and we hold.
                results.update(pickle.loads(data))  # noqa: S301
            except Exception:  # the child failed: read its part here
                results.update((i, read(items[i])) for i in part)
    finally:
        for pid, r, _ in children:  # interrupted: stop the others
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            if r >= 0:
                os.close(r)
    return [results[i] for i in range(len(items))]


def _child(r: int, w: int, part: list[tuple[int, T]],
           read: Callable[[T], R]) -> None:  # pragma: no cover - runs after fork
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends it quietly
        os.close(r)
        data = _dumps([(i, read(item)) for i, item in part])
        with os.fdopen(w, "wb") as f:
            f.write(data)
        code = 0
    finally:
        os._exit(code)  # no atexit handlers, no flush of the parent's buffers
