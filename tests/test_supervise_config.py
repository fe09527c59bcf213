"""[programs.NAME] in the TOML config, sizes/durations/signals, and the supervisord importer."""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path

import pytest

from oomkit.config import parse
from oomkit.errors import ConfigError
from oomkit.models import RestartPolicy
from oomkit.supervise.import_supervisor import convert_file, to_toml
from oomkit.supervise.units import format_duration, parse_duration, parse_signal, parse_size

SAMPLE = textwrap.dedent('''
    [programs.web]
    command = "gunicorn --bind 127.0.0.1:8000 'app:create()'"
    directory = "/srv/web"
    user = "www-data"
    environment = { PORT = "8000", WORKERS = 4 }
    autorestart = "unexpected"
    exitcodes = [0, 2]
    startsecs = "2s"
    startretries = 5
    stopsignal = "INT"
    stopwaitsecs = 30
    memory_max = "512M"
    memory_high = "400M"
    oom_score_adj = 300
    backoff = "500ms..2m"
    oom_backoff = { initial = "30s", max = "10m", jitter = 0 }
    oom_max_in_row = 2
    umask = "027"

    [programs.worker]
    command = ["/usr/bin/worker", "--queue", "a b"]
    autorestart = true
    max_restarts = 10
    ''')


def test_programs_section() -> None:
    conf = parse(SAMPLE, "/etc/oomkit/oomkit.toml")
    web, worker = conf.programs
    assert web.command == ("gunicorn", "--bind", "127.0.0.1:8000", "app:create()")
    assert web.environment == (("PORT", "8000"), ("WORKERS", "4"))
    assert web.autorestart is RestartPolicy.UNEXPECTED and web.exitcodes == (0, 2)
    assert (web.startsecs, web.startretries, web.stopwaitsecs) == (2.0, 5, 30.0)
    assert web.stopsignal == signal.SIGINT
    assert (web.memory_max, web.memory_high, web.oom_score_adj) == (512 << 20, 400 << 20, 300)
    assert (web.backoff.initial_s, web.backoff.maximum_s) == (0.5, 120.0)
    assert web.oom_backoff is not None and (web.oom_backoff.initial_s, web.oom_backoff.jitter) == (30.0, 0.0)
    assert web.oom_max_in_row == 2 and web.umask == 0o027
    assert worker.command == ("/usr/bin/worker", "--queue", "a b")
    assert worker.autorestart is RestartPolicy.ALWAYS and worker.max_restarts == 10
    assert worker.stopasgroup and worker.killasgroup  # oomkit's default: the whole job


@pytest.mark.parametrize(("toml", "message"), [
    ('[programs.a]\ndirectory = "/x"', "programs.a: command is required"),
    ('[programs.a]\ncommand = "x"\nmemory_max = "lots"', "programs.a.memory_max: size 'lots'"),
    ('[programs.a]\ncommand = "x"\nautorestart = "sometimes"', "programs.a.autorestart:"),
    ('[programs.a]\ncommand = "x"\nstopsignal = "NOPE"', "programs.a.stopsignal: unknown signal"),
    ('[programs.a]\ncommand = "x"\noom_score_adj = 2000', "programs.a.oom_score_adj: must be from"),
    ('[programs.a]\ncommand = "x"\ncolour = "red"', "programs.a.colour: unknown key"),
    ('[programs.all]\ncommand = "x"', "programs.all: program names"),
    ('[programs.a]\ncommand = []', "programs.a.command: is empty"),
    ('[programs.a]\ncommand = "x"\nbackoff = "9s..1s"', "programs.a.backoff: backoff"),
])
def test_errors_name_the_file_and_the_key(toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(toml, "/etc/oomkit/oomkit.toml")
    assert str(info.value).startswith("/etc/oomkit/oomkit.toml: ")
    assert message in str(info.value)


@pytest.mark.parametrize(("text", "n"), [("512M", 512 << 20), ("1.5G", 3 << 29), ("4096", 4096),
                                         ("2GiB", 2 << 30), ("10k", 10240), (7, 7)])
def test_parse_size(text: str | int, n: int) -> None:
    assert parse_size(text) == n


@pytest.mark.parametrize(("text", "s"), [("500ms", 0.5), ("10s", 10.0), ("5m", 300.0), ("1h30m", 5400.0),
                                         ("2", 2.0), (1.5, 1.5)])
def test_parse_duration(text: str | float, s: float) -> None:
    assert parse_duration(text) == s


def test_signals_and_formatting() -> None:
    assert parse_signal("TERM") == parse_signal("SIGTERM") == parse_signal("15") == 15
    assert parse_signal("hup") == 1
    assert format_duration(3725) == "1h2m5s" and format_duration(4.25) == "4.2s"


SUPERVISORD = textwrap.dedent('''
    [unix_http_server]
    file=/var/run/supervisor.sock

    [supervisord]
    logfile=/var/log/supervisor/supervisord.log

    [program:web]
    command=/srv/%(program_name)s/bin/gunicorn app:app --name %(program_name)s ; inline comment
    directory=%(here)s
    environment=PORT="8000",HOME="/srv/web",GREETING="a,b"
    autorestart=unexpected
    exitcodes=0,2
    startsecs=5
    stopsignal=QUIT
    stopasgroup=true
    stdout_logfile=/var/log/%(program_name)s.log
    stdout_logfile_maxbytes=10MB
    redirect_stderr=true
    priority=10

    [program:worker]
    command=python worker.py --id %(process_num)02d
    process_name=%(program_name)s_%(process_num)02d
    numprocs=2
    autostart=false
    user=nobody

    [group:all-of-it]
    programs=web,worker

    [eventlistener:memmon]
    command=memmon -a 200MB

    [include]
    files = conf.d/*.conf
    ''')


def test_import_supervisor(tmp_path: Path) -> None:
    conf = tmp_path / "supervisord.conf"
    conf.write_text(SUPERVISORD)
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "extra.conf").write_text("[program:extra]\ncommand=sleep 1\nautorestart=false\n")
    c = convert_file(conf, env={})
    assert list(c.programs) == ["web", "worker_00", "worker_01", "extra"]
    web = c.programs["web"]
    assert web["command"] == ["/srv/web/bin/gunicorn", "app:app", "--name", "web"]
    assert web["directory"] == str(tmp_path.resolve())
    assert web["environment"] == {"PORT": "8000", "HOME": "/srv/web", "GREETING": "a,b"}
    assert web["exitcodes"] == [0, 2] and web["stopsignal"] == "QUIT" and web["startsecs"] == 5
    assert web["log_file"] == "/var/log/web.log" and web["log_maxbytes"] == 10 << 20
    assert web["stopasgroup"] is True and web["killasgroup"] is False  # supervisord's default kept
    assert c.programs["worker_01"]["command"] == ["python", "worker.py", "--id", "01"]
    assert c.programs["worker_00"]["autostart"] is False and c.programs["worker_00"]["user"] == "nobody"
    assert c.programs["extra"]["autorestart"] is False
    unmapped = {(u.section, u.key) for u in c.unmapped}
    assert {("program:web", "priority"), ("program:web", "redirect_stderr"), ("group:all-of-it", None),
            ("eventlistener:memmon", None), ("unix_http_server", None)} <= unmapped
    # the TOML it writes loads as oomkit's own config
    text = to_toml(c, str(conf))
    loaded = parse(text, "converted.toml")
    assert [p.name for p in loaded.programs] == ["web", "worker_00", "worker_01", "extra"]
    assert loaded.programs[0].autorestart is RestartPolicy.UNEXPECTED
    assert "# Not converted:" in text


def test_import_supervisor_errors(tmp_path: Path) -> None:
    conf = tmp_path / "s.conf"
    conf.write_text("[program:x]\ncommand=run %(nope)s\n")
    with pytest.raises(ConfigError, match=r"%\(nope\)s is not a known expansion"):
        convert_file(conf, env={})
    conf.write_text("[program:x]\ncommand=run\nnumprocs=2\n")
    with pytest.raises(ConfigError, match="process_num"):
        convert_file(conf, env={})
    conf.write_text("[program:x]\ncommand=run %(ENV_HOME)s\n")
    assert convert_file(conf, env={"HOME": "/root"}).programs["x"]["command"] == ["run", "/root"]


def test_import_supervisor_names_a_non_utf8_byte(tmp_path: Path) -> None:
    conf = tmp_path / "s.conf"
    conf.write_bytes(b"[program:x]\ncommand=\xff\xfe\n")
    with pytest.raises(ConfigError, match=r"s\.conf: not UTF-8 text \(byte 0xff at offset 20\)"):
        convert_file(conf, env={})


@pytest.mark.parametrize(("value", "message"), [
    (1.5, "not a whole number of bytes"),
    (float("inf"), "not a whole number of bytes"),
    ("99999999999999999999T", "more than 8 EiB"),
    (1 << 64, "more than 8 EiB"),
])
def test_sizes_the_kernel_cannot_take_are_refused(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_size(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1e12, "999999999h"])
def test_durations_must_be_finite_and_under_a_century(value: object) -> None:
    with pytest.raises(ValueError, match="under 100 years"):
        parse_duration(value)  # type: ignore[arg-type]
