"""The entry point's fast path for `top --json`, and the JSON it writes directly.

The fast path must print exactly what the click command prints, hand every
argument list it does not fully understand to click, and leave every error
to click; json_document() must be to_json() byte for byte.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oomkit import cli, quick, top

DATA = Path(__file__).parent / "data"
V2 = top.Machine(proc_root=str(DATA / "proc" / "v2-zram"),
                 cgroup_root=str(DATA / "sys" / "v2-zram" / "fs" / "cgroup"))
FAKE = ["--proc-root", str(V2.proc_root), "--cgroup-root", str(V2.cgroup_root)]
PG = "/system.slice/postgresql.service"


@pytest.mark.parametrize(("args", "want"), [
    (["top", "--json"], {"json": True}),
    (["top", "--cmdline", "--json", "--cgroup", "/a"], {"cmdline": True, "json": True,
                                                        "cgroup": "/a"}),
    (["top", "--json", "--cgroup=/a b"], {"json": True, "cgroup": "/a b"}),
    (["top", "--proc-root", "/p", "--json"], {"proc_root": "/p", "json": True}),
    (["top"], None),  # the table: click and rich
    (["top", "--cmdline"], None),
    (["top", "--json", "--limit", "3"], None),  # an option the fast path does not take
    (["top", "--json", "--json"], None),  # click decides what a repeated flag means
    (["top", "--json", "--cgroup"], None),  # click says the value is missing
    (["top", "--json", "--cgroup", "--cmdline"], None),
    (["top", "--json=1"], None),
    (["why", "--json"], None),
    ([], None),
])
def test_which_arguments_take_the_fast_path(args: list[str], want: object) -> None:
    assert quick.top_json_args(args) == want


def _run(main: object, args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)  # type: ignore[operator]
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("extra", [[], ["--cmdline"], ["--cgroup", PG], ["--cgroup=/nope"]])
def test_fast_path_prints_what_click_prints(extra: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    args = ["top", "--json", *extra, *FAKE]
    assert quick.top_json_args(args) is not None
    fast = _run(quick.main, args, capsys)
    slow = _run(cli.main, args, capsys)
    assert fast == slow
    if extra == ["--cgroup=/nope"]:  # the error comes from click's path, once
        assert fast[0] == cli.EXIT_USAGE and fast[1] == ""
        assert fast[2].count("no such memory cgroup") == 1
    else:
        assert fast[0] == 0 and json.loads(fast[1])["processes"]


def test_unreadable_proc_root_is_reported_by_click(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    args = ["top", "--json", "--proc-root", str(tmp_path / "gone"),
            "--cgroup-root", str(V2.cgroup_root)]
    fast = _run(quick.main, args, capsys)
    assert fast == _run(cli.main, args, capsys)
    assert fast[0] != 0 and fast[1] == "" and "gone" in fast[2] and "Traceback" not in fast[2]


def test_other_arguments_go_to_click(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(quick.main, ["top", "--json", "--limit", "3", *FAKE], capsys)
    assert code == 0 and json.loads(out)["processes"]
    code, out, _ = _run(quick.main, ["--version"], capsys)
    assert code == 0 and "oomkit" in out


@pytest.mark.e2e
def test_fast_path_does_not_import_click() -> None:
    probe = ("import sys, os\nfrom oomkit.quick import main\n"
             "sys.stdout = open(os.devnull, 'w')\n"
             "code = main(sys.argv[1:])\n"
             "sys.stderr.write(f'{code} {\"click\" in sys.modules}')\n")
    for args, loaded in ((["top", "--json"], "False"), (["top", "--limit", "1"], "True")):
        done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True,
                              text=True, check=True, env={**os.environ, "COLUMNS": "200"})
        assert done.stderr == f"0 {loaded}", args


def _same(result: top.TopResult) -> None:
    assert top.json_document(result) == json.dumps(top.to_json(result),
                                                   separators=(",", ":")) + "\n"


def test_json_document_is_to_json_on_every_field() -> None:
    r = top.take(machine=V2._replace(release="6.8.0", page_size=4096))
    assert any(p.memcg is not None for p in r.processes)
    _same(r)
    odd = []
    for i, p in enumerate(r.processes):
        proc = p.process._replace(
            name=['we"b\\', "café ☕", "\x00\n\t", "x"][i % 4],
            cmdline=None if i % 2 else f"/bin/x --flag='{i}' \udcff".encode(
                "utf-8", "surrogateescape").decode("utf-8", "replace"),
            cgroup=None if i == 1 else p.process.cgroup, uid=[0, 65534, 4242][i % 3])
        odd.append(p._replace(process=proc, growth_kb_s=None if i % 3 else i * 1234.5678 - 99))
    _same(r._replace(processes=tuple(odd), notes=("a note",)))
    _same(r._replace(processes=()))


@pytest.mark.live
def test_json_document_is_to_json_live() -> None:
    _same(top.top_by_oom_score(with_cmdline=True))


LOGS = DATA / "kernel_log"


@pytest.mark.parametrize(("args", "want"), [
    (["why", "--json", "--file", "a.log"], ["a.log"]),
    (["why", "-f", "a", "--json", "--file=b", "-f", "c"], ["a", "b", "c"]),
    (["why", "--json"], None),  # the machine's own logs: click
    (["why", "--file", "a"], None),  # the text report
    (["why", "--json", "--file", "-"], None),  # stdin is read once: click reads it
    (["why", "--json", "--file"], None),
    (["why", "--json", "--file", "--all"], None),
    (["why", "--json", "--file=", "x"], None),
    (["why", "--json", "--json", "--file", "a"], None),
    (["why", "--json", "--since", "2h", "--file", "a"], None),
    (["why", "1234", "--json", "--file", "a"], None),
])
def test_which_why_arguments_take_the_fast_path(args: list[str], want: object) -> None:
    assert quick.why_json_args(args) == want


@pytest.mark.parametrize("names", [
    ["local-6.18-memcg-v1-two-ooms-journal-json.log"],
    ["public-3.x-centos-sysrq-panic-on-oom-syslogd-wall.log",
     "public-6.x-gentoo-syslog-rss-anon-table-excerpt.log"],
    ["no-such-file.log"],  # a named log that cannot be read: exit 1 and a note
    ["public-6.6-openwrt-logread-table-excerpt.log"],  # no kill in it
])
def test_why_fast_path_prints_what_click_prints(names: list[str],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    args = ["why", "--json"]
    for n in names:
        args += ["--file", str(LOGS / n)]
    assert quick.why_json_args(args) is not None
    fast = _run(quick.main, args, capsys)
    slow = _run(cli.main, args, capsys)
    assert fast == slow
    assert json.loads(fast[1])["events"] is not None
    assert fast[0] == (1 if names == ["no-such-file.log"] else 0)


@pytest.mark.e2e
def test_why_fast_path_does_not_import_click() -> None:
    probe = ("import sys, os\nfrom oomkit.quick import main\n"
             "sys.stdout = open(os.devnull, 'w')\n"
             "code = main(sys.argv[1:])\n"
             "sys.stderr.write(f'{code} {\"click\" in sys.modules}')\n")
    log = str(LOGS / "local-6.18-memcg-v1-two-ooms-journal-json.log")
    for args, loaded in ((["why", "--json", "--file", log], "False"),
                         (["why", "--file", log], "True")):
        done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True,
                              text=True, check=True, env={**os.environ, "COLUMNS": "200"})
        assert done.stderr.endswith(f"0 {loaded}"), (args, done.stderr)


@pytest.mark.e2e
@pytest.mark.parametrize("args", [
    ["top", "--json", *FAKE], ["top", "--json", "--limit", "5", *FAKE],
    ["why", "--json", "--file", str(LOGS / "local-6.18-memcg-v1-two-ooms-journal-json.log")],
    ["why", "--file", str(LOGS / "local-6.18-memcg-v1-two-ooms-journal-json.log")],
], ids=["top-fast-path", "top-click", "why-fast-path", "why-click"])
def test_a_reader_that_went_away_is_not_an_error(args: list[str]) -> None:
    # `oomkit ... | head -c 100` when head has already exited: the first write fails
    # with EPIPE. Every entry path exits 0, silently (quick.reader_gone).
    r, w = os.pipe()
    os.close(r)
    try:
        done = subprocess.run([sys.executable, "-m", "oomkit", *args], stdout=w,
                              stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    finally:
        os.close(w)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
