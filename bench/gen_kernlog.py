"""Generate large syslog-style kern.log files for the benchmarks, from real text only.

Every line written is a real kernel message; only its timestamps and pids change:

* Noise: the kernel messages of this machine's ``dmesg -k`` (snapshot in
  ``bench/data/dmesg-noise.txt``; refresh with ``--snapshot-dmesg``) plus the
  lines of the captured fixtures ``tests/data/kernel_log/local-*-dmesg.log`` that are
  not part of an OOM report. Any line in an OOM report, or that looks like one
  (``oom``, ``kill``, ``Out of memory``, ...), is left out.
* OOM reports: every complete report block of those fixtures, from the line
  ``invoked oom-killer`` (or the ``callbacks suppressed`` line before it)
  through ``Killed process`` and a following ``oom_reaper: reaped process``.
  Each planted copy gets fresh pids (victim, trigger, task table, all
  consistent), so each is a distinct kill, and uptime stamps that keep the
  block's own spacing.

Each line is shaped as rsyslog's RSYSLOG_TraditionalFileFormat with imklog
writes it (see tests/data/kernel_log/*-rsyslog-imklog-trad.log):
``Nov 26 01:23:12 vm kernel: [ 4450.294512] <message>``. Wall times are UTC,
boot time plus uptime, and increase through the file; reports are spread
evenly (with jitter) through it. Output is streamed, deterministic for a seed
and the same inputs, and cached in bench/out/ with a ``.meta.json`` sidecar
(the planted victim pids among it); a cached file is reused when the
parameters and inputs match.

    python bench/gen_kernlog.py --size 1G --reports 100 --out bench/out/kern.log
"""

from __future__ import annotations

import argparse
import calendar
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FIXTURES = REPO / "tests" / "data" / "kernel_log"
# This machine's own captures (plain dmesg form) only: a fixed set keeps the data stable.
FIXTURE_GLOB = "local-*-dmesg.log"
NOISE_SNAPSHOT = HERE / "data" / "dmesg-noise.txt"
OUT = HERE / "out"
GENERATOR_VERSION = 1

HOST = b"vm"  # the host name rsyslog wrote in the captured fixtures
BOOT_EPOCH = calendar.timegm((2026, 11, 19, 0, 0, 0))  # UTC wall time of uptime 0
PID_MAX = 4194304  # /proc/sys/kernel/pid_max default on 64-bit

_STAMP = re.compile(r"^\[\s*(\d+)\.(\d{6})\] ?(.*)$")
_START = re.compile(r"invoked oom-killer|oom_kill_process: \d+ callbacks suppressed")
_END = re.compile(r"Killed process \d+|Out of memory and no killable processes|Kernel panic")
_REAPED = re.compile(r"oom_reaper: reaped process \d+")
# Anything that could be (part of) an OOM report, or a userspace killer's line.
_OOMISH = re.compile(
    r"oom|kill|out of memory|reaped process|memory cgroup|tasks state|mem-info|"
    r"memory: usage|memory\+swap|kmem: usage|lowmemory|sacrifice|sending sig",
    re.IGNORECASE,
)
# dump_tasks() row: "[%7d] %5d %5d <rest>" (pid, uid, tgid; "[%5d]" on old kernels).
_TASK_ROW = re.compile(r"^\[(\s*\d+)\](\s+\d+)(\s+\d+)( .*)$")
_PID_FIELDS = re.compile(
    r"(?<=PID: )\d+(?= Comm:)|(?<=Pid: )\d+(?=, comm:)|(?<=,pid=)\d+|(?<=Killed process )\d+"
    r"|(?<=Kill process )\d+|(?<=reaped process )\d+"
)
_VICTIM = re.compile(r"Killed process (\d+)")
_MONTHS = [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun",
           b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"]


# ---------------------------------------------------------------- inputs


def dmesg_records(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """(uptime in microseconds, message) from plain ``dmesg`` output; other lines skipped."""
    for line in lines:
        m = _STAMP.match(line.rstrip("\n"))
        if m:
            yield int(m.group(1)) * 1_000_000 + int(m.group(2)), m.group(3)


def split_reports(
    records: Iterable[tuple[int, str]],
) -> tuple[list[str], list[list[tuple[int, str]]]]:
    """Noise messages and complete kill report blocks of one dmesg capture."""
    noise: list[str] = []
    blocks: list[list[tuple[int, str]]] = []
    block: list[tuple[int, str]] | None = None
    after_init = False
    for t, msg in records:
        if _START.search(msg) and (block is None or (
                "invoked oom-killer" in msg and any("invoked oom-killer" in m for _, m in block))):
            block = []  # a report starts (one cut short before it is dropped)
        if block is not None:
            block.append((t, msg))
            if _END.search(msg):
                if sum("Killed process" in m for _, m in block) == 1:
                    blocks.append(block)  # one kill; "no killable processes" has none
                block = None
            continue
        if _REAPED.search(msg):
            victim = _VICTIM.search(blocks[-1][-1][1]) if blocks else None
            if victim and f"reaped process {victim.group(1)} " in msg:
                blocks[-1].append((t, msg))  # the reaper line belongs to that kill
            continue
        # The init command line (argv/envp, one per line) says how this machine
        # was started, not what its kernel does: leave it out.
        if re.match(r"Run \S+ as init process", msg):
            after_init = True
            continue
        if after_init and msg.startswith(" "):
            continue
        after_init = False
        if _OOMISH.search(msg) or msg.startswith("oomkit-fixture") or "process_api" in msg:
            continue
        if msg.strip():
            noise.append(msg)
    return noise, blocks


def snapshot_dmesg(path: Path = NOISE_SNAPSHOT) -> int:
    """Write the noise lines of this machine's ``dmesg -k`` to ``path``."""
    text = subprocess.run(["dmesg", "-k"], check=True, capture_output=True, text=True,
                          errors="replace").stdout
    noise, _ = split_reports(dmesg_records(text.splitlines()))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(m + "\n" for m in noise))
    return len(noise)


@dataclass(frozen=True)
class Inputs:
    noise: list[bytes]  # unique messages, sorted
    reports: list[list[tuple[int, str]]]  # report blocks, deduplicated, in file order
    digest: str


def load_inputs() -> Inputs:
    if not NOISE_SNAPSHOT.exists():
        snapshot_dmesg()
    noise = set(NOISE_SNAPSHOT.read_text().splitlines())
    reports: list[list[tuple[int, str]]] = []
    seen: set[tuple[str, ...]] = set()
    for f in sorted(FIXTURES.glob(FIXTURE_GLOB)):
        n, blocks = split_reports(dmesg_records(f.read_text(errors="replace").splitlines()))
        noise.update(n)
        for b in blocks:
            key = tuple(m for _, m in b)
            if key in seen:
                continue
            seen.add(key)
            # The pid rewrite must give back each line unchanged when no pid changes.
            bad = [m for _, m in b if _remap_pids(m, {}) != m]
            if bad:
                print(f"gen_kernlog: {f.name}: report skipped, cannot rewrite its pids: {bad[0]!r}",
                      file=sys.stderr)
                continue
            reports.append(b)
    noise = {m for m in noise if m.strip() and not _OOMISH.search(m)}
    if not noise or not reports:
        sys.exit(f"gen_kernlog: no noise ({len(noise)}) or no reports ({len(reports)}) found")
    h = hashlib.sha256()
    for m in sorted(noise):
        h.update(m.encode() + b"\n")
    for b in reports:
        for t, m in b:
            h.update(f"{t} {m}\n".encode())
    return Inputs(sorted(m.encode() for m in noise), reports, h.hexdigest())


# ---------------------------------------------------------------- reports


def _block_pids(block: list[tuple[int, str]]) -> list[int]:
    pids: set[int] = set()
    for _, msg in block:
        row = _TASK_ROW.match(msg)
        if row:
            pids.update((int(row.group(1)), int(row.group(3))))
        pids.update(int(p) for p in _PID_FIELDS.findall(msg))
    return sorted(pids)


def _remap_pids(msg: str, new: dict[int, int]) -> str:
    row = _TASK_ROW.match(msg)
    if row:  # keep printf's field widths ("[%7d]", " %5d"); a longer number widens its field
        pid_f, uid_f, tgid_f, rest = row.groups()
        pid, tgid = int(pid_f), int(tgid_f)
        pid_s = f"{new.get(pid, pid):>{len(pid_f)}}"
        tgid_s = f"{new.get(tgid, tgid):>{len(tgid_f) - 1}}"
        return f"[{pid_s}]{uid_f} {tgid_s}{rest}"
    return _PID_FIELDS.sub(lambda m: str(new.get(int(m.group()), int(m.group()))), msg)


# ---------------------------------------------------------------- writer


@dataclass(frozen=True)
class Spec:
    size: int  # bytes to write (reports included); the file ends at the first line past it
    reports: int  # OOM reports to plant
    seed: int = 1
    span_s: float = 7 * 86400  # uptime covered by the file

    def key(self, inputs: Inputs) -> dict[str, object]:
        return {**asdict(self), "generator": GENERATOR_VERSION, "inputs": inputs.digest}


class _Clock:
    """Syslog prefix and kernel stamp for an uptime."""

    def __init__(self) -> None:
        self._sec = -1
        self._prefix = b""

    def line(self, uptime_us: int, msg: bytes) -> bytes:
        sec, usec = divmod(uptime_us, 1_000_000)
        if sec != self._sec:
            tm = time.gmtime(BOOT_EPOCH + sec)
            self._prefix = b"%s %2d %02d:%02d:%02d %s kernel: " % (
                _MONTHS[tm.tm_mon - 1], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, HOST)
            self._sec = sec
        return b"%s[%5d.%06d] %s\n" % (self._prefix, sec, usec, msg)


def generate(spec: Spec, out: IO[bytes], inputs: Inputs) -> dict[str, object]:
    """Write the log to the binary stream ``out``; return what was planted."""
    rng = random.Random(spec.seed)
    clock = _Clock()
    noise = inputs.noise
    report_bytes = sum(
        sum(len(m) + 44 for _, m in b) for b in inputs.reports) / len(inputs.reports)
    noise_line = sum(len(m) for m in noise) / len(noise) + 44
    noise_lines = max(1.0, (spec.size - spec.reports * report_bytes) / noise_line)
    mean_gap_us = spec.span_s * 1e6 / noise_lines  # between two noise lines
    # Byte offsets at which reports go: one per equal slice, jittered inside it.
    plant_at = [spec.size * (i + 0.1 + 0.8 * rng.random()) / spec.reports
                for i in range(spec.reports)]
    uptime = 5_000_000 + rng.randrange(1_000_000)  # microseconds
    next_pid = 1000
    victims: list[int] = []
    pos = 0
    lines = 0
    buf: list[bytes] = []
    buffered = 0
    choices = rng.choices
    expo = rng.expovariate
    planted = 0
    while pos < spec.size or planted < spec.reports:
        limit = plant_at[planted] if planted < spec.reports else spec.size
        # Noise up to the next report (or the end), in batches.
        while pos < limit:
            for msg in choices(noise, k=256):
                uptime += int(expo(1.0) * mean_gap_us) + 1
                line = clock.line(uptime, msg)
                buf.append(line)
                pos += len(line)
                lines += 1
                if pos >= limit:
                    break
        if planted < spec.reports:
            block = inputs.reports[rng.randrange(len(inputs.reports))]
            old = _block_pids(block)
            if next_pid + len(old) >= PID_MAX:
                next_pid = 300  # the kernel wraps pids at pid_max to 300
            new = {p: next_pid + i for i, p in enumerate(old)}
            next_pid += len(old) + rng.randrange(1, 40)  # other processes started meanwhile
            t0 = block[0][0]
            start = uptime + rng.randrange(1000, 10_000)
            for t, msg in block:
                text = _remap_pids(msg, new)
                m = _VICTIM.search(text)
                if m:
                    victims.append(int(m.group(1)))
                line = clock.line(start + (t - t0), text.encode())
                buf.append(line)
                pos += len(line)
                lines += 1
            uptime = start + (block[-1][0] - t0)
            planted += 1
        if pos - buffered > 4 << 20 or pos >= spec.size:
            out.write(b"".join(buf))
            buf.clear()
            buffered = pos
    out.write(b"".join(buf))
    return {"bytes": pos, "lines": lines, "victims": victims,
            "last_wall": BOOT_EPOCH + uptime // 1_000_000}


def _compressor(path: Path) -> list[str] | None:
    name = path.name
    if name.endswith(".gz"):
        return ["gzip", "-6", "-n", "-c"]
    if name.endswith(".xz"):
        return ["xz", "-6", "-c"]
    return None


def ensure(spec: Spec, path: Path, *, quiet: bool = False) -> dict[str, object]:
    """Make ``path`` (a .gz/.xz name compresses) unless an identical one is cached.

    Returns the metadata: parameters, sizes and the planted victim pids.
    """
    inputs = load_inputs()
    meta_path = path.with_name(path.name + ".meta.json")
    key = spec.key(inputs)
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("key") == key and meta.get("file_bytes") == path.stat().st_size:
            return meta
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if not quiet:
        print(f"gen_kernlog: writing {path} ({spec.size / 1e6:.0f} MB, {spec.reports} reports)",
              file=sys.stderr, flush=True)
    t = time.perf_counter()
    comp = _compressor(path)
    with open(tmp, "wb") as f:
        if comp is None:
            info = generate(spec, f, inputs)
        else:
            proc = subprocess.Popen(comp, stdin=subprocess.PIPE, stdout=f)
            assert proc.stdin is not None
            info = generate(spec, proc.stdin, inputs)
            proc.stdin.close()
            if proc.wait() != 0:
                sys.exit(f"gen_kernlog: {comp[0]} failed")
    last = float(info["last_wall"]) + 1  # type: ignore[arg-type]
    os.utime(tmp, (last, last))  # the time rsyslog last wrote it: year inference uses it
    os.replace(tmp, path)
    meta = {"key": key, "file": path.name, "file_bytes": path.stat().st_size,
            "seconds_to_generate": round(time.perf_counter() - t, 1), **info}
    meta_path.write_text(json.dumps(meta))
    if not quiet:
        print(f"gen_kernlog: done in {meta['seconds_to_generate']} s", file=sys.stderr)
    return meta


def parse_size(text: str) -> int:
    units = {"K": 10**3, "M": 10**6, "G": 10**9}
    text = text.strip().upper().removesuffix("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="1G", help="bytes before compression (1G, 200M, ...)")
    ap.add_argument("--reports", type=int, default=100, help="OOM reports to plant")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--span-days", type=float, default=7.0, help="time the log covers")
    ap.add_argument("--out", type=Path, default=OUT / "kern.log",
                    help="output path (.gz or .xz to compress with gzip -6 / xz -6)")
    ap.add_argument("--snapshot-dmesg", action="store_true",
                    help=f"refresh {NOISE_SNAPSHOT.relative_to(REPO)} from `dmesg -k` and exit")
    args = ap.parse_args(argv)
    if args.snapshot_dmesg:
        print(f"{snapshot_dmesg()} noise lines written to {NOISE_SNAPSHOT}")
        return 0
    spec = Spec(parse_size(args.size), args.reports, args.seed, args.span_days * 86400)
    meta = ensure(spec, args.out)
    print(f"{args.out}: {meta['file_bytes']} bytes, {meta['lines']} lines, "
          f"{len(meta['victims'])} reports")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
