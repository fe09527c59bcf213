"""procfs: pure parsers on real-format text, readers on fake trees, the live scan."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oomkit import procfs, procscan
from oomkit.errors import AccessDenied, ParseError, ProcessGone

DATA = Path(__file__).parent / "data"
V2 = DATA / "proc" / "v2-zram"
V1 = DATA / "proc" / "mode2-nopsi"

# A kernel thread's status on 6.18: no Vm*/Rss* block (get_task_mm() is NULL).
KTHREAD = """Name:\tkworker/0:1-events
Umask:\t0000
State:\tI (idle)
Tgid:\t11
Ngid:\t0
Pid:\t11
PPid:\t2
TracerPid:\t0
Uid:\t0\t0\t0\t0
Gid:\t0\t0\t0\t0
FDSize:\t64
Groups:\t
Kthread:\t1
Threads:\t1
SigQ:\t0/96364
"""

# 4.4 layout: no Umask, no RssAnon/RssFile/RssShmem (added in 4.5), VmPMD present.
OLD_44 = """Name:\tjava
State:\tS (sleeping)
Tgid:\t900
Ngid:\t0
Pid:\t900
PPid:\t1
TracerPid:\t0
Uid:\t1001\t1001\t1001\t1001
Gid:\t1001\t1001\t1001\t1001
VmPeak:\t 5000000 kB
VmRSS:\t 3200000 kB
VmData:\t 3300000 kB
VmPTE:\t    7000 kB
VmPMD:\t      24 kB
VmSwap:\t  400000 kB
Threads:\t80
"""


def test_parse_status_live_layout() -> None:
    s = procfs.parse_status((V2 / "1500" / "status").read_bytes())
    assert (s.name, s.state, s.uid, s.threads, s.has_mm) == ("firefox", "S", 1000, 120, True)
    assert (s.anon_kb, s.file_kb, s.shmem_kb, s.swap_kb, s.pte_kb) == (
        1800000, 200000, 100000, 400000, 9000)


def test_parse_status_own_process_matches_kernel() -> None:
    text = Path("/proc/self/status").read_text()
    s = procfs.parse_status(text)
    assert s.name == Path("/proc/self/comm").read_text().strip() or s.name == "python"
    assert s.uid == os.getuid()
    assert s.has_mm and s.anon_kb > 0


def test_kernel_thread_has_no_mm() -> None:
    s = procfs.parse_status(KTHREAD)
    assert not s.has_mm
    assert s.name == "kworker/0:1-events" and s.state == "I"


def test_status_before_4_5_reports_total_rss_as_anon() -> None:
    s = procfs.parse_status(OLD_44)
    assert (s.anon_kb, s.file_kb, s.shmem_kb, s.swap_kb, s.pte_kb) == (3200000, 0, 0, 400000, 7000)


def test_status_without_umask_uses_fast_path() -> None:
    data = (V1 / "900" / "status").read_bytes()
    assert b"Umask" not in data
    assert procfs.status_fields(data) is not None


def test_status_name_escapes_are_undone() -> None:
    # proc_task_name() prints '\n' as "\n" (two chars) and '\' as "\\".
    text = KTHREAD.replace("kworker/0:1-events", "a\\nb\\\\c (x)")
    assert procfs.parse_status(text).name == "a\nb\\c (x)"


def test_status_garbage_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        procfs.parse_status("not a status file")


def test_parse_stat_comm_ends_at_last_paren() -> None:
    line = ("4242 (we) ird (name)) S 1 4242 4242 0 -1 4194560 99 0 0 0 3 1 0 0 20 0 2 0 "
            "548063 3133440 384 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n")
    s = procfs.parse_stat(line)
    assert s.comm == "we) ird (name)"
    assert (s.pid, s.state, s.ppid, s.num_threads, s.starttime, s.rss_pages) == (
        4242, "S", 1, 2, 548063, 384)
    assert not s.flags & procfs.PF_KTHREAD


@given(st.text(alphabet=st.characters(blacklist_characters="\0\n", blacklist_categories=("Cs",)),
               min_size=0, max_size=15))
def test_parse_stat_any_comm(comm: str) -> None:
    line = f"7 ({comm}) R 1 7 7 0 -1 2097152 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0 0 0 0\n"
    s = procfs.parse_stat(line)
    assert s.comm == comm and s.pid == 7 and s.flags == procfs.PF_KTHREAD


def test_parse_stat_live_self() -> None:
    s = procfs.read_stat(os.getpid())
    assert s.pid == os.getpid() and s.ppid == os.getppid()


def test_parse_meminfo_and_vmstat() -> None:
    m = procfs.parse_meminfo((V1 / "meminfo").read_text())
    assert m["MemTotal"] == 8000000 and m["HugePages_Total"] == 1024 and m["Hugetlb"] == 2097152
    assert procfs.parse_vmstat("nr_free_pages 5\noom_kill 7\n") == {"nr_free_pages": 5,
                                                                    "oom_kill": 7}


def test_parse_psi() -> None:
    p = procfs.parse_psi((V2 / "pressure" / "memory").read_text())
    assert (p.some.avg10, p.some.avg60, p.some.avg300, p.some.total_us) == (
        12.5, 8.2, 3.1, 987654321)
    assert p.full is not None and p.full.avg60 == 2.5
    cpu = procfs.parse_psi("some avg10=1.00 avg60=0.50 avg300=0.10 total=10\n")
    assert cpu.full is None
    with pytest.raises(ParseError):
        procfs.parse_psi("some avg10=x\n")


def test_parse_swaps_unescapes_filenames() -> None:
    swaps = procfs.parse_swaps((V1 / "swaps").read_text())
    assert swaps == (procfs.SwapDevice("/swap file", "file", 2097148, 1997148, -2),)
    assert procfs.parse_swaps("Filename\tType\tSize\tUsed\tPriority\n") == ()


def test_parse_mountinfo_optional_fields_and_escapes() -> None:
    text = ("31 23 0:27 / /sys/fs/cgroup rw,nosuid shared:4 master:1 - cgroup2 cgroup2 rw,nsdelegate\n"
            "40 31 0:37 /docker/abc /mnt/with\\040space rw - cgroup cgroup rw,memory\n"
            "garbage line\n")
    m = procfs.parse_mountinfo(text)
    assert len(m) == 2
    assert (m[0].mount_point, m[0].fstype, m[0].super_options) == (
        "/sys/fs/cgroup", "cgroup2", ("rw", "nsdelegate"))
    assert (m[1].root, m[1].mount_point) == ("/docker/abc", "/mnt/with space")


def test_parse_cgroup_v1_v2_and_colons_in_path() -> None:
    lines = procfs.parse_cgroup("4:memory:/a/b\n1:name=systemd:/x:y\n0::/user.slice/u:1\n")
    assert lines[0] == procfs.CgroupLine(4, ("memory",), "/a/b")
    assert lines[1].controllers == ("name=systemd",) and lines[1].path == "/x:y"
    assert lines[2] == procfs.CgroupLine(0, (), "/user.slice/u:1")


def test_parse_cmdline() -> None:
    assert procfs.parse_cmdline(b"java\0-Xmx3g\0Main\0") == "java -Xmx3g Main"
    assert procfs.parse_cmdline(b"") == ""


def test_readers_on_fake_tree() -> None:
    assert procfs.read_oom_score_adj(1700, V2) == -900
    assert procfs.read_cmdline(1700, V2) == "/usr/bin/postgres -D /var/lib/pgsql/data"
    assert procfs.read_meminfo(V2)["SwapTotal"] == 8388604
    assert procfs.read_sysctl("vm.swappiness", V2) == "180"
    assert procfs.read_sysctl("vm.nonexistent", V2) is None
    assert procfs.read_psi("memory", V1) is None  # PSI missing
    assert procfs.list_pids(V2) == [1, 612, 1500, 1700, 1701, 2000, 2100, 2200, 2300]


def test_missing_pid_is_process_gone() -> None:
    with pytest.raises(ProcessGone, match="process 99999"):
        procfs.read_status(99999, V2)


def test_permission_error_is_access_denied(monkeypatch: pytest.MonkeyPatch) -> None:
    # root here has CAP_DAC_OVERRIDE, so a real EACCES on a read cannot be produced.
    def refuse(path: str, flags: int, *args: object) -> int:
        raise PermissionError(errno.EACCES, "Permission denied", path)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(AccessDenied, match="run as root"):
        procfs.read_status(1, V2)


def test_scan_fake_tree_skips_kernel_threads_and_zombies() -> None:
    procs = procscan.scan_processes(V2, cgroup_from_file=lambda lines: lines[0].path)
    pids = [p.pid for p in procs]
    assert pids == [1, 612, 1500, 1700, 1701, 2200, 2300]  # 2000 kthread, 2100 zombie gone
    assert [p.scan_index for p in procs] == list(range(len(procs)))
    pg = procs[3]
    assert (pg.name, pg.uid, pg.oom_score_adj, pg.cgroup) == (
        "postgres", 26, -900, "/system.slice/postgresql.service")
    assert pg.rss_kb == 600000 + 50000 + 700000
    assert procs[-1].name == "web (worker)"


def test_scan_prefers_prefetched_cgroups_and_reads_cmdline() -> None:
    procs = procscan.scan_processes(V2, pids=[1700, 4242], cgroups={1700: "/given"},
                                  with_cmdline=True)
    assert [(p.pid, p.cgroup, p.cmdline) for p in procs] == [
        (1700, "/given", "/usr/bin/postgres -D /var/lib/pgsql/data")]


def test_scan_zombie_leader_uses_a_live_thread(tmp_path: Path) -> None:
    status = (V2 / "2200" / "status").read_text()
    leader = status.split("VmPeak")[0].replace("S (sleeping)", "Z (zombie)")
    leader += "Threads:\t2\n"
    (tmp_path / "300" / "task" / "301").mkdir(parents=True)
    (tmp_path / "300" / "status").write_text(leader)
    (tmp_path / "300" / "oom_score_adj").write_text("0\n")
    (tmp_path / "300" / "task" / "300").mkdir()
    (tmp_path / "300" / "task" / "300" / "status").write_text(leader)
    (tmp_path / "300" / "task" / "301" / "status").write_text(status)
    procs = procscan.scan_processes(tmp_path)
    assert len(procs) == 1 and procs[0].anon_rss_kb == 4000 and procs[0].state == "Z"


@pytest.mark.live
def test_live_scan_sees_this_process() -> None:
    procs = {p.pid: p for p in procscan.scan_processes()}
    me = procs[os.getpid()]
    s = procfs.read_status(os.getpid())
    assert me.uid == os.getuid() and me.name == s.name
    assert abs(me.anon_rss_kb - s.anon_kb) < 4096  # the scan itself allocates
    assert all(p.pid > 0 for p in procs.values())
    assert 2 not in procs  # kthreadd: kernel threads are excluded


@pytest.mark.parametrize(("raw", "name"), [
    (b"plain", "plain"),
    (b"a\\nb", "a\nb"),  # a newline in the name
    (b"a\\\\b", "a\\b"),  # a backslash
    (b"a\\\\nb", "a\\nb"),  # a backslash, then the letter n: not a newline
    (b"\\\\\\n", "\\\n"),
    (b"caf\xc3\xa9 \xff", "café \ufffd"),
])
def test_unescape_comm_is_one_pass(raw: bytes, name: str) -> None:
    assert procfs.unescape_comm(raw) == name
