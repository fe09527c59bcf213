"""Benchmark `oomkit why --file F --json` against grep on the same files, in the same run.

Cases (issue 2, "Speed and memory"); the logs are made by gen_kernlog.py and cached
in bench/out/:

1. a 1 GB kern.log, 100 OOM reports among kernel noise   vs `grep -i kill F`    (<= 1.0x)
2. a 200 MB OOM storm, 20,000 reports                     vs `grep -i kill F`    (<= 2.0x)
3. a rotated kern.log.2.gz (200 MB of 1., 20 reports)     vs `zcat F | grep -i kill`
   (the pipeline timed as a whole through sh -c)                                (<= 1.2x)
4. peak RSS of oomkit on the 1 GB log                                           (<= 100 MB)

Each file is read once first (page cache warm), then each command runs 3 times,
alternating oomkit and baseline; the median wall time counts. Both sides write
their stdout to a regular file: GNU grep stops at the first match when stdout
is /dev/null, which would time nothing. Wall time and peak RSS (wait4) are
taken by a small runner process that starts each command. oomkit must report
exactly the planted kills (same victim pids).

    python bench/bench_why.py [--quick] [--runs N] [--profile] [--stages]

Exit status 1 if any line says FAIL.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shlex
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_kernlog as gen

OUT = gen.OUT
RSS_TARGET_MB = 100.0
# oomkit runs with its bytecode cached, as an installed oomkit has its .pyc files (the
# environment may say PYTHONDONTWRITEBYTECODE); the cache goes to bench/out, not src/.
OOMKIT_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
OOMKIT_ENV["PYTHONPYCACHEPREFIX"] = str(OUT / "pycache")


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    spec: gen.Spec
    baseline: str  # "grep" or "zcat|grep"
    target: float

    def baseline_cmd(self) -> list[str]:
        if self.baseline == "grep":
            return ["grep", "-i", "kill", str(self.path)]
        return ["sh", "-c", f"zcat {shlex.quote(str(self.path))} | grep -i kill"]

    def oomkit_cmd(self) -> list[str]:
        return [sys.executable, "-m", "oomkit", "why", "--file", str(self.path), "--json"]


def cases(quick: bool) -> list[Case]:
    scale = 10 if quick else 1  # --quick: 100 MB / 20 MB / 20 MB, same report density
    big, storm, gz = 1_000_000_000 // scale, 200_000_000 // scale, 200_000_000 // scale
    tag = "-quick" if quick else ""
    day = 86400.0
    return [
        Case(f"kern.log {big // 10**6} MB, {100 // scale} reports",
             OUT / f"kern{tag}.log", gen.Spec(big, 100 // scale, seed=1, span_s=7 * day),
             "grep", 1.0),
        Case(f"storm {storm // 10**6} MB, {20_000 // scale} reports",
             OUT / f"kern-storm{tag}.log", gen.Spec(storm, 20_000 // scale, seed=2, span_s=day),
             "grep", 2.0),
        Case(f"kern.log.2.gz {gz // 10**6} MB, {max(1, 20 // scale)} reports",
             OUT / f"kern{tag}.log.2.gz",
             gen.Spec(gz, max(1, 20 // scale), seed=3, span_s=1.4 * day), "zcat|grep", 1.2),
    ]


@dataclass
class Run:
    seconds: float
    maxrss_kb: int
    status: int


# Starts one command and reports its wall time, peak RSS and exit status. It runs in a
# small, fresh interpreter because a child's ru_maxrss includes the RSS of the process
# that spawned it (exec records the old mm's high-water mark): spawned from this bench
# (which has parsed large JSON files), each child would appear to use as much as the bench.
_RUNNER = """
import os, sys, time
out, err, *cmd = sys.argv[1:]
with open(out, "wb") as o, open(err, "wb") as e:
    acts = [(os.POSIX_SPAWN_DUP2, o.fileno(), 1), (os.POSIX_SPAWN_DUP2, e.fileno(), 2)]
    t0 = time.perf_counter()
    pid = os.posix_spawnp(cmd[0], cmd, os.environ, file_actions=acts)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - t0
print(seconds, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def run(cmd: list[str], stdout: Path, env: dict[str, str] | None = None) -> Run:
    """Run cmd with stdout to a regular file; its wall time, peak RSS and exit status."""
    err = stdout.with_suffix(".err")
    res = subprocess.run([sys.executable, "-I", "-S", "-c", _RUNNER, str(stdout), str(err), *cmd],
                         env=env, capture_output=True, text=True, check=True)
    seconds, maxrss, status = res.stdout.split()
    return Run(float(seconds), int(maxrss), int(status))


def warm(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(16 << 20):
            pass


def check_events(json_path: Path, victims: list[int]) -> str | None:
    """None when oomkit found exactly the planted kills; else what is wrong."""
    try:
        events = json.loads(json_path.read_bytes())["events"]
    except (ValueError, KeyError) as exc:
        return f"cannot read oomkit's JSON ({exc})"
    found = [e["victim"]["pid"] for e in events
             if e.get("killer") == "kernel" and e.get("kind") == "oom_kill" and e.get("victim")]
    want = set(victims)
    if len(events) == len(victims) and len(found) == len(victims) and set(found) == want:
        return None
    return (f"planted {len(victims)} kills, oomkit reported {len(events)} events "
            f"({len(found)} kernel kills; {len(want - set(found))} planted victims missing, "
            f"{len(set(found) - want)} unknown)")


def profile(case: Case, top: int) -> None:
    """Run oomkit once under cProfile on one case; print the top functions."""
    stats = OUT / f"profile-{case.path.name}.pstats"
    cmd = [sys.executable, "-m", "cProfile", "-o", str(stats), *case.oomkit_cmd()[1:]]
    r = run(cmd, OUT / "stdout-profile.json", OOMKIT_ENV)
    if r.status != 0:
        print(f"\nprofile of oomkit on {case.name}: exit status {r.status}, see "
              f"{OUT / 'stdout-profile.err'}")
        return
    print(f"\nprofile of oomkit on {case.name}: {r.seconds:.2f} s under cProfile ({stats})")
    for key in ("tottime", "cumulative"):
        print(f"-- top {top} by {key}")
        pstats.Stats(str(stats), stream=sys.stdout).sort_stats(key).print_stats(top)


def stages(case: Case, baseline_s: float) -> None:
    """Time each stage of oomkit's work on one case in one process (why_stages.py); print
    each against the baseline's median time."""
    script = Path(__file__).resolve().parent / "why_stages.py"
    out = OUT / "stdout-stages.json"
    r = run([sys.executable, str(script), str(case.path)], out, OOMKIT_ENV)
    if r.status != 0:
        print(f"\nstages of oomkit on {case.name}: exit status {r.status}, see "
              f"{out.with_suffix('.err')}")
        return
    t = json.loads(out.read_text())
    print(f"\nstages of oomkit on {case.name}, in one process ({int(t['lines_selected'])} lines "
          f"selected, {int(t['events_parsed'])} events, {t['json_chars'] / 1e6:.0f} MB of JSON); "
          f"the baseline took {baseline_s:.2f} s:")
    rows = [("imports", t["imports"]), ("read and select lines", t["select"]),
            ("  + decode, classify, assemble", t["parse"]),
            ("  + explain, owners, merge, sort", t["why"]), ("render JSON", t["json"])]
    for name, seconds in rows:
        print(f"  {name:<34} {seconds:7.2f} s  {seconds / baseline_s:6.1f}x")
    after = t["why"] - t["parse"] + t["json"]
    print(f"  after parsing (explain .. JSON)    {after:7.2f} s  {after / baseline_s:6.1f}x"
          "  <- a floor for any faster parser")


def source_version() -> str:
    """The commit oomkit's tree is at, and how many files under src/ differ from it."""
    try:
        head = subprocess.run(["git", "-C", str(gen.REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(gen.REPO), "status", "--porcelain", "src"],
                               capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"git {head}" + (f" + {len(dirty)} uncommitted files in src/" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="oomkit why vs grep, ratios in one run")
    ap.add_argument("--quick", action="store_true", help="100 MB / 20 MB / 20 MB versions")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per command (median)")
    ap.add_argument("--profile", action="store_true",
                    help="afterwards, profile oomkit (cProfile) on each case that missed")
    ap.add_argument("--stages", action="store_true",
                    help="afterwards, time each stage of oomkit on each case that missed")
    args = ap.parse_args(argv)

    todo = cases(args.quick)
    metas = {c.path: gen.ensure(c.spec, c.path) for c in todo}
    for c in todo:
        warm(c.path)
    # One untimed run so imports are compiled and cached before timing.
    fixture = next(gen.FIXTURES.glob("*-rsyslog-imklog-trad.log"))
    run([sys.executable, "-m", "oomkit", "why", "--file", str(fixture), "--json"],
        OUT / "stdout-warmup", OOMKIT_ENV)

    failures = 0
    rows: list[tuple[str, float, float, float, float, str]] = []
    notes: list[str] = []
    rss_mb: dict[str, float] = {}
    missed: list[Case] = []
    baseline_s: dict[str, float] = {}
    locale = os.environ.get("LC_ALL") or os.environ.get("LANG") or "unset"
    print(f"oomkit why benchmark: {sys.executable} -m oomkit; {args.runs} runs each, median;"
          f" {os.cpu_count()} CPUs; locale {locale}; oomkit source {source_version()}",
          flush=True)
    for c in todo:
        mine: list[Run] = []
        base: list[Run] = []
        for _ in range(args.runs):
            mine.append(run(c.oomkit_cmd(), OUT / "stdout-oomkit.json", OOMKIT_ENV))
            base.append(run(c.baseline_cmd(), OUT / "stdout-baseline"))
        t_mine = statistics.median(r.seconds for r in mine)
        t_base = statistics.median(r.seconds for r in base)
        ratio = t_mine / t_base
        bad = [r.status for r in mine if r.status != 0]
        problem = check_events(OUT / "stdout-oomkit.json", metas[c.path]["victims"])
        if bad:
            problem = f"oomkit exit status {bad[0]} (see {OUT / 'stdout-oomkit.err'})"
        if problem:
            notes.append(f"FAIL {c.name}: {problem}")
            failures += 1
        ok = ratio <= c.target and not problem
        failures += not ok
        if ratio > c.target:
            missed.append(c)
            baseline_s[c.name] = t_base
        rows.append((c.name, t_mine, t_base, ratio, c.target, "PASS" if ok else "FAIL"))
        rss_mb[c.name] = max(r.maxrss_kb for r in mine) / 1024
        print(f"  done: {c.name}", file=sys.stderr, flush=True)

    print()
    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  {'oomkit s':>9}  {'baseline s':>10}  {'ratio':>6}  "
          f"{'target':>6}  result   baseline")
    for (name, tm, tb, ratio, target, res), c in zip(rows, todo, strict=True):
        base = "grep -i kill" if c.baseline == "grep" else "sh -c 'zcat | grep -i kill'"
        print(f"{name:<{width}}  {tm:9.2f}  {tb:10.2f}  {ratio:5.2f}x  {target:5.1f}x  "
              f"{res:<7}  {base}")
    big = todo[0].name
    rss_ok = rss_mb[big] <= RSS_TARGET_MB
    failures += not rss_ok
    print(f"\npeak RSS of oomkit on {big}: {rss_mb[big]:.1f} MB "
          f"(target <= {RSS_TARGET_MB:.0f} MB) {'PASS' if rss_ok else 'FAIL'}")
    print("peak RSS per case: " + ", ".join(f"{k}: {v:.1f} MB" for k, v in rss_mb.items()))
    for note in notes:
        print(note)
    if args.stages:
        for c in missed:
            stages(c, baseline_s[c.name])
    if args.profile:
        for c in missed:
            profile(c, 25)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
