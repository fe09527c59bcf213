"""Live: real processes, real cgroups, real OOM kills under the supervisor.

Each test runs a few short jobs; the OOM kills happen in 32 MiB cgroups. They need
root and the memory controller and skip with a one-line reason elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from oomkit.demo import HOG
from oomkit.jobcgroup import find_memory_hierarchy
from oomkit.models import BackoffPolicy, ExitCause, JobState, ProgramSpec, RestartPolicy
from oomkit.supervise.control import OsProcessControl
from oomkit.supervise.evidence import MachineEvidence
from oomkit.supervise.manager import Manager
from tests.conftest import KERNEL_LOGS, require_kmsg, require_memcg
from tests.supervise_fakes import RecordingSink

pytestmark = [pytest.mark.live]

S = JobState
QUICK = BackoffPolicy(initial_s=0.05, maximum_s=0.05, factor=1.0, jitter=0.0, reset_after_s=60.0)
PY = sys.executable
EARLYOOM = KERNEL_LOGS / "public-earlyoom-1.8-journal-oom-score-process-mrelease.log"


def prog(name: str, *command: str, **kw: object) -> ProgramSpec:
    base = ProgramSpec(name=name, command=command, startsecs=0, backoff=QUICK, stopwaitsecs=2.0,
                       autorestart=RestartPolicy.ALWAYS, max_restarts=2, oom_max_in_row=None)
    return base._replace(**kw)  # type: ignore[arg-type]


@pytest.fixture
def make_manager(tmp_path: Path) -> Iterator[Callable[..., tuple[Manager, RecordingSink]]]:
    """Managers with a prefix of their own (so they never touch anyone else's job cgroups)."""
    made: list[Manager] = []

    def make(*specs: ProgramSpec, start: bool = True) -> tuple[Manager, RecordingSink]:
        sink = RecordingSink()
        control = OsProcessControl(prefix=f"oomkit-tjob-{os.getpid()}-")
        m = Manager(list(specs), control=control, sink=sink, evidence=MachineEvidence(),
                    log_dir=tmp_path / "logs", state_dir=tmp_path / "locks")
        made.append(m)
        if start:
            m.start()
        return m, sink

    yield make
    for m in made:
        m.shutdown(timeout=5)


def run_until(m: Manager, done: Callable[[], bool], timeout: float = 60.0,
              each: Callable[[], None] | None = None) -> None:
    end = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < end, {n: m.status(n).state for n in m.jobs}
        m.poll(0.05)
        if each is not None:
            each()


def earlyoom_lines(pid: int) -> str:
    """earlyoom 1.8's own lines (a public capture), naming ``pid`` now, in syslog's local time."""
    stamp = datetime.now().astimezone().strftime("%b %d %H:%M:%S")
    lines = EARLYOOM.read_text().splitlines()[:3]
    return "\n".join(x.replace("Aug 04 23:41:26", stamp).replace("1024668", str(pid)) for x in lines) + "\n"


@pytest.mark.oom
def test_every_kind_of_exit_is_classified_every_time(
        make_manager: Callable[..., tuple[Manager, RecordingSink]], tmp_path: Path) -> None:
    require_memcg()
    require_kmsg()
    killer_log = tmp_path / "earlyoom.log"
    killer_log.write_text("")
    m, sink = make_manager(
        prog("exit0", "sh", "-c", "exit 0"),
        prog("exit1", "sh", "-c", "exit 1"),
        prog("segv", PY, "-c", "import ctypes; ctypes.string_at(0)"),
        prog("oom", PY, "-c", HOG, memory_max=32 << 20),
        prog("outside", "sleep", "60"),
        prog("earlyoom", "sleep", "60", killer_logs=(str(killer_log),)),
    )
    handled: set[int] = set()

    def act() -> None:  # play the outside world: kill(1), and earlyoom (log line, then SIGTERM)
        for name in ("outside", "earlyoom"):
            child = m.jobs[name].child
            if child is None or child.pid in handled:
                continue
            handled.add(child.pid)
            if name == "outside":
                os.kill(child.pid, signal.SIGKILL)
            else:
                with killer_log.open("a") as f:
                    f.write(earlyoom_lines(child.pid))
                os.kill(child.pid, signal.SIGTERM)

    run_until(m, lambda: all(m.status(n).state is S.FATAL for n in m.jobs), each=act)
    want = {"exit0": ExitCause.EXIT, "exit1": ExitCause.EXIT, "segv": ExitCause.CRASH,
            "oom": ExitCause.OOM_KILL, "outside": ExitCause.SIGNAL, "earlyoom": ExitCause.USERSPACE_KILL}
    for name, cause in want.items():
        exits = [x for x, _ in sink.exits if x.name == name]
        assert [x.cause for x in exits] == [cause] * 3, (name, [x.detail for x in exits])
        assert [r for x, r in sink.exits if x.name == name] == [True, True, False]
    by = {x.name: x for x, _ in sink.exits}
    assert by["exit1"].exit_code == 1 and by["segv"].signal == signal.SIGSEGV
    assert by["oom"].killer == "kernel" and by["oom"].oom_kills == 1
    assert by["oom"].event is not None and by["oom"].event.victim is not None
    assert by["oom"].event.victim.pid == by["oom"].pid
    assert by["oom"].peak_rss_kb is not None and by["oom"].peak_rss_kb >= 24 * 1024
    assert by["outside"].signal == signal.SIGKILL and "from outside" in by["outside"].detail
    assert by["earlyoom"].killer == "earlyoom"


def test_a_job_that_forks_is_stopped_whole(
        make_manager: Callable[..., tuple[Manager, RecordingSink]]) -> None:
    require_memcg()
    # one child escapes the process group with setsid: only the cgroup still holds it
    m, _ = make_manager(prog("forks", "sh", "-c", "setsid sleep 300 & sleep 300 & wait",
                             autorestart=RestartPolicy.NEVER))
    job = m.jobs["forks"]
    run_until(m, lambda: len(m.control.pids(job.placement, job.child)) >= 3, timeout=10)
    pids = m.control.pids(job.placement, job.child)
    m.stop_program("forks")
    run_until(m, lambda: m.status("forks").state is S.STOPPED, timeout=10)
    assert m.control.pids(job.placement, None) == ()
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            assert Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_stop_while_in_backoff_and_a_bad_command(
        make_manager: Callable[..., tuple[Manager, RecordingSink]], tmp_path: Path) -> None:
    require_memcg()
    noexec = tmp_path / "script"
    noexec.write_text("#!/bin/sh\n")
    m, sink = make_manager(
        prog("flaky", "sh", "-c", "exit 1", backoff=QUICK._replace(initial_s=5.0, maximum_s=5.0)),
        prog("missing", "definitely-not-a-command-oomkit"),
        prog("noexec", str(noexec)),
        prog("nodir", "true", directory="/nonexistent/dir"),
    )
    run_until(m, lambda: m.status("flaky").state is S.BACKOFF, timeout=10)
    assert m.stop_program("flaky") == "flaky: STOPPED"
    t = time.monotonic()
    while time.monotonic() - t < 0.3:
        m.poll(0.05)
    assert m.status("flaky").state is S.STOPPED and len(sink.spawns) == 1
    for name, why in (("missing", "not found on PATH"), ("noexec", "not an executable file"),
                      ("nodir", "directory '/nonexistent/dir' does not exist")):
        st = m.status(name)
        assert st.state is S.FATAL and why in (st.reason or ""), (name, st.reason)


def test_lowering_oom_score_adj_without_the_capability_is_a_clear_fatal(
        make_manager: Callable[..., tuple[Manager, RecordingSink]]) -> None:
    require_memcg()
    import subprocess

    lower = "import os; os.write(os.open('/proc/self/oom_score_adj', os.O_WRONLY), b'-1')"
    probe = subprocess.run([PY, "-c", lower], capture_output=True, check=False)
    if probe.returncode == 0:
        pytest.skip("this process has CAP_SYS_RESOURCE: lowering oom_score_adj works here")
    m, _ = make_manager(prog("protected", "sleep", "1", oom_score_adj=-500))
    st = m.status("protected")
    assert st.state is S.FATAL and "CAP_SYS_RESOURCE" in (st.reason or "")


def test_the_job_gets_its_oom_score_adj_and_cgroup(
        make_manager: Callable[..., tuple[Manager, RecordingSink]]) -> None:
    require_memcg()
    m, _ = make_manager(prog("adj", "sleep", "30", oom_score_adj=700, memory_max=64 << 20))
    child = m.jobs["adj"].child
    assert child is not None
    assert Path(f"/proc/{child.pid}/oom_score_adj").read_text().strip() == "700"
    h = find_memory_hierarchy()
    assert h is not None
    cgroup_lines = Path(f"/proc/{child.pid}/cgroup").read_text()
    assert f"oomkit-tjob-{os.getpid()}-adj" in cgroup_lines
    st = m.status("adj")
    assert st.limit_bytes == 64 << 20 and st.memcg is not None


def test_without_pidfds_sigchld_wakes_the_loop(tmp_path: Path) -> None:
    require_memcg()
    sink = RecordingSink()
    control = OsProcessControl(prefix=f"oomkit-tjob-{os.getpid()}-", use_pidfd=False)
    m = Manager([prog("quick", "sh", "-c", "sleep 0.2; exit 5", autorestart=RestartPolicy.NEVER)],
                control=control, sink=sink, evidence=MachineEvidence(), state_dir=tmp_path / "locks")
    try:
        m.start()
        assert m.describe()["watch"] == "sigchld"
        t = time.monotonic()
        m.poll(10.0)  # returns when SIGCHLD arrives, not after 10 s
        while m.busy() and time.monotonic() - t < 10:
            m.poll(1.0)
        assert time.monotonic() - t < 5
        assert [x.exit_code for x, _ in sink.exits] == [5]
    finally:
        m.shutdown(timeout=5)
    assert signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL


def test_an_idle_loop_sleeps(make_manager: Callable[..., tuple[Manager, RecordingSink]]) -> None:
    require_memcg()
    m, _ = make_manager(prog("idle", "sleep", "30", startsecs=0.1))
    m.poll(1.0)  # STARTING -> RUNNING at 0.1 s
    assert m.status("idle").state is S.RUNNING
    before = time.process_time()
    t = time.monotonic()
    m.poll(0.5)  # nothing happens: one epoll_wait for the whole half second
    assert time.monotonic() - t >= 0.45
    assert time.process_time() - before < 0.05
