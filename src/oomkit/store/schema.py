"""Opening the database and migrating it. Migrations from day one: ``PRAGMA user_version``.

Each entry of ``MIGRATIONS`` moves the schema one version up and runs in one
transaction; a database newer than this code is refused rather than guessed at.
Times are Unix milliseconds (``*_ms``, ``ts``); sizes are kB.

Tables:

* ``boots``: one row per boot (``/proc/sys/kernel/random/boot_id``); pids are per boot.
* ``procs``: one row per process identity (boot, pid, start time), name and command
  line stored once; ``proc_samples`` hold its memory over time.
* ``system_samples``: MemAvailable, swap, commit, PSI.
* ``cgroups`` / ``cgroup_samples``: every memory cgroup with a limit.
* ``kills``: every kill seen, with the whole parsed event (JSON, ``store.codec``).
* ``warnings``: warnings raised and "recovered" messages.
"""

from __future__ import annotations

import os
import sqlite3

from oomkit.errors import OomkitError
from oomkit.procfs import StrPath

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: the initial schema
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID",
        "CREATE TABLE boots(id INTEGER PRIMARY KEY, boot_id TEXT NOT NULL UNIQUE, first_ms INTEGER)",
        "CREATE TABLE procs("
        " id INTEGER PRIMARY KEY, boot INTEGER NOT NULL, pid INTEGER NOT NULL,"
        " start_ticks INTEGER NOT NULL, name TEXT NOT NULL, cmdline TEXT NOT NULL DEFAULT '',"
        " uid INTEGER, cgroup TEXT, first_ms INTEGER NOT NULL,"
        " UNIQUE(boot, pid, start_ticks))",
        "CREATE INDEX procs_pid ON procs(pid)",
        "CREATE INDEX procs_name ON procs(name)",
        # Clustered on time (appends at the right edge of the B-tree; downsampling and
        # retention walk time ranges); the index serves per-process timelines.
        "CREATE TABLE proc_samples("
        " ts INTEGER NOT NULL, proc_id INTEGER NOT NULL, anon_kb INTEGER NOT NULL,"
        " file_kb INTEGER NOT NULL, shmem_kb INTEGER NOT NULL, swap_kb INTEGER NOT NULL,"
        " adj INTEGER, score INTEGER, PRIMARY KEY(ts, proc_id)) WITHOUT ROWID",
        "CREATE INDEX proc_samples_proc ON proc_samples(proc_id, ts)",
        "CREATE TABLE system_samples("
        " ts INTEGER PRIMARY KEY, mem_total_kb INTEGER, mem_available_kb INTEGER,"
        " swap_total_kb INTEGER, swap_free_kb INTEGER, committed_as_kb INTEGER,"
        " commit_limit_kb INTEGER, psi_some_avg10 REAL, psi_full_avg10 REAL,"
        " psi_some_total INTEGER, psi_full_total INTEGER)",
        "CREATE TABLE cgroups(id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, version INTEGER)",
        "CREATE TABLE cgroup_samples("
        " ts INTEGER NOT NULL, cgroup_id INTEGER NOT NULL, usage_kb INTEGER, limit_kb INTEGER,"
        " high_events INTEGER, max_events INTEGER, oom_events INTEGER, oom_kills INTEGER,"
        " PRIMARY KEY(ts, cgroup_id)) WITHOUT ROWID",
        "CREATE INDEX cgroup_samples_cgroup ON cgroup_samples(cgroup_id, ts)",
        # uptime_us + victim pid + boot identify a kernel kill: the same kill read again
        # from the ring buffer after a restart is ignored (INSERT OR IGNORE).
        "CREATE TABLE kills("
        " id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, boot INTEGER, uptime_us INTEGER,"
        " victim_pid INTEGER, victim_name TEXT, proc_id INTEGER, memcg TEXT, task_memcg TEXT,"
        " killer TEXT NOT NULL, kind TEXT NOT NULL, detected_by TEXT NOT NULL,"
        " recorded_ms INTEGER NOT NULL, event TEXT NOT NULL,"
        " UNIQUE(boot, uptime_us, victim_pid, kind))",
        "CREATE INDEX kills_ts ON kills(ts)",
        "CREATE TABLE warnings("
        " id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, subject TEXT NOT NULL, kind TEXT NOT NULL,"
        " seconds_left REAL, message TEXT NOT NULL)",
        "CREATE INDEX warnings_ts ON warnings(ts)",
    ),
    (  # 2: supervised programs' starts, state changes and classified exits (issue 5)
        "CREATE TABLE job_events("
        " id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,"
        " data TEXT NOT NULL)",
        "CREATE INDEX job_events_name_ts ON job_events(name, ts)",
    ),
)
VERSION = len(MIGRATIONS)


class DatabaseError(OomkitError):
    """The database cannot be opened, is newer than this oomkit, or is damaged."""


def _tune(conn: sqlite3.Connection, busy_ms: int, cache_kb: int) -> None:
    conn.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    # A negative cache_size is in KiB: keep the daemon's page cache small.
    conn.execute(f"PRAGMA cache_size={-int(cache_kb)}")
    conn.execute("PRAGMA temp_store=MEMORY")


def connect_writer(path: StrPath, *, busy_ms: int = 1000, cache_kb: int = 512) -> sqlite3.Connection:
    """The daemon's one writer connection: WAL, synchronous=NORMAL, migrated.

    WAL lets readers (``oomkit why``/``timeline``) run while the daemon writes, and
    with synchronous=NORMAL a crash of the process (SIGKILL) loses nothing that was
    committed; a power loss may lose the last transactions but never corrupts.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        new = conn.execute("PRAGMA page_count").fetchone()[0] == 0
        if new:  # must precede the first table; lets the size cap give space back
            conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise DatabaseError(f"{path}: cannot use WAL mode (got {mode}); is it on a network filesystem?")
        conn.execute("PRAGMA synchronous=NORMAL")
        # Checkpoint every ~1 MiB of WAL and truncate the WAL file back to 4 MiB after.
        conn.execute("PRAGMA wal_autocheckpoint=256")
        conn.execute("PRAGMA journal_size_limit=4194304")
        _tune(conn, busy_ms, cache_kb)
        migrate(conn, str(path))
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"{path}: {exc}") from exc
    return conn


def connect_reader(path: StrPath, *, busy_ms: int = 2000, cache_kb: int = 2048) -> sqlite3.Connection:
    """A read-only connection (``mode=ro``): never blocks the daemon, never writes."""
    if not os.path.exists(path):
        raise DatabaseError(f"{path}: no such database; is `oomkit daemon` running? (--db PATH)")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        _tune(conn, busy_ms, cache_kb)
        conn.execute("PRAGMA query_only=1")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:  # OperationalError, or "file is not a database"
        if "unable to open" in str(exc) or "readonly" in str(exc):
            raise DatabaseError(f"{path}: cannot open the database ({exc}); run as root") from exc
        if "not a database" in str(exc):
            raise DatabaseError(f"{path}: not an oomkit database ({exc}); check --db") from exc
        raise DatabaseError(f"{path}: {exc}") from exc
    if version > VERSION:
        raise DatabaseError(f"{path}: schema version {version} is newer than this oomkit ({VERSION});"
                            " upgrade oomkit")
    if version < 1:
        raise DatabaseError(f"{path}: not an oomkit database (no schema)")
    return conn


def migrate(conn: sqlite3.Connection, name: str = "database") -> int:
    """Bring the schema to ``VERSION``, one transaction per step; return the version."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > VERSION:
        raise DatabaseError(f"{name}: schema version {version} is newer than this oomkit ({VERSION});"
                            " upgrade oomkit or use another --db")
    for step in range(version, VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[step]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={step + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return VERSION


def error_code(exc: sqlite3.Error) -> int | None:
    """The primary SQLite result code of an error (SQLITE_FULL = 13, SQLITE_BUSY = 5...)."""
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if isinstance(code, int):
        return code & 0xFF
    text = str(exc)
    if "disk is full" in text:
        return SQLITE_FULL
    if "locked" in text:
        return SQLITE_BUSY
    if "disk I/O error" in text:
        return SQLITE_IOERR
    return None


SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_IOERR = 10
SQLITE_FULL = 13
