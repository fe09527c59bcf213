#!/usr/bin/env python3
"""Capture a real OOM report from this machine's kernel log in several formats.

Used to produce the local-* fixtures in tests/data/kernel_log/.  Run as root.

  python3 capture_oom.py --case NAME --limit BYTES --workload 'shell code' [--settle S]

What it does, in order:
  1. opens /dev/kmsg O_RDONLY|O_NONBLOCK and lseek(SEEK_END)s it;
  2. writes "oomkit-fixture: begin NAME\n" to /dev/kmsg (a userspace record, prefix 12);
  3. mkdir /sys/fs/cgroup/memory/oomkit-fixture-NAME, writes memory.limit_in_bytes;
  4. runs  sh -c 'echo $$ > <cg>/cgroup.procs || exit 99<newline><workload>'  and waits for it;
  5. sleeps --settle seconds (so oom_reaper lines can arrive), writes
     "oomkit-fixture: end NAME" to /dev/kmsg;
  6. reads /dev/kmsg records until the end marker (raw bytes, unmodified) -> NAME-kmsg.raw
  7. runs dmesg, dmesg -T, dmesg --time-format iso, dmesg -x, dmesg -r, dmesg
     --color=always and dmesg --human --color=always and cuts each
     output from the begin-marker line to the end-marker line (inclusive), unmodified;
     and dmesg --json, cut at whole records: dmesg's own first three lines ('{',
     '   "dmesg": [', '      {'), the lines of the begin marker's record (after its
     opening '},{') through the end marker's record, and dmesg's own last three lines
     ('      }', '   ]', '}'), so the cut is still the JSON document dmesg writes;
  8. waits for the cgroup to be empty and rmdirs it.
Outputs go to --outdir as NAME.<fmt>.out; naming/README is done by hand afterwards.
"""
import argparse
import errno
import os
import re
import subprocess
import sys
import time

CGROOT = "/sys/fs/cgroup/memory"
DMESG = {
    "dmesg": ["dmesg"],
    "dmesg-T": ["dmesg", "-T"],
    "dmesg-iso": ["dmesg", "--time-format", "iso"],
    "dmesg-x": ["dmesg", "-x"],
    "dmesg-r": ["dmesg", "-r"],
    # what `dmesg | less -R`, a `script` typescript or `dmesg --color=always > f` keep:
    # ANSI colour sequences around the time, the facility and the message
    "dmesg-color": ["dmesg", "--color=always"],
    "dmesg-H-color": ["dmesg", "--human", "--nopager", "--color=always"],
}
JSON = ["dmesg", "--json"]


def cut_json(out, begin, end):
    """The records of `dmesg --json` output from the begin marker's to the end marker's."""
    lines = out.splitlines(keepends=True)
    bi = [i for i, l in enumerate(lines) if begin.encode() in l][-1]
    ei = [i for i, l in enumerate(lines) if end.encode() in l][-1]
    start = max(i for i in range(bi) if lines[i].strip() in (b"{", b"},{")) + 1
    stop = min(i for i in range(ei, len(lines)) if lines[i].strip() in (b"}", b"},{"))
    return lines[:3] + lines[start:stop] + lines[-3:]


def kmsg_write(msg):
    with open("/dev/kmsg", "wb", buffering=0) as f:
        f.write(msg.encode() + b"\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", required=True)
    ap.add_argument("--limit", required=True, type=int)
    ap.add_argument("--workload", required=True)
    ap.add_argument("--settle", type=float, default=4.0)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--outdir", default="/tmp/oomkit-captures")
    ap.add_argument("--no-enter", action="store_true",
                    help="do not move the workload shell into the cgroup; the workload does it itself ($CG)")
    ap.add_argument("--extra-cg-setup", default="", help="shell run with $CG set, before workload")
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    begin = f"oomkit-fixture: begin {a.case}"
    end = f"oomkit-fixture: end {a.case}"
    cg = f"{CGROOT}/oomkit-fixture-{a.case}"

    fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    os.lseek(fd, 0, os.SEEK_END)
    kmsg_write(begin)
    os.mkdir(cg)
    with open(f"{cg}/memory.limit_in_bytes", "w") as f:
        f.write(str(a.limit))
    if a.extra_cg_setup:
        subprocess.run(["sh", "-c", a.extra_cg_setup], env=dict(os.environ, CG=cg), check=True)
    t0 = time.time()
    enter = "" if a.no_enter else f"echo $$ > {cg}/cgroup.procs || exit 99\n"
    p = subprocess.run(["sh", "-c", f"{enter}{a.workload}"],
                       env=dict(os.environ, CG=cg), timeout=a.timeout)
    t1 = time.time()
    print(f"workload rc={p.returncode} in {t1-t0:.2f}s", file=sys.stderr)
    time.sleep(a.settle)
    kmsg_write(end)
    time.sleep(0.2)

    recs = []
    while True:
        try:
            r = os.read(fd, 16384)
        except BlockingIOError:
            break
        except OSError as e:
            if e.errno == errno.EPIPE:
                print("EPIPE: records lost", file=sys.stderr)
                continue
            raise
        recs.append(r)
    os.close(fd)
    raw = b"".join(recs)
    with open(f"{a.outdir}/{a.case}.kmsg.out", "wb") as f:
        f.write(raw)

    for name, cmd in DMESG.items():
        out = subprocess.run(cmd, capture_output=True, check=True).stdout
        lines = out.splitlines(keepends=True)
        # found in each line without its colour sequences (dmesg colours "oomkit-fixture:"
        # apart from the rest); the lines are cut as they are
        plain = [re.sub(rb"\x1b\[[0-9;]*m", b"", l) for l in lines]
        bi = [i for i, l in enumerate(plain) if begin.encode() in l]
        ei = [i for i, l in enumerate(plain) if end.encode() in l]
        if not bi or not ei:
            print(f"{name}: markers not found (ring buffer wrapped?)", file=sys.stderr)
            sel = lines
        else:
            sel = lines[bi[-1]:ei[-1] + 1]
        with open(f"{a.outdir}/{a.case}.{name}.out", "wb") as f:
            f.writelines(sel)

    out = subprocess.run(JSON, capture_output=True, check=True).stdout
    with open(f"{a.outdir}/{a.case}.dmesg-json.out", "wb") as f:
        f.writelines(cut_json(out, begin, end))

    # cleanup
    for _ in range(100):
        with open(f"{cg}/cgroup.procs") as f:
            if not f.read().strip():
                break
        time.sleep(0.1)
    os.rmdir(cg)
    print(f"uname -r: {os.uname().release}; captured {len(raw)} kmsg bytes; "
          f"started {time.strftime('%Y-%m-%dT%H:%M:%S%z', time.localtime(t0))}", file=sys.stderr)


if __name__ == "__main__":
    main()
