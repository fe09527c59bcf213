"""The recorder's parts: warnings state machine, tiers, settings, kill counters, cgroup and
process watching, the kmsg follower, notifications, self-protection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from oomkit import cgroups
from oomkit.errors import ConfigError
from oomkit.kernel_log import parse_text
from oomkit.models import (
    CgroupSample,
    EventKind,
    EventTime,
    Forecast,
    Killer,
    OomEvent,
    ProcessInfo,
    SourceRef,
    SystemSample,
    Victim,
)
from oomkit.recorder import alerts, observe, settings, tiers
from oomkit.recorder.cgroupwatch import CgroupWatch, parse_keyed, parse_limit
from oomkit.recorder.counters import GRACE, KillCounter, Unlogged, unlogged_events
from oomkit.recorder.kmsg import KmsgFollower
from oomkit.recorder.log import Log
from oomkit.recorder.notify import Notifier
from oomkit.recorder.processes import ProcessTracker
from oomkit.recorder.protector import protect_self
from oomkit.recorder.system import SystemReader, parse_meminfo, parse_oom_kill
from tests.conftest import KERNEL_LOGS

# --- alerts --------------------------------------------------------------------------------


def _obs(left: float | None, subject: str = "/job", floor: bool = False) -> alerts.Observation:
    f = Forecast(subject, "cgroup", left, 2048.0, 10_000, 65_536, 10)
    return alerts.Observation(subject, f"cgroup {subject}", f, below_floor=floor, near_floor=floor,
                              detail="usage 54 MiB of limit 64 MiB", grower="hog (pid 7) +2.0 MiB/s")


P = alerts.Policy(forecast_seconds=60, confirm=2, repeat_after=100, max_per_hour=3)


def test_warns_after_confirmation_repeats_and_recovers() -> None:
    book = alerts.Book()
    book, out = alerts.evaluate(book, [_obs(30)], 0.0, P, wall=1000.0)
    assert out == []  # one evaluation is not enough
    book, out = alerts.evaluate(book, [_obs(28)], 1.0, P, wall=1001.0)
    assert [a.record.kind for a in out] == ["warning"]
    assert out[0].record.ts == 1001.0 and out[0].deliver
    assert "will run out of memory in ~28 s" in out[0].record.message
    assert "biggest grower: hog (pid 7)" in out[0].record.message
    book, out = alerts.evaluate(book, [_obs(20)], 50.0, P)
    assert out == []  # rate-limited per subject
    book, out = alerts.evaluate(book, [_obs(20)], 102.0, P)
    assert [a.record.kind for a in out] == ["still"]
    assert out[0].record.message.startswith("still: ")
    book, out = alerts.evaluate(book, [_obs(None)], 103.0, P)
    assert out == []
    book, out = alerts.evaluate(book, [_obs(500)], 104.0, P)
    assert [a.record.kind for a in out] == ["recovered"]
    assert out[0].record.message.startswith("recovered: cgroup /job is no longer running out")
    assert out[0].deliver


def test_noise_between_the_thresholds_does_not_flap() -> None:
    book = alerts.Book()
    for t, left in enumerate([30, 30, 90, 30, 90, 30, 90]):  # 90 s is neither danger nor clear
        book, out = alerts.evaluate(book, [_obs(left)], float(t), P)
        assert all(a.record.kind == "warning" for a in out)
    assert book.subjects["/job"].warned


def test_floor_and_a_vanished_subject() -> None:
    book, _ = alerts.evaluate(alerts.Book(), [_obs(None, "system", floor=True)], 0.0, P)
    book, out = alerts.evaluate(book, [_obs(None, "system", floor=True)], 1.0, P)
    assert out and "is low on memory" in out[0].record.message
    book, out = alerts.evaluate(book, [], 2.0, P)
    assert [a.record.message for a in out] == ["recovered: cgroup system no longer exists"]
    assert "system" not in book.subjects


def test_global_rate_limit_records_but_does_not_deliver() -> None:
    book = alerts.Book()
    delivered = []
    for i in range(6):
        subject = f"/job{i}"
        book, _ = alerts.evaluate(book, [_obs(10, subject)], float(i * 2), P)
        book, out = alerts.evaluate(book, [_obs(10, subject)], float(i * 2 + 1), P)
        delivered.extend(a.deliver for a in out)
    assert delivered == [True, True, True, False, False, False]
    # a recovery is delivered exactly when its warning was
    book, _ = alerts.evaluate(book, [_obs(None, "/job5")], 20.0, P)
    book, out = alerts.evaluate(book, [_obs(None, "/job5")], 21.0, P)
    assert [a.deliver for a in out if a.record.subject == "/job5"] == [False]


# --- tiers ---------------------------------------------------------------------------------


def test_fast_tier_has_the_largest_the_growers_the_victims_and_the_pinned() -> None:
    cands = [tiers.Candidate((i, 1), mem_kb=i * 10, growth_kb_s=0.0, badness=i, domain=None)
             for i in range(1, 101)]
    cands[4] = tiers.Candidate((5, 1), 50, 9000.0, 5, None)  # small but growing fast
    cands[9] = tiers.Candidate((10, 1), 100, 0.0, 10**9, None)  # adj 1000: the next victim
    cands[19] = tiers.Candidate((20, 1), 200, 0.0, 20, "/job")  # in a limited cgroup
    cands[2] = tiers.Candidate((3, 1), 30, 0.0, 3, None, pinned=True)
    fast = tiers.choose_fast(cands, 9)
    assert {(100, 1), (99, 1), (98, 1)} <= fast  # largest
    assert (5, 1) in fast and (10, 1) in fast and (20, 1) in fast and (3, 1) in fast
    assert len(fast) <= 9 + 3


def test_should_write_only_meaningful_changes() -> None:
    kw = {"min_kb": 512, "min_pct": 2.0, "heartbeat": 600.0}
    last = (0.0, 100_000, 5000, 0, 0, 0)
    assert tiers.should_write(None, 1.0, 1, 1, 1, 1, 0, **kw)
    assert not tiers.should_write(last, 1.0, 100_400, 5000, 0, 0, 0, **kw)  # < 512 kB
    assert not tiers.should_write(last, 1.0, 101_000, 5000, 0, 0, 0, **kw)  # 1 % of 100 MB
    assert tiers.should_write(last, 1.0, 103_000, 5000, 0, 0, 0, **kw)
    assert tiers.should_write(last, 1.0, 100_000, 5000, 0, 0, 500, **kw)  # adj changed
    assert tiers.should_write(last, 601.0, 100_000, 5000, 0, 0, 0, **kw)  # heartbeat
    assert tiers.should_write(last, 1.0, 100_000, 5000, 0, 2048, 0, **kw)  # started swapping


def test_nearest_limited_cgroup() -> None:
    assert tiers.nearest("/a/b/c", ["/a", "/a/b", "/x"]) == "/a/b"
    assert tiers.nearest("/ab", ["/a"]) is None
    assert tiers.nearest(None, ["/a"]) is None


# --- settings ------------------------------------------------------------------------------


def test_sample_config_parses_to_the_defaults() -> None:
    s = settings.parse(settings.SAMPLE, "sample.toml")
    assert s.tiers == settings.Tiers()
    assert s.storage == settings.Storage()
    assert s.warnings == settings.Warnings()


def test_settings_values_and_protect_rules() -> None:
    s = settings.parse(
        '[daemon]\ninterval = "500ms"\ninterval_short = 0.25\ndb = "/tmp/x.db"\n'
        '[daemon.storage]\nheartbeat = "5m"\none_minute = "7d"\nmax_size_mb = 64\n'
        '[daemon.warnings]\nforecast_seconds = "2m"\nhook = ["/bin/echo", "{message}"]\n'
        'webhook = "http://127.0.0.1:9/x"\n'
        '[[daemon.watch]]\nname = "postgres"\n'
        '[[protect.rules]]\nname = "sshd"\npreset = "never-kill"\n', "t.toml")
    assert s.tiers.interval == 0.5 and s.tiers.interval_short == 0.25
    assert s.db == "/tmp/x.db"
    assert s.storage.heartbeat == 300 and s.storage.retention.one_minute == 7 * 86400
    assert s.storage.retention.max_size_mb == 64
    assert s.warnings.forecast_seconds == 120 and s.warnings.hook == ("/bin/echo", "{message}")
    assert [str(r) for r in s.protect] == ["name=sshd -> -1000"]
    assert [str(r.matches[0]) for r in s.watch] == ["name=postgres"]


def test_an_empty_config_file_is_the_defaults_without_the_toml_parser(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("\n  \n")
    code = ("import sys; from oomkit.recorder import settings; "
            f"s = settings.load({str(empty)!r}, required=True); "
            "print(s == settings.Settings(path=s.path), 'tomllib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]
    assert settings.load(empty, required=True) == settings.parse("", str(empty))


@pytest.mark.parametrize(("text", "message"), [
    ("[daemon]\nintervall = 1\n", "daemon.intervall: unknown key"),
    ("[daemon]\ninterval = -1\n", "daemon.interval: must be positive"),
    ("[daemon]\ninterval = nan\n", "daemon.interval: must be positive"),
    ("[daemon]\ninterval = 1e400\n", "daemon.interval: inf is more than 100 years"),
    ("[daemon.storage]\nevents = \"99999999w\"\n", "events: '99999999w' is more than 100 years"),
    ("[daemon]\ninterval = \"soon\"\n", "daemon.interval: expected a duration"),
    ("[daemon]\ninterval = 1\ninterval_short = 2\n", "interval_short: must not be longer"),
    ("[daemon.warnings]\nhook = \"page me\"\n", "give the command as a list"),
    ("[daemon.warnings]\nwebhook = \"ftp://x\"\n", "http:// or https://"),
    ("[daemon.storage]\nten_second = \"1h\"\nfull_resolution = \"2h\"\n", "full_resolution <="),
    ("[daemon]\nfast_processes = 1.5\n", "expected a whole number"),
    ("[deamon]\n", "unknown section [deamon]"),
    ("[daemon\n", "not valid TOML"),
    ("[[protect.rules]]\nname = \"x\"\n", "protect.rules[1]: give exactly one of adj"),
    ("[[daemon.watch]]\n", "daemon.watch[1]: no condition; add one of name"),
    ("[[daemon.watch]]\nuser = 5\n", "daemon.watch[1].user: use name, cmdline"),
    ("[[daemon.watch]]\ncmdline = \"(\"\n", "daemon.watch[1].cmdline: "),
])
def test_settings_errors_name_the_file_and_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        settings.parse(text, "/etc/oomkit/oomkit.toml")
    assert str(exc.value).startswith("/etc/oomkit/oomkit.toml: ")
    assert message in str(exc.value)


def test_missing_default_config_is_fine_a_named_one_is_not(tmp_path: Path) -> None:
    assert settings.load(tmp_path / "absent.toml", required=False) == settings.Settings()
    with pytest.raises(ConfigError, match="no such file"):
        settings.load(tmp_path / "absent.toml", required=True)


# --- counters ------------------------------------------------------------------------------


def _kernel_kill(pid: int, memcg: str | None) -> OomEvent:
    return OomEvent(Killer.KERNEL, EventKind.OOM_KILL, True, EventTime(None, 1.0, None, None),
                    SourceRef("kmsg", 1), victim=Victim(pid, "x"), memcg=memcg, task_memcg=memcg)


def test_logged_kills_explain_the_counters() -> None:
    c = KillCounter(version=1)
    assert c.update(0.0, 10, {"/job": 0}) == []
    c.logged(_kernel_kill(5, "/job"))
    assert c.update(1.0, 11, {"/job": 1}) == []
    assert c.update(1.0 + GRACE + 1, 11, {"/job": 1}) == []


def test_unlogged_kills_are_reported_once_after_the_grace() -> None:
    c = KillCounter(version=1)
    c.update(0.0, 10, {"/job": 0, "/other": 3})
    assert c.update(1.0, 12, {"/job": 1, "/other": 3}) == []  # counted, maybe not parsed yet
    out = c.update(1.0 + GRACE, 12, {"/job": 1, "/other": 3})
    assert [(u.cgroup, u.kills) for u in out] == [("/job", 1), (None, 1)]
    assert c.update(10.0, 12, {"/job": 1, "/other": 3}) == []


def test_v2_counters_are_hierarchical_the_deepest_gets_the_kill() -> None:
    c = KillCounter(version=2)
    c.update(0.0, 0, {"/a": 0, "/a/b": 0})
    c.update(1.0, 1, {"/a": 1, "/a/b": 1})
    out = c.update(1.0 + GRACE, 1, {"/a": 1, "/a/b": 1})
    assert [(u.cgroup, u.kills) for u in out] == [("/a/b", 1)]


# --- system, cgroups -----------------------------------------------------------------------


def test_meminfo_and_vmstat_parsers() -> None:
    m = parse_meminfo(b"MemTotal:       16000000 kB\nMemFree: 1 kB\nMemAvailable:    8000000 kB\n"
                      b"SwapTotal: 0 kB\nSwapFree: 0 kB\nCommitLimit: 8000000 kB\n"
                      b"Committed_AS: 4000000 kB\n")
    assert m[b"MemAvailable"] == 8_000_000 and b"MemFree" not in m
    assert parse_oom_kill(b"nr_free_pages 1\noom_kill 42\nnuma_hit 3\n") == 42
    assert parse_oom_kill(b"nr_free_pages 1\n") is None


@pytest.mark.live
def test_system_reader_reads_this_machine() -> None:
    r = SystemReader()
    s = r.sample(time.time())
    assert 0 < s.mem_available_kb <= s.mem_total_kb
    assert r.oom_kills() is not None


def test_limits_and_keyed_files() -> None:
    assert parse_limit(b"max\n", 4096) is None
    assert parse_limit(b"9223372036854771712\n", 4096) is None  # v1 unlimited
    assert parse_limit(b"67108864\n", 4096) == 67108864
    assert parse_keyed(b"low 0\nhigh 2\nmax 9\noom 1\noom_kill 1\n")[b"oom_kill"] == 1


def _fake_v2(root: Path) -> cgroups.Hierarchy:
    def cg(rel: str, limit: str, current: int, kills: int = 0, procs: str = "") -> None:
        d = root / rel if rel else root
        d.mkdir(parents=True, exist_ok=True)
        (d / "memory.max").write_text(limit + "\n")
        (d / "memory.current").write_text(f"{current}\n")
        (d / "memory.events").write_text(f"low 0\nhigh 0\nmax 4\noom 1\noom_kill {kills}\n")
        (d / "cgroup.procs").write_text(procs)

    (root / "cgroup.controllers").parent.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    cg("", "max", 0)
    cg("system.slice", "max", 1 << 30, procs="1\n")
    cg("jobs/a", str(64 << 20), 40 << 20, kills=2, procs="100\n101\n")
    cg("jobs/a/inner", "max", 10 << 20, procs="102\n")
    cg("jobs/b", str(32 << 20), 1 << 20)
    return cgroups.Hierarchy(2, root, "/", None, True)


def test_cgroup_watch_on_a_fake_v2_tree(tmp_path: Path) -> None:
    w = CgroupWatch(_fake_v2(tmp_path / "cg"))
    new, gone = w.discover()
    assert sorted(new) == ["/jobs/a", "/jobs/b"] and gone == []
    samples = {s.path: s for s in w.sample(1.0)}
    a = samples["/jobs/a"]
    assert (a.version, a.usage_kb, a.limit_kb, a.max_events, a.oom_events, a.oom_kills) == (
        2, 40 << 10, 64 << 10, 4, 1, 2)
    assert w.counters() == {"/jobs/a": 2, "/jobs/b": 0}
    assert sorted(w.members("/jobs/a")) == [100, 101, 102]
    assert w.check("/jobs/a/inner") == []  # no limit of its own
    # a new limited cgroup found through a new process, and a removed one
    c = tmp_path / "cg" / "jobs" / "c"
    c.mkdir()
    (c / "memory.max").write_text("1048576\n")
    (c / "memory.current").write_text("0\n")
    assert w.check("/jobs/c") == ["/jobs/c"]
    for f in (tmp_path / "cg" / "jobs" / "b").iterdir():
        f.unlink()
    (tmp_path / "cg" / "jobs" / "b").rmdir()
    assert "/jobs/b" not in {s.path for s in w.sample(2.0)}


def test_cgroup_watch_on_a_fake_v1_tree(tmp_path: Path) -> None:
    root = tmp_path / "memory"
    for rel, limit in (("", "9223372036854771712"), ("job", str(16 << 20))):
        d = root / rel if rel else root
        d.mkdir(parents=True, exist_ok=True)
        (d / "memory.limit_in_bytes").write_text(limit + "\n")
        (d / "memory.usage_in_bytes").write_text(f"{8 << 20}\n")
        (d / "memory.failcnt").write_text("7\n")
        (d / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    w = CgroupWatch(cgroups.Hierarchy(1, root, "/", "memory", True))
    assert w.discover() == (["/job"], [])
    (s,) = w.sample(1.0)
    assert (s.version, s.usage_kb, s.limit_kb, s.max_events, s.oom_kills) == (1, 8192, 16384, 7, 3)


def test_no_memory_controller_watches_nothing() -> None:
    w = CgroupWatch(None)
    assert w.discover() == ([], []) and w.sample(1.0) == [] and w.check("/x") == []


# --- processes -----------------------------------------------------------------------------


@pytest.mark.live
def test_tracker_finds_new_processes_renames_and_exits(tmp_path: Path) -> None:
    t = ProcessTracker(probation=5.0)
    t.full_scan(time.time(), time.monotonic())
    t.forked()
    script = "sleep 0.6; exec sleep 30"  # comm changes from sh to sleep at the exec
    child = subprocess.Popen(["sh", "-c", script])
    try:
        new: list[int] = []

        def found() -> bool:
            n, _ = t.poll_new(time.monotonic(), time.time())
            new.extend(p.info.pid for p in n)
            return child.pid in new

        deadline = time.monotonic() + 5
        while not found():
            assert time.monotonic() < deadline, "the child was not found"
            time.sleep(0.05)
        p = t.procs[child.pid]
        # seen right after fork (still the parent's comm) or as the shell
        assert p.info.name in ("sh", "python", "python3", "pytest") and child.pid in t.probing
        start = p.info.start_ticks
        deadline = time.monotonic() + 5
        names = [p.info.name]
        while t.procs[child.pid].info.name != "sleep":
            assert time.monotonic() < deadline, f"the exec was not seen: {names}"
            time.sleep(0.05)
            _read, _gone, ren = t.read([child.pid], time.time())
            names += [q.info.name for q in ren]
        assert names[-1] == "sleep"
        p = t.procs[child.pid]
        assert (p.info.name, p.info.cmdline, p.info.start_ticks) == ("sleep", "sleep 30", start)
        t.totalpages = SystemReader().sample(0).mem_total_kb // 4
        sample = t.sample(p)
        assert sample.anon_rss_kb > 0 and 0 <= sample.oom_score <= 2000
    finally:
        child.kill()
        child.wait()
    _read, gone, _ren = t.read([child.pid], time.time())
    assert [q.info.pid for q in gone] == [child.pid]


@pytest.mark.live
def test_full_scan_reads_every_process_once() -> None:
    t = ProcessTracker()
    everyone, new, gone, _ = t.full_scan(time.time(), time.monotonic())
    pids = {p.info.pid for p in everyone}
    assert os.getpid() in pids and len(new) == len(everyone) and not gone
    me = t.procs[os.getpid()]
    assert me.info.name.startswith("python") or me.info.name == "pytest"
    assert me.anon > 1000
    _everyone, new2, _, _ = t.full_scan(time.time() + 1, time.monotonic())
    assert not new2 or all(p.info.pid not in pids for p in new2)


# --- kmsg ----------------------------------------------------------------------------------


def _fifo_follower(tmp_path: Path) -> tuple[KmsgFollower, int]:
    path = tmp_path / "kmsg"
    os.mkfifo(path)
    f = KmsgFollower(path, boot_id="b-1", offset=1_700_000_000.0)
    f.open(backlog=False)
    w = os.open(path, os.O_WRONLY)
    return f, w


@pytest.mark.parametrize("case", ["local-6.18-memcg-v1-two-ooms-kmsg",
                                  "local-6.18-memcg-v1-ratelimited-17kills-kmsg",
                                  "local-6.18-memcg-v1-no-killable-kmsg"])
def test_follower_emits_what_why_parses(tmp_path: Path, case: str) -> None:
    text = (KERNEL_LOGS / f"{case}.log").read_text()
    expected = parse_text(text, "kmsg")
    f, w = _fifo_follower(tmp_path)
    try:
        got = []
        for line in text.splitlines():
            os.write(w, (line + "\n").encode())
            f.read_available(time.monotonic())
        assert f.deadline() is not None
        got += f.take(time.monotonic())
        time.sleep(0.25)
        got += f.take(time.monotonic())
        assert f.deadline() is None
    finally:
        os.close(w)
        f.close()
    assert len(got) == len(expected) > 0
    for g, e in zip(got, expected, strict=True):
        assert g.victim == e.victim and g.kind == e.kind and g.memcg == e.memcg
        assert g.complete == e.complete
        assert g.time.boot_id == "b-1" and g.time.wall is not None
        assert g.source.path == "kmsg" and g.source.line is not None  # the kmsg sequence number


def test_follower_does_not_load_the_parser_for_noise(tmp_path: Path) -> None:
    f, w = _fifo_follower(tmp_path)
    try:
        os.write(w, b"6,100,5000000,-;usb 1-1: new high-speed USB device\n")
        assert f.read_available(1.0) == 0 and f.deadline() is None
        assert f._asm is None
    finally:
        os.close(w)
        f.close()


@pytest.mark.live
def test_follower_backlog_of_the_real_ring_buffer() -> None:
    from tests.conftest import require_kmsg

    require_kmsg()
    f = KmsgFollower(Path("/dev/kmsg"))
    events = f.open(backlog=True)
    try:
        assert f.records > 0
        assert all(e.time.wall is not None for e in events)
        assert f.read_available(time.monotonic()) >= 0  # at the end now: nothing or new lines
    finally:
        f.close()


# --- notifications -------------------------------------------------------------------------


def _alert(kind: str = "warning") -> alerts.Alert:
    from oomkit.models import WarningRecord

    return alerts.Alert(WarningRecord(time.time(), "/job", kind, 12.0, "cgroup /job will run out"),
                        deliver=True)


def test_hook_gets_the_message_without_a_shell(tmp_path: Path) -> None:
    out = tmp_path / "hook.out"
    script = tmp_path / "hook.py"
    script.write_text("import os, sys\nopen(sys.argv[1], 'w').write("
                      "'|'.join(sys.argv[2:] + [os.environ['OOMKIT_KIND'],"
                      " os.environ['OOMKIT_SECONDS_LEFT']]))\n")
    log_path = tmp_path / "log"
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT)
    n = Notifier(settings.Warnings(hook=(sys.executable, str(script), str(out), "{message}; rm -rf /",
                                         "{subject}"), notify_send=False), Log(fd, journal=False))
    n.send(_alert())
    deadline = time.monotonic() + 10
    while n.children and time.monotonic() < deadline:
        n.reap()
        time.sleep(0.05)
    os.close(fd)
    assert out.read_text() == "cgroup /job will run out; rm -rf /|/job|warning|12"
    assert "cgroup /job will run out" in log_path.read_text()


def test_webhook_posts_json(tmp_path: Path) -> None:
    got: list[dict[str, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        fd = os.open(tmp_path / "log", os.O_WRONLY | os.O_CREAT)
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        n = Notifier(settings.Warnings(webhook=url, webhook_timeout=5, notify_send=False),
                     Log(fd, journal=False))
        n.send(_alert("recovered"))
        deadline = time.monotonic() + 20
        while (n.children or not got) and time.monotonic() < deadline:
            n.reap()
            time.sleep(0.05)
        os.close(fd)
    finally:
        server.shutdown()
        server.server_close()
    assert got and got[0]["kind"] == "recovered" and got[0]["subject"] == "/job"
    assert got[0]["source"] == "oomkit"
    assert "exited with status" not in (tmp_path / "log").read_text()


def test_log_once_and_journal_priority(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "log", os.O_WRONLY | os.O_CREAT)
    log = Log(fd, journal=True)
    log.once("k", "error", "disk full")
    log.once("k", "error", "disk full")
    log("info", "hello")
    os.close(fd)
    assert (tmp_path / "log").read_text() == "<3>disk full\n<6>hello\n"


# --- self-protection -----------------------------------------------------------------------


@pytest.mark.live
def test_protect_self_lowers_or_says_why_not() -> None:
    script = ("from oomkit.recorder.protector import protect_self\n"
              "adj, msg, ok = protect_self(-900)\n"
              "print(adj, ok, msg, open('/proc/self/oom_score_adj').read().strip(), sep='|')\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    adj, ok, msg, now = out.stdout.strip().split("|")
    if ok == "True":
        assert now == "-900"
    else:  # no CAP_SYS_RESOURCE (this host): one clear line, the value unchanged
        assert "needs CAP_SYS_RESOURCE" in msg and "OOMScoreAdjust=-900" in msg
        assert now == adj
    assert protect_self(10**9 * 0 + 1000)[2]  # raising (or keeping) is always allowed


def test_the_documented_sample_is_the_printed_one() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "daemon.md").read_text()
    block = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    assert block == settings.SAMPLE


def test_unlogged_kills_become_events_with_an_inferred_victim() -> None:
    from datetime import datetime, timezone

    info = ProcessInfo(77, 5, "leaker", "leaker", 0, "/job/inner")
    gone = [(info, Victim(pid=77, name="leaker", anon_rss_kb=60_000))]
    wall = datetime(2026, 11, 26, tzinfo=timezone.utc)
    events = unlogged_events(Unlogged("/job", 2, 0.0), gone, wall=wall, boot_id="b")
    assert len(events) == 2
    first, second = events
    assert first.victim is not None and first.victim.pid == 77 and first.task_memcg == "/job/inner"
    assert first.complete is False and first.missing == ("kernel log line",)
    assert "victim inferred" in first.notes[1] and "of /job" in first.notes[0]
    assert second.victim is None and second.memcg == "/job" and second.time.wall == wall


def test_observations_and_growers() -> None:
    s = SystemSample(100.0, 1_000_000, 40_000, 0, 0, 0, 0)
    o = observe.system_observation(s, [], now=100.0, window=60, min_pct=5, min_mb=0, grower=None)
    assert o.below_floor and o.near_floor and o.forecast.seconds_left is None
    assert o.detail == "MemAvailable 39.1 MiB of 976.6 MiB"
    g = CgroupSample(100.0, "/job", 2, 50_000, 65_536)
    series = [(float(t), 10_000.0 + 1000 * t) for t in range(41)]
    grow = [observe.Series("hog (pid 9)", "/job", [(float(t), 1000.0 * t) for t in range(41)])]
    top = observe.growers(grow, {"/job": g}, 900_000, 1_000_000, now=40.0, window=60)
    assert top == {"/job": "hog (pid 9) +1000 KiB/s", "system": "hog (pid 9) +1000 KiB/s"}
    o = observe.cgroup_observation(g, series, now=40.0, window=60, grower=top["/job"])
    assert o is not None and o.forecast.seconds_left == pytest.approx(15.5, rel=0.01)
    assert observe.in_danger([o], 60) and not observe.in_danger([o], 10)
    assert observe.cgroup_observation(CgroupSample(1.0, "/x", 2, None, None), [], now=1.0,
                                      window=60, grower=None) is None


def test_the_daemon_does_not_load_what_only_why_needs() -> None:
    # Each of these costs the always-on daemon ~100 KB or more of RSS (issue 4's budget is
    # 17 MiB); they belong to `why` on large files and to `top`, never to the recorder.
    code = ("import sys\nimport oomkit.daemon, oomkit.recorder.kmsg\n"
            "from oomkit.kernel_log.assemble import Assembler\n"
            "from oomkit.kernel_log.prefix import parse_line\n"
            "print(sorted(m for m in ('mmap', 'queue', '_bisect', 'hyperscan', 'dataclasses',"
            " 'pathlib', 'oomkit._procscan', 'oomkit._linecount', 'click') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
