"""``/metrics``: a snapshot of oomkit's state, and its Prometheus text exposition.

``exposition(snapshot)`` is a pure function (golden-tested in tests/test_metrics.py);
``prometheus_client`` writes the text format, so escaping, ``+Inf`` and histogram
suffixes follow the client library, not hand-written code. ``collect_snapshot``
reads the snapshot through the web's query layer (``web.queries``) and the
programs' control API (``web.programs``).

Label sets are bounded: ``killer`` (6 killers), ``reason`` (a closed list, see
``queries.kill_reason``), ``owner_kind`` (systemd unit, container runtime, pod...,
never a container id), ``program`` (the configured programs), ``state`` and
``cause`` (closed lists). No pid, process name or cgroup path is ever a label.

Kill counters start, when `oomkit web` starts, from every kill in the database
and then only grow (kills expired by retention are not subtracted), so
``increase()`` works across the daemon's maintenance. Every metric is
documented in docs/web.md.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from oomkit import __version__
from oomkit.models import OomEvent
from oomkit.owner import owner_of
from oomkit.web.queries import Data, MemoryNow, RecorderHealth, kill_reason, victim_rss_kb

RSS_BUCKETS = tuple(float(x << 20) for x in (16, 64, 256, 1024, 4096, 16384, 65536))
PROGRAM_STATES = ("stopped", "starting", "running", "backoff", "stopping", "exited", "fatal")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class KillStats:
    """Kill counters since the database began (monotonic within one `oomkit web`)."""

    counts: tuple[tuple[tuple[str, str, str], int], ...] = ()  # (killer, reason, owner_kind) -> n
    last_by_killer: tuple[tuple[str, float], ...] = ()  # killer -> Unix time of its last kill
    last_victim_rss_bytes: float | None = None
    rss_buckets: tuple[int, ...] = (0,) * (len(RSS_BUCKETS) + 1)  # per bucket (not cumulative)
    rss_sum_bytes: float = 0.0


@dataclass(frozen=True, slots=True)
class ProgramStats:
    """One supervised program."""

    name: str
    state: str  # one of PROGRAM_STATES
    memory_bytes: float | None
    peak_bytes: float | None
    limit_bytes: float | None
    restarts: tuple[tuple[str, int], ...] = ()  # cause -> count


@dataclass(frozen=True, slots=True)
class ForecastStats:
    """The system forecast: seconds until memory runs out (inf: not running out)."""

    seconds_left: float
    rate_bytes_s: float
    headroom_bytes: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything /metrics says, read at one moment."""

    memory: MemoryNow | None
    recorder: RecorderHealth
    kills: KillStats = field(default_factory=KillStats)
    forecast: ForecastStats | None = None
    programs: tuple[ProgramStats, ...] | None = None  # None: supervision not reachable
    version: str = __version__


def _kill_families(k: KillStats) -> Iterator[Metric]:
    c = CounterMetricFamily("oomkit_kills", "OOM kills recorded, by killer, reason and owner kind",
                            labels=["killer", "reason", "owner_kind"])
    for (killer, reason, owner), n in sorted(k.counts):
        c.add_metric([killer, reason, owner], n)
    yield c
    g = GaugeMetricFamily("oomkit_last_kill_timestamp_seconds",
                          "Unix time of the last kill recorded, by killer", labels=["killer"])
    for killer, ts in sorted(k.last_by_killer):
        g.add_metric([killer], ts)
    yield g
    if k.last_victim_rss_bytes is not None:
        yield GaugeMetricFamily("oomkit_last_kill_victim_rss_bytes",
                                "RSS (anon + file + shmem) of the last victim at its death",
                                value=k.last_victim_rss_bytes)
    cumulative = 0
    buckets: list[tuple[str, float]] = []
    for bound, n in zip((*RSS_BUCKETS, math.inf), k.rss_buckets, strict=True):
        cumulative += n
        buckets.append(("+Inf" if bound == math.inf else repr(bound), cumulative))
    h = HistogramMetricFamily("oomkit_kill_victim_rss_bytes",
                              "RSS of each victim at its death (kills whose report gives it)",
                              buckets=buckets, sum_value=k.rss_sum_bytes)
    yield h


def _memory_families(m: MemoryNow) -> Iterator[Metric]:
    yield GaugeMetricFamily("oomkit_memory_total_bytes", "MemTotal", value=m.mem_total_kb * 1024)
    yield GaugeMetricFamily("oomkit_memory_available_bytes", "MemAvailable",
                            value=m.mem_available_kb * 1024)
    yield GaugeMetricFamily("oomkit_swap_total_bytes", "SwapTotal", value=m.swap_total_kb * 1024)
    yield GaugeMetricFamily("oomkit_swap_free_bytes", "SwapFree", value=m.swap_free_kb * 1024)
    ratio = GaugeMetricFamily("oomkit_memory_pressure_ratio",
                              "Memory PSI avg10: share of time tasks stalled on memory (0-1)",
                              labels=["kind"])
    total = CounterMetricFamily("oomkit_memory_pressure_stalled_seconds",
                                "Memory PSI total: time tasks stalled on memory", labels=["kind"])
    for kind, avg, tot in (("some", m.psi_some_avg10, m.psi_some_total_us),
                           ("full", m.psi_full_avg10, m.psi_full_total_us)):
        if avg is not None:
            ratio.add_metric([kind], avg / 100)
        if tot is not None:
            total.add_metric([kind], tot / 1e6)
    yield ratio
    yield total


def _recorder_families(r: RecorderHealth) -> Iterator[Metric]:
    yield GaugeMetricFamily("oomkit_recorder_up",
                            "1 when the flight recorder wrote a sample in the last 15 s",
                            value=1 if r.recording else 0)
    yield GaugeMetricFamily("oomkit_recorder_database_readable",
                            "1 when the recorder's database can be read", value=1 if r.available else 0)
    if r.last_sample is not None:
        yield GaugeMetricFamily("oomkit_recorder_last_sample_timestamp_seconds",
                                "Unix time of the recorder's last system sample", value=r.last_sample)
    if r.db_bytes is not None:
        yield GaugeMetricFamily("oomkit_recorder_database_bytes",
                                "Size of the recorder's database and its WAL", value=r.db_bytes)
    yield GaugeMetricFamily("oomkit_recorder_kills_stored", "Kills held in the database",
                            value=r.kills_stored)


def _program_families(programs: Sequence[ProgramStats]) -> Iterator[Metric]:
    state = GaugeMetricFamily("oomkit_program_state",
                              "1 for the state each supervised program is in, 0 for the others",
                              labels=["program", "state"])
    mem = GaugeMetricFamily("oomkit_program_memory_bytes", "Memory used by a program's cgroup now",
                            labels=["program"])
    peak = GaugeMetricFamily("oomkit_program_memory_peak_bytes",
                             "Peak memory of a program's cgroup", labels=["program"])
    limit = GaugeMetricFamily("oomkit_program_memory_limit_bytes",
                              "Memory limit of a program's cgroup", labels=["program"])
    restarts = CounterMetricFamily("oomkit_program_restarts",
                                   "Restarts of a supervised program, by the cause of its exit",
                                   labels=["program", "cause"])
    for p in sorted(programs, key=lambda p: p.name):
        for s in PROGRAM_STATES:
            state.add_metric([p.name, s], 1 if p.state == s else 0)
        for fam, value in ((mem, p.memory_bytes), (peak, p.peak_bytes), (limit, p.limit_bytes)):
            if value is not None:
                fam.add_metric([p.name], value)
        for cause, n in sorted(p.restarts):
            restarts.add_metric([p.name, cause], n)
    yield from (state, mem, peak, limit, restarts)


def families(s: Snapshot) -> Iterator[Metric]:
    """Every metric family of a snapshot, in a stable order."""
    info = GaugeMetricFamily("oomkit_build_info", "oomkit's version", labels=["version"])
    info.add_metric([s.version], 1)
    yield info
    yield from _kill_families(s.kills)
    if s.memory is not None:
        yield from _memory_families(s.memory)
    if s.forecast is not None:
        f = s.forecast
        for name, doc, value in (
            ("oomkit_forecast_seconds_to_exhaustion",
             "Seconds until RAM + swap run out at the recent growth rate (+Inf: not running out)",
             f.seconds_left),
            ("oomkit_forecast_growth_bytes_per_second",
             "Growth of used memory (robust trend over the last minute)", f.rate_bytes_s),
            ("oomkit_forecast_headroom_bytes", "MemAvailable + SwapFree", f.headroom_bytes),
        ):
            g = GaugeMetricFamily(name, doc, labels=["subject"])
            g.add_metric(["system"], value)
            yield g
    yield from _recorder_families(s.recorder)
    yield GaugeMetricFamily("oomkit_supervision_up",
                            "1 when the supervisor's control socket answered",
                            value=0 if s.programs is None else 1)
    if s.programs is not None:
        yield from _program_families(s.programs)


class _Static(Collector):
    def __init__(self, fams: Iterable[Metric]) -> None:
        self._fams = list(fams)

    def collect(self) -> Iterable[Metric]:
        return self._fams


def exposition(s: Snapshot) -> bytes:
    """The Prometheus text format of a snapshot. Pure."""
    from prometheus_client.exposition import generate_latest

    fams = [f for f in families(s) if f.samples or f.name == "oomkit_kills"]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Static(fams))
    return generate_latest(registry)


def _bucket(rss_bytes: float) -> int:
    for i, bound in enumerate(RSS_BUCKETS):
        if rss_bytes <= bound:
            return i
    return len(RSS_BUCKETS)


class KillCounter:
    """Folds stored kills into KillStats once each (by id), so counters never go down."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_id = 0
        self._counts: dict[tuple[str, str, str], int] = {}
        self._last: dict[str, float] = {}
        self._last_rss: float | None = None
        self._last_ts = -math.inf
        self._buckets = [0] * (len(RSS_BUCKETS) + 1)
        self._sum = 0.0

    def add(self, ts: float, event: OomEvent) -> None:
        """Count one kill."""
        owner = owner_of(event.memcg or event.task_memcg)
        key = (event.killer.value, kill_reason(event), owner.kind if owner else "none")
        self._counts[key] = self._counts.get(key, 0) + 1
        self._last[key[0]] = max(self._last.get(key[0], 0.0), ts)
        rss = victim_rss_kb(event)
        if rss is not None:
            b = rss * 1024.0
            self._buckets[_bucket(b)] += 1
            self._sum += b
            if ts >= self._last_ts:
                self._last_rss = b
        if ts >= self._last_ts:
            self._last_ts = ts

    def update(self, data: Data) -> KillStats:
        """Count the kills stored since the last call; the totals."""
        with self._lock:
            last_id, new = data.kill_totals(self._last_id)
            for _, ts, event in new:
                self.add(ts, event)
            self._last_id = last_id
            return self.stats()

    def stats(self) -> KillStats:
        """The totals so far."""
        return KillStats(
            counts=tuple(sorted(self._counts.items())),
            last_by_killer=tuple(sorted(self._last.items())),
            last_victim_rss_bytes=self._last_rss,
            rss_buckets=tuple(self._buckets), rss_sum_bytes=self._sum,
        )
