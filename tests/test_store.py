"""The flight recorder's database: schema and migrations, the codec, the writer, the queries,
downsampling, retention and the size cap. Real SQLite files in tmp_path."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from oomkit.kernel_log import parse_text
from oomkit.models import (
    CgroupSample,
    EventKind,
    EventTime,
    Killer,
    OomEvent,
    ProcessInfo,
    ProcessSample,
    SourceRef,
    SystemSample,
    Victim,
    WarningRecord,
)
from oomkit.store import maintenance, queries, schema
from oomkit.store.codec import event_from_json, event_to_json
from oomkit.store.writer import Batch, KillObservation, Writer
from tests.conftest import fixture_logs

T0 = 1_800_000_000.0  # a fixed "now" (2027-01-15)


class Reports:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __call__(self, level: str, message: str) -> None:
        self.lines.append((level, message))


def _writer(tmp_path: Path) -> tuple[Writer, Reports]:
    r = Reports()
    return Writer(tmp_path / "r.db", "boot-1", r), r


def _kill(pid: int, name: str, t: float, memcg: str | None = "/job", uptime: float | None = 5.0
          ) -> OomEvent:
    return OomEvent(
        killer=Killer.KERNEL, kind=EventKind.OOM_KILL, complete=True,
        time=EventTime(raw=None, uptime_s=uptime, wall=datetime.fromtimestamp(t, timezone.utc),
                       wall_from="boot-offset"),
        source=SourceRef("kmsg", 42), victim=Victim(pid=pid, name=name, anon_rss_kb=60_000),
        memcg=memcg, task_memcg=memcg, global_oom=False,
    )


def _system(t: float, avail: int = 1_000_000) -> SystemSample:
    return SystemSample(t, 2_000_000, avail, 0, 0, 500_000, 1_000_000, 0.0, 0.0, 0, 0)


def test_a_new_database_is_migrated_and_in_wal_mode(tmp_path: Path) -> None:
    w, _ = _writer(tmp_path)
    conn = w.connection
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # INCREMENTAL
    w.close()
    # reopening migrates nothing and keeps the data
    w2, _ = _writer(tmp_path)
    assert w2.connection.execute("PRAGMA user_version").fetchone()[0] == schema.VERSION
    w2.close()


def test_migrations_run_one_step_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    extra = ("CREATE TABLE later(x INTEGER)",)
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, extra))
    monkeypatch.setattr(schema, "VERSION", len(schema.MIGRATIONS))
    assert schema.migrate(conn) == schema.VERSION
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.VERSION
    conn.execute("SELECT * FROM later")


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "n.db", isolation_level=None)
    conn.execute(f"PRAGMA user_version={schema.VERSION + 1}")
    conn.close()
    with pytest.raises(schema.DatabaseError, match="newer than this oomkit"):
        schema.connect_writer(tmp_path / "n.db")
    with pytest.raises(schema.DatabaseError, match="newer than this oomkit"):
        schema.connect_reader(tmp_path / "n.db")


def test_reader_of_a_missing_or_foreign_file(tmp_path: Path) -> None:
    with pytest.raises(schema.DatabaseError, match="no such database"):
        schema.connect_reader(tmp_path / "absent.db")
    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE x(y)").connection.commit()
    with pytest.raises(schema.DatabaseError, match="not an oomkit database"):
        schema.connect_reader(tmp_path / "other.db")


@pytest.mark.parametrize("path", [p for p in fixture_logs() if "kmsg" in p.name or "storm" in p.name][:12],
                         ids=lambda p: p.name)
def test_codec_round_trips_every_field(path: Path) -> None:
    for event in parse_text(path.read_text(errors="replace"), path.name):
        assert event_from_json(event_to_json(event)) == event


def test_codec_round_trips_times_and_tasks() -> None:
    events = [e for p in fixture_logs() for e in parse_text(p.read_text(errors="replace"), p.name)
              if e.tasks and e.time.wall is not None][:20]
    assert events
    for e in events:
        assert event_from_json(event_to_json(e)) == e


def test_codec_rejects_garbage() -> None:
    with pytest.raises(ValueError, match=r"cannot be read|not an object"):
        event_from_json('{"killer": "kernel"}')
    with pytest.raises(ValueError, match=r"not an object"):
        event_from_json("[1, 2]")


def test_batches_kills_and_queries(tmp_path: Path) -> None:
    w, _ = _writer(tmp_path)
    info = ProcessInfo(4242, 777, "leaky", "/opt/app/bin/leakyd --big", 0, "/job")
    for i in range(10):
        t = T0 + i
        batch = Batch(
            system=_system(t, 1_000_000 - i * 10_000),
            cgroups=(CgroupSample(t, "/job", 1, 1000 + i * 1024, 65536, None, 0, None, 0),),
            processes=(ProcessSample(t, info, 1000 + i * 2048, 500, 0, 0, 0, 700),),
            warnings=(WarningRecord(t, "/job", "warning", 12.0, "cgroup /job will run out"),)
            if i == 7 else (),
        )
        assert w.write_batch(batch)
    kill = _kill(4242, "leaky", T0 + 10)
    assert w.write_kill(KillObservation(kill, "kmsg", "boot-1"))
    assert w.write_kill(KillObservation(kill, "kmsg-backlog", "boot-1"))  # the same kill again
    assert w.stored_kills == 1
    w.close()

    conn = queries.open_db(tmp_path / "r.db")
    procs = queries.find_processes(conn, "leaky")
    assert [p.pid for p in procs] == [4242]
    assert queries.find_processes(conn, "4242")[0].cmdline == "/opt/app/bin/leakyd --big"
    assert queries.find_processes(conn, "leakyd")  # argv[0]'s basename
    # Names are literal and case-sensitive: no LIKE wildcards, no match in a later argument.
    for other in ("leak_y", "leak%", "LEAKY", "Leakyd", "leaky*", "big", "bin", "4242" * 10):
        assert queries.find_processes(conn, other) == [], other
    points = queries.process_timeline(conn, procs[0].id)
    assert [p.anon_rss_kb for p in points] == [1000 + i * 2048 for i in range(10)]
    assert queries.growth_kb_s(points) == pytest.approx(2048.0)
    stored = queries.kills(conn)
    assert len(stored) == 1 and stored[0].event == kill and stored[0].proc_id == procs[0].id
    rec = queries.kill_record(conn, kill)
    assert rec is not None
    assert rec.process is not None and rec.process.pid == 4242
    assert len(rec.timeline) == 10 and len(rec.system) == 10
    assert [w.message for w in rec.warnings] == ["cgroup /job will run out"]
    assert rec.growth_kb_s == pytest.approx(2048.0)
    assert queries.cgroup_paths(conn, "job") == ["/job"]
    assert [p.usage_kb for p in queries.cgroup_timeline(conn, "/job")][:2] == [1000, 2024]
    # a kill in another cgroup does not claim this cgroup's warnings
    other = queries.kill_record(conn, _kill(9999, "x", T0 + 10, memcg="/elsewhere"))
    assert other is not None and other.process is None and not other.warnings
    conn.close()


def test_victim_is_the_process_that_held_the_pid_then(tmp_path: Path) -> None:
    w, _ = _writer(tmp_path)
    old = ProcessInfo(300, 10, "old", "old", 0, None)
    new = ProcessInfo(300, 99_000, "new", "new", 0, None)
    w.write_batch(Batch(processes=(ProcessSample(T0, old, 1, 1, 0, 0, 0, 0),)))
    w.write_batch(Batch(processes=(ProcessSample(T0 + 100, new, 2, 2, 0, 0, 0, 0),)))
    w.close()
    conn = queries.open_db(tmp_path / "r.db")
    at = int((T0 + 101) * 1000)
    found = queries.victim_process(conn, 300, "new", at)
    assert found is not None and found.name == "new"
    found = queries.victim_process(conn, 300, "old", int((T0 + 1) * 1000))
    assert found is not None and found.name == "old"
    conn.close()


def test_renames_update_the_identity(tmp_path: Path) -> None:
    w, _ = _writer(tmp_path)
    a = ProcessInfo(5, 50, "python3", "python3 -c x", 0, "/a")
    b = a._replace(name="worker", cmdline="worker --x")
    w.write_batch(Batch(processes=(ProcessSample(T0, a, 1, 1, 0, 0, 0, 0),)))
    w.write_batch(Batch(processes=(ProcessSample(T0 + 1, b, 1, 1, 0, 0, 0, 0),)))
    w.close()
    conn = queries.open_db(tmp_path / "r.db")
    (p,) = queries.find_processes(conn, "5")
    assert (p.name, p.cmdline) == ("worker", "worker --x")
    assert len(queries.process_timeline(conn, p.id)) == 2
    conn.close()


def test_downsampling_keeps_peaks_and_the_victims(tmp_path: Path) -> None:
    w, _ = _writer(tmp_path)
    now = T0 + 3 * 3600
    keep = ProcessInfo(1, 1, "busy", "busy", 0, None)
    victim = ProcessInfo(2, 2, "victim", "victim", 0, None)
    for i in range(0, 3600, 1):  # one hour of 1 s samples, 2 h ago
        t = T0 + i
        peak = 50_000 if i == 1234 else 1000 + i % 7
        w.write_batch(Batch(system=_system(t, 900_000 - (100_000 if i == 2345 else 0)),
                            processes=(ProcessSample(t, keep, peak, 0, 0, 0, 0, 0),
                                       ProcessSample(t, victim, 5, 0, 0, 0, 0, 0))))
    w.write_kill(KillObservation(_kill(2, "victim", T0 + 3590, memcg=None), "kmsg", "boot-1"))
    conn = w.connection
    out = maintenance.run(conn, int(now * 1000), maintenance.Retention())
    assert out.deleted > 0
    rows = conn.execute("SELECT count(*) FROM proc_samples WHERE proc_id ="
                        " (SELECT id FROM procs WHERE name = 'busy')").fetchone()[0]
    assert rows == 360  # one per 10 s
    assert conn.execute("SELECT max(anon_kb) FROM proc_samples").fetchone()[0] == 50_000
    assert conn.execute("SELECT count(*) FROM proc_samples WHERE proc_id ="
                        " (SELECT id FROM procs WHERE name = 'victim')").fetchone()[0] == 3600
    assert conn.execute("SELECT min(mem_available_kb) FROM system_samples").fetchone()[0] == 800_000
    # the 15 minutes of system samples before the kill are kept at full resolution
    ctx = conn.execute("SELECT count(*) FROM system_samples WHERE ts >= ?",
                       (int((T0 + 3590 - 900) * 1000),)).fetchone()[0]
    assert ctx >= 890
    # a second pass has nothing left to do for that hour
    again = maintenance.run(conn, int(now * 1000), maintenance.Retention())
    assert again.deleted == 0 and not again.more
    w.close()
    assert conn is not None


def test_retention_and_the_size_cap(tmp_path: Path) -> None:
    w, _ = _writer(tmp_path)
    info = ProcessInfo(1, 1, "p", "p " + "x" * 200, 0, None)
    for day in range(40):
        t = T0 + day * 86400
        w.write_batch(Batch(system=_system(t), processes=(ProcessSample(t, info, day, 0, 0, 0, 0, 0),)))
    w.write_kill(KillObservation(_kill(1, "p", T0 + 86400), "kmsg", "boot-1"))
    conn = w.connection
    now = int((T0 + 40 * 86400) * 1000)
    maintenance.run(conn, now, maintenance.Retention())
    oldest = conn.execute("SELECT min(ts) FROM system_samples").fetchone()[0]
    assert oldest >= now - 30 * 86400 * 1000
    assert conn.execute("SELECT count(*) FROM kills").fetchone()[0] == 1  # events are kept
    # the cap: fill with big rows, then cap at a size below what they take
    for i in range(3000):
        t = T0 + 39 * 86400 + i
        w.write_batch(Batch(system=_system(t), processes=tuple(
            ProcessSample(t, ProcessInfo(10_000 + j, j, f"n{j}", "c" * 100, 0, None), i, j, 0, 0, 0, 0)
            for j in range(5))))
    big = maintenance.used_bytes(conn)
    out = maintenance.run(conn, now, maintenance.Retention(max_size_mb=big / 2 / 1024 / 1024))
    assert out.capped and out.size_bytes <= big / 2
    assert conn.execute("SELECT count(*) FROM kills").fetchone()[0] == 1
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    w.close()


def test_a_corrupt_event_row_is_skipped(tmp_path: Path) -> None:
    w, _ = _writer(tmp_path)
    w.write_kill(KillObservation(_kill(1, "a", T0), "kmsg", "boot-1"))
    w.connection.execute("UPDATE kills SET event = '{\"nonsense\": 1}'")
    w.write_kill(KillObservation(_kill(2, "b", T0 + 1, uptime=6.0), "kmsg", "boot-1"))
    w.close()
    conn = queries.open_db(tmp_path / "r.db")
    assert [k.event.victim.pid for k in queries.kills(conn) if k.event.victim] == [2]
    conn.close()


def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    from oomkit.store.schema import DatabaseError, connect_reader

    bad = tmp_path / "oomkit.db"
    bad.write_bytes(b"\xff\xfe[[not sqlite" * 100)
    with pytest.raises(DatabaseError, match=r"oomkit\.db: not an oomkit database"):
        connect_reader(bad)
