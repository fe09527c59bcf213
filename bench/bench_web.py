#!/usr/bin/env python3
"""`oomkit web` under load: the kills, top and timeline endpoints at 100 requests/s, and
a page with a day of samples loading and drawing in headless Chromium.

    python bench/bench_web.py [--quick] [--seconds 20] [--rate 100]

The database is written through the store's own writer (tests/webdata.make_db): a day
of 1 s samples (the system and 5 processes, 86,400 batches) and 10,000 kills parsed
from real reports; it is kept in bench/out/ and reused. `oomkit web` runs as its own
process on 127.0.0.1 (an ephemeral port), as users run it. Each endpoint gets an
open-loop schedule of ``--rate`` requests per second for ``--seconds``; a latency is
measured from the request's *scheduled* time to its complete response, so queueing
behind a slow request counts (no coordinated omission). Targets: p99 <= 50 ms per
endpoint; the page with a day of samples drawn <= 1 s. ``--quick``: 2 h of samples,
1,000 kills, 5 s per endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def database(seconds: int, kills: int) -> tuple[Path, float]:
    """The benchmark database (made once, then reused); and when its samples end."""
    from tests.webdata import make_db

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"web-{seconds}s-{kills}k.db"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return path, float(json.loads(meta.read_text())["end"])
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        p.unlink(missing_ok=True)
    t = time.perf_counter()
    info = make_db(path, seconds=seconds, kills=kills, processes=5)
    print(f"database: {seconds} s of 1 s samples, {kills} kills, {path.stat().st_size >> 20} MiB,"
          f" written in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    meta.write_text(json.dumps({"end": info["end"]}))
    return path, float(str(info["end"]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_web(db: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    conf = OUT / "bench-web.toml"
    conf.write_text("")
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(OUT / "pycache")}
    p = subprocess.Popen([sys.executable, "-m", "oomkit", "web", "--listen", f"127.0.0.1:{port}",
                          "--db", str(db), "--config", str(conf)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import httpx

    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return p, url
        except httpx.TransportError:
            time.sleep(0.1)
    p.kill()
    raise SystemExit("oomkit web did not start")


async def load(url: str, paths: list[str], rate: float, seconds: float) -> dict[str, Any]:
    """Open-loop: request i is due at start + i / rate, whatever happened to the others."""
    import httpx

    n = int(rate * seconds)
    lat: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        for p in set(paths):  # warm the caches the server keeps (explanations, buckets)
            await client.get(p)
        start = time.perf_counter() + 0.2

        async def one(i: int) -> None:
            nonlocal errors
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            r = await client.get(paths[i % len(paths)])
            lat.append((time.perf_counter() - due) * 1000)
            if r.status_code != 200:
                errors += 1

        await asyncio.gather(*(one(i) for i in range(n)))
    lat.sort()

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))]

    return {"requests": n, "errors": errors, "rate": rate, "p50_ms": round(pct(0.50), 1),
            "p90_ms": round(pct(0.90), 1), "p99_ms": round(pct(0.99), 1),
            "max_ms": round(lat[-1], 1)}


def page_load(url: str, runs: int) -> dict[str, Any]:
    """Navigation start -> the day's chart drawn (uPlot's draw hook), in Chromium."""
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for _ in range(runs):
            ctx = b.new_context(viewport={"width": 1280, "height": 900})
            page = ctx.new_page()
            page.goto(url + "/?window=24h")
            page.wait_for_selector("html[data-charts-drawn]", timeout=30_000)
            t = page.evaluate("performance.getEntriesByName('oomkit-chart-1')[0].startTime")
            points = page.evaluate("JSON.parse(document.getElementById('chart-system').textContent).points")
            times.append(float(t))
            ctx.close()
        b.close()
    return {"runs": runs, "first_ms": round(times[0], 1), "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1), "points": points}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seconds", type=float, default=None, help="load per endpoint (default 20; quick 5)")
    ap.add_argument("--rate", type=float, default=100.0)
    a = ap.parse_args()
    span, kills = (7200, 1000) if a.quick else (86400, 10_000)
    seconds = a.seconds or (5.0 if a.quick else 20.0)
    db, end = database(span, kills)
    web, url = start_web(db)
    rng = random.Random(6)
    import httpx

    try:
        first = httpx.get(url + "/api/v1/kills?limit=1").json()["kills"][0]["id"]
        victim = httpx.get(url + "/api/v1/processes?target=leaky").json()["processes"][0]["id"]
        since = end - span
        results: dict[str, Any] = {"database": {"samples_s": span, "kills": kills,
                                                "bytes": db.stat().st_size}}
        endpoints = {
            # the newest page of kills (what the pages and dashboards poll)...
            "kills": ["/api/v1/kills?limit=50"],
            # ...and 100 random pages back through all of them (each kill explained once)
            "kills_deep": [f"/api/v1/kills?limit=50&before_id={rng.randint(51, first)}"
                           for _ in range(100)],
            "top": ["/api/v1/top?limit=100"],
            # a day of the system's and of a process's samples, downsampled to <= 1000 points
            "timeline": [f"/api/v1/timeline/system?since={since}&until={end}",
                         f"/api/v1/timeline/process/{victim}?since={since}&until={end}"],
        }
        for name, paths in endpoints.items():
            results[name] = asyncio.run(load(url, paths, a.rate, seconds))
            print(f"{name:9s} {json.dumps(results[name])}", file=sys.stderr)
        if os.access(CHROMIUM, os.X_OK):
            results["page_24h"] = page_load(url, 3 if a.quick else 7)
            print(f"page_24h  {json.dumps(results['page_24h'])}", file=sys.stderr)
    finally:
        web.terminate()
        web.wait(timeout=30)
    ok = all(results[n]["p99_ms"] <= 50 and results[n]["errors"] == 0 for n in endpoints)
    if "page_24h" in results:
        ok = ok and results["page_24h"]["max_ms"] <= 1000
    results["targets_met"] = ok
    (OUT / "bench_web.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
