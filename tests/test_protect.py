"""protect: planning (pure), writing oom_score_adj for real (including the refusal without
CAP_SYS_RESOURCE), the CLI in-process, and `protect -- CMD` through a real subprocess."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from oomkit import procfs
from oomkit.cli import main
from oomkit.errors import AccessDenied, ProcessGone
from oomkit.procmodels import Owner, ProcessSnapshot
from oomkit.protect import Change, apply, persistent_hints, plan, privilege_message, write_adj
from oomkit.rules import ProcessFacts, Rule, parse_match
from tests.memchildren import Children, children, has_cap_sys_resource

__all__ = ["children"]

NO_CAP = "lowering oom_score_adj below 0 needs CAP_SYS_RESOURCE, which this process has"


def snap(pid: int, name: str, adj: int = 0) -> ProcessSnapshot:
    return ProcessSnapshot(pid, name, 0, "S", 1000, 0, 0, 0, 4, adj, "/system.slice/x.service",
                           name, pid)


def facts(p: ProcessSnapshot) -> ProcessFacts:
    return ProcessFacts(p.pid, p.name, p.cmdline or "", p.uid, "root", p.cgroup, "x.service")


def test_plan_is_pure_and_first_rule_wins() -> None:
    procs = [snap(10, "postgres", adj=0), snap(11, "nginx", adj=-100), snap(12, "bash")]
    rules = [Rule((parse_match("name=postgres"),), -500, "r1"),
             Rule((parse_match("unit=x.service"),), 200, "r2")]
    changes = plan(rules, [(p, facts(p)) for p in procs])
    assert [(c.pid, c.old, c.new) for c in changes] == [(10, 0, -500), (11, -100, 200),
                                                        (12, 0, 200)]
    assert changes[0].reason == "r1: name=postgres -> -500"


def test_persistent_hints() -> None:
    unit = Owner(kind="systemd-unit", name="nginx.service", unit="nginx.service")
    hints = persistent_hints(-500, unit)
    assert hints[0] == "systemd: `systemctl edit nginx.service` and add [Service] OOMScoreAdjust=-500"
    assert "docker run --oom-score-adj -500" in hints[1]
    docker = Owner(kind="docker", name="docker container 0123456789ab", container="0123456789ab")
    assert "container 0123456789ab has to be re-created" in persistent_hints(300, docker)[1]
    k8s = Owner(kind="kubernetes", name="pod x", pod_uid="x")
    assert "QoS class" in persistent_hints(-900, k8s)[0]
    generic = persistent_hints(100)
    assert generic == ["systemd: OOMScoreAdjust=100 in the unit's [Service] section",
                       "docker: docker run --oom-score-adj 100 ...; compose: oom_score_adj: 100"]


def test_privilege_message_is_one_line_with_the_fix() -> None:
    msg = privilege_message(42, "postgres", 0, -500)
    assert "\n" not in msg
    assert "CAP_SYS_RESOURCE" in msg and "OOMScoreAdjust=-500" in msg


@pytest.mark.live
def test_write_adj_raises_freely(children: Children) -> None:
    c = children.start(1)
    write_adj(c.pid, 300)
    assert procfs.read_oom_score_adj(c.pid) == 300
    write_adj(c.pid, 0)  # back down to oom_score_adj_min (0) needs no privilege
    assert procfs.read_oom_score_adj(c.pid) == 0


@pytest.mark.live
def test_write_adj_below_zero_is_refused_without_cap_sys_resource(children: Children) -> None:
    if has_cap_sys_resource():
        pytest.skip(NO_CAP)
    c = children.start(1)
    with pytest.raises(AccessDenied) as exc:
        write_adj(c.pid, -500, name="child", old=0)
    assert "CAP_SYS_RESOURCE" in str(exc.value) and "OOMScoreAdjust=-500" in str(exc.value)
    assert procfs.read_oom_score_adj(c.pid) == 0


@pytest.mark.live
def test_write_adj_to_a_gone_process() -> None:
    with pytest.raises(ProcessGone):
        write_adj(2**22 + 17, 5)


@pytest.mark.live
def test_apply_records_each_outcome(children: Children) -> None:
    c = children.start(1)
    changes = [Change(c.pid, "child", 0, 250, "t"), Change(c.pid, "child", 250, 250, "t"),
               Change(2**22 + 17, "gone", 0, 5, "t")]
    if not has_cap_sys_resource():
        changes.append(Change(c.pid, "child", 250, -10, "t"))
    outcomes = [o.status for o in apply(changes)]
    assert outcomes[:3] == ["set", "unchanged", "gone"]
    if not has_cap_sys_resource():
        assert outcomes[3] == "denied"
    assert [o.status for o in apply([Change(c.pid, "child", 250, 600, "t")], dry_run=True)] == [
        "dry-run"]
    assert procfs.read_oom_score_adj(c.pid) == 250


@pytest.mark.live
def test_cli_set_by_pid_and_presets(children: Children, capsys: pytest.CaptureFixture[str]) -> None:
    c = children.start(1)
    assert main(["protect", str(c.pid), "--adj", "250"]) == 0
    out = capsys.readouterr().out
    assert procfs.read_oom_score_adj(c.pid) == 250
    assert f"PID {c.pid} (python" in out and "0 -> 250  [set]" in out
    assert "OOMScoreAdjust=250" in out and "docker run --oom-score-adj 250" in out
    assert main(["protect", str(c.pid), "--prefer"]) == 0
    assert procfs.read_oom_score_adj(c.pid) == 500
    capsys.readouterr()
    if has_cap_sys_resource():
        pytest.skip(NO_CAP)
    assert main(["protect", str(c.pid), "--never-kill"]) == 4
    captured = capsys.readouterr()
    assert "needs CAP_SYS_RESOURCE" in captured.err and len(captured.err.splitlines()) == 1
    assert "OOMScoreAdjust=-1000" in captured.out  # the persistent fix is still printed
    assert procfs.read_oom_score_adj(c.pid) == 500


@pytest.mark.live
def test_cli_match_dry_run_list_and_apply(children: Children, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    tag = f"oomkit-tag-{uuid.uuid4().hex[:8]}"
    kids = [children.start(1, tag=tag), children.start(1, tag=tag)]
    assert main(["protect", "--match", f"cmdline={tag}", "--adj", "120", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("[dry run, not written]") == 2
    assert all(procfs.read_oom_score_adj(k.pid) == 0 for k in kids)
    assert main(["protect", "--match", f"cmdline={tag}", "--match", "user=root",
                 "--adj", "120"]) == 0
    assert all(procfs.read_oom_score_adj(k.pid) == 120 for k in kids)
    capsys.readouterr()
    assert main(["protect", "--list"]) == 0
    listing = capsys.readouterr().out
    assert all(f"{k.pid} " in listing for k in kids) and "preferred victim" in listing
    cfg = tmp_path / "oomkit.toml"
    cfg.write_text(f'[[protect.rules]]\ncmdline = "{tag}"\nadj = 321\n')
    assert main(["protect", "--apply", "--config", str(cfg)]) == 0
    assert all(procfs.read_oom_score_adj(k.pid) == 321 for k in kids)
    assert "oomkit.toml rule 1" in capsys.readouterr().out
    assert main(["protect", "--match", "cmdline=no-such-process-anywhere-xyz", "--adj", "5"]) == 1


@pytest.mark.parametrize(("argv", "error"), [
    (["protect", "1"], "say what to set"),
    (["protect", "abc", "--adj", "5"], "not a PID: abc"),
    (["protect", "--adj", "5"], "give PIDs, --match"),
    (["protect", "1", "--adj", "1001"], "from -1000 to 1000"),
    (["protect", "1", "--adj", "5", "--prefer"], "only one of"),
    (["protect", "--match", "bogus", "--adj", "5"], "expected KEY=VALUE"),
    (["protect", "--list", "--apply"], "cannot be combined"),
    (["protect", "--list", "--adj", "5"], "--list takes no --adj"),
    (["protect", "--apply", "--adj", "5"], "values come from the config file"),
    (["protect", "--list", "--match", "name=x"], "cannot be combined with PIDs or --match"),
    (["protect", str(2**22 - 1), "--adj", "5"], "no such process"),
    (["protect", str(2**22), "--adj", "5"], "not a PID"),  # PID_MAX_LIMIT
])
def test_cli_usage_errors(argv: list[str], error: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert error in capsys.readouterr().err


def test_cli_config_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[protect.rules]]\nname = 'x'\nadj = 5000\n")
    assert main(["protect", "--apply", "--config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (f"oomkit: {bad}: protect.rules[1].adj: oom_score_adj must be from "
                           "-1000 to 1000, not 5000")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "oomkit", "protect", *args],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.live
@pytest.mark.e2e
def test_exec_with_adjustment() -> None:
    r = run("--adj", "123", "--", "sh", "-c", "cat /proc/self/oom_score_adj")
    assert (r.returncode, r.stdout) == (0, "123\n")
    assert run("--prefer", "--", "cat", "/proc/self/oom_score_adj").stdout == "500\n"


@pytest.mark.live
@pytest.mark.e2e
def test_exec_errors() -> None:
    r = run("--adj", "5", "--", "no-such-command-oomkit")
    assert r.returncode == 1 and "no-such-command-oomkit: command not found" in r.stderr
    assert "give the command" in run("--adj", "5", "--").stderr
    if has_cap_sys_resource():
        pytest.skip(NO_CAP)
    r = run("--never-kill", "--", "true")
    assert r.returncode == 4 and "CAP_SYS_RESOURCE" in r.stderr
