#!/usr/bin/env python3
"""Workload for the "Out of memory and no killable processes..." fixture.

cgroup v1 lets a single *thread* be moved (via the `tasks` file).  The memcg OOM
killer only scans thread-group leaders (CSS_TASK_ITER_PROCS), so a memcg whose
only member is a non-leader thread has nothing it can kill.  The thread then
charges kernel memory (pipe buffers, __GFP_ACCOUNT) to that memcg until the
charge fails.  Needs $CG (the memcg directory).
"""
import fcntl
import os
import threading

CG = os.environ["CG"]
F_SETPIPE_SZ = 1031
result = {}


def worker():
    tid = threading.get_native_id()
    with open(f"{CG}/tasks", "w") as f:
        f.write(str(tid))
    pipes = []
    chunk = b"\x01" * 65536
    try:
        for _ in range(400):
            r, w = os.pipe()
            pipes.append((r, w))
            try:
                fcntl.fcntl(w, F_SETPIPE_SZ, 1 << 20)
            except OSError:
                pass
            os.set_blocking(w, False)
            while True:
                try:
                    os.write(w, chunk)
                except BlockingIOError:
                    break
    except OSError as e:
        result["err"] = e
    finally:
        result["pipes"] = len(pipes)
        for r, w in pipes:
            os.close(r)
            os.close(w)
        with open("/sys/fs/cgroup/memory/tasks", "w") as f:
            f.write(str(tid))


t = threading.Thread(target=worker)
t.start()
t.join()
print("worker result:", result, flush=True)
