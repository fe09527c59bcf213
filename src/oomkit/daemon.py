"""`oomkit daemon`: the flight recorder. Samples memory in tiers into SQLite, catches every
kill as it happens, forecasts exhaustion and warns, applies the protect rules.

One thread, one loop, one poll(): the loop wakes for a kmsg record, a signal,
or the next tick. Signal handlers only record the signal (``signal.set_wakeup_fd``
wakes poll at once); the loop acts on it: SIGHUP reloads the configuration,
SIGTERM/SIGINT end the loop, which closes the database cleanly (well within 1 s).

Run as ``python -m oomkit.daemon [--config PATH] [--db PATH] [--no-backlog]``;
``oomkit daemon`` parses its options with click and then execs this, so click
and the CLI never sit in the daemon's memory. Nothing here imports click,
rich, the web stack, urllib, logging or subprocess.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from oomkit import cgroups, procfs
from oomkit.errors import ConfigError, OomkitError
from oomkit.models import (
    CgroupSample,
    OomEvent,
    ProcessSample,
    SystemSample,
    Victim,
)
from oomkit.recorder import alerts, cgroupwatch, observe, settings, tiers
from oomkit.recorder.counters import GRACE, KillCounter, Unlogged, unlogged_events
from oomkit.recorder.kmsg import KmsgFollower
from oomkit.recorder.log import Log
from oomkit.recorder.notify import Notifier
from oomkit.recorder.processes import HISTORY, Proc, ProcessTracker
from oomkit.recorder.protector import RuleApplier, protect_self, watched
from oomkit.recorder.system import SystemReader
from oomkit.store import maintenance
from oomkit.store.writer import Batch, KillObservation, Writer

SERIES = 512  # samples kept per system / cgroup series for the forecast
HOT_MEMBERS = 64  # processes of one cgroup near its limit kept on the fast tier


def boot_id(proc_root: procfs.StrPath = procfs.PROC) -> str:
    """This boot's id (pids and printk stamps are per boot)."""
    text = procfs.read_optional(f"{proc_root}/sys/kernel/random/boot_id")
    return text.strip() if text else "unknown"


def _policy(w: settings.Warnings) -> alerts.Policy:
    return alerts.Policy(w.forecast_seconds, w.confirm, w.repeat_after, w.max_per_hour)


class Daemon:
    """The recorder's state and loop. ``run`` returns the exit status."""

    def __init__(self, conf: settings.Settings, *, log: Log, config_path: str | None = None,
                 config_required: bool = False, proc_root: procfs.StrPath = procfs.PROC,
                 cgroup_root: procfs.StrPath = cgroups.CGROUP_ROOT) -> None:
        self.conf = conf
        self.log = log
        self.config_path = config_path
        self.config_required = config_required
        self.proc_root = proc_root
        self.cgroup_root = cgroup_root
        self.signals: list[int] = []
        self.boot = boot_id(proc_root)
        self.writer = Writer(conf.db, self.boot, log)
        memory, display = cgroupwatch.find(proc_root, cgroup_root)
        self.cgroups = cgroupwatch.CgroupWatch(memory)
        self.tracker = ProcessTracker(proc_root, display, probation=conf.tiers.probation)
        self.system = SystemReader(proc_root)
        self.counter = KillCounter(self.cgroups.version)
        self.kmsg = KmsgFollower(conf.kmsg, boot_id=self.boot,
                                 offset=time.clock_gettime(time.CLOCK_REALTIME)
                                 - time.clock_gettime(time.CLOCK_MONOTONIC))
        self.rules = RuleApplier(conf.protect, log, proc_root)
        self.notifier = Notifier(conf.warnings, log)
        self.book = alerts.Book()
        self.short = False
        self.fast: frozenset[int] = frozenset()
        self.watched: set[int] = set()
        self.sys_series: deque[tuple[float, float]] = deque(maxlen=SERIES)
        self.cg_series: dict[str, deque[tuple[float, float]]] = {}
        self.cg_written: dict[str, tuple[float, int, int, int, int, int]] = {}
        self.recently_gone: deque[tuple[float, Proc]] = deque(maxlen=256)
        self.next_full = 0.0
        self.next_cgroup_scan = 0.0
        self.next_maintenance = time.monotonic() + 60.0
        self.ticks = 0
        self.kills = 0
        self.unwritten: list[Proc] = []
        self.hist_pids: set[int] = set()
        self.programs: Any = None  # supervise.Manager when the config has [programs.NAME]
        self.ctl: Any = None  # its control socket

    # --- supervised programs (issue 5): hosted in this loop, no thread ---------------------------

    def _program_specs(self) -> tuple[Any, ...]:
        """The [programs.NAME] of the configuration file, if there is one."""
        from oomkit import config as conf_file

        path = self.config_path or conf_file.DEFAULT_PATH
        if not os.path.exists(path):
            return ()
        return tuple(conf_file.load(path).programs or ())

    def start_programs(self) -> None:
        """Start the configured programs and their control socket (oomkit ctl, oomkit web)."""
        specs = self._program_specs()
        if not specs:
            return
        from pathlib import Path

        from oomkit.supervise.ctl_server import CtlServer
        from oomkit.supervise.logs import default_log_dir
        from oomkit.supervise.manager import Manager
        from oomkit.supervise.sinks import store_sink

        self.programs = Manager(specs, log_dir=default_log_dir("programs"),
                                sink=store_sink(self.writer))
        self.ctl = (CtlServer(self.programs, Path(self.conf.ctl_socket)) if self.conf.ctl_socket
                    else CtlServer(self.programs))
        self.programs.start()
        for o in self.programs.orphans:
            self.log("warning", f"orphaned job cgroup {o.cgroup} ({len(o.pids)} processes) left by"
                     f" a supervisor that died: {o.outcome}")
        for name, why in self.programs.blocked.items():
            self.log("error", f"program {name}: {why}")
        self.log("info", f"supervising {len(specs)} programs")

    def stop_programs(self) -> None:
        """Stop every program (stopsignal, then SIGKILL after stopwaitsecs) and the socket."""
        if self.ctl is not None:
            self.ctl.close()
            self.ctl = None
        if self.programs is not None:
            self.programs.shutdown()
            self.programs.close()
            self.programs = None

    # --- start, stop, signals ------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.signals.append(signum)  # only record it; the loop acts

    def start(self) -> None:
        """Protect ourselves, open kmsg (storing the backlog), take the first full scan."""
        adj, message, ok = protect_self(self.conf.self_oom_score_adj, self.proc_root)
        self.log("info" if ok else "warning", message)
        try:
            backlog = self.kmsg.open(backlog=self.conf.kmsg_backlog)
        except OSError as exc:
            self.log("warning", f"{self.kmsg.path}: {exc.strerror or exc}; kills are detected from"
                     " the kernel's counters only (no victim details); run as root / CAP_SYSLOG")
            backlog = []
        stored = 0
        for e in backlog:
            before = self.writer.stored_kills
            self.writer.write_kill(KillObservation(e, "kmsg-backlog", self.boot))
            stored += self.writer.stored_kills - before
        if backlog:
            self.log("info", f"kernel ring buffer: {len(backlog)} OOM events, {stored} new to the"
                     " database")
        self.cgroups.discover()
        now, ts = time.monotonic(), time.time()
        self._set_totalpages(self.system.sample(ts))
        everyone, _new, _gone, _renamed = self.tracker.full_scan(ts, now)
        self.tracker.forked()  # remember the last pid so the next look only sees new ones
        for p in everyone:  # already there when we started: not new
            p.new_until = p.born = 0.0
        self.tracker.probing.clear()  # already there: not new
        self._domains(everyone)
        self.rules.apply((p.info, p.adj) for p in everyone)
        self.watched = {p.info.pid for p in everyone if watched(self.conf.watch, p.info)}
        self._choose(everyone)
        self.unwritten = everyone  # written with the first tick's batch
        self.next_full = now + self._full_interval()
        self.next_cgroup_scan = now + self.conf.tiers.cgroup_scan_interval
        self.counter.update(now, self.system.oom_kills(), self.cgroups.counters())
        self.log("info", f"recording to {self.writer.path}: {len(everyone)} processes,"
                 f" {len(self.cgroups.limited)} memory cgroups with a limit, fast tier"
                 f" {len(self.fast)}, every {self.conf.tiers.interval:g} s; own oom_score_adj {adj}")

    def _set_totalpages(self, s: SystemSample) -> None:
        page_kb = self.tracker.page_size // 1024
        self.tracker.totalpages = max(1, (s.mem_total_kb + s.swap_total_kb) // page_kb)

    def _full_interval(self) -> float:
        t = self.conf.tiers
        return t.full_scan_interval_short if self.short else t.full_scan_interval

    def _interval(self) -> float:
        t = self.conf.tiers
        return t.interval_short if self.short else t.interval

    def run(self) -> int:
        """Start, loop until SIGTERM/SIGINT, close. Returns 0."""
        rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        old_wakeup = signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
        handlers = {s: signal.signal(s, self._on_signal)
                    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        try:
            self.start()
            self.start_programs()
            self._loop(rfd)
        finally:
            self.stop_programs()
            for s, h in handlers.items():
                signal.signal(s, h)
            signal.set_wakeup_fd(old_wakeup)
            os.close(rfd)
            os.close(wfd)
            self.kmsg.close()
            self.writer.close()
        self.log("info", f"stopped: {self.ticks} ticks, {self.kills} kills recorded")
        return 0

    def _loop(self, wake: int) -> None:
        poller = select.poll()
        poller.register(wake, select.POLLIN)
        if self.kmsg.fd is not None:
            poller.register(self.kmsg.fd, select.POLLIN | select.POLLPRI)
        if self.programs is not None:  # one epoll fd covers the children and the ctl socket
            poller.register(self.programs.fileno(), select.POLLIN)
        next_tick = time.monotonic()
        while True:
            if self.signals:
                sigs, self.signals[:] = list(self.signals), []
                if signal.SIGTERM in sigs or signal.SIGINT in sigs:
                    return
                if signal.SIGHUP in sigs:
                    self.reload()
            now = time.monotonic()
            if now >= next_tick:
                self.tick(now)
                next_tick += self._interval()
                if next_tick <= time.monotonic():  # fell behind: no catch-up burst
                    next_tick = time.monotonic() + self._interval()
            deadline = next_tick
            kd = self.kmsg.deadline()
            if kd is not None:
                deadline = min(deadline, kd)
            timeout = max(0, int((deadline - time.monotonic()) * 1000) + 1)  # ms, rounded up
            if self.programs is not None:
                t = self.programs.timeout()
                if t is not None:
                    timeout = min(timeout, max(0, int(t * 1000) + 1))
            for fd, _ in poller.poll(timeout):
                if fd == wake:
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake, 512)
                elif fd == self.kmsg.fd:
                    try:
                        self.kmsg.read_available(time.monotonic())
                    except OSError as exc:
                        self.log("error", f"{self.kmsg.path}: {exc}; no longer following it")
                        poller.unregister(fd)
                        self.kmsg.close()
            for event in self.kmsg.take(time.monotonic()):
                self.on_kill(event, "kmsg")
            if self.programs is not None:
                self.programs.poll(0)

    def reload(self) -> None:
        """SIGHUP: read the configuration again; keep the old one if the new one is invalid."""
        try:
            new = settings.load(self.config_path, required=self.config_required)
        except ConfigError as exc:
            self.log("error", f"reload failed, keeping the previous settings: {exc}")
            return
        if new.db != self.conf.db:
            self.log("warning", f"daemon.db changed to {new.db}; that takes a restart (still"
                     f" writing {self.conf.db})")
            new = new._replace(db=self.conf.db)
        self.conf = new
        if self.programs is not None:
            try:
                changes = self.programs.update(self._program_specs())
                said = "; ".join(f"{k} {', '.join(v)}" for k, v in changes.items() if v)
                self.log("info", f"programs: {said or 'no changes'}")
            except (ConfigError, OomkitError) as exc:
                self.log("error", f"programs not reloaded: {exc}")
        self.rules.rules = tuple(new.protect)
        self.notifier.settings = new.warnings
        self.tracker.probation = new.tiers.probation
        procs = list(self.tracker.procs.values())
        changed = self.rules.apply((p.info, p.adj) for p in procs)
        self.watched = {p.info.pid for p in procs if watched(new.watch, p.info)}
        self.log("info", f"configuration reloaded from {self.config_path or settings.DEFAULT_CONFIG}:"
                 f" {len(new.protect)} protect rules ({changed} processes changed),"
                 f" interval {new.tiers.interval:g} s")

    # --- one tick ----------------------------------------------------------------------------

    def _domains(self, procs: Iterable[Proc]) -> None:
        limited = list(self.cgroups.limited)
        for p in procs:
            p.domain = tiers.nearest(p.info.cgroup, limited)

    def _choose(self, everyone: Sequence[Proc]) -> None:
        cands = []
        for p in everyone:
            if not p.ts or p.info.pid == self.tracker.self_pid:
                continue
            total = p.total_kb
            bad, _ = self.tracker.score(p.info.pid, total, p.pte, p.adj)
            cands.append(tiers.Candidate((p.info.pid, p.info.start_ticks), total, p.growth, bad,
                                         p.domain))
        chosen = tiers.choose_fast(cands, self.conf.tiers.fast_processes)
        self.fast = frozenset(pid for pid, _start in chosen)

    def tick(self, now: float) -> None:
        """Sample, detect, forecast, warn, write: everything of one interval."""
        self.ticks += 1
        ts = time.time()
        conf = self.conf
        try:
            s = self.system.sample(ts)
        except OomkitError as exc:
            self.log.once("meminfo", "error", str(exc))
            return
        self._set_totalpages(s)
        tracker = self.tracker
        # processes: new ones, and everyone when a full scan is due
        sampled: list[Proc] = []
        renamed: list[Proc] = []
        new, gone = tracker.poll_new(now, ts)
        full = now >= self.next_full
        if full:
            everyone, new2, gone2, renamed = tracker.full_scan(ts, now)
            new += new2
            gone += gone2
            sampled = everyone
            self.next_full = now + self._full_interval()
        else:
            sampled = list(new)
        if self.unwritten:
            sampled = self.unwritten + sampled
            self.unwritten = []
        # cgroups: discovery, then usage and counters of every limited one
        if now >= self.next_cgroup_scan:
            self.cgroups.discover()
            self.next_cgroup_scan = now + conf.tiers.cgroup_scan_interval
            full = True
        for p in new:
            if self.cgroups.check(p.info.cgroup):
                full = True
        if full:
            self._domains(tracker.procs.values())
        else:
            self._domains(new)
        cg_samples = self.cgroups.sample(ts)
        hot = [g.path for g in cg_samples if g.limit_kb and g.usage_kb is not None
               and g.usage_kb * 100 >= conf.tiers.near_limit_pct * g.limit_kb]
        if new or renamed:
            if conf.watch:
                self.watched.update(p.info.pid for p in new + renamed if watched(conf.watch, p.info))
            self.rules.apply((p.info, p.adj) for p in new + renamed)
        # the fast tier: chosen at each full scan, plus what is pinned now
        if full:
            self._choose(list(tracker.procs.values()))
            self.log("debug", f"full scan: {len(tracker.procs)} processes, {len(new)} new,"
                     f" {len(gone)} gone, {len(self.cgroups.limited)} limited cgroups, fast tier"
                     f" {sorted(self.fast)}, {(time.monotonic() - now) * 1000:.1f} ms")
        pinned = self.watched | tracker.probing
        for path in hot:  # the largest HOT_MEMBERS of each cgroup near its limit
            members = [pid for pid in self.cgroups.members(path) if pid in tracker.procs]
            if len(members) > HOT_MEMBERS:
                members.sort(key=lambda pid: tracker.procs[pid].total_kb, reverse=True)
            pinned.update(members[:HOT_MEMBERS])
        fast = pinned | self.fast
        already = {p.info.pid for p in sampled}
        read, gone3, renamed3 = tracker.read((pid for pid in fast if pid not in already), ts)
        sampled.extend(read)
        gone += gone3
        if renamed3:  # an exec: a new program, maybe matched by a rule now
            if conf.watch:
                self.watched.update(p.info.pid for p in renamed3 if watched(conf.watch, p.info))
            self.rules.apply((p.info, p.adj) for p in renamed3)
        self._history(fast, now)
        if gone:
            self.writer.forget(p.key for p in gone)
            self.recently_gone.extend((now, p) for p in gone)
            self.watched.difference_update(p.info.pid for p in gone)
        # kills no log line explains, forecasts and warnings, then one transaction
        for u in self.counter.update(now, self.system.oom_kills(), self.cgroups.counters()):
            self.on_unlogged(u, now)
        warnings = self._warn(s, cg_samples, now)
        self._write(s, cg_samples, sampled, warnings, ts)
        self.notifier.reap()
        if now >= self.next_maintenance and self.writer.failing is None:
            self._maintain(now)

    def _history(self, fast: set[int] | frozenset[int], now: float) -> None:
        """Keep a short series of RSS + swap for each fast-tier process (growth forecasts)."""
        procs = self.tracker.procs
        for pid in self.hist_pids - fast:
            p = procs.get(pid)
            if p is not None:
                p.hist = None
        kept = set()
        for pid in fast:
            p = procs.get(pid)
            if p is None or not p.ts:
                continue
            if p.hist is None:
                p.hist = deque(maxlen=HISTORY)
            if not p.hist or p.hist[-1][0] != now:
                p.hist.append((now, float(p.total_kb)))
            kept.add(pid)
        self.hist_pids = kept

    def _write(self, s: SystemSample, cg_samples: Sequence[CgroupSample], sampled: Sequence[Proc],
               warnings: Sequence[alerts.Alert], ts: float) -> None:
        st = self.conf.storage
        procs: list[ProcessSample] = []
        marks: list[tuple[Proc, tuple[float, int, int, int, int, int]]] = []
        young = time.monotonic() - st.min_age  # born after this: too young for a row yet
        for p in sampled:
            if not p.ts or p.born > young:
                continue
            if tiers.should_write(p.written, p.ts, p.anon, p.file, p.shmem, p.swap, p.adj,
                                  min_kb=st.min_change_kb, min_pct=st.min_change_pct,
                                  heartbeat=st.heartbeat):
                procs.append(self.tracker.sample(p))
                marks.append((p, (p.ts, p.anon, p.file, p.shmem, p.swap, p.adj)))
        cgs = []
        cg_marks = []
        for g in cg_samples:
            mark = (ts, g.usage_kb or 0, g.limit_kb or 0, g.max_events or 0, g.oom_events or 0,
                    g.oom_kills or 0)
            last = self.cg_written.get(g.path)
            if (last is None or last[2:] != mark[2:]
                    or tiers.should_write((last[0], last[1], 0, 0, 0, 0), ts, mark[1], 0, 0, 0, 0,
                                          min_kb=256, min_pct=1.0, heartbeat=60.0)):
                cgs.append(g)
                cg_marks.append((g.path, mark))
        batch = Batch(s, tuple(cgs), tuple(procs), tuple(a.record for a in warnings))
        if self.writer.write_batch(batch):
            for p, m in marks:
                p.written = m
            for path, m in cg_marks:
                self.cg_written[path] = m
        for path in [x for x in self.cg_written if x not in self.cgroups.limited]:
            del self.cg_written[path]

    # --- forecasts and warnings --------------------------------------------------------------

    def _warn(self, s: SystemSample, cg_samples: Sequence[CgroupSample], now: float
              ) -> list[alerts.Alert]:
        """Forecast every subject, run the warning state machine, deliver what it raises."""
        w = self.conf.warnings
        capacity = s.mem_total_kb + s.swap_total_kb
        headroom = s.mem_available_kb + s.swap_free_kb
        self.sys_series.append((now, float(capacity - headroom)))
        procs = self.tracker.procs
        fast = [observe.Series(f"{p.info.name} (pid {p.info.pid})", p.domain, p.hist)
                for p in (procs.get(pid) for pid in self.hist_pids) if p is not None and p.hist]
        top = observe.growers(fast, {g.path: g for g in cg_samples}, headroom, capacity, now=now,
                              window=w.window)
        obs = [observe.system_observation(s, self.sys_series, now=now, window=w.window,
                                          min_pct=w.min_available_pct, min_mb=w.min_available_mb,
                                          grower=top.get("system"))]
        for g in cg_samples:
            series = self.cg_series.setdefault(g.path, deque(maxlen=SERIES))
            if g.usage_kb is not None:
                series.append((now, float(g.usage_kb)))
            o = observe.cgroup_observation(g, series, now=now, window=w.window,
                                           grower=top.get(g.path)) if w.cgroups else None
            if o is not None:
                obs.append(o)
        for path in [x for x in self.cg_series if x not in self.cgroups.limited]:
            del self.cg_series[path]
        self.book, raised = alerts.evaluate(self.book, obs, now, _policy(w), wall=s.ts)
        for o in obs:
            if o.forecast.seconds_left is not None:
                self.log("debug", f"forecast {o.subject}: {o.forecast.seconds_left:.0f} s left,"
                         f" {o.forecast.rate_kb_s:.0f} kB/s over {o.forecast.points} points")
        self.short = observe.in_danger(obs, w.forecast_seconds)
        for a in raised:
            self.notifier.send(a)
        return raised

    # --- kills -------------------------------------------------------------------------------

    def on_kill(self, event: OomEvent, detected_by: str) -> None:
        """A kill read from kmsg: store it now, in its own transaction."""
        if detected_by == "kmsg":
            self.counter.logged(event)
        stored = self.writer.write_kill(KillObservation(event, detected_by, self.boot))
        self.kills += 1
        v = event.victim
        who = f"{v.name} (pid {v.pid})" if v is not None else "no victim"
        where = f" in {event.memcg}" if event.memcg else ""
        self.log("notice", f"{event.killer.value} {event.kind.value}: {who}{where}"
                 + ("" if stored else "; kept in memory until the database can be written"))

    def on_unlogged(self, u: Unlogged, now: float) -> None:
        """Kills the counters saw and no log line explains: recorded as such."""
        candidates = [p for t, p in self.recently_gone
                      if now - t <= GRACE + 2 * self._interval() + 1
                      and (u.cgroup is None or tiers.within(p.info.cgroup, u.cgroup))]
        candidates.sort(key=lambda p: p.total_kb, reverse=True)
        gone = [(p.info, Victim(pid=p.info.pid, name=p.info.name, anon_rss_kb=p.anon,
                                file_rss_kb=p.file, shmem_rss_kb=p.shmem, swap_kb=p.swap,
                                oom_score_adj=p.adj)) for p in candidates]
        for event in unlogged_events(u, gone, wall=datetime.now(timezone.utc), boot_id=self.boot):
            self.on_kill(event, "counter")

    def _maintain(self, now: float) -> None:
        st = self.conf.storage
        try:
            out = maintenance.run(self.writer.connection, int(time.time() * 1000), st.retention)
        except Exception as exc:
            self.log.once("maintenance", "error", f"database maintenance failed: {exc}")
            self.next_maintenance = now + st.maintenance_interval
            return
        if out.capped:
            self.log("warning", f"database above max_size_mb: oldest samples deleted"
                     f" ({out.size_bytes >> 20} MiB now)")
        self.next_maintenance = now + (1.0 if out.more else st.maintenance_interval)


USAGE = "usage: python -m oomkit.daemon [--config PATH] [--db PATH] [--no-backlog] [--debug]"


def _args(argv: Sequence[str]) -> tuple[str | None, str | None, bool, bool]:
    config = db = None
    backlog, debug = True, False
    items = list(argv)
    while items:
        a = items.pop(0)
        if a in ("--config", "--db"):
            if not items:
                raise ConfigError(f"{a} needs a path; {USAGE}")
            value = items.pop(0)
            if a == "--config":
                config = value
            else:
                db = value
        elif a == "--no-backlog":
            backlog = False
        elif a == "--debug":
            debug = True
        else:
            raise ConfigError(f"unknown argument {a!r}; {USAGE}")
    return config, db, backlog, debug


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m oomkit.daemon``; errors are one line on stderr."""
    log = Log()
    try:
        config, db, backlog, debug = _args(sys.argv[1:] if argv is None else argv)
        log = Log(debug=debug)
        conf = settings.load(config, required=config is not None)
        if db is not None:
            conf = conf._replace(db=db)
        if not backlog:
            conf = conf._replace(kmsg_backlog=False)
        daemon = Daemon(conf, log=log, config_path=config, config_required=config is not None)
        return daemon.run()
    except ConfigError as exc:
        log("error", str(exc))
        return 2
    except OomkitError as exc:
        log("error", str(exc))
        return 1
    except PermissionError as exc:
        log("error", f"permission denied: {exc.filename or exc}; run as root")
        return 4
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
