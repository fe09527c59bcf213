#!/usr/bin/env python3
"""Workload helper for capture_oom.py.

alloc.py [--comm NAME] [--adj N] [--anon MiB] [--step MiB] [--shm MiB] [--file PATH --file-mib N --mlock]
         [--sleep S]
Sets comm via prctl(PR_SET_NAME), writes oom_score_adj, then touches memory.
"""
import argparse
import ctypes
import mmap
import os
import time

ap = argparse.ArgumentParser()
ap.add_argument("--comm")
ap.add_argument("--adj", type=int)
ap.add_argument("--anon", type=int, default=0, help="MiB of anonymous memory")
ap.add_argument("--step", type=int, default=0, help="allocate anon in steps of this many MiB")
ap.add_argument("--shm", type=int, default=0, help="MiB of memfd (shmem) memory, mapped and touched")
ap.add_argument("--devshm", type=int, default=0, help="MiB written to a /dev/shm file, mapped and touched")
ap.add_argument("--file")
ap.add_argument("--file-mib", type=int, default=0)
ap.add_argument("--mlock", action="store_true")
ap.add_argument("--sleep", type=float, default=0)
a = ap.parse_args()

libc = ctypes.CDLL(None, use_errno=True)
if a.comm:
    libc.prctl(15, a.comm.encode(), 0, 0, 0)  # PR_SET_NAME
if a.adj is not None:
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write(str(a.adj))
MiB = 1 << 20
keep = []
PAGE = mmap.PAGESIZE
if a.file:
    fd = os.open(a.file, os.O_RDONLY)
    m = mmap.mmap(fd, a.file_mib * MiB, mmap.MAP_SHARED, mmap.PROT_READ)
    s = 0
    for off in range(0, a.file_mib * MiB, PAGE):
        s += m[off]
    if a.mlock:
        # mlockall(MCL_CURRENT) pins the file pages we just faulted in
        if libc.mlockall(1) != 0:
            print("mlockall failed", ctypes.get_errno(), flush=True)
    keep.append(m)
if a.shm:
    fd = os.memfd_create("oomkit-shm")
    os.ftruncate(fd, a.shm * MiB)
    m = mmap.mmap(fd, a.shm * MiB, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    for off in range(0, a.shm * MiB, PAGE):
        m[off] = 1
    keep.append(m)
if a.devshm:
    path = f"/dev/shm/oomkit-fixture-{os.getpid()}"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.unlink(path)  # freed when the process dies
    os.ftruncate(fd, a.devshm * MiB)
    m = mmap.mmap(fd, a.devshm * MiB, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    for off in range(0, a.devshm * MiB, PAGE):
        m[off] = 1
    keep.append(m)
if a.anon:
    step = a.step or a.anon
    done = 0
    while done < a.anon:
        n = min(step, a.anon - done)
        keep.append(b"\x01" * (n * MiB))
        done += n
if a.sleep:
    time.sleep(a.sleep)
