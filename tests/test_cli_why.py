"""`oomkit why` error paths: one clear line, a non-zero exit, never a traceback."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oomkit.cli import main
from tests.conftest import KERNEL_LOGS, require_root

LOCAL = KERNEL_LOGS / "local-6.18-memcg-v1-3tasks-adj500-dmesg.log"


def run(
    args: list[str], *, user: int | None = None, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    def drop() -> None:
        if user is not None:
            os.setgid(user)
            os.setuid(user)

    return subprocess.run(
        [sys.executable, "-m", "oomkit", *args],
        input=stdin.decode("latin-1") if stdin is not None else None,
        capture_output=True, text=True, timeout=120, check=False,
        preexec_fn=drop if user is not None else None,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")},
    )


def no_traceback(p: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in p.stderr
    assert "Traceback" not in p.stdout


def test_missing_file(tmp_path: Path) -> None:
    p = run(["why", "--file", str(tmp_path / "nope.log")])
    no_traceback(p)
    assert p.returncode == 1
    assert "nope.log: no such file" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_directory_given_as_file(tmp_path: Path) -> None:
    p = run(["why", "--file", str(tmp_path)])
    no_traceback(p)
    assert p.returncode == 1
    assert "is a directory" in p.stderr


def test_bad_since() -> None:
    p = run(["why", "--since", "last tuesday-ish", "--no-journal"])
    no_traceback(p)
    assert p.returncode == 2
    assert "cannot read the time" in p.stderr


@pytest.mark.parametrize("args", [["--file", ""], ["--file", "", "--json"], ["--journal-file", ""]])
def test_an_empty_path_is_refused(args: list[str]) -> None:
    p = run(["why", *args])
    no_traceback(p)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "oomkit: --file and --journal-file need a path, not an empty string"]
    assert p.stdout == ""


def test_since_after_until() -> None:
    p = run(["why", "--since", "1h", "--until", "2h", "--no-journal"])
    no_traceback(p)
    assert p.returncode == 2
    assert "--since is after --until" in p.stderr


def test_empty_file_says_nothing_found_with_the_counter(tmp_path: Path) -> None:
    empty = tmp_path / "kern.log"
    empty.write_bytes(b"")
    p = run(["why", "--file", str(empty)])
    no_traceback(p)
    assert p.returncode == 0
    assert "No OOM kills found" in p.stdout
    assert "/proc/vmstat oom_kill" in p.stdout


def test_a_target_that_matches_nothing_says_what_else_was_found() -> None:
    """Not "No OOM kills found" when there were some, just not of TARGET."""
    p = run(["why", "no-such-job", "--file", str(LOCAL)])
    no_traceback(p)
    assert p.returncode == 0
    assert p.stdout.startswith("No OOM kills of 'no-such-job' found in the logs searched.\n")
    assert "1 other kill was found: `oomkit why` without TARGET lists them" in p.stdout
    doc = json.loads(run(["why", "no-such-job", "--file", str(LOCAL), "--json"]).stdout)
    assert doc["events"] == []
    assert doc["target"] == "no-such-job"
    assert doc["kills_not_matching_target"] == 1
    hit = json.loads(run(["why", "big worker 1", "--file", str(LOCAL), "--json"]).stdout)
    assert [e["victim"]["name"] for e in hit["events"]] == ["big worker 1"]
    assert hit["kills_not_matching_target"] == 0


def test_a_boot_the_journal_does_not_keep_says_where_else_to_look() -> None:
    p = run(["why", "--boot", "-999", "--no-db"])
    no_traceback(p)
    assert p.returncode == 0
    assert ("note: boot -999 is not in the journal's boot list (`journalctl --list-boots`)"
            in p.stderr)
    assert "--file /var/log/kern.log.1" in p.stderr
    assert "/proc/vmstat" not in p.stdout  # this boot's counter says nothing of that one


JSON_QUOTED = KERNEL_LOGS / "local-6.18-memcg-v1-json-quoted-dmesg-json.log"


@pytest.mark.parametrize("as_json", [False, True])
def test_a_lone_surrogate_in_a_json_log_is_printed_not_a_traceback(tmp_path: Path,
                                                                    as_json: bool) -> None:
    """json.loads accepts "\\ud800", which no UTF-8 output can encode: a dmesg --json or
    journal JSON line carrying one must still print."""
    doc = JSON_QUOTED.read_text().replace('(say \\"hi\\" \\\\\\\\x)', "(say \\ud800 x)")
    assert "\\ud800" in doc
    journal = ('{"MESSAGE":"Memory cgroup out of memory: Killed process 5 (a\\ud800b) total-vm:1kB,'
               ' anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:1kB oom_score_adj:0",'
               '"_TRANSPORT":"kernel","_HOSTNAME":"h\\udfff","__REALTIME_TIMESTAMP":"1795693741107110"}\n')
    for name, text, victim in (("dmesg.json", doc, "say \ufffd"), ("j.json", journal, "a\ufffd")):
        path = tmp_path / name
        path.write_text(text)
        p = run(["why", "--file", str(path), *(["--json"] if as_json else [])])
        no_traceback(p)
        assert p.returncode == 0, p.stderr
        if as_json:
            (e,) = json.loads(p.stdout)["events"]
            assert e["victim"]["name"].startswith(victim)
        else:
            assert victim in p.stdout


@pytest.mark.parametrize("target", ["-1", " ", ""])
def test_a_target_that_names_nothing_is_refused(target: str) -> None:
    p = run(["why", "--file", str(LOCAL), "--", target])
    no_traceback(p)
    assert p.returncode == 2
    assert p.stderr.startswith(f"oomkit: TARGET {target!r} is not a pid, process name")


def test_tz_is_the_zone_of_syslog_times_as_for_every_program() -> None:
    """TZ wins over /etc/localtime (tzset(3)): reading another machine's RFC 3164 log, or in
    a container without /etc/localtime. It was ignored."""
    from datetime import timezone

    from oomkit.timeconv import local_tz

    if not Path("/usr/share/zoneinfo/Asia/Tokyo").exists():
        pytest.skip("no zoneinfo database here (apt install tzdata)")
    log = KERNEL_LOGS / "local-6.18-memcg-v1-two-ooms-rsyslog-imklog-trad.log"
    p = subprocess.run([sys.executable, "-m", "oomkit", "why", "--file", str(log), "--json"],
                       capture_output=True, text=True, timeout=120, check=False,
                       env={**os.environ, "TZ": "Asia/Tokyo",
                            "PYTHONPATH": str(Path(__file__).parents[1] / "src")})
    no_traceback(p)
    # RFC 3164 prints no year (it comes from the file's age): the rest is the point
    assert json.loads(p.stdout)["events"][0]["time"]["wall"][4:] == "-11-26T01:23:12+09:00"
    assert local_tz(tz_env="") == timezone.utc  # an empty TZ is UTC (tzset(3))
    assert str(local_tz(tz_env=":Europe/Berlin")) == "Europe/Berlin"
    assert local_tz(tz_env="No/Such_Zone") is not None  # the C library's reading, no error


def test_truncated_gzip_keeps_what_was_read(tmp_path: Path) -> None:
    if not LOCAL.exists():
        pytest.skip("local fixture not captured")
    data = gzip.compress(LOCAL.read_bytes() * 3)
    bad = tmp_path / "kern.log.2.gz"
    bad.write_bytes(data[: len(data) * 2 // 3])
    p = run(["why", "--file", str(bad), "--json"])
    no_traceback(p)
    assert p.returncode == 1
    doc = json.loads(p.stdout)
    assert doc["events"], "events before the damage are kept"
    assert "read stopped early" in p.stderr


def _compress(kind: str, data: bytes) -> bytes:
    import bz2
    import lzma

    import zstandard

    return {"gz": gzip.compress, "xz": lzma.compress, "bz2": bz2.compress,
            "zst": zstandard.ZstdCompressor().compress}[kind](data)


@pytest.mark.parametrize("kind", ["gz", "xz", "bz2", "zst"])
@pytest.mark.parametrize("damage", ["cut", "garbled"])
def test_a_damaged_compressed_log_is_one_line_not_a_traceback(tmp_path: Path, kind: str,
                                                             damage: str) -> None:
    """A corrupt .gz made ISA-L raise IsalError, a corrupt .xz LZMAError, both tracebacks;
    zstandard's own reader returned nothing and no error for a cut file."""
    data = _compress(kind, LOCAL.read_bytes() * 40)
    keep = len(data) * 2 // 3
    bad = data[:keep] if damage == "cut" else data[:keep] + bytes((i * 151) % 256 for i in range(4000))
    path = tmp_path / f"kern.log.2.{kind}"
    path.write_bytes(bad)
    for extra in ([], ["--json"]):
        p = run(["why", "--file", str(path), *extra])
        no_traceback(p)
        assert p.returncode == 1
        (line,) = p.stderr.strip().splitlines()
        assert line.startswith(f"oomkit: {path}: read stopped early (")


def test_a_zstd_log_of_several_frames_is_read_whole(tmp_path: Path) -> None:
    two = KERNEL_LOGS / "local-6.18-memcg-v1-two-ooms-dmesg.log"
    path = tmp_path / "kern.log.1.zst"
    path.write_bytes(_compress("zst", LOCAL.read_bytes()) + _compress("zst", two.read_bytes()))
    p = run(["why", "--file", str(path), "--json"])
    no_traceback(p)
    assert p.returncode == 0, p.stderr
    names = sorted(e["victim"]["name"] for e in json.loads(p.stdout)["events"])
    assert names == ["batch-job", "big worker 1", "leaky"]


def test_a_machines_rotated_zstd_log_is_found_and_read(tmp_path: Path) -> None:
    from oomkit.why import Machine, WhyOptions, find_kills

    logs = tmp_path / "log"
    logs.mkdir()
    (logs / "kern.log.3.zst").write_bytes(_compress("zst", LOCAL.read_bytes()))
    (logs / "kern.log").write_bytes(b"")
    machine = Machine(kmsg=tmp_path / "no-kmsg", log_dir=logs, proc_root=tmp_path)
    result = find_kills(WhyOptions(use_journal=False, use_db=False), machine)
    assert {Path(s.name).name: s.status for s in result.sources}["kern.log.3.zst"] == "read"
    assert [k.event.victim.name for k in result.kills if k.event.victim] == ["big worker 1"]


def test_a_byte_order_mark_does_not_stick_to_the_first_line(tmp_path: Path) -> None:
    """A log saved by a Windows editor starts with U+FEFF; it leaked into the trigger's
    name ("\\ufeff[ 4218.092402] grower") and cost it its time and pid."""
    lines = LOCAL.read_bytes().splitlines(keepends=True)[1:]  # from the header on
    path = tmp_path / "saved.log"
    path.write_bytes(b"\xef\xbb\xbf" + b"".join(lines))
    p = run(["why", "--file", str(path), "--json"])
    no_traceback(p)
    (e,) = json.loads(p.stdout)["events"]
    assert e["trigger"]["name"] == "grower" and e["trigger"]["pid"] == 3903


def test_non_utf8_bytes_and_crlf(tmp_path: Path) -> None:
    if not LOCAL.exists():
        pytest.skip("local fixture not captured")
    raw = LOCAL.read_bytes().replace(b"\n", b"\r\n")
    raw = raw.replace(b"(big worker 1)", b"(big w\xffrker 1)")
    f = tmp_path / "odd.log"
    f.write_bytes(b"\xfe\xff garbage \x00 line\r\n" + raw)
    p = run(["why", "--file", str(f), "--json"])
    no_traceback(p)
    assert p.returncode == 0
    names = [e["victim"]["name"] for e in json.loads(p.stdout)["events"]]
    assert "big w\ufffdrker 1" in names


def test_stdin(tmp_path: Path) -> None:
    if not LOCAL.exists():
        pytest.skip("local fixture not captured")
    p = run(["why", "--file", "-", "--json"], stdin=LOCAL.read_bytes())
    no_traceback(p)
    assert p.returncode == 0
    assert json.loads(p.stdout)["events"]


def _main_as(user: int, argv: list[str]) -> tuple[int, str, str]:
    """Run oomkit.cli.main in a forked child that dropped to ``user``; return code and output.

    The command runs once as root first, so that every module it imports is loaded
    before the fork: this machine's Python keeps its standard library under /root,
    which the dropped user cannot read (a system Python's is readable by all).
    """
    main(argv)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no pytest machinery past this point
        code = 99
        try:
            os.setgroups([])
            os.setgid(user)
            os.setuid(user)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
            code = main(argv)
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    os.close(out_w)
    os.close(err_w)
    with os.fdopen(out_r) as o, os.fdopen(err_r) as e:
        stdout, stderr = o.read(), e.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), stdout, stderr


def test_unprivileged_user_gets_one_line_about_kmsg() -> None:
    require_root()
    if Path("/proc/sys/kernel/dmesg_restrict").read_text().strip() != "1":
        pytest.skip("kernel.dmesg_restrict is 0 here: kmsg is readable by everyone")
    code, _stdout, stderr = _main_as(65534, ["why", "--no-journal"])
    assert "Traceback" not in stderr
    kmsg_lines = [ln for ln in stderr.splitlines() if "kmsg" in ln]
    assert len(kmsg_lines) == 1, stderr
    assert "kernel.dmesg_restrict=1" in kmsg_lines[0]
    if Path("/var/log/kern.log").exists() or Path("/var/log/syslog").exists():
        return  # readable logs may remain; the fallback is exercised below
    assert code == 1
    assert "no log could be read" in stderr


def test_unprivileged_user_falls_back_to_readable_files() -> None:
    require_root()
    if not LOCAL.exists():
        pytest.skip("local fixture not captured")
    code, stdout, stderr = _main_as(65534, ["why", "--file", str(LOCAL), "--json"])
    assert "Traceback" not in stderr
    assert code == 0
    assert json.loads(stdout)["events"]


def test_main_returns_codes_without_exiting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["why", "--file", "/nonexistent/x.log"]) == 1
    err = capsys.readouterr().err
    assert "no such file" in err
    assert main(["no-such-command"]) == 2


def test_multi_member_gzip_reads_every_member() -> None:
    """`cat a.gz b.gz` is a valid gzip file; each member's lines come back once, in order."""
    import io

    from oomkit.log_sources import open_any

    data = b"".join(b"line %d\n" % i for i in range(100_000))
    multi = gzip.compress(data[:300_000]) + gzip.compress(data[300_000:]) + b"\0" * 512
    reader = open_any(io.BytesIO(multi))
    buf = bytearray(1 << 16)
    out = bytearray()
    while n := reader.readinto(buf):
        out += buf[:n]
    assert bytes(out) == data


def test_unreadable_file_says_how_to_get_access(tmp_path: Path) -> None:
    require_root()
    secret = tmp_path / "kern.log"
    secret.write_bytes(LOCAL.read_bytes() if LOCAL.exists() else b"x\n")
    secret.chmod(0o600)
    tmp_path.chmod(0o755)
    code, stdout, stderr = _main_as(65534, ["why", "--file", str(secret)])
    assert "Traceback" not in stderr
    assert code == 1
    assert stderr.strip() == f"oomkit: {secret}: permission denied; run as root or add yourself to group adm"
    assert stdout == ""


EARLYOOM = KERNEL_LOGS / "public-earlyoom-1.8-journal-oom-score-process-mrelease.log"


@pytest.mark.parametrize("files", [(), (str(LOCAL), str(EARLYOOM))])
def test_compact_json_is_streamed_one_event_at_a_time_and_equals_the_pretty_document(
    files: tuple[str, ...],
) -> None:
    from oomkit.render import why_json_chunks
    from oomkit.why import WhyOptions, find_kills

    result = find_kills(WhyOptions(files=files or (os.devnull,), use_journal=False, use_db=False))
    chunks = list(why_json_chunks(result))
    assert len(chunks) == len(result.kills) + 2  # head, one piece per event, tail
    compact = json.loads("".join(chunks))
    assert compact == json.loads("".join(why_json_chunks(result, pretty=True)))
    assert len(compact["events"]) == len(result.kills) and (len(result.kills) >= 2) == bool(files)
    assert compact["sources"] and "window" in compact


def test_every_compressed_format_reads_like_the_plain_log(tmp_path: Path) -> None:
    # open_any picks the decompressor from the magic bytes (log_sources._MAGIC); a plain
    # file is returned unbuffered. Each format must give the plain log's events.
    import bz2
    import lzma

    import zstandard

    data = LOCAL.read_bytes()
    files = {"plain.log": data, "kern.log.2.gz": gzip.compress(data),
             "kern.log.2.xz": lzma.compress(data), "kern.log.2.bz2": bz2.compress(data),
             "kern.log.2.zst": zstandard.ZstdCompressor().compress(data)}
    events = {}
    for name, blob in files.items():
        (tmp_path / name).write_bytes(blob)
        p = run(["why", "--json", "--file", str(tmp_path / name)])
        no_traceback(p)
        assert p.returncode == 0, (name, p.stderr)
        events[name] = [(e["victim"]["pid"], e["source"]["line"])
                        for e in json.loads(p.stdout)["events"]]
    assert events["plain.log"] and all(v == events["plain.log"] for v in events.values())
    assert len(events) == 5


def test_since_skips_logs_last_written_before_the_window(tmp_path: Path) -> None:
    """A rotated log whose last write is older than --since holds nothing in the window:
    it is not read, and says so; one written within the slack, or later, is read."""
    import time as _time
    from datetime import datetime, timedelta, timezone

    from oomkit.commands import why_json
    from oomkit.render import sources_text
    from oomkit.why import Machine, WhyOptions, find_kills

    logs = tmp_path / "log"
    logs.mkdir()
    report = (KERNEL_LOGS / "local-6.18-memcg-v1-two-ooms-rsyslog-imklog-rfc3339.log").read_bytes()
    now = _time.time()
    for name, age_h in [("kern.log.2.gz", 72), ("kern.log.1", 1.5), ("kern.log", 0)]:
        path = logs / name
        path.write_bytes(gzip.compress(report) if name.endswith(".gz") else report)
        os.utime(path, (now - age_h * 3600, now - age_h * 3600))
    machine = Machine(kmsg=tmp_path / "no-kmsg", log_dir=logs, proc_root=tmp_path)
    since = datetime.now(timezone.utc) - timedelta(hours=1)
    result = find_kills(WhyOptions(since=since, use_journal=False, use_db=False), machine)
    status = {Path(s.name).name: s.status for s in result.sources}
    assert status == {"kmsg": "unavailable", "kern.log.2.gz": "skipped",
                      "kern.log.1": "read", "kern.log": "read"}
    assert [n for n in sources_text(result) if "kern.log.2.gz" in n] == [
        "note: 1 rotated or old log(s) last written before the window (--since, --boot) were"
        f" not read: {logs}/kern.log.2.gz"]
    assert why_json.status(result, explicit=False) == 0
    everything = find_kills(WhyOptions(use_journal=False, use_db=False), machine)
    assert {Path(s.name).name: s.status for s in everything.sources}["kern.log.2.gz"] == "read"


@pytest.mark.parametrize("first", [9, 4096])
def test_a_gzip_cut_short_hands_out_all_text_before_the_cut(first: int) -> None:
    import zlib

    from oomkit.log_sources import _GzipRaw

    data = gzip.compress(LOCAL.read_bytes() * 40)
    cut = data[: len(data) // 2]
    whole = zlib.decompressobj(wbits=31).decompress(cut)  # all that is before the cut
    raw = _GzipRaw(io.BufferedReader(io.BytesIO(cut)))
    out = bytearray()
    buf = bytearray(first)  # a short first read leaves input inside the decompressor
    error = None
    try:
        while n := raw.readinto(buf):
            out += buf[:n]
            buf = bytearray(1 << 16)
    except EOFError as exc:
        error = exc
    assert bytes(out) == whole
    assert error is not None  # and the cut is said, after the text


def test_closing_a_gzip_source_closes_its_file(tmp_path: Path) -> None:
    from oomkit.log_sources import open_any

    path = tmp_path / "kern.log.2.gz"
    path.write_bytes(gzip.compress(LOCAL.read_bytes()))
    raw = open(path, "rb", buffering=0)  # noqa: SIM115 - closed through the wrapper
    stream = open_any(raw)
    assert stream.read(10) == LOCAL.read_bytes()[:10]
    stream.close()
    assert raw.closed


@pytest.mark.parametrize("argv", [["why", "³", "--no-journal", "--no-db"], ["protect", "²", "--adj", "5"]])
def test_digits_that_are_not_decimal_are_not_pids(argv: list[str]) -> None:
    """str.isdigit() is true for "³", which int() refuses: a traceback before."""
    p = run(argv)
    no_traceback(p)
    assert p.returncode in (0, 1, 2), p.stderr


def test_a_since_further_back_than_year_one_is_one_line() -> None:
    p = run(["why", "--since", "99999999999d", "--no-journal", "--no-db"])
    no_traceback(p)
    assert p.returncode == 2 and "before year 1" in p.stderr


def test_a_pid_above_the_kernels_limit_is_not_a_pid() -> None:
    p = run(["protect", "999999999999999999999", "--adj", "5"])
    no_traceback(p)
    assert p.returncode == 2 and "not a PID: 999999999999999999999" in p.stderr


def test_file_dev_kmsg_is_read_as_kmsg_not_waited_on(tmp_path: Path) -> None:
    """Read as a plain file, /dev/kmsg blocks at its end; --file /dev/kmsg (or a node
    of the same device elsewhere) is read like the kmsg source."""
    from oomkit.log_sources import file_source

    assert file_source("/dev/kmsg").kind == "kmsg"
    assert file_source(str(LOCAL)).kind == "file"
    if os.geteuid() != 0:
        pytest.skip("reading /dev/kmsg needs root here")
    p = run(["why", "--file", "/dev/kmsg", "--json", "--no-db"])
    no_traceback(p)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["sources"][0]["status"] == "read"


def test_boot_0_skips_logs_last_written_before_this_boot(tmp_path: Path) -> None:
    from oomkit.why import Machine, WhyOptions, boot_time, find_kills

    logs = tmp_path / "log"
    logs.mkdir()
    report = (KERNEL_LOGS / "local-6.18-memcg-v1-two-ooms-rsyslog-imklog-rfc3339.log").read_bytes()
    booted = boot_time().timestamp()
    for name, when in [("kern.log.1", booted - 3 * 3600), ("kern.log", booted + 1)]:
        (logs / name).write_bytes(report)
        os.utime(logs / name, (when, when))
    machine = Machine(kmsg=tmp_path / "no-kmsg", log_dir=logs, proc_root=tmp_path)
    result = find_kills(WhyOptions(boot="0", use_journal=False, use_db=False), machine)
    status = {Path(s.name).name: s.status for s in result.sources}
    assert status == {"kmsg": "unavailable", "kern.log.1": "skipped", "kern.log": "read"}


def test_a_slurm_step_is_found_by_its_step_id_or_job() -> None:
    log = KERNEL_LOGS / "public-slurm-21.08-srun-stderr-two-steps.log"
    p = run(["why", "14604003.0", "--file", str(log), "--json"])
    no_traceback(p)
    (e,) = json.loads(p.stdout)["events"]
    assert e["slurm"] == {"job": "14604003", "step": "0", "oom_kills": 1}
    assert e["owner"]["kind"] == "slurm" and e["owner"]["name"] == "Slurm job 14604003 step 0"
    p = run(["why", "job_14604003", "--file", str(log)])
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("Slurm job 14604003 step") >= 2  # both steps in the table
    p = run(["why", "job_1460400", "--file", str(log), "--json"])  # another job's id
    assert json.loads(p.stdout)["events"] == []


def test_a_copied_syslog_says_its_year_is_assumed() -> None:
    log = KERNEL_LOGS / "public-3.10-centos7-docker-memcg-thread-scored-messages-excerpt.log"
    p = run(["why", "--file", str(log), "--json"])
    doc = json.loads(p.stdout)
    assert doc["events"][0]["time"]["wall_from"] == "log-year-assumed"
    assert any("print no year" in n for n in doc["notes"])
    dated = KERNEL_LOGS / "public-3.10-rhel7-k8s-memcg-dmesg-T-score0-child.log"  # dmesg -T
    doc = json.loads(run(["why", "--file", str(dated), "--json"]).stdout)
    assert not any("print no year" in n for n in doc["notes"])
