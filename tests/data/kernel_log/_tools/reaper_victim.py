#!/usr/bin/env python3
"""Workload for the oom_reaper fixture.

One thread blocks in write(2) on a frozen filesystem (sb_start_write sleeps
uninterruptibly), the main thread then allocates anonymous memory until the memcg
OOM killer picks this process.  SIGKILL cannot finish the process while the
writer thread is stuck, so after OOM_REAPER_DELAY the oom_reaper kthread reaps
the address space and logs "oom_reaper: reaped process ...".
usage: reaper_victim.py FILE_ON_FROZEN_FS ANON_MIB
"""
import ctypes
import os
import sys
import threading
import time

path, mib = sys.argv[1], int(sys.argv[2])
ctypes.CDLL(None).prctl(15, b"stuck-writer", 0, 0, 0)
fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
threading.Thread(target=lambda: os.write(fd, b"x" * 4096), daemon=True).start()
time.sleep(0.5)
keep = []
for _ in range(mib):
    keep.append(b"\x01" * (1 << 20))
time.sleep(30)
